import Foundation
import HopBasics

// The signing keys whose builds this host imports and serves.

public enum ListTrustedKeys: HopOperation {
    public static let name = "listTrustedKeys"
    public static let summary = "The public keys whose signed builds this host imports and serves."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/trust")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [TrustedKeyInfo] { try call.ops.trustList() }
}

public enum TrustKey: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        /// The key as SubjectPublicKeyInfo PEM (`hop key show --pem`).
        public var pem: String
        public var name: String
        public init(pem: String, name: String) { self.pem = pem; self.name = name }
        public static var fieldSchemas: [String: JSONValue] {
            ["pem": ["type": "string", "minLength": 1, "maxLength": 16384],
             "name": ["type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"]]
        }
    }
    public static let name = "trustKey"
    public static let summary = "Trust a public key: builds it signed may be imported and served here."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/trust", status: 201)
    public static func run(_ input: Input, _ call: OperationCall) throws -> TrustedKeyInfo { try call.ops.trustAdd(pem: input.pem, name: input.name) }
}

public enum DistrustKey: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        /// The key's name or keyid.
        public var key: String
        public init(key: String) { self.key = key }
        public static var fieldSchemas: [String: JSONValue] { ["key": ["type": "string", "minLength": 1, "maxLength": 100]] }
    }
    public static let name = "distrustKey"
    public static let summary = "Stop trusting a key (by name or keyid)."
    public static let permission = Permission.admin
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/trust/{key}")
    public static func run(_ input: Input, _ call: OperationCall) throws -> TrustedKeyInfo { try call.ops.trustRemove(input.key) }
}
