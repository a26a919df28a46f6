import HopBasics

/// hop3.toml's sections in the order hints list them.
public let hop3Sections = ["metadata", "build", "run", "env", "port", "healthcheck", "static", "domains", "backup", "deploy", "limits", "nix",
                           "volumes", "addons", "admin", "php",
                           // Hop3 sections hop accepts and does not act on (a located warning says so):
                           "contexts", "probe", "ports", "docker", "waf", "test", "provider"]

/// The keys of the sections whose keys are fixed. `[env]`, `[port]` and `[static]` are keyed by the user
/// (variable names, process names, URL prefixes) and `[run.workers]` by process names.
public let hop3SectionKeys: [String: [String]] = [
    "metadata": ["id", "version", "title", "description", "license", "homepage", "author", "name", "categories", "tags"],
    "build": ["builder", "toolchain", "before-build", "build", "after-build", "packages", "pip-install", "ignore", "static-dir", "test", "node-version"],
    "run": ["start", "before-run", "workers", "start-timeout", "packages", "static", "healthcheck", "healthcheck-timeout"],
    "healthcheck": ["path", "status", "contains", "interval", "timeout", "retries", "start-timeout"],
    "domains": ["names", "list", "hosts", "_policy", "policy"],
    "backup": ["paths", "exclude", "schedule", "keep", "before-deploy", "target"],
    "admin": ["username", "email", "password", "create", "login", "verify"],
    "deploy": ["require-signed", "deployer", "allow-http"],
    "limits": ["memory", "cpu", "processes", "disk"],
    "nix": ["packages", "file"] + hop3NixTemplateKeys,
    "php": ["extensions", "ini", "deny", "workers"],
]

/// Hop3 keys hop accepts but does not act on, with the reason a warning gives (section → key → why).
/// Whole sections hop ignores are in `hop3IgnoredSections`. docs/hop3-compat.md has the full table.
public let hop3IgnoredKeys: [String: [String: String]] = [
    "build": [
        "test": "hop runs no build-time smoke tests; the health gate checks the deployed app",
        "node-version": "the node toolchain is hop's node seed, one version",
        "static-dir": "a static site serves `public/` (or the tree); map other directories with [static]",
    ],
    "run": [
        "packages": "runtime packages come from the build's closure ([build] packages)",
        "healthcheck-timeout": "use [healthcheck] timeout",
    ],
    "domains": [
        "_policy": "hop always deploys the domains the file lists",
        "policy": "hop always deploys the domains the file lists",
    ],
    "deploy": [
        "deployer": "hop picks the runtime from the processes (wsgi, web, static)",
        "allow-http": "plain HTTP is redirected only once a CA certificate serves (`hop tls issue`)",
    ],
    "nix": Dictionary(uniqueKeysWithValues: hop3NixTemplateKeys.map { ($0, "Hop3's Nix templates are not hop's; write a [nix] file (a derivation) or [nix] packages") }),
    "admin": [
        "create": "hop does not run an admin-creation command; the app reads ADMIN_USERNAME/ADMIN_EMAIL/ADMIN_PASSWORD",
        "login": "informational for Hop3's sign-in check, which hop does not run",
        "verify": "hop does not run Hop3's sign-in check",
    ],
]

/// Hop3's `[nix]` template keys (its Nix template builder); hop builds `[nix] file` or `packages`.
public let hop3NixTemplateKeys = ["template", "url", "sha256", "executable", "archive", "binary-name", "exec-target", "exec-args", "extra-paths", "pre-exec", "nixpkgs-package", "go-vendor-hash", "npm-package", "php-version", "php-extensions", "needs-composer", "composer-extra-flags", "serve-mode", "web-root", "post-install-dirs", "local-vars", "env-exports", "runtime-env", "conditional-env", "config-files"]

public let hop3IgnoredSections: [String: String] = [
    "contexts": "contexts are chosen by Hop3's CLI before upload; with hop, use `hop --remote NAME` and per-server config",
    "probe": "hop does not create Hop3's verification account",
    "ports": "hop publishes HTTP(S) only; fixed host ports for other protocols are not supported yet",
    "docker": "hop builds Nix closures, not Docker images",
    "waf": "hop has no web application firewall yet",
    "test": "test-harness metadata; hop's own tests do not read it",
]

/// A key hop accepts and ignores (or an alias it reads), located.
public struct Hop3Warning: Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var location: SourceLocation
    public var description: String { "\(location): warning: \(message)" }
    public init(message: String, location: SourceLocation) { self.message = message; self.location = location }
}

