import Foundation
import HopBasics

/// The constraints the operations check, as JSON Schema, stated so that every value a schema
/// allows is accepted (the API fuzzer holds the server to it).
public enum FieldSchema {
    public static var appName: JSONValue {
        ["type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z0-9]+([._-][a-z0-9]+)*$",
         "not": ["enum": .array(reservedAppNames.sorted().map { .string($0) })]]
    }
    public static let userName: JSONValue =
        ["type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z][a-z0-9._-]*$", "not": ["const": "root"]]
    public static let password: JSONValue = ["type": "string", "minLength": 10]
    public static let addonName: JSONValue =
        ["type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[a-z]([a-z0-9-]*[a-z0-9])?$",
         "not": ["anyOf": [["const": "postgres"], ["pattern": "^template"]]]]
    public static let backupTarget: JSONValue =
        ["type": "string", "minLength": 2, "maxLength": 1000, "pattern": "^(/[^\\u0000]*|[A-Za-z][A-Za-z0-9_-]{0,31}:[^\\u0000]*)$"]
    public static let retention: JSONValue =
        ["type": "string", "pattern": "^(last|daily|weekly|monthly)=[0-9]{1,4}(,(last|daily|weekly|monthly)=[0-9]{1,4})*$"]
    public static let watch: JSONValue = ["type": "number", "minimum": 0, "maximum": 3600]
    public static let configKey: JSONValue =
        ["type": "string", "maxLength": 128, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
         "not": ["enum": ["PORT", "HOP_BIND", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "PATH"]]]
    public static let backupID: JSONValue = ["type": "string", "maxLength": 40, "pattern": "^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$"]
    public static let buildRef: JSONValue = ["type": "string", "pattern": "^#?[0-9]{1,18}$|^[a-z0-9]+([._-][a-z0-9]+)*$"]
    public static let hexID: JSONValue = ["type": "string", "pattern": "^[0-9a-f]{1,64}$"]
    public static let role: JSONValue = ["type": "string", "enum": ["admin", "deployer", "viewer"]]
    public static let positive: JSONValue = ["type": "integer", "minimum": 1]
}

/// An operation without input.
public struct NoInput: Codable, Sendable, Equatable { public init() {} }

/// A JSON document rendered elsewhere (SBOM, provenance): the server sends its text as is.
public struct RawJSON: Codable, Sendable, SchemaProviding {
    public var text: String
    public init(text: String) { self.text = text }
    public init(from decoder: Decoder) throws { text = try JSONValue(from: decoder).text() }
    public func encode(to encoder: Encoder) throws {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)).encode(to: encoder)
    }
    public static var jsonSchema: JSONValue {
        ["type": "object", "description": "A JSON document (CycloneDX, SPDX, in-toto Statement or DSSE envelope)."]
    }
}
extension SBOMFormat: SchemaEnumeration {}
