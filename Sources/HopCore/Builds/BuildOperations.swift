import Foundation
import HopBasics

// Recorded builds and their documents (SBOM, provenance).

public struct BuildRefInput: Codable, Sendable, SchemaConstrained {
    public var id: String
    public init(id: String) { self.id = id }
    public static var fieldSchemas: [String: JSONValue] { ["id": FieldSchema.buildRef] }
}

public enum ListBuilds: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var app: String?
        public init(app: String? = nil) { self.app = app }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName] }
    }
    public static let name = "listBuilds"
    public static let summary = "Recorded builds, newest first (of the apps the caller may see)."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/builds")
    public static func run(_ input: Input, _ call: OperationCall) throws -> [BuildInfo] { try call.ops.builds(app: input.app).map(BuildInfo.init) }
}

public enum GetBuild: HopOperation {
    public static let name = "getBuild"
    public static let summary = "One build record."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/builds/{id}")
    public static func run(_ input: BuildRefInput, _ call: OperationCall) throws -> BuildInfo { try BuildInfo(call.ops.findBuild(input.id).0) }
}

public enum BuildSBOM: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var id: String
        public var format: SBOMFormat?
        public init(id: String, format: SBOMFormat? = nil) { self.id = id; self.format = format }
        public static var fieldSchemas: [String: JSONValue] { ["id": FieldSchema.buildRef] }
    }
    public static let name = "sbom"
    public static let summary = "The build's SBOM: CycloneDX 1.6 (default) or SPDX 2.3 JSON."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/builds/{id}/sbom")
    public static func run(_ input: Input, _ call: OperationCall) throws -> RawJSON {
        RawJSON(text: try call.ops.sbom(input.id, format: input.format ?? .cyclonedx))
    }
}

public enum BuildProvenance: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var id: String
        public var sign: Bool?
        public init(id: String, sign: Bool? = nil) { self.id = id; self.sign = sign }
        public static var fieldSchemas: [String: JSONValue] { ["id": FieldSchema.buildRef] }
    }
    public static let name = "provenance"
    public static let summary = "SLSA v1.0 provenance: the in-toto Statement, or a DSSE envelope with sign=true."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/builds/{id}/provenance")
    public static func run(_ input: Input, _ call: OperationCall) throws -> RawJSON {
        RawJSON(text: String(decoding: try call.ops.provenance(input.id, sign: input.sign ?? false), as: UTF8.self))
    }
}
