import Foundation
import HopBasics

/// An alert as metrics.db keeps it: a condition on one subject (an app, a domain, the host) that
/// is pending (true, not yet for long enough), firing, or resolved (kept as history).
public struct AlertRecord: Codable, Sendable, Equatable {
    public var id: Int64
    /// `rule/subject`: one open alert per key.
    public var key: String
    public var rule: String
    public var app: String?
    public var subject: String
    /// `pending`, `firing` or `resolved`.
    public var status: String
    /// When the condition was first seen true (this time).
    public var since: Int
    public var firedAt: Int?
    public var resolvedAt: Int?
    /// When the condition was first seen false again while firing (the hysteresis clock).
    public var clearSince: Int?
    public var message: String

    public init(id: Int64 = 0, key: String, rule: String, app: String?, subject: String, status: String, since: Int,
                firedAt: Int? = nil, resolvedAt: Int? = nil, clearSince: Int? = nil, message: String) {
        self.id = id; self.key = key; self.rule = rule; self.app = app; self.subject = subject; self.status = status
        self.since = since; self.firedAt = firedAt; self.resolvedAt = resolvedAt; self.clearSince = clearSince; self.message = message
    }
}

/// A notification to send (or sent) on one channel for one alert event.
public struct NotificationRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var alertID: Int64
    public var channel: String
    /// `firing`, `resolved` or `test`.
    public var event: String
    public var payload: String
    public var attempts: Int
    public var nextAt: Int
    public var sentAt: Int?
    public var lastError: String?
    public var createdAt: Int

    public init(id: Int64, alertID: Int64, channel: String, event: String, payload: String, attempts: Int, nextAt: Int,
                sentAt: Int?, lastError: String?, createdAt: Int) {
        self.id = id; self.alertID = alertID; self.channel = channel; self.event = event; self.payload = payload
        self.attempts = attempts; self.nextAt = nextAt; self.sentAt = sentAt; self.lastError = lastError; self.createdAt = createdAt
    }
}

/// A silence: notifications of matching alerts are not sent until `until` (alerts still change state).
public struct SilenceRecord: Codable, Sendable, Equatable {
    public var id: Int64
    /// nil matches every app (and the host); a rule nil matches every rule.
    public var app: String?
    public var rule: String?
    public var until: Int
    public var by: String
    public var reason: String

    public func matches(rule r: String, app a: String?, now: Int) -> Bool {
        now < until && (rule == nil || rule == r) && (app == nil || app == a)
    }
}

/// Alerts, their notifications' outbox and silences, in metrics.db beside the measures they are
/// judged on (written by the measures timer every 10 s; hop.db is left to operations).
extension MetricsStore {
    static let alertSchema = """
        CREATE TABLE IF NOT EXISTS alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, rule TEXT NOT NULL, app TEXT, subject TEXT NOT NULL,
            status TEXT NOT NULL, since INTEGER NOT NULL, fired_at INTEGER, resolved_at INTEGER, clear_since INTEGER, message TEXT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS alerts_open ON alerts (key) WHERE status != 'resolved';
        CREATE TABLE IF NOT EXISTS notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL, channel TEXT NOT NULL, event TEXT NOT NULL,
            payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, sent_at INTEGER,
            last_error TEXT, created_at INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_at) WHERE sent_at IS NULL;
        CREATE TABLE IF NOT EXISTS silences (
            id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT, rule TEXT, until INTEGER NOT NULL, by TEXT NOT NULL, reason TEXT NOT NULL
        );
        """

