import Foundation
import Crypto
import HopBasics
import NixBuild
import Runtime
internal import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// One member of a backup archive as its signed manifest lists it.
public struct BackupMember: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable { case file, directory, symlink }
    public var path: String
    public var kind: Kind
    public var size: Int64
    public var mode: Int
    /// SHA-256 of a file's bytes, hex.
    public var sha256: String?
    /// A symbolic link's target (data: never followed by hop).
    public var target: String?
}

/// The signed description of a backup: what it is of, and every member with its size, mode and hash.
/// The archive's last member is this manifest in a DSSE envelope signed with hop's ed25519 key.
public struct BackupManifest: Sendable, Codable, Hashable {
    public static let format = "hop-backup/1"
    public static let payloadType = "application/vnd.hop.backup-manifest+json"
    public static let member = "hop-backup-manifest.dsse.json"

    public struct Build: Sendable, Codable, Hashable {
        public var id: Int64
        public var outPath: String
        public var drvPath: String
        public var sourceHash: String
        /// The closure's store paths (the code the data went with).
        public var storePaths: [String]
    }
    public struct Addon: Sendable, Codable, Hashable {
        public var name: String
        public var type: String
        public var prefix: String
        public var extensions: [String]
        /// The archive member holding its dump.
        public var member: String
    }
    public var format = BackupManifest.format
    public var id: String
    public var app: String
    public var createdAt: String
    public var hopVersion: String
    public var generation: Int?
    public var build: Build?
    public var addons: [Addon]
    public var members: [BackupMember]
    /// Entries of the state directory not archived (sockets, FIFOs, devices, names that are not UTF-8).
    public var skipped: [String]
    /// Files whose size changed while they were read (archived as read, padded or cut to the size seen first).
    public var changed: [String]
    /// A signed checkpoint of the audit log made with the backup (`hop audit verify --checkpoint`
    /// checks the log against it): kept off the machine, out of reach of a later rewrite.
    public var auditCheckpoint: String?
}

/// Why a member name or type cannot be in a hop backup. Pure; the same rules guard reading,
/// verifying and extracting. `symlinks`: members already seen that are symbolic links (nothing may
/// be written through one); `seen`: names already seen (no duplicates).
enum BackupPathRules {
    static let topLevel: Set<String> = ["state", "addons", "meta"]
    static let maxPath = 4096, maxComponent = 255

    static func problem(raw: [UInt8]?, utf8: String?, kind: BackupMember.Kind?, seen: Set<String>, symlinks: Set<String>) -> String? {
        guard let path = utf8, let raw, String(decoding: raw, as: UTF8.self) == path else { return "a member name is not UTF-8" }
        let shown = String(path.prefix(120))
        if path.isEmpty { return "a member has an empty name" }
        if raw.count > maxPath { return "a member name is \(raw.count) bytes long (the limit is \(maxPath))" }
        if path.hasPrefix("/") { return "member `\(shown)` is an absolute path" }
        if path.contains("\0") { return "member `\(shown)` has a NUL in its name" }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains(where: { $0 == ".." }) { return "member `\(shown)` climbs out with `..`" }
        if parts.contains(where: { $0.isEmpty || $0 == "." }) { return "member `\(shown)` has an empty or `.` component" }
        if parts.contains(where: { $0.utf8.count > maxComponent }) { return "member `\(shown)` has a component over \(maxComponent) bytes" }
        if path != BackupManifest.member, !topLevel.contains(String(parts[0])) { return "member `\(shown)` is outside state/, addons/ and meta/" }
        guard kind != nil else { return "member `\(shown)` is not a file, directory or symbolic link (devices, FIFOs and hard links are refused)" }
        if seen.contains(path) { return "member `\(shown)` appears twice" }
        for i in 1..<max(1, parts.count) where symlinks.contains(parts[0..<i].joined(separator: "/")) {
            return "member `\(shown)` would be written through the symbolic link `\(parts[0..<i].joined(separator: "/"))`"
        }
        return nil
    }
}

/// libarchive converts names between UTF-8 (pax headers) and the locale's multibyte form; in the
/// C locale a name such as `café.txt` has no multibyte form and the pax writer fails on it. hop
/// names are UTF-8 bytes on disk, so the character type is UTF-8 (once, process-wide).
func archiveUTF8Locale() {
    _ = utf8LocaleOnce
}
private let utf8LocaleOnce: Void = { _ = setlocale(LC_CTYPE, "C.UTF-8") }()

/// Writes a backup archive (pax, zstd) to a file descriptor, hashing every member as it goes.
final class BackupArchiveWriter {
    private let a: OpaquePointer
    private(set) var members: [BackupMember] = []
    private(set) var bytes: Int64 = 0

