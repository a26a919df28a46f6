import Foundation
import HopBasics
import HopStore

// Alerts as every interface sees them, silences, and where notifications go.

/// One alert: what is (or was) wrong, since when, and how its notifications went.
public struct AlertInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var rule: String
    public var app: String?
    public var subject: String
    /// `pending`, `firing` or `resolved`.
    public var status: String
    public var message: String
    public var since: String
    public var firedAt: String?
    public var resolvedAt: String?
    /// Whether a silence holds its notifications now.
    public var silenced: Bool
    /// Each notification: channel, event (`firing`/`resolved`), sent or the last error.
    public var notifications: [NotificationInfo]
}

public struct NotificationInfo: Codable, Sendable, Equatable {
    public var channel: String
    public var event: String
    public var attempts: Int
    public var sentAt: String?
    public var lastError: String?
}

public struct SilenceInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var app: String?
    public var rule: String?
    public var until: String
    public var by: String
    public var reason: String
    init(_ s: SilenceRecord) {
        id = s.id; app = s.app; rule = s.rule; until = isoTime(Date(timeIntervalSince1970: TimeInterval(s.until))); by = s.by; reason = s.reason
    }
}

public struct AlertList: Codable, Sendable {
    public var alerts: [AlertInfo]
    public var silences: [SilenceInfo]
}

func isoSeconds(_ t: Int?) -> String? { t.map { isoTime(Date(timeIntervalSince1970: TimeInterval($0))) } }

public enum ListAlerts: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        /// How far back resolved alerts are listed: `90s`, `15m`, `24h`, `7d` (default 24h, at most 30d).
        public var since: String?
        public init(since: String? = nil) { self.since = since }
        public static var fieldSchemas: [String: JSONValue] { ["since": ["type": "string", "pattern": "^[0-9]{1,7}[smhd]$"]] }
    }
    public static let name = "listAlerts"
    public static let summary = "Alerts firing now and those resolved recently, with their notifications, and the silences in force (of the apps the caller may read; the host's to admins)."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/alerts")
    public static func run(_ input: Input, _ call: OperationCall) throws -> AlertList { try call.ops.alerts(since: input.since) }
}

public enum SilenceAlerts: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        /// The app whose alerts are silenced (none: every app and the host; admins only).
        public var app: String?
        /// One rule (none: every rule).
        public var rule: String?
        /// For how long: `30m`, `2h`, `1d` (at most 30d).
        public var duration: String
        public var reason: String?
        public init(app: String? = nil, rule: String? = nil, duration: String, reason: String? = nil) {
            self.app = app; self.rule = rule; self.duration = duration; self.reason = reason
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["app": FieldSchema.appName, "rule": ["type": "string", "enum": .array(AlertRule.allCases.map { .string($0.rawValue) })],
             "duration": ["type": "string", "pattern": "^[0-9]{1,7}[smhd]$"], "reason": ["type": "string", "maxLength": 500]]
        }
    }
    public static let name = "silenceAlerts"
    public static let summary = "Hold the notifications of an app's alerts (or one rule's) for a while; the alerts still change state. Audited: who silenced what."
    public static let permission = Permission.deploy
    public static let audit = AuditMode.runner
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/alerts/silences", status: 201)
    public static func app(of input: Input) -> String? { input.app }
    public static func auditDetail(_ input: Input) -> [String: String] {
        ["rule": input.rule ?? "*", "duration": input.duration, "reason": input.reason ?? ""]
    }
    public static func run(_ input: Input, _ call: OperationCall) throws -> SilenceInfo {
        try call.ops.silence(app: input.app, rule: input.rule, duration: input.duration, reason: input.reason ?? "")
    }
}

public enum EndSilence: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var id: String
        public init(id: String) { self.id = id }
        public static var fieldSchemas: [String: JSONValue] { ["id": ["type": "string", "pattern": "^[0-9]{1,18}$"]] }
    }
    public static let name = "endSilence"
    public static let summary = "End a silence now."
    public static let permission = Permission.admin
    public static let audit = AuditMode.runner
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/alerts/silences/{id}")
    public static func auditDetail(_ input: Input) -> [String: String] { ["id": input.id] }
    public static func run(_ input: Input, _ call: OperationCall) throws -> SilenceInfo { try call.ops.endSilence(id: input.id) }
}