    /// Open alerts (pending or firing), by key.
    public func openAlerts() throws -> [String: AlertRecord] {
        let list = try db.read { conn in
            try conn.prepare("SELECT \(Self.alertColumns) FROM alerts WHERE status != 'resolved'").rows([], Self.alert)
        }
        return Dictionary(list.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Alerts firing now and those resolved or pending since `since`, newest first.
    public func alerts(since: Int, limit: Int = 200) throws -> [AlertRecord] {
        try db.read { conn in
            try conn.prepare("""
                SELECT \(Self.alertColumns) FROM alerts WHERE status = 'firing' OR since >= ? OR COALESCE(resolved_at, 0) >= ?
                ORDER BY CASE status WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, since DESC LIMIT ?
                """).rows([.integer(Int64(since)), .integer(Int64(since)), .integer(Int64(limit))], Self.alert)
        }
    }

    /// Writes what one evaluation decided, in one transaction: changed alerts (new ones get their
    /// id), pending ones gone, and the notifications the transitions call for (`outbox(alert)`
    /// is asked once an alert has its id). Returns the written alerts.
    @discardableResult
    public func applyAlerts(upsert: [AlertRecord], delete: [Int64], outbox: (AlertRecord) -> [NotificationRecord]) throws -> [AlertRecord] {
        try db.transaction { conn in
            for id in delete { try conn.cached("DELETE FROM alerts WHERE id = ? AND status = 'pending'").run([.integer(id)]) }
            var written: [AlertRecord] = []
            for var a in upsert {
                let values: [SQLValue] = [.text(a.key), .text(a.rule), .text(a.app), .text(a.subject), .text(a.status), .integer(Int64(a.since)),
                                          .integer(a.firedAt.map(Int64.init)), .integer(a.resolvedAt.map(Int64.init)),
                                          .integer(a.clearSince.map(Int64.init)), .text(a.message)]
                if a.id == 0 {
                    try conn.cached("""
                        INSERT INTO alerts (key, rule, app, subject, status, since, fired_at, resolved_at, clear_since, message)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).run(values)
                    a.id = conn.lastInsertRowID
                } else {
                    try conn.cached("""
                        UPDATE alerts SET key = ?, rule = ?, app = ?, subject = ?, status = ?, since = ?, fired_at = ?, resolved_at = ?,
                        clear_since = ?, message = ? WHERE id = ?
                        """).run(values + [.integer(a.id)])
                }
                for n in outbox(a) {
                    try conn.cached("""
                        INSERT INTO notifications (alert_id, channel, event, payload, attempts, next_at, created_at) VALUES (?, ?, ?, ?, 0, ?, ?)
                        """).run([.integer(a.id), .text(n.channel), .text(n.event), .text(n.payload), .integer(Int64(n.nextAt)), .integer(Int64(n.createdAt))])
                }
                written.append(a)
            }
            return written
        }
    }

    /// Queues one notification (a test message) outside any alert.
    public func enqueue(_ n: NotificationRecord) throws {
        try db.transaction { conn in
            try conn.cached("""
                INSERT INTO notifications (alert_id, channel, event, payload, attempts, next_at, created_at) VALUES (?, ?, ?, ?, 0, ?, ?)
                """).run([.integer(n.alertID), .text(n.channel), .text(n.event), .text(n.payload), .integer(Int64(n.nextAt)), .integer(Int64(n.createdAt))])
        }
    }

    /// Notifications due at `now`: unsent, under `maxAttempts`, oldest first.
    public func dueNotifications(now: Int, maxAttempts: Int) throws -> [NotificationRecord] {
        try db.read { conn in
            try conn.prepare("""
                SELECT \(Self.notificationColumns) FROM notifications WHERE sent_at IS NULL AND attempts < ? AND next_at <= ? ORDER BY id LIMIT 100
                """).rows([.integer(Int64(maxAttempts)), .integer(Int64(now))], Self.notification)
        }
    }

    /// Notifications of an alert (or every recent one with nil), newest first.
    public func notifications(alertID: Int64? = nil, limit: Int = 100) throws -> [NotificationRecord] {
        try db.read { conn in
            if let alertID {
                return try conn.prepare("SELECT \(Self.notificationColumns) FROM notifications WHERE alert_id = ? ORDER BY id DESC LIMIT ?")
                    .rows([.integer(alertID), .integer(Int64(limit))], Self.notification)
            }
            return try conn.prepare("SELECT \(Self.notificationColumns) FROM notifications ORDER BY id DESC LIMIT ?")
                .rows([.integer(Int64(limit))], Self.notification)
        }
    }

    /// Records one delivery attempt: sent, or failed with the next try at `retryAt`.
    public func recordDelivery(id: Int64, sentAt: Int?, error: String?, retryAt: Int) throws {
        try db.transaction { conn in
            try conn.cached("UPDATE notifications SET attempts = attempts + 1, sent_at = ?, last_error = ?, next_at = ? WHERE id = ?")
                .run([.integer(sentAt.map(Int64.init)), .text(error), .integer(Int64(retryAt)), .integer(id)])
        }
    }

    public func addSilence(app: String?, rule: String?, until: Int, by: String, reason: String) throws -> SilenceRecord {
        try db.transaction { conn in
            try conn.cached("INSERT INTO silences (app, rule, until, by, reason) VALUES (?, ?, ?, ?, ?)")
                .run([.text(app), .text(rule), .integer(Int64(until)), .text(by), .text(reason)])
            return SilenceRecord(id: conn.lastInsertRowID, app: app, rule: rule, until: until, by: by, reason: reason)
        }
    }

    /// Ends a silence now; false when there is none with that id.
    public func endSilence(id: Int64, now: Int) throws -> Bool {
        try db.transaction { conn in
            try conn.cached("UPDATE silences SET until = ? WHERE id = ? AND until > ?").run([.integer(Int64(now)), .integer(id), .integer(Int64(now))])
            return conn.changes > 0
        }
    }

    /// Silences still in force at `now`.
    public func silences(now: Int) throws -> [SilenceRecord] {
        try db.read { conn in
            try conn.prepare("SELECT id, app, rule, until, by, reason FROM silences WHERE until > ? ORDER BY id").rows([.integer(Int64(now))]) { s in
                SilenceRecord(id: try s.int64(0), app: s.optionalText(1), rule: s.optionalText(2), until: Int(try s.int64(3)),
                              by: try s.text(4), reason: try s.text(5))
            }
        }
    }

    /// Drops resolved alerts, sent (or abandoned) notifications and ended silences older than `before`.
    public func pruneAlerts(before: Int) throws {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM alerts WHERE status = 'resolved' AND resolved_at < ?").run([.integer(Int64(before))])
            try conn.prepare("DELETE FROM notifications WHERE created_at < ?").run([.integer(Int64(before))])
            try conn.prepare("DELETE FROM silences WHERE until < ?").run([.integer(Int64(before))])
        }
    }

    static let alertColumns = "id, key, rule, app, subject, status, since, fired_at, resolved_at, clear_since, message"
    static func alert(_ s: Statement) throws -> AlertRecord {
        func opt(_ i: Int32) throws -> Int? { s.isNull(i) ? nil : Int(try s.int64(i)) }
        return AlertRecord(id: try s.int64(0), key: try s.text(1), rule: try s.text(2), app: s.optionalText(3), subject: try s.text(4),
                           status: try s.text(5), since: Int(try s.int64(6)), firedAt: try opt(7), resolvedAt: try opt(8),
                           clearSince: try opt(9), message: try s.text(10))
    }

    static let notificationColumns = "id, alert_id, channel, event, payload, attempts, next_at, sent_at, last_error, created_at"
    static func notification(_ s: Statement) throws -> NotificationRecord {
        NotificationRecord(id: try s.int64(0), alertID: try s.int64(1), channel: try s.text(2), event: try s.text(3), payload: try s.text(4),
                           attempts: Int(try s.int64(5)), nextAt: Int(try s.int64(6)), sentAt: s.isNull(7) ? nil : Int(try s.int64(7)),
                           lastError: s.optionalText(8), createdAt: Int(try s.int64(9)))
    }
}
