import Foundation
import Testing
import HopBasics

@Suite("Promotion: a closure built and signed on one host is imported, re-hashed and served on another", .tags(.integration), .serialized)
struct PromotionIntegrationTests {
    @Test("export on a CI home → the paths leave the store → import on the server home restores them and deploy --build serves them; a flipped NAR byte, an untrusted signer and a provenance of another closure are refused (exit 7) with nothing imported; require-signed refuses local builds")
    func exportImportDeploy() throws {
        try #require(deployHost.ready)
        var template = Array("/tmp/hop-ci-XXXXXX".utf8CString)
        let ci = HopHome(root: String(cString: try #require(mkdtemp(&template))))
        defer { try? FileManager.default.removeItem(atPath: ci.root) }
        func ciHop(_ args: [String]) throws -> CLIResult {
            let r = try SystemRunner().run(Command(hopBinary, args, environment: ["HOP_HOME": ci.root, "HOP_FIND_LINKS": wheelhouse]))
            return CLIResult(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
        }
        #expect(try ciHop(["seed", "import", "--all", "--json"]).status == 0)
        #expect(try ciHop(["key", "generate"]).status == 0)
        let dir = ci.root + "/work"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let app = "it-promote"
        let greeting = "Promoted from CI \(UUID().uuidString.prefix(8))"
        let built = try ciHop(["build", try flaskVariant(dir, greeting: greeting), "--app", app, "--json"])
        try #require(built.status == 0, "\(built.stderr)")
        let other = try ciHop(["build", try flaskVariant(dir, greeting: greeting + " (other)"), "--app", app, "--json"])
        try #require(other.status == 0, "\(other.stderr)")
        func field(_ r: CLIResult, _ k: String) -> Any? { (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?[k] }
        let buildID = try #require(field(built, "id") as? Int, "\(built.stdout.prefix(300))")
        let otherID = try #require(field(other, "id") as? Int)
        let bundle = dir + "/app.hopbundle", otherBundle = dir + "/other.hopbundle"
        let exported = try ciHop(["export", String(buildID), "-o", bundle, "--json"])
        try #require(exported.status == 0, "\(exported.stderr)")
        #expect(try ciHop(["export", String(otherID), "-o", otherBundle]).status == 0)
        let outPath = try #require((try JSONSerialization.jsonObject(with: Data(try ciHop(["show", String(buildID), "--json"]).stdout.utf8)) as? [String: Any])?["outPath"] as? String)
        print("bundle: \(field(exported, "paths") ?? "?") paths, \(field(exported, "size") ?? "?") bytes")

        // The CI host goes away with its roots: the app's own output leaves the store.
        try FileManager.default.removeItem(atPath: ci.root + "/gcroots")
        _ = try SystemRunner().run(Command("nix-store", ["--delete", outPath]))
        func valid(_ p: String) throws -> Bool { try SystemRunner().run(Command("nix-store", ["--check-validity", p])).succeeded }
        try #require(!(try valid(outPath)), "\(outPath) is still in the store; the test would prove nothing")

        let buildsBefore = try hopEnv(["builds", "--json"]).stdout
        let untrusted = try hopEnv(["import", bundle])
        #expect(untrusted.status == 7 && (untrusted.stderr.contains("trusts no signing key") || untrusted.stderr.contains("not signed by a key this host trusts")),
                "\(untrusted.stderr)")
        let pem = dir + "/ci.pem"
        try (try ciHop(["key", "show", "--pem"])).stdout.write(toFile: pem, atomically: true, encoding: .utf8)
        #expect(try hopEnv(["trust", "add", pem, "--name", "ci-\(UUID().uuidString.prefix(6).lowercased())"]).status == 0)

        // Damaged bundles: each refused with exit 7, and nothing reaches the store or the records.
        let python = repoRoot + "/.venv-test/bin/python", tamper = repoRoot + "/scripts/test/tamper-bundle.py"
        for (mode, extra, says) in [("flip", [String](), "does not hash to the NAR hash"),
                                    ("resign", [], "not signed by a key this host trusts"),
                                    ("swap-provenance", [otherBundle, ci.root + "/keys/provenance.key"], "the provenance names")] {
            let bad = dir + "/\(mode).hopbundle"
            let made = try SystemRunner().run(Command(python, [tamper, mode, bundle, bad] + extra))
            try #require(made.succeeded, "\(made.stderrText)")
            let r = try hopEnv(["import", bad])
            #expect(r.status == 7 && r.stderr.contains(says), "\(mode): \(r.status) \(r.stderr)")
            #expect(!(try valid(outPath)), "\(mode): the refused bundle put \(outPath) in the store")
        }
        #expect(try hopEnv(["builds", "--json"]).stdout == buildsBefore, "a refused bundle was recorded")

        // The good bundle: imported, re-hashed, recorded, served.
        let imported = try hopEnv(["import", bundle, "--json"])
        try #require(imported.status == 0, "\(imported.stderr)")
        #expect(try valid(outPath))
        let newID = try #require((try JSONSerialization.jsonObject(with: Data(imported.stdout.utf8)) as? [String: Any])?["build"] as? Int)
        #expect(((try JSONSerialization.jsonObject(with: Data(imported.stdout.utf8)) as? [String: Any])?["imported"] as? Int ?? 0) >= 1)
        let prov = try hopEnv(["provenance", String(newID)])
        #expect(prov.stdout.contains(outPath), "the imported provenance is served: \(prov.stdout.prefix(300))")

        // require-signed: the host refuses a local build signed by no trusted key, serves the imported one.
        #expect(try hopEnv(["trust", "policy", "--require-signed", "on"]).status == 0)
        defer { _ = try? hopEnv(["trust", "policy", "--require-signed", "off"]) }
        let local = try hopEnv(["deploy", try flaskVariant(dir, greeting: "built here"), "--app", app + "-local", "--watch", "0"])
        #expect(local.status == 7 && local.stderr.contains("not signed by a key this host trusts"), "\(local.status) \(local.stderr)")
        let deployed = try hopEnv(["deploy", "--build", String(newID), "--watch", "0", "--json"])
        #expect(deployed.status == 0, "\(deployed.stderr)")
        #expect(fetch(app).body.contains(greeting))
        _ = try hopEnv(["trust", "policy", "--require-signed", "off"])

        // [deploy] require-signed in the app's own metadata does the same for that app.
        let strict = try flaskVariant(dir, greeting: "strict", toml: "[deploy]\nrequire-signed = true\n")
        let s = try hopEnv(["deploy", strict, "--app", app + "-strict", "--watch", "0"])
        #expect(s.status == 7 && s.stderr.contains("[deploy] require-signed"), "\(s.status) \(s.stderr)")
        _ = try hopEnv(["destroy", app])
    }
}
