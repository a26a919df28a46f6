import Foundation
import HopBasics

/// One generation of an app: what `hop deploy` built and activated. The number is the app's Nix
/// profile generation (`profile-N-link`), so `nix-env --list-generations --profile` agrees.
public struct GenerationRecord: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable {
        /// Being activated (a deploy or rollback is under way, or was killed).
        case pending
        /// Serving now. At most one per app.
        case active
        /// Served before; may be rolled back to.
        case retired
        /// Failed its health gate or watch window; never served, or was rolled back from.
        case failed
    }
    public var app: String
    public var number: Int
    public var buildID: Int64
    /// The generation's own store path: units, nginx site and manifest, referencing the app build.
    public var storePath: String
    /// The app build's output path.
    public var appPath: String
    /// Process name → instance count.
    public var scale: [String: Int]
    /// SHA-256 of the config values the generation was deployed with (the values stay outside the store).
    public var configHash: String
    /// TCP ports of the web instances (empty for socket or static apps).
    public var ports: [Int]
    public var status: Status
    /// Why a generation failed or was rolled back from.
    public var reason: String?
    public var createdAt: Date

    public init(app: String, number: Int, buildID: Int64, storePath: String, appPath: String, scale: [String: Int],
                configHash: String, ports: [Int] = [], status: Status, reason: String? = nil, createdAt: Date) {
        self.app = app; self.number = number; self.buildID = buildID; self.storePath = storePath; self.appPath = appPath
        self.scale = scale; self.configHash = configHash; self.ports = ports; self.status = status; self.reason = reason
        self.createdAt = createdAt
    }
}

extension HopDatabase {
    // MARK: Generations

