import Foundation
import HopBasics

/// A private, real systemd for hosts where systemd is not PID 1 (containers, CI): booted in its
/// own PID and mount namespaces, with tmpfs on /tmp and /run *inside* the namespace before
/// systemd starts (otherwise systemd-tmpfiles empties the host's /tmp), a /var/tmp of its own (in
/// its state directory), and only basic.target
/// (so the host's enabled services do not start in it). It shares the host's network, so units
/// bind loopback ports the host can reach. Stopped by killing its PID 1.
public struct PrivateHost: Sendable {
    public let stateDir: String
    public let runner: any ProcessRunner
    /// Directories the host's services must see at the same path (hop's home: env files, nginx
    /// config). One under /tmp or /run would be hidden by the namespace's own tmpfs, so it is
    /// bind-mounted back in at the same path before systemd starts.
    public let shared: [String]

    public init(stateDir: String, shared: [String] = [], runner: any ProcessRunner = SystemRunner()) {
        self.stateDir = stateDir
        self.shared = shared
        self.runner = runner
    }

    var pidFile: String { stateDir + "/systemd.pid" }
    var launcherPidFile: String { stateDir + "/unshare.pid" }

    /// The host PID of the namespace's systemd (its PID 1), when it is running.
    public func pid() -> Int32? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let p = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), p > 1 else { return nil }
        guard let cmd = try? String(contentsOfFile: "/proc/\(p)/cmdline", encoding: .utf8),
              cmd.contains("systemd"), !isZombie(p) else { return nil }
        return p
    }

    func isZombie(_ p: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    /// Boots the private systemd (no-op when it already runs) and waits until it is up.
    @discardableResult
    public func up(timeout: TimeInterval = 30) throws -> Int32 {
        if let p = pid() { return p }
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? FileManager.default.removeItem(atPath: pidFile)
        try? FileManager.default.removeItem(atPath: launcherPidFile)
        guard FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd") else {
            throw HopError(.environment, "systemd is not installed (/lib/systemd/systemd)", hint: "apt install systemd")
        }
        // The inner shell runs as the namespace's PID 1 and execs systemd only if both tmpfs
        // mounts succeeded.
        var inner = ""
        // Apps' state belongs to this host: its /var/lib/hop-apps (and systemd's private copy for
        // dynamic users) are directories of the host's state, so two hosts on one machine (test
        // runs, say) never see each other's app data, and removing the host's state removes it.
        let appState = stateDir + "/app-state"
        inner += "mkdir -p \(shellQuote(appState))/public \(shellQuote(appState))/private && chmod 0700 \(shellQuote(appState))/private && "
        inner += "mkdir -p -m 0700 /var/lib/private && mkdir -p /var/lib/hop-apps /var/lib/private/hop-apps && "
        inner += "mount --bind \(shellQuote(appState))/public /var/lib/hop-apps && "
        inner += "mount --bind \(shellQuote(appState))/private /var/lib/private/hop-apps && "
        // Apps' cache directories (their HOME) likewise.
        inner += "mkdir -p \(shellQuote(appState))/cache-public \(shellQuote(appState))/cache-private && chmod 0700 \(shellQuote(appState))/cache-private && "
        inner += "mkdir -p -m 0700 /var/cache/private && mkdir -p /var/cache/hop-apps /var/cache/private/hop-apps && "
        inner += "mount --bind \(shellQuote(appState))/cache-public /var/cache/hop-apps && "
        inner += "mount --bind \(shellQuote(appState))/cache-private /var/cache/private/hop-apps && "
        // Addon servers' data (PostgreSQL's cluster…) likewise.
        inner += "mkdir -p \(shellQuote(appState))/addons-public \(shellQuote(appState))/addons-private && chmod 0700 \(shellQuote(appState))/addons-private && "
        inner += "mkdir -p /var/lib/hop-addons /var/lib/private/hop-addons && "
        inner += "mount --bind \(shellQuote(appState))/addons-public /var/lib/hop-addons && "
        inner += "mount --bind \(shellQuote(appState))/addons-private /var/lib/private/hop-addons && "
        // /var/tmp is the host's state directory's own: systemd-tmpfiles at boot removes every
        // `/var/tmp/systemd-private-*` (`R!` in Debian's tmpfiles.d), which would pull the private
        // /var/tmp from under the units of another host on this machine (a second test run, or the
        // machine's own systemd).
        inner += "mkdir -p \(shellQuote(stateDir))/var-tmp && chmod 1777 \(shellQuote(stateDir))/var-tmp && "
        let hidden = shared.filter { $0.hasPrefix("/tmp/") || $0.hasPrefix("/run/") }
        // A tmpfs on /mnt (private to the namespace) holds the bind mounts while /tmp and /run
        // are replaced; nothing is written to the host's /mnt.
        if !hidden.isEmpty { inner += "mount -t tmpfs tmpfs /mnt && " }
        for (i, dir) in hidden.enumerated() {
            inner += "mkdir -p /mnt/\(i) && mount --bind \(shellQuote(dir)) /mnt/\(i) && "
        }
        inner += "mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && "
        for (i, dir) in hidden.enumerated() {
            inner += "mkdir -p \(shellQuote(dir)) && mount --move /mnt/\(i) \(shellQuote(dir)) && "
        }
        // (After the shared directories are back: the state directory may be under /tmp.)
        if !shared.contains(where: { $0.hasPrefix("/var/tmp/") }) { inner += "mount --bind \(shellQuote(stateDir))/var-tmp /var/tmp && " }
        inner += "exec /lib/systemd/systemd --system --unit=basic.target --show-status=no"
        let launch = "echo $$ > \(shellQuote(launcherPidFile)); exec unshare -p -f -m --mount-proc --propagation private /bin/sh -c \(shellQuote(inner))"
        let r = try runner.run(Command("/usr/bin/setsid", ["-f", "/bin/sh", "-c", launch + " </dev/null >/dev/null 2>&1"]))
        guard r.succeeded else { throw HopError(.environment, "could not start the private systemd", detail: r.stderrTail(5)) }
        let deadline = Date().addingTimeInterval(timeout)
        var systemdPID: Int32?
        while Date() < deadline {
            if systemdPID == nil, let text = try? String(contentsOfFile: launcherPidFile, encoding: .utf8),
               let u = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               let children = try? String(contentsOfFile: "/proc/\(u)/task/\(u)/children", encoding: .utf8),
               let child = children.split(separator: " ").first.flatMap({ Int32($0) }) {
                systemdPID = child
                try "\(child)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
            }
            if let p = systemdPID {
                let s = try? runner.run(Command("nsenter", ["-t", "\(p)", "-m", "-p", "systemctl", "is-system-running"]))
                let state = s?.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                if state == "running" || state == "degraded" { return p }
            }
            usleep(200_000)
        }
        try? down()
        throw HopError(.environment, "the private systemd did not come up within \(Int(timeout)) s",
                       hint: "check that this machine allows PID and mount namespaces (unshare -p -m)")
    }

    /// Kills the namespace's PID 1; every process in it dies with it.
    public func down() throws {
        guard let p = pid() else {
            try? FileManager.default.removeItem(atPath: pidFile)
            return
        }
        kill(p, SIGKILL)
        // A PID namespace's init becomes a zombie (or disappears) only after every process in the
        // namespace has exited, so this waits for the whole tree.
        for _ in 0..<200 {
            guard let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8) else { break }
            if stat.contains(") Z ") { break }
            usleep(50_000)
        }
        try? FileManager.default.removeItem(atPath: pidFile)
        try? FileManager.default.removeItem(atPath: launcherPidFile)
    }

    /// systemctl inside the private host.
    public func systemctl(_ args: [String]) throws -> ProcessResult {
        guard let p = pid() else {
            throw HopError(.environment, "the private systemd host is not running", hint: "run `hop host up`")
        }
        return try runner.run(Command("nsenter", ["-t", "\(p)", "-m", "-p", "systemctl"] + args))
    }

    /// Where units go: the private host's own /run/systemd/system, reached through /proc.
    public func unitDirectory() throws -> String {
        guard let p = pid() else {
            throw HopError(.environment, "the private systemd host is not running", hint: "run `hop host up`")
        }
        return "/proc/\(p)/root/run/systemd/system"
    }

    public func state() -> String {
        guard pid() != nil, let r = try? systemctl(["is-system-running"]) else { return "stopped" }
        return r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
