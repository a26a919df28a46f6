import Foundation
import HopBasics

/// A backing service instance: one database and role (PostgreSQL) hop made on its server.
public struct AddonRecord: Sendable, Codable, Hashable {
    public var name: String
    public var type: String
    /// The password, decrypted (stored sealed).
    public var password: String
    public var extensions: [String]
    public var createdAt: Date
    /// A Redis addon made by an earlier hop: an ACL user of the one shared server, its keys under
    /// `NAME:` (until `hop addon migrate` gives it a server of its own). Optional: absent is false.
    public var sharedServer: Bool?
    public init(name: String, type: String, password: String, extensions: [String] = [], createdAt: Date, sharedServer: Bool? = nil) {
        self.name = name; self.type = type; self.password = password; self.extensions = extensions; self.createdAt = createdAt
        self.sharedServer = sharedServer
    }
    public var onSharedServer: Bool { sharedServer == true }
}

public struct AttachmentRecord: Sendable, Codable, Hashable {
    public var app: String
    public var addon: String
    /// Variable prefix (`""` for the first addon of a type: DATABASE_URL; `CACHE_` → CACHE_DATABASE_URL).
    public var prefix: String
}

extension HopDatabase {
    static func addonContext(_ name: String) -> String { "addon\u{0}\(name)" }

    public func addAddon(_ a: AddonRecord) throws {
        let sealed = try secrets().seal(a.password, context: Self.addonContext(a.name))
        let ext = String(decoding: try JSONEncoder().encode(a.extensions), as: UTF8.self)
        try db.transaction { conn in
            try conn.prepare("INSERT INTO addons (name, type, secret, extensions, created_at, shared_server) VALUES (?, ?, ?, ?, ?, ?)")
                .run([.text(a.name), .text(a.type), .text(sealed), .text(ext), .text(try Timestamp.encode(a.createdAt)), .integer(a.onSharedServer ? 1 : 0)])
        }
    }

    public func setAddonExtensions(_ name: String, _ extensions: [String]) throws {
        let ext = String(decoding: try JSONEncoder().encode(extensions), as: UTF8.self)
        try db.transaction { conn in
            try conn.prepare("UPDATE addons SET extensions = ? WHERE name = ?").run([.text(ext), .text(name)])
        }
    }

    /// Every addon (or the one named), passwords decrypted.
    public func addons(named name: String? = nil) throws -> [AddonRecord] {
        let sql = "SELECT name, type, secret, extensions, created_at, shared_server FROM addons" + (name == nil ? "" : " WHERE name = ?") + " ORDER BY name"
        let rows = try db.read { conn in
            try conn.prepare(sql).rows(name.map { [.text($0)] } ?? []) {
                (try $0.text(0), try $0.text(1), try $0.text(2), try $0.text(3), try $0.text(4), try $0.int64(5))
            }
        }
        guard !rows.isEmpty else { return [] }
        let box = try secrets()
        return try rows.map { r in
            guard let ext = try? JSONDecoder().decode([String].self, from: Data(r.3.utf8)) else {
                throw HopError(.environment, "the extensions of addon \(r.0) in hop.db do not decode")
            }
            return AddonRecord(name: r.0, type: r.1, password: try box.open(r.2, context: Self.addonContext(r.0)),
                               extensions: ext, createdAt: Timestamp.decode(r.4) ?? Date(timeIntervalSince1970: 0), sharedServer: r.5 != 0 ? true : nil)
        }
    }

    public func addon(name: String) throws -> AddonRecord? { try addons(named: name).first }

    /// The app an addon belongs to (kept when it is detached); nil for an admin's addon.
    public func addonOwner(_ name: String) throws -> String? {
        try db.read { conn in
            try conn.prepare("SELECT owner FROM addons WHERE name = ?").rows([.text(name)]) { $0.optionalText(0) }
        }.first ?? nil
    }

    /// Records that a Redis addon now has a server of its own.
    public func setAddonOnOwnServer(_ name: String) throws {
        try db.transaction { conn in
            try conn.prepare("UPDATE addons SET shared_server = 0 WHERE name = ?").run([.text(name)])
        }
    }

    public func setAddonOwner(_ name: String, app: String?) throws {
        try db.transaction { conn in
            try conn.prepare("UPDATE addons SET owner = ? WHERE name = ?").run([app.map { .text($0) } ?? .null, .text(name)])
        }
    }

    /// Removes an addon and its attachments in one transaction.
    public func removeAddon(_ name: String) throws {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM attachments WHERE addon = ?").run([.text(name)])
            try conn.prepare("DELETE FROM addons WHERE name = ?").run([.text(name)])
        }
    }

    public func attach(app: String, addon: String, prefix: String) throws {
        try db.transaction { conn in
            try conn.prepare("INSERT INTO attachments (app, addon, prefix) VALUES (?, ?, ?) ON CONFLICT (app, addon) DO UPDATE SET prefix = excluded.prefix")
                .run([.text(app), .text(addon), .text(prefix)])
        }
    }

    public func detach(app: String, addon: String) throws {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM attachments WHERE app = ? AND addon = ?").run([.text(app), .text(addon)])
        }
    }

    public func attachments(app: String? = nil, addon: String? = nil) throws -> [AttachmentRecord] {
        try db.read { conn in
            try conn.prepare("SELECT app, addon, prefix FROM attachments ORDER BY app, addon").rows([]) {
                AttachmentRecord(app: try $0.text(0), addon: try $0.text(1), prefix: try $0.text(2))
            }
        }.filter { (app == nil || $0.app == app) && (addon == nil || $0.addon == addon) }
    }

    static func generatedContext(app: String, key: String) -> String { "generated\u{0}\(app)\u{0}\(key)" }

    /// Values hop generated for an app, decrypted.
    public func generatedValues(app: String) throws -> [String: String] {
        let rows = try db.read { conn in
            try conn.prepare("SELECT key, value FROM generated WHERE app = ?").rows([.text(app)]) { (try $0.text(0), try $0.text(1)) }
        }
        guard !rows.isEmpty else { return [:] }
        let box = try secrets()
        return Dictionary(uniqueKeysWithValues: try rows.map { ($0.0, try box.open($0.1, context: Self.generatedContext(app: app, key: $0.0))) })
    }

    /// Keeps a generated value unless one exists (the first one stays: stable across deploys);
    /// returns the value kept.
    public func keepGenerated(app: String, key: String, value: String) throws -> String {
        let sealed = try secrets().seal(value, context: Self.generatedContext(app: app, key: key))
        try db.transaction { conn in
            try conn.prepare("INSERT INTO generated (app, key, value) VALUES (?, ?, ?) ON CONFLICT (app, key) DO NOTHING")
                .run([.text(app), .text(key), .text(sealed)])
        }
        return try generatedValues(app: app)[key] ?? value
    }

    public func forgetGenerated(app: String) throws {
        try db.transaction { conn in try conn.prepare("DELETE FROM generated WHERE app = ?").run([.text(app)]) }
    }
}
