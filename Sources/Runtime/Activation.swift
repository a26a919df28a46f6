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

}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}

/// `60 s`, `1.5 s`: a window as the user wrote it.
public func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
}
