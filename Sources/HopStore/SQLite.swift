import Foundation
import HopBasics
internal import CSQLite

/// A value bound to a statement parameter. Only the four storage classes hop uses.
enum SQLValue: Sendable, Hashable {
    case integer(Int64)
    case text(String)
    case blob(Data)
    case null

    /// `.text` for a string, `.null` for nil.
    static func text(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    /// `.integer` for a number, `.null` for nil.
    static func integer(_ i: Int64?) -> SQLValue { i.map { .integer($0) } ?? .null }
}

/// One SQLite connection, opened once and serialised by a lock: every use goes through `read` or
/// `transaction`, which hold the lock for the whole closure, so a `Connection` or `Statement` is
/// only ever touched by one thread at a time. Calling `read`/`transaction` from inside one of
/// those closures deadlocks; use the `Connection` it hands you instead.
final class Database: @unchecked Sendable {
    /// The file this connection was opened on, for error messages.
    let path: String
    private let handle: OpaquePointer
    private let lock = NSLock()
    /// Statements compiled once and kept (the hot reads of a long-running server); guarded by `lock`.
    private var statements: [String: Statement] = [:]
    /// Results of `cachedRead`, each with the `ChangeStamp` it was read at; guarded by `lock`.
    private var results: [String: (stamp: ChangeStamp, value: Any)] = [:]

    /// How long a writer waits for another process's write lock before failing with `.environment`.
    static let busyTimeoutMilliseconds: Int32 = 5_000

