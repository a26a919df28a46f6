import HopBasics

/// Which recipe builds the app. Chosen by `[build] builder`, or autodetected from the tree.
public enum Builder: String, Sendable, Hashable, CaseIterable, Codable {
    case python, node, go, `static`, nix, shell, php, ruby
}

/// Where the app's metadata came from.
public enum MetadataSource: String, Sendable, Hashable, Codable {
    case hop3toml = "hop3.toml"
    case procfile = "Procfile"
    case autodetected
}

/// One kind of process the app runs (from `Procfile` or `[run]`).
public enum ProcessKind: Sendable, Hashable, Codable {
    /// Binds `$PORT` (or hop's socket) and serves HTTP.
    case web
    /// A WSGI callable (`module:app`) that hop serves with a WSGI server.
    case wsgi
    /// A directory served by the front proxy directly.
    case `static`
    /// A command on a schedule: five cron fields then the command.
    case cron(schedule: String)
    /// Runs once per deploy before the new generation starts.
    case release
    /// Any other long-running process.
    case daemon
    /// PHP served by PHP-FPM behind nginx (FastCGI); the command is the document root, relative
    /// to the app (`php: public`).
    case php
}

extension ProcessKind {
    /// The process serves the app's HTTP through nginx (`web`, `wsgi`, `php`); an app has one.
    public var servesHTTP: Bool {
        switch self {
        case .web, .wsgi, .php: return true
        case .static, .cron, .release, .daemon: return false
        }
    }

    /// Runs as long-lived instances (one by default); release and cron run once, static not at all.
    public var isLongRunning: Bool {
        switch self {
        case .web, .wsgi, .daemon, .php: return true
        case .release, .cron, .static: return false
        }
    }

    /// The kind as a Procfile names it (`cron` without its schedule).
    public var name: String {
        switch self {
        case .web: return "web"
        case .wsgi: return "wsgi"
        case .static: return "static"
        case .cron: return "cron"
        case .release: return "release"
        case .daemon: return "daemon"
        case .php: return "php"
        }
    }
}

public struct AppProcess: Sendable, Hashable, Codable {
    public var name: String
    public var kind: ProcessKind
    public var command: String
    public init(name: String, kind: ProcessKind, command: String) {
        self.name = name; self.kind = kind; self.command = command
    }
}

public struct Metadata: Sendable, Hashable, Codable {
    public var id: String?
    public var version: String?
    public var title: String?
    public var description: String?
    public var license: String?
    public var homepage: String?
    public init(id: String? = nil, version: String? = nil, title: String? = nil, description: String? = nil,
                license: String? = nil, homepage: String? = nil) {
        self.id = id; self.version = version; self.title = title; self.description = description
        self.license = license; self.homepage = homepage
    }
}

public struct BuildSection: Sendable, Hashable, Codable {
    public var builder: Builder
    /// Toolchain version request, e.g. "python3.11"; nil means the toolchain set's default.
    public var toolchain: String?
    public var beforeBuild: [String] = []
    public var build: [String] = []
    /// Extra toolchain packages by name (e.g. "busybox").
    public var packages: [String] = []
    /// Python requirement lines added to requirements.txt's (pip syntax).
    public var pipInstall: [String] = []
    /// Gitignore-style patterns left out of the source archive.
    public var ignore: [String] = []
    public init(builder: Builder) { self.builder = builder }
}

public struct RunSection: Sendable, Hashable, Codable {
    public var start: String?
    public var beforeRun: [String] = []
    /// Instances per process name.
    public var workers: [String: Int] = [:]
    public init() {}
}

public struct HealthCheck: Sendable, Hashable, Codable {
    public var path: String = "/"
    /// The exact status the check expects; nil accepts 200–399.
    public var status: Int?
    public var contains: String?
    public var interval: Double = 1
    public var timeout: Double = 5
    public var retries: Int = 10
    /// How long the app may take to start listening before the gate gives up (Hop3's `[run]
    /// start-timeout`); nil means 60 s. Optional so manifests written before it decode.
    public var startTimeout: Double?
    public init() {}

