import Foundation
import Testing
import HopBasics
import HopTestSupport
import HopStore
import Runtime
@testable import HopCore

@Suite("Alerts: hysteresis, silences, the outbox and its retries")
struct AlertTests {
    func down(_ active: Bool?, app: String = "blog") -> AlertObservation {
        AlertObservation(rule: .down, app: app, subject: app, active: active, message: active == true ? "\(app) does not answer" : "\(app) answers again")
    }

    /// Runs rounds of the engine as the store would keep them: (time, observation) → transitions.
    func rounds(_ steps: [(Int, AlertObservation?)]) -> [(Int, AlertTransition)] {
        var open: [String: AlertRecord] = [:]
        var nextID: Int64 = 1
        var out: [(Int, AlertTransition)] = []
        for (t, o) in steps {
            let r = AlertEngine.evaluate(open: open, observations: o.map { [$0] } ?? [], now: t)
            for id in r.drop { open = open.filter { $0.value.id != id } }
            for (var a, tr) in r.upsert {
                if a.id == 0 { a.id = nextID; nextID += 1 }
                if a.status == "resolved" { open[a.key] = nil } else { open[a.key] = a }
                if let tr { out.append((t, tr)) }
            }
        }
        return out
    }

    @Test("down fires once after about its minute, not on a blip; resolves once after 30 s clear; flapping within the clear time sends nothing")
    func hysteresis() {
        // A 20-s blip: pending, then dropped, nothing sent.
        #expect(rounds([(0, down(true)), (10, down(true)), (20, down(false)), (30, down(false))]).isEmpty)
        // Down for a minute: fires at the round where it has been seen 50 s (it began up to 10 s before).
        var steps: [(Int, AlertObservation?)] = (0...8).map { ($0 * 10, down(true)) }
        // Flaps back and forth inside the clear time: still firing, no message.
        steps += [(90, down(false)), (100, down(true)), (110, down(false)), (120, down(false)), (130, down(false)), (140, down(false))]
        let t = rounds(steps)
        #expect(t.map(\.1) == [.fired, .resolved], "\(t)")
        #expect(t.first?.0 == 50 && t.last?.0 == 140)
        // Unknown (a check not made this round) changes nothing; a subject gone resolves.
        #expect(rounds([(0, down(true)), (10, down(nil)), (50, down(true)), (60, down(nil)), (70, nil), (100, nil)]).map(\.1) == [.fired, .resolved])
    }

    @Test("event rules fire at once and resolve when the condition ends")
    func events() {
        let rb = { (active: Bool) in AlertObservation(rule: .rollback, app: "blog", subject: "blog", active: active, message: "g") }
        let t = AlertEngine.step(nil, rb(true), rule: .rollback, now: 5)
        #expect(t.transition == .fired && t.store?.status == "firing" && t.store?.firedAt == 5)
        let r = AlertEngine.step(t.store, rb(false), rule: .rollback, now: 15)
        #expect(r.transition == .resolved && r.store?.resolvedAt == 15)
        #expect(AlertRule.allCases.allSatisfy { !$0.summary.isEmpty })
    }

    @Test("SMTP relay URLs: schemes, default ports, credentials kept out of what is shown; bad ones refused")
    func relays() throws {
        let a = try SMTPRelay("smtp://al%40x:p%3Aw@mail.example.org")
        #expect(a.host == "mail.example.org" && a.port == 587 && a.user == "al@x" && a.password == "p:w" && a.tls == .opportunistic)
        #expect(try SMTPRelay("smtps://relay").port == 465 && (try SMTPRelay("smtps://relay").tls) == .implicit)
        #expect(try SMTPRelay("smtp+starttls://relay:2525").tls == .required)
        #expect(try SMTPRelay("smtp://relay:2525").curlURL == "smtp://relay:2525")
        for bad in ["http://relay", "smtp://", "smtp://relay/path", "smtp://relay?x=1", "relay", "smtp://u:a%0Aoutput%20%3D%20%2Fetc%2Fx@relay"] {
            #expect(throws: HopError.self, "\(bad)") { try SMTPRelay(bad) }
        }
        #expect(NotifyChannelInfo.shown("smtp://u:secret@relay:25") == "smtp://u:***@relay:25")
        #expect(NotifyChannelInfo.shown("https://hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com/services/...")
        #expect(NotifyChannelInfo.shown("https://h/x?token=abc") == "https://h/x?***")
        #expect(Operations.isMailAddress("ops@example.org") && !Operations.isMailAddress("a b@c") && !Operations.isMailAddress("<a@b>"))
    }

