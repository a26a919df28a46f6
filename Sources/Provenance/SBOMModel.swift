import Foundation
import HopBasics
import Crypto
import HopStore
import NixBuild

/// A digest of a component, in the algorithms SBOM formats name.
struct SBOMHash: Hashable {
    enum Algorithm: Hashable {
        case sha1, sha256, sha384, sha512

        init?(sri: String) {
            switch sri {
            case "sha1": self = .sha1
            case "sha256": self = .sha256
            case "sha384": self = .sha384
            case "sha512": self = .sha512
            default: return nil
            }
        }

        var cycloneDX: String {
            switch self { case .sha1: "SHA-1"; case .sha256: "SHA-256"; case .sha384: "SHA-384"; case .sha512: "SHA-512" }
        }

        var spdx: String {
            switch self { case .sha1: "SHA1"; case .sha256: "SHA256"; case .sha384: "SHA384"; case .sha512: "SHA512" }
        }
    }

    var algorithm: Algorithm
    /// Lowercase hex.
    var hex: String
}

/// One thing an SBOM lists: a store path (of the runtime closure or, with build-time detail,
/// of the build graph) or a package from the app's dependency lock.
struct SBOMComponent {
    enum Origin: String { case store, pypi, npm, golang, gem, composer }

    /// The store path for store components, the purl for lock packages. Unique in a graph.
    var ref: String
    var origin: Origin
    var name: String
    var version: String?
    var purl: String?
    var hashes: [SBOMHash] = []
    var license: SBOMLicense?
    var narHash: String?
    var narSize: Int64?
    var deriver: String?
    /// Needed to build the app but not part of its runtime closure.
    var buildtimeOnly = false
}

/// The content both renderers share, computed once from an `SBOMInput`: the components sorted
/// by reference, and three kinds of edges (store references, lock packages contained in a
/// store path, derivation inputs). Every edge points at a component of the graph.
struct SBOMGraph {
    var app: SBOMComponent
    /// Everything but the app output, sorted by `ref`.
    var components: [SBOMComponent]
    /// Store path → the store paths it references (itself excluded), sorted.
    var references: [String: [String]] = [:]
    /// Store path → the lock packages installed in it, sorted.
    var contains: [String: [String]] = [:]
    /// Store path → the paths its derivation was built from, sorted (build-time detail only).
    var buildInputs: [String: [String]] = [:]
    var includesBuildtime: Bool

    /// The app output first, then every other component in `ref` order.
    var all: [SBOMComponent] { [app] + components }

