import Foundation
import Testing
import AppSpec
import HopBasics
import HopStore
@testable import Runtime
import HopTestSupport

/// An activator over fakes: systemd (`FakeServiceManager`), the process runner (nginx -t, ps),
/// the clock and the health probes; the service host's root, HOP_HOME, hop.db and the
/// generations' store paths are real files in a temporary directory.
fileprivate final class Rig {
    let root: String
    let home: HopHome
    let host: ServiceHost
    let db: HopDatabase
    let services = FakeServiceManager(journalText: "Traceback (most recent call last):\nValueError: no DATABASE_URL")
    let runner = FakeProcessRunner()
    let clock = FakeClock()
    let prober: FakeHealthProber
    var steps: [ActivationStep] = []
    let app = "shop"

    /// `healthy`: which generations answer their health probe 200 (others 500).
    init(prober: FakeHealthProber? = nil, healthy: Set<Int> = [1, 2]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("hop-test-activation-\(UUID().uuidString)").path
        home = HopHome(root: root + "/home")
        try home.ensure()
        try FileManager.default.createDirectory(atPath: home.apps + "/shop", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/host/run/systemd/system", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/host/run/hop", withIntermediateDirectories: true)
        // nginx runs (its pid file is there): activation does not start it.
        try "1\n".write(toFile: root + "/host/run/hop/nginx.pid", atomically: true, encoding: .utf8)
        host = ServiceHost(rootPrefix: root + "/host", pid: nil, runner: runner, services: services)
        db = try HopDatabase(path: home.database)
        self.prober = prober ?? FakeHealthProber { _, target in
            let n = Rig.generation(of: target)
            return healthy.contains(n) ? ProbeResponse(status: 200, body: "ok") : ProbeResponse(status: 500, body: "oops")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// The generation a probe target belongs to (`…/run/hop/shop/g2`).
    static func generation(of target: ProbeTarget) -> Int {
        guard case .unix(let dir, _) = target, let n = Int((dir as NSString).lastPathComponent.dropFirst()) else { return 0 }
        return n
    }

    var activator: Activator {
        var a = Activator(home: home, host: host, db: db, clock: clock, prober: prober)
        a.step = { [unowned self] in self.steps.append($0) }
        return a
    }

    func instance(_ n: Int) -> String { "hop-shop-G\(n)-web@1.service" }
    func socketUnit(_ n: Int) -> String { "hop-shop-G\(n)-web.socket" }
    func pattern(_ n: Int) -> String { UnitNames.prefix(app: app, generation: n) + "*" }

    /// A generation's store path (manifest, units, nginx site) and its record in hop.db.
    @discardableResult
    func generation(_ n: Int, status: GenerationRecord.Status = .pending, slice: String? = nil) throws -> GenerationRecord {
        // hop.db takes only store paths; the rig's generation is an ordinary directory of the
        // temporary one, named through /nix/store/.. so nothing is written to the Nix store.
        let store = "/nix/store/../.." + root + "/store/\(n)-hop-shop-g\(n)"
        try FileManager.default.createDirectory(atPath: store + "/units", withIntermediateDirectories: true)
        let m = GenerationManifest(app: app, generation: n, build: Int64(n), appPath: "/nix/store/app-\(n)", scale: ["web": 1], ports: [],
                                   socket: "/run/hop/shop/g\(n)/web.sock", proxySockets: nil, fastCGIRoot: nil, healthcheck: nil,
                                   units: GenerationUnits(sockets: [socketUnit(n)], releases: [], instances: [instance(n)], timers: []))
        try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: store + "/manifest.json"))
        try "server {\n    listen 80;\n    # generation \(n)\n}\n".write(toFile: store + "/nginx-site.conf", atomically: true, encoding: .utf8)
        try "[Service]\nExecStart=/bin/true\n".write(toFile: store + "/units/hop-shop-G\(n)-web@.service", atomically: true, encoding: .utf8)
        try "[Socket]\nListenStream=/run/hop/shop/g\(n)/web.sock\n".write(toFile: store + "/units/\(socketUnit(n))", atomically: true, encoding: .utf8)
        if let slice { try slice.write(toFile: store + "/units/" + UnitNames.slice(app: app), atomically: true, encoding: .utf8) }
        let g = GenerationRecord(app: app, number: n, buildID: Int64(n), storePath: store, appPath: m.appPath, scale: m.scale,
                                 configHash: "", status: status, createdAt: Date(timeIntervalSince1970: 1_800_000_000))
        try db.putGeneration(g)
        return g
    }

    func manifest(_ g: GenerationRecord) throws -> GenerationManifest { try GenerationManifest.read(storePath: g.storePath) }

    /// `g` serves, as a finished deploy leaves it: units installed and running, links and site pointing at it, recorded active.
    func serving(_ g: GenerationRecord) throws {
        try activator.restore(g)
        try db.setGenerationStatus(app: app, number: g.number, .active)
    }

    /// What a hop killed at `phase` of a deploy from `from` to `to` leaves behind: the target's units
    /// installed and started, and from `watching` on the pointers at the target.
    func interrupted(_ op: String = "deploy", from: GenerationRecord?, to target: GenerationRecord, at phase: Journal.Phase) throws {
        let a = activator
        try a.writeJournal(Journal(op: op, app: app, from: from?.number, to: target.number, phase: phase))
        try a.installUnits(target)
        try a.start(target, try manifest(target))
        if phase == .watching || phase == .retiring {
            try a.point(app, to: target, manifest: try manifest(target))
            try a.setProfile(app, target.number)
        }
        services.forgetCalls()
    }

    // What is on disk afterwards.
    var current: String? { try? FileManager.default.destinationOfSymbolicLink(atPath: host.path("/run/hop/shop/current")) }
    var socketLink: String? { try? FileManager.default.destinationOfSymbolicLink(atPath: host.path("/run/hop/shop/web.sock")) }
    var profile: String? { try? FileManager.default.destinationOfSymbolicLink(atPath: home.apps + "/shop/profile") }
    var journalOnDisk: Bool { FileManager.default.fileExists(atPath: home.apps + "/shop/journal.json") }
    var site: String? { try? String(contentsOfFile: home.root + "/nginx/sites/shop.conf", encoding: .utf8) }
    var unitFiles: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: host.path("/run/systemd/system"))) ?? []).sorted() }
    func unitFiles(of n: Int) -> [String] { unitFiles.filter { $0.hasPrefix(UnitNames.prefix(app: app, generation: n)) } }
    func record(_ n: Int) throws -> GenerationRecord { try #require(try db.generation(app: app, number: n)) }
    func active(_ n: Int) -> Bool { services.state(instance(n))["ActiveState"] == "active" }
    /// Whether the nginx site is generation `n`'s.
    func siteIs(_ n: Int) -> Bool { site?.contains("# generation \(n)\n") == true }
}

