import Foundation
import Testing
import HopBasics
@testable import Provenance
#if canImport(Glibc)
import Glibc
#endif

/// Tampering happens only in chroot stores under /tmp made with `nix copy --to`, never in
/// /nix/store.
@Suite("Store integrity check")
struct StoreCheckTests {
    enum Tamper: String, CaseIterable, Sendable {
        case flipByte, addExecuteBit, removeExecuteBit, retargetSymlink, deleteFile, addFile

        func apply(to copy: String) throws {
            switch self {
            case .flipByte:
                let fd = open(copy + "/data.txt", O_RDWR)
                guard fd >= 0 else { throw HopError(.environment, "cannot open \(copy)/data.txt") }
                defer { close(fd) }
                var byte: UInt8 = 0
                guard pread(fd, &byte, 1, 5) == 1 else { throw HopError(.environment, "short read") }
                byte ^= 0x01
                guard pwrite(fd, &byte, 1, 5) == 1 else { throw HopError(.environment, "short write") }
            case .addExecuteBit:
                try chmodOrThrow(copy + "/data.txt", 0o755)
            case .removeExecuteBit:
                try chmodOrThrow(copy + "/bin/tool", 0o644)
            case .retargetSymlink:
                guard unlink(copy + "/link") == 0 else { throw HopError(.environment, "cannot unlink") }
                try NARFixture.symlink("bin/tool", at: copy + "/link")
            case .deleteFile:
                guard unlink(copy + "/bin/tool") == 0 else { throw HopError(.environment, "cannot unlink") }
            case .addFile:
                try NARFixture.write(copy + "/bin/extra", [])
            }
        }

        private func chmodOrThrow(_ path: String, _ mode: mode_t) throws {
            guard chmod(path, mode) == 0 else { throw HopError(.environment, "cannot chmod \(path)") }
        }
    }

    /// A small store path of this run's own (a nonce makes it unique), deleted afterwards.
    private func addSample() throws -> (dir: String, storePath: String, narHash: String) {
        let dir = try NARFixture.temporaryDirectory("hop-storecheck-src")
        let tree = dir + "/sample"
        try NARFixture.mkdir(tree + "/bin")
        try NARFixture.write(tree + "/data.txt", Array("some data that matters \(UUID().uuidString)\n".utf8))
        try NARFixture.write(tree + "/bin/tool", Array("#!/bin/sh\necho tool\n".utf8), mode: 0o755)
        try NARFixture.symlink("data.txt", at: tree + "/link")
        let storePath = try NARFixture.text("nix-store", ["--add", tree])
        let narHash = try NARFixture.text("nix-store", ["--query", "--hash", storePath])
        return (dir, storePath, narHash)
    }

    @Test("a path changed in a chroot copy is reported, with both hashes; the untouched copy passes", arguments: Tamper.allCases)
    func tamperedCopy(_ tamper: Tamper) throws {
        let sample = try addSample()
        defer {
            NARFixture.remove(sample.dir)
            NARFixture.deleteFromStore([sample.storePath])
        }
        let root = try NARFixture.temporaryDirectory("hop-storecheck-\(tamper.rawValue)")
        defer { NARFixture.remove(root) }
        _ = try NARFixture.nix(["copy", "--no-check-sigs", "--to", root, sample.storePath])
        let copy = root + sample.storePath
        // Only the copy is made writable, and only after proving it shares no inode with the store.
        var inStore = stat(), inCopy = stat()
        #expect(stat(sample.storePath + "/data.txt", &inStore) == 0 && stat(copy + "/data.txt", &inCopy) == 0)
        try #require(inStore.st_ino != inCopy.st_ino || inStore.st_dev != inCopy.st_dev, "the copy is a hard link into /nix/store")
        _ = try NARFixture.run("chmod", ["-R", "u+w", copy])

        let record = [(path: sample.storePath, narHash: sample.narHash)]
        let before = try StoreCheck.verify(paths: record, storeRoot: root)
        #expect(before.map(\.ok) == [true])
        #expect(before.first?.problem == nil)
        #expect(before.first.flatMap(\.actualHex) == NixBase32.sha256Hex(fromNixHash: sample.narHash))

        try tamper.apply(to: copy)
        let after = try #require(try StoreCheck.verify(paths: record, storeRoot: root).first)
        #expect(after.path == sample.storePath)
        #expect(!after.ok)
        #expect(after.actualHex != nil && after.actualHex != before.first?.actualHex)
        let problem = after.problem ?? ""
        #expect(problem.contains(sample.narHash), "\(problem)")
        #expect(problem.contains(try NAR.hash(path: copy).nixBase32), "\(problem)")

        // The real store was not touched.
        #expect(try StoreCheck.verify(paths: record).map(\.ok) == [true])
    }

    @Test("results keep input order across concurrent workers; a missing path is a record, not an error")
    func orderAndMissing() throws {
        let infos = Array(try NARFixture.pathInfos(["--all"]).prefix(24))
        let missing = (path: "/nix/store/00000000000000000000000000000000-hop-not-there", narHash: "sha256:" + String(repeating: "0", count: 52))
        var input = infos.map { (path: $0.path, narHash: $0.narHash) }
        input.insert(missing, at: input.count / 2)
        let results = try StoreCheck.verify(paths: input)
        #expect(results.map(\.path) == input.map(\.path))
        #expect(results.map(\.expectedNarHash) == input.map(\.narHash))
        let gone = try #require(results.first { $0.path == missing.path })
        #expect(!gone.ok && gone.problem == "missing" && gone.actualHex == nil)
        for r in results where r.path != missing.path {
            #expect(r.ok || !FileManager.default.fileExists(atPath: r.path), "\(r.path): \(r.problem ?? "")")
        }
    }

    @Test("a wrong or unparseable recorded hash fails that path only")
    func wrongRecordedHash() throws {
        let sample = try addSample()
        defer {
            NARFixture.remove(sample.dir)
            NARFixture.deleteFromStore([sample.storePath])
        }
        let wrong = "sha256:" + String(repeating: "1", count: 52)
        let results = try StoreCheck.verify(paths: [
            (sample.storePath, wrong), (sample.storePath, "md5:abc"), (sample.storePath, sample.narHash),
        ])
        #expect(results.map(\.ok) == [false, false, true])
        #expect(results[0].problem?.contains("recorded \(wrong)") == true)
        #expect(results[1].problem?.contains("not a SHA-256") == true)
        // Hex and SRI spellings of the same hash are accepted.
        let hex = try #require(NixBase32.sha256Hex(fromNixHash: sample.narHash))
        let sri = try #require(try NARFixture.pathInfos([sample.storePath]).first?.narHash)
        #expect(try StoreCheck.verify(paths: [(sample.storePath, hex), (sample.storePath, sri)]).map(\.ok) == [true, true])
    }

    @Test("paths outside the store and a missing store root are refused", arguments: [
        "/etc/passwd", "/nix/store/../../etc/passwd", "/nix/store/", "/nix/store/..", "nix/store/abc-x", "/nix/store/abc-x/sub",
    ])
    func refusesNonStorePaths(_ path: String) throws {
        let error = try #require(throws: HopError.self) { try StoreCheck.verify(paths: [(path, "sha256:x")]) }
        #expect(error.code == .invalidInput)
    }

    @Test("a store root without nix/store is an environment error")
    func missingStoreRoot() throws {
        let error = try #require(throws: HopError.self) {
            try StoreCheck.verify(paths: [], storeRoot: "/tmp/hop-no-such-root-\(UUID().uuidString)")
        }
        #expect(error.code == .environment)
    }
}
