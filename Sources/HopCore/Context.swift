import Foundation
import Logging
import HopBasics
import HopStore
import Runtime

/// One step of a long operation, for an interface to show: a progress line in a terminal, a
/// server-sent event over HTTP.
public struct ProgressEvent: Sendable, Codable, Equatable {
    /// `build`, `activate`, `serving`, `watch`, `restore`…
    public var phase: String
    public var message: String
    public var done: Int?
    public var total: Int?
    public init(phase: String, message: String, done: Int? = nil, total: Int? = nil) {
        self.phase = phase; self.message = message; self.done = done; self.total = total
    }
}

/// Who is asking: a user with a role and the apps granted to them. Root on the host is admin.
public struct Principal: Sendable, Codable, Equatable {
    public var name: String
    public var role: Role
    /// Apps a deployer or viewer may act on; ignored for an admin.
    public var apps: Set<String>

    public init(name: String, role: Role, apps: Set<String> = []) {
        self.name = name; self.role = role; self.apps = apps
    }

    /// The operator at the server's terminal (root): everything.
    public static let root = Principal(name: "root", role: .admin)

    /// Whether this principal may do `permission` (on `app` when the operation concerns one app).
    public func may(_ permission: Permission, app: String?) -> Bool {
        switch role {
        case .admin: return true
        case .deployer:
            guard permission != .admin, let app else { return false }
            return apps.contains(app)
        case .viewer:
            guard permission == .read, let app else { return false }
            return apps.contains(app)
        }
    }
}

/// What an operation needs: reading an app, changing an app, or administering hop itself.
public enum Permission: String, Sendable, Codable {
    case read, deploy, admin
}

/// Everything one invocation of an operation runs with: where hop's state is, how processes are
/// started, where units run, who is asking and through which interface, and where progress and
/// log messages go. Interfaces make one per request; nothing in HopCore reads the environment.
public struct HopContext: Sendable {
    public var home: HopHome
    public var runner: any ProcessRunner
    public var principal: Principal
    /// The interface: `cli`, `api`, `dashboard`, `git`. Recorded in the audit log.
    public var via: String
    public var logger: Logger
    public var progress: @Sendable (ProgressEvent) -> Void
    /// A service host to use instead of resolving one (tests, the server's long-lived host).
    public var serviceHostOverride: ServiceHost?
    /// The PID of hop's nginx worker that carries this request, when it came through the front:
    /// an nginx reload must not wait for that worker, which waits for this operation.
    public var frontWorker: String?
    /// An open database to use instead of opening the file (a long-running server keeps one).
    public var sharedDatabase: HopDatabase?
    /// Whether an activation returns once its target serves, leaving the watch window and the old
    /// generation's retirement to a background `hop settle` (the CLI and API default; `--wait`
    /// and in-process callers keep it inline).
    public var settleInBackground = false

    public init(home: HopHome, runner: any ProcessRunner = SystemRunner(), principal: Principal = .root, via: String = "cli",
                logger: Logger = Logger(label: "hop"), serviceHost: ServiceHost? = nil,
                progress: @escaping @Sendable (ProgressEvent) -> Void = { _ in }) {
        self.home = home; self.runner = runner; self.principal = principal; self.via = via
        self.logger = logger; self.serviceHostOverride = serviceHost; self.progress = progress
    }

    /// hop's database. With `create`, HOP_HOME and the file are made when missing.
    public func database(create: Bool = false) throws -> HopDatabase {
        if let sharedDatabase { return sharedDatabase }
        try home.checkDatabaseNotLost()
        if create {
            try home.ensure()
        } else if !FileManager.default.fileExists(atPath: home.database) {
            throw HopError(.notFound, "no builds yet in \(home.root)", hint: "run `hop build PATH` first (HOP_HOME selects the state directory)")
        }
        return try HopDatabase(path: home.database)
    }

    /// The database when it exists; nil on a fresh install (reads then see nothing).
    public func existingDatabase() throws -> HopDatabase? {
        if let sharedDatabase { return sharedDatabase }
        try home.checkDatabaseNotLost()
        return FileManager.default.fileExists(atPath: home.database) ? try HopDatabase(path: home.database) : nil
    }

    public func serviceHost() throws -> ServiceHost {
        if let serviceHostOverride { return serviceHostOverride }
        return try ServiceHost.resolve(home: home, runner: runner)
    }

    /// A warning for the user: to the log, and as a progress event an interface shows.
    func warn(_ message: String) {
        logger.warning("\(message)")
        progress(ProgressEvent(phase: "warning", message: message))
    }

    /// Throws `.forbidden` unless the principal may do `permission` (on `app`).
    public func authorize(_ permission: Permission, app: String?, action: String) throws {
        guard principal.may(permission, app: app) else {
            let on = app.map { " on \($0)" } ?? ""
            throw HopError(.forbidden, "\(principal.name) (\(principal.role.rawValue)) may not \(action)\(on)",
                           hint: principal.role == .admin ? nil : "ask an admin to grant the app or a role that allows it")
        }
    }
}
