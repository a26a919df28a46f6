import Foundation
import Testing
import HopBasics
@testable import HopStore

@Suite(.tags(.medium))
struct HopDatabaseTests {
    @Test func recordBuildRoundTripsEveryField() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            let build = sampleBuild()
            let closure = [
                StorePathInfo(path: storePath(2), narHash: "sha256:0c1", narSize: 0, deriver: storePath(2) + ".drv",
                              references: [storePath(2), storePath(1)]),
                StorePathInfo(path: storePath(1), narHash: "sha256:0b2", narSize: 4_294_967_296 * 3, deriver: nil,
                              references: []),
                StorePathInfo(path: storePath(3), narHash: "sha256:0a3", narSize: 7, deriver: "",
                              references: [storePath(2), storePath(1), storePath(3)]),
            ]
            let id = try db.recordBuild(build, closure: closure)
            #expect(id != build.id)

            var expected = build
            expected.id = id
            let stored = try #require(try db.build(id: id))
            #expect(stored == expected)
            #expect(stored.startedAt == millis(1_700_000_000_123))
            #expect(stored.lockJSON == build.lockJSON)
            #expect(try db.closure(buildID: id) == normalized(closure))
            #expect(try db.closure(buildID: id + 1).isEmpty)
            #expect(try db.build(id: id + 1) == nil)

