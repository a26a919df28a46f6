import HopBasics
import Testing
@testable import AppSpec

@Suite(.tags(.small))
struct AppNameTests {
    @Test(arguments: ["a", "0", "my-app", "app_1.v2", "flask-demo", String(repeating: "x", count: 63)])
    func validNamesPassUnchanged(_ name: String) throws {
        #expect(try validateAppName(name, at: nil) == name)
    }

    struct BadName: Sendable, CustomTestStringConvertible {
        var name: String
        /// 1-based character position the error points at (column 10 of line 3 is character 1).
        var position: Int
        var message: String
        var hint: String
        var testDescription: String { message }
    }

    static let badNames: [BadName] = [
        BadName(name: "", position: 1, message: "is empty", hint: "give the app a name"),
        BadName(name: "my/app", position: 3, message: "path separator `/` at position 3", hint: "use `-` instead of `/`"),
        BadName(name: "..", position: 1, message: "contains `..` at position 1", hint: "remove the `..`"),
        BadName(name: "a..b", position: 2, message: "contains `..` at position 2", hint: "remove the `..`"),
        BadName(name: "my app", position: 3, message: "a space at position 3", hint: "use `-` instead of spaces"),
        BadName(name: "app;reboot", position: 4, message: "shell metacharacter `;` at position 4", hint: "remove the character"),
        BadName(name: "a$(id)", position: 2, message: "shell metacharacter `$` at position 2", hint: "remove the character"),
        BadName(name: "a`id`", position: 2, message: "shell metacharacter '\u{60}' at position 2", hint: "remove the character"),
        BadName(name: "a|b", position: 2, message: "shell metacharacter `|`", hint: "remove the character"),
        BadName(name: "MyApp", position: 1, message: "uppercase letter `M` at position 1", hint: "use lowercase: `myapp`"),
        BadName(name: "my\u{0430}pp", position: 3, message: "U+0430 CYRILLIC SMALL LETTER A", hint: "ASCII letter `a`"),
        BadName(name: "caf\u{E9}", position: 4, message: "non-ASCII character", hint: "lowercase letters"),
        BadName(name: "a\nb", position: 2, message: "control character U+000A at position 2", hint: "remove the character"),
        BadName(name: "-app", position: 1, message: "starts with `-`", hint: "start the name with a lowercase letter or digit"),
        BadName(name: "app@host", position: 4, message: "the character `@` at position 4", hint: "remove the character"),
        BadName(name: String(repeating: "a", count: 200), position: 64, message: "200 characters long", hint: "at most 63 characters"),
    ]

    @Test(arguments: badNames)
    func invalidNamesPointAtTheCharacter(_ bad: BadName) throws {
        let start = SourceLocation(file: "hop3.toml", line: 3, column: 10)
        let error = try #require(throws: HopError.self) { try validateAppName(bad.name, at: start) }
        #expect(error.code == .invalidInput)
        #expect(error.code.exitCode == 2)
        #expect(error.location == SourceLocation(file: "hop3.toml", line: 3, column: 9 + bad.position))
        #expect(error.message.contains(bad.message), "\(error.message)")
        #expect(error.hint?.contains(bad.hint) == true, "\(error.hint ?? "no hint")")
        #expect(!error.message.contains("\n"))
    }

    @Test func withoutALocationTheErrorHasNone() throws {
        let error = try #require(throws: HopError.self) { try validateAppName("a/b", at: nil) }
        #expect(error.location == nil)
        let fileOnly = try #require(throws: HopError.self) { try validateAppName("a/b", at: SourceLocation(file: "dir")) }
        #expect(fileOnly.location == SourceLocation(file: "dir"))
    }
}

@Suite(.tags(.small))
struct DomainNameTests {
    @Test(arguments: ["example.com", "a.example.com", "*.example.com", "localhost", "xn--bcher-kva.example", "a-b.c0"])
    func validDomains(_ name: String) throws {
        #expect(try validateDomainName(name, at: nil) == name)
    }

    @Test(arguments: [
        ("", 1, "is empty"),
        ("a;b.com", 2, "contains `;` at position 2"),
        ("a{b.com", 2, "contains `{`"),
        ("a\nb.com", 2, "control character U+000A"),
        ("a b.com", 2, "a space"),
        ("Example.com", 1, "uppercase letter `E`"),
        ("a..com", 3, "empty label"),
        (".a.com", 1, "empty label"),
        ("a.com.", 7, "empty label"),
        ("-a.com", 1, "starts or ends with `-`"),
        ("a-.com", 2, "starts or ends with `-`"),
        ("a.*.com", 3, "not a leading `*.`"),
        (String(repeating: "a", count: 64) + ".com", 1, "64 characters long"),
        (Array(repeating: String(repeating: "a", count: 60), count: 5).joined(separator: "."), 254, "at most 253"),
    ])
    func invalidDomains(_ name: String, _ position: Int, _ message: String) throws {
        let error = try #require(throws: HopError.self) {
            try validateDomainName(name, at: SourceLocation(file: "hop3.toml", line: 2, column: 11))
        }
        #expect(error.code == .invalidInput)
        #expect(error.location == SourceLocation(file: "hop3.toml", line: 2, column: 10 + position))
        #expect(error.message.contains(message), "\(error.message)")
        #expect(error.hint?.isEmpty == false)
    }
}
