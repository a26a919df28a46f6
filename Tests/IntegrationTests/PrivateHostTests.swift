import Foundation
import Testing
import AppSpec
import HopBasics
import Runtime

@Suite("Private systemd host", .tags(.integration), .serialized)
struct PrivateHostTests {
    @Test("hop host up boots a real systemd in its own namespaces; a rendered hardened unit serves; down leaves nothing; the host's /tmp survives")
    func bootServeStop() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let sentinel = FileManager.default.temporaryDirectory.appendingPathComponent("hop-host-sentinel-\(UUID().uuidString)").path
            try "keep".write(toFile: sentinel, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: sentinel) }
            let home = HopHome(root: dir + "/home")
            #expect(try hop(["seed", "import", "busybox"], home: home).status == 0)
            let up = try hop(["host", "up", "--http-port", "\(Int.random(in: 19100...19900))", "--json"], home: home)
            let host = PrivateHost(stateDir: home.root + "/host")
            defer { try? host.down() }
            #expect(up.status == 0, "\(up.stdout)\(up.stderr)")
            #expect(["running", "degraded"].contains(json(up.stdout)["state"] as? String ?? ""), "\(up.stdout)")
            #expect(FileManager.default.fileExists(atPath: sentinel), "the host's /tmp was touched")

            // A rendered, hardened unit: busybox httpd from the seed, serving a store directory.
            let seeds = (try JSONSerialization.jsonObject(with: Data(try hop(["seed", "list", "--json"], home: home).stdout.utf8))) as? [[String: Any]] ?? []
            let busybox = try #require(seeds.first { $0["name"] as? String == "busybox" }?["storePath"] as? String)
            let www = dir + "/hop-host-test-www"
            try FileManager.default.createDirectory(atPath: www + "/bin", withIntermediateDirectories: true)
            try "hello from a hardened unit\n".write(toFile: www + "/index.html", atomically: true, encoding: .utf8)
            try "#!\(busybox)/bin/sh\nexec \(busybox)/bin/httpd -f -p 127.0.0.1:$PORT -h \"$(dirname \"$0\")/..\"\n"
                .write(toFile: www + "/bin/web", atomically: true, encoding: .utf8)
            #expect(chmod(www + "/bin/web", 0o755) == 0)
            let added = try SystemRunner().run(Command("nix-store", ["--add-fixed", "--recursive", "sha256", www]))
            #expect(added.succeeded, "\(added.stderrText)")
            let out = added.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            let port = Int.random(in: 30000...40000)
            let spec = GenerationSpec(app: "hosttest", generation: 1, outPath: out,
                                      processes: [RuntimeProcess(name: "web", kind: .web, launcher: out + "/bin/web", instances: 1)],
                                      environmentFile: home.root + "/env/hosttest.env", upstream: .tcp(port: port))
            let unit = try UnitRenderer.render(spec, process: spec.processes[0])
            let name = try UnitRenderer.unitName(app: "hosttest", process: "web", generation: 1)
            let unitDir = try host.unitDirectory()
            try unit.write(toFile: unitDir + "/" + name, atomically: true, encoding: .utf8)
            // The app's network namespace and the proxy socket nginx would reach it through.
            let socketPath = "/run/hop/hosttest/g1/web-1.sock"
            try UnitRenderer.renderNetwork(app: "hosttest").write(toFile: unitDir + "/" + UnitNames.networkUnit(app: "hosttest"), atomically: true, encoding: .utf8)
            let proxy = try UnitRenderer.proxyName(app: "hosttest", process: "web", generation: 1, port: port)
            try UnitRenderer.renderProxySocket(app: "hosttest", process: "web", generation: 1, port: port, socketPath: socketPath)
                .write(toFile: unitDir + "/" + proxy + ".socket", atomically: true, encoding: .utf8)
            try UnitRenderer.renderProxyService(app: "hosttest", process: "web", generation: 1, port: port)
                .write(toFile: unitDir + "/" + proxy + ".service", atomically: true, encoding: .utf8)
            let instance = name.replacingOccurrences(of: "@.service", with: "@1.service")
            #expect(try host.systemctl(["daemon-reload"]).succeeded)
            let start = try host.systemctl(["start", proxy + ".socket", instance])
            #expect(start.succeeded, "\(start.stderrText)")
            let hostPID = try #require(host.pid())
            let visibleSocket = "/proc/\(hostPID)/root" + socketPath
            var body = ""
            for _ in 0..<50 {
                let c = try SystemRunner().run(Command("curl", ["-s", "--max-time", "1", "--unix-socket", visibleSocket, "http://hosttest/index.html"]))
                if c.succeeded && !c.stdoutText.isEmpty { body = c.stdoutText; break }
                usleep(200_000)
            }
            #expect(body == "hello from a hardened unit\n")
            // The app's port is in its own namespace: nothing listens on it in the host's.
            let direct = try SystemRunner().run(Command("curl", ["-s", "--max-time", "1", "http://127.0.0.1:\(port)/index.html"]))
            #expect(!direct.succeeded, "the app's port answered in the host's namespace")
            // It runs as a dynamic user, not root.
            let show = try host.systemctl(["show", instance, "-p", "MainPID", "--value"])
            let mainPID = show.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!mainPID.isEmpty && mainPID != "0")

            let status = try hop(["host", "status", "--json"], home: home)
            let pid = try #require(json(status.stdout)["pid"] as? Int)
            #expect(try hop(["host", "down"], home: home).status == 0)
            // Gone: the namespace's PID 1 is dead or a zombie.
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            #expect(stat.isEmpty || stat.contains(") Z "), "systemd still alive: \(stat)")
            #expect(json(try hop(["host", "status", "--json"], home: home).stdout)["state"] as? String == "stopped")
            #expect(FileManager.default.fileExists(atPath: sentinel), "the host's /tmp was touched")
        }
    }

    @Test("hop host up on a port another program holds fails (exit 12, naming it) instead of reporting a host that serves nothing; on a free port nginx answers; the machine's /var/tmp/systemd-private-* survive a private host's boot")
    func busyPortAndVarTmp() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            // What systemd-tmpfiles at a boot would remove (`R! /var/tmp/systemd-private-*`).
            let sentinel = "/var/tmp/systemd-private-hoptest-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: sentinel, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(atPath: sentinel) }
            let busy = Int.random(in: 19100...19500)
            let holder = try SystemRunner().run(Command("/bin/sh", ["-c", "python3 -m http.server --bind 0.0.0.0 \"$1\" >/dev/null 2>&1 & echo $!", "sh", String(busy)]))
            let holderPID = try #require(Int32(holder.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
            defer { kill(holderPID, SIGTERM) }
            for _ in 0..<50 where NginxFront.canBind(busy) { usleep(100_000) }
            let host = PrivateHost(stateDir: home.root + "/host")
            defer { try? host.down() }
            let up = try hop(["host", "up", "--http-port", "\(busy)"], home: home)
            #expect(up.status == 12, "\(up.stdout)\(up.stderr)")
            #expect(up.stderr.contains("port \(busy) is already in use by another program (python3, pid \(holderPID))"), "\(up.stderr)")
            #expect(up.stderr.contains("hop host up --http-port N"), "\(up.stderr)")
            let free = Int.random(in: 19600...19900)
            let again = try hop(["host", "up", "--http-port", "\(free)"], home: home)
            #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
            let answer = try SystemRunner().run(Command("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(free)/"]))
            #expect(answer.stdoutText == "404", "hop's nginx answers on the new port: \(answer.stdoutText)")
            #expect(FileManager.default.fileExists(atPath: sentinel), "a private host's boot removed the machine's /var/tmp/systemd-private-*")
        }
    }
}
