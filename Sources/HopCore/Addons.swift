import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// An addon as the interfaces show it: never its password (see `addonCredentials`).
public struct AddonInfo: Sendable, Codable, Equatable {
    public var name: String
    public var type: String
    public var database: String
    public var socket: String
    public var extensions: [String]
    public var attachedTo: [String]
    public var createdAt: String
}

/// hop's addon servers on the service host: PostgreSQL and Redis built from their seeds, installed
/// as `hop-addon-<type>.service`, started on demand.
struct AddonServers {
    let ctx: HopContext
    let db: HopDatabase
    let host: ServiceHost
    var nix: NixDriver { NixDriver(runner: ctx.runner) }

    static func seedKind(_ t: AddonType) -> SeedKind {
        switch t { case .postgres: .postgres; case .redis: .redis; case .mariadb: .mariadb }
    }

    /// The seeds a server build needs, imported from the host's packages when missing.
    func seeds(_ t: AddonType) throws -> [String: String] {
        var out: [String: String] = [:]
        for kind in [SeedKind.busybox, .patchelf, Self.seedKind(t)] {
            if let s = try db.seed(name: kind.rawValue), nix.isValid(s.storePath) { out[kind.rawValue] = s.storePath; continue }
            ctx.progress(ProgressEvent(phase: "seed", message: "importing the \(kind.rawValue) seed"))
            let scratch = try ctx.home.scratch("seed")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let s = try SeedImporter(runner: ctx.runner).importSeed(kind, scratch: scratch)
            try db.upsertSeed(SeedRecord(name: s.name, version: s.version, storePath: s.storePath, narHash: s.narHash,
                                         origin: s.origin, importedAt: Date()))
            out[kind.rawValue] = s.storePath
        }
        return out
    }

    /// The self-contained server (the seed with its own loader and libraries), built once in the
    /// sandbox and kept by a GC root.
    func serverBuild(_ t: AddonType) throws -> String {
        let seeds = try seeds(t)
        let libDir = try NixLibrary.locate()
        let libPath = FixedOutputPath.recursive(name: BuildPipeline.nixLibName, narSHA256Hex: try NAR.hash(path: libDir).hex)
        if !nix.isValid(libPath) {
            let scratch = try ctx.home.scratch("lib")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            _ = try BuildPipeline(home: ctx.home, runner: ctx.runner).addNixLibrary(libDir, scratch: scratch)
        }
        let seedAttrs = seeds.sorted { $0.key < $1.key }.map { "\($0.key) = \(NixExpr.string($0.value));" }.joined(separator: " ")
        let expr = "# hop's \(t.rawValue) server build (generated)\n((import (builtins.storePath \(NixExpr.string(libPath)))).toolchains.seed { seeds = { \(seedAttrs) }; }).\(Self.seedKind(t).rawValue)\n"
        let dir = ctx.home.root + "/addons"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let file = dir + "/\(t.rawValue).nix"
        try expr.write(toFile: file, atomically: true, encoding: .utf8)
        let drv = try nix.instantiate(file)
        let root = ctx.home.gcroots + "/addon-\(t.rawValue)"
        try FileManager.default.createDirectory(atPath: ctx.home.gcroots, withIntermediateDirectories: true)
        if let current = try? FileManager.default.destinationOfSymbolicLink(atPath: root), nix.isValid(current),
           (try? nix.outputPath(of: drv)) == current {
            return current
        }
        try nix.build(drv: drv, root: root)
        return try FileManager.default.destinationOfSymbolicLink(atPath: root)
    }

    /// hop's own password on the Redis server (sealed in hop.db like the apps' generated values).
    func redisAdminPassword() throws -> String {
        let owner = "hop:redis"
        if let p = try db.generatedValues(app: owner)["ADMIN"] { return p }
        return try db.keepGenerated(app: owner, key: "ADMIN", value: hexString(randomBytes(24)))
    }

    /// The store path of `t`'s server when it runs already (its GC root valid, its unit active);
    /// otherwise `ensure`. Backups and restores use this: they need the running server's client
    /// tools, not a rebuild — and a scheduled backup runs where hop's Nix library may not be.
    func running(_ t: AddonType, name: String? = nil) throws -> String {
        let unit = t.unitName(name: name)
        if let current = try? FileManager.default.destinationOfSymbolicLink(atPath: ctx.home.gcroots + "/addon-\(t.rawValue)"),
           nix.isValid(current), FileManager.default.fileExists(atPath: host.path(host.unitDirectory) + "/" + unit),
           try host.systemctl(["is-active", "--quiet", unit]).succeeded {
            return current
        }
        return try ensure(t, name: name)
    }

    /// The Redis server of addon `a`: its own, or the shared one of earlier hops.
    func redisServerName(_ a: AddonRecord) -> String? { a.onSharedServer ? nil : a.name }