    init(fd: Int32, level: Int = 3) throws {
        archiveUTF8Locale()
        guard let a = archive_write_new() else { throw HopError(.internalError, "libarchive: out of memory") }
        self.a = a
        archive_write_set_format_pax_restricted(a)
        archive_write_add_filter_zstd(a)
        _ = archive_write_set_filter_option(a, "zstd", "compression-level", String(level))
        archive_write_set_bytes_in_last_block(a, 1)
        guard archive_write_open_fd(a, fd) == ARCHIVE_OK else { throw error("opening the archive") }
    }
    deinit { archive_write_free(a) }

    private func error(_ what: String) -> HopError {
        HopError(.environment, "writing the backup archive failed (\(what)): \(archive_error_string(a).map { String(cString: $0) } ?? "unknown error")")
    }

    private func header(_ path: String, type: UInt32, mode: Int, size: Int64, mtime: Int, target: String? = nil) throws {
        let e = archive_entry_new()
        defer { archive_entry_free(e) }
        archive_entry_set_pathname_utf8(e, path)
        archive_entry_set_filetype(e, type)
        archive_entry_set_perm(e, mode_t(mode & 0o1777))
        archive_entry_set_size(e, size)
        archive_entry_set_mtime(e, time_t(mtime), 0)
        if let target { archive_entry_set_symlink_utf8(e, target) }
        guard archive_write_header(a, e) == ARCHIVE_OK else { throw error("header of \(path)") }
    }

    private func write(_ p: UnsafeRawPointer, _ n: Int, _ path: String) throws {
        var off = 0
        while off < n {
            let w = archive_write_data(a, p + off, n - off)
            guard w > 0 else { throw error("data of \(path)") }
            off += Int(w)
        }
    }

    func directory(_ path: String, mode: Int, mtime: Int) throws {
        try header(path, type: 0o040000, mode: mode, size: 0, mtime: mtime)
        members.append(BackupMember(path: path, kind: .directory, size: 0, mode: mode & 0o1777))
    }

    func symlink(_ path: String, target: String, mtime: Int) throws {
        try header(path, type: 0o120000, mode: 0o777, size: 0, mtime: mtime, target: target)
        members.append(BackupMember(path: path, kind: .symlink, size: 0, mode: 0o777, target: target))
    }

    func data(_ path: String, _ data: Data, mode: Int = 0o600) throws {
        try header(path, type: 0o100000, mode: mode, size: Int64(data.count), mtime: Int(Date().timeIntervalSince1970))
        try data.withUnsafeBytes { if $0.count > 0 { try write($0.baseAddress!, $0.count, path) } }
        members.append(BackupMember(path: path, kind: .file, size: Int64(data.count), mode: mode & 0o1777, sha256: hexString(SHA256.hash(data: data))))
        bytes += Int64(data.count)
    }

    /// A file read from `fd` (opened by the caller without following links): exactly `size` bytes
    /// (the size seen when it was opened) are archived; returns false when the file changed size.
    @discardableResult
    func file(_ path: String, fd: Int32, size: Int64, mode: Int, mtime: Int) throws -> Bool {
        try header(path, type: 0o100000, mode: mode, size: size, mtime: mtime)
        var hasher = SHA256()
        var left = size
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var intact = true
        while left > 0 {
            let want = Int(min(Int64(buf.count), left))
            var n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { // shrank while read: zeros keep the member the size its header says
                intact = false
                n = want
                for i in 0..<n { buf[i] = 0 }
            }
            try buf.withUnsafeBytes { try write($0.baseAddress!, n, path) }
            hasher.update(data: buf[0..<n])
            left -= Int64(n)
        }
        var probe: UInt8 = 0
        if read(fd, &probe, 1) > 0 { intact = false }
        members.append(BackupMember(path: path, kind: .file, size: size, mode: mode & 0o1777, sha256: hexString(hasher.finalize())))
        bytes += size
        return intact
    }

    /// Closes the archive (a bundle's manifest is its first member, not its last).
    func close() throws {
        guard archive_write_close(a) == ARCHIVE_OK else { throw error("closing") }
    }

    /// The signed manifest, last; then the archive is closed.
    func finish(envelope: Data) throws {
        try header(BackupManifest.member, type: 0o100000, mode: 0o644, size: Int64(envelope.count), mtime: Int(Date().timeIntervalSince1970))
        try envelope.withUnsafeBytes { try write($0.baseAddress!, $0.count, BackupManifest.member) }
        guard archive_write_close(a) == ARCHIVE_OK else { throw error("closing") }
    }
}

