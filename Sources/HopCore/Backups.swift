import Foundation
import Crypto
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Provenance
import Runtime
#if canImport(Glibc)
import Glibc
#endif

public struct BackupInfo: Sendable, Codable, Equatable {
    public var id: String
    public var app: String
    public var createdAt: String
    public var finishedAt: String?
    public var reason: String
    public var generation: Int?
    public var build: Int64?
    public var forGeneration: Int?
    public var target: String
    public var location: String
    public var size: Int64
    public var sha256: String
    public var status: String
    public var error: String?
    public var verifiedAt: String?
    public var members: Int?
    public var bytes: Int64?
    public var addons: [String]?

    init(_ b: BackupRecord) {
        id = b.id; app = b.app; createdAt = isoTime(b.createdAt); finishedAt = b.finishedAt.map(isoTime); reason = b.reason
        generation = b.generation; build = b.buildID; forGeneration = b.forGeneration; target = b.target; location = b.location
        size = b.size; sha256 = b.sha256; status = b.status.rawValue; error = b.error.isEmpty ? nil : b.error
        verifiedAt = b.verifiedAt.map(isoTime)
        if let s = try? JSONDecoder().decode(BackupSummary.self, from: Data(b.summary.utf8)) { members = s.members; bytes = s.bytes; addons = s.addons }
    }
}

struct BackupSummary: Codable { var members: Int; var bytes: Int64; var addons: [String] }

public struct BackupVerification: Sendable, Codable, Equatable {
    public var id: String
    public var app: String
    public var ok: Bool
    public var members: Int
    public var bytes: Int64
    public var keyid: String
    public var seconds: Double
}

public struct PruneResult: Sendable, Codable, Equatable {
    public var app: String
    public var kept: [String]
    public var removed: [String]
}

public struct BackupRemoteInfo: Sendable, Codable, Equatable {
    public var name: String
}

/// A backup's archive file on this machine (a remote one downloaded into scratch, removed by `cleanup`).
struct BackupFile {
    var path: String
    var cleanup: () -> Void
}

/// What is known of an archive before it is read: from its record (id, app, the file's hash and
/// how many members and bytes it holds), or from a verified first reading of a backup file.
/// Reading refuses an archive that is not that one, and stops as soon as it holds more.
struct BackupExpectation {
    var id: String?
    var app: String?
    var sha256: String?
    var limits: BackupArchiveReader.Limits?

    init(id: String? = nil, app: String? = nil, sha256: String? = nil, limits: BackupArchiveReader.Limits? = nil) {
        self.id = id; self.app = app; self.sha256 = sha256; self.limits = limits
    }

    init(_ b: BackupRecord) {
        let summary = try? JSONDecoder().decode(BackupSummary.self, from: Data(b.summary.utf8))
        self.init(id: b.id, app: b.app, sha256: b.sha256, limits: summary.map { .init(members: $0.members, bytes: $0.bytes) })
    }

    init(_ m: BackupManifest) {
        self.init(id: m.id, app: m.app, limits: .init(members: m.members.count, bytes: m.members.reduce(0) { $0 + $1.size }))
    }
}

extension Operations {
    static let backupFileSuffix = ".tar.zst.age"

    func defaultBackupTarget() -> String { ctx.home.root + "/backups" }