    /// Inserts or replaces generation `g.number` of `g.app`. When `g.status` is `.active`, every
    /// other generation of the app that was active becomes `.retired` in the same transaction.
    public func putGeneration(_ g: GenerationRecord) throws {
        let created = try Timestamp.encode(g.createdAt)
        let scale = String(decoding: try JSONEncoder.stable.encode(g.scale), as: UTF8.self)
        let ports = String(decoding: try JSONEncoder.stable.encode(g.ports), as: UTF8.self)
        try db.transaction { conn in
            if g.status == .active {
                try conn.prepare("UPDATE generations SET status = 'retired' WHERE app = ? AND status = 'active' AND number != ?")
                    .run([.text(g.app), .integer(Int64(g.number))])
            }
            try conn.prepare("""
                INSERT OR REPLACE INTO generations (app, number, build_id, store_path, app_path, scale_json, config_hash,
                    ports_json, status, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).run([.text(g.app), .integer(Int64(g.number)), .integer(g.buildID), .text(g.storePath), .text(g.appPath),
                          .text(scale), .text(g.configHash), .text(ports), .text(g.status.rawValue), .text(g.reason),
                          .text(created)])
        }
    }

    /// Sets a generation's status (and reason); `.active` retires the app's other active generation.
    public func setGenerationStatus(app: String, number: Int, _ status: GenerationRecord.Status, reason: String? = nil) throws {
        try db.transaction { conn in
            if status == .active {
                try conn.prepare("UPDATE generations SET status = 'retired' WHERE app = ? AND status = 'active' AND number != ?")
                    .run([.text(app), .integer(Int64(number))])
            }
            try conn.prepare("UPDATE generations SET status = ?, reason = COALESCE(?, reason) WHERE app = ? AND number = ?")
                .run([.text(status.rawValue), .text(reason), .text(app), .integer(Int64(number))])
        }
    }

    /// The app's generations, oldest first.
    public func generations(app: String) throws -> [GenerationRecord] {
        try db.read { conn in
            var decoder = GenerationDecoder()
            return try conn.cached("SELECT \(generationColumns) FROM generations WHERE app = ? ORDER BY number").rows([.text(app)]) {
                try decoder.decode($0)
            }
        }
    }

    /// Every generation of every app, by app then number (one query, for listings). Decoded once
    /// per change of the database: a long-running server listing apps again and again gets the
    /// records it decoded before until anything (in any process) commits a change.
    public func allGenerations() throws -> [GenerationRecord] {
        try db.cachedRead("allGenerations") { conn in
            var decoder = GenerationDecoder()
            return try conn.cached("SELECT \(generationColumns) FROM generations ORDER BY app, number").rows([]) { try decoder.decode($0) }
        }
    }

    public func generation(app: String, number: Int) throws -> GenerationRecord? {
        try db.read { conn in
            var decoder = GenerationDecoder()
            return try conn.cached("SELECT \(generationColumns) FROM generations WHERE app = ? AND number = ?")
                .rows([.text(app), .integer(Int64(number))]) { try decoder.decode($0) }.first
        }
    }

    /// The generation serving now, if any.
    public func activeGeneration(app: String) throws -> GenerationRecord? {
        try db.read { conn in
            var decoder = GenerationDecoder()
            return try conn.cached("SELECT \(generationColumns) FROM generations WHERE app = ? AND status = 'active'")
                .rows([.text(app)]) { try decoder.decode($0) }.first
        }
    }

    /// Every app with at least one generation, sorted.
    public func deployedApps() throws -> [String] {
        try db.read { conn in
            try conn.prepare("SELECT DISTINCT app FROM generations ORDER BY app").rows([]) { try $0.text(0) }
        }
    }

    /// Every TCP port held by a generation hop still keeps (of any app). A retired generation keeps
    /// its ports: a rollback starts it on them again, so no newer generation may take them (it would
    /// still be serving on them when the rollback's health gate runs). `hop gc` frees them.
    public func portsInUse() throws -> Set<Int> {
        let texts = try db.read { conn in
            try conn.prepare("SELECT ports_json FROM generations").rows([]) { try $0.text(0) }
        }
        var ports = Set<Int>()
        for t in texts { ports.formUnion((try? JSONDecoder().decode([Int].self, from: Data(t.utf8))) ?? []) }
        return ports
    }

    public func deleteGeneration(app: String, number: Int) throws {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM generations WHERE app = ? AND number = ?").run([.text(app), .integer(Int64(number))])
        }
    }

    /// Forgets an app's generations and config (`hop destroy`).
    public func forgetApp(_ app: String, config alsoConfig: Bool) throws {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM generations WHERE app = ?").run([.text(app)])
            if alsoConfig {
                try conn.prepare("DELETE FROM config WHERE app = ?").run([.text(app)])
                try conn.prepare("DELETE FROM generated WHERE app = ?").run([.text(app)])
            }
        }
    }

    // MARK: Config

    /// The app's config values, sorted by key (decrypted: they are stored sealed, see `SecretBox`).
    public func config(app: String) throws -> [(key: String, value: String)] {
        let rows = try db.read { conn in
            try conn.prepare("SELECT key, value FROM config WHERE app = ? ORDER BY key").rows([.text(app)]) { (try $0.text(0), try $0.text(1)) }
        }
        guard !rows.isEmpty else { return [] }
        let box = try secrets()
        return try rows.map { ($0.0, try box.open($0.1, context: Self.configContext(app: app, key: $0.0))) }
    }

    /// Sets and unsets keys in one transaction; values are sealed before they reach SQLite.
    public func updateConfig(app: String, set: [(String, String)], unset: [String]) throws {
        let box = set.isEmpty ? nil : try secrets()
        let sealed = try set.map { ($0.0, try box!.seal($0.1, context: Self.configContext(app: app, key: $0.0))) }
        try db.transaction { conn in
            for (k, v) in sealed {
                try conn.prepare("INSERT INTO config (app, key, value) VALUES (?, ?, ?) ON CONFLICT (app, key) DO UPDATE SET value = excluded.value")
                    .run([.text(app), .text(k), .text(v)])
            }
            for k in unset {
                try conn.prepare("DELETE FROM config WHERE app = ? AND key = ?").run([.text(app), .text(k)])
            }
        }
    }

    static func configContext(app: String, key: String) -> String { "config\u{0}\(app)\u{0}\(key)" }

    /// Seals config values written before secrets were encrypted, then checkpoints the WAL so no
    /// plaintext stays in it (secure_delete zeroes what the update frees).
    func sealLegacyConfig() throws {
        let legacy = try db.read { conn in
            try conn.prepare("SELECT app, key, value FROM config WHERE value NOT LIKE 'enc1:%'").rows([]) {
                (try $0.text(0), try $0.text(1), try $0.text(2))
            }
        }
        guard !legacy.isEmpty else { return }
        let box = try secrets()
        try db.transaction { conn in
            for (app, key, value) in legacy {
                try conn.prepare("UPDATE config SET value = ? WHERE app = ? AND key = ?")
                    .run([.text(try box.seal(value, context: Self.configContext(app: app, key: key))), .text(app), .text(key)])
            }
        }
        try db.checkpoint()
    }
}

private let generationColumns = "app, number, build_id, store_path, app_path, scale_json, config_hash, ports_json, status, reason, created_at"

/// Decodes generation rows. The scale and ports columns are small JSON texts that repeat from row
/// to row (`{"web":1}`, `[]`): each distinct text is decoded once per query.
private struct GenerationDecoder {
    private var scales: [String: [String: Int]] = [:]
    private var portLists: [String: [Int]] = [:]

    mutating func decode(_ row: Statement) throws -> GenerationRecord {
        let scaleText = try row.text(5), portsText = try row.text(7)
        let scale: [String: Int]
        if let known = scales[scaleText] {
            scale = known
        } else {
            guard let decoded = try? JSONDecoder().decode([String: Int].self, from: Data(scaleText.utf8)) else {
                throw HopError(.internalError, "database holds a malformed scale \"\(scaleText)\" for generation \(try row.int64(1)) of \(try row.text(0))")
            }
            scale = decoded
            scales[scaleText] = decoded
        }
        let ports: [Int]
        if let known = portLists[portsText] {
            ports = known
        } else {
            guard let decoded = try? JSONDecoder().decode([Int].self, from: Data(portsText.utf8)) else {
                throw HopError(.internalError, "database holds malformed ports \"\(portsText)\" for generation \(try row.int64(1)) of \(try row.text(0))")
            }
            ports = decoded
            portLists[portsText] = decoded
        }
        let statusText = try row.text(8)
        guard let status = GenerationRecord.Status(rawValue: statusText) else {
            throw HopError(.internalError, "database holds an unknown generation status \"\(statusText)\"")
        }
        let createdText = try row.text(10)
        guard let created = Timestamp.decode(createdText) else {
            throw HopError(.internalError, "database holds a malformed timestamp \"\(createdText)\"")
        }
        return GenerationRecord(app: try row.text(0), number: Int(try row.int64(1)), buildID: try row.int64(2), storePath: try row.text(3),
                                appPath: try row.text(4), scale: scale, configHash: try row.text(6), ports: ports, status: status,
                                reason: row.optionalText(9), createdAt: created)
    }
}
