import HopBasics

/// What an app is given: `[env]`, `[[volumes]]`, `[[addons]]`, `[domains]`, `[backup]`. (split from Hop3Toml.swift by concern; no change.)
extension Hop3Reader {
    func readEnv(_ table: TOMLTable) throws -> (plain: [EnvVar], secret: [SecretEnv]) {
        var plain: [EnvVar] = [], secret: [SecretEnv] = []
        for entry in table.entries {
            if entry.key == "computed", case .table(let computed) = entry.node.value {
                for c in computed.entries {
                    try checkEnvName(c, section: "env.computed")
                    guard case .string(let template) = c.node.value else {
                        throw wrongType(c, in: "env.computed", expected: "a string with ${VAR} references", hint: "e.g. URL = \"https://${HOST}/\"")
                    }
                    if let problem = templateProblem(template) {
                        throw HopError.invalid("`[env.computed] \(c.key)` \(problem)", at: at(c.node.position),
                                               hint: "write references as ${NAME}; write a literal $ as $$")
                    }
                    secret.append(SecretEnv(name: c.key, kind: .computed(template: template)))
                }
                continue
            }
            if entry.key == "_policy" {
                _ = try string(entry, in: "env")
                continue  // Hop3's redeploy policy for values changed on the server; hop's [env] is the file's
            }
            try checkEnvName(entry, section: "env")
            switch entry.node.value {
            case .string(let s):
                guard !s.unicodeScalars.contains("\0") else {
                    throw HopError.invalid("`[env] \(entry.key)` contains a NUL character", at: at(entry.node.position),
                                           hint: "remove the `\\u0000`: environment values cannot contain NUL")
                }
                plain.append(EnvVar(entry.key, s))
            case .integer(let n): plain.append(EnvVar(entry.key, String(n)))
            case .bool(let b): plain.append(EnvVar(entry.key, b ? "true" : "false"))
            case .table(let t) where t["generate"] != nil:
                try checkKeys(t, section: "env.\(entry.key)", allowed: ["generate", "length", "prefix", "display"])
                for key in ["prefix", "display"] where t[key] != nil {
                    warn("`\(key)` in `[env] \(entry.key)` is ignored: hop generates the bare value and never displays it", at: t[key]!.keyPosition)
                }
                let style = try string(t["generate"]!, in: "env")
                let styles = ["hex", "base64", "password", "uuid"]
                guard styles.contains(style) else {
                    throw HopError.invalid("`generate = \"\(printableScalars(style))\"` is not a kind hop generates", at: at(t["generate"]!.node.position),
                                           hint: "use one of: \(styles.joined(separator: ", "))")
                }
                var length = style == "password" ? 24 : 64
                if let l = t["length"] {
                    guard case .integer(let n) = l.node.value, (8...4096).contains(n) else {
                        throw HopError.invalid("`length` must be an integer from 8 to 4096", at: at(l.node.position), hint: "e.g. length = 32")
                    }
                    length = Int(n)
                }
                secret.append(SecretEnv(name: entry.key, kind: .generate(style: style, length: length)))
            case .table(let t) where t["from"] == nil && t["from_"] == nil && (t["key"] != nil || t["external_ip"] != nil):
                // Hop3's app-fact references ({ key = "name" | "domain" | "hostname" }, { external_ip = true }).
                try checkKeys(t, section: "env.\(entry.key)", allowed: ["key", "external_ip"])
                warn("`[env] \(entry.key)` is ignored: hop does not resolve Hop3's app-fact references yet; give the value itself in [env], or with `hop config set`",
                     at: entry.keyPosition)
            case .table(let t) where t["from"] != nil || t["from_"] != nil:
                try checkKeys(t, section: "env.\(entry.key)", allowed: ["from", "from_", "key"])
                let fromEntry = t["from"] ?? t["from_"]!
                let addon = try string(fromEntry, in: "env")
                guard let keyEntry = t["key"] else {
                    throw HopError.invalid("`\(entry.key) = { from = … }` needs a `key`", at: at(entry.node.position), hint: "e.g. { from = \"blog-db\", key = \"DATABASE_URL\" }")
                }
                let key = try string(keyEntry, in: "env")
                guard AddonRules.isName(addon) else {
                    throw HopError.invalid("`\(printableScalars(addon))` is not an addon name", at: at(fromEntry.node.position),
                                           hint: "the name of an addon in [[addons]] or `hop addon list`")
                }
                guard isEnvName(key) else {
                    throw HopError.invalid("`\(printableScalars(key))` is not a variable name", at: at(keyEntry.node.position), hint: "e.g. DATABASE_URL")
                }
                secret.append(SecretEnv(name: entry.key, kind: .from(addon: addon, key: key)))
            default:
                throw wrongType(entry, in: "env", expected: "a string (or an integer, a boolean, { generate = … } or { from = … })",
                                hint: "put the value in quotes: `\(entry.key) = \"…\"`")
            }
        }
        return (plain, secret)
    }

