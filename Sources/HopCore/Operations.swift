import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// The operations every interface shares. Each one checks its input, authorises the context's
/// principal, takes the app's lock when it changes an app, and appends one audit entry (who, what,
/// app, when, result) when it changes anything, whether it succeeds or not. Interfaces only parse
/// and render.
public struct Operations: Sendable {
    public let ctx: HopContext
    public init(_ ctx: HopContext) { self.ctx = ctx }

    // MARK: Audit

    /// Runs `body` and records it in the audit log with its result. A denied request is recorded too.
    /// `permission` nil: any authenticated principal (an operation on their own account).
    func audited<T>(_ action: String, app: String?, detail: [String: String] = [:], permission: Permission?,
                    _ body: () throws -> T) throws -> T {
        let detailText = stableJSONText(detail)
        do {
            if let permission { try ctx.authorize(permission, app: app, action: action) }
        } catch let e as HopError {
            record(try? ctx.database(create: true).appendAudit(actor: ctx.principal.name, via: ctx.via, action: action, app: app,
                                                               detail: detailText, result: "denied"))
            throw e
        }
        // Whatever it did, a change makes the next live check a fresh one.
        defer { LiveCheckCache.shared.invalidate() }
        do {
            let value = try body()
            record(try ctx.database(create: true).appendAudit(actor: ctx.principal.name, via: ctx.via, action: action, app: app,
                                                              detail: detailText, result: "ok"))
            return value
        } catch let e as HopError where e.code == .invalidInput {
            // Refused input changed nothing and is not an operation: it leaves no trace, not even
            // in the audit log (so a bad request on a fresh machine creates no HOP_HOME).
            throw e
        } catch {
            let code = (error as? HopError)?.code.description ?? "error"
            let message = (error as? HopError)?.message ?? "\(error)"
            record(try? ctx.database(create: true).appendAudit(actor: ctx.principal.name, via: ctx.via, action: action, app: app,
                                                               detail: detailText, result: "error: \(code): \(message)"))
            throw error
        }
    }

    /// `ctx.authorize`, with a denial written to the audit log.
    func authorizeAudited(_ permission: Permission, app: String?, action: String) throws {
        do {
            try ctx.authorize(permission, app: app, action: action)
        } catch {
            record(try? ctx.database(create: true).appendAudit(actor: ctx.principal.name, via: ctx.via, action: action, app: app,
                                                               detail: "{}", result: "denied"))
            throw error
        }
    }

    /// Moves the audit head anchor (`audit.head`: the newest entry's seq and hash, outside the
    /// database) forward, so deleting the newest entries from the database is detected too.
    func record(_ entry: AuditEntry?) {
        guard let entry else { return }
        AuditHead(home: ctx.home).advance(to: entry)
    }

    func runtime(_ db: HopDatabase) throws -> AppRuntime { try AppRuntime(ctx, db: db) }

    /// These operations with activations that return once the target serves (`background`), the
    /// watch window and retirement left to `hop settle`, or that wait for them (`!background`).
    public func settling(_ background: Bool) -> Operations {
        var c = ctx
        c.settleInBackground = background
        return Operations(c)
    }

    /// An app name from a request: hop's name rules, and none of hop's reserved names.
    public static func checkedApp(_ app: String) throws -> String {
        _ = try validateAppName(app, at: nil)
        if reservedAppNames.contains(app) {
            throw HopError.invalid("`\(app)` is reserved for hop's own files and services", hint: "choose another app name")
        }
        return app
    }

    // MARK: Build and deploy

    public struct BuildRequest: Sendable {
        public var path: String
        public var options: BuildOptions
        public init(path: String, options: BuildOptions = BuildOptions()) { self.path = path; self.options = options }
    }

    /// `hop build`: reads a source tree on the server, so it is an admin operation.
    public func build(_ request: BuildRequest) throws -> BuildOutcome {
        if let app = request.options.appName { _ = try Self.checkedApp(app) }
        return try audited("build", app: request.options.appName, detail: ["path": request.path], permission: .admin) {
            try pipeline.build(path: request.path, options: withProgress(request.options))
        }
    }

    var pipeline: BuildPipeline { BuildPipeline(home: ctx.home, runner: ctx.runner) }

    func withProgress(_ options: BuildOptions) -> BuildOptions {
        var o = options
        let progress = ctx.progress
        if o.progress == nil {
            o.progress = { p in progress(ProgressEvent(phase: "build", message: "building \(p.current ?? "…")", done: p.built, total: p.total)) }
        }
        if o.note == nil { o.note = { progress(ProgressEvent(phase: "seed", message: $0)) } }
        return o
    }

