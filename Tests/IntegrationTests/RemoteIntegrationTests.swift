import Foundation
import Testing
import HopBasics

@Suite("The CLI against a remote hop server on loopback", .tags(.integration), .serialized)
struct RemoteIntegrationTests {
    @Test("hop --remote: deploy (source uploaded), rollback, logs and config with a deployer token give the output the server's own CLI gives; a viewer token gets 403 (exit 11) and changes nothing; server-only commands are refused")
    func remoteCLI() throws {
        try #require(deployHost.ready)
        let server = try LiveServer()
        defer { server.stop() }
        let app = "it-remote"
        let deployer = try newToken("r-deployer", role: "deployer", apps: [app])
        let viewer = try newToken("r-viewer", role: "viewer", apps: [app])
        var template = Array("/tmp/hop-laptop-XXXXXX".utf8CString)
        let laptop = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: laptop) }
        // The laptop has no hop state: HOP_HOME points nowhere, so nothing can run locally by mistake.
        func client(_ args: [String]) throws -> CLIResult {
            let r = try SystemRunner().run(Command(hopBinary, args, environment: ["HOP_HOME": laptop + "/no-hop-here", "HOP_REMOTES": laptop + "/remotes.json",
                                                                                 "HOP_FIND_LINKS": nil]))
            return CLIResult(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
        }
        let url = "http://127.0.0.1:\(server.port)"
        #expect(try client(["remote", "add", "prod", url, "--token", deployer]).status == 0)
        #expect(try client(["remote", "add", "ro", url, "--token", viewer]).status == 0)
        var st = stat()
        #expect(stat(laptop + "/remotes.json", &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(!(try client(["remote", "list"])).stdout.contains(deployer), "tokens are not shown")

        // Deploy from the laptop's source tree: uploaded, built and served by the server.
        let v1 = try flaskVariant(laptop, greeting: "Remote one")
        let d1 = try client(["--remote", "prod", "deploy", v1, "--app", app, "--watch", "0", "--json"])
        try #require(d1.status == 0, "\(d1.stderr)")
        #expect(fetch(app).body.contains("Remote one"))
        let d2 = try client(["deploy", try flaskVariant(laptop, greeting: "Remote two"), "--app", app, "--watch", "0", "--remote", "prod"])
        #expect(d2.status == 0 && d2.stdout.contains("\(app): generation 2 serves at"), "\(d2.stdout) \(d2.stderr)")
        #expect(fetch(app).body.contains("Remote two"))
        #expect(!FileManager.default.fileExists(atPath: laptop + "/no-hop-here"), "the client made local hop state")

        // The same output as the server's own CLI.
        let remoteGens = try client(["--remote", "prod", "generations", app, "--json"])
        let localGens = try hopEnv(["generations", app, "--json"]).stdout
        #expect(remoteGens.status == 0 && remoteGens.stdout == localGens, "\(remoteGens.stdout) \(remoteGens.stderr)")
        // (`hop apps` lists what the caller may see: the deployer sees one app, root every app.)
        let remotePs = try client(["--remote", "prod", "ps", app]).stdout, localPs = try hopEnv(["ps", app]).stdout
        #expect(!remotePs.isEmpty && remotePs == localPs, "\(remotePs) vs \(localPs)")
        let remoteApps = try client(["--remote", "prod", "apps"]).stdout
        #expect(remoteApps.contains(app) && remoteApps.split(separator: "\n").count == 2, "\(remoteApps)")
        // `hop info` through the API: the same checked facts (the deploy came through the API).
        let remoteInfo = try client(["--remote", "prod", "info", app, "--json"])
        let ri = (parse(remoteInfo.stdout) as? [String: Any]) ?? [:], li = (parse(try hopEnv(["info", app, "--json"]).stdout) as? [String: Any]) ?? [:]
        #expect(remoteInfo.status == 0 && ri["serving"] as? Bool == true && ri["state"] as? String == li["state"] as? String, "\(remoteInfo.stdout) \(remoteInfo.stderr)")
        #expect((ri["generation"] as? [String: Any])?["number"] as? Int == (li["generation"] as? [String: Any])?["number"] as? Int)
        #expect((ri["generation"] as? [String: Any])?["via"] as? String == "api", "\(ri)")
        #expect(((ri["urls"] as? [[String: Any]])?.first?["answering"]) as? Bool == true, "\(ri)")
        #expect(try client(["--remote", "prod", "info", app]).stdout.hasPrefix("\(app): serving\n"))

        let rb = try client(["--remote", "prod", "rollback", app, "--json"])
        #expect(rb.status == 0 && (parse(rb.stdout) as? [String: Any])?["generation"] as? Int == 1, "\(rb.stdout) \(rb.stderr)")
        #expect(fetch(app).body.contains("Remote one"))
        let set = try client(["--remote", "prod", "config", "set", app, "FROM_LAPTOP=yes", "--watch", "0"])
        #expect(set.status == 0, "\(set.stderr)")
        let shown = try client(["--remote", "prod", "config", "show", app])
        let localShown = try hopEnv(["config", "show", app]).stdout
        #expect(shown.stdout.range(of: #"(?m)^FROM_LAPTOP +config +yes$"#, options: .regularExpression) != nil && shown.stdout == localShown, "\(shown.stdout)")
        let logs = try client(["--remote", "prod", "logs", app, "-n", "20"])
        #expect(logs.status == 0 && !logs.stdout.isEmpty, "\(logs.stderr)")

        // Bad metadata sent from the laptop: every error, located in the laptop's terms (no server path), exit 2.
        let broken = try flaskVariant(laptop, greeting: "Broken", toml: "[run]\nstart = 42\n\n[build]\nbuilder = \"cobol\"\n")
        let bad = try client(["--remote", "prod", "deploy", broken, "--app", app, "--watch", "0"])
        #expect(bad.status == 2, "\(bad.status) \(bad.stderr)")
        #expect(bad.stderr.contains("hop3.toml:2:9: error:") && bad.stderr.contains("hop3.toml:5:11: error:") && bad.stderr.contains("2 errors"), "\(bad.stderr)")
        #expect(bad.stderr.contains(broken + "/hop3.toml:2:9"), "checked on the laptop first, in the laptop's paths: \(bad.stderr)")
        // The same tree uploaded straight to the API: the server's errors name the files relative to the tree.
        let tar = laptop + "/broken.tar"
        #expect(try SystemRunner().run(Command("tar", ["-C", broken, "-cf", tar, "."])).succeeded)
        let up = try SystemRunner().run(Command("curl", ["-s", "-X", "POST", "-H", "Authorization: Bearer \(deployer)", "-H", "Content-Type: application/octet-stream",
                                                         "--data-binary", "@" + tar, "http://127.0.0.1:\(server.port)/api/apps/\(app)/source?watch=0"]))
        let upError = (parse(up.stdoutText) as? [String: Any])?["error"] as? [String: Any] ?? [:]
        #expect(upError["file"] as? String == "hop3.toml" && upError["line"] as? Int == 2 && upError["column"] as? Int == 9, "\(up.stdoutText)")
        #expect((upError["more"] as? [[String: Any]])?.first?["line"] as? Int == 5, "\(up.stdoutText)")
        #expect(!up.stdoutText.contains(sharedHome.root), "no server path: \(up.stdoutText)")

        // A viewer: every change refused with 403 (exit 11), nothing changes.
        let gensBefore = try hopEnv(["generations", app, "--json"]).stdout
        let configBefore = try hopEnv(["config", "show", app, "--json"]).stdout
        for args in [["deploy", try flaskVariant(laptop, greeting: "Viewer"), "--app", app, "--watch", "0"],
                     ["rollback", app], ["config", "set", app, "VIEWER=1", "--watch", "0"], ["config", "unset", app, "FROM_LAPTOP"],
                     ["logs", app], ["restart", app], ["scale", app, "web=2"]] {
            let r = try client(["--remote", "ro"] + args)
            #expect(r.status == 11 && r.stderr.contains("may not"), "\(args): \(r.status) \(r.stderr)")
        }
        #expect(try hopEnv(["generations", app, "--json"]).stdout == gensBefore)
        #expect(try hopEnv(["config", "show", app, "--json"]).stdout == configBefore)
        #expect(fetch(app).body.contains("Remote one"))

        // Every command whose operation has a route runs remotely, with the output the server's
        // own CLI gives: backups, addons, SSH keys, trusted keys (an admin token).
        let admin = try newToken("r-admin", role: "admin")
        #expect(try client(["remote", "add", "adm", url, "--token", admin]).status == 0)
        for args in [["backup", "list", "--json"], ["addon", "list", "--json"], ["ssh-key", "list", "--json"], ["trust", "list", "--json"], ["seed", "list", "--json"]] {
            let r = try client(["--remote", "adm"] + args), l = try hopEnv(args)
            #expect(r.status == 0 && l.status == 0, "\(args): \(r.stderr) \(l.stderr)")
            #expect(parse(r.stdout) != nil && r.stdout == l.stdout, "\(args): remote \(r.stdout) local \(l.stdout)")
        }
        #expect(try client(["--remote", "adm", "backup", "list", app]).status == 0)
        // One shape per resource: `hop show BUILD --json` is `GET /api/builds/{id}`.
        let shownBuild = try hopEnv(["show", app, "--json"])
        let buildID = try #require((parse(shownBuild.stdout) as? [String: Any])?["id"] as? Int, "\(shownBuild.stdout) \(shownBuild.stderr)")
        let apiBuild = try SystemRunner().run(Command("curl", ["-s", "-H", "Authorization: Bearer \(admin)", "\(url)/api/builds/\(buildID)"]))
        #expect((parse(apiBuild.stdoutText) as? NSDictionary) == (parse(shownBuild.stdout) as? NSDictionary),
                "CLI \(shownBuild.stdout)\nAPI \(apiBuild.stdoutText)")
        #expect((parse(apiBuild.stdoutText) as? [String: Any])?["toolchainDetail"] != nil)

        // Commands about the server's own files do not run remotely; a bad token is 401 (exit 10).
        let host = try client(["--remote", "prod", "host", "status"])
        #expect(host.status == 2 && host.stderr.contains("does not run against a remote"), "\(host.stderr)")
        let seeds = try client(["--remote", "adm", "seed", "import", "busybox"])
        #expect(seeds.status == 2 && seeds.stderr.contains("does not run against a remote"), "\(seeds.stderr)")
        #expect(try client(["remote", "add", "bad", url, "--token", "hop_0000.nope"]).status == 0)
        #expect(try client(["--remote", "bad", "apps"]).status == 10)
        _ = try hopEnv(["destroy", app])
    }
}
