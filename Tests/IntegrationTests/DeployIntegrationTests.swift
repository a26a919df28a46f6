import Foundation
import Testing
import HopBasics
import Runtime
import NixBuild

/// One private systemd host (with nginx) for every deploy test of the run, on the shared home, torn
/// down when the test process exits.
let deployHost: (port: Int, ready: Bool) = {
    guard seedsReady else { return (0, false) }
    var port = Int.random(in: 18100...18999)
    for candidate in (port..<19000) where portFree(candidate) { port = candidate; break }
    let r = try? hop(["host", "up", "--http-port", "\(port)", "--json"])
    atexit {
        try? PrivateHost(stateDir: sharedHome.root + "/host").down()
        // `[limits] disk` images stay mounted in hop's namespace until released (as `hop host down` does).
        try? AppDisks(layout: AppDiskLayout(home: sharedHome, privateHostPID: nil, underPrivateHost: true), runner: SystemRunner()).releaseAll()
    }
    if r?.status != 0 { print("host up failed: \(r?.stderr ?? "")") }
    return (port, r?.status == 0)
}()

/// Nothing accepts connections on 127.0.0.1:port. (This was a `sh -c` test of bash's /dev/tcp,
/// which dash does not have: it called every port free.)
func portFree(_ port: Int) -> Bool { !listening(port) }

/// systemctl inside the shared deploy host (PrivateHost's own seam).
func hostSystemctl(_ args: [String]) throws -> ProcessResult {
    try PrivateHost(stateDir: sharedHome.root + "/host").systemctl(args)
}

/// GET through the front nginx with the app's host name; (status, body), status 0 when unreachable.
func fetch(_ app: String, _ path: String = "/") -> (status: Int, body: String) {
    let r = try? SystemRunner().run(Command("curl", ["-s", "--max-time", "5", "-H", "Host: \(app).localhost",
                                                     "-w", "\n%{http_code}", "http://127.0.0.1:\(deployHost.port)\(path)"]))
    guard let out = r?.stdoutText, let nl = out.lastIndex(of: "\n") else { return (0, "") }
    return (Int(out[out.index(after: nl)...]) ?? 0, String(out[..<nl]))
}

