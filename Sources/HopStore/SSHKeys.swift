import Foundation
import HopBasics

/// An SSH public key that may `git push` as a hop user.
public struct SSHKeyRecord: Sendable, Codable, Hashable {
    public var id: Int64
    public var user: String
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`…
    public var type: String
    /// The key blob, base64 as in authorized_keys.
    public var blob: String
    public var comment: String
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    public var fingerprint: String
    public var addedAt: Date
    public init(id: Int64 = 0, user: String, type: String, blob: String, comment: String, fingerprint: String, addedAt: Date) {
        self.id = id; self.user = user; self.type = type; self.blob = blob; self.comment = comment
        self.fingerprint = fingerprint; self.addedAt = addedAt
    }
}

extension HopDatabase {
    static let sshKeyColumns = "id, user, type, blob, comment, fingerprint, added_at"

    /// Records a key and returns its id. A key already recorded (for anyone) is a conflict: one key
    /// is one identity.
    public func addSSHKey(_ k: SSHKeyRecord) throws -> Int64 {
        try db.transaction { conn in
            let taken = try conn.prepare("SELECT user FROM ssh_keys WHERE fingerprint = ?").rows([.text(k.fingerprint)]) { try $0.text(0) }
            if let owner = taken.first {
                throw HopError(.conflict, "the key \(k.fingerprint) is already registered for \(owner)",
                               hint: "a key stands for one user; remove it first (`hop ssh-key remove \(k.fingerprint)`)")
            }
            try conn.prepare("INSERT INTO ssh_keys (user, type, blob, comment, fingerprint, added_at) VALUES (?, ?, ?, ?, ?, ?)")
                .run([.text(k.user), .text(k.type), .text(k.blob), .text(k.comment), .text(k.fingerprint), .text(try Timestamp.encode(k.addedAt))])
            return conn.lastInsertRowID
        }
    }

    /// Keys of `user`, or of everyone (users that still exist only), oldest first.
    public func sshKeys(user: String? = nil) throws -> [SSHKeyRecord] {
        try db.read { conn in
            let base = "SELECT \(Self.sshKeyColumns) FROM ssh_keys WHERE user IN (SELECT name FROM users)"
            if let user {
                return try conn.prepare(base + " AND user = ? ORDER BY id").rows([.text(user)], Self.decodeSSHKey)
            }
            return try conn.prepare(base + " ORDER BY id").rows([], Self.decodeSSHKey)
        }
    }

    public func sshKey(id: Int64) throws -> SSHKeyRecord? {
        try db.read { conn in
            try conn.prepare("SELECT \(Self.sshKeyColumns) FROM ssh_keys WHERE id = ? AND user IN (SELECT name FROM users)")
                .rows([.integer(id)], Self.decodeSSHKey).first
        }
    }

    /// Removes keys by id or fingerprint; the removed ones.
    public func removeSSHKey(idOrFingerprint: String) throws -> [SSHKeyRecord] {
        try db.transaction { conn in
            let found = try conn.prepare("SELECT \(Self.sshKeyColumns) FROM ssh_keys WHERE fingerprint = ? OR CAST(id AS TEXT) = ?")
                .rows([.text(idOrFingerprint), .text(idOrFingerprint)], Self.decodeSSHKey)
            for k in found { try conn.prepare("DELETE FROM ssh_keys WHERE id = ?").run([.integer(k.id)]) }
            return found
        }
    }

    static func decodeSSHKey(_ row: Statement) throws -> SSHKeyRecord {
        let text = try row.text(6)
        guard let at = Timestamp.decode(text) else { throw HopError(.internalError, "database holds a malformed timestamp \"\(text)\"") }
        return SSHKeyRecord(id: try row.int64(0), user: try row.text(1), type: try row.text(2), blob: try row.text(3),
                            comment: try row.text(4), fingerprint: try row.text(5), addedAt: at)
    }
}
