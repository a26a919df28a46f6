/// Addon types, addon names and PostgreSQL extension names, as hop3.toml, the CLI and the API
/// take them: one set of rules, so a name accepted in one place is accepted in all.
public enum AddonRules {
    /// The types hop provides.
    public static let types = ["postgres", "redis", "mariadb"]

    /// `type` as hop names it (`postgresql` is postgres, `mysql` is mariadb), or nil when hop
    /// provides no such type.
    public static func canonicalType(_ type: String) -> String? {
        let name = ["postgresql": "postgres", "mysql": "mariadb"][type] ?? type
        return types.contains(name) ? name : nil
    }

    /// An addon name becomes a database, role or ACL user name (always quoted) and a variable
    /// prefix: lowercase letters, digits and `-`, starting with a letter, not ending with `-`, at
    /// most 40 characters, and not one of PostgreSQL's own (`postgres`, `template…`).
    public static func isName(_ name: String) -> Bool {
        name.utf8.count <= 40 && name.first.map { $0.isASCII && $0.isLowercase } == true && !name.hasSuffix("-")
            && name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
            && name != "postgres" && !name.hasPrefix("template")
    }

    /// A PostgreSQL extension name: lowercase letters, digits, `_` and `-`, starting with a letter.
    public static func isExtension(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63 && name.first.map { $0.isASCII && $0.isLowercase } == true
            && name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" || $0 == "-" }
    }
}