/// A unit that crashed and was restarted by systemd: what `unitProblem` reports.
fileprivate let crashLooping = ["ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "3", "Result": "exit-code", "ExecMainStatus": "1"]

@Suite("Activator.recover: each journal phase a killed hop leaves") struct RecoverTests {
    @Test("no journal: nothing to recover, nothing done")
    func noJournal() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        rig.services.forgetCalls()
        #expect(try rig.activator.recover("shop") == nil)
        #expect(rig.services.calls.isEmpty)
        #expect(rig.current == g1.storePath)
    }

    @Test("a journal naming a generation hop.db does not know is dropped")
    func unknownTarget() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        try rig.activator.writeJournal(Journal(op: "deploy", app: "shop", from: 1, to: 7, phase: .switching))
        rig.services.forgetCalls()
        #expect(try rig.activator.recover("shop") == nil)
        #expect(!rig.journalOnDisk)
        #expect(rig.services.actions.isEmpty)
        #expect(rig.current == g1.storePath)
    }

    @Test("starting: the target is stopped, removed and failed; the old generation, never touched, serves")
    func starting() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .starting)
        #expect(rig.unitFiles(of: 2).count == 2)

        let message = try rig.activator.recover("shop")
        #expect(message == "an interrupted deploy to generation 2 was undone; generation 1 serves")
        #expect(rig.services.actions == [.stop([rig.pattern(2)]), .resetFailed([rig.pattern(2)]), .daemonReload])
        #expect(!rig.active(2))
        #expect(rig.active(1))
        #expect(rig.unitFiles(of: 2).isEmpty)
        #expect(rig.unitFiles(of: 1).count == 2)
        #expect(try rig.record(2).status == .failed)
        #expect(try rig.record(2).reason == "interrupted before its switch")
        #expect(try rig.record(1).status == .active)
        #expect(rig.current == g1.storePath)
        #expect(rig.socketLink == "g1/web.sock")
        #expect(rig.profile == "profile-1-link")
        #expect(rig.siteIs(1))
        #expect(!rig.journalOnDisk)
    }

    @Test("starting, of a rollback: its target is undone but stays retired (it served before), not failed")
    func startingRollback() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1, status: .retired)
        let g2 = try rig.generation(2)
        try rig.serving(g2)
        try rig.interrupted("rollback", from: g2, to: g1, at: .starting)

        let message = try rig.activator.recover("shop")
        #expect(message == "an interrupted rollback to generation 1 was undone; generation 2 serves")
        #expect(rig.services.actions == [.stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)]), .daemonReload])
        #expect(try rig.record(1).status == .retired)
        #expect(try rig.record(2).status == .active)
        #expect(rig.current == g2.storePath)
        #expect(rig.profile == "profile-2-link")
        #expect(!rig.journalOnDisk)
    }

    @Test("starting, of a first deploy: the target is undone and nothing serves (no links, no profile)")
    func startingFirstDeploy() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.interrupted(from: nil, to: g1, at: .starting)

        let message = try rig.activator.recover("shop")
        #expect(message == "an interrupted deploy to generation 1 was undone; generation none serves")
        #expect(rig.services.actions == [.stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)]), .daemonReload])
        #expect(try rig.record(1).status == .failed)
        #expect(rig.current == nil)
        #expect(rig.profile == nil)
        #expect(rig.site == nil)
        #expect(rig.unitFiles.isEmpty)
        #expect(!rig.journalOnDisk)
    }

    @Test("switching, target healthy: the switch is redone and the old generation retired")
    func switchingHealthy() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .switching)
        #expect(rig.current == g1.storePath)

        let message = try rig.activator.recover("shop")
        #expect(message == "an interrupted deploy to generation 2 was completed")
        // The health gate asked the target again before anything changed.
        #expect(rig.prober.count >= 1)
        #expect(rig.services.actions == [.reload(NginxFront.unit), .stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)])])
        #expect(rig.active(2))
        #expect(!rig.active(1))
        // The old generation's unit files stay (a rollback to it needs no daemon-reload).
        #expect(rig.unitFiles(of: 1).count == 2)
        #expect(try rig.record(2).status == .active)
        #expect(try rig.record(1).status == .retired)
        #expect(rig.current == g2.storePath)
        #expect(rig.socketLink == "g2/web.sock")
        #expect(rig.profile == "profile-2-link")
        #expect(rig.siteIs(2))
        #expect(rig.clock.slept >= rig.activator.drain)
        #expect(!rig.journalOnDisk)
    }

    @Test("switching, target crash-looping: the old generation (still running) serves again, the target is removed")
    func switchingUnhealthy() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .switching)
        rig.services.pin(rig.instance(2), crashLooping)

        let message = try #require(try rig.activator.recover("shop"))
        #expect(message.hasPrefix("an interrupted deploy to generation 2 was undone ("))
        #expect(message.contains("exited (status 1) and was restarted 3 times"))
        #expect(message.hasSuffix("; generation 1 serves"))
        // The running old generation is not restarted; only the target is stopped.
        #expect(!rig.services.actions.contains(.start([rig.instance(1)])))
        #expect(rig.services.actions == [.stop([rig.pattern(2)]), .resetFailed([rig.pattern(2)]), .daemonReload])
        #expect(rig.active(1))
        #expect(rig.unitFiles(of: 2).isEmpty)
        #expect(try rig.record(1).status == .active)
        #expect(try rig.record(2).status == .failed)
        #expect(try rig.record(2).reason?.hasPrefix("interrupted, then unhealthy: ") == true)
        #expect(rig.current == g1.storePath)
        #expect(rig.profile == "profile-1-link")
        #expect(rig.siteIs(1))
        #expect(!rig.journalOnDisk)
    }

    @Test("switching, target unhealthy and the old generation stopped meanwhile: it is started and gated before it serves again")
    func switchingUnhealthyOldStopped() throws {
        let rig = try Rig(healthy: [1])
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .switching)
        rig.services.setState(rig.instance(1), active: false)

        let message = try #require(try rig.activator.recover("shop"))
        #expect(message.contains("answered HTTP 500 on / (expected below 500)"))
        let actions = rig.services.actions
        let restart = FakeServiceManager.Call.start([rig.socketUnit(1), rig.instance(1)])
        #expect(actions.firstIndex(of: restart) != nil, "\(actions)")
        #expect(actions.firstIndex(of: restart)! < actions.firstIndex(of: .stop([rig.pattern(2)]))!)
        #expect(rig.active(1))
        #expect(!rig.active(2))
        #expect(try rig.record(1).status == .active)
        #expect(try rig.record(2).status == .failed)
        #expect(rig.current == g1.storePath)
        #expect(!rig.journalOnDisk)
    }

    @Test("switching, target unhealthy but nothing to go back to (first deploy): the switch is completed")
    func switchingUnhealthyFirstDeploy() throws {
        let rig = try Rig(healthy: [])
        let g1 = try rig.generation(1)
        try rig.interrupted(from: nil, to: g1, at: .switching)

        let message = try rig.activator.recover("shop")
        #expect(message == "an interrupted deploy to generation 1 was completed")
        #expect(try rig.record(1).status == .active)
        #expect(rig.current == g1.storePath)
        #expect(rig.profile == "profile-1-link")
        #expect(!rig.services.actions.contains { if case .stop = $0 { true } else { false } })
        #expect(!rig.journalOnDisk)
    }

    @Test("watching, target healthy: completed (the old generation is retired) without waiting out the window again")
    func watchingHealthy() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .watching)
        #expect(rig.current == g2.storePath)
        let sleptBefore = rig.clock.slept

        let message = try rig.activator.recover("shop")
        #expect(message == "an interrupted deploy to generation 2 was completed")
        // Already pointed at the target: no nginx reload, only the retirement.
        #expect(rig.services.actions == [.stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)])])
        // The drain only: no watch window again.
        #expect(rig.clock.slept - sleptBefore == rig.activator.drain)
        #expect(try rig.record(2).status == .active)
        #expect(try rig.record(1).status == .retired)
        #expect(rig.current == g2.storePath)
        #expect(rig.profile == "profile-2-link")
        #expect(!rig.journalOnDisk)
    }

    @Test("watching, target answering 500: pointed back at the old generation, the target removed and failed")
    func watchingUnhealthy() throws {
        let rig = try Rig(healthy: [1])
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .watching)

        let message = try #require(try rig.activator.recover("shop"))
        #expect(message == "an interrupted deploy to generation 2 was undone (generation 2 of shop failed its health gate: answered HTTP 500 on / (expected below 500)); generation 1 serves")
        #expect(rig.services.actions == [.reload(NginxFront.unit), .stop([rig.pattern(2)]), .resetFailed([rig.pattern(2)]), .daemonReload])
        #expect(rig.active(1))
        #expect(!rig.active(2))
        #expect(try rig.record(1).status == .active)
        #expect(try rig.record(2).status == .failed)
        #expect(rig.current == g1.storePath)
        #expect(rig.socketLink == "g1/web.sock")
        #expect(rig.profile == "profile-1-link")
        #expect(rig.siteIs(1))
        #expect(rig.unitFiles(of: 2).isEmpty)
        #expect(!rig.journalOnDisk)
    }

    @Test("retiring: completed without asking the target again (it passed its watch window)")
    func retiring() throws {
        let rig = try Rig(healthy: [1])
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .retiring)
        let probesBefore = rig.prober.count
        rig.services.pin(rig.instance(2), crashLooping)

        let message = try rig.activator.recover("shop")
        #expect(message == "an interrupted deploy to generation 2 was completed")
        #expect(rig.prober.count == probesBefore)
        #expect(!rig.services.calls.contains(.show([rig.instance(2)])))
        #expect(rig.services.actions == [.stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)])])
        #expect(try rig.record(2).status == .active)
        #expect(try rig.record(1).status == .retired)
        #expect(rig.current == g2.storePath)
        #expect(rig.profile == "profile-2-link")
        #expect(!rig.journalOnDisk)
    }

    @Test("retiring, with older generations' unit files left: they are stopped and removed, the previous one's kept")
    func retiringPrunes() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1, status: .retired)
        let g2 = try rig.generation(2)
        try rig.serving(g2)
        try rig.activator.installUnits(g1)
        let g3 = try rig.generation(3)
        try rig.interrupted(from: g2, to: g3, at: .retiring)

        #expect(try rig.activator.recover("shop") == "an interrupted deploy to generation 3 was completed")
        #expect(rig.services.actions == [.stop([rig.pattern(2)]), .resetFailed([rig.pattern(2)]),
                                         .stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)]),
                                         .stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)]), .daemonReload])
        #expect(rig.unitFiles(of: 1).isEmpty)
        #expect(rig.unitFiles(of: 2).count == 2)
        #expect(rig.unitFiles(of: 3).count == 2)
        #expect(!rig.journalOnDisk)
    }

    @Test("recover twice: the second finds nothing to do")
    func idempotent() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try rig.interrupted(from: g1, to: g2, at: .switching)
        _ = try rig.activator.recover("shop")
        rig.services.forgetCalls()
        #expect(try rig.activator.recover("shop") == nil)
        #expect(rig.services.calls.isEmpty)
    }
}

