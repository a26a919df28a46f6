import Foundation
import AppSpec
import HopBasics
import HopStore

/// What a generation's store path says about how to run and check it (`manifest.json`).
public struct GenerationManifest: Sendable, Codable {
    public var app: String
    public var generation: Int
    public var build: Int64
    public var appPath: String
    public var scale: [String: Int]
    public var ports: [Int]
    public var socket: String?
    /// The proxy sockets of the web instances (`web:` over TCP), in instance order; absent in
    /// generations made before hop proxied TCP through unix sockets.
    public var proxySockets: [String]?
    /// A PHP app's document root in its store path: the health gate speaks FastCGI to it.
    public var fastCGIRoot: String?
    public var healthcheck: HealthCheck?
    public var units: GenerationUnits

    public static func read(storePath: String) throws -> GenerationManifest {
        let file = storePath + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw HopError(.notFound, "the generation at \(storePath) has no manifest", hint: "was it collected by the Nix GC? deploy again")
        }
        return try JSONDecoder().decode(GenerationManifest.self, from: data)
    }
}

/// A deploy's or rollback's intent, written before anything changes, so a hop killed at any step
/// leaves enough for the next hop command to finish or undo it (`Activator.recover`).
public struct Journal: Sendable, Codable, Equatable {
    public enum Phase: String, Sendable, Codable {
        /// The target's units are being installed and started; the old generation serves.
        case starting
        /// The target passed its health gate; the pointers are being swapped to it.
        case switching
        /// The target serves; the old generation is still running, ready to take over again.
        case watching
        /// The target stays; the old generation is being stopped.
        case retiring
    }
    public var op: String
    public var app: String
    public var from: Int?
    public var to: Int
    public var phase: Phase
    /// When the watch window of a handed-off activation ends (phase `watching`).
    public var watchUntil: Date?
    /// The process finishing a handed-off activation in the background (`hop settle`).
    public var settler: Int32?
    /// Who started the activation, for the settler's audit entry.
    public var actor: String?
    /// nginx workers from before the switch's reload, still proxying to the old generation.
    public var oldWorkers: [String]?

    public init(op: String, app: String, from: Int?, to: Int, phase: Phase) {
        self.op = op; self.app = app; self.from = from; self.to = to; self.phase = phase
    }
}

/// How an operation that takes an app's lock treats an activation still settling (its journal in
/// `watching` or `retiring`, the target already serving).
public enum RecoveryMode: Sendable {
    /// Finish it now: a watched target is health-checked (reverted if it fails), the old
    /// generation drained and stopped. Any operation that changes the app without activating.
    case complete
    /// Another activation follows at once (deploy, rollback): the serving target stays (a watched
    /// one is health-checked first), and the old generation is left running for the new
    /// activation to retire — so a rollback to it is a switch, not a cold start.
    case takeOver
    /// A read: leave an activation a live settler owns alone (the journal is its; only a settler
    /// that died is finished in its place).
    case read
}

/// The outcome of a handed-off activation, as the settler saw it.
public enum SettleVerdict: Sendable, Equatable {
    /// The watch window passed (or there was none) and the old generation was retired.
    case passed
    /// The target failed in its watch window; the old generation serves again.
    case rolledBack(String)
    /// Another operation took the app over first (it finished or undid the activation).
    case superseded
}

/// Test seam, never set in production: `HOP_TEST_LEGACY_REDIS=1` makes new Redis addons as earlier
/// hops did (ACL users of one shared server), so the migration to a server per addon is tested
/// against the real layout it migrates from.
public func legacyRedisForTests() -> Bool { ProcessInfo.processInfo.environment["HOP_TEST_LEGACY_REDIS"] == "1" }

/// Kills hop with SIGKILL at a named step when `HOP_FAULT` names it (`deploy:started`, …): the
/// fault-injection seam the crash-safety tests use. Does nothing otherwise.
public func faultPoint(_ name: String) {
    guard let wanted = ProcessInfo.processInfo.environment["HOP_FAULT"], !wanted.isEmpty else { return }
    if wanted.split(separator: ",").contains(where: { $0 == name }) {
        kill(getpid(), SIGKILL)
    }
}

/// An exclusive lock per app (flock on `$HOP_HOME/apps/<app>/lock`), released when the process
/// exits, even by SIGKILL.
public final class AppLock {
    private let fd: Int32
    /// Waits up to `wait` seconds (default 30, or `$HOP_LOCK_WAIT`) for another hop command to finish.
    public convenience init(home: HopHome, app: String, wait: Double? = nil) throws {
        let dir = home.apps + "/" + app
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try self.init(path: dir + "/lock", what: "app \(app)", wait: wait)
    }

    /// The host-wide lock under which TCP ports are allocated and recorded, so two deploys at
    /// the same moment never get the same port.
    /// A host-wide lock for one kind of work (e.g. `acme`: one ACME client owns the challenge port).
    public static func host(home: HopHome, named name: String, wait: Double? = nil) throws -> AppLock {
        try home.ensure()
        return try AppLock(path: home.root + "/\(name).lock", what: "hop's \(name) work", wait: wait)
    }

    public static func ports(home: HopHome) throws -> AppLock {
        try home.ensure()
        return try AppLock(path: home.root + "/ports.lock", what: "the port table", wait: nil)
    }