    /// A source tree that arrived by `git push`: hop extracted it (`git archive`) from a commit of
    /// the app's repository, so deploying it needs only the deploy right on that app.
    /// (Also a source archive uploaded through the API by a deployer: then there is no commit.)
    public struct PushedSource: Sendable {
        public var directory: String
        public var commit: String?
        public var uri: String
        public init(directory: String, commit: String?, uri: String) { self.directory = directory; self.commit = commit; self.uri = uri }
    }

    public struct DeployRequest: Sendable {
        /// A pushed source tree (deployers of the app may), or
        public var pushed: PushedSource?
        /// a source tree on the server (admin only), or
        public var path: String?
        /// a recorded build to deploy again (deployers may).
        public var build: Int64?
        public var app: String?
        public var watch: Double = Defaults.watch
        public var force = false
        public var options = BuildOptions()
        public init(path: String? = nil, build: Int64? = nil, app: String? = nil, watch: Double = Defaults.watch, force: Bool = false,
                    options: BuildOptions = BuildOptions()) {
            self.path = path; self.build = build; self.app = app; self.watch = watch; self.force = force; self.options = options
        }
    }

    /// `hop deploy`: build (or pick a recorded build), then roll out a health-gated generation.
    public func deploy(_ request: DeployRequest) throws -> DeployResult {
        // A pushed or uploaded tree lives in a scratch directory of the server: its errors name
        // files as the pusher knows them (`hop3.toml:2:9`), never the server's paths.
        guard let tree = request.pushed?.directory else { return try deployRequest(request) }
        do { return try deployRequest(request) } catch let e as HopError { throw e.relativized(to: tree) }
    }

