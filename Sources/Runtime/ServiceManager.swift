import Foundation
import HopBasics

/// The systemd operations activation and hop's nginx front perform on the service host, by name,
/// so their decisions (undo, switch, roll back, retire) are tested against a fake that records
/// them and answers as scripted, and proven against the real systemd by the integration tests.
/// A non-zero exit is a result (`ProcessResult`), not an error: the caller says what failed.
public protocol ServiceManager: Sendable {
    /// `systemctl start UNITS…`: one job per unit, waited for.
    func start(_ units: [String]) throws -> ProcessResult
    /// `systemctl stop UNITS…` (names or globs).
    func stop(_ units: [String]) throws -> ProcessResult
    /// `systemctl reset-failed UNITS…` (names or globs), so a burst of restarts is not refused by a start limit.
    func resetFailed(_ units: [String]) throws -> ProcessResult
    /// `systemctl reload UNIT`.
    func reload(_ unit: String) throws -> ProcessResult
    /// `systemctl daemon-reload`: systemd reads the unit files again.
    func daemonReload() throws -> ProcessResult
    /// `systemctl is-active --quiet UNIT`.
    func isActive(_ unit: String) throws -> Bool
    /// `systemctl is-failed --quiet UNIT`.
    func isFailed(_ unit: String) throws -> Bool
    /// `systemctl show -p …` of several units, one property map per unit, in order.
    func show(_ units: [String], properties: [String]) throws -> [[String: String]]
    /// The last `lines` lines the units matching `pattern` wrote (`journalctl -o cat -u PATTERN`).
    func journal(_ pattern: String, lines: Int) throws -> ProcessResult
}

/// The real systemd: systemctl and journalctl run through the process runner, inside the private
/// host's namespaces when there is one (`nsenter -t PID -m -p`), directly otherwise.
public struct Systemctl: ServiceManager {
    /// The private host's PID 1 (nil: the machine's own systemd).
    public let pid: Int32?
    public let runner: any ProcessRunner

    public init(pid: Int32?, runner: any ProcessRunner) { self.pid = pid; self.runner = runner }

    func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        try runner.run(ServiceHost.command(executable, arguments, pid: pid))
    }

    public func systemctl(_ args: [String]) throws -> ProcessResult { try run("systemctl", args) }

    public func start(_ units: [String]) throws -> ProcessResult { try systemctl(["start"] + units) }
    public func stop(_ units: [String]) throws -> ProcessResult { try systemctl(["stop"] + units) }
    public func resetFailed(_ units: [String]) throws -> ProcessResult { try systemctl(["reset-failed"] + units) }
    public func reload(_ unit: String) throws -> ProcessResult { try systemctl(["reload", unit]) }
    public func daemonReload() throws -> ProcessResult { try systemctl(["daemon-reload"]) }
    public func isActive(_ unit: String) throws -> Bool { try systemctl(["is-active", "--quiet", unit]).succeeded }
    public func isFailed(_ unit: String) throws -> Bool { try systemctl(["is-failed", "--quiet", unit]).succeeded }

    public func show(_ units: [String], properties: [String]) throws -> [[String: String]] {
        guard !units.isEmpty else { return [] }
        let r = try systemctl(["show", "--no-pager", "-p", properties.joined(separator: ",")] + units)
        return Self.parseShow(r.stdoutText)
    }

    public func journal(_ pattern: String, lines: Int) throws -> ProcessResult {
        try run("/usr/bin/journalctl", ["--no-pager", "-o", "cat", "-n", "\(lines)", "-u", pattern])
    }

    /// `systemctl show` output: blocks of `Key=Value` lines, one block per unit, blank-line separated.
    public static func parseShow(_ text: String) -> [[String: String]] {
        var result: [[String: String]] = []
        for block in text.components(separatedBy: "\n\n") where !block.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            var d: [String: String] = [:]
            for line in block.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                d[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            result.append(d)
        }
        return result
    }
}

extension ServiceManager {
    /// Throws when a systemctl step failed: `what` says what hop was doing, the detail has systemd's words.
    public func require(_ result: ProcessResult, _ args: [String], what: String) throws {
        guard result.succeeded else {
            throw HopError(.environment, "\(what) failed: systemctl \(args.joined(separator: " ")) exited \(result.status)",
                           hint: "see `hop logs` for the app's journal", detail: result.stderrTail(8))
        }
    }

    /// `start` that must succeed.
    public func startChecked(_ units: [String], what: String) throws {
        try require(try start(units), ["start"] + units, what: what)
    }

    /// `daemon-reload` that must succeed.
    public func daemonReloadChecked() throws {
        try require(try daemonReload(), ["daemon-reload"], what: "reloading systemd")
    }
}
