import Foundation
import HopBasics
internal import CArchive
import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// One entry of an app's source tree, relative to its root.
public struct SourceEntry: Sendable, Hashable, Comparable {
    public enum Kind: Sendable, Hashable { case file(executable: Bool), directory, symlink(target: String) }
    public var path: String
    public var kind: Kind
    public static func < (a: SourceEntry, b: SourceEntry) -> Bool { Array(a.path.utf8).lexicographicallyPrecedes(Array(b.path.utf8)) }
}

/// Gitignore-style patterns from `[build] ignore`: a pattern without '/' matches a name at any
/// depth; with '/' it is anchored at the app root; a trailing '/' matches directories only;
/// `*`, `?` and `[…]` as in fnmatch; a leading `**/` means "at any depth".
public struct IgnoreRules: Sendable {
    struct Rule: Sendable { var pattern: String; var anchored: Bool; var dirOnly: Bool }
    let rules: [Rule]

    public init(_ patterns: [String]) {
        rules = patterns.compactMap { raw in
            var p = raw.trimmingCharacters(in: .whitespaces)
            if p.isEmpty || p.hasPrefix("#") { return nil }
            var dirOnly = false
            if p.hasSuffix("/") { dirOnly = true; p.removeLast() }
            if p.hasPrefix("**/") { p.removeFirst(3); return Rule(pattern: p, anchored: p.contains("/"), dirOnly: dirOnly) }
            if p.hasPrefix("/") { p.removeFirst(); return Rule(pattern: p, anchored: true, dirOnly: dirOnly) }
            return Rule(pattern: p, anchored: p.contains("/"), dirOnly: dirOnly)
        }
    }

    /// True when `path` (or one of its parent directories) is ignored.
    public func ignores(_ path: String, isDirectory: Bool) -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        for i in parts.indices {
            let prefix = parts[0...i].joined(separator: "/")
            let dir = i < parts.count - 1 || isDirectory
            for r in rules where !r.dirOnly || dir {
                let subject = r.anchored ? prefix : parts[i]
                if fnmatch(r.pattern, subject, r.anchored ? FNM_PATHNAME : 0) == 0 { return true }
            }
        }
        return false
    }
}

