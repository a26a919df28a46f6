import Foundation
import Testing
import HopBasics
import HopStore
import NixBuild
@testable import Provenance

/// The SBOMs must pass the official validators: cyclonedx-python-lib's strict JSON validator
/// (CycloneDX 1.6 schema) and spdx-tools' pyspdxtools (SPDX 2.3), both from `.venv-test`.
@Suite("SBOM validation with the official validators", .tags(.sbom))
struct SBOMValidationTests {
    typealias S = SBOMTestSupport

    @Test("the synthetic SBOMs are valid CycloneDX 1.6 and SPDX 2.3", arguments: [false, true])
    func synthetic(buildtime: Bool) throws {
        let input = try S.syntheticInput(buildtime: buildtime)
        let cdx = try S.cycloneDXProblems(CycloneDX.render(input))
        #expect(cdx == nil, "CycloneDX validator: \(cdx ?? "")")
        let spdx = try S.spdxProblems(SPDX.render(input))
        #expect(spdx == nil, "pyspdxtools: \(spdx ?? "")")
    }

    @Test("the validators do reject a broken document (the checks are live)")
    func validatorsReject() throws {
        let input = try S.syntheticInput(buildtime: false)
        let badCDX = CycloneDX.render(input).replacingOccurrences(of: "\"alg\": \"SHA-256\"", with: "\"alg\": \"SHA256\"")
        #expect(try S.cycloneDXProblems(badCDX) != nil)
        let badSPDX = SPDX.render(input).replacingOccurrences(of: "\"relatedSpdxElement\": \"SPDXRef-", with: "\"relatedSpdxElement\": \"SPDXRef-missing-")
        #expect(try S.spdxProblems(badSPDX) != nil)
    }

    @Test("a real closure with a real lock: valid in both formats, runtime and with build-time detail")
    func realClosure() throws {
        let runner = SystemRunner()
        let app = try Self.realApp(runner: runner)
        let lock = try Self.wheelhouseLock(runner: runner)
        var input = SBOMInput(app: "flask-app", appVersion: nil, outPath: app.out, drvPath: app.deriver ?? "",
                              closure: app.closure, lock: lock, derivationNames: Buildtime.derivationNames(from: app.derivations),
                              buildtime: nil, created: Date(timeIntervalSince1970: 1_767_225_600), hopVersion: "0.1.0")
        let runtime = CycloneDX.render(input)
        #expect(try S.cycloneDXProblems(runtime) == nil, "CycloneDX validator on the real closure of \(app.out)")
        #expect(try S.spdxProblems(SPDX.render(input)) == nil, "pyspdxtools on the real closure of \(app.out)")
        let bom = try #require(JSONSerialization.jsonObject(with: Data(runtime.utf8)) as? [String: Any])
        let refs = (bom["components"] as? [[String: Any]] ?? []).compactMap { $0["bom-ref"] as? String }
        for p in app.closure where p.path != app.out { #expect(refs.contains(p.path)) }
        #expect(refs.contains("pkg:pypi/flask@3.1.3") && refs.contains("pkg:pypi/packaging@26.3"))

        if !app.derivations.isEmpty {
            input.buildtime = Buildtime.paths(from: app.derivations)
            let cdx = CycloneDX.render(input)
            #expect(try S.cycloneDXProblems(cdx) == nil, "CycloneDX validator, build-time detail of \(app.out)")
            #expect(try S.spdxProblems(SPDX.render(input)) == nil, "pyspdxtools, build-time detail of \(app.out)")
            let wheels = Buildtime.paths(from: app.derivations).filter { $0.path.hasSuffix(".whl") }
            #expect(!wheels.isEmpty)
            for w in wheels { #expect(cdx.contains("\"bom-ref\": \"\(w.path)\"")) }
        }
    }

    @Test("Buildtime.load reads a real derivation graph: outputs used, sources, pname/version")
    func buildtimeFromNix() throws {
        let runner = SystemRunner()
        try withTemporaryDirectory { dir in
            let expr = dir + "/graph.nix"
            try """
            let
              src = builtins.toFile "hop-sbom-test-input.sh" "echo hi";
              dep = derivation {
                name = "hop-sbom-dep-1.2"; pname = "hop-sbom-dep"; version = "1.2";
                system = builtins.currentSystem; builder = "/bin/sh";
                args = [ "-c" "echo > $out; echo > $dev" ]; outputs = [ "out" "dev" ];
              };
            in derivation {
              name = "hop-sbom-top-0.1"; system = builtins.currentSystem; builder = "/bin/sh";
              args = [ "-c" "${src} ${dep.dev}" ];
            }
            """.write(toFile: expr, atomically: true, encoding: .utf8)
            // With --add-root nix-instantiate prints the root (a symlink to the derivation).
            let root = try runner.output(Command("nix-instantiate", ["--add-root", dir + "/drv", "--indirect", expr]),
                                         failure: { HopError(.environment, "nix-instantiate failed", detail: $0.stderrTail(10)) })
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let drv = try FileManager.default.destinationOfSymbolicLink(atPath: root)
            #expect(drv.hasPrefix("/nix/store/") && drv.hasSuffix("-hop-sbom-top-0.1.drv"))
            let derivations = try Buildtime.derivations(drv: drv, runner: runner)
            #expect(derivations.count == 2)
            let top = try #require(derivations[drv])
            let depDrv = try #require(top.inputDrvs.keys.first)
            let dep = try #require(derivations[depDrv])
            let src = try #require(top.inputSrcs.first)

            let paths = try Buildtime.load(drv: drv, runner: runner)
            #expect(paths == Buildtime.paths(from: derivations))
            #expect(paths.map(\.path) == [top.outputs["out"]!, dep.outputs["out"]!, dep.outputs["dev"]!, src].sorted())
            #expect(paths.first { $0.path == top.outputs["out"] } == BuildtimePath(path: top.outputs["out"]!, drvPath: drv,
                                                                                       inputs: [dep.outputs["dev"]!, src].sorted()))
            #expect(paths.first { $0.path == dep.outputs["dev"] } == BuildtimePath(path: dep.outputs["dev"]!, drvPath: depDrv, inputs: []))
            #expect(paths.first { $0.path == src } == BuildtimePath(path: src, drvPath: nil, inputs: []))
            #expect(Buildtime.derivationNames(from: derivations) == [depDrv: DerivationName(pname: "hop-sbom-dep", version: "1.2")])

            let input = SBOMInput(app: "hop-sbom-top", appVersion: "0.1", outPath: top.outputs["out"]!, drvPath: drv, closure: [],
                                  lock: nil, derivationNames: Buildtime.derivationNames(from: derivations), buildtime: paths,
                                  created: Date(timeIntervalSince1970: 0), hopVersion: "0.1.0")
            let cdx = CycloneDX.render(input)
            #expect(try S.cycloneDXProblems(cdx) == nil)
            #expect(try S.spdxProblems(SPDX.render(input)) == nil)
            let bom = try #require(JSONSerialization.jsonObject(with: Data(cdx.utf8)) as? [String: Any])
            let devComponent = try #require((bom["components"] as? [[String: Any]])?.first { $0["bom-ref"] as? String == dep.outputs["dev"] })
            #expect(devComponent["name"] as? String == "hop-sbom-dep" && devComponent["version"] as? String == "1.2")
        }
    }

