import Foundation
import Crypto
import HopBasics

/// What a user may do. Root on the host is always `admin`.
public enum Role: String, Sendable, Codable, CaseIterable {
    /// Everything, on every app and on hop itself (users, tokens, host, gc, audit).
    case admin
    /// Deploy, roll back, scale, configure, restart, read logs and run one-off commands on the granted apps.
    case deployer
    /// Read-only on the granted apps.
    case viewer
}

public struct UserRecord: Sendable, Codable, Hashable {
    public var name: String
    public var role: Role
    /// The apps a deployer or viewer may act on (an admin's list is ignored).
    public var apps: [String]
    /// Whether a dashboard password is set (the hash itself never leaves HopStore's callers).
    public var hasPassword: Bool
    public var createdAt: Date
    public init(name: String, role: Role, apps: [String], hasPassword: Bool, createdAt: Date) {
        self.name = name; self.role = role; self.apps = apps; self.hasPassword = hasPassword; self.createdAt = createdAt
    }
}

public struct TokenRecord: Sendable, Codable, Hashable {
    /// Public identifier (the part of the token before the `.`).
    public var id: String
    public var user: String
    public var label: String
    /// SHA-256 (hex) of the secret part; the secret itself is shown once and never stored.
    public var secretHash: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUsedAt: Date?
    public init(id: String, user: String, label: String, secretHash: String, createdAt: Date, expiresAt: Date?,
                revokedAt: Date? = nil, lastUsedAt: Date? = nil) {
        self.id = id; self.user = user; self.label = label; self.secretHash = secretHash; self.createdAt = createdAt
        self.expiresAt = expiresAt; self.revokedAt = revokedAt; self.lastUsedAt = lastUsedAt
    }
}

public struct SessionRecord: Sendable, Codable, Hashable {
    public var idHash: String
    public var user: String
    public var csrf: String
    public var createdAt: Date
    public var expiresAt: Date
    public init(idHash: String, user: String, csrf: String, createdAt: Date, expiresAt: Date) {
        self.idHash = idHash; self.user = user; self.csrf = csrf; self.createdAt = createdAt; self.expiresAt = expiresAt
    }
}

/// One audit entry. `hash` = SHA-256 over `prevHash` and the entry's fields (see `AuditEntry.digest`).
public struct AuditEntry: Sendable, Codable, Hashable {
    public var seq: Int64
    public var at: Date
    public var actor: String
    /// The interface: `cli`, `api`, `dashboard`, `git`.
    public var via: String
    public var action: String
    public var app: String?
    /// The request's parameters, as stable JSON text.
    public var detail: String
    /// `ok`, or `error: <code>: <message>`.
    public var result: String
    public var prevHash: String
    public var hash: String

    /// The chain hash of an entry with these fields after `prevHash`: each field length-prefixed so
    /// no two different entries share a preimage.
    public static func digest(seq: Int64, at: String, actor: String, via: String, action: String, app: String?,
                              detail: String, result: String, prevHash: String) -> String {
        var text = ""
        for field in [String(seq), at, actor, via, action, app ?? "\u{0}", detail, result, prevHash] {
            text += "\(field.utf8.count):\(field)\n"
        }
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The hash of the first entry's predecessor.
    public static let genesis = String(repeating: "0", count: 64)
}

extension HopDatabase {
    // MARK: Users

    public func addUser(name: String, role: Role, apps: [String], passwordHash: String?, now: Date = Date()) throws {
        let created = try Timestamp.encode(now)
        try db.transaction { conn in
            let exists = try conn.prepare("SELECT 1 FROM users WHERE name = ?").rows([.text(name)]) { _ in true }
            guard exists.isEmpty else { throw HopError(.conflict, "user \(name) already exists", hint: "`hop user list` shows the users") }
            try conn.prepare("INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)")
                .run([.text(name), .text(role.rawValue), .text(passwordHash), .text(created)])
            for app in Set(apps) { try conn.prepare("INSERT INTO grants (user, app) VALUES (?, ?)").run([.text(name), .text(app)]) }
        }
    }

