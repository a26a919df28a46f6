import Foundation

/// SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/).
public enum SPDX {
    /// Renders an SPDX 2.3 document of the build's output, with the same components as
    /// `CycloneDX.render`: one package per store path and per lock package.
    ///
    /// The document DESCRIBES the app's package. Store references become `DEPENDS_ON`, lock
    /// packages are `CONTAINS`ed by the store path that installs them, and with build-time
    /// detail each derivation input is a `BUILD_DEPENDENCY_OF` what it built. Store paths carry
    /// their NAR hash as SHA256 and an `OTHER`/`nix-store-path` external reference; lock packages
    /// their artifact hash, a purl, and the lock's license as `licenseDeclared` (a name that is not
    /// an SPDX expression becomes a `LicenseRef-` defined in `hasExtractedLicensingInfos`).
    ///
    /// Byte-reproducible: the namespace is derived from the output path, `created` is
    /// `input.created`, and packages and relationships are sorted.
    public static func render(_ input: SBOMInput) -> String {
        let graph = SBOMGraph(input)
        let ids = identifiers(graph)
        let outName = input.outPath.split(separator: "/").last.map(String.init) ?? input.outPath

        var doc = SBOMObject()
        doc.add("spdxVersion", "SPDX-2.3")
        doc.add("dataLicense", "CC0-1.0")
        doc.add("SPDXID", "SPDXRef-DOCUMENT")
        doc.add("name", input.app + (input.appVersion.map { "-" + $0 } ?? ""))
        doc.add("documentNamespace", "https://hop.invalid/spdx/" + SBOMPurl.encode(outName) + (graph.includesBuildtime ? "-buildtime" : ""))
        doc.add("creationInfo", .object([
            ("created", .string(SBOMDigest.timestamp(input.created))),
            ("creators", .array([.string("Tool: hop-" + input.hopVersion)])),
        ]))
        doc.add("packages", .array(graph.all.map { package($0, id: ids[$0.ref]!, isApp: $0.ref == graph.app.ref) }))

        var relationships: [(String, String, String)] = []
        for c in graph.all {
            for r in graph.references[c.ref] ?? [] { relationships.append((ids[c.ref]!, "DEPENDS_ON", ids[r]!)) }
            for r in graph.contains[c.ref] ?? [] { relationships.append((ids[c.ref]!, "CONTAINS", ids[r]!)) }
            for r in graph.buildInputs[c.ref] ?? [] { relationships.append((ids[r]!, "BUILD_DEPENDENCY_OF", ids[c.ref]!)) }
        }
        relationships.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
        relationships.insert(("SPDXRef-DOCUMENT", "DESCRIBES", ids[graph.app.ref]!), at: 0)
        doc.add("relationships", .array(relationships.map { r in
            .object([("spdxElementId", .string(r.0)), ("relationshipType", .string(r.1)), ("relatedSpdxElement", .string(r.2))])
        }))

        var named: [String: String] = [:]
        for c in graph.all { if case .name(let n)? = c.license { named[SBOMLicense.licenseRef(n)] = n } }
        doc.addNonEmpty("hasExtractedLicensingInfos", named.keys.sorted().map { ref in
            .object([
                ("licenseId", .string(ref)),
                ("name", .string(named[ref]!)),
                ("extractedText", .string(named[ref]!)),
                ("comment", .string("The license as the package metadata names it; hop has no license text.")),
            ])
        })
        return doc.json.rendered()
    }

    /// `SPDXRef-` plus the store path's name (with its hash) or `origin-name-version` for lock
    /// packages, reduced to SPDX's idstring characters. Assigned in `ref` order; a reduced id
    /// that is already taken gets a digest of the ref appended, so ids are unique and stable.
    static func identifiers(_ graph: SBOMGraph) -> [String: String] {
        var ids: [String: String] = [:]
        var taken: Set<String> = ["SPDXRef-DOCUMENT"]
        for c in graph.all.sorted(by: { $0.ref < $1.ref }) {
            let base: String
            switch c.origin {
            case .store: base = "nix-" + (c.ref.split(separator: "/").last.map(String.init) ?? c.ref)
            case .pypi, .npm, .golang, .gem, .composer: base = c.origin.rawValue + "-" + c.name + (c.version.map { "-" + $0 } ?? "")
            }
            var id = "SPDXRef-" + SBOMIdentifiers.sanitised(base)
            if taken.contains(id) { id += "-" + SBOMIdentifiers.shortDigest(c.ref) }
            taken.insert(id)
            ids[c.ref] = id
        }
        return ids
    }

    static func package(_ c: SBOMComponent, id: String, isApp: Bool) -> SBOMJSON {
        var o = SBOMObject()
        o.add("SPDXID", id)
        o.add("name", c.name)
        o.add("versionInfo", c.version)
        o.add("downloadLocation", "NOASSERTION")
        o.add("filesAnalyzed", .bool(false))
        o.addNonEmpty("checksums", c.hashes.map {
            .object([("algorithm", .string($0.algorithm.spdx)), ("checksumValue", .string($0.hex))])
        })
        o.add("licenseConcluded", "NOASSERTION")
        o.add("licenseDeclared", c.license?.spdxExpression ?? "NOASSERTION")
        o.add("copyrightText", "NOASSERTION")
        o.add("primaryPackagePurpose", isApp ? "APPLICATION" : "LIBRARY")
        var refs: [SBOMJSON] = []
        if let purl = c.purl {
            refs.append(.object([("referenceCategory", .string("PACKAGE-MANAGER")), ("referenceType", .string("purl")),
                                 ("referenceLocator", .string(purl))]))
        }
        if c.origin == .store {
            refs.append(.object([("referenceCategory", .string("OTHER")), ("referenceType", .string("nix-store-path")),
                                 ("referenceLocator", .string(c.ref))]))
        }
        o.addNonEmpty("externalRefs", refs)
        if c.origin == .store {
            var comment = "Nix store path; its SHA256 checksum is the NAR hash"
            if let d = c.deriver { comment += "; built by " + d }
            if c.buildtimeOnly { comment += "; needed only to build, not part of the runtime closure" }
            o.add("comment", comment + ".")
        }
        return o.json
    }
}
