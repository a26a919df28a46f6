import Foundation
import HopBasics
import Testing
@testable import AppSpec

/// One directory under `fixtures/broken`: the file, line and column the error must point at, and a
/// phrase its hint must contain (proof that the hint says what to do).
struct BrokenFixture: Sendable, CustomTestStringConvertible {
    var name: String
    var file: String
    var line: Int
    var column: Int
    var hint: String
    var testDescription: String { name }

    init(_ name: String, _ file: String, _ line: Int, _ column: Int, hint: String) {
        self.name = name
        self.file = file
        self.line = line
        self.column = column
        self.hint = hint
    }
}

/// `fixtures/broken`, found from this file's real path (the test directory may be reached via a symlink).
let brokenFixturesDirectory = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures/broken").path

@Suite(.tags(.small))
struct BrokenFixtureTests {
    static let fixtures: [BrokenFixture] = [
        // TOML syntax
        BrokenFixture("unterminated-string", "hop3.toml", 2, 11, hint: "add the closing `\"`"),
        BrokenFixture("missing-equals", "hop3.toml", 2, 9, hint: "write `builder = value`"),
        BrokenFixture("missing-value", "hop3.toml", 5, 8, hint: "write a value after `=`"),
        BrokenFixture("duplicate-key", "hop3.toml", 4, 1, hint: "remove one of the two definitions"),
        BrokenFixture("redefined-table", "hop3.toml", 7, 2, hint: "merge the two `[build]` sections"),
        BrokenFixture("bad-escape", "hop3.toml", 5, 12, hint: "write `\\\\` for a backslash"),
        // hop3.toml schema
        BrokenFixture("unknown-key", "hop3.toml", 3, 1, hint: "did you mean `before-build`?"),
        BrokenFixture("unknown-section", "hop3.toml", 4, 2, hint: "rename it to `[build]`"),
        BrokenFixture("top-level-key", "hop3.toml", 1, 1, hint: "move it below a `[build]` header"),
        BrokenFixture("wrong-type", "hop3.toml", 5, 9, hint: "put the value in quotes"),
        BrokenFixture("unknown-builder", "hop3.toml", 2, 11, hint: "did you mean `python`?"),
        BrokenFixture("no-builder", "hop3.toml", 1, 1, hint: "builder = "),
        BrokenFixture("env-invalid-name", "hop3.toml", 6, 1, hint: "rename it"),
        BrokenFixture("port-out-of-range", "hop3.toml", 5, 7, hint: "from 1 to 65535"),
        BrokenFixture("port-leading-zero", "hop3.toml", 5, 7, hint: "without leading zeros"),
        BrokenFixture("healthcheck-path-no-slash", "hop3.toml", 5, 8, hint: "starting with `/`"),
        BrokenFixture("limits-bad-memory", "hop3.toml", 5, 10, hint: "`memory = \"512M\"`"),
        BrokenFixture("static-dotdot", "hop3.toml", 5, 13, hint: "relative to the app directory"),
        BrokenFixture("domain-semicolon", "hop3.toml", 5, 46, hint: "only lowercase letters"),
        BrokenFixture("domain-brace", "hop3.toml", 5, 26, hint: "only lowercase letters"),
        BrokenFixture("domain-newline", "hop3.toml", 5, 10, hint: "only lowercase letters"),
        BrokenFixture("workers-unknown-process", "hop3.toml", 9, 1, hint: "use one of the process names"),
        BrokenFixture("start-and-procfile-web", "hop3.toml", 5, 1, hint: "keep one"),
        // app names (`[metadata] id`); the column is that of the offending character
        BrokenFixture("name-slash", "hop3.toml", 2, 9, hint: "use `-` instead of `/`"),
        BrokenFixture("name-dotdot", "hop3.toml", 2, 7, hint: "remove the `..`"),
        BrokenFixture("name-space", "hop3.toml", 2, 9, hint: "use `-` instead of spaces"),
        BrokenFixture("name-semicolon", "hop3.toml", 2, 10, hint: "remove the character"),
        BrokenFixture("name-command-substitution", "hop3.toml", 2, 10, hint: "remove the character"),
        BrokenFixture("name-backtick", "hop3.toml", 2, 10, hint: "remove the character"),
        BrokenFixture("name-too-long", "hop3.toml", 2, 70, hint: "at most 63 characters"),
        BrokenFixture("name-uppercase", "hop3.toml", 2, 7, hint: "use lowercase: `myapp`"),
        BrokenFixture("name-cyrillic-lookalike", "hop3.toml", 2, 9, hint: "ASCII letter `a`"),
        // Procfile
        BrokenFixture("web-and-wsgi", "Procfile", 2, 1, hint: "keep only one"),
        BrokenFixture("empty-procfile", "Procfile", 1, 1, hint: "add a process line"),
        BrokenFixture("procfile-no-colon", "Procfile", 1, 4, hint: "write `web: <command>`"),
        BrokenFixture("procfile-bad-name", "Procfile", 1, 1, hint: "lowercase letters"),
        BrokenFixture("procfile-duplicate", "Procfile", 3, 1, hint: "keep one `web:` line"),
        BrokenFixture("procfile-empty-command", "Procfile", 2, 8, hint: "write the command after the colon"),
        BrokenFixture("bad-cron", "Procfile", 2, 7, hint: "five schedule fields"),
        BrokenFixture("wsgi-not-a-callable", "Procfile", 1, 7, hint: "myapp.wsgi:application"),
    ]

    @Test(arguments: fixtures)
    func brokenMetadataIsRejectedWithItsLocation(_ fixture: BrokenFixture) throws {
        let directory = brokenFixturesDirectory + "/" + fixture.name
        let error = try #require(throws: HopError.self) { try AppSpecLoader.load(directory: directory, appName: nil) }
        #expect(error.code == .invalidInput)
        #expect(error.code.exitCode == 2)
        #expect(error.location == SourceLocation(file: directory + "/" + fixture.file, line: fixture.line, column: fixture.column),
                "\(error)")
        #expect(!error.message.isEmpty)
        let hint = try #require(error.hint)
        #expect(hint.contains(fixture.hint), "\(hint)")
        #expect(error.description.hasPrefix("\(directory)/\(fixture.file):\(fixture.line):\(fixture.column): error: "))
    }

    @Test func everyFixtureDirectoryHasAnExpectation() throws {
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: brokenFixturesDirectory).filter { !$0.hasPrefix(".") }
        #expect(Set(onDisk) == Set(Self.fixtures.map(\.name)))
        #expect(Self.fixtures.count >= 24)
    }
}
