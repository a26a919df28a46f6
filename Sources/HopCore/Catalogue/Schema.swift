import Foundation

// The JSON Schema of an operation's input and output, read off the Swift types themselves: a
// decoder that records what a type's `init(from:)` asks for (each key, its type, whether it is
// optional) instead of reading data. So a field added to a result is in the OpenAPI document
// without another edit, and a field the document names exists. Written here rather than taken
// from OpenAPIKit: hop needs only "the schema of my own Codable types", and OpenAPIKit would
// add minutes to every CI build without doing that reflection for us.

/// A type that states its schema whole (a document of another format, a map of credentials).
public protocol SchemaProviding {
    static var jsonSchema: JSONValue { get }
}

/// An input type's constraints beyond its Swift types (patterns, ranges, enumerations), by field.
/// Stated so that every value the schema allows is one the operation accepts.
public protocol SchemaConstrained {
    static var fieldSchemas: [String: JSONValue] { get }
    /// Rules about the object as a whole (`oneOf` of required fields, …), for its request body.
    static var objectRules: [String: JSONValue] { get }
}

extension SchemaConstrained {
    public static var objectRules: [String: JSONValue] { [:] }
}

/// A string enumeration: its schema lists the cases.
public protocol SchemaEnumeration {
    static var schemaCases: [String] { get }
}

extension SchemaEnumeration where Self: CaseIterable & RawRepresentable, RawValue == String {
    public static var schemaCases: [String] { allCases.map(\.rawValue) }
}

protocol _OptionalMarker { static var wrapped: Any.Type { get } }
extension Optional: _OptionalMarker { static var wrapped: Any.Type { Wrapped.self } }
protocol _SequenceMarker { static var element: Any.Type { get } }
extension Array: _SequenceMarker { static var element: Any.Type { Element.self } }
extension Set: _SequenceMarker { static var element: Any.Type { Element.self } }
protocol _MapMarker { static var value: Any.Type { get } }
extension Dictionary: _MapMarker where Key == String { static var value: Any.Type { Value.self } }

/// Reflects Decodable types into JSON Schemas; named structs become `#/components/schemas/NAME`.
public struct SchemaReflector {
    public private(set) var components: [String: JSONValue] = [:]
    /// Types whose decoder could not be walked to the end (a field of a type the reflector cannot
    /// make up a value for): their schemas would lack fields, so a test requires this to stay empty.
    public private(set) var incomplete: [String] = []
    /// Whether field constraints (`SchemaConstrained`) apply: to inputs, not to results (a result
    /// reports what is, which may predate today's rules).
    var constrained = false

    public init() {}

    /// The schema of `type`, registering the named types it uses as components.
    public mutating func schema(_ type: Any.Type, constrained: Bool = false) -> JSONValue {
        let saved = self.constrained
        self.constrained = constrained
        defer { self.constrained = saved }
        return reflect(type)
    }

    /// The component name of a type: its name within its module (`BackupMember.Kind` → `BackupMember.Kind`).
    public static func name(of type: Any.Type) -> String {
        let full = String(reflecting: type)
        let parts = full.split(separator: ".")
        return parts.count > 1 ? parts.dropFirst().joined(separator: ".") : full
    }

    mutating func reflect(_ type: Any.Type) -> JSONValue {
        if let p = type as? SchemaProviding.Type { return p.jsonSchema }
        if let o = type as? _OptionalMarker.Type { return reflect(o.wrapped) }
        if let e = type as? SchemaEnumeration.Type { return ["type": "string", "enum": .array(e.schemaCases.map { .string($0) })] }
        switch type {
        case is String.Type, is Character.Type: return ["type": "string"]
        case is Bool.Type: return ["type": "boolean"]
        case is Int.Type, is Int64.Type, is Int32.Type, is Int16.Type, is Int8.Type,
             is UInt.Type, is UInt64.Type, is UInt32.Type, is UInt16.Type, is UInt8.Type: return ["type": "integer"]
        case is Double.Type, is Float.Type: return ["type": "number"]
        case is Date.Type: return ["type": "number", "description": "seconds since 2001-01-01 (Foundation's reference date)"]
        case is JSONValue.Type: return [:]
        default: break
        }
        if let s = type as? _SequenceMarker.Type { return ["type": "array", "items": reflect(s.element)] }
        if let m = type as? _MapMarker.Type { return ["type": "object", "additionalProperties": reflect(m.value)] }
        guard let d = type as? Decodable.Type else { return [:] }
        let name = Self.name(of: type) + (constrained ? "Input" : "")
        if components[name] == nil {
            components[name] = [:]  // a placeholder: a type that contains itself refers to itself
            components[name] = structSchema(d)
        }
        return ["$ref": .string("#/components/schemas/\(name)")]
    }

    /// An input's fields and their JSON types (`integer`, `boolean`…): how a query's text is read.
    public static func fieldTypes(of type: Decodable.Type) -> [String: String] {
        var r = SchemaReflector()
        guard case .object(let o) = r.structSchema(type), case .object(let props)? = o["properties"] else { return [:] }
        return props.compactMapValues { $0["type"]?.stringValue }
    }