    init(_ input: SBOMInput) {
        includesBuildtime = input.buildtime != nil
        var infoByPath: [String: StorePathInfoFields] = [:]
        for p in input.closure where infoByPath[p.path] == nil {
            infoByPath[p.path] = StorePathInfoFields(narHash: p.narHash, narSize: p.narSize, deriver: p.deriver, references: p.references)
        }
        func storeComponent(_ path: String, deriver: String?) -> SBOMComponent {
            let info = infoByPath[path]
            let drv = [info?.deriver, deriver].compactMap { $0 }.first { !$0.isEmpty }
            let pn = PackageName(storePath: path, derivation: drv.flatMap { input.derivationNames[$0] })
            var c = SBOMComponent(ref: path, origin: .store, name: pn.name, version: pn.version)
            if let info {
                c.narHash = info.narHash
                c.narSize = info.narSize
                if let hex = NixBase32.sha256Hex(fromNixHash: info.narHash) { c.hashes = [SBOMHash(algorithm: .sha256, hex: hex)] }
            }
            c.deriver = drv
            return c
        }

        var app = storeComponent(input.outPath, deriver: input.drvPath)
        app.name = input.app
        app.version = input.appVersion
        self.app = app

        var byRef: [String: SBOMComponent] = [:]
        for path in infoByPath.keys where path != input.outPath {
            byRef[path] = storeComponent(path, deriver: nil)
        }
        let runtimePaths = Set(infoByPath.keys).union([input.outPath])
        for (path, info) in infoByPath {
            let refs = Set(info.references).subtracting([path]).intersection(runtimePaths)
            if !refs.isEmpty { references[path] = refs.sorted() }
        }

        if let lock = input.lock {
            let storeNames = runtimePaths.sorted().map { ($0, PackageName.storePathName($0)) }
            let pythonHome = storeNames.first { $0.1.hasPrefix("python") && $0.1.hasSuffix("-env") }?.0 ?? input.outPath
            let npmHome = storeNames.first { $0.1 == "node-modules" || $0.1.hasSuffix("-node-modules") }?.0 ?? input.outPath
            var installed: [String: Set<String>] = [:]
            func add(_ c: SBOMComponent, under parent: String) {
                guard byRef[c.ref] == nil else { return }
                byRef[c.ref] = c
                installed[parent, default: []].insert(c.ref)
            }
            // Sorted first, so which of two entries with the same purl wins never depends on lock order.
            for w in lock.python.sorted(by: { ($0.name, $0.version, $0.sha256) < ($1.name, $1.version, $1.sha256) }) {
                add(Self.component(w), under: pythonHome)
            }
            for p in lock.npm.sorted(by: { ($0.path, $0.integrity) < ($1.path, $1.integrity) }) {
                add(Self.component(p), under: npmHome)
            }
            for m in lock.go.sorted(by: { ($0.path, $0.version) < ($1.path, $1.version) }) {
                add(Self.component(m), under: input.outPath)
            }
            for g in lock.gems ?? [] { add(Self.component(g), under: input.outPath) }
            for p in lock.composer ?? [] { add(Self.component(p), under: input.outPath) }
            contains = installed.mapValues { $0.sorted() }
        }

        if let buildtime = input.buildtime {
            let drvOf = Dictionary(buildtime.map { ($0.path, $0.drvPath) }, uniquingKeysWith: { a, b in a ?? b })
            for entry in buildtime {
                for path in [entry.path] + entry.inputs where path != input.outPath && byRef[path] == nil {
                    var c = storeComponent(path, deriver: drvOf[path] ?? nil)
                    c.buildtimeOnly = true
                    byRef[path] = c
                }
                let inputs = Set(entry.inputs).subtracting([entry.path])
                if !inputs.isEmpty { buildInputs[entry.path, default: []].append(contentsOf: inputs) }
            }
            buildInputs = buildInputs.mapValues { Array(Set($0)).sorted() }
        }
        components = byRef.values.sorted { $0.ref < $1.ref }
    }

    /// Everything a component depends on, of all edge kinds, sorted.
    func dependsOn(_ ref: String) -> [String] {
        Array(Set((references[ref] ?? []) + (contains[ref] ?? []) + (buildInputs[ref] ?? []))).sorted()
    }

    private struct StorePathInfoFields {
        var narHash: String
        var narSize: Int64
        var deriver: String?
        var references: [String]
    }

    static func component(_ w: LockedWheel) -> SBOMComponent {
        let name = Locker.normalizeName(w.name)
        let purl = "pkg:pypi/" + SBOMPurl.encode(name) + "@" + SBOMPurl.encode(w.version)
        var c = SBOMComponent(ref: purl, origin: .pypi, name: name, version: w.version, purl: purl)
        let hex = w.sha256.lowercased()
        if hex.count == 64, hex.allSatisfy(\.isHexDigit) { c.hashes = [SBOMHash(algorithm: .sha256, hex: hex)] }
        c.license = w.license.flatMap(SBOMLicense.init)
        return c
    }

