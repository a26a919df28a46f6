import Foundation
import Testing
import HopBasics
@testable import HopStore

extension Tag {
    /// Pure functions and in-memory work: milliseconds.
    @Tag static var small: Self
    /// Real SQLite files in a temporary directory.
    @Tag static var medium: Self
}

@Suite(.tags(.medium))
struct SQLiteTests {
    @Test func opensInWALWithForeignKeysAndBusyTimeout() throws {
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            let (mode, fk, timeout) = try db.read { conn in
                (try conn.prepare("PRAGMA journal_mode").rows([]) { try $0.text(0) }.first,
                 try conn.prepare("PRAGMA foreign_keys").rows([]) { try $0.int64(0) }.first,
                 try conn.prepare("PRAGMA busy_timeout").rows([]) { try $0.int64(0) }.first)
            }
            #expect(mode == "wal")
            #expect(fk == 1)
            #expect(timeout == 5000)
        }
    }

    @Test func typedBindsRoundTrip() throws {
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            try db.execute("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n TEXT);\n-- a comment\n")
            let blob = Data([0, 1, 2, 255, 0])
            let values: [(Int64, String, Data)] = [
                (Int64.min, "", Data()),
                (Int64.max, "tab\tnewline\nquote' nul\u{0} ünïcode ✓", blob),
            ]
            let rows = try db.transaction { conn in
                let insert = try conn.prepare("INSERT INTO t (i, s, b, n) VALUES (?, ?, ?, ?)")
                for (i, s, b) in values { try insert.run([.integer(i), .text(s), .blob(b), .null]) }
                return try conn.prepare("SELECT i, s, b, n, typeof(s), typeof(b) FROM t ORDER BY rowid").rows([]) { row in
                    (try row.int64(0), try row.text(1), row.data(2), row.isNull(3), try row.text(4), try row.text(5))
                }
            }
            #expect(rows.count == 2)
            for (row, expected) in zip(rows, values) {
                #expect(row.0 == expected.0)
                #expect(row.1 == expected.1)
                #expect(row.2 == expected.2)
                #expect(row.3)
                #expect(row.4 == "text") // the empty string is not NULL
                #expect(row.5 == "blob") // nor is the empty blob
            }
        }
    }

    @Test func transactionRollsBackWhenTheBodyThrows() throws {
        struct Boom: Error {}
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            try db.execute("CREATE TABLE t (x INTEGER)")
            #expect(throws: Boom.self) {
                try db.transaction { conn in
                    try conn.prepare("INSERT INTO t VALUES (1)").run([])
                    throw Boom()
                }
            }
            let count = try db.read { try $0.prepare("SELECT COUNT(*) FROM t").rows([]) { try $0.int64(0) } }
            #expect(count == [0])
            // The connection is usable afterwards: no transaction was left open.
            try db.transaction { try $0.prepare("INSERT INTO t VALUES (2)").run([]) }
            let after = try db.read { try $0.prepare("SELECT x FROM t").rows([]) { try $0.int64(0) } }
            #expect(after == [2])
        }
    }

    @Test func failedCommitRollsBack() throws {
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            try db.execute("""
                CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
                """)
            let error = #expect(throws: HopError.self) {
                try db.transaction { try $0.prepare("INSERT INTO child VALUES (42)").run([]) }
            }
            #expect(error?.code == .internalError)
            #expect(error?.message.contains("FOREIGN KEY constraint failed") == true)
            let count = try db.read { try $0.prepare("SELECT COUNT(*) FROM child").rows([]) { try $0.int64(0) } }
            #expect(count == [0])
            try db.transaction { try $0.prepare("INSERT INTO parent VALUES (1)").run([]) }
        }
    }

    @Test func errorsCarrySQLiteMessageAndFirstLineOfSQL() throws {
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            let error = #expect(throws: HopError.self) {
                try db.execute("\n  SELEC nonsense\n  FROM nowhere")
            }
            #expect(error?.code == .internalError)
            #expect(error?.message.contains("syntax error") == true)
            #expect(error?.message.contains("`SELEC nonsense`") == true)
            #expect(error?.message.contains(dir + "/t.db") == true)
        }
    }

    @Test func bindCountMismatchIsABug() throws {
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            let error = #expect(throws: HopError.self) {
                try db.read { try $0.prepare("SELECT ?, ?").run([.integer(1)]) }
            }
            #expect(error?.code == .internalError)
        }
    }

    @Test func notADatabaseIsAnEnvironmentProblem() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/junk.db"
            try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
            let error = #expect(throws: HopError.self) { try Database(path: path) }
            #expect(error?.code == .environment)
            #expect(error?.hint != nil)
        }
    }

    @Test(.tags(.small)) func classifiesResultCodes() {
        // Primary codes, and extended codes whose low byte is the primary code.
        #expect(errorCode(forSQLiteResult: 5) == .environment)          // SQLITE_BUSY
        #expect(errorCode(forSQLiteResult: 8) == .environment)          // SQLITE_READONLY
        #expect(errorCode(forSQLiteResult: 26) == .environment)         // SQLITE_NOTADB
        #expect(errorCode(forSQLiteResult: 10 | (3 << 8)) == .environment) // SQLITE_IOERR_WRITE
        #expect(errorCode(forSQLiteResult: 19) == .internalError)       // SQLITE_CONSTRAINT
        #expect(errorCode(forSQLiteResult: 19 | (1 << 8)) == .internalError) // SQLITE_CONSTRAINT_CHECK
        #expect(errorCode(forSQLiteResult: 1) == .internalError)        // SQLITE_ERROR
        #expect(errorCode(forSQLiteResult: 21) == .internalError)       // SQLITE_MISUSE
    }

    @Test(.tags(.small)) func firstLineSkipsBlankLines() {
        #expect(firstLine("\n\n   INSERT INTO x\n VALUES (1)") == "INSERT INTO x")
        #expect(firstLine("") == "")
    }
}