    static func newBackupID(now: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: now) + "-" + hexString(randomBytes(3))
    }

    static func checkBackupID(_ id: String) throws {
        guard id.count <= 40, !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw HopError.invalid("`\(UnitRenderer.printable(String(id.prefix(60))))` is not a backup id", hint: "`hop backup list` shows them")
        }
    }

    // MARK: Create

    /// `hop backup create APP [--to TARGET]`: a signed, encrypted archive of the app's state
    /// directory, a consistent dump of each attached addon, its config and its build's provenance.
    /// A failed backup is recorded as failed and reported as an error, never as done.
    public func backupCreate(app raw: String, to: String? = nil, reason: String = "manual") throws -> BackupInfo {
        let app = try Self.checkedApp(raw)
        let target = try BackupTarget.parse(to ?? defaultBackupTarget())
        guard ["manual", "scheduled"].contains(reason) else { throw HopError.invalid("backup reason `\(reason)` is not manual or scheduled") }
        // A directory of the server's own chosen by the caller: admin (a deployer could aim at /etc).
        if case .local(let dir) = target, dir != defaultBackupTarget() { try authorizeAudited(.admin, app: app, action: "back up to a directory") }
        return try audited("backup create", app: app, detail: ["target": target.text], permission: .deploy) {
            let db = try ctx.database()
            try requireKnownApp(app, db)
            let rt = try runtime(db)
            let lock = try rt.lock(app)
            defer { withExtendedLifetime(lock) {} }
            return BackupInfo(try rt.takeBackup(app: app, target: target, reason: reason))
        }
    }

    /// An app hop deployed at some point (its data may outlive its generations).
    func requireKnownApp(_ app: String, _ db: HopDatabase) throws {
        try AppRuntime.requireData(app: app, home: ctx.home, db: db)
    }

    public func backups(app raw: String? = nil) throws -> [BackupInfo] {
        let app = try raw.map(Self.checkedApp)
        if let app { try ctx.authorize(.read, app: app, action: "list backups") }
        guard let db = try ctx.existingDatabase() else { return [] }
        return try db.backups(app: app).filter { ctx.principal.may(.read, app: $0.app) }.map(BackupInfo.init)
    }

    func backupRecord(_ id: String, _ permission: Permission, action: String) throws -> (BackupRecord, HopDatabase) {
        try Self.checkBackupID(id)
        guard let db = try ctx.existingDatabase(), let b = try db.backup(id: id) else {
            throw HopError(.notFound, "there is no backup \(id)", hint: "`hop backup list` shows them")
        }
        try authorizeAudited(permission, app: b.app, action: action)
        return (b, db)
    }

    public func backupShow(id: String) throws -> BackupInfo {
        BackupInfo(try backupRecord(id, .read, action: "show backup").0)
    }

    /// Reads the whole archive back: the file's hash, age's authentication of every chunk, every
    /// member's checksum and the manifest's signature. Changes nothing but the verified time.
    public func backupVerify(id: String) throws -> BackupVerification {
        if id.contains("/") {
            // A backup file, recorded or not: read through and checked, nothing recorded.
            try authorizeAudited(.admin, app: nil, action: "verify a backup file")
            guard id.hasPrefix("/"), FileManager.default.fileExists(atPath: id) else { throw HopError(.notFound, "\(id) is not an existing absolute path") }
            return try audited("backup verify", app: nil, detail: ["file": id], permission: .admin) {
                let t0 = Date()
                let (m, keyid) = try verifyArchive(file: id, expect: BackupExpectation())
                return BackupVerification(id: m.id, app: m.app, ok: true, members: m.members.count, bytes: m.members.reduce(0) { $0 + $1.size },
                                          keyid: keyid, seconds: Date().timeIntervalSince(t0))
            }
        }
        let (b, _) = try backupRecord(id, .read, action: "verify backup")
        return try audited("backup verify", app: b.app, detail: ["id": id], permission: .read) {
            let t0 = Date()
            let db = try ctx.database()
            let archive = try fetchArchive(b, db: db)
            defer { archive.cleanup() }
            // The file's hash, age's authentication of every chunk, every member's checksum and
            // the manifest's signature by this machine's key, in one read. Exit 7 on any mismatch.
            let (m, keyid) = try verifyArchive(file: archive.path, expect: BackupExpectation(b))
            var r = b
            r.verifiedAt = Date()
            try db.putBackup(r)
            return BackupVerification(id: id, app: b.app, ok: true, members: m.members.count,
                                      bytes: m.members.reduce(0) { $0 + $1.size }, keyid: keyid, seconds: Date().timeIntervalSince(t0))
        }
    }

    public func backupDestroy(id: String) throws -> BackupInfo {
        let (b, _) = try backupRecord(id, .deploy, action: "destroy backup")
        return try audited("backup destroy", app: b.app, detail: ["id": id], permission: .deploy) {
            let db = try ctx.database()
            try deleteBackupFile(b, db: db)
            try db.removeBackup(id: id)
            return BackupInfo(b)
        }
    }

    func deleteBackupFile(_ b: BackupRecord, db: HopDatabase) throws {
        guard b.status == .ok, !b.location.isEmpty else { return }
        switch try BackupTarget.parse(b.target) {
        case .local:
            if unlink(b.location) != 0 && errno != ENOENT { throw HopError(.environment, "cannot delete \(b.location): \(String(cString: strerror(errno)))") }
        case .remote:
            try RcloneRemotes(home: ctx.home, db: db, runner: ctx.runner).delete(b.location)
        }
    }

    /// Applies a retention policy to an app's good backups. The newest verified backup (or, when
    /// none was verified, the newest good one) is always kept; failed attempts stay listed.
    public func backupPrune(app raw: String, keep text: String? = nil) throws -> PruneResult {
        let app = try Self.checkedApp(raw)
        return try audited("backup prune", app: app, detail: text.map { ["keep": $0] } ?? [:], permission: .deploy) {
            let db = try ctx.database()
            let policyText = try text ?? (try db.backupSchedules(app: app).first?.keep)
            guard let policyText else { throw HopError.invalid("no retention policy for \(app)", hint: "give --keep last=3,daily=7 or set one with `hop backup schedule`") }
            let policy = try BackupRetention.parse(policyText)
            let good = try db.backups(app: app).filter { $0.status == .ok }
            var keep = policy.keep(good.map { ($0.id, $0.createdAt) })
            if let newestVerified = good.filter({ $0.verifiedAt != nil }).max(by: { $0.createdAt < $1.createdAt }) ?? good.first {
                keep.insert(newestVerified.id)
            }
            // A before-deploy backup is how `rollback --with-data` finds the data of a generation
            // that may still be rolled back to: kept while its generation is on record.
            let generations = Set(try db.generations(app: app).map(\.number))
            for b in good where b.reason == "before-deploy" { if let g = b.forGeneration, generations.contains(g) { keep.insert(b.id) } }
            var removed: [String] = []
            for b in good where !keep.contains(b.id) {
                try deleteBackupFile(b, db: db)
                try db.removeBackup(id: b.id)
                removed.append(b.id)
            }
            return PruneResult(app: app, kept: good.map(\.id).filter { keep.contains($0) }, removed: removed)
        }
    }

    // MARK: Remotes

    /// `options`: rclone's own, as `KEY=VALUE` words.
    public func backupRemoteAdd(name: String, type: String, options words: [String]) throws -> BackupRemoteInfo {
        let options = try words.map { o -> (String, String) in
            guard let eq = o.firstIndex(of: "=") else { throw HopError.invalid("`\(o)` is not KEY=VALUE", hint: "rclone's options, e.g. host=backup.example.org") }
            return (String(o[..<eq]), String(o[o.index(after: eq)...]))
        }
        return try audited("backup remote add", app: nil, detail: ["name": name, "type": type], permission: .admin) {
            try RcloneRemotes(home: ctx.home, db: try ctx.database(create: true), runner: ctx.runner).add(name: name, type: type, options: options)
            return BackupRemoteInfo(name: name)
        }
    }

    public func backupRemoteRemove(name: String) throws -> BackupRemoteInfo {
        try audited("backup remote remove", app: nil, detail: ["name": name], permission: .admin) {
            try RcloneRemotes(home: ctx.home, db: try ctx.database(), runner: ctx.runner).remove(name: name)
            return BackupRemoteInfo(name: name)
        }
    }

    public func backupRemotes() throws -> [BackupRemoteInfo] {
        try ctx.authorize(.admin, app: nil, action: "list backup remotes")
        guard let db = try ctx.existingDatabase() else { return [] }
        return try RcloneRemotes(home: ctx.home, db: db, runner: ctx.runner).names().map(BackupRemoteInfo.init)
    }

    // MARK: Reading back

    /// The archive of a good backup as a file here: its location, or a remote one downloaded into scratch.
    func fetchArchive(_ b: BackupRecord, db: HopDatabase) throws -> BackupFile {
        guard b.status == .ok else { throw HopError(.notFound, "backup \(b.id) failed; it has nothing to read", hint: b.error) }
        var file = b.location
        var scratch: String?
        if case .remote = try BackupTarget.parse(b.target) {
            let dir = try ctx.home.scratch("backup-fetch")
            scratch = dir
            file = dir + "/" + b.id + Self.backupFileSuffix
            do { try RcloneRemotes(home: ctx.home, db: db, runner: ctx.runner).download(b.location, to: file) }
            catch { try? FileManager.default.removeItem(atPath: dir); throw error }
        }
        let cleanup: () -> Void = { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
        guard FileManager.default.fileExists(atPath: file) else { cleanup(); throw HopError(.notFound, "backup \(b.id) is missing: \(file) does not exist") }
        return BackupFile(path: file, cleanup: cleanup)
    }

    /// One pass through `age -d`: the archive's members, then the signed manifest checked against
    /// them. With `stageInto`, the same pass unpacks the members there (restore): the caller uses
    /// nothing staged unless this returns, and removes the staging when it throws.
    func verifyArchive(file: String, expect: BackupExpectation, stageInto: String? = nil) throws -> (BackupManifest, String) {
        let key = try BackupKey.load(ctx.home, runner: ctx.runner, create: false)
        let scan = try withDecrypted(file: file, key: key, expectSHA256: expect.sha256) { fd in
            try BackupArchiveReader.read(fd: fd, extractTo: stageInto, limits: expect.limits)
        }
        return try checkedManifest(scan, expect)
    }

    /// The signed manifest of a scanned archive, checked: signed by this machine's key, the
    /// expected backup, and listing exactly the members read (names, types, sizes, modes, hashes,
    /// link targets, in order). Exit 7 otherwise.
    func checkedManifest(_ scan: BackupArchiveReader.Scan, _ expect: BackupExpectation) throws -> (BackupManifest, String) {
        guard let envelope = try? JSONDecoder().decode(DSSEEnvelope.self, from: scan.envelope), envelope.payloadType == BackupManifest.payloadType else {
            throw BackupArchiveReader.refused("the manifest is not a signed hop backup manifest")
        }
        let signer = try SigningKey.load(from: ctx.home)
        let payload: Data
        do { payload = try envelope.verifiedPayload(with: signer.publicKey) } catch {
            throw BackupArchiveReader.refused("the manifest is not signed by this machine's key (keyid \(signer.keyID.prefix(16))…)")
        }
        guard let manifest = try? JSONDecoder().decode(BackupManifest.self, from: payload), manifest.format == BackupManifest.format else {
            throw BackupArchiveReader.refused("the signed manifest does not decode as \(BackupManifest.format)")
        }
        do { try Self.checkBackupID(manifest.id); _ = try Self.checkedApp(manifest.app) } catch {
            throw BackupArchiveReader.refused("the manifest's id or app is not a valid name")
        }
        if let id = expect.id, manifest.id != id { throw BackupArchiveReader.refused("the archive is backup \(manifest.id), not \(id)") }
        if let app = expect.app, manifest.app != app { throw BackupArchiveReader.refused("the archive is of app \(manifest.app), not \(app)") }
        guard manifest.members == scan.members else {
            let diff = zip(manifest.members, scan.members).first { $0 != $1 }
            throw BackupArchiveReader.refused("the archive's members differ from the signed manifest"
                                              + (diff.map { " at `\($0.0.path)`" } ?? " (\(scan.members.count) found, \(manifest.members.count) listed)"))
        }
        return (manifest, signer.keyID)
    }

    /// Runs `body` on the read end of `age -d`; age's own failure (a damaged or truncated file, a
    /// wrong key) is a refusal even when the archive reader saw nothing wrong. hop feeds the file
    /// to age from a second thread, hashing it on the way: with `expectSHA256`, a file that is not
    /// the one recorded is refused (checked in the same read, on the other core).
    func withDecrypted<T>(file: String, key: BackupKey, expectSHA256: String? = nil, _ body: (Int32) throws -> T) throws -> T {
        // age stops reading at the first damaged chunk: a write after that fails with EPIPE
        // (hop ignores SIGPIPE process-wide, in `Hop.main`).
        let scratch = try ctx.home.scratch("age")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let fileFD = open(file, O_RDONLY | O_CLOEXEC)
        guard fileFD >= 0 else { throw HopError(.notFound, "cannot read \(file): \(String(cString: strerror(errno)))") }
        let input: (read: Int32, write: Int32), output: (read: Int32, write: Int32)
        do { input = try makePipe() } catch { close(fileFD); throw error }
        do { output = try makePipe() } catch { close(fileFD); close(input.read); close(input.write); throw error }
        let proc: PipedProcess
        do { proc = try PipedProcess.spawn("age", ["-d", "-i", key.identityPath], stdin: input.read, stdout: output.write, scratch: scratch) }
        catch { [fileFD, input.read, input.write, output.read, output.write].forEach { close($0) }; throw error }
        close(input.read)
        close(output.write)
        let feed = FeedResult.copying(from: fileFD, to: input.write, closing: [input.write, fileFD])
        var result: Result<T, Error>
        do { result = .success(try body(output.read)) } catch { result = .failure(error) }
        // Drain what the reader left (padding), so age can finish, then judge age itself.
        var sink = [UInt8](repeating: 0, count: 1 << 16)
        while sink.withUnsafeMutableBytes({ read(output.read, $0.baseAddress, $0.count) }) > 0 {}
        close(output.read)
        let (status, err) = proc.wait()
        feed.done.wait()
        if let expectSHA256, feed.digest != expectSHA256 {
            throw HopError(.verificationFailed, "backup refused: \(file) is not the file that was written (sha256 \(feed.digest.prefix(16))…, recorded \(expectSHA256.prefix(16))…)",
                           hint: "nothing was changed; the archive was damaged or replaced")
        }
        if case .failure(let e) = result {
            if status != 0, (e as? HopError)?.code != .verificationFailed {
                throw BackupArchiveReader.refused("age could not decrypt it: \(err)")
            }
            throw e
        }
        guard status == 0 else { throw BackupArchiveReader.refused("age could not decrypt it (damaged, truncated or for another key): \(err)") }
        return try result.get()
    }
}

