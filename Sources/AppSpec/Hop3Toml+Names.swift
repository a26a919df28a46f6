import Foundation
import HopBasics

// MARK: - Small predicates

func isProcessName(_ s: String) -> Bool {
    let chars = Array(s.unicodeScalars)
    guard let first = chars.first, ("a"..."z").contains(first), chars.count <= 32 else { return false }
    return chars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
}

func isEnvName(_ s: String) -> Bool {
    let chars = Array(s.unicodeScalars)
    guard let first = chars.first, first == "_" || ("A"..."Z").contains(first) || ("a"..."z").contains(first) else { return false }
    return chars.allSatisfy { $0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
}

func envNameSuggestion(_ s: String) -> String {
    var out = String(s.unicodeScalars.map { c -> Character in
        ("A"..."Z").contains(c) || ("a"..."z").contains(c) || ("0"..."9").contains(c) ? Character(c) : "_"
    })
    if out.first.map({ $0.isNumber }) ?? true { out = "_" + out }
    return out
}

func isToolchainScalar(_ c: Unicode.Scalar) -> Bool {
    ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-" || c == "+"
}

func isPackageName(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first != ".", first != "-", first != "+" else { return false }
    return s.unicodeScalars.allSatisfy(isToolchainScalar)
}

func isNixAttributePath(_ s: String) -> Bool {
    s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
        guard let first = part.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) || ("A"..."Z").contains(first) else {
            return false
        }
        return part.unicodeScalars.allSatisfy { isToolchainScalar($0) && $0 != "." && $0 != "+" || $0 == "'" }
    }
}

func isMemorySize(_ s: String) -> Bool {
    var digits = Substring(s)
    if let last = digits.last, "KMGT".contains(last) { digits = digits.dropLast() }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
    return digits.contains { $0 != "0" }
}

/// The candidate nearest to a mistyped name, if it is near enough to be a likely typo: same letters
/// up to case and `_`/`-`, or within two edits (one for names of three letters or fewer).
func closestName(to name: String, among candidates: [String]) -> String? {
    let normalized = name.lowercased().replacingUnderscores()
    if let exact = candidates.first(where: { $0 == normalized }) { return exact }
    let limit = name.count <= 3 ? 1 : 2
    let scored = candidates.map { ($0, editDistance(normalized, $0)) }.filter { $0.1 <= limit }
    return scored.min { $0.1 < $1.1 }?.0
}

private extension String {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}

/// Levenshtein distance, small strings only.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// A value as an error message may show it: control characters escaped, never raw.
func printableScalars(_ s: String) -> String {
    s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
}

/// Why an `[env.computed]` template is malformed (nil when fine): `${NAME}` references, `$$` for a
/// literal dollar, no control characters.
func templateProblem(_ template: String) -> String? {
    if template.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) { return "contains a control character" }
    var rest = Substring(template)
    while let dollar = rest.firstIndex(of: "$") {
        let after = rest[rest.index(after: dollar)...]
        if after.hasPrefix("$") { rest = after.dropFirst(); continue }
        guard after.hasPrefix("{"), let close = after.firstIndex(of: "}") else { return "has a `$` that is not `${NAME}` or `$$`" }
        let name = String(after[after.index(after: after.startIndex)..<close])
        guard isEnvName(name) else { return "references `${\(name)}`, which is not a variable name" }
        rest = after[after.index(after: close)...]
    }
    return nil
}

/// `template` with each `${NAME}` replaced by `values[NAME]` and `$$` by `$`; nil names the first
/// reference that has no value.
public func interpolate(_ template: String, _ values: [String: String]) -> (value: String, missing: String?) {
    var out = "", rest = Substring(template)
    while let dollar = rest.firstIndex(of: "$") {
        out += rest[..<dollar]
        let after = rest[rest.index(after: dollar)...]
        if after.hasPrefix("$") { out += "$"; rest = after.dropFirst(); continue }
        guard after.hasPrefix("{"), let close = after.firstIndex(of: "}") else { out += "$"; rest = after; continue }
        let name = String(after[after.index(after: after.startIndex)..<close])
        guard let v = values[name] else { return (out, name) }
        out += v
        rest = after[after.index(after: close)...]
    }
    return (out + rest, nil)
}