/// Reads a backup archive from a file descriptor in one pass. Every member name and type is
/// checked before anything is written; with `extractTo`, members go into a staging directory
/// through libarchive's secure extraction (no `..`, no absolute path, nothing through a symbolic
/// link, nothing overwritten) as they are hashed. The scan it returns (every member's type, size,
/// mode, hash, link target, and the signed envelope) is what the caller checks against the signed
/// manifest: nothing staged may be used before that check passed.
enum BackupArchiveReader {
    struct Scan {
        var members: [BackupMember]
        var envelope: Data
    }

    /// What an archive may hold at most (a restore knows it from the backup's record): a member
    /// past either bound is refused before it is written, so an archive that is not the one
    /// recorded cannot fill the disk before its manifest is read.
    struct Limits: Equatable {
        var members: Int
        var bytes: Int64
    }

    static let limitEnvelope = 16 << 20

    static func read(fd: Int32, extractTo root: String? = nil, limits: Limits? = nil) throws -> Scan {
        archiveUTF8Locale()
        guard let a = archive_read_new() else { throw HopError(.internalError, "libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_filter_zstd(a)
        archive_read_support_format_tar(a)
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK else { throw refused("it is not a hop backup archive: \(err(a))") }
        var disk: OpaquePointer?
        if root != nil {
            disk = archive_write_disk_new()
            let flags = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_NO_OVERWRITE
                | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME
            archive_write_disk_set_options(disk, flags)
        }
        defer { if let disk { archive_write_free(disk) } }
        var members: [BackupMember] = []
        var fileBytes: Int64 = 0
        var seen: Set<String> = [], symlinks: Set<String> = []
        var envelope: Data?
        var entry: OpaquePointer?
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let e = entry else { throw refused("the archive is damaged: \(err(a))") }
            if envelope != nil { throw refused("a member follows the signed manifest") }
            var utf8 = archive_entry_pathname_utf8(e).map { String(cString: $0) }
            var raw = archive_entry_pathname(e).map { Array(UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: strlen($0))) }
            let type = Int32(archive_entry_filetype(e))
            // tar writes a directory's name with one trailing slash.
            if type == S_IFDIR, raw?.last == 47, raw!.count > 1, utf8?.hasSuffix("/") == true { raw!.removeLast(); utf8!.removeLast() }
            var kind: BackupMember.Kind? = switch type { case S_IFREG: .file; case S_IFDIR: .directory; case S_IFLNK: .symlink; default: nil }
            if archive_entry_hardlink(e) != nil { kind = nil }
            if let p = BackupPathRules.problem(raw: raw, utf8: utf8, kind: kind, seen: seen, symlinks: symlinks) { throw refused(p) }
            let path = utf8!
            seen.insert(path)
            let size = archive_entry_size(e)
            let mode = Int(archive_entry_perm(e))
            if mode & ~0o1777 != 0 { throw refused("member `\(path)` has set-user or set-group id bits") }
            if path == BackupManifest.member {
                guard kind == .file, size > 0, size <= limitEnvelope else { throw refused("the manifest member is not a file of a sane size") }
                envelope = try readAll(a, size: size)
                continue
            }
            var target: String?
            if kind == .symlink {
                guard let t = archive_entry_symlink_utf8(e).map({ String(cString: $0) }), !t.isEmpty else { throw refused("symbolic link `\(path)` has no UTF-8 target") }
                target = t
                symlinks.insert(path)
            }
            if let limits {
                if members.count >= limits.members { throw refused("the archive holds more than the \(limits.members) members its backup recorded") }
                if kind == .file {
                    guard size >= 0, fileBytes + size <= limits.bytes else {
                        throw refused("member `\(path)` would take the archive past the \(limits.bytes) bytes its backup recorded")
                    }
                    fileBytes += size
                }
            }
            if let disk, let root {
                let out = archive_entry_new()!
                defer { archive_entry_free(out) }
                archive_entry_copy_pathname(out, root + "/" + path)
                archive_entry_set_filetype(out, UInt32(type))
                archive_entry_set_perm(out, mode_t(mode))
                archive_entry_set_mtime(out, archive_entry_mtime(e), 0)
                if kind == .file { archive_entry_set_size(out, size) }
                if let target { archive_entry_copy_symlink(out, target) }
                guard archive_write_header(disk, out) == ARCHIVE_OK else { throw refused("member `\(path)` cannot be extracted safely: \(err(disk))") }
            }
            var digest: String?
            if kind == .file {
                var hasher = SHA256()
                var total: Int64 = 0
                while true {
                    let n = buf.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
                    if n == 0 { break }
                    guard n > 0 else { throw refused("member `\(path)` is damaged: \(err(a))") }
                    total += Int64(n)
                    if total > size { throw refused("member `\(path)` is larger than its header says") }
                    hasher.update(data: buf[0..<n])
                    if let disk {
                        let w = buf.withUnsafeBytes { archive_write_data(disk, $0.baseAddress, n) }
                        guard w == n else { throw HopError(.environment, "writing `\(path)` into the staging directory failed: \(err(disk))") }
                    }
                }
                guard total == size else { throw refused("member `\(path)` is truncated") }
                digest = hexString(hasher.finalize())
            }
            if let disk {
                guard archive_write_finish_entry(disk) == ARCHIVE_OK else { throw HopError(.environment, "extracting `\(path)` failed: \(err(disk))") }
                if kind == .file { faultPoint("restore:unpacking") }
            }
            members.append(BackupMember(path: path, kind: kind!, size: kind == .file ? size : 0, mode: mode, sha256: digest, target: target))
        }
        if let disk { guard archive_write_close(disk) == ARCHIVE_OK else { throw HopError(.environment, "finishing the extraction failed: \(err(disk))") } }
        guard let envelope else { throw refused("the archive has no signed manifest (truncated?)") }
        return Scan(members: members, envelope: envelope)
    }