    /// Told every few seconds while a lock is waited for (the CLI prints it); nil: silent.
    nonisolated(unsafe) public static var onWait: ((String) -> Void)?

    init(path: String, what: String, wait: Double?) throws {
        let wait = wait ?? ProcessInfo.processInfo.environment["HOP_LOCK_WAIT"].flatMap(Double.init) ?? 30
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HopError(.environment, "cannot open the lock of \(what)") }
        let start = Date()
        let deadline = start.addingTimeInterval(wait)
        var told = start
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.holder(fd).map { Self.describe($0) } ?? "another hop command"
            if Date() > deadline {
                close(fd)
                throw HopError(.busy, "\(what) is busy: \(holder)", hint: "wait for it to finish, then try again (hop waited \(Int(wait)) s; HOP_LOCK_WAIT sets how long)")
            }
            if Date().timeIntervalSince(told) >= 2 || told == start {
                told = Date()
                Self.onWait?("waiting for \(what): \(holder)")
            }
            usleep(50_000)
        }
        // Who holds it now, for whoever waits next: this process, what it runs, since when.
        let record = "\(getpid()) \(Int(Date().timeIntervalSince1970)) \(Self.commandWords())\n"
        _ = ftruncate(fd, 0)
        _ = record.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// `pid since words…` as the holder wrote it, or nil.
    static func holder(_ fd: Int32) -> (pid: Int32, since: Date, command: String)? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let parts = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let pid = Int32(parts[0]), let t = Double(parts[1]) else { return nil }
        return (pid, Date(timeIntervalSince1970: t), parts.count > 2 ? String(parts[2]) : "hop")
    }

    /// "`hop deploy` (pid 123) since 12 s ago".
    static func describe(_ h: (pid: Int32, since: Date, command: String), now: Date = Date()) -> String {
        "`\(h.command)` (pid \(h.pid)) has held it for \(max(0, Int(now.timeIntervalSince(h.since)))) s"
    }

    /// The command's words, never its values: `hop config set blog` of `hop config set blog KEY=secret`
    /// (an error shown to another user must not quote a secret), `hop server` for the API.
    static func commandWords(_ args: [String] = CommandLine.arguments) -> String {
        guard args.count > 1 else { return "hop" }
        if args[1] == "server" { return "a request to hop server" }
        let words = args.dropFirst().prefix { !$0.hasPrefix("-") && !$0.contains("=") && !$0.contains("/") }.prefix(3)
        return (["hop"] + words).joined(separator: " ")
    }
    deinit { flock(fd, LOCK_UN); close(fd) }
}

/// A point of an activation an interface shows the user.
public enum ActivationStep: Sendable, Equatable {
    /// The generation serves (the switch is done); the watch window may follow.
    case serving(Int)
    /// Seconds left of the watch window.
    case watching(remaining: Int, total: Int)
}

/// Activates generations: installs and starts units, gates on health, swaps the socket and
/// `current` symlinks with rename(2), watches, retires the old generation, and records each step.
/// The previous generation keeps serving until the new one has passed its health gate, and keeps
/// running until the watch window is over, so a bad generation is undone by one rename.
public struct Activator {
    public let home: HopHome
    public let host: ServiceHost
    public let db: HopDatabase
    public let nginx: NginxFront
    /// What the waits (health gate, watch window, drain) measure and sleep on.
    public let clock: any WallClock
    /// How the health gate and the watch window ask the instances.
    public let prober: any HealthProber
    public var log: (String) -> Void
    /// Called once the target serves (after the switch) and once a second of the watch window, so an
    /// interface can say where the app answers at once and count the window down.
    public var step: (ActivationStep) -> Void = { _ in }
    /// The nginx worker carrying the request that runs this activation (hop server behind hop's
    /// nginx): it cannot finish before the activation does, so it is not waited for.
    public var spareWorker: String?
    /// Seconds to let in-flight requests finish on the old generation before stopping it.
    public var drain: Double = 0.5
    /// When set, an activation with an old generation returns once the target serves: the journal
    /// records the watch deadline and this starts the process that watches and retires in the
    /// background (`settle`), returning its PID. nil: the activation watches and retires inline.
    public var handOff: ((Journal) throws -> Int32?)?
    /// Who runs the activation, recorded in the journal for the settler's audit entry.
    public var actor: String?

    public init(home: HopHome, host: ServiceHost, db: HopDatabase, clock: any WallClock = SystemClock(),
                prober: any HealthProber = NetworkProber(), log: @escaping (String) -> Void = { _ in }) {
        self.home = home; self.host = host; self.db = db
        self.clock = clock
        self.prober = prober
        self.nginx = NginxFront(home: home, host: host, clock: clock)
        self.log = log
    }

    /// systemd on the service host.
    var services: any ServiceManager { host.services }

    func appDir(_ app: String) -> String { home.apps + "/" + app }
    func journalPath(_ app: String) -> String { appDir(app) + "/journal.json" }
    /// Present while an operator has the app stopped (`hop stop`): kept in HOP_HOME, so the app
    /// stays stopped across `hop host down`/`up`, and its site answers 503 saying so.
    func stoppedMarker(_ app: String) -> String { appDir(app) + "/stopped" }
    public func isStopped(_ app: String) -> Bool { FileManager.default.fileExists(atPath: stoppedMarker(app)) }

