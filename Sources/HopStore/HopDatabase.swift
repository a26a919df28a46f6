import Foundation
import HopBasics

/// hop's state: builds, their closures, and imported seeds, in one SQLite file.
///
/// Guarantees:
/// - Opening brings the schema up to date (each migration in its own transaction) and refuses,
///   with `.environment`, a file written by a newer hop.
/// - Every method is atomic: a write either lands completely or not at all.
/// - Safe to share between threads (one connection, serialised) and between processes (WAL; a
///   writer waits up to 5 s for another process's write lock, then fails with `.environment`).
/// - Failures are `HopError`s: `.environment` for problems with the file or machine,
///   `.internalError` for constraint violations and other bugs, both carrying SQLite's message.
public final class HopDatabase: Sendable {
    /// The schema version this hop writes.
    public static var schemaVersion: Int { Migrations.latestVersion }

    /// The database file.
    public var path: String { db.path }

    let db: Database

    /// Opens the database at `path`, creating it (and missing parent directories) when absent,
    /// and applies any migrations it lacks.
    public init(path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw HopError(.environment, "could not create the directory for database \(path): \(error.localizedDescription)",
                               hint: "check that \(parent) can be created by this user")
            }
        }
        // A file that exists but is empty was truncated (SQLite never leaves a created database at 0
        // bytes for long): opening it would silently start an empty state and forget every app.
        if let st = fileStatus(atPath: path), st.size == 0, Date().timeIntervalSince(st.modified) > 5 {
            throw HopError(.environment, "the database \(path) is empty (0 bytes): it was truncated or replaced",
                           hint: "restore hop.db from a backup; remove the empty file only to start over with no apps")
        }
        db = try Database(path: path)
        try Migrations.apply(to: db)
        try sealLegacyConfig()
    }

    /// The key that seals this database's secrets: `secrets.key` beside it (created on first use).
    public func secrets() throws -> SecretBox {
        try SecretBox.load(directory: (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent)
    }

    // MARK: Builds

    /// Records a finished build and its closure in one transaction and returns the new build's id
    /// (`build.id` is ignored). Every store path is upserted (a path already known from another
    /// build is updated in place, keeping a known deriver when the new one is nil), its references
    /// recorded, and the path made a member of this build.
    ///
    /// `closure` must be closed: every reference must be one of its paths. Otherwise, or when any
    /// row violates the schema (a relative path, a negative size), nothing is recorded.
    @discardableResult
    public func recordBuild(_ build: BuildRecord, closure: [StorePathInfo]) throws -> Int64 {
        if let problem = closureProblem(closure) {
            throw HopError(.internalError, "not recording the build of \(build.app): its closure \(problem)",
                           hint: "pass the full closure (`nix path-info --json --recursive`) of \(build.outPath)")
        }
        let started = try Timestamp.encode(build.startedAt)
        let finished = try Timestamp.encode(build.finishedAt)
        return try db.transaction { conn in
            try conn.prepare("""
                INSERT INTO builds (app, out_path, drv_path, source_hash, source_path, builder, toolchain,
                    toolchain_detail, lock_json, seeds_json, spec_json, hop_version, started_at, finished_at,
                    gc_root, closure_size, path_count, source_commit, source_uri)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).run([
                    .text(build.app), .text(build.outPath), .text(build.drvPath), .text(build.sourceHash),
                    .text(build.sourcePath), .text(build.builder), .text(build.toolchain), .text(build.toolchainDetail),
                    .text(build.lockJSON), .text(build.seedsJSON), .text(build.specJSON), .text(build.hopVersion),
                    .text(started), .text(finished), .text(build.gcRoot), .integer(build.closureSize),
                    .integer(Int64(build.pathCount)), .text(build.sourceCommit), .text(build.sourceURI),
                ])
            let id = conn.lastInsertRowID
            let upsertPath = try conn.prepare("""
                INSERT INTO store_paths (path, nar_hash, nar_size, deriver) VALUES (?, ?, ?, ?)
                ON CONFLICT (path) DO UPDATE SET nar_hash = excluded.nar_hash, nar_size = excluded.nar_size,
                    deriver = COALESCE(excluded.deriver, store_paths.deriver)
                """)
            let insertRef = try conn.prepare("INSERT OR REPLACE INTO path_refs (path, ref) VALUES (?, ?)")
            let insertMember = try conn.prepare("INSERT OR IGNORE INTO build_paths (build_id, path) VALUES (?, ?)")
            for info in closure {
                try upsertPath.run([.text(info.path), .text(info.narHash), .integer(info.narSize), .text(info.deriver)])
                for ref in info.references {
                    try insertRef.run([.text(info.path), .text(ref)])
                }
                try insertMember.run([.integer(id), .text(info.path)])
            }
            return id
        }
    }

    /// The build with this id, or nil.
    public func build(id: Int64) throws -> BuildRecord? {
        try db.read { conn in
            try conn.prepare("SELECT \(buildColumns) FROM builds WHERE id = ?").rows([.integer(id)], decodeBuild).first
        }
    }

    /// Builds of `app` (all apps when nil), newest first: by `finishedAt`, then by id.
    public func builds(app: String? = nil) throws -> [BuildRecord] {
        try db.read { conn in
            if let app {
                return try conn.prepare("SELECT \(buildColumns) FROM builds WHERE app = ? ORDER BY finished_at DESC, id DESC")
                    .rows([.text(app)], decodeBuild)
            }
            return try conn.prepare("SELECT \(buildColumns) FROM builds ORDER BY finished_at DESC, id DESC")
                .rows([], decodeBuild)
        }
    }

    /// The newest build of `app` (the first of `builds(app:)`), or nil when it has none.
    public func latestBuild(app: String) throws -> BuildRecord? {
        try db.read { conn in
            try conn.prepare("SELECT \(buildColumns) FROM builds WHERE app = ? ORDER BY finished_at DESC, id DESC LIMIT 1")
                .rows([.text(app)], decodeBuild).first
        }
    }

    /// The closure recorded for a build, sorted by path (bytewise), each path's references sorted;
    /// empty when there is no such build.
    public func closure(buildID: Int64) throws -> [StorePathInfo] {
        try db.read { conn in
            var infos = try conn.prepare("""
                SELECT sp.path, sp.nar_hash, sp.nar_size, sp.deriver
                FROM build_paths bp JOIN store_paths sp ON sp.path = bp.path
                WHERE bp.build_id = ? ORDER BY sp.path
                """).rows([.integer(buildID)]) { row in
                    StorePathInfo(path: try row.text(0), narHash: try row.text(1), narSize: try row.int64(2),
                                  deriver: row.optionalText(3), references: [])
                }
            let refs = try conn.prepare("""
                SELECT r.path, r.ref
                FROM build_paths bp JOIN path_refs r ON r.path = bp.path
                WHERE bp.build_id = ? ORDER BY r.path, r.ref
                """).rows([.integer(buildID)]) { (try $0.text(0), try $0.text(1)) }
            var index: [String: Int] = [:]
            for (i, info) in infos.enumerated() { index[info.path] = i }
            for (path, ref) in refs {
                if let i = index[path] { infos[i].references.append(ref) }
            }
            return infos
        }
    }

    /// Every app that has at least one build, sorted.
    public func apps() throws -> [String] {
        try db.read { conn in
            try conn.prepare("SELECT DISTINCT app FROM builds ORDER BY app").rows([]) { try $0.text(0) }
        }
    }

    /// Deletes a build and its closure membership, then every store path no remaining build
    /// contains (with its references), in one transaction. Returns false when there was no such build.
    /// Only hop's records change: nothing is removed from the Nix store.
    @discardableResult
    public func deleteBuild(id: Int64) throws -> Bool {
        try db.transaction { conn in
            try conn.prepare("DELETE FROM builds WHERE id = ?").run([.integer(id)])
            guard conn.changes > 0 else { return false }
            try conn.execute("""
                DELETE FROM store_paths
                WHERE NOT EXISTS (SELECT 1 FROM build_paths bp WHERE bp.path = store_paths.path)
                """)
            return true
        }
    }

    // MARK: Seeds

    /// Records a seed, replacing every field of an existing seed with the same name.
    public func upsertSeed(_ seed: SeedRecord) throws {
        let importedAt = try Timestamp.encode(seed.importedAt)
        try db.transaction { conn in
            try conn.prepare("""
                INSERT INTO seeds (name, version, store_path, nar_hash, origin, imported_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET version = excluded.version, store_path = excluded.store_path,
                    nar_hash = excluded.nar_hash, origin = excluded.origin, imported_at = excluded.imported_at
                """).run([.text(seed.name), .text(seed.version), .text(seed.storePath), .text(seed.narHash),
                          .text(seed.origin), .text(importedAt)])
        }
    }

    /// Every seed, sorted by name.
    public func seeds() throws -> [SeedRecord] {
        try db.read { conn in
            try conn.prepare("SELECT \(seedColumns) FROM seeds ORDER BY name").rows([], decodeSeed)
        }
    }

    /// The seed with this name, or nil.
    public func seed(name: String) throws -> SeedRecord? {
        try db.read { conn in
            try conn.prepare("SELECT \(seedColumns) FROM seeds WHERE name = ?").rows([.text(name)], decodeSeed).first
        }
    }
}

// MARK: - Row mapping and checks (pure)

private let buildColumns = """
    id, app, out_path, drv_path, source_hash, source_path, builder, toolchain, toolchain_detail, \
    lock_json, seeds_json, spec_json, hop_version, started_at, finished_at, gc_root, closure_size, path_count, \
    source_commit, source_uri
    """

private func decodeBuild(_ row: Statement) throws -> BuildRecord {
    BuildRecord(
        id: try row.int64(0), app: try row.text(1), outPath: try row.text(2), drvPath: try row.text(3),
        sourceHash: try row.text(4), sourcePath: try row.text(5), builder: try row.text(6),
        toolchain: try row.text(7), toolchainDetail: try row.text(8), lockJSON: row.optionalText(9),
        seedsJSON: row.optionalText(10), specJSON: try row.text(11), hopVersion: try row.text(12),
        startedAt: try date(row, 13), finishedAt: try date(row, 14), gcRoot: try row.text(15),
        closureSize: try row.int64(16), pathCount: Int(try row.int64(17)), sourceCommit: row.optionalText(18),
        sourceURI: row.optionalText(19))
}

private let seedColumns = "name, version, store_path, nar_hash, origin, imported_at"

private func decodeSeed(_ row: Statement) throws -> SeedRecord {
    SeedRecord(name: try row.text(0), version: try row.text(1), storePath: try row.text(2),
               narHash: try row.text(3), origin: try row.text(4), importedAt: try date(row, 5))
}

private func date(_ row: Statement, _ column: Int32) throws -> Date {
    let text = try row.text(column)
    guard let date = Timestamp.decode(text) else {
        throw HopError(.internalError, "database holds a malformed timestamp \"\(text)\"",
                       hint: "timestamps must look like 2024-01-31T12:00:00.000Z; was the database edited by hand?")
    }
    return date
}

/// Why `closure` cannot be recorded, or nil: a path listed twice with different details, or a
/// reference to a path that is not in the closure.
func closureProblem(_ closure: [StorePathInfo]) -> String? {
    var byPath: [String: StorePathInfo] = [:]
    for info in closure {
        if let seen = byPath[info.path],
           seen.narHash != info.narHash || seen.narSize != info.narSize || seen.deriver != info.deriver
            || Set(seen.references) != Set(info.references) {
            return "lists \(info.path) twice with different details"
        }
        byPath[info.path] = info
    }
    for info in closure {
        if let missing = info.references.first(where: { byPath[$0] == nil }) {
            return "is not closed: \(info.path) references \(missing), which is not in it"
        }
    }
    return nil
}