    func checkEnvName(_ entry: TOMLEntry, section: String) throws {
        guard isEnvName(entry.key) else {
            throw HopError.invalid("`\(entry.key)` is not a valid environment variable name", at: at(entry.keyPosition),
                                   hint: "rename it using only letters, digits and `_`, not starting with a digit (e.g. `\(envNameSuggestion(entry.key))`)")
        }
    }

    /// `[[volumes]]`: each `name` (a short lowercase name, unique) and `target` (a relative path in
    /// the app directory, unique, not inside another volume's target).
    func readVolumes(_ entry: TOMLEntry) throws -> [Volume] {
        guard case .array(let items) = entry.node.value, items.allSatisfy({ if case .table = $0.value { return true }; return false }) else {
            throw HopError.invalid("`volumes` must be an array of tables `[[volumes]]`, found \(entry.node.value.typeName)",
                                   at: at(entry.keyPosition), hint: "write each volume as `[[volumes]]` with `name` and `target` below it")
        }
        var volumes: [Volume] = []
        for item in items {
            guard case .table(let table) = item.value else { continue }
            try checkKeys(table, section: "volumes", allowed: ["name", "target", "type", "size", "mode", "backup"])
            if let t = table["type"], try string(t, in: "volumes") != "persist" {
                throw HopError.invalid("hop keeps volumes on disk only (`type = \"persist\"`)", at: at(t.node.position),
                                       hint: "remove `type`, or write `type = \"persist\"` (Hop3 does not implement tmpfs or bind either)")
            }
            for key in ["size", "mode"] where table[key] != nil {
                warn("`[[volumes]] \(key)` is ignored: hop's volumes are directories owned by the app's user, mode 0700", at: table[key]!.keyPosition)
            }
            if let b = table["backup"] {
                let t = try self.table(b, in: "volumes")
                try checkKeys(t, section: "volumes.backup", allowed: ["include"])
                warn("`[[volumes]] backup` is ignored: every volume is in the app's backups (exclude paths with [backup] exclude)", at: b.keyPosition)
            }
            guard let nameEntry = table["name"], let targetEntry = table["target"] else {
                throw HopError.invalid("a `[[volumes]]` entry needs both `name` and `target`", at: at(item.position),
                                       hint: "e.g. name = \"uploads\" and target = \"data/uploads\"")
            }
            let name = try string(nameEntry, in: "volumes")
            guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.utf8.count <= 32,
                  name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }) else {
                throw HopError.invalid("the volume name `\(printableScalars(name))` is not a volume name", at: at(nameEntry.node.position),
                                       hint: "use lowercase letters, digits, `-` and `_`, starting with a letter, at most 32 characters")
            }
            var target = try checkRelativePath(try string(targetEntry, in: "volumes"), node: targetEntry.node, what: "the volume target")
            if let bad = target.first(where: { $0 == ":" || $0 == "%" }) {
                throw HopError.invalid("the volume target `\(target)` contains `\(bad)`", at: at(targetEntry.node.position),
                                       hint: "use letters, digits, `.`, `_`, `-` and `/`")
            }
            target = target.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            guard !target.isEmpty else {
                throw HopError.invalid("the volume target must name a directory inside the app, not the app directory itself",
                                       at: at(targetEntry.node.position), hint: "e.g. target = \"data\"")
            }
            if volumes.contains(where: { $0.name == name }) {
                throw HopError.invalid("the volume `\(name)` is declared twice", at: at(nameEntry.node.position), hint: "give each volume its own name")
            }
            if let other = volumes.first(where: { $0.target == target || $0.target.hasPrefix(target + "/") || target.hasPrefix($0.target + "/") }) {
                throw HopError.invalid("the volume target `\(target)` overlaps `\(other.target)` (volume `\(other.name)`)",
                                       at: at(targetEntry.node.position), hint: "give each volume its own directory, none inside another")
            }
            volumes.append(Volume(name: name, target: target))
        }
        return volumes
    }

    /// `[[addons]]`: `type` (postgres; `postgresql` is the same), optional `name` (an addon name) and
    /// `extensions` (PostgreSQL extension names). Names are unique.
    func readAddons(_ entry: TOMLEntry) throws -> [AddonDeclaration] {
        guard case .array(let items) = entry.node.value, items.allSatisfy({ if case .table = $0.value { return true }; return false }) else {
            throw HopError.invalid("`addons` must be an array of tables `[[addons]]`, found \(entry.node.value.typeName)",
                                   at: at(entry.keyPosition), hint: "write each addon as `[[addons]]` with `type` (and `name`) below it")
        }
        var out: [AddonDeclaration] = []
        for item in items {
            guard case .table(let table) = item.value else { continue }
            try checkKeys(table, section: "addons", allowed: ["type", "name", "extensions"])
            guard let typeEntry = table["type"] else {
                throw HopError.invalid("an `[[addons]]` entry needs a `type`", at: at(item.position), hint: "e.g. type = \"postgres\"")
            }
            let written = try string(typeEntry, in: "addons")
            guard let type = AddonRules.canonicalType(written) else {
                throw HopError.invalid("`\(printableScalars(written))` is not an addon type hop provides", at: at(typeEntry.node.position),
                                       hint: "hop provides: postgres, redis, mariadb (mysql)")
            }
            var name: String?
            if let n = table["name"] {
                let value = try string(n, in: "addons")
                guard AddonRules.isName(value) else {
                    throw HopError.invalid("`\(printableScalars(value))` is not an addon name", at: at(n.node.position),
                                           hint: "use lowercase letters, digits and `-`, starting with a letter, at most 40 characters")
                }
                name = value
            }
            var extensions: [String] = []
            if let e = table["extensions"] {
                for (value, node) in try stringArray(e, in: "addons") {
                    guard AddonRules.isExtension(value) else {
                        throw HopError.invalid("`\(printableScalars(value))` is not a PostgreSQL extension name", at: at(node.position),
                                               hint: "e.g. pg_trgm, hstore, citext, pgcrypto")
                    }
                    extensions.append(value)
                }
            }
            if type != "postgres", let e = table["extensions"] {
                throw HopError.invalid("only postgres addons have `extensions`", at: at(e.keyPosition), hint: "remove `extensions` from this addon")
            }
            if let name, out.contains(where: { $0.name == name }) {
                throw HopError.invalid("the addon `\(name)` is declared twice", at: at(table["name"]!.node.position), hint: "give each addon its own name")
            }
            out.append(AddonDeclaration(type: type, name: name, extensions: extensions))
        }
        return out
    }

    /// `names`, or `list` as Hop3 spells it (not both).
    func readDomains(_ table: TOMLTable) throws -> [String] {
        if let names = table["names"], let list = table["list"] {
            throw HopError.invalid("`[domains]` has both `names` and `list`", at: at(list.keyPosition),
                                   hint: "keep one: `list` (Hop3's spelling) and `names` mean the same (first at line \(names.keyPosition.line))")
        }
        guard let names = table["names"] ?? table["list"] ?? table["hosts"] else { return [] }
        var seen: Set<String> = []
        return try stringArray(names, in: "domains").map { name, node in
            let domain = try inside(node) { try validateDomainName(name, at: $0) }
            guard seen.insert(domain).inserted else {
                throw HopError.invalid("the domain `\(domain)` is listed twice", at: at(node.position), hint: "remove the duplicate")
            }
            return domain
        }
    }

    /// `[backup]` exclude (patterns, as `[build] ignore`), schedule (a systemd calendar expression),
    /// keep (`last=N,daily=N,weekly=N,monthly=N`), before-deploy (bool), target (directory or REMOTE:PATH).
    func readBackup(_ table: TOMLTable, into spec: inout AppSpec) throws {
        if let e = table["exclude"] { spec.backupExclude = try stringList(e, in: "backup").map(\.0) }
        if let e = table["schedule"] {
            let v = try string(e, in: "backup")
            guard !v.isEmpty, v.count <= 200, v.allSatisfy({ $0.isASCII && !$0.isNewline && $0 != "\\" && $0 != "'" && $0 != "\"" }) else {
                throw HopError.invalid("`[backup] schedule` `\(v)` is not a calendar expression", at: at(e.node.position),
                                       hint: "a systemd OnCalendar= expression, e.g. \"daily\" or \"*-*-* 03:15:00\"")
            }
            spec.backupSchedule = v
        }
        if let e = table["keep"] {
            let v = try string(e, in: "backup")
            let rules = v.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1) }
            guard !rules.isEmpty, rules.allSatisfy({ $0.count == 2 && ["last", "daily", "weekly", "monthly"].contains(String($0[0]).trimmingCharacters(in: .whitespaces))
                && Int(String($0[1]).trimmingCharacters(in: .whitespaces)).map { $0 >= 0 } == true }) else {
                throw HopError.invalid("`[backup] keep` `\(v)` is not a retention policy", at: at(e.node.position),
                                       hint: "e.g. keep = \"last=3,daily=7,weekly=4,monthly=6\"")
            }
            spec.backupKeep = v
        }
        if let e = table["before-deploy"] {
            guard case .bool(let b) = e.node.value else {
                throw wrongType(e, in: "backup", expected: "true or false", hint: "write `before-deploy = true`")
            }
            spec.backupBeforeDeploy = b
        }
        if let e = table["target"] { spec.backupTarget = try string(e, in: "backup") }
    }
}
