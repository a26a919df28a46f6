import Foundation
import AppSpec
import HopBasics
import NixBuild

/// Paths of one app as its services see them. `/run/hop/<app>` holds the symlinks hop swaps with
/// rename(2): `current` (the serving generation's store path), and `web.sock` (a `wsgi:` socket)
/// or `web-<i>.sock` (the proxy socket of `web:` instance i).
public struct AppRuntimePaths: Sendable, Hashable {
    public let app: String
    public init(app: String) { self.app = app }
    public var directory: String { "/run/hop/\(app)" }
    public var current: String { directory + "/current" }
    public var socketLink: String { directory + "/web.sock" }
    public func generationDirectory(_ n: Int) -> String { directory + "/g\(n)" }
    public func socket(_ n: Int) -> String { generationDirectory(n) + "/web.sock" }
    /// The unix socket systemd listens on for TCP instance `i` (from 1) of generation `n`.
    public func proxySocket(_ n: Int, instance i: Int) -> String { generationDirectory(n) + "/web-\(i).sock" }
    /// The fixed path nginx connects to for instance `i`: a symlink to the serving generation's.
    public func proxyLink(instance i: Int) -> String { directory + "/web-\(i).sock" }
    /// Where the app's state may be, as the service host sees it (systemd moves a dynamic user's
    /// state under /var/lib/private and links it back).
    public var stateDirectories: [String] { ["/var/lib/private/" + UnitNames.stateDirectory(app: app), UnitNames.stateRoot + "/" + app] }
    /// Where the app's cache directory (its HOME) may be, likewise: disposable, removed by `destroy`.
    public var cacheDirectories: [String] { ["/var/cache/private/" + UnitNames.stateDirectory(app: app), UnitNames.cacheRoot + "/" + app] }
}

/// The units activation starts, by role (instance and socket names of one generation).
public struct GenerationUnits: Sendable, Codable, Hashable {
    /// Socket units, started first.
    public var sockets: [String]
    /// `release` instances: run once, must succeed, before the processes start.
    public var releases: [String]
    /// Long-running instances (web, wsgi, daemons), every instance of every process.
    public var instances: [String]
    /// Cron timers, started once the generation serves alone.
    public var timers: [String]
}

/// Everything one generation is made of, decided before anything runs: the build it runs, how
/// many instances of each process, the ports or socket it serves on, and where its config lives.
public struct GenerationPlan: Sendable {
    public var app: String
    public var number: Int
    public var buildID: Int64
    public var appPath: String
    public var spec: AppSpec
    /// Process name → instances (processes not named run one instance; static processes none).
    public var scale: [String: Int]
    /// First TCP port of the web process's instances (TCP apps only).
    public var basePort: Int?
    public var environmentFile: String
    public var listenPort: Int
    /// The TLS listener (certificate paths outside the store), when TLS is on.
    public var tls: NginxSite.TLS?

    public init(app: String, number: Int, buildID: Int64, appPath: String, spec: AppSpec, scale: [String: Int],
                basePort: Int?, environmentFile: String, listenPort: Int) {
        self.app = app; self.number = number; self.buildID = buildID; self.appPath = appPath; self.spec = spec
        self.scale = scale; self.basePort = basePort; self.environmentFile = environmentFile
        self.listenPort = listenPort
    }

    public var paths: AppRuntimePaths { AppRuntimePaths(app: app) }

    /// The process that serves HTTP (`web` or `wsgi`), if any.
    public var webProcess: AppProcess? { spec.processes.first { $0.kind.servesHTTP } }

    /// Processes that become units, with their instance counts.
    public var runtimeProcesses: [RuntimeProcess] {
        spec.processes.filter { $0.kind != .static }.sorted { $0.name < $1.name }.map { p in
            RuntimeProcess(name: p.name, kind: p.kind, launcher: appPath + "/bin/" + p.name,
                           instances: scale[p.name] ?? (p.kind.isLongRunning ? 1 : 0))
        }
    }

    /// `wsgi:` apps are served on a systemd-owned unix socket; `web:` apps bind TCP `$PORT`.
    public var upstream: Upstream {
        guard let web = webProcess else { return .none }
        if web.kind == .wsgi { return .socket(path: paths.socketLink) }
        return .tcp(port: basePort ?? 0)
    }

    /// The TCP ports of the web instances.
    public var ports: [Int] {
        guard case .tcp(let base) = upstream, let web = webProcess else { return [] }
        let n = scale[web.name] ?? 1
        return n > 0 ? Array(base..<(base + n)) : []
    }

