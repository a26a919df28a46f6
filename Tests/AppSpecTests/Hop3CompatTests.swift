import Foundation
import Testing
import HopBasics
@testable import AppSpec

/// `fixtures/hop3-recipes`, found from this file's real path.
let hop3RecipesDirectory = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures/hop3-recipes").path

@Suite("Hop3's hop3.toml as Hop3 0.7 writes it")
struct Hop3CompatTests {
    @Test("a recipe using every key of Hop3's reference reads with warnings only for what hop does not do, each located")
    func everyKey() throws {
        let dir = hop3RecipesDirectory + "/everything"
        let (spec, warnings) = try AppSpecLoader.check(directory: dir, appName: nil)
        let file = dir + "/hop3/hop3.toml"
        #expect(spec.name == "hop3-everything" && spec.build.builder == .python)
        // Implemented keys took effect.
        #expect(spec.processes.map(\.name).sorted() == ["web", "worker"])
        #expect(spec.processes.first { $0.name == "worker" }?.command == "python worker.py")
        #expect(spec.build.build == ["echo build", "echo after-build"])
        #expect(spec.domains == ["everything.example.org"])
        #expect(spec.addons?.map(\.type) == ["postgres", "redis"], "[[provider]] is ignored when [[addons]] is present")
        #expect(spec.volumes?.map(\.name) == ["data"])
        #expect(spec.limits.cpu == "50%")
        #expect(spec.healthcheck?.path == "/health" && spec.healthcheck?.contains == "ok")
        #expect(spec.staticPaths == ["/static": "static"], "[static] wins over the legacy [run] static")
        #expect(spec.env.contains { $0.name == "ADMIN_USERNAME" && $0.value == "admin" })
        #expect(!spec.env.contains { $0.name == "_policy" })
        // Every warning is located in the file, on a line that holds what it names.
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        for w in warnings {
            #expect(w.location.file == file)
            let line = w.location.line.map { String(lines[$0 - 1]) } ?? ""
            let named = firstQuoted(w.message)
            let key = named.split(separator: " ").last.map(String.init)?.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) ?? named
            #expect(line.contains(key) || line.contains(named), "\(w) points at: \(line)")
        }
        // Exactly the features hop lacks.
        let ignored = Set(warnings.map { firstQuoted($0.message) })
        let expected: Set<String> = [
            "[contexts]", "[probe]", "[ports]", "[docker]", "[waf]", "[test]", "[[provider]]",
            "[build] static-dir", "[build] test", "[build] node-version",
            "[run] packages", "[run] healthcheck-timeout", "[run] static", "[run] healthcheck",
            "[domains] _policy", "[deploy] deployer", "[deploy] allow-http",
            "[admin] create", "[admin] login", "[admin] verify", "[admin] email = \"operator\"",
            "[port.web] public", "[port.web] https", "[[volumes]] mode", "[[volumes]] backup",
            "prefix", "display", "[env] APP_NAME",
            "[nix] template", "[nix] url", "[nix] sha256", "[nix] executable", "[nix] extra-paths", "[nix] runtime-env",
        ]
        // Hop3's start-timeout is the gate's start window, not ignored.
        #expect(spec.healthcheck?.startTimeout == 60 && spec.healthcheck?.path == "/health")
        #expect(ignored == expected, "missing \(expected.subtracting(ignored)); unexpected \(ignored.subtracting(expected))")
    }

    @Test("Hop3's older spellings: [[provider]], [domains] hosts, [run] static and healthcheck, a [run.workers] process, files under hop3/")
    func legacySpellings() throws {
        let (spec, warnings) = try AppSpecLoader.check(directory: hop3RecipesDirectory + "/legacy", appName: nil)
        #expect(spec.name == "hop3-legacy" && spec.build.builder == .python)
        #expect(spec.addons?.map(\.type) == ["postgres"])
        #expect(spec.domains == ["legacy.example.org"])
        #expect(spec.staticPaths == ["/files": "files"])
        #expect(spec.healthcheck?.path == "/")
        #expect(spec.processes.map(\.name).sorted() == ["clock", "web"], "the Procfile in hop3/ and the worker")
        #expect(warnings.count == 3 && warnings.allSatisfy { $0.message.contains("legacy") || $0.message.contains("old name") }, "\(warnings)")
    }

    @Test("Heroku/Dokku app.json: predeploy is the release step, healthchecks.web the gate, formation the counts, env values and secrets; the rest warned about")
    func appJSON() throws {
        let dir = URL(fileURLWithPath: hop3RecipesDirectory).deletingLastPathComponent().appendingPathComponent("apps/dokku-app").path
        let (spec, warnings) = try AppSpecLoader.check(directory: dir, appName: nil)
        #expect(spec.processes.contains { $0.kind == .release && $0.command.contains("predeploy ran") })
        #expect(spec.healthcheck?.path == "/" && spec.healthcheck?.contains == "Hello from app.json" && spec.healthcheck?.retries == 5)
        #expect(spec.run.workers["wsgi"] == 2, "formation's web is the wsgi process: \(spec.run.workers)")
        #expect(spec.env.contains { $0.name == "GREETING" && $0.value == "Hello from app.json" })
        #expect(spec.secretEnv?.contains { $0.name == "SECRET_KEY" } == true)
        #expect(Set(warnings.map { firstQuoted($0.message) }) == ["scripts.dokku.postdeploy", "buildpacks"], "\(warnings)")
        #expect(warnings.allSatisfy { $0.location.file.hasSuffix("app.json") && ($0.location.line ?? 0) > 1 })
        #expect(throws: HopError.self) { try parseAppJSON("{\"formation\": {\"web\": {\"quantity\": 999}}}", file: "app.json") }
        #expect(throws: HopError.self) { try parseAppJSON("{\"env\": {\"A\": 1,}}", file: "app.json") }
    }

    @Test(arguments: [
        ("[build]\nbuilder = \"docker\"", 2, 11, "does not build Dockerfiles"),
        ("[build]\ntoolchain = \"elixir\"", 2, 13, "no `elixir` toolchain"),
        ("[[volumes]]\nname = \"d\"\ntarget = \"d\"\ntype = \"tmpfs\"", 4, 8, "on disk only"),
        ("[build]\nbuilder = \"python\"\n[waff]\nx = 1", 3, 2, "unknown section `[waff]`"),
        ("[build]\nbuilder = \"python\"\n[run]\nstart_timeout = 5", 4, 1, "did you mean `start-timeout`"),
        ("[build]\nbuilder = \"python\"\n[nix]\ntemplat = \"x\"", 4, 1, "did you mean `template`"),
        // [php]: extensions hop's PHP lacks, php.ini keys hop does not pass on, bad values.
        ("[build]\nbuilder = \"php\"\n[php]\nextensions = [\"mbstring\", \"mongodb\"]", 4, 27, "no extension `mongodb`"),
        ("[build]\nbuilder = \"php\"\n[php]\nextensions = [\"mbstrng\"]", 4, 15, "did you mean `mbstring`"),
        ("[build]\nbuilder = \"php\"\n[php.ini]\nextension_dir = \"/tmp\"", 4, 1, "not a php.ini setting hop passes on"),
        ("[build]\nbuilder = \"php\"\n[php.ini]\nmemory_limit = [1]", 4, 16, "a string, an integer or a boolean"),
        ("[build]\nbuilder = \"php\"\n[php]\ndeny = [\"../etc\"]", 4, 9, "`[php] deny` entry"),
        ("[build]\nbuilder = \"php\"\n[php]\nworkers = 0", 4, 11, "workers"),
    ])
    func stillErrors(_ text: String, _ line: Int, _ column: Int, _ says: String) {
        do {
            _ = try parseHop3Toml(text, file: "hop3.toml", appName: "app")
            Issue.record("accepted \(text)")
        } catch let e as HopError {
            #expect(e.code == .invalidInput)
            #expect(e.location == SourceLocation(file: "hop3.toml", line: line, column: column), "\(e)")
            #expect(e.description.contains(says), "\(e)")
        } catch { Issue.record("\(error)") }
    }
}