/// hop with extra environment (HOP_FAULT, the wheelhouse).
@discardableResult
func hopEnv(_ args: [String], _ env: [String: String?] = [:]) throws -> CLIResult {
    var e: [String: String?] = ["HOP_HOME": sharedHome.root, "HOP_FIND_LINKS": wheelhouse]
    for (k, v) in env { e[k] = v }
    let r = try SystemRunner().run(Command(hopBinary, args, environment: e))
    return CLIResult(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
}

/// A copy of the Flask fixture with its greeting (and optionally more) changed.
func flaskVariant(_ dir: String, greeting: String, extraPython: String = "", toml: String? = nil) throws -> String {
    let app = dir + "/src-\(UUID().uuidString.prefix(8))"
    try copyTree(fixtures + "/flask-app", app)
    var code = try String(contentsOfFile: app + "/app.py", encoding: .utf8)
    code = code.replacingOccurrences(of: "Hello from Flask on hop", with: greeting)
    try (code + extraPython).write(toFile: app + "/app.py", atomically: true, encoding: .utf8)
    if let toml { try toml.write(toFile: app + "/hop3.toml", atomically: true, encoding: .utf8) }
    return app
}

func generations(_ app: String) throws -> [[String: Any]] {
    let r = try hopEnv(["generations", app, "--json"])
    return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
}

/// The generations of `app` with an instance running, and systemd's list they were read from.
func runningGenerations(_ app: String) throws -> (generations: Set<String>, units: String) {
    let running = try hostSystemctl(["list-units", "--state=active", "--plain", "--no-legend", "hop-\(app)-G*@*.service"])
    let gens = Set(running.stdoutText.split(separator: "\n").compactMap { line -> String? in
        line.split(separator: " ").first.map { String($0.split(separator: "-").dropLast().joined(separator: "-")) }
    })
    return (gens, running.stdoutText)
}

func activeNumber(_ app: String) throws -> Int? {
    try generations(app).first { $0["current"] as? Bool == true }?["generation"] as? Int
}

@Suite("Deploy, rollback and the runtime against real systemd and nginx", .tags(.integration), .serialized)
struct DeployIntegrationTests {
    @Test("deploy Flask, fetch through nginx, redeploy a change, roll back, list generations")
    func deployRedeployRollback() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-flask"
            let v1 = try flaskVariant(dir, greeting: "hello v1")
            let d1 = try hopEnv(["deploy", v1, "--app", app, "--watch", "0", "--json"])
            #expect(d1.status == 0, "\(d1.stderr)")
            #expect(fetch(app).body == "hello v1\n")
            // No change: no new generation.
            let again = try hopEnv(["deploy", v1, "--app", app, "--json"])
            #expect(again.status == 0 && json(again.stdout)["noop"] as? Bool == true, "\(again.stdout)\(again.stderr)")
            let v2 = try flaskVariant(dir, greeting: "hello v2")
            let d2 = try hopEnv(["deploy", v2, "--app", app, "--watch", "1", "--json"])
            #expect(d2.status == 0, "\(d2.stderr)")
            #expect(fetch(app).body == "hello v2\n")
            let n2 = try #require(json(d2.stdout)["generation"] as? Int)
            let rb = try hopEnv(["rollback", app, "--json"])
            #expect(rb.status == 0, "\(rb.stderr)")
            #expect(fetch(app).body == "hello v1\n")
            let gens = try generations(app)
            #expect(gens.count == 2)
            #expect(try activeNumber(app) == n2 - 1)
            // The profile is a Nix profile: nix-env agrees on the generations and the current one.
            let nixEnv = try SystemRunner().run(Command("nix-env", ["--list-generations", "--profile", sharedHome.apps + "/\(app)/profile"]))
            #expect(nixEnv.succeeded && nixEnv.stdoutText.contains("(current)"), "\(nixEnv.stdoutText)\(nixEnv.stderrText)")
            // …and on the numbers: every generation hop lists, the current one marked.
            let nixLines = nixEnv.stdoutText.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
            #expect(Set(nixLines.compactMap { $0.first.flatMap { Int($0) } }) == Set(gens.compactMap { $0["generation"] as? Int }), "\(nixEnv.stdoutText)")
            #expect(nixLines.first { $0.last == "(current)" }?.first.flatMap { Int($0) } == n2 - 1, "\(nixEnv.stdoutText)")
            // The generation's closure holds the app build, its units, the site and the manifest.
            let current = try #require(gens.first { $0["current"] as? Bool == true }?["storePath"] as? String)
            for file in ["manifest.json", "nginx-site.conf", "app/bin/wsgi"] {
                #expect(FileManager.default.fileExists(atPath: current + "/" + file), "\(file)")
            }
            // Roll forward to a named generation.
            #expect(try hopEnv(["rollback", app, "--to", "\(n2)"]).status == 0)
            #expect(fetch(app).body == "hello v2\n")
            // The journal has the app's processes.
            let logs = try hopEnv(["logs", app, "-n", "200"])
            #expect(logs.status == 0 && logs.stdout.contains("hop-\(app)-G"), "\(logs.stdout.suffix(400))\(logs.stderr)")
            // gc keeps only the serving generation; the dropped one's profile link (its GC root) goes.
            let gc = try hopEnv(["gc", "--keep", "0", "--app", app, "--json"])
            #expect(gc.status == 0, "\(gc.stderr)")
            #expect(try generations(app).map { $0["generation"] as? Int } == [n2])
            #expect(!FileManager.default.fileExists(atPath: sharedHome.apps + "/\(app)/profile-\(n2 - 1)-link"))
            #expect(fetch(app).body == "hello v2\n")
            let destroyed = try hopEnv(["destroy", app, "--purge", "--yes"])
            #expect(destroyed.status == 0, "\(destroyed.stderr)")
            #expect(fetch(app).status == 404)
        }
    }

    @Test("Python projects as they are written today: pyproject.toml (PEP 621), Poetry with poetry.lock, uv.lock, an ASGI app on uvicorn, a dependency published only as an sdist (built in the sandbox); built, locked with hashes, served through nginx, rebuilt bit-identically",
          arguments: [("pyproject-app", "Hello from a PEP 621 project", "flask"), ("poetry-app", "Hello from a Poetry project", "flask"),
                      ("uv-app", "Hello from a uv project", "flask"), ("fastapi-app", "Hello from FastAPI on uvicorn", "uvicorn"),
                      ("sdist-app", "Hello from docopt 0.6.2 (built from its sdist)", "docopt")])
    func pyprojectApps(_ fixture: String, _ greeting: String, _ package: String) throws {
        try #require(deployHost.ready)
        let app = "it-" + fixture
        let d = try hopEnv(["deploy", fixtures + "/" + fixture, "--app", app, "--watch", "0", "--json"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(fetch(app).body.contains(greeting), "\(fetch(app))")
        let show = try hopEnv(["show", app, "--json"])
        let locked = (((parse(show.stdout) as? [String: Any])?["lock"] as? [String: Any])?["python"] as? [[String: Any]]) ?? []
        #expect(locked.contains { $0["name"] as? String == package && ($0["sha256"] as? String ?? "").count == 64 }, "\(show.stdout.prefix(600))")
        try expectRebuildsIdentically(show.stdout)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    /// Deploys `fixtures/NAME` as `app` and expects it to serve.
    func deployFixture(_ fixture: String, as app: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let d = try hopEnv(["deploy", fixtures + "/" + fixture, "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr)", sourceLocation: sourceLocation)
    }

    /// The app's build rebuilds bit-identically; then the app goes, with its data.
    func expectRebuildsThenPurge(_ app: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        try expectRebuildsIdentically(try hopEnv(["show", app, "--json"]).stdout, sourceLocation: sourceLocation)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0, sourceLocation: sourceLocation)
    }

    /// `nix-store --check` of a build and of every derivation of its closure hop built (the
    /// Python environment, where sdists are built, included): the same bytes again.
    func expectRebuildsIdentically(_ showJSON: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let build = try #require(parse(showJSON) as? [String: Any], sourceLocation: sourceLocation)
        let out = try #require(build["outPath"] as? String, sourceLocation: sourceLocation)
        let runner = SystemRunner()
        for path in try runner.run(Command("nix-store", ["-qR", out])).stdoutText.split(separator: "\n").map(String.init)
        where path == out || path.hasSuffix("-env") {
            let drv = try runner.run(Command("nix-store", ["-qd", path])).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            guard drv.hasSuffix(".drv") else { continue }
            let check = try runner.run(Command("nix-store", ["--realise", "--check", drv]))
            #expect(check.succeeded, "\(path) did not rebuild bit-identically: \(check.stderrText.suffix(600))", sourceLocation: sourceLocation)
        }
    }

    @Test("a project that is a package (src layout, [build-system] setuptools): built with the locked setuptools, installed, its console script serves, its metadata is there; rebuilt bit-identically")
    func srcLayoutProject() throws {
        try #require(deployHost.ready)
        let app = "it-src-layout"
        try deployFixture("src-layout-app", as: app)
        #expect(fetch(app).body == "Hello from hello-pkg 1.4.0, installed from a src layout\n", "\(fetch(app))")
        let show = try hopEnv(["show", app, "--json"])
        let build = (parse(show.stdout) as? [String: Any])?["lock"] as? [String: Any]
        #expect(((build?["pythonBuild"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == "setuptools" }, "\(show.stdout.prefix(500))")
        try expectRebuildsIdentically(show.stdout)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("hop host up --http-port M on a running host moves every serving app to M (no rebuild, no deploy), and back")
    func portChangeMovesSites() throws {
        try #require(deployHost.ready)
        let app = "it-port-move"
        #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"]).status == 0)
        #expect(fetch(app).status == 200)
        let other = deployHost.port + 1
        defer { _ = try? hopEnv(["host", "up", "--http-port", "\(deployHost.port)"]) }
        let moved = try hopEnv(["host", "up", "--http-port", "\(other)"])
        #expect(moved.status == 0, "\(moved.stderr)")
        let onNew = try SystemRunner().run(Command("curl", ["-s", "--max-time", "5", "-H", "Host: \(app).localhost", "-o", "/dev/null",
                                                            "-w", "%{http_code}", "http://127.0.0.1:\(other)/"])).stdoutText
        #expect(onNew == "200", "the app answers on the new port: \(onNew)")
        let url = (parse(try hopEnv(["apps", "--json"]).stdout) as? [[String: Any]])?.first { $0["app"] as? String == app }?["url"] as? String
        // (An https URL when an earlier test turned TLS on: its port did not change.)
        #expect(url?.hasPrefix("https://") == true || url?.contains(":\(other)/") == true, "hop apps tells the new URL: \(url ?? "none")")
        #expect(try hopEnv(["host", "up", "--http-port", "\(deployHost.port)"]).status == 0)
        #expect(fetch(app).status == 200, "and back on the first port")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a Heroku/Dokku app.json app: its predeploy runs as the release step, its health check gates, formation gives 2 instances, env values and a generated secret reach the app")
    func dokkuAppJSON() throws {
        try #require(deployHost.ready)
        let app = "it-dokku"
        let d = try hopEnv(["deploy", fixtures + "/dokku-app", "--app", app, "--watch", "0", "--json"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stderr.contains("buildpacks") && d.stderr.contains("postdeploy"), "the app.json warnings are shown: \(d.stderr)")
        #expect(fetch(app).body.contains("Hello from app.json (secret of 64 characters)"), "\(fetch(app))")
        let ps = try hopEnv(["ps", app, "--json"])
        let processes = ((parse(ps.stdout) as? [String: Any])?["processes"] as? [[String: Any]]) ?? []
        #expect(processes.filter { ($0["unit"] as? String ?? "").contains("wsgi") }.count == 2, "\(ps.stdout)")
        let logs = try hopEnv(["logs", app, "-n", "200"])
        #expect(logs.stdout.contains("predeploy ran"), "the release step's output: \(logs.stdout.suffix(800))")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a Procfile that runs a toolchain at start (`web: go run server.go`): the toolchain is in the runtime closure, the process gets a writable HOME and cache (its build cache lands there), destroy removes the cache")
    func goRunAtStart() throws {
        try #require(deployHost.ready)
        let app = "it-go-run"
        try deployFixture("go-run", as: app)
        let page = fetch(app)
        #expect(page.body.contains("Hello from go run (go1.19") && page.body.contains("HOME=/var/cache/hop-apps/\(app)"), "\(page)")
        // The build cache `go run` filled is the app's, in its cache directory, owned by its user.
        let cache = hostPath("/var/cache/private/hop-apps/\(app)")
        #expect(FileManager.default.fileExists(atPath: cache + "/go-build"), "no go-build cache in \(cache)")
        // The same HOME for a one-off.
        let home = try hopEnv(["run", app, "--", "sh", "-c", "echo $HOME; touch $HOME/written && echo ok"])
        #expect(home.stdout == "/var/cache/hop-apps/\(app)\nok\n", "\(home.stdout) \(home.stderr)")
        // The toolchain is a runtime dependency here (a compiled Go app's closure has none).
        let show = try hopEnv(["show", app, "--json"])
        let out = try #require((parse(show.stdout) as? [String: Any])?["outPath"] as? String, "\(show.stdout.prefix(300))")
        let refs = try SystemRunner().run(Command("nix-store", ["-qR", out])).stdoutText
        #expect(refs.contains("-hop-go"), "\(refs)")
        let drv = try #require((parse(show.stdout) as? [String: Any])?["drvPath"] as? String)
        let check = try SystemRunner().run(Command("nix-store", ["--realise", "--check", drv]))
        #expect(check.succeeded, "the build did not rebuild bit-identically: \(check.stderrText.suffix(600))")
        #expect(try hopEnv(["destroy", app]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: cache), "destroy left the cache directory")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a PHP app with its composer vendor/: PHP-FPM behind nginx over FastCGI (health gate in FastCGI), extensions and OPcache on, config reaches PHP, a config change switches with no nginx reload, the build rebuilds bit-identically")
    func phpComposerApp() throws {
        try #require(deployHost.ready)
        let app = "it-php"
        try deployFixture("php-app", as: app)
        let page = fetch(app)
        #expect(page.body.contains("Hello from PHP 8.2 on hop, CAFÉ (5 bytes in UTF-8)") && page.body.contains("sqlite 3.") && page.body.contains("opcache on"), "\(page)")
        #expect(fetch(app, "/robots.txt").body.contains("User-agent"), "static files from the document root")
        #expect(fetch(app, "/missing.php").status == 404)
        #expect(fetch(app, "/some/route").body.contains("Hello from PHP"), "front controller fallback")
        #expect(fetch(app, "/.env").status == 404)
        let site = try String(contentsOfFile: sharedHome.root + "/nginx/sites/\(app).conf", encoding: .utf8)
        #expect(site.contains("fastcgi_pass hop_\(app);") && site.contains("server unix:/run/hop/\(app)/web-1.sock;"), "\(site)")
        let set = try hopEnv(["config", "set", app, "GREETING=bonjour", "--watch", "0"])
        #expect(set.status == 0 && !set.stderr.contains("nginx reloaded"), "\(set.stderr)")
        #expect(fetch(app).body.contains("GREETING=bonjour"))
        // The same derivation builds again to the same bytes.
        let show = try hopEnv(["show", app, "--json"])
        let drv = try #require((parse(show.stdout) as? [String: Any])?["drvPath"] as? String, "\(show.stdout.prefix(300))")
        let check = try SystemRunner().run(Command("nix-store", ["--realise", "--check", drv]))
        #expect(check.succeeded, "\(check.stderrText.suffix(600))")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a PHP application from Debian's packages (DokuWiki, with the libraries Debian unbundled): built into one app, its pages in the state directory, served by PHP-FPM; its config and data paths answer 403")
    func debianDokuWiki() throws {
        try #require(deployHost.ready)
        let debs = "/var/cache/hop-test/debs"
        try #require(((try? FileManager.default.contentsOfDirectory(atPath: debs)) ?? []).contains { $0.hasPrefix("dokuwiki_") },
                     "Debian's dokuwiki .deb is missing from \(debs): run scripts/setup.sh")
        try withTemporaryDirectory { dir in
            let src = dir + "/dokuwiki"
            let made = try SystemRunner().run(Command("sh", [repoRoot + "/scripts/test/dokuwiki-app.sh", debs, src]))
            try #require(made.succeeded, "\(made.stderrText)")
            let app = "it-wiki"
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            #expect(d.status == 0, "\(d.stderr)")
            let page = fetch(app, "/doku.php?id=wiki:welcome")
            #expect(page.status == 200 && page.body.contains("<title>wiki:welcome [DokuWiki on hop]</title>"), "\(page.status) \(page.body.prefix(400))")
            #expect(fetch(app, "/lib/exe/js.php").status == 200)
            for denied in ["/conf/local.php", "/data/pages/wiki/welcome.txt", "/inc/init.php", "/vendor/autoload.php"] {
                #expect(fetch(app, denied).status == 403, "\(denied)")
            }
            // DokuWiki wrote its cache into the app's state directory (writable data, outside the store).
            let cache = hostPath("/var/lib/private/hop-apps/\(app)/data/cache")
            let written = FileManager.default.enumerator(atPath: cache)?.allObjects.count ?? 0
            #expect(written > 0, "nothing in \(cache)")
            try expectRebuildsIdentically(try hopEnv(["show", app, "--json"]).stdout)
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a Sinatra app with vendor/cache: Debian's Ruby as a seed, Bundler installing Gemfile.lock's gems offline, each gem's sha256 in the SBOM and provenance, served on $PORT, rebuilt bit-identically")
    func sinatraApp() throws {
        try #require(deployHost.ready)
        let app = "it-sinatra"
        try deployFixture("sinatra-app", as: app)
        let page = fetch(app)
        #expect(page.body.contains("Hello from Sinatra 3.0.5 on Ruby 3.1") && page.body.contains("HOME=/var/cache/hop-apps/\(app)"), "\(page)")
        let show = try hopEnv(["show", app, "--json"])
        let build = try #require(parse(show.stdout) as? [String: Any], "\(show.stdout.prefix(300))")
        let gems = ((build["lock"] as? [String: Any])?["gems"] as? [[String: Any]]) ?? []
        #expect(gems.map { $0["name"] as? String ?? "" } == ["mustermann", "rack", "rack-protection", "ruby2_keywords", "sinatra", "tilt", "webrick"], "\(gems)")
        let rack = try #require(gems.first { $0["name"] as? String == "rack" })
        #expect(rack["sha256"] as? String == (try sha256Hex(file: fixtures + "/sinatra-app/vendor/cache/rack-2.2.22.gem")))
        let sbom = try hopEnv(["sbom", app])
        #expect(sbom.stdout.contains("pkg:gem/sinatra@3.0.5") && sbom.stdout.contains(rack["sha256"] as? String ?? "-"), "\(sbom.stdout.prefix(400))")
        let drv = try #require(build["drvPath"] as? String)
        let check = try SystemRunner().run(Command("nix-store", ["--realise", "--check", drv]))
        #expect(check.succeeded, "the build did not rebuild bit-identically: \(check.stderrText.suffix(600))")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("an app whose Procfile and hop3.toml are under hop3/ (Hop3's layout) is built and served; it rebuilds bit-identically")
    func hop3DirectoryApp() throws {
        try #require(deployHost.ready)
        let app = "it-hop3-dir"
        try deployFixture("hop3-dir-app", as: app)
        #expect(fetch(app).body == "Hello from an app whose metadata is under hop3/\n", "\(fetch(app))")
        try expectRebuildsThenPurge(app)
    }

    @Test("`web: npm start` with no npm in the node seed: hop's script runner runs prestart and start from package.json; other npm commands are refused (exit 2); rebuilds bit-identically")
    func npmStart() throws {
        try #require(deployHost.ready)
        let app = "it-npm-start"
        try deployFixture("npm-start-app", as: app)
        #expect(fetch(app).body == "Hello from npm start on hop\n", "\(fetch(app))")
        let logs = try hopEnv(["logs", app, "-n", "100"])
        #expect(logs.stdout.contains("prestart ran for npm-start-app 2.0.1"), "\(logs.stdout.suffix(600))")
        let install = try hopEnv(["run", app, "--", "npm", "install", "left-pad"])
        #expect(install.status == 2 && install.stderr.contains("needs the real npm"), "\(install.status) \(install.stderr)")
        try expectRebuildsThenPurge(app)
        // Without a Procfile, package.json's scripts.start is how it starts (as `npm start` would).
        try withTemporaryDirectory { dir in
            let src = dir + "/npm-start-app"
            try copyTree(fixtures + "/npm-start-app", src)
            try FileManager.default.removeItem(atPath: src + "/Procfile")
            let d = try hopEnv(["deploy", src, "--app", app + "-noproc", "--watch", "0"])
            #expect(d.status == 0, "\(d.stderr)")
            #expect(fetch(app + "-noproc").body == "Hello from npm start on hop\n")
            #expect(try hopEnv(["logs", app + "-noproc", "-n", "100"]).stdout.contains("prestart ran for npm-start-app 2.0.1"))
            _ = try? hopEnv(["destroy", app + "-noproc", "--purge", "--yes"])
        }
    }

    @Test("a static site is served by nginx itself; destroy removes it")
    func staticSite() throws {
        try #require(deployHost.ready)
        let app = "it-static"
        let d = try hopEnv(["deploy", fixtures + "/static-site", "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr)")
        let page = fetch(app)
        #expect(page.status == 200 && page.body.contains("Hello from a static site"))
        #expect(fetch(app, "/css/site.css").status == 200)
        #expect(fetch(app, "/missing").status == 404)
        #expect(try hopEnv(["destroy", app]).status == 0)
        #expect(fetch(app).status == 404)
        #expect(try generations(app).isEmpty)
    }

    @Test("TLS: a self-signed fallback certificate, its key root-only and outside the store")
    func tlsFallback() throws {
        try #require(deployHost.ready)
        var tlsPort = Int.random(in: 19000...19090)
        while !portFree(tlsPort) { tlsPort += 1 }
        let up = try hopEnv(["host", "up", "--http-port", "\(deployHost.port)", "--https-port", "\(tlsPort)"])
        #expect(up.status == 0, "\(up.stderr)")
        let app = "it-tls"
        let d = try hopEnv(["deploy", fixtures + "/static-site", "--app", app, "--watch", "0", "--json"])
        #expect(d.status == 0, "\(d.stderr)")
        let r = try SystemRunner().run(Command("curl", ["-sk", "--max-time", "5", "--resolve", "\(app).localhost:\(tlsPort):127.0.0.1",
                                                        "https://\(app).localhost:\(tlsPort)/"]))
        #expect(r.stdoutText.contains("Hello from a static site"), "\(r.stdoutText)\(r.stderrText)")
        let key = sharedHome.root + "/tls/\(app)/key.pem"
        #expect((try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int) == 0o600)
        let keyBody = try String(contentsOfFile: key, encoding: .utf8).split(separator: "\n").dropFirst().first.map(String.init) ?? "missing"
        let store = try #require(json(d.stdout)["storePath"] as? String)
        let closure = try SystemRunner().run(Command("nix-store", ["-qR", store])).stdoutText.split(separator: "\n").map(String.init)
        let grep = try SystemRunner().run(Command("grep", ["-rlF", keyBody] + closure))
        #expect(grep.status == 1 && grep.stdoutText.isEmpty, "key material in \(grep.stdoutText)")
        #expect(try String(contentsOfFile: store + "/nginx-site.conf", encoding: .utf8).contains("ssl_certificate_key \(key);"))
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("scale to 2 instances; config reaches the app from a root-only file and never the store")
    func scaleAndConfig() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-config"
            let src = try flaskVariant(dir, greeting: "config app")
            #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
            let scaled = try hopEnv(["scale", app, "wsgi=2", "--watch", "0"])
            #expect(scaled.status == 0, "\(scaled.stderr)")
            let ps = json(try hopEnv(["ps", app, "--json"]).stdout)
            let procs = ps["processes"] as? [[String: Any]] ?? []
            #expect(procs.count == 2 && procs.allSatisfy { $0["state"] as? String == "active" }, "\(ps)")
            #expect(fetch(app).body == "config app\n")

            let secret = "hop-secret-\(UUID().uuidString)"
            let set = try hopEnv(["config:set", app, "API_TOKEN=\(secret)", "QUOTED=a \"b\" $c `d` \\e", "--watch", "0"])
            #expect(set.status == 0, "\(set.stderr)")
            let run = try hopEnv(["run", app, "--", "sh", "-c", "printf '%s|%s' \"$API_TOKEN\" \"$QUOTED\""])
            #expect(run.status == 0 && run.stdout == "\(secret)|a \"b\" $c `d` \\e", "\(run.stdout)\(run.stderr)")
            #expect(fetch(app).body == "config app\n")
            // `hop run` exits with the command's status.
            #expect(try hopEnv(["run", app, "--", "sh", "-c", "exit 3"]).status == 3)
            // Each generation keeps the config it ran with: rolling back drops the new values,
            // rolling forward brings them back.
            let withSecret = try #require(try activeNumber(app))
            #expect(try hopEnv(["rollback", app]).status == 0)
            #expect(try hopEnv(["run", app, "--", "sh", "-c", "printf '%s' \"${API_TOKEN:-unset}\""]).stdout == "unset")
            #expect(try hopEnv(["rollback", app, "--to", "\(withSecret)"]).status == 0)
            #expect(try hopEnv(["run", app, "--", "sh", "-c", "printf '%s' \"$API_TOKEN\""]).stdout == secret)
            // Scale survives a config change.
            #expect((json(try hopEnv(["ps", app, "--json"]).stdout)["processes"] as? [Any])?.count == 2)

            // The env file is root-only and outside the store.
            let active = try #require(try activeNumber(app))
            let envFile = sharedHome.apps + "/\(app)/env/g\(active).env"
            let attrs = try FileManager.default.attributesOfItem(atPath: envFile)
            #expect((attrs[.posixPermissions] as? Int) == 0o600)
            // The secret is in no store path hop created for the app: every generation's closure
            // and every derivation hop wrote for it.
            var paths = Set<String>()
            for g in try generations(app) {
                guard let p = g["storePath"] as? String else { continue }
                let closure = try SystemRunner().run(Command("nix-store", ["-qR", p]))
                paths.formUnion(closure.stdoutText.split(separator: "\n").map(String.init))
                let drv = try SystemRunner().run(Command("nix-store", ["-qd", p]))
                paths.insert(drv.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            #expect(paths.count > 3)
            let grep = try SystemRunner().run(Command("grep", ["-rlF", secret] + paths.sorted()))
            #expect(grep.stdoutText.isEmpty, "secret found in \(grep.stdoutText)")
            #expect(grep.status == 1)

            // Unset, then the old value is gone.
            #expect(try hopEnv(["config", "unset", app, "API_TOKEN", "--watch", "0"]).status == 0)
            let after = try hopEnv(["run", app, "--", "sh", "-c", "printf '%s' \"${API_TOKEN:-unset}\""])
            #expect(after.stdout == "unset")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a TCP $PORT app gets a port per instance; each instance answers on its proxy socket, the site lists them all, and no port listens in the host's namespace")
    func tcpApp() throws {
        try #require(deployHost.ready)
        let app = "it-tcp"
        let d = try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(fetch(app).body.contains("Hello from the Python standard library"))
        #expect(try hopEnv(["scale", app, "web=2", "--watch", "0"]).status == 0)
        let site = try String(contentsOfFile: sharedHome.root + "/nginx/sites/\(app).conf", encoding: .utf8)
        #expect(site.contains("server unix:/run/hop/\(app)/web-1.sock;\n    server unix:/run/hop/\(app)/web-2.sock;"), "\(site)")
        #expect(!site.contains("127.0.0.1"), "\(site)")
        for _ in 0..<4 { #expect(fetch(app).status == 200) }
        let ports = try #require(try generations(app).first { $0["current"] as? Bool == true }?["ports"] as? [Int])
        #expect(ports.count == 2)
        // Each instance answers on its own proxy socket (the link nginx uses); its port is inside
        // the app's namespace, not the host's.
        let hostPID = try #require(PrivateHost(stateDir: sharedHome.root + "/host").pid())
        for (i, port) in ports.enumerated() {
            let link = "/proc/\(hostPID)/root/run/hop/\(app)/web-\(i + 1).sock"
            let viaSocket = try SystemRunner().run(Command("curl", ["-s", "--max-time", "5", "--unix-socket", link, "http://\(app).localhost/"]))
            #expect(viaSocket.stdoutText.contains("Hello from the Python standard library"), "instance \(i + 1): \(viaSocket.stderrText)")
            let direct = try SystemRunner().run(Command("curl", ["-s", "--max-time", "2", "http://127.0.0.1:\(port)/"]))
            #expect(!direct.succeeded, "port \(port) answered in the host's namespace")
        }
        // Back to one instance: the second link goes; nginx still answers.
        #expect(try hopEnv(["scale", app, "web=1", "--watch", "0"]).status == 0)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(hostPID)/root/run/hop/\(app)/web-2.sock")) == nil)
        #expect(fetch(app).status == 200)
        #expect(try hopEnv(["destroy", app]).status == 0)
    }

    @Test("a first deploy that crashes at start says why (the app's traceback, from its journal) and claims no previous generation")
    func firstDeployCrashExplainsItself() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-first-crash"
            let bad = try flaskVariant(dir, greeting: "bad", extraPython: "\nimport no_such_module_for_hop\n")
            let r = try hopEnv(["deploy", bad, "--app", app, "--watch", "0"])
            #expect(r.status == 8, "\(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("ModuleNotFoundError") && r.stderr.contains("no_such_module_for_hop"), "\(r.stderr)")
            #expect(!r.stderr.contains("previous generation"), "a first deploy has none: \(r.stderr)")
            #expect(!r.stderr.contains("/proc/"), "\(r.stderr)")
            _ = try? hopEnv(["destroy", app, "--purge", "--yes"])
        }
    }

    @Test("hop doctor checks the service host: nginx listening on its port, a failed unit named with the command to read its journal")
    func doctorChecksTheHost() throws {
        try #require(deployHost.ready)
        let pid = try #require(PrivateHost(stateDir: sharedHome.root + "/host").pid())
        let ok = try hopEnv(["doctor", "--json"])
        let checks = (json(ok.stdout)["checks"] as? [[String: Any]] ?? [])
        func check(_ name: String, _ cs: [[String: Any]]) -> [String: Any]? { cs.first { $0["name"] as? String == name } }
        #expect(check("nginx", checks)?["detail"] as? String == "listening on :\(deployHost.port)", "\(ok.stdout)")
        #expect(check("service host", checks)?["ok"] as? Bool == true)
        // A unit that fails inside the host: doctor fails and names it.
        _ = try SystemRunner().run(Command("nsenter", ["-t", "\(pid)", "-m", "-p", "systemd-run", "--unit", "hop-doctor-probe", "--wait", "/bin/false"]))
        let bad = try hopEnv(["doctor", "--json"])
        let units = check("units", json(bad.stdout)["checks"] as? [[String: Any]] ?? [])
        #expect(bad.status != 0 && units?["ok"] as? Bool == false && (units?["detail"] as? String ?? "").contains("hop-doctor-probe.service"), "\(bad.stdout)")
        let fix = units?["fix"] as? String ?? ""
        #expect(fix.contains("hop host journal hop-doctor-probe.service"))
        _ = try hostSystemctl(["reset-failed", "hop-doctor-probe.service"])
        #expect(check("units", json(try hopEnv(["doctor", "--json"]).stdout)["checks"] as? [[String: Any]] ?? [])?["ok"] as? Bool == true)
    }

    @Test("hop stop stops a socket-activated (wsgi) app for good: requests do not start it again; hop start returns once it answers")
    func stopStaysStopped() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-stop-wsgi"
            let src = try flaskVariant(dir, greeting: "up")
            #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
            #expect(fetch(app).body == "up\n")
            #expect(try hopEnv(["stop", app]).status == 0)
            for _ in 0..<3 {
                let r = fetch(app)
                #expect(r.status == 503 && r.body.contains("\(app) is stopped") && r.body.contains("hop start \(app)"),
                        "a stopped app answers a clear 503 (not a 502, and a request does not start it): \(r)")
                usleep(300_000)
            }
            // It stays stopped when the service host comes back.
            #expect(try hopEnv(["host", "down"]).status == 0)
            let up = try hopEnv(["host", "up", "--http-port", "\(deployHost.port)", "--json"])
            #expect(up.status == 0 && up.stdout.contains("\(app) (stopped)"), "\(up.stdout) \(up.stderr)")
            #expect(fetch(app).status == 503)
            let active = try hostSystemctl(["list-units", "--no-legend", "--plain", "--state=active", "hop-\(app)-*"]).stdoutText
            #expect(active.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "nothing of the stopped app runs: \(active)")
            let started = try hopEnv(["start", app])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(fetch(app).body == "up\n", "answering as soon as `hop start` returns")
            _ = try? hopEnv(["destroy", app, "--purge", "--yes"])
        }
    }

    @Test("an [env.computed] value naming an unset variable: hop check warns, deploy refuses (exit 2, located) before anything is built or created")
    func computedEnvCheckedFirst() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-computed-gap"
            let src = try flaskVariant(dir, greeting: "x", toml: "[[addons]]\ntype = \"redis\"\n\n[env.computed]\nFEED_URL = \"${REDIS_URL}/${NOT_SET_ANYWHERE}\"\n")
            let check = try hopEnv(["check", src, "--app", app])
            #expect(check.status == 0 && check.stderr.contains("${NOT_SET_ANYWHERE}, which nothing in the app provides"), "\(check.stderr)")
            #expect(!check.stderr.contains("${REDIS_URL}"), "the declared addon provides REDIS_URL: \(check.stderr)")
            let buildsBefore = try hopEnv(["builds", "--json"]).stdout
            let r = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            #expect(r.status == 2, "\(r.stderr)")
            #expect(r.stderr.contains("hop3.toml") && r.stderr.contains("`[env.computed] FEED_URL` uses ${NOT_SET_ANYWHERE}, which is not set"), "\(r.stderr)")
            #expect(try hopEnv(["builds", "--json"]).stdout == buildsBefore, "nothing was built")
            #expect(!(try hopEnv(["addon", "list", "--json"]).stdout.contains("\(app)-redis")), "no addon was created")
            #expect(try hopEnv(["config", "set", app, "NOT_SET_ANYWHERE=ok", "--watch", "0"]).status == 0)
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            #expect(d.status == 0, "once set, it deploys: \(d.stderr)")
            _ = try? hopEnv(["destroy", app, "--purge", "--yes"])
            _ = try? hopEnv(["addon", "destroy", "\(app)-redis", "--force"])
        }
    }

    enum Broken: String, CaseIterable { case exitsAtStart, answers500, wrongBody, wrongStatus, diesAfterSwitch }

    @Test("a broken deploy is rolled back automatically, exits 8 and the old generation keeps serving", arguments: Broken.allCases)
    func brokenDeploy(_ kind: Broken) throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-broken-\(kind.rawValue.lowercased())"
            let good = try flaskVariant(dir, greeting: "good")
            #expect(try hopEnv(["deploy", good, "--app", app, "--watch", "0"]).status == 0)
            let before = try activeNumber(app)
            let bad: String
            var watch = "0"
            switch kind {
            case .exitsAtStart:
                bad = try flaskVariant(dir, greeting: "bad", extraPython: "\nraise SystemExit('broken on purpose')\n")
            case .answers500:
                bad = try flaskVariant(dir, greeting: "bad", extraPython: "\n@app.route('/boom')\ndef boom():\n    return 'no', 500\n",
                                       toml: "[healthcheck]\npath = \"/boom\"\ntimeout = 2\nretries = 2\ninterval = 0.2\n")
            case .wrongBody:
                bad = try flaskVariant(dir, greeting: "bad", toml: "[healthcheck]\npath = \"/health\"\ncontains = \"ready\"\ntimeout = 2\nretries = 2\ninterval = 0.2\n")
            case .wrongStatus:
                bad = try flaskVariant(dir, greeting: "bad", toml: "[healthcheck]\npath = \"/health\"\nstatus = 204\ntimeout = 2\nretries = 2\ninterval = 0.2\n")
            case .diesAfterSwitch:
                bad = try flaskVariant(dir, greeting: "bad", extraPython: "\nimport os, signal, threading\nthreading.Timer(1.5, lambda: os.kill(os.getppid(), signal.SIGKILL)).start()\n")
                watch = "6"
            }
            let r = try hopEnv(["deploy", bad, "--app", app, "--watch", watch, "--wait"])
            #expect(r.status == 8, "\(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("generation"), "\(r.stderr)")
            #expect(!r.stderr.contains("/proc/"), "no /proc paths in what the user reads: \(r.stderr)")
            if kind == .exitsAtStart {
                #expect(r.stderr.contains("broken on purpose"), "the app's own last words are in the deploy's output: \(r.stderr)")
            }
            #expect(fetch(app).body == "good\n")
            #expect(try activeNumber(app) == before)
            let failed = try generations(app).filter { $0["status"] as? String == "failed" }
            #expect(failed.count == 1)
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    static let faultPoints = ["deploy:journal", "deploy:installed", "deploy:started", "deploy:gated", "deploy:switched",
                              "deploy:recorded", "deploy:retired", "rollback:started", "rollback:switched", "rollback:recorded"]

    @Test("hop killed with SIGKILL at a step of deploy or rollback: the app keeps answering and the next command leaves one consistent state",
          arguments: faultPoints)
    func killedMidway(_ point: String) throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-kill-" + point.replacingOccurrences(of: ":", with: "-")
            let v1 = try flaskVariant(dir, greeting: "one")
            let v2 = try flaskVariant(dir, greeting: "two")
            #expect(try hopEnv(["deploy", v1, "--app", app, "--watch", "0"]).status == 0)
            if point.hasPrefix("rollback") {
                #expect(try hopEnv(["deploy", v2, "--app", app, "--watch", "0"]).status == 0)
            }
            // --wait: every step runs in the command (the background settler's are tested below).
            let args = point.hasPrefix("rollback") ? ["rollback", app, "--wait"] : ["deploy", v2, "--app", app, "--watch", "1", "--wait"]
            let killed = try hopEnv(args, ["HOP_FAULT": point])
            #expect(killed.status != 0, "hop was not killed at \(point)")
            // Serving never went dark.
            let during = fetch(app)
            #expect(during.status == 200 && ["one\n", "two\n"].contains(during.body), "\(during)")
            // The next command recovers: one active generation, no journal, nginx serves it.
            let gens = try generations(app)
            let active = gens.filter { $0["status"] as? String == "active" }
            #expect(active.count == 1, "\(gens)")
            #expect(gens.allSatisfy { $0["status"] as? String != "pending" }, "\(gens)")
            #expect(!FileManager.default.fileExists(atPath: sharedHome.apps + "/\(app)/journal.json"))
            let activeStore = active.first?["storePath"] as? String ?? ""
            let expected = (try? String(contentsOfFile: activeStore + "/app/app/app.py", encoding: .utf8))?.contains("\"one") == true ? "one\n" : "two\n"
            #expect(fetch(app).body == expected)
            // Only the active generation's instances run.
            let ps = json(try hopEnv(["ps", app, "--json"]).stdout)
            #expect((ps["processes"] as? [[String: Any]] ?? []).allSatisfy { $0["state"] as? String == "active" }, "\(ps)")
            let running = try runningGenerations(app)
            #expect(running.generations.count == 1, "\(running.units)")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("without --wait a deploy returns once the new generation serves; the watch goes on in the background, and a generation dying in it is rolled back, recorded failed and audited")
    func backgroundWatch() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-bg-watch"
            let good = try flaskVariant(dir, greeting: "good")
            #expect(try hopEnv(["deploy", good, "--app", app, "--watch", "0"]).status == 0)
            let before = try activeNumber(app)
            let bad = try flaskVariant(dir, greeting: "bad", extraPython: "\nimport os, signal, threading\nthreading.Timer(1.5, lambda: os.kill(os.getppid(), signal.SIGKILL)).start()\n")
            let t0 = Date()
            let r = try hopEnv(["deploy", bad, "--app", app, "--watch", "8"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(Date().timeIntervalSince(t0) < 8, "the command returned before the watch window ended")
            #expect(r.stdout.contains("watching it for 8 s in the background"), "\(r.stdout)")
            // The settler's verdict: rolled back, within the window.
            var failed: [[String: Any]] = []
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                failed = try generations(app).filter { $0["status"] as? String == "failed" }
                if !failed.isEmpty, try activeNumber(app) == before { break }
                Thread.sleep(forTimeInterval: 0.3)
            }
            let all = try generations(app)
            #expect(failed.count == 1, "\(all)")
            #expect(try activeNumber(app) == before)
            #expect(fetch(app).body == "good\n")
            let audit = try #require(parse(try hopEnv(["audit", "--app", app, "--json"]).stdout) as? [[String: Any]])
            let watch = audit.last { $0["action"] as? String == "watch" }
            #expect((watch?["result"] as? String)?.hasPrefix("error: rolledBack: generation") == true, "\(audit)")
            #expect(watch?["actor"] as? String == "root", "the verdict is recorded under the deployer's name: \(String(describing: watch))")
            #expect(!FileManager.default.fileExists(atPath: sharedHome.apps + "/\(app)/journal.json"))
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("the background settler killed at a step, or never started: the app keeps answering and the next command finishes the switch",
          arguments: ["deploy:handed", "deploy:recorded", "deploy:retired"])
    func settlerKilled(_ point: String) throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-settle-" + point.replacingOccurrences(of: ":", with: "-")
            let v1 = try flaskVariant(dir, greeting: "one")
            let v2 = try flaskVariant(dir, greeting: "two")
            #expect(try hopEnv(["deploy", v1, "--app", app, "--watch", "0"]).status == 0)
            let r = try hopEnv(["deploy", v2, "--app", app, "--watch", "0"], ["HOP_FAULT": point])
            let journalFile = sharedHome.apps + "/\(app)/journal.json"
            if point == "deploy:handed" {
                #expect(r.status != 0, "hop was not killed at \(point)")
            } else {
                #expect(r.status == 0, "the command itself finished: \(r.stderr)")
                // The settler (which inherited HOP_FAULT) dies at the point; its journal stays.
                let deadline = Date().addingTimeInterval(20)
                var settlerAlive = true
                while Date() < deadline, settlerAlive {
                    let pid = (try? Data(contentsOf: URL(fileURLWithPath: journalFile)))
                        .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }?["settler"] as? Int
                    settlerAlive = pid.map { kill(Int32($0), 0) == 0 } ?? false
                    if settlerAlive { Thread.sleep(forTimeInterval: 0.1) }
                }
                #expect(!settlerAlive)
                #expect(FileManager.default.fileExists(atPath: journalFile), "the killed settler left its journal")
            }
            #expect(fetch(app).body == "two\n", "the new generation serves throughout")
            // The next command (a read) finishes what the settler could not.
            let gens = try generations(app)
            #expect(gens.filter { $0["status"] as? String == "active" }.count == 1, "\(gens)")
            #expect(!FileManager.default.fileExists(atPath: journalFile))
            #expect(fetch(app).body == "two\n")
            let running = try runningGenerations(app)
            #expect(running.generations.count == 1, "\(running.units)")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a config change whose generation fails is rolled back with its values: exit 8, the old config and generation stay")
    func failedConfigChangeRestoresValues() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-config-fail"
            let src = try flaskVariant(dir, greeting: "steady", extraPython: "\nimport os\nif os.environ.get('BREAK'):\n    raise SystemExit('BREAK is set')\n")
            #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
            #expect(try hopEnv(["config", "set", app, "KEEP=1", "--watch", "0"]).status == 0)
            let before = try activeNumber(app)
            let r = try hopEnv(["config", "set", app, "BREAK=1", "KEEP=2", "--watch", "0"])
            #expect(r.status == 8, "\(r.stdout)\(r.stderr)")
            #expect(json(try hopEnv(["config", app, "--json"]).stdout) as NSDictionary == ["KEEP": "1"] as NSDictionary)
            #expect(try activeNumber(app) == before)
            #expect(fetch(app).body == "steady\n")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a cron process becomes a systemd timer of the serving generation")
    func cronTimer() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-cron"
            let src = try flaskVariant(dir, greeting: "cron app")
            try "wsgi: app:app\ncron: */5 * * * * echo tick\n".write(toFile: src + "/Procfile", atomically: true, encoding: .utf8)
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            #expect(d.status == 0, "\(d.stderr)")
            let n = try #require(try activeNumber(app))
            let timers = try hostSystemctl(["list-timers", "--all", "--no-legend", "--no-pager"])
            #expect(timers.stdoutText.contains("hop-\(app)-G\(n)-cron.timer"), "\(timers.stdoutText)")
            // The job runs in the app's environment when started by hand, as the timer would.
            let run = try hostSystemctl(["start", "hop-\(app)-G\(n)-cron@1.service"])
            #expect(run.succeeded, "\(run.stderrText)")
            #expect(try hopEnv(["logs", app, "--process", "cron"]).stdout.contains("tick"))
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
            let after = try hostSystemctl(["list-timers", "--all", "--no-legend", "--no-pager"])
            #expect(!after.stdoutText.contains("hop-\(app)-"))
        }
    }

    @Test("after the host goes down and up again, the serving generations serve again")
    func hostRestartRestores() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-restart"
            let src = try flaskVariant(dir, greeting: "back again")
            #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
            #expect(try hopEnv(["host", "down"]).status == 0)
            #expect(fetch(app).status == 0)
            let up = try hopEnv(["host", "up", "--http-port", "\(deployHost.port)", "--json"])
            #expect(up.status == 0, "\(up.stderr)")
            #expect((json(up.stdout)["restored"] as? [String])?.contains(app) == true, "\(up.stdout)")
            #expect(fetch(app).body == "back again\n")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a second command on an app whose lock is held waits, saying whose it is, then exits 9 without touching it")
    func lockIsExclusive() throws {
        try #require(deployHost.ready)
        let app = "it-lock"
        #expect(try hopEnv(["deploy", fixtures + "/static-site", "--app", app, "--watch", "0"]).status == 0)
        let before = try generations(app)
        do {
            let held = try AppLock(home: sharedHome, app: app)
            let r = try hopEnv(["deploy", fixtures + "/static-site", "--app", app, "--force", "--watch", "0"], ["HOP_LOCK_WAIT": "1"])
            #expect(r.status == 9, "\(r.stderr)")
            // It says whose lock it waits for, and whose it was when it gave up.
            #expect(r.stderr.contains("hop: waiting for app \(app): `") && r.stderr.contains("(pid \(getpid())) has held it for"), "\(r.stderr)")
            #expect(r.stderr.contains("app \(app) is busy: `"), "\(r.stderr)")
            withExtendedLifetime(held) {}
        }
        #expect(try generations(app).count == before.count)
        #expect(fetch(app).status == 200)
        #expect(try hopEnv(["destroy", app]).status == 0)
    }

    @Test("hostile app names, config keys and domains are refused with exit 2 before anything is written")
    func hostileInput() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let sites = Set((try? FileManager.default.contentsOfDirectory(atPath: sharedHome.root + "/nginx/sites")) ?? [])
            for name in ["bad;name", "../etc", "a{b", "x\ny", "аpp"] {
                let r = try hopEnv(["deploy", fixtures + "/static-site", "--app", name])
                #expect(r.status == 2, "\(name): \(r.stderr)")
                #expect(try hopEnv(["config", "set", name, "A=b"]).status == 2)
                #expect(try hopEnv(["rollback", name]).status == 2)
            }
            for key in ["A;B", "1X", "PORT", "A-B", "É"] {
                #expect(try hopEnv(["config", "set", "it-hostile", "\(key)=v"]).status == 2, "\(key)")
            }
            for domain in ["evil.com;", "a{b}.com", "xn--80ak6aa92e.com\n", "ехаmple.com", "../x"] {
                let src = dir + "/d-\(UUID().uuidString.prefix(6))"
                try copyTree(fixtures + "/static-site", src)
                try "[domains]\nnames = [\(jsonString(domain))]\n".write(toFile: src + "/hop3.toml", atomically: true, encoding: .utf8)
                let r = try hopEnv(["deploy", src, "--app", "it-hostile"])
                #expect(r.status == 2, "\(domain): \(r.stdout)\(r.stderr)")
            }
            #expect(try generations("it-hostile").isEmpty)
            #expect(Set((try? FileManager.default.contentsOfDirectory(atPath: sharedHome.root + "/nginx/sites")) ?? []) == sites)
        }
    }
}

func jsonString(_ s: String) -> String {
    String(decoding: (try? JSONSerialization.data(withJSONObject: [s])) ?? Data("[\"\"]".utf8), as: UTF8.self).dropFirst().dropLast().description
}
