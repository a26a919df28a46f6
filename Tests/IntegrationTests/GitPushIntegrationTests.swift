import Foundation
import Testing
import HopBasics

/// A git system user made by `hop git setup` and a real OpenSSH sshd on loopback that lets only that
/// user in, as a server would; removed again (user, sudoers rule, home) when the test ends.
final class GitPushRig {
    let user: String
    let home: String
    let dir: String
    let sshd: LoopbackServer
    let knownHosts: String

    init() throws {
        user = "hopgit" + String(UUID().uuidString.lowercased().filter(\.isLetter).prefix(6))
        var template = Array("/tmp/hop-gitpush-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HopError(.environment, "mkdtemp failed") }
        dir = String(cString: made)
        chmod(dir, 0o755) // sshd reads the git user's authorized_keys as that user
        home = dir + "/git-home"
        let setup = try hopEnv(["git", "setup", "--user", user, "--home", home, "--json"])
        guard setup.status == 0 else { throw HopError(.environment, "hop git setup failed: \(setup.stderr)") }
        let run = SystemRunner()
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = try run.run(Command("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/host_key"]))
        let port = freePort(from: 22600)
        // Debian's defaults where they matter: StrictModes on, keys from ~/.ssh/authorized_keys.
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(dir)/host_key
            PidFile \(dir)/sshd.pid
            AllowUsers \(user)
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes yes
            """
        try config.write(toFile: dir + "/sshd_config", atomically: true, encoding: .utf8)
        let hostPub = try String(contentsOfFile: dir + "/host_key.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        knownHosts = dir + "/known_hosts"
        try "[127.0.0.1]:\(port) \(hostPub)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        sshd = try LoopbackServer("/usr/sbin/sshd", ["-D", "-f", dir + "/sshd_config", "-E", dir + "/sshd.log"], port: port, log: dir + "/stdout.log")
    }

    /// A new client key pair registered for `hopUser`.
    func key(for hopUser: String) throws -> String {
        let path = dir + "/key-\(hopUser)"
        _ = try SystemRunner().run(Command("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "\(hopUser)@laptop", "-f", path]))
        let added = try hopEnv(["ssh-key", "add", hopUser, try String(contentsOfFile: path + ".pub", encoding: .utf8)])
        guard added.status == 0 else { throw HopError(.environment, "ssh-key add failed: \(added.stderr)") }
        return path
    }

    func sshCommand(_ key: String) -> String {
        "ssh -i \(key) -p \(sshd.port) -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=\(knownHosts) -o ConnectTimeout=10"
    }

    var sshdLog: String { (try? String(contentsOfFile: dir + "/sshd.log", encoding: .utf8)) ?? "" }

    /// git (or any command) as the pusher, with the key's ssh.
    func run(_ args: [String], key: String, cwd: String? = nil) throws -> ProcessResult {
        try SystemRunner().run(Command(args[0], Array(args.dropFirst()), environment: ["GIT_SSH_COMMAND": sshCommand(key),
                                                                                     "GIT_TERMINAL_PROMPT": "0"], workingDirectory: cwd))
    }

    func url(_ app: String) -> String { "ssh://\(user)@127.0.0.1:\(sshd.port)/\(app)" }

    func tearDown() {
        sshd.stop()
        let run = SystemRunner()
        _ = try? run.run(Command("userdel", [user]))
        try? FileManager.default.removeItem(atPath: "/etc/sudoers.d/hop-git-\(user)")
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// A git work tree of the Flask fixture saying `greeting`, committed; its commit id.
func commitFlask(_ work: String, greeting: String, extra: String = "") throws -> String {
    let run = SystemRunner()
    if !FileManager.default.fileExists(atPath: work) {
        try copyTree(fixtures + "/flask-app", work)
        for args in [["init", "-q", "-b", "main"], ["config", "user.email", "dev@example.org"], ["config", "user.name", "Dev"]] {
            _ = try run.run(Command("git", args, workingDirectory: work))
        }
    }
    var code = try String(contentsOfFile: fixtures + "/flask-app/app.py", encoding: .utf8)
    code = code.replacingOccurrences(of: "Hello from Flask on hop", with: greeting) + extra
    try code.write(toFile: work + "/app.py", atomically: true, encoding: .utf8)
    _ = try run.run(Command("git", ["add", "-A"], workingDirectory: work))
    let c = try run.run(Command("git", ["commit", "-q", "-m", greeting], workingDirectory: work))
    guard c.succeeded else { throw HopError(.environment, "git commit failed: \(c.stderrText)") }
    return try run.run(Command("git", ["rev-parse", "HEAD"], workingDirectory: work)).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("git push over a real sshd deploys through the operations core", .tags(.integration), .serialized)
struct GitPushIntegrationTests {
    @Test("push deploys and serves; a second push switches under load with no failed request; a broken push fails with the gate's reason and the old generation serves; keys without rights and every other SSH use are refused; the commit is in hop show and the provenance")
    func pushDeploys() throws {
        try #require(deployHost.ready)
        let rig = try GitPushRig()
        defer { rig.tearDown() }
        let app = "it-push"
        for (user, apps) in [("alice", [app]), ("bob", ["it-other"])] {
            let r = try hopEnv(["user", "add", user, "--role", "deployer"] + apps.flatMap { ["--app", $0] })
            #expect(r.status == 0, "\(r.stderr)")
        }
        defer { for u in ["alice", "bob"] { _ = try? hopEnv(["user", "remove", u]) } }
        let alice = try rig.key(for: "alice")
        let bob = try rig.key(for: "bob")
        let keys = try hopEnv(["ssh-key", "list", "--json"])
        #expect(keys.stdout.contains("\"user\" : \"alice\"") || keys.stdout.contains("\"user\":\"alice\""), "\(keys.stdout)")

        // First push: the repository is made, the commit built and served.
        let work = rig.dir + "/work"
        let first = try commitFlask(work, greeting: "Pushed one")
        let p1 = try rig.run(["git", "push", rig.url(app), "main"], key: alice, cwd: work)
        #expect(p1.succeeded, "push failed: \(p1.stderrText)\nsshd: \(rig.sshdLog.suffix(1500))")
        #expect(p1.stderrText.contains("remote: hop:"), "the pusher sees hop's progress: \(p1.stderrText)")
        #expect(fetch(app).body.contains("Pushed one"))
        let show = try hopEnv(["show", app, "--json"])
        let record = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(record["commit"] as? String == first, "hop show: \(show.stdout.prefix(600))")
        let prov = try hopEnv(["provenance", app])
        #expect(prov.stdout.contains("\"gitCommit\":\"\(first)\""), "provenance lacks the commit: \(prov.stdout.prefix(400))")

        // Second push under load: the switch drops nothing.
        let stop = rig.dir + "/stop-load"
        let loadOut = rig.dir + "/load.json"
        let load = try SystemRunner().run(Command("sh", ["-c", "\"$0\" \"$1\" \"$2\" \"$3\" \"$4\" >\"$5\" 2>&1 & echo $!",
                                                         "/usr/bin/python3", repoRoot + "/scripts/test/load.py", String(deployHost.port),
                                                         "\(app).localhost", stop, loadOut]))
        let loadPID = pid_t(load.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        usleep(500_000)
        _ = try commitFlask(work, greeting: "Pushed two")
        let p2 = try rig.run(["git", "push", rig.url(app), "main"], key: alice, cwd: work)
        usleep(500_000)
        _ = FileManager.default.createFile(atPath: stop, contents: Data())
        var waited = 0
        while loadPID > 0, kill(loadPID, 0) == 0, waited < 200 { usleep(50_000); waited += 1 }
        #expect(p2.succeeded, "\(p2.stderrText)")
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: loadOut))) as? [String: Any])
        let requests = stats["requests"] as? Int ?? 0
        print("git push under load: \(requests) requests, \(stats["failed"] ?? "?") failed, \(stats["retriedAfterKeepAliveClose"] ?? "?") retried after a keep-alive close")
        #expect(requests > 20 && stats["failed"] as? Int == 0, "\(stats)")
        #expect(((stats["bodies"] as? [String: Int]) ?? [:]).keys.contains { $0.contains("Pushed two") }, "\(stats)")
        #expect(fetch(app).body.contains("Pushed two"))

        // A broken commit: the push fails with the reason; the old generation serves; the branch stays.
        let serving = try activeNumber(app)
        _ = try commitFlask(work, greeting: "Pushed three", extra: "\nraise SystemExit('broken on purpose')\n")
        let p3 = try rig.run(["git", "push", rig.url(app), "main"], key: alice, cwd: work)
        #expect(!p3.succeeded)
        #expect(p3.stderrText.contains("push refused") && p3.stderrText.contains("pre-receive hook declined"), "\(p3.stderrText)")
        #expect(fetch(app).body.contains("Pushed two"))
        #expect(try activeNumber(app) == serving)
        let remoteHead = try rig.run(["git", "ls-remote", rig.url(app), "refs/heads/main"], key: alice)
        #expect(remoteHead.stdoutText.hasPrefix(try SystemRunner().run(Command("git", ["rev-parse", "HEAD~1"], workingDirectory: work)).stdoutText.prefix(40)),
                "the refused commit must not become main: \(remoteHead.stdoutText)")

        // A key whose user may not deploy the app: refused, recorded, nothing changes.
        let p4 = try rig.run(["git", "push", rig.url(app), "HEAD~1:refs/heads/main", "--force"], key: bob, cwd: work)
        #expect(!p4.succeeded && p4.stderrText.contains("bob (deployer) may not git push on \(app)"), "\(p4.stderrText)")
        #expect(try activeNumber(app) == serving)
        let audit = (parse(try hopEnv(["audit", "--app", app, "--json"]).stdout) as? [[String: Any]]) ?? []
        #expect(audit.contains { $0["actor"] as? String == "bob" && $0["via"] as? String == "git" && $0["action"] as? String == "git push"
                                 && $0["result"] as? String == "denied" }, "no denied git push by bob in \(audit.suffix(5))")
        #expect(audit.contains { $0["actor"] as? String == "alice" && $0["via"] as? String == "git" && $0["action"] as? String == "deploy" })

        // Everything that is not git on an app repository is refused.
        let ssh = rig.sshCommand(alice).split(separator: " ").map(String.init) + ["\(rig.user)@127.0.0.1"]
        for (command, says) in [(["git-receive-pack '../../etc'"], "is not an app's repository"),
                                (["git-upload-pack '/etc/passwd'"], "is not an app's repository"),
                                (["id"], "does not run"),
                                (["sh -c 'cat /etc/shadow'"], "does not run"),
                                ([String](), "no shell")] {
            let r = try SystemRunner().run(Command(ssh[0], Array(ssh.dropFirst()) + command))
            #expect(!r.succeeded && r.stderrText.contains(says), "\(command): \(r.status) \(r.stderrText)")
            #expect(!r.stdoutText.contains("uid=") && !r.stdoutText.contains("root:"))
        }
        let tty = try SystemRunner().run(Command(ssh[0], ["-tt"] + Array(ssh.dropFirst())))
        #expect(!tty.succeeded && !tty.stdoutText.contains("$ "), "an interactive login: \(tty.stdoutText)")
        let forward = try SystemRunner().run(Command(ssh[0], Array(ssh.dropFirst(1).dropLast()) + ["-W", "127.0.0.1:\(deployHost.port)", ssh.last!]))
        #expect(!forward.succeeded && forward.stderrText.contains("prohibited"), "port forwarding: \(forward.stderrText)")
        let reverse = try SystemRunner().run(Command(ssh[0], Array(ssh.dropFirst(1).dropLast())
                                                     + ["-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22", ssh.last!, "git-upload-pack '\(app)'"]))
        #expect(!reverse.succeeded && reverse.stderrText.contains("forwarding failed"), "remote forwarding: \(reverse.stderrText)")

        // A removed key stops at once.
        let keyList = try hopEnv(["ssh-key", "list", "--json"])
        let listed = (try? JSONSerialization.jsonObject(with: Data(keyList.stdout.utf8)) as? [[String: Any]]) ?? []
        if let aliceKey = listed.first(where: { $0["user"] as? String == "alice" }), let fp = aliceKey["fingerprint"] as? String {
            #expect(try hopEnv(["ssh-key", "remove", fp]).status == 0)
            let after = try rig.run(["git", "ls-remote", rig.url(app)], key: alice)
            #expect(!after.succeeded, "a removed key still reaches hop: \(after.stdoutText)")
        } else {
            Issue.record("alice's key is not listed: \(keyList.stdout)")
        }
        // Removing a user takes their keys out of authorized_keys at once.
        #expect(try String(contentsOfFile: rig.home + "/.ssh/authorized_keys", encoding: .utf8).contains("hop:bob"))
        #expect(try hopEnv(["user", "remove", "bob"]).status == 0)
        #expect(!(try String(contentsOfFile: rig.home + "/.ssh/authorized_keys", encoding: .utf8)).contains("hop:bob"))
        _ = try hopEnv(["destroy", app])
    }
}
