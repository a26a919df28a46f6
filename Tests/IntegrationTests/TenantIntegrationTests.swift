import Foundation
import Testing
import HopBasics
import Runtime

/// Uploads `dir` as a tar (symbolic links kept as links, as a hostile client would send it) to
/// `POST /api/apps/{app}/source`; (status, body).
func uploadSource(_ server: LiveServer, app: String, dir: String, token: String) throws -> (status: Int, body: String) {
    let tar = dir + ".tar"
    let t = try SystemRunner().run(Command("tar", ["-C", dir, "-cf", tar, "."]))
    try #require(t.succeeded, "\(t.stderrText)")
    defer { try? FileManager.default.removeItem(atPath: tar) }
    let r = try SystemRunner().run(Command("curl", ["-s", "--max-time", "600", "-X", "POST", "-H", "Authorization: Bearer \(token)",
                                                    "-H", "Content-Type: application/octet-stream", "--data-binary", "@" + tar,
                                                    "-w", "\n%{http_code}", "http://127.0.0.1:\(server.port)/api/apps/\(app)/source?watch=0"]))
    let out = r.stdoutText
    guard let nl = out.lastIndex(of: "\n") else { return (0, out) }
    return (Int(out[out.index(after: nl)...]) ?? 0, String(out[..<nl]))
}

/// A sdist whose setup.py (run by pip to learn its metadata) tries what a hostile package would:
/// report who it runs as, read root-only files and hop's keys, and leave marker files in hop's
/// state and /etc. Returns the wheelhouse holding it and the marker paths.
func hostileSdist(_ dir: String, token: String) throws -> (wheelhouse: String, markers: [String]) {
    let pkg = dir + "/build/evilpkg-1.0"
    try FileManager.default.createDirectory(atPath: pkg, withIntermediateDirectories: true)
    let markers = [sharedHome.root + "/pwned-\(token)", "/etc/hop-pwned-\(token)", "/var/tmp/hop-pwned-\(token)"]
    let setup = """
        import os, sys
        def probe(p):
            try:
                with open(p, "rb") as f: return "READ(%d bytes)" % len(f.read())
            except Exception as e: return "denied(" + type(e).__name__ + ")"
        for m in \(markers.map { "\"\($0)\"" }):
            try:
                with open(m, "w") as f: f.write("pwned")
            except Exception: pass
        keys = os.path.join("\(sharedHome.root)", "keys")
        seen = sorted(os.listdir(keys)) if os.path.isdir(keys) else []
        report = "HOP-EVIL uid=%d groups=%s shadow=%s keys=%s db=%s" % (os.getuid(), os.getgroups(), probe("/etc/shadow"), seen,
                  probe(os.path.join("\(sharedHome.root)", "hop.db")))
        sys.stderr.write(report + "\\n")
        raise SystemExit(report)
        """
    try setup.write(toFile: pkg + "/setup.py", atomically: true, encoding: .utf8)
    try "Metadata-Version: 2.1\nName: evilpkg\nVersion: 1.0\n".write(toFile: pkg + "/PKG-INFO", atomically: true, encoding: .utf8)
    let wheels = dir + "/evil-wheelhouse"
    try FileManager.default.createDirectory(atPath: wheels, withIntermediateDirectories: true)
    let t = try SystemRunner().run(Command("tar", ["-C", dir + "/build", "-czf", wheels + "/evilpkg-1.0.tar.gz", "evilpkg-1.0"]))
    try #require(t.succeeded, "\(t.stderrText)")
    return (wheels, markers)
}

/// Two tenants (deployers of one app each) and an admin, against hop's real server, nginx, systemd
/// and addon servers: what a deployer sends is never run or read as root, and hop3.toml cannot take
/// what the API would refuse.
@Suite("Tenants never reach root: hostile uploads, pushes and hop3.toml", .tags(.integration), .serialized)
struct TenantIntegrationTests {
    static let appA = "it-ten-a", appB = "it-ten-b"

    @Test("a PEP 517 local-path requirement is refused before pip runs (exit 2, located); a hostile sdist's setup.py runs as an unprivileged throwaway uid that reads no secret and leaves nothing behind (API upload and CLI)")
    func resolverNeverRoot() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            chmod(dir, 0o755)
            let token = String(UUID().uuidString.prefix(8)).lowercased()
            let evil = try hostileSdist(dir, token: token)
            let server = try LiveServer(findLinks: [evil.wheelhouse, wheelhouse])
            defer { server.stop() }
            let tenant = try newToken("ten-a", role: "deployer", apps: [Self.appA])

