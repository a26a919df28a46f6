import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// The runtime side of hop for one app: turns a recorded build plus the app's scale and config
/// into a generation (a store path in the app's profile) and activates it through `Activator`.
/// Every method runs with the app's lock held and first finishes or undoes whatever a killed hop
/// left behind.
struct AppRuntime {
    let ctx: HopContext
    let home: HopHome
    let db: HopDatabase
    let host: ServiceHost
    let runner: any ProcessRunner
    var activator: Activator

    init(_ ctx: HopContext, db: HopDatabase, host: ServiceHost? = nil) throws {
        self.ctx = ctx
        self.home = ctx.home
        self.db = db
        self.runner = ctx.runner
        self.host = try host ?? ctx.serviceHost()
        let progress = ctx.progress
        self.activator = Activator(home: home, host: self.host, db: db, log: { progress(ProgressEvent(phase: "activate", message: $0)) })
        activator.spareWorker = ctx.frontWorker
        activator.actor = ctx.principal.name
        if ctx.settleInBackground, let settler = Settler.command(home: ctx.home) {
            activator.handOff = { journal in try settler.start(app: journal.app, generation: journal.to) }
        }
        activator.step = { step in
            switch step {
            case .serving(let n): progress(ProgressEvent(phase: "serving", message: "generation \(n) serves"))
            case .watching(let left, let total):
                progress(ProgressEvent(phase: "watch", message: "watching: \(left) s left", done: total - left, total: total))
            }
        }
    }

    /// Takes the app's lock and recovers an interrupted activation; the lock lives as long as the result.
    /// `mode` says what to do with an activation still settling in the background (`RecoveryMode`).
    func lock(_ app: String, mode: RecoveryMode = .complete) throws -> AppLock {
        let lock = try AppLock(home: home, app: app)
        if let message = try activator.recover(app, mode: mode) { ctx.warn(message) }
        if let message = try recoverRestore(app) { ctx.warn(message) }
        return lock
    }

    /// The apps' `[limits] disk` images (Runtime/AppDisk.swift).
    var disks: AppDisks {
        var d = AppDisks(home: home, host: host, runner: runner)
        let progress = ctx.progress
        d.warn = { progress(ProgressEvent(phase: "warning", message: $0)) }
        return d
    }

    func envFile(_ app: String, _ n: Int) -> String { home.apps + "/\(app)/env/g\(n).env" }

    /// The config as an EnvironmentFile: one `KEY="value"` per line, with the characters systemd
    /// treats specially inside double quotes (`"`, `\`, `` ` ``, `$`) escaped. Root-only (0600).
    static func environmentFileText(_ config: [(key: String, value: String)]) -> String {
        var out = "# hop: config values (generated; do not edit — use `hop config set`)\n"
        for (k, v) in config {
            var escaped = ""
            for c in v { if "\"\\`$".contains(c) { escaped.append("\\") }; escaped.append(c) }
            out += "\(k)=\"\(escaped)\"\n"
        }
        return out
    }

    /// A keyed digest of the values (see `SecretBox.digest`): a plain hash in hop.db would let
    /// anyone holding a copy test guesses of a secret.
    static func configHash(_ config: [(key: String, value: String)], box: SecretBox) -> String {
        box.digest(Data(environmentFileText(config).utf8))
    }

