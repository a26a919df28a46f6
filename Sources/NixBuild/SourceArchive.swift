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
        let tree = try SourceTree(root: root)
        var paths: [String]
        if isGitWorkTree(root, runner: runner) {
            let r = try runner.run(Command("git", ["-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."]))
            guard r.succeeded else {
                throw HopError(.environment, "git ls-files failed in \(root)", hint: "check the repository: \(r.stderrTail(3))")
            }
            paths = r.stdoutText.split(separator: "\0").map(String.init)
        } else {
            paths = try tree.walk()
        }
        var entries: [String: SourceEntry] = [:]
        var privatePaths: [String] = []
        for p in paths {
            if p.split(separator: "/").contains(".git") { continue }
            // Every component is opened without following symbolic links: a tracked path whose
            // parent became a link is refused, never read through it (hop reads as root).
            guard let (st, _) = try tree.lstat(p) else { continue } // deleted but still in the index
            let kind: SourceEntry.Kind
            switch st.st_mode & S_IFMT {
            case S_IFDIR: kind = .directory
            case S_IFLNK: kind = .symlink(target: try tree.readlink(p))
            case S_IFREG: kind = .file(executable: st.st_mode & 0o111 != 0)
            default: continue // sockets, fifos, devices are not source
            }
            if rules.ignores(p, isDirectory: kind == .directory) { continue }
            if case .file = kind, tree.isMorePrivate(st.st_mode, directory: false) { privatePaths.append(p) }
            if kind == .directory, tree.isMorePrivate(st.st_mode, directory: true) { privatePaths.append(p + "/") }
            entries[p] = SourceEntry(path: p, kind: kind)
            // Parent directories, so the archive is self-describing.
            var parts = p.split(separator: "/").dropLast()
            while !parts.isEmpty {
                let d = parts.joined(separator: "/")
                if entries[d] == nil {
                    entries[d] = SourceEntry(path: d, kind: .directory)
                    if let (dst, _) = try tree.lstat(d), tree.isMorePrivate(dst.st_mode, directory: true) { privatePaths.append(d + "/") }
                }
                parts = parts.dropLast()
            }
        }
        if !privatePaths.isEmpty {
            let shown = Array(Set(privatePaths)).sorted()
            throw HopError.invalid(
                "\(root): \(shown.count) path\(shown.count == 1 ? " is" : "s are") more private than the tree (not readable by users who can read the rest): "
                    + shown.prefix(5).joined(separator: ", ") + (shown.count > 5 ? ", …" : ""),
                hint: "the Nix store is readable by every user and app, so hop does not put private files in it: keep secrets "
                    + "out of the source (`hop config set`), exclude the path (`[build] ignore` or .gitignore), or, if it is "
                    + "meant to be shipped, make it readable (chmod o+r; directories o+rx)")
        }
        return entries.values.sorted()
    }

    static func isGitWorkTree(_ root: String, runner: any ProcessRunner) -> Bool {
        guard let r = try? runner.run(Command("git", ["-C", root, "rev-parse", "--is-inside-work-tree"])) else { return false }
        return r.succeeded && r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "true"
    }

    /// Writes `entries` (from `list`) as a POSIX pax archive at `output`; returns its SHA-256 (hex).
    /// Files are opened again through the same no-symlink walk, and must still be regular files.
    @discardableResult
    public static func write(root: String, entries: [SourceEntry], to output: String) throws -> String {
        let tree = try SourceTree(root: root)
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
            var size: Int64 = 0
            var fd: Int32 = -1
            defer { if fd >= 0 { close(fd) } }
            switch e.kind {
            case .directory:
                archive_entry_set_filetype(entry, 0o040000)
                archive_entry_set_perm(entry, 0o755)
            case .symlink(let target):
                archive_entry_set_filetype(entry, 0o120000)
                archive_entry_set_perm(entry, 0o777)
                archive_entry_set_symlink_utf8(entry, target)
            case .file(let executable):
                fd = try tree.openFile(e.path)
                var st = stat()
                guard fstat(fd, &st) == 0 else { throw HopError(.environment, "cannot read \(root)/\(e.path)") }
                size = Int64(st.st_size)
                archive_entry_set_filetype(entry, 0o100000)
                archive_entry_set_perm(entry, executable ? 0o755 : 0o644)
                archive_entry_set_size(entry, size)
            }
            try check(archive_write_header(a, entry), "header for \(e.path)")
            if case .file = e.kind, size > 0 {
                var written: Int64 = 0
                while written < size {
                    let n = read(fd, &buffer, min(buffer.count, Int(size - written)))
                    if n < 0 { throw HopError(.environment, "cannot read \(root)/\(e.path): \(String(cString: strerror(errno)))") }
                    if n == 0 { break }
                    let w = buffer.withUnsafeBytes { archive_write_data(a, $0.baseAddress, n) }
                    if w < 0 { try check(Int32(w), "data for \(e.path)") }
                    written += Int64(n)
                }
                guard written == size else {
                    throw HopError(.environment, "\(root)/\(e.path) changed while it was archived", hint: "build again")
                }
            }
        }
        try check(archive_write_close(a), "close")
        return try sha256Hex(file: output)
    }
}

