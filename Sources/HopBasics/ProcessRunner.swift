import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One external command: everything hop runs goes through a `ProcessRunner` so tests can see
/// (and a log can replay) exactly what was executed.
public struct Command: Sendable, Hashable, CustomStringConvertible {
    public var executable: String
    public var arguments: [String]
    /// Extra variables merged over the inherited environment (nil value removes a variable).
    public var environment: [String: String?]
    public var workingDirectory: String?
    public var stdin: Data?

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String?] = [:],
                workingDirectory: String? = nil, stdin: Data? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdin = stdin
    }

    /// A shell-quoted rendering, for logs and error messages.
    public var description: String {
        ([executable] + arguments).map(shellQuote).joined(separator: " ")
    }
}

/// Quote a word for a POSIX shell; words made only of safe characters are left bare.
public func shellQuote(_ s: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !s.isEmpty && s.allSatisfy({ safe.contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A finished process. A non-zero status is a result, not an error: the caller turns it into a
/// domain error that says what failed.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    public var succeeded: Bool { status == 0 }

    public init(status: Int32, stdout: Data, stderr: Data) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// The last `n` lines of stderr, for error messages.
    public func stderrTail(_ n: Int = 25) -> String {
        stderrText.split(separator: "\n", omittingEmptySubsequences: false).suffix(n).joined(separator: "\n")
    }
}

/// The single seam for side effects that run programs.
public protocol ProcessRunner: Sendable {
    /// Runs to completion. `onStderrLine` sees stderr line by line as it arrives (for progress).
    func run(_ command: Command, onStderrLine: (@Sendable (String) -> Void)?) throws -> ProcessResult
}

extension ProcessRunner {
    public func run(_ command: Command) throws -> ProcessResult { try run(command, onStderrLine: nil) }

    /// Runs and returns stdout, turning a non-zero exit into a HopError built by `failure`.
    @discardableResult
    public func output(_ command: Command, failure: (ProcessResult) -> HopError) throws -> String {
        let r = try run(command)
        guard r.succeeded else { throw failure(r) }
        return r.stdoutText
    }
}

/// Runs real processes with Foundation's `Process`.
public struct SystemRunner: ProcessRunner {
    public init() {}

    public func run(_ command: Command, onStderrLine: (@Sendable (String) -> Void)?) throws -> ProcessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try resolveExecutable(command.executable))
        p.arguments = command.arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in command.environment { env[k] = v }
        p.environment = env
        if let wd = command.workingDirectory { p.currentDirectoryURL = URL(fileURLWithPath: wd) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let inPipe: Pipe? = command.stdin == nil ? nil : Pipe()
        p.standardInput = inPipe ?? FileHandle.nullDevice
        do { try p.run() } catch {
            throw HopError(.environment, "could not start \(command.executable): \(error)",
                           hint: "install it (scripts/setup.sh) or check PATH")
        }
        if let inPipe, let data = command.stdin {
            DispatchQueue.global().async {
                inPipe.fileHandleForWriting.write(data)
                try? inPipe.fileHandleForWriting.close()
            }
        }
        let group = DispatchGroup()
        let outBox = DataBox(), errBox = DataBox()
        group.enter()
        DispatchQueue.global().async {
            outBox.data = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            let h = err.fileHandleForReading
            var pending = Data()
            while true {
                let chunk = h.availableData
                if chunk.isEmpty { break }
                errBox.data.append(chunk)
                if let onStderrLine {
                    pending.append(chunk)
                    while let nl = pending.firstIndex(of: 0x0A) {
                        onStderrLine(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                        pending = Data(pending[(nl + 1)...])
                    }
                }
            }
            if let onStderrLine, !pending.isEmpty { onStderrLine(String(decoding: pending, as: UTF8.self)) }
            group.leave()
        }
        p.waitUntilExit()
        group.wait()
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return ProcessResult(status: status, stdout: outBox.data, stderr: errBox.data)
    }

    private func resolveExecutable(_ name: String) throws -> String {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw HopError(.environment, "\(name) is not installed (not found on PATH)",
                       hint: "run scripts/setup.sh, or `hop doctor` to see what is missing")
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// Wraps another runner and remembers every command, for tests that assert what hop ran.
public final class RecordingRunner: ProcessRunner, @unchecked Sendable {
    private let inner: any ProcessRunner
    private let lock = NSLock()
    private var _commands: [Command] = []
    public init(_ inner: any ProcessRunner = SystemRunner()) { self.inner = inner }
    public var commands: [Command] { lock.withLock { _commands } }
    public func run(_ command: Command, onStderrLine: (@Sendable (String) -> Void)?) throws -> ProcessResult {
        lock.withLock { _commands.append(command) }
        return try inner.run(command, onStderrLine: onStderrLine)
    }
}
