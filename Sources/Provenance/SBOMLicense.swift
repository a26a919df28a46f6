import Foundation

/// A license as a lock states it, sorted into what SBOM formats can say about it: one SPDX
/// identifier, an SPDX expression, or only a name (`BSD License`, `Proprietary`).
enum SBOMLicense: Hashable {
    case id(String)
    case expression(String)
    case name(String)

    /// Reads the lock's text. Identifiers and operators are matched case-insensitively and
    /// written in canonical case; anything that is not a well-formed expression of known
    /// identifiers is a name. Nil for blank text.
    init?(_ raw: String) {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        if let id = Self.canonicalLicense(text) { self = .id(id); return }
        if var parser = ExpressionParser(text), let expr = parser.parse() { self = .expression(expr); return }
        self = .name(text)
    }

    /// What SPDX's `licenseDeclared` says: the identifier or expression, else a `LicenseRef-`
    /// that `SPDX.render` defines in `hasExtractedLicensingInfos`.
    var spdxExpression: String {
        switch self {
        case .id(let s), .expression(let s): return s
        case .name(let n): return Self.licenseRef(n)
        }
    }

    /// `LicenseRef-` plus the name reduced to SPDX's idstring characters and a short digest of
    /// the name, so distinct names never share a reference.
    static func licenseRef(_ name: String) -> String {
        "LicenseRef-" + SBOMIdentifiers.sanitised(name) + "-" + SBOMIdentifiers.shortDigest(name)
    }

    private static let licensesByLowercase: [String: String] =
        Dictionary(uniqueKeysWithValues: SPDXLicenseList.licenses.map { ($0.lowercased(), $0) })
    private static let exceptionsByLowercase: [String: String] =
        Dictionary(uniqueKeysWithValues: SPDXLicenseList.exceptions.map { ($0.lowercased(), $0) })

    static func canonicalLicense(_ s: String) -> String? { licensesByLowercase[s.lowercased()] }
    static func canonicalException(_ s: String) -> String? { exceptionsByLowercase[s.lowercased()] }

    /// SPDX license expression grammar (SPDX 2.3 annex D):
    /// `or := and (OR and)*`, `and := with (AND with)*`,
    /// `with := simple (WITH exception)? | "(" or ")"`, `simple := id "+"?`.
    /// `LicenseRef-` terms are not accepted: they would need a definition the lock cannot give.
    private struct ExpressionParser {
        var tokens: [String]
        var position = 0

        init?(_ text: String) {
            var tokens: [String] = []
            var current = ""
            for c in text {
                if c == "(" || c == ")" || c.isWhitespace {
                    if !current.isEmpty { tokens.append(current); current = "" }
                    if !c.isWhitespace { tokens.append(String(c)) }
                } else {
                    current.append(c)
                }
            }
            if !current.isEmpty { tokens.append(current) }
            guard !tokens.isEmpty else { return nil }
            self.tokens = tokens
        }

        mutating func parse() -> String? {
            guard let e = parseOr(), position == tokens.count else { return nil }
            return e
        }

        private var peek: String? { position < tokens.count ? tokens[position] : nil }

        private mutating func accept(_ op: String) -> Bool {
            guard let t = peek, t.uppercased() == op else { return false }
            position += 1
            return true
        }

        private mutating func parseOr() -> String? {
            guard var left = parseAnd() else { return nil }
            while accept("OR") {
                guard let right = parseAnd() else { return nil }
                left += " OR " + right
            }
            return left
        }

        private mutating func parseAnd() -> String? {
            guard var left = parseWith() else { return nil }
            while accept("AND") {
                guard let right = parseWith() else { return nil }
                left += " AND " + right
            }
            return left
        }

        private mutating func parseWith() -> String? {
            if accept("(") {
                guard let inner = parseOr(), accept(")") else { return nil }
                return "(" + inner + ")"
            }
            guard let t = peek, !["AND", "OR", "WITH", ")"].contains(t.uppercased()) else { return nil }
            position += 1
            let plus = t.hasSuffix("+")
            guard let id = SBOMLicense.canonicalLicense(plus ? String(t.dropLast()) : t) else { return nil }
            var simple = id + (plus ? "+" : "")
            if accept("WITH") {
                guard let e = peek, let exception = SBOMLicense.canonicalException(e) else { return nil }
                position += 1
                simple += " WITH " + exception
            }
            return simple
        }
    }
}

/// Stable identifiers derived from names, shared by the CycloneDX and SPDX renderers.
enum SBOMIdentifiers {
    /// Keeps ASCII letters, digits, `.` and `-`; every other character becomes `-`.
    static func sanitised(_ s: String) -> String {
        String(s.unicodeScalars.map { u -> Character in
            let ok = (u.isASCII && (CharacterSet.alphanumerics.contains(u))) || u == "." || u == "-"
            return ok ? Character(u) : "-"
        })
    }

    /// First 8 hex digits of SHA-256(`s`).
    static func shortDigest(_ s: String) -> String { String(SBOMDigest.sha256Hex(Data(s.utf8)).prefix(8)) }
}
