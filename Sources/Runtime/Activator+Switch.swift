import Foundation
import AppSpec
import HopBasics
import HopStore

// Activation: start beside, gate, switch, watch or hand off, retire; and undoing it.

extension Activator {
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
}
