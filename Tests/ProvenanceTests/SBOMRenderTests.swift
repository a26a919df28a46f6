import Foundation
import Testing
import HopBasics
import HopStore
import NixBuild
@testable import Provenance

@Suite("SBOM rendering", .tags(.sbom))
struct SBOMRenderTests {
    typealias S = SBOMTestSupport

    @Test("CycloneDX and SPDX snapshots, runtime and with build-time detail",
          arguments: [(false, "sbom-runtime"), (true, "sbom-buildtime")])
    func snapshots(buildtime: Bool, name: String) throws {
        let input = try S.syntheticInput(buildtime: buildtime)
        try assertSnapshot(CycloneDX.render(input), named: name + ".cdx.json")
        try assertSnapshot(SPDX.render(input), named: name + ".spdx.json")
    }

    @Test("rendering is byte-reproducible, whatever order the input lists things in", arguments: [false, true])
    func deterministic(buildtime: Bool) throws {
        let input = try S.syntheticInput(buildtime: buildtime)
        var shuffled = input
        shuffled.closure = input.closure.reversed().map { p in
            var p = p
            p.references = p.references.reversed()
            return p
        }
        shuffled.lock?.python.reverse()
        shuffled.lock?.npm.reverse()
        shuffled.lock?.go.reverse()
        shuffled.buildtime = input.buildtime?.reversed().map { BuildtimePath(path: $0.path, drvPath: $0.drvPath, inputs: $0.inputs.reversed()) }
        let cdx = CycloneDX.render(input), spdx = SPDX.render(input)
        #expect(CycloneDX.render(input) == cdx)
        #expect(SPDX.render(input) == spdx)
        #expect(CycloneDX.render(shuffled) == cdx)
        #expect(SPDX.render(shuffled) == spdx)
        #expect(cdx.hasSuffix("}\n") && spdx.hasSuffix("}\n"))
    }

    @Test("the timestamp is the build's, the serial number and namespace follow the output path")
    func identity() throws {
        let input = try S.syntheticInput(buildtime: false)
        let cdx = try Self.object(CycloneDX.render(input))
        #expect((cdx["metadata"] as? [String: Any])?["timestamp"] as? String == "2026-01-01T00:00:00Z")
        let serial = try #require(cdx["serialNumber"] as? String)
        #expect(serial == "urn:uuid:" + SBOMDigest.uuid5(url: "https://hop.invalid/cyclonedx/" + String(repeating: "a", count: 32) + "-flask-app-0.3.0"))
        var other = input
        other.outPath = S.fakePath("z", "flask-app-0.3.0")
        #expect(try Self.object(CycloneDX.render(other))["serialNumber"] as? String != serial)
        var withBuildtime = input
        withBuildtime.buildtime = []
        #expect(try Self.object(CycloneDX.render(withBuildtime))["serialNumber"] as? String != serial)

        let spdx = try Self.object(SPDX.render(input))
        #expect(spdx["documentNamespace"] as? String == "https://hop.invalid/spdx/" + String(repeating: "a", count: 32) + "-flask-app-0.3.0")
        #expect((spdx["creationInfo"] as? [String: Any])?["created"] as? String == "2026-01-01T00:00:00Z")
        #expect((spdx["creationInfo"] as? [String: Any])?["creators"] as? [String] == ["Tool: hop-0.1.0"])
    }

    @Test("an app without a known derivation or recorded closure still renders, with nothing made up")
    func sparseInput() throws {
        let out = S.fakePath("q", "bare-1.0")
        let input = SBOMInput(app: "bare", appVersion: nil, outPath: out, drvPath: "", closure: [], lock: nil,
                              created: Date(timeIntervalSince1970: 0), hopVersion: "0.1.0")
        let bom = try Self.object(CycloneDX.render(input))
        let app = try #require((bom["metadata"] as? [String: Any])?["component"] as? [String: Any])
        #expect(app["hashes"] == nil && app["version"] == nil)
        #expect(app["properties"] as? [[String: String]] == [["name": "nix:store_path", "value": out]])
        #expect((bom["components"] as? [Any])?.isEmpty == true)
        #expect((bom["dependencies"] as? [[String: Any]])?.count == 1)
        let doc = try Self.object(SPDX.render(input))
        #expect(doc["name"] as? String == "bare")
        #expect((doc["relationships"] as? [Any])?.count == 1)
        #expect(try S.cycloneDXProblems(CycloneDX.render(input)) == nil)
        #expect(try S.spdxProblems(SPDX.render(input)) == nil)
    }

