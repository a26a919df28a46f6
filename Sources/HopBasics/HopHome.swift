import Foundation

/// hop's state directory (`$HOP_HOME`, default /var/lib/hop). Tests point it at a temporary
/// directory so they never share state with each other or with the host.
public struct HopHome: Sendable, Hashable {
    public let root: String

    public init(root: String) { self.root = root }

    /// `$HOP_HOME` or /var/lib/hop.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> HopHome {
        if let h = env["HOP_HOME"], !h.isEmpty { return HopHome(root: h) }
        return HopHome(root: "/var/lib/hop")
    }

    public var database: String { root + "/hop.db" }
    /// Symlinks registered with Nix as indirect GC roots, one per recorded build and seed.
    public var gcroots: String { root + "/gcroots" }
    /// Generated expressions, per app.
    public var apps: String { root + "/apps" }
    /// Scratch space for archives and seed staging; emptied by each user.
    public var tmp: String { root + "/tmp" }

    /// Creates the directories hop writes to (mode 0700: the DB may later hold config values).
    public func ensure() throws {
        for d in [root, gcroots, apps, tmp] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
    }

    /// Whether any app has a generation here (an `apps/<app>/profile` link): then hop.db must exist
    /// and hold them, and a missing or empty one is damage to report, never a fresh start.
    public func hasGenerations() -> Bool {
        guard let apps = try? FileManager.default.contentsOfDirectory(atPath: apps) else { return false }
        return apps.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: self.apps + "/" + $0 + "/profile")) != nil }
    }

    /// Throws when hop.db is missing or empty although generations exist (restore it, do not re-create it).
    public func checkDatabaseNotLost() throws {
        let st = fileStatus(atPath: database)
        let empty = st == nil || st?.size == 0
        guard empty, hasGenerations() else { return }
        throw HopError(.environment, "the database \(database) is \(st == nil ? "missing" : "empty") although apps have generations in \(apps)",
                       hint: "restore hop.db from a backup (hop will not start over and forget the apps it runs)")
    }

    /// A fresh scratch directory under tmp/, removed by the caller.
    public func scratch(_ label: String) throws -> String {
        try ensure()
        let d = tmp + "/\(label)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// The running hop binary, resolved through /proc/self/exe: right when hop was started from PATH
/// (argv[0] is then just "hop") or through a symlink.
public func runningHopBinary() -> String {
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return exe }
    return URL(fileURLWithPath: CommandLine.arguments.first ?? "hop").standardizedFileURL.resolvingSymlinksInPath().path
}

/// hop's own version, recorded with every build.
public let hopVersion = "0.1.0"