    /// URL prefix → directory (as nginx sees it, through `current`); the `/` mapping of a
    /// `static:` process becomes the site root instead.
    var servedDirectories: (root: String?, prefixes: [String: String]) {
        var prefixes: [String: String] = [:]
        var root: String?
        let base = paths.current + "/app/app"
        func dir(_ d: String) -> String { Self.directory(d, under: base) }
        for p in spec.processes where p.kind == .static {
            let parts = p.command.split(separator: ":", maxSplits: 1).map(String.init)
            let (prefix, d) = parts.count == 2 ? (parts[0], parts[1]) : ("/", parts[0])
            if prefix == "/" { root = dir(d) } else { prefixes[prefix] = dir(d) }
        }
        for (prefix, d) in spec.staticPaths { if prefix == "/" { root = dir(d) } else { prefixes[prefix] = dir(d) } }
        return (root, prefixes)
    }

    /// The document root of a PHP app under `base` (the app directory, through `current` for nginx
    /// or the store path itself for the health probe); nil for other apps.
    func phpDocumentRoot(through base: String) -> String? {
        guard let p = webProcess, p.kind == .php else { return nil }
        return Self.directory(p.command, under: base + "/app")
    }

    /// A directory the app names relative to its tree (`public`, `./static/`), under `base`.
    static func directory(_ relative: String, under base: String) -> String {
        let clean = relative.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
        return clean.isEmpty ? base : base + "/" + clean
    }

    /// Server names: `[domains]`, or `<app>.localhost` when there are none.
    public var serverNames: [String] { spec.domains.isEmpty ? ["\(app).localhost"] : spec.domains }

    public var generationSpec: GenerationSpec {
        let served = servedDirectories
        var gs = GenerationSpec(app: app, generation: number, outPath: appPath, processes: runtimeProcesses,
                                environmentFile: environmentFile, limits: spec.limits, upstream: upstream,
                                socketPath: webProcess?.kind == .wsgi ? paths.socket(number) : nil,
                                domains: serverNames, staticPaths: served.prefixes,
                                siteRoot: webProcess == nil ? served.root : nil, listenPort: listenPort)
        gs.volumes = spec.volumes ?? []
        gs.proxyLinks = ports.indices.map { paths.proxyLink(instance: $0 + 1) }
        if let root = phpDocumentRoot(through: paths.current + "/app") {
            gs.php = PHPSite(documentRoot: root, deny: spec.php?.deny ?? [])
        }
        return gs
    }

    /// Instance unit names of every process, in start order (workers before web).
    public var instanceUnits: [String] {
        get throws {
            try runtimeProcesses.filter { $0.kind.isLongRunning }.flatMap { p in
                try (0..<p.instances).map { try UnitRenderer.instanceName(app: app, process: p.name, generation: number, instance: $0 + 1) }
            }
        }
    }

    /// What activation starts, by role; written into the manifest so activation never has to
    /// work it out again from unit files.
    public var units: GenerationUnits {
        get throws {
            var u = GenerationUnits(sockets: [], releases: [], instances: try instanceUnits, timers: [])
            for p in runtimeProcesses {
                switch p.kind {
                case .wsgi: u.sockets.append(try UnitRenderer.socketUnitName(app: app, process: p.name, generation: number))
                case .web, .php:
                    if case .tcp(let base) = upstream {
                        for i in 0..<p.instances {
                            u.sockets.append(try UnitRenderer.proxyName(app: app, process: p.name, generation: number, port: base + i) + ".socket")
                        }
                    }
                case .release: u.releases.append(try UnitRenderer.instanceName(app: app, process: p.name, generation: number, instance: 1))
                case .cron: u.timers.append(try CronTimer.timerName(app: app, process: p.name, generation: number))
                default: break
                }
            }
            return u
        }
    }

    /// The nginx site: the same text for every generation that serves the same way (a switch
    /// between socket generations leaves it untouched, so nginx is not reloaded).
    public func site() throws -> String { try NginxSite.render(generationSpec, tls: tls) }