/// Parses and validates a hop3.toml into an `AppSpec`. Pure: no file system access.
///
/// - Parameters:
///   - file: the name errors are located in (e.g. `myapp/hop3.toml`).
///   - appName: the app's name (validated); `[metadata] id`, when present, is validated and kept as metadata.
///   - detectedBuilder: what autodetection found in the tree. `[build] builder` wins over it; when both are
///     missing this throws, since nothing else can say how to build the app.
///
/// Processes: `[run] start` becomes the `web` process. Defaults that depend on the tree (a static site's
/// `static` process, a shell app's start script) and Procfile merging are `AppSpecLoader.load`'s job.
///
/// Unknown sections and keys are errors located at the key, with a hint listing the valid keys and
/// suggesting the nearest one; a value of the wrong type is an error at the value ("`[run] start` must be
/// a string, found integer").
public func parseHop3Toml(_ text: String, file: String, appName: String, detectedBuilder: Builder? = nil) throws -> AppSpec {
    let document = try parseHop3Document(text, file: file)
    let name = try validateAppName(appName, at: nil)
    return try assembleAppSpec(AppSources(name: name, hop3: document, detectedBuilder: detectedBuilder))
}

/// A hop3.toml as read, before it is combined with a Procfile and the tree.
struct Hop3Document: Sendable {
    let file: String
    /// Everything the file says. `name` is empty and `build.builder` a placeholder until assembled.
    var spec = AppSpec(name: "", source: .hop3toml, builder: .shell)
    /// `[build] builder`, when written.
    var builder: Builder?
    /// Where `[build]` is (for "no builder" errors), where `start` and each `[run.workers]` name are.
    var buildLocation: SourceLocation?
    var runLocation: SourceLocation?
    var startLocation: SourceLocation?
    var workerLocations: [(name: String, location: SourceLocation)] = []
    /// Hop3 keys accepted but not acted on, and aliases read.
    var warnings: [Hop3Warning] = []
    /// Hop3 aliases, applied once the whole file is read: `[build] toolchain` naming hop's builder,
    /// `[run] static`/`healthcheck` (legacy), `[run.workers] name = "command"` processes.
    var toolchainBuilder: Builder?
    var legacyStatic: [String: String]?
    var legacyHealthPath: String?
    /// Hop3's `[run] start-timeout`: the health gate's start window unless `[healthcheck] start-timeout` says.
    var legacyStartTimeout: Double?
    var workerProcesses: [(name: String, command: String)] = []

    init(file: String) { self.file = file }
}

