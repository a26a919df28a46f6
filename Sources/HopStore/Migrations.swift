import Foundation
import HopBasics

/// One step of the schema. Versions start at 1 and increase by one; a released migration is never
/// edited, only followed by a new one.
struct Migration: Sendable, Hashable {
    let version: Int
    let sql: String
}

enum Migrations {
    /// hop's schema history, oldest first. The last entry's version is the schema this hop writes.
    static let all: [Migration] = [
        Migration(version: 1, sql: schemaV1),
        Migration(version: 2, sql: schemaV2),
        Migration(version: 3, sql: schemaV3),
        Migration(version: 4, sql: schemaV4),
        Migration(version: 5, sql: schemaV5),
        Migration(version: 6, sql: schemaV6),
        Migration(version: 7, sql: schemaV7),
        Migration(version: 8, sql: schemaV8),
    ]

    /// The schema version this build of hop knows.
    static var latestVersion: Int { all.last?.version ?? 0 }

    /// Why `migrations` is not a usable history (nil when it is): versions must be 1, 2, 3, … in order.
    static func problem(in migrations: [Migration]) -> String? {
        for (i, m) in migrations.enumerated() where m.version != i + 1 {
            return "migration #\(i + 1) has version \(m.version); versions must be 1, 2, 3, … in order"
        }
        return nil
    }

    /// The highest applied version recorded in `schema_migrations`, 0 for a new database.
    static func currentVersion(_ conn: Connection) throws -> Int {
        let rows = try conn.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").rows([]) { try $0.int64(0) }
        return Int(rows.first ?? 0)
    }

    /// Brings the database up to the last of `migrations`, applying each newer one in its own
    /// transaction and recording it in `schema_migrations`. Safe when several processes open the same
    /// file at once: each migration re-checks the recorded version under the write lock. Throws
    /// `.environment` when the file was written by a newer hop, without changing it.
    static func apply(_ migrations: [Migration] = all, to db: Database, now: Date = Date()) throws {
        if let problem = problem(in: migrations) {
            throw HopError(.internalError, "hop's schema history is broken: \(problem)")
        }
        let known = migrations.last?.version ?? 0
        try db.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                applied_at TEXT NOT NULL
            )
            """)
        // The common case — nothing to do — takes no write lock.
        let current = try db.read { try currentVersion($0) }
        try refuseNewer(current, known: known, path: db.path)
        guard current < known else { return }

        let appliedAt = try Timestamp.encode(now)
        for migration in migrations where migration.version > current {
            try db.transaction { conn in
                let current = try currentVersion(conn)
                try refuseNewer(current, known: known, path: db.path)
                guard current < migration.version else { return } // another process got here first
                try conn.execute(migration.sql)
                try conn.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                    .run([.integer(Int64(migration.version)), .text(appliedAt)])
            }
        }
    }

    private static func refuseNewer(_ current: Int, known: Int, path: String) throws {
        guard current > known else { return }
        throw HopError(.environment, "database schema v\(current) is newer than this hop (v\(known)); upgrade hop",
                       hint: "\(path) was written by a newer hop; this one will not touch it")
    }
}

/// Schema v1: builds and their closures, the store paths they contain, and imported seeds.
///
/// - `store_paths` is shared: a path in several builds' closures is stored once. Its references
///   live in `path_refs`; a reference must name a path in `store_paths` (checked at commit).
/// - `build_paths` says which store paths make up each build's closure.
/// - Timestamps are ISO-8601 UTC text with milliseconds (see `Timestamp`), so they sort as text.
/// - `builds.id` is AUTOINCREMENT so a deleted build's id is never handed out again.
private let schemaV1 = """
    CREATE TABLE builds (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        app              TEXT    NOT NULL,
        out_path         TEXT    NOT NULL,
        drv_path         TEXT    NOT NULL,
        source_hash      TEXT    NOT NULL,
        source_path      TEXT    NOT NULL,
        builder          TEXT    NOT NULL,
        toolchain        TEXT    NOT NULL,
        toolchain_detail TEXT    NOT NULL,
        lock_json        TEXT,
        seeds_json       TEXT,
        spec_json        TEXT    NOT NULL,
        hop_version      TEXT    NOT NULL,
        started_at       TEXT    NOT NULL,
        finished_at      TEXT    NOT NULL,
        gc_root          TEXT    NOT NULL,
        closure_size     INTEGER NOT NULL CHECK (closure_size >= 0),
        path_count       INTEGER NOT NULL CHECK (path_count >= 0)
    );
    CREATE INDEX builds_by_app_newest ON builds (app, finished_at DESC, id DESC);
    CREATE INDEX builds_by_newest ON builds (finished_at DESC, id DESC);

