import Foundation
import HopBasics

/// The systemd hop runs apps under, and the view of its filesystem: the private host booted by
/// `hop host up` (its /run is reached from outside as /proc/PID/root/run), or the machine's own
/// systemd when it is PID 1.
public struct ServiceHost: Sendable {
    /// Prefix that turns a path as the host's services see it into a path hop can open.
    public let rootPrefix: String
    /// The private host's PID 1 (nil for the native host).
    public let pid: Int32?
    public let runner: any ProcessRunner
    /// systemd's operations on this host (start, stop, show, …): `Systemctl` unless a test gives a fake.
    public let services: any ServiceManager

    public init(rootPrefix: String, pid: Int32?, runner: any ProcessRunner, services: (any ServiceManager)? = nil) {
        self.rootPrefix = rootPrefix
        self.pid = pid
        self.runner = runner
        self.services = services ?? Systemctl(pid: pid, runner: runner)
    }

    /// The private host for `home` when it runs, else the native systemd when it is PID 1.
    public static func resolve(home: HopHome, runner: any ProcessRunner = SystemRunner()) throws -> ServiceHost {
        let priv = PrivateHost(stateDir: home.root + "/host", runner: runner)
        if let p = priv.pid() {
            return ServiceHost(rootPrefix: "/proc/\(p)/root", pid: p, runner: runner)
        }
        if let comm = try? String(contentsOfFile: "/proc/1/comm", encoding: .utf8),
           comm.trimmingCharacters(in: .whitespacesAndNewlines) == "systemd",
           FileManager.default.fileExists(atPath: "/run/systemd/system") {
            return ServiceHost(rootPrefix: "", pid: nil, runner: runner)
        }
        throw HopError(.environment, "no systemd to run apps under: systemd is not PID 1 here and the private host is not running",
                       hint: "run `hop host up` (a private systemd for containers and CI)")
    }

    /// The systemd of the machine hop runs on (PID 1 here): for hop server running inside the
    /// service host, where the private host's PID file names a PID of the outer namespace.
    public static func native(runner: any ProcessRunner = SystemRunner()) -> ServiceHost {
        ServiceHost(rootPrefix: "", pid: nil, runner: runner)
    }

    /// A path as the services see it, made openable by hop.
    public func path(_ servicePath: String) -> String { rootPrefix + servicePath }

    /// Where hop installs units (as the services see it): the runtime unit directory.
    public var unitDirectory: String { "/run/systemd/system" }

    /// Runs a program inside the host's namespaces (directly on a native host).
    public func command(_ executable: String, _ arguments: [String]) -> Command {
        Self.command(executable, arguments, pid: pid)
    }

    static func command(_ executable: String, _ arguments: [String], pid: Int32?) -> Command {
        if let pid { return Command("nsenter", ["-t", "\(pid)", "-m", "-p", executable] + arguments) }
        return Command(executable, arguments)
    }

    public func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        try runner.run(command(executable, arguments))
    }

    /// systemctl; a non-zero exit is a result, not an error.
    @discardableResult
    public func systemctl(_ args: [String]) throws -> ProcessResult {
        try run("systemctl", args)
    }

    /// systemctl that must succeed.
    public func systemctlChecked(_ args: [String], what: String) throws {
        try services.require(try systemctl(args), args, what: what)
    }

    /// Unit properties (`systemctl show -p …`) for several units at once, in order.
    public func show(_ units: [String], properties: [String]) throws -> [[String: String]] {
        try services.show(units, properties: properties)
    }
}
