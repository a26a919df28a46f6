import Foundation
import HopBasics
import HopStore

// Users, tokens and the audit log.

public struct UserRef: Codable, Sendable, SchemaConstrained {
    public var name: String
    public init(name: String) { self.name = name }
    public static var fieldSchemas: [String: JSONValue] { ["name": FieldSchema.userName] }
}

public struct LimitInput: Codable, Sendable {
    public var limit: Int?
    public init(limit: Int? = nil) { self.limit = limit }
}

public enum ListUsers: HopOperation {
    public static let name = "listUsers"
    public static let summary = "Users with roles and grants."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/users")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [UserInfo] { try call.ops.users() }
}

public enum AddUser: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var name: String
        public var role: String
        public var apps: [String]?
        public var password: String?
        public init(name: String, role: String, apps: [String]? = nil, password: String? = nil) {
            self.name = name; self.role = role; self.apps = apps; self.password = password
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["name": FieldSchema.userName, "role": FieldSchema.role, "apps": ["type": "array", "items": FieldSchema.appName],
             "password": FieldSchema.password]
        }
    }
    public static let name = "addUser"
    public static let summary = "Add a user."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/users", status: 201)
    public static func run(_ input: Input, _ call: OperationCall) throws -> UserInfo {
        guard let role = Role(rawValue: input.role) else { throw HopError.invalid("role `\(input.role)` is not admin, deployer or viewer") }
        return try call.ops.userAdd(name: input.name, role: role, apps: input.apps ?? [], password: input.password)
    }
}

public enum RemoveUser: HopOperation {
    public static let name = "removeUser"
    public static let summary = "Remove a user with their tokens and sessions."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/users/{name}")
    public static func run(_ input: UserRef, _ call: OperationCall) throws -> UserInfo { try call.ops.userRemove(name: input.name) }
}

public enum SetPassword: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var name: String
        public var password: String
        public init(name: String, password: String) { self.name = name; self.password = password }
        public static var fieldSchemas: [String: JSONValue] { ["name": FieldSchema.userName, "password": FieldSchema.password] }
    }
    public static let name = "setPassword"
    public static let summary = "Set a user's dashboard password (admins, or the user)."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.PUT, "/api/users/{name}/password")
    public static func auditDetail(_ input: Input) -> [String: String] { ["name": input.name] }
    public static func run(_ input: Input, _ call: OperationCall) throws -> UserInfo { try call.ops.userPasswd(name: input.name, password: input.password) }
}

public enum ListTokens: HopOperation {
    public static let name = "listTokens"
    public static let summary = "API tokens (never their secrets)."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/tokens")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [TokenInfo] { try call.ops.tokens() }
}

public enum CreateToken: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var user: String
        public var label: String?
        public var expiresInSeconds: Double?
        public init(user: String, label: String? = nil, expiresInSeconds: Double? = nil) {
            self.user = user; self.label = label; self.expiresInSeconds = expiresInSeconds
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["user": FieldSchema.userName, "label": ["type": "string", "maxLength": 100, "pattern": "^[^\\n\\r]*$"],
             "expiresInSeconds": ["type": "number", "exclusiveMinimum": 0, "maximum": 94_608_000]]
        }
    }
    public static let name = "createToken"
    public static let summary = "Create a token; the response is the only place its secret appears."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/tokens", status: 201)
    public static func run(_ input: Input, _ call: OperationCall) throws -> TokenInfo {
        try call.ops.tokenCreate(user: input.user, label: input.label ?? "", expiresIn: input.expiresInSeconds)
    }
}

public enum RevokeToken: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var id: String
        public init(id: String) { self.id = id }
        public static var fieldSchemas: [String: JSONValue] { ["id": FieldSchema.hexID] }
    }
    public static let name = "revokeToken"
    public static let summary = "Revoke a token."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/tokens/{id}")
    public static func run(_ input: Input, _ call: OperationCall) throws -> TokenInfo { try call.ops.tokenRevoke(id: input.id) }
}

public enum ReadAudit: HopOperation {
    public static let name = "audit"
    public static let summary = "The audit log, oldest first."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/audit")
    public static func run(_ input: LimitInput, _ call: OperationCall) throws -> [AuditInfo] { try call.ops.audit(limit: input.limit) }
}

public enum VerifyAudit: HopOperation {
    public static let name = "auditVerify"
    public static let summary = "Recompute the audit log's hash chain."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/audit/verify")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> AuditVerification { try call.ops.auditVerify() }
}

public enum CheckpointAudit: HopOperation {
    public static let name = "auditCheckpoint"
    public static let summary = "Sign the audit log's head with hop's key (after verifying it); keep the line where a rewrite of this machine cannot reach it."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/audit/checkpoint")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> AuditCheckpoint { try call.ops.auditCheckpoint() }
}