    /// The object schema of a struct, inline (not registered as a component).
    public mutating func inlineSchema(_ type: Decodable.Type, constrained: Bool) -> JSONValue {
        let saved = self.constrained
        self.constrained = constrained
        defer { self.constrained = saved }
        return structSchema(type)
    }

    mutating func structSchema(_ type: Decodable.Type) -> JSONValue {
        let recorder = FieldRecorder()
        do { _ = try type.init(from: RecordingDecoder(recorder)) } catch { incomplete.append("\(Self.name(of: type)): \(error)") }
        var properties: [String: JSONValue] = [:]
        var required: [String] = []
        let constraints = constrained ? (type as? SchemaConstrained.Type)?.fieldSchemas ?? [:] : [:]
        for field in recorder.fields {
            var s = reflect(field.type)
            if let c = constraints[field.name] {
                if case .object(let extra) = c, case .object(var base) = s, base["$ref"] == nil {
                    for (k, v) in extra { base[k] = v }
                    s = .object(base)
                } else {
                    s = c
                }
            }
            properties[field.name] = s
            if field.required { required.append(field.name) }
        }
        var o: JSONValue = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { o["required"] = .array(required.sorted().map { .string($0) }) }
        return o
    }
}

final class FieldRecorder {
    struct Field { var name: String; var type: Any.Type; var required: Bool }
    var fields: [Field] = []
    func add(_ name: String, _ type: Any.Type, required: Bool) {
        if let i = fields.firstIndex(where: { $0.name == name }) {
            fields[i].required = fields[i].required || required
        } else {
            fields.append(Field(name: name, type: type, required: required))
        }
    }
}

/// A value of any Decodable type, made without data (so a struct's decoder can go on to its next field).
func placeholder<T: Decodable>(_ type: T.Type) throws -> T {
    if let e = type as? SchemaEnumeration.Type, let first = e.schemaCases.first {
        return try JSONDecoder().decode(T.self, from: Data("\"\(first)\"".utf8))
    }
    return try T(from: RecordingDecoder(FieldRecorder()))
}

struct RecordingDecoder: Decoder {
    let recorder: FieldRecorder
    init(_ recorder: FieldRecorder) { self.recorder = recorder }
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>(recorder: recorder))
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer { Unkeyed() }
    func singleValueContainer() throws -> SingleValueDecodingContainer { Single() }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let recorder: FieldRecorder
        var codingPath: [CodingKey] = []
        var allKeys: [Key] { [] }
        func contains(_ key: Key) -> Bool { true }
        func decodeNil(forKey key: Key) throws -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            recorder.add(key.stringValue, type, required: true)
            return try placeholder(type)
        }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            recorder.add(key.stringValue, type, required: false)
            return nil
        }
        // Each primitive has its own `decodeIfPresent` (whose default asks `contains` and then
        // `decode`): recorded here, or every optional field would read as required.
        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { recorder.add(key.stringValue, type, required: false); return nil }
        func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { recorder.add(key.stringValue, type, required: false); return nil }
        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
            KeyedDecodingContainer(Keyed<N>(recorder: FieldRecorder()))
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { Unkeyed() }
        func superDecoder() throws -> Decoder { RecordingDecoder(FieldRecorder()) }
        func superDecoder(forKey key: Key) throws -> Decoder { RecordingDecoder(FieldRecorder()) }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        var codingPath: [CodingKey] = []
        var count: Int? { 0 }
        var isAtEnd: Bool { true }
        var currentIndex: Int { 0 }
        mutating func decodeNil() throws -> Bool { true }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try placeholder(type) }
        mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) throws -> KeyedDecodingContainer<N> {
            KeyedDecodingContainer(Keyed<N>(recorder: FieldRecorder()))
        }
        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { Unkeyed() }
        mutating func superDecoder() throws -> Decoder { RecordingDecoder(FieldRecorder()) }
    }

    struct Single: SingleValueDecodingContainer {
        var codingPath: [CodingKey] = []
        func decodeNil() -> Bool { false }
        func decode(_ type: Bool.Type) throws -> Bool { false }
        func decode(_ type: String.Type) throws -> String { "" }
        func decode(_ type: Double.Type) throws -> Double { 0 }
        func decode(_ type: Float.Type) throws -> Float { 0 }
        func decode(_ type: Int.Type) throws -> Int { 0 }
        func decode(_ type: Int8.Type) throws -> Int8 { 0 }
        func decode(_ type: Int16.Type) throws -> Int16 { 0 }
        func decode(_ type: Int32.Type) throws -> Int32 { 0 }
        func decode(_ type: Int64.Type) throws -> Int64 { 0 }
        func decode(_ type: UInt.Type) throws -> UInt { 0 }
        func decode(_ type: UInt8.Type) throws -> UInt8 { 0 }
        func decode(_ type: UInt16.Type) throws -> UInt16 { 0 }
        func decode(_ type: UInt32.Type) throws -> UInt32 { 0 }
        func decode(_ type: UInt64.Type) throws -> UInt64 { 0 }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try placeholder(type) }
    }
}
