import Foundation
import Testing
import HopBasics

@Suite("hop init: a commented hop3.toml for the detected kind of app")
struct InitCommandTests {
    /// One fixture of each kind autodetection knows (those without a hop3.toml of their own).
    static let kinds: [(fixture: String, builder: String)] = [
        ("flask-app", "python"), ("python-stdlib", "python"), ("node-hello", "node"), ("go-hello", "go"), ("php-app", "php"),
        ("sinatra-app", "ruby"), ("static-site", "static"), ("shell-app", "shell"),
    ]

    @Test("each kind: init writes hop3.toml naming the detected builder, `hop check` accepts it, a second init refuses (exit 2) and leaves it as it was",
          arguments: kinds.map(\.fixture))
    func writesWhatCheckReads(fixture: String) throws {
        let builder = try #require(Self.kinds.first { $0.fixture == fixture }?.builder)
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let app = dir + "/" + fixture
            try copyTree(fixtures + "/" + fixture, app)
            let r = try hop(["init", app], home: home)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("detected a \(builder) app"), "\(r.stdout)")
            let text = try String(contentsOfFile: app + "/hop3.toml", encoding: .utf8)
            #expect(text.contains("builder = \"\(builder)\""), "\(text)")
            let check = try hop(["check", app, "--json"], home: home)
            #expect(check.status == 0, "hop check refuses what hop init wrote:\n\(check.stderr)\n\(text)")
            let o = try #require(parse(check.stdout) as? [String: Any])
            #expect(o["builder"] as? String == builder && o["app"] as? String == fixture, "\(check.stdout)")
            let again = try hop(["init", app], home: home)
            #expect(again.status == 2 && again.stderr.contains("does not overwrite"), "\(again.status) \(again.stderr)")
            #expect(try String(contentsOfFile: app + "/hop3.toml", encoding: .utf8) == text)
            #expect(!FileManager.default.fileExists(atPath: home.root), "hop init wrote HOP_HOME")
        }
    }

    @Test("a Python app without a Procfile gets a `[run] start` guess that hop check reads as its web process")
    func startGuess() throws {
        try withTemporaryDirectory { dir in
            let app = dir + "/guess"
            try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
            try "flask\n".write(toFile: app + "/requirements.txt", atomically: true, encoding: .utf8)
            try "print('hi')\n".write(toFile: app + "/main.py", atomically: true, encoding: .utf8)
            let r = try hop(["init", app], home: HopHome(root: dir + "/home"))
            #expect(r.status == 0 && r.stdout.contains("guess"), "\(r.stdout)\(r.stderr)")
            let check = try hop(["check", app, "--json"], home: HopHome(root: dir + "/home"))
            let processes = (parse(check.stdout) as? [String: Any])?["processes"] as? [[String: Any]] ?? []
            #expect(check.status == 0 && processes.first?["command"] as? String == "python3 main.py", "\(check.stdout)\(check.stderr)")
        }
    }

    @Test("a directory with nothing to detect is refused (exit 2) and nothing is written")
    func nothingDetected() throws {
        try withTemporaryDirectory { dir in
            let app = dir + "/empty"
            try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
            let r = try hop(["init", app], home: HopHome(root: dir + "/home"))
            #expect(r.status == 2 && r.stderr.contains("cannot tell what kind of app"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: app + "/hop3.toml"))
        }
    }

    @Test("the file written for the Flask fixture (snapshot)")
    func snapshot() throws {
        try withTemporaryDirectory { dir in
            let app = dir + "/flask-app"
            try copyTree(fixtures + "/flask-app", app)
            #expect(try hop(["init", app], home: HopHome(root: dir + "/home")).status == 0)
            let text = try String(contentsOfFile: app + "/hop3.toml", encoding: .utf8)
            try assertSnapshot(text, named: "init-flask-app.toml")
        }
    }
}