/// A notification channel as lists show it: never its credentials.
public struct NotifyChannelInfo: Codable, Sendable, Equatable {
    public var name: String
    /// `mail` or `webhook`.
    public var kind: String
    /// The relay or webhook URL, its password and any query (tokens) left out.
    public var target: String
    public var recipients: [String]
    public var sender: String?
    public var createdAt: String
    init(_ c: NotifyChannelRecord) {
        name = c.name; kind = c.kind; recipients = c.recipients; sender = c.sender; createdAt = c.createdAt
        target = NotifyChannelInfo.shown(c.target)
    }
    /// scheme://[user@]host[:port][/path] — no password, no query (a webhook's token is often there).
    static func shown(_ url: String) -> String {
        guard var u = URLComponents(string: url) else { return "(unreadable)" }
        if u.password != nil { u.password = "***" }
        if u.query != nil { u.query = "***" }
        // A webhook path often is the secret (Slack's /services/T…/B…/…): keep its first part only.
        let parts = u.path.split(separator: "/")
        if parts.count > 1 { u.path = "/" + parts[0] + "/..." }
        return u.string ?? "(unreadable)"
    }
}

public enum ListNotifyChannels: HopOperation {
    public static let name = "listNotifyChannels"
    public static let summary = "Where alert notifications go (SMTP relays and webhooks), without their credentials."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/notify")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [NotifyChannelInfo] {
        try (call.ctx.existingDatabase()?.notifyChannels() ?? []).map(NotifyChannelInfo.init)
    }
}

public enum AddNotifyChannel: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var name: String
        /// `mail` or `webhook`.
        public var kind: String
        /// mail: `smtp://[user:password@]host[:port]` (STARTTLS when offered), `smtp+starttls://…` or
        /// `smtps://…`; webhook: an http(s) URL that takes a JSON POST (Slack, Mattermost, Discord).
        public var target: String
        /// mail: the recipients.
        public var to: [String]?
        /// mail: the From address (default hop@ the relay's host).
        public var from: String?
        public init(name: String, kind: String, target: String, to: [String]? = nil, from: String? = nil) {
            self.name = name; self.kind = kind; self.target = target; self.to = to; self.from = from
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["name": ["type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[a-z][a-z0-9-]*$"],
             "kind": ["type": "string", "enum": ["mail", "webhook"]],
             "target": ["type": "string", "minLength": 1, "maxLength": 2000],
             "to": ["type": "array", "maxItems": 20, "items": ["type": "string", "minLength": 3, "maxLength": 254]],
             "from": ["type": "string", "minLength": 3, "maxLength": 254]]
        }
    }
    public static let name = "addNotifyChannel"
    public static let summary = "Send alert notifications by mail through an SMTP relay, or to a webhook. The URL is sealed at rest."
    public static let permission = Permission.admin
    public static let audit = AuditMode.runner
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/notify", status: 201)
    public static func auditDetail(_ input: Input) -> [String: String] {
        ["name": input.name, "kind": input.kind, "target": NotifyChannelInfo.shown(input.target)]
    }
    public static func run(_ input: Input, _ call: OperationCall) throws -> NotifyChannelInfo {
        try call.ops.addNotifyChannel(input)
    }
}

public enum RemoveNotifyChannel: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var name: String
        public init(name: String) { self.name = name }
        public static var fieldSchemas: [String: JSONValue] { ["name": ["type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[a-z][a-z0-9-]*$"]] }
    }
    public static let name = "removeNotifyChannel"
    public static let summary = "Stop sending notifications to a channel."
    public static let permission = Permission.admin
    public static let audit = AuditMode.runner
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/notify/{name}")
    public static func auditDetail(_ input: Input) -> [String: String] { ["name": input.name] }
    public static func run(_ input: Input, _ call: OperationCall) throws -> NotifyChannelInfo {
        guard let db = try call.ctx.existingDatabase(), let c = try db.notifyChannels().first(where: { $0.name == input.name }) else {
            throw HopError(.notFound, "no notification channel \(input.name)", hint: "`hop notify list` lists them")
        }
        _ = try db.removeNotifyChannel(name: input.name)
        return NotifyChannelInfo(c)
    }
}

public enum TestNotifyChannel: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var name: String
        public init(name: String) { self.name = name }
        public static var fieldSchemas: [String: JSONValue] { ["name": ["type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[a-z][a-z0-9-]*$"]] }
    }
    public static let name = "testNotifyChannel"
    public static let summary = "Send a test notification to a channel now and say whether it was taken."
    public static let permission = Permission.admin
    public static let audit = AuditMode.runner
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/notify/{name}/test")
    public static func auditDetail(_ input: Input) -> [String: String] { ["name": input.name] }
    public static func run(_ input: Input, _ call: OperationCall) throws -> NotifyChannelInfo { try call.ops.testNotifyChannel(input.name) }
}