    /// Marks the app stopped (or not) and puts its site in that state (nginx reloaded if it changed).
    public func setStopped(_ g: GenerationRecord, _ stopped: Bool) throws {
        if stopped {
            try FileManager.default.createDirectory(atPath: appDir(g.app), withIntermediateDirectories: true)
            try writeFileAtomically(stoppedMarker(g.app), "stopped by `hop stop`\n", mode: 0o600)
        } else {
            unlink(stoppedMarker(g.app))
        }
        try reinstallSite(g)
    }

    /// After `hop host up`: a stopped app gets its units and its 503 site back, and nothing starts.
    public func restoreStopped(_ g: GenerationRecord) throws {
        let m = try GenerationManifest.read(storePath: g.storePath)
        try nginx.ensureStarted()
        try installUnits(g)
        _ = try point(g.app, to: g, manifest: m)
        try setProfile(g.app, g.number)
    }
    public func profileLink(_ app: String, _ n: Int) -> String { appDir(app) + "/profile-\(n)-link" }
    public func profile(_ app: String) -> String { appDir(app) + "/profile" }

    // MARK: Journal

    public func journal(_ app: String) -> Journal? {
        guard let data = FileManager.default.contents(atPath: journalPath(app)) else { return nil }
        return try? JSONDecoder().decode(Journal.self, from: data)
    }

    func writeJournal(_ j: Journal) throws {
        let data = try JSONEncoder.stable.encode(j)
        try writeFileAtomically(journalPath(j.app), String(decoding: data, as: UTF8.self), mode: 0o600)
    }

    func clearJournal(_ app: String) { unlink(journalPath(app)) }

