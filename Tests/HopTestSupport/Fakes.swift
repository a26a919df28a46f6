import Foundation
import HopBasics
import Runtime
#if canImport(Glibc)
import Glibc
#endif

extension ProcessResult {
    /// A successful run that printed `stdout`.
    public static func ok(_ stdout: String = "") -> ProcessResult {
        ProcessResult(status: 0, stdout: Data(stdout.utf8), stderr: Data())
    }

    /// A run that exited `status` saying `stderr`.
    public static func failed(_ status: Int32 = 1, stderr: String = "") -> ProcessResult {
        ProcessResult(status: status, stdout: Data(), stderr: Data(stderr.utf8))
    }
}

/// A process runner that runs nothing: it records every command and answers from a script
/// (first matching rule wins; anything else succeeds with no output, or goes to `fallback`).
public final class FakeProcessRunner: ProcessRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var _commands: [Command] = []
    private var rules: [(words: [String], answer: @Sendable (Command) throws -> ProcessResult)] = []
    /// Runs what no rule answers (e.g. `SystemRunner()` to wrap the real one); nil: success, no output.
    public let fallback: (any ProcessRunner)?

    public init(fallback: (any ProcessRunner)? = nil) { self.fallback = fallback }

    /// Every command run so far, in order.
    public var commands: [Command] { lock.withLock { _commands } }
    /// The same, each as its words with a private host's `nsenter -t PID -m -p` dropped.
    public var commandWords: [[String]] { commands.map(Self.words) }

    /// Answers commands whose words (nsenter prefix dropped; the program by its name or its
    /// path) start with `words`.
    public func on(_ words: [String], answer: @escaping @Sendable (Command) throws -> ProcessResult) {
        lock.withLock { rules.append((words, answer)) }
    }

    public func on(_ words: [String], _ result: ProcessResult) { on(words) { _ in result } }

    public func run(_ command: Command, onStderrLine: (@Sendable (String) -> Void)?) throws -> ProcessResult {
        let words = Self.words(command)
        let rule: (@Sendable (Command) throws -> ProcessResult)? = lock.withLock {
            _commands.append(command)
            return rules.first { Self.matches(words, $0.words) }?.answer
        }
        if let rule {
            let r = try rule(command)
            if let onStderrLine { r.stderrText.split(separator: "\n").forEach { onStderrLine(String($0)) } }
            return r
        }
        if let fallback { return try fallback.run(command, onStderrLine: onStderrLine) }
        return .ok()
    }

    static func words(_ c: Command) -> [String] {
        var w = [c.executable] + c.arguments
        if (w.first as NSString?)?.lastPathComponent == "nsenter", w.count >= 5, w[1] == "-t", w[3] == "-m", w[4] == "-p" {
            w.removeFirst(5)
        }
        return w
    }

    static func matches(_ words: [String], _ prefix: [String]) -> Bool {
        guard words.count >= prefix.count, let first = prefix.first else { return prefix.isEmpty }
        guard words[0] == first || (words[0] as NSString).lastPathComponent == first else { return false }
        return Array(words[1..<prefix.count]) == Array(prefix.dropFirst())
    }
}

/// A systemd that keeps unit states in memory: `start` makes units active (or failed, for units in
/// `failingStarts`), `stop` and `reset-failed` take globs as systemctl does, `show` answers the
/// states. Every call is recorded; `pinned` units keep the properties a test gave them whatever is done to them.
public final class FakeServiceManager: ServiceManager, @unchecked Sendable {
    public enum Call: Sendable, Equatable, CustomStringConvertible {
        case start([String]), stop([String]), resetFailed([String]), reload(String), daemonReload
        case isActive(String), isFailed(String), show([String]), journal(String)

        public var description: String {
            switch self {
            case .start(let u): return "start " + u.joined(separator: " ")
            case .stop(let u): return "stop " + u.joined(separator: " ")
            case .resetFailed(let u): return "reset-failed " + u.joined(separator: " ")
            case .reload(let u): return "reload " + u
            case .daemonReload: return "daemon-reload"
            case .isActive(let u): return "is-active " + u
            case .isFailed(let u): return "is-failed " + u
            case .show(let u): return "show " + u.joined(separator: " ")
            case .journal(let p): return "journal " + p
            }
        }
    }

    private let lock = NSLock()
    private var _calls: [Call] = []
    private var _units: [String: [String: String]] = [:]
    private var _pinned: [String: [String: String]] = [:]
    private var _failingStarts: Set<String> = []
    /// What `journal` answers (the app's last words).
    public let journalText: String

    public init(journalText: String = "") { self.journalText = journalText }

    /// Every call so far, in order.
    public var calls: [Call] { lock.withLock { _calls } }
    /// The calls that change something (start, stop, reset-failed, reload, daemon-reload): what a test asserts on.
    public var actions: [Call] {
        calls.filter { if case .start = $0 { true } else if case .stop = $0 { true } else if case .resetFailed = $0 { true }
                       else if case .reload = $0 { true } else if case .daemonReload = $0 { true } else { false } }
    }
    public func forgetCalls() { lock.withLock { _calls = [] } }

    /// Sets a unit's state (as `start` would have left it).
    public func setState(_ unit: String, active: Bool) {
        lock.withLock { _units[unit] = active ? Self.running : Self.dead }
    }