extension Operations {
    public func alerts(since: String?) throws -> AlertList {
        let window = try Self.window(since ?? "24h")
        let now = Int(Date().timeIntervalSince1970)
        let store = try MetricsStore(path: ctx.home.root + "/metrics.db")
        let admin = ctx.principal.may(.admin, app: nil)
        let visible = { (app: String?) in app.map { self.ctx.principal.may(.read, app: $0) } ?? admin }
        let silences = try store.silences(now: now)
        let alerts = try store.alerts(since: now - window).filter { visible($0.app) }.map { a in
            AlertInfo(id: a.id, rule: a.rule, app: a.app, subject: a.subject, status: a.status, message: a.message,
                      since: isoSeconds(a.since)!, firedAt: isoSeconds(a.firedAt), resolvedAt: isoSeconds(a.resolvedAt),
                      silenced: silences.contains { $0.matches(rule: a.rule, app: a.app, now: now) },
                      notifications: try store.notifications(alertID: a.id).map {
                          NotificationInfo(channel: $0.channel, event: $0.event, attempts: $0.attempts, sentAt: isoSeconds($0.sentAt), lastError: $0.lastError)
                      })
        }
        return AlertList(alerts: alerts, silences: silences.filter { visible($0.app) }.map(SilenceInfo.init))
    }

    public func silence(app: String?, rule: String?, duration: String, reason: String) throws -> SilenceInfo {
        if let app { _ = try Self.checkedApp(app) } else { try ctx.authorize(.admin, app: nil, action: "silence every app's alerts") }
        if let rule, AlertRule(rawValue: rule) == nil {
            throw HopError.invalid("`\(rule)` is not an alert rule", hint: "rules: " + AlertRule.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let seconds = try Self.window(duration)
        let store = try MetricsStore(path: ctx.home.root + "/metrics.db")
        return SilenceInfo(try store.addSilence(app: app, rule: rule, until: Int(Date().timeIntervalSince1970) + seconds,
                                                by: ctx.principal.name, reason: reason))
    }

    public func endSilence(id text: String) throws -> SilenceInfo {
        let now = Int(Date().timeIntervalSince1970)
        let store = try MetricsStore(path: ctx.home.root + "/metrics.db")
        guard let id = Int64(text), let s = try store.silences(now: now).first(where: { $0.id == id }), try store.endSilence(id: id, now: now) else {
            throw HopError(.notFound, "no silence \(text) in force", hint: "`hop alerts` lists the silences")
        }
        return SilenceInfo(s)
    }

    public func addNotifyChannel(_ input: AddNotifyChannel.Input) throws -> NotifyChannelInfo {
        let recipients = input.to ?? []
        switch input.kind {
        case "mail":
            _ = try SMTPRelay(input.target)
            guard !recipients.isEmpty else { throw HopError.invalid("a mail channel needs recipients", hint: "add --to ADDRESS") }
            for a in recipients + (input.from.map { [$0] } ?? []) where !Self.isMailAddress(a) {
                throw HopError.invalid("`\(a)` is not a mail address")
            }
        case "webhook":
            guard let u = URLComponents(string: input.target), ["http", "https"].contains(u.scheme?.lowercased() ?? ""), !(u.host ?? "").isEmpty else {
                throw HopError.invalid("`\(NotifyChannelInfo.shown(input.target))` is not an http(s) URL", hint: "give the webhook's URL")
            }
            guard recipients.isEmpty, input.from == nil else { throw HopError.invalid("a webhook takes no --to or --from") }
        default:
            throw HopError.invalid("`\(input.kind)` is not a channel kind", hint: "mail or webhook")
        }
        let c = NotifyChannelRecord(name: input.name, kind: input.kind, target: input.target, recipients: recipients, sender: input.from,
                                    createdAt: isoTime(Date()))
        guard try ctx.database(create: true).addNotifyChannel(c) else {
            throw HopError(.conflict, "a notification channel \(input.name) exists", hint: "remove it first with `hop notify remove \(input.name)`")
        }
        return NotifyChannelInfo(c)
    }

    /// Sends a test message now (not through the outbox: the caller waits for the answer).
    public func testNotifyChannel(_ name: String) throws -> NotifyChannelInfo {
        guard let c = try ctx.existingDatabase()?.notifyChannels().first(where: { $0.name == name }) else {
            throw HopError(.notFound, "no notification channel \(name)", hint: "`hop notify list` lists them")
        }
        let probe = AlertRecord(key: "test/\(name)", rule: "test", app: nil, subject: "hop", status: "firing",
                                since: Int(Date().timeIntervalSince1970), message: "a test notification from hop (\(ctx.principal.name))")
        let text = "[hop] TEST: \(probe.message)"
        do {
            try Notifier(runner: ctx.runner, scratch: ctx.home.root + "/tmp")
                .send(Notifier.payload(subject: "[hop] test notification", text: text, webhook: AlertMessage.webhook(probe, nil, text: text, link: nil)),
                      via: c, now: Date())
        } catch let e as HopError {
            throw HopError(.environment, "the test notification to \(name) was not taken: \(e.message)", hint: "check the channel's URL and the relay or receiver")
        }
        return NotifyChannelInfo(c)
    }

    /// local@domain, printable, no spaces or angle brackets (what goes in a header and RCPT TO).
    static func isMailAddress(_ a: String) -> Bool {
        let parts = a.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && a.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f && !"<>,;\"\\()[]".unicodeScalars.contains($0) }
    }
}
