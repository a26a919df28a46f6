import HopBasics

/// The longest app name hop accepts: it must fit a DNS label, a systemd unit name and a file name.
public let maxAppNameLength = 63

/// Checks an app name and returns it unchanged.
///
/// An app name becomes a directory, a systemd unit, an nginx server name part and a Nix derivation name,
/// so it is kept to 1–63 characters: a lowercase ASCII letter or digit, then lowercase letters, digits,
/// `-`, `_` and `.`, never `..`. Nothing is rewritten: a name that breaks a rule is an error naming the
/// character and its 1-based position, because silently fixing a name would deploy under a name the
/// user never typed.
///
/// - Parameter at: where the name's *first character* is written, when it comes from a file. When the
///   location has a column, the error's column points at the offending character (which assumes the
///   name is written one column per character, as a verbatim TOML string is).
public func validateAppName(_ s: String, at: SourceLocation?) throws -> String {
    let scalars = Array(s.unicodeScalars)
    func location(_ offset: Int) -> SourceLocation? {
        guard var loc = at else { return nil }
        if let column = loc.column { loc.column = column + offset }
        return loc
    }
    let allowed = "use only lowercase letters a–z, digits 0–9, `-`, `_` and `.`, starting with a letter or digit"
    guard !scalars.isEmpty else {
        throw HopError.invalid("the app name is empty", at: location(0), hint: "give the app a name: \(allowed)")
    }
    guard scalars.count <= maxAppNameLength else {
        throw HopError.invalid("the app name is \(scalars.count) characters long; at most \(maxAppNameLength) are allowed",
                               at: location(maxAppNameLength),
                               hint: "choose a name of at most \(maxAppNameLength) characters (\(allowed))")
    }
    for (index, c) in scalars.enumerated() {
        let position = index + 1
        let isLowerAlnum = ("a"..."z").contains(c) || ("0"..."9").contains(c)
        let here = location(index)
        if c == ".", index + 1 < scalars.count, scalars[index + 1] == "." {
            throw HopError.invalid("the app name \(quote(s)) contains `..` at position \(position)", at: here,
                                   hint: "remove the `..`: an app name is a single name, not a path; \(allowed)")
        }
        if isLowerAlnum { continue }
        if c == "-" || c == "_" || c == "." {
            if index == 0 {
                throw HopError.invalid("the app name \(quote(s)) starts with `\(c)`", at: here,
                                       hint: "start the name with a lowercase letter or digit; \(allowed)")
            }
            continue
        }
        throw HopError.invalid(characterProblem(c, in: s, position: position), at: here, hint: characterHint(c, in: s, allowed: allowed))
    }
    return s
}

/// "contains `/` at position 3" phrased for what the character is, so the user sees *why* it is refused.
private func characterProblem(_ c: Unicode.Scalar, in name: String, position: Int) -> String {
    let shown = c.value < 0x20 || c.value == 0x7F ? "" : " " + quote(String(c))
    let prefix = "the app name \(quote(name.unicodeScalars.map(visible).joined())) contains"
    switch c {
    case "A"..."Z": return "\(prefix) the uppercase letter\(shown) at position \(position)"
    case "/", "\\": return "\(prefix) a path separator\(shown) at position \(position)"
    case " ", "\t": return "\(prefix) a space at position \(position)"
    case _ where c.value < 0x20 || c.value == 0x7F:
        return "\(prefix) the control character \(hexName(c)) at position \(position)"
    case _ where shellMetacharacters.contains(c):
        return "\(prefix) the shell metacharacter\(shown) at position \(position)"
    case _ where !c.isASCII:
        let name = c.properties.name.map { " \($0)" } ?? ""
        return "\(prefix) the non-ASCII character\(shown) (\(hexName(c))\(name)) at position \(position)"
    default:
        return "\(prefix) the character\(shown) at position \(position), which app names cannot contain"
    }
}

private func characterHint(_ c: Unicode.Scalar, in name: String, allowed: String) -> String {
    switch c {
    case "A"..."Z":
        return "use lowercase: `\(name.lowercased())`"
    case "/", "\\":
        return "use `-` instead of `\(c)`: an app name is a single name, not a path"
    case " ", "\t":
        return "use `-` instead of spaces; \(allowed)"
    case _ where !c.isASCII:
        if let ascii = asciiLookalikes[c] {
            return "replace it with the ASCII letter `\(ascii)` (it only looks like one); \(allowed)"
        }
        return allowed
    default:
        return "remove the character; \(allowed)"
    }
}

/// Quotes text for a message in backticks, or in single quotes when the text itself has a backtick.
public func quote(_ text: String) -> String {
    text.contains("`") ? "'\(text)'" : "`\(text)`"
}

/// Renders control characters as `\u{…}` so a message never prints a raw newline or escape sequence.
private func visible(_ c: Unicode.Scalar) -> String {
    c.value < 0x20 || c.value == 0x7F ? "\\u{\(String(c.value, radix: 16))}" : String(c)
}

/// Characters a shell gives meaning to; an app name reaching a command line must never carry one.
let shellMetacharacters: Set<Unicode.Scalar> = [
    ";", "&", "|", "$", "`", "'", "\"", "<", ">", "(", ")", "{", "}", "[", "]", "*", "?", "!", "#", "~", "=", "%", "^",
]

/// Letters from other scripts that render like ASCII ones: a name using them would look like another
/// app's name while being a different one.
let asciiLookalikes: [Unicode.Scalar: Character] = [
    "\u{0430}": "a", "\u{0435}": "e", "\u{043E}": "o", "\u{0440}": "p", "\u{0441}": "c", "\u{0443}": "y",
    "\u{0445}": "x", "\u{0456}": "i", "\u{0458}": "j", "\u{0455}": "s", "\u{0501}": "d", "\u{04BB}": "h",
    "\u{0261}": "g", "\u{03BF}": "o", "\u{03B1}": "a", "\u{03BD}": "v", "\u{03B9}": "i", "\u{03BA}": "k",
    "\u{03C1}": "p", "\u{03C4}": "t", "\u{0131}": "i", "\u{FF41}": "a", "\u{FF45}": "e", "\u{FF4F}": "o",
]
