import Foundation
import HopBasics

/// Finds hop's Nix library (the repo's nix/ directory, or share/hop/nix in an installed hop).
public enum NixLibrary {
    public static func locate(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var candidates: [String] = []
        if let d = env["HOP_NIX_LIB"], !d.isEmpty { candidates.append(d) }
        // The resolved executable, not argv[0]: `hop` started from PATH finds PREFIX/share/hop/nix.
        let exe = URL(fileURLWithPath: runningHopBinary())
        var dir = exe.deletingLastPathComponent()
        candidates.append(dir.appendingPathComponent("../share/hop/nix").standardized.path)
        // A development checkout: .build/<config>/hop → repo root/nix.
        for _ in 0..<5 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent("nix").path)
        }
        // Tests run from the package directory.
        candidates.append(FileManager.default.currentDirectoryPath + "/nix")
        // A copy of the binary elsewhere (HOP_HOME/bin, a store path) still finds an installed hop.
        candidates += ["/usr/share/hop/nix", "/usr/local/share/hop/nix"]
        for c in candidates where FileManager.default.fileExists(atPath: c + "/toolchains/seed.nix") {
            return c
        }
        throw HopError(.environment, "cannot find hop's Nix library (nix/toolchains/seed.nix)",
                       hint: "set HOP_NIX_LIB to the nix/ directory of hop's source or installation")
    }
}

/// The NAR hash of hop's Nix library, and whether it came from the cache. Hashing the library
/// (a few hundred KB over dozens of files) cost ~100 ms of every build; its files' identity —
/// every entry's relative path, type, size, mode, inode and modification time — changes whenever
/// a byte could have, so a cache keyed by it is as good as hashing.
public struct NixLibraryDigest: Sendable {
    public var hex: String
    public var identity: String
    public var fromCache: Bool

    /// Records the digest for the next build (best effort: a cache that cannot be written only
    /// costs the next build the hashing).
    public func save(to file: String) {
        let text = "\(identity)\n\(hex)\n"
        try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        try? writeFileAtomically(file, text, mode: 0o600)
    }
}

extension NixLibrary {
    /// The library's NAR hash, from `cacheFile` when the files are the ones it was computed from.
    public static func narHash(of dir: String, cacheFile: String) throws -> NixLibraryDigest {
        let identity = try Self.identity(of: dir)
        if let text = try? String(contentsOfFile: cacheFile, encoding: .utf8) {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.count >= 2, lines[0] == identity, lines[1].count == 64 {
                return NixLibraryDigest(hex: String(lines[1]), identity: identity, fromCache: true)
            }
        }
        return NixLibraryDigest(hex: try NAR.hash(path: dir).hex, identity: identity, fromCache: false)
    }

    /// A SHA-256 over every entry's (path, type, size, mode, inode, mtime in ns), in a stable order.
    public static func identity(of dir: String) throws -> String {
        var lines: [String] = []
        func visit(_ rel: String) throws {
            let full = rel.isEmpty ? dir : dir + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0 else {
                throw HopError(.environment, "cannot read hop's Nix library at \(full): \(String(cString: strerror(errno)))")
            }
            lines.append("\(rel)\0\(st.st_mode)\0\(st.st_size)\0\(st.st_ino)\0\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)\0\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)")
            if (st.st_mode & S_IFMT) == S_IFDIR {
                for name in try FileManager.default.contentsOfDirectory(atPath: full).sorted() {
                    try visit(rel.isEmpty ? name : rel + "/" + name)
                }
            }
        }
        try visit("")
        return sha256Hex(Data(lines.joined(separator: "\n").utf8))
    }
}