/// A copy from one descriptor to another on a thread of its own, hashing what passes (SHA-256):
/// the file fed to `age -d`, and `age -e`'s output on its way to the file. A failed write is
/// kept (`failed`) and the source is still read to its end, so the digest covers all of it.
final class FeedResult: @unchecked Sendable {
    var digest = ""
    var failed: String?
    let done = DispatchSemaphore(value: 0)

    static func copying(from source: Int32, to sink: Int32, closing: [Int32]) -> FeedResult {
        let r = FeedResult()
        Thread.detachNewThread {
            var hasher = SHA256()
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buf.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                hasher.update(data: buf[0..<n])
                var off = 0
                while r.failed == nil && off < n {
                    let w = buf.withUnsafeBytes { write(sink, $0.baseAddress! + off, n - off) }
                    if w < 0 && errno == EINTR { continue }
                    if w <= 0 { r.failed = String(cString: strerror(errno)) } else { off += w }
                }
            }
            closing.forEach { close($0) }
            r.digest = hexString(hasher.finalize())
            r.done.signal()
        }
        return r
    }
}

/// Deletes a tree in the background: renamed out of the way at once (`.hop-trash-…` beside it),
/// then removed by `rm -rf --one-file-system` in a process group of its own, so a restore is done when the
/// app serves its restored data, not when a gigabyte of the data it replaced is gone.
func removeTreeInBackground(_ path: String) {
    let trash = (path as NSString).deletingLastPathComponent + "/.hop-trash-" + hexString(randomBytes(6))
    guard rename(path, trash) == 0 else { removeTree(path); return }
    // A process group of its own: a terminal's ^C or hang-up after hop exits does not stop it.
    guard let pid = try? Spawn.spawn(["/bin/rm", "-rf", "--one-file-system", trash], newProcessGroup: true) else { removeTree(trash); return }
    // Reaped by a thread, so a long-running hop server collects no zombies.
    Thread.detachNewThread { _ = Spawn.wait(pid) }
}

