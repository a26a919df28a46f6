import Foundation
import Crypto
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// One difference between two trees (an output and its rebuild).
public struct TreeDifference: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable { case changed, added, removed, modeChanged, typeChanged }
    public var path: String
    public var kind: Kind
    public var sizeBefore: Int64?
    public var sizeAfter: Int64?
}

/// Compares two directory trees the way NAR hashing sees them: file bytes, the executable bit,
/// symlink targets, entry names. Used to explain a failed rebuild check.
public enum TreeDiff {
    struct Entry: Equatable {
        enum Kind: Equatable { case file(exec: Bool, size: Int64, digest: [UInt8]), dir, link(String) }
        var kind: Kind
    }

    static func scan(_ root: String) throws -> [String: Entry] {
        var out: [String: Entry] = [:]
        func visit(_ rel: String) throws {
            let full = rel.isEmpty ? root : root + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0 else { throw HopError(.couldNotCheck, "cannot read \(full)") }
            switch st.st_mode & 0o170000 {
            case 0o040000:
                out[rel] = Entry(kind: .dir)
                for name in try FileManager.default.contentsOfDirectory(atPath: full) {
                    try visit(rel.isEmpty ? name : rel + "/" + name)
                }
            case 0o120000:
                out[rel] = Entry(kind: .link((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? ""))
            default:
                var h = SHA256()
                if let fh = FileHandle(forReadingAtPath: full) {
                    while let chunk = try fh.read(upToCount: 1 << 20), !chunk.isEmpty { h.update(data: chunk) }
                    try? fh.close()
                }
                out[rel] = Entry(kind: .file(exec: st.st_mode & 0o100 != 0, // Nix looks at the owner bit only
                                                  size: Int64(st.st_size), digest: Array(h.finalize())))
            }
        }
        try visit("")
        return out
    }

    public static func compare(_ a: String, _ b: String) throws -> [TreeDifference] {
        let left = try scan(a), right = try scan(b)
        func size(_ e: Entry?) -> Int64? { if case .file(_, let s, _)? = e?.kind { return s }; return nil }
        var diffs: [TreeDifference] = []
        for path in Set(left.keys).union(right.keys).sorted() {
            let l = left[path], r = right[path]
            let shown = path.isEmpty ? "." : path
            switch (l, r) {
            case (nil, _?): diffs.append(TreeDifference(path: shown, kind: .added, sizeBefore: nil, sizeAfter: size(r)))
            case (_?, nil): diffs.append(TreeDifference(path: shown, kind: .removed, sizeBefore: size(l), sizeAfter: nil))
            case (let l?, let r?) where l != r:
                let kind: TreeDifference.Kind
                switch (l.kind, r.kind) {
                case (.file(let e1, _, let d1), .file(let e2, _, let d2)): kind = d1 == d2 && e1 != e2 ? .modeChanged : .changed
                case (.link, .link): kind = .changed
                default: kind = .typeChanged
                }
                diffs.append(TreeDifference(path: shown, kind: kind, sizeBefore: size(l), sizeAfter: size(r)))
            default: break
            }
        }
        return diffs
    }
}
