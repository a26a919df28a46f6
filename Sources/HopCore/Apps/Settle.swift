import Foundation
import HopBasics
import HopStore
import Runtime

/// Starts `hop settle APP N`: the background half of an activation the command handed off
/// (`Activator.handOff`). Detached from the command: its own process group, no descriptor of the
/// command's (a caller reading hop's output to its end is not kept waiting), its output in
/// `apps/<app>/settle.log`.
struct Settler: Sendable {
    let binary: String
    let home: HopHome

    /// The settler of this hop, or nil when hop does not run as the `hop` executable (HopCore
    /// inside a test process: activations there stay inline).
    static func command(home: HopHome) -> Settler? {
        let binary = runningHopBinary()
        guard (binary as NSString).lastPathComponent == "hop" else { return nil }
        return Settler(binary: binary, home: home)
    }

    func start(app: String, generation: Int) throws -> Int32? {
        let log = home.apps + "/\(app)/settle.log"
        let pid: pid_t
        do {
            pid = try Spawn.spawn([binary, "settle", app, String(generation)], stdin: .null,
                                  stdout: .file(log, flags: O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, mode: 0o600),
                                  stderr: .file(log, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o600), newProcessGroup: true)
        } catch {
            throw HopError(.environment, "could not start `hop settle` for \(app): \(error.message)")
        }
        // Reaped here when it ends in a long-running process (the server); a command exits first
        // and leaves that to init.
        Thread.detachNewThread { var status: Int32 = 0; _ = waitpid(pid, &status, 0) }
        return pid
    }
}

/// What `hop settle` did.
public struct SettleResult: Sendable, Codable, Equatable {
    public var app: String
    public var generation: Int
    /// `passed`, `rolled back` or `superseded`.
    public var verdict: String
    public var message: String?
}

extension Operations {
    /// `hop settle APP N` (started by hop, not by people): watches a handed-off generation until its
    /// journal's deadline, then retires the old generation, or reverts the target if it failed in
    /// its window. The verdict is written to the audit log under the name of whoever deployed.
    public func settle(app raw: String, generation n: Int) throws -> SettleResult {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.admin, app: app, action: "settle an activation")
        guard let db = try ctx.existingDatabase() else { return SettleResult(app: app, generation: n, verdict: "superseded") }
        let rt = try runtime(db)
        let journal = rt.activator.journal(app)
        let home = ctx.home
        let verdict = try rt.activator.settle(app: app, generation: n, lock: {
            try AppLock(home: home, app: app, wait: 3600)
        })
        LiveCheckCache.shared.invalidate()
        let watched = journal?.watchUntil != nil
        let result: SettleResult
        switch verdict {
        case .superseded:
            return SettleResult(app: app, generation: n, verdict: "superseded")
        case .passed:
            result = SettleResult(app: app, generation: n, verdict: "passed")
            if !watched { return result }
        case .rolledBack(let message):
            result = SettleResult(app: app, generation: n, verdict: "rolled back", message: message)
            ctx.logger.error("\(message)", metadata: ["app": .string(app), "operation": "watch"])
        }
        let detail = stableJSONText(["generation": String(n), "op": journal?.op ?? "deploy"])
        record(try? ctx.database(create: true).appendAudit(actor: journal?.actor ?? ctx.principal.name, via: "watch", action: "watch",
                                                           app: app, detail: detail,
                                                           result: result.message.map { "error: rolledBack: \($0)" } ?? "ok"))
        return result
    }
}