    /// Installs and starts the server of `t` (idempotent) and waits until it answers; returns its
    /// store path.
    /// Redis: `name` is the addon whose server this is (nil: the shared server of earlier hops).
    @discardableResult
    func ensure(_ t: AddonType, name: String? = nil) throws -> String {
        let unit = t.unitName(name: t == .redis ? name : nil)
        let build = try serverBuild(t)
        guard let busybox = try db.seed(name: "busybox")?.storePath else { throw HopError(.environment, "the busybox seed is not imported") }
        let text: String
        switch t {
        case .postgres:
            text = try PostgresServer.renderUnit(postgres: build, busybox: busybox)
        case .redis:
            let acl = ctx.home.root + "/addons/redis-admin.acl"
            let hash = sha256Hex(Data(try redisAdminPassword().utf8))
            _ = try writeFileIfChanged(acl, RedisServer.adminLine(passwordSHA256: hash), mode: 0o600)
            text = try RedisServer.renderUnit(name: name, redis: build, busybox: busybox, adminACL: acl)
        case .mariadb:
            text = try MariaDBServer.renderUnit(mariadb: build, busybox: busybox)
        }
        let file = host.path(host.unitDirectory) + "/" + unit
        if try writeFileIfChanged(file, text) { try host.systemctlChecked(["daemon-reload"], what: "reloading systemd") }
        if !(try host.systemctl(["is-active", "--quiet", unit]).succeeded) {
            ctx.progress(ProgressEvent(phase: "addon", message: "starting hop's \(t.rawValue) server" + (name.map { " of \($0)" } ?? "")))
            _ = try host.systemctl(["reset-failed", unit])
            try host.systemctlChecked(["start", unit], what: "starting hop's \(t.rawValue) server")
        }
        let deadline = Date().addingTimeInterval(30)
        var last = ""
        while Date() < deadline {
            let r: ProcessResult
            switch t {
            case .postgres: r = try psql(build, ["SELECT 1"])
            case .redis: r = try redisCLI(build, ["PING"], server: name)
            case .mariadb: r = try mariadb(build, ["SELECT 1"])
            }
            if r.succeeded && (t != .redis || r.stdoutText.contains("PONG")) { return build }
            last = r.stderrTail(2) + r.stdoutText.suffix(200)
            usleep(200_000)
        }
        throw HopError(.environment, "hop's \(t.rawValue) server does not answer", hint: "see `hop host journal \(unit)`", detail: last)
    }

    /// psql as the superuser (peer authentication: root only), one statement per `-c` (CREATE
    /// DATABASE cannot share a transaction).
    func psql(_ pg: String, _ statements: [String], database: String = "postgres") throws -> ProcessResult {
        var args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host.path(PostgresServer.socketDirectory), "-U", "postgres", "-d", database]
        for s in statements { args += ["-c", s] }
        return try ctx.runner.run(Command(pg + "/bin/psql", args))
    }

    func psqlChecked(_ pg: String, _ statements: [String], database: String = "postgres", what: String) throws {
        let r = try psql(pg, statements, database: database)
        guard r.succeeded else { throw HopError(.environment, "\(what) failed", detail: r.stderrTail(4)) }
    }

    /// The mariadb client as root (unix_socket authentication: the OS user root only).
    func mariadb(_ m: String, _ statements: [String], database: String? = nil) throws -> ProcessResult {
        var args = ["--no-defaults", "-S", host.path(MariaDBServer.socket), "-u", "root", "--batch", "-e", statements.joined(separator: ";\n")]
        if let database { args.append(database) }
        return try ctx.runner.run(Command(m + "/bin/mariadb", args))
    }

    /// A RESP connection as hop's ACL user (DUMP and RESTORE for backups).
    /// hop's connection to Redis server `server` (an addon's name; nil: the shared server).
    func redisClient(server: String?) throws -> RedisClient {
        try RedisClient(socket: host.path(server.map(RedisServer.socket) ?? RedisServer.Shared.socket), user: "hop", password: try redisAdminPassword())
    }

    /// redis-cli as hop's ACL user (the password through the environment, not the command line).
    func redisCLI(_ redis: String, _ args: [String], server: String?) throws -> ProcessResult {
        try ctx.runner.run(Command(redis + "/bin/redis-cli", ["-s", host.path(server.map(RedisServer.socket) ?? RedisServer.Shared.socket), "--user", "hop", "--no-auth-warning"] + args,
                                   environment: ["REDISCLI_AUTH": try redisAdminPassword()]))
    }

    func redisChecked(_ redis: String, _ args: [String], server: String?, what: String) throws {
        let r = try redisCLI(redis, args, server: server)
        guard r.succeeded, !r.stdoutText.hasPrefix("(error)"), !r.stdoutText.hasPrefix("ERR"), !r.stdoutText.contains("NOPERM") else {
            throw HopError(.environment, "\(what) failed", detail: r.stderrTail(3) + r.stdoutText.suffix(300))
        }
    }

    /// A new addon on its server, with a fresh random password, recorded (sealed) in hop.db; if
    /// recording fails, what was made on the server is dropped again.
    @discardableResult
    func provision(type: String, name: String, extensions: [String]) throws -> AddonRecord {
        let record = AddonRecord(name: name, type: type, password: hexString(randomBytes(24)), extensions: extensions, createdAt: Date(),
                                 sharedServer: type == "redis" && legacyRedisForTests() ? true : nil)
        try create(record)
        do { try db.addAddon(record) } catch { try? drop(name, type: type); throw error }
        return record
    }

    func create(_ a: AddonRecord) throws {
        let t = try Operations.checkedAddonType(a.type)
        let build = try ensure(t, name: t == .redis ? redisServerName(a) : nil)
        switch t {
        case .postgres:
            let sql = try PostgresServer.createSQL(name: a.name, password: a.password).split(separator: "\n").map(String.init)
            try psqlChecked(build, sql, what: "creating the database of addon \(a.name)")
            try createExtensions(a.name, a.extensions, pg: build)
        case .redis:
            let server = redisServerName(a)
            try redisChecked(build, try RedisServer.setUser(name: a.name, password: a.password, shared: server == nil), server: server,
                             what: "creating the Redis user of addon \(a.name)")
            try redisChecked(build, ["ACL", "SAVE"], server: server, what: "saving Redis's ACL file")
        case .mariadb:
            let r = try mariadb(build, try MariaDBServer.createSQL(name: a.name, password: a.password))
            guard r.succeeded else { throw HopError(.environment, "creating the database of addon \(a.name) failed", detail: r.stderrTail(4)) }
        }
    }

    func createExtensions(_ name: String, _ extensions: [String], pg: String? = nil) throws {
        guard !extensions.isEmpty else { return }
        let pg = try pg ?? ensure(.postgres)
        let r = try psql(pg, try extensions.map(PostgresServer.extensionSQL), database: name)
        guard r.succeeded else {
            throw HopError.invalid("an extension of addon \(name) could not be created: \(r.stderrTail(2))",
                                   hint: "hop's PostgreSQL provides Debian's contrib extensions (pg_trgm, hstore, citext, pgcrypto, uuid-ossp, …)")
        }
    }

    func drop(_ name: String, type: String) throws {
        let t = try Operations.checkedAddonType(type)
        if t == .redis {
            try AddonName.check(name)
            if try db.addon(name: name)?.onSharedServer == true {
                let build = try ensure(.redis, name: nil)
                // Its keys first (SCAN as hop, then UNLINK in batches), then its user.
                let keys = try redisCLI(build, ["--scan", "--pattern", "\(name):*"], server: nil).stdoutText.split(separator: "\n").map(String.init)
                for batch in stride(from: 0, to: keys.count, by: 500) {
                    try redisChecked(build, ["UNLINK"] + keys[batch..<min(batch + 500, keys.count)], server: nil, what: "deleting the keys of addon \(name)")
                }
                try redisChecked(build, ["ACL", "DELUSER", name], server: nil, what: "removing the Redis user of addon \(name)")
                try redisChecked(build, ["ACL", "SAVE"], server: nil, what: "saving Redis's ACL file")
            } else {
                try dropOwnRedis(name)
            }
            return
        }
        let build = try ensure(t)
        switch t {
        case .postgres:
            try psqlChecked(build, try PostgresServer.dropSQL(name: name).split(separator: "\n").map(String.init), what: "dropping addon \(name)")
        case .redis:
            break
        case .mariadb:
            let r = try mariadb(build, try MariaDBServer.dropSQL(name: name))
            guard r.succeeded else { throw HopError(.environment, "dropping addon \(name) failed", detail: r.stderrTail(4)) }
        }
    }

    /// An addon's own Redis server goes with it: stopped, its data and unit removed.
    func dropOwnRedis(_ name: String) throws {
        let unit = RedisServer.unitName(name)
        let file = host.path(host.unitDirectory) + "/" + unit
        guard FileManager.default.fileExists(atPath: file) else { return }
        try host.systemctlChecked(["stop", unit], what: "stopping the Redis server of addon \(name)")
        try host.systemctlChecked(["clean", "--what=state", "--what=runtime", unit], what: "removing the Redis data of addon \(name)")
        try FileManager.default.removeItem(atPath: file)
        try host.systemctlChecked(["daemon-reload"], what: "reloading systemd")
    }
}

