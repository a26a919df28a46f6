import Foundation

/// Writes `text` to `path` so that readers see either the old file or the whole new one: a
/// temporary file in the same directory, created with `mode` from the start (a secret is never
/// readable by others, not even briefly), flushed, then renamed over `path`. The parent directory
/// is created (0755) when missing.
public func writeFileAtomically(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    let tmp = dir + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else {
        throw HopError(.environment, "could not create \(tmp): \(String(cString: strerror(errno)))", hint: "check permissions and free space")
    }
    fchmod(fd, mode) // the umask may have narrowed it
    let bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
        let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        written += n
    }
    let synced = fsync(fd) == 0
    close(fd)
    guard written == bytes.count, synced, rename(tmp, path) == 0 else {
        let message = String(cString: strerror(errno))
        unlink(tmp)
        throw HopError(.environment, "could not write \(path): \(message)", hint: "check permissions and free space")
    }
}

/// `writeFileAtomically` unless `path` already holds exactly `text`; returns whether it wrote.
@discardableResult
public func writeFileIfChanged(_ path: String, _ text: String, mode: mode_t = 0o644) throws -> Bool {
    if (try? String(contentsOfFile: path, encoding: .utf8)) == text { return false }
    try writeFileAtomically(path, text, mode: mode)
    return true
}

extension JSONEncoder {
    /// Stable JSON for files and database columns hop writes: sorted keys, slashes unescaped.
    public static var stable: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

/// A file's size, modification time and inode from one `stat`, nil when it does not exist. Cheaper than
/// `FileManager.attributesOfItem`, which on Linux also resolves the owner's and group's names
/// (reading /etc/passwd and /etc/group on every call) — hop checks hop.db this way on every open.
public func fileStatus(atPath path: String) -> (size: Int64, modified: Date, inode: UInt64)? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    let modified = Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
    return (Int64(st.st_size), modified, UInt64(st.st_ino))
}
