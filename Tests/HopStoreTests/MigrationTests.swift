import Foundation
import Testing
import HopBasics
@testable import HopStore

@Suite(.tags(.medium))
struct MigrationTests {
    private func versions(_ db: Database) throws -> [Int64] {
        try db.read { try $0.prepare("SELECT version FROM schema_migrations ORDER BY version").rows([]) { try $0.int64(0) } }
    }

    @Test func appliesOnceAndReopeningIsIdempotent() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/state/hop.db" // the parent directory does not exist yet
            let id: Int64
            do {
                let db = try HopDatabase(path: path)
                #expect(try versions(db.db) == [1, 2, 3, 4, 5, 6, 7, 8])
                id = try db.recordBuild(sampleBuild(), closure: [])
            }
            let first = try HopDatabase(path: path)
            let second = try HopDatabase(path: path) // a second connection to the same file
            #expect(try versions(first.db) == [1, 2, 3, 4, 5, 6, 7, 8])
            #expect(try versions(second.db) == [1, 2, 3, 4, 5, 6, 7, 8])
            #expect(try first.build(id: id)?.app == "web")
            #expect(HopDatabase.schemaVersion == 8)
            let appliedAt = try first.db.read {
                try $0.prepare("SELECT applied_at FROM schema_migrations").rows([]) { try $0.text(0) }
            }
            #expect(appliedAt.count == 8 && appliedAt.allSatisfy { Timestamp.decode($0) != nil })
        }
    }

    @Test func olderDatabaseGetsOnlyTheNewerMigrations() throws {
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            // Neither migration tolerates being run twice.
            let v1 = Migration(version: 1, sql: "CREATE TABLE a (x INTEGER);")
            let v2 = Migration(version: 2, sql: "ALTER TABLE a ADD COLUMN y TEXT;\nCREATE TABLE b (z INTEGER);")
            try Migrations.apply([v1], to: db)
            try db.execute("INSERT INTO a (x) VALUES (7)")
            try Migrations.apply([v1, v2], to: db)
            #expect(try versions(db) == [1, 2])
            try Migrations.apply([v1, v2], to: db)
            #expect(try versions(db) == [1, 2])
            let rows = try db.read { try $0.prepare("SELECT x, y FROM a").rows([]) { (try $0.int64(0), $0.isNull(1)) } }
            #expect(rows.count == 1 && rows[0].0 == 7 && rows[0].1)
        }
    }

    @Test func failingMigrationLeavesTheDatabaseAtThePreviousVersion() throws {
        try withTemporaryDirectory { dir in
            let db = try Database(path: dir + "/t.db")
            let v1 = Migration(version: 1, sql: "CREATE TABLE a (x INTEGER);")
            let v2 = Migration(version: 2, sql: "CREATE TABLE b (z INTEGER);\nINSERT INTO missing VALUES (1);")
            #expect(throws: HopError.self) { try Migrations.apply([v1, v2], to: db) }
            #expect(try versions(db) == [1])
            let tables = try db.read {
                try $0.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'b'").rows([]) { try $0.text(0) }
            }
            #expect(tables.isEmpty) // v2's first statement was rolled back with it
        }
    }

    @Test func refusesADatabaseFromANewerHop() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hop.db"
            do {
                let db = try HopDatabase(path: path)
                try db.db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (\(HopDatabase.schemaVersion + 1), '2030-01-01T00:00:00.000Z')")
            }
            let error = #expect(throws: HopError.self) { try HopDatabase(path: path) }
            #expect(error?.code == .environment)
            #expect(error?.message == "database schema v\(HopDatabase.schemaVersion + 1) is newer than this hop (v\(HopDatabase.schemaVersion)); upgrade hop")
            #expect(error?.hint?.contains(path) == true)
        }
    }

    @Test(.tags(.small)) func historyMustCountFromOne() {
        #expect(Migrations.problem(in: Migrations.all) == nil)
        #expect(Migrations.problem(in: []) == nil)
        #expect(Migrations.problem(in: [Migration(version: 2, sql: "")]) != nil)
        #expect(Migrations.problem(in: [Migration(version: 1, sql: ""), Migration(version: 3, sql: "")]) != nil)
    }
}