            // 1. `./evil`: a PEP 517 project with an in-tree backend that would run as root.
            let src = try stdlibVariant(dir)
            let marker = "/tmp/hop-pep517-\(token)"
            try FileManager.default.createDirectory(atPath: src + "/evil", withIntermediateDirectories: true)
            try "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n[project]\nname = \"evil\"\nversion = \"1\"\n"
                .write(toFile: src + "/evil/pyproject.toml", atomically: true, encoding: .utf8)
            try "open('\(marker)', 'w').write('pwned')\ndef get_requires_for_build_wheel(c=None): return []\n"
                .write(toFile: src + "/evil/backend.py", atomically: true, encoding: .utf8)
            try "./evil\n".write(toFile: src + "/requirements.txt", atomically: true, encoding: .utf8)
            let builds = try hopEnv(["builds", "--json"]).stdout
            let up = try uploadSource(server, app: Self.appA, dir: src, token: tenant)
            #expect(up.status == 400 && up.body.contains("is a local path"), "\(up)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the in-tree backend ran")
            let cli = try hopEnv(["deploy", src, "--app", Self.appA, "--watch", "0"])
            #expect(cli.status == 2 && cli.stderr.contains("requirements.txt:1:1: error: the requirement `./evil` is a local path"), "\(cli.stderr)")
            #expect(try hopEnv(["builds", "--json"]).stdout == builds, "nothing was built or recorded")

