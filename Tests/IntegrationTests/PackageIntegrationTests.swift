import Foundation
import Testing
import HopBasics

/// hop installed as a program: the Debian package `make deb` builds (here from the debug build, as
/// `scripts/package.sh deb --config debug --fast`), installed with dpkg on this machine, run from PATH.
/// The test purges the package afterwards unless it was installed before it started.
@Suite("hop installed from its Debian package", .tags(.integration), .serialized)
struct PackageIntegrationTests {
    /// PATH as an operator's shell has it, without the build tree or the toolchain; cwd is /.
    static func installed(_ args: [String], _ env: [String: String?] = [:]) throws -> CLIResult {
        var e: [String: String?] = ["HOP_HOME": sharedHome.root, "HOP_FIND_LINKS": wheelhouse, "HOP_NIX_LIB": nil,
                                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        for (k, v) in env { e[k] = v }
        let r = try SystemRunner().run(Command("/usr/bin/hop", args, environment: e, workingDirectory: "/"))
        return CLIResult(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
    }

    /// package.sh needs the man page generator; building it from inside a test would wait forever
    /// for the .build lock `swift test` holds, so `make test` builds it first.
    static func requireManualGenerator() throws {
        try #require(FileManager.default.isExecutableFile(atPath: repoRoot + "/.build/debug/generate-manual"),
                     "build it first: swift build --product generate-manual (make test does)")
    }

    static func buildDeb(version: String, into dir: String) throws -> String {
        try requireManualGenerator()
        let out = dir + "/hop_\(version)_amd64.deb"
        let r = try SystemRunner().run(Command("bash", [repoRoot + "/scripts/package.sh", "deb", "--config", "debug", "--fast",
                                                        "--version", version, "--out", out], workingDirectory: repoRoot))
        #expect(r.succeeded, "package.sh: \(r.stderrText.suffix(2000))")
        return out
    }

    @Test("make install PREFIX: the installed tree runs without the toolchain and finds its Nix library from its own prefix")
    func installPrefix() throws {
        try Self.requireManualGenerator()
        try withTemporaryDirectory { dir in
            let r = try SystemRunner().run(Command("bash", [repoRoot + "/scripts/package.sh", "install", "--config", "debug",
                                                            "--prefix", "/opt/hop", "--destdir", dir], workingDirectory: repoRoot))
            #expect(r.succeeded, "\(r.stderrText.suffix(2000))")
            let bin = dir + "/opt/hop/bin/hop"
            let ldd = try SystemRunner().run(Command("ldd", [bin])).stdoutText
            #expect(!ldd.contains("/opt/swift") && !ldd.contains("not found"), "\(ldd)")
            // From /, with the build tree nowhere in sight: the library is PREFIX/share/hop/nix.
            let doctor = try SystemRunner().run(Command(bin, ["doctor", "--json"], environment: ["HOP_HOME": dir + "/home", "HOP_NIX_LIB": nil],
                                                        workingDirectory: "/"))
            let checks = json(doctor.stdoutText)["checks"] as? [[String: Any]] ?? []
            let lib = checks.first { $0["name"] as? String == "nix library" }
            #expect(lib?["ok"] as? Bool == true && lib?["detail"] as? String == dir + "/opt/hop/share/hop/nix", "\(doctor.stdoutText)")
            let man = try SystemRunner().run(Command("man", ["-l", "-Tutf8", dir + "/opt/hop/share/man/man1/hop.deploy.1"]))
            #expect(man.succeeded && man.stdoutText.contains("Build an app"), "\(man.stderrText)")
            // bash completes the app names this HOP_HOME knows (the script runs the installed hop).
            let home = dir + "/home"
            for app in ["cmp-one", "cmp-two"] {
                let b = try SystemRunner().run(Command(bin, ["build", fixtures + "/python-stdlib", "--app", app], environment: ["HOP_HOME": home]))
                #expect(b.succeeded, "\(b.stderrText)")
            }
            let script = dir + "/opt/hop/share/bash-completion/completions/hop"
            let line = "\(bin) rollback cmp-"
            let completed = try SystemRunner().run(Command("bash", ["-c", "source \(shellQuote(script)); COMP_WORDS=(\(shellQuote(bin)) rollback cmp-); COMP_CWORD=2; "
                + "COMP_LINE=\(shellQuote(line)); COMP_POINT=${#COMP_LINE}; _hop; echo \"${COMPREPLY[*]}\""], environment: ["HOP_HOME": home]))
            #expect(completed.stdoutText == "cmp-one cmp-two\n", "\(completed.stdoutText) \(completed.stderrText)")
        }
    }

    @Test("dpkg -i hop.deb, then `hop` from PATH deploys; its installed server builds and serves a remote deploy; installing a newer package keeps every app serving and moves the server onto it")
    func debInstallAndUpgrade() throws {
        try #require(deployHost.ready)
        let before = try SystemRunner().run(Command("dpkg-query", ["-W", "-f=${Status} ${Version}", "hop"]))
        let wasInstalled = before.succeeded && before.stdoutText.hasPrefix("install ok installed")
        try withTemporaryDirectory { dir in
            let v1 = try Self.buildDeb(version: "0.1.0-900", into: dir), v2 = try Self.buildDeb(version: "0.1.0-901", into: dir)
            defer {
                if !wasInstalled { _ = try? SystemRunner().run(Command("dpkg", ["--purge", "hop"])) }
            }
            let i1 = try SystemRunner().run(Command("dpkg", ["-i", v1], environment: ["HOP_HOME": sharedHome.root]))
            #expect(i1.succeeded, "\(i1.stderrText)")
            #expect(try Self.installed(["--version"]).stdout == hopVersion + "\n")
            let app = "it-pkg"
            let d = try Self.installed(["deploy", fixtures + "/flask-app", "--app", app, "--watch", "0"])
            #expect(d.status == 0, "\(d.stderr)")
            #expect(fetch(app).body.contains("Hello from Flask"), "\(fetch(app))")

            // The installed server, from the package: a remote deploy through hop's nginx is built by it.
            let install = try Self.installed(["server", "install", "--json"])
            #expect(install.status == 0, "\(install.stderr)")
            let unit = try String(contentsOfFile: hostPath("/run/systemd/system/hop-helper.service"), encoding: .utf8)
            #expect(unit.contains("/bin/hop") && unit.contains("/nix/store/") && unit.contains("-hop-0.1.0/bin/hop"), "\(unit)")
            let token = try newToken("pkg-deployer", role: "deployer", apps: ["it-pkg-remote"])
            let remotes = dir + "/remotes.json"
            #expect(try Self.installed(["remote", "add", "pkg", "http://hop.localhost:\(deployHost.port)", "--token", token],
                                       ["HOP_REMOTES": remotes]).status == 0)
            // (The installed server has no wheelhouse: a stdlib-only app, as the installed-server test uses.)
            let src = try stdlibVariant(dir)
            try "import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200); self.end_headers(); self.wfile.write(b'Deployed through the packaged server\\n')\nhttp.server.HTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
                .write(toFile: src + "/server.py", atomically: true, encoding: .utf8)
            let remote = try Self.installed(["--remote", "pkg", "deploy", src,
                                             "--app", "it-pkg-remote", "--watch", "0"], ["HOP_REMOTES": remotes, "HOP_HOME": dir + "/laptop"])
            #expect(remote.status == 0, "\(remote.stdout) \(remote.stderr)")
            #expect(fetch("it-pkg-remote").body.contains("Deployed through the packaged server"), "\(fetch("it-pkg-remote"))")

            // The upgrade, while a client requests the app every 50 ms.
            let statuses = dir + "/statuses"
            let poller = try SystemRunner().run(Command("sh", ["-c", "while :; do curl -s -o /dev/null -w '%{http_code}\\n' --max-time 5 -H 'Host: \(app).localhost' http://127.0.0.1:\(deployHost.port)/ >>\(statuses); sleep 0.05; done >/dev/null 2>&1 & echo $!"]))
            let pollerPID = Int32(poller.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            usleep(300_000)
            let i2 = try SystemRunner().run(Command("dpkg", ["-i", v2], environment: ["HOP_HOME": sharedHome.root]))
            usleep(300_000)
            if pollerPID > 0 { kill(pollerPID, SIGTERM) }
            #expect(i2.succeeded, "\(i2.stderrText)")
            #expect(i2.stdoutText.contains("now runs"), "postinst: \(i2.stdoutText)")
            let after = try SystemRunner().run(Command("dpkg-query", ["-W", "-f=${Version}", "hop"])).stdoutText
            #expect(after == "0.1.0-901")
            let codes = ((try? String(contentsOfFile: statuses, encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(codes.count >= 5 && codes.allSatisfy { $0 == "200" }, "during the upgrade: \(codes)")
            #expect(fetch(app).body.contains("Hello from Flask") && fetch("it-pkg-remote").status == 200)
            let apps = try Self.installed(["apps", "--json"]).stdout
            #expect(apps.contains("\"\(app)\"") && apps.contains("it-pkg-remote"), "\(apps)")
            let health = try SystemRunner().run(Command("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: hop.localhost",
                                                                 "http://127.0.0.1:\(deployHost.port)/api/health"])).stdoutText
            #expect(health == "200")
            for a in [app, "it-pkg-remote"] { _ = try hopEnv(["destroy", a, "--purge", "--yes"]) }
            _ = try? hopEnv(["user", "remove", "pkg-deployer"])
        }
        if !wasInstalled {
            #expect(!FileManager.default.fileExists(atPath: "/usr/bin/hop"), "the test's package was purged")
        }
    }
}