    /// Pins a unit's properties (`ActiveState`, `NRestarts`, …): start and stop no longer change them.
    public func pin(_ unit: String, _ properties: [String: String]) { lock.withLock { _pinned[unit] = properties } }
    public func unpin(_ unit: String) { lock.withLock { _pinned[unit] = nil } }

    /// Units whose start fails (exit 1, left `failed`).
    public func failStart(_ unit: String) { lock.withLock { _ = _failingStarts.insert(unit) } }

    public func state(_ unit: String) -> [String: String] {
        lock.withLock { _pinned[unit] ?? _units[unit] ?? Self.dead }
    }

    static let running = ["ActiveState": "active", "SubState": "running", "NRestarts": "0", "Result": "success", "ExecMainStatus": "0"]
    static let dead = ["ActiveState": "inactive", "SubState": "dead", "NRestarts": "0", "Result": "success", "ExecMainStatus": "0"]
    static let failed = ["ActiveState": "failed", "SubState": "failed", "NRestarts": "0", "Result": "exit-code", "ExecMainStatus": "1"]

    private func record(_ call: Call) { lock.withLock { _calls.append(call) } }

    /// The known units a systemctl glob names.
    private func matching(_ patterns: [String]) -> [String] {
        lock.withLock { Set(_units.keys).union(_pinned.keys) }.filter { unit in patterns.contains { fnmatch($0, unit, 0) == 0 } }
    }

    public func start(_ units: [String]) throws -> ProcessResult {
        record(.start(units))
        var failures: [String] = []
        lock.withLock {
            for u in units {
                if _failingStarts.contains(u) { _units[u] = Self.failed; failures.append(u) } else { _units[u] = Self.running }
            }
        }
        guard failures.isEmpty else {
            return .failed(1, stderr: failures.map { "Job for \($0) failed because the control process exited with error code." }.joined(separator: "\n"))
        }
        return .ok()
    }

    public func stop(_ units: [String]) throws -> ProcessResult {
        record(.stop(units))
        let names = matching(units) + units.filter { !$0.contains("*") }
        lock.withLock { for u in names where _units[u]?["ActiveState"] != "failed" { _units[u] = Self.dead } }
        return .ok()
    }

    public func resetFailed(_ units: [String]) throws -> ProcessResult {
        record(.resetFailed(units))
        let names = matching(units)
        lock.withLock { for u in names where _units[u]?["ActiveState"] == "failed" { _units[u] = Self.dead } }
        return .ok()
    }

    public func reload(_ unit: String) throws -> ProcessResult { record(.reload(unit)); return .ok() }
    public func daemonReload() throws -> ProcessResult { record(.daemonReload); return .ok() }

    public func isActive(_ unit: String) throws -> Bool {
        record(.isActive(unit))
        return state(unit)["ActiveState"] == "active"
    }

    public func isFailed(_ unit: String) throws -> Bool {
        record(.isFailed(unit))
        return state(unit)["ActiveState"] == "failed"
    }

    public func show(_ units: [String], properties: [String]) throws -> [[String: String]] {
        record(.show(units))
        return units.map { u in
            var p = state(u)
            p["Id"] = u
            return p.filter { properties.contains($0.key) }
        }
    }

    public func journal(_ pattern: String, lines: Int) throws -> ProcessResult {
        record(.journal(pattern))
        return .ok(journalText)
    }
}

/// A clock that never waits: `sleep` moves `now` on at once and is recorded.
public final class FakeClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var _now: Date
    private var _slept: Double = 0

    public init(now: Date = Date(timeIntervalSince1970: 1_800_000_000)) { _now = now }

    public var now: Date { lock.withLock { _now } }
    /// Seconds `sleep` was asked for in all.
    public var slept: Double { lock.withLock { _slept } }

    public func sleep(seconds: Double) {
        lock.withLock { _now = _now.addingTimeInterval(max(0, seconds)); _slept += max(0, seconds) }
    }

    /// Moves time on without a sleep (work that took time).
    public func advance(_ seconds: Double) { lock.withLock { _now = _now.addingTimeInterval(seconds) } }
}

/// Answers health probes from a script: `answer` is given the probe's number (from 1) and its target,
/// and returns the response or throws (not listening). Records every probe.
public final class FakeHealthProber: HealthProber, @unchecked Sendable {
    private let lock = NSLock()
    private var _probes: [(target: ProbeTarget, path: String, host: String)] = []
    private let answer: @Sendable (Int, ProbeTarget) throws -> ProbeResponse

    public init(answer: @escaping @Sendable (Int, ProbeTarget) throws -> ProbeResponse) { self.answer = answer }

    /// Every instance answers `status` with `body`.
    public convenience init(status: Int, body: String = "ok") {
        self.init { _, _ in ProbeResponse(status: status, body: body) }
    }

    /// Nothing listens: every probe fails as a refused connection does.
    public static func notListening() -> FakeHealthProber {
        FakeHealthProber { _, t in throw HopError(.environment, "cannot connect to \(t): Connection refused") }
    }

    public var count: Int { lock.withLock { _probes.count } }
    public var paths: [String] { lock.withLock { _probes.map(\.path) } }

    public func get(_ target: ProbeTarget, fastCGIRoot: String?, path: String, host: String, timeout: Double) throws -> ProbeResponse {
        let n: Int = lock.withLock { _probes.append((target, path, host)); return _probes.count }
        return try answer(n, target)
    }
}