    @Test("CycloneDX: one component per store path and lock package, every one a dependency node", arguments: [false, true])
    func cycloneDXGraph(buildtime: Bool) throws {
        let input = try S.syntheticInput(buildtime: buildtime)
        let bom = try Self.object(CycloneDX.render(input))
        let metadata = try #require(bom["metadata"] as? [String: Any])
        let app = try #require(metadata["component"] as? [String: Any])
        #expect(app["bom-ref"] as? String == input.outPath)
        #expect(app["type"] as? String == "application")
        #expect(app["name"] as? String == "flask-app" && app["version"] as? String == "0.3.0")
        let components = try #require(bom["components"] as? [[String: Any]])
        let refs = components.compactMap { $0["bom-ref"] as? String }
        #expect(refs == refs.sorted())
        #expect(Set(refs).count == refs.count)
        #expect(!refs.contains(input.outPath), "the app is metadata.component, not repeated in components")
        for p in input.closure where p.path != input.outPath { #expect(refs.contains(p.path)) }
        for purl in ["pkg:pypi/flask@3.1.3", "pkg:pypi/zope-interface@7.0%2Blocal", "pkg:npm/%40hop/greet@1.0.0",
                     "pkg:npm/left-pad@1.3.0", "pkg:golang/github.com/Masterminds/semver@v1.5.0%2Bincompatible",
                     "pkg:golang/golang.org/x/text@v0.14.0"] {
            #expect(refs.contains(purl), "\(purl)")
        }

        let deps = try #require(bom["dependencies"] as? [[String: Any]])
        let nodes = deps.compactMap { $0["ref"] as? String }
        #expect(nodes == ([input.outPath] + refs).sorted(), "every component, leaves included, is a node exactly once")
        var dependsOn: [String: [String]] = [:]
        for d in deps { dependsOn[d["ref"] as! String] = d["dependsOn"] as? [String] }
        for (ref, targets) in dependsOn {
            #expect(targets == targets.sorted())
            #expect(!targets.contains(ref))
            for t in targets { #expect(nodes.contains(t), "\(ref) depends on unknown \(t)") }
        }
        let env = S.fakePath("b", "python3.11-env"), nodeModules = S.fakePath("h", "node-modules")
        #expect(dependsOn[env]?.contains("pkg:pypi/flask@3.1.3") == true, "wheels hang under the python env")
        #expect(dependsOn[nodeModules]?.contains("pkg:npm/%40hop/greet@1.0.0") == true, "npm packages under node-modules")
        #expect(dependsOn[input.outPath]?.contains("pkg:golang/golang.org/x/text@v0.14.0") == true, "go modules under the app")
        #expect(dependsOn[S.fakePath("d", "hop-seed-python-3.11.2")] == [])
        #expect(dependsOn["pkg:pypi/flask@3.1.3"] == [])

        let python = try #require(components.first { $0["bom-ref"] as? String == S.fakePath("c", "hop-python") })
        #expect(python["name"] as? String == "python3" && python["version"] as? String == "3.11.2", "pname/version from the derivation")
        let ssl = try #require(components.first { $0["bom-ref"] as? String == S.fakePath("g", "openssl-3.0.8-lib") })
        #expect(ssl["name"] as? String == "openssl" && ssl["version"] as? String == "3.0.8")
        let hashes = try #require(python["hashes"] as? [[String: String]])
        #expect(hashes == [["alg": "SHA-256", "content": NixBase32.sha256Hex(fromNixHash: S.fakeNarHash(3))!]])
        let props = try #require(python["properties"] as? [[String: String]])
        #expect(props == [["name": "nix:store_path", "value": S.fakePath("c", "hop-python")],
                          ["name": "nix:narinfo:nar_hash", "value": S.fakeNarHash(3)],
                          ["name": "nix:narinfo:nar_size", "value": "70134984"],
                          ["name": "nix:narinfo:deriver", "value": S.fakePath("2", "hop-python.drv")]])

        let greet = try #require(components.first { $0["bom-ref"] as? String == "pkg:npm/%40hop/greet@1.0.0" })
        #expect(greet["hashes"] as? [[String: String]] == [["alg": "SHA-512", "content": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"]])
        let gunicorn = try #require(components.first { $0["bom-ref"] as? String == "pkg:pypi/gunicorn@23.0.0" })
        #expect(gunicorn["hashes"] as? [[String: String]] == [["alg": "SHA-256", "content": "ec400d38950de4dfd418cff8328b2c8faed0edb0d517d3394e457c317908ca4d"]])
        #expect(gunicorn["licenses"] as? [[String: [String: String]]] == [["license": ["id": "MIT"]]])
        let its = try #require(components.first { $0["bom-ref"] as? String == "pkg:pypi/itsdangerous@2.2.0" })
        #expect(its["licenses"] as? [[String: [String: String]]] == [["license": ["name": "BSD License"]]])
        let packaging = try #require(components.first { $0["bom-ref"] as? String == "pkg:pypi/packaging@26.3" })
        #expect(packaging["licenses"] as? [[String: String]] == [["expression": "Apache-2.0 OR (BSD-2-Clause)"]])
        let werkzeug = try #require(components.first { $0["bom-ref"] as? String == "pkg:pypi/werkzeug@3.1.9" })
        #expect(werkzeug["licenses"] == nil)

        let buildOnly = components.filter { $0["scope"] as? String == "excluded" }.compactMap { $0["bom-ref"] as? String }
        if buildtime {
            #expect(buildOnly == [S.fakePath("j", "flask-app-source.tar"), S.fakePath("k", "app.sh"),
                                  S.fakePath("l", "flask-3.1.3-py3-none-any.whl"), S.fakePath("m", "install-wheels.py"),
                                  S.fakePath("n", "hop-patchelf")])
            for c in components where c["scope"] as? String == "excluded" {
                #expect((c["properties"] as? [[String: String]])?.contains(["name": "hop:buildtime", "value": "true"]) == true)
            }
            #expect(dependsOn[input.outPath]?.contains(S.fakePath("j", "flask-app-source.tar")) == true)
            #expect(dependsOn[S.fakePath("c", "hop-python")]?.contains(S.fakePath("n", "hop-patchelf")) == true)
            #expect(dependsOn[S.fakePath("n", "hop-patchelf")] == [S.fakePath("f", "hop-seed-busybox-1.35.0")])
        } else {
            #expect(buildOnly.isEmpty)
            #expect(!components.contains { ($0["properties"] as? [[String: String]])?.contains { $0["name"] == "hop:buildtime" } == true })
        }
    }

    @Test("SPDX: unique ids, relationships between known elements, LicenseRefs defined", arguments: [false, true])
    func spdxGraph(buildtime: Bool) throws {
        let input = try S.syntheticInput(buildtime: buildtime)
        let doc = try Self.object(SPDX.render(input))
        let packages = try #require(doc["packages"] as? [[String: Any]])
        let ids = packages.compactMap { $0["SPDXID"] as? String }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.range(of: "^SPDXRef-[a-zA-Z0-9.-]+$", options: .regularExpression) != nil })
        let cdx = try Self.object(CycloneDX.render(input))
        #expect(packages.count == (cdx["components"] as! [Any]).count + 1, "the same components as CycloneDX")

        let rels = try #require(doc["relationships"] as? [[String: String]])
        let app = try #require(packages.first)
        #expect(app["primaryPackagePurpose"] as? String == "APPLICATION")
        #expect(rels.first == ["spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                               "relatedSpdxElement": app["SPDXID"] as! String])
        for r in rels.dropFirst() {
            #expect(ids.contains(r["spdxElementId"]!) && ids.contains(r["relatedSpdxElement"]!))
            #expect(["DEPENDS_ON", "CONTAINS", "BUILD_DEPENDENCY_OF"].contains(r["relationshipType"]!))
        }
        #expect(rels.contains { $0["relationshipType"] == "BUILD_DEPENDENCY_OF" } == buildtime)
        func id(_ ref: String) -> String? {
            packages.first { p in
                (p["externalRefs"] as? [[String: String]])?.contains { $0["referenceLocator"] == ref } == true
            }?["SPDXID"] as? String
        }
        let env = try #require(id(S.fakePath("b", "python3.11-env")))
        let flask = try #require(id("pkg:pypi/flask@3.1.3"))
        #expect(rels.contains(["spdxElementId": env, "relationshipType": "CONTAINS", "relatedSpdxElement": flask]))
        #expect(rels.contains(["spdxElementId": app["SPDXID"] as! String, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": env]))

        let flaskPackage = try #require(packages.first { $0["SPDXID"] as? String == flask })
        #expect(flaskPackage["licenseDeclared"] as? String == "BSD-3-Clause")
        #expect(flaskPackage["checksums"] as? [[String: String]] == [["algorithm": "SHA256", "checksumValue": "f4bcbefc124291925f1a26446da31a5178f9483862233b23c0c96a20701f670c"]])
        let declared = packages.compactMap { $0["licenseDeclared"] as? String }.filter { $0.hasPrefix("LicenseRef-") }
        let defined = (doc["hasExtractedLicensingInfos"] as? [[String: String]] ?? []).compactMap { $0["licenseId"] }
        #expect(!declared.isEmpty && Set(declared) == Set(defined))
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
}

