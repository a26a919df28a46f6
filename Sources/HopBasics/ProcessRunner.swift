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

/// Runs real processes through `Spawn`. Not Foundation's `Process`: its exit detection uses a
/// descriptor that leaks into grandchildren (a daemon started by a child makes it wait forever),
/// and children inherit the caller's blocked signals (SIGTERM ignored). Here every descriptor
/// but 0/1/2 is close-on-exec, the child's signal mask is empty and its handlers default.
public struct SystemRunner: ProcessRunner {
    public init() {}

    public func run(_ command: Command, onStderrLine: (@Sendable (String) -> Void)?) throws -> ProcessResult {
        let exe = try resolveExecutable(command.executable)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in command.environment { env[k] = v }
        var argvWords = [exe] + command.arguments
        if let wd = command.workingDirectory {
            // coreutils env changes directory for us (posix_spawn has no portable chdir).
            argvWords = ["/usr/bin/env", "--chdir=\(wd)", exe] + command.arguments
        }
        // Pipes close-on-exec (made under the spawn lock), so no other child inherits them.
        let inFDs = try Spawn.pipe()
        let outFDs: (read: Int32, write: Int32), errFDs: (read: Int32, write: Int32)
        do { outFDs = try Spawn.pipe() } catch { close(inFDs.read); close(inFDs.write); throw error }
        do { errFDs = try Spawn.pipe() } catch { [inFDs.read, inFDs.write, outFDs.read, outFDs.write].forEach { close($0) }; throw error }
        let pid: pid_t
        do throws(Spawn.Failure) {
            pid = try Spawn.spawn(argvWords, environment: env, stdin: command.stdin != nil ? .descriptor(inFDs.read) : .null,
                                  stdout: .descriptor(outFDs.write), stderr: .descriptor(errFDs.write))
            close(inFDs.read); close(outFDs.write); close(errFDs.write)
        } catch {
            [inFDs.read, inFDs.write, outFDs.read, outFDs.write, errFDs.read, errFDs.write].forEach { close($0) }
            throw HopError(.environment, "could not start \(command.executable): \(error.message)",
                           hint: "install it (scripts/setup.sh) or check PATH")
        }
        let stdinFD = inFDs.write
        if let data = command.stdin {
            DispatchQueue.global().async {
                data.withUnsafeBytes { raw in
                    var off = 0
                    while off < raw.count {
                        let n = write(stdinFD, raw.baseAddress! + off, raw.count - off)
                        if n <= 0 { break }
                        off += n
                    }
                }
                close(stdinFD)
            }
        } else {
            close(stdinFD)
        }
        let group = DispatchGroup()
        let outBox = DataBox(), errBox = DataBox()
        let outFD = outFDs.read, errFD = errFDs.read
        group.enter()
        DispatchQueue.global().async {
            outBox.data = readAll(outFD, onLine: nil)
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errBox.data = readAll(errFD, onLine: onStderrLine)
            group.leave()
        }
        group.wait()
        return ProcessResult(status: Spawn.wait(pid), stdout: outBox.data, stderr: errBox.data)
    }

    private func resolveExecutable(_ name: String) throws -> String { try Self.which(name) }

    /// The full path of an executable found on PATH (a name with a slash is returned as is).
    public static func which(_ name: String) throws -> String {
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

/// Reads a descriptor to EOF (then closes it), calling `onLine` for each complete line.
private func readAll(_ fd: Int32, onLine: (@Sendable (String) -> Void)?) -> Data {
    var all = Data()
    var pending = Data()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        all.append(contentsOf: buf[0..<n])
        if let onLine {
            pending.append(contentsOf: buf[0..<n])
            while let nl = pending.firstIndex(of: 0x0A) {
                onLine(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                pending = Data(pending[(nl + 1)...])
            }
        }
    }
    if let onLine, !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
    close(fd)
    return all
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}
