import Foundation
import Testing
import AppSpec
import HopBasics
@testable import NixBuild

/// Fixed, fake store paths: renderers are pure, so snapshots never depend on this machine.
let fakeSeeds: [String: String] = [
    "busybox": "/nix/store/00000000000000000000000000000001-hop-seed-busybox-1.35.0",
    "patchelf": "/nix/store/00000000000000000000000000000002-hop-seed-patchelf-0.14.3",
    "python": "/nix/store/00000000000000000000000000000003-hop-seed-python-3.11.2",
    "node": "/nix/store/00000000000000000000000000000004-hop-seed-node-20.20.2",
    "go": "/nix/store/00000000000000000000000000000005-hop-seed-go-1.19.8",
]
let fakeLib = "/nix/store/0000000000000000000000000000000l-hop-nix-lib"
let fakeSource = FixedInput(name: "demo-source.tar", url: "file:///hop/source", sha256: String(repeating: "ab", count: 32))

func plan(_ builder: Builder) -> BuildPlan {
    var p = BuildPlan(app: "demo", version: "1.2.3", builder: builder, toolchain: .seed(fakeSeeds), nixLib: fakeLib, source: fakeSource)
    p.processes = [("web", "serve --port \"$PORT\" ${HOME}"), ("worker", "run-worker 'q'")]
    p.env = [EnvVar("GREETING", "hi \"there\" ${x} \\ done")]
    p.beforeBuild = ["mkdir -p out"]
    p.buildCommands = ["echo built > out/stamp"]
    p.manifestJSON = #"{"app":"demo"}"#
    switch builder {
    case .python:
        p.wheels = [FixedInput(name: "flask-3.1.3-py3-none-any.whl", url: "https://files.example/flask-3.1.3-py3-none-any.whl", sha256: String(repeating: "1", count: 64)),
                    FixedInput(name: "click-8.5.1-py3-none-any.whl", url: "file:///wheels/click-8.5.1-py3-none-any.whl", sha256: String(repeating: "2", count: 64))]
    case .node:
        p.npmPackages = [(path: "node_modules/left-pad", input: FixedInput(name: "left-pad-1.3.0.tgz", url: "https://registry.example/left-pad/-/left-pad-1.3.0.tgz", hash: "sha512-AAAA"))]
    case .go: p.goBinary = "demo"
    case .nix: p.nixFile = "default.nix"
    default: break
    }
    return p
}

@Suite("Nix expression rendering", .tags(.small))
struct NixExprTests {
    @Test("Nix strings escape quotes, backslashes, antiquotation and control characters")
    func escaping() {
        #expect(NixExpr.string("a\"b") == #""a\"b""#)
        #expect(NixExpr.string("a\\b") == #""a\\b""#)
        #expect(NixExpr.string("${x}") == #""\${x}""#)
        #expect(NixExpr.string("$x $") == #""$x $""#)
        #expect(NixExpr.string("l1\nl2\tt\r") == #""l1\nl2\tt\r""#)
        #expect(NixExpr.string("$${a}") == #""$\${a}""#)
    }

    @Test("every builder's expression matches its snapshot", arguments: Builder.allCases)
    func snapshot(builder: Builder) throws {
        try assertSnapshot(NixExpr.render(plan(builder)), named: "\(builder.rawValue).nix")
    }

    @Test("nixpkgs toolchain expression matches its snapshot")
    func nixpkgsSnapshot() throws {
        var p = plan(.python)
        p.toolchain = .nixpkgs(url: "https://example.org/nixpkgs.tar.gz", sha256: "0000000000000000000000000000000000000000000000000000")
        try assertSnapshot(NixExpr.render(p), named: "python-nixpkgs.nix")
    }

    @Test("rendering is deterministic: the same plan gives the same bytes")
    func deterministic() {
        #expect(NixExpr.render(plan(.python)) == NixExpr.render(plan(.python)))
    }

    @Test("every generated expression and every file of the Nix library passes nix-instantiate --parse",
          .tags(.integration))
    func parses() throws {
        try withTemporaryDirectory { dir in
            var files: [String] = []
            for b in Builder.allCases {
                let f = dir + "/\(b.rawValue).nix"
                try NixExpr.render(plan(b)).write(toFile: f, atomically: true, encoding: .utf8)
                files.append(f)
            }
            let lib = repoRoot + "/nix"
            for case let rel as String in FileManager.default.enumerator(atPath: lib)! where rel.hasSuffix(".nix") {
                files.append(lib + "/" + rel)
            }
            #expect(files.count >= 16)
            let driver = NixDriver(runner: SystemRunner())
            for f in files { try driver.parse(f) }
        }
    }
}