/// Deletes a tree hop made (staging, data set aside) without following links: unlinkat relative
/// to each directory's descriptor (FileManager's removal is several times slower on large trees).
func removeTree(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { unlink(path); return }
    func clear(_ dfd: Int32) {
        let d = dup(dfd)
        guard let dir = fdopendir(d) else { close(d); return }
        defer { closedir(dir) }
        var names: [(String, Bool)] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            names.append((name, e.pointee.d_type == UInt8(DT_DIR)))
        }
        for (name, isDir) in names {
            if unlinkat(dfd, name, isDir ? AT_REMOVEDIR : 0) == 0 { continue }
            if errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST || isDir {
                let sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if sub >= 0 { clear(sub); close(sub) }
                unlinkat(dfd, name, AT_REMOVEDIR)
            }
        }
    }
    clear(fd)
    close(fd)
    rmdir(path)
}

// MARK: - Taking a backup

extension AppRuntime {
    /// An app hop deployed at some point, or whose state directory hop made (its data may outlive
    /// its generations): the apps there is something to back up of.
    static func requireData(app: String, home: HopHome, db: HopDatabase) throws {
        guard try !db.generations(app: app).isEmpty || FileManager.default.fileExists(atPath: home.apps + "/\(app)/state-claimed") else {
            throw HopError(.notFound, "\(app) has no data to back up", hint: "deploy it first")
        }
    }

