import Foundation
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// A program started with its standard input and output connected to descriptors hop holds (a
/// pipe end or a file), and its standard error captured to a root-only file: the streaming seam
/// backups use (libarchive → age → file, file → age → libarchive), where `ProcessRunner`'s
/// whole-buffer model would hold a gigabyte in memory.
struct PipedProcess {
    let pid: pid_t
    let command: String
    let stderrPath: String

    static func resolve(_ name: String) throws -> String {
        if name.hasPrefix("/") { return name }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if access(p, X_OK) == 0 { return p }
        }
        let package = name.hasPrefix("age") ? "age" : name
        throw HopError(.environment, "`\(name)` is not installed", hint: "install Debian's \(package) package (scripts/setup.sh does)")
    }

    /// Starts `executable` with stdin/stdout dup'ed from the given descriptors (nil: /dev/null).
    static func spawn(_ executable: String, _ args: [String], stdin: Int32?, stdout: Int32?, scratch: String,
                      environment: [String: String] = [:]) throws -> PipedProcess {
        let exe = try resolve(executable)
        let errPath = scratch + "/stderr-\(UUID().uuidString.prefix(8))"
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        // Spawn resets SIGPIPE (which hop ignores) to its default in the child, so age, rclone or
        // zstd writing into a pipe whose reader died gets the signal its code expects.
        let pid: pid_t
        do throws(Spawn.Failure) {
            pid = try Spawn.spawn([exe] + args, environment: env, stdin: stdin.map { .descriptor($0) } ?? .null,
                                  stdout: stdout.map { .descriptor($0) } ?? .null,
                                  stderr: .file(errPath, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600))
        } catch {
            throw HopError(.environment, "cannot start \(exe): \(error.message)")
        }
        return PipedProcess(pid: pid, command: ([exe] + args).map(shellQuote).joined(separator: " "), stderrPath: errPath)
    }

    /// Waits for the process; returns its exit status (128+signal when killed) and its stderr tail.
    func wait() -> (status: Int32, stderr: String) {
        let status = Spawn.wait(pid)
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        unlink(stderrPath)
        return (status, String(text.suffix(600)).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// A close-on-exec pipe, made under the spawn lock so no child started meanwhile inherits it.
func makePipe() throws -> (read: Int32, write: Int32) { try Spawn.pipe() }

/// The age identity that encrypts hop's backups: `$HOP_HOME/keys/backup.age` (0600), made with
/// Debian's `age-keygen`. Archives are encrypted to its recipient (plus any extra recipients in
/// `$HOP_HOME/keys/backup-recipients.txt`), so `age -d -i backup.age FILE | tar -x --zstd` opens
/// one on a machine without hop. Keep a copy of the identity off the machine: without it no
/// backup can be read.
struct BackupKey {
    let identityPath: String
    let recipient: String
    let extraRecipientsFile: String?

    static func path(_ home: HopHome) -> String { home.root + "/keys/backup.age" }

    static func load(_ home: HopHome, runner: any ProcessRunner, create: Bool) throws -> BackupKey {
        let path = Self.path(home)
        if !FileManager.default.fileExists(atPath: path) {
            guard create else { throw HopError(.notFound, "there is no backup key at \(path)", hint: "restore the key you kept off this machine to \(path) (mode 0600)") }
            try FileManager.default.createDirectory(atPath: home.root + "/keys", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let tmp = path + ".new-\(getpid())"
            unlink(tmp)
            let old = umask(0o077)
            let r = try runner.run(Command(try PipedProcess.resolve("age-keygen"), ["-o", tmp]))
            umask(old)
            guard r.succeeded else { unlink(tmp); throw HopError(.environment, "age-keygen failed", detail: r.stderrTail(3)) }
            chmod(tmp, 0o600)
            // link(2): never replaces a key another hop made meanwhile.
            if link(tmp, path) != 0 && errno != EEXIST { unlink(tmp); throw HopError(.environment, "cannot create \(path): \(String(cString: strerror(errno)))") }
            unlink(tmp)
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw HopError(.environment, "cannot read \(path)") }
        if st.st_mode & 0o077 != 0 { throw HopError(.environment, "\(path) can be read by others", hint: "chmod 600 \(path)") }
        let r = try runner.run(Command(try PipedProcess.resolve("age-keygen"), ["-y", path]))
        guard r.succeeded, let recipient = r.stdoutText.split(separator: "\n").first.map(String.init), recipient.hasPrefix("age1") else {
            throw HopError(.environment, "\(path) is not an age identity", detail: r.stderrTail(2))
        }
        let extra = home.root + "/keys/backup-recipients.txt"
        return BackupKey(identityPath: path, recipient: recipient, extraRecipientsFile: FileManager.default.fileExists(atPath: extra) ? extra : nil)
    }

    var encryptArguments: [String] { ["-e", "-r", recipient] + (extraRecipientsFile.map { ["-R", $0] } ?? []) }
}
