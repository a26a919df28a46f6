import HopBasics

// A TOML 1.0 reader written for hop: every key and value keeps the line and column it came from, so
// that the hop3.toml checks that run *after* parsing can still point the user at the exact spot.
// Off-the-shelf parsers drop positions once a document is decoded, which is why this one exists.

/// A 1-based line and column in a TOML document. Columns count Unicode scalars (a non-ASCII letter is
/// one column), which is what editors show for the text hop3.toml files contain.
public struct TOMLPosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: TOMLPosition, b: TOMLPosition) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// A decoded TOML value. Date-times are validated for shape and kept as written: hop never
/// computes with them, and keeping the text avoids guessing time zones for local date-times.
public enum TOMLValue: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    /// An offset or local date-time, a local date or a local time, exactly as written.
    case datetime(String)
    /// A static array `[…]` or an array of tables `[[…]]` (whose elements are `.table`s).
    case array([TOMLNode])
    case table(TOMLTable)

    /// The TOML name of the value's type, as error messages say it ("found integer").
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .bool: "boolean"
        case .datetime: "date-time"
        case .array: "array"
        case .table: "table"
        }
    }
}

/// A value together with where it starts in the document.
public struct TOMLNode: Sendable, Hashable {
    public var value: TOMLValue
    /// The value's first character: the opening quote of a string, `[` of an array or table header,
    /// `{` of an inline table, the first digit or sign of a number.
    public var position: TOMLPosition
    /// True for a one-line string written without escapes: the character at offset `k` of the value
    /// then sits at column `position.column + 1 + k`, so a later check can point inside the string.
    public var isVerbatim: Bool

    public init(value: TOMLValue, position: TOMLPosition, isVerbatim: Bool = false) {
        self.value = value
        self.position = position
        self.isVerbatim = isVerbatim
    }
}

/// One `key = value` of a table (or one sub-table), with the position of the key as written. For a
/// table made by a `[a.b]` header, `keyPosition` is where `b` appears in that header.
public struct TOMLEntry: Sendable, Hashable {
    public var key: String
    public var keyPosition: TOMLPosition
    public var node: TOMLNode

    public init(key: String, keyPosition: TOMLPosition, node: TOMLNode) {
        self.key = key
        self.keyPosition = keyPosition
        self.node = node
    }
}

/// A TOML table: its entries in document order (so messages and renderings are stable).
public struct TOMLTable: Sendable, Hashable {
    public var entries: [TOMLEntry]

    public init(entries: [TOMLEntry] = []) {
        self.entries = entries
    }

    /// The entry for `key`, if the table has one (keys are unique, so there is at most one).
    public subscript(key: String) -> TOMLEntry? {
        entries.first { $0.key == key }
    }

    /// The keys in document order.
    public var keys: [String] { entries.map(\.key) }
}

/// Parses a TOML 1.0 document.
///
/// Duplicate keys, tables defined twice and every syntax error throw `HopError(.invalidInput)` located at
/// `file:line:column`, with a hint saying how to fix the text. Nothing else is checked here: what the keys
/// mean is the caller's business.
public func parseTOML(_ text: String, file: String) throws -> TOMLTable {
    var parser = TOMLParser(text, file: file)
    return try parser.parseDocument()
}

// MARK: - Tables under construction

/// How a table came to exist decides whether it may be reopened: TOML lets a `[a]` header define a
/// table that `[a.b]` had only implied, but never define one twice, and inline tables are closed.
private final class DraftTable {
    enum Origin { case root, header, implicit, dotted, arrayElement, inline }

    var origin: Origin
    /// Scalar index where the table was defined (header `[`, first dotted key, `{`).
    var start: Int
    var order: [String] = []
    var slots: [String: DraftSlot] = [:]

    init(origin: Origin, start: Int) {
        self.origin = origin
        self.start = start
    }

    func add(_ key: String, keyIndex: Int, _ content: DraftContent) {
        order.append(key)
        slots[key] = DraftSlot(keyIndex: keyIndex, content: content)
    }
}