    private static func readAll(_ a: OpaquePointer, size: Int64) throws -> Data {
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            if n == 0 { break }
            guard n > 0 else { throw refused("the manifest is damaged: \(err(a))") }
            out.append(contentsOf: buf[0..<n])
            if out.count > size { throw refused("the manifest is larger than its header says") }
        }
        return out
    }

    static func err(_ a: OpaquePointer?) -> String { archive_error_string(a).map { String(cString: $0) } ?? "unknown error" }

    static func refused(_ why: String) -> HopError {
        HopError(.verificationFailed, "backup refused: \(why)", hint: "nothing was changed; use another backup")
    }
}

/// Walks an app's state directory for a backup, never following a symbolic link: every entry is
/// opened relative to its parent's descriptor with O_NOFOLLOW (hop runs as root; the tree is the app's).
struct StateTreeWalker {
    let rules: IgnoreRules
    let include: [String]

    enum Visit { case directory(String, stat), file(String, Int32, stat), symlink(String, String, stat) }

    /// Visits every entry (sorted by name, parents first); returns the names it skipped and why.
    func walk(root: String, _ visit: (Visit) throws -> Void) throws -> [String] {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return [] }
            throw HopError(.environment, "cannot open the state directory \(root): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var skipped: [String] = []
        try walkDir(fd, rel: "", visit, &skipped)
        return skipped
    }

    func included(_ rel: String, isDirectory: Bool) -> Bool {
        if rules.ignores(rel, isDirectory: isDirectory) { return false }
        guard !include.isEmpty else { return true }
        return include.contains { p in rel == p || rel.hasPrefix(p + "/") || (isDirectory && p.hasPrefix(rel + "/")) }
    }

    private func walkDir(_ dfd: Int32, rel: String, _ visit: (Visit) throws -> Void, _ skipped: inout [String]) throws {
        let dup = dup(dfd)
        guard let dir = fdopendir(dup) else { close(dup); throw HopError(.environment, "cannot list \(rel.isEmpty ? "the state directory" : rel)") }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            if name == [46] || name == [46, 46] { continue }
            names.append(name)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        for raw in names {
            let cname = raw.map { CChar(bitPattern: $0) } + [0]
            guard let name = String(validating: raw, as: UTF8.self), !raw.contains(0) else {
                skipped.append((rel.isEmpty ? "" : rel + "/") + String(decoding: raw, as: UTF8.self) + " (name is not UTF-8)")
                continue
            }
            let path = rel.isEmpty ? name : rel + "/" + name
            var st = stat()
            guard fstatat(dfd, cname, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                guard included(path, isDirectory: true) else { continue }
                let sub = openat(dfd, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else { skipped.append(path + " (cannot be opened)"); continue }
                defer { close(sub) }
                try visit(.directory(path, st))
                try walkDir(sub, rel: path, visit, &skipped)
            case S_IFREG:
                guard included(path, isDirectory: false) else { continue }
                let f = openat(dfd, cname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
                guard f >= 0 else { skipped.append(path + " (cannot be opened)"); continue }
                defer { close(f) }
                var fst = stat()
                guard fstat(f, &fst) == 0, fst.st_mode & S_IFMT == S_IFREG else { skipped.append(path + " (changed type)"); continue }
                try visit(.file(path, f, fst))
            case S_IFLNK:
                guard included(path, isDirectory: false) else { continue }
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(dfd, cname, &buf, buf.count - 1)
                guard n > 0, let target = String(validatingCString: Array(buf[0..<n]) + [0]) else { skipped.append(path + " (link target is not UTF-8)"); continue }
                try visit(.symlink(path, target, st))
            default:
                skipped.append(path + " (not a file, directory or link)")
            }
        }
    }
}
