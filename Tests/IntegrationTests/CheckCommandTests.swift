import Foundation
import Testing
import HopBasics

@Suite("hop check: an app's metadata read without building")
struct CheckCommandTests {
    @Test("a recipe in Hop3's style: exit 0, every ignored key a located warning on stderr; a broken one: exit 2, located, no HOP_HOME made")
    func checkReadsWithoutBuilding() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let ok = try hop(["check", repoRoot + "/fixtures/hop3-recipes/everything", "--json"], home: home)
            #expect(ok.status == 0, "\(ok.stderr)")
            let o = try #require(parse(ok.stdout) as? [String: Any])
            #expect(o["app"] as? String == "hop3-everything" && o["builder"] as? String == "python")
            let warnings = o["warnings"] as? [[String: Any]] ?? []
            #expect(warnings.count >= 30 && warnings.allSatisfy { ($0["line"] as? Int ?? 0) > 0 && ($0["file"] as? String ?? "").hasSuffix("hop3/hop3.toml") })
            let text = try hop(["check", repoRoot + "/fixtures/hop3-recipes/legacy"], home: home)
            #expect(text.status == 0 && text.stdout.contains("process clock (daemon): python clock.py") && text.stderr.contains("hop3/hop3.toml:"),
                    "\(text.stdout)\(text.stderr)")
            let bad = dir + "/bad"
            try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
            try "[build]\ntoolchain = \"elixir\"\n".write(toFile: bad + "/hop3.toml", atomically: true, encoding: .utf8)
            let refused = try hop(["check", bad], home: home)
            #expect(refused.status == 2 && refused.stderr.contains("hop3.toml:2:13") && refused.stderr.contains("no `elixir` toolchain"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: home.root), "hop check wrote HOP_HOME")
        }
    }

    @Test("uv.lock is the lock: hop lock resolves exactly its pins with its hashes (a Windows-only dependency skipped); a uv.lock whose hash does not match the artifact is refused, located, exit 2")
    func uvLockIsTheLock() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let app = dir + "/uv-app"
            try copyTree(fixtures + "/uv-app", app)
            let lockText = try String(contentsOfFile: app + "/uv.lock", encoding: .utf8)
            let r = try SystemRunner().run(Command(hopBinary, ["lock", app, "--find-links", wheelhouse], environment: ["HOP_HOME": home.root]))
            #expect(r.succeeded, "\(r.stderrText)")
            let lock = try #require(parse(try String(contentsOfFile: app + "/hop.lock", encoding: .utf8)) as? [String: Any])
            let wheels = (lock["python"] as? [[String: Any]]) ?? []
            for w in wheels where w["name"] as? String != "gunicorn" && w["name"] as? String != "packaging" {
                #expect(lockText.contains("sha256:\(w["sha256"] as? String ?? "?")"), "\(w["name"] ?? "?") is not the artifact uv locked")
            }
            #expect(wheels.contains { $0["name"] as? String == "flask" } && !wheels.contains { $0["name"] as? String == "colorama" })
            // One hash changed: pip's hash-checking mode refuses the wheel.
            try FileManager.default.removeItem(atPath: app + "/hop.lock")
            let flaskHash = try #require(wheels.first { $0["name"] as? String == "flask" }?["sha256"] as? String)
            try lockText.replacingOccurrences(of: flaskHash, with: String(flaskHash.reversed())).write(toFile: app + "/uv.lock", atomically: true, encoding: .utf8)
            let bad = try SystemRunner().run(Command(hopBinary, ["lock", app, "--find-links", wheelhouse], environment: ["HOP_HOME": home.root]))
            #expect(bad.status == 2 && bad.stderrText.contains("uv.lock"), "\(bad.status) \(bad.stderrText)")
            #expect(!FileManager.default.fileExists(atPath: app + "/hop.lock"))
        }
    }
}
