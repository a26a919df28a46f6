import Foundation
import AppSpec
import HopBasics
import HopStore

// Finishing or undoing an activation a killed hop (or settler) left behind.

extension Activator {
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
                if let problem = try problemNow(target, m) {
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
            let problem = try problemNow(target, m)
            if problem == nil || from == nil {
                return try complete(j, target, m, from: from)
            }
            try revert(target, to: from!, reason: "interrupted, then unhealthy: \(problem!)")
            return "an interrupted \(j.op) to generation \(j.to) was undone (\(problem!)); generation \(from!.number) serves"
        case .retiring:
            return try complete(j, target, try GenerationManifest.read(storePath: target.storePath), from: from)
        }
    }

    /// What is wrong with a switched-to target now: a unit's state, else its health gate; nil if healthy.
    func problemNow(_ target: GenerationRecord, _ m: GenerationManifest) throws -> String? {
        if let p = try unitProblem(target, m) { return p }
        do { try healthGate(target, m) } catch let e as HopError { return e.message }
        return nil
    }

    /// Redoes the switch to the journal's target (idempotent) and retires the old generation.
    private func complete(_ j: Journal, _ target: GenerationRecord, _ m: GenerationManifest, from: GenerationRecord?) throws -> String {
        let oldWorkers = try point(target.app, to: target, manifest: m)
        try setProfile(target.app, target.number)
        try finish(target, m, from: from?.number, op: j.op, oldWorkers: oldWorkers)
        return "an interrupted \(j.op) to generation \(j.to) was completed"
    }
}