    /// Opens (creating if needed) the database file, switches it to WAL, turns foreign keys on and
    /// sets the busy timeout. Throws `.environment` when the file cannot be opened or is not SQLite.
    /// `readOnly` opens an existing file of another program (Nix's) as it is: no journal mode
    /// change, no pragma written.
    init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw HopError(.environment, "could not open database \(path): \(message)",
                           hint: "check that the directory exists and is writable by this user")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, Self.busyTimeoutMilliseconds)
        if readOnly { return }
        do {
            let conn = Connection(handle: db, path: path, database: nil)
            // Switching to WAL needs an exclusive lock and SQLite may answer SQLITE_BUSY without
            // calling the busy handler (several processes opening a new file at once): retry for up
            // to the busy timeout. Reading the journal mode touches the file, so this is also where
            // "not a database" shows.
            var attempt = 0
            while true {
                var stmt: OpaquePointer?
                let prc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, nil)
                let src = prc == SQLITE_OK ? sqlite3_step(stmt) : prc
                sqlite3_finalize(stmt)
                let primary = src & 0xff
                if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED), attempt < Int(Self.busyTimeoutMilliseconds) / 10 {
                    attempt += 1
                    usleep(10_000)
                    continue
                }
                break
            }
            let mode = try conn.prepare("PRAGMA journal_mode").rows([]) { try $0.text(0) }.first
            guard mode?.lowercased() == "wal" else {
                throw HopError(.environment, "database \(path): could not switch to WAL journal mode (got \(mode ?? "nothing"))",
                               hint: "put hop's state directory on a local filesystem")
            }
            try conn.execute("PRAGMA foreign_keys=ON")
            // Freed content is zeroed, so an overwritten or deleted secret leaves no trace in the file.
            try conn.execute("PRAGMA secure_delete=ON")
        } catch {
            sqlite3_close_v2(db)
            throw error
        }
    }

    deinit {
        statements = [:]
        sqlite3_close_v2(handle)
    }

    /// Runs `body` with the connection, or returns what it returned last time for the same `key`
    /// when nothing was committed to the file since: not by this connection (`total_changes`)
    /// nor by any other, another process's included (`PRAGMA data_version`). The stamp is read
    /// before and after `body`, and a result is kept only when they agree, so a kept result is
    /// what the file held at one instant. `body` must be a pure read of the database whose value
    /// depends on nothing else.
    func cachedRead<T>(_ key: String, _ body: (Connection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        let conn = Connection(handle: handle, path: path, database: self)
        let before = try conn.changeStamp()
        if let kept = results[key], kept.stamp == before, let value = kept.value as? T { return value }
        let value = try body(conn)
        if try conn.changeStamp() == before { results[key] = (before, value) } else { results[key] = nil }
        return value
    }

    /// A statement compiled once per connection (callers hold `lock`, through a `Connection`).
    fileprivate func cachedStatement(_ sql: String, conn: Connection) throws -> Statement {
        if let s = statements[sql] { return s }
        let s = try conn.prepare(sql)
        statements[sql] = s
        return s
    }

    /// Runs `body` with the connection, outside any explicit transaction (each statement is its own).
    func read<T>(_ body: (Connection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(Connection(handle: handle, path: path, database: self))
    }

    /// Copies the WAL into the database and truncates it to zero bytes.
    func checkpoint() throws {
        try execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Runs one SQL text (several statements allowed), outside any explicit transaction.
    func execute(_ sql: String) throws {
        try read { try $0.execute(sql) }
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`: either everything `body` wrote is committed,
    /// or — when `body` throws or the commit fails — nothing is, and the error is rethrown.
    /// IMMEDIATE takes the write lock up front, so a concurrent writer waits (up to the busy
    /// timeout) at BEGIN instead of failing halfway through.
    func transaction<T>(_ body: (Connection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        let conn = Connection(handle: handle, path: path, database: self)
        try conn.execute("BEGIN IMMEDIATE")
        let result: T
        do {
            result = try body(conn)
            try conn.execute("COMMIT")
        } catch {
            // After a failed COMMIT (a deferred foreign key, say) the transaction is still open.
            if sqlite3_get_autocommit(handle) == 0 { try? conn.execute("ROLLBACK") }
            throw error
        }
        return result
    }
}

/// The connection as seen inside `Database.read`/`transaction`. Not Sendable and must not escape
/// the closure: the lock is what makes using it safe.
struct Connection {
    fileprivate let handle: OpaquePointer
    let path: String
    /// The owner of the statement cache (nil while the connection is being set up).
    fileprivate unowned(unsafe) let database: Database?

    fileprivate init(handle: OpaquePointer, path: String, database: Database?) {
        self.handle = handle; self.path = path; self.database = database
    }

    /// Like `prepare`, but compiled once per connection and reused: for statements run often
    /// (each use resets it; it must not be used again while its rows are still being read).
    func cached(_ sql: String) throws -> Statement {
        guard let database else { return try prepare(sql) }
        return try database.cachedStatement(sql, conn: self)
    }

    /// Changes whenever anything is committed to the database, by this connection or another.
    func changeStamp() throws -> ChangeStamp {
        let version = try cached("PRAGMA data_version").rows([]) { try $0.int64(0) }.first ?? 0
        return ChangeStamp(dataVersion: version, totalChanges: sqlite3_total_changes64(handle))
    }

    /// Runs every statement in `sql`, discarding any rows.
    func execute(_ sql: String) throws {
        let bytes = Array(sql.utf8)
        var offset = 0
        while offset < bytes.count {
            let (statement, next) = try prepareOne(bytes, from: offset, sql: sql)
            guard next > offset else { break }
            offset = next
            guard let statement else { continue } // only whitespace or comments were left
            while try statement.step() {}
        }
    }

    /// Compiles one statement. Reuse the result (with `run`/`rows`) for repeated work.
    func prepare(_ sql: String) throws -> Statement {
        let bytes = Array(sql.utf8)
        let (statement, next) = try prepareOne(bytes, from: 0, sql: sql)
        guard let statement else {
            throw HopError(.internalError, "database \(path): empty SQL statement")
        }
        let rest = String(decoding: bytes[next...], as: UTF8.self)
        guard rest.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw HopError(.internalError, "database \(path): prepare() takes one statement, got more: `\(firstLine(sql))`")
        }
        return statement
    }

    /// The rowid of the last successful INSERT on this connection.
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the last INSERT/UPDATE/DELETE (not counting cascades).
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// Compiles the statement starting at byte `offset`; returns it (nil for only whitespace or
    /// comments) and the offset just past it.
    private func prepareOne(_ bytes: [UInt8], from offset: Int, sql: String) throws -> (Statement?, Int) {
        var stmt: OpaquePointer?
        var next = bytes.count
        let rc = bytes.withUnsafeBufferPointer { whole -> Int32 in
            let part = UnsafeBufferPointer(rebasing: whole[offset...])
            return part.withMemoryRebound(to: CChar.self) { chars in
                var tail: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v2(handle, chars.baseAddress, Int32(chars.count), &stmt, &tail)
                if let tail, let base = chars.baseAddress { next = offset + (tail - base) }
                return rc
            }
        }
        guard rc == SQLITE_OK else {
            sqlite3_finalize(stmt)
            throw sqliteError(rc, handle: handle, path: path, sql: String(decoding: bytes[offset...], as: UTF8.self))
        }
        let text = String(decoding: bytes[offset..<next], as: UTF8.self)
        return (stmt.map { Statement(stmt: $0, handle: handle, path: path, sql: text) }, next)
    }
}

/// What `PRAGMA data_version` (commits by other connections, other processes included) and
/// `sqlite3_total_changes` (rows this connection changed) said at one instant: equal stamps mean
/// the file holds what it held.
struct ChangeStamp: Equatable {
    var dataVersion: Int64
    var totalChanges: Int64
}

/// A compiled statement. Bind with `run`/`rows`, which reset it first, so one `Statement` can be
/// reused for many rows inside a transaction. Finalised when released.
final class Statement {
    private let stmt: OpaquePointer
    private let handle: OpaquePointer
    private let path: String
    private let sql: String

    fileprivate init(stmt: OpaquePointer, handle: OpaquePointer, path: String, sql: String) {
        self.stmt = stmt
        self.handle = handle
        self.path = path
        self.sql = sql
    }

    deinit { sqlite3_finalize(stmt) }

    /// Resets the statement and binds `values` to parameters 1…n (all others become NULL).
    func bind(_ values: [SQLValue]) throws {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        let expected = Int(sqlite3_bind_parameter_count(stmt))
        guard values.count == expected else {
            throw HopError(.internalError, "database \(path): statement takes \(expected) parameters, got \(values.count), in `\(firstLine(sql))`")
        }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null:
                rc = sqlite3_bind_null(stmt, index)
            case .integer(let i):
                rc = sqlite3_bind_int64(stmt, index, i)
            case .text(let s):
                // A nil pointer would bind NULL, so the empty string is bound from a literal.
                var s = s
                rc = s.isEmpty
                    ? sqlite3_bind_text(stmt, index, "", 0, transientDestructor)
                    : s.withUTF8 { buf in
                        buf.withMemoryRebound(to: CChar.self) { chars in
                            sqlite3_bind_text(stmt, index, chars.baseAddress, Int32(chars.count), transientDestructor)
                        }
                    }
            case .blob(let d):
                rc = d.isEmpty
                    ? sqlite3_bind_zeroblob(stmt, index, 0)
                    : d.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), transientDestructor) }
            }
            guard rc == SQLITE_OK else { throw sqliteError(rc, handle: handle, path: path, sql: sql) }
        }
    }

    /// Advances one row: true when a row is available to read, false when the statement is done.
    func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = sqliteError(rc, handle: handle, path: path, sql: sql)
            sqlite3_reset(stmt)
            throw error
        }
    }

    /// Binds `values` and steps to completion (for INSERT/UPDATE/DELETE), leaving the statement reset.
    func run(_ values: [SQLValue]) throws {
        try bind(values)
        defer { sqlite3_reset(stmt) }
        while try step() {}
    }

    /// Binds `values` and maps every result row, leaving the statement reset.
    func rows<T>(_ values: [SQLValue], _ map: (Statement) throws -> T) throws -> [T] {
        try bind(values)
        defer { sqlite3_reset(stmt) }
        var out: [T] = []
        while try step() { out.append(try map(self)) }
        return out
    }

    // MARK: Typed column reads (0-based, valid only between a `step()` that returned true and the next step)

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }

    /// The column as an integer; throws when it is NULL or not an integer.
    func int64(_ column: Int32) throws -> Int64 {
        guard sqlite3_column_type(stmt, column) == SQLITE_INTEGER else { throw columnTypeError(column, "an integer") }
        return sqlite3_column_int64(stmt, column)
    }

    /// The column as UTF-8 text; throws when it is NULL.
    func text(_ column: Int32) throws -> String {
        guard let s = optionalText(column) else { throw columnTypeError(column, "text") }
        return s
    }

    /// The column as UTF-8 text, nil when NULL.
    func optionalText(_ column: Int32) -> String? {
        guard sqlite3_column_type(stmt, column) != SQLITE_NULL, let p = sqlite3_column_text(stmt, column) else { return nil }
        let count = Int(sqlite3_column_bytes(stmt, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }

    /// The column as bytes, nil when NULL (a zero-length blob reads as empty `Data`).
    func data(_ column: Int32) -> Data? {
        guard sqlite3_column_type(stmt, column) != SQLITE_NULL else { return nil }
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let p = sqlite3_column_blob(stmt, column) else { return Data() }
        return Data(bytes: p, count: count)
    }

    private func columnTypeError(_ column: Int32, _ wanted: String) -> HopError {
        let name = sqlite3_column_name(stmt, column).map { String(cString: $0) } ?? "#\(column)"
        return HopError(.internalError, "database \(path): column \(name) is not \(wanted), in `\(firstLine(sql))`",
                        hint: "the database may have been edited by hand; check it with `sqlite3 \(path) 'PRAGMA integrity_check'`")
    }
}

// MARK: - Errors

/// How hop classifies a SQLite result code: problems of the machine or the file are `.environment`
/// (the user can fix them), everything else — constraint violations, bad SQL, misuse — is a bug in
/// hop, `.internalError`.
func errorCode(forSQLiteResult rc: Int32) -> HopError.Code {
    switch rc & 0xff {
    case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY, SQLITE_IOERR,
         SQLITE_FULL, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_NOLFS, SQLITE_AUTH, SQLITE_PROTOCOL, SQLITE_NOMEM:
        return .environment
    default:
        return .internalError
    }
}

/// The first non-empty line of a SQL text, trimmed, for error messages.
func firstLine(_ sql: String) -> String {
    sql.split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .first { !$0.isEmpty } ?? ""
}

private func sqliteError(_ rc: Int32, handle: OpaquePointer, path: String, sql: String) -> HopError {
    let message = String(cString: sqlite3_errmsg(handle))
    let codeName = String(cString: sqlite3_errstr(rc))
    let code = errorCode(forSQLiteResult: rc)
    let hint: String?
    switch rc & 0xff {
    case SQLITE_BUSY, SQLITE_LOCKED:
        hint = "another hop process is writing to \(path); retry when it has finished"
    case SQLITE_CORRUPT, SQLITE_NOTADB:
        hint = "\(path) is damaged or not a hop database; move it aside and re-run"
    case SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN:
        hint = "make \(path) and its directory writable by this user"
    case SQLITE_FULL:
        hint = "free disk space on the filesystem holding \(path)"
    default:
        hint = code == .internalError ? "this is a bug in hop; please report it with this message" : nil
    }
    return HopError(code, "database \(path): \(message) (\(codeName), code \(rc)) in `\(firstLine(sql))`", hint: hint)
}

/// SQLITE_TRANSIENT: SQLite copies bound bytes before the bind call returns.
private var transientDestructor: sqlite3_destructor_type {
    unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self)
}