    /// The app's state directory as hop opens it. Under the private host that is the directory
    /// bind-mounted there (`host/app-state/private/<app>`), not a path through /proc/PID/root:
    /// libarchive's secure extraction refuses a path with a symbolic link in it, and a rename
    /// between a staging directory and the state directory must stay on one mount.
    func stateDirectory(_ app: String) -> String { stateRoot + "/" + app }

    /// Where every app's state directory is (hop's restore staging sits here too).
    var stateRoot: String {
        host.pid != nil ? home.root + "/host/app-state/private" : host.path("/var/lib/private/" + String(UnitNames.stateDirectory(app: "").dropLast()))
    }
    var addonServers: AddonServers { AddonServers(ctx: ctx, db: db, host: host) }

    /// Takes a backup with the app's lock held (deploy calls this too, before a switch).
    func takeBackup(app: String, target: BackupTarget, reason: String, forGeneration: Int? = nil) throws -> BackupRecord {
        try Self.requireData(app: app, home: home, db: db)
        let active = try db.activeGeneration(app: app)
        // With the app's lock held no other backup of it runs: one still `running` was interrupted.
        for var stale in try db.backups(app: app) where stale.status == .running {
            stale.status = .failed
            stale.error = "interrupted (hop stopped while it ran)"
            try db.putBackup(stale)
            if stale.target.hasPrefix("/") { unlink(stale.target + "/\(app)/.\(stale.id)\(Operations.backupFileSuffix).partial") }
        }
        let id = Operations.newBackupID()
        let buildRecord = try active.flatMap { try db.build(id: $0.buildID) }
        var record = BackupRecord(id: id, app: app, createdAt: Date(), reason: reason, generation: active?.number, buildID: active?.buildID,
                                  forGeneration: forGeneration, target: target.text, location: "", status: .running)
        try db.putBackup(record)
        let scratch = try home.scratch("backup-\(id)")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do {
            let key = try BackupKey.load(home, runner: runner, create: true)
            let signer: SigningKey
            if let k = try? SigningKey.load(from: home) { signer = k } else { signer = try SigningKey.generate(in: home, force: false) }
            let finalName = "\(id)\(Operations.backupFileSuffix)"
            let output: String
            switch target {
            case .local(let dir):
                let appDir = dir + "/" + app
                try FileManager.default.createDirectory(atPath: appDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                output = appDir + "/." + finalName + ".partial"
            case .remote:
                output = scratch + "/" + finalName
            }
            defer { if output.hasSuffix(".partial") { unlink(output) } }
            ctx.progress(ProgressEvent(phase: "backup", message: "dumping addons of \(app)"))
            let addons = try dumpAddons(app: app, into: scratch)
            let (summary, digest) = try writeArchive(app: app, id: id, output: output, key: key, signer: signer, build: buildRecord,
                                           generation: active?.number, addons: addons)
            faultPoint("backup:written")
            var st = stat()
            stat(output, &st)
            switch target {
            case .local(let dir):
                let final = dir + "/" + app + "/" + finalName
                let fd = open(output, O_RDONLY); if fd >= 0 { fsync(fd); close(fd) }
                guard rename(output, final) == 0 else { throw HopError(.environment, "cannot move the backup to \(final): \(String(cString: strerror(errno)))") }
                let dfd = open(dir + "/" + app, O_RDONLY | O_DIRECTORY); if dfd >= 0 { fsync(dfd); close(dfd) }
                record.location = final
            case .remote(let name, let path):
                let remote = "\(name):\(path.isEmpty ? "" : path + "/")\(app)/\(finalName)"
                ctx.progress(ProgressEvent(phase: "backup", message: "uploading to \(remote)"))
                record.location = remote
                try RcloneRemotes(home: home, db: db, runner: runner).upload(output, to: remote)
            }
            record.size = Int64(st.st_size)
            record.sha256 = digest
            record.status = .ok
            record.finishedAt = Date()
            record.summary = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
            try db.putBackup(record)
            ctx.progress(ProgressEvent(phase: "backup", message: "backup \(id) of \(app): \(record.size) bytes at \(record.location)"))
            return record
        } catch {
            record.status = .failed
            record.finishedAt = Date()
            record.error = (error as? HopError).map { $0.message + ($0.detail.map { ": " + $0 } ?? "") } ?? "\(error)"
            try? db.putBackup(record)
            throw error
        }
    }

    struct DumpedAddon { var manifest: BackupManifest.Addon; var file: String }

    /// A consistent dump of each addon attached to the app, into `dir`.
    func dumpAddons(app: String, into dir: String) throws -> [DumpedAddon] {
        var out: [DumpedAddon] = []
        for at in try db.attachments(app: app) {
            guard let a = try db.addon(name: at.addon) else { continue }
            let t = try Operations.checkedAddonType(a.type)
            let servers = addonServers
            let build = try servers.running(t, name: t == .redis ? servers.redisServerName(a) : nil)
            let file: String
            switch t {
            case .postgres:
                file = dir + "/\(a.name).pgdump"
                let r = try runner.run(Command(build + "/bin/pg_dump", ["-Fc", "-Z0", "-h", host.path(PostgresServer.socketDirectory), "-U", "postgres",
                                                                        "-d", a.name, "-f", file]))
                guard r.succeeded else { throw HopError(.environment, "pg_dump of addon \(a.name) failed", detail: r.stderrTail(4)) }
            case .redis:
                file = dir + "/\(a.name).redis"
                try RedisDump.encode(try redisSnapshot(a)).write(to: URL(fileURLWithPath: file))
            case .mariadb:
                file = dir + "/\(a.name).sql"
                let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw HopError(.environment, "cannot write \(file)") }
                let p = try PipedProcess.spawn(build + "/bin/mariadb-dump", ["--no-defaults", "-S", host.path(MariaDBServer.socket), "-u", "root",
                                                                              "--single-transaction", "--skip-lock-tables", "--routines", "--triggers",
                                                                              "--skip-comments", a.name], stdin: nil, stdout: fd, scratch: dir)
                close(fd)
                let (status, err) = p.wait()
                guard status == 0 else { throw HopError(.environment, "mariadb-dump of addon \(a.name) failed", detail: err) }
            }
            let ext = (file as NSString).pathExtension
            out.append(DumpedAddon(manifest: .init(name: a.name, type: a.type, prefix: at.prefix, extensions: a.extensions, member: "addons/\(a.name).\(ext)"),
                                   file: file))
        }
        return out
    }

