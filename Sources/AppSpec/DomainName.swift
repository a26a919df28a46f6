import HopBasics

/// Checks a DNS host name for an app (`app.example.com`, or `*.example.com` for a wildcard) and
/// returns it unchanged.
///
/// Domains end up in nginx `server_name` lines and certificate requests, so anything beyond lowercase
/// letters, digits, `-` and `.` (a `;`, a `{`, a newline…) is refused rather than escaped. Labels are
/// 1–63 characters and do not start or end with `-`; the whole name is at most 253 characters.
///
/// - Parameter at: where the name's first character is written; with a column, the error's column
///   points at the offending character (as in `validateAppName`).
public func validateDomainName(_ s: String, at: SourceLocation?) throws -> String {
    let scalars = Array(s.unicodeScalars)
    func location(_ offset: Int) -> SourceLocation? {
        guard var loc = at else { return nil }
        if let column = loc.column { loc.column = column + offset }
        return loc
    }
    let shown = s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    let rules = "a domain name has only lowercase letters, digits, `-` and `.` (e.g. `app.example.com`, or `*.example.com`); write one name per array element"
    guard !scalars.isEmpty else {
        throw HopError.invalid("the domain name is empty", at: location(0), hint: "remove the empty string; \(rules)")
    }
    guard scalars.count <= 253 else {
        throw HopError.invalid("the domain name is \(scalars.count) characters long; at most 253 are allowed", at: location(253),
                               hint: "use a shorter domain name")
    }
    let bodyStart = s.hasPrefix("*.") ? 2 : 0
    for (index, c) in scalars.enumerated() where index >= bodyStart {
        if ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "." { continue }
        let position = index + 1
        if ("A"..."Z").contains(c) {
            throw HopError.invalid("the domain name \(quote(shown)) contains the uppercase letter `\(c)` at position \(position)",
                                   at: location(index), hint: "write it in lowercase: `\(s.lowercased())`")
        }
        let what = c == "*" ? "a `*` that is not a leading `*.`" : describeScalar(c)
        throw HopError.invalid("the domain name \(quote(shown)) contains \(what) at position \(position)", at: location(index),
                               hint: c == "*" ? "use a wildcard only as the first label: `*.example.com`" : rules)
    }
    var labelStart = bodyStart
    for label in scalars[bodyStart...].split(separator: ".", omittingEmptySubsequences: false) {
        let text = String(String.UnicodeScalarView(label))
        if label.isEmpty {
            throw HopError.invalid("the domain name `\(s)` has an empty label at position \(labelStart + 1)", at: location(labelStart),
                                   hint: "remove the extra `.` (no leading, trailing or doubled dots)")
        }
        if label.count > 63 {
            throw HopError.invalid("the domain label `\(text)` is \(label.count) characters long; at most 63 are allowed",
                                   at: location(labelStart), hint: "shorten that part of the domain name")
        }
        if label.first == "-" || label.last == "-" {
            let offset = label.first == "-" ? labelStart : labelStart + label.count - 1
            throw HopError.invalid("the domain label `\(text)` starts or ends with `-`", at: location(offset),
                                   hint: "remove the `-` at the edge of the label; hyphens may appear only inside a label")
        }
        labelStart += label.count + 1
    }
    return s
}

/// Domain names that would answer for more than one app's own name (pure).
public enum DomainRules {
    /// A wildcard over a whole top-level domain (`*.test`), `localhost` itself, or an IP literal:
    /// such a name catches traffic meant for other apps or for the machine, so only an admin gives it.
    public static func isBroad(_ domain: String) -> Bool {
        if domain == "localhost" { return true }
        if domain.hasPrefix("*."), !domain.dropFirst(2).contains(".") { return true }
        let labels = domain.split(separator: ".")
        if labels.count == 4, labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) { return true }
        // A numeric last label is never a TLD: such a name is an address, not a host name.
        if let last = labels.last, last.allSatisfy(\.isNumber) { return true }
        return false
    }
}