extension AppRuntime {
    /// An app's environment, in layers (a later one wins): its attached addons' variables; the
    /// values hop keeps for it (`[env] X = { generate = … }`, made on first use and sealed) and
    /// takes from addons (`{ from = … }`); `[env.computed]` templates over everything before and
    /// the config; then its config (`hop config set`). None of it is in the build.
    static func environment(db: HopDatabase, app: String, spec: AppSpec? = nil) throws -> [(key: String, value: String)] {
        try environmentSources(db: db, app: app, spec: spec, generate: true).map { (key: $0.key, value: $0.value ?? "") }
    }

    /// The app's environment file, each value with where it comes from (`config`, `addon NAME`,
    /// `generated`, `computed`): the one merge both rollouts and `hop config` use, so what the
    /// command shows is what the processes get. With `generate` false, a value not generated yet
    /// is left out instead of being made (reading config changes nothing).
    static func environmentSources(db: HopDatabase, app: String, spec: AppSpec? = nil, generate: Bool) throws -> [EnvironmentEntry] {
        var merged: [String: String] = [:]
        var source: [String: String] = [:]
        let attachments = try db.attachments(app: app)
        var addonVariables: [String: [String: String]] = [:]
        if !attachments.isEmpty {
            let addons = Dictionary(uniqueKeysWithValues: try db.addons().map { ($0.name, $0) })
            for a in attachments {
                guard let addon = addons[a.addon] else { continue }
                let type = try Operations.checkedAddonType(addon.type)
                addonVariables[a.addon] = Dictionary(uniqueKeysWithValues: type.variables(name: addon.name, password: addon.password, prefix: "",
                                                                                          sharedServer: addon.onSharedServer))
                for (k, v) in type.variables(name: addon.name, password: addon.password, prefix: a.prefix, sharedServer: addon.onSharedServer) {
                    merged[k] = v; source[k] = "addon \(a.addon)"
                }
            }
        }
        let config = try db.config(app: app)
        let secretEnv = spec?.secretEnv ?? []
        if !secretEnv.isEmpty {
            var stored = try db.generatedValues(app: app)
            for s in secretEnv {
                switch s.kind {
                case .generate(let style, let length):
                    if stored[s.name] == nil, generate { stored[s.name] = try db.keepGenerated(app: app, key: s.name, value: generateSecret(style: style, length: length)) }
                    merged[s.name] = stored[s.name]
                    if stored[s.name] != nil { source[s.name] = "generated" }
                case .from(let addon, let key):
                    guard let vars = addonVariables[addon] else {
                        throw HopError.invalid("`[env] \(s.name)` takes \(key) from addon \(addon), which is not attached to \(app)",
                                               at: SourceLocation(file: "hop3.toml"), hint: "declare it in [[addons]] or `hop addon attach \(app) \(addon)`")
                    }
                    guard let value = vars[key] else {
                        throw HopError.invalid("`[env] \(s.name)`: addon \(addon) has no variable \(key)", at: SourceLocation(file: "hop3.toml"),
                                               hint: "its variables: \(vars.keys.sorted().joined(separator: ", "))")
                    }
                    merged[s.name] = value; source[s.name] = "addon \(addon)"
                case .computed:
                    break
                }
            }
            var context = Dictionary(uniqueKeysWithValues: (spec?.env ?? []).map { ($0.name, $0.value) })
            for (k, v) in merged { context[k] = v }
            for (k, v) in config { context[k] = v }
            for s in secretEnv {
                guard case .computed(let template) = s.kind else { continue }
                let (value, missing) = interpolate(template, context)
                if missing != nil, !generate { continue }
                if let missing {
                    throw HopError.invalid("`[env.computed] \(s.name)` uses ${\(missing)}, which is not set", at: SourceLocation(file: "hop3.toml"),
                                           hint: "set it in [env], with `hop config set`, or from an addon")
                }
                merged[s.name] = value; source[s.name] = "computed"
                context[s.name] = value
            }
        }
        for (k, v) in config { merged[k] = v; source[k] = "config" }
        return merged.sorted { $0.key < $1.key }.map { EnvironmentEntry(key: $0.key, value: $0.value, source: source[$0.key] ?? "config") }
    }

