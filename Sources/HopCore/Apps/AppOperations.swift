import Foundation
import HopBasics

// The operations on apps: reads, deploys, rollbacks, scale, control, config, logs, destroy.
// Each wraps the `Operations` method that does the work (and authorises and audits it).

public struct AppInput: Codable, Sendable, SchemaConstrained {
    public var app: String
    public init(app: String) { self.app = app }
    public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName] }
}

public struct Health: Codable, Sendable { public var ok: Bool; public var version: String }
public struct WhoAmI: Codable, Sendable { public var name: String; public var role: String; public var apps: [String] }
public struct ConfigView: Codable, Sendable {
    public var app: String
    /// Keys with their values, or with `null` values when masked.
    public var values: [String: String?]
    public var masked: Bool
}

public enum HealthCheck: HopOperation {
    public static let name = "health"
    public static let summary = "Liveness and version (no authentication)."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/health", anonymous: true)
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> Health { Health(ok: true, version: hopVersion) }
}

public enum WhoAmIOperation: HopOperation {
    public static let name = "whoami"
    public static let summary = "The authenticated user, role and granted apps."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/whoami")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> WhoAmI {
        let p = call.ctx.principal
        return WhoAmI(name: p.name, role: p.role.rawValue, apps: p.apps.sorted())
    }
}

public enum ListApps: HopOperation {
    public static let name = "listApps"
    public static let summary = "Apps the caller may see: state, serving generation, URL."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [AppSummary] { try call.ops.apps() }
}

public enum ListDomains: HopOperation {
    public static let name = "listDomains"
    public static let summary = "Which app owns which domain (of the apps the caller may see)."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/domains")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [DomainOwner] { try call.ops.domains() }
}

/// An operation on one named app, authorised and audited by its `Operations` method.
public protocol AppOperation: HopOperation where Input: AppScoped {}
public protocol AppScoped { var app: String { get } }
extension AppInput: AppScoped {}
extension AppOperation {
    public static var audit: AuditMode { .operation }
    public static func app(of input: Input) -> String? { input.app }
}

public enum ListGenerations: AppOperation {
    public static let name = "listGenerations"
    public static let summary = "An app's generations."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/generations")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> [GenerationInfo] { try call.ops.generations(app: input.app) }
}

public enum AppInfoOperation: AppOperation {
    public static let name = "appInfo"
    public static let summary = "One app at a glance, checked now: URLs (answering through nginx?), state, generations, processes with CPU and memory, addons, volumes, domains, certificate, last deploy and backup."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/info")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> AppInfo { try call.ops.info(app: input.app) }
}

public enum ListProcesses: AppOperation {
    public static let name = "listProcesses"
    public static let summary = "The serving generation's processes."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/processes")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> ProcessList { try call.ops.ps(app: input.app) }
}

public struct RevealInput: Codable, Sendable, SchemaConstrained, AppScoped {
    public var app: String
    public var reveal: Bool?
    public init(app: String, reveal: Bool? = nil) { self.app = app; self.reveal = reveal }
    public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName] }
}

public enum GetConfig: AppOperation {
    public static let name = "getConfig"
    public static let summary = "Config keys; values only with reveal=true (deployers and admins)."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/config")
    public static func run(_ input: RevealInput, _ call: OperationCall) throws -> ConfigView {
        if input.reveal == true {
            return ConfigView(app: input.app, values: try call.ops.config(app: input.app).mapValues { Optional($0) }, masked: false)
        }
        return ConfigView(app: input.app, values: Dictionary(uniqueKeysWithValues: try call.ops.configKeys(app: input.app).map { ($0, String?.none) }),
                          masked: true)
    }
}

public enum GetEnvironment: AppOperation {
    public static let name = "getEnvironment"
    public static let summary = "Every variable the app's processes receive, with its source; generated, computed and addon values only with reveal=true (audited)."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/environment")
    public static func run(_ input: RevealInput, _ call: OperationCall) throws -> AppEnvironment {
        try call.ops.environment(app: input.app, reveal: input.reveal ?? false)
    }
}