    /// The default start window: an app compiling or migrating at start gets a minute.
    public static let defaultStartTimeout: Double = 60
}

public struct Limits: Sendable, Hashable, Codable {
    /// systemd size syntax, e.g. "512M".
    public var memory: String?
    /// systemd CPUQuota syntax, e.g. "50%".
    public var cpu: String?
    public var processes: Int?
    /// `[limits] disk`: the size of the app's state (volumes included) as written, e.g. "512M";
    /// enforced by a per-app file system image (see `DiskSize`). nil: unbounded.
    public var disk: String?
    public init() {}
}

/// A `[limits] disk` size: digits then K, M, G or T (powers of 1024), or a number of bytes.
public enum DiskSize {
    /// The smallest limit hop accepts: below it ext4's own journal and tables leave almost nothing.
    public static let minimum: Int64 = 16 << 20
    /// The largest: an image is a sparse file, but a typo should not ask for an exabyte.
    public static let maximum: Int64 = 64 << 40

    /// Bytes for a size string, nil when it is not one (or overflows).
    public static func bytes(_ text: String) -> Int64? {
        var digits = Substring(text)
        var shift: Int64 = 0
        if let last = digits.last, let i = "KMGT".firstIndex(of: last) {
            shift = Int64(10 * ("KMGT".distance(from: "KMGT".startIndex, to: i) + 1))
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(digits) else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: Int64(1) << shift)
        return overflow ? nil : v
    }

    /// `32 MiB`, `1.5 GiB`: a size for messages.
    public static func describe(_ bytes: Int64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes), i = 0
        while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
        if i == 0 { return "\(bytes) bytes" }
        return (v == v.rounded() ? "\(Int(v))" : String(format: "%.1f", v)) + " " + units[i]
    }
}

/// A validated description of an app: what to build and how to run it. Pure values, no I/O.
public struct AppSpec: Sendable, Hashable, Codable {
    public var name: String
    public var source: MetadataSource
    public var metadata = Metadata()
    public var build: BuildSection
    public var run = RunSection()
    public var processes: [AppProcess] = []
    /// Procfile hooks: prebuild, postbuild, prerun (command per hook name).
    public var hooks: [String: String] = [:]
    /// Ordered `[env]` pairs.
    public var env: [EnvVar] = []
    /// `[port]` name → port number (e.g. web = 8000).
    public var ports: [String: Int] = [:]
    public var healthcheck: HealthCheck?
    /// URL prefix → directory in the app tree.
    public var staticPaths: [String: String] = [:]
    public var domains: [String] = []
    /// `[backup]` paths (relative to the app's state directory).
    public var backupPaths: [String] = []
    /// `[backup]` exclude patterns, schedule, retention, before-deploy and target (optional so
    /// older build records still decode).
    public var backupExclude: [String]?
    public var backupSchedule: String?
    public var backupKeep: String?
    public var backupBeforeDeploy: Bool?
    /// `[deploy] require-signed`: serve only builds whose provenance a trusted key signed and whose
    /// closure re-hashes to what it says.
    public var requireSigned: Bool?
    public var backupTarget: String?
    public var limits = Limits()
    /// `[nix]` options: `packages` extra attribute names, `file` the app's own expression.
    public var nixPackages: [String] = []
    public var nixFile: String?
    /// `[[volumes]]`: directories that outlive every generation, mounted at `target` (relative to the
    /// app directory) in every process. Optional so build records written before volumes still decode.
    public var volumes: [Volume]?
    /// `[[addons]]`: backing services provisioned on the first deploy and attached to the app.
    public var addons: [AddonDeclaration]?
    /// `[env]` values hop makes and keeps secret (never in the build): generated once, taken from an
    /// addon, or computed from other variables. Optional so older build records still decode.
    public var secretEnv: [SecretEnv]?
    /// `[php]`: PHP settings for a php app (optional so older build records still decode).
    public var php: PHPSettings?