    /// A generation a taken-over activation left running for the next one to retire.
    func retirePendingPath(_ app: String) -> String { appDir(app) + "/retire-pending" }
    func retirePending(_ app: String) -> Int? {
        (try? String(contentsOfFile: retirePendingPath(app), encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    // MARK: Units

    /// Copies the generation's unit files (and drop-ins) into the host's unit directory; systemd
    /// reloads only when a file changed (a rollback to a generation whose units are still
    /// installed skips it).
    func installUnits(_ g: GenerationRecord) throws {
        var changed = false
        let fm = FileManager.default
        let src = g.storePath + "/units"
        let dst = host.path(host.unitDirectory)
        guard let names = try? fm.contentsOfDirectory(atPath: src) else { return }
        for name in names.sorted() {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: src + "/" + name, isDirectory: &isDir)
            if isDir.boolValue {
                for inner in try fm.contentsOfDirectory(atPath: src + "/" + name) {
                    changed = try writeFileIfChanged(dst + "/" + name + "/" + inner, try String(contentsOfFile: src + "/" + name + "/" + inner, encoding: .utf8)) || changed
                }
            } else {
                changed = try writeFileIfChanged(dst + "/" + name, try String(contentsOfFile: src + "/" + name, encoding: .utf8)) || changed
            }
        }
        if changed { try services.daemonReloadChecked() }
    }

    /// The unit files of generation `n` of `app` present in the unit directory.
    func installedUnitFiles(app: String, number n: Int) -> [String] {
        let dir = host.path(host.unitDirectory)
        let prefix = UnitNames.prefix(app: app, generation: n)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Stops every unit of generation `n` and removes its unit files.
    public func stopAndRemove(app: String, number n: Int) throws {
        try stop(app: app, number: n)
        let dir = host.path(host.unitDirectory)
        let files = installedUnitFiles(app: app, number: n)
        for f in files { try? FileManager.default.removeItem(atPath: dir + "/" + f) }
        if !files.isEmpty { _ = try services.daemonReload() }
    }

    /// Removes the app's network namespace and the unit that creates it (after its generations are
    /// stopped and removed: `hop destroy`). Processes still inside would keep it alive, unreachable.
    public func removeNetwork(app: String) throws {
        let unit = UnitNames.networkUnit(app: app)
        _ = try services.stop([unit])
        let file = host.path(host.unitDirectory) + "/" + unit
        let slice = host.path(host.unitDirectory) + "/" + UnitNames.slice(app: app)
        if FileManager.default.fileExists(atPath: file) || FileManager.default.fileExists(atPath: slice) {
            try? FileManager.default.removeItem(atPath: file)
            try? FileManager.default.removeItem(atPath: slice)
            _ = try services.daemonReload()
        }
        if FileManager.default.fileExists(atPath: host.path(UnitNames.networkNamespacePath(app: app))) {
            let r = try host.run("ip", ["netns", "delete", UnitNames.networkNamespace(app: app)])
            if !r.succeeded { log("could not delete the network namespace of \(app): \(r.stderrTail(2))") }
        }
    }

    /// Stops every unit of generation `n` (its unit files stay, so starting it again is quick).
    public func stop(app: String, number n: Int) throws {
        let pattern = UnitNames.prefix(app: app, generation: n) + "*"
        _ = try services.stop([pattern])
        _ = try services.resetFailed([pattern])
    }

    /// Removes the unit files of every generation of `app` except `keep` (stopped ones only).
    public func pruneUnitFiles(app: String, keep: Set<Int>) throws {
        let dir = host.path(host.unitDirectory)
        var removed = false
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            guard let n = UnitNames.generation(ofUnit: f, app: app), !keep.contains(n) else { continue }
            try stop(app: app, number: n)
            try? FileManager.default.removeItem(atPath: dir + "/" + f)
            removed = true
        }
        if removed { _ = try services.daemonReload() }
    }

    /// Starts the generation's socket, release and process instances.
    func start(_ g: GenerationRecord, _ m: GenerationManifest) throws {
        // A `[limits] disk` image must be mounted (and bound) in the service host before a unit
        // of the app starts, or the app would write its state beside the image, unbounded.
        try AppDisks(home: home, host: host).mount(g.app)
        let gs = m.units
        if !gs.sockets.isEmpty { try services.startChecked(gs.sockets, what: "starting the sockets of \(g.app) generation \(g.number)") }
        for release in gs.releases {
            log("running release step \(release)")
            let r = try services.start([release])
            if !r.succeeded {
                throw HopError(.rolledBack, "the release step of \(g.app) generation \(g.number) failed",
                               hint: "see `hop logs \(g.app) --process release`", detail: r.stderrTail(5))
            }
        }
        if !gs.instances.isEmpty {
            let r = try services.start(gs.instances)
            if !r.succeeded {
                throw HopError(.rolledBack, "systemd could not start \(g.app) generation \(g.number)", detail: r.stderrTail(6))
            }
        }
    }

    // MARK: Health

    /// The expected answer: `[healthcheck]` when given (status 200–399 and its `contains`), else any
    /// answer below 500 on `/`.
    func healthProblem(_ r: ProbeResponse, _ hc: HealthCheck?) -> String? {
        if let hc {
            if let expected = hc.status {
                guard r.status == expected else { return "answered HTTP \(r.status) on \(hc.path) (expected \(expected))" }
            } else {
                guard (200..<400).contains(r.status) else { return "answered HTTP \(r.status) on \(hc.path) (expected 200–399)" }
            }
            if let c = hc.contains, !r.body.contains(c) {
                return "answered HTTP \(r.status) on \(hc.path) without the expected text `\(c)`"
            }
            return nil
        }
        return r.status < 500 ? nil : "answered HTTP \(r.status) on / (expected below 500)"
    }

    func probeTargets(_ m: GenerationManifest) -> [ProbeTarget] {
        if let socket = m.socket {
            let dir = (socket as NSString).deletingLastPathComponent
            return [.unix(directory: host.path(dir), name: (socket as NSString).lastPathComponent)]
        }
        if let proxies = m.proxySockets, !proxies.isEmpty {
            return proxies.map { .unix(directory: host.path(($0 as NSString).deletingLastPathComponent), name: ($0 as NSString).lastPathComponent) }
        }
        return m.ports.map { .tcp(port: $0) }
    }

    /// One health request: HTTP, or FastCGI for a PHP app (PHP-FPM speaks nothing else).
    func probe(_ t: ProbeTarget, _ m: GenerationManifest, path: String, host: String, timeout: Double) throws -> ProbeResponse {
        try prober.get(t, fastCGIRoot: m.fastCGIRoot, path: path, host: host, timeout: timeout)
    }

    /// Why the generation's instances are unhealthy right now (restarted, failed, inactive), or nil.
    public func unitProblem(_ g: GenerationRecord, _ m: GenerationManifest) throws -> String? {
        let names = m.units
        let props = try services.show(names.instances, properties: ["Id", "ActiveState", "SubState", "NRestarts", "Result", "ExecMainStatus"])
        for p in props {
            let id = p["Id"] ?? "?"
            if let n = Int(p["NRestarts"] ?? "0"), n > 0 {
                let status = p["ExecMainStatus"].flatMap { $0 == "0" ? nil : " (status \($0))" } ?? ""
                return "\(id) exited\(status) and was restarted \(n) time\(n == 1 ? "" : "s")"
            }
            let state = p["ActiveState"] ?? ""
            if state == "failed" || state == "inactive" || (state == "activating" && p["SubState"] == "auto-restart") {
                return "\(id) is \(state) (\(p["Result"] ?? "?"), exit status \(p["ExecMainStatus"] ?? "?"))"
            }
        }
        return nil
    }

    /// Waits until every instance answers its health check, or throws `.rolledBack` with the reason.
    public func healthGate(_ g: GenerationRecord, _ m: GenerationManifest, previous: Bool = true) throws {
        do { try gate(g, m, previous: previous) } catch var e as HopError {
            // The app's own words (a traceback, "address already in use") are in its journal.
            if e.detail == nil || e.detail?.isEmpty == true { e.detail = journalTail(g) }
            throw e
        }
    }

    /// The last lines this generation's units wrote (what the app said as it failed), or nil.
    func journalTail(_ g: GenerationRecord) -> String? {
        guard let r = try? services.journal(UnitNames.prefix(app: g.app, generation: g.number) + "*", lines: 300),
              r.succeeded else { return nil }
        let text = JournalDigest.summary(r.stdoutText.split(separator: "\n").map(String.init).filter { $0 != "-- No entries --" })
        return text.isEmpty ? nil : text
    }

    func gate(_ g: GenerationRecord, _ m: GenerationManifest, previous: Bool) throws {
        let stillServes = previous ? "; the previous generation still serves" : ""
        let hc = m.healthcheck
        let targets = probeTargets(m)
        let interval = max(0.05, hc?.interval ?? 1)
        let timeout = max(0.5, hc?.timeout ?? 5)
        let retries = max(1, hc?.retries ?? 10)
        let path = hc?.path ?? "/"
        let hostName = "\(g.app).localhost"
        // One window: the app has `start-timeout` (default 60 s) to start listening, and once it
        // answers, `retries` answers `interval` apart, each within `timeout`, to answer right.
        let startWindow = max(0.5, hc?.startTimeout ?? HealthCheck.defaultStartTimeout)
        let deadline = clock.now.addingTimeInterval(max(startWindow, Double(retries) * interval + timeout))
        var everAnswered = false
        var badAnswers = 0
        var last = "no answer yet"
        // A short settle for processes that serve nothing (workers): they must stay up briefly.
        if targets.isEmpty { clock.sleep(seconds: 0.3) }
        while true {
            if let problem = try unitProblem(g, m) {
                throw HopError(.rolledBack, "generation \(g.number) of \(g.app) failed its health gate: \(problem)",
                               hint: "the app's last lines are below; more with `hop logs \(g.app)`" + stillServes)
            }
            var pending: String?
            for t in targets {
                do {
                    let r = try probe(t, m, path: path, host: hostName, timeout: min(timeout, max(0.2, deadline.timeIntervalSince(clock.now))))
                    everAnswered = true
                    if let problem = healthProblem(r, hc) { pending = problem; badAnswers += 1; break }
                } catch let e as HopError {
                    pending = e.message
                    break
                }
            }
            guard let problem = pending else { return }
            last = problem
            if badAnswers >= retries || clock.now > deadline {
                if !everAnswered {
                    throw HopError(.rolledBack, "generation \(g.number) of \(g.app) failed its health gate: the app never listened within \(formatSeconds(startWindow)) (\(last))",
                                   hint: "make the app listen on $PORT; if it needs longer to start, raise `[healthcheck] start-timeout` (or Hop3's `[run] start-timeout`)" + stillServes)
                }
                throw HopError(.rolledBack, "generation \(g.number) of \(g.app) failed its health gate: \(last)",
                               hint: "fix the app or its [healthcheck]" + stillServes)
            }
            // Not listening yet: poll quickly; a wrong answer: wait the configured interval.
            clock.sleep(seconds: problem.contains("answered") ? interval : 0.025)
        }
    }

    // MARK: Pointers

    /// Points `/run/hop/<app>/current` and `web.sock` at generation `g` (rename(2), atomic), then
    /// installs its nginx site (a reload only when the text changed: domains, TLS, instance count).
    @discardableResult
    func point(_ app: String, to g: GenerationRecord?, manifest m: GenerationManifest?) throws -> Set<String> {
        let paths = AppRuntimePaths(app: app)
        let dir = host.path(paths.directory)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        guard let g, let m else {
            unlink(host.path(paths.current)); unlink(host.path(paths.socketLink))
            unlinkProxyLinks(app, from: 1)
            try nginx.remove(app: app)
            return []
        }
        try swapSymlink(at: host.path(paths.current), to: g.storePath)
        if m.socket != nil {
            try swapSymlink(at: host.path(paths.socketLink), to: "g\(g.number)/web.sock")
        } else {
            unlink(host.path(paths.socketLink))
        }
        let proxies = m.proxySockets ?? []
        for (i, socket) in proxies.enumerated() {
            try swapSymlink(at: host.path(paths.proxyLink(instance: i + 1)), to: "g\(g.number)/" + (socket as NSString).lastPathComponent)
        }
        var site = NginxSite.withPorts(try String(contentsOfFile: g.storePath + "/nginx-site.conf", encoding: .utf8),
                                       http: nginx.httpPort, https: nginx.httpsPort)
        if isStopped(app) { site = NginxSite.stopped(site, app: app) }
        let oldWorkers = try nginx.install(site: site, app: app)
        // Links past this generation's instance count are unused once nginx has the new site.
        unlinkProxyLinks(app, from: proxies.count + 1)
        guard let oldWorkers else { return [] }
        log("nginx reloaded (site of \(app) changed)")
        return oldWorkers
    }

    /// Removes the proxy socket links `web-<i>.sock` of `app` from instance `first` on.
    func unlinkProxyLinks(_ app: String, from first: Int) {
        let paths = AppRuntimePaths(app: app)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: host.path(paths.directory))) ?? []
        for name in names where name.hasPrefix("web-") && name.hasSuffix(".sock") {
            if let i = Int(name.dropFirst(4).dropLast(5)), i >= first { unlink(host.path(paths.directory + "/" + name)) }
        }
    }