            // 2. A hostile sdist from the index: its setup.py runs, but as nobody of consequence.
            try "evilpkg==1.0\n".write(toFile: src + "/requirements.txt", atomically: true, encoding: .utf8)
            try FileManager.default.removeItem(atPath: src + "/evil")
            let up2 = try uploadSource(server, app: Self.appA, dir: src, token: tenant)
            #expect(up2.status == 400 && up2.body.contains("cannot resolve the Python requirements"), "\(up2)")
            let local = try hopEnv(["deploy", src, "--app", Self.appA, "--watch", "0"], ["HOP_FIND_LINKS": evil.wheelhouse + ":" + wheelhouse])
            #expect(local.status == 2, "\(local.stderr)")
            let report = try #require(local.stderr.split(separator: "\n").first { $0.contains("HOP-EVIL uid=") }, "\(local.stderr)")
            let uid = Int(report.split(separator: " ").first { $0.hasPrefix("uid=") }?.dropFirst(4) ?? "") ?? 0
            #expect(uid >= 3_000_000_000, "setup.py ran as uid \(uid)")
            #expect(report.contains("groups=[]") && report.contains("shadow=denied") && report.contains("keys=[]") && report.contains("db=denied"), "\(report)")
            #expect(!local.stderr.contains("READ("), "\(report)")
            for m in evil.markers { #expect(!FileManager.default.fileExists(atPath: m), "setup.py left \(m)") }
            #expect(try hopEnv(["builds", "--json"]).stdout == builds)
            _ = try? hopEnv(["user", "remove", "ten-a"])
        }
    }

    @Test("a Procfile or hop3.toml linked to hop's keys or /etc/shadow leaks nothing: refused with exit 2 naming the link, over the API upload and over git push")
    func linkedMetadataLeaksNothing() throws {
        try #require(deployHost.ready)
        let keyGen = try hopEnv(["key", "generate"])
        #expect(keyGen.status == 0 || keyGen.stderr.contains("exists"), "\(keyGen.stderr)")
        _ = try hopEnv(["backup", "key", "--json"])
        let secrets = try FileManager.default.contentsOfDirectory(atPath: sharedHome.root + "/keys").map { sharedHome.root + "/keys/" + $0 } + ["/etc/shadow"]
        let secretTexts = secrets.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .flatMap { $0.split(separator: "\n").map(String.init) }.filter { $0.count > 12 }
        try #require(!secretTexts.isEmpty)
        func leaks(_ text: String) -> Bool { secretTexts.contains { text.contains($0) } || text.contains("root:") }
        let server = try LiveServer()
        defer { server.stop() }
        let tenant = try newToken("ten-link", role: "deployer", apps: [Self.appA])
        try withTemporaryDirectory { dir in
            for (file, target) in [("Procfile", "/etc/shadow"), ("hop3.toml", secrets[0]), ("requirements.txt", secrets.last!)] {
                let src = try stdlibVariant(dir)
                try? FileManager.default.removeItem(atPath: src + "/" + file)
                try FileManager.default.createSymbolicLink(atPath: src + "/" + file, withDestinationPath: target)
                let up = try uploadSource(server, app: Self.appA, dir: src, token: tenant)
                #expect(up.status == 400 && up.body.contains("`\(file)` is a symbolic link that leaves the app's tree"), "\(file): \(up)")
                #expect(!leaks(up.body) && !up.body.contains(target), "\(file) leaked: \(up.body)")
            }
        }
        // The same over git push: the link is committed as a link.
        let rig = try GitPushRig()
        defer { rig.tearDown() }
        let key = try rig.key(for: "ten-link")
        let work = rig.dir + "/work"
        _ = try commitFlask(work, greeting: "Linked")
        try FileManager.default.removeItem(atPath: work + "/Procfile")
        try FileManager.default.createSymbolicLink(atPath: work + "/Procfile", withDestinationPath: secrets[0])
        _ = try SystemRunner().run(Command("git", ["add", "-A"], workingDirectory: work))
        _ = try SystemRunner().run(Command("git", ["commit", "-q", "-m", "link"], workingDirectory: work))
        let push = try rig.run(["git", "push", rig.url(Self.appA), "main"], key: key, cwd: work)
        #expect(!push.succeeded && push.stderrText.contains("symbolic link that leaves the app's tree"), "\(push.stderrText)")
        #expect(!leaks(push.stderrText), "git push leaked: \(push.stderrText)")
        _ = try? hopEnv(["user", "remove", "ten-link"])
    }

    @Test("hop3.toml cannot take what the API refuses: hop's server name (exit 12, both sort orders), localhost/*.test/IP names (exit 11), a backup target directory (exit 11), another app's detached addon (exit 11) or default addon name (exit 12); a deployer cannot see another app's build id (404)")
    func hop3TomlObeysTheRoles() throws {
        try #require(deployHost.ready)
        let server = try LiveServer()
        defer { server.stop() }
        let tenantA = try newToken("ten-a2", role: "deployer", apps: [Self.appA])
        let tenantB = try newToken("ten-b2", role: "deployer", apps: [Self.appB, "0-early"])
        defer { for u in ["ten-a2", "ten-b2"] { _ = try? hopEnv(["user", "remove", u]) } }
        try withTemporaryDirectory { dir in
            // Tenant A deploys with an addon of its own (created by the deploy, owned by A).
            let a = try stdlibVariant(dir, toml: "[[addons]]\ntype = \"postgres\"\nname = \"ten-a-data\"\n")
            let upA = try uploadSource(server, app: Self.appA, dir: a, token: tenantA)
            try #require(upA.status == 200, "\(upA)")
            #expect(try hopEnv(["addon", "detach", Self.appA, "ten-a-data"]).status == 0)
            let buildsBefore = try hopEnv(["builds", "--json"]).stdout

            let install = try hopEnv(["server", "install", "--server-name", "hop-admin.example.org", "--json"])
            try #require(install.status == 0, "\(install.stderr)")
            defer {
                _ = try? hostSystemctl(["stop", "hop-server.service", "hop-helper.service"])
                try? FileManager.default.removeItem(atPath: sharedHome.root + "/server-install.json")
                _ = try? hopEnv(["destroy", Self.appA, "--purge", "--yes"])
                _ = try? hopEnv(["addon", "destroy", "ten-a-data", "--force"])
            }
            let cases: [(app: String, toml: String, status: Int, says: String)] = [
                (Self.appB, "[domains]\nnames = [\"hop-admin.example.org\"]\n", 409, "hop's own server name"),
                ("0-early", "[domains]\nnames = [\"hop-admin.example.org\"]\n", 409, "hop's own server name"),
                (Self.appB, "[domains]\nnames = [\"localhost\"]\n", 403, "only an admin may give an app the name localhost"),
                (Self.appB, "[domains]\nnames = [\"*.test\"]\n", 403, "only an admin"),
                (Self.appB, "[domains]\nnames = [\"127.0.0.1\"]\n", 403, "only an admin"),
                (Self.appB, "[backup]\ntarget = \"\(dir)/loot\"\n", 403, "only an admin may send"),
                (Self.appB, "[[addons]]\ntype = \"postgres\"\nname = \"ten-a-data\"\n", 403, "the addon ten-a-data is not \(Self.appB)'s"),
                (Self.appB, "[[addons]]\ntype = \"postgres\"\nname = \"it-victim-postgres\"\n", 409, "default addon name of an app called it-victim"),
            ]
            for c in cases {
                let up = try uploadSource(server, app: c.app, dir: try stdlibVariant(dir, toml: c.toml), token: tenantB)
                #expect(up.status == c.status && up.body.contains(c.says), "\(c.toml): \(up)")
            }
            #expect(try hopEnv(["builds", "--json"]).stdout == buildsBefore, "a refused deploy built nothing")
            #expect(!FileManager.default.fileExists(atPath: dir + "/loot"))
            #expect(try hopEnv(["addon", "info", "it-victim-postgres"]).status == 4, "no addon was squatted")
            // The same names through the CLI as root (an admin) are the operator's to give, but never hop's own.
            let adminDeploy = try hopEnv(["deploy", try stdlibVariant(dir, toml: "[domains]\nnames = [\"hop-admin.example.org\"]\n"), "--app", Self.appB, "--watch", "0"])
            #expect(adminDeploy.status == 12, "\(adminDeploy.stderr)")
            // hop's site answers for its name whatever the apps are called.
            let r = try SystemRunner().run(Command("curl", ["-s", "-H", "Host: hop-admin.example.org", "http://127.0.0.1:\(deployHost.port)/api/health"]))
            #expect(r.stdoutText.contains("ok"), "\(r.stdoutText)")

            // Another app's build id reads as missing to a deployer, as an unknown one does.
            let buildA = try #require((parse(try hopEnv(["show", Self.appA, "--json"]).stdout) as? [String: Any])?["id"] as? Int)
            let other = try server.call("POST", "/api/apps/\(Self.appB)/deploy", token: tenantB, json: "{\"build\": \(buildA)}")
            let unknown = try server.call("POST", "/api/apps/\(Self.appB)/deploy", token: tenantB, json: "{\"build\": 999999}")
            #expect(other.status == 404 && unknown.status == 404, "\(other) \(unknown)")
            #expect(!other.body.contains(Self.appA), "\(other.body)")
        }
    }

    @Test("each unit gets a private, bounded /dev/shm: what one app writes there another never sees; hop.db missing or emptied while generations exist is refused, never re-created; scale is capped")
    func privateShmAndBounds() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            for app in [Self.appA, Self.appB] {
                let d = try hopEnv(["deploy", try stdlibVariant(dir), "--app", app, "--watch", "0"])
                try #require(d.status == 0, "\(d.stderr)")
            }
            defer { for app in [Self.appA, Self.appB] { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) } }
            let write = try hopEnv(["run", Self.appA, "--", "python3", "-c",
                                    "import os; open('/dev/shm/a-was-here', 'w').write('secret'); s = os.statvfs('/dev/shm'); "
                                    + "print(os.listdir('/dev/shm')); print('SIZE', s.f_blocks * s.f_frsize)"])
            #expect(write.status == 0 && write.stdout.contains("a-was-here"), "\(write.stdout) \(write.stderr)")
            let size = write.stdout.split(separator: "\n").first { $0.hasPrefix("SIZE ") }.flatMap { Int($0.dropFirst(5)) } ?? 0
            #expect(size > 0 && size <= 64 << 20, "a bounded tmpfs: \(write.stdout)")
            let look = try hopEnv(["run", Self.appB, "--", "python3", "-c", "import os; print(os.listdir('/dev/shm')); print('end')"])
            #expect(look.status == 0 && !look.stdout.contains("a-was-here"), "\(look.stdout)")
            #expect(!FileManager.default.fileExists(atPath: "/dev/shm/a-was-here"))
            // Every process of the app, and `hop run`, is in the app's slice, which carries its totals.
            let slice = UnitNames.slice(app: Self.appA)
            let limits = try hostSystemctl(["show", "-p", "MemoryMax", "-p", "TasksMax", slice]).stdoutText
            #expect(limits.contains("MemoryMax=\(4 << 30)") && limits.contains("TasksMax=2048"), "1 instance + 1, twice, × 1G / 512 tasks: \(limits)")
            let inSlice = try hopEnv(["run", Self.appA, "--", "python3", "-c", "print(open('/proc/self/cgroup').read())"])
            #expect(inSlice.stdout.contains("hop.slice/\(slice)"), "\(inSlice.stdout)")
            let web = try #require(try hostSystemctl(["list-units", "--plain", "--no-legend", "hop-\(Self.appA)-G*"]).stdoutText
                .split(separator: "\n").first { $0.contains("-web@") }?.split(separator: " ").first.map(String.init))
            #expect(try hostSystemctl(["show", "-p", "Slice", "--value", web]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == slice)
            let tooMany = try hopEnv(["scale", Self.appA, "web=17"])
            #expect(tooMany.status == 2 && tooMany.stderr.contains("from 0 to 16"), "\(tooMany.stderr)")
        }
        // A home with a generation but no hop.db: refused (exit 3), nothing re-created.
        try withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/apps/app1", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: dir + "/apps/app1/profile", withDestinationPath: "profile-1-link")
            let home = HopHome(root: dir)
            let missing = try hop(["apps"], home: home)
            #expect(missing.status == 3 && missing.stderr.contains("is missing although apps have generations"), "\(missing.stderr)")
            #expect(!FileManager.default.fileExists(atPath: home.database))
            _ = FileManager.default.createFile(atPath: home.database, contents: Data())
            let empty = try hop(["apps"], home: home)
            #expect(empty.status == 3 && empty.stderr.contains("is empty although"), "\(empty.stderr)")
            var st = stat()
            #expect(stat(home.database, &st) == 0 && st.st_size == 0, "the empty file was left as it was")
        }
    }
}
