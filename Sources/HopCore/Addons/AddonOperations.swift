import Foundation
import HopBasics

// Addons (backing services): list, create, show, credentials, destroy, migrate, attach, detach.

public struct AddonRefInput: Codable, Sendable, SchemaConstrained {
    public var addon: String
    public init(addon: String) { self.addon = addon }
    public static var fieldSchemas: [String: JSONValue] { ["addon": FieldSchema.addonName] }
}

public enum ListAddons: HopOperation {
    public static let name = "listAddons"
    public static let summary = "Addons (backing services) and the apps they are attached to; never passwords."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/addons")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [AddonInfo] { try call.ops.addons() }
}

public enum CreateAddon: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var type: String
        public var name: String
        public var extensions: [String]?
        public init(type: String, name: String, extensions: [String]? = nil) { self.type = type; self.name = name; self.extensions = extensions }
        public static var fieldSchemas: [String: JSONValue] {
            ["type": ["type": "string", "enum": ["postgres", "postgresql", "redis", "mariadb", "mysql"]], "name": FieldSchema.addonName,
             "extensions": ["type": "array", "items": ["type": "string", "maxLength": 63, "pattern": "^[a-z][a-z0-9_-]*$"]]]
        }
    }
    public static let name = "createAddon"
    public static let summary = "Create an addon: a database and role of its own on hop's PostgreSQL server."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/addons")
    public static func run(_ input: Input, _ call: OperationCall) throws -> AddonInfo {
        try call.ops.addonCreate(type: input.type, name: input.name, extensions: input.extensions ?? [])
    }
}

public enum ShowAddon: HopOperation {
    public static let name = "showAddon"
    public static let summary = "One addon (not its password)."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/addons/{addon}")
    public static func run(_ input: AddonRefInput, _ call: OperationCall) throws -> AddonInfo { try call.ops.addonInfo(name: input.addon) }
}

public enum AddonCredentials: HopOperation {
    public static let name = "addonCredentials"
    public static let summary = "An addon's connection variables, password included (audited)."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/addons/{addon}/credentials")
    public static func run(_ input: AddonRefInput, _ call: OperationCall) throws -> [String: String] { try call.ops.addonCredentials(name: input.addon) }
}

public enum DestroyAddon: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var addon: String
        public var force: Bool?
        public init(addon: String, force: Bool? = nil) { self.addon = addon; self.force = force }
        public static var fieldSchemas: [String: JSONValue] { ["addon": FieldSchema.addonName] }
    }
    public static let name = "destroyAddon"
    public static let summary = "Drop an addon's database and role; refused while attached unless force=true."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/addons/{addon}")
    public static func run(_ input: Input, _ call: OperationCall) throws -> AddonInfo { try call.ops.addonDestroy(name: input.addon, force: input.force ?? false) }
}

public enum MigrateAddon: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var addon: String
        public var watch: Double?
        public init(addon: String, watch: Double? = nil) { self.addon = addon; self.watch = watch }
        public static var fieldSchemas: [String: JSONValue] { ["addon": FieldSchema.addonName, "watch": FieldSchema.watch] }
    }
    public static let name = "migrateAddon"
    public static let summary = "Move a Redis addon of an earlier hop from the shared server to a server of its own, keys and all; attached apps restart with the new variables."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/addons/{addon}/migrate", query: ["watch"])
    public static func run(_ input: Input, _ call: OperationCall) throws -> AddonInfo {
        try call.ops.addonMigrate(name: input.addon, watch: input.watch ?? Defaults.watch)
    }
}

public enum AttachAddon: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var addon: String
        public var prefix: String?
        public var watch: Double?
        public init(app: String, addon: String, prefix: String? = nil, watch: Double? = nil) {
            self.app = app; self.addon = addon; self.prefix = prefix; self.watch = watch
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["app": FieldSchema.appName, "addon": FieldSchema.addonName, "watch": FieldSchema.watch,
             "prefix": ["type": "string", "maxLength": 64, "pattern": "^([A-Z][A-Z0-9_]*)?$"]]
        }
    }
    public static let name = "attachAddon"
    public static let summary = "Attach an addon: its variables (DATABASE_URL, PG*) reach the app, which restarts with them."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.PUT, "/api/apps/{app}/addons/{addon}")
    public static func run(_ input: Input, _ call: OperationCall) throws -> AddonInfo {
        try call.ops.addonAttach(app: input.app, addon: input.addon, prefix: input.prefix, watch: input.watch ?? Defaults.watch)
    }
}

public enum DetachAddon: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var addon: String
        public var watch: Double?
        public init(app: String, addon: String, watch: Double? = nil) { self.app = app; self.addon = addon; self.watch = watch }
        public static var fieldSchemas: [String: JSONValue] {
            ["app": FieldSchema.appName, "addon": FieldSchema.addonName, "watch": FieldSchema.watch]
        }
    }
    public static let name = "detachAddon"
    public static let summary = "Detach an addon from an app (its data stays)."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/apps/{app}/addons/{addon}")
    public static func run(_ input: Input, _ call: OperationCall) throws -> AddonInfo {
        try call.ops.addonDetach(app: input.app, addon: input.addon, watch: input.watch ?? Defaults.watch)
    }
}