@Suite("Rollout decisions: health gate and watch window → switch or roll back") struct RolloutTests {
    @Test("a healthy target is switched to; the old generation is drained and stopped, its unit files kept")
    func healthySwitch() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        rig.services.forgetCalls()

        try rig.activator.activate(g2, from: g1, op: "deploy", watch: 0)
        #expect(rig.steps == [.serving(2)])
        // New unit files only: systemd finds them when they are started, no daemon-reload.
        #expect(rig.services.actions == [.start([rig.socketUnit(2), rig.instance(2)]),
                                         .reload(NginxFront.unit), .stop([rig.pattern(1)]), .resetFailed([rig.pattern(1)])])
        #expect(try rig.record(2).status == .active)
        #expect(try rig.record(1).status == .retired)
        #expect(rig.current == g2.storePath)
        #expect(rig.profile == "profile-2-link")
        #expect(rig.siteIs(2))
        #expect(rig.unitFiles(of: 1).count == 2)
        #expect(!rig.journalOnDisk)
    }

    @Test("systemd reloads only for the app's slice and network unit (new or changed), never for a generation's own new units")
    func reloadOnlyForChangedFiles() throws {
        let rig = try Rig(healthy: [1, 2, 3])
        let g1 = try rig.generation(1, slice: "[Slice]\nMemoryMax=1G\n")
        rig.services.forgetCalls()
        try rig.activator.activate(g1, from: nil, op: "deploy", watch: 0)
        #expect(rig.services.actions.first == .daemonReload, "a new slice file: \(rig.services.actions)")
        let g2 = try rig.generation(2, slice: "[Slice]\nMemoryMax=1G\n")
        rig.services.forgetCalls()
        try rig.activator.activate(g2, from: g1, op: "deploy", watch: 0)
        #expect(!rig.services.actions.contains(.daemonReload), "\(rig.services.actions)")
        let g3 = try rig.generation(3, slice: "[Slice]\nMemoryMax=2G\n")
        rig.services.forgetCalls()
        try rig.activator.activate(g3, from: g2, op: "scale", watch: 0)
        #expect(rig.services.actions.first == .daemonReload, "\(rig.services.actions)")
        #expect(try rig.record(3).status == .active)
    }

    @Test("a target answering 500 fails its gate after `retries` answers: undone, the old generation never stopped serving")
    func gateFailsOnBadAnswers() throws {
        let rig = try Rig(healthy: [1])
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        rig.services.forgetCalls()
        let probesBefore = rig.prober.count

        let error = try #require(throws: HopError.self) { try rig.activator.activate(g2, from: g1, op: "deploy", watch: 0) }
        #expect(error.code == .rolledBack)
        #expect(error.message == "generation 2 of shop failed its health gate: answered HTTP 500 on / (expected below 500)")
        #expect(error.hint?.hasSuffix("; the previous generation still serves") == true)
        // The app's journal is the detail.
        #expect(error.detail?.contains("ValueError: no DATABASE_URL") == true)
        #expect(rig.prober.count - probesBefore == 10)
        #expect(rig.steps.isEmpty)
        #expect(!rig.services.actions.contains(.stop([rig.pattern(1)])))
        #expect(!rig.services.actions.contains(.reload(NginxFront.unit)))
        #expect(try rig.record(2).status == .failed)
        #expect(try rig.record(2).reason == error.message)
        #expect(try rig.record(1).status == .active)
        #expect(rig.current == g1.storePath)
        #expect(rig.siteIs(1))
        #expect(rig.unitFiles(of: 2).isEmpty)
        #expect(!rig.journalOnDisk)
    }

    @Test("a target that never listens fails when its start window is over (on the clock, not in real time)")
    func gateNeverListens() throws {
        let rig = try Rig(prober: FakeHealthProber.notListening())
        let g1 = try rig.generation(1)
        let error = try #require(throws: HopError.self) { try rig.activator.activate(g1, from: nil, op: "deploy", watch: 0) }
        #expect(error.code == .rolledBack)
        #expect(error.message.hasPrefix("generation 1 of shop failed its health gate: the app never listened within 60 s"))
        #expect(error.hint?.contains("start-timeout") == true)
        #expect(rig.clock.slept >= 60)
        #expect(try rig.record(1).status == .failed)
        #expect(rig.current == nil)
    }

    @Test("a unit systemd cannot start fails the activation before any probe")
    func startFails() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        rig.services.failStart(rig.instance(2))
        let probesBefore = rig.prober.count

        let error = try #require(throws: HopError.self) { try rig.activator.activate(g2, from: g1, op: "deploy", watch: 0) }
        #expect(error.code == .rolledBack)
        #expect(error.message == "systemd could not start shop generation 2")
        #expect(error.detail?.contains("Job for \(rig.instance(2)) failed") == true)
        #expect(rig.prober.count == probesBefore)
        #expect(try rig.record(2).status == .failed)
        #expect(rig.current == g1.storePath)
        #expect(rig.active(1))
        #expect(!rig.journalOnDisk)
    }

    @Test("a target that passes its gate, then fails in its watch window: rolled back to the old generation, still running")
    func watchWindowRollsBack() throws {
        // g1 is probed once by `serving`, g2 once at its gate; from then on g2 answers 500.
        let rig = try Rig(prober: FakeHealthProber { n, target in
            ProbeResponse(status: Rig.generation(of: target) == 2 && n > 2 ? 500 : 200, body: "ok")
        })
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        rig.services.forgetCalls()

        let error = try #require(throws: HopError.self) { try rig.activator.activate(g2, from: g1, op: "deploy", watch: 5) }
        #expect(error.code == .rolledBack)
        #expect(error.message == "generation 2 of shop answered HTTP 500 on / (expected below 500); rolled back to generation 1")
        #expect(rig.steps.first == .serving(2))
        #expect(rig.steps.contains(.watching(remaining: 5, total: 5)))
        #expect(!rig.services.actions.contains(.stop([rig.pattern(1)])))
        #expect(rig.services.actions.suffix(3) == [.stop([rig.pattern(2)]), .resetFailed([rig.pattern(2)]), .daemonReload])
        #expect(try rig.record(2).status == .failed)
        #expect(try rig.record(2).reason == "failed in its watch window: answered HTTP 500 on / (expected below 500)")
        #expect(try rig.record(1).status == .active)
        #expect(rig.current == g1.storePath)
        #expect(rig.profile == "profile-1-link")
        #expect(rig.siteIs(1))
        #expect(!rig.journalOnDisk)
    }

    @Test("a target that stays healthy through its watch window is kept; the window is counted down on the clock")
    func watchWindowPasses() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)

        try rig.activator.activate(g2, from: g1, op: "deploy", watch: 3)
        #expect(rig.steps == [.serving(2), .watching(remaining: 3, total: 3), .watching(remaining: 2, total: 3), .watching(remaining: 1, total: 3)])
        #expect(rig.clock.slept >= 3)
        #expect(try rig.record(2).status == .active)
        #expect(!rig.active(1))
        #expect(rig.current == g2.storePath)
        #expect(!rig.journalOnDisk)
    }

    @Test("a crash-looping target fails its gate at once, whatever it answers")
    func crashLoopFailsGate() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        rig.services.pin(rig.instance(2), crashLooping)

        let error = try #require(throws: HopError.self) { try rig.activator.activate(g2, from: g1, op: "deploy", watch: 0) }
        #expect(error.message == "generation 2 of shop failed its health gate: \(rig.instance(2)) exited (status 1) and was restarted 3 times")
        #expect(try rig.record(2).status == .failed)
        #expect(rig.current == g1.storePath)
    }
}

