import Foundation
internal import CArchive
import HopBasics
import AppSpec
import NixBuild

/// A source archive a deployer uploaded (`hop deploy PATH --remote NAME`): unpacked with
/// libarchive's secure extraction (no absolute path, no `..`, nothing written through a symbolic
/// link, nothing overwritten), regular files, directories and symbolic links only, bounded in size
/// and count; then deployed like a pushed tree.
public enum SourceUpload {
    public static let maxBytes: Int64 = 1 << 30
    public static let maxEntries = 200_000

    static func refused(_ why: String) -> HopError {
        HopError.invalid("the uploaded source archive is refused: \(why)", hint: "send the tar `hop deploy PATH --remote NAME` makes")
    }

    /// The other end: `directory` archived as hop archives a source tree for a build (git's files,
    /// or the whole tree, `[build] ignore` applied), after its metadata reads cleanly. Returns the app name.
    public static func archive(directory: String, appName: String?, to tar: String, runner: any ProcessRunner = SystemRunner()) throws -> String {
        let abs = URL(fileURLWithPath: directory).standardizedFileURL.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: abs, isDirectory: &isDir), isDir.boolValue else {
            throw HopError.invalid("\(directory) is not a directory", hint: "pass the path of the app's source tree")
        }
        let spec = try AppSpecLoader.load(directory: abs, appName: appName)
        _ = try SourceArchive.write(root: abs, entries: try SourceArchive.list(root: abs, ignore: spec.build.ignore, runner: runner), to: tar)
        return spec.name
    }

    public static func extract(_ file: String, into root: String) throws {
        archiveUTF8Locale()
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HopError(.environment, "cannot read \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let r = archive_read_new(), let w = archive_write_disk_new() else { throw HopError(.internalError, "libarchive: out of memory") }
        defer { archive_read_free(r); archive_write_free(w) }
        archive_read_support_format_tar(r)
        archive_read_support_filter_gzip(r)
        archive_read_support_filter_zstd(r)
        // Names are checked here (relative, no `..`) and then prefixed with the staging root, so
        // libarchive's own absolute-path refusal cannot apply; it still refuses to write through a
        // symbolic link or over an existing file.
        let flags = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_NO_OVERWRITE | ARCHIVE_EXTRACT_PERM
        archive_write_disk_set_options(w, flags)
        guard archive_read_open_fd(r, fd, 1 << 16) == ARCHIVE_OK else { throw refused("it is not a tar archive") }
        var total: Int64 = 0, count = 0
        var entry: OpaquePointer?
        while true {
            let rc = archive_read_next_header(r, &entry)
            if rc == ARCHIVE_EOF { break }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let e = entry else { throw refused("it is damaged (\(BackupArchiveReader.err(r)))") }
            count += 1
            guard count <= maxEntries else { throw refused("it has more than \(maxEntries) entries") }
            guard let cname = archive_entry_pathname_utf8(e) else { throw refused("an entry's name is not UTF-8") }
            let name = String(cString: cname)
            let type = archive_entry_filetype(e)
            guard [0o100000, 0o040000, 0o120000].contains(type), archive_entry_hardlink(e) == nil else {
                throw refused("\(name.prefix(120)) is not a file, directory or symbolic link")
            }
            let components = name.split(separator: "/", omittingEmptySubsequences: true)
            guard !name.hasPrefix("/"), !components.contains(".."), name.utf8.count <= 4096 else { throw refused("\(name.prefix(120)) leaves the tree") }
            total += max(0, archive_entry_size(e))
            guard total <= maxBytes else { throw refused("it unpacks to more than \(maxBytes >> 20) MiB") }
            archive_entry_set_mode(e, (archive_entry_mode(e) & ~0o7022) | (type == 0o040000 ? 0o700 : 0))
            archive_entry_set_pathname_utf8(e, root + "/" + components.joined(separator: "/"))
            guard archive_write_header(w, e) == ARCHIVE_OK else { throw refused("\(name.prefix(120)): \(BackupArchiveReader.err(w))") }
            if type == 0o100000 {
                var buf = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = buf.withUnsafeMutableBytes { archive_read_data(r, $0.baseAddress, $0.count) }
                    if n == 0 { break }
                    guard n > 0 else { throw refused("\(name.prefix(120)) is truncated") }
                    guard buf.withUnsafeBytes({ archive_write_data(w, $0.baseAddress, n) }) == n else {
                        throw refused("\(name.prefix(120)): \(BackupArchiveReader.err(w))")
                    }
                }
            }
            guard archive_write_finish_entry(w) == ARCHIVE_OK else { throw refused("\(name.prefix(120)): \(BackupArchiveReader.err(w))") }
        }
        guard count > 0 else { throw refused("it is empty") }
    }
}

extension Operations {
    /// A deployer's uploaded source archive (the API's `POST /api/apps/{app}/source`), deployed to
    /// that app: the same checks, build and rollout as `hop deploy PATH` on the server.
    public func deploySource(app: String, archive: String, watch: Double, force: Bool) throws -> DeployResult {
        _ = try Self.checkedApp(app)
        try authorizeAudited(.deploy, app: app, action: "deploy")
        let scratch = try ctx.home.scratch("upload")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let tree = scratch + "/src"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try SourceUpload.extract(archive, into: tree)
        var request = DeployRequest(app: app, watch: watch, force: force)
        request.pushed = PushedSource(directory: tree, commit: nil, uri: "upload")
        return try deploy(request)
    }
}