    /// A fresh random value: `length` hex digits or base64 characters, a password of `length`
    /// letters, digits and `-_.`, or a UUID (v4).
    static func generateSecret(style: String, length: Int) throws -> String {
        switch style {
        case "hex": return String(hexString(randomBytes((length + 1) / 2)).prefix(length))
        case "base64": return String(Data(randomBytes(length)).base64EncodedString().prefix(length))
        case "password":
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
            // Rejection sampling: every character equally likely.
            var out = ""
            while out.count < length {
                for b in randomBytes(length) where Int(b) < 256 - 256 % alphabet.count && out.count < length {
                    out.append(alphabet[Int(b) % alphabet.count])
                }
            }
            return out
        case "uuid": return UUID().uuidString.lowercased()
        default: throw HopError.invalid("`\(style)` is not a kind hop generates")
        }
    }
}

extension Operations {
    static func info(_ a: AddonRecord, attachments: [AttachmentRecord]) -> AddonInfo {
        let redisOwn = a.type == "redis" && !a.onSharedServer
        return AddonInfo(name: a.name, type: a.type, database: a.type == "redis" ? (redisOwn ? "a Redis server of its own" : "keys \(a.name):*") : a.name,
                  socket: a.onSharedServer ? RedisServer.Shared.socketDirectory : AddonType(rawValue: a.type)?.socketDirectory(name: a.name) ?? "", extensions: a.extensions,
                  attachedTo: attachments.filter { $0.addon == a.name }.map(\.app).sorted(), createdAt: isoTime(a.createdAt))
    }