@Suite("Hand-off: the command returns once the target serves; `settle` watches and retires in the background")
struct HandOffTests {
    /// An activator that hands off (recording the journals it was given) instead of watching inline.
    fileprivate func handingOff(_ rig: Rig, _ handed: Box<[Journal]>) -> Activator {
        var a = rig.activator
        a.handOff = { j in handed.value.append(j); return nil }
        return a
    }

    @Test("activate returns after the switch: the target recorded active, the old generation still running, the journal watching until the deadline")
    func returnsAtSwitch() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        rig.services.forgetCalls()
        let handed = Box<[Journal]>([])
        var a = handingOff(rig, handed)
        let servedAt = Box<Date?>(nil)
        let clock = rig.clock
        a.step = { if case .serving = $0 { servedAt.value = clock.now } }

        try a.activate(g2, from: g1, op: "deploy", watch: 5)
        let t0 = try #require(servedAt.value)
        #expect(rig.clock.now.timeIntervalSince(t0) < 0.1, "no watch window and no drain on the command's path")
        #expect(!rig.services.actions.contains(.stop([rig.pattern(1)])))
        #expect(rig.active(1) && rig.active(2))
        #expect(try rig.record(2).status == .active)
        #expect(rig.current == g2.storePath)
        let j = try #require(rig.activator.journal("shop"))
        #expect(j.phase == .watching && j.to == 2 && j.from == 1)
        #expect(j.watchUntil == t0.addingTimeInterval(5))
        #expect(handed.value.map(\.to) == [2])
    }

    @Test("settle: the window passes on the clock, the old generation is drained and stopped, the journal cleared")
    func settlePasses() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try handingOff(rig, Box([])).activate(g2, from: g1, op: "deploy", watch: 5)
        let locked = Box(0)
        let verdict = try rig.activator.settle(app: "shop", generation: 2, lock: { locked.value += 1; return NSObject() })
        #expect(verdict == .passed)
        #expect(locked.value == 1)
        #expect(!rig.active(1) && rig.active(2))
        #expect(try rig.record(2).status == .active)
        #expect(try rig.record(1).status == .retired)
        #expect(!rig.journalOnDisk)
        #expect(rig.clock.slept >= 5 + rig.activator.drain)
    }

    @Test("settle: a target that fails in its window is reverted; the old generation serves again")
    func settleReverts() throws {
        // Generation 2 passes its gate (its first answer is 200), then answers 500.
        let seen = Box(0)
        let rig = try Rig(prober: FakeHealthProber { _, target in
            guard Rig.generation(of: target) == 2 else { return ProbeResponse(status: 200, body: "ok") }
            seen.value += 1
            return seen.value == 1 ? ProbeResponse(status: 200, body: "ok") : ProbeResponse(status: 500, body: "oops")
        })
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try handingOff(rig, Box([])).activate(g2, from: g1, op: "deploy", watch: 5)
        let verdict = try rig.activator.settle(app: "shop", generation: 2, lock: { NSObject() })
        guard case .rolledBack(let message) = verdict else { Issue.record("verdict \(verdict)"); return }
        #expect(message.hasPrefix("generation 2 of shop answered HTTP 500"), "\(message)")
        #expect(rig.current == g1.storePath)
        #expect(rig.active(1) && !rig.active(2))
        #expect(try rig.record(1).status == .active)
        #expect(try rig.record(2).status == .failed)
        #expect(!rig.journalOnDisk)
    }

    @Test("settle finds the app taken over (the journal no longer names its activation): it does nothing")
    func settleSuperseded() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try handingOff(rig, Box([])).activate(g2, from: g1, op: "deploy", watch: 5)
        #expect(try rig.activator.recover("shop", mode: .takeOver) == nil)
        rig.services.forgetCalls()
        let verdict = try rig.activator.settle(app: "shop", generation: 2, lock: { NSObject() })
        #expect(verdict == .superseded)
        #expect(rig.services.actions.isEmpty)
        #expect(rig.active(1) && rig.active(2))
    }

    @Test("take-over then rollback: the old generation, left running, serves again without a reload or a start from cold; the next finish retires the other")
    func takeOverRollback() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try handingOff(rig, Box([])).activate(g2, from: g1, op: "deploy", watch: 0)
        #expect(rig.activator.journal("shop")?.phase == .retiring)
        #expect(try rig.activator.recover("shop", mode: .takeOver) == nil)
        #expect(!rig.journalOnDisk)
        #expect(rig.active(1), "the old generation was left running for the rollback")
        rig.services.forgetCalls()
        try rig.activator.activate(g1, from: g2, op: "rollback", watch: 0)
        #expect(!rig.services.actions.contains(.daemonReload), "its unit files were still installed: \(rig.services.actions)")
        #expect(rig.current == g1.storePath)
        #expect(rig.active(1) && !rig.active(2))
        #expect(try rig.record(1).status == .active)
        #expect(!FileManager.default.fileExists(atPath: rig.home.apps + "/shop/retire-pending"))
    }

    @Test("a read leaves a settling activation to its live settler, but finishes one whose settler died")
    func readMode() throws {
        let rig = try Rig()
        let g1 = try rig.generation(1)
        try rig.serving(g1)
        let g2 = try rig.generation(2)
        try handingOff(rig, Box([])).activate(g2, from: g1, op: "deploy", watch: 0)
        var j = try #require(rig.activator.journal("shop"))
        j.settler = 999_999_999 // no such process
        try rig.activator.writeJournal(j)
        #expect(try rig.activator.recover("shop", mode: .read) == "an interrupted deploy to generation 2 was completed")
        #expect(!rig.active(1))
        #expect(!rig.journalOnDisk)
    }
}

/// A mutable value a test's closures share.
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