func parseHop3Document(_ text: String, file: String) throws -> Hop3Document {
    let root = try parseTOML(text, file: file)
    let reader = Hop3Reader(file: file)
    var document = Hop3Document(file: file)
    for entry in root.entries {
        guard hop3Sections.contains(entry.key) else {
            throw reader.unknownTopLevel(entry)
        }
        if let why = hop3IgnoredSections[entry.key] {
            document.warnings.append(Hop3Warning(message: "`[\(entry.key)]` is ignored: \(why)", location: reader.at(entry.keyPosition)))
            continue
        }
        if entry.key == "provider" {
            // Hop3's deprecated spelling of [[addons]], read only when [[addons]] is absent.
            if root["addons"] == nil {
                document.spec.addons = try reader.readAddons(entry)
                document.warnings.append(Hop3Warning(message: "`[[provider]]` is Hop3's old name for `[[addons]]`; read as [[addons]]",
                                                     location: reader.at(entry.keyPosition)))
            } else {
                document.warnings.append(Hop3Warning(message: "`[[provider]]` is ignored: [[addons]] is present", location: reader.at(entry.keyPosition)))
            }
            continue
        }
        if entry.key == "volumes" {
            document.spec.volumes = try reader.readVolumes(entry)
            continue
        }
        if entry.key == "addons" {
            document.spec.addons = try reader.readAddons(entry)
            continue
        }
        guard case .table(let table) = entry.node.value else {
            if case .array(let items) = entry.node.value, case .table = items.first?.value {
                throw HopError.invalid("`[[\(entry.key)]]` is an array of tables; hop3.toml has a single `[\(entry.key)]` section",
                                       at: reader.at(entry.keyPosition), hint: "write the header as `[\(entry.key)]`")
            }
            throw HopError.invalid("`\(entry.key)` must be a section `[\(entry.key)]`, found \(entry.node.value.typeName)",
                                   at: reader.at(entry.keyPosition),
                                   hint: "write `[\(entry.key)]` on a line of its own and put its keys below it")
        }
        if let keys = hop3SectionKeys[entry.key] {
            try reader.checkKeys(table, section: entry.key, allowed: keys)
            for e in table.entries {
                if let why = hop3IgnoredKeys[entry.key]?[e.key] {
                    document.warnings.append(Hop3Warning(message: "`[\(entry.key)] \(e.key)` is ignored: \(why)", location: reader.at(e.keyPosition)))
                }
            }
        }
        switch entry.key {
        case "metadata": try reader.readMetadata(table, into: &document)
        case "build":
            document.buildLocation = reader.at(entry.keyPosition)
            try reader.readBuild(table, into: &document)
        case "run":
            document.runLocation = reader.at(entry.keyPosition)
            try reader.readRun(table, into: &document)
        case "env":
            let env = try reader.readEnv(table)
            document.spec.env = env.plain + document.spec.env   // [admin] may have come first
            let secret = env.secret + (document.spec.secretEnv ?? [])
            document.spec.secretEnv = secret.isEmpty ? nil : secret
        case "port": document.spec.ports = try reader.readPorts(table)
        case "healthcheck": document.spec.healthcheck = try reader.readHealthCheck(table)
        case "static": document.spec.staticPaths = try reader.readStatic(table)
        case "domains": document.spec.domains = try reader.readDomains(table)
        case "backup":
            if let paths = table["paths"] {
                document.spec.backupPaths = try reader.stringArray(paths, in: "backup").map { value, node in
                    try reader.checkRelativePath(value, node: node, what: "`[backup] paths` entry")
                }
            }
            try reader.readBackup(table, into: &document.spec)
        case "deploy":
            if let e = table["require-signed"] {
                guard case .bool(let b) = e.node.value else {
                    throw reader.wrongType(e, in: "deploy", expected: "true or false", hint: "write `require-signed = true`")
                }
                document.spec.requireSigned = b
            }
        case "limits": document.spec.limits = try reader.readLimits(table)
        case "php": document.spec.php = try reader.readPHP(table)
        case "admin":
            // The app's first administrator: hop generates the password (ADMIN_PASSWORD) and keeps it
            // sealed; `hop app credentials APP` shows all three.
            var username = "admin", email: String?
            if let u = table["username"] {
                username = try reader.string(u, in: "admin")
                guard !username.isEmpty, username.utf8.count <= 64, username.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-@".contains($0)) }) else {
                    throw HopError.invalid("`[admin] username` `\(printableScalars(username))` is not a user name", at: reader.at(u.node.position),
                                           hint: "letters, digits and `._-@`, at most 64 characters")
                }
            }
            if let e = table["email"], try reader.string(e, in: "admin") == "operator" {
                reader.warn("`[admin] email = \"operator\"` is Hop3's server-wide operator address; hop has none, so ADMIN_EMAIL is not set", at: e.node.position)
            } else if let e = table["email"] {
                let value = try reader.string(e, in: "admin")
                let parts = value.split(separator: "@", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), value.utf8.count <= 254,
                      value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && !"\"'\\<>()[],;:".unicodeScalars.contains($0) }) else {
                    throw HopError.invalid("`[admin] email` `\(printableScalars(value))` is not an email address", at: reader.at(e.node.position),
                                           hint: "e.g. admin@example.org")
                }
                email = value
            }
            var length = 24
            if let p = table["password"] {
                // Hop3: `password = { generate = "password", length = N }` (always generated).
                let t = try reader.table(p, in: "admin")
                try reader.checkKeys(t, section: "admin.password", allowed: ["generate", "length", "prefix", "display"])
                if let g = t["generate"], try reader.string(g, in: "admin.password") != "password" {
                    reader.warn("`[admin] password` is always a generated password with hop", at: g.node.position)
                }
                if let l = t["length"] {
                    guard case .integer(let n) = l.node.value, (12...256).contains(n) else {
                        throw HopError.invalid("`length` must be an integer from 12 to 256", at: reader.at(l.node.position), hint: "e.g. length = 20")
                    }
                    length = Int(n)
                }
            }
            var secret = document.spec.secretEnv ?? []
            secret.removeAll { ["ADMIN_USERNAME", "ADMIN_EMAIL", "ADMIN_PASSWORD"].contains($0.name) }
            secret.append(SecretEnv(name: "ADMIN_PASSWORD", kind: .generate(style: "password", length: length)))
            document.spec.secretEnv = secret
            document.spec.env.removeAll { $0.name == "ADMIN_USERNAME" || $0.name == "ADMIN_EMAIL" }
            document.spec.env.append(EnvVar("ADMIN_USERNAME", username))
            if let email { document.spec.env.append(EnvVar("ADMIN_EMAIL", email)) }
        default:  // "nix"
            try reader.readNix(table, into: &document)
        }
    }
    if document.builder == nil { document.builder = document.toolchainBuilder }
    if document.spec.staticPaths.isEmpty, let legacy = document.legacyStatic { document.spec.staticPaths = legacy }
    if document.spec.healthcheck == nil, let path = document.legacyHealthPath {
        var h = HealthCheck()
        h.path = path
        document.spec.healthcheck = h
    }
    if let start = document.legacyStartTimeout, document.spec.healthcheck?.startTimeout == nil {
        var h = document.spec.healthcheck ?? HealthCheck()
        h.startTimeout = start
        document.spec.healthcheck = h
    }
    document.warnings += reader.warnings
    document.warnings.sort { ($0.location.line ?? 0, $0.location.column ?? 0) < ($1.location.line ?? 0, $1.location.column ?? 0) }
    return document
}