    /// libarchive → `age -e` → `output`, the manifest signed and written last.
    func writeArchive(app: String, id: String, output: String, key: BackupKey, signer: SigningKey, build: BuildRecord?,
                      generation: Int?, addons: [DumpedAddon]) throws -> (BackupSummary, sha256: String) {
        let outFD = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard outFD >= 0 else { throw HopError(.environment, "cannot write \(output): \(String(cString: strerror(errno)))") }
        defer { close(outFD) }
        let scratch = (output as NSString).deletingLastPathComponent
        let p = try makePipe()
        let encrypted: (read: Int32, write: Int32)
        do { encrypted = try makePipe() } catch { close(p.read); close(p.write); throw error }
        let age: PipedProcess
        do { age = try PipedProcess.spawn("age", key.encryptArguments, stdin: p.read, stdout: encrypted.write, scratch: scratch) }
        catch { [p.read, p.write, encrypted.read, encrypted.write].forEach { close($0) }; throw error }
        close(p.read)
        close(encrypted.write)
        // age's output is hashed on its way to the file, on a second thread (no second read).
        let sink = FeedResult.copying(from: encrypted.read, to: outFD, closing: [encrypted.read])
        var manifest = BackupManifest(id: id, app: app, createdAt: isoTime(Date()), hopVersion: hopVersion, generation: generation, build: nil,
                                      addons: addons.map(\.manifest), members: [], skipped: [], changed: [])
        // A log that does not verify is not signed; the backup goes on without a checkpoint.
        manifest.auditCheckpoint = try? Operations(ctx).makeAuditCheckpoint().line
        var writeError: Error?
        do {
            let w = try BackupArchiveWriter(fd: p.write)
            let now = Int(Date().timeIntervalSince1970)
            try w.directory("meta", mode: 0o700, mtime: now)
            let config = Dictionary(try db.config(app: app).map { ($0.key, $0.value) }, uniquingKeysWith: { _, b in b })
            let generated = try db.generatedValues(app: app)
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            try w.data("meta/config.json", try enc.encode(["config": config, "generated": generated]))
            if let build {
                let closure = try db.closure(buildID: build.id).map(\.path)
                manifest.build = .init(id: build.id, outPath: build.outPath, drvPath: build.drvPath, sourceHash: build.sourceHash, storePaths: closure)
                try w.data("meta/build.json", try enc.encode(build))
                if let prov = try? Operations(ctx).provenance(String(build.id), sign: true) { try w.data("meta/provenance.dsse.json", prov) }
            }
            if !addons.isEmpty { try w.directory("addons", mode: 0o700, mtime: now) }
            for a in addons {
                let fd = open(a.file, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw HopError(.environment, "cannot read the dump \(a.file)") }
                defer { close(fd) }
                var st = stat(); fstat(fd, &st)
                try w.file(a.manifest.member, fd: fd, size: Int64(st.st_size), mode: 0o600, mtime: now)
            }
            let spec = try build?.spec()
            let walker = StateTreeWalker(rules: IgnoreRules(spec?.backupExclude ?? []), include: spec?.backupPaths ?? [])
            let root = stateDirectory(app)
            var rootStat = stat()
            if lstat(root, &rootStat) == 0, rootStat.st_mode & S_IFMT == S_IFDIR {
                ctx.progress(ProgressEvent(phase: "backup", message: "archiving the state of \(app)"))
                try w.directory("state", mode: Int(rootStat.st_mode), mtime: Int(rootStat.st_mtim.tv_sec))
                manifest.skipped = try walker.walk(root: root) { v in
                    switch v {
                    case .directory(let path, let st):
                        try w.directory("state/" + path, mode: Int(st.st_mode), mtime: Int(st.st_mtim.tv_sec))
                    case .file(let path, let fd, let st):
                        if !(try w.file("state/" + path, fd: fd, size: Int64(st.st_size), mode: Int(st.st_mode), mtime: Int(st.st_mtim.tv_sec))) {
                            manifest.changed.append(path)
                        }
                    case .symlink(let path, let target, let st):
                        try w.symlink("state/" + path, target: target, mtime: Int(st.st_mtim.tv_sec))
                    }
                }
            }
            manifest.members = w.members
            let payload = try enc.encode(manifest)
            let envelope = try DSSEEnvelope.sign(payload: payload, type: BackupManifest.payloadType, key: signer).json()
            try w.finish(envelope: envelope)
            let summary = BackupSummary(members: w.members.count, bytes: w.bytes, addons: addons.map(\.manifest.name))
            close(p.write)
            let (status, err) = age.wait()
            sink.done.wait()
            guard status == 0 else { throw HopError(.environment, "age could not encrypt the backup", detail: err) }
            if let f = sink.failed { throw HopError(.environment, "writing \(output) failed: \(f)") }
            for c in manifest.changed { ctx.warn("\(c) changed while it was archived; the backup holds it as read") }
            return (summary, sink.digest)
        } catch {
            writeError = error
        }
        close(p.write)
        _ = age.wait()
        sink.done.wait()
        throw writeError!
    }
}