    /// Every user with their grants; read again only after the database changed (every API
    /// request authenticates through `user(_:)`).
    public func users() throws -> [UserRecord] {
        try db.cachedRead("users") { conn in
            let grants = try conn.cached("SELECT user, app FROM grants ORDER BY app").rows([]) { (try $0.text(0), try $0.text(1)) }
            return try conn.cached("SELECT name, role, password_hash IS NOT NULL, created_at FROM users ORDER BY name").rows([]) { row in
                let name = try row.text(0)
                return UserRecord(name: name, role: try decodeRole(try row.text(1)), apps: grants.filter { $0.0 == name }.map(\.1),
                                  hasPassword: try row.int64(2) != 0, createdAt: try decodeTime(try row.text(3)))
            }
        }
    }

    public func user(_ name: String) throws -> UserRecord? { try users().first { $0.name == name } }

    public func passwordHash(user: String) throws -> String? {
        try db.read { conn in
            try conn.prepare("SELECT password_hash FROM users WHERE name = ?").rows([.text(user)]) { $0.optionalText(0) }.first ?? nil
        }
    }

    public func setPasswordHash(user: String, _ hash: String) throws {
        try db.transaction { conn in
            try conn.prepare("UPDATE users SET password_hash = ? WHERE name = ?").run([.text(hash), .text(user)])
            try conn.prepare("DELETE FROM sessions WHERE user = ?").run([.text(user)])
        }
    }

    /// Removes a user with their grants, tokens and sessions. Returns false when there was none.
    @discardableResult
    public func removeUser(_ name: String) throws -> Bool {
        try db.transaction { conn in
            let found = try conn.prepare("SELECT 1 FROM users WHERE name = ?").rows([.text(name)]) { _ in true }
            guard !found.isEmpty else { return false }
            for table in ["grants", "tokens", "sessions", "ssh_keys"] {
                try conn.prepare("DELETE FROM \(table) WHERE user = ?").run([.text(name)])
            }
            try conn.prepare("DELETE FROM users WHERE name = ?").run([.text(name)])
            return true
        }
    }

    // MARK: Tokens