// MARK: - Sections

/// Turns TOML entries into hop values; every error it throws is located in `file`.
final class Hop3Reader {
    let file: String
    /// Located warnings for Hop3 keys hop reads as aliases or ignores.
    var warnings: [Hop3Warning] = []
    init(file: String) { self.file = file }

    func warn(_ message: String, at position: TOMLPosition) {
        warnings.append(Hop3Warning(message: message, location: at(position)))
    }

    func table(_ entry: TOMLEntry, in section: String) throws -> TOMLTable {
        guard case .table(let t) = entry.node.value else {
            throw wrongType(entry, in: section, expected: "a table", hint: "write `\(entry.key) = { … }` or a `[\(section).\(entry.key)]` section")
        }
        return t
    }

    func at(_ p: TOMLPosition, plus offset: Int = 0) -> SourceLocation {
        SourceLocation(file: file, line: p.line, column: p.column + offset)
    }

    /// Runs a check that locates errors by character offset (app and domain names): inside a verbatim
    /// string it can point at the offending character; otherwise the error points at the string.
    func inside<T>(_ node: TOMLNode, _ check: (SourceLocation?) throws -> T) throws -> T {
        if node.isVerbatim { return try check(at(node.position, plus: 1)) }
        do {
            return try check(nil)
        } catch var error as HopError {
            error.location = at(node.position)
            throw error
        }
    }

    func unknownTopLevel(_ entry: TOMLEntry) -> HopError {
        let sections = hop3Sections.map { "[\($0)]" }.joined(separator: ", ")
        if case .table = entry.node.value {
            let suggestion = closestName(to: entry.key, among: hop3Sections).map { "rename it to `[\($0)]`; " } ?? "remove it; "
            return HopError.invalid("unknown section `[\(entry.key)]` in hop3.toml", at: at(entry.keyPosition),
                                    hint: suggestion + "the sections hop3.toml accepts are \(sections)")
        }
        if let home = hop3Sections.first(where: { hop3SectionKeys[$0]?.contains(entry.key) == true }) {
            return HopError.invalid("`\(entry.key)` is outside any section", at: at(entry.keyPosition),
                                    hint: "move it below a `[\(home)]` header")
        }
        return HopError.invalid("unknown top-level key `\(entry.key)` in hop3.toml", at: at(entry.keyPosition),
                                hint: "put keys inside one of the sections \(sections)")
    }

    func checkKeys(_ table: TOMLTable, section: String, allowed: [String]) throws {
        for entry in table.entries where !allowed.contains(entry.key) {
            let list = allowed.map { "`\($0)`" }.joined(separator: ", ")
            let fix = closestName(to: entry.key, among: allowed).map { "did you mean `\($0)`? Rename it; " } ?? "remove it; "
            throw HopError.invalid("unknown key `\(entry.key)` in [\(section)]", at: at(entry.keyPosition),
                                   hint: fix + "the keys [\(section)] accepts are \(list)")
        }
    }

    func wrongType(_ entry: TOMLEntry, in section: String, expected: String, node: TOMLNode? = nil, hint: String) -> HopError {
        let node = node ?? entry.node
        let subject = node == entry.node ? "`[\(section)] \(entry.key)` must be" : "each element of `[\(section)] \(entry.key)` must be"
        return HopError.invalid("\(subject) \(expected), found \(node.value.typeName)", at: at(node.position), hint: hint)
    }

    func string(_ entry: TOMLEntry, in section: String) throws -> String {
        guard case .string(let s) = entry.node.value else {
            throw wrongType(entry, in: section, expected: "a string", hint: "put the value in quotes: `\(entry.key) = \"…\"`")
        }
        return s
    }

    /// A string or an array of strings (commands, patterns): one string is a list of one.
    func stringList(_ entry: TOMLEntry, in section: String) throws -> [(String, TOMLNode)] {
        let hint = "write a string or an array of strings: `\(entry.key) = [\"…\", \"…\"]`"
        switch entry.node.value {
        case .string(let s):
            return [(s, entry.node)]
        case .array(let items):
            return try items.map { item in
                guard case .string(let s) = item.value else {
                    throw wrongType(entry, in: section, expected: "a string", node: item, hint: hint)
                }
                return (s, item)
            }
        default:
            throw wrongType(entry, in: section, expected: "a string or an array of strings", hint: hint)
        }
    }

    func stringArray(_ entry: TOMLEntry, in section: String) throws -> [(String, TOMLNode)] {
        let hint = "write an array of strings: `\(entry.key) = [\"…\", \"…\"]`"
        guard case .array(let items) = entry.node.value else {
            throw wrongType(entry, in: section, expected: "an array of strings", hint: hint)
        }
        return try items.map { item in
            guard case .string(let s) = item.value else {
                throw wrongType(entry, in: section, expected: "a string", node: item, hint: hint)
            }
            return (s, item)
        }
    }

