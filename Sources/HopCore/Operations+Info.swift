import Foundation
import AppSpec
import HopBasics
import HopStore
import Runtime

// `hop info APP` and the live state `hop apps` prints: what is true now, checked (units asked
// through systemd, each URL requested through hop's nginx with the app's Host header), never
// inferred from the database alone.

/// One URL of an app and whether hop's nginx answers it now.
public struct URLCheck: Sendable, Codable, Equatable {
    public var url: String
    /// nil: not checked (a wildcard name has no one host to ask for).
    public var answering: Bool?
    /// The HTTP status nginx gave (0 or absent: no answer at all).
    public var status: Int?
    /// Why it does not answer (or why it was not checked).
    public var problem: String?
    public var milliseconds: Int?
    public init(url: String, answering: Bool?, status: Int? = nil, problem: String? = nil, milliseconds: Int? = nil) {
        self.url = url; self.answering = answering; self.status = status; self.problem = problem; self.milliseconds = milliseconds
    }
}

/// A generation as the overview shows it: when it was made and, when the audit log says, by whom.
public struct GenerationSummary: Sendable, Codable, Equatable {
    public var number: Int
    public var build: Int64
    public var status: String
    public var createdAt: String
    /// The operation that made it (`deploy`, `rollback`, `scale`, `config set`…), its actor and interface.
    public var action: String?
    public var by: String?
    public var via: String?
    public var reason: String?
}

/// One unit of a process, as systemd reports it now.
public struct InstanceInfo: Sendable, Codable, Equatable {
    public var unit: String
    public var state: String
    public var sub: String
    public var pid: Int
    public var restarts: Int
    /// CPU time used since the unit started (nil when systemd does not account it).
    public var cpuSeconds: Double?
    public var memoryBytes: Int64?
    /// The unit's memory limit (nil: unlimited or unknown).
    public var memoryLimitBytes: Int64?
    public init(unit: String, state: String, sub: String, pid: Int, restarts: Int, cpuSeconds: Double? = nil,
                memoryBytes: Int64? = nil, memoryLimitBytes: Int64? = nil) {
        self.unit = unit; self.state = state; self.sub = sub; self.pid = pid; self.restarts = restarts
        self.cpuSeconds = cpuSeconds; self.memoryBytes = memoryBytes; self.memoryLimitBytes = memoryLimitBytes
    }
}

/// A process of the serving generation: its instance count and each instance's unit.
public struct ProcessGroupInfo: Sendable, Codable, Equatable {
    public var name: String
    public var count: Int
    public var instances: [InstanceInfo]
}

public struct AddonRef: Sendable, Codable, Equatable {
    public var type: String
    public var name: String
}

public struct VolumeUse: Sendable, Codable, Equatable {
    public var name: String
    public var target: String
    /// Disk space used (du), when it could be measured.
    public var bytes: Int64?
}

public struct CertificateInfo: Sendable, Codable, Equatable {
    /// `acme`, `self-signed` or `none`.
    public var kind: String
    public var issuer: String?
    public var notAfter: String?
    public var domains: [String]
    public var lastAttempt: String?
    public var error: String?
}

/// The latest deploy attempt of the app, from the audit log.
public struct DeployEvent: Sendable, Codable, Equatable {
    public var at: String
    public var by: String
    public var via: String
    /// `ok` or `error: <code>: <message>`.
    public var result: String
}

public struct BackupEvent: Sendable, Codable, Equatable {
    public var id: String
    public var at: String
    public var status: String
    public var reason: String
    public var size: Int64
    public var error: String?
}

/// `hop info APP`: one overview of one app, checked now.
public struct AppInfo: Sendable, Codable, Equatable {
    public var app: String
    /// True only when the serving generation's units are active and every checked URL answers.
    public var serving: Bool
    /// `serving`, `stopped`, `not answering: …`, `degraded: …`, `not serving`, `unknown: …`, with
    /// what else is known after `; ` (a failed last generation, a certificate problem).
    public var state: String
    public var urls: [URLCheck]
    public var generation: GenerationSummary?
    public var previous: GenerationSummary?
    public var processes: [ProcessGroupInfo]
    public var addons: [AddonRef]
    public var volumes: [VolumeUse]
    public var domains: [String]
    public var certificate: CertificateInfo?
    public var lastDeploy: DeployEvent?
    public var lastBackup: BackupEvent?
    public var checkedAt: String
}

