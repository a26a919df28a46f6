import Foundation
import Testing
import HopBasics
@_exported import HopTestSupport
import HopStore
import NixBuild
@testable import Provenance

extension Tag {
    @Tag static var sbom: Self
}

/// Helpers for the SBOM tests. Names carry `SBOM` so they cannot clash with other helpers of
/// this test target.
enum SBOMTestSupport {
    /// This file with symlinks resolved, so a dev package that links the test files still finds
    /// the repository (fixtures, snapshots, the validator venv).
    static let testsDirectory: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
    static let repoRoot: String = testsDirectory.deletingLastPathComponent().deletingLastPathComponent().path
    static let venv = repoRoot + "/.venv-test"

    /// The validator venv's python; records a failure (never a skip) when the venv is missing.
    static func venvTool(_ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> String? {
        let tool = venv + "/bin/" + name
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            Issue.record("\(tool) is missing: run scripts/setup.sh to create the validator venv (.venv-test)", sourceLocation: sourceLocation)
            return nil
        }
        return tool
    }

    /// Validates with cyclonedx-python-lib's strict JSON validator for CycloneDX 1.6. Returns
    /// nil when valid, else the validator's complaint.
    static func cycloneDXProblems(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> String? {
        guard let python = venvTool("python", sourceLocation: sourceLocation) else { return "no validator" }
        let script = """
        import sys
        from cyclonedx.validation.json import JsonStrictValidator
        from cyclonedx.schema import SchemaVersion
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sys.stdin.read())
        if error is not None:
            print(repr(error))
            sys.exit(1)
        print("valid")
        """
        let r = try SystemRunner().run(Command(python, ["-c", script], stdin: Data(text.utf8)))
        if r.succeeded && r.stdoutText == "valid\n" { return nil }
        return "exit \(r.status): \(r.stdoutText)\(r.stderrTail(20))"
    }

    /// Validates with spdx-tools' `pyspdxtools -i`. Returns nil when it accepts the document
    /// silently, else what it printed.
    static func spdxProblems(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> String? {
        guard let tool = venvTool("pyspdxtools", sourceLocation: sourceLocation) else { return "no validator" }
        return try withTemporaryDirectory { dir in
            let file = dir + "/sbom.spdx.json"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let r = try SystemRunner().run(Command(tool, ["-i", file]))
            let said = (r.stdoutText + r.stderrText).trimmingCharacters(in: .whitespacesAndNewlines)
            if r.succeeded && said.isEmpty { return nil }
            return "exit \(r.status): \(said)"
        }
    }

    /// A store path with a fake but well-formed hash part (32 characters of Nix base-32).
    static func fakePath(_ seed: Character, _ name: String) -> String {
        "/nix/store/" + String(repeating: String(seed), count: 32) + "-" + name
    }

    /// A NAR hash as Nix 2.8 prints it, from a repeated byte.
    static func fakeNarHash(_ byte: UInt8) -> String {
        "sha256:" + NixBase32.encode([UInt8](repeating: byte, count: 31) + [0x42])
    }

    /// A synthetic build of a Python app exercising every feature: multi-output suffixes,
    /// derivation names, wheels with SPDX ids, an expression, a bare name and no license, npm
    /// packages (scoped, SHA-512 and SHA-1 integrity), Go modules, and a build graph.
    static func syntheticInput(buildtime: Bool) throws -> SBOMInput {
        let out = fakePath("a", "flask-app-0.3.0")
        let env = fakePath("b", "python3.11-env")
        let python = fakePath("c", "hop-python")
        let seed = fakePath("d", "hop-seed-python-3.11.2")
        let busybox = fakePath("f", "hop-seed-busybox-1.35.0")
        let ssl = fakePath("g", "openssl-3.0.8-lib")
        let nodeModules = fakePath("h", "node-modules")
        let closure = [
            StorePathInfo(path: out, narHash: fakeNarHash(1), narSize: 2488, deriver: fakePath("0", "flask-app-0.3.0.drv"),
                          references: [out, env, busybox, nodeModules]),
            StorePathInfo(path: env, narHash: fakeNarHash(2), narSize: 1_048_576, deriver: fakePath("1", "python3.11-env.drv"),
                          references: [env, python]),
            StorePathInfo(path: python, narHash: fakeNarHash(3), narSize: 70_134_984, deriver: fakePath("2", "hop-python.drv"),
                          references: [python, seed, ssl]),
            StorePathInfo(path: seed, narHash: fakeNarHash(4), narSize: 50_000_000, deriver: nil, references: []),
            StorePathInfo(path: busybox, narHash: fakeNarHash(5), narSize: 2_034_368, deriver: nil, references: []),
            StorePathInfo(path: ssl, narHash: fakeNarHash(6), narSize: 6_000_000, deriver: fakePath("3", "openssl-3.0.8.drv"),
                          references: [ssl]),
            StorePathInfo(path: nodeModules, narHash: fakeNarHash(7), narSize: 4096, deriver: fakePath("4", "node-modules.drv"),
                          references: []),
        ]
        let lockJSON = """
        {
          "lockVersion": 1, "builder": "python", "inputsHash": "sha256:00", "resolvedFor": "cp311-x86_64-linux",
          "python": [
            {"name": "flask", "version": "3.1.3", "filename": "flask-3.1.3-py3-none-any.whl", "url": "file:///w/flask-3.1.3-py3-none-any.whl",
             "sha256": "f4bcbefc124291925f1a26446da31a5178f9483862233b23c0c96a20701f670c", "license": "BSD-3-Clause"},
            {"name": "gunicorn", "version": "23.0.0", "filename": "gunicorn-23.0.0-py3-none-any.whl", "url": "file:///w/g.whl",
             "sha256": "EC400D38950DE4DFD418CFF8328B2C8FAED0EDB0D517D3394E457C317908CA4D", "license": "mit"},
            {"name": "itsdangerous", "version": "2.2.0", "filename": "itsdangerous-2.2.0-py3-none-any.whl", "url": "file:///w/i.whl",
             "sha256": "c6242fc49e35958c8b15141343aa660db5fc54d4f13a1db01a3f5891b98700ef", "license": "BSD License"},
            {"name": "packaging", "version": "26.3", "filename": "packaging-26.3-py3-none-any.whl", "url": "file:///w/p.whl",
             "sha256": "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c", "license": "Apache-2.0 or (BSD-2-Clause)"},
            {"name": "zope-interface", "version": "7.0+local", "filename": "zope_interface-7.0+local-py3-none-any.whl", "url": "file:///w/z.whl",
             "sha256": "6392e50c78460ba618e5b21f08a71f59c99ce99cdc6cf6e3dd7e6ccca8754fab", "license": "GPL-2.0-or-later WITH Classpath-exception-2.0"},
            {"name": "werkzeug", "version": "3.1.9", "filename": "werkzeug-3.1.9-py3-none-any.whl", "url": "file:///w/w.whl",
             "sha256": "6392e50c78460ba618e5b21f08a71f59c99ce99cdc6cf6e3dd7e6ccca8754fab"}
          ],
          "npm": [
            {"path": "node_modules/@hop/greet", "name": "@hop/greet", "version": "1.0.0", "url": "file:///w/greet-1.0.0.tgz",
             "integrity": "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==", "license": "ISC"},
            {"path": "node_modules/left-pad", "name": "left-pad", "version": "1.3.0", "url": "https://registry.example/left-pad-1.3.0.tgz",
             "integrity": "sha1-W4o6d2Xf4AEmHd6RVYnngvjJTR4=", "license": "WTFPL"}
          ],
          "go": [
            {"path": "github.com/Masterminds/semver", "version": "v1.5.0+incompatible"},
            {"path": "golang.org/x/text", "version": "v0.14.0"}
          ]
        }
        """
        let lock = try DependencyLock.decode(lockJSON, file: "synthetic.lock")
        let names: [String: DerivationName] = [
            fakePath("2", "hop-python.drv"): DerivationName(pname: "python3", version: "3.11.2"),
            fakePath("3", "openssl-3.0.8.drv"): DerivationName(pname: nil, version: nil),
        ]
        var bt: [BuildtimePath]?
        if buildtime {
            let source = fakePath("j", "flask-app-source.tar")
            let appSh = fakePath("k", "app.sh")
            let wheel = fakePath("l", "flask-3.1.3-py3-none-any.whl")
            let installer = fakePath("m", "install-wheels.py")
            let patchelf = fakePath("n", "hop-patchelf")
            bt = [
                BuildtimePath(path: out, drvPath: fakePath("0", "flask-app-0.3.0.drv"), inputs: [appSh, busybox, env, source]),
                BuildtimePath(path: env, drvPath: fakePath("1", "python3.11-env.drv"), inputs: [busybox, installer, python, wheel]),
                BuildtimePath(path: python, drvPath: fakePath("2", "hop-python.drv"), inputs: [busybox, patchelf, seed]),
                BuildtimePath(path: patchelf, drvPath: fakePath("5", "hop-patchelf.drv"), inputs: [busybox]),
                BuildtimePath(path: wheel, drvPath: fakePath("6", "flask-3.1.3-py3-none-any.whl.drv"), inputs: []),
                BuildtimePath(path: source, drvPath: fakePath("7", "flask-app-source.tar.drv"), inputs: []),
                BuildtimePath(path: appSh, drvPath: nil, inputs: []),
                BuildtimePath(path: installer, drvPath: nil, inputs: []),
                BuildtimePath(path: busybox, drvPath: nil, inputs: []),
                BuildtimePath(path: seed, drvPath: nil, inputs: []),
            ]
        }
        return SBOMInput(app: "flask-app", appVersion: "0.3.0", outPath: out, drvPath: fakePath("0", "flask-app-0.3.0.drv"),
                         closure: closure, lock: lock, derivationNames: names, buildtime: bt,
                         created: Date(timeIntervalSince1970: 1_767_225_600.75), hopVersion: "0.1.0")
    }
}
