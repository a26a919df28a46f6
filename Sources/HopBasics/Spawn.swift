import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one place hop starts a child process (posix_spawn). Every child gets default signal
/// dispositions and an empty signal mask, whatever hop itself ignores or blocks: hop ignores
/// SIGPIPE, and an ignored disposition survives exec, so a child writing into a closed pipe (age,
/// rclone, zstd after its reader died) would otherwise see EPIPE errors instead of the signal its
/// code expects; and a thread that blocked SIGTERM would hand that block to the child.
///
/// Not swift-subprocess: its API is async, while every caller here is synchronous (the process
/// runner, the backup pipelines that stream descriptors hop holds, `hop run`'s attached child, a
/// detached `rm`); a dependency would cost CI build time for what is one posix_spawn call.
/// Not Foundation's `Process` either: see `SystemRunner`.
public enum Spawn {
    /// Where one of the child's standard descriptors (0, 1, 2) comes from.
    public enum Stream: Sendable, Equatable {
        /// hop's own descriptor of that number.
        case inherit
        /// /dev/null (read-only for stdin, write-only for stdout and stderr).
        case null
        /// A descriptor hop holds (a pipe end, an open file), dup'ed onto it.
        case descriptor(Int32)
        /// A file opened in the child (`open(path, flags, mode)`).
        case file(String, flags: Int32, mode: mode_t)
    }

    /// Why a child did not start (posix_spawn's error number).
    public struct Failure: Error, Sendable {
        public let code: Int32
        public var message: String { String(cString: strerror(code)) }
    }

    /// Starts `argv[0]` (a full path: there is no PATH search here) with `argv`, and returns its
    /// process id; the caller waits for it (`wait(_:)`) or hands it to a thread that does.
    /// - environment: the child's whole environment; nil passes hop's own unchanged.
    /// - newProcessGroup: the child leads a process group of its own, so a terminal's ^C or
    ///   hang-up aimed at hop's group does not reach it (a detached cleanup outliving hop).
    /// Descriptors other than 0/1/2 are not passed on: hop opens everything close-on-exec
    /// (`pipe()` below for pipes).
    public static func spawn(_ argv: [String], environment: [String: String]? = nil,
                             stdin: Stream = .inherit, stdout: Stream = .inherit, stderr: Stream = .inherit,
                             newProcessGroup: Bool = false) throws(Failure) -> pid_t {
        precondition(!argv.isEmpty, "Spawn.spawn needs argv[0]")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (fd, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .inherit: break
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let source): posix_spawn_file_actions_adddup2(&actions, source, fd)
            case .file(let path, let flags, let mode): posix_spawn_file_actions_addopen(&actions, fd, path, flags, mode)
            }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &all)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))

        let cArgv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc: Int32
        if let environment {
            let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { envp.forEach { free($0) } }
            rc = spawnLock.withLock { posix_spawn(&pid, argv[0], &actions, &attr, cArgv, envp) }
        } else {
            rc = spawnLock.withLock { posix_spawn(&pid, argv[0], &actions, &attr, cArgv, environ) }
        }
        guard rc == 0 else { throw Failure(code: rc) }
        return pid
    }

    /// A pipe whose both ends are close-on-exec. Made under the lock `spawn` takes, so a child
    /// started from another thread meanwhile cannot inherit the ends (pipe2 is not exported to
    /// Swift on glibc).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        try spawnLock.withLock {
            var fds: [Int32] = [-1, -1]
            guard Glibc.pipe(&fds) == 0 else {
                throw HopError(.environment, "cannot create pipes: \(String(cString: strerror(errno)))")
            }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            return (fds[0], fds[1])
        }
    }

    /// Waits for `pid` and returns its exit status, or 128 + the signal that killed it (a shell's numbering).
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand (the macros are not imported).
        let termSig = status & 0x7f
        return termSig == 0 ? (status >> 8) & 0xff : 128 + termSig
    }
}

private let spawnLock = NSLock()