    func swapSymlink(at path: String, to target: String) throws {
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == target { return }
        let tmp = path + ".new-\(getpid())"
        unlink(tmp)
        guard symlink(target, tmp) == 0, rename(tmp, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(tmp)
            throw HopError(.environment, "could not point \(path) at \(target): \(message)")
        }
    }

    /// Points the app's Nix profile at generation `n` (`profile -> profile-N-link`), atomically.
    func setProfile(_ app: String, _ n: Int?) throws {
        guard let n else { unlink(profile(app)); return }
        try swapSymlink(at: profile(app), to: "profile-\(n)-link")
    }

    // MARK: Switch

    /// Makes `target` the serving generation of its app, with `from` (the serving one, if any)
    /// serving until `target` is healthy and staying ready until the watch window is over.
    /// Throws `.rolledBack` (the old generation serves again) when the target fails.
    public func activate(_ target: GenerationRecord, from: GenerationRecord?, op: String, watch: Double) throws {
        let app = target.app
        let m = try GenerationManifest.read(storePath: target.storePath)
        var j = Journal(op: op, app: app, from: from?.number, to: target.number, phase: .starting)
        try writeJournal(j)
        faultPoint("\(op):journal")
        try db.setGenerationStatus(app: app, number: target.number, .pending)
        try nginx.ensureStarted()
        do {
            try installUnits(target)
            faultPoint("\(op):installed")
            try start(target, m)
            faultPoint("\(op):started")
            log("health gate: \(probeTargets(m).map(\.description).joined(separator: ", ").ifEmpty("processes stay up"))")
            try healthGate(target, m, previous: from != nil)
        } catch {
            let reason = (error as? HopError)?.message ?? "\(error)"
            try? undo(target, reason: reason)
            // A generation an earlier activation left running for this one to retire (`takeOver`)
            // is stopped now, and the serving one's timers run again.
            if let pending = retirePending(app) {
                if pending != from?.number { try? stop(app: app, number: pending) }
                if let from { try? startTimers(from) }
                unlink(retirePendingPath(app))
            }
            throw error
        }
        j.phase = .switching
        try writeJournal(j)
        log("health gate passed; switching to generation \(target.number)")
        faultPoint("\(op):gated")
        // A deploy, rollback or restart of a stopped app makes it serve again.
        unlink(stoppedMarker(app))
        let oldWorkers = try point(app, to: target, manifest: m)
        let switchedAt = clock.now
        try setProfile(app, target.number)
        faultPoint("\(op):switched")
        step(.serving(target.number))
        if let handOff, from != nil {
            // The target serves: it is recorded as active now, and the rest — the watch window, the
            // old generation's drain and stop — happens in the background, journalled, so the
            // command returns. A verdict against the target still reverts it (`settle`).
            try db.setGenerationStatus(app: app, number: target.number, .active)
            j.phase = watch > 0 ? .watching : .retiring
            j.watchUntil = watch > 0 ? clock.now.addingTimeInterval(watch) : nil
            j.actor = actor
            j.oldWorkers = oldWorkers.isEmpty ? nil : oldWorkers.sorted()
            try writeJournal(j)
            faultPoint("\(op):handed")
            do {
                if let pid = try handOff(j) { j.settler = pid; try writeJournal(j) }
            } catch {
                log("could not start the background settler (\(error)); the next operation on \(app) finishes the switch")
            }
            // A proxied app's old generation may still get requests over nginx's pooled
            // connections until none opened before the switch can be taken (twice their lifetime
            // and idle timeout: NginxSite): the switch is done, and the command returns, then.
            if m.proxySockets?.isEmpty == false {
                clock.sleep(seconds: max(0, switchedAt.addingTimeInterval(2 * NginxSite.pooledConnectionLifetime).timeIntervalSince(clock.now)))
            }
            return
        }
        if watch > 0, from != nil {
            j.phase = .watching
            try writeJournal(j)
            log("watching generation \(target.number) for \(watch) s")
            if let problem = try watchProblem(target, m, seconds: watch) {
                try revert(target, to: from!, reason: "failed in its watch window: \(problem)")
                throw HopError(.rolledBack, "generation \(target.number) of \(app) \(problem); rolled back to generation \(from!.number)",
                               hint: "see `hop logs \(app)`; generation \(from!.number) serves")
            }
        }
        j.phase = .retiring
        try writeJournal(j)
        try finish(target, m, from: from?.number, op: op, oldWorkers: oldWorkers)
    }

