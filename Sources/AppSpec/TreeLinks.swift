import Foundation
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// A tenant's tree may hold symbolic links, but none that leaves it: a `Procfile` or `hop3.toml`
/// linked to `$HOP_HOME/keys/…` or `/etc/shadow` would otherwise be read by hop and quoted in an
/// error. Every link in the tree is resolved (the whole chain, as the kernel would) and must land
/// inside the tree; a link that does not is a located error naming the link, never its target.
public enum TreeLinks {
    /// Throws for the first link (in walk order) whose target is outside `root`.
    public static func refuseLinksLeavingTree(_ root: String) throws {
        let base = URL(fileURLWithPath: root).standardizedFileURL.path
        guard let realRoot = realPath(base) else { return }
        var pending = [base]
        while let dir = pending.popLast() {
            guard let d = opendir(dir) else { continue }
            defer { closedir(d) }
            while let entry = readdir(d) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                // The entry's type from readdir where the file system gives it (no lstat per file).
                let type = entry.pointee.d_type
                if type != UInt8(DT_DIR) && type != UInt8(DT_LNK) && type != UInt8(DT_UNKNOWN) { continue }
                let path = dir + "/" + name
                var mode = type == UInt8(DT_DIR) ? S_IFDIR : S_IFLNK
                if type == UInt8(DT_UNKNOWN) {
                    var st = stat()
                    guard lstat(path, &st) == 0 else { continue }
                    mode = st.st_mode & S_IFMT
                }
                switch mode {
                case S_IFDIR: pending.append(path)
                case S_IFLNK:
                    if !landsInside(path, realRoot: realRoot, base: base) {
                        let relative = String(path.dropFirst(base.count + 1))
                        throw HopError.invalid("`\(relative)` is a symbolic link that leaves the app's tree",
                                               at: SourceLocation(file: path),
                                               hint: "replace the link with the file itself, or point it at a file inside the app's directory (a relative link)")
                    }
                default: break
                }
            }
        }
    }

    /// Whether the link at `path` resolves inside the tree. A dangling link is judged by its text:
    /// absolute, or climbing above the tree, is outside.
    static func landsInside(_ path: String, realRoot: String, base: String) -> Bool {
        if let target = realPath(path) {
            return target == realRoot || target.hasPrefix(realRoot == "/" ? "/" : realRoot + "/")
        }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return false }
        let text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("/") { return false }
        // Depth of the link's directory below the root, then walk the link's text.
        var depth = String(path.dropFirst(base.count)).split(separator: "/").count - 1
        for part in text.split(separator: "/") {
            if part == ".." { depth -= 1 } else if part != "." { depth += 1 }
            if depth < 0 { return false }
        }
        return true
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