public enum ChangeConfig: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var set: [String: String]?
        public var unset: [String]?
        public var watch: Double?
        /// Return only after the watch window and the old generation's retirement (default: once it serves).
        public var wait: Bool?
        public init(app: String, set: [String: String]? = nil, unset: [String]? = nil, watch: Double? = nil, wait: Bool? = nil) {
            self.app = app; self.set = set; self.unset = unset; self.watch = watch; self.wait = wait
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["app": FieldSchema.appName, "watch": FieldSchema.watch,
             "set": ["type": "object", "additionalProperties": ["type": "string", "pattern": "^[^\\u0000]*$"],
                     "propertyNames": FieldSchema.configKey],
             "unset": ["type": "array", "items": FieldSchema.configKey]]
        }
        public static var objectRules: [String: JSONValue] {
            ["anyOf": [["required": ["set"], "properties": ["set": ["minProperties": 1]]],
                       ["required": ["unset"], "properties": ["unset": ["minItems": 1]]]]]
        }
    }
    public static let name = "changeConfig"
    public static let summary = "Set and unset config values; a deployed app rolls out a generation with them."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.PATCH, "/api/apps/{app}/config")
    public static func run(_ input: Input, _ call: OperationCall) throws -> ConfigResult {
        try call.ops.settling(input.wait != true).changeConfig(app: input.app, set: (input.set ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                  unset: input.unset ?? [], watch: input.watch ?? Defaults.watch)
    }
}

public enum Deploy: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var path: String?
        public var build: Int64?
        public var watch: Double?
        public var force: Bool?
        /// Return only after the watch window and the old generation's retirement (default: once it serves).
        public var wait: Bool?
        public init(app: String, path: String? = nil, build: Int64? = nil, watch: Double? = nil, force: Bool? = nil, wait: Bool? = nil) {
            self.app = app; self.path = path; self.build = build; self.watch = watch; self.force = force; self.wait = wait
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["app": FieldSchema.appName, "path": ["type": "string", "minLength": 1], "build": FieldSchema.positive, "watch": FieldSchema.watch]
        }
        public static var objectRules: [String: JSONValue] { ["oneOf": [["required": ["path"]], ["required": ["build"]]]] }
    }
    public static let name = "deploy"
    public static let summary = "Deploy a source tree on the server (admin) or a recorded build (deployer). Streams progress with Accept: text/event-stream."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/deploy", streams: true)
    public static func run(_ input: Input, _ call: OperationCall) throws -> DeployResult {
        try call.ops.settling(input.wait != true).deploy(.init(path: input.path, build: input.build, app: input.app,
                                                               watch: input.watch ?? Defaults.watch, force: input.force ?? false))
    }
}

public enum DeploySource: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var watch: Double?
        public var force: Bool?
        /// Return only after the watch window and the old generation's retirement (default: once it serves).
        public var wait: Bool?
        public init(app: String, watch: Double? = nil, force: Bool? = nil, wait: Bool? = nil) {
            self.app = app; self.watch = watch; self.force = force; self.wait = wait
        }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName, "watch": FieldSchema.watch] }
    }
    public static let name = "deploySource"
    public static let summary = "Upload a source tree (a tar, as `hop deploy PATH --remote` sends it) and deploy it to the app (deployer). Streams progress with Accept: text/event-stream."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/source", query: ["watch", "force", "wait"], streams: true, upload: true)
    public static func run(_ input: Input, _ call: OperationCall) throws -> DeployResult {
        guard let file = call.upload else { throw HopError.invalid("send the source tar as the request body") }
        let watch = input.watch ?? Defaults.watch
        guard watch >= 0, watch <= 3600 else { throw HopError.invalid("the query parameter watch=\(watch) is not a number of seconds from 0 to 3600") }
        return try call.ops.settling(input.wait != true).deploySource(app: input.app, archive: file, watch: watch, force: input.force ?? false)
    }
}

public enum Rollback: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var to: Int?
        public var withData: Bool?
        /// Return only after the old generation's retirement (default: once the earlier one serves).
        public var wait: Bool?
        public init(app: String, to: Int? = nil, withData: Bool? = nil, wait: Bool? = nil) {
            self.app = app; self.to = to; self.withData = withData; self.wait = wait
        }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName, "to": FieldSchema.positive] }
    }
    public static let name = "rollback"
    public static let summary = "Serve an earlier generation again (default: the previous one)."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/rollback", streams: true)
    public static func run(_ input: Input, _ call: OperationCall) throws -> RollbackResult {
        try call.ops.settling(input.wait != true).rollback(app: input.app, to: input.to, withData: input.withData ?? false)
    }
}

