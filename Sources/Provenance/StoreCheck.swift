import Foundation
import HopBasics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of re-hashing one store path against the NAR hash recorded for it.
public struct StorePathCheck: Sendable, Hashable {
    /// The store path as recorded (`/nix/store/…`), even when it was read from another root.
    public var path: String
    /// The recorded hash, as given (`sha256:<base32>`, SRI or hex).
    public var expectedNarHash: String
    /// The hash of what is on disk now; nil when it could not be computed (missing, unreadable).
    public var actualHex: String?
    public var ok: Bool
    /// Why the path failed, in words a person can act on; nil when `ok`.
    public var problem: String?

    public init(path: String, expectedNarHash: String, actualHex: String?, ok: Bool, problem: String?) {
        self.path = path
        self.expectedNarHash = expectedNarHash
        self.actualHex = actualHex
        self.ok = ok
        self.problem = problem
    }
}

/// Proves store paths still hold the bytes Nix registered, by hashing them in Swift: a
/// tampered file, a changed execute bit or a retargeted symlink in the store all change the NAR
/// hash. Nix's own `--verify` trusts the same database a tamperer can edit; hop checks against
/// hashes it recorded itself (in provenance or its build records).
public enum StoreCheck {
    /// Checks every path, hashing several at once (one per core) and returning the results in
    /// input order. `storeRoot` "" reads the real store; "/tmp/x" reads a chroot store whose
    /// files live at /tmp/x/nix/store/…, while records keep the logical /nix/store/… path.
    ///
    /// A missing, unreadable or altered path is a failed record, not an error; the call throws
    /// only for input that is not a store path or a store root that does not exist. It blocks
    /// the calling thread until every path is hashed (reading, not waiting, is the cost).
    public static func verify(paths: [(path: String, narHash: String)], storeRoot: String = "") throws -> [StorePathCheck] {
        for entry in paths { try validateStorePath(entry.path) }
        if !storeRoot.isEmpty {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: storeRoot + "/nix/store", isDirectory: &isDirectory), isDirectory.boolValue else {
                throw HopError(.environment, "store root \(storeRoot) has no nix/store directory",
                               hint: "pass the directory given to `nix copy --to`, or \"\" for the real store")
            }
        }
        let slots = ResultSlots(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            slots.set(i, check(path: paths[i].path, narHash: paths[i].narHash, storeRoot: storeRoot))
        }
        return slots.results
    }

    /// Checks one path; never throws, every failure becomes a record.
    static func check(path: String, narHash: String, storeRoot: String) -> StorePathCheck {
        var record = StorePathCheck(path: path, expectedNarHash: narHash, actualHex: nil, ok: false, problem: nil)
        guard let expectedHex = NixBase32.sha256Hex(fromNixHash: narHash) else {
            record.problem = "the recorded NAR hash \(narHash) is not a SHA-256 hash"
            return record
        }
        let onDisk = storeRoot + path
        var st = stat()
        if lstat(onDisk, &st) != 0 {
            record.problem = errno == ENOENT ? "missing" : "cannot stat \(onDisk): \(String(cString: strerror(errno)))"
            return record
        }
        let digest: NARDigest
        do {
            digest = try NAR.hash(path: onDisk)
        } catch let error as HopError {
            record.problem = error.message
            return record
        } catch {
            record.problem = "\(error)"
            return record
        }
        record.actualHex = digest.hex
        record.ok = digest.hex == expectedHex
        if !record.ok {
            record.problem = "NAR hash mismatch: recorded \(nixBase32(hex: expectedHex)), computed \(digest.nixBase32)"
        }
        return record
    }

    /// Only `/nix/store/<name>`: anything else would let a record point the check (and its
    /// error messages) at arbitrary files, or outside a chroot store via `..`.
    static func validateStorePath(_ path: String) throws {
        let prefix = "/nix/store/"
        let name = path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : ""
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw HopError.invalid("\(path) is not a store path", hint: "expected /nix/store/<hash>-<name>")
        }
    }

    private static func nixBase32(hex: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            bytes.append(UInt8(hex[i..<j], radix: 16) ?? 0)
            i = j
        }
        return "sha256:" + NixBase32.encode(bytes)
    }
}

/// Results written by concurrent workers, one slot each, read once all have finished.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [StorePathCheck?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: StorePathCheck) { lock.withLock { slots[i] = value } }

    var results: [StorePathCheck] { lock.withLock { slots.map { $0! } } }
}