@Suite("SBOM build graph from nix show-derivation", .tags(.sbom))
struct SBOMBuildtimeParseTests {
    @Test("outputs carry their derivation's inputs: the outputs it uses and its sources")
    func parsesGraph() throws {
        let json = """
        {
          "/nix/store/00000000000000000000000000000000-app-1.0.drv": {
            "outputs": {"out": {"path": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0"}},
            "inputSrcs": ["/nix/store/ssssssssssssssssssssssssssssssss-build.sh"],
            "inputDrvs": {"/nix/store/11111111111111111111111111111111-lib-2.0.drv": ["dev"],
                          "/nix/store/22222222222222222222222222222222-gone.drv": ["out"]},
            "system": "x86_64-linux", "builder": "/bin/sh", "args": [],
            "env": {"name": "app-1.0", "pname": "app", "version": "1.0"}
          },
          "/nix/store/11111111111111111111111111111111-lib-2.0.drv": {
            "outputs": {"out": {"path": "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-2.0"},
                        "dev": {"path": "/nix/store/cccccccccccccccccccccccccccccccc-lib-2.0-dev"}},
            "inputSrcs": [], "inputDrvs": {}, "system": "x86_64-linux", "builder": "/bin/sh", "args": [],
            "env": {"name": "lib-2.0"}
          }
        }
        """
        let drvs = try Buildtime.parse(showDerivation: Data(json.utf8))
        #expect(drvs.count == 2)
        #expect(drvs["/nix/store/11111111111111111111111111111111-lib-2.0.drv"]?.name == "lib-2.0")
        let paths = Buildtime.paths(from: drvs)
        #expect(paths == [
            BuildtimePath(path: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0", drvPath: "/nix/store/00000000000000000000000000000000-app-1.0.drv",
                          inputs: ["/nix/store/cccccccccccccccccccccccccccccccc-lib-2.0-dev", "/nix/store/ssssssssssssssssssssssssssssssss-build.sh"]),
            BuildtimePath(path: "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-2.0", drvPath: "/nix/store/11111111111111111111111111111111-lib-2.0.drv", inputs: []),
            BuildtimePath(path: "/nix/store/cccccccccccccccccccccccccccccccc-lib-2.0-dev", drvPath: "/nix/store/11111111111111111111111111111111-lib-2.0.drv", inputs: []),
            BuildtimePath(path: "/nix/store/ssssssssssssssssssssssssssssssss-build.sh", drvPath: nil, inputs: []),
        ])
        #expect(Buildtime.derivationNames(from: drvs) == ["/nix/store/00000000000000000000000000000000-app-1.0.drv": DerivationName(pname: "app", version: "1.0")])
    }

    @Test("text that is not show-derivation JSON is an error, not an empty graph")
    func rejectsGarbage() {
        #expect(throws: HopError.self) { try Buildtime.parse(showDerivation: Data("[1, 2]".utf8)) }
        #expect(throws: HopError.self) { try Buildtime.parse(showDerivation: Data("{\"/nix/store/x.drv\": {}}".utf8)) }
    }
}
