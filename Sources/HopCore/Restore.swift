import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Provenance
import Runtime
#if canImport(Glibc)
import Glibc
#endif

public struct RestoreResult: Sendable, Codable, Equatable {
    public var id: String
    public var app: String
    public var from: String
    public var generation: Int?
    public var addons: [String]
    public var files: Int
    public var bytes: Int64
    public var seconds: Double
}

/// What a restore has done so far, written before each step (`$HOP_HOME/apps/<app>/restore.json`):
/// a killed hop's next command under the app's lock reads it and undoes the restore (the previous
/// data and databases go back, the app starts on them) — or, once `committed`, finishes it.
struct RestoreJournal: Codable {
    struct Addon: Codable {
        var name: String
        var type: String
        var prefix: String
        /// Made by this restore (the app had none of that name): dropped on undo.
        var created: Bool
        /// Attached by this restore: detached on undo.
        var attached: Bool
    }
    enum Phase: String, Codable { case staged, stopped, swapping, committed }
    var id: String
    var app: String
    var staging: String
    var phase: Phase
    var addons: [Addon]
    /// The config and kept values were empty and came from the backup: emptied again on undo.
    var configRestored = false
    /// The generation that served before (started again on undo).
    var generation: Int?
    /// A generation this restore deployed (the app served none): removed on undo.
    var deployed: Int?
    /// `rollback --with-data`: the generation switched to with the restored data.
    var switchTo: Int?
}

extension Operations {
    /// `hop backup restore ID [--to-app NEW]`: one read of the archive verifies it while it is
    /// unpacked into a staging directory; only a wholly verified staging is swapped in, with the
    /// app stopped, and the app starts health-gated; any failure puts the previous data back.
    public func backupRestore(id: String, toApp rawTarget: String? = nil) throws -> RestoreResult {
        // A backup file (a path) restores without a record: on a new machine after a disaster.
        if id.contains("/") { return try restoreFile(id, toApp: rawTarget) }
        let (b, _) = try backupRecord(id, .deploy, action: "restore backup")
        let target = try rawTarget.map(Self.checkedApp) ?? b.app
        if rawTarget != nil { try authorizeAudited(.admin, app: target, action: "restore backup") }
        try checkRestoreTarget(target, source: b.app)
        return try audited("backup restore", app: target, detail: ["id": id, "from": b.app], permission: .deploy) {
            let db = try ctx.database()
            let archive = try fetchArchive(b, db: db)
            defer { archive.cleanup() }
            return try restore(archive.path, expect: BackupExpectation(b), backupBuild: b.buildID, into: target, db: db)
        }
    }

    func checkRestoreTarget(_ target: String, source: String) throws {
        if target != source, let db = try ctx.existingDatabase(), !(try db.generations(app: target).isEmpty) {
            throw HopError.invalid("app \(target) exists; --to-app makes a new app", hint: "choose a new name, or restore in place without --to-app")
        }
    }

    func restore(_ file: String, expect: BackupExpectation, backupBuild: Int64?, into target: String, db: HopDatabase) throws -> RestoreResult {
        let t0 = Date()
        let rt = try runtime(db)
        let lock = try rt.lock(target)
        defer { withExtendedLifetime(lock) {} }
        let r = try rt.restoreArchive(file, expect: expect, backupBuild: backupBuild, into: target)
        let m = r.manifest
        return RestoreResult(id: m.id, app: target, from: m.app, generation: r.generation, addons: r.addons,
                             files: m.members.filter { $0.kind == .file }.count, bytes: m.members.reduce(0) { $0 + $1.size },
                             seconds: Date().timeIntervalSince(t0))
    }

    /// A backup file has no record to say which app and build it is of (where it stages, whether
    /// an image must be made first): a first, verifying read tells, then the restore reads it again.
    func restoreFile(_ file: String, toApp rawTarget: String?) throws -> RestoreResult {
        let target = try rawTarget.map(Self.checkedApp)
        try authorizeAudited(.admin, app: target, action: "restore a backup file")
        guard file.hasPrefix("/") else { throw HopError.invalid("give the backup file's absolute path (\(file))") }
        guard FileManager.default.fileExists(atPath: file) else { throw HopError(.notFound, "\(file) does not exist") }
        return try audited("backup restore", app: target, detail: ["file": file], permission: .admin) {
            let db = try ctx.database(create: true)
            let (manifest, _) = try verifyArchive(file: file, expect: BackupExpectation())
            let app = target ?? manifest.app
            try checkRestoreTarget(app, source: manifest.app)
            return try restore(file, expect: BackupExpectation(manifest), backupBuild: manifest.build?.id, into: app, db: db)
        }
    }
}

