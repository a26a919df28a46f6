import Foundation
import Crypto
import HopBasics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The SHA-256 and byte length of a path's Nix Archive: what Nix records as `narHash` / `narSize`
/// for every valid store path, so comparing the two proves the bytes on disk are the bytes Nix
/// registered.
public struct NARDigest: Sendable, Hashable, CustomStringConvertible {
    public var sha256: [UInt8]
    /// Length of the serialised archive in bytes (Nix's `narSize`).
    public var size: UInt64

    public init(sha256: [UInt8], size: UInt64) {
        self.sha256 = sha256
        self.size = size
    }

    /// Lowercase hex, the form SBOMs and SLSA statements carry.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(sha256.count * 2)
        for b in sha256 { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xf)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// `sha256:<nix base-32>`, as `nix-store --query --hash` prints a NAR hash.
    public var nixBase32: String { "sha256:" + NixBase32.encode(sha256) }

    /// `sha256-<base64>`, as `nix path-info --json` (2.8) prints `narHash`.
    public var sri: String { "sha256-" + Data(sha256).base64EncodedString() }

    public var description: String { "\(nixBase32)  \(size)" }
}

/// Nix Archive (NAR) serialisation, streamed: hop can prove a store path's contents match the
/// hash Nix recorded without asking Nix (which trusts its own database) and without holding the
/// archive in memory.
///
/// The format, as Nix 2.8 writes it: every string is a little-endian u64 length, the bytes, and
/// zero padding to a multiple of 8. A node is `( type regular [executable ""] contents <bytes> )`,
/// `( type symlink target <target> )` or `( type directory (entry ( name N node <node> ))* )`,
/// entries sorted by the raw bytes of their names. Only the owner's execute bit counts
/// (`S_IXUSR`, as in Nix's `dumpPath`); timestamps, owners and other permission bits are not
/// part of the archive. Symlinks are never followed, the top-level path included.
public enum NAR {
    /// Hashes the archive of `path` (a store path or any file, directory or symlink).
    /// Throws `HopError(.couldNotCheck)` naming the entry that could not be read, and for file
    /// types a NAR cannot hold (sockets, devices, FIFOs).
    public static func hash(path: String) throws -> NARDigest {
        let serializer = NARSerializer(sink: SHA256Sink(), root: path)
        try serializer.serializeRoot()
        let size = try serializer.finish()
        return NARDigest(sha256: Array(serializer.sink.hasher.finalize()), size: size)
    }

    /// Writes the archive of `path` to `handle` (what `nix-store --dump` prints) and returns its
    /// length. Lets tests compare bytes, not just hashes, with Nix.
    @discardableResult
    public static func dump(path: String, to handle: FileHandle) throws -> UInt64 {
        let serializer = NARSerializer(sink: DescriptorSink(fd: handle.fileDescriptor), root: path)
        try serializer.serializeRoot()
        return try serializer.finish()
    }
}

/// Where archive bytes go, a staging buffer at a time.
protocol NARSink {
    mutating func consume(_ bytes: UnsafeRawBufferPointer) throws
}