/// An app's source tree read without following symbolic links: every path is resolved from the
/// root's descriptor one component at a time with `openat(…, O_NOFOLLOW)`, so hop (root) never
/// reads through a link — a path whose parent is a link is refused, and a link is archived as a
/// link. Foundation's FileManager resolves whole paths, which follows links in parents, hence
/// the system calls here.
struct SourceTree {
    let root: String
    let rootMode: mode_t
    init(root: String) throws {
        self.root = root
        var st = stat()
        guard stat(root, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw HopError(.notFound, "\(root) is not a directory", hint: "point at the app's source tree")
        }
        rootMode = st.st_mode
    }

    /// Whether a path was made more private than the tree it is in: the root lets "others" (or the
    /// group) in, this file denies them read (a directory, read or search). Such a file (`chmod 600
    /// .env`) says "not for everyone", and the Nix store is for everyone, so it is refused. A tree
    /// checked out under a strict umask (027, 077) is private throughout and says nothing per file.
    func isMorePrivate(_ mode: mode_t, directory: Bool) -> Bool {
        for shift: mode_t in [0, 3] {
            let rootOpen = (rootMode >> shift) & 0o5 == 0o5
            let open = directory ? (mode >> shift) & 0o5 == 0o5 : (mode >> shift) & 0o4 != 0
            if rootOpen && !open { return true }
        }
        return false
    }

    /// The directory holding `rel`'s last component, opened component by component, and that name.
    /// The caller closes the descriptor.
    func parent(_ rel: String) throws -> (fd: Int32, name: String)? {
        let parts = rel.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let name = parts.last, !parts.contains(".."), !parts.contains(".") else {
            throw HopError.invalid("`\(rel)` is not a plain relative path inside \(root)")
        }
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw HopError(.environment, "cannot open \(root): \(String(cString: strerror(errno)))") }
        var walked = ""
        for component in parts.dropLast() {
            walked += (walked.isEmpty ? "" : "/") + component
            let next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let err = errno
            close(fd)
            if next < 0 {
                if err == ENOENT { return nil }
                if err == ELOOP || err == ENOTDIR {
                    throw HopError.invalid("\(root)/\(rel) is under \(walked), which is a symbolic link or not a directory",
                                           hint: "hop never reads source through a symbolic link: commit the directory itself, "
                                               + "or drop the stale path from git (`git rm -r --cached \(walked)`)")
                }
                throw HopError(.environment, "cannot open \(root)/\(walked): \(String(cString: strerror(err)))")
            }
            fd = next
        }
        return (fd, name)
    }

    /// The status of `rel` itself (a link is not followed), or nil when it does not exist.
    func lstat(_ rel: String) throws -> (stat, String)? {
        guard let (fd, name) = try parent(rel) else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw HopError(.environment, "cannot read \(root)/\(rel): \(String(cString: strerror(errno)))")
        }
        return (st, name)
    }

    func readlink(_ rel: String) throws -> String {
        guard let (fd, name) = try parent(rel) else { throw HopError(.environment, "\(root)/\(rel) disappeared") }
        defer { close(fd) }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(fd, name, &buf, buf.count - 1)
        guard n >= 0 else { throw HopError(.environment, "cannot read the link \(root)/\(rel)") }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A regular file opened for reading, never through a link (O_NOFOLLOW on every component;
    /// O_NONBLOCK so a fifo swapped in cannot block; the type is checked on the descriptor).
    func openFile(_ rel: String) throws -> Int32 {
        guard let (dir, name) = try parent(rel) else { throw HopError(.environment, "\(root)/\(rel) disappeared", hint: "build again") }
        defer { close(dir) }
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            throw HopError.invalid("cannot open \(root)/\(rel) as a file: \(String(cString: strerror(errno)))",
                                   hint: "hop archives regular files and links; it never reads through a link")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw HopError.invalid("\(root)/\(rel) is no longer a regular file", hint: "build again once the tree is stable")
        }
        return fd
    }

    /// Every path under the root (not `.git`), depth first, without entering linked directories.
    func walk() throws -> [String] {
        var out: [String] = []
        func visit(_ rel: String) throws {
            let dirFD: Int32
            if rel.isEmpty {
                dirFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            } else {
                guard let (p, name) = try parent(rel) else { return }
                dirFD = openat(p, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                close(p)
            }
            guard dirFD >= 0, let dir = fdopendir(dirFD) else {
                throw HopError(.environment, "cannot list \(root)/\(rel)")
            }
            var names: [String] = []
            while let ent = readdir(dir) {
                let name = withUnsafeBytes(of: ent.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." && name != ".git" { names.append(name) }
            }
            closedir(dir)
            for name in names.sorted() {
                let r = rel.isEmpty ? name : rel + "/" + name
                out.append(r)
                if let (st, _) = try lstat(r), st.st_mode & S_IFMT == S_IFDIR { try visit(r) }
            }
        }
        try visit("")
        return out
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