            // Optional text stays nil rather than becoming "".
            var bare = sampleBuild(tag: "b")
            bare.lockJSON = nil
            bare.seedsJSON = nil
            let bareID = try db.recordBuild(bare, closure: [])
            let bareStored = try #require(try db.build(id: bareID))
            #expect(bareStored.lockJSON == nil && bareStored.seedsJSON == nil)
        }
    }

    @Test func datesAreKeptToTheMillisecond() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            var build = sampleBuild()
            build.startedAt = Date(timeIntervalSince1970: 1_700_000_000.1234567)
            build.finishedAt = Date(timeIntervalSince1970: 1_700_000_000.9996)
            let stored = try #require(try db.build(id: try db.recordBuild(build, closure: [])))
            #expect(stored.startedAt == millis(1_700_000_000_123))
            #expect(stored.finishedAt == millis(1_700_000_001_000))
        }
    }

    @Test func aConstraintViolationMidwayRecordsNothing() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            let good = syntheticClosure(5)
            let firstID = try db.recordBuild(sampleBuild(), closure: good)

            // Updates a path the first build owns, adds new ones, then hits CHECK (nar_size >= 0).
            var changed = good[0]
            changed.narHash = "sha256:changed"
            var bad = [changed] + syntheticClosure(4, name: "q")
            bad.append(StorePathInfo(path: storePath(99, "q"), narHash: "sha256:z", narSize: -1, deriver: nil, references: []))
            let error = #expect(throws: HopError.self) {
                try db.recordBuild(sampleBuild(app: "api", tag: "c"), closure: bad)
            }
            #expect(error?.code == .internalError)
            #expect(error?.message.contains("CHECK constraint failed") == true)

            #expect(try db.builds().map(\.id) == [firstID])
            #expect(try db.apps() == ["web"])
            #expect(try rowCount(db, "store_paths") == 5)
            #expect(try rowCount(db, "build_paths") == 5)
            #expect(try db.closure(buildID: firstID) == normalized(good)) // the upsert was undone too
        }
    }

    @Test func aRelativeStorePathIsRefused() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            let bad = syntheticClosure(3) + [StorePathInfo(path: "nix/store/x", narHash: "sha256:0", narSize: 1, deriver: nil, references: [])]
            #expect(throws: HopError.self) { try db.recordBuild(sampleBuild(), closure: bad) }
            #expect(try rowCount(db, "builds") == 0)
            #expect(try rowCount(db, "store_paths") == 0)
            #expect(try rowCount(db, "path_refs") == 0)
            #expect(try rowCount(db, "build_paths") == 0)
        }
    }

    @Test func anOpenClosureIsRefusedBeforeWriting() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            var closure = syntheticClosure(3)
            closure[2].references.append(storePath(42))
            let error = #expect(throws: HopError.self) { try db.recordBuild(sampleBuild(), closure: closure) }
            #expect(error?.message.contains("not closed") == true)
            #expect(error?.message.contains(storePath(42)) == true)
            #expect(try rowCount(db, "builds") == 0)
            #expect(try rowCount(db, "store_paths") == 0)
        }
    }

    @Test(.tags(.small)) func closureProblems() {
        let closure = syntheticClosure(4)
        #expect(closureProblem(closure) == nil)
        #expect(closureProblem([]) == nil)
        var reordered = closure[3]
        reordered.references.reverse()
        #expect(closureProblem(closure + [reordered]) == nil) // the same path twice, same details
        var conflicting = closure[1]
        conflicting.narSize += 1
        #expect(closureProblem(closure + [conflicting])?.contains("twice") == true)
        #expect(closureProblem(Array(closure.dropFirst()))?.contains("not closed") == true)
    }

    @Test func buildsAreListedNewestFirst() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            // Recorded out of time order; two finish in the same millisecond (then the later id wins).
            let a1 = try db.recordBuild(sampleBuild(app: "web", finishedAt: millis(3_000), tag: "1"), closure: [])
            let b1 = try db.recordBuild(sampleBuild(app: "api", finishedAt: millis(2_500), tag: "2"), closure: [])
            let a2 = try db.recordBuild(sampleBuild(app: "web", finishedAt: millis(1_000), tag: "3"), closure: [])
            let a3 = try db.recordBuild(sampleBuild(app: "web", finishedAt: millis(5_000), tag: "4"), closure: [])
            let a4 = try db.recordBuild(sampleBuild(app: "web", finishedAt: millis(5_000), tag: "5"), closure: [])

            #expect(try db.builds(app: "web").map(\.id) == [a4, a3, a1, a2])
            #expect(try db.builds(app: "api").map(\.id) == [b1])
            #expect(try db.builds(app: "nope").isEmpty)
            #expect(try db.builds().map(\.id) == [a4, a3, a1, b1, a2])
            #expect(try db.latestBuild(app: "web")?.id == a4)
            #expect(try db.latestBuild(app: "api")?.id == b1)
            #expect(try db.latestBuild(app: "nope") == nil)
            #expect(try db.apps() == ["api", "web"])
        }
    }

    @Test func deleteBuildRemovesItsMembershipAndOrphanedPaths() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            let shared = syntheticClosure(10)
            var onlyFirst = syntheticClosure(3, name: "f")
            onlyFirst[2].references.append(shared[9].path) // a reference into the shared part
            let onlySecond = syntheticClosure(2, name: "s")
            let first = try db.recordBuild(sampleBuild(tag: "1"), closure: shared + onlyFirst)
            let second = try db.recordBuild(sampleBuild(tag: "2"), closure: shared + onlySecond)
            #expect(try rowCount(db, "store_paths") == 15)

            #expect(try db.deleteBuild(id: first))
            #expect(try db.build(id: first) == nil)
            #expect(try db.closure(buildID: first).isEmpty)
            #expect(try db.closure(buildID: second) == normalized(shared + onlySecond))
            #expect(try rowCount(db, "store_paths") == 12)
            #expect(try rowCount(db, "build_paths") == 12)
            let orphanRefs = try db.db.read {
                try $0.prepare("SELECT COUNT(*) FROM path_refs WHERE path LIKE '%-f%' OR ref LIKE '%-f%'").rows([]) { try $0.int64(0) }
            }
            #expect(orphanRefs == [0])

            #expect(try db.deleteBuild(id: first) == false)
            #expect(try db.deleteBuild(id: 12345) == false)

            #expect(try db.deleteBuild(id: second))
            for table in ["builds", "build_paths", "store_paths", "path_refs"] {
                #expect(try rowCount(db, table) == 0, "\(table)")
            }
            #expect(try db.apps().isEmpty)

            // Ids are never handed out again.
            let third = try db.recordBuild(sampleBuild(tag: "3"), closure: [])
            #expect(third > second)
        }
    }

    @Test func aPathSharedByBuildsIsStoredOnceAndUpdatedInPlace() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            let first = StorePathInfo(path: storePath(1), narHash: "sha256:old", narSize: 1, deriver: storePath(1) + ".drv", references: [])
            var again = first
            again.narHash = "sha256:new"
            again.deriver = nil
            let a = try db.recordBuild(sampleBuild(tag: "1"), closure: [first])
            let b = try db.recordBuild(sampleBuild(tag: "2"), closure: [again])
            #expect(try rowCount(db, "store_paths") == 1)
            let expected = StorePathInfo(path: first.path, narHash: "sha256:new", narSize: 1, deriver: first.deriver, references: [])
            #expect(try db.closure(buildID: a) == [expected])
            #expect(try db.closure(buildID: b) == [expected])
        }
    }

    @Test func seedsUpsertAndListByName() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            let python = SeedRecord(name: "python", version: "3.11.2", storePath: "/nix/store/aaaa-python-seed",
                                    narHash: "sha256:0p", origin: "/usr/bin/python3", importedAt: millis(1_700_000_000_001))
            let busybox = SeedRecord(name: "busybox", version: "1.35.0", storePath: "/nix/store/bbbb-busybox-seed",
                                     narHash: "sha256:0b", origin: "/bin/busybox", importedAt: millis(1_700_000_000_002))
            try db.upsertSeed(python)
            try db.upsertSeed(busybox)
            #expect(try db.seeds() == [busybox, python])
            #expect(try db.seed(name: "python") == python)
            #expect(try db.seed(name: "node") == nil)

            var newer = python
            newer.version = "3.11.4"
            newer.storePath = "/nix/store/cccc-python-seed"
            newer.narHash = "sha256:0q"
            newer.origin = "/opt/python/bin/python3"
            newer.importedAt = millis(1_800_000_000_000)
            try db.upsertSeed(newer)
            #expect(try db.seeds() == [busybox, newer])
        }
    }

    @Test func aLargeClosureRecordsAndReadsBack() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hop.db"
            let closure = syntheticClosure(2000)
            var build = sampleBuild()
            build.pathCount = closure.count
            build.closureSize = closure.reduce(0) { $0 + $1.narSize }
            let id = try HopDatabase(path: path).recordBuild(build, closure: closure)

            let reopened = try HopDatabase(path: path)
            let stored = try reopened.closure(buildID: id)
            #expect(stored.count == 2000)
            #expect(stored == normalized(closure))
            #expect(try rowCount(reopened, "path_refs") == Int64(closure.reduce(0) { $0 + $1.references.count }))
            #expect(try reopened.build(id: id)?.pathCount == 2000)
        }
    }

    @Test func concurrentUseFromManyTasksIsSafe() async throws {
        try await withTemporaryDirectoryAsync { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        let id = try db.recordBuild(sampleBuild(app: "app\(i % 3)", tag: "\(i)"), closure: syntheticClosure(50))
                        _ = try db.closure(buildID: id)
                        _ = try db.builds()
                    }
                }
                try await group.waitForAll()
            }
            #expect(try db.builds().count == 8)
            #expect(try db.apps() == ["app0", "app1", "app2"])
            #expect(try rowCount(db, "store_paths") == 50)
        }
    }

    @Test func severalConnectionsOpenAndWriteTheSameFile() async throws {
        // As when several hop processes start at once on a fresh machine: the first to migrate wins,
        // the others wait on the write lock and find nothing left to do.
        try await withTemporaryDirectoryAsync { dir in
            let path = dir + "/hop.db"
            let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
                for i in 0..<4 {
                    group.addTask {
                        let db = try HopDatabase(path: path)
                        return try db.recordBuild(sampleBuild(app: "app\(i)", tag: "\(i)"), closure: syntheticClosure(200))
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            let db = try HopDatabase(path: path)
            #expect(Set(ids).count == 4)
            #expect(try db.builds().count == 4)
            #expect(try rowCount(db, "schema_migrations") == HopDatabase.schemaVersion)
            for id in ids { #expect(try db.closure(buildID: id).count == 200) }
        }
    }

    @Test func anUncreatableDirectoryIsAnEnvironmentProblem() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/plain-file"
            try Data("x".utf8).write(to: URL(fileURLWithPath: file))
            let error = #expect(throws: HopError.self) { try HopDatabase(path: file + "/sub/hop.db") }
            #expect(error?.code == .environment)
        }
    }
}

private func withTemporaryDirectoryAsync(_ body: (String) async throws -> Void) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hopstore-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    do { try await body(dir) } catch {
        try? FileManager.default.removeItem(atPath: dir)
        throw error
    }
    try? FileManager.default.removeItem(atPath: dir)
}

@Suite struct TruncatedDatabaseTests {
    @Test func aZeroLengthDatabaseIsAnErrorNotAFreshStart() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/hop.db"
            _ = FileManager.default.createFile(atPath: path, contents: Data())
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: path)
            #expect(performing: { try HopDatabase(path: path) }, throws: { ($0 as? HopError)?.code == .environment })
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
            #expect(size == 0, "the empty file is left as it was")
        }
    }
}