    /// After the switch: the target is recorded as active, and the old generation is drained and stopped.
    /// `oldWorkers` are nginx workers from before a reload (TCP switches): they may still proxy
    /// kept-alive connections to the old generation, so it is stopped only once they are gone.
    func finish(_ target: GenerationRecord, _ m: GenerationManifest, from: Int?, op: String, oldWorkers: Set<String> = [],
                drained: Bool = false) throws {
        try db.setGenerationStatus(app: target.app, number: target.number, .active)
        faultPoint("\(op):recorded")
        if let from, from != target.number {
            if !drained { drainOld(m, oldWorkers: oldWorkers) }
            // The previous generation is stopped but its unit files stay installed, so rolling
            // back to it needs no systemd reload; older ones are removed.
            try stop(app: target.app, number: from)
            try pruneUnitFiles(app: target.app, keep: [target.number, from])
            // (A generation `retire-pending` names was stopped with the other older ones.)
            unlink(retirePendingPath(target.app))
            faultPoint("\(op):retired")
        }
        try startTimers(target)
        clearJournal(target.app)
    }

    /// Waits for what may still be in flight on the old generation once the target serves.
    /// nginx closes a TCP app's pooled proxy connections within a second (`keepalive_time`): that
    /// is waited out, so no request is in flight on the old generation's proxy when it stops.
    func drainOld(_ m: GenerationManifest, oldWorkers: Set<String>) {
        let wait = m.proxySockets?.isEmpty == false ? max(drain, 1.5) : drain
        if wait > 0 { clock.sleep(seconds: wait) }
        if !oldWorkers.isEmpty {
            log("waiting for nginx's old workers to finish their connections")
            nginx.waitForExit(oldWorkers.subtracting(spareWorker.map { [$0] } ?? []))
        }
    }