public enum Scale: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var counts: [String: Int]
        public var watch: Double?
        /// Return only after the watch window and the old generation's retirement (default: once it serves).
        public var wait: Bool?
        public init(app: String, counts: [String: Int], watch: Double? = nil, wait: Bool? = nil) {
            self.app = app; self.counts = counts; self.watch = watch; self.wait = wait
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["app": FieldSchema.appName, "watch": FieldSchema.watch,
             "counts": ["type": "object", "minProperties": 1, "additionalProperties": ["type": "integer", "minimum": 0, "maximum": 64]]]
        }
    }
    public static let name = "scale"
    public static let summary = "Set instance counts: a new generation, switched without downtime."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/scale", streams: true)
    public static func run(_ input: Input, _ call: OperationCall) throws -> GenerationInfo {
        try call.ops.settling(input.wait != true).scale(app: input.app, counts: input.counts, watch: input.watch ?? Defaults.watch)
    }
}

/// `hop start|stop|restart`: the control verbs.
public enum ControlVerb: String, Sendable, Codable, CaseIterable, SchemaEnumeration { case start, stop, restart }

public enum StartApp: AppOperation {
    public static let name = "start"
    public static let summary = "Start the app's processes."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/start")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> ActionResult { try call.ops.control(ControlVerb.start.rawValue, app: input.app) }
}

public enum StopApp: AppOperation {
    public static let name = "stop"
    public static let summary = "Stop the app's processes."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/stop")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> ActionResult { try call.ops.control(ControlVerb.stop.rawValue, app: input.app) }
}

public enum RestartApp: AppOperation {
    public static let name = "restart"
    public static let summary = "Restart without downtime (a fresh generation)."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/restart", streams: true)
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> ActionResult { try call.ops.control(ControlVerb.restart.rawValue, app: input.app) }
}

public enum Logs: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var lines: Int?
        public init(app: String, lines: Int? = nil) { self.app = app; self.lines = lines }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName] }
    }
    public static let name = "logs"
    public static let summary = "The app's last journal lines."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/logs")
    public static func run(_ input: Input, _ call: OperationCall) throws -> LogLines {
        try call.ops.logs(app: input.app, lines: input.lines ?? Defaults.logLines)
    }
}

public enum AppAudit: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var limit: Int?
        public init(app: String, limit: Int? = nil) { self.app = app; self.limit = limit }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName] }
    }
    public static let name = "appAudit"
    public static let summary = "The audit entries of one app."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/audit")
    public static func run(_ input: Input, _ call: OperationCall) throws -> [AuditInfo] { try call.ops.audit(app: input.app, limit: input.limit) }
}

public enum DestroyApp: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var purge: Bool?
        public init(app: String, purge: Bool? = nil) { self.app = app; self.purge = purge }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName] }
    }
    public static let name = "destroy"
    public static let summary = "Stop an app and remove it; its config and data stay unless purge=true."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/apps/{app}")
    public static func run(_ input: Input, _ call: OperationCall) throws -> DestroyResult {
        try call.ops.destroy(app: input.app, purge: input.purge ?? false)
    }
}

public enum AppCredentials: AppOperation {
    public static let name = "appCredentials"
    public static let summary = "The app's [admin] username, email and generated password (audited)."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/credentials")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> [String: String] { try call.ops.appCredentials(app: input.app) }
}

public enum CollectGarbage: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var keep: Int?
        public var app: String?
        public init(keep: Int? = nil, app: String? = nil) { self.keep = keep; self.app = app }
        public static var fieldSchemas: [String: JSONValue] { ["keep": ["type": "integer", "minimum": 0], "app": FieldSchema.appName] }
    }
    public static let name = "gc"
    public static let summary = "Drop old generations."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/gc")
    public static func app(of input: Input) -> String? { input.app }
    public static func run(_ input: Input, _ call: OperationCall) throws -> GCResult {
        try call.ops.gc(keep: input.keep ?? Defaults.keepGenerations, app: input.app)
    }
}
