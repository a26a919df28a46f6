import Foundation
import Testing
import HopBasics
import Runtime

/// A local SMTP sink (aiosmtpd from the test venv, storing a Maildir) and a webhook receiver (one
/// file per POST body), both on loopback, stopped by `stop()`.
final class NotificationSinks: @unchecked Sendable {
    let dir: String
    let smtpPort: Int
    let hookPort: Int
    var pids: [Int32] = []

    init(dir: String) throws {
        self.dir = dir
        smtpPort = (19_700..<19_799).first(where: portFree) ?? 19_700
        hookPort = (19_800..<19_899).first(where: portFree) ?? 19_800
        try FileManager.default.createDirectory(atPath: dir + "/hooks", withIntermediateDirectories: true)
        let receiver = """
            import http.server, sys, time
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    open('\(dir)/hooks/%f.json' % time.time(), 'wb').write(body)
                    self.send_response(204); self.end_headers()
                def log_message(self, *a): pass
            http.server.HTTPServer(('127.0.0.1', \(hookPort)), H).serve_forever()
            """
        try receiver.write(toFile: dir + "/receiver.py", atomically: true, encoding: .utf8)
        let venv = repoRoot + "/.venv-test/bin/python"
        for cmd in ["\(venv) -m aiosmtpd -n -l 127.0.0.1:\(smtpPort) -c aiosmtpd.handlers.Mailbox \(dir)/maildir",
                    "python3 \(dir)/receiver.py"] {
            let r = try SystemRunner().run(Command("sh", ["-c", "setsid \(cmd) >>\(dir)/sinks.log 2>&1 </dev/null & echo $!"]))
            pids.append(Int32(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
        }
        let deadline = Date().addingTimeInterval(10)
        while (portFree(smtpPort) || portFree(hookPort)) && Date() < deadline { usleep(100_000) }
    }

    /// Every mail received: its Subject and body.
    func mails() -> [(subject: String, body: String)] {
        let new = dir + "/maildir/new"
        return ((try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []).sorted().compactMap { f in
            guard let text = try? String(contentsOfFile: new + "/" + f, encoding: .utf8) else { return nil }
            let parts = text.components(separatedBy: "\n\n")
            let subject = parts[0].split(separator: "\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) } ?? ""
            return (subject, parts.dropFirst().joined(separator: "\n\n"))
        }
    }

    /// Every webhook body received, oldest first.
    func hooks() -> [[String: Any]] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/hooks")) ?? []).sorted().compactMap { f in
            (try? String(contentsOfFile: dir + "/hooks/" + f, encoding: .utf8)).map(json)
        }
    }

    func stop() { for p in pids where p > 0 { kill(p, SIGTERM) } }
    deinit { stop() }
}

@Suite("Alerts: a real app going down and coming back is mailed to an SMTP sink and posted to a webhook (real systemd, nginx, curl)", .tags(.integration), .serialized)
struct AlertIntegrationTests {
    /// Waits for `condition` up to `seconds`, polling every second; whether it came.
    func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 1)
        }
        return try condition()
    }

    @Test("an app frozen for a minute: a FIRING mail and webhook within 90 s, RESOLVED ones after it answers again; hop alerts shows both sends; a failed scheduled backup alerts at once; a silence is audited; bad channels are refused (exit 2)")
    func downAndBackIsNotified() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let sinks = try NotificationSinks(dir: dir)
            defer { sinks.stop() }
            try #require(!portFree(sinks.smtpPort) && !portFree(sinks.hookPort), "the sinks did not start: \((try? String(contentsOfFile: dir + "/sinks.log", encoding: .utf8)) ?? "")")
            // Bad input changes nothing.
            #expect(try hopEnv(["notify", "add", "mail", "it-bad", "ftp://relay", "--to", "a@b"]).status == 2)
            #expect(try hopEnv(["notify", "add", "mail", "it-bad", "smtp://127.0.0.1:\(sinks.smtpPort)"]).status == 2, "no recipient")
            #expect(try hopEnv(["notify", "add", "webhook", "it-bad", "file:///etc/passwd"]).status == 2)
            #expect(!(try hopEnv(["notify", "list"]).stdout.contains("it-bad")))
            let mail = try hopEnv(["notify", "add", "mail", "it-mail", "smtp://alerts:s3cret-pw@127.0.0.1:\(sinks.smtpPort)", "--to", "ops@example.org"])
            #expect(mail.status == 0, "\(mail.stderr)")
            #expect(try hopEnv(["notify", "add", "webhook", "it-hook", "http://127.0.0.1:\(sinks.hookPort)/hooks/T0/secret-token"]).status == 0)
            defer { _ = try? hopEnv(["notify", "remove", "it-mail"]); _ = try? hopEnv(["notify", "remove", "it-hook"]) }
            let list = try hopEnv(["notify", "list"]).stdout
            #expect(!list.contains("s3cret-pw") && !list.contains("secret-token"), "credentials are never listed: \(list)")
            let sealed = try SystemRunner().run(Command("sqlite3", [sharedHome.root + "/hop.db", "SELECT target FROM notify_channels"])).stdoutText
            #expect(!sealed.contains("s3cret-pw") && sealed.contains("enc1:"), "sealed at rest: \(sealed)")
            #expect(try hopEnv(["notify", "test", "it-mail"]).status == 0)
            #expect(try hopEnv(["notify", "test", "it-hook"]).status == 0)
            #expect(try waitFor(5) { sinks.mails().contains { $0.subject == "[hop] test notification" } }, "\(sinks.mails())")
            #expect(sinks.hooks().contains { $0["status"] as? String == "test" }, "\(sinks.hooks())")

            let app = "it-alerted"
            let d = try hopEnv(["deploy", try flaskVariant(dir, greeting: "watched"), "--app", app, "--watch", "0"])
            try #require(d.status == 0, "\(d.stderr)")
            defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }
            // Frozen: every process of the instance stopped, so requests hang.
            let unit = "hop-\(app)-G1-wsgi@1.service"
            #expect(try hostSystemctl(["kill", "--signal=SIGSTOP", unit]).succeeded)
            let frozen = Date()
            let firing = "[hop] FIRING down: \(app)"
            let fired = try waitFor(90) { sinks.mails().contains { $0.subject == firing } }
            print("FIRING mail after \(Int(Date().timeIntervalSince(frozen))) s")
            let listed = try hopEnv(["alerts"]).stdout
            #expect(fired, "no FIRING mail within 90 s: \(sinks.mails().map(\.subject)); alerts: \(listed)")
            #expect(Date().timeIntervalSince(frozen) >= 45, "it held for about its minute before firing")
            #expect(try waitFor(10) { sinks.hooks().contains { $0["status"] as? String == "firing" && $0["app"] as? String == app } }, "\(sinks.hooks())")
            let hook = sinks.hooks().first { $0["status"] as? String == "firing" && $0["app"] as? String == app } ?? [:]
            #expect(hook["rule"] as? String == "down" && (hook["text"] as? String ?? "").contains(firing) && hook["content"] as? String == hook["text"] as? String, "\(hook)")
            #expect(sinks.mails().first { $0.subject == firing }?.body.contains("does not answer") == true)
            // Thawed: resolved after 30 s of answering.
            #expect(try hostSystemctl(["kill", "--signal=SIGCONT", unit]).succeeded)
            #expect(fetch(app).body == "watched\n")
            let resolved = try waitFor(75) { sinks.mails().contains { $0.subject == "[hop] RESOLVED down: \(app)" } }
            #expect(resolved, "no RESOLVED mail: \(sinks.mails().map(\.subject))")
            #expect(try waitFor(10) { sinks.hooks().contains { $0["status"] as? String == "resolved" && $0["app"] as? String == app } })
            #expect(sinks.mails().filter { $0.subject == firing }.count == 1, "one FIRING mail, not one per round")
            let alerts = json(try hopEnv(["alerts", "--json"]).stdout)["alerts"] as? [[String: Any]] ?? []
            let down = alerts.first { $0["rule"] as? String == "down" && $0["app"] as? String == app } ?? [:]
            #expect(down["status"] as? String == "resolved", "\(down)")
            let sent = (down["notifications"] as? [[String: Any]] ?? []).filter { $0["sentAt"] != nil }.map { "\($0["channel"] ?? "") \($0["event"] ?? "")" }
            #expect(Set(sent) == ["it-mail firing", "it-mail resolved", "it-hook firing", "it-hook resolved"], "\(down)")

            // A scheduled backup that fails (its target cannot be written) alerts at once.
            #expect(try hopEnv(["backup", "schedule", app, "--calendar", "*-*-* 03:15:00", "--to", "/proc/hop-cannot-write-here"]).status == 0)
            defer { _ = try? hopEnv(["backup", "schedule", app, "--off"]) }
            #expect(!(try hostSystemctl(["start", "hop-Backup-\(app).service"]).succeeded), "the backup was meant to fail")
            #expect(try waitFor(30) { sinks.mails().contains { $0.subject == "[hop] FIRING backup: \(app)" } }, "\(sinks.mails().map(\.subject))")

            // A silence: audited with who and why, and listed.
            let s = try hopEnv(["alert", "silence", app, "--for", "1h", "--reason", "maintenance window", "--json"])
            #expect(s.status == 0, "\(s.stderr)")
            let audit = try hopEnv(["audit", "--json"]).stdout
            #expect(audit.contains("silenceAlerts") && audit.contains("maintenance window"), "\(audit.suffix(2000))")
            #expect(try hopEnv(["alerts"]).stdout.contains("until"))
            #expect(try hopEnv(["alert", "unsilence", "\(json(s.stdout)["id"] as? Int ?? 0)"]).status == 0)
            #expect(try hopEnv(["alert", "silence", app, "--rule", "no-such-rule", "--for", "1h"]).status == 2)
        }
    }
}