    /// Cron timers start only when their generation serves alone, so a scheduled job never runs
    /// twice during a switch.
    func startTimers(_ g: GenerationRecord) throws {
        guard let m = try? GenerationManifest.read(storePath: g.storePath) else { return }
        let timers = m.units.timers
        if !timers.isEmpty { try services.startChecked(timers, what: "starting the cron timers of \(g.app)") }
    }

    /// Before the switch: stop and remove the target, mark it failed. The old generation was never touched.
    func undo(_ target: GenerationRecord, reason: String) throws {
        try stopAndRemove(app: target.app, number: target.number)
        try db.setGenerationStatus(app: target.app, number: target.number, .failed, reason: reason)
        clearJournal(target.app)
    }

    /// After the switch: point back at `from` (still running), then stop the target.
    func revert(_ target: GenerationRecord, to from: GenerationRecord, reason: String) throws {
        let fm = try GenerationManifest.read(storePath: from.storePath)
        if try unitProblem(from, fm) != nil {
            // The old generation is not running (stopped by hand, say): start it and gate it first.
            try installUnits(from)
            try start(from, fm)
            try healthGate(from, fm)
        }
        try point(target.app, to: from, manifest: fm)
        try setProfile(target.app, from.number)
        try db.setGenerationStatus(app: target.app, number: from.number, .active)
        try stopAndRemove(app: target.app, number: target.number)
        try startTimers(from)
        try db.setGenerationStatus(app: target.app, number: target.number, .failed, reason: reason)
        clearJournal(target.app)
    }

    func watchProblem(_ g: GenerationRecord, _ m: GenerationManifest, seconds: Double, abandon: () -> Bool = { false }) throws -> String? {
        let end = clock.now.addingTimeInterval(seconds)
        var lastProbe = Date.distantPast
        var lastTick = -1
        while clock.now < end {
            if abandon() { return nil }
            let remaining = Int(end.timeIntervalSince(clock.now).rounded(.up))
            if remaining != lastTick { lastTick = remaining; step(.watching(remaining: remaining, total: Int(seconds.rounded(.up)))) }
            if let p = try unitProblem(g, m) { return p }
            if clock.now.timeIntervalSince(lastProbe) >= 1 {
                lastProbe = clock.now
                for t in probeTargets(m) {
                    do {
                        let r = try probe(t, m, path: m.healthcheck?.path ?? "/", host: "\(g.app).localhost", timeout: 5)
                        if let p = healthProblem(r, m.healthcheck) { return p }
                    } catch let e as HopError { return e.message }
                }
            }
            clock.sleep(seconds: 0.2)
        }
        return nil
    }

    // MARK: Settling in the background