/// SHA-256 of the archive, on the walking thread. A second, double-buffered hashing thread was
/// measured on this project's 2-vCPU machines and gained nothing beyond noise (the walk's
/// syscalls and the SHA instructions contend for the same cores), and `StoreCheck` already
/// keeps every core busy with one path each.
struct SHA256Sink: NARSink {
    var hasher = SHA256()
    mutating func consume(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
}

struct DescriptorSink: NARSink {
    let fd: Int32
    func consume(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw HopError(.environment, "cannot write the archive: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

/// One archive walk. Bytes are staged in a single reusable buffer (file contents are `read`
/// straight into it) and handed to the sink a buffer at a time, so the hash sees few large
/// updates. Directories are walked with `openat`/`fstatat` relative to their parent's descriptor
/// (no path strings are built), and entry names live in one arena that grows to the widest
/// directory and is then reused: after warm-up the walk allocates nothing per entry.
final class NARSerializer<Sink: NARSink> {
    var sink: Sink
    private let root: String
    private let capacity = 1 << 20
    private let buffer: UnsafeMutableRawPointer
    private var used = 0
    private var total: UInt64 = 0
    /// Reads smaller than this are not worth a syscall: flush first.
    private let minimumRead = 64 << 10

    /// Entry names of every directory on the current path, NUL-terminated, back to back.
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCapacity = 64 << 10
    private var arenaUsed = 0
    private var names: [NameRef] = []
    /// Indices into `names` of the entries from the root down to the current one, for errors.
    private var ancestors: [Int] = []
    private var linkTarget: UnsafeMutablePointer<CChar>
    private var linkCapacity = 4096

    private struct NameRef { var offset: Int; var length: Int }

    init(sink: Sink, root: String) {
        self.sink = sink
        self.root = root
        buffer = .allocate(byteCount: capacity, alignment: 64)
        arena = .allocate(capacity: arenaCapacity)
        linkTarget = .allocate(capacity: linkCapacity)
        names.reserveCapacity(256)
        ancestors.reserveCapacity(64)
    }

    deinit {
        buffer.deallocate()
        arena.deallocate()
        linkTarget.deallocate()
    }

    func serializeRoot() throws {
        try emitToken("nix-archive-1")
        try root.withCString { try serializeNode(in: AT_FDCWD, name: $0) }
    }

    /// Flushes what is staged; returns the archive's length.
    func finish() throws -> UInt64 {
        try flush()
        return total
    }

    // MARK: nodes

    private func serializeNode(in parent: Int32, name: UnsafePointer<CChar>) throws {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw failure("cannot stat") }
        switch st.st_mode & fileTypeMask {
        case regularType:
            try emitToken("(")
            try emitToken("type")
            try emitToken("regular")
            if st.st_mode & ownerExecute != 0 {
                try emitToken("executable")
                try emitToken("")
            }
            try emitToken("contents")
            let size = UInt64(st.st_size)
            try emitLength(size)
            // Empty files (common: __init__.py, markers) cost no open/read/close.
            if size > 0 {
                let fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
                guard fd >= 0 else { throw failure("cannot open") }
                defer { close(fd) }
                try streamContents(of: fd, size: size)
                try emitPadding(after: size)
            }
            try emitToken(")")
        case symlinkType:
            var n = readlinkat(parent, name, linkTarget, linkCapacity)
            while n == linkCapacity {
                linkTarget.deallocate()
                linkCapacity *= 2
                linkTarget = .allocate(capacity: linkCapacity)
                n = readlinkat(parent, name, linkTarget, linkCapacity)
            }
            guard n >= 0 else { throw failure("cannot read the symlink") }
            try emitToken("(")
            try emitToken("type")
            try emitToken("symlink")
            try emitToken("target")
            try emitString(UnsafeRawPointer(linkTarget), n)
            try emitToken(")")
        case directoryType:
            let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                throw failure("cannot open the directory", hint: errno == EMFILE ? "the tree is nested deeper than the open-file limit" : nil)
            }
            defer { close(fd) }
            try serializeDirectory(fd)
        default:
            throw failure("is a socket, device or FIFO, which a Nix archive cannot hold", withErrno: false)
        }
    }

    private func serializeDirectory(_ fd: Int32) throws {
        let first = names.count
        let arenaMark = arenaUsed
        try listDirectory(fd)
        sortNames(from: first)
        try emitToken("(")
        try emitToken("type")
        try emitToken("directory")
        for i in first..<names.count {
            let ref = names[i]
            try emitToken("entry")
            try emitToken("(")
            try emitToken("name")
            try emitString(UnsafeRawPointer(arena + ref.offset), ref.length)
            try emitToken("node")
            ancestors.append(i)
            // The arena may move while a child directory is listed, so the name pointer is only
            // used before serializeNode recurses.
            try serializeNode(in: fd, name: UnsafeRawPointer(arena + ref.offset).assumingMemoryBound(to: CChar.self))
            ancestors.removeLast()
            try emitToken(")")
        }
        try emitToken(")")
        names.removeSubrange(first...)
        arenaUsed = arenaMark
    }

    private func listDirectory(_ fd: Int32) throws {
        let streamFD = dup(fd)
        guard streamFD >= 0, let dir = fdopendir(streamFD) else {
            if streamFD >= 0 { close(streamFD) }
            throw failure("cannot list the directory")
        }
        defer { closedir(dir) }
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw failure("cannot list the directory") }
                return
            }
            let name = (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: UInt8.self)
            let length = strlen(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))
            if name[0] == 0x2E && (length == 1 || (length == 2 && name[1] == 0x2E)) { continue }
            if arenaUsed + length + 1 > arenaCapacity { growArena(toFit: arenaUsed + length + 1) }
            (arena + arenaUsed).update(from: name, count: length + 1)
            names.append(NameRef(offset: arenaUsed, length: length))
            arenaUsed += length + 1
        }
    }

    /// Nix keeps entries in a `std::map<std::string, …>`: byte-wise order, unsigned, shorter
    /// prefix first — never the locale's collation.
    private func sortNames(from first: Int) {
        let base = UnsafePointer(arena)
        names.withUnsafeMutableBufferPointer { all in
            var directory = UnsafeMutableBufferPointer(rebasing: all[first...])
            directory.sort { a, b in
                let c = memcmp(base + a.offset, base + b.offset, min(a.length, b.length))
                return c != 0 ? c < 0 : a.length < b.length
            }
        }
    }

    private func growArena(toFit needed: Int) {
        var newCapacity = arenaCapacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: arena, count: arenaUsed)
        arena.deallocate()
        arena = bigger
        arenaCapacity = newCapacity
    }

    /// Reads exactly `size` bytes into the staging buffer. A file that shrinks under us is an
    /// error rather than a short archive (Nix fails the same way).
    private func streamContents(of fd: Int32, size: UInt64) throws {
        if size >= UInt64(capacity) { _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL)) }
        var remaining = size
        while remaining > 0 {
            if capacity - used < minimumRead && UInt64(capacity - used) < remaining { try flush() }
            let want = Int(min(UInt64(capacity - used), remaining))
            let n = read(fd, buffer + used, want)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read")
            }
            if n == 0 { throw failure("file shrank while it was being read", withErrno: false) }
            used += n
            remaining -= UInt64(n)
        }
    }

    // MARK: encoding

    @inline(__always)
    private func emitToken(_ s: StaticString) throws {
        try emitString(UnsafeRawPointer(s.utf8Start), s.utf8CodeUnitCount)
    }

    @inline(__always)
    private func emitString(_ bytes: UnsafeRawPointer, _ count: Int) throws {
        try emitLength(UInt64(count))
        try emitBytes(bytes, count)
        try emitPadding(after: UInt64(count))
    }

    @inline(__always)
    private func emitLength(_ n: UInt64) throws {
        if capacity - used < 8 { try flush() }
        (buffer + used).storeBytes(of: n.littleEndian, as: UInt64.self)
        used += 8
    }

    @inline(__always)
    private func emitPadding(after count: UInt64) throws {
        let pad = Int((8 - count % 8) % 8)
        guard pad > 0 else { return }
        if capacity - used < pad { try flush() }
        (buffer + used).initializeMemory(as: UInt8.self, repeating: 0, count: pad)
        used += pad
    }

    private func emitBytes(_ bytes: UnsafeRawPointer, _ count: Int) throws {
        var copied = 0
        while copied < count {
            if used == capacity { try flush() }
            let n = min(count - copied, capacity - used)
            (buffer + used).copyMemory(from: bytes + copied, byteCount: n)
            used += n
            copied += n
        }
    }

    private func flush() throws {
        guard used > 0 else { return }
        try sink.consume(UnsafeRawBufferPointer(start: buffer, count: used))
        total += UInt64(used)
        used = 0
    }

    // MARK: errors

    /// The path of the entry being serialised, rebuilt only when something failed.
    private var currentPath: String {
        var path = root
        for i in ancestors {
            let ref = names[i]
            path += "/" + String(decoding: UnsafeBufferPointer(start: arena + ref.offset, count: ref.length), as: UTF8.self)
        }
        return path
    }

    private func failure(_ what: String, withErrno: Bool = true, hint: String? = nil) -> HopError {
        let code = errno
        let reason = withErrno ? ": \(String(cString: strerror(code)))" : ""
        return HopError(.couldNotCheck, "cannot compute the NAR hash of \(root): \(currentPath) \(what)\(reason)", hint: hint)
    }
}

private let fileTypeMask = mode_t(S_IFMT)
private let regularType = mode_t(S_IFREG)
private let directoryType = mode_t(S_IFDIR)
private let symlinkType = mode_t(S_IFLNK)
private let ownerExecute = mode_t(S_IXUSR)
