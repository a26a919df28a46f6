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
        let sink = SHA256Sink()
        let serializer = NARSerializer(sink: sink, root: path)
        try serializer.serializeRoot()
        let size = try serializer.finish()
        return NARDigest(sha256: sink.finalize(), size: size)
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

/// Where archive bytes go, a buffer at a time. The sink owns the buffers: the serializer fills the
/// one it was given and hands it over, and gets back the one to fill next (the same one when the
/// sink is done with it at once, another while a hashing thread still reads the first).
protocol NARSink: AnyObject {
    /// Bytes in every buffer.
    var capacity: Int { get }
    /// The buffer to fill first.
    var firstBuffer: UnsafeMutableRawPointer { get }
    /// Takes the first `count` bytes of `buffer` (one this sink gave out); returns the next buffer.
    func consume(_ buffer: UnsafeMutableRawPointer, count: Int) throws -> UnsafeMutableRawPointer
    /// Takes the archive's last bytes (possibly none); no buffer is filled after this.
    func finish(_ buffer: UnsafeMutableRawPointer, count: Int) throws
}

/// SHA-256 of the archive, overlapped with the walk: the walking thread reads files into one
/// buffer while a hashing thread hashes the one before, so the walk's syscalls and copies cost
/// nothing as long as SHA-256 is the slower side (it is: SHA-NI hashes about 1.3 GB/s on this
/// project's machines, a read from the page cache copies several times that). The buffers are
/// small enough to stay in the L2 cache between the read and the hash. The thread starts with
/// the first full buffer: an archive that fits one buffer (most files, small store paths) is
/// hashed on the caller's thread at the end, with no thread at all.
final class SHA256Sink: NARSink {
    static let bufferSize = 128 << 10
    static let bufferCount = 4
    let capacity = SHA256Sink.bufferSize
    private let buffers: [UnsafeMutableRawPointer]
    private var worker: HashingThread?
    private var digest: [UInt8]?

    init() {
        buffers = (0..<Self.bufferCount).map { _ in .allocate(byteCount: Self.bufferSize, alignment: 64) }
    }

    deinit {
        // An abandoned walk (an unreadable entry) still waits for the thread before the buffers go.
        _ = worker?.finish()
        for b in buffers { b.deallocate() }
    }

    var firstBuffer: UnsafeMutableRawPointer { buffers[0] }

    func consume(_ buffer: UnsafeMutableRawPointer, count: Int) throws -> UnsafeMutableRawPointer {
        if worker == nil { worker = HashingThread(free: Array(buffers.dropFirst())) }
        return worker!.hash(buffer, count: count)
    }

    func finish(_ buffer: UnsafeMutableRawPointer, count: Int) throws {
        var hasher: SHA256
        if let worker {
            if count > 0 { _ = worker.hash(buffer, count: count) }
            hasher = worker.finish()
            self.worker = nil
        } else {
            hasher = SHA256()
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buffer, count: count))
        }
        digest = Array(hasher.finalize())
    }

    /// The digest of the archive, after the serializer's `finish`.
    func finalize() -> [UInt8] { digest ?? [] }
}

/// One thread hashing buffers in the order they were handed over, and handing them back.
/// A mutex and one condition variable guard two short queues; the thread holds the lock only to
/// move a pointer.
final class HashingThread: @unchecked Sendable {
    // Allocated, not stored inline: a pthread object must not move, and `&property` promises no address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var free: [UnsafeMutableRawPointer]
    private var queued: [(UnsafeMutableRawPointer, Int)] = []
    private var done = false
    private var hasher = SHA256()
    private var thread: pthread_t?

    init(free: [UnsafeMutableRawPointer]) {
        self.free = free
        queued.reserveCapacity(free.count + 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
        var t = pthread_t()
        let started = pthread_create(&t, nil, { arg in
            let me = Unmanaged<HashingThread>.fromOpaque(arg!).takeRetainedValue()
            me.loop()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        if started == 0 { thread = t } else { Unmanaged.passUnretained(self).release() }
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    /// Queues `count` bytes of `buffer`; returns a buffer free to fill (waiting for one if needed).
    func hash(_ buffer: UnsafeMutableRawPointer, count: Int) -> UnsafeMutableRawPointer {
        guard thread != nil else {
            // No thread could be started: hash here.
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buffer, count: count))
            return buffer
        }
        pthread_mutex_lock(mutex)
        queued.append((buffer, count))
        pthread_cond_broadcast(changed)
        while free.isEmpty { pthread_cond_wait(changed, mutex) }
        let next = free.removeLast()
        pthread_mutex_unlock(mutex)
        return next
    }

    /// Waits until every queued buffer is hashed and the thread has ended; the hash state.
    func finish() -> SHA256 {
        if let thread {
            pthread_mutex_lock(mutex)
            done = true
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(mutex)
            pthread_join(thread, nil)
            self.thread = nil
        }
        return hasher
    }

    private func loop() {
        pthread_mutex_lock(mutex)
        while true {
            while queued.isEmpty && !done { pthread_cond_wait(changed, mutex) }
            if queued.isEmpty { break }
            let (buffer, count) = queued.removeFirst()
            pthread_mutex_unlock(mutex)
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buffer, count: count))
            pthread_mutex_lock(mutex)
            free.append(buffer)
            pthread_cond_broadcast(changed)
        }
        pthread_mutex_unlock(mutex)
    }
}

final class DescriptorSink: NARSink {
    let fd: Int32
    let capacity = 1 << 20
    let firstBuffer: UnsafeMutableRawPointer

    init(fd: Int32) {
        self.fd = fd
        firstBuffer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { firstBuffer.deallocate() }

    func consume(_ buffer: UnsafeMutableRawPointer, count: Int) throws -> UnsafeMutableRawPointer {
        var offset = 0
        while offset < count {
            let n = write(fd, buffer + offset, count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw HopError(.environment, "cannot write the archive: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        return buffer
    }

    func finish(_ buffer: UnsafeMutableRawPointer, count: Int) throws { _ = try consume(buffer, count: count) }
}

/// One archive walk. Bytes are staged in the sink's buffers (file contents are `read` straight
/// into them) and handed over a buffer at a time, so the hash sees few large updates. Directories are walked with `openat`/`fstatat` relative to their parent's descriptor
/// (no path strings are built), and entry names live in one arena that grows to the widest
/// directory and is then reused: after warm-up the walk allocates nothing per entry.
final class NARSerializer<Sink: NARSink> {
    let sink: Sink
    private let root: String
    private let capacity: Int
    private var buffer: UnsafeMutableRawPointer
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
        capacity = sink.capacity
        buffer = sink.firstBuffer
        arena = .allocate(capacity: arenaCapacity)
        linkTarget = .allocate(capacity: linkCapacity)
        names.reserveCapacity(256)
        ancestors.reserveCapacity(64)
    }

    deinit {
        arena.deallocate()
        linkTarget.deallocate()
    }

    func serializeRoot() throws {
        try emitToken("nix-archive-1")
        try root.withCString { try serializeNode(in: AT_FDCWD, name: $0) }
    }

    /// Hands the sink what is staged, the last bytes; returns the archive's length.
    func finish() throws -> UInt64 {
        try sink.finish(buffer, count: used)
        total += UInt64(used)
        used = 0
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
        buffer = try sink.consume(buffer, count: used)
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
