import HopBasics
import Testing
@testable import AppSpec

@Suite(.tags(.small))
struct TOMLTests {
    @Test func scalarsOfEveryKind() throws {
        let doc = try parseTOML(#"""
        title = "hop"
        path = 'C:\Users\hop'
        count = 1_000
        hex = 0xDEAD_beef
        octal = 0o755
        binary = 0b1101
        negative = -17
        plus = +42
        avogadro = 6.02e23
        half = -0.5
        big = 1e1_0
        infinite = -inf
        notanumber = nan
        yes = true
        no = false
        odt = 1979-05-27T07:32:00Z
        offset = 1979-05-27T00:32:00.999-07:00
        ldt = 1979-05-27 07:32:00
        day = 1979-05-27
        time = 07:32:00.5
        """#, file: "t.toml")
        #expect(doc["title"]?.node.value == .string("hop"))
        #expect(doc["path"]?.node.value == .string(#"C:\Users\hop"#))
        #expect(doc["count"]?.node.value == .integer(1000))
        #expect(doc["hex"]?.node.value == .integer(0xDEADBEEF))
        #expect(doc["octal"]?.node.value == .integer(0o755))
        #expect(doc["binary"]?.node.value == .integer(13))
        #expect(doc["negative"]?.node.value == .integer(-17))
        #expect(doc["plus"]?.node.value == .integer(42))
        #expect(doc["avogadro"]?.node.value == .float(6.02e23))
        #expect(doc["half"]?.node.value == .float(-0.5))
        #expect(doc["big"]?.node.value == .float(1e10))
        #expect(doc["infinite"]?.node.value == .float(-.infinity))
        if case .float(let f) = doc["notanumber"]?.node.value { #expect(f.isNaN) } else { Issue.record("nan is not a float") }
        #expect(doc["yes"]?.node.value == .bool(true))
        #expect(doc["no"]?.node.value == .bool(false))
        #expect(doc["odt"]?.node.value == .datetime("1979-05-27T07:32:00Z"))
        #expect(doc["offset"]?.node.value == .datetime("1979-05-27T00:32:00.999-07:00"))
        #expect(doc["ldt"]?.node.value == .datetime("1979-05-27 07:32:00"))
        #expect(doc["day"]?.node.value == .datetime("1979-05-27"))
        #expect(doc["time"]?.node.value == .datetime("07:32:00.5"))
        #expect(doc.keys.first == "title" && doc.keys.last == "time")
    }

    @Test func keysAndValuesKeepTheirPositions() throws {
        let doc = try parseTOML("# comment\n\n  name   =   \"x\"  # trailing\n[section]\n\tkey = [1,\n  2]\n", file: "t.toml")
        let name = try #require(doc["name"])
        #expect(name.keyPosition == TOMLPosition(line: 3, column: 3))
        #expect(name.node.position == TOMLPosition(line: 3, column: 14))
        #expect(name.node.isVerbatim)
        let section = try #require(doc["section"])
        #expect(section.keyPosition == TOMLPosition(line: 4, column: 2))
        #expect(section.node.position == TOMLPosition(line: 4, column: 1))
        guard case .table(let table) = section.node.value, let key = table["key"],
              case .array(let items) = key.node.value else {
            Issue.record("expected [section] key = [...]")
            return
        }
        #expect(key.keyPosition == TOMLPosition(line: 5, column: 2))
        #expect(items.map(\.position) == [TOMLPosition(line: 5, column: 9), TOMLPosition(line: 6, column: 3)])
    }

    @Test func stringsWithEscapesAndMultipleLines() throws {
        let doc = try parseTOML(#"""
        escaped = "tab\there \"q\" \\ \u00E9 \U0001F600"
        ml = """
        Roses are red
        Violets are blue"""
        folded = """\
               The quick \
               brown fox."""
        quotes = """He said "hi" twice"""""
        literal = '''
        C:\no\escapes ''here''
        '''
        empty = ""
        "quoted key" = 1
        'literal key' = 2
        "/assets" = "public"
        """#, file: "t.toml")
        #expect(doc["escaped"]?.node.value == .string("tab\there \"q\" \\ é 😀"))
        #expect(doc["escaped"]?.node.isVerbatim == false)
        #expect(doc["ml"]?.node.value == .string("Roses are red\nViolets are blue"))
        #expect(doc["folded"]?.node.value == .string("The quick brown fox."))
        #expect(doc["quotes"]?.node.value == .string("He said \"hi\" twice\"\""))
        #expect(doc["literal"]?.node.value == .string("C:\\no\\escapes ''here''\n"))
        #expect(doc["empty"]?.node.value == .string(""))
        #expect(doc["quoted key"]?.node.value == .integer(1))
        #expect(doc["literal key"]?.node.value == .integer(2))
        #expect(doc["/assets"]?.node.value == .string("public"))
    }

    @Test func arraysAndInlineTables() throws {
        let doc = try parseTOML("""
        mixed = [
          1, # one
          "two",
          [3, 4],
          { five = 5 },
        ]
        empty = []
        point = { x = 1, y.z = 2 }
        """, file: "t.toml")
        guard case .array(let items) = doc["mixed"]?.node.value else { Issue.record("mixed is not an array"); return }
        #expect(items.count == 4)
        #expect(items[1].value == .string("two"))
        #expect(items[2].value == .array([TOMLNode(value: .integer(3), position: TOMLPosition(line: 4, column: 4)),
                                          TOMLNode(value: .integer(4), position: TOMLPosition(line: 4, column: 7))]))
        #expect(doc["empty"]?.node.value == .array([]))
        guard case .table(let point) = doc["point"]?.node.value, case .table(let y) = point["y"]?.node.value else {
            Issue.record("point is not a table with y")
            return
        }
        #expect(point["x"]?.node.value == .integer(1))
        #expect(y["z"]?.node.value == .integer(2))
        #expect(point["y"]?.keyPosition == TOMLPosition(line: 8, column: 18))
    }

    @Test func tablesDottedKeysAndArraysOfTables() throws {
        let doc = try parseTOML("""
        [a.b.c]
        x = 1
        [a]
        y = 2
        [fruit]
        apple.color = "red"
        apple.taste.sweet = true
        [fruit.apple.texture]
        smooth = true
        [[products]]
        name = "hammer"
        [products.meta]
        sku = 1
        [[products]]
        name = "nail"
        """, file: "t.toml")
        guard case .table(let a) = doc["a"]?.node.value, case .table(let b) = a["b"]?.node.value,
              case .table(let c) = b["c"]?.node.value else { Issue.record("a.b.c missing"); return }
        #expect(c["x"]?.node.value == .integer(1))
        #expect(a["y"]?.node.value == .integer(2))
        #expect(doc["a"]?.keyPosition == TOMLPosition(line: 3, column: 2))
        guard case .table(let fruit) = doc["fruit"]?.node.value, case .table(let apple) = fruit["apple"]?.node.value else {
            Issue.record("fruit.apple missing")
            return
        }
        #expect(apple.keys == ["color", "taste", "texture"])
        guard case .array(let products) = doc["products"]?.node.value else { Issue.record("products missing"); return }
        #expect(products.count == 2)
        #expect(products[1].position == TOMLPosition(line: 14, column: 1))
        guard case .table(let first) = products[0].value, case .table(let meta) = first["meta"]?.node.value else {
            Issue.record("products[0].meta missing")
            return
        }
        #expect(meta["sku"]?.node.value == .integer(1))
    }

    @Test func crlfAndByteOrderMark() throws {
        let doc = try parseTOML("\u{FEFF}a = 1\r\nb = \"x\"\r\n", file: "t.toml")
        #expect(doc["a"]?.keyPosition == TOMLPosition(line: 1, column: 1))
        #expect(doc["b"]?.node.position == TOMLPosition(line: 2, column: 5))
    }

    struct BadDocument: Sendable, CustomTestStringConvertible {
        var text: String
        var line: Int
        var column: Int
        var message: String
        var testDescription: String { message }
    }

    static let badDocuments: [BadDocument] = [
        BadDocument(text: "a = \"x", line: 1, column: 5, message: "unterminated string"),
        BadDocument(text: "a = 'x\nb = 1", line: 1, column: 5, message: "unterminated string"),
        BadDocument(text: "a = \"\"\"abc", line: 1, column: 5, message: "unterminated multi-line string"),
        BadDocument(text: "a = 1\na = 2", line: 2, column: 1, message: "duplicate key `a`"),
        BadDocument(text: "[t]\nx = 1\n[t]", line: 3, column: 2, message: "defined more than once"),
        BadDocument(text: "a = {x = 1}\n[a]", line: 2, column: 2, message: "defined more than once"),
        BadDocument(text: "a = {x = 1}\n[a.b]", line: 2, column: 2, message: "inline table"),
        BadDocument(text: "[a]\nb.c = 1\n[a.b]", line: 3, column: 4, message: "dotted keys"),
        BadDocument(text: "[a.b]\nc = 1\n[a]\nb.d = 2", line: 4, column: 1, message: "cannot add keys to `b`"),
        BadDocument(text: "arr = [1, 2]\n[[arr]]", line: 2, column: 3, message: "defined more than once"),
        BadDocument(text: "[[t]]\n[t]", line: 2, column: 2, message: "array of tables"),
        BadDocument(text: "a = 01", line: 1, column: 5, message: "leading zeros"),
        BadDocument(text: "a = 0x", line: 1, column: 5, message: "invalid hexadecimal integer"),
        BadDocument(text: "a = -0x1", line: 1, column: 5, message: "cannot have a sign"),
        BadDocument(text: "a = 1__0", line: 1, column: 5, message: "invalid number"),
        BadDocument(text: "a = 9223372036854775808", line: 1, column: 5, message: "64 bits"),
        BadDocument(text: "a = 1.", line: 1, column: 5, message: "invalid float"),
        BadDocument(text: "a = .5", line: 1, column: 5, message: "invalid value"),
        BadDocument(text: "a = [1, 2", line: 1, column: 5, message: "unterminated array"),
        BadDocument(text: "a = [1 2]", line: 1, column: 8, message: "expected `,` or `]`"),
        BadDocument(text: "a = [,]", line: 1, column: 6, message: "unexpected `,`"),
        BadDocument(text: "a = {x = 1,}", line: 1, column: 11, message: "trailing comma"),
        BadDocument(text: "a = {x = 1\n}", line: 1, column: 11, message: "single line"),
        BadDocument(text: "a = 1 b = 2", line: 1, column: 7, message: "expected the end of the line"),
        BadDocument(text: "a = python", line: 1, column: 5, message: "invalid value `python`"),
        BadDocument(text: "a = True", line: 1, column: 5, message: "invalid value `True`"),
        BadDocument(text: "a = \"\\x\"", line: 1, column: 6, message: "invalid escape sequence"),
        BadDocument(text: "a = \"\\uD800\"", line: 1, column: 6, message: "not a Unicode scalar"),
        BadDocument(text: "a = \"\\u12\"", line: 1, column: 6, message: "hexadecimal digits"),
        BadDocument(text: "[a", line: 1, column: 3, message: "expected `]`"),
        BadDocument(text: "[[a]", line: 1, column: 4, message: "expected `]]`"),
        BadDocument(text: "a = 1979-13-01", line: 1, column: 5, message: "invalid date-time"),
        BadDocument(text: "a = 07:32", line: 1, column: 5, message: "invalid date-time"),
        BadDocument(text: "= 1", line: 1, column: 1, message: "expected a key"),
        BadDocument(text: "a =", line: 1, column: 4, message: "missing value"),
        BadDocument(text: "a b = 1", line: 1, column: 3, message: "expected `=` after the key `a`"),
        BadDocument(text: "a = \"x\u{7}\"", line: 1, column: 7, message: "control character U+0007"),
        BadDocument(text: "a = 1\rb = 2", line: 1, column: 6, message: "carriage return"),
        BadDocument(text: "a = \"\"\"x\"\"\"\"\"\"", line: 1, column: 9, message: "too many"),
    ]

    @Test(arguments: badDocuments)
    func syntaxErrorsAreLocated(_ bad: BadDocument) throws {
        let error = try #require(throws: HopError.self) { try parseTOML(bad.text, file: "bad.toml") }
        #expect(error.code == .invalidInput)
        #expect(error.location == SourceLocation(file: "bad.toml", line: bad.line, column: bad.column))
        #expect(error.message.contains(bad.message), "\(error.message)")
        #expect(error.hint?.isEmpty == false)
    }
}