    func positiveInt(_ entry: TOMLEntry, in section: String, max: Int64 = Int64(Int32.max)) throws -> Int {
        guard case .integer(let n) = entry.node.value else {
            throw wrongType(entry, in: section, expected: "a positive integer",
                            hint: "write a whole number without quotes: `\(entry.key) = 3`")
        }
        guard n > 0, n <= max else {
            throw HopError.invalid("`[\(section)] \(entry.key)` must be between 1 and \(max), found \(n)", at: at(entry.node.position),
                                   hint: "write a whole number from 1 to \(max)")
        }
        return Int(n)
    }

    func positiveSeconds(_ entry: TOMLEntry, in section: String) throws -> Double {
        let seconds: Double
        switch entry.node.value {
        case .integer(let n): seconds = Double(n)
        case .float(let f): seconds = f
        default:
            throw wrongType(entry, in: section, expected: "a number of seconds",
                            hint: "write a number without quotes: `\(entry.key) = 5` (seconds)")
        }
        guard seconds > 0, seconds.isFinite, seconds <= 86_400 else {
            throw HopError.invalid("`[\(section)] \(entry.key)` must be a positive number of seconds (at most 86400), found \(seconds)",
                                   at: at(entry.node.position), hint: "write a positive number of seconds, e.g. `\(entry.key) = 5`")
        }
        return seconds
    }