@Suite("PHP and Python package metadata errors")
struct PHPAndPackageErrorTests {
    @Test(arguments: [
        ("php: ../outside\n", 1, 6, "`php` document root"),
        ("web: ./serve\nphp: public\n", 2, 1, "both `web`"),
    ])
    func procfile(_ text: String, _ line: Int, _ column: Int, _ says: String) {
        do {
            _ = try parseProcfile(text, file: "Procfile")
            Issue.record("accepted \(text)")
        } catch let e as HopError {
            #expect(e.code == .invalidInput && e.location == SourceLocation(file: "Procfile", line: line, column: column), "\(e)")
            #expect(e.description.contains(says), "\(e)")
        } catch { Issue.record("\(error)") }
    }
}

/// The first `quoted` part of a message.
func firstQuoted(_ message: String) -> String {
    message.split(separator: "`", omittingEmptySubsequences: false).dropFirst().first.map(String.init) ?? ""
}

@Suite("A PHP app's serving process is one of a kind")
struct PHPServesHTTPTests {
    @Test func runStartNextToAPHPProcessIsAConflictAndFormationScalesIt() throws {
        try withTemporaryDirectory { dir in
            try write(["index.php": "<?php echo 1;", "Procfile": "php: .\n", "hop3.toml": "[build]\nbuilder = \"php\"\n[run]\nstart = \"php -S 0.0.0.0:$PORT\"\n"], into: dir)
            let e = #expect(throws: HopError.self) { try AppSpecLoader.load(directory: dir, appName: "p") }
            #expect(e?.message.contains("both say how the app serves HTTP") == true, "\(String(describing: e))")
            try write(["hop3.toml": "[build]\nbuilder = \"php\"\n", "app.json": "{\"formation\": {\"web\": {\"quantity\": 3}}}"], into: dir)
            #expect(try AppSpecLoader.load(directory: dir, appName: "p").run.workers["php"] == 3)
        }
    }
}