    func deployRequest(_ request: DeployRequest) throws -> DeployResult {
        var r = request
        if let pushed = r.pushed {
            guard r.app != nil, r.path == nil, r.build == nil else { throw HopError.invalid("a pushed source is deployed to its repository's app, alone") }
            r.path = pushed.directory
            if let commit = pushed.commit { r.options.pushedCommit = (commit, pushed.uri) }
        }
        if let app = r.app { _ = try Self.checkedApp(app) }
        // Who may deploy is decided before the request is looked at any further.
        if let app = r.app { try authorizeAudited(.deploy, app: app, action: "deploy") }
        if r.path != nil, r.pushed == nil { try authorizeAudited(.admin, app: r.app, action: "deploy") }
        try Self.checkWatch(r.watch)
        guard (r.path == nil) != (r.build == nil) else { throw HopError.invalid("give a source path or a build id to deploy (one of them)") }
        let t0 = Date()
        // Deploying from a path reads the server's files: admin. Redeploying a recorded build: deployer of its app.
        var detail = ["watch": String(r.watch)]
        if let p = r.pushed { detail["source"] = p.commit ?? "upload" } else if let p = r.path { detail["path"] = p }
        if let b = r.build { detail["build"] = String(b) }
        let targetApp: String?
        if let id = r.build {
            // A build the caller may not see reads as missing, whatever the reason (no enumeration).
            guard let b = try ctx.existingDatabase()?.build(id: id), ctx.principal.may(.read, app: b.app) else {
                throw HopError(.notFound, "there is no build \(id)", hint: "`hop builds` lists them")
            }
            if let app = r.app, app != b.app { throw HopError.invalid("build \(id) is of app \(b.app), not \(app)") }
            targetApp = b.app
        } else if let app = r.app {
            targetApp = app
        } else {
            // The app a path deploys to is the one the build will name ([metadata] id, else the
            // directory's name): the audit log records it (it read "-" and `hop info` could not
            // say who deployed). A tree that does not read as an app fails below, located.
            targetApp = r.path.flatMap { try? AppSpecLoader.load(directory: $0, appName: nil).name }
        }
        return try audited("deploy", app: targetApp, detail: detail, permission: r.path != nil && r.pushed == nil ? .admin : .deploy) {
            // A source tree must read as an app (pure, nothing written), and claim no domain another
            // app owns, before anything else happens.
            var planned = targetApp
            if let path = r.path {
                let (spec, warnings) = try AppSpecLoader.check(directory: try pipeline.resolveAppDir(path), appName: r.app)
                for w in warnings { ctx.warn(w.description) }
                _ = try Self.checkedApp(spec.name)
                planned = spec.name
                let db = try ctx.existingDatabase()
                try checkDomains(app: spec.name, spec: spec, db: db)
                try checkDeclaredAddons(app: spec.name, spec: spec, db: db)
                try checkComputedEnv(app: spec.name, spec: spec, db: db)
                try checkDeclaredBackup(app: spec.name, spec: spec)
            } else if let id = r.build, let db = try ctx.existingDatabase(), let b = try db.build(id: id) {
                try checkDomains(app: b.app, spec: try b.spec(), db: db)
                try checkDeclaredAddons(app: b.app, spec: try b.spec(), db: db)
                try checkComputedEnv(app: b.app, spec: try b.spec(), db: db)
                try checkDeclaredBackup(app: b.app, spec: try b.spec())
            }
            // Where it will run is checked next: no build is recorded for a deploy that cannot happen.
            let host = try ctx.serviceHost()
            if let planned, let problem = AppRuntime.unclaimedState(app: planned, home: ctx.home, host: host) { throw problem }
            let record: BuildRecord
            var cached = true
            if let path = r.path {
                var opts = r.options
                opts.appName = r.app
                let outcome = try pipeline.build(path: path, options: withProgress(opts))
                _ = try Self.checkedApp(outcome.record.app)
                record = outcome.record
                cached = outcome.cached
            } else {
                record = try ctx.database().build(id: r.build!)!
            }
            let db = try ctx.database()
            let rt = try AppRuntime(ctx, db: db, host: host)
            let lock = try rt.lock(record.app, mode: .takeOver)
            defer { withExtendedLifetime(lock) {} }
            let url = appURL(record.app, spec: try record.spec(), host: host)
            let progress = ctx.progress
            var runtime = rt
            let inner = rt.activator.step
            runtime.activator.step = { step in
                if case .serving = step { progress(ProgressEvent(phase: "url", message: url)) }
                inner(step)
            }
            let spec = try record.spec()
            try checkSignedPolicy(record, requiredByApp: spec.requireSigned ?? false, db: db)
            try provisionDeclaredAddons(app: record.app, spec: spec, db: db, host: host)
            // Code and data roll back together: before a new build with a release step (migrations)
            // or `[backup] before-deploy = true` switches, the data as it is now is backed up and
            // recorded with the generation about to be made (`hop rollback --with-data` restores it).
            if let current = try db.activeGeneration(app: record.app), current.buildID != record.id,
               spec.backupBeforeDeploy ?? spec.processes.contains(where: { $0.kind == .release }) {
                progress(ProgressEvent(phase: "backup", message: "backing up \(record.app) before the switch"))
                let target = try BackupTarget.parse(spec.backupTarget ?? defaultBackupTarget())
                _ = try runtime.takeBackup(app: record.app, target: target, reason: "before-deploy", forGeneration: try runtime.nextNumber(record.app))
            }
            let result = try runtime.rollout(build: record, watch: r.watch, force: r.force)
            try applyDeclaredSchedule(app: record.app, spec: spec, db: db, host: host)
            let g = result.generation
            let watching = runtime.activator.journal(record.app).flatMap { $0.to == g.number && $0.phase == .watching ? $0.watchUntil : nil }
            return DeployResult(app: g.app, generation: g.number, build: record.id, status: g.status.rawValue, scale: g.scale,
                                noop: result.noop, cached: cached, url: url, seconds: Date().timeIntervalSince(t0),
                                storePath: g.storePath, current: g.status == .active, watchingUntil: watching.map(isoTime))
        }
    }

    /// A domain (and an app's `<app>.localhost` default) belongs to one app: the one that serves
    /// it. A deploy claiming another app's name is bad input: exit 2, nothing written.
    func checkDomains(app: String, spec: AppSpec, db: HopDatabase?) throws {
        let mine = Set(Self.serverNames(app: app, spec: spec))
        // Names hop owns: the server's own host name is never an app's (its login and API would go
        // to the app), whoever deploys.
        for name in reservedServerNames() where mine.contains(name) {
            throw HopError(.conflict, "\(name) is hop's own server name", at: SourceLocation(file: "hop3.toml"),
                           hint: "remove it from [domains] of \(app); hop's dashboard and API answer there")
        }
        // Names that catch traffic meant for others (a whole TLD, localhost, an address): admin only.
        if ctx.principal.role != .admin, let broad = spec.domains.first(where: DomainRules.isBroad) {
            throw HopError(.forbidden, "only an admin may give an app the name \(broad)", at: SourceLocation(file: "hop3.toml"),
                           hint: "use a name under a domain of yours (e.g. app.example.org); a wildcard over a whole TLD, `localhost` and IP addresses would answer for other apps")
        }
        guard let db else { return }
        for owner in try domainOwners(db) where owner.app != app && mine.contains(owner.domain) {
            throw HopError.invalid("the domain \(owner.domain) belongs to app \(owner.app)", at: SourceLocation(file: "hop3.toml"),
                                   hint: "remove it from [domains] of \(app), or destroy \(owner.app) first (`hop domains` lists who owns what)")
        }
        // `<name>.localhost` is the default name of the app called <name>, deployed or not.
        for d in spec.domains where d.hasSuffix(".localhost") && d != "\(app).localhost" {
            throw HopError.invalid("\(d) is the default name of app \(d.dropLast(".localhost".count))", at: SourceLocation(file: "hop3.toml"),
                                   hint: "an app may use only its own \(app).localhost among *.localhost names")
        }
    }