    /// `[php]`: `extensions` (names hop's PHP seed has), `ini` (a table of php.ini settings: plain
    /// names, one-line values), `deny` (paths under the document root), `workers` (PHP-FPM children).
    func readPHP(_ table: TOMLTable) throws -> PHPSettings {
        var php = PHPSettings()
        if let e = table["extensions"] {
            php.extensions = try stringArray(e, in: "php").map { name, node in
                let n = name.lowercased()
                guard phpModuleExtensions.contains(n) || phpBuiltinExtensions.contains(n) else {
                    let fix = closestName(to: n, among: phpModuleExtensions + phpBuiltinExtensions).map { "did you mean `\($0)`? " } ?? ""
                    throw HopError.invalid("`[php] extensions`: hop's PHP has no extension `\(printableScalars(name))`", at: at(node.position),
                                           hint: fix + "hop's PHP 8.2 has " + phpModuleExtensions.joined(separator: ", "))
                }
                return n
            }
        }
        if let e = table["ini"] {
            let t = try self.table(e, in: "php")
            for setting in t.entries {
                guard setting.key.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "." || $0 == "_" }),
                      !setting.key.isEmpty, !["extension", "zend_extension", "extension_dir"].contains(setting.key) else {
                    throw HopError.invalid("`[php.ini]` key `\(printableScalars(setting.key))` is not a php.ini setting hop passes on", at: at(setting.keyPosition),
                                           hint: "use setting names such as `memory_limit` or `upload_max_filesize`; load extensions with `[php] extensions`")
                }
                let value: String
                switch setting.node.value {
                case .string(let v): value = v
                case .integer(let i): value = String(i)
                case .bool(let b): value = b ? "On" : "Off"
                default: throw wrongType(setting, in: "php.ini", expected: "a string, an integer or a boolean", hint: "e.g. `memory_limit = \"256M\"`")
                }
                guard !value.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\"" || $0 == "\0" }) else {
                    throw HopError.invalid("`[php.ini] \(setting.key)` holds a line break or a quote", at: at(setting.node.position),
                                           hint: "php.ini values are one line, without `\"`")
                }
                php.ini.append(EnvVar(setting.key, value))
            }
        }
        if let e = table["deny"] {
            php.deny = try stringArray(e, in: "php").map { value, node in
                try checkRelativePath(value, node: node, what: "`[php] deny` entry")
            }
        }
        if let e = table["workers"] { php.workers = try positiveInt(e, in: "php", max: 256) }
        return php
    }

    func checkRelativePath(_ path: String, node: TOMLNode, what: String) throws -> String {
        if let problem = relativePathProblem(path) {
            throw HopError.invalid("\(what) `\(path)` \(problem)", at: at(node.position),
                                   hint: "write a path relative to the app directory, without `..`, spaces or quotes, e.g. `data/uploads`")
        }
        return path
    }

    /// Text that becomes one line (a pip requirement, an ignore pattern): no control characters.
    func checkLine(_ text: String, node: TOMLNode, what: String) throws -> String {
        if text.isEmpty || text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw HopError.invalid("\(what) `\(text)` must be a non-empty single line", at: at(node.position),
                                   hint: "write one item per array element, without newlines or control characters")
        }
        return text
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

    func readMetadata(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            if entry.key == "categories" || entry.key == "tags" {
                _ = try stringArray(entry, in: "metadata")
                continue
            }
            let value = try string(entry, in: "metadata")
            switch entry.key {
            case "id":
                document.spec.metadata.id = try inside(entry.node) { try validateAppName(value, at: $0) }
            case "version": document.spec.metadata.version = value
            case "title": document.spec.metadata.title = value
            case "description": document.spec.metadata.description = value
            case "license": document.spec.metadata.license = value
            case "homepage": document.spec.metadata.homepage = value
            default: break  // author, name, categories, tags: catalogue information
            }
        }
    }

    func readBuild(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            switch entry.key {
            case "builder":
                let name = try string(entry, in: "build")
                // Hop3's builders: `auto`/`local` mean "detect from the tree (and [build] toolchain)".
                if name == "auto" || name == "local" { continue }
                if name == "docker" {
                    throw HopError.invalid("hop does not build Dockerfiles (`[build] builder = \"docker\"`)", at: at(entry.node.position),
                                           hint: "use a toolchain builder (python, node, go, static, shell) or `nix`; see docs/hop3-compat.md")
                }
                guard let builder = Builder(rawValue: name) else {
                    let all = Builder.allCases.map(\.rawValue)
                    let fix = closestName(to: name, among: all).map { "did you mean `\($0)`? " } ?? ""
                    throw HopError.invalid("unknown builder `\(name)` in `[build] builder`", at: at(entry.node.position),
                                           hint: fix + "use one of " + all.map { "`\($0)`" }.joined(separator: ", "))
                }
                document.builder = builder
            case "toolchain":
                let value = try string(entry, in: "build")
                if value.isEmpty || !value.unicodeScalars.allSatisfy(isToolchainScalar) {
                    throw HopError.invalid("`[build] toolchain` `\(value)` is not a toolchain name", at: at(entry.node.position),
                                           hint: "write a name such as `python3.12` or `nodejs_20` (letters, digits, `.`, `_`, `-`, `+`)")
                }
                document.spec.build.toolchain = value
                // Hop3 names the toolchain where hop names the builder.
                if document.builder == nil, let b = Builder(rawValue: value == "nodejs" ? "node" : value) { document.toolchainBuilder = b }
                if ["rust", "java", "clojure", "elixir"].contains(value) {
                    throw HopError.invalid("hop has no `\(value)` toolchain yet (`[build] toolchain`)", at: at(entry.node.position),
                                           hint: "hop builds python, node, go, php, ruby, static and shell apps, or a [nix] file; see docs/hop3-compat.md")
                }
            case "after-build":
                document.spec.build.build += try stringList(entry, in: "build").map(\.0)
            case "static-dir", "test", "node-version":
                _ = try stringList(entry, in: "build")
            case "before-build":
                document.spec.build.beforeBuild = try stringList(entry, in: "build").map(\.0)
            case "build":
                document.spec.build.build = try stringList(entry, in: "build").map(\.0)
            case "packages":
                document.spec.build.packages = try stringList(entry, in: "build").map { name, node in
                    guard isPackageName(name) else {
                        throw HopError.invalid("`[build] packages` entry `\(name)` is not a package name", at: at(node.position),
                                               hint: "write package names such as `busybox` or `openssl` (letters, digits, `.`, `_`, `-`, `+`)")
                    }
                    return name
                }
            case "pip-install":
                document.spec.build.pipInstall = try stringList(entry, in: "build").map {
                    try checkLine($0, node: $1, what: "`[build] pip-install` entry")
                }
            default:  // "ignore"
                document.spec.build.ignore = try stringList(entry, in: "build").map {
                    try checkLine($0, node: $1, what: "`[build] ignore` pattern")
                }
            }
        }
    }

    func readRun(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            switch entry.key {
            case "start":
                let command = try string(entry, in: "run")
                guard !command.allSatisfy(\.isWhitespace) else {
                    throw HopError.invalid("`[run] start` is empty", at: at(entry.node.position),
                                           hint: "write the command that starts the app's web server, e.g. `start = \"./serve --port $PORT\"`")
                }
                document.spec.run.start = command
                document.startLocation = at(entry.keyPosition)
            case "before-run":
                document.spec.run.beforeRun = try stringList(entry, in: "run").map(\.0)
            case "start-timeout":
                document.legacyStartTimeout = try positiveSeconds(entry, in: "run")
            case "healthcheck-timeout":
                _ = try positiveSeconds(entry, in: "run")
            case "packages":
                _ = try stringList(entry, in: "run")
            case "static":
                // Hop3's legacy place for [static]: used when [static] is absent.
                document.legacyStatic = try readStatic(try self.table(entry, in: "run"))
                document.warnings.append(Hop3Warning(message: "`[run] static` is Hop3's legacy spelling; read as [static] (which wins when present)",
                                                     location: at(entry.keyPosition)))
            case "healthcheck":
                let path = try string(entry, in: "run")
                guard path.hasPrefix("/"), !path.contains(where: { $0.isWhitespace }) else {
                    throw HopError.invalid("`[run] healthcheck` `\(printableScalars(path))` is not a URL path", at: at(entry.node.position), hint: "e.g. \"/health\"")
                }
                document.legacyHealthPath = path
                document.warnings.append(Hop3Warning(message: "`[run] healthcheck` is Hop3's legacy spelling; read as [healthcheck] path (which wins when present)",
                                                     location: at(entry.keyPosition)))
            default:  // "workers"
                guard case .table(let workers) = entry.node.value else {
                    throw wrongType(entry, in: "run", expected: "a table of process name = count",
                                    hint: "write `workers = { web = 2 }`, or a `[run.workers]` section with `web = 2`")
                }
                for worker in workers.entries {
                    try checkProcessName(worker.key, at: worker.keyPosition, what: "`[run.workers]` name")
                    // Hop3: `name = "command"` declares a process; hop: `name = N` sets an instance count.
                    if case .string = worker.node.value {
                        let command = try string(worker, in: "run.workers")
                        guard !command.allSatisfy(\.isWhitespace) else {
                            throw HopError.invalid("`[run.workers] \(worker.key)` is empty", at: at(worker.node.position), hint: "write the command that runs it")
                        }
                        document.workerProcesses.append((worker.key, command))
                        continue
                    }
                    document.spec.run.workers[worker.key] = try positiveInt(worker, in: "run.workers", max: Int64(AppBounds.maxInstancesPerProcess))
                    document.workerLocations.append((worker.key, at(worker.keyPosition)))
                }
            }
        }
    }

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
                warn("`[env] \(entry.key)` is ignored: hop does not resolve Hop3's app-fact references yet; hop sets HOP_APP and HOST_NAME itself",
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

    func readPorts(_ table: TOMLTable) throws -> [String: Int] {
        var ports: [String: Int] = [:]
        for entry in table.entries {
            try checkProcessName(entry.key, at: entry.keyPosition, what: "`[port]` name")
            var portEntry = entry
            if case .table(let sub) = entry.node.value {
                try checkKeys(sub, section: "port.\(entry.key)", allowed: ["container", "public", "https"])
                for key in ["public", "https"] where sub[key] != nil {
                    warn("`[port.\(entry.key)] \(key)` is ignored: hop publishes every web process through nginx (HTTPS with `hop host up --https-port`)",
                         at: sub[key]!.keyPosition)
                }
                guard let container = sub["container"] else {
                    throw HopError.invalid("`[port.\(entry.key)]` has no `container` port", at: at(entry.keyPosition),
                                           hint: "add `container = 8000` (the port the process listens on), or write `\(entry.key) = 8000` under `[port]`")
                }
                portEntry = container
            }
            guard case .integer(let n) = portEntry.node.value else {
                throw wrongType(portEntry, in: portEntry == entry ? "port" : "port.\(entry.key)", expected: "a port number",
                                hint: "write the port without quotes: `\(entry.key) = 8000`")
            }
            guard (1...65535).contains(n) else {
                throw HopError.invalid("port \(n) for `\(entry.key)` is out of range", at: at(portEntry.node.position),
                                       hint: "use a port number from 1 to 65535, e.g. `\(entry.key) = 8000`")
            }
            ports[entry.key] = Int(n)
        }
        return ports
    }

    func readHealthCheck(_ table: TOMLTable) throws -> HealthCheck {
        var check = HealthCheck()
        for entry in table.entries {
            switch entry.key {
            case "path":
                let path = try string(entry, in: "healthcheck")
                guard path.hasPrefix("/") else {
                    throw HopError.invalid("`[healthcheck] path` `\(path)` does not start with `/`", at: at(entry.node.position),
                                           hint: "write the URL path the check requests, starting with `/`: `path = \"/\(path)\"`")
                }
                if let bad = path.unicodeScalars.first(where: { $0.value <= 0x20 || $0.value == 0x7F || $0 == "\"" || $0 == "\\" }) {
                    throw HopError.invalid("`[healthcheck] path` contains \(describeScalar(bad))", at: at(entry.node.position),
                                           hint: "percent-encode it (a space is `%20`)")
                }
                check.path = path
            case "status":
                let status = try positiveInt(entry, in: "healthcheck", max: 599)
                guard status >= 100 else {
                    throw HopError.invalid("`[healthcheck] status` \(status) is not an HTTP status", at: at(entry.node.position),
                                           hint: "write the status the health path answers, e.g. `status = 200` or `status = 204`")
                }
                check.status = status
            case "contains": check.contains = try string(entry, in: "healthcheck")
            case "interval": check.interval = try positiveSeconds(entry, in: "healthcheck")
            case "timeout": check.timeout = try positiveSeconds(entry, in: "healthcheck")
            case "start-timeout": check.startTimeout = try positiveSeconds(entry, in: "healthcheck")
            default: check.retries = try positiveInt(entry, in: "healthcheck", max: 1000)
            }
        }
        return check
    }

    func readStatic(_ table: TOMLTable) throws -> [String: String] {
        var paths: [String: String] = [:]
        for entry in table.entries {
            if let problem = urlPrefixProblem(entry.key) {
                throw HopError.invalid("`[static]` URL prefix `\(entry.key)` \(problem)", at: at(entry.keyPosition),
                                       hint: "write a quoted URL prefix then the directory: `\"/assets\" = \"public/assets\"`")
            }
            let directory = try string(entry, in: "static")
            paths[entry.key] = try checkRelativePath(directory, node: entry.node, what: "`[static]` directory")
        }
        return paths
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

    func readLimits(_ table: TOMLTable) throws -> Limits {
        var limits = Limits()
        for entry in table.entries {
            switch entry.key {
            case "memory":
                let hint = "write a size such as `memory = \"512M\"` or `\"2G\"` (digits then K, M, G or T)"
                switch entry.node.value {
                case .integer(let n) where n > 0: limits.memory = String(n)
                case .string(let s):
                    guard isMemorySize(s) else {
                        throw HopError.invalid("`[limits] memory` `\(s)` is not a size", at: at(entry.node.position), hint: hint)
                    }
                    limits.memory = s
                default:
                    throw wrongType(entry, in: "limits", expected: "a size string", hint: hint)
                }
            case "cpu" where entry.node.value.typeName != "string":
                // Hop3 writes CPUs as a number (0.5, 2); hop's quota is a percentage of one CPU.
                let cpus: Double
                switch entry.node.value {
                case .integer(let n): cpus = Double(n)
                case .float(let f): cpus = f
                default: throw wrongType(entry, in: "limits", expected: "a number of CPUs or a percentage string", hint: "e.g. cpu = 0.5 or cpu = \"50%\"")
                }
                guard cpus > 0, cpus <= 1024 else {
                    throw HopError.invalid("`[limits] cpu` must be more than 0 CPUs", at: at(entry.node.position), hint: "e.g. cpu = 0.5")
                }
                limits.cpu = "\(Int((cpus * 100).rounded()))%"
            case "cpu":
                let value = try string(entry, in: "limits")
                guard value.hasSuffix("%"), let n = Int(value.dropLast()), n > 0, value.first != "+" else {
                    throw HopError.invalid("`[limits] cpu` `\(value)` is not a CPU quota", at: at(entry.node.position),
                                           hint: "write a percentage of one CPU: `cpu = \"50%\"`, or `\"200%\"` for two CPUs")
                }
                limits.cpu = value
            case "disk":
                let hint = "write a size such as `disk = \"512M\"` or `\"2G\"` (digits then K, M, G or T), at least 16M"
                let text: String
                switch entry.node.value {
                case .integer(let n): text = String(n)
                case .string(let s): text = s
                default: throw wrongType(entry, in: "limits", expected: "a size string", hint: hint)
                }
                guard let bytes = DiskSize.bytes(text) else {
                    throw HopError.invalid("`[limits] disk` `\(text)` is not a size", at: at(entry.node.position), hint: hint)
                }
                guard bytes >= DiskSize.minimum, bytes <= DiskSize.maximum else {
                    throw HopError.invalid("`[limits] disk` `\(text)` is \(bytes < DiskSize.minimum ? "below 16M" : "above 64T")",
                                           at: at(entry.node.position), hint: hint)
                }
                limits.disk = text
            default:
                limits.processes = try positiveInt(entry, in: "limits", max: 1_000_000)
            }
        }
        return limits
    }

    func readNix(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            if hop3NixTemplateKeys.contains(entry.key) { continue }  // warned about by the section check
            if entry.key == "file" {
                let path = try string(entry, in: "nix")
                document.spec.nixFile = try checkRelativePath(path, node: entry.node, what: "`[nix] file`")
            } else {
                document.spec.nixPackages = try stringArray(entry, in: "nix").map { name, node in
                    guard isNixAttributePath(name) else {
                        throw HopError.invalid("`[nix] packages` entry `\(name)` is not a Nix attribute name", at: at(node.position),
                                               hint: "write attribute names such as `ffmpeg` or `python3Packages.numpy`")
                    }
                    return name
                }
            }
        }
    }

    func checkProcessName(_ name: String, at position: TOMLPosition, what: String) throws {
        guard isProcessName(name) else {
            throw HopError.invalid("\(what) `\(name)` is not a process name", at: at(position),
                                   hint: "use a process name: lowercase letters, digits, `-` and `_`, starting with a letter (e.g. `web`, `worker`)")
        }
    }
}