    static func checkedAddonType(_ type: String) throws -> AddonType {
        guard let t = AddonRules.canonicalType(type).flatMap(AddonType.init(rawValue:)) else {
            throw HopError.invalid("`\(UnitRenderer.printable(type))` is not an addon type hop provides",
                                   hint: "types: \(AddonType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return t
    }

    /// Creates an addon: its database and role on hop's server, a random password sealed in hop.db.
    public func addonCreate(type: String, name: String, extensions: [String] = []) throws -> AddonInfo {
        let t = try Self.checkedAddonType(type)
        try AddonName.check(name)
        for e in extensions { try PostgresServer.checkExtension(e) }
        if t != .postgres && !extensions.isEmpty { throw HopError.invalid("only postgres addons have extensions") }
        return try audited("addon create", app: nil, detail: ["type": t.rawValue, "name": name], permission: .admin) {
            let db = try ctx.database(create: true)
            if try db.addon(name: name) != nil { throw HopError(.conflict, "the addon \(name) exists", hint: "`hop addon show \(name)`") }
            let record = try AddonServers(ctx: ctx, db: db, host: try ctx.serviceHost()).provision(type: t.rawValue, name: name, extensions: extensions)
            return Self.info(record, attachments: [])
        }
    }

    public func addons() throws -> [AddonInfo] {
        try ctx.authorize(.admin, app: nil, action: "list addons")
        guard let db = try ctx.existingDatabase() else { return [] }
        let attachments = try db.attachments()
        return try db.addons().map { Self.info($0, attachments: attachments) }
    }

    public func addonInfo(name: String) throws -> AddonInfo {
        try AddonName.check(name)
        try ctx.authorize(.admin, app: nil, action: "show addon \(name)")
        guard let db = try ctx.existingDatabase(), let a = try db.addon(name: name) else {
            throw HopError(.notFound, "there is no addon \(name)", hint: "`hop addon list`")
        }
        return Self.info(a, attachments: try db.attachments(addon: name))
    }

    /// Moves a Redis addon made by an earlier hop from the shared server (an ACL user whose keys
    /// start with `NAME:`) to a server of its own, keys and all; attached apps restart with the new
    /// variables. Writers are stopped first (its user is turned off on the shared server), so no
    /// write is lost; a migration killed at any step is finished by running it again.
    public func addonMigrate(name: String, watch: Double = Defaults.watch) throws -> AddonInfo {
        try AddonName.check(name)
        try Self.checkWatch(watch)
        return try audited("addon migrate", app: nil, detail: ["name": name], permission: .admin) {
            let db = try ctx.database()
            guard let a = try db.addon(name: name) else { throw HopError(.notFound, "there is no addon \(name)", hint: "`hop addon list`") }
            guard a.type == "redis" else { throw HopError.invalid("\(name) is a \(a.type) addon: only Redis addons move to a server of their own") }
            let rt = try runtime(db)
            let servers = rt.addonServers
            let shared = sharedRedisInstalled(servers)
            if a.onSharedServer {
                // 1. Its own server, with its user.
                let own = try servers.ensure(.redis, name: name)
                try servers.redisChecked(own, try RedisServer.setUser(name: name, password: a.password), server: name, what: "creating the Redis user of addon \(name)")
                try servers.redisChecked(own, ["ACL", "SAVE"], server: name, what: "saving the ACL file of addon \(name)")
                // 2. No more writes on the shared server: its user off, its connections closed.
                let old = try servers.ensure(.redis, name: nil)
                try servers.redisChecked(old, ["ACL", "SETUSER", name, "off"], server: nil, what: "turning off addon \(name) on the shared server")
                _ = try servers.redisCLI(old, ["CLIENT", "KILL", "USER", name], server: nil)
                // 3. Its keys, moved in one MULTI/EXEC (a rerun copies them again: REPLACE).
                var ownRecord = a
                ownRecord.sharedServer = nil
                let moved = try RedisDump.converted(try rt.redisSnapshot(a), source: name, target: name, targetOwnServer: true)
                try rt.replaceRedis(ownRecord, with: moved)
                faultPoint("addon-migrate:copied")
                // 4. Recorded; attached apps restart with the new variables.
                try db.setAddonOnOwnServer(name)
                faultPoint("addon-migrate:recorded")
                ctx.progress(ProgressEvent(phase: "addon", message: "moved \(moved.entries.count) keys of \(name) to a Redis server of its own"))
            }
            for at in try db.attachments(addon: name) {
                guard let current = try db.activeGeneration(app: at.app), let build = try db.build(id: current.buildID) else { continue }
                if try Self.generationHasVariable(rt, current, "REDIS_SOCKET", value: RedisServer.socket(name)) { continue }
                let lock = try rt.lock(at.app)
                _ = try rt.rollout(build: build, watch: watch, op: "addon")
                withExtendedLifetime(lock) {}
            }
            // 5. What is left on the shared server goes; so does the server once nobody uses it.
            if shared {
                let old = try servers.ensure(.redis, name: nil)
                let keys = try servers.redisCLI(old, ["--scan", "--pattern", "\(name):*"], server: nil).stdoutText.split(separator: "\n").map(String.init)
                for batch in stride(from: 0, to: keys.count, by: 500) {
                    try servers.redisChecked(old, ["UNLINK"] + keys[batch..<min(batch + 500, keys.count)], server: nil, what: "deleting the old keys of addon \(name)")
                }
                _ = try servers.redisCLI(old, ["ACL", "DELUSER", name], server: nil)
                try servers.redisChecked(old, ["ACL", "SAVE"], server: nil, what: "saving the shared server's ACL file")
                if try !db.addons().contains(where: { $0.onSharedServer }) {
                    _ = try servers.host.systemctl(["stop", RedisServer.Shared.unitName])
                }
            }
            return Self.info(try db.addon(name: name) ?? a, attachments: try db.attachments(addon: name))
        }
    }

    /// Whether the shared Redis server of earlier hops is installed here.
    func sharedRedisInstalled(_ servers: AddonServers) -> Bool {
        FileManager.default.fileExists(atPath: servers.host.path(servers.host.unitDirectory) + "/" + RedisServer.Shared.unitName)
    }

    /// Whether generation `g`'s environment file already has `key=value` (a rollout would change nothing).
    static func generationHasVariable(_ rt: AppRuntime, _ g: GenerationRecord, _ key: String, value: String) throws -> Bool {
        let env = rt.envFile(g.app, g.number)
        guard let text = try? String(contentsOfFile: env, encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { $0 == "\(key)=\(value)" || $0 == "\(key)=\"\(value)\"" }
    }

    /// The addon's connection variables, password included: asked for explicitly, and audited.
    public func addonCredentials(name: String) throws -> [String: String] {
        try AddonName.check(name)
        return try audited("addon credentials", app: nil, detail: ["name": name], permission: .admin) {
            guard let a = try ctx.database().addon(name: name) else { throw HopError(.notFound, "there is no addon \(name)") }
            return Dictionary(uniqueKeysWithValues: try Self.checkedAddonType(a.type).variables(name: a.name, password: a.password, prefix: "",
                                                                                                 sharedServer: a.onSharedServer))
        }
    }

    /// psql as the addon's own role (its password, its database only).
    public func addonConnectCommand(name: String) throws -> Command {
        try AddonName.check(name)
        return try audited("addon connect", app: nil, detail: ["name": name], permission: .admin) {
            let db = try ctx.database()
            guard let a = try db.addon(name: name) else { throw HopError(.notFound, "there is no addon \(name)") }
            let servers = AddonServers(ctx: ctx, db: db, host: try ctx.serviceHost())
            let t = try Self.checkedAddonType(a.type)
            let build = try servers.ensure(t, name: t == .redis ? servers.redisServerName(a) : nil)
            switch t {
            case .postgres:
                return Command(build + "/bin/psql", ["-X", "-h", servers.host.path(PostgresServer.socketDirectory), "-U", a.name, "-d", a.name],
                               environment: ["PGPASSWORD": a.password])
            case .redis:
                return Command(build + "/bin/redis-cli", ["-s", servers.host.path(a.onSharedServer ? RedisServer.Shared.socket : RedisServer.socket(a.name)),
                                                          "--user", a.name, "--no-auth-warning"],
                               environment: ["REDISCLI_AUTH": a.password])
            case .mariadb:
                return Command(build + "/bin/mariadb", ["--no-defaults", "-S", servers.host.path(MariaDBServer.socket), "-u", a.name, a.name],
                               environment: ["MYSQL_PWD": a.password])
            }
        }
    }

    /// Attaches an addon to an app: its variables reach the app's processes (a deployed app rolls
    /// out a generation with them; if that fails, the attachment is undone).
    public func addonAttach(app raw: String, addon: String, prefix: String? = nil, watch: Double = Defaults.watch) throws -> AddonInfo {
        let app = try Self.checkedApp(raw)
        try AddonName.check(addon)
        if let prefix, !(prefix.isEmpty || (prefix.allSatisfy { ($0.isASCII && ($0.isUppercase || $0.isNumber)) || $0 == "_" } && prefix.first!.isLetter)) {
            throw HopError.invalid("`\(UnitRenderer.printable(prefix))` is not a variable prefix", hint: "use uppercase letters, digits and `_`, e.g. CACHE_")
        }
        try Self.checkWatch(watch)
        return try audited("addon attach", app: app, detail: ["addon": addon], permission: .admin) {
            let db = try ctx.database()
            guard let a = try db.addon(name: addon) else { throw HopError(.notFound, "there is no addon \(addon)", hint: "`hop addon create postgres \(addon)`") }
            let p = try prefix.map { $0.isEmpty || $0.hasSuffix("_") ? $0 : $0 + "_" } ?? defaultPrefix(db: db, app: app, addon: a)
            try changeAttachment(db: db, app: app, addon: addon, prefix: p, watch: watch)
            return Self.info(a, attachments: try db.attachments(addon: addon))
        }
    }

    /// `""` for the app's first addon of a type, else the addon's name (`BLOG_CACHE_`).
    func defaultPrefix(db: HopDatabase, app: String, addon: AddonRecord) throws -> String {
        let types = Dictionary(uniqueKeysWithValues: try db.addons().map { ($0.name, $0.type) })
        let taken = try db.attachments(app: app).contains { $0.addon != addon.name && types[$0.addon] == addon.type && $0.prefix.isEmpty }
        return taken ? AddonName.prefix(addon.name) : ""
    }

    /// Attaches `addon` to `app` with `prefix`, or detaches it (`prefix` nil); a deployed app rolls
    /// out a generation with its new variables, under its lock, and if that fails the attachment is
    /// put back as it was.
    func changeAttachment(db: HopDatabase, app: String, addon: String, prefix: String?, watch: Double) throws {
        func set(_ p: String?) throws {
            if let p { try db.attach(app: app, addon: addon, prefix: p) } else { try db.detach(app: app, addon: addon) }
        }
        guard try db.activeGeneration(app: app) != nil else { return try set(prefix) }
        let rt = try runtime(db)
        let lock = try rt.lock(app)
        defer { withExtendedLifetime(lock) {} }
        let before = try db.attachments(app: app).first { $0.addon == addon }?.prefix
        try set(prefix)
        do {
            guard let current = try db.activeGeneration(app: app), let build = try db.build(id: current.buildID) else { return }
            _ = try rt.rollout(build: build, watch: watch, op: "addon")
        } catch {
            try set(before)
            throw error
        }
    }

    public func addonDetach(app raw: String, addon: String, watch: Double = Defaults.watch) throws -> AddonInfo {
        let app = try Self.checkedApp(raw)
        try AddonName.check(addon)
        try Self.checkWatch(watch)
        return try audited("addon detach", app: app, detail: ["addon": addon], permission: .admin) {
            let db = try ctx.database()
            guard let a = try db.addon(name: addon), try db.attachments(app: app).contains(where: { $0.addon == addon }) else {
                throw HopError(.notFound, "\(addon) is not attached to \(app)")
            }
            try changeAttachment(db: db, app: app, addon: addon, prefix: nil, watch: watch)
            return Self.info(a, attachments: try db.attachments(addon: addon))
        }
    }

    /// Drops the addon's database and role. Refused while an app is attached, unless `force`.
    public func addonDestroy(name: String, force: Bool) throws -> AddonInfo {
        try AddonName.check(name)
        return try audited("addon destroy", app: nil, detail: ["name": name, "force": String(force)], permission: .admin) {
            let db = try ctx.database()
            guard let a = try db.addon(name: name) else { throw HopError(.notFound, "there is no addon \(name)") }
            let attached = try db.attachments(addon: name)
            if !attached.isEmpty && !force {
                throw HopError(.conflict, "\(name) is attached to \(attached.map(\.app).joined(separator: ", ")); destroying it deletes their data",
                               hint: "detach it first (`hop addon detach APP \(name)`), or pass --force")
            }
            for at in attached { try db.detach(app: at.app, addon: name) }
            try AddonServers(ctx: ctx, db: db, host: try ctx.serviceHost()).drop(name, type: a.type)
            try db.removeAddon(name)
            return Self.info(a, attachments: [])
        }
    }

    /// `[[addons]]` of a deploy: each is created when missing and attached (before the rollout, so
    /// the generation starts with its variables). An addon of that name attached to other apps only
    /// is not this app's: refused (an app cannot claim another's database by naming it).
    /// The name a declared addon gets: its `name`, else `<app>-<type>`.
    /// The app whose default addon name `name` is (`<app>-postgres` → app), if it reads as one.
    static func defaultNameOwner(_ name: String) -> String? {
        for type in ["postgres", "redis", "mariadb"] where name.hasSuffix("-" + type) {
            let app = String(name.dropLast(type.count + 1))
            if (try? validateAppName(app, at: nil)) != nil { return app }
        }
        return nil
    }

    static func declaredName(app: String, _ d: AddonDeclaration) -> String {
        d.name ?? "\(app)-\(d.type)".replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-")
    }

    /// Before anything is built: every declared addon has a usable name, and none is another app's;
    /// every `[env] X = { from = ADDON }` names an addon the app declares or has attached.
    func checkDeclaredAddons(app: String, spec: AppSpec, db: HopDatabase?) throws {
        let declared = Set((spec.addons ?? []).map { Self.declaredName(app: app, $0) })
        let attached = Set(try db?.attachments(app: app).map(\.addon) ?? [])
        for s in spec.secretEnv ?? [] {
            if case .from(let addon, _) = s.kind, !declared.contains(addon), !attached.contains(addon) {
                throw HopError.invalid("`[env] \(s.name)` takes a value from addon \(addon), which \(app) neither declares nor has attached",
                                       at: SourceLocation(file: "hop3.toml"), hint: "declare it in [[addons]] (name = \"\(addon)\") or `hop addon attach \(app) \(addon)`")
            }
        }
        for d in spec.addons ?? [] {
            let name = Self.declaredName(app: app, d)
            do { try AddonName.check(name) } catch {
                throw HopError.invalid("the default addon name `\(name)` is not usable", at: SourceLocation(file: "hop3.toml"),
                                       hint: "give the addon a `name` in [[addons]]")
            }
            let ownDefaultPrefix = app.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-")
            if let other = Self.defaultNameOwner(name), other != ownDefaultPrefix {
                throw HopError(.conflict, "the addon name \(name) is the default addon name of an app called \(other)",
                               at: SourceLocation(file: "hop3.toml"), hint: "name it after \(app) (e.g. `\(app)-\(d.type)`), or leave `name` out")
            }
            guard let db, let existing = try db.addon(name: name) else { continue }
            // An existing addon is attached by a deploy only if it is this app's: its owner, already
            // attached to it, or an admin deploying on purpose. A detached addon keeps its owner.
            let mineAlready = try db.attachments(addon: name).contains { $0.app == app }
            let owner = try db.addonOwner(name)
            if !mineAlready && owner != app && ctx.principal.role != .admin {
                throw HopError(.forbidden, "the addon \(name) is not \(app)'s", at: SourceLocation(file: "hop3.toml"),
                               hint: "name an addon of \(app)'s own (or leave `name` out); an admin attaches shared addons with `hop addon attach \(app) \(name)`")
            }
            guard existing.type == d.type else {
                throw HopError(.conflict, "the addon \(name) exists with type \(existing.type), not \(d.type)", hint: "give the addon another `name`")
            }
            let attached = try db.attachments(addon: name).map(\.app)
            if !attached.contains(app) && !attached.isEmpty {
                throw HopError(.conflict, "the addon \(name) belongs to \(attached.joined(separator: ", "))",
                               hint: "name your addon differently, or attach it on purpose with `hop addon attach \(app) \(name)`")
            }
        }
    }

    /// Before anything is built or created: every `${NAME}` an `[env.computed]` template uses will
    /// have a value — from `[env]`, a generated or addon-taken value, another computed one, the
    /// config, an attached addon, or an addon the file declares (by its variables' names).
    func checkComputedEnv(app: String, spec: AppSpec, db: HopDatabase?) throws {
        var known = Set(try db?.config(app: app).map(\.key) ?? [])
        if let db {
            let addons = Dictionary(uniqueKeysWithValues: try db.addons().map { ($0.name, $0) })
            for a in try db.attachments(app: app) {
                guard let addon = addons[a.addon], let type = try? Self.checkedAddonType(addon.type) else { continue }
                known.formUnion(type.variables(name: "x", password: "x", prefix: a.prefix, sharedServer: addon.onSharedServer).map(\.0))
            }
        }
        if let (name, missing) = Self.computedEnvGaps(spec: spec, alsoKnown: known).first {
            throw HopError.invalid("`[env.computed] \(name)` uses ${\(missing)}, which is not set", at: SourceLocation(file: "hop3.toml"),
                                   hint: "set it in [env], with `hop config set \(app) \(missing)=…`, or from an addon — checked before anything is built")
        }
    }

    /// The `${NAME}`s `[env.computed]` templates use that nothing in the file provides (nor
    /// `alsoKnown`: config keys, attached addons' variables), as (computed name, missing name). Pure.
    public static func computedEnvGaps(spec: AppSpec, alsoKnown: Set<String> = []) -> [(name: String, missing: String)] {
        let secretEnv = spec.secretEnv ?? []
        var known = alsoKnown.union(spec.env.map(\.name))
        known.formUnion(secretEnv.filter { if case .computed = $0.kind { return false }; return true }.map(\.name))
        var addonNames: [String] = []
        for d in spec.addons ?? [] {
            // A declared addon is attached with a prefix decided then: its names with any prefix pass.
            guard let type = try? checkedAddonType(d.type) else { continue }
            addonNames += type.variables(name: "x", password: "x", prefix: "", sharedServer: false).map(\.0)
        }
        var gaps: [(name: String, missing: String)] = []
        for s in secretEnv {
            guard case .computed(let template) = s.kind else { continue }
            var context = Dictionary(uniqueKeysWithValues: known.map { ($0, "") })
            while true {
                let (_, missing) = interpolate(template, context)
                guard let missing else { break }
                context[missing] = ""
                if !addonNames.contains(where: { missing == $0 || missing.hasSuffix("_" + $0) }) { gaps.append((s.name, missing)) }
            }
            known.insert(s.name)
        }
        return gaps
    }

    func provisionDeclaredAddons(app: String, spec: AppSpec, db: HopDatabase, host: ServiceHost) throws {
        guard let declared = spec.addons, !declared.isEmpty else { return }
        try checkDeclaredAddons(app: app, spec: spec, db: db)
        let servers = AddonServers(ctx: ctx, db: db, host: host)
        for d in declared {
            let name = Self.declaredName(app: app, d)
            let mine = try db.attachments(app: app).contains { $0.addon == name }
            if let existing = try db.addon(name: name) {
                let missing = d.extensions.filter { !existing.extensions.contains($0) }
                if !missing.isEmpty && existing.type == "postgres" {
                    try servers.createExtensions(name, missing)
                    try db.setAddonExtensions(name, existing.extensions + missing)
                }
            } else {
                ctx.progress(ProgressEvent(phase: "addon", message: "creating \(d.type) addon \(name)"))
                try servers.provision(type: d.type, name: name, extensions: d.extensions)
                try db.setAddonOwner(name, app: app)
                record(try? db.appendAudit(actor: ctx.principal.name, via: ctx.via, action: "addon create", app: app,
                                           detail: stableJSONText(["type": d.type, "name": name, "declared": "true"]), result: "ok"))
            }
            if !mine {
                try db.attach(app: app, addon: name, prefix: try defaultPrefix(db: db, app: app, addon: try db.addon(name: name)!))
            }
        }
    }

    /// The app's `[admin]` credentials (username, email, the password hop generated), as the
    /// serving generation's build declares them. Asked for explicitly, and audited.
    public func appCredentials(app raw: String) throws -> [String: String] {
        let app = try Self.checkedApp(raw)
        return try audited("app credentials", app: app, permission: .deploy) {
            let db = try ctx.database()
            guard let g = try db.activeGeneration(app: app), let build = try db.build(id: g.buildID) else {
                throw HopError(.notFound, "\(app) is not deployed", hint: "hop deploy PATH")
            }
            let spec = try build.spec()
            guard spec.secretEnv?.contains(where: { $0.name == "ADMIN_PASSWORD" }) == true else {
                throw HopError(.notFound, "\(app) declares no [admin]", hint: "add [admin] username = … (and email) to its hop3.toml")
            }
            var out: [String: String] = [:]
            for e in spec.env where e.name == "ADMIN_USERNAME" || e.name == "ADMIN_EMAIL" { out[String(e.name.dropFirst(6)).lowercased()] = e.value }
            out["password"] = try db.generatedValues(app: app)["ADMIN_PASSWORD"]
            return out
        }
    }
}

extension Operations {
    /// Every variable the app's processes receive, each with its source, through the same merge a
    /// rollout writes into the environment file (`AppRuntime.environmentSources`), plus the `[env]`
    /// defaults of the serving build and the variables hop's units set. Secrets (generated,
    /// computed, addon-provided) are masked unless `reveal`, which is audited as a read of secrets
    /// and needs the role that may set config (deploy). Changes nothing (no value is generated).
    public func environment(app raw: String, reveal: Bool) throws -> AppEnvironment {
        let app = try Self.checkedApp(raw)
        let view = { () throws -> AppEnvironment in
            guard let db = try ctx.existingDatabase() else { return AppEnvironment(app: app, generation: nil, revealed: reveal, variables: []) }
            let g = try db.activeGeneration(app: app)
            let spec = try g.flatMap { try db.build(id: $0.buildID) }.map { try $0.spec() }
            var entries = try AppRuntime.environmentSources(db: db, app: app, spec: spec, generate: false)
            var seen = Set(entries.map(\.key))
            // [env] defaults: the launcher exports them only when the environment file did not.
            for e in spec?.env ?? [] where !seen.contains(e.name) { entries.append(EnvironmentEntry(key: e.name, value: e.value, source: "hop3.toml")); seen.insert(e.name) }
            if let g, let spec {
                let cache = UnitNames.cacheRoot + "/" + app
                var hop: [(String, String)] = [("HOME", cache), ("XDG_CACHE_HOME", cache)]
                if !g.ports.isEmpty { hop.append(("PORT", g.ports.map(String.init).joined(separator: ","))) }
                if !(spec.volumes ?? []).isEmpty { hop.append(("STATE_DIRECTORY", UnitNames.stateRoot + "/" + app)) }
                // systemd: an EnvironmentFile= value overrides the unit's Environment= one.
                for (k, v) in hop where !seen.contains(k) { entries.append(EnvironmentEntry(key: k, value: v, source: "hop")) }
            }
            entries.sort { $0.key < $1.key }
            if !reveal {
                for i in entries.indices where entries[i].isSecret { entries[i].value = nil; entries[i].masked = true }
            }
            return AppEnvironment(app: app, generation: g?.number, revealed: reveal, variables: entries)
        }
        if reveal { return try audited("config reveal", app: app, permission: .deploy, view) }
        try ctx.authorize(.deploy, app: app, action: "read config values")
        return try view()
    }
}
