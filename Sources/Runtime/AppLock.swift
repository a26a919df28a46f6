import Foundation
import HopBasics

/// An exclusive lock per app (flock on `$HOP_HOME/apps/<app>/lock`), released when the process
/// exits, even by SIGKILL.
public final class AppLock {
    private let fd: Int32
    /// Waits up to `wait` seconds (default 30, or `$HOP_LOCK_WAIT`) for another hop command to finish.
    public convenience init(home: HopHome, app: String, wait: Double? = nil) throws {
        let dir = home.apps + "/" + app
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try self.init(path: dir + "/lock", what: "app \(app)", wait: wait)
    }

    /// A host-wide lock for one kind of work (e.g. `acme`: one ACME client owns the challenge port;
    /// `metrics`: one collector reads the request log).
    public static func host(home: HopHome, named name: String, wait: Double? = nil) throws -> AppLock {
        try home.ensure()
        return try AppLock(path: home.root + "/\(name).lock", what: "hop's \(name) work", wait: wait)
    }

    /// The host-wide lock under which TCP ports are allocated and recorded, so two deploys at
    /// the same moment never get the same port.
    public static func ports(home: HopHome) throws -> AppLock {
        try home.ensure()
        return try AppLock(path: home.root + "/ports.lock", what: "the port table", wait: nil)
    }

    /// Told every few seconds while a lock is waited for (the CLI prints it); nil: silent.
    nonisolated(unsafe) public static var onWait: ((String) -> Void)?

    init(path: String, what: String, wait: Double?) throws {
        let wait = wait ?? ProcessInfo.processInfo.environment["HOP_LOCK_WAIT"].flatMap(Double.init) ?? 30
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HopError(.environment, "cannot open the lock of \(what)") }
        let start = Date()
        let deadline = start.addingTimeInterval(wait)
        var told = start
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.holder(fd).map { Self.describe($0) } ?? "another hop command"
            if Date() > deadline {
                close(fd)
                throw HopError(.busy, "\(what) is busy: \(holder)", hint: "wait for it to finish, then try again (hop waited \(Int(wait)) s; HOP_LOCK_WAIT sets how long)")
            }
            if Date().timeIntervalSince(told) >= 2 || told == start {
                told = Date()
                Self.onWait?("waiting for \(what): \(holder)")
            }
            usleep(50_000)
        }
        // Who holds it now, for whoever waits next: this process, what it runs, since when.
        let record = "\(getpid()) \(Int(Date().timeIntervalSince1970)) \(Self.commandWords())\n"
        _ = ftruncate(fd, 0)
        _ = record.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// `pid since words…` as the holder wrote it, or nil.
    static func holder(_ fd: Int32) -> (pid: Int32, since: Date, command: String)? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let parts = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let pid = Int32(parts[0]), let t = Double(parts[1]) else { return nil }
        return (pid, Date(timeIntervalSince1970: t), parts.count > 2 ? String(parts[2]) : "hop")
    }

    /// "`hop deploy` (pid 123) since 12 s ago".
    static func describe(_ h: (pid: Int32, since: Date, command: String), now: Date = Date()) -> String {
        "`\(h.command)` (pid \(h.pid)) has held it for \(max(0, Int(now.timeIntervalSince(h.since)))) s"
    }

    /// The command's words, never its values: `hop config set blog` of `hop config set blog KEY=secret`
    /// (an error shown to another user must not quote a secret), `hop server` for the API.
    static func commandWords(_ args: [String] = CommandLine.arguments) -> String {
        guard args.count > 1 else { return "hop" }
        if args[1] == "server" { return "a request to hop server" }
        let words = args.dropFirst().prefix { !$0.hasPrefix("-") && !$0.contains("=") && !$0.contains("/") }.prefix(3)
        return (["hop"] + words).joined(separator: " ")
    }
    deinit { flock(fd, LOCK_UN); close(fd) }
}