    /// The host names `hop server install` published hop's dashboard and API at.
    func reservedServerNames() -> [String] {
        guard let data = FileManager.default.contents(atPath: ctx.home.root + "/server-install.json"),
              let install = try? JSONDecoder().decode([String: String].self, from: data), let name = install["serverName"] else { return [] }
        return [name]
    }

    /// The server name of the last `hop server install` of this HOP_HOME, if any (an upgrade
    /// reinstalls the server where it was).
    public func installedServerName() -> String? { reservedServerNames().first }

    /// `[backup] target` in hop3.toml obeys the API's rule: a directory of the server's own other
    /// than hop's default is chosen by an admin only (a deployer could aim root's writes at /etc).
    func checkDeclaredBackup(app: String, spec: AppSpec) throws {
        guard let raw = spec.backupTarget, ctx.principal.role != .admin else { return }
        if case .local(let dir) = try BackupTarget.parse(raw), dir != defaultBackupTarget() {
            throw HopError(.forbidden, "only an admin may send \(app)'s backups to a directory of the server", at: SourceLocation(file: "hop3.toml"),
                           hint: "remove `[backup] target` (backups go to hop's own store) or name a backup remote the operator added (`REMOTE:PATH`)")
        }
    }

    static func serverNames(app: String, spec: AppSpec) -> [String] { spec.domains.isEmpty ? ["\(app).localhost"] : spec.domains }

    /// Who serves which name: every deployed app's domains (or its `<app>.localhost`).
    func domainOwners(_ db: HopDatabase) throws -> [DomainOwner] {
        var out: [DomainOwner] = []
        for app in try db.deployedApps() {
            let gens = try db.generations(app: app)
            guard let g = gens.first(where: { $0.status == .active }) ?? gens.last, let b = try db.build(id: g.buildID) else { continue }
            for d in Self.serverNames(app: app, spec: try b.spec()) { out.append(DomainOwner(domain: d, app: app)) }
        }
        return out.sorted { ($0.domain, $0.app) < ($1.domain, $1.app) }
    }

    /// `hop domains`: the names each app answers to (those the principal may see).
    public func domains() throws -> [DomainOwner] {
        guard let db = try ctx.existingDatabase() else { return [] }
        return try domainOwners(db).filter { ctx.principal.may(.read, app: $0.app) }
    }

    /// The URL the app answers at: its first domain (or `<app>.localhost`) on the front's port.
    public func appURL(_ app: String, spec: AppSpec?, host: ServiceHost) -> String {
        let front = NginxFront(home: ctx.home, host: host)
        return Self.url(app, spec: spec, http: front.httpPort, https: front.httpsPort)
    }

    static func url(_ app: String, spec: AppSpec?, http: Int, https: Int?) -> String {
        let name = spec?.domains.first ?? "\(app).localhost"
        if let tls = https { return "https://\(name)" + (tls == 443 ? "" : ":\(tls)") + "/" }
        return "http://\(name)" + (http == 80 ? "" : ":\(http)") + "/"
    }


}

/// Names an app cannot have: hop's own files in HOP_HOME and names its services use.
public let reservedAppNames: Set<String> = [
    "hop", "hop.db", "hop.db-wal", "hop.db-shm", "hop.db-journal", "gcroots", "apps", "tmp", "host", "nginx", "tls",
    "private", "keys", "server", "audit.head", "ports.lock", "server-install.json", "bin",
    // /run/hop/<app> is the app's runtime directory; /run/hop/nginx.pid is nginx's.
    "nginx.pid",
]

func stableJSONText(_ value: [String: String]) -> String {
    String(decoding: (try? JSONEncoder.stable.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
}
