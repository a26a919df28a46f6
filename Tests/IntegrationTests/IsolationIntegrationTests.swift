import Foundation
import Testing
import HopBasics
import Runtime

/// A copy of the standard-library Python fixture with a hop3.toml (say, [domains]).
func stdlibVariant(_ dir: String, toml: String? = nil) throws -> String {
    let app = dir + "/src-\(UUID().uuidString.prefix(8))"
    try copyTree(fixtures + "/python-stdlib", app)
    if let toml { try toml.write(toFile: app + "/hop3.toml", atomically: true, encoding: .utf8) }
    return app
}

/// A path inside the shared private host, as hop can open it.
func hostPath(_ path: String) -> String {
    let pid = PrivateHost(stateDir: sharedHome.root + "/host").pid() ?? 0
    return "/proc/\(pid)/root" + path
}

@Suite("Apps cannot reach each other's or hop's own state", .tags(.integration), .serialized)
struct IsolationIntegrationTests {
    @Test("shop and shop-gateway: logs, stop and destroy of one never touch the other")
    func prefixCollisions() throws {
        try #require(deployHost.ready)
        for app in ["shop", "shop-gateway"] {
            let d = try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"])
            #expect(d.status == 0, "\(d.stderr)")
            #expect(fetch(app).status == 200)
        }
        let logs = try hopEnv(["logs", "shop", "-n", "500"])
        #expect(logs.status == 0)
        #expect(logs.stdout.contains("hop-shop-G"), "\(logs.stdout.suffix(500))")
        #expect(!logs.stdout.contains("shop-gateway"), "shop's logs show shop-gateway's journal: \(logs.stdout.suffix(800))")
        #expect(try hopEnv(["stop", "shop"]).status == 0)
        #expect(fetch("shop").status == 503, "a stopped app answers its 503 page")
        #expect(fetch("shop-gateway").status == 200, "stopping shop stopped shop-gateway")
        #expect(try hopEnv(["start", "shop"]).status == 0)
        #expect(fetch("shop").status == 200, "`hop start` returns once the app answers")
        let destroyed = try hopEnv(["destroy", "shop", "--purge", "--yes"])
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        #expect(fetch("shop-gateway").status == 200, "destroying shop touched shop-gateway")
        #expect(try generations("shop-gateway").count == 1)
        let units = try hostSystemctl(["list-units", "--all", "--plain", "--no-legend", "hop-shop*"]).stdoutText
        #expect(units.contains("hop-shop-gateway-G1-web@1.service") && !units.contains("hop-shop-G"), "\(units)")
        #expect(try hopEnv(["destroy", "shop-gateway", "--purge", "--yes"]).status == 0)
    }

    @Test("hop's own names are refused as app names; purging an app never deployed deletes nothing", arguments: ["hop.db", "gcroots", "apps", "tmp", "nginx"])
    func reservedNames(name: String) throws {
        try #require(deployHost.ready)
        let gcroots = Set((try? FileManager.default.subpathsOfDirectory(atPath: sharedHome.gcroots)) ?? [])
        let d = try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", name, "--watch", "0"])
        #expect(d.status == 2 && d.stderr.contains("reserved"), "\(d.stderr)")
        let purge = try hopEnv(["destroy", name, "--purge", "--yes"])
        #expect(purge.status == 2, "\(purge.stderr)")
        let unknown = try hopEnv(["destroy", "never-deployed-\(name.replacingOccurrences(of: ".", with: "-"))", "--purge", "--yes"])
        #expect(unknown.status == 4, "\(unknown.stderr)")
        #expect(Set((try? FileManager.default.subpathsOfDirectory(atPath: sharedHome.gcroots)) ?? []) == gcroots)
        #expect(FileManager.default.fileExists(atPath: sharedHome.database))
    }