    @Test("a mail is headers then the text with CRLF; the webhook body carries text and content for Slack, Mattermost and Discord")
    func messages() {
        let a = AlertRecord(id: 3, key: "down/blog", rule: "down", app: "blog", subject: "blog", status: "firing", since: 1_800_000_000,
                            firedAt: 1_800_000_060, message: "blog does not answer")
        let mail = AlertMessage.mail(from: "hop@relay", to: ["a@b", "c@d"], subject: AlertMessage.subject(a, .fired), body: "line 1\nline 2",
                                     date: Date(timeIntervalSince1970: 1_800_000_060), messageID: "x@hop")
        #expect(mail.hasPrefix("From: hop@relay\r\nTo: a@b, c@d\r\nSubject: [hop] FIRING down: blog\r\nDate: Fri, 15 Jan 2027 08:01:00 +0000\r\n"))
        #expect(mail.hasSuffix("\r\n\r\nline 1\r\nline 2\r\n"))
        let body = json(AlertMessage.webhook(a, .fired, text: "T", link: "https://hop.example.org/apps/blog"))
        #expect(body["text"] as? String == "T" && body["content"] as? String == "T" && body["status"] as? String == "firing"
                && body["app"] as? String == "blog" && body["link"] as? String == "https://hop.example.org/apps/blog")
        var resolved = a
        resolved.resolvedAt = 1_800_000_300
        #expect(AlertMessage.text(resolved, .resolved, link: nil) == "[hop] RESOLVED down: blog — blog does not answer (after 4 min firing)")
    }

    func json(_ s: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] ?? [:] }

    @Test("the outbox: one notification per channel and transition, none while silenced; a refused send is retried with backoff, then sent; curl gets the credentials in a 0600 file, never as an argument")
    func outbox() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            try home.ensure()
            let runner = FakeProcessRunner()
            final class Sends: @unchecked Sendable { var configs: [String] = []; var bodies: [String] = [] }
            let sends = Sends()
            let fail = NSLock()
            nonisolated(unsafe) var refuse = true
            runner.on(["curl"]) { cmd in
                if let i = cmd.arguments.firstIndex(of: "--config") {
                    let file = cmd.arguments[i + 1]
                    let mode = (try? FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? 0
                    sends.configs.append("\(String(mode, radix: 8)) " + ((try? String(contentsOfFile: file, encoding: .utf8)) ?? ""))
                }
                sends.bodies.append(String(decoding: cmd.stdin ?? Data(), as: UTF8.self))
                return fail.withLock { refuse } ? .failed(7, stderr: "curl: (7) Failed to connect") : .ok(cmd.arguments.contains("--write-out") ? "204" : "")
            }
            let ctx = HopContext(home: home, runner: runner, serviceHost: ServiceHost(rootPrefix: "", pid: nil, runner: runner))
            let ops = Operations(ctx)
            _ = try ops.addNotifyChannel(.init(name: "mail", kind: "mail", target: "smtp://u:pw\"x@relay:2525", to: ["ops@example.org"]))
            _ = try ops.addNotifyChannel(.init(name: "hook", kind: "webhook", target: "https://hooks.example.org/x"))
            #expect(throws: HopError.self) { try ops.addNotifyChannel(.init(name: "hook", kind: "webhook", target: "https://other/x")) }
            let store = try MetricsStore(path: home.root + "/metrics.db")
            let t0 = 1_800_000_000
            func round(_ t: Int, _ o: AlertObservation) throws {
                var r = AlertRunner(ops: ops, store: store, host: ctx.serviceHostOverride!, now: Date(timeIntervalSince1970: TimeInterval(t)))
                r.observe = { _ in [o] }
                try r.run(snapshot: nil)
            }
            let rb = { (a: Bool) in AlertObservation(rule: .rollback, app: "blog", subject: "blog", active: a, message: a ? "rolled back" : "serves") }
            try round(t0, rb(true))
            var n = try store.notifications()
            #expect(n.count == 2 && n.allSatisfy { $0.sentAt == nil && $0.attempts == 1 && $0.nextAt == t0 + 30 && $0.lastError?.contains("Failed to connect") == true })
            try round(t0 + 10, rb(true))
            #expect(try store.notifications().allSatisfy { $0.attempts == 1 }, "not retried before its time")
            fail.withLock { refuse = false }
            try round(t0 + 30, rb(true))
            n = try store.notifications()
            #expect(n.count == 2 && n.allSatisfy { $0.sentAt == t0 + 30 && $0.attempts == 2 }, "\(n)")
            #expect(sends.configs.allSatisfy { $0 == "600 user = \"u:pw\\\"x\"\n" } && sends.configs.count == 2, "\(sends.configs)")
            #expect(!runner.commands.contains { $0.arguments.contains { $0.contains("pw") } })
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: home.root + "/tmp")) ?? []
            #expect(!leftovers.contains { $0.hasPrefix("smtp-") }, "the credentials file is removed: \(leftovers)")
            #expect(sends.bodies.contains { $0.contains("Subject: [hop] FIRING rollback: blog") })
            // Silenced: the alert resolves, nothing is queued.
            _ = try store.addSilence(app: "blog", rule: nil, until: t0 + 3600, by: "ada", reason: "")
            try round(t0 + 40, rb(false))
            #expect(try store.notifications().count == 2)
            #expect(try store.alerts(since: 0).first?.status == "resolved")
        }
    }
}