private struct DraftSlot {
    var keyIndex: Int
    var content: DraftContent
}

private enum DraftContent {
    case value(TOMLNode)
    case table(DraftTable)
    case tableArray([DraftTable], start: Int)
}

// MARK: - Parser

private typealias KeyPart = (name: String, index: Int)

private struct TOMLParser {
    let text: [Unicode.Scalar]
    let file: String
    /// Scalar index at which each line starts, to turn an index into a line and column.
    let lineStarts: [Int]
    var i = 0

    init(_ source: String, file: String) {
        var scalars = Array(source.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var starts = [0]
        for (k, c) in scalars.enumerated() where c == "\n" { starts.append(k + 1) }
        self.text = scalars
        self.file = file
        self.lineStarts = starts
    }

    // MARK: Positions and errors

    func position(_ index: Int) -> TOMLPosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= index { lo = mid } else { hi = mid - 1 }
        }
        return TOMLPosition(line: lo + 1, column: index - lineStarts[lo] + 1)
    }

    func error(_ message: String, at index: Int, hint: String) -> HopError {
        let p = position(index)
        return .invalid(message, at: SourceLocation(file: file, line: p.line, column: p.column), hint: hint)
    }

    func whereabouts(_ index: Int) -> String {
        let p = position(index)
        return "line \(p.line), column \(p.column)"
    }

    var peek: Unicode.Scalar? { i < text.count ? text[i] : nil }

    func ahead(_ k: Int) -> Unicode.Scalar? { i + k < text.count ? text[i + k] : nil }

    var atNewline: Bool { peek == "\n" || (peek == "\r" && ahead(1) == "\n") }

    /// How a found character reads in a message: "`x`", "end of line", "end of file", "U+0007".
    func describe(_ c: Unicode.Scalar?) -> String {
        guard let c else { return "the end of the file" }
        if c == "\n" || c == "\r" { return "the end of the line" }
        if isControl(c) { return hexName(c) }
        return "`\(c)`"
    }

    // MARK: Document

    mutating func parseDocument() throws -> TOMLTable {
        let root = DraftTable(origin: .root, start: 0)
        var current = root
        while true {
            skipBlanks()
            guard let c = peek else { break }
            if c == "\n" || c == "\r" { try consumeNewline(); continue }
            if c == "#" { try skipComment(); continue }
            if c == "[" {
                current = try parseHeader(root: root)
            } else {
                try parseKeyValue(into: current)
            }
            try expectLineEnd()
        }
        return finish(root)
    }

    mutating func skipBlanks() {
        while let c = peek, c == " " || c == "\t" { i += 1 }
    }

    mutating func consumeNewline() throws {
        if peek == "\n" { i += 1; return }
        if peek == "\r", ahead(1) == "\n" { i += 2; return }
        throw error("carriage return without a line feed", at: i,
                    hint: "save the file with LF (or CRLF) line endings")
    }

    mutating func skipComment() throws {
        i += 1
        while let c = peek, c != "\n" {
            if c == "\r", ahead(1) == "\n" { return }
            if isControl(c), c != "\t" {
                throw error("control character \(hexName(c)) in a comment", at: i, hint: "remove the character")
            }
            i += 1
        }
    }

    /// Blank space, comments and newlines, as allowed between array elements.
    mutating func skipBlanksCommentsNewlines() throws {
        while let c = peek {
            if c == " " || c == "\t" { i += 1 } else if c == "#" { try skipComment() } else if c == "\n" || c == "\r" {
                try consumeNewline()
            } else { return }
        }
    }

    mutating func expectLineEnd() throws {
        skipBlanks()
        if peek == "#" { try skipComment() }
        guard let c = peek else { return }
        if c == "\n" || c == "\r" { try consumeNewline(); return }
        throw error("expected the end of the line, found \(describe(c))", at: i,
                    hint: "put each `key = value` and each `[table]` header on its own line; start comments with `#`")
    }

    // MARK: Keys

    mutating func parseKey() throws -> [KeyPart] {
        var parts: [KeyPart] = []
        while true {
            skipBlanks()
            parts.append(try parseSimpleKey())
            skipBlanks()
            guard peek == "." else { return parts }
            i += 1
        }
    }

    mutating func parseSimpleKey() throws -> KeyPart {
        let start = i
        if peek == "\"" {
            if ahead(1) == "\"", ahead(2) == "\"" {
                throw error("a multi-line string cannot be a key", at: i, hint: "quote the key with single `\"` quotes")
            }
            return (try parseBasicString().text, start)
        }
        if peek == "'" {
            if ahead(1) == "'", ahead(2) == "'" {
                throw error("a multi-line string cannot be a key", at: i, hint: "quote the key with single `'` quotes")
            }
            return (try parseLiteralString().text, start)
        }
        var key = String.UnicodeScalarView()
        while let c = peek, isBareKeyScalar(c) { key.append(c); i += 1 }
        if key.isEmpty {
            throw error("expected a key, found \(describe(peek))", at: i,
                        hint: "keys are bare words (letters, digits, `_`, `-`) or quoted strings, as in `name = \"value\"`")
        }
        return (String(key), start)
    }

    mutating func parseKeyValue(into table: DraftTable) throws {
        let parts = try parseKey()
        skipBlanks()
        guard peek == "=" else {
            let name = displayKey(parts)
            throw error("expected `=` after the key `\(name)`, found \(describe(peek))", at: i,
                        hint: "write `\(name) = value`; quote strings, and quote keys that contain spaces")
        }
        i += 1
        skipBlanks()
        let node = try parseValue()
        try insert(parts, node, into: table)
    }

    /// Adds `a.b.c = value`: `a` and `b` become (or must already be) tables made by dotted keys.
    mutating func insert(_ parts: [KeyPart], _ node: TOMLNode, into table: DraftTable) throws {
        var t = table
        for (n, part) in parts.dropLast().enumerated() {
            if let slot = t.slots[part.name] {
                if case .table(let sub) = slot.content, sub.origin == .dotted {
                    t = sub
                    continue
                }
                let name = displayKey(Array(parts[...n]))
                throw error("cannot add keys to `\(name)` with a dotted key: it is already \(describe(slot))", at: part.index,
                            hint: "put the key inside the `[\(name)]` section, or rename it")
            }
            let sub = DraftTable(origin: .dotted, start: part.index)
            t.add(part.name, keyIndex: part.index, .table(sub))
            t = sub
        }
        let last = parts[parts.count - 1]
        if let slot = t.slots[last.name] {
            throw error("duplicate key `\(displayKey(parts))`: it is already defined at \(whereabouts(slot.keyIndex))",
                        at: last.index, hint: "remove one of the two definitions, or rename one of them")
        }
        t.add(last.name, keyIndex: last.index, .value(node))
    }

    func describe(_ slot: DraftSlot) -> String {
        switch slot.content {
        case .value(let node):
            if case .table = node.value { return "an inline table (\(whereabouts(slot.keyIndex)))" }
            let type = node.value.typeName
            return "\(type == "integer" || type == "array" ? "an" : "a") \(type) (\(whereabouts(slot.keyIndex)))"
        case .table(let sub):
            switch sub.origin {
            case .dotted: return "a table defined by dotted keys (\(whereabouts(slot.keyIndex)))"
            case .implicit: return "a table implied by a header (\(whereabouts(slot.keyIndex)))"
            default: return "a table defined at \(whereabouts(slot.keyIndex))"
            }
        case .tableArray:
            return "an array of tables (\(whereabouts(slot.keyIndex)))"
        }
    }

    // MARK: Headers

    mutating func parseHeader(root: DraftTable) throws -> DraftTable {
        let start = i
        i += 1
        let isArray = peek == "["
        if isArray { i += 1 }
        let parts = try parseKey()
        skipBlanks()
        let name = displayKey(parts)
        let (open, close) = isArray ? ("[[", "]]") : ("[", "]")
        guard peek == "]", !isArray || ahead(1) == "]" else {
            throw error("expected `\(close)` to close the table header `\(open)\(name)\(close)`, found \(describe(peek))",
                        at: i, hint: "write table headers as `\(open)\(name)\(close)` on a line of their own")
        }
        i += isArray ? 2 : 1

        var t = root
        for (n, part) in parts.dropLast().enumerated() {
            if let slot = t.slots[part.name] {
                switch slot.content {
                case .table(let sub) where sub.origin != .inline:
                    t = sub
                case .tableArray(let elements, _):
                    t = elements[elements.count - 1]
                default:
                    let prefix = displayKey(Array(parts[...n]))
                    throw error("`\(prefix)` is already \(describe(slot)) and cannot hold the table `\(name)`",
                                at: part.index, hint: "rename the table, or put its keys into the existing `\(prefix)`")
                }
            } else {
                let sub = DraftTable(origin: .implicit, start: start)
                t.add(part.name, keyIndex: part.index, .table(sub))
                t = sub
            }
        }

        let last = parts[parts.count - 1]
        guard let slot = t.slots[last.name] else {
            let fresh = DraftTable(origin: isArray ? .arrayElement : .header, start: start)
            t.add(last.name, keyIndex: last.index, isArray ? .tableArray([fresh], start: start) : .table(fresh))
            return fresh
        }
        switch slot.content {
        case .table(let sub) where !isArray && sub.origin == .implicit:
            sub.origin = .header
            sub.start = start
            t.slots[last.name]?.keyIndex = last.index
            return sub
        case .tableArray(let elements, let arrayStart) where isArray:
            let fresh = DraftTable(origin: .arrayElement, start: start)
            t.slots[last.name]?.content = .tableArray(elements + [fresh], start: arrayStart)
            return fresh
        default:
            let hint = isArray
                ? "rename the `[[\(name)]]` array, or remove the other definition of `\(name)`"
                : "merge the two `[\(name)]` sections into one"
            throw error("table `\(open)\(name)\(close)` is defined more than once: `\(name)` is already \(describe(slot))",
                        at: last.index, hint: hint)
        }
    }

    // MARK: Values

    mutating func parseValue() throws -> TOMLNode {
        let start = i
        let pos = position(start)
        guard let c = peek, c != "\n", c != "\r", c != "#" else {
            throw error("missing value after `=`", at: i,
                        hint: "write a value after `=`: a quoted string, a number, true or false, an array `[…]` or an inline table `{…}`")
        }
        switch c {
        case "\"":
            if ahead(1) == "\"", ahead(2) == "\"" {
                return TOMLNode(value: .string(try parseMultilineString(quote: "\"")), position: pos)
            }
            let s = try parseBasicString()
            return TOMLNode(value: .string(s.text), position: pos, isVerbatim: s.verbatim)
        case "'":
            if ahead(1) == "'", ahead(2) == "'" {
                return TOMLNode(value: .string(try parseMultilineString(quote: "'")), position: pos)
            }
            let s = try parseLiteralString()
            return TOMLNode(value: .string(s.text), position: pos, isVerbatim: s.verbatim)
        case "[":
            return try parseArray()
        case "{":
            return try parseInlineTable()
        default:
            if startsDate() || startsTime() {
                return TOMLNode(value: .datetime(try parseDateTime()), position: pos)
            }
            var token = String.UnicodeScalarView()
            while let d = peek, isValueTokenScalar(d) { token.append(d); i += 1 }
            let word = String(token)
            if word == "true" { return TOMLNode(value: .bool(true), position: pos) }
            if word == "false" { return TOMLNode(value: .bool(false), position: pos) }
            if let first = word.unicodeScalars.first, isDigit(first) || first == "+" || first == "-"
                || word == "inf" || word == "nan" {
                return TOMLNode(value: try parseNumber(word, at: start), position: pos)
            }
            if word.isEmpty {
                throw error("invalid value starting with \(describe(c))", at: start,
                            hint: "write a quoted string, a number, true or false, an array `[…]` or an inline table `{…}`")
            }
            throw error("invalid value `\(word)`", at: start,
                        hint: "put strings in quotes: `\"\(word)\"`; booleans are lowercase `true` and `false`")
        }
    }

    mutating func parseArray() throws -> TOMLNode {
        let start = i
        i += 1
        var items: [TOMLNode] = []
        let unterminated = { (p: TOMLParser) in
            p.error("unterminated array: missing the closing `]`", at: start, hint: "close the array with `]`")
        }
        while true {
            try skipBlanksCommentsNewlines()
            guard let c = peek else { throw unterminated(self) }
            if c == "]" { i += 1; break }
            if c == "," {
                throw error("unexpected `,` in an array", at: i, hint: "remove the extra comma; separate elements with one comma")
            }
            items.append(try parseValue())
            try skipBlanksCommentsNewlines()
            guard let d = peek else { throw unterminated(self) }
            if d == "," { i += 1; continue }
            if d == "]" { i += 1; break }
            throw error("expected `,` or `]` after an array element, found \(describe(d))", at: i,
                        hint: "separate array elements with commas and close the array with `]`")
        }
        return TOMLNode(value: .array(items), position: position(start))
    }

    mutating func parseInlineTable() throws -> TOMLNode {
        let start = i
        i += 1
        let table = DraftTable(origin: .inline, start: start)
        skipBlanks()
        if peek == "}" {
            i += 1
            return TOMLNode(value: .table(finish(table)), position: position(start))
        }
        while true {
            let parts = try parseKey()
            skipBlanks()
            guard peek == "=" else {
                let name = displayKey(parts)
                throw error("expected `=` after the key `\(name)`, found \(describe(peek))", at: i,
                            hint: "write inline tables as `{ \(name) = value, other = value }`")
            }
            i += 1
            skipBlanks()
            let node = try parseValue()
            try insert(parts, node, into: table)
            skipBlanks()
            guard let c = peek else {
                throw error("unterminated inline table: missing the closing `}`", at: start, hint: "close the inline table with `}`")
            }
            if c == "," {
                let comma = i
                i += 1
                skipBlanks()
                if peek == "}" {
                    throw error("trailing comma in an inline table", at: comma,
                                hint: "remove the comma before `}` (TOML allows trailing commas only in arrays)")
                }
                continue
            }
            if c == "}" { i += 1; break }
            if c == "\n" || c == "\r" {
                throw error("an inline table must be on a single line", at: i,
                            hint: "close it with `}` on this line, or use a `[table]` section for longer tables")
            }
            throw error("expected `,` or `}` in an inline table, found \(describe(c))", at: i,
                        hint: "separate entries with commas and close the inline table with `}`")
        }
        return TOMLNode(value: .table(finish(table)), position: position(start))
    }

    // MARK: Strings

    mutating func parseBasicString() throws -> (text: String, verbatim: Bool) {
        let start = i
        i += 1
        var out = String.UnicodeScalarView()
        var verbatim = true
        while true {
            guard let c = peek, c != "\n", c != "\r" else {
                throw error("unterminated string: missing the closing `\"`", at: start,
                            hint: "add the closing `\"` on the same line; use `\"\"\"` to write a string over several lines")
            }
            if c == "\"" { i += 1; return (String(out), verbatim) }
            if c == "\\" {
                out.append(try parseEscape(stringStart: start))
                verbatim = false
                continue
            }
            if isControl(c), c != "\t" {
                throw error("control character \(hexName(c)) in a string", at: i,
                            hint: "write it as an escape such as `\\t` or `\\u001B`")
            }
            out.append(c)
            i += 1
        }
    }

    mutating func parseLiteralString() throws -> (text: String, verbatim: Bool) {
        let start = i
        i += 1
        var out = String.UnicodeScalarView()
        while true {
            guard let c = peek, c != "\n", c != "\r" else {
                throw error("unterminated string: missing the closing `'`", at: start,
                            hint: "add the closing `'` on the same line; use `'''` to write a string over several lines")
            }
            if c == "'" { i += 1; return (String(out), true) }
            if isControl(c), c != "\t" {
                throw error("control character \(hexName(c)) in a literal string", at: i,
                            hint: "use a basic string in double quotes and write it as an escape such as `\\u001B`")
            }
            out.append(c)
            i += 1
        }
    }

    /// `"""…"""` or `'''…'''`. A newline right after the opening quotes is dropped; in basic strings a
    /// backslash at the end of a line swallows the line break and the blank space that follows.
    mutating func parseMultilineString(quote: Unicode.Scalar) throws -> String {
        let start = i
        let basic = quote == "\""
        let delimiter = String(repeating: String(quote), count: 3)
        i += 3
        if peek == "\n" { i += 1 } else if peek == "\r", ahead(1) == "\n" { i += 2 }
        var out = String.UnicodeScalarView()
        while true {
            guard let c = peek else {
                throw error("unterminated multi-line string: missing the closing `\(delimiter)`", at: start,
                            hint: "close the string with `\(delimiter)`")
            }
            if c == quote {
                var n = 0
                while ahead(n) == quote { n += 1 }
                if n >= 3 {
                    if n > 5 {
                        throw error("too many `\(quote)` at the end of a multi-line string", at: i,
                                    hint: basic ? "escape quotes inside the string as `\\\"`" : "use a basic string `\"\"\"…\"\"\"` and escape the quotes")
                    }
                    for _ in 0..<(n - 3) { out.append(quote) }
                    i += n
                    return String(out)
                }
                for _ in 0..<n { out.append(quote) }
                i += n
                continue
            }
            if basic, c == "\\" {
                var j = i + 1
                while j < text.count, text[j] == " " || text[j] == "\t" { j += 1 }
                if j < text.count, text[j] == "\n" || (text[j] == "\r" && j + 1 < text.count && text[j + 1] == "\n") {
                    i = j
                    while let d = peek, d == " " || d == "\t" || d == "\n" || (d == "\r" && ahead(1) == "\n") {
                        i += d == "\r" ? 2 : 1
                    }
                    continue
                }
                out.append(try parseEscape(stringStart: start))
                continue
            }
            if c == "\n" { out.append("\n"); i += 1; continue }
            if c == "\r", ahead(1) == "\n" { out.append("\n"); i += 2; continue }
            if isControl(c), c != "\t" {
                throw error("control character \(hexName(c)) in a string", at: i,
                            hint: basic ? "write it as an escape such as `\\u001B`" : "use a basic string `\"\"\"…\"\"\"` and write it as an escape")
            }
            out.append(c)
            i += 1
        }
    }

    mutating func parseEscape(stringStart: Int) throws -> Unicode.Scalar {
        let start = i
        i += 1
        guard let c = peek else {
            throw error("unterminated string", at: stringStart, hint: "close the string with a quote")
        }
        i += 1
        switch c {
        case "b": return "\u{08}"
        case "t": return "\t"
        case "n": return "\n"
        case "f": return "\u{0C}"
        case "r": return "\r"
        case "\"": return "\""
        case "\\": return "\\"
        case "u", "U":
            let count = c == "u" ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let d = peek, let digit = hexValue(d) else {
                    throw error("`\\\(c)` needs exactly \(count) hexadecimal digits", at: start,
                                hint: "write it as `\\\(c)\(String(repeating: "X", count: count))`, e.g. `\\u00E9` for é")
                }
                value = value * 16 + digit
                i += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw error("`\\\(c)` escape is not a Unicode scalar value", at: start,
                            hint: "use a code point outside the surrogate range D800–DFFF and at most 10FFFF")
            }
            return scalar
        default:
            throw error("invalid escape sequence `\\\(c)` in a string", at: start,
                        hint: "write `\\\\` for a backslash, or use a literal string in single quotes ('C:\\dir'); "
                            + "valid escapes are \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX")
        }
    }

    // MARK: Numbers and date-times

    func digitsAhead(_ offsets: ClosedRange<Int>) -> Bool {
        offsets.allSatisfy { ahead($0).map(isDigit) ?? false }
    }

    func startsDate() -> Bool { digitsAhead(0...3) && ahead(4) == "-" }

    func startsTime() -> Bool { digitsAhead(0...1) && ahead(2) == ":" }

    mutating func parseDateTime() throws -> String {
        let start = i
        let bad = { (p: TOMLParser) in
            p.error("invalid date-time `\(p.tokenText(from: start))`", at: start,
                    hint: "write dates as `1979-05-27`, date-times as `1979-05-27T07:32:00Z` and times as `07:32:00`; quote it if it is text")
        }
        if startsDate() {
            guard digitsAhead(5...6), ahead(7) == "-", digitsAhead(8...9) else { throw bad(self) }
            let month = number(at: i + 5, count: 2), day = number(at: i + 8, count: 2)
            guard (1...12).contains(month), (1...31).contains(day) else { throw bad(self) }
            i += 10
            let separator = peek
            if separator == "T" || separator == "t" || separator == " " {
                i += 1
                if startsTime() {
                    try parseTime(bad: bad)
                    if peek == "Z" || peek == "z" {
                        i += 1
                    } else if peek == "+" || peek == "-" {
                        guard digitsAhead(1...2), ahead(3) == ":", digitsAhead(4...5),
                              number(at: i + 1, count: 2) <= 23, number(at: i + 4, count: 2) <= 59 else { throw bad(self) }
                        i += 6
                    }
                } else if separator == " " {
                    i -= 1  // a local date followed by blank space
                } else {
                    throw bad(self)
                }
            }
        } else {
            try parseTime(bad: bad)
        }
        if let c = peek, isValueTokenScalar(c) {
            while let c = peek, isValueTokenScalar(c) { i += 1 }
            throw bad(self)
        }
        return String(String.UnicodeScalarView(text[start..<i]))
    }

    mutating func parseTime(bad: (TOMLParser) -> HopError) throws {
        guard startsTime(), digitsAhead(3...4), ahead(5) == ":", digitsAhead(6...7) else { throw bad(self) }
        guard number(at: i, count: 2) <= 23, number(at: i + 3, count: 2) <= 59, number(at: i + 6, count: 2) <= 60 else {
            throw bad(self)
        }
        i += 8
        if peek == "." {
            i += 1
            guard let d = peek, isDigit(d) else { throw bad(self) }
            while let d = peek, isDigit(d) { i += 1 }
        }
    }

    func number(at index: Int, count: Int) -> Int {
        text[index..<(index + count)].reduce(0) { $0 * 10 + Int($1.value - 48) }
    }

    func tokenText(from start: Int) -> String {
        var end = start
        while end < text.count, isValueTokenScalar(text[end]) || (end > start && text[end] == " " && end + 1 < text.count && isDigit(text[end + 1])) {
            end += 1
        }
        return String(String.UnicodeScalarView(text[start..<max(end, start)]))
    }

    func parseNumber(_ word: String, at start: Int) throws -> TOMLValue {
        let generic = "write integers like `42`, `-7`, `0x2A`, `1_000` and floats like `3.14`, `-0.5`, `6.02e23`; quote it if it is text"
        var body = Substring(word)
        var sign = ""
        if let f = body.first, f == "+" || f == "-" {
            sign = String(f)
            body = body.dropFirst()
        }
        if body == "inf" { return .float(sign == "-" ? -Double.infinity : Double.infinity) }
        if body == "nan" { return .float(Double.nan) }

        for (prefix, radix, name) in [("0x", 16, "hexadecimal"), ("0o", 8, "octal"), ("0b", 2, "binary")] where body.hasPrefix(prefix) {
            let digits = body.dropFirst(2)
            guard sign.isEmpty else {
                throw error("\(name) integers cannot have a sign: `\(word)`", at: start, hint: "remove the `\(sign)`")
            }
            guard validDigits(digits, radix: radix), let value = Int64(digits.replacingOccurrences("_"), radix: radix) else {
                if validDigits(digits, radix: radix) {
                    throw error("integer `\(word)` does not fit in 64 bits", at: start, hint: "use a smaller number")
                }
                throw error("invalid \(name) integer `\(word)`", at: start, hint: generic)
            }
            return .integer(value)
        }

        if body.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            let parts = body.split(separator: "e", maxSplits: 1, omittingEmptySubsequences: false)
                .flatMap { $0.split(separator: "E", maxSplits: 1, omittingEmptySubsequences: false) }
            guard parts.count <= 2 else { throw error("invalid float `\(word)`", at: start, hint: generic) }
            let mantissa = parts[0]
            let pieces = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            var ok = validDigits(pieces[0], radix: 10) && !hasLeadingZero(pieces[0])
            if pieces.count == 2 { ok = ok && validDigits(pieces[1], radix: 10) }
            if parts.count == 2 {
                var exponent = parts[1]
                if let f = exponent.first, f == "+" || f == "-" { exponent = exponent.dropFirst() }
                ok = ok && validDigits(exponent, radix: 10)
            }
            guard ok, let value = Double(sign + body.replacingOccurrences("_")) else {
                throw error("invalid float `\(word)`", at: start, hint: generic)
            }
            return .float(value)
        }

        guard validDigits(body, radix: 10) else {
            throw error("invalid number `\(word)`", at: start, hint: generic)
        }
        guard !hasLeadingZero(body) else {
            throw error("invalid number `\(word)`: leading zeros are not allowed", at: start,
                        hint: "write it without leading zeros, or use `0o` for octal")
        }
        guard let value = Int64(sign + body.replacingOccurrences("_")) else {
            throw error("integer `\(word)` does not fit in 64 bits", at: start, hint: "use a number between -2^63 and 2^63-1")
        }
        return .integer(value)
    }

    // MARK: Finishing

    func finish(_ table: DraftTable) -> TOMLTable {
        TOMLTable(entries: table.order.map { key in
            let slot = table.slots[key]!
            let node: TOMLNode
            switch slot.content {
            case .value(let value):
                node = value
            case .table(let sub):
                node = TOMLNode(value: .table(finish(sub)), position: position(sub.start))
            case .tableArray(let elements, let start):
                node = TOMLNode(value: .array(elements.map { TOMLNode(value: .table(finish($0)), position: position($0.start)) }),
                                position: position(start))
            }
            return TOMLEntry(key: key, keyPosition: position(slot.keyIndex), node: node)
        })
    }
}