/// What was found when an app's serving generation was checked.
public struct LiveCheck: Sendable, Equatable {
    public var units: [[String: String]]
    public var urls: [URLCheck]
    public init(units: [[String: String]], urls: [URLCheck]) { self.units = units; self.urls = urls }

    /// The state the checks support, first the verdict, then why. Pure: what `apps` and `info` print.
    public static func verdict(units: [[String: String]], urls: [URLCheck]) -> (serving: Bool, state: String) {
        let active = units.filter { $0["ActiveState"] == "active" }
        if !units.isEmpty && active.isEmpty {
            if let failed = units.first(where: { $0["ActiveState"] == "failed" }) {
                return (false, "failed: \(failed["Id"] ?? "?") is failed (\(failed["Result"].map { $0 } ?? "?"))")
            }
            return (false, "stopped")
        }
        if let down = units.first(where: { $0["ActiveState"] != "active" }) {
            return (false, "degraded: \(down["Id"] ?? "?") is \(down["ActiveState"] ?? "?")/\(down["SubState"] ?? "?")")
        }
        if let dead = urls.first(where: { $0.answering == false }) {
            return (false, "not answering: \(dead.url) \(dead.problem ?? "")".trimmingCharacters(in: .whitespaces))
        }
        return (true, "serving")
    }
}

extension Operations {
    /// Every `hop` operation that makes a generation (what its `by` is looked up among).
    static let generationActions: Set<String> = ["deploy", "scale", "restart", "config set", "config unset",
                                                 "addon attach", "addon detach", "addon migrate", "backup restore"]

    /// The audit entry of the operation that made generation `g`: the first generation-making entry
    /// written at or after it was made (an operation's entry is written when it ends) and before
    /// the next generation was (one operation at a time holds the app's lock); a denied request
    /// made nothing. Nil when the log
    /// window holds none: no attribution is better than a wrong one.
    static func maker(of g: GenerationRecord, nextCreatedAt: Date?, audit: [AuditEntry]) -> AuditEntry? {
        audit.first { e in
            generationActions.contains(e.action) && e.result != "denied" && e.at >= g.createdAt.addingTimeInterval(-1) && (nextCreatedAt.map { e.at < $0 } ?? true)
        }
    }