    /// Every file of the generation, by path relative to its store path (pure).
    public func files() throws -> [String: String] {
        let gs = generationSpec
        var files: [String: String] = [:]
        for p in gs.processes {
            let allowJIT = spec.build.builder == .node
            files["units/" + (try UnitRenderer.unitName(app: app, process: p.name, generation: number))] =
                try UnitRenderer.render(gs, process: p, allowJIT: allowJIT)
            if p.kind == .wsgi {
                files["units/" + (try UnitRenderer.socketUnitName(app: app, process: p.name, generation: number))] =
                    try UnitRenderer.renderSocket(gs, process: p)
            }
            if case .cron(let schedule) = p.kind {
                files["units/" + (try CronTimer.timerName(app: app, process: p.name, generation: number))] =
                    try CronTimer.render(app: app, process: p.name, generation: number, schedule: schedule)
            }
            if p.kind == .web || p.kind == .php, case .tcp(let base) = gs.upstream {
                for i in 0..<p.instances {
                    let name = try UnitRenderer.instanceName(app: app, process: p.name, generation: number, instance: i + 1)
                    files["units/\(name).d/port.conf"] = "# hop: this instance's port\n[Service]\nEnvironment=PORT=\(base + i)\n"
                    let proxy = try UnitRenderer.proxyName(app: app, process: p.name, generation: number, port: base + i)
                    files["units/\(proxy).socket"] = try UnitRenderer.renderProxySocket(app: app, process: p.name, generation: number, port: base + i,
                                                                                         socketPath: paths.proxySocket(number, instance: i + 1))
                    files["units/\(proxy).service"] = try UnitRenderer.renderProxyService(app: app, process: p.name, generation: number, port: base + i)
                }
            }
        }
        // Every generation carries it (a static site too: `hop run` joins the namespace).
        files["units/" + UnitNames.networkUnit(app: app)] = try UnitRenderer.renderNetwork(app: app)
        let longRunning = gs.processes.filter { $0.kind.isLongRunning }.reduce(0) { $0 + $1.instances }
        files["units/" + UnitNames.slice(app: app)] = try UnitRenderer.renderSlice(app: app, limits: gs.limits, instances: longRunning)
        files["nginx-site.conf"] = try site()
        files["manifest.json"] = try manifestJSON()
        return files
    }

    /// No config value — not even a hash of the values, which would let anyone who can read the
    /// store test guesses — goes into the manifest.
    func manifestJSON() throws -> String {
        let enc = JSONEncoder.stable
        enc.outputFormatting.insert(.prettyPrinted)
        let m = GenerationManifest(app: app, generation: number, build: buildID, appPath: appPath,
                                   scale: Dictionary(uniqueKeysWithValues: runtimeProcesses.map { ($0.name, $0.instances) }),
                                   ports: ports, socket: webProcess?.kind == .wsgi ? paths.socket(number) : nil,
                                   proxySockets: ports.indices.map { paths.proxySocket(number, instance: $0 + 1) },
                                   fastCGIRoot: phpDocumentRoot(through: appPath),
                                   healthcheck: spec.healthcheck, units: try units)
        return String(decoding: try enc.encode(m), as: UTF8.self) + "\n"
    }

    /// The Nix expression whose output is the generation: the files above plus an `app` symlink to
    /// the build, so the generation's closure is {app build, units, nginx site, manifest}. Built in
    /// the sandbox with the busybox seed; no config value is in it.
    public func expression(busybox: String) throws -> String {
        let files = try self.files().sorted { $0.key < $1.key }
        var attrs = ""
        for (i, f) in files.enumerated() {
            attrs += "  f\(i) = \(NixExpr.string(f.value));\n"
        }
        let names = files.map(\.key).joined(separator: " ")
        let passAsFile = (0..<files.count).map { "\"f\($0)\"" }.joined(separator: " ")
        let script = """
            mkdir -p $out
            ln -s $app $out/app
            i=0
            for name in $fileNames; do
              eval src=\\$f${i}Path
              mkdir -p "$out/$(dirname "$name")"
              cp "$src" "$out/$name"
              chmod 0444 "$out/$name"
              i=$((i + 1))
            done
            """
        return """
        # hop generation \(number) of \(app) (generated; do not edit)
        let
          busybox = builtins.storePath \(NixExpr.string(busybox));
          app = builtins.storePath \(NixExpr.string(appPath));
        in
        derivation {
          name = \(NixExpr.string("hop-\(app)-g\(number)"));
          system = "x86_64-linux";
          builder = "${busybox}/bin/sh";
          args = [ "-e" "-c" \(NixExpr.string(script)) ];
          PATH = "${busybox}/bin";
          # Never offered to Nix's build hook (NixBuild: mkapp.nix says why).
          preferLocalBuild = true;
          inherit app;
          fileNames = \(NixExpr.string(names));
          passAsFile = [ \(passAsFile) ];
        \(attrs)}

        """
    }
}