/// Lists an app tree and writes it as a canonical archive: sorted names, mtime 0, uid/gid 0, no
/// user or group names, modes normalised to 0755/0644 (dirs and executables / other files), so
/// the same source gives the same bytes whatever the clock, umask or checkout order.
public enum SourceArchive {
    /// Files git would commit (tracked, plus untracked files that are not ignored) when `root`
    /// is in a git work tree; otherwise the whole tree. `.git` is never included; `ignore`
    /// patterns are applied on top.
    public static func list(root: String, ignore: [String], runner: any ProcessRunner) throws -> [SourceEntry] {
        let rules = IgnoreRules(ignore)
        var paths: [String]
        if isGitWorkTree(root, runner: runner) {
            let r = try runner.run(Command("git", ["-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."]))
            guard r.succeeded else {
                throw HopError(.environment, "git ls-files failed in \(root)", hint: "check the repository: \(r.stderrTail(3))")
            }
            paths = r.stdoutText.split(separator: "\0").map(String.init)
        } else {
            paths = try walk(root)
        }
        var entries: [String: SourceEntry] = [:]
        for p in paths {
            if p.split(separator: "/").contains(".git") { continue }
            let full = root + "/" + p
            var st = stat()
            guard lstat(full, &st) == 0 else { continue } // deleted but still in the index
            let kind: SourceEntry.Kind
            switch st.st_mode & S_IFMT {
            case S_IFDIR: kind = .directory
            case S_IFLNK: kind = .symlink(target: (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "")
            case S_IFREG: kind = .file(executable: st.st_mode & 0o111 != 0)
            default: continue // sockets, fifos, devices are not source
            }
            if rules.ignores(p, isDirectory: kind == .directory) { continue }
            entries[p] = SourceEntry(path: p, kind: kind)
            // Parent directories, so the archive is self-describing.
            var parts = p.split(separator: "/").dropLast()
            while !parts.isEmpty {
                let d = parts.joined(separator: "/")
                if entries[d] == nil { entries[d] = SourceEntry(path: d, kind: .directory) }
                parts = parts.dropLast()
            }
        }
        return entries.values.sorted()
    }

    static func isGitWorkTree(_ root: String, runner: any ProcessRunner) -> Bool {
        guard let r = try? runner.run(Command("git", ["-C", root, "rev-parse", "--is-inside-work-tree"])) else { return false }
        return r.succeeded && r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "true"
    }

    static func walk(_ root: String) throws -> [String] {
        var out: [String] = []
        func visit(_ rel: String) throws {
            let dir = rel.isEmpty ? root : root + "/" + rel
            for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where name != ".git" {
                let r = rel.isEmpty ? name : rel + "/" + name
                out.append(r)
                var st = stat()
                if lstat(root + "/" + r, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { try visit(r) }
            }
        }
        try visit("")
        return out
    }

    /// Writes `entries` (from `list`) as a POSIX pax archive at `output`; returns its SHA-256 (hex).
    @discardableResult
    public static func write(root: String, entries: [SourceEntry], to output: String) throws -> String {
        guard let a = archive_write_new() else { throw HopError(.internalError, "libarchive: out of memory") }
        defer { archive_write_free(a) }
        func check(_ rc: Int32, _ what: String) throws {
            if rc != ARCHIVE_OK {
                throw HopError(.internalError, "libarchive \(what): \(String(cString: archive_error_string(a)))")
            }
        }
        try check(archive_write_set_format_pax_restricted(a), "format")
        try check(archive_write_open_filename(a, output), "open \(output)")
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        for e in entries.sorted() {
            guard let entry = archive_entry_new() else { throw HopError(.internalError, "libarchive: out of memory") }
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname_utf8(entry, e.path)
            archive_entry_set_mtime(entry, 0, 0)
            archive_entry_set_uid(entry, 0)
            archive_entry_set_gid(entry, 0)
            let full = root + "/" + e.path
            var size: Int64 = 0
            switch e.kind {
            case .directory:
                archive_entry_set_filetype(entry, 0o040000)
                archive_entry_set_perm(entry, 0o755)
            case .symlink(let target):
                archive_entry_set_filetype(entry, 0o120000)
                archive_entry_set_perm(entry, 0o777)
                archive_entry_set_symlink_utf8(entry, target)
            case .file(let executable):
                var st = stat()
                guard stat(full, &st) == 0 else { throw HopError(.environment, "cannot read \(full)") }
                size = Int64(st.st_size)
                archive_entry_set_filetype(entry, 0o100000)
                archive_entry_set_perm(entry, executable ? 0o755 : 0o644)
                archive_entry_set_size(entry, size)
            }
            try check(archive_write_header(a, entry), "header for \(e.path)")
            if case .file = e.kind, size > 0 {
                guard let f = fopen(full, "rb") else { throw HopError(.environment, "cannot open \(full)") }
                defer { fclose(f) }
                while true {
                    let n = fread(&buffer, 1, buffer.count, f)
                    if n == 0 { break }
                    let w = buffer.withUnsafeBytes { archive_write_data(a, $0.baseAddress, n) }
                    if w < 0 { try check(Int32(w), "data for \(e.path)") }
                }
            }
        }
        try check(archive_write_close(a), "close")
        return try sha256Hex(file: output)
    }
}

/// SHA-256 of a file's bytes, lowercase hex, streamed.
public func sha256Hex(file: String) throws -> String {
    guard let h = FileHandle(forReadingAtPath: file) else { throw HopError(.environment, "cannot read \(file)") }
    defer { try? h.close() }
    var hasher = SHA256()
    while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return hexString(hasher.finalize())
}

public func sha256Hex(_ data: Data) -> String {
    hexString(SHA256.hash(data: data))
}
