import Foundation

/// A JSON value whose objects keep the order they were built in, so an SBOM's bytes depend only
/// on its content: no dictionary ordering, no platform-dependent number or escape formatting.
indirect enum SBOMJSON {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case array([SBOMJSON])
    case object([(String, SBOMJSON)])

    /// Pretty-printed with two-space indents, `"key": value`, and a final newline.
    func rendered() -> String {
        var out = ""
        write(to: &out, indent: 0)
        out.append("\n")
        return out
    }

    private func write(to out: inout String, indent: Int) {
        switch self {
        case .string(let s): Self.quote(s, into: &out)
        case .int(let n): out.append(String(n))
        case .bool(let b): out.append(b ? "true" : "false")
        case .array(let items):
            if items.isEmpty { out.append("[]"); return }
            out.append("[\n")
            for (i, item) in items.enumerated() {
                out.append(String(repeating: "  ", count: indent + 1))
                item.write(to: &out, indent: indent + 1)
                out.append(i + 1 < items.count ? ",\n" : "\n")
            }
            out.append(String(repeating: "  ", count: indent) + "]")
        case .object(let members):
            if members.isEmpty { out.append("{}"); return }
            out.append("{\n")
            for (i, (key, value)) in members.enumerated() {
                out.append(String(repeating: "  ", count: indent + 1))
                Self.quote(key, into: &out)
                out.append(": ")
                value.write(to: &out, indent: indent + 1)
                out.append(i + 1 < members.count ? ",\n" : "\n")
            }
            out.append(String(repeating: "  ", count: indent) + "}")
        }
    }

    /// RFC 8259 string escaping; everything else (including `/` and non-ASCII) verbatim.
    static func quote(_ s: String, into out: inout String) {
        out.append("\"")
        // Most strings (store paths, hashes, names) need no escaping: append them whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out.append(s)
            out.append("\"")
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case "\u{08}": out.append("\\b")
            case "\u{0C}": out.append("\\f")
            default:
                if u.value < 0x20 {
                    out.append("\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16))
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out.append("\"")
    }
}

/// Builds an object member list, leaving out absent optional members.
struct SBOMObject {
    private(set) var members: [(String, SBOMJSON)] = []

    mutating func add(_ key: String, _ value: SBOMJSON) { members.append((key, value)) }
    mutating func add(_ key: String, _ value: String?) { if let value { members.append((key, .string(value))) } }
    /// Adds a non-empty array; an empty one is left out.
    mutating func addNonEmpty(_ key: String, _ items: [SBOMJSON]) { if !items.isEmpty { members.append((key, .array(items))) } }

    var json: SBOMJSON { .object(members) }
}
