import AppSpec
import HopBasics

/// One process type of one generation, as the runtime runs it.
public struct RuntimeProcess: Sendable, Hashable {
    public var name: String
    public var kind: ProcessKind
    /// Absolute launcher path inside the app's closure (e.g. /nix/store/…-app/bin/web).
    public var launcher: String
    /// How many instances (`hop scale`); each is a templated unit instance `@1`, `@2`, …
    public var instances: Int
    public init(name: String, kind: ProcessKind, launcher: String, instances: Int) {
        self.name = name; self.kind = kind; self.launcher = launcher; self.instances = instances
    }
}

/// How a generation's web process is reached by nginx.
public enum Upstream: Sendable, Hashable {
    /// A unix socket at a fixed path that is a symlink to the current generation's socket, so a
    /// switch needs no nginx reload.
    case socket(path: String)
    /// Processes that bind TCP `$PORT` (from this port on, one per instance) inside the app's network
    /// namespace; nginx reaches them through hop's proxy sockets (`GenerationSpec.proxyLinks`).
    case tcp(port: Int)
    /// No app process serves HTTP: nginx serves `siteRoot` itself (a static site).
    case none
}

/// Everything the renderers need for one app generation: pure values, validated before use.
public struct GenerationSpec: Sendable, Hashable {
    public var app: String
    public var generation: Int
    /// The app build's output path (closure root).
    public var outPath: String
    public var processes: [RuntimeProcess]
    /// Root-only EnvironmentFile outside /nix/store (config values, secrets).
    public var environmentFile: String
    public var limits: Limits
    public var upstream: Upstream
    /// Where the web process listens when it uses a socket: the generation's own socket path.
    public var socketPath: String?
    /// Server names from `[domains]`; empty means a catch-all on the listen address.
    public var domains: [String]
    /// URL prefix → absolute directory inside the closure, served by nginx directly.
    public var staticPaths: [String: String]
    /// When set, `location /` serves files from this directory (a static site; upstream `.none`).
    public var siteRoot: String?
    /// Request body limit for nginx, e.g. "10m".
    public var clientMaxBodySize: String
    /// nginx listen port (80 on a real host; a high port in tests).
    public var listenPort: Int
    /// `[[volumes]]`, mounted into every process.
    public var volumes: [Volume] = []
    /// For `.tcp`: the fixed socket paths nginx connects to, one per web instance (symlinks hop
    /// renames to the serving generation's proxy sockets, so a switch needs no reload).
    public var proxyLinks: [String] = []
    /// A PHP app: nginx serves `documentRoot` (through `current`), runs `*.php` over FastCGI on the
    /// upstream, and refuses the `deny` paths under it.
    public var php: PHPSite?

    public init(app: String, generation: Int, outPath: String, processes: [RuntimeProcess], environmentFile: String,
                limits: Limits = Limits(), upstream: Upstream, socketPath: String? = nil, domains: [String] = [],
                staticPaths: [String: String] = [:], siteRoot: String? = nil, clientMaxBodySize: String = "10m", listenPort: Int = 80) {
        self.app = app; self.generation = generation; self.outPath = outPath; self.processes = processes
        self.environmentFile = environmentFile; self.limits = limits; self.upstream = upstream; self.socketPath = socketPath
        self.domains = domains; self.staticPaths = staticPaths; self.siteRoot = siteRoot; self.clientMaxBodySize = clientMaxBodySize; self.listenPort = listenPort
    }
}

/// How nginx serves a PHP app.
public struct PHPSite: Sendable, Hashable {
    public var documentRoot: String
    public var deny: [String]
    public init(documentRoot: String, deny: [String] = []) { self.documentRoot = documentRoot; self.deny = deny }
}
