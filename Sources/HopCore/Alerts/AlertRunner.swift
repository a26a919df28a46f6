import Foundation
import HopBasics
import HopStore
import Runtime

/// One round of alerting, run by the measures timer after each collection: observe every rule's
/// condition, step the alerts (hysteresis), queue a notification per channel for each alert that
/// fired or resolved (unless silenced), then send what is due, retrying failures with backoff.
struct AlertRunner {
    let ops: Operations
    let store: MetricsStore
    let host: ServiceHost
    var now = Date()
    /// What the round observes (the real checks unless a test gives its own).
    var observe: ((ResourceCollector.Snapshot?) throws -> [AlertObservation])?
    static let maxAttempts = 8

    var ctx: HopContext { ops.ctx }
    var at: Int { Int(now.timeIntervalSince1970) }

    func run(snapshot: ResourceCollector.Snapshot?) throws {
        let observed = try observe?(snapshot) ?? observations(snapshot: snapshot)
        let result = AlertEngine.evaluate(open: try store.openAlerts(), observations: observed, now: at)
        if !result.upsert.isEmpty || !result.drop.isEmpty {
            let channels = (try ctx.existingDatabase()?.notifyChannels()) ?? []
            let silences = try store.silences(now: at)
            let transitions = Dictionary(result.upsert.compactMap { a, t in t.map { (a.key, $0) } }, uniquingKeysWith: { a, _ in a })
            let link = dashboardLink
            try store.applyAlerts(upsert: result.upsert.map(\.0), delete: result.drop) { a in
                guard let t = transitions[a.key], !silences.contains(where: { $0.matches(rule: a.rule, app: a.app, now: at) }) else { return [] }
                let l = link(a.app)
                return channels.map { c in
                    NotificationRecord(id: 0, alertID: a.id, channel: c.name, event: t.rawValue,
                                       payload: Notifier.payload(subject: AlertMessage.subject(a, t), text: AlertMessage.text(a, t, link: l),
                                                                 webhook: AlertMessage.webhook(a, t, text: AlertMessage.text(a, t, link: l), link: l)),
                                       attempts: 0, nextAt: at, sentAt: nil, lastError: nil, createdAt: at)
                }
            }
        }
        try deliver()
        if at % 3600 < 10 { try store.pruneAlerts(before: at - 30 * 86_400) }
    }