    public func addToken(_ t: TokenRecord) throws {
        try db.transaction { conn in
            try conn.prepare("INSERT INTO tokens (id, user, label, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
                .run([.text(t.id), .text(t.user), .text(t.label), .text(t.secretHash), .text(try Timestamp.encode(t.createdAt)),
                      .text(try t.expiresAt.map(Timestamp.encode))])
        }
    }

    public func tokens(user: String? = nil) throws -> [TokenRecord] {
        try db.read { conn in
            let sql = "SELECT \(tokenColumns) FROM tokens"
                + (user == nil ? "" : " WHERE user = ?") + " ORDER BY created_at, id"
            return try conn.prepare(sql).rows(user.map { [.text($0)] } ?? [], decodeToken)
        }
    }

    public func token(id: String) throws -> TokenRecord? {
        try db.read { conn in
            try conn.cached("SELECT \(tokenColumns) FROM tokens WHERE id = ?").rows([.text(id)], decodeToken).first
        }
    }

    /// Marks a token revoked; false when there is no such token or it already was.
    @discardableResult
    public func revokeToken(id: String, now: Date = Date()) throws -> Bool {
        let at = try Timestamp.encode(now)
        return try db.transaction { conn in
            let live = try conn.prepare("SELECT 1 FROM tokens WHERE id = ? AND revoked_at IS NULL").rows([.text(id)]) { _ in true }
            guard !live.isEmpty else { return false }
            try conn.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?").run([.text(at), .text(id)])
            return true
        }
    }

    public func touchToken(id: String, now: Date = Date()) throws {
        let at = try Timestamp.encode(now)
        try db.transaction { conn in try conn.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?").run([.text(at), .text(id)]) }
    }

    // MARK: Sessions

    public func addSession(_ s: SessionRecord) throws {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM sessions WHERE expires_at < ?").run([.text(try Timestamp.encode(s.createdAt))])
            try conn.prepare("INSERT INTO sessions (id_hash, user, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
                .run([.text(s.idHash), .text(s.user), .text(s.csrf), .text(try Timestamp.encode(s.createdAt)),
                      .text(try Timestamp.encode(s.expiresAt))])
        }
    }

    public func session(idHash: String) throws -> SessionRecord? {
        try db.read { conn in
            try conn.prepare("SELECT id_hash, user, csrf, created_at, expires_at FROM sessions WHERE id_hash = ?").rows([.text(idHash)]) { row in
                SessionRecord(idHash: try row.text(0), user: try row.text(1), csrf: try row.text(2),
                              createdAt: try decodeTime(try row.text(3)), expiresAt: try decodeTime(try row.text(4)))
            }.first
        }
    }

    public func removeSession(idHash: String) throws {
        try db.transaction { conn in try conn.prepare("DELETE FROM sessions WHERE id_hash = ?").run([.text(idHash)]) }
    }

    // MARK: Audit

    /// Appends an entry to the chain in one transaction (the previous hash is read under the write
    /// lock, so concurrent writers from several processes still form one chain). Returns it.
    @discardableResult
    public func appendAudit(actor: String, via: String, action: String, app: String?, detail: String, result: String,
                            now: Date = Date()) throws -> AuditEntry {
        let at = try Timestamp.encode(now)
        return try db.transaction { conn in
            let last = try conn.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").rows([]) { (try $0.int64(0), try $0.text(1)) }.first
            let seq = (last?.0 ?? 0) + 1
            let prev = last?.1 ?? AuditEntry.genesis
            let hash = AuditEntry.digest(seq: seq, at: at, actor: actor, via: via, action: action, app: app, detail: detail,
                                         result: result, prevHash: prev)
            try conn.prepare("INSERT INTO audit (seq, at, actor, via, action, app, detail, result, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .run([.integer(seq), .text(at), .text(actor), .text(via), .text(action), .text(app), .text(detail), .text(result),
                      .text(prev), .text(hash)])
            return AuditEntry(seq: seq, at: try decodeTime(at), actor: actor, via: via, action: action, app: app, detail: detail,
                              result: result, prevHash: prev, hash: hash)
        }
    }

    /// Entries oldest first, with the exact timestamp text each was hashed with.
    public func auditRows(app: String? = nil, limit: Int? = nil) throws -> [(entry: AuditEntry, atText: String)] {
        try db.read { conn in
            var sql = "SELECT seq, at, actor, via, action, app, detail, result, prev_hash, hash FROM audit"
            var args: [SQLValue] = []
            if let app { sql += " WHERE app = ?"; args.append(.text(app)) }
            if let limit { sql = "SELECT * FROM (\(sql) ORDER BY seq DESC LIMIT \(max(0, limit))) ORDER BY seq" } else { sql += " ORDER BY seq" }
            return try conn.prepare(sql).rows(args) { row in
                let atText = try row.text(1)
                return (AuditEntry(seq: try row.int64(0), at: try decodeTime(atText), actor: try row.text(2), via: try row.text(3),
                                   action: try row.text(4), app: row.optionalText(5), detail: try row.text(6), result: try row.text(7),
                                   prevHash: try row.text(8), hash: try row.text(9)), atText)
            }
        }
    }
}

func decodeRole(_ text: String) throws -> Role {
    guard let r = Role(rawValue: text) else { throw HopError(.internalError, "database holds an unknown role \"\(text)\"") }
    return r
}

func decodeTime(_ text: String) throws -> Date {
    guard let d = Timestamp.decode(text) else { throw HopError(.internalError, "database holds a malformed timestamp \"\(text)\"") }
    return d
}

private let tokenColumns = "id, user, label, secret_hash, created_at, expires_at, revoked_at, last_used_at"

private func decodeToken(_ row: Statement) throws -> TokenRecord {
    TokenRecord(id: try row.text(0), user: try row.text(1), label: try row.text(2), secretHash: try row.text(3),
                createdAt: try decodeTime(try row.text(4)), expiresAt: try row.optionalText(5).map(decodeTime),
                revokedAt: try row.optionalText(6).map(decodeTime), lastUsedAt: try row.optionalText(7).map(decodeTime))
}
