import Foundation
import Testing
import HopBasics
import NixBuild

let venvPython = repoRoot + "/.venv-test/bin/python"

func validateStatement(_ file: String) throws -> (ok: Bool, output: String) {
    guard FileManager.default.isExecutableFile(atPath: venvPython) else {
        Issue.record("the test venv is missing: run scripts/setup.sh")
        return (false, "")
    }
    let r = try SystemRunner().run(Command(venvPython, [repoRoot + "/scripts/validate/intoto_statement.py", file]))
    return (r.succeeded, r.stdoutText + r.stderrText)
}

@Suite("Provenance, signing and verification against the real store", .tags(.integration), .serialized)
struct ProvenanceIntegrationTests {
    @Test("unsigned provenance is byte-identical across runs and valid for the in-toto library")
    func reproducibleAndValid() throws {
        #expect(seedsReady)
        #expect(try hop(["build", fixtures + "/flask-app", "--find-links", wheelhouse]).status == 0)
        let a = try hop(["provenance", "flask-app"])
        let b = try hop(["provenance", "flask-app"])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stdout == b.stdout)
        try withTemporaryDirectory { dir in
            try a.stdout.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
            let v = try validateStatement(dir + "/p.json")
            #expect(v.ok, "\(v.output)")
            let st = json(a.stdout)
            let deps = ((st["predicate"] as? [String: Any])?["buildDefinition"] as? [String: Any])?["resolvedDependencies"] as? [[String: Any]] ?? []
            #expect(deps.contains { ($0["uri"] as? String) == "pkg:pypi/flask@3.1.3" })
            #expect(deps.contains { ($0["name"] as? String) == "seed:python" })
            #expect(deps.contains { ($0["name"] as? String) == "source" })
        }
    }

    @Test("hop sbom on a real build: byte-identical across runs, valid CycloneDX 1.6 and SPDX 2.3", arguments: ["cyclonedx", "spdx"])
    func sbomReproducibleAndValid(format: String) throws {
        #expect(seedsReady)
        #expect(try hop(["build", fixtures + "/flask-app", "--find-links", wheelhouse]).status == 0)
        try withTemporaryDirectory { dir in
            let a = dir + "/a.json", b = dir + "/b.json"
            #expect(try hop(["sbom", "flask-app", "--format", format, "-o", a]).status == 0)
            #expect(try hop(["sbom", "flask-app", "--format", format, "-o", b]).status == 0)
            #expect(FileManager.default.contents(atPath: a) == FileManager.default.contents(atPath: b))
            let text = try String(contentsOfFile: a, encoding: .utf8)
            #expect(text.contains("pkg:pypi/flask@3.1.3"))
            let check: Command
            if format == "cyclonedx" {
                check = Command(venvPython, ["-c", "import sys; from cyclonedx.validation.json import JsonStrictValidator; from cyclonedx.schema import SchemaVersion; e = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read()); print(e); sys.exit(1 if e else 0)", a])
            } else {
                let spdx = dir + "/a.spdx.json"
                try FileManager.default.copyItem(atPath: a, toPath: spdx)
                check = Command(repoRoot + "/.venv-test/bin/pyspdxtools", ["-i", spdx])
            }
            let r = try SystemRunner().run(check)
            #expect(r.succeeded, "\(r.stdoutText)\(r.stderrText)")
        }
    }

    @Test("signed provenance verifies; a changed payload, another key, or a changed store path fail with exit 7")
    func signAndVerify() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            #expect(try hop(["seed", "import", "busybox", "patchelf"], home: home).status == 0)
            #expect(try hop(["build", fixtures + "/static-site"], home: home).status == 0)
            #expect(try hop(["key", "generate"], home: home).status == 0)
            #expect(try hop(["key", "generate"], home: home).status == 2, "a second generate must refuse to overwrite")
            let env = dir + "/p.dsse.json"
            #expect(try hop(["provenance", "static-site", "--sign", "-o", env], home: home).status == 0)
            #expect(try validateStatement(env).ok)
            let ok = try hop(["provenance", "verify", env, "--json"], home: home)
            #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
            #expect(json(ok.stdout)["ok"] as? Bool == true)
            // With the exported public key.
            let pem = try hop(["key", "show", "--pem"], home: home).stdout
            try pem.write(toFile: dir + "/pub.pem", atomically: true, encoding: .utf8)
            #expect(try hop(["provenance", "verify", env, "--key", dir + "/pub.pem"], home: home).status == 0)
            // Another key: the signature does not verify.
            let other = HopHome(root: dir + "/other")
            #expect(try hop(["key", "generate"], home: other).status == 0)
            #expect(try hop(["provenance", "verify", env], home: other).status == 7)
            // A changed payload: the signature does not verify.
            var envelope = json(try String(contentsOfFile: env, encoding: .utf8))
            var payload = Data(base64Encoded: envelope["payload"] as! String)!
            payload[payload.count / 2] ^= 0x01
            envelope["payload"] = payload.base64EncodedString()
            try JSONSerialization.data(withJSONObject: envelope).write(to: URL(fileURLWithPath: dir + "/tampered.json"))
            let bad = try hop(["provenance", "verify", dir + "/tampered.json"], home: home)
            #expect(bad.status == 7)
            #expect(bad.stderr.contains("no signature"))
            // A changed store path: in a copy of the store (never the real one), flip one byte of
            // the signed output; the signature still verifies, the subject's digest does not.
            let shown = json(try hop(["show", "static-site", "--json"], home: home).stdout)
            let out = try #require(shown["outPath"] as? String)
            let source = try #require(shown["sourcePath"] as? String)
            let seedPaths = (shown["seeds"] as? [[String: Any]] ?? []).compactMap { $0["storePath"] as? String }
            #expect(seedPaths.count == 2)
            let root = dir + "/store-copy"
            let copy = try SystemRunner().run(Command("nix", ["--extra-experimental-features", "nix-command", "copy", "--no-check-sigs", "--to", root, out, source] + seedPaths))
            #expect(copy.succeeded, "\(copy.stderrText)")
            defer { _ = try? SystemRunner().run(Command("chmod", ["-R", "u+w", root])) }
            let intact = try hop(["provenance", "verify", env, "--store-root", root, "--json"], home: home)
            let digests = json(intact.stdout)["digests"] as? [[String: Any]] ?? []
            #expect(intact.status == 0, "\(intact.stdout)\(intact.stderr)")
            #expect(digests.count == 4 && digests.allSatisfy { $0["ok"] as? Bool == true }, "\(intact.stdout)")
            #expect(try SystemRunner().run(Command("chmod", ["-R", "u+w", root + "/nix/store"])).succeeded)
            let page = root + out + "/app/index.html"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: page)); bytes[1] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: page))
            let changed = try hop(["provenance", "verify", env, "--store-root", root, "--json"], home: home)
            #expect(changed.status == 7, "\(changed.stdout)")
            let after = json(changed.stdout)["digests"] as? [[String: Any]] ?? []
            #expect(after.first { $0["name"] as? String == "subject" }?["ok"] as? Bool == false)
        }
    }

    @Test("hop verify: a deterministic build is reproducible and its closure matches the record")
    func verifyReproducible() throws {
        #expect(seedsReady)
        #expect(try hop(["build", fixtures + "/python-stdlib"]).status == 0)
        let r = try hop(["verify", "python-stdlib", "--json"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let o = json(r.stdout)
        #expect((o["rebuild"] as? [String: Any])?["reproducible"] as? Bool == true)
        #expect((o["store"] as? [String: Any])?["ok"] as? Bool == true)
        #expect(((o["store"] as? [String: Any])?["checked"] as? Int ?? 0) >= 3)
    }

    @Test("hop verify: a nondeterministic build exits 5 and names the differing file with sizes")
    func verifyNotReproducible() throws {
        #expect(seedsReady)
        try withTemporaryDirectory { dir in
            let app = dir + "/noisy"
            try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
            try "<p>noisy</p>\n".write(toFile: app + "/index.html", atomically: true, encoding: .utf8)
            try "[build]\nbuilder = \"static\"\nbuild = [\"head -c 16 /dev/urandom > random.bin\"]\n"
                .write(toFile: app + "/hop3.toml", atomically: true, encoding: .utf8)
            #expect(try hop(["build", app]).status == 0)
            let kept = { Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("nix-build-noisy") }) }
            let keptBefore = kept()
            let r = try hop(["verify", "noisy", "--rebuild-only", "--json"])
            #expect(r.status == 5, "\(r.stdout)\(r.stderr)")
            // The kept build directory is removed; only the `.check` output stays.
            #expect(kept().subtracting(keptBefore).isEmpty)
            let rebuild = json(r.stdout)["rebuild"] as? [String: Any]
            #expect(rebuild?["reproducible"] as? Bool == false)
            let diffs = rebuild?["differences"] as? [[String: Any]] ?? []
            #expect(diffs.contains { $0["path"] as? String == "app/random.bin" && $0["sizeBefore"] as? Int == 16 && $0["sizeAfter"] as? Int == 16 })
        }
    }

    @Test("hop verify --store-root: a flipped byte, a mode change and a retargeted symlink in a store copy are caught by path")
    func storeTamper() throws {
        #expect(seedsReady)
        #expect(try hop(["build", fixtures + "/shell-app"]).status == 0)
        let out = try #require(json(try hop(["show", "shell-app", "--json"]).stdout)["outPath"] as? String)
        let busybox = try #require(NixDriver(runner: SystemRunner()).closure(of: [out]).map(\.path).first { $0.contains("hop-seed-busybox") })
        let cases: [(String, (String) throws -> Void)] = [
            ("flipped byte", { root in
                let f = root + out + "/app/www/index.html"
                var d = try Data(contentsOf: URL(fileURLWithPath: f)); d[0] ^= 0x20
                try d.write(to: URL(fileURLWithPath: f)) }),
            ("mode change", { root in
                #expect(chmod(root + out + "/app/www/index.html", 0o755) == 0) }),
            ("retargeted symlink", { root in
                let l = root + busybox + "/bin/ls"
                try FileManager.default.removeItem(atPath: l)
                try FileManager.default.createSymbolicLink(atPath: l, withDestinationPath: "busybox-elsewhere") }),
        ]
        for (label, tamper) in cases {
            try withTemporaryDirectory { dir in
                let root = dir + "/store"
                let copy = try SystemRunner().run(Command("nix", ["--extra-experimental-features", "nix-command", "copy", "--no-check-sigs", "--to", root, out]))
                #expect(copy.succeeded, "\(copy.stderrText)")
                defer { _ = try? SystemRunner().run(Command("chmod", ["-R", "u+w", root])) }
                let clean = try hop(["verify", "shell-app", "--store-only", "--store-root", root, "--json"])
                #expect(clean.status == 0, "\(label): untouched copy: \(clean.stdout)")
                #expect(try SystemRunner().run(Command("chmod", ["-R", "u+w", root + "/nix/store"])).succeeded)
                try tamper(root)
                let r = try hop(["verify", "shell-app", "--store-only", "--store-root", root, "--json"])
                #expect(r.status == 7, "\(label): \(r.stdout)")
                let mism = ((json(r.stdout)["store"] as? [String: Any])?["mismatches"] as? [[String: Any]]) ?? []
                let expected = label == "retargeted symlink" ? busybox : out
                #expect(mism.map { $0["path"] as? String } == [expected], "\(label): \(mism)")
            }
        }
    }
}