    /// `hop info APP`: URLs (answering now?), state, current and previous generation, processes with
    /// CPU and memory, addons, volumes, domains, certificate, last deploy and backup. Read-only.
    public func info(app raw: String) throws -> AppInfo {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.read, app: app, action: "see the app")
        guard let db = try ctx.existingDatabase(), try !db.generations(app: app).isEmpty else {
            throw HopError(.notFound, "\(app) is not deployed", hint: "`hop apps` lists the apps; deploy with `hop deploy PATH`")
        }
        try recoverIfInterrupted(app, db)
        let gens = try db.generations(app: app)
        let current = gens.first { $0.status == .active }
        let previous = gens.filter { $0.status == .retired && $0.number < (current?.number ?? Int.max) }.max { $0.number < $1.number }
        let shown = current ?? gens.max { $0.number < $1.number }
        let spec = try shown.map { try BuildSpecs.shared.spec(buildID: $0.buildID, db: db) } ?? nil
        let audit = try db.auditRows(app: app, limit: 500).map(\.entry)
        func summary(_ g: GenerationRecord?) -> GenerationSummary? {
            guard let g else { return nil }
            let next = gens.filter { $0.number > g.number }.map(\.createdAt).min()
            let maker = Self.maker(of: g, nextCreatedAt: next, audit: audit)
            return GenerationSummary(number: g.number, build: g.buildID, status: g.status.rawValue, createdAt: isoTime(g.createdAt),
                                     action: maker?.action, by: maker?.actor, via: maker?.via, reason: g.reason)
        }
        let names = spec.map { Self.serverNames(app: app, spec: $0) } ?? ["\(app).localhost"]
        var serving = false
        var state = "not serving"
        var urls: [URLCheck] = []
        var processes: [ProcessGroupInfo] = []
        var volumes = (spec?.volumes ?? []).map { VolumeUse(name: $0.name, target: $0.target, bytes: nil) }
        var certificate: CertificateInfo?
        do {
            let host = try ctx.serviceHost()
            let front = NginxFront(home: ctx.home, host: host)
            if let current {
                let live = try liveCheck([(app, current, spec)], host: host, front: front)[app] ?? LiveCheck(units: [], urls: [])
                urls = live.urls
                (serving, state) = LiveCheck.verdict(units: live.units, urls: live.urls)
                processes = Self.processGroups(scale: current.scale, units: live.units, app: app, generation: current.number)
            } else {
                urls = names.map { URLCheck(url: Self.url(name: $0, http: front.httpPort, https: front.httpsPort), answering: nil, problem: "no generation serves") }
            }
            volumes = volumes.map { v in
                var v = v
                v.bytes = diskUse(host: host, app: app, volume: v.name)
                return v
            }
            if front.httpsPort != nil || FileManager.default.fileExists(atPath: tlsDirectory(app)) {
                let t = try tlsStatus(app: app, front: front)
                certificate = CertificateInfo(kind: t.certificate, issuer: t.issuer, notAfter: t.notAfter, domains: t.domains,
                                              lastAttempt: t.lastAttempt, error: t.error)
            }
        } catch let e as HopError where e.code == .environment {
            state = "unknown: " + e.message + (e.hint.map { " — " + $0 } ?? "")
        }
        if let last = gens.max(by: { $0.number < $1.number }), last.status == .failed, let reason = last.reason {
            state += "; generation \(last.number) failed: \(reason)"
        }
        if let tls = tlsSummary(app: app) { state += "; " + tls }
        let addons = try db.attachments(app: app).map { at in
            AddonRef(type: (try? db.addon(name: at.addon))??.type ?? "?", name: at.addon)
        }
        // A refused request (`denied`) did not try to deploy anything.
        let deploy = audit.last { $0.action == "deploy" && $0.result != "denied" }
        let backup = try db.backups(app: app).max { $0.createdAt < $1.createdAt }
        return AppInfo(app: app, serving: serving, state: state, urls: urls, generation: summary(current), previous: summary(previous),
                       processes: processes, addons: addons, volumes: volumes, domains: names, certificate: certificate,
                       lastDeploy: deploy.map { DeployEvent(at: isoTime($0.at), by: $0.actor, via: $0.via, result: $0.result) },
                       lastBackup: backup.map { BackupEvent(id: $0.id, at: isoTime($0.finishedAt ?? $0.createdAt), status: $0.status.rawValue,
                                                            reason: $0.reason, size: $0.size, error: $0.error.isEmpty ? nil : $0.error) },
                       checkedAt: isoTime(Date()))
    }

    /// The units and URLs of several apps' serving generations, checked at once: one `systemctl
    /// show` for every unit, then every URL requested through nginx in parallel (at most 16 at a
    /// time, each within `timeout`), so 20 apps cost about what the slowest one does.
    /// The live check of many apps, shared for `LiveCheckCache.maxAge` by the requests of a long-running
    /// server (a dashboard refreshing, an API client polling `GET /api/apps`): the same apps at the
    /// same generations on the same ports are not probed again within that time, and concurrent
    /// requests wait for one check instead of each running their own; past half that age the check
    /// is renewed on a thread of its own while requests keep being answered. A one-shot CLI always checks.
    func sharedLiveCheck(_ apps: [(app: String, generation: GenerationRecord, spec: AppSpec?)], host: ServiceHost, front: NginxFront) throws -> [String: LiveCheck] {
        let key = apps.map { "\($0.app)#\($0.generation.number)#\($0.generation.storePath)" }.joined(separator: ",")
            + "|\(front.httpPort)|\(front.httpsPort ?? 0)|\(ctx.home.root)"
        let ops = self
        return try LiveCheckCache.shared.value(for: key, refresh: { try ops.liveCheck(apps, host: host, front: front) }) {
            try liveCheck(apps, host: host, front: front)
        }
    }

    func liveCheck(_ apps: [(app: String, generation: GenerationRecord, spec: AppSpec?)], host: ServiceHost, front: NginxFront,
                   timeout: Double = 2) throws -> [String: LiveCheck] {
        var unitsOf: [String: [String]] = [:]
        for a in apps {
            unitsOf[a.app] = (try? GenerationManifest.read(storePath: a.generation.storePath))?.units.instances ?? []
        }
        let all = apps.flatMap { unitsOf[$0.app] ?? [] }
        let props = try host.show(all, properties: ["Id", "ActiveState", "SubState", "Result", "MainPID", "NRestarts", "MemoryCurrent",
                                                    "MemoryMax", "MemoryLimit", "CPUUsageNSec", "ControlGroup"])
        var byID = Dictionary(props.map { ($0["Id"] ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        // Where systemd does not account CPU (cgroup v1 without cpuacct for the host, as here),
        // the unit's processes' own CPU time is summed from /proc instead.
        for (id, p) in byID where Self.number(p["CPUUsageNSec"]) == nil {
            if let ns = Self.cpuNanoseconds(controlGroup: p["ControlGroup"] ?? "", host: host) { byID[id]?["CPUUsageNSec"] = String(ns) }
        }
        let http = front.httpPort, https = front.httpsPort
        struct Probe: Sendable { var app: String; var name: String; var path: String }
        var probes: [Probe] = []
        for a in apps {
            let names = a.spec.map { Self.serverNames(app: a.app, spec: $0) } ?? ["\(a.app).localhost"]
            // A worker-only app serves nothing: no site answers for it.
            guard a.spec?.processes.contains(where: { $0.kind.servesHTTP || $0.kind == .static }) ?? true
                  || !(a.spec?.staticPaths.isEmpty ?? true) else { continue }
            for n in names { probes.append(Probe(app: a.app, name: n, path: a.spec?.healthcheck?.path ?? "/")) }
        }
        let runner = ctx.runner
        let checks = concurrentMap(probes, width: 16) { p in
            Self.checkURL(name: p.name, path: p.path, http: http, https: https, timeout: timeout, runner: runner)
        }
        var out: [String: LiveCheck] = [:]
        for a in apps {
            out[a.app] = LiveCheck(units: (unitsOf[a.app] ?? []).map { byID[$0] ?? ["Id": $0, "ActiveState": "unknown", "SubState": "not loaded"] },
                                   urls: [])
        }
        for (p, c) in zip(probes, checks) { out[p.app]?.urls.append(c) }
        return out
    }

    /// One URL requested the way a visitor's would be, through hop's nginx on this machine with
    /// the name as Host: plain HTTP with hop's own client, HTTPS with curl (hop has no TLS client).
    /// Answering means an HTTP status below 500, as the health gate counts it; 502/504 are nginx
    /// saying the app is not there.
    static func checkURL(name: String, path: String, http: Int, https: Int?, timeout: Double, runner: any ProcessRunner) -> URLCheck {
        let url = Self.url(name: name, http: http, https: https)
        if name.contains("*") { return URLCheck(url: url, answering: nil, problem: "a wildcard name: not checked") }
        let t0 = Date()
        func ms() -> Int { Int(Date().timeIntervalSince(t0) * 1000) }
        if let tls = https {
            let r = try? runner.run(Command("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", String(timeout),
                                                     "--resolve", "\(name):\(tls):127.0.0.1", "https://\(name):\(tls)\(path)"]))
            guard let r else { return URLCheck(url: url, answering: nil, problem: "not checked: curl is not installed", milliseconds: ms()) }
            let status = Int(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return verdict(url: url, status: status, error: status == 0 ? "no answer (curl exited \(r.status))" : nil, ms: ms())
        }
        do {
            let r = try HealthProbe.get(.tcp(port: http), path: path, host: name, timeout: timeout)
            return verdict(url: url, status: r.status, error: nil, ms: ms())
        } catch let e as HopError {
            return verdict(url: url, status: 0, error: e.message, ms: ms())
        } catch {
            return verdict(url: url, status: 0, error: "\(error)", ms: ms())
        }
    }

    static func verdict(url: String, status: Int, error: String?, ms: Int) -> URLCheck {
        if status == 0 { return URLCheck(url: url, answering: false, status: nil, problem: error ?? "no answer", milliseconds: ms) }
        if status >= 500 {
            let why = status == 502 ? "nginx answered 502: the app is not listening" : status == 504 ? "nginx answered 504: the app did not answer in time"
                : "answered HTTP \(status)"
            return URLCheck(url: url, answering: false, status: status, problem: why, milliseconds: ms)
        }
        return URLCheck(url: url, answering: true, status: status, milliseconds: ms)
    }

    /// `http://name:port/` (or https), the port left out when it is the scheme's own.
    static func url(name: String, http: Int, https: Int?) -> String {
        if let tls = https { return "https://\(name)" + (tls == 443 ? "" : ":\(tls)") + "/" }
        return "http://\(name)" + (http == 80 ? "" : ":\(http)") + "/"
    }

    /// The serving generation's processes from its scale and its units' properties (pure).
    static func processGroups(scale: [String: Int], units: [[String: String]], app: String, generation: Int) -> [ProcessGroupInfo] {
        let prefix = UnitNames.prefix(app: app, generation: generation)
        var byName: [String: [InstanceInfo]] = [:]
        for u in units {
            let id = u["Id"] ?? ""
            let name = id.hasPrefix(prefix) ? String(id.dropFirst(prefix.count).prefix { $0 != "@" && $0 != "." }) : id
            byName[name, default: []].append(instance(u))
        }
        let names = Set(scale.keys).union(byName.keys)
        return names.sorted().map { ProcessGroupInfo(name: $0, count: scale[$0] ?? byName[$0]?.count ?? 0, instances: byName[$0] ?? []) }
    }

    /// One unit's `systemctl show` properties as numbers: systemd writes `[not set]`, `infinity` or
    /// 2^64-1 for what it does not know or does not limit.
    static func number(_ value: String?) -> UInt64? { ResourceMeasures.number(value).map { UInt64($0) } }

    /// The CPU time (user + system, with waited-for children) of the processes in a unit's control
    /// group now, read from /proc; nil when the group cannot be read. The group's `cgroup.procs`
    /// names PIDs as hop's namespace sees them, so their /proc entries are hop's own.
    static func cpuNanoseconds(controlGroup: String, host: ServiceHost) -> UInt64? {
        guard controlGroup.hasPrefix("/"), !controlGroup.contains("..") else { return nil }
        for root in ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
            guard let procs = try? String(contentsOfFile: host.path(root + controlGroup + "/cgroup.procs"), encoding: .utf8) else { continue }
            let hz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
            var ticks: UInt64 = 0
            for pid in procs.split(separator: "\n") {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { continue }
                ticks += statCPUTicks(stat) ?? 0
            }
            return ticks * (1_000_000_000 / hz)
        }
        return nil
    }

    /// utime + stime + cutime + cstime (fields 14–17) of a /proc/PID/stat line, in clock ticks.
    /// The command name (field 2) may hold spaces and parentheses: fields are counted after its last `)`.
    static func statCPUTicks(_ stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime is field 14, fields[11].
        guard fields.count > 14 else { return nil }
        var sum: UInt64 = 0
        for i in 11...14 { guard let n = UInt64(fields[i]) else { return nil }; sum += n }
        return sum
    }

    static func instance(_ p: [String: String]) -> InstanceInfo {
        func number(_ key: String) -> UInt64? { Self.number(p[key]) }
        let limit = number("MemoryMax") ?? number("MemoryLimit")
        return InstanceInfo(unit: p["Id"] ?? "", state: p["ActiveState"] ?? "", sub: p["SubState"] ?? "",
                            pid: Int(p["MainPID"] ?? "") ?? 0, restarts: Int(p["NRestarts"] ?? "") ?? 0,
                            cpuSeconds: number("CPUUsageNSec").map { Double($0) / 1e9 },
                            memoryBytes: number("MemoryCurrent").map { Int64(clamping: $0) },
                            memoryLimitBytes: limit.map { Int64(clamping: $0) })
    }

    /// Disk space of a volume (`du`), wherever systemd keeps it (a dynamic user's state is under
    /// /var/lib/private); nil when it cannot be measured.
    func diskUse(host: ServiceHost, app: String, volume: String) -> Int64? {
        for dir in AppRuntimePaths(app: app).stateDirectories {
            let path = host.path(dir + "/volumes/" + volume)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { continue }
            guard let r = try? ctx.runner.run(Command("du", ["-s", "-B1", "-x", path])), r.succeeded else { return nil }
            return r.stdoutText.split(whereSeparator: { $0 == "\t" || $0 == " " }).first.flatMap { Int64($0) }
        }
        return nil
    }
}

/// `transform` over `items` on up to `width` threads at once, results in order. For blocking I/O
/// (probes waiting on sockets): the work is waiting, not computing, so more threads than cores.
func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], width: Int, _ transform: @escaping @Sendable (T) -> R) -> [R] {
    guard items.count > 1 else { return items.map(transform) }
    let slots = ConcurrentSlots<R>(items.count)
    let group = DispatchGroup()
    for _ in 0..<min(width, items.count) {
        group.enter()
        Thread.detachNewThread {
            while let i = slots.take(items.count) { slots.put(i, transform(items[i])) }
            group.leave()
        }
    }
    group.wait()
    return slots.results.map { $0! }
}

