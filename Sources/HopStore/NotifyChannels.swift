import Foundation
import HopBasics

/// Where alert notifications go. `target` is the plaintext (an `smtp://user:password@host:port`
/// URL, or a webhook URL that often carries a token): hop.db holds it sealed.
public struct NotifyChannelRecord: Sendable, Equatable {
    public var name: String
    /// `mail` or `webhook`.
    public var kind: String
    public var target: String
    /// Mail recipients (none for a webhook).
    public var recipients: [String]
    /// The mail's From address (nil: hop@ the relay's host name).
    public var sender: String?
    public var createdAt: String

    public init(name: String, kind: String, target: String, recipients: [String], sender: String?, createdAt: String) {
        self.name = name; self.kind = kind; self.target = target; self.recipients = recipients; self.sender = sender; self.createdAt = createdAt
    }
}

extension HopDatabase {
    static func channelContext(_ name: String) -> String { "notify_channels/\(name)/target" }

    /// Adds a channel; false when one of that name exists (nothing is changed).
    public func addNotifyChannel(_ c: NotifyChannelRecord) throws -> Bool {
        let sealed = try secrets().seal(c.target, context: Self.channelContext(c.name))
        return try db.transaction { conn in
            try conn.prepare("""
                INSERT OR IGNORE INTO notify_channels (name, kind, target, recipients, sender, created_at) VALUES (?, ?, ?, ?, ?, ?)
                """).run([.text(c.name), .text(c.kind), .text(sealed), .text(c.recipients.joined(separator: ",")), .text(c.sender), .text(c.createdAt)])
            return conn.changes > 0
        }
    }

    public func removeNotifyChannel(name: String) throws -> Bool {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM notify_channels WHERE name = ?").run([.text(name)])
            return conn.changes > 0
        }
    }

    /// Every channel, targets opened.
    public func notifyChannels() throws -> [NotifyChannelRecord] {
        let rows = try db.read { conn in
            try conn.prepare("SELECT name, kind, target, recipients, sender, created_at FROM notify_channels ORDER BY name").rows([]) { r in
                NotifyChannelRecord(name: try r.text(0), kind: try r.text(1), target: try r.text(2),
                                    recipients: try r.text(3).split(separator: ",").map(String.init), sender: r.optionalText(4), createdAt: try r.text(5))
            }
        }
        guard !rows.isEmpty else { return [] }
        let box = try secrets()
        return try rows.map { var c = $0; c.target = try box.open(c.target, context: Self.channelContext(c.name)); return c }
    }
}
