import Foundation
import HopBasics
import HopCore

/// The API's OpenAPI 3.1 document, generated from the catalogue: a path per route, its parameters
/// and body from the operation's input type (with the input's stated constraints), its result from
/// the output type, both read off the Swift types by `SchemaReflector`. A field added to a result
/// is documented without another edit. Served at /api/openapi.json; snapshot-tested and validated.
public enum OpenAPIDocument {
    public static let json: String = render()

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    static func errorResponse(_ text: String) -> JSONValue {
        ["description": .string(text), "content": ["application/json": ["schema": ref("Error")]]]
    }

    /// The parts of one route's document that come from its operation's types.
    static func operationObject<Op: HopOperation>(_ op: Op.Type, _ b: HTTPBinding, _ reflector: inout SchemaReflector) -> JSONValue {
        var o: JSONValue = ["operationId": .string(Op.name), "summary": .string(Op.summary)]
        let input = reflector.inlineSchema(Op.Input.self, constrained: true)
        let properties = input["properties"]?.object ?? [:]
        let required = Set((input["required"]?.array ?? []).compactMap { $0.stringValue })
        var parameters: [JSONValue] = []
        for name in b.pathParameters {
            parameters.append(["name": .string(name), "in": "path", "required": true, "schema": properties[name] ?? ["type": "string"]])
        }
        for (name, schema) in properties.sorted(by: { $0.key < $1.key }) where b.inQuery(name) {
            parameters.append(["name": .string(name), "in": "query", "required": .bool(required.contains(name)), "schema": schema])
        }
        if !parameters.isEmpty { o["parameters"] = .array(parameters) }
        if b.upload {
            // A tar (`application/x-tar` is what hop sends); described as octet-stream, the media
            // type generic OpenAPI tooling (and the fuzzer) can produce. The server reads any.
            o["requestBody"] = ["required": true, "description": "a tar archive of the source tree",
                                "content": ["application/octet-stream": ["schema": ["type": "string", "format": "binary"]]]]
        } else if b.method != .GET, b.method != .DELETE {
            let bodyFields = properties.filter { !b.pathParameters.contains($0.key) && !b.inQuery($0.key) }
            if !bodyFields.isEmpty {
                var body: JSONValue = ["type": "object", "properties": .object(bodyFields)]
                let bodyRequired = required.filter { bodyFields[$0] != nil }.sorted()
                if !bodyRequired.isEmpty { body["required"] = .array(bodyRequired.map { JSONValue.string($0) }) }
                for (k, v) in (Op.Input.self as? SchemaConstrained.Type)?.objectRules ?? [:] { body[k] = v }
                o["requestBody"] = ["required": .bool(!bodyRequired.isEmpty),
                                    "content": ["application/json": ["schema": body]]]
            }
        }
        var content: JSONValue
        if Op.Output.self == TextDocument.self {
            // Sent as the document itself (the Prometheus text format), not as JSON.
            content = [.init(stringLiteral: PrometheusText.contentType): ["schema": ["type": "string"]]]
        } else {
            content = ["application/json": ["schema": reflector.schema(Op.Output.self)]]
        }
        if b.streams {
            content["text/event-stream"] = ["schema": ["type": "string",
                                                       "description": "progress events, then one `result` (the JSON result) or `error` event"]]
        }
        var responses: JSONValue = [
            .init(stringLiteral: String(b.status)): ["description": "The operation's result.", "content": content],
            "400": errorResponse("Bad input: nothing was changed."),
            "404": errorResponse("No such app, generation, user or token."),
            "409": errorResponse("A conflict: the app is busy, or the thing exists."),
            "422": errorResponse("The operation did not take (a failed build, a generation rolled back)."),
            "503": errorResponse("The machine lacks something hop needs."),
        ]
        if b.anonymous {
            o["security"] = [[:]]
        } else {
            responses["401"] = errorResponse("No valid token or session.")
            responses["403"] = errorResponse("The caller's role or grants do not allow this.")
            o["security"] = [["bearer": []]]
        }
        o["responses"] = responses
        o["x-hop-permission"] = .string(Op.permission.rawValue)
        o["x-hop-audit"] = .string(Op.audit.rawValue)
        return o
    }

    static func add<Op: HopOperation>(_ op: Op.Type, to paths: inout [String: JSONValue], _ reflector: inout SchemaReflector) {
        guard let b = Op.http else { return }
        var item = paths[b.path] ?? [:]
        item[b.method.rawValue.lowercased()] = operationObject(op, b, &reflector)
        paths[b.path] = item
    }

    /// The document, and what reflection could not read completely (a test requires none).
    static func generate() -> (document: JSONValue, incomplete: [String]) {
        var reflector = SchemaReflector()
        var paths: [String: JSONValue] = [:]
        for op in Catalogue.operations { add(op, to: &paths, &reflector) }
        _ = reflector.schema(ErrorBody.self)
        var schemas = reflector.components
        schemas["Error"] = schemas.removeValue(forKey: "ErrorBody")
        paths["/api/openapi.json"] = ["get": ["operationId": "openapi", "summary": "This document.", "security": [[:]],
                                              "responses": ["200": ["description": "The OpenAPI document.",
                                                                    "content": ["application/json": ["schema": ["type": "object"]]]]]]]
        let doc: JSONValue = [
            "openapi": "3.1.0",
            "info": ["title": "hop", "version": .string(hopVersion),
                     "description": "The operations of a hop server. Every route is one of the operations the `hop` CLI runs; every change is authorised by role and written to the audit log."],
            "servers": [["url": "/"]],
            "paths": .object(paths),
            "components": ["schemas": .object(schemas),
                           "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer",
                                                          "description": "A token from `hop token create USER`."]]],
        ]
        return (doc, reflector.incomplete)
    }

    static func render() -> String { generate().document.text(pretty: true) + "\n" }
}
