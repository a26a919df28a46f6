import Foundation
import HopBasics
import HopStore

// The SSH keys that may `git push`, each tied to a hop user.

/// One SSH key as interfaces show it (never its blob's file, dates as ISO 8601).
public struct SSHKeyInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var user: String
    public var type: String
    public var fingerprint: String
    public var comment: String
    public var addedAt: String
    public init(_ r: SSHKeyRecord) {
        id = r.id; user = r.user; type = r.type; fingerprint = r.fingerprint; comment = r.comment; addedAt = isoTime(r.addedAt)
    }
}

public enum ListSSHKeys: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var user: String?
        public init(user: String? = nil) { self.user = user }
        public static var fieldSchemas: [String: JSONValue] { ["user": FieldSchema.userName] }
    }
    public static let name = "listSSHKeys"
    public static let summary = "The SSH keys that may `git push`, with the user each pushes as."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/ssh-keys")
    public static func run(_ input: Input, _ call: OperationCall) throws -> [SSHKeyInfo] {
        if let user = input.user { try Operations.checkUserName(user) }
        return try call.ops.sshKeys(user: input.user).map(SSHKeyInfo.init)
    }
}

public enum AddSSHKey: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var user: String
        /// The public key line (`ssh-ed25519 AAAA… comment`).
        public var key: String
        public init(user: String, key: String) { self.user = user; self.key = key }
        public static var fieldSchemas: [String: JSONValue] {
            ["user": FieldSchema.userName, "key": ["type": "string", "minLength": 1, "maxLength": 16384]]
        }
    }
    public static let name = "addSSHKey"
    public static let summary = "Let an SSH key `git push` as a user (it deploys what the user may deploy)."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/ssh-keys", status: 201)
    public static func run(_ input: Input, _ call: OperationCall) throws -> SSHKeyInfo {
        SSHKeyInfo(try call.ops.sshKeyAdd(user: input.user, key: input.key))
    }
}

public enum RemoveSSHKey: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        /// A key's id or its `SHA256:` fingerprint.
        public var key: String
        public init(key: String) { self.key = key }
        public static var fieldSchemas: [String: JSONValue] { ["key": ["type": "string", "minLength": 1, "maxLength": 100]] }
    }
    public static let name = "removeSSHKey"
    public static let summary = "Remove an SSH key by id or fingerprint; pushes with it stop at once."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/ssh-keys/{key}")
    public static func run(_ input: Input, _ call: OperationCall) throws -> [SSHKeyInfo] {
        try call.ops.sshKeyRemove(input.key).map(SSHKeyInfo.init)
    }
}
