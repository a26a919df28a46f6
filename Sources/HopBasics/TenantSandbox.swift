import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program that reads tenant input (a resolver that may execute a package's `setup.py` or
/// PEP 517 backend) as a throwaway, unprivileged identity: a fresh uid with no groups, no
/// capabilities and `no_new_privs`, in its own mount, PID, IPC and UTS namespaces (and an empty
/// network namespace, or one whose only way out is an `IndexRelay` to the index), where hop's state, the keys, `/root`,
/// `/home` and the temporary directories are empty tmpfs mounts. Its only writable place is a
/// private box directory, removed afterwards.
///
/// Built from util-linux's `unshare` and `setpriv` (always on Debian) rather than bubblewrap: run
/// by root, bubblewrap's `--uid` needs a user namespace that maps the sandbox's uid back to root
/// on the host, so file-permission checks would still see uid 0. Here the uid is a real
/// unprivileged one: a file readable only by root stays unreadable even if a hidden path is missed.
public struct TenantSandbox: Sendable, Hashable {
    /// Directories replaced by an empty tmpfs inside the sandbox (missing ones are skipped).
    public var hidden: [String]
    /// Reach the network (an index URL); otherwise the sandbox has only a loopback of its own.
    public var network: Bool
    /// A network namespace to run in (`/run/netns/NAME`, an `IndexRelay`'s) instead of an empty one.
    public var namespace: String?
    /// Where boxes are made: must not be under a hidden directory.
    public var boxParent: String

    /// What every sandbox hides, beyond hop's own state directory.
    public static let alwaysHidden = ["/root", "/home", "/tmp", "/var/tmp", "/var/lib/hop", "/var/lib/hop-git", "/etc/hop",
                                      "/var/lib/postgresql", "/var/lib/mysql", "/var/lib/redis", "/var/backups", "/etc/ssh", "/run"]

    public init(hiding stateDirectories: [String], network: Bool, boxParent: String = "/var/lib/hop-sandbox") {
        self.hidden = Self.alwaysHidden + stateDirectories
        self.network = network
        self.boxParent = boxParent
    }

    /// A box: `dir` (0700, owned by `uid`) with `work/`, `home/` and `tmp/` inside, and the paths the
    /// sandboxed program sees for each read-only input (`dir/in/N`).
    public struct Box: Sendable {
        public let dir: String
        public let uid: UInt32
        public let inputs: [String]
        public var work: String { dir + "/work" }
        public func inside(_ input: Int) -> String { dir + "/in/\(input)" }
    }

    /// Makes a box for one run; `inputs` are directories the program may read (wheelhouses).
    public func makeBox(inputs: [String]) throws -> Box {
        try FileManager.default.createDirectory(atPath: boxParent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        chmod(boxParent, 0o711)
        // A per-run identity far above every system and dynamic range (systemd's end at 65519 and
        // the container ranges at 2^31), so no file on the host belongs to it.
        let uid = UInt32(3_000_000_000) + UInt32.random(in: 0..<1_000_000_000)
        let dir = boxParent + "/box-\(uid)"
        for sub in ["", "/work", "/home", "/tmp"] {
            try FileManager.default.createDirectory(atPath: dir + sub, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            guard chown(dir + sub, uid, uid) == 0 else {
                throw HopError(.environment, "cannot give the sandbox directory to its identity: \(String(cString: strerror(errno)))",
                               at: SourceLocation(file: dir + sub), hint: "hop must run as root to sandbox tenant input")
            }
        }
        return Box(dir: dir, uid: uid, inputs: inputs)
    }

    /// Removes a box and everything the sandboxed program left in it.
    public func remove(_ box: Box) {
        try? FileManager.default.removeItem(atPath: box.dir)
    }

    /// The command that runs `command` (whose paths name `box.inside(i)` for inputs) in the sandbox.
    /// The script is hop's own text; every variable part is a positional argument, never spliced in.
    public func wrap(_ command: Command, in box: Box) -> Command {
        var args = ["--mount", "--pid", "--fork", "--ipc", "--uts", "--mount-proc", "--propagation", "private", "--kill-child"]
        if !network && namespace == nil { args.append("--net") }
        args += ["--", "/bin/sh", "-euc", Self.script, "hop-sandbox", box.dir, String(box.uid), String(box.inputs.count)]
        args += box.inputs
        args += [String(hidden.count)] + hidden
        var env = ["HOME": box.dir + "/home", "TMPDIR": box.dir + "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]
        for (k, v) in command.environment { if let v { env[k] = v } }
        args += ["/usr/bin/env", "-i"] + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        args += [command.executable] + command.arguments
        if let namespace {
            return Command("nsenter", ["--net=/run/netns/" + namespace, "--", "unshare"] + args, environment: [:], workingDirectory: "/", stdin: command.stdin)
        }
        return Command("unshare", args, environment: [:], workingDirectory: "/", stdin: command.stdin)
    }

    /// Binds the inputs read-only into the box, hides the state directories, then becomes the
    /// box's identity (no groups, no capabilities, no new privileges) in the box's work directory.
    static let script = #"""
    box=$1; id=$2; shift 2
    n=$1; shift; i=0
    while [ "$i" -lt "$n" ]; do
      mkdir -p "$box/in/$i"; mount --bind "$1" "$box/in/$i"; mount -o remount,bind,ro "$box/in/$i"
      shift; i=$((i+1))
    done
    n=$1; shift
    while [ "$n" -gt 0 ]; do
      case "$box/" in "$1"/*) ;; *) if [ -d "$1" ]; then mount -t tmpfs -o size=64k,mode=0755,nosuid,nodev hop-hidden "$1"; fi ;; esac
      shift; n=$((n-1))
    done
    cd "$box/work"
    exec setpriv --reuid="$id" --regid="$id" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"
    """#

    /// Whether hop can sandbox here: it must be root (an unprivileged hop is already unprivileged).
    public static var available: Bool { getuid() == 0 }
}