/// The shared cursor and result slots of `concurrentMap` (guarded by one lock).
private final class ConcurrentSlots<R>: @unchecked Sendable {
    let lock = NSLock()
    var next = 0
    var results: [R?]
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
    func take(_ limit: Int) -> Int? { lock.lock(); defer { lock.unlock() }; guard next < limit else { return nil }; next += 1; return next - 1 }
    func put(_ i: Int, _ r: R) { lock.lock(); results[i] = r; lock.unlock() }
}

/// One recent live check, keyed by what was checked (see `Operations.sharedLiveCheck`).
final class LiveCheckCache: @unchecked Sendable {
    static let shared = LiveCheckCache()
    /// How old a shared check may be: the dashboard and API say "checked", and two seconds is
    /// within what a person reloading a page can tell apart.
    static let maxAge: TimeInterval = 2
    /// Guards the fields below; never held during a check.
    private let lock = NSLock()
    /// Held by whoever is checking, so concurrent requests wait for one check, not run their own.
    private let checking = NSLock()
    private var key = ""
    /// When the kept check started (what it says is at least this fresh).
    private var at = Date.distantPast
    private var value: [String: LiveCheck] = [:]
    /// Bumped by `invalidate`: a check that started before a change is not kept after it.
    private var epoch = 0
    private var refreshing = false

