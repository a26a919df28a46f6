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
    // Every section is read even when one is wrong: all their errors are reported at once (at most 20).
    var errors: [HopError] = []
    for entry in root.entries where errors.count < 20 {
        do {
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
        } catch let e as HopError {
            errors.append(e)
        }
    }
    if let e = HopError.collected(errors) { throw e }
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
}