    static func component(_ p: LockedNpmPackage) -> SBOMComponent {
        var path = SBOMPurl.encode(p.name)
        if p.name.hasPrefix("@"), let slash = p.name.firstIndex(of: "/") {
            path = SBOMPurl.encode(String(p.name[..<slash])) + "/" + SBOMPurl.encode(String(p.name[p.name.index(after: slash)...]))
        }
        let purl = "pkg:npm/" + path + "@" + SBOMPurl.encode(p.version)
        var c = SBOMComponent(ref: purl, origin: .npm, name: p.name, version: p.version, purl: purl)
        for token in p.integrity.split(whereSeparator: \.isWhitespace) {
            if let sri = try? SRIHash(String(token)), let alg = SBOMHash.Algorithm(sri: sri.algorithm) {
                c.hashes.append(SBOMHash(algorithm: alg, hex: SBOMDigest.hex(sri.digest)))
            }
        }
        c.license = p.license.flatMap(SBOMLicense.init)
        return c
    }

    static func component(_ g: LockedGem) -> SBOMComponent {
        let purl = "pkg:gem/" + SBOMPurl.encode(g.name) + "@" + SBOMPurl.encode(g.version)
        var c = SBOMComponent(ref: purl, origin: .gem, name: g.name, version: g.version, purl: purl)
        let hex = g.sha256.lowercased()
        if hex.count == 64, hex.allSatisfy(\.isHexDigit) { c.hashes = [SBOMHash(algorithm: .sha256, hex: hex)] }
        return c
    }

    static func component(_ p: LockedComposerPackage) -> SBOMComponent {
        let parts = p.name.split(separator: "/", maxSplits: 1).map { SBOMPurl.encode(String($0)) }
        let purl = "pkg:composer/" + parts.joined(separator: "/") + "@" + SBOMPurl.encode(p.version)
        var c = SBOMComponent(ref: purl, origin: .composer, name: p.name, version: p.version, purl: purl)
        if let sha1 = p.sha1?.lowercased(), sha1.count == 40, sha1.allSatisfy(\.isHexDigit) { c.hashes = [SBOMHash(algorithm: .sha1, hex: sha1)] }
        c.license = p.license.flatMap(SBOMLicense.init)
        return c
    }

    static func component(_ m: LockedGoModule) -> SBOMComponent {
        let segments = m.path.split(separator: "/").map { SBOMPurl.encode(String($0)) }
        let purl = "pkg:golang/" + segments.joined(separator: "/") + "@" + SBOMPurl.encode(m.version)
        return SBOMComponent(ref: purl, origin: .golang, name: m.path, version: m.version, purl: purl)
    }
}

/// Package URL (purl) text.
enum SBOMPurl {
    /// Percent-encodes everything but ASCII letters, digits and `.-_~` (the purl spec's
    /// unreserved characters), so `@scope` becomes `%40scope` and `+incompatible` `%2Bincompatible`.
    static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(UnicodeScalar(b))
            if b < 0x80, c.isLetter || c.isNumber || c == "." || c == "-" || c == "_" || c == "~" {
                out.append(c)
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }
}

/// Digests and the deterministic identifiers made from them.
enum SBOMDigest {
    static func hex(_ d: some Sequence<UInt8>) -> String { hexString(d) }
    static func sha256Hex(_ d: Data) -> String { hex(SHA256.hash(data: d)) }

    /// RFC 4122 name-based UUID, version 5 (SHA-1), in the URL namespace: the same name always
    /// gives the same UUID, and it is a valid RFC 4122 UUID as CycloneDX's serialNumber requires.
    static func uuid5(url name: String) -> String {
        let namespaceURL: [UInt8] = [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8]
        var bytes = Array(Insecure.SHA1.hash(data: Data(namespaceURL + Array(name.utf8))).prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x50
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let h = hex(bytes)
        let i = h.startIndex
        func part(_ a: Int, _ b: Int) -> Substring { h[h.index(i, offsetBy: a)..<h.index(i, offsetBy: b)] }
        return "\(part(0, 8))-\(part(8, 12))-\(part(12, 16))-\(part(16, 20))-\(part(20, 32))"
    }

    /// ISO 8601 UTC to the second (`2025-01-31T12:00:00Z`), the form both CycloneDX and SPDX accept.
    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: (d.timeIntervalSince1970).rounded(.down)))
    }
}
