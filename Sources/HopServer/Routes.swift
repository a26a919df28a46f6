import Foundation
import HopBasics
import HopCore
import HopStore

/// One API call as a route handler sees it: the operations of the authenticated principal, the
/// path parameters, the query and the JSON body.
public struct APICall: Sendable {
    public var ops: Operations
    public var params: [String: String]
    public var query: [String: String]
    public var body: Data
    /// The uploaded file of an upload route.
    public var upload: String? = nil

    /// The operation's input, put together from the path, the query and the JSON body (see
    /// `HTTPBinding`), then decoded as strictly as the body alone was.
    func input<T: Decodable>(_ type: T.Type, binding: HTTPBinding, fieldTypes: [String: String]) throws -> T {
        var object: [String: JSONValue] = [:]
        if binding.method != .GET, binding.method != .DELETE, !binding.upload, !body.isEmpty {
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: body), case .object(let o) = value else {
                throw HopError.invalid("the request body is not the JSON object this route takes", hint: "see /api/openapi.json")
            }
            // An explicit null is not "absent": the schema allows no null, so neither does the server.
            if let key = o.first(where: { $0.value == .null })?.key {
                throw HopError.invalid("`\(key)` is null; leave it out to use its default")
            }
            object = o
        }
        for (name, text) in query where binding.inQuery(name) {
            guard let kind = fieldTypes[name] else { continue }
            object[name] = try Self.queryValue(name, text, kind: kind)
        }
        for (name, value) in params { object[name] = .string(value) }
        do {
            return try JSONDecoder().decode(T.self, from: Data(JSONValue.object(object).text().utf8))
        } catch let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c) {
            throw HopError.invalid("the request's \(c.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type: \(c.debugDescription)")
        } catch let DecodingError.keyNotFound(k, _) {
            throw HopError.invalid("the request body lacks `\(k.stringValue)`")
        } catch let DecodingError.dataCorrupted(c) where !c.codingPath.isEmpty {
            throw HopError.invalid("the request's \(c.codingPath.map(\.stringValue).joined(separator: ".")) is not a value this route takes",
                                   hint: "see /api/openapi.json")
        } catch {
            throw HopError.invalid("the request body is not the JSON object this route takes", hint: "see /api/openapi.json")
        }
    }

    static func queryValue(_ name: String, _ text: String, kind: String) throws -> JSONValue {
        switch kind {
        case "integer":
            guard let n = Int(text) else { throw HopError.invalid("the query parameter \(name)=\(text) is not an integer") }
            return .int(n)
        case "number":
            guard let d = Double(text), d.isFinite else { throw HopError.invalid("the query parameter \(name)=\(text) is not a number") }
            return .double(d)
        case "boolean":
            switch text { case "true", "1": return .bool(true); case "false", "0": return .bool(false)
            default: throw HopError.invalid("the query parameter \(name)=\(text) is not true or false") }
        default:
            return .string(text)
        }
    }
}

/// An API route: an operation of the catalogue with an HTTP binding, as the server mounts it.
/// The route table is made from the catalogue, so every route is an operation and every
/// networked operation a route; the OpenAPI document is made from the same values.
public struct APIRoute: Sendable {
    public var operation: any HopOperation.Type
    public var binding: HTTPBinding
    public var handler: @Sendable (APICall) throws -> any Encodable & Sendable

    public var method: String { binding.method.rawValue }
    public var path: String { binding.path }
    public var operationID: String { operation.name }
    public var summary: String { operation.summary }
    /// What the operation needs, for the document (the runner and the operation enforce it).
    public var permission: Permission { operation.permission }
    public var mutates: Bool { binding.mutates }
    public var streams: Bool { binding.streams }
    public var upload: Bool { binding.upload }

    init<Op: HopOperation>(_ op: Op.Type, binding: HTTPBinding) {
        self.operation = op
        self.binding = binding
        let fieldTypes = SchemaReflector.fieldTypes(of: Op.Input.self)
        self.handler = { call in
            let input = try call.input(Op.Input.self, binding: binding, fieldTypes: fieldTypes)
            return try OperationRunner(call.ops.ctx).run(Op.self, input, upload: call.upload)
        }
    }

    static func make<Op: HopOperation>(_ op: Op.Type) -> APIRoute? { op.http.map { APIRoute(op, binding: $0) } }

    /// Path parameters of a request path, or nil when it is not this route's.
    func match(_ requestPath: String) -> [String: String]? { Self.match(pattern: path, requestPath) }

    /// Whether `requestPath` is an instance of `pattern` (`/api/apps/{app}`).
    static func matches(pattern: String, _ requestPath: String) -> Bool { match(pattern: pattern, requestPath) != nil }

    static func match(pattern path: String, _ requestPath: String) -> [String: String]? {
        let want = path.split(separator: "/", omittingEmptySubsequences: true)
        let got = requestPath.split(separator: "/", omittingEmptySubsequences: true)
        guard want.count == got.count else { return nil }
        var params: [String: String] = [:]
        for (w, g) in zip(want, got) {
            if w.hasPrefix("{") && w.hasSuffix("}") {
                params[String(w.dropFirst().dropLast())] = String(g).removingPercentEncoding ?? String(g)
            } else if w != g {
                return nil
            }
        }
        return params
    }
}

/// Every API route: the catalogue's operations that have an HTTP binding.
public let apiRoutes: [APIRoute] = Catalogue.operations.compactMap { APIRoute.make($0) }