    /// Whether `pid` is a live `hop settle` process.
    public static func isSettler(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM,
              let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "settle" }
    }

    /// The background half of a handed-off activation of generation `n` (see `handOff`): watches the
    /// target without holding the app's lock until the journal's deadline, then, under the lock
    /// (`lock` takes it), reverts it if it failed or retires the old generation. Whenever another
    /// operation has taken the app over (the journal no longer names this activation), it stops.
    public func settle(app: String, generation n: Int, lock: () throws -> AnyObject) throws -> SettleVerdict {
        func ours() -> Journal? {
            guard let j = journal(app), j.to == n, j.phase == .watching || j.phase == .retiring else { return nil }
            return j
        }
        guard var j = ours(), let target = try db.generation(app: app, number: n) else { return .superseded }
        let m = try GenerationManifest.read(storePath: target.storePath)
        var problem: String?
        if j.phase == .watching, let until = j.watchUntil {
            let seconds = until.timeIntervalSince(clock.now)
            if seconds > 0 {
                log("watching generation \(n) for \(formatSeconds(seconds))")
                problem = try watchProblem(target, m, seconds: seconds, abandon: { ours() == nil })
            }
        }
        // The drain waits without the lock too: an operation that takes the app over meanwhile
        // (a rollback to the old generation) finds it still running.
        if problem == nil, j.from != nil, ours() != nil { drainOld(m, oldWorkers: Set(j.oldWorkers ?? [])) }
        let held = try lock()
        defer { withExtendedLifetime(held) {} }
        guard let current = ours() else { return .superseded }
        j = current
        let from = try j.from.flatMap { try db.generation(app: app, number: $0) }
        if let problem, let from {
            try revert(target, to: from, reason: "failed in its watch window: \(problem)")
            return .rolledBack("generation \(n) of \(app) \(problem); rolled back to generation \(from.number)")
        }
        j.phase = .retiring
        try writeJournal(j)
        try finish(target, m, from: from?.number, op: j.op, drained: true)
        return .passed
    }

    // MARK: Recovery

    /// Brings a recorded active generation back after the service host lost its runtime state
    /// (a reboot, `hop host down`): units, instances, health gate, then the symlinks and the site.
    public func restore(_ g: GenerationRecord) throws {
        let m = try GenerationManifest.read(storePath: g.storePath)
        try nginx.ensureStarted()
        try installUnits(g)
        try start(g, m)
        try healthGate(g, m)
        try point(g.app, to: g, manifest: m)
        try setProfile(g.app, g.number)
        try startTimers(g)
    }

    /// Puts the serving generation's site back (on the front's ports as they are now); nginx is
    /// reloaded only if the text changed.
    public func reinstallSite(_ g: GenerationRecord) throws {
        _ = try point(g.app, to: g, manifest: try GenerationManifest.read(storePath: g.storePath))
    }

    /// Whether the generation serves right now: its instances run and `current` points at it.
    public func isServing(_ g: GenerationRecord) -> Bool {
        guard (try? FileManager.default.destinationOfSymbolicLink(atPath: host.path(AppRuntimePaths(app: g.app).current))) == g.storePath,
              let m = try? GenerationManifest.read(storePath: g.storePath) else { return false }
        return (try? unitProblem(g, m)) == .some(nil)
    }

    /// Finishes or undoes an activation a killed hop left behind (call with the app lock held).
    /// Before the switch the target is undone; after it the target stays if it is healthy,
    /// otherwise the old generation (still running) takes over again.
    @discardableResult
    public func recover(_ app: String, mode: RecoveryMode = .complete) throws -> String? {
        guard let j = journal(app) else { return nil }
        guard let target = try db.generation(app: app, number: j.to) else { clearJournal(app); return nil }
        let from = try j.from.flatMap { try db.generation(app: app, number: $0) }
        let settling = j.phase == .watching || j.phase == .retiring
        if settling, mode == .read, let pid = j.settler, Self.isSettler(pid) { return nil }
        if settling, mode == .takeOver {
            let m = try GenerationManifest.read(storePath: target.storePath)
            if j.phase == .watching, let from {
                var problem = try unitProblem(target, m)
                if problem == nil {
                    do { try healthGate(target, m) } catch let e as HopError { problem = e.message }
                }
                if let problem {
                    try revert(target, to: from, reason: "failed in its watch window: \(problem)")
                    return "generation \(j.to) of \(app) \(problem); rolled back to generation \(from.number)"
                }
            }
            // The target stays; the old generation keeps running until the activation that follows
            // retires it (its finish stops every generation but its target and the one it replaced;
            // a failed one stops it: `retire-pending` names it). The target's timers start then too.
            if let from { try writeFileAtomically(retirePendingPath(app), "\(from.number)\n", mode: 0o600) }
            try db.setGenerationStatus(app: app, number: target.number, .active)
            try setProfile(app, target.number)
            clearJournal(app)
            return nil
        }
        switch j.phase {
        case .starting:
            try undo(target, reason: "interrupted before its switch")
            // A rollback's target served before; being interrupted says nothing against it.
            if j.op == "rollback" { try db.setGenerationStatus(app: app, number: target.number, .retired) }
            try setProfile(app, from?.number)
            if let from { try point(app, to: from, manifest: try GenerationManifest.read(storePath: from.storePath)) }
            return "an interrupted \(j.op) to generation \(j.to) was undone; generation \(j.from.map(String.init) ?? "none") serves"
        case .switching, .watching:
            let m = try GenerationManifest.read(storePath: target.storePath)
            var problem = try unitProblem(target, m)
            if problem == nil {
                do { try healthGate(target, m) } catch let e as HopError { problem = e.message }
            }
            if problem == nil || from == nil {
                return try complete(j, target, m, from: from)
            }
            try revert(target, to: from!, reason: "interrupted, then unhealthy: \(problem!)")
            return "an interrupted \(j.op) to generation \(j.to) was undone (\(problem!)); generation \(from!.number) serves"
        case .retiring:
            return try complete(j, target, try GenerationManifest.read(storePath: target.storePath), from: from)
        }
    }

    /// Redoes the switch to the journal's target (idempotent) and retires the old generation.
    private func complete(_ j: Journal, _ target: GenerationRecord, _ m: GenerationManifest, from: GenerationRecord?) throws -> String {
        let oldWorkers = try point(target.app, to: target, manifest: m)
        try setProfile(target.app, target.number)
        try finish(target, m, from: from?.number, op: j.op, oldWorkers: oldWorkers)
        return "an interrupted \(j.op) to generation \(j.to) was completed"
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}

/// `60 s`, `1.5 s`: a window as the user wrote it.
func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
}

/// What a failed start's journal says, short: the first error the app raised (with the traceback
/// leading to it), then the last lines. A server that wraps the app (gunicorn) logs its own
/// traceback last, which hides the app's `ModuleNotFoundError` above it.
public enum JournalDigest {
    public static func summary(_ lines: [String], context: Int = 12, tail: Int = 6) -> String {
        func isErrorLine(_ l: String) -> Bool {
            let t = l.trimmingCharacters(in: .whitespaces)
            guard let colon = t.firstIndex(of: ":") else { return false }
            let name = t[..<colon]
            guard !name.isEmpty, !name.contains(" "), name.first!.isLetter else { return false }
            return (name.hasSuffix("Error") || name.hasSuffix("Exception") || name.hasSuffix("Exit")) && !name.hasPrefix("gunicorn.")
        }
        var out: [String] = []
        if let first = lines.firstIndex(where: isErrorLine) {
            let start = lines[..<first].lastIndex { $0.contains("Traceback (most recent call last)") }.map { max($0, first - context) } ?? max(0, first - 2)
            out = Array(lines[start...first])
            if lines.count - 1 - first > tail { out.append("…") }
        }
        let lastStart = max(out.isEmpty ? 0 : (lines.firstIndex(where: isErrorLine)! + 1), lines.count - tail)
        out += lines[lastStart...]
        return out.joined(separator: "\n")
    }
}
