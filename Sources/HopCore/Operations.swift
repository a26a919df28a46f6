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
        public var watch: Double = 5
        public var force = false
        public var options = BuildOptions()
        public init(path: String? = nil, build: Int64? = nil, app: String? = nil, watch: Double = 5, force: Bool = false,
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
                try checkDomains(app: spec.name, spec: spec, db: try ctx.existingDatabase())
                try checkDeclaredAddons(app: spec.name, spec: spec, db: try ctx.existingDatabase())
                try checkComputedEnv(app: spec.name, spec: spec, db: try ctx.existingDatabase())
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
            let lock = try rt.lock(record.app)
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
            return DeployResult(app: g.app, generation: g.number, build: record.id, status: g.status.rawValue, scale: g.scale,
                                noop: result.noop, cached: cached, url: url, seconds: Date().timeIntervalSince(t0),
                                storePath: g.storePath, current: g.status == .active)
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

    // MARK: Generations

    public func rollback(app raw: String, to: Int? = nil, withData: Bool = false) throws -> RollbackResult {
        let app = try Self.checkedApp(raw)
        var detail = to.map { ["to": String($0)] } ?? [:]
        if withData { detail["withData"] = "true" }
        return try audited("rollback", app: app, detail: detail, permission: .deploy) {
            let t0 = Date()
            let db = try ctx.database()
            try requireDeployed(app, db)
            let rt = try runtime(db)
            let lock = try rt.lock(app)
            defer { withExtendedLifetime(lock) {} }
            let gens = try rt.db.generations(app: app)
            guard let current = gens.first(where: { $0.status == .active }) else {
                throw HopError(.notFound, "\(app) has no serving generation", hint: "deploy it first: hop deploy PATH")
            }
            let target: GenerationRecord
            if let to {
                guard let g = gens.first(where: { $0.number == to }) else {
                    throw HopError(.notFound, "\(app) has no generation \(to)", hint: "see `hop generations \(app)`")
                }
                target = g
            } else {
                guard let g = gens.last(where: { $0.number < current.number && $0.status == .retired }) else {
                    throw HopError(.notFound, "\(app) has no earlier generation that served", hint: "see `hop generations \(app)`")
                }
                target = g
            }
            if withData {
                // The data as it was just before `current` first switched in: its before-deploy backup.
                guard let b = try rt.db.backups(app: app).first(where: { $0.reason == "before-deploy" && $0.forGeneration == current.number && $0.status == .ok }) else {
                    throw HopError(.notFound, "no backup was taken before generation \(current.number) of \(app) switched in",
                                   hint: "backups are taken before a deploy with a release step or `[backup] before-deploy = true`; roll back the code alone with `hop rollback \(app)`")
                }
                guard target.number < current.number else { throw HopError.invalid("--with-data rolls back to an earlier generation, not \(target.number)") }
                let verified = try fetchVerified(b, db: rt.db)
                defer { verified.cleanup() }
                try rt.restoreVerified(verified, into: app, switchTo: target)
            } else {
                try rt.switchTo(target, op: "rollback")
            }
            let spec = try? rt.db.build(id: target.buildID)?.spec()
            return RollbackResult(app: app, generation: target.number, from: current.number,
                                  url: appURL(app, spec: spec ?? nil, host: rt.host), seconds: Date().timeIntervalSince(t0))
        }
    }

    public func generations(app raw: String) throws -> [GenerationInfo] {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.read, app: app, action: "list generations")
        guard let db = try ctx.existingDatabase() else { return [] }
        try recoverIfInterrupted(app, db)
        var schedules: [Int64: [String: String]] = [:]
        return try db.generations(app: app).map { g in
            var info = GenerationInfo(g)
            if schedules[g.buildID] == nil {
                schedules[g.buildID] = try db.build(id: g.buildID).map(Self.cronSchedules) ?? [:]
            }
            if let s = schedules[g.buildID], !s.isEmpty { info.timers = s }
            return info
        }
    }

    /// A build's cron processes by name, with their schedules (empty when its metadata does not
    /// decode: the list still shows the generation).
    static func cronSchedules(_ build: BuildRecord) -> [String: String] {
        guard let spec = try? build.spec() else { return [:] }
        var out: [String: String] = [:]
        for p in spec.processes { if case .cron(let schedule) = p.kind { out[p.name] = schedule } }
        return out
    }

    /// When a killed hop left an activation journal, finishes or undoes it (under the app's lock)
    /// before anything is read: every command, reads included, sees one consistent state.
    func recoverIfInterrupted(_ app: String, _ db: HopDatabase) throws {
        guard FileManager.default.fileExists(atPath: ctx.home.apps + "/\(app)/journal.json")
              || FileManager.default.fileExists(atPath: ctx.home.apps + "/\(app)/restore.json") else { return }
        let rt = try runtime(db)
        let lock = try rt.lock(app)
        withExtendedLifetime(lock) {}
    }

    public func gc(keep: Int = 3, app rawApp: String? = nil) throws -> GCResult {
        guard keep >= 0 else { throw HopError.invalid("--keep \(keep) is negative") }
        let only = try rawApp.map(Self.checkedApp)
        return try audited("gc", app: only, detail: ["keep": String(keep)], permission: .admin) {
            guard let db = try ctx.existingDatabase() else { return GCResult(removed: []) }
            let apps = try only.map { [$0] } ?? db.deployedApps()
            var removed: [RemovedGeneration] = []
            if apps.allSatisfy({ (try? db.generations(app: $0).isEmpty) ?? true }) { return GCResult(removed: []) }
            let rt = try runtime(db)
            for app in apps {
                let lock = try rt.lock(app)
                defer { withExtendedLifetime(lock) {} }
                let gens = try rt.db.generations(app: app)
                let others = gens.filter { $0.status != .active && $0.status != .pending }.sorted { $0.number > $1.number }
                for g in others.dropFirst(keep) {
                    unlink(rt.activator.profileLink(app, g.number))
                    unlink(rt.envFile(app, g.number))
                    try rt.db.deleteGeneration(app: app, number: g.number)
                    removed.append(RemovedGeneration(app: app, generation: g.number))
                }
                try rt.activator.pruneUnitFiles(app: app, keep: Set(try rt.db.generations(app: app).map(\.number)))
            }
            return GCResult(removed: removed)
        }
    }

    // MARK: Apps

    /// The apps this principal may see, with the state checked now: the serving generation's
    /// units (one `systemctl show` for all of them) and each app's URL requested through nginx
    /// (in parallel, 2 s at most each). The rest comes from one query for every generation, the
    /// front's ports read once, and each build's metadata decoded once per process.
    public func apps() throws -> [AppSummary] {
        guard let db = try ctx.existingDatabase() else { return [] }
        var hostProblem: String?
        let host: ServiceHost?
        do { host = try ctx.serviceHost() } catch let e as HopError { host = nil; hostProblem = e.message + (e.hint.map { " — " + $0 } ?? "") }
        let front = host.map { NginxFront(home: ctx.home, host: $0) }
        let ports = front.map { (http: $0.httpPort, https: $0.httpsPort) }
        var all = Dictionary(grouping: try db.allGenerations(), by: \.app)
        var visible: [(app: String, gens: [GenerationRecord], serving: GenerationRecord?, spec: AppSpec?)] = []
        for app in all.keys.sorted() where ctx.principal.may(.read, app: app) {
            if FileManager.default.fileExists(atPath: ctx.home.apps + "/\(app)/journal.json") {
                try recoverIfInterrupted(app, db)
                all[app] = try db.generations(app: app)
            }
            let gens = all[app] ?? []
            let g = gens.first { $0.status == .active }
            let spec = try g.map { try BuildSpecs.shared.spec(buildID: $0.buildID, db: db) } ?? nil
            visible.append((app, gens, g, spec))
        }
        var live: [String: LiveCheck] = [:]
        if let host, let front {
            do {
                live = try sharedLiveCheck(visible.compactMap { v in v.serving.map { (v.app, $0, v.spec) } }, host: host, front: front)
            } catch let e as HopError { hostProblem = e.message + (e.hint.map { " — " + $0 } ?? "") }
        }
        var rows: [AppSummary] = []
        for v in visible {
            let g = v.serving
            var serving = false
            var state = "not serving"
            var answering: Bool?
            if g != nil {
                if let check = live[v.app] {
                    (serving, state) = LiveCheck.verdict(units: check.units, urls: check.urls)
                    let checked = check.urls.compactMap(\.answering)
                    answering = checked.isEmpty ? nil : checked.allSatisfy { $0 }
                } else {
                    state = "unknown: " + (hostProblem ?? "not checked")
                }
            }
            if let last = v.gens.max(by: { $0.number < $1.number }), last.status == .failed, let reason = last.reason {
                state += "; generation \(last.number) failed: \(reason)"
            }
            if let tls = tlsSummary(app: v.app) { state += "; " + tls }
            rows.append(AppSummary(app: v.app, generation: g?.number, serving: serving, build: g?.buildID, scale: g?.scale,
                                   url: ports.map { Self.url(v.app, spec: v.spec, http: $0.http, https: $0.https) }, state: state,
                                   deployedAt: g.map { isoTime($0.createdAt) }, answering: answering))
        }
        return rows
    }

    public func ps(app raw: String) throws -> ProcessList {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.read, app: app, action: "list processes")
        return try withServing(app) { rt, g in
            let procs = try (rt.processes(g) + rt.oneOffs(app)).map { p in
                ProcessInfoRow(unit: p["Id"] ?? "", state: p["ActiveState"] ?? "", sub: p["SubState"] ?? "",
                               pid: Int(p["MainPID"] ?? "") ?? 0, restarts: Int(p["NRestarts"] ?? "") ?? 0)
            }
            return ProcessList(app: app, generation: g.number, processes: procs)
        }
    }

    /// Runs `body` with the app's runtime, its lock held (after recovery), and the generation
    /// serving now; 404 before a service host is needed when the app was never deployed.
    func withServing<T>(_ app: String, _ body: (AppRuntime, GenerationRecord) throws -> T) throws -> T {
        let db = try ctx.database()
        try requireDeployed(app, db)
        let rt = try runtime(db)
        let lock = try rt.lock(app)
        defer { withExtendedLifetime(lock) {} }
        return try body(rt, try serving(app, rt.db))
    }

    /// 404 for an app with no generation at all, before a service host is needed.
    func requireDeployed(_ app: String, _ db: HopDatabase) throws {
        guard try !db.generations(app: app).isEmpty else { throw HopError(.notFound, "\(app) is not deployed", hint: "hop deploy PATH") }
    }

    func serving(_ app: String, _ db: HopDatabase) throws -> GenerationRecord {
        guard let g = try db.activeGeneration(app: app) else {
            throw HopError(.notFound, "\(app) is not deployed", hint: "hop deploy PATH")
        }
        return g
    }

    public func scale(app raw: String, counts: [String: Int], watch: Double = 5) throws -> GenerationInfo {
        let app = try Self.checkedApp(raw)
        guard !counts.isEmpty else { throw HopError.invalid("no PROCESS=COUNT given") }
        try Self.checkWatch(watch)
        for (name, n) in counts where !(0...AppBounds.maxInstancesPerProcess).contains(n) {
            throw HopError.invalid("\(name)=\(n): a count is from 0 to \(AppBounds.maxInstancesPerProcess)", hint: "e.g. `hop scale \(app) web=2`")
        }
        let detail = Dictionary(uniqueKeysWithValues: counts.map { ($0.key, String($0.value)) })
        return try audited("scale", app: app, detail: detail, permission: .deploy) {
            try withServing(app) { rt, g in
                guard let build = try rt.db.build(id: g.buildID) else {
                    throw HopError(.notFound, "the build of \(app)'s serving generation is gone", hint: "deploy it again")
                }
                let total = g.scale.merging(counts) { $1 }.values.reduce(0, +)
                guard total <= AppBounds.maxInstancesPerApp else {
                    throw HopError.invalid("\(app) would run \(total) instances; at most \(AppBounds.maxInstancesPerApp) are allowed per app",
                                           hint: "scale another process of \(app) down first")
                }
                var info = GenerationInfo(try rt.rollout(build: build, scale: counts, watch: watch, op: "scale").generation)
                let timers = Self.cronSchedules(build)
                if !timers.isEmpty { info.timers = timers }
                return info
            }
        }
    }

    /// start, stop or restart (restart is a fresh generation, switched without downtime).
    public func control(_ verb: String, app raw: String) throws -> ActionResult {
        let app = try Self.checkedApp(raw)
        guard ["start", "stop", "restart"].contains(verb) else { throw HopError.invalid("unknown action \(verb)") }
        return try audited(verb, app: app, permission: .deploy) {
            try withServing(app) { rt, g in
                if verb == "restart" {
                    guard let build = try rt.db.build(id: g.buildID) else { throw HopError(.notFound, "the build of \(app) is gone") }
                    let r = try rt.rollout(build: build, watch: 0, force: true, op: "restart")
                    return ActionResult(app: app, action: verb, generation: r.generation.number)
                }
                let m = try GenerationManifest.read(storePath: g.storePath)
                if verb == "stop" {
                    // Its sockets too (a socket-activated app would start again at the next
                    // request), its cron timers, and its `hop run` commands (they start again only
                    // when asked).
                    // Its site says so first (503 and a page, not a 502 from a vanished process).
                    try rt.activator.setStopped(g, true)
                    let units = m.units.timers + m.units.sockets + m.units.instances + (try rt.oneOffs(app).compactMap { $0["Id"] })
                    if !units.isEmpty { try rt.host.systemctlChecked(["stop"] + units, what: "stop \(app)") }
                    return ActionResult(app: app, action: verb, generation: g.number)
                }
                let units = m.units.sockets + m.units.instances
                if !units.isEmpty { try rt.host.systemctlChecked(["start"] + units, what: "start \(app)") }
                // "started" is true only once the app answers its health check (its traceback otherwise).
                ctx.progress(ProgressEvent(phase: "gate", message: "waiting for \(app) to answer"))
                try rt.activator.healthGate(g, m, previous: false)
                try rt.activator.setStopped(g, false)
                if !m.units.timers.isEmpty { try rt.host.systemctlChecked(["start"] + m.units.timers, what: "start \(app)'s timers") }
                return ActionResult(app: app, action: verb, generation: g.number)
            }
        }
    }

    // MARK: Config

    /// The app's config values. Values are secrets: only principals who may change the app see them.
    public func config(app raw: String) throws -> [String: String] {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.deploy, app: app, action: "read config values")
        guard let db = try ctx.existingDatabase() else { return [:] }
        return Dictionary(uniqueKeysWithValues: try db.config(app: app).map { ($0.key, $0.value) })
    }

    /// The app's config keys (values withheld): what a viewer may see.
    public func configKeys(app raw: String) throws -> [String] {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.read, app: app, action: "list config keys")
        guard let db = try ctx.existingDatabase() else { return [] }
        return try db.config(app: app).map(\.key)
    }

    /// Records the change; when the app is deployed, rolls out a generation with it. If that
    /// generation fails, the previous values are restored with the previous generation.
    public func changeConfig(app raw: String, set: [(String, String)], unset: [String], watch: Double = 5) throws -> ConfigResult {
        let app = try Self.checkedApp(raw)
        guard !set.isEmpty || !unset.isEmpty else { throw HopError.invalid("nothing to change", hint: "give KEY=VALUE (set) or KEY (unset)") }
        try Self.checkWatch(watch)
        var seen = Set<String>()
        for (k, v) in set {
            try Self.checkConfigKey(k)
            guard !v.contains("\0") else { throw HopError.invalid("the value of \(k) contains a NUL byte") }
            guard k.utf8.count + 1 + v.utf8.count < Self.maxConfigAssignmentBytes else {
                throw HopError.invalid("\(k)=… is \(k.utf8.count + 1 + v.utf8.count) bytes; one variable may have at most \(Self.maxConfigAssignmentBytes - 1)",
                                       hint: "the kernel refuses to start a process with a longer environment string (MAX_ARG_STRLEN); keep large data in a file or a volume")
            }
            guard seen.insert(k).inserted else { throw HopError.invalid("\(k) is given twice") }
        }
        for k in unset { try Self.checkConfigKey(k) }
        let keys = set.map(\.0) + unset
        // Values never enter the audit log: only the keys changed.
        let detail = ["set": set.map(\.0).joined(separator: ","), "unset": unset.joined(separator: ",")]
        return try audited(set.isEmpty ? "config unset" : "config set", app: app, detail: detail, permission: .deploy) {
            let db = try ctx.database(create: true)
            let before = try db.config(app: app)
            var after = Dictionary(uniqueKeysWithValues: before.map { ($0.key, $0.value) })
            for (k, v) in set { after[k] = v }
            for k in unset { after[k] = nil }
            let total = after.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }
            guard total <= Self.maxConfigBytes else {
                throw HopError.invalid("\(app)'s config would be \(total) bytes; at most \(Self.maxConfigBytes) are allowed",
                                       hint: "a process's whole environment must fit the kernel's 2 MiB limit; keep large data in a file or a volume")
            }
            guard try db.activeGeneration(app: app) != nil else {
                try db.updateConfig(app: app, set: set, unset: unset)
                return ConfigResult(app: app, deployed: false, generation: nil, noop: nil, keys: keys)
            }
            let rt = try runtime(db)
            let lock = try rt.lock(app)
            defer { withExtendedLifetime(lock) {} }
            guard let current = try db.activeGeneration(app: app), let build = try db.build(id: current.buildID) else {
                throw HopError(.notFound, "the build of \(app)'s serving generation is gone", hint: "deploy again")
            }
            try db.updateConfig(app: app, set: set, unset: unset)
            do {
                let r = try rt.rollout(build: build, watch: watch, op: "config")
                return ConfigResult(app: app, deployed: true, generation: GenerationInfo(r.generation), noop: r.noop, keys: keys)
            } catch {
                let had = Set(before.map(\.key))
                try db.updateConfig(app: app, set: before.map { ($0.key, $0.value) }, unset: keys.filter { !had.contains($0) })
                throw error
            }
        }
    }

    /// The most config (keys and values) an app may have: its processes get it as environment,
    /// and the kernel refuses an exec whose arguments and environment pass 2 MiB.
    public static let maxConfigBytes = 512 * 1024
    /// One `KEY=value` string with its NUL: the kernel's MAX_ARG_STRLEN (32 pages), past which
    /// execve fails with E2BIG ("Argument list too long") however small the rest is.
    public static let maxConfigAssignmentBytes = 128 * 1024

    static func checkWatch(_ watch: Double) throws {
        guard watch >= 0, watch <= 3600 else { throw HopError.invalid("--watch \(watch) is not between 0 and 3600 seconds") }
    }

    public static func checkConfigKey(_ key: String) throws {
        let first = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
        let rest = first.union("0123456789")
        guard let h = key.first, first.contains(h), key.allSatisfy({ rest.contains($0) }), key.count <= 128 else {
            throw HopError.invalid("`\(key.unicodeScalars.map { $0.value < 0x20 ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())` is not a valid config key",
                                   hint: "keys are environment variable names: letters, digits and `_`, not starting with a digit")
        }
        if ["PORT", "HOP_BIND", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "PATH"].contains(key) {
            throw HopError.invalid("\(key) is set by hop and cannot be configured", hint: "choose another name")
        }
    }

    // MARK: Destroy

    /// Stops an app and removes its units, site, profile and generations. Its config and data stay
    /// unless `purge`; purging only ever touches an app hop knows.
    public func destroy(app raw: String, purge: Bool) throws -> DestroyResult {
        let app = try Self.checkedApp(raw)
        return try audited("destroy", app: app, detail: ["purge": String(purge)], permission: .admin) {
            let db = try ctx.database()
            let everDeployed = try !db.generations(app: app).isEmpty
            if !everDeployed {
                let hasConfig = try !db.config(app: app).isEmpty, hasBuilds = try !db.builds(app: app).isEmpty
                guard purge && (hasConfig || hasBuilds) else { throw HopError(.notFound, "\(app) is not deployed") }
                // Nothing ever ran: forget the config and delete any data; no service host is needed.
                let lock = try AppLock(home: ctx.home, app: app)
                defer { withExtendedLifetime(lock) {} }
                try db.forgetApp(app, config: true)
                let root = (try? ctx.serviceHost())?.rootPrefix ?? ""
                // Only what hop created: a state directory hop never claimed is not hop's to delete.
                if FileManager.default.fileExists(atPath: ctx.home.apps + "/\(app)/state-claimed") {
                    if let host = try? ctx.serviceHost() { try AppDisks(home: ctx.home, host: host).remove(app) }
                    for d in AppRuntimePaths(app: app).stateDirectories { try? FileManager.default.removeItem(atPath: root + d) }
                    unlink(ctx.home.apps + "/\(app)/state-claimed")
                }
                try? FileManager.default.removeItem(atPath: ctx.home.root + "/tls/" + app)
                if let host = try? ctx.serviceHost() { try? FileManager.default.removeItem(atPath: NginxFront(home: ctx.home, host: host).tlsIncludeDirectory(app: app)) }
                return DestroyResult(app: app, destroyed: true, purged: true)
            }
            let rt = try runtime(db)
            let lock = try rt.lock(app)
            defer { withExtendedLifetime(lock) {} }
            let gens = try rt.db.generations(app: app)
            // A never-deployed app returned above; gone now only if another hop destroyed it meanwhile.
            guard !gens.isEmpty else { throw HopError(.notFound, "\(app) is not deployed") }
            for g in gens { try rt.activator.stopAndRemove(app: app, number: g.number) }
            try rt.activator.removeNetwork(app: app)
            // A `[limits] disk` image goes with its data (before anything is forgotten, so a failed
            // unmount can be retried); without --purge it stays, mounted.
            if purge && FileManager.default.fileExists(atPath: rt.home.apps + "/\(app)/state-claimed") { try rt.disks.remove(app) }
            try rt.activator.nginx.remove(app: app)
            try? FileManager.default.removeItem(atPath: rt.host.path(AppRuntimePaths(app: app).directory))
            for d in AppRuntimePaths(app: app).cacheDirectories { try? FileManager.default.removeItem(atPath: rt.host.path(d)) }
            let dir = rt.home.apps + "/" + app
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix("profile") || name == "env" || name == "generation.nix" {
                try? FileManager.default.removeItem(atPath: dir + "/" + name)
            }
            try rt.db.forgetApp(app, config: purge)
            if purge {
                // Its addons go with it, unless another app uses them too.
                for at in try rt.db.attachments(app: app) {
                    try rt.db.detach(app: app, addon: at.addon)
                    if try rt.db.attachments(addon: at.addon).isEmpty {
                        try AddonServers(ctx: ctx, db: rt.db, host: rt.host).drop(at.addon, type: try rt.db.addon(name: at.addon)?.type ?? "postgres")
                        try rt.db.removeAddon(at.addon)
                    }
                }
            }
            if purge, FileManager.default.fileExists(atPath: rt.home.apps + "/\(app)/state-claimed") {
                for d in AppRuntimePaths(app: app).stateDirectories { try? FileManager.default.removeItem(atPath: rt.host.path(d)) }
                unlink(rt.home.apps + "/\(app)/state-claimed")
            }
            if purge {
                try? FileManager.default.removeItem(atPath: rt.home.root + "/tls/" + app)
                try? FileManager.default.removeItem(atPath: rt.activator.nginx.tlsIncludeDirectory(app: app))
            }
            return DestroyResult(app: app, destroyed: true, purged: purge)
        }
    }

    // MARK: Logs

    /// The journal command for an app's units (every generation), exactly this app's.
    public func logsCommand(app raw: String, lines: Int, follow: Bool, process: String?) throws -> Command {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.deploy, app: app, action: "read logs")
        if let p = process, p.isEmpty || !p.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            throw HopError.invalid("`\(p)` is not a process name")
        }
        guard let db = try ctx.existingDatabase(), try !db.generations(app: app).isEmpty else {
            throw HopError(.notFound, "\(app) is not deployed", hint: "hop deploy PATH")
        }
        let host = try ctx.serviceHost()
        var args = ["--no-pager", "-o", "short-iso", "-n", "\(max(0, lines))", "-u", UnitNames.journalPattern(app: app, process: process)]
        if follow { args.append("-f") }
        return host.command("journalctl", args)
    }

    /// The last `lines` journal lines of an app.
    public func logs(app: String, lines: Int = 100) throws -> LogLines {
        let cmd = try logsCommand(app: app, lines: min(max(lines, 0), 10_000), follow: false, process: nil)
        let r = try ctx.runner.run(cmd)
        let text = r.stdoutText
        return LogLines(app: app, lines: text.split(separator: "\n").map(String.init).filter { $0 != "-- No entries --" })
    }

    /// How to run `command` once in the app's environment: a transient unit named within the
    /// serving generation (`hop-APP-GN-run-XXXXXXXX.service`), with the app's identity, state,
    /// config, hardening and limits, so `hop ps` lists it and `hop stop`/`destroy` stop it. The
    /// app's lock is held only while the generation is looked up.
    public func runCommand(app raw: String, command: [String]) throws -> RunPlan {
        let app = try Self.checkedApp(raw)
        guard !command.isEmpty else { throw HopError.invalid("no command given", hint: "hop run \(app) -- CMD …") }
        return try audited("run", app: app, detail: ["command": command.joined(separator: " ")], permission: .deploy) {
            try withServing(app) { rt, g in
                let spec = try BuildSpecs.shared.spec(buildID: g.buildID, db: rt.db)
                let unit = UnitNames.prefix(app: app, generation: g.number) + "run-" + hexString(randomBytes(4)) + ".service"
                // In the app's network namespace (started by the serving generation; Requires= makes
                // sure): the one-off reaches its own app on 127.0.0.1, never another app's port.
                let network = UnitNames.networkUnit(app: app)
                var props = ["Requires=\(network)", "After=\(network)",
                             "NetworkNamespacePath=\(UnitNames.networkNamespacePath(app: app))",
                             "Slice=\(UnitNames.slice(app: app))",
                             "UMask=0077",
                             "EnvironmentFile=-\(rt.envFile(app, g.number))", "WorkingDirectory=\(g.appPath)/app"]
                props += try UnitRenderer.identitySettings(app: app, outPath: g.appPath, volumes: spec?.volumes ?? [])
                props += UnitRenderer.hardening(allowJIT: spec?.build.builder == .node)
                props += UnitRenderer.limitSettings(try UnitRenderer.checkedLimits(spec?.limits ?? Limits()))
                var args = ["--unit=\(unit)", "--wait", "--pipe", "--quiet", "--collect", "--service-type=exec"]
                for p in props { args += ["-p", p] }
                args += ["--", g.appPath + "/bin/.hop-run"] + command
                return RunPlan(unit: unit, command: rt.host.command("systemd-run", args),
                               stop: rt.host.command("systemctl", ["stop", unit]))
            }
        }
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