    func invalidate() {
        lock.lock()
        at = .distantPast
        epoch += 1
        lock.unlock()
    }

    /// The kept check for `key` when younger than `maxAge`, else a new one (waiting for one
    /// already under way). With `refresh`, a kept check past half its age is still answered, and
    /// `refresh` runs once on a thread of its own to replace it, so a server answering requests
    /// continuously keeps a fresh check without a request ever waiting for one.
    func value(for key: String, now: () -> Date = Date.init, refresh: (@Sendable () throws -> [String: LiveCheck])? = nil,
               compute: () throws -> [String: LiveCheck]) throws -> [String: LiveCheck] {
        if let kept = kept(for: key, now: now(), refresh: refresh) { return kept }
        checking.lock()
        defer { checking.unlock() }
        // Another request may have finished a check while this one waited.
        if let kept = kept(for: key, now: now(), refresh: nil) { return kept }
        let (started, startEpoch) = lock.withLock { (now(), epoch) }
        let fresh = try compute()
        keep(fresh, for: key, at: started, epoch: startEpoch)
        return fresh
    }

    private func kept(for key: String, now: Date, refresh: (@Sendable () throws -> [String: LiveCheck])?) -> [String: LiveCheck]? {
        lock.lock()
        defer { lock.unlock() }
        guard key == self.key else { return nil }
        let age = now.timeIntervalSince(at)
        guard age >= 0, age < Self.maxAge else { return nil }
        if let refresh, age >= Self.maxAge / 2, !refreshing {
            refreshing = true
            let startEpoch = epoch
            // Stamped with when it was asked for, a little before it starts: never fresher than it is.
            let started = now
            Thread.detachNewThread { [self] in
                checking.lock()
                defer { checking.unlock() }
                let fresh = try? refresh()
                lock.withLock { refreshing = false }
                if let fresh { keep(fresh, for: key, at: started, epoch: startEpoch) }
            }
        }
        return value
    }

    private func keep(_ fresh: [String: LiveCheck], for key: String, at started: Date, epoch startEpoch: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard startEpoch == epoch, key != self.key || started > at else { return }
        (self.key, self.at, self.value) = (key, started, fresh)
    }
}