    /// Builds and activates a new generation of `build` unless the serving one already runs the same
    /// build, scale and config (then nothing changes: a no-op). Returns the generation serving afterwards.
    func rollout(build: BuildRecord, scale requested: [String: Int]? = nil, watch: Double, force: Bool = false, op: String = "deploy")
        throws -> (generation: GenerationRecord, noop: Bool) {
        let app = build.app
        let spec = try build.spec()
        let current = try db.activeGeneration(app: app)
        var scale: [String: Int] = [:]
        for p in spec.processes where p.kind != .static {
            scale[p.name] = p.kind.isLongRunning ? 1 : 0
            // The declared count ([run.workers] name = N, app.json formation) starts a process;
            // after that the serving generation's scale (what `hop scale` set) carries over.
            if let declared = spec.run.workers[p.name], p.kind.isLongRunning { scale[p.name] = declared }
            if let c = current?.scale[p.name] { scale[p.name] = c }
            if let r = requested?[p.name] { scale[p.name] = r }
        }
        if let requested {
            for name in requested.keys where scale[name] == nil {
                throw HopError.invalid("\(app) has no process `\(name)`", hint: "its processes: \(scale.keys.sorted().joined(separator: ", "))")
            }
        }
        let config = try Self.environment(db: db, app: app, spec: spec)
        let configHash = Self.configHash(config, box: try db.secrets())
        if !force, let current, current.buildID == build.id, current.scale == scale, current.configHash == configHash,
           (try? activator.unitProblem(current, GenerationManifest.read(storePath: current.storePath))) == .some(nil) {
            return (current, true)
        }
        guard let busybox = try db.seed(name: "busybox")?.storePath else {
            throw HopError(.environment, "the busybox seed is not imported", hint: "run `hop seed import`")
        }
        try claimStateDirectory(app)
        try disks.prepare(app, limit: spec.limits.disk.flatMap(DiskSize.bytes))
        let number = try nextNumber(app)
        let envPath = envFile(app, number)
        try FileManager.default.createDirectory(atPath: (envPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try writeFileAtomically(envPath, Self.environmentFileText(config), mode: 0o600)
        var plan = GenerationPlan(app: app, number: number, buildID: build.id, appPath: build.outPath, spec: spec, scale: scale,
                                  basePort: nil, environmentFile: envPath, listenPort: NginxFront(home: home, host: host).httpPort)
        plan.tls = try NginxFront(home: home, host: host).certificate(app: app, serverNames: plan.serverNames, runner: runner)
        // Ports are chosen and recorded (with the pending generation) under one host-wide lock.
        var portLock: AppLock?
        if case .tcp = plan.upstream {
            portLock = try AppLock.ports(home: home)
            plan.basePort = try allocatePorts(count: max(1, scale[plan.webProcess!.name] ?? 1))
        }
        let exprFile = home.apps + "/\(app)/generation.nix"
        try plan.expression(busybox: busybox).write(toFile: exprFile, atomically: true, encoding: .utf8)
        let nix = NixDriver(runner: runner)
        _ = try nix.buildExpression(exprFile, root: activator.profileLink(app, number))
        let storePath = try FileManager.default.destinationOfSymbolicLink(atPath: activator.profileLink(app, number))
        let record = GenerationRecord(app: app, number: number, buildID: build.id, storePath: storePath, appPath: build.outPath,
                                      scale: scale, configHash: configHash, ports: plan.ports, status: .pending, createdAt: Date())
        try db.putGeneration(record)
        withExtendedLifetime(portLock) {}
        try activator.activate(record, from: current, op: op, watch: watch)
        return (try db.generation(app: app, number: number) ?? record, false)
    }

    /// hop never adopts a state directory it did not make: before an app's first activation the
    /// directory must not exist (systemd would hand whatever is there to the app's user). The
    /// marker `$HOP_HOME/apps/<app>/state-claimed` says hop made it; `destroy --purge` removes both.
    func claimStateDirectory(_ app: String) throws {
        if let problem = Self.unclaimedState(app: app, home: home, host: host) { throw problem }
        let marker = home.apps + "/\(app)/state-claimed"
        if !FileManager.default.fileExists(atPath: marker) { try writeFileAtomically(marker, "\(app)\n", mode: 0o600) }
    }

    /// The error for a state directory that exists although hop never claimed it (nil otherwise).
    static func unclaimedState(app: String, home: HopHome, host: ServiceHost) -> HopError? {
        guard !FileManager.default.fileExists(atPath: home.apps + "/\(app)/state-claimed") else { return nil }
        for d in AppRuntimePaths(app: app).stateDirectories where FileManager.default.fileExists(atPath: host.path(d)) {
            return HopError(.conflict, "\(d) exists but hop did not create it; it would be handed to \(app)'s service user",
                            hint: "move it away (or delete it) and deploy again")
        }
        return nil
    }

    func nextNumber(_ app: String) throws -> Int {
        var n = try db.generations(app: app).map(\.number).max() ?? 0
        let links = (try? FileManager.default.contentsOfDirectory(atPath: home.apps + "/" + app)) ?? []
        for l in links where l.hasPrefix("profile-") && l.hasSuffix("-link") {
            if let k = Int(l.dropFirst("profile-".count).dropLast("-link".count)) { n = max(n, k) }
        }
        return n + 1
    }

    /// The lowest block of `count` free ports in 20000–29999: not held by a live generation and
    /// not bound on the machine now.
    func allocatePorts(count: Int) throws -> Int {
        let used = try db.portsInUse()
        var base = 20000
        while base + count <= 30000 {
            let block = base..<(base + count)
            if block.allSatisfy({ !used.contains($0) && portIsFree($0) }) { return base }
            base += 1
        }
        throw HopError(.environment, "no free block of \(count) TCP ports in 20000–29999", hint: "run `hop gc` or scale down")
    }

    func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// Activates an existing generation (rollback): its units come from its store path.
    func switchTo(_ target: GenerationRecord, op: String) throws {
        guard FileManager.default.fileExists(atPath: target.storePath) else {
            throw HopError(.notFound, "generation \(target.number) of \(target.app) is no longer in the store", hint: "it was collected; deploy again")
        }
        let current = try db.activeGeneration(app: target.app)
        if current?.number == target.number { return }
        try activator.activate(target, from: current, op: op, watch: 0)
    }

    /// `hop run` units of the app that are loaded now (any generation), with their state.
    func oneOffs(_ app: String) throws -> [[String: String]] {
        let r = try host.systemctl(["list-units", "--all", "--plain", "--no-legend", UnitNames.appPrefix(app: app) + "*-run-*.service"])
        let names = r.stdoutText.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { UnitNames.generation(ofUnit: $0, app: app) != nil }
        guard !names.isEmpty else { return [] }
        return try host.show(names, properties: ["Id", "ActiveState", "SubState", "MainPID", "NRestarts"])
    }

    /// Instance units of the serving generation with their state.
    /// The serving generation's instances and its cron processes' timers (a timer is how a cron
    /// process runs: `active/waiting` between runs).
    func processes(_ g: GenerationRecord) throws -> [[String: String]] {
        let m = try GenerationManifest.read(storePath: g.storePath)
        return try host.show(m.units.instances + m.units.timers, properties: ["Id", "ActiveState", "SubState", "MainPID", "NRestarts", "MemoryCurrent", "ActiveEnterTimestamp"])
    }
}