    public init(name: String, source: MetadataSource, builder: Builder) {
        self.name = name
        self.source = source
        self.build = BuildSection(builder: builder)
    }
}

public struct EnvVar: Sendable, Hashable, Codable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// A `[[volumes]]` entry: `name` (the directory hop keeps, `/var/lib/hop-apps/<app>/volumes/<name>`)
/// and `target` (where the app sees it, relative to the app directory, e.g. `data/uploads`).
public struct Volume: Sendable, Hashable, Codable {
    public var name: String
    public var target: String
    public init(name: String, target: String) { self.name = name; self.target = target }
}

/// An `[[addons]]` entry: `type` (`postgres`), `name` (the addon; default `<app>-<type>`) and, for
/// PostgreSQL, `extensions` created in its database.
public struct AddonDeclaration: Sendable, Hashable, Codable {
    public var type: String
    public var name: String?
    public var extensions: [String]
    public init(type: String, name: String?, extensions: [String] = []) { self.type = type; self.name = name; self.extensions = extensions }
}

/// An `[env]` value that is not written in the file: `{ generate = "hex"|"base64"|"password"|"uuid",
/// length = N }` (made once, kept sealed, stable across deploys), `{ from = "ADDON", key = "VAR" }`
/// (an attached addon's variable) or an `[env.computed]` template with `${VAR}` references.
public struct SecretEnv: Sendable, Hashable, Codable {
    public enum Kind: Sendable, Hashable, Codable {
        case generate(style: String, length: Int)
        case from(addon: String, key: String)
        case computed(template: String)
    }
    public var name: String
    public var kind: Kind
    public init(name: String, kind: Kind) { self.name = name; self.kind = kind }
}

/// `[php]` of hop3.toml: the extensions to load (default: every extension of hop's PHP seed), php.ini
/// settings, paths under the document root nginx refuses (403), and PHP-FPM's worker count.
public struct PHPSettings: Sendable, Hashable, Codable {
    public var extensions: [String]?
    /// php.ini name → value, in file order.
    public var ini: [EnvVar] = []
    public var deny: [String] = []
    public var workers: Int?
    public init() {}
}

/// The extensions of hop's PHP seed (Debian 12's php8.2 with php8.2-{bcmath,curl,gd,intl,mbstring,mysql,
/// opcache,pgsql,sqlite3,xml,zip}), and those compiled into the php binary. `ext-NAME` requirements
/// of composer.json and `[php] extensions` are checked against these.
public let phpModuleExtensions = ["bcmath", "calendar", "ctype", "curl", "dom", "exif", "ffi", "fileinfo", "ftp", "gd", "gettext", "iconv",
                                  "intl", "mbstring", "mysqli", "mysqlnd", "opcache", "pdo", "pdo_mysql", "pdo_pgsql", "pdo_sqlite", "pgsql",
                                  "phar", "posix", "readline", "shmop", "simplexml", "sockets", "sqlite3", "sysvmsg", "sysvsem", "sysvshm",
                                  "tokenizer", "xml", "xmlreader", "xmlwriter", "xsl", "zip"]
public let phpBuiltinExtensions = ["core", "date", "filter", "hash", "json", "libxml", "openssl", "pcntl", "pcre", "random", "reflection",
                                   "session", "sodium", "spl", "standard", "zend-opcache", "zlib"]

/// What one app may start: enough for any real app, few enough that one tenant cannot exhaust
/// the host's PIDs or memory by metadata alone (each instance is also bounded by its unit's limits).
public enum AppBounds {
    public static let maxInstancesPerProcess = 16
    public static let maxInstancesPerApp = 32
    public static let maxProcessTypes = 16
}