// MARK: - Character classes

private func isControl(_ c: Unicode.Scalar) -> Bool { c.value < 0x20 || c.value == 0x7F }

private func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }

private func hexValue(_ c: Unicode.Scalar) -> UInt32? {
    switch c {
    case "0"..."9": c.value - 48
    case "a"..."f": c.value - 87
    case "A"..."F": c.value - 55
    default: nil
    }
}

private func isBareKeyScalar(_ c: Unicode.Scalar) -> Bool {
    ("a"..."z").contains(c) || ("A"..."Z").contains(c) || isDigit(c) || c == "_" || c == "-"
}

/// Characters that can make up an unquoted value (numbers, booleans, inf/nan) — used to read the whole
/// word so a message can quote it.
private func isValueTokenScalar(_ c: Unicode.Scalar) -> Bool {
    isBareKeyScalar(c) || c == "+" || c == "." || c == ":"
}

func hexName(_ c: Unicode.Scalar) -> String {
    let hex = String(c.value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
}

private func validDigits(_ s: Substring, radix: Int) -> Bool {
    guard let first = s.first, let last = s.last, first != "_", last != "_", !s.contains("__") else { return false }
    return s.allSatisfy { $0 == "_" || ($0.isASCII && $0.hexDigitValue.map { $0 < radix } == true) }
}

private func hasLeadingZero(_ s: Substring) -> Bool {
    let digits = s.filter { $0 != "_" }
    return digits.count > 1 && digits.first == "0"
}

private func displayKey(_ parts: [KeyPart]) -> String {
    parts.map { part in
        !part.name.isEmpty && part.name.unicodeScalars.allSatisfy(isBareKeyScalar) ? part.name : "\"\(part.name)\""
    }.joined(separator: ".")
}

private extension Substring {
    func replacingOccurrences(_ c: Character) -> String { String(filter { $0 != c }) }
}
