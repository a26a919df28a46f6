import Foundation
import Testing
import HopBasics
import HopStore
@testable import HopCore

@Suite("The catalogue of operations")
struct CatalogueTests {
    @Test("names are unique, routes are unique, every path parameter is an input field, every query field a scalar")
    func catalogueIsConsistent() {
        let ops = Catalogue.operations
        #expect(Set(ops.map { $0.name }).count == ops.count)
        let routes = ops.compactMap { op in op.http.map { "\($0.method.rawValue) \($0.path)" } }
        #expect(Set(routes).count == routes.count, "\(routes)")
        for op in ops {
            guard let b = op.http else { continue }
            // Under /api, except the Prometheus exposition at the path Prometheus scrapes by default.
            #expect(b.path.hasPrefix("/api/") || (op.name == "prometheusMetrics" && b.path == "/metrics"), "\(op.name)")
            let fields = inputFields(op)
            for p in b.pathParameters { #expect(fields[p] == "string", "\(op.name): {\(p)} is \(fields[p] ?? "not a field")") }
            for (name, kind) in fields where b.inQuery(name) {
                #expect(["string", "integer", "number", "boolean"].contains(kind), "\(op.name): query field \(name) is \(kind)")
            }
        }
    }

    func inputFields<Op: HopOperation>(_ op: Op.Type) -> [String: String] { SchemaReflector.fieldTypes(of: Op.Input.self) }

    @Test("every input and output reflects completely into a schema")
    func everyTypeReflects() {
        var r = SchemaReflector()
        for op in Catalogue.operations { reflect(op, &r) }
        #expect(r.incomplete.isEmpty, "\(r.incomplete)")
        #expect(r.components["DeployResult"]?["required"]?.array?.contains("generation") == true)
        // Optional fields are optional in the schema.
        #expect(r.components["AppSummary"]?["required"]?.array?.contains("generation") == false)
    }

    func reflect<Op: HopOperation>(_ op: Op.Type, _ r: inout SchemaReflector) {
        _ = r.inlineSchema(Op.Input.self, constrained: true)
        _ = r.schema(Op.Output.self)
    }

    struct Sample: Codable, SchemaConstrained {
        enum Kind: String, Codable, CaseIterable, SchemaEnumeration { case a, b }
        struct Inner: Codable { var n: Int64; var tags: [String]? }
        var name: String
        var count: Int?
        var ratio: Double
        var kind: Kind
        var inner: Inner
        var many: [Inner]
        var map: [String: Int]
        var maybe: Bool?
        static var fieldSchemas: [String: JSONValue] { ["name": ["pattern": "^[a-z]+$"]] }
    }

    @Test("the reflector reads a type's fields, optionality, nesting, enumerations and constraints")
    func reflectorReadsTypes() {
        var r = SchemaReflector()
        let s = r.inlineSchema(Sample.self, constrained: true)
        #expect(s["required"] == ["inner", "kind", "many", "map", "name", "ratio"])
        let p = s["properties"]
        #expect(p?["name"] == ["type": "string", "pattern": "^[a-z]+$"])
        #expect(p?["count"] == ["type": "integer"])
        #expect(p?["ratio"] == ["type": "number"])
        #expect(p?["kind"] == ["type": "string", "enum": ["a", "b"]])
        #expect(p?["map"] == ["type": "object", "additionalProperties": ["type": "integer"]])
        #expect(p?["maybe"] == ["type": "boolean"])
        #expect(p?["inner"] == ["$ref": "#/components/schemas/CatalogueTests.Sample.InnerInput"])
        #expect(p?["many"] == ["type": "array", "items": ["$ref": "#/components/schemas/CatalogueTests.Sample.InnerInput"]])
        #expect(r.components["CatalogueTests.Sample.InnerInput"]?["required"] == ["n"])
        // Unconstrained (a result): no patterns.
        var r2 = SchemaReflector()
        #expect(r2.inlineSchema(Sample.self, constrained: false)["properties"]?["name"] == ["type": "string"])
        #expect(r.incomplete.isEmpty && r2.incomplete.isEmpty)
    }

    @Test("the runner authorises a runner-audited operation and writes one audit entry when it runs or is denied; refused input writes none")
    func runnerAudits() throws {
        let dir = NSTemporaryDirectory() + "hop-catalogue-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = HopHome(root: dir)
        let admin = OperationRunner(HopContext(home: home))
        let key = try admin.run(GenerateSigningKey.self, .init())
        #expect(!key.keyid.isEmpty && FileManager.default.fileExists(atPath: key.path))
        // Bad input (the key exists): refused, no entry, nothing changed.
        #expect(throws: HopError.self) { try admin.run(GenerateSigningKey.self, .init()) }
        let viewer = OperationRunner(HopContext(home: home, principal: Principal(name: "vic", role: .viewer, apps: ["blog"])))
        #expect(throws: HopError.self) { try viewer.run(GenerateSigningKey.self, .init(force: true)) }
        let after = try String(contentsOfFile: key.path, encoding: .utf8)
        let entries = try Operations(HopContext(home: home)).audit()
        #expect(entries.map(\.action) == ["key generate", "key generate"], "\(entries)")
        #expect(entries.map(\.result) == ["ok", "denied"])
        #expect(entries.map(\.actor) == ["root", "vic"])
        #expect(!after.isEmpty)
    }

    @Test("a remote call and the server agree on where each input field travels")
    func bindingPlacesFields() {
        let b = HTTPBinding(.POST, "/api/apps/{app}/source", query: ["watch"])
        #expect(b.pathParameters == ["app"])
        #expect(!b.inQuery("app") && b.inQuery("watch") && !b.inQuery("force"))
        #expect(HTTPBinding(.DELETE, "/api/addons/{addon}").inQuery("force"))
        #expect(HTTPBinding(.GET, "/api/apps").mutates == false && HTTPBinding(.PUT, "/x").mutates)
    }
}