extension AppRuntime {
    func restoreJournalPath(_ app: String) -> String { home.apps + "/\(app)/restore.json" }

    func writeRestoreJournal(_ j: RestoreJournal) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try writeFileAtomically(restoreJournalPath(j.app), String(decoding: try enc.encode(j), as: UTF8.self), mode: 0o600)
    }

    func restoreJournal(_ app: String) -> RestoreJournal? {
        FileManager.default.contents(atPath: restoreJournalPath(app)).flatMap { try? JSONDecoder().decode(RestoreJournal.self, from: $0) }
    }

    /// The staging directory sits beside the state directories (same file system, so the swap is
    /// a rename), root-only, under a name no app can have. An app with a `[limits] disk` image
    /// stages inside its image, beside the image's `state` directory.
    func restoreStaging(_ id: String, app: String) throws -> String {
        if disks.hasImage(app) {
            guard !disks.insidePrivateHost else {
                throw HopError.invalid("\(app) has a `[limits] disk` image: restore it with the hop CLI on the machine, not through hop server",
                                       hint: "run `hop backup restore ID` on the machine")
            }
            try disks.mount(app)
            return disks.layout.mountPoint(app) + "/.hop-restore-\(id)"
        }
        return stateRoot + "/.hop-restore-\(id)"
    }

    /// The directory a restore swaps: the app's state directory, or for an image the image's
    /// `state` (its bind mounts are made again after the swap). Read from where the journal's
    /// staging is, so an undo swaps back the directory its restore swapped.
    func swappedState(_ j: RestoreJournal) -> String {
        let parent = (j.staging as NSString).deletingLastPathComponent
        return parent == stateRoot ? stateDirectory(j.app) : parent + "/state"
    }

    /// Before a restore into an app that has no state and no image yet (purged, or a clone) whose
    /// build has `[limits] disk`: the image is made first, so the data is staged inside it.
    /// Returns how to take back what it made (an archive that does not verify leaves nothing).
    func prepareDiskForRestore(_ app: String, backupBuild: Int64?) throws -> (() -> Void)? {
        guard !disks.hasImage(app), !FileManager.default.fileExists(atPath: stateDirectory(app)) else { return nil }
        let buildID = try db.activeGeneration(app: app)?.buildID ?? backupBuild
        guard let buildID, let limit = try db.build(id: buildID)?.spec().limits.disk.flatMap(DiskSize.bytes) else { return nil }
        let marker = home.apps + "/\(app)/state-claimed"
        let claimed = FileManager.default.fileExists(atPath: marker)
        try claimStateDirectory(app)
        let undo = { [disks] in
            try? disks.remove(app)
            if !claimed { unlink(marker) }
        }
        do { try disks.prepare(app, limit: limit) } catch { undo(); throw error }
        return undo
    }

    static func addonNewName(_ name: String) -> String { name + "_hopnew" }
    static func addonOldName(_ name: String) -> String { name + "_hopold" }

    /// Runs with the app's lock held. One read of the archive (`age -d` → zstd → pax) checks and
    /// unpacks every member into a staging directory; the staging is used only once the whole
    /// archive verified (every checksum, the manifest's signature, and the file's hash when the
    /// record has one), and is removed when it does not: a damaged, truncated or foreign archive
    /// changes nothing live. Returns the manifest and the generation serving after.
    @discardableResult
    func restoreArchive(_ file: String, expect: BackupExpectation, backupBuild: Int64?, into app: String,
                        switchTo: GenerationRecord? = nil) throws -> (manifest: BackupManifest, generation: Int?, addons: [String]) {
        let undoDisk = try prepareDiskForRestore(app, backupBuild: backupBuild)
        let id = expect.id ?? "file"
        var staging = ""
        let t0 = Date()
        let m: BackupManifest
        do {
            // `<app>.<id>-<random>`: app names have no `.`, so this app's stagings are known by name.
            staging = try restoreStaging(app + "." + id + "-" + hexString(randomBytes(3)), app: app)
            removeAbandonedStagings(app, beside: staging)
            try FileManager.default.createDirectory(atPath: (staging as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            try FileManager.default.createDirectory(atPath: staging + "/x", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try Self.checkRoomToStage(expect.limits, at: staging)
            ctx.progress(ProgressEvent(phase: "restore", message: "verifying backup \(id) while unpacking it into a staging directory"))
            m = try Operations(ctx).verifyArchive(file: file, expect: expect, stageInto: staging + "/x").0
        } catch {
            if !staging.isEmpty { removeTree(staging) }
            undoDisk?()
            throw error
        }
        ctx.progress(ProgressEvent(phase: "restore", message: String(format: "verified and unpacked %d members in %.1f s", m.members.count, Date().timeIntervalSince(t0))))
        let active = try db.activeGeneration(app: app)
        var j = RestoreJournal(id: m.id, app: app, staging: staging, phase: .staged, addons: [], generation: active?.number, switchTo: switchTo?.number)
        try writeRestoreJournal(j)
        faultPoint("restore:staged")
        do {
            try restoreSteps(m, &j, sameApp: app == m.app)
        } catch {
            let reason = (error as? HopError)?.message ?? "\(error)"
            ctx.warn("restore of \(m.id) into \(app) failed (\(reason)); putting the previous data back")
            do { try undoRestore(j) } catch {
                throw HopError(.environment, "restore failed (\(reason)) and putting the previous data back failed too: \((error as? HopError)?.message ?? "\(error)")",
                               hint: "the journal \(restoreJournalPath(app)) is kept; the next hop command on \(app) retries the undo")
            }
            if let e = error as? HopError, e.code == .rolledBack || e.code == .verificationFailed { throw e }
            throw HopError(.rolledBack, "restore of backup \(m.id) into \(app) failed: \(reason); the previous data serves again", hint: "see `hop logs \(app)`")
        }
        return (m, try db.activeGeneration(app: app)?.number, j.addons.map(\.name))
    }

    /// A restore killed while it unpacked wrote no journal yet (nothing live was touched): its
    /// staging is all it left. With the app's lock held and any journal recovered, every staging
    /// of this app is such a one; it goes, in the background.
    func removeAbandonedStagings(_ app: String, beside staging: String) {
        let dir = (staging as NSString).deletingLastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(".hop-restore-\(app).") {
            removeTreeInBackground(dir + "/" + name)
        }
    }

    /// Refuses, before anything is written, a restore whose staging cannot fit on the file system
    /// that holds it (beside the live data, which stays until the swap).
    static func checkRoomToStage(_ limits: BackupArchiveReader.Limits?, at staging: String) throws {
        guard let limits else { return }
        var fs = statvfs()
        guard statvfs(staging, &fs) == 0 else { return }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        if limits.bytes > free {
            throw HopError(.environment, String(format: "the backup holds %.1f MiB; the file system of %@ has %.1f MiB free", Double(limits.bytes) / 1048576,
                                                (staging as NSString).deletingLastPathComponent, Double(free) / 1048576),
                           hint: "free space there (the live data stays until the swap), then restore")
        }
    }

    private func restoreSteps(_ m: BackupManifest, _ j: inout RestoreJournal, sameApp: Bool) throws {
        let app = j.app
        let staged = j.staging + "/x"
        // 1. Each addon's dump into a fresh database beside the live one (nothing live is touched).
        for a in m.addons {
            let type = try Operations.checkedAddonType(a.type)
            var name = a.name
            if !sameApp { name = try cloneAddonName(app: app, type: a.type) }
            let existing = try db.addon(name: name)
            let attached = try db.attachments(app: app).contains { $0.addon == name }
            if let existing, existing.type != a.type { throw HopError(.conflict, "addon \(name) exists with type \(existing.type), not \(a.type)") }
            j.addons.append(.init(name: name, type: a.type, prefix: a.prefix, created: existing == nil, attached: !attached))
            try writeRestoreJournal(j)
            if existing == nil { try addonServers.provision(type: a.type, name: name, extensions: a.extensions) }
            if !attached { try db.attach(app: app, addon: name, prefix: a.prefix) }
            let t1 = Date()
            try loadAddon(type, name: name, source: a.name, extensions: a.extensions, dump: staged + "/" + a.member)
            ctx.progress(ProgressEvent(phase: "restore", message: String(format: "loaded addon %@ in %.1f s", name, Date().timeIntervalSince(t1))))
        }
        faultPoint("restore:loaded")
        // 2. The app stops: nothing writes while the data changes.
        if let g = j.generation.flatMap({ try? db.generation(app: app, number: $0) }) {
            ctx.progress(ProgressEvent(phase: "restore", message: "stopping \(app)"))
            try stopGeneration(g)
        }
        j.phase = .stopped
        try writeRestoreJournal(j)
        faultPoint("restore:stopped")
        // 3. The swap: the state directory by rename, each database by rename (old kept aside).
        j.phase = .swapping
        try writeRestoreJournal(j)
        let state = swappedState(j)
        if FileManager.default.fileExists(atPath: state) {
            guard rename(state, j.staging + "/previous") == 0 else { throw HopError(.environment, "cannot move \(state) aside: \(String(cString: strerror(errno)))") }
        }
        faultPoint("restore:state-aside")
        if FileManager.default.fileExists(atPath: staged + "/state") {
            // Root-owned at the top: systemd hands the whole tree to the app's user when it starts.
            chown(staged + "/state", 0, 0)
            guard rename(staged + "/state", state) == 0 else { throw HopError(.environment, "cannot move the restored state into \(state): \(String(cString: strerror(errno)))") }
            if !FileManager.default.fileExists(atPath: home.apps + "/\(app)/state-claimed") {
                try writeFileAtomically(home.apps + "/\(app)/state-claimed", "\(app)\n", mode: 0o600)
            }
        }
        // An image's binds still show the directory moved aside: they follow the new one.
        if disks.hasImage(app) { try disks.mount(app) }
        faultPoint("restore:state-swapped")
        for a in j.addons { try swapAddon(try Operations.checkedAddonType(a.type), name: a.name, staging: j.staging) }
        faultPoint("restore:addons-swapped")
        // 4. Config: an app with none (purged, or a clone) gets the backup's.
        if try db.config(app: app).isEmpty && db.generatedValues(app: app).isEmpty,
           let data = FileManager.default.contents(atPath: staged + "/meta/config.json"),
           let saved = try? JSONDecoder().decode([String: [String: String]].self, from: data) {
            j.configRestored = true
            try writeRestoreJournal(j)
            let config = (saved["config"] ?? [:]).sorted { $0.key < $1.key }
            if !config.isEmpty { try db.updateConfig(app: app, set: config.map { ($0.key, $0.value) }, unset: []) }
            for (k, val) in saved["generated"] ?? [:] { _ = try db.keepGenerated(app: app, key: k, value: val) }
        }
        // 5. Start, health-gated: the generation that served, or the backup's build when none did.
        if let t = j.switchTo.flatMap({ try? db.generation(app: app, number: $0) }) {
            ctx.progress(ProgressEvent(phase: "restore", message: "switching \(app) to generation \(t.number) on the restored data"))
            try resetStartLimit(t)
            try activator.activate(t, from: try db.activeGeneration(app: app), op: "rollback", watch: 0)
        } else if let g = j.generation.flatMap({ try? db.generation(app: app, number: $0) }) {
            ctx.progress(ProgressEvent(phase: "restore", message: "starting \(app) on the restored data"))
            try startAgain(g)
        } else {
            guard let b = m.build else { throw HopError(.notFound, "backup \(m.id) records no build and \(app) serves nothing", hint: "deploy \(app), then restore") }
            guard nixValid(b.outPath) else {
                throw HopError(.notFound, "the code of backup \(m.id) (\(b.outPath)) is no longer in the store",
                               hint: "deploy the app's source (hop deploy PATH --app \(app)), then restore the backup")
            }
            var build = try db.build(id: b.id) ?? { throw HopError(.notFound, "build \(b.id) of backup \(m.id) is not recorded here") }()
            if build.app != app {
                // A clone: the same closure recorded as a build of the new app, without the original's domains.
                var spec = try build.spec()
                spec.name = app
                spec.domains = []
                build.app = app
                build.specJSON = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
                build.id = try db.recordBuild(build, closure: try db.closure(buildID: b.id))
            }
            ctx.progress(ProgressEvent(phase: "restore", message: "deploying build \(build.id) of \(app) on the restored data"))
            let r = try rollout(build: build, watch: 0, force: true, op: "restore")
            j.deployed = r.generation.number
            try writeRestoreJournal(j)
        }
        faultPoint("restore:started")
        j.phase = .committed
        try writeRestoreJournal(j)
        faultPoint("restore:committed")
        let t2 = Date()
        try finishRestore(j)
        ctx.progress(ProgressEvent(phase: "restore", message: String(format: "dropped the previous data in %.1f s", Date().timeIntervalSince(t2))))
    }

    func nixValid(_ path: String) -> Bool { NixDriver(runner: runner).isValid(path) }

    func cloneAddonName(app: String, type: String) throws -> String {
        let base = String("\(app)-\(type)".prefix(34))
        for i in 1...99 {
            let n = i == 1 ? base : "\(base)-\(i)"
            if try db.addon(name: n) == nil, AddonRules.isName(n) { return n }
        }
        throw HopError(.conflict, "no free addon name for \(app)'s \(type) addon")
    }

    func stopGeneration(_ g: GenerationRecord) throws {
        let m = try GenerationManifest.read(storePath: g.storePath)
        let units = m.units.timers + m.units.instances + (try oneOffs(g.app).compactMap { $0["Id"] })
        if !units.isEmpty { try host.systemctlChecked(["stop"] + units, what: "stopping \(g.app)") }
    }

    /// Starts the generation again (health-gated). A restore stops and starts the same units more
    /// often than systemd's start limit allows in ten seconds when its undo follows at once, so
    /// their start counters are reset first: these starts are hop's, not a crash loop.
    func startAgain(_ g: GenerationRecord) throws {
        try resetStartLimit(g)
        try activator.restore(g)
    }

    func resetStartLimit(_ g: GenerationRecord) throws {
        let m = try GenerationManifest.read(storePath: g.storePath)
        if !m.units.instances.isEmpty { _ = try host.systemctl(["reset-failed"] + m.units.instances) }
    }

    // MARK: Addons

    func loadAddon(_ t: AddonType, name: String, source: String, extensions: [String], dump: String) throws {
        let s = addonServers
        if t == .redis {
            // Loaded at the swap (one MULTI/EXEC); here read, checked, and put in the layout the
            // target addon holds its keys in (its own server, or its prefix on the shared one).
            guard let target = try db.addon(name: name) else { throw HopError(.notFound, "there is no addon \(name)") }
            let read = try RedisDump.decode(try Data(contentsOf: URL(fileURLWithPath: dump)))
            let converted = try RedisDump.converted(read, source: source, target: name, targetOwnServer: !target.onSharedServer)
            try RedisDump.encode(converted).write(to: URL(fileURLWithPath: (dump as NSString).deletingLastPathComponent + "/\(name).redis-new"))
            return
        }
        let build = try s.running(t)
        switch t {
        case .postgres:
            let new = Self.addonNewName(name)
            try s.psqlChecked(build, ["DROP DATABASE IF EXISTS \"\(new)\" WITH (FORCE)", "CREATE DATABASE \"\(new)\" OWNER \"\(name)\"",
                                      "REVOKE ALL ON DATABASE \"\(new)\" FROM PUBLIC"], what: "creating the restore database of \(name)")
            if !extensions.isEmpty {
                let r = try s.psql(build, try extensions.map(PostgresServer.extensionSQL), database: new)
                guard r.succeeded else { throw HopError(.environment, "creating the extensions of \(name) failed", detail: r.stderrTail(3)) }
            }
            let r = try runner.run(Command(build + "/bin/pg_restore", ["-h", host.path(PostgresServer.socketDirectory), "-U", "postgres", "-d", new,
                                                                      "--no-owner", "--no-privileges", "--no-comments", "--role=\(name)",
                                                                      "--single-transaction", "--exit-on-error", dump]))
            guard r.succeeded else { throw HopError(.environment, "pg_restore of addon \(name) failed", detail: r.stderrTail(4)) }
        case .redis:
            break
        case .mariadb:
            let new = Self.addonNewName(name)
            let r0 = try s.mariadb(build, ["DROP DATABASE IF EXISTS `\(new)`", "CREATE DATABASE `\(new)`"])
            guard r0.succeeded else { throw HopError(.environment, "creating the restore database of \(name) failed", detail: r0.stderrTail(3)) }
            let fd = open(dump, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw HopError(.environment, "cannot read \(dump)") }
            let scratch = try home.scratch("mariadb-restore")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let p = try PipedProcess.spawn(build + "/bin/mariadb", ["--no-defaults", "-S", host.path(MariaDBServer.socket), "-u", "root", new],
                                           stdin: fd, stdout: nil, scratch: scratch)
            close(fd)
            let (status, err) = p.wait()
            guard status == 0 else { throw HopError(.environment, "loading the dump of addon \(name) failed", detail: err) }
        }
    }

    /// Puts the loaded data in place of the live data, keeping the live data aside (undo puts it back).
    func swapAddon(_ t: AddonType, name: String, staging: String) throws {
        let s = addonServers
        if t == .redis {
            guard let a = try db.addon(name: name) else { throw HopError(.notFound, "there is no addon \(name)") }
            _ = try s.running(.redis, name: s.redisServerName(a))
            let previous = staging + "/\(name).redis-previous"
            if !FileManager.default.fileExists(atPath: previous) {
                try RedisDump.encode(try redisSnapshot(a)).write(to: URL(fileURLWithPath: previous + ".tmp"))
                rename(previous + ".tmp", previous)
            }
            try replaceRedis(a, with: try RedisDump.decode(try Data(contentsOf: URL(fileURLWithPath: staging + "/x/addons/\(name).redis-new"))))
            return
        }
        let build = try s.running(t)
        switch t {
        case .postgres:
            let new = Self.addonNewName(name), old = Self.addonOldName(name)
            try s.psqlChecked(build, ["SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ('\(name)', '\(new)') AND pid <> pg_backend_pid()",
                                      "DROP DATABASE IF EXISTS \"\(old)\" WITH (FORCE)"], what: "preparing the swap of \(name)")
            let r = try s.psql(build, ["BEGIN", "ALTER DATABASE \"\(name)\" RENAME TO \"\(old)\"", "ALTER DATABASE \"\(new)\" RENAME TO \"\(name)\"", "COMMIT"])
            guard r.succeeded else { throw HopError(.environment, "swapping the database of \(name) failed", detail: r.stderrTail(3)) }
        case .redis:
            break
        case .mariadb:
            let new = Self.addonNewName(name), old = Self.addonOldName(name)
            try mariadbSwap(build, from: name, to: old, with: new)
        }
    }

    /// Addon `a`'s keys now, in the layout it holds them: every database of its own server, or
    /// its `NAME:` keys on the shared one.
    func redisSnapshot(_ a: AddonRecord) throws -> RedisDump.Dump {
        let c = try addonServers.redisClient(server: addonServers.redisServerName(a))
        if a.onSharedServer { return RedisDump.Dump(ownServer: false, entries: try redisEntries(c, pattern: "\(a.name):*", db: 0)) }
        var out: [RedisDump.Entry] = []
        for n in try c.databasesWithKeys() {
            guard case .simple = try c.call(["SELECT", String(n)]) else { throw HopError(.environment, "Redis SELECT \(n) failed for addon \(a.name)") }
            out += try redisEntries(c, pattern: "*", db: n)
        }
        return RedisDump.Dump(ownServer: true, entries: out)
    }

    func redisEntries(_ c: RedisClient, pattern: String, db: Int) throws -> [RedisDump.Entry] {
        try c.keys(matching: pattern).compactMap { k in
            let r = try c.pipeline([[Array("DUMP".utf8), k], [Array("PTTL".utf8), k]])
            guard case .bulk(let value) = r[0] else { throw HopError(.environment, "Redis DUMP of a key failed: \(r[0])") }
            // Expired between SCAN and DUMP: not part of the snapshot.
            guard let v = value, case .integer(let ttl) = r[1], ttl != -2 else { return nil }
            return RedisDump.Entry(db: db, key: k, ttl: ttl, value: v)
        }
    }

    /// One MULTI/EXEC: the addon's keys are all the old ones or all the new ones, never a mix. On
    /// its own server that is every database (FLUSHALL, then each key in its database); on the
    /// shared server its `NAME:` keys.
    func replaceRedis(_ a: AddonRecord, with dump: RedisDump.Dump) throws {
        guard dump.ownServer == !a.onSharedServer else {
            throw HopError(.internalError, "the Redis keys staged for \(a.name) are not in the layout its server holds")
        }
        let c = try addonServers.redisClient(server: addonServers.redisServerName(a))
        var cmds: [[[UInt8]]] = [[Array("MULTI".utf8)]]
        if a.onSharedServer {
            let prefix = Array("\(a.name):".utf8)
            guard dump.entries.allSatisfy({ $0.key.starts(with: prefix) && $0.db == 0 }) else {
                throw HopError(.verificationFailed, "the Redis dump of \(a.name) holds keys of another addon")
            }
            for k in try c.keys(matching: "\(a.name):*") { cmds.append([Array("UNLINK".utf8), k]) }
        } else {
            cmds.append([Array("FLUSHALL".utf8)])
        }
        var selected = -1
        for e in dump.entries.sorted(by: { $0.db < $1.db }) {
            if !a.onSharedServer && e.db != selected { cmds.append([Array("SELECT".utf8), Array(String(e.db).utf8)]); selected = e.db }
            cmds.append([Array("RESTORE".utf8), e.key, Array(String(max(0, e.ttl)).utf8), e.value, Array("REPLACE".utf8)])
        }
        cmds.append([Array("EXEC".utf8)])
        let replies = try c.pipeline(cmds)
        guard case .array(let results?) = replies.last else { throw HopError(.environment, "replacing the keys of \(a.name) failed: \(replies.last.map { "\($0)" } ?? "")") }
        for r in results { if case .error(let e) = r { throw HopError(.environment, "replacing the keys of \(a.name) failed: \(e)") } }
    }

    func mariadbTables(_ build: String, _ db: String) throws -> [String] {
        let r = try addonServers.mariadb(build, ["SELECT table_name FROM information_schema.tables WHERE table_schema = '\(db)' ORDER BY table_name"])
        guard r.succeeded else { throw HopError(.environment, "listing the tables of \(db) failed", detail: r.stderrTail(3)) }
        return r.stdoutText.split(separator: "\n").dropFirst().map(String.init)
    }

    /// Live tables of `live` to `aside`, then `source`'s into `live`, in one RENAME TABLE (atomic).
    func mariadbSwap(_ build: String, from live: String, to aside: String, with source: String) throws {
        let s = addonServers
        let r0 = try s.mariadb(build, ["DROP DATABASE IF EXISTS `\(aside)`", "CREATE DATABASE `\(aside)`"])
        guard r0.succeeded else { throw HopError(.environment, "preparing the swap of \(live) failed", detail: r0.stderrTail(3)) }
        let q = { (s: String) in "`" + s.replacingOccurrences(of: "`", with: "``") + "`" }
        var renames = try mariadbTables(build, live).map { "\(q(live)).\(q($0)) TO \(q(aside)).\(q($0))" }
        renames += try mariadbTables(build, source).map { "\(q(source)).\(q($0)) TO \(q(live)).\(q($0))" }
        guard !renames.isEmpty else { return }
        let r = try s.mariadb(build, ["RENAME TABLE " + renames.joined(separator: ", ")])
        guard r.succeeded else { throw HopError(.environment, "swapping the tables of \(live) failed", detail: r.stderrTail(3)) }
    }

    // MARK: Undo and finish

    /// Puts back whatever the journal says was changed, then starts the app on its previous data.
    /// Idempotent: every step looks at what is there before it moves anything.
    func undoRestore(_ j: RestoreJournal) throws {
        let app = j.app
        if let g = j.deployed, let rec = try db.generation(app: app, number: g) {
            try activator.stopAndRemove(app: app, number: g)
            try db.setGenerationStatus(app: app, number: rec.number, .failed, reason: "restore undone")
            try? activator.nginx.remove(app: app)
        }
        if j.phase != .staged, let g = j.generation.flatMap({ try? db.generation(app: app, number: $0) }) { try? stopGeneration(g) }
        // rollback --with-data that had switched: its target stops too, before the data goes back
        // (its code never runs on the data it was not rolled back with).
        if let t = j.switchTo, t != j.generation, let tg = try db.generation(app: app, number: t) { try? stopGeneration(tg) }
        let state = swappedState(j)
        if FileManager.default.fileExists(atPath: j.staging + "/previous") {
            if FileManager.default.fileExists(atPath: state) { rename(state, j.staging + "/undone-state") }
            guard rename(j.staging + "/previous", state) == 0 else { throw HopError(.environment, "cannot put \(state) back: \(String(cString: strerror(errno)))") }
        } else if j.generation == nil, j.phase == .swapping, FileManager.default.fileExists(atPath: state), !FileManager.default.fileExists(atPath: j.staging + "/x/state") {
            rename(state, j.staging + "/undone-state") // the app had no state before: the restored one goes
        }
        if disks.hasImage(app) { try disks.mount(app) }
        for a in j.addons.reversed() {
            let t = try Operations.checkedAddonType(a.type)
            let s = addonServers
            let record = try db.addon(name: a.name)
            let build = try s.running(t, name: t == .redis ? record.flatMap(s.redisServerName) : nil)
            switch t {
            case .postgres:
                let old = Self.addonOldName(a.name), new = Self.addonNewName(a.name)
                let exists = try s.psql(build, ["SELECT 1 FROM pg_database WHERE datname = '\(old)'"]).stdoutText.contains("1")
                if exists {
                    try s.psqlChecked(build, ["SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ('\(a.name)', '\(old)') AND pid <> pg_backend_pid()",
                                              "DROP DATABASE IF EXISTS \"\(new)\" WITH (FORCE)"], what: "undoing the swap of \(a.name)")
                    let r = try s.psql(build, ["BEGIN", "ALTER DATABASE \"\(a.name)\" RENAME TO \"\(new)\"", "ALTER DATABASE \"\(old)\" RENAME TO \"\(a.name)\"", "COMMIT"])
                    guard r.succeeded else { throw HopError(.environment, "putting the database of \(a.name) back failed", detail: r.stderrTail(3)) }
                }
                try s.psqlChecked(build, ["DROP DATABASE IF EXISTS \"\(new)\" WITH (FORCE)"], what: "dropping the restore database of \(a.name)")
            case .redis:
                let previous = j.staging + "/\(a.name).redis-previous"
                if FileManager.default.fileExists(atPath: previous), let record {
                    try replaceRedis(record, with: try RedisDump.decode(try Data(contentsOf: URL(fileURLWithPath: previous))))
                }
            case .mariadb:
                let old = Self.addonOldName(a.name), new = Self.addonNewName(a.name)
                if try !s.mariadb(build, ["SELECT 1 FROM information_schema.schemata WHERE schema_name = '\(old)'"]).stdoutText.split(separator: "\n").dropFirst().isEmpty {
                    try mariadbSwap(build, from: a.name, to: new + "_undo", with: old)
                    _ = try s.mariadb(build, ["DROP DATABASE IF EXISTS `\(new)_undo`", "DROP DATABASE IF EXISTS `\(old)`"])
                }
                _ = try s.mariadb(build, ["DROP DATABASE IF EXISTS `\(new)`"])
            }
            if a.attached { try db.detach(app: app, addon: a.name) }
            if a.created, try db.addon(name: a.name) != nil {
                try s.drop(a.name, type: a.type)
                try db.removeAddon(a.name)
            }
        }
        if j.configRestored {
            let keys = try db.config(app: app).map(\.key)
            try db.updateConfig(app: app, set: [], unset: keys)
            try db.forgetGenerated(app: app)
        }
        if j.phase != .staged, let g = j.generation.flatMap({ try? db.generation(app: app, number: $0) }) {
            if let t = j.switchTo, let now = try db.activeGeneration(app: app), now.number == t, t != g.number {
                // rollback --with-data had switched: the code goes back with the data.
                try resetStartLimit(g)
                try activator.activate(g, from: now, op: "rollback", watch: 0)
            } else {
                if let t = j.switchTo, t != g.number { try? activator.stop(app: app, number: t) }
                try db.setGenerationStatus(app: app, number: g.number, .active)
                try startAgain(g)
            }
        }
        removeTree(j.staging)
        unlink(restoreJournalPath(app))
    }

    /// After the commit: the data kept aside goes (databases, keys, the previous state directory).
    func finishRestore(_ j: RestoreJournal) throws {
        for a in j.addons {
            let t = try Operations.checkedAddonType(a.type)
            if t == .redis { continue }  // nothing kept aside on the server
            let s = addonServers
            let build = try s.running(t)
            switch t {
            case .postgres: try s.psqlChecked(build, ["DROP DATABASE IF EXISTS \"\(Self.addonOldName(a.name))\" WITH (FORCE)"], what: "dropping the previous database of \(a.name)")
            case .redis: break
            case .mariadb: _ = try s.mariadb(build, ["DROP DATABASE IF EXISTS `\(Self.addonOldName(a.name))`", "DROP DATABASE IF EXISTS `\(Self.addonNewName(a.name))`"])
            }
        }
        removeTreeInBackground(j.staging)
        unlink(restoreJournalPath(j.app))
    }

    /// Called under the app's lock: a restore a killed hop left is undone (or, once committed, finished).
    func recoverRestore(_ app: String) throws -> String? {
        guard let j = restoreJournal(app) else { return nil }
        if j.phase == .committed {
            try finishRestore(j)
            return "an interrupted restore of backup \(j.id) was completed"
        }
        try undoRestore(j)
        return "an interrupted restore of backup \(j.id) was undone; the previous data serves"
    }
}