    @Test("a missing derivation is a notFound error that says what to do")
    func missingDerivation() throws {
        #expect {
            try Buildtime.load(drv: "/nix/store/00000000000000000000000000000000-gone.drv", runner: SystemRunner())
        } throws: { error in
            guard let e = error as? HopError else { return false }
            return e.code == .notFound && e.hint?.contains("rebuild") == true
        }
    }

    // MARK: - real inputs

    struct RealApp {
        var out: String
        var deriver: String?
        var closure: [StorePathInfo]
        /// Its build graph; empty when no built app with its derivation is in the store.
        var derivations: [String: ShownDerivation]
    }

    /// A built python app from this machine's store: a `*-flask-app-*` output whose closure has a
    /// python env and whose derivation is still there, as hop's own builds leave behind (tried in
    /// turn, since a concurrent garbage collection may remove one). Else a path added to the
    /// store here, which has a real closure but no derivation.
    static func realApp(runner: any ProcessRunner) throws -> RealApp {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/nix/store")) ?? []
        // App builds are named `<hash>-flask-app-<version>` (a deploy's generation, `<hash>-hop-flask-app-gN`, is not one).
        let candidates = entries.filter { $0.dropFirst(33).hasPrefix("flask-app-") && !$0.hasSuffix(".drv") && !$0.hasSuffix(".lock") && !$0.contains("source") }.sorted()
        for name in candidates {
            let path = "/nix/store/" + name
            guard let closure = try? pathInfo(path, runner: runner),
                  closure.contains(where: { $0.path.hasSuffix("-python3.11-env") }),
                  let deriver = closure.first(where: { $0.path == path })?.deriver,
                  let derivations = try? Buildtime.derivations(drv: deriver, runner: runner) else { continue }
            return RealApp(out: path, deriver: deriver, closure: closure, derivations: derivations)
        }
        return try withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/hop-sbom-real", withIntermediateDirectories: true)
            try "print('hello')\n".write(toFile: dir + "/hop-sbom-real/app.py", atomically: true, encoding: .utf8)
            let out = try runner.output(Command("nix-store", ["--add", dir + "/hop-sbom-real"]),
                                        failure: { HopError(.environment, "nix-store --add failed", detail: $0.stderrTail(10)) })
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return RealApp(out: out, deriver: nil, closure: try pathInfo(out, runner: runner), derivations: [:])
        }
    }

    static func pathInfo(_ path: String, runner: any ProcessRunner) throws -> [StorePathInfo] {
        let text = try runner.output(Command("nix", ["--extra-experimental-features", "nix-command", "path-info", "--json", "-r", path]),
                                     failure: { HopError(.environment, "nix path-info failed", detail: $0.stderrTail(10)) })
        let list = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        return list.compactMap { o in
            guard let p = o["path"] as? String, let h = o["narHash"] as? String else { return nil }
            return StorePathInfo(path: p, narHash: h, narSize: (o["narSize"] as? NSNumber)?.int64Value ?? 0,
                                 deriver: o["deriver"] as? String, references: (o["references"] as? [String] ?? []).sorted())
        }
    }

    /// The lock hop writes for fixtures/wheelhouse (licenses as the wheels' metadata states
    /// them), after checking each sha256 against the wheel file itself.
    static func wheelhouseLock(runner: any ProcessRunner) throws -> DependencyLock {
        let wheels: [(String, String, String, String, String?)] = [
            ("blinker", "1.9.0", "blinker-1.9.0-py3-none-any.whl", "ba0efaa9080b619ff2f3459d1d500c57bddea4a6b424b60a91141db6fd2f08bc", nil),
            ("click", "8.5.1", "click-8.5.1-py3-none-any.whl", "8bb5376d2006950386f8c6427613334a2acadc5f559cb80e638d00b4df957e37", "BSD-3-Clause"),
            ("flask", "3.1.3", "flask-3.1.3-py3-none-any.whl", "f4bcbefc124291925f1a26446da31a5178f9483862233b23c0c96a20701f670c", "BSD-3-Clause"),
            ("gunicorn", "23.0.0", "gunicorn-23.0.0-py3-none-any.whl", "ec400d38950de4dfd418cff8328b2c8faed0edb0d517d3394e457c317908ca4d", "MIT"),
            ("itsdangerous", "2.2.0", "itsdangerous-2.2.0-py3-none-any.whl", "c6242fc49e35958c8b15141343aa660db5fc54d4f13a1db01a3f5891b98700ef", nil),
            ("jinja2", "3.1.6", "jinja2-3.1.6-py3-none-any.whl", "85ece4451f492d0c13c5dd7c13a64681a86afae63a5f347908daf103ce6d2f67", nil),
            ("markupsafe", "3.0.4", "markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
             "6da83a088f8ef93b2d483a8232a4dbf4d69d3d8496b568a03c56becac43e1808", "BSD-3-Clause"),
            ("packaging", "26.3", "packaging-26.3-py3-none-any.whl", "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c", "Apache-2.0 OR BSD-2-Clause"),
            ("werkzeug", "3.1.9", "werkzeug-3.1.9-py3-none-any.whl", "6392e50c78460ba618e5b21f08a71f59c99ce99cdc6cf6e3dd7e6ccca8754fab", "BSD-3-Clause"),
        ]
        let house = S.repoRoot + "/fixtures/wheelhouse/"
        var entries: [String] = []
        for (name, version, file, sha, license) in wheels {
            let sum = try runner.output(Command("sha256sum", [house + file]),
                                        failure: { HopError(.environment, "sha256sum \(file) failed", detail: $0.stderrTail(5)) })
            #expect(sum.hasPrefix(sha + " "), "fixtures/wheelhouse/\(file) changed: update this lock")
            let lic = license.map { ", \"license\": \"\($0)\"" } ?? ""
            entries.append("{\"name\": \"\(name)\", \"version\": \"\(version)\", \"filename\": \"\(file)\", \"url\": \"file://\(house)\(file)\", \"sha256\": \"\(sha)\"\(lic)}")
        }
        let json = "{\"lockVersion\": 1, \"builder\": \"python\", \"inputsHash\": \"sha256:0\", \"resolvedFor\": \"cp311-x86_64-linux\", \"python\": [\(entries.joined(separator: ", "))], \"npm\": [], \"go\": []}"
        return try DependencyLock.decode(json, file: "wheelhouse.lock")
    }
}
