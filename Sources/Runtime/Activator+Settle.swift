import Foundation
import AppSpec
import HopBasics
import HopStore

// The background half of a handed-off activation (`hop settle`).

extension Activator {
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
}
