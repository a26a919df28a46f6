import Foundation
import Testing
import HopBasics
@testable import Provenance
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for the NAR and store-check tests: real Nix, real files, nothing mocked.
enum NARFixture {
    static func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        let r = try SystemRunner().run(Command(executable, arguments))
        guard r.succeeded else {
            throw HopError(.environment, "\(Command(executable, arguments)) failed (\(r.status))", detail: r.stderrTail())
        }
        return r
    }

    static func text(_ executable: String, _ arguments: [String]) throws -> String {
        try run(executable, arguments).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func nix(_ arguments: [String]) throws -> String {
        try text("nix", ["--extra-experimental-features", "nix-command"] + arguments)
    }

    /// `nix hash path --base32` in the `sha256:` form `NARDigest.nixBase32` uses.
    static func nixHashPath(_ path: String) throws -> String {
        "sha256:" + (try nix(["hash", "path", "--type", "sha256", "--base32", path]))
    }

    /// `nix path-info --json` (a JSON list in Nix 2.8; narHash in SRI form).
    static func pathInfos(_ arguments: [String]) throws -> [(path: String, narHash: String, narSize: UInt64)] {
        let json = try nix(["path-info", "--json"] + arguments)
        let list = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] ?? []
        return list.compactMap { info in
            guard let path = info["path"] as? String, let hash = info["narHash"] as? String,
                  let size = (info["narSize"] as? NSNumber)?.uint64Value else { return nil }
            return (path, hash, size)
        }
    }

    static func narSize(_ storePath: String) throws -> UInt64? {
        try pathInfos([storePath]).first?.narSize
    }

    static func temporaryDirectory(_ prefix: String) throws -> String {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw HopError(.environment, "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// Makes everything under `path` writable first: store copies are read-only.
    static func remove(_ path: String) {
        precondition(path.hasPrefix("/tmp/"), "refusing to delete \(path)")
        _ = try? SystemRunner().run(Command("chmod", ["-R", "u+w", path]))
        _ = try? SystemRunner().run(Command("rm", ["-rf", path]))
    }

    static func deleteFromStore(_ paths: [String]) {
        _ = try? SystemRunner().run(Command("nix-store", ["--delete"] + paths))
    }

    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)), chmod(path, mode) == 0 else {
            throw HopError(.environment, "cannot write \(path)")
        }
    }

    static func mkdir(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    static func symlink(_ target: String, at path: String) throws {
        guard Glibc.symlink(target, path) == 0 else { throw HopError(.environment, "cannot symlink \(path)") }
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    /// A tree with everything the format has corners for. `nonce` makes its store path unique
    /// to this run, so deleting it afterwards cannot hit anyone else's path.
    static func makeCornerCaseTree(at root: String, nonce: String) throws {
        try mkdir(root)
        try write(root + "/nonce", Array(nonce.utf8))
        try write(root + "/empty", [])
        for size in [1, 7, 8, 9, 15, 16, 17, 64] {
            try write(root + "/size-\(size)", Array(repeating: UInt8(size), count: size))
        }
        try write(root + "/buffer-exact", randomBytes(1 << 20))
        try write(root + "/buffer-plus-one", randomBytes((1 << 20) + 1))
        // Sizes on each side of 128 KiB and one straddling several such blocks (a staging buffer
        // of that size was tried; they stay as corners for any buffer size).
        try write(root + "/chunk-minus-one", randomBytes((128 << 10) - 1))
        try write(root + "/chunk-exact", randomBytes(128 << 10))
        try write(root + "/chunk-plus-one", randomBytes((128 << 10) + 1))
        try write(root + "/chunks-and-five", randomBytes(3 * (128 << 10) + 5))
        try write(root + "/five-mb", randomBytes(5 * 1000 * 1000))
        try write(root + "/tool", Array("#!/bin/sh\necho hi\n".utf8), mode: 0o755)
        try write(root + "/owner-exec-only", Array("x".utf8), mode: 0o700)
        // Group and other execute bits without the owner's: Nix does not mark this executable.
        try write(root + "/group-exec-only", Array("y".utf8), mode: 0o615)
        try mkdir(root + "/empty-dir")
        try mkdir(root + "/nested-empty/inner")
        try symlink("size-8", at: root + "/link-relative")
        try symlink("../five-mb", at: root + "/empty-dir-sibling-link")
        try symlink("/etc/hostname", at: root + "/link-absolute")
        try symlink("does/not/exist", at: root + "/link-dangling")
        try symlink("nested-empty", at: root + "/link-to-dir")
        try symlink(String(repeating: "t", count: 300), at: root + "/link-long-target")
        // Byte order, not locale order: uppercase before lowercase, "a" before "a-b" before "a.b"
        // before "ab", UTF-8 after ASCII, and a name that is a prefix of another.
        try mkdir(root + "/order")
        for name in ["b", "B", "a", "a.b", "a-b", "ab", "_", "Z", "~", "10", "9", "é", "e", "日本語", "a b", "ä"] {
            try write(root + "/order/" + name, Array(name.utf8))
        }
        try mkdir(root + "/with space and ünïcødé 名前")
        try write(root + "/with space and ünïcødé 名前/файл с пробелом.txt", Array("hello\n".utf8))
        try write(root + "/" + String(repeating: "n", count: 255), Array("max name".utf8))
        var deep = root + "/deep"
        for level in 1...50 {
            deep += "/level-\(level)"
        }
        try mkdir(deep)
        try write(deep + "/bottom", Array("bottom\n".utf8), mode: 0o555)
        try symlink("../../../level-48", at: deep + "/up")
        for i in 0..<200 {
            try write(root + "/order/many-\(i)", Array(repeating: UInt8(i & 0xff), count: i))
        }
    }
}

@Suite("NAR hashing in Swift, against real Nix")
struct NARTests {
    /// Every valid path in this machine's store: whatever Nix registered, whatever built it.
    @Test("hash and size of every valid store path equal what Nix recorded")
    func everyValidStorePath() throws {
        var records = try NARFixture.pathInfos(["--all"])
        var added: [String] = []
        defer { NARFixture.deleteFromStore(added) }
        if records.count < 3 {
            // A fresh machine: give the test something real to compare.
            let dir = try NARFixture.temporaryDirectory("hop-nar-seed")
            defer { NARFixture.remove(dir) }
            try NARFixture.makeCornerCaseTree(at: dir + "/tree", nonce: UUID().uuidString)
            let p = try NARFixture.text("nix-store", ["--add", dir + "/tree"])
            added.append(p)
            records += try NARFixture.pathInfos([p])
        }
        let paths = records.map(\.path)
        // nix-store --query --hash prints the sha256:<base32> form: check that spelling too. One
        // call for all; path by path only if a path was collected meanwhile and the batch failed.
        var queried: [String?] = (try? NARFixture.text("nix-store", ["--query", "--hash"] + paths))?
            .split(separator: "\n").map { String($0) } ?? []
        if queried.count != paths.count {
            queried = paths.map { try? NARFixture.text("nix-store", ["--query", "--hash", $0]) }
        }
        let results = NARTestSlots<Result<NARDigest, Error>>(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            results.set(i, Result { try NAR.hash(path: paths[i]) })
        }
        var compared = 0
        for (i, (record, result)) in zip(records, results.values).enumerated() {
            // A path that fails here but is no longer valid was collected by another process
            // since path-info ran: not this code's fault.
            switch result {
            case .failure(let error):
                if stillValid(record.path) { Issue.record("\(record.path): \(error)") }
            case .success(let digest):
                if digest.hex == NixBase32.sha256Hex(fromNixHash: record.narHash), digest.sri == record.narHash,
                   digest.size == record.narSize, digest.nixBase32 == queried[i] {
                    compared += 1
                } else if stillValid(record.path) {
                    Issue.record("\(record.path): Swift \(digest), Nix \(queried[i] ?? "-") \(record.narHash) \(record.narSize)")
                }
            }
        }
        #expect(compared >= 1)
        #expect(compared * 10 >= records.count * 9, "compared \(compared) of \(records.count) store paths")
    }

    private func stillValid(_ path: String) -> Bool {
        (try? SystemRunner().run(Command("nix-store", ["--check-validity", path])).succeeded) == true
    }

    @Test("a tree of corner cases: same bytes as nix-store --dump, same hash as nix hash path and nix-store --add")
    func cornerCaseTree() throws {
        let dir = try NARFixture.temporaryDirectory("hop-nar-tree")
        defer { NARFixture.remove(dir) }
        let tree = dir + "/tree"
        try NARFixture.makeCornerCaseTree(at: tree, nonce: UUID().uuidString)

        let digest = try NAR.hash(path: tree)
        #expect(digest.nixBase32 == (try NARFixture.nixHashPath(tree)))

        let nixDump = try NARFixture.run("nix-store", ["--dump", tree]).stdout
        let ours = try dumpBytes(tree)
        #expect(ours.count == nixDump.count)
        #expect(ours == nixDump, "first difference at byte \(zip(ours, nixDump).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ours.count, nixDump.count))")
        #expect(digest.size == UInt64(nixDump.count))

        // Adding canonicalises permissions and timestamps; the archive (and so the hash) must not move.
        let added = try NARFixture.text("nix-store", ["--add", tree])
        let fixed = try NARFixture.text("nix-store", ["--add-fixed", "--recursive", "sha256", tree])
        defer { NARFixture.deleteFromStore([added, fixed]) }
        for storePath in [added, fixed] {
            let stored = try NAR.hash(path: storePath)
            #expect(stored == digest)
            #expect(stored.nixBase32 == (try NARFixture.text("nix-store", ["--query", "--hash", storePath])))
            #expect(stored.size == (try NARFixture.narSize(storePath)))
        }
    }

    enum Root: String, CaseIterable, Sendable {
        case emptyFile, oneByte, sevenBytes, eightBytes, nineBytes, bufferSize, bufferPlusOne
        case executable, groupExecuteOnly, emptyDirectory, relativeSymlink, absoluteSymlink, danglingSymlink

        func create(at path: String) throws {
            switch self {
            case .emptyFile: try NARFixture.write(path, [])
            case .oneByte: try NARFixture.write(path, [0])
            case .sevenBytes: try NARFixture.write(path, Array("1234567".utf8))
            case .eightBytes: try NARFixture.write(path, Array("12345678".utf8))
            case .nineBytes: try NARFixture.write(path, Array("123456789".utf8))
            case .bufferSize: try NARFixture.write(path, NARFixture.randomBytes(1 << 20))
            case .bufferPlusOne: try NARFixture.write(path, NARFixture.randomBytes((1 << 20) + 1))
            case .executable: try NARFixture.write(path, Array("#!/bin/sh\n".utf8), mode: 0o555)
            case .groupExecuteOnly: try NARFixture.write(path, Array("#!/bin/sh\n".utf8), mode: 0o654)
            case .emptyDirectory: try NARFixture.mkdir(path)
            case .relativeSymlink: try NARFixture.symlink("sibling", at: path)
            case .absoluteSymlink: try NARFixture.symlink("/nix/store", at: path)
            case .danglingSymlink: try NARFixture.symlink("/nonexistent/\(UUID().uuidString)", at: path)
            }
        }
    }

    @Test("a single file, directory or symlink as the root (never followed)", arguments: Root.allCases)
    func singleRoot(_ kind: Root) throws {
        let dir = try NARFixture.temporaryDirectory("hop-nar-root")
        defer { NARFixture.remove(dir) }
        let path = dir + "/root"
        try kind.create(at: path)
        let digest = try NAR.hash(path: path)
        #expect(digest.nixBase32 == (try NARFixture.nixHashPath(path)))
        let nixDump = try NARFixture.run("nix-store", ["--dump", path]).stdout
        #expect(try dumpBytes(path) == nixDump)
        #expect(digest.size == UInt64(nixDump.count))
    }

    /// Independent of Nix: the bytes the format prescribes for one small file.
    @Test("encodes a three-byte file exactly as the format specifies")
    func goldenBytes() throws {
        let dir = try NARFixture.temporaryDirectory("hop-nar-golden")
        defer { NARFixture.remove(dir) }
        try NARFixture.write(dir + "/f", Array("abc".utf8), mode: 0o744)
        func str(_ s: String) -> [UInt8] {
            let b = Array(s.utf8)
            return withUnsafeBytes(of: UInt64(b.count).littleEndian, Array.init) + b
                + Array(repeating: 0, count: (8 - b.count % 8) % 8)
        }
        let expected = ["nix-archive-1", "(", "type", "regular", "executable", "", "contents", "abc", ")"].flatMap(str)
        #expect(try dumpBytes(dir + "/f") == Data(expected))
        let digest = try NAR.hash(path: dir + "/f")
        #expect(digest.size == UInt64(expected.count))
        #expect(digest.hex.count == 64 && digest.nixBase32.hasPrefix("sha256:") && digest.sri.hasPrefix("sha256-"))
        #expect(NixBase32.sha256Hex(fromNixHash: digest.nixBase32) == digest.hex)
        #expect(NixBase32.sha256Hex(fromNixHash: digest.sri) == digest.hex)
    }

    @Test("a missing path fails with couldNotCheck naming it")
    func missingPath() throws {
        let path = "/tmp/hop-nar-missing-\(UUID().uuidString)"
        let error = try #require(throws: HopError.self) { try NAR.hash(path: path) }
        #expect(error.code == .couldNotCheck)
        #expect(error.message.contains(path))
    }

    @Test("a FIFO deep in a tree fails naming its full path")
    func unsupportedFileType() throws {
        let dir = try NARFixture.temporaryDirectory("hop-nar-fifo")
        defer { NARFixture.remove(dir) }
        try NARFixture.mkdir(dir + "/a/b")
        try NARFixture.write(dir + "/a/b/before", [1])
        #expect(mkfifo(dir + "/a/b/pipe", 0o644) == 0)
        let error = try #require(throws: HopError.self) { try NAR.hash(path: dir + "/a") }
        #expect(error.code == .couldNotCheck)
        #expect(error.message.contains(dir + "/a/b/pipe"))
    }

    @Test("a walk that fails after a multi-buffer file throws, and the next hash is right")
    func failureAfterALargeFile() throws {
        let dir = try NARFixture.temporaryDirectory("hop-nar-fifo-big")
        defer { NARFixture.remove(dir) }
        try NARFixture.mkdir(dir + "/a")
        try NARFixture.write(dir + "/a/big", NARFixture.randomBytes(3 << 20))
        #expect(mkfifo(dir + "/a/pipe", 0o644) == 0)
        let error = try #require(throws: HopError.self) { try NAR.hash(path: dir + "/a") }
        #expect(error.message.contains(dir + "/a/pipe"))
        unlink(dir + "/a/pipe")
        #expect(try NAR.hash(path: dir + "/a").nixBase32 == (try NARFixture.nixHashPath(dir + "/a")))
    }

    @Test("trees hashed on many threads at once each get their own digest")
    func concurrentHashes() throws {
        let dir = try NARFixture.temporaryDirectory("hop-nar-concurrent")
        defer { NARFixture.remove(dir) }
        let sizes = [0, 5, 200 << 10, 1 << 20, 3 << 20, (128 << 10) * 7 + 3]
        for (i, size) in sizes.enumerated() { try NARFixture.write(dir + "/f\(i)", NARFixture.randomBytes(size)) }
        let expected = try sizes.indices.map { try NARFixture.nixHashPath(dir + "/f\($0)") }
        let slots = NARTestSlots<String>(count: sizes.count * 4)
        DispatchQueue.concurrentPerform(iterations: sizes.count * 4) { i in
            slots.set(i, (try? NAR.hash(path: dir + "/f\(i % sizes.count)").nixBase32) ?? "failed")
        }
        #expect(slots.values == (0..<sizes.count * 4).map { expected[$0 % sizes.count] })
    }

    private func dumpBytes(_ path: String) throws -> Data {
        let out = try NARFixture.temporaryDirectory("hop-nar-dump")
        defer { NARFixture.remove(out) }
        #expect(FileManager.default.createFile(atPath: out + "/nar", contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: out + "/nar"))
        let written = try NAR.dump(path: path, to: handle)
        try handle.close()
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/nar"))
        #expect(written == UInt64(data.count))
        return data
    }
}

/// One slot per concurrent worker, read after all finished.
final class NARTestSlots<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Value?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Value) { lock.withLock { slots[i] = value } }
    var values: [Value] { lock.withLock { slots.map { $0! } } }
}