    CREATE TABLE store_paths (
        path     TEXT    PRIMARY KEY CHECK (substr(path, 1, 1) = '/'),
        nar_hash TEXT    NOT NULL,
        nar_size INTEGER NOT NULL CHECK (nar_size >= 0),
        deriver  TEXT
    ) WITHOUT ROWID;

    CREATE TABLE path_refs (
        path TEXT NOT NULL REFERENCES store_paths (path) ON DELETE CASCADE,
        ref  TEXT NOT NULL REFERENCES store_paths (path) DEFERRABLE INITIALLY DEFERRED,
        PRIMARY KEY (path, ref)
    ) WITHOUT ROWID;
    CREATE INDEX path_refs_by_ref ON path_refs (ref);

    CREATE TABLE build_paths (
        build_id INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
        path     TEXT    NOT NULL REFERENCES store_paths (path),
        PRIMARY KEY (build_id, path)
    ) WITHOUT ROWID;
    CREATE INDEX build_paths_by_path ON build_paths (path);

    CREATE TABLE seeds (
        name        TEXT PRIMARY KEY,
        version     TEXT NOT NULL,
        store_path  TEXT NOT NULL,
        nar_hash    TEXT NOT NULL,
        origin      TEXT NOT NULL,
        imported_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """

/// Schema v2: the runtime. `generations` are what `hop deploy` activates (one row per Nix profile
/// generation of an app); `config` holds each app's config values (they never enter /nix/store).
/// A generation keeps its build's id without a foreign key: `hop gc` may drop a build record
/// while its generation is still listed.
private let schemaV2 = """
    CREATE TABLE generations (
        app         TEXT    NOT NULL,
        number      INTEGER NOT NULL CHECK (number >= 1),
        build_id    INTEGER NOT NULL,
        store_path  TEXT    NOT NULL CHECK (substr(store_path, 1, 11) = '/nix/store/'),
        app_path    TEXT    NOT NULL,
        scale_json  TEXT    NOT NULL,
        config_hash TEXT    NOT NULL,
        ports_json  TEXT    NOT NULL DEFAULT '[]',
        status      TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'retired', 'failed')),
        reason      TEXT,
        created_at  TEXT    NOT NULL,
        PRIMARY KEY (app, number)
    ) WITHOUT ROWID;
    CREATE TABLE config (
        app   TEXT NOT NULL,
        key   TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (app, key)
    ) WITHOUT ROWID;
    """

/// Schema v3: who may do what, and what was done. `users` with a role and (for the dashboard) a
/// password hash; `grants` name the apps a deployer or viewer may act on; `tokens` and `sessions`
/// keep only a SHA-256 of their secret; `audit` is append-only and hash-chained (each row's `hash`
/// covers its fields and the previous row's hash), so an edited or deleted row is detectable.
private let schemaV3 = """
    CREATE TABLE users (
        name          TEXT PRIMARY KEY,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'deployer', 'viewer')),
        password_hash TEXT,
        created_at    TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE grants (
        user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        app  TEXT NOT NULL,
        PRIMARY KEY (user, app)
    ) WITHOUT ROWID;
    CREATE TABLE tokens (
        id           TEXT PRIMARY KEY,
        user         TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        label        TEXT NOT NULL,
        secret_hash  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT,
        last_used_at TEXT
    ) WITHOUT ROWID;
    CREATE TABLE sessions (
        id_hash    TEXT PRIMARY KEY,
        user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        csrf       TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        actor     TEXT NOT NULL,
        via       TEXT NOT NULL,
        action    TEXT NOT NULL,
        app       TEXT,
        detail    TEXT NOT NULL,
        result    TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    """

/// Schema v4: addons (backing services: a database and role on hop's PostgreSQL server, say) and
/// which apps they are attached to; values hop generated for apps (`[env] X = { generate = … }`).
/// `secret` and `value` are sealed (`SecretBox`), never plaintext.
private let schemaV4 = """
    CREATE TABLE addons (
        name       TEXT PRIMARY KEY,
        type       TEXT NOT NULL,
        secret     TEXT NOT NULL,
        extensions TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE attachments (
        app        TEXT NOT NULL,
        addon      TEXT NOT NULL REFERENCES addons (name),
        prefix     TEXT NOT NULL,
        PRIMARY KEY (app, addon)
    ) WITHOUT ROWID;
    CREATE TABLE generated (
        app        TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (app, key)
    ) WITHOUT ROWID;
    """

/// v5: backups (one row per attempt, failed ones included) and backup schedules.
private let schemaV5 = """
    CREATE TABLE backups (
        id             TEXT PRIMARY KEY,
        app            TEXT NOT NULL,
        created_at     TEXT NOT NULL,
        finished_at    TEXT,
        reason         TEXT NOT NULL,
        generation     INTEGER,
        build_id       INTEGER,
        for_generation INTEGER,
        target         TEXT NOT NULL,
        location       TEXT NOT NULL,
        size           INTEGER NOT NULL DEFAULT 0,
        sha256         TEXT NOT NULL DEFAULT '',
        status         TEXT NOT NULL,
        error          TEXT NOT NULL DEFAULT '',
        verified_at    TEXT,
        summary        TEXT NOT NULL DEFAULT '{}'
    ) WITHOUT ROWID;
    CREATE INDEX backups_by_app ON backups (app, created_at);
    CREATE TABLE backup_schedules (
        app        TEXT PRIMARY KEY,
        calendar   TEXT NOT NULL,
        keep       TEXT NOT NULL,
        target     TEXT
    ) WITHOUT ROWID;
    """

/// v6: SSH keys for `git push` (each tied to a hop user), and where a build's source came from
/// (the pushed commit), which its provenance names.
private let schemaV6 = """
    CREATE TABLE ssh_keys (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user        TEXT NOT NULL,
        type        TEXT NOT NULL,
        blob        TEXT NOT NULL,
        comment     TEXT NOT NULL DEFAULT '',
        fingerprint TEXT NOT NULL UNIQUE,
        added_at    TEXT NOT NULL
    );
    CREATE INDEX ssh_keys_by_user ON ssh_keys (user);
    ALTER TABLE builds ADD COLUMN source_commit TEXT;
    ALTER TABLE builds ADD COLUMN source_uri TEXT;
    """

/// v7: the app an addon belongs to (the one whose deploy created it; nil for an admin's). An addon
/// keeps its owner when detached, so another app cannot claim it by naming it. Existing addons go
/// to the first app they are attached to. And whether a Redis addon still lives on the shared
/// server of earlier hops (every existing one does) rather than on a server of its own.
private let schemaV7 = """
    ALTER TABLE addons ADD COLUMN owner TEXT;
    UPDATE addons SET owner = (SELECT MIN(app) FROM attachments WHERE attachments.addon = addons.name);
    ALTER TABLE addons ADD COLUMN shared_server INTEGER NOT NULL DEFAULT 0;
    UPDATE addons SET shared_server = 1 WHERE type = 'redis';
    """

/// v8: where alert notifications go: an SMTP relay with recipients, or a webhook. The target
/// (an SMTP URL with its credentials, a webhook URL with its token) is sealed like config values.
private let schemaV8 = """
    CREATE TABLE notify_channels (
        name       TEXT PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('mail', 'webhook')),
        target     TEXT NOT NULL,
        recipients TEXT NOT NULL,
        sender     TEXT,
        created_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """
