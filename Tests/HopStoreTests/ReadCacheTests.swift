import Foundation
import Testing
import HopBasics
@testable import HopStore

/// The reads a long-running server keeps (every generation, the users) must change as soon as
/// anything commits a change: this connection, another connection, another process.
@Suite(.tags(.medium))
struct ReadCacheTests {
    func generation(_ app: String, _ n: Int, _ status: GenerationRecord.Status, scale: [String: Int] = ["web": 1],
                    ports: [Int] = []) -> GenerationRecord {
        GenerationRecord(app: app, number: n, buildID: Int64(n), storePath: "/nix/store/\(n)-gen-\(app)", appPath: "/nix/store/\(n)-\(app)",
                         scale: scale, configHash: "h\(n)", ports: ports, status: status, createdAt: millis(1_700_000_000_000 + Int64(n)))
    }

    func summary(_ gens: [GenerationRecord]) -> [String] { gens.map { "\($0.app)#\($0.number):\($0.status.rawValue)" } }

    @Test func anotherConnectionsDeployRollbackAndDestroyShowAtOnce() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hop.db"
            let cli = try HopDatabase(path: path)      // as the CLI's process
            let server = try HopDatabase(path: path)   // as the server's, kept open
            #expect(try server.allGenerations().isEmpty)

            try cli.putGeneration(generation("blog", 1, .active))
            #expect(summary(try server.allGenerations()) == ["blog#1:active"])
            #expect(summary(try server.allGenerations()) == ["blog#1:active"], "read again with nothing changed: the same")

            // A deploy: generation 2 switches in, 1 retires.
            try cli.putGeneration(generation("blog", 2, .active, scale: ["web": 2], ports: [8001]))
            let after = try server.allGenerations()
            #expect(summary(after) == ["blog#1:retired", "blog#2:active"])
            #expect(after.last?.scale == ["web": 2] && after.last?.ports == [8001])

            // A rollback: only a status column changes.
            try cli.setGenerationStatus(app: "blog", number: 1, .active)
            #expect(summary(try server.allGenerations()) == ["blog#1:active", "blog#2:retired"])
            try cli.setGenerationStatus(app: "blog", number: 2, .failed, reason: "gate")
            #expect(try server.allGenerations().last?.reason == "gate")

            // A destroy.
            try cli.forgetApp("blog", config: true)
            #expect(try server.allGenerations().isEmpty)

            // The server's own writes show too.
            try server.putGeneration(generation("shop", 1, .active))
            #expect(summary(try server.allGenerations()) == ["shop#1:active"])
            #expect(summary(try cli.allGenerations()) == ["shop#1:active"])
        }
    }

    @Test func aChangeMadeByAnotherProcessShows() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hop.db"
            let server = try HopDatabase(path: path)
            try server.putGeneration(generation("blog", 1, .active))
            try server.putGeneration(generation("blog", 2, .retired))
            #expect(summary(try server.allGenerations()) == ["blog#1:active", "blog#2:retired"])
            // sqlite3 is a separate process with its own connection and its own locks.
            let r = try SystemRunner().run(Command("sqlite3", [path,
                "UPDATE generations SET status = 'retired' WHERE app = 'blog' AND number = 1; UPDATE generations SET status = 'active' WHERE app = 'blog' AND number = 2;"]))
            #expect(r.succeeded, "\(r.stderrText)")
            #expect(summary(try server.allGenerations()) == ["blog#1:retired", "blog#2:active"])
            _ = try SystemRunner().run(Command("sqlite3", [path, "DELETE FROM generations WHERE number = 2"]))
            #expect(summary(try server.allGenerations()) == ["blog#1:retired"])
        }
    }

    @Test func usersAndGrantsChangedElsewhereShow() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hop.db"
            let cli = try HopDatabase(path: path)
            let server = try HopDatabase(path: path)
            try cli.addUser(name: "ann", role: .deployer, apps: ["blog"], passwordHash: nil)
            #expect(try server.user("ann")?.apps == ["blog"])
            _ = try cli.removeUser("ann")
            #expect(try server.user("ann") == nil, "a removed user no longer authenticates")
            try cli.addUser(name: "ann", role: .viewer, apps: [], passwordHash: nil)
            #expect(try server.user("ann")?.role == .viewer)
        }
    }

    @Test func theSameConnectionsCachedReadIsKeptUntilAChange() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            var reads = 0
            func read() throws -> Int {
                try db.db.cachedRead("test") { conn in
                    reads += 1
                    return try conn.cached("SELECT COUNT(*) FROM generations").rows([]) { try $0.int64(0) }.first.map(Int.init) ?? -1
                }
            }
            #expect(try read() == 0 && reads == 1)
            #expect(try read() == 0 && reads == 1, "kept")
            try db.putGeneration(generation("blog", 1, .active))
            #expect(try read() == 1 && reads == 2, "read again after this connection wrote")
            let other = try HopDatabase(path: dir + "/hop.db")
            try other.appendAudit(actor: "x", via: "cli", action: "noop", app: nil, detail: "{}", result: "ok")
            #expect(try read() == 1 && reads == 3, "read again after another connection wrote anything")
            #expect(try read() == 1 && reads == 3)
        }
    }
}