    /// Sends every due notification once; a failure is retried 30 s, 1, 2, 4 … min later (at most an hour apart).
    func deliver() throws {
        let due = try store.dueNotifications(now: at, maxAttempts: Self.maxAttempts)
        guard !due.isEmpty else { return }
        let channels = Dictionary(((try ctx.existingDatabase()?.notifyChannels()) ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let notifier = Notifier(runner: ctx.runner, scratch: ctx.home.root + "/tmp")
        for n in due {
            var failure: String?
            if let c = channels[n.channel] {
                do { try notifier.send(n.payload, via: c, now: now) } catch let e as HopError { failure = e.message } catch { failure = "\(error)" }
            } else {
                failure = "the channel \(n.channel) was removed"
            }
            let backoff = min(3600, 30 << min(n.attempts, 7))
            try store.recordDelivery(id: n.id, sentAt: failure == nil ? at : nil, error: failure, retryAt: at + backoff)
        }
    }

    /// The dashboard's page for an app (or its front page), when hop's server is installed under a name.
    var dashboardLink: (String?) -> String? {
        guard let name = ops.installedServerName() else { return { _ in nil } }
        let front = NginxFront(home: ctx.home, host: host)
        let base = front.httpsPort.map { $0 == 443 ? "https://\(name)" : "https://\(name):\($0)" }
            ?? (front.httpPort == 80 ? "http://\(name)" : "http://\(name):\(front.httpPort)")
        return { app in base + (app.map { "/apps/\($0)" } ?? "/") }
    }

    // MARK: Observations

    func observations(snapshot: ResourceCollector.Snapshot?) throws -> [AlertObservation] {
        var out: [AlertObservation] = []
        if let d = snapshot?.disk, d.total > 0 {
            let share = Double(d.used) / Double(d.total)
            out.append(AlertObservation(rule: .disk, app: nil, subject: "host", active: share > 0.9,
                                        message: String(format: "the disk holding hop's state is %.0f %% full", share * 100)))
        }
        guard let db = try ctx.existingDatabase() else { return out }
        let byApp = Dictionary(grouping: try db.allGenerations(), by: \.app)
        let checkExpiry = expiryCheckDue()
        var serving: [(app: String, generation: GenerationRecord)] = []
        for (app, gens) in byApp.sorted(by: { $0.key < $1.key }) {
            if let g = gens.first(where: { $0.status == .active }) {
                serving.append((app, g))
            }
            // A deploy rolled back: the newest generation failed, until a newer one serves.
            if let newest = gens.max(by: { $0.number < $1.number }) {
                out.append(AlertObservation(rule: .rollback, app: app, subject: app, active: newest.status == .failed,
                                            message: newest.status == .failed ? "generation \(newest.number) of \(app) was rolled back: \(newest.reason ?? "?")"
                                                : "generation \(newest.number) of \(app) serves"))
            }
            try requestAndProcessObservations(app, into: &out)
            certificateObservation(app, checkExpiry: checkExpiry, into: &out)
        }
        // Down: each serving generation checked as its health gate checks it (units, then its
        // health path, straight to the app), at most 3 s each.
        let activator = try ops.runtime(db).activator
        let checks = serving.compactMap { s -> (String, (stopped: Bool, problem: String?))? in
            guard let m = try? GenerationManifest.read(storePath: s.generation.storePath) else { return nil }
            return (s.app, activator.liveProblem(s.generation, m, timeout: 3))
        }
        for (app, r) in checks where !r.stopped {
            out.append(AlertObservation(rule: .down, app: app, subject: app, active: r.problem != nil,
                                        message: r.problem.map { "\(app) does not answer: \($0)" } ?? "\(app) answers again"))
        }
        out += try backupObservations(db)
        return out
    }

    func requestAndProcessObservations(_ app: String, into out: inout [AlertObservation]) throws {
        let requests = try store.requests(app: app, from: at - 300, to: at + 1)
        var total = RequestBucket(start: 0)
        for b in requests { total.merge(b) }
        let share = total.requests > 0 ? Double(total.classes[4]) / Double(total.requests) : 0
        out.append(AlertObservation(rule: .errors, app: app, subject: app, active: total.requests >= 20 && share > 0.05,
                                    message: String(format: "%.0f %% of %d responses of %@ were 5xx in the last 5 min", share * 100, total.requests, app)))
        let procs = try store.processes(app: app, from: at - 300, to: at + 1)
        let restarts = procs.reduce(0) { $0 + $1.restarts }
        out.append(AlertObservation(rule: .restartLoop, app: app, subject: app, active: restarts >= 3,
                                    message: "\(app)'s processes restarted \(restarts) time\(restarts == 1 ? "" : "s") in the last 5 min"))
        // Memory: each process type's latest reading against its limit.
        let latest = Dictionary(grouping: procs.filter { $0.start >= at - 30 }, by: \.process).compactMapValues { $0.max { $0.start < $1.start } }
        let worst = latest.values.compactMap { b -> (String, Double)? in
            guard let m = b.memory, let l = b.memoryLimit, l > 0 else { return nil }
            return (b.process, Double(m) / Double(l))
        }.max { $0.1 < $1.1 }
        if let (process, share) = worst {
            out.append(AlertObservation(rule: .memory, app: app, subject: app, active: share > 0.9,
                                        message: String(format: "%@'s %@ uses %.0f %% of its memory limit", app, process, share * 100)))
        }
    }

    /// A failed issuance or renewal (the status file, every round), or a certificate serving now
    /// that expires within 14 days (`openssl x509 -checkend`, when `checkExpiry`: every 5 min).
    func certificateObservation(_ app: String, checkExpiry: Bool, into out: inout [AlertObservation]) {
        let file = ops.acmeStatusFile(app)
        guard access(file, F_OK) == 0, let s = FileManager.default.contents(atPath: file).flatMap({ try? JSONDecoder().decode(TLSStatus.self, from: $0) }),
              s.certificate != "none" else { return }
        let names = s.domains.joined(separator: ", ")
        if s.lastAttempt == "failed" {
            out.append(AlertObservation(rule: .certificate, app: app, subject: app, active: true,
                                        message: "the certificate \(s.certificate == "acme" ? "renewal" : "issuance") of \(app) (\(names)) failed: \(s.error ?? "?")"))
            return
        }
        guard checkExpiry else {
            out.append(AlertObservation(rule: .certificate, app: app, subject: app, active: nil, message: ""))
            return
        }
        let cert = ops.servingCertificate(app)
        guard FileManager.default.fileExists(atPath: cert),
              let r = try? ctx.runner.run(Command("openssl", ["x509", "-noout", "-enddate", "-checkend", "\(14 * 86_400)", "-in", cert])) else { return }
        let until = r.stdoutText.split(separator: "\n").first { $0.hasPrefix("notAfter=") }.map { String($0.dropFirst(9)) } ?? "?"
        // -checkend exits 1 when the certificate expires within the time given.
        let expiring = r.status == 1 && r.stdoutText.contains("will expire")
        out.append(AlertObservation(rule: .certificate, app: app, subject: app, active: expiring,
                                    message: expiring ? "the certificate of \(app) (\(names)) expires \(until); hop renews from 30 days before, so renewal is failing"
                                        : "the certificate of \(app) (\(names)) is valid until \(until)"))
    }

    /// Whether this round checks certificates' expiry (at most every 5 min: a marker file's time).
    func expiryCheckDue() -> Bool {
        let marker = ctx.home.root + "/cache/alerts-expiry-checked"
        if let last = fileStatus(atPath: marker)?.modified, now.timeIntervalSince(last) < 300 { return false }
        try? FileManager.default.createDirectory(atPath: ctx.home.root + "/cache", withIntermediateDirectories: true)
        try? writeFileAtomically(marker, "\(at)\n", mode: 0o600)
        return true
    }

    /// A scheduled backup whose last run failed (its unit is failed).
    func backupObservations(_ db: HopDatabase) throws -> [AlertObservation] {
        let schedules = try db.backupSchedules()
        guard !schedules.isEmpty else { return [] }
        let units = schedules.map { BackupTimerUnits.base(app: $0.app) + ".service" }
        let props = try host.show(units, properties: ["Id", "ActiveState", "Result"])
        let byID = Dictionary(props.map { ($0["Id"] ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        return schedules.map { s in
            let unit = BackupTimerUnits.base(app: s.app) + ".service"
            let failed = byID[unit]?["ActiveState"] == "failed"
            return AlertObservation(rule: .backup, app: s.app, subject: s.app, active: failed,
                                    message: failed ? "the last scheduled backup of \(s.app) failed (\(byID[unit]?["Result"] ?? "?")); see `hop host journal \(unit)`"
                                        : "the last scheduled backup of \(s.app) succeeded")
        }
    }
}

/// Sends one notification: mail through an SMTP relay with curl (which speaks SMTP, STARTTLS and
/// AUTH; the credentials reach it in a root-only config file, never on its command line), a
/// webhook as a JSON POST.
struct Notifier {
    let runner: any ProcessRunner
    let scratch: String

    /// What a queued notification holds: the mail subject and text, and the webhook body.
    static func payload(subject: String, text: String, webhook: String) -> String {
        JSONValue.object(["subject": .string(subject), "text": .string(text), "webhook": .string(webhook)]).text()
    }

    func send(_ payload: String, via c: NotifyChannelRecord, now: Date) throws {
        guard let p = try? JSONDecoder().decode([String: String].self, from: Data(payload.utf8)) else {
            throw HopError(.internalError, "a queued notification hop cannot read")
        }
        switch c.kind {
        case "mail": try mail(subject: p["subject"] ?? "[hop]", text: p["text"] ?? "", via: c, now: now)
        default: try webhook(p["webhook"] ?? "{}", url: c.target)
        }
    }

    func webhook(_ body: String, url: String) throws {
        var cmd = Command("curl", ["--silent", "--show-error", "--max-time", "15", "--proto", "=http,https", "--output", "/dev/null",
                                   "--write-out", "%{http_code}", "-H", "Content-Type: application/json", "--data-binary", "@-", url])
        cmd.stdin = Data(body.utf8)
        let r = try runner.run(cmd)
        let code = Int(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        guard r.succeeded, (200..<300).contains(code) else {
            throw HopError(.environment, "the webhook answered \(code == 0 ? "nothing" : "HTTP \(code)")\(r.stderrText.isEmpty ? "" : ": " + r.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    func mail(subject: String, text: String, via c: NotifyChannelRecord, now: Date) throws {
        let relay = try SMTPRelay(c.target)
        let from = c.sender ?? "hop@\(relay.host)"
        let message = AlertMessage.mail(from: from, to: c.recipients, subject: subject, body: text, date: now,
                                        messageID: "\(UUID().uuidString.lowercased())@hop")
        var args = ["--silent", "--show-error", "--max-time", "30", "--url", relay.curlURL, "--mail-from", from]
        for r in c.recipients { args += ["--mail-rcpt", r] }
        args += ["--upload-file", "-"]
        switch relay.tls {
        case .required: args.append("--ssl-reqd")
        case .opportunistic: args.append("--ssl")
        case .implicit: break
        }
        var config: String?
        if let user = relay.user {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let file = scratch + "/smtp-\(UUID().uuidString).conf"
            let quoted = (user + ":" + (relay.password ?? "")).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            try writeFileAtomically(file, "user = \"\(quoted)\"\n", mode: 0o600)
            config = file
            args = ["--config", file] + args
        }
        defer { if let config { try? FileManager.default.removeItem(atPath: config) } }
        var cmd = Command("curl", args)
        cmd.stdin = Data(message.utf8)
        let r = try runner.run(cmd)
        guard r.succeeded else {
            throw HopError(.environment, "the mail relay \(relay.host):\(relay.port) refused or did not answer (curl exit \(r.status)): \(r.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

/// An SMTP relay URL: `smtp://[user[:password]@]host[:port]` (STARTTLS when offered),
/// `smtp+starttls://…` (STARTTLS required), `smtps://…` (TLS from the start).
struct SMTPRelay: Equatable {
    enum TLS: Equatable { case opportunistic, required, implicit }
    var host: String
    var port: Int
    var user: String?
    var password: String?
    var tls: TLS

    init(_ text: String) throws {
        guard let u = URLComponents(string: text), let scheme = u.scheme?.lowercased(), let host = u.host, !host.isEmpty,
              u.path.isEmpty || u.path == "/", u.query == nil else {
            throw HopError.invalid("`\(Self.redacted(text))` is not an SMTP relay URL", hint: "give smtp://[user:password@]host[:port], smtp+starttls://… or smtps://…")
        }
        switch scheme {
        case "smtp": tls = .opportunistic
        case "smtp+starttls": tls = .required
        case "smtps": tls = .implicit
        default: throw HopError.invalid("`\(scheme)` is not an SMTP scheme", hint: "use smtp://, smtp+starttls:// or smtps://")
        }
        self.host = host
        port = u.port ?? (tls == .implicit ? 465 : 587)
        user = u.user.flatMap { $0.removingPercentEncoding ?? $0 }
        password = u.password.flatMap { $0.removingPercentEncoding ?? $0 }
        // They go into curl's config file, one quoted line: a control character would end it.
        for part in [user, password].compactMap({ $0 }) where part.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw HopError.invalid("the SMTP user or password in `\(Self.redacted(text))` holds a control character")
        }
    }

    var curlURL: String { (tls == .implicit ? "smtps://" : "smtp://") + (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }

    /// The URL without its credentials, as lists and errors show it.
    static func redacted(_ text: String) -> String {
        guard var u = URLComponents(string: text) else { return "(an unreadable URL)" }
        if u.password != nil { u.password = "***" }
        return u.string ?? "(an unreadable URL)"
    }
}
