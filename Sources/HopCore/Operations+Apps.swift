import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// Generations, the apps list, scale and start/stop/restart.
extension Operations {
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
            let lock = try rt.lock(app, mode: .takeOver)
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
                let archive = try fetchArchive(b, db: rt.db)
                defer { archive.cleanup() }
                try rt.restoreArchive(archive.path, expect: BackupExpectation(b), backupBuild: b.buildID, into: app, switchTo: target)
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
        let lock = try rt.lock(app, mode: .read)
        withExtendedLifetime(lock) {}
    }

    public func gc(keep: Int = Defaults.keepGenerations, app rawApp: String? = nil) throws -> GCResult {
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
            if access(ctx.home.apps + "/\(app)/journal.json", F_OK) == 0 {
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

    public func scale(app raw: String, counts: [String: Int], watch: Double = Defaults.watch) throws -> GenerationInfo {
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
}