    @Test("an app writes its state directory (/var/lib/hop-apps, the private host's own directory; HOP_HOME stays 0700); the data survives redeploy, rollback and destroy without --purge")
    func stateDirectoryOnTheDefaultLayout() throws {
        try #require(deployHost.ready)
        let app = "it-state"
        var mode = stat()
        #expect(stat(sharedHome.root, &mode) == 0 && mode.st_mode & 0o777 == 0o700, "HOP_HOME is root-only")
        #expect(try hopEnv(["deploy", fixtures + "/stateful", "--app", app, "--watch", "0"]).status == 0)
        #expect(fetch(app, "/visit").body == "visits=1\n")
        #expect(fetch(app, "/visit").body == "visits=2\n")
        let file = hostPath("/var/lib/private/hop-apps/\(app)/visits")
        #expect(FileManager.default.fileExists(atPath: file), "state lives in /var/lib/hop-apps/\(app)")
        #expect(FileManager.default.fileExists(atPath: sharedHome.root + "/host/app-state/private/\(app)/visits"),
                "the private host keeps apps' state in its own directory")
        #expect(!file.hasPrefix(sharedHome.root))
        #expect(try hopEnv(["deploy", fixtures + "/stateful", "--app", app, "--watch", "0", "--force"]).status == 0)
        #expect(fetch(app, "/visit").body == "visits=3\n", "a redeploy keeps the data")
        #expect(try hopEnv(["rollback", app]).status == 0)
        #expect(fetch(app, "/visit").body == "visits=4\n", "a rollback keeps the data")
        #expect(try hopEnv(["destroy", app]).status == 0)
        #expect(FileManager.default.fileExists(atPath: file), "destroy without --purge keeps the data")
        #expect(try hopEnv(["deploy", fixtures + "/stateful", "--app", app, "--watch", "0"]).status == 0)
        #expect(fetch(app, "/visit").body == "visits=5\n")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: file), "--purge deletes it")
    }

    @Test("one identity per app: after `hop run` wrote the state directory the web process still writes it; a pre-existing state directory is never adopted")
    func oneIdentityAndNoAdoption() throws {
        try #require(deployHost.ready)
        let app = "it-ident"
        #expect(try hopEnv(["deploy", fixtures + "/stateful", "--app", app, "--watch", "0"]).status == 0)
        #expect(fetch(app, "/visit").body == "visits=1\n")
        let run = try hopEnv(["run", app, "--", "sh", "-c", "echo visit >> \"$STATE_DIRECTORY/visits\" && id -u"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(fetch(app, "/visit").body == "visits=3\n", "the web process lost its own state after hop run")
        let user = try hostSystemctl(["show", "-p", "User", "hop-\(app)-G1-web@1.service"]).stdoutText
        #expect(user.contains("User=hop-"), "\(user)")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)

        // A directory planted where an app's state would go is refused, and never served.
        let planted = hostPath("/var/lib/hop-apps/it-planted")
        try FileManager.default.createDirectory(atPath: planted, withIntermediateDirectories: true)
        try "root secret\n".write(toFile: planted + "/visits", atomically: true, encoding: .utf8)
        chmod(planted + "/visits", 0o600)
        let d = try hopEnv(["deploy", fixtures + "/stateful", "--app", "it-planted", "--watch", "0"])
        #expect(d.status == 12 && d.stderr.contains("hop did not create it"), "\(d.stderr)")
        #expect(try generations("it-planted").isEmpty)
        #expect(try String(contentsOfFile: planted + "/visits", encoding: .utf8) == "root secret\n")
        // Purging an app hop never claimed leaves the planted directory alone.
        #expect(try hopEnv(["destroy", "it-planted", "--purge", "--yes"]).status == 4)
        #expect(FileManager.default.fileExists(atPath: planted + "/visits"))
        try FileManager.default.removeItem(atPath: planted)
        #expect(try hopEnv(["deploy", fixtures + "/stateful", "--app", "it-planted", "--watch", "0"]).status == 0)
        #expect(fetch("it-planted", "/visit").body == "visits=1\n")
        #expect(try hopEnv(["destroy", "it-planted", "--purge", "--yes"]).status == 0)
    }

    @Test("hop run: the app's hardening, identity and limits (exposure <= 1.5, over-limit allocation killed); listed by hop ps, stopped by hop stop, gone when its client is killed")
    func oneOffCommands() throws {
        try #require(deployHost.ready)
        let app = "it-run"
        #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"]).status == 0)
        let hog = try hopEnv(["run", app, "--", "python3", "-c", "b = bytearray(3 * 1024 ** 3); print('survived')"])
        #expect(hog.status != 0 && !hog.stdout.contains("survived"), "a 3 GiB allocation under the 1 GiB default: \(hog.status) \(hog.stdout)")
        func runUnits() throws -> [String] {
            let ps = json(try hopEnv(["ps", app, "--json"]).stdout)
            return (ps["processes"] as? [[String: Any]] ?? []).compactMap { $0["unit"] as? String }
                .filter { $0.range(of: "-G[0-9]+-run-", options: .regularExpression) != nil }
        }
        func startLong() throws -> Int32 {
            let script = "HOP_HOME=\(shellQuote(sharedHome.root)) \(shellQuote(hopBinary)) run \(app) -- sleep 300 >/dev/null 2>&1 </dev/null & echo $!"
            let pid = Int32(try SystemRunner().run(Command("sh", ["-c", script])).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            for _ in 0..<100 where (try runUnits()).isEmpty { usleep(100_000) }
            return pid
        }
        func waitGone() throws -> Bool {
            for _ in 0..<100 { if try runUnits().isEmpty { return true }; usleep(100_000) }
            return false
        }
        let client = try startLong()
        let units = try runUnits()
        #expect(units.count == 1 && units[0].hasPrefix("hop-\(app)-G1-run-"), "hop ps lists the one-off: \(units)")
        if let unit = units.first {
            let hostPID = PrivateHost(stateDir: sharedHome.root + "/host").pid() ?? 0
            let sec = try SystemRunner().run(Command("nsenter", ["-t", "\(hostPID)", "-m", "-p", "systemd-analyze", "security", "--no-pager", unit]))
            let level = sec.stdoutText.components(separatedBy: "Overall exposure level for \(unit): ").dropFirst().first
                .flatMap { Double($0.prefix { $0.isNumber || $0 == "." }) }
            #expect(level != nil && level! <= 1.5, "exposure \(level.map { "\($0)" } ?? "?"): \(sec.stdoutText.suffix(300))")
            let user = try hostSystemctl(["show", "-p", "User", "-p", "MemoryMax", unit]).stdoutText
            #expect(user.contains("User=hop-") && user.contains("MemoryMax=1073741824"), "\(user)")
        }
        kill(client, SIGTERM)
        #expect(try waitGone(), "the one-off outlived its client")
        _ = try startLong()
        #expect(try hopEnv(["stop", app]).status == 0)
        #expect(try waitGone(), "hop stop left the one-off running")
        #expect(try hopEnv(["start", app]).status == 0)
        _ = try startLong()
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        let left = try hostSystemctl(["list-units", "--all", "--plain", "--no-legend", "hop-\(app)-G*"]).stdoutText
        #expect(left.range(of: "-G[0-9]+-run-", options: .regularExpression) == nil, "destroy left: \(left)")
    }

    @Test("a 63-character app name (the longest allowed) deploys, answers through nginx and is destroyed")
    func longestAppName() throws {
        try #require(deployHost.ready)
        let app = "a" + String(repeating: "b", count: 61) + "c"
        #expect(app.count == 63)
        let d = try hopEnv(["deploy", fixtures + "/static-site", "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(fetch(app).status == 200)
        #expect(try hopEnv(["apps"]).status == 0)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        #expect(fetch(app).status == 404)
    }

    @Test("a domain belongs to the app that serves it: another app declaring it (or another app's NAME.localhost) is refused with exit 2 before anything is built")
    func domainsAreOwned() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let toml = "[domains]\nnames = [\"owned.example.org\"]\n"
            let owner = try hopEnv(["deploy", try stdlibVariant(dir, toml: toml), "--app", "it-owner", "--watch", "0"])
            #expect(owner.status == 0, "\(owner.stderr)")
            let buildsBefore = try hopEnv(["builds", "--json"]).stdout
            let thief = try hopEnv(["deploy", try stdlibVariant(dir, toml: toml), "--app", "it-thief", "--watch", "0"])
            #expect(thief.status == 2 && thief.stderr.contains("hop3.toml") && thief.stderr.contains("owned.example.org belongs to app it-owner"), "\(thief.stderr)")
            #expect(try generations("it-thief").isEmpty)
            let squatter = try hopEnv(["deploy", try stdlibVariant(dir, toml: "[domains]\nnames = [\"it-owner.localhost\"]\n"), "--app", "it-squat", "--watch", "0"])
            #expect(squatter.status == 2 && squatter.stderr.contains("default name of app it-owner"), "\(squatter.stderr)")
            #expect(try hopEnv(["builds", "--json"]).stdout == buildsBefore, "nothing was built")
            let owners = try hopEnv(["domains", "--json"]).stdout
            #expect(owners.contains("\"domain\" : \"owned.example.org\"") || owners.contains("\"domain\":\"owned.example.org\""), "\(owners)")
            let r = try SystemRunner().run(Command("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: owned.example.org",
                                                            "http://127.0.0.1:\(deployHost.port)/"]))
            #expect(r.stdoutText == "200")
            #expect(try hopEnv(["destroy", "it-owner", "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a static site serves only its own files: a symlink leaving the tree is refused (exit 2, target never quoted), no dotfile is served")
    func staticConfinement() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let src = dir + "/site"
            try copyTree(fixtures + "/static-site", src)
            try FileManager.default.createSymbolicLink(atPath: src + "/rootfs", withDestinationPath: "/")
            try FileManager.default.createSymbolicLink(atPath: src + "/passwd.txt", withDestinationPath: "/etc/passwd")
            try "SECRET=1\n".write(toFile: src + "/.env", atomically: true, encoding: .utf8)
            let app = "it-static-jail"
            // A link out of the tree is refused before anything is read or built, naming the link only.
            let refused = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            #expect(refused.status == 2 && refused.stderr.contains("symbolic link that leaves the app's tree"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("root:") && !refused.stderr.contains("/etc/passwd"), "\(refused.stderr)")
            try FileManager.default.removeItem(atPath: src + "/rootfs")
            try FileManager.default.removeItem(atPath: src + "/passwd.txt")
            // A link inside the tree is fine.
            try FileManager.default.createSymbolicLink(atPath: src + "/again.css", withDestinationPath: "css/site.css")
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            #expect(d.status == 0, "\(d.stderr)")
            #expect(fetch(app, "/").status == 200)
            #expect(fetch(app, "/css/site.css").status == 200)
            for path in ["/rootfs/etc/passwd", "/passwd.txt", "/rootfs/etc/nix/nix.conf", "/.env"] {
                let r = fetch(app, path)
                #expect(r.status == 403 || r.status == 404, "\(path): \(r.status)")
                #expect(!r.body.contains("root:"), "\(path) leaked \(r.body.prefix(80))")
            }
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("two TCP apps deployed at the same moment get different ports and each answers")
    func concurrentPortAllocation() throws {
        try #require(deployHost.ready)
        let apps = ["it-race-a", "it-race-b", "it-race-c"]
        let script = apps.map { "HOP_HOME=\(shellQuote(sharedHome.root)) \(shellQuote(hopBinary)) deploy \(shellQuote(fixtures + "/python-stdlib")) --app \($0) --watch 0 >/dev/null 2>&1 & " }
            .joined() + "wait"
        _ = try SystemRunner().run(Command("sh", ["-c", script]))
        var ports: [Int] = []
        for app in apps {
            let g = try #require(try generations(app).first { $0["current"] as? Bool == true }, "\(app) serves")
            ports += g["ports"] as? [Int] ?? []
            #expect(fetch(app).status == 200)
        }
        #expect(ports.count == apps.count && Set(ports).count == ports.count, "\(ports)")
        for app in apps { #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0) }
    }

    @Test("source import never escalates: a tracked directory swapped for a link to a root-only one, or a chmod-600 file, is refused with exit 2 before anything is built")
    func sourceImportRefusesLinksAndPrivateFiles() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let builds = try hopEnv(["builds", "--json"]).stdout
            let src = try stdlibVariant(dir)
            chmod(src, 0o755)
            let secret = dir + "/root-only"
            try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
            try "TOP SECRET\n".write(toFile: secret + "/settings", atomically: true, encoding: .utf8)
            chmod(secret, 0o700); chmod(secret + "/settings", 0o600)
            try FileManager.default.createDirectory(atPath: src + "/conf", withIntermediateDirectories: true)
            try "public\n".write(toFile: src + "/conf/settings", atomically: true, encoding: .utf8)
            for args in [["init", "-q"], ["add", "."]] {
                let r = try SystemRunner().run(Command("git", ["-C", src] + args))
                try #require(r.succeeded, "\(r.stderrText)")
            }
            try FileManager.default.removeItem(atPath: src + "/conf")
            try FileManager.default.createSymbolicLink(atPath: src + "/conf", withDestinationPath: secret)
            let linked = try hopEnv(["deploy", src, "--app", "it-escalate", "--watch", "0"])
            #expect(linked.status == 2 && linked.stderr.contains("symbolic link"), "\(linked.status) \(linked.stderr)")
            // The link undone, a private file instead.
            try FileManager.default.removeItem(atPath: src + "/conf")
            try FileManager.default.createDirectory(atPath: src + "/conf", withIntermediateDirectories: true)
            try "public\n".write(toFile: src + "/conf/settings", atomically: true, encoding: .utf8)
            try "SECRET=1\n".write(toFile: src + "/.env", atomically: true, encoding: .utf8)
            chmod(src + "/.env", 0o600)
            let privateFile = try hopEnv(["deploy", src, "--app", "it-escalate", "--watch", "0"])
            #expect(privateFile.status == 2 && privateFile.stderr.contains(".env"), "\(privateFile.status) \(privateFile.stderr)")
            #expect(try hopEnv(["builds", "--json"]).stdout == builds, "a refused source was built")
            #expect(try generations("it-escalate").isEmpty)
        }
    }

    @Test("config at hop's limits reaches the app (four 120 KiB values start for real); a value with a newline is shown escaped; a zero-length hop.db is an error, not an empty host")
    func configLimitsAndDisplay() throws {
        try #require(deployHost.ready)
        let app = "it-cfg"
        #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"]).status == 0)
        let big = String(repeating: "x", count: 120 * 1024)
        let set = try hopEnv(["config", "set", app, "A=\(big)", "B=\(big)", "C=\(big)", "D=\(big)", "--watch", "0"])
        #expect(set.status == 0, "\(set.stderr.suffix(500))")
        #expect(fetch(app).status == 200)
        let seen = try hopEnv(["run", app, "--", "python3", "-c", "import os; print(sum(len(os.environ[k]) for k in 'ABCD'))"])
        #expect(seen.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(4 * 120 * 1024)", "\(seen.stdout) \(seen.stderr)")
        // (One variable past the kernel's per-string limit cannot even be passed to the CLI as an
        // argument — the same limit; the operation's refusal is tested in ConfigTests and over the API.)
        #expect(try hopEnv(["config", "unset", app, "A", "B", "C", "D", "--watch", "0"]).status == 0)
        #expect(try hopEnv(["config", "set", app, "NOTE=line one\nEVIL=1", "--watch", "0"]).status == 0)
        let shown = try hopEnv(["config", app])
        #expect(shown.status == 0)
        let lines = shown.stdout.split(separator: "\n").map(String.init)
        #expect(!lines.contains { $0.hasPrefix("EVIL") }, "a newline in a value reads as a second key: \(shown.stdout)")
        #expect(shown.stdout.contains("\\n"), "\(shown.stdout)")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        try withTemporaryDirectory { dir in
            let home = dir + "/home"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: home + "/hop.db", contents: Data()))
            // Truncated a while ago (a file created this instant may be another hop's new database).
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: home + "/hop.db")
            let apps = try hopEnv(["apps"], ["HOP_HOME": home])
            #expect(apps.status != 0 && apps.stderr.contains("0 bytes"), "\(apps.status) \(apps.stderr)")
            #expect((try FileManager.default.attributesOfItem(atPath: home + "/hop.db")[.size] as? Int) == 0, "the empty database was replaced")
        }
    }

    @Test("an app that binds 0.0.0.0:$PORT is reached only through its proxy socket: ss shows no app port in the host's namespace, a second network namespace (veth) cannot reach it, another app can neither connect to it nor take it")
    func networkIsolation() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let src = try stdlibVariant(dir)
            let code = try String(contentsOfFile: src + "/server.py", encoding: .utf8)
            #expect(code.contains("((\"127.0.0.1\", port)"))
            try code.replacingOccurrences(of: "((\"127.0.0.1\", port)", with: "((\"0.0.0.0\", port)").write(toFile: src + "/server.py", atomically: true, encoding: .utf8)
            #expect(try hopEnv(["deploy", src, "--app", "it-net-a", "--watch", "0"]).status == 0)
            #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", "it-net-b", "--watch", "0"]).status == 0)
            let portA = try #require((try generations("it-net-a").first { $0["current"] as? Bool == true }?["ports"] as? [Int])?.first)
            let portB = try #require((try generations("it-net-b").first { $0["current"] as? Bool == true }?["ports"] as? [Int])?.first)
            #expect(fetch("it-net-a").status == 200 && fetch("it-net-b").status == 200)
            let hostPID = PrivateHost(stateDir: sharedHome.root + "/host").pid() ?? 0
            let runner = SystemRunner()

            // Inside its namespace the app does listen on every address…
            let ns = UnitNames.networkNamespace(app: "it-net-a")
            let inside = try runner.run(Command("nsenter", ["-t", "\(hostPID)", "-m", "-p", "ip", "netns", "exec", ns, "ss", "-ltnH"])).stdoutText
            #expect(inside.contains("0.0.0.0:\(portA) "), "the test app should bind 0.0.0.0 in its namespace: \(inside)")
            // …and nothing listens on its port in the host's namespace: nginx reaches it through hop's
            // proxy socket (a unix socket, shown by ss -lx).
            let listeners = try runner.run(Command("ss", ["-ltnH"])).stdoutText.split(separator: "\n")
                .compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.map(String.init) }
            #expect(!listeners.isEmpty && listeners.filter { $0.hasSuffix(":\(portA)") }.isEmpty, "an app port listens in the host's namespace: \(listeners)")
            let unixListeners = try runner.run(Command("nsenter", ["-t", "\(hostPID)", "-m", "-p", "ss", "-lxH"])).stdoutText
            #expect(unixListeners.contains("/run/hop/it-net-a/g"), "no proxy socket for it-net-a: \(unixListeners.prefix(2000))")

            // A second network namespace joined by a veth pair reaches a host service bound to 0.0.0.0 (the
            // control) but not the app.
            let tag = String(UUID().uuidString.prefix(6)).lowercased()
            let peer = "hopt-\(tag)", veth = "hopv\(tag)", subnet = 10 + Int.random(in: 0..<200)
            func ip(_ args: [String]) throws -> ProcessResult { try runner.run(Command("ip", args)) }
            defer { _ = try? ip(["netns", "delete", peer]); _ = try? ip(["link", "delete", veth]) }
            for args in [["netns", "add", peer], ["link", "add", veth, "type", "veth", "peer", "name", veth + "p"],
                         ["link", "set", veth + "p", "netns", peer], ["addr", "add", "10.231.\(subnet).1/30", "dev", veth],
                         ["link", "set", veth, "up"], ["-n", peer, "addr", "add", "10.231.\(subnet).2/30", "dev", veth + "p"],
                         ["-n", peer, "link", "set", veth + "p", "up"], ["-n", peer, "link", "set", "lo", "up"]] {
                let r = try ip(args)
                try #require(r.succeeded, "ip \(args): \(r.stderrText)")
            }
            let controlPort = 18000 + Int.random(in: 0..<1000)
            let control = try runner.run(Command("sh", ["-c", "python3 -m http.server \(controlPort) --bind 0.0.0.0 --directory \(shellQuote(dir)) >/dev/null 2>&1 </dev/null & echo $!"]))
            let controlPID = Int32(control.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            defer { if controlPID > 0 { kill(controlPID, SIGTERM) } }
            func fromPeer(_ port: Int) throws -> String {
                try runner.run(Command("ip", ["netns", "exec", peer, "curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                                              "http://10.231.\(subnet).1:\(port)/"])).stdoutText
            }
            var controlAnswer = ""
            for _ in 0..<50 where controlAnswer != "200" { controlAnswer = try fromPeer(controlPort); if controlAnswer != "200" { usleep(100_000) } }
            #expect(controlAnswer == "200", "the control server on 0.0.0.0 should be reachable from the peer namespace")
            #expect(try fromPeer(portA) == "000", "the app answered a request from another network namespace")

            // From inside app A (hop run): its own port answers, app B's (which the host reaches) does not.
            let probe = "import sys, urllib.request\ntry:\n    print(urllib.request.urlopen('http://127.0.0.1:%s/' % sys.argv[1], timeout=3).status)\nexcept Exception as e:\n    print('refused', e)\n"
            let own = try hopEnv(["run", "it-net-a", "--", "python3", "-c", probe, "\(portA)"])
            #expect(own.stdout.contains("200"), "\(own.stdout) \(own.stderr)")
            let other = try hopEnv(["run", "it-net-a", "--", "python3", "-c", probe, "\(portB)"])
            #expect(other.stdout.contains("refused") && !other.stdout.contains("200"), "app A reached app B: \(other.stdout)")
            let fromHost = try runner.run(Command("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket",
                                                           "/proc/\(hostPID)/root/run/hop/it-net-b/web-1.sock", "http://it-net-b.localhost/"]))
            #expect(fromHost.stdoutText == "200", "app B's proxy socket should answer on the host: \(fromHost.stdoutText)")

            // B stopped, A listens on B's port: nginx's requests for B never reach A.
            #expect(try hopEnv(["stop", "it-net-b"]).status == 0)
            let thief = "import http.server, sys\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200); self.end_headers(); self.wfile.write(b'stolen')\nhttp.server.HTTPServer(('0.0.0.0', int(sys.argv[1])), H).serve_forever()\n"
            let script = "HOP_HOME=\(shellQuote(sharedHome.root)) \(shellQuote(hopBinary)) run it-net-a -- python3 -c \(shellQuote(thief)) \(portB) >/dev/null 2>&1 </dev/null & echo $!"
            let thiefClient = Int32(try runner.run(Command("sh", ["-c", script])).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            defer { if thiefClient > 0 { kill(thiefClient, SIGTERM) } }
            var listening = false
            for _ in 0..<50 where !listening {
                let s = try runner.run(Command("nsenter", ["-t", "\(hostPID)", "-m", "-p", "ip", "netns", "exec", ns, "ss", "-ltnH"])).stdoutText
                listening = s.contains(":\(portB) ")
                if !listening { usleep(100_000) }
            }
            #expect(listening, "the thief did not start")
            let stolen = fetch("it-net-b")
            #expect(stolen.status != 200 && !stolen.body.contains("stolen"), "app A took app B's port: \(stolen)")
            kill(thiefClient, SIGTERM)

            for app in ["it-net-a", "it-net-b"] { #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0) }
            #expect(!FileManager.default.fileExists(atPath: hostPath(UnitNames.networkNamespacePath(app: "it-net-a"))), "destroy left the namespace")
        }
    }

    @Test("every unit has default limits; an app that allocates past its memory limit is killed and another app keeps answering")
    func defaultLimits() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", "it-calm", "--watch", "0"]).status == 0)
            let unit = try hostSystemctl(["show", "-p", "MemoryMax", "-p", "MemoryLimit", "-p", "TasksMax", "hop-it-calm-G1-web@1.service"]).stdoutText
            #expect(unit.contains("TasksMax=512"), "\(unit)")
            #expect(unit.contains("MemoryMax=1073741824"), "\(unit)")
            // A hog: 64 MiB allowed, it allocates 512 MiB on its first request.
            let src = try stdlibVariant(dir, toml: "[limits]\nmemory = \"64M\"\n")
            var code = try String(contentsOfFile: src + "/server.py", encoding: .utf8)
            code = code.replacingOccurrences(of: "        body = b\"Hello", with: "        if self.path == \"/hog\":\n            hog = bytearray(512 * 1024 * 1024)\n        body = b\"Hello")
            try code.write(toFile: src + "/server.py", atomically: true, encoding: .utf8)
            #expect(try hopEnv(["deploy", src, "--app", "it-hog", "--watch", "0"]).status == 0)
            let hog = fetch("it-hog", "/hog")
            #expect(hog.status != 200, "a 512 MiB allocation under a 64 MiB limit succeeded")
            #expect(fetch("it-calm").status == 200)
            let pid = PrivateHost(stateDir: sharedHome.root + "/host").pid() ?? 0
            let journal = try SystemRunner().run(Command("nsenter", ["-t", "\(pid)", "-m", "-p", "journalctl", "--no-pager", "-u", "hop-it-hog-G*", "-n", "50"]))
            // cgroup v1 (this machine): the kernel's OOM killer sends SIGKILL; v2 also logs "oom-kill".
            #expect(journal.stdoutText.contains("status=9/KILL") || journal.stdoutText.contains("oom"), "\(journal.stdoutText.suffix(800))")
            for app in ["it-calm", "it-hog"] { #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0) }
        }
    }

    @Test("the dashboard in headless Chromium: log in, see the app and its URL, roll back with the button, see a log line; a form without its CSRF token is refused")
    func dashboardInChromium() throws {
        try #require(deployHost.ready)
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "chromium is installed by scripts/setup.sh")
        let app = "it-dash"
        for _ in 0..<2 { #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0", "--force"]).status == 0) }
        _ = fetch(app) // a request, so the app has written a log line
        _ = try? hopEnv(["user", "remove", "dash-deployer"])
        let add = try SystemRunner().run(Command(hopBinary, ["user", "add", "dash-deployer", "--role", "deployer", "--app", app, "--password-stdin"],
                                                 environment: ["HOP_HOME": sharedHome.root], stdin: Data("a long dashboard password\n".utf8)))
        #expect(add.succeeded, "\(add.stderrText)")
        let server = try LiveServer()
        defer { server.stop() }
        let artifacts = repoRoot + "/.build/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let shot = artifacts + "/dashboard-app-page.png"
        let r = try SystemRunner().run(Command(repoRoot + "/.venv-test/bin/python", [repoRoot + "/scripts/test/dashboard.py",
            "http://127.0.0.1:\(server.port)", "dash-deployer", "a long dashboard password", app, shot]))
        #expect(r.succeeded, "\(r.stderrText.suffix(3000))")
        let seen = try #require(parse(r.stdoutText.split(separator: "\n").last.map(String.init) ?? "") as? [String: Any], "\(r.stdoutText)")
        #expect(seen["redirectedToLogin"] as? Bool == true)
        #expect(seen["wrongPasswordKeepsUser"] as? String == "dash-deployer", "\(seen)")
        #expect((seen["wrongPasswordMessage"] as? String ?? "").lowercased().contains("wrong") || (seen["wrongPasswordMessage"] as? String ?? "").lowercased().contains("invalid"), "\(seen["wrongPasswordMessage"] ?? "")")
        #expect(FileManager.default.fileExists(atPath: artifacts + "/dashboard-app-page-login.png"))
        // The app page's overview (hop info's facts), readable at 420 px: nothing wider than the window.
        let page = seen["appPageText"] as? String ?? ""
        #expect(page.contains("serving") && page.contains("wsgi") || page.contains("web"), "\(page)")
        #expect((seen["pageWidth"] as? Int ?? 9999) <= (seen["windowWidth"] as? Int ?? 0), "the page scrolls sideways at 420 px: \(seen)")
        #expect(seen["appsPageListsApp"] as? Bool == true, "\(seen)")
        let url = (parse(try hopEnv(["apps", "--json"]).stdout) as? [[String: Any]])?.first { $0["app"] as? String == app }?["url"] as? String
        #expect(url != nil && seen["url"] as? String == url, "\(seen["url"] ?? "") vs \(url ?? "")")
        let target = try #require(seen["rollbackTarget"] as? Int)
        #expect(seen["servingAfter"] as? Int == target, "\(seen)")
        #expect(seen["servingBefore"] as? Int != target)
        #expect((seen["logLines"] as? Int ?? 0) > 0 && !(seen["logLine"] as? String ?? "").isEmpty, "\(seen)")
        #expect(seen["csrfLessPostStatus"] as? Int == 403)
        #expect(seen["servingAfterCSRFLessPost"] as? Int == target)
        #expect(seen["csp"] as? Int == 0)
        #expect(FileManager.default.fileExists(atPath: shot))
        #expect(try activeNumber(app) == target, "the CLI sees the generation the dashboard rolled back to")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }
}

@Suite("hop server as a unit of the service host, published by hop's nginx", .tags(.integration), .serialized)
struct ServerUnitIntegrationTests {
    @Test("hop server install: an unprivileged hop-server.service (exposure <= 2.0) answers through nginx at hop.localhost and its root helper acts on the host's apps")
    func installedServer() throws {
        try #require(deployHost.ready)
        let app = "it-unit"
        #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"]).status == 0)
        #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0", "--force"]).status == 0)
        let install = try hopEnv(["server", "install", "--json"])
        #expect(install.status == 0, "\(install.stderr)")
        #expect((parse(install.stdout) as? [String: Any])?["unit"] as? String == "hop-server.service")
        let token = try newToken("unit-admin", role: "admin")
        func viaNginx(_ method: String, _ path: String) throws -> (status: String, body: String) {
            let r = try SystemRunner().run(Command("curl", ["-s", "-X", method, "-H", "Host: hop.localhost", "-H", "Authorization: Bearer \(token)",
                                                            "-w", "\n%{http_code}", "http://127.0.0.1:\(deployHost.port)\(path)"]))
            let out = r.stdoutText
            let nl = out.lastIndex(of: "\n") ?? out.endIndex
            return (String(out[out.index(after: nl)...]), String(out[..<nl]))
        }
        #expect(try viaNginx("GET", "/api/health").status == "200")
        let apps = try viaNginx("GET", "/api/apps")
        #expect(apps.status == "200" && apps.body.contains("\"app\":\"\(app)\""), "\(apps)")
        // It runs the apps' systemd natively from inside the host: a rollback through it works.
        let before = try activeNumber(app)
        let rb = try viaNginx("POST", "/api/apps/\(app)/rollback")
        #expect(rb.status == "200", "\(rb.body)")
        #expect(try activeNumber(app) != before)
        #expect(fetch(app).status == 200)
        // A deployer's source uploaded through nginx is built by the installed server itself (its
        // unit once had ProtectHostname=yes, and every Nix build failed: "cannot set host name").
        let built = "it-unit-built"
        let deployer = try newToken("unit-deployer", role: "deployer", apps: [built])
        try withTemporaryDirectory { dir in
            let src = try stdlibVariant(dir)
            try "import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200); self.end_headers(); self.wfile.write(b'built by hop-server\\n')\nhttp.server.HTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
                .write(toFile: src + "/server.py", atomically: true, encoding: .utf8)
            let tar = dir + "/src.tar"
            #expect(try SystemRunner().run(Command("tar", ["-C", src, "-cf", tar, "."])).succeeded)
            let r = try SystemRunner().run(Command("curl", ["-s", "--max-time", "600", "-X", "POST", "-H", "Host: hop.localhost",
                                                            "-H", "Authorization: Bearer \(deployer)", "-H", "Content-Type: application/octet-stream",
                                                            "--data-binary", "@" + tar, "-w", "\n%{http_code}",
                                                            "http://127.0.0.1:\(deployHost.port)/api/apps/\(built)/source?watch=0"]))
            #expect(r.stdoutText.hasSuffix("\n200") && r.stdoutText.contains("\"app\":\"\(built)\""), "\(r.stdoutText)")
            #expect(fetch(built).body == "built by hop-server\n", "\(fetch(built))")
        }
        _ = try hopEnv(["destroy", built, "--purge", "--yes"])
        _ = try? hopEnv(["user", "remove", "unit-deployer"])
        // The network-facing process is not root: a dynamic user with no capability, exposure <= 2.0;
        // only the helper (reached by the front alone) is root.
        let unit = try hostSystemctl(["show", "-p", "NoNewPrivileges", "-p", "ActiveState", "-p", "MainPID", "hop-server.service"]).stdoutText
        #expect(unit.contains("ActiveState=active") && unit.contains("NoNewPrivileges=yes"), "\(unit)")
        let hostPID = try #require(PrivateHost(stateDir: sharedHome.root + "/host").pid())
        let mainPID = unit.split(separator: "\n").first { $0.hasPrefix("MainPID=") }.map { String($0.dropFirst(8)) } ?? "0"
        let status = try SystemRunner().run(Command("nsenter", ["-t", "\(hostPID)", "-m", "-p", "cat", "/proc/\(mainPID)/status"])).stdoutText
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first
        #expect(uid != nil && uid != "0", "hop-server.service runs as uid \(uid.map(String.init) ?? "?")")
        #expect(status.contains("CapEff:\t0000000000000000"), "\(status)")
        for (u, bound) in [("hop-server.service", 2.0), ("hop-helper.service", 10.0)] {
            let sec = try SystemRunner().run(Command("nsenter", ["-t", "\(hostPID)", "-m", "-p", "systemd-analyze", "security", "--no-pager", u]))
            let level = sec.stdoutText.components(separatedBy: "Overall exposure level for \(u): ").dropFirst().first
                .flatMap { Double($0.prefix { $0 == "." || $0.isNumber }) }
            print("\(u) exposure in the service host: \(level.map { "\($0)" } ?? "?")")
            #expect(level != nil && level! <= bound, "\(u): \(sec.stdoutText.suffix(300))")
        }
        let helperUser = try hostSystemctl(["show", "-p", "User", "hop-helper.service"]).stdoutText
        #expect(helperUser.trimmingCharacters(in: .whitespacesAndNewlines) == "User=", "the helper is root: \(helperUser)")
        // What the helper has no operation for stops at the front.
        #expect(try viaNginx("GET", "/etc/passwd").status == "404")
        // The dashboard on a plain-HTTP server name: the session cookie is not Secure (a browser
        // would never send it back), so login leads to the apps page.
        let added = try SystemRunner().run(Command(hopBinary, ["user", "add", "unit-web", "--role", "viewer", "--password-stdin"],
                                                   environment: ["HOP_HOME": sharedHome.root], stdin: Data("a long dashboard password\n".utf8)))
        #expect(added.succeeded, "\(added.stderrText)")
        let login = try SystemRunner().run(Command("curl", ["-s", "-D", "-", "-o", "/dev/null", "-H", "Host: hop.localhost",
                                                            "--data", "user=unit-web&password=a long dashboard password",
                                                            "http://127.0.0.1:\(deployHost.port)/login"])).stdoutText
        let setCookie = login.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie: hop_session=") }.map(String.init) ?? ""
        #expect(!setCookie.isEmpty && !setCookie.contains("Secure"), "\(login)")
        let session = setCookie.dropFirst("set-cookie: ".count).split(separator: ";").first.map(String.init) ?? ""
        let page = try SystemRunner().run(Command("curl", ["-s", "-H", "Host: hop.localhost", "-H", "Cookie: \(session)",
                                                           "http://127.0.0.1:\(deployHost.port)/"])).stdoutText
        #expect(page.contains("<h1>Apps</h1>"), "\(page.prefix(300))")
        _ = try? hopEnv(["user", "remove", "unit-web"])
        #expect(try hostSystemctl(["stop", "hop-server.service", "hop-helper.service"]).succeeded)
        try? FileManager.default.removeItem(atPath: sharedHome.root + "/server-install.json")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }
}
