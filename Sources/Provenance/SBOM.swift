import Foundation
import HopStore
import NixBuild

/// Everything an SBOM of one build is made from: recorded facts only, so the same build always
/// renders to the same bytes (no wall clock, no random identifiers, no store queries).
public struct SBOMInput: Sendable {
    /// The app's name.
    public var app: String
    /// The app's version, when it declares one.
    public var appVersion: String?
    /// The build's output path: the SBOM's subject.
    public var outPath: String
    /// The derivation that produced `outPath`.
    public var drvPath: String
    /// The runtime closure of `outPath` as recorded (`nix path-info --json --recursive`).
    public var closure: [StorePathInfo]
    /// The app's dependency lock; its packages are listed under the store path that holds them.
    public var lock: DependencyLock?
    /// Derivation path → `pname`/`version` from its environment; names store paths better than
    /// their file names do. Missing entries fall back to parsing the path's name.
    public var derivationNames: [String: DerivationName]
    /// The build graph (`Buildtime.load`), to list what was needed only to build; nil for a
    /// runtime-only SBOM.
    public var buildtime: [BuildtimePath]?
    /// When the build finished: the SBOM's timestamp.
    public var created: Date
    /// The hop version that renders the SBOM, named as its tool.
    public var hopVersion: String

    public init(app: String, appVersion: String?, outPath: String, drvPath: String, closure: [StorePathInfo],
                lock: DependencyLock?, derivationNames: [String: DerivationName] = [:], buildtime: [BuildtimePath]? = nil,
                created: Date, hopVersion: String) {
        self.app = app
        self.appVersion = appVersion
        self.outPath = outPath
        self.drvPath = drvPath
        self.closure = closure
        self.lock = lock
        self.derivationNames = derivationNames
        self.buildtime = buildtime
        self.created = created
        self.hopVersion = hopVersion
    }
}

/// CycloneDX 1.6 JSON (https://cyclonedx.org/docs/1.6/json/).
public enum CycloneDX {
    /// Renders a CycloneDX 1.6 BOM of the build's output.
    ///
    /// The output is `metadata.component`; every other store path of its runtime closure is a
    /// component whose `bom-ref` is the store path, with the NAR hash as its SHA-256 hash and the
    /// registered `nix:` properties. Lock packages are components named by purl, depended on by
    /// the store path that installs them. Every component is a node of `dependencies` (leaves
    /// with an empty `dependsOn`); `compositions` says the store graph is complete and the lock
    /// packages' own dependencies are unknown. With build-time detail, paths needed only to build
    /// have `scope: excluded` and `hop:buildtime=true`, and derivation inputs join `dependsOn`.
    ///
    /// Byte-reproducible: the serial number is a UUID derived from the output path, the timestamp
    /// is `input.created`, and all lists are sorted.
    public static func render(_ input: SBOMInput) -> String {
        let graph = SBOMGraph(input)
        var doc = SBOMObject()
        doc.add("$schema", "http://cyclonedx.org/schema/bom-1.6.schema.json")
        doc.add("bomFormat", "CycloneDX")
        doc.add("specVersion", "1.6")
        doc.add("serialNumber", "urn:uuid:" + serialUUID(input))
        doc.add("version", .int(1))

        var metadata = SBOMObject()
        metadata.add("timestamp", SBOMDigest.timestamp(input.created))
        metadata.add("lifecycles", .array([.object([("phase", .string("post-build"))])]))
        var hop = SBOMObject()
        hop.add("type", "application")
        hop.add("name", "hop")
        hop.add("version", input.hopVersion)
        metadata.add("tools", .object([("components", .array([hop.json]))]))
        metadata.add("component", component(graph.app, type: "application"))
        doc.add("metadata", metadata.json)

        doc.add("components", .array(graph.components.map { component($0, type: "library") }))
        doc.add("dependencies", .array(graph.all.map(\.ref).sorted().map { ref in
            .object([("ref", .string(ref)), ("dependsOn", .array(graph.dependsOn(ref).map { .string($0) }))])
        }))

        let store = graph.all.filter { $0.origin == .store }.map(\.ref).sorted()
        let packages = graph.all.filter { $0.origin != .store }.map(\.ref).sorted()
        var compositions: [SBOMJSON] = [.object([("aggregate", .string("complete")), ("dependencies", .array(store.map { .string($0) }))])]
        if !packages.isEmpty {
            compositions.append(.object([("aggregate", .string("unknown")), ("dependencies", .array(packages.map { .string($0) }))]))
        }
        doc.add("compositions", .array(compositions))
        return doc.json.rendered()
    }

    /// The BOM's serial number: a version-5 UUID of a URL naming the output (and whether the
    /// BOM includes build-time detail, since that BOM has different content).
    static func serialUUID(_ input: SBOMInput) -> String {
        let name = input.outPath.split(separator: "/").last.map(String.init) ?? input.outPath
        return SBOMDigest.uuid5(url: "https://hop.invalid/cyclonedx/\(name)" + (input.buildtime == nil ? "" : "?buildtime"))
    }

    static func component(_ c: SBOMComponent, type: String) -> SBOMJSON {
        var o = SBOMObject()
        o.add("type", type)
        o.add("bom-ref", c.ref)
        o.add("name", c.name)
        o.add("version", c.version)
        if c.buildtimeOnly { o.add("scope", "excluded") }
        o.addNonEmpty("hashes", c.hashes.map { .object([("alg", .string($0.algorithm.cycloneDX)), ("content", .string($0.hex))]) })
        switch c.license {
        case .id(let id)?: o.add("licenses", .array([.object([("license", .object([("id", .string(id))]))])]))
        case .name(let name)?: o.add("licenses", .array([.object([("license", .object([("name", .string(name))]))])]))
        case .expression(let e)?: o.add("licenses", .array([.object([("expression", .string(e))])]))
        case nil: break
        }
        o.add("purl", c.purl)
        var props: [SBOMJSON] = []
        func prop(_ name: String, _ value: String) { props.append(.object([("name", .string(name)), ("value", .string(value))])) }
        if c.origin == .store {
            prop("nix:store_path", c.ref)
            if let h = c.narHash { prop("nix:narinfo:nar_hash", h) }
            if let s = c.narSize { prop("nix:narinfo:nar_size", String(s)) }
            if let d = c.deriver { prop("nix:narinfo:deriver", d) }
        }
        if c.buildtimeOnly { prop("hop:buildtime", "true") }
        o.addNonEmpty("properties", props)
        return o.json
    }
}
