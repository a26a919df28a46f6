import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HopBasics

/// The nginx hop runs in front of every app: one `hop-nginx.service` in the service host, its
/// main config and one site per app under `$HOP_HOME/nginx`. Sites change only through
/// `install(site:app:)`, which tests the whole config with `nginx -t` and reloads gracefully, and
/// only when the text changed. A config that fails the test is put back as it was.
public struct NginxFront: Sendable {
    public let home: HopHome
    public let host: ServiceHost
    /// What the waits for nginx (listening, reloaded, old workers gone) measure and sleep on.
    public let clock: any WallClock
    public static let unit = "hop-nginx.service"

    public init(home: HopHome, host: ServiceHost, clock: any WallClock = SystemClock()) {
        self.home = home; self.host = host; self.clock = clock
    }

    public var directory: String { home.root + "/nginx" }
    public var sitesDirectory: String { directory + "/sites" }
    public var mainConfig: String { directory + "/nginx.conf" }
    /// nginx's metrics log of every app's requests (`RequestLog.format`), read by hop's collector.
    public var requestLog: String { Self.requestLog(directory: directory) }
    static func requestLog(directory: String) -> String { directory + "/logs/requests.log" }
    var portFile: String { directory + "/http-port" }
    var tlsPortFile: String { directory + "/https-port" }

    /// The plain-HTTP port sites listen on: set by `hop host up --http-port`, default 80.
    public var httpPort: Int {
        (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 80
    }

    /// The TLS port, when `hop host up --https-port N` turned TLS on (off by default).
    public var httpsPort: Int? {
        (try? String(contentsOfFile: tlsPortFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    public func setHTTPSPort(_ port: Int) throws {
        guard (1...65535).contains(port), port != httpPort else {
            throw HopError.invalid("--https-port \(port) is not a TCP port distinct from the HTTP port", hint: "use e.g. 443")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try "\(port)\n".write(toFile: tlsPortFile, atomically: true, encoding: .utf8)
    }

    /// A certificate's CN holds at most 64 characters (X.520); a longer name (a 63-character app's
    /// `<app>.localhost`) is cut there. Clients match the subjectAltNames, which carry every name whole.
    static func commonName(_ name: String) -> String { String(name.prefix(64)) }

    /// The certificate and key for `serverNames`: the operator's files when present, otherwise a
    /// self-signed fallback made now (`openssl req -x509`, P-256, one year, every name a SAN). The
    /// key is root-only and outside the store; the site only names the paths.
    public func certificate(app: String, serverNames: [String], runner: any ProcessRunner = SystemRunner()) throws -> NginxSite.TLS? {
        guard let port = httpsPort, !serverNames.isEmpty else { return nil }
        let dir = home.root + "/tls/" + app
        if let challenge = acmeChallengePort {
            let live = try liveCertificate(dir: dir, serverNames: serverNames, runner: runner)
            let include = tlsIncludeDirectory(app: app)
            try FileManager.default.createDirectory(atPath: include, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            return NginxSite.TLS(certificate: live + "/cert.pem", key: live + "/key.pem", port: port, challengePort: challenge, includeDirectory: include)
        }
        let cert = dir + "/cert.pem", key = dir + "/key.pem"
        let namesFile = dir + "/names"
        let names = serverNames.joined(separator: " ")
        let fm = FileManager.default
        let selfSigned = (try? String(contentsOfFile: namesFile, encoding: .utf8)) != nil
        let stale = selfSigned && (try? String(contentsOfFile: namesFile, encoding: .utf8)) != names
        if !fm.fileExists(atPath: cert) || !fm.fileExists(atPath: key) || stale {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try Self.makeSelfSigned(serverNames: serverNames, key: key + ".new", cert: cert + ".new", runner: runner)
            guard rename(key + ".new", key) == 0, rename(cert + ".new", cert) == 0 else {
                throw HopError(.environment, "could not put the certificate of \(app) in place")
            }
            try names.write(toFile: namesFile, atomically: true, encoding: .utf8)
        }
        return NginxSite.TLS(certificate: cert, key: key, port: port)
    }

    /// With ACME on, a site names `DIR/live/{cert,key}.pem`, `live` being a symbolic link to one
    /// version directory: a new pair is written into a new directory and the link renamed over, so
    /// the pair changes in one step and a failed renewal never leaves half a pair. (nginx's master
    /// reads it at reload, as root: the key stays root-only. Loading per handshake, with a variable
    /// in the path, would need the workers — www-data — to read the key.) Until a CA certificate
    /// exists: the operator's `DIR/cert.pem` if there is one, else a self-signed one.
    public func liveCertificate(dir: String, serverNames: [String], runner: any ProcessRunner) throws -> String {
        let fm = FileManager.default
        let live = dir + "/live"
        let names = serverNames.joined(separator: " ")
        let namesFile = dir + "/names"
        let selfSigned = fm.fileExists(atPath: namesFile)
        let stale = selfSigned && (try? String(contentsOfFile: namesFile, encoding: .utf8)) != names
        if fm.fileExists(atPath: live + "/cert.pem") && !stale { return live }
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let version = dir + "/v-" + String(UUID().uuidString.prefix(8)).lowercased()
        try fm.createDirectory(atPath: version, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if !selfSigned, fm.fileExists(atPath: dir + "/cert.pem"), fm.fileExists(atPath: dir + "/key.pem") {
            try fm.copyItem(atPath: dir + "/cert.pem", toPath: version + "/cert.pem")
            try fm.copyItem(atPath: dir + "/key.pem", toPath: version + "/key.pem")
        } else {
            try Self.makeSelfSigned(serverNames: serverNames, key: version + "/key.pem", cert: version + "/cert.pem", runner: runner)
            try names.write(toFile: namesFile, atomically: true, encoding: .utf8)
        }
        chmod(version + "/key.pem", 0o600)
        try Self.switchLive(dir: dir, to: version)
        return live
    }

    /// A self-signed certificate for `serverNames` (P-256, one year, every name a SAN); the key 0600.
    static func makeSelfSigned(serverNames: [String], key: String, cert: String, runner: any ProcessRunner) throws {
        let san = serverNames.map { "DNS:\($0)" }.joined(separator: ",")
        let r = try runner.run(Command("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                    "-days", "365", "-subj", "/CN=\(commonName(serverNames[0]))", "-addext", "subjectAltName=\(san)",
                                                    "-keyout", key, "-out", cert]))
        guard r.succeeded else {
            throw HopError(.environment, "could not make a self-signed certificate for \(serverNames[0])", hint: "is openssl installed?", detail: r.stderrTail(5))
        }
        chmod(key, 0o600)
    }

    /// Points `DIR/live` at `version` in one rename, and drops versions older than the one it replaced.
    public static func switchLive(dir: String, to version: String) throws {
        let fm = FileManager.default
        let live = dir + "/live"
        let previous = try? fm.destinationOfSymbolicLink(atPath: live)
        let tmp = dir + "/live.new"
        unlink(tmp)
        guard symlink((version as NSString).lastPathComponent, tmp) == 0, rename(tmp, live) == 0 else {
            throw HopError(.environment, "could not switch \(live): \(String(cString: strerror(errno)))")
        }
        // The previous pair stays one more round (nginx serves it until its reload).
        let keep = Set([(version as NSString).lastPathComponent, previous.map { ($0 as NSString).lastPathComponent } ?? ""])
        for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix("v-") && !keep.contains(name) {
            try? fm.removeItem(atPath: dir + "/" + name)
        }
    }

    /// `hop tls acme` wrote the ACME settings: sites proxy HTTP-01 challenges to this port.
    public var acmeConfigFile: String { directory + "/acme.json" }
    public var acmeChallengePort: Int? {
        guard let data = FileManager.default.contents(atPath: acmeConfigFile),
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return o["challengePort"] as? Int
    }
    /// Where an app's site picks up extra server-level settings (the HTTPS redirect).
    public func tlsIncludeDirectory(app: String) -> String { directory + "/tls-include/" + app }

    public func setHTTPPort(_ port: Int) throws {
        guard (1...65535).contains(port) else { throw HopError.invalid("--http-port \(port) is not a TCP port", hint: "use 1–65535") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
    }

    /// nginx's main config (pure).
    public static func renderMain(directory: String, port: Int) -> String {
        """
        # hop: nginx main config (generated; do not edit)
        user www-data;
        worker_processes auto;
        pid /run/hop/nginx.pid;
        error_log stderr warn;
        # After a reload, old workers finish the keep-alive connections they hold (proxying to the
        # old upstream meanwhile); this bounds how long hop waits before stopping that upstream.
        worker_shutdown_timeout 10s;
        events { worker_connections 4096; }
        http {
            include /etc/nginx/mime.types;
            default_type application/octet-stream;
            # One line per request for hop's measures (`hop metrics`): time, status, duration,
            # bytes, the answering site's first name. Nothing the client chose (no path, no agent,
            # no address). Written in 16 KB batches, at most a second late.
            log_format \(RequestLog.formatName) '\(RequestLog.format)';
            access_log \(requestLog(directory: directory)) \(RequestLog.formatName) buffer=16k flush=1s;
            sendfile on;
            tcp_nopush on;
            keepalive_timeout 65s;
            server_tokens off;
            # App names are up to 63 characters: `<app>.localhost` needs more than the default 64-byte bucket.
            server_names_hash_bucket_size 128;
            include \(directory)/preamble.conf;
            server {
                listen \(port) default_server;
                listen [::]:\(port) default_server;
                server_name _;
                return 404 "hop: no app answers to this host name\\n";
            }
            # hop's own site first, so it is nginx's answer for its names whatever apps are called.
            include \(directory)/sites/_*.conf;
            include \(directory)/sites/[!_]*.conf;
        }

        """
    }

    /// The unit that runs nginx in the foreground; `reload` is nginx's graceful reload.
    ///
    /// Hardened as far as nginx allows (`systemd-analyze security`: 2.9, from 9.2 bare): its master
    /// stays root (it binds port 80, reads the TLS keys and starts www-data workers: CAP_SETUID/GID,
    /// CAP_CHOWN for its temp directories, CAP_KILL for the workers), but the file system is
    /// read-only except nginx's own temp and log directories, no new privileges, no kernel, clock,
    /// host name, namespaces or realtime, only the system calls of a service. No
    /// MemoryDenyWriteExecute (PCRE's JIT), no PrivateTmp (`$HOP_HOME` may live under /tmp).
    public static func renderUnit(mainConfig: String) -> String {
        """
        # hop-nginx.service: generated by hop. Do not edit: hop rewrites it.
        [Unit]
        Description=hop front proxy (nginx)

        [Service]
        Type=exec
        RuntimeDirectory=hop
        RuntimeDirectoryPreserve=yes
        ExecStartPre=/usr/sbin/nginx -t -q -c \(mainConfig)
        ExecStart=/usr/sbin/nginx -c \(mainConfig) -g "daemon off;"
        ExecReload=/usr/sbin/nginx -c \(mainConfig) -s reload
        Restart=on-failure
        RestartSec=1
        KillMode=mixed
        KillSignal=SIGQUIT
        TimeoutStopSec=10
        NoNewPrivileges=yes
        ProtectSystem=strict
        ReadWritePaths=-/var/lib/nginx -/var/log/nginx -\((mainConfig as NSString).deletingLastPathComponent)/logs
        ProtectHome=read-only
        PrivateDevices=yes
        PrivateMounts=yes
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectClock=yes
        ProtectHostname=yes
        ProtectProc=invisible
        ProcSubset=pid
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        RestrictNamespaces=yes
        LockPersonality=yes
        SystemCallArchitectures=native
        SystemCallFilter=@system-service
        SystemCallErrorNumber=EPERM
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
        CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN CAP_DAC_OVERRIDE CAP_KILL
        KeyringMode=private
        RemoveIPC=yes
        UMask=0027

        [Install]
        WantedBy=multi-user.target

        """
    }

    /// Writes the main config and the unit when they differ and starts nginx when it is not running.
    public func ensureRunning() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: sitesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try? fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
        try fm.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var changed = try writeFileIfChanged(directory + "/preamble.conf", NginxSite.httpPreamble())
        changed = try writeFileIfChanged(mainConfig, Self.renderMain(directory: directory, port: httpPort)) || changed
        let unitChanged = try writeFileIfChanged(host.path(host.unitDirectory + "/" + Self.unit), Self.renderUnit(mainConfig: mainConfig))
        if unitChanged { try host.services.daemonReloadChecked() }
        // "active" is not the truth: a unit whose nginx cannot bind restarts in a loop and reads as
        // active between tries. Serving means its pid file is there and its port is taken.
        let active = try host.services.isActive(Self.unit)
        let serving = active && FileManager.default.fileExists(atPath: host.path("/run/hop/nginx.pid")) && nginxListens(httpPort)
        if serving {
            if changed || unitChanged { try reload() }
        } else {
            _ = try? host.services.stop([Self.unit])
            try test()
            try checkPortsFree()
            try host.services.startChecked([Self.unit], what: "starting nginx")
            try waitListening()
        }
    }

    /// The ports nginx is to listen on must be free: another program on one of them would make
    /// nginx retry for seconds, give up, and leave every app's URL dead behind a "running" host.
    func checkPortsFree() throws {
        for port in [httpPort] + (httpsPort.map { [$0] } ?? []) where !Self.canBind(port) {
            // Asked in hop's own namespaces: the holder may be outside the private host's PID namespace.
            let holder = (try? host.runner.run(Command("/usr/bin/ss", ["-ltnpH", "sport = :\(port)"])))
                .flatMap { Self.listenerProgram($0.stdoutText) }.map { " (\($0))" } ?? ""
            throw HopError(.conflict, "port \(port) is already in use by another program\(holder): hop's nginx cannot listen on it",
                           hint: port == httpPort ? "stop that program, or choose another port: `hop host up --http-port N`"
                                                  : "stop that program, or choose another port: `hop host up --https-port N`")
        }
    }

    /// Whether hop's nginx (not another program) listens on `port`.
    /// Whether hop's nginx (not another program) listens on `port` now.
    public func listens(_ port: Int) -> Bool { nginxListens(port) }

    func nginxListens(_ port: Int) -> Bool {
        guard let r = try? host.run("/usr/bin/ss", ["-ltnpH", "sport = :\(port)"]), r.succeeded else { return false }
        return Self.listenerProgram(r.stdoutText)?.hasPrefix("nginx") == true
    }

    /// Whether this machine lets a server bind `0.0.0.0:port` now (as nginx does: SO_REUSEADDR).
    public static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = 0
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// `python3, pid 1234` from `ss -ltnpH` output (`users:(("python3",pid=1234,fd=3))`), or nil.
    public static func listenerProgram(_ ss: String) -> String? {
        guard let r = ss.range(of: "users:((\""), let end = ss[r.upperBound...].firstIndex(of: "\"") else { return nil }
        let name = String(ss[r.upperBound..<end])
        let rest = ss[end...]
        guard let p = rest.range(of: "pid=") else { return name }
        return name + ", pid " + rest[p.upperBound...].prefix { $0.isNumber }
    }

    /// After `start`: nginx is serving once its pid file is there and the unit still runs; a unit
    /// that failed meanwhile (a port taken between the check and the bind) is an error with its journal.
    func waitListening(timeout: TimeInterval = 15) throws {
        let deadline = clock.now.addingTimeInterval(timeout)
        while clock.now < deadline {
            let active = try host.services.isActive(Self.unit)
            if active && FileManager.default.fileExists(atPath: host.path("/run/hop/nginx.pid")) && nginxListens(httpPort) { return }
            if !active, try host.services.isFailed(Self.unit) { break }
            clock.sleep(seconds: 0.1)
        }
        let journal = (try? host.services.journal(Self.unit, lines: 6))?.stdoutText ?? ""
        throw HopError(.environment, "hop's nginx did not start listening on port \(httpPort)",
                       hint: "see `hop host journal \(Self.unit)`", detail: journal.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `ensureRunning` when nginx has no pid file in the host (the common case costs one stat,
    /// not a systemctl round trip on every activation).
    public func ensureStarted() throws {
        if !FileManager.default.fileExists(atPath: host.path("/run/hop/nginx.pid")) { try ensureRunning() }
    }

    /// `nginx -t` on the whole config, inside the service host.
    public func test() throws {
        try FileManager.default.createDirectory(atPath: host.path("/run/hop"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let r = try host.run("/usr/sbin/nginx", ["-t", "-q", "-c", mainConfig])
        guard r.succeeded else {
            throw HopError(.invalidInput, "nginx rejects the configuration", hint: "nothing was reloaded; the previous site is back in place",
                           detail: r.stderrTail(8))
        }
    }

    /// Graceful reload that returns once new workers (with the new config) run: nginx's reload
    /// signal is asynchronous, and a deploy must not report a switch the front does not serve yet.
    @discardableResult
    public func reload() throws -> Set<String> {
        try test()
        let before = Set(workers().keys)
        try host.services.require(try host.services.reload(Self.unit), ["reload", Self.unit], what: "reloading nginx")
        // Done when a new worker runs and every old one has stopped accepting (gone, or "shutting down").
        let deadline = clock.now.addingTimeInterval(5)
        while clock.now < deadline {
            let now = workers()
            let fresh = now.keys.contains { !before.contains($0) }
            let oldAccepting = now.contains { before.contains($0.key) && !$0.value.contains("shutting down") }
            if fresh && !oldAccepting { return before }
            clock.sleep(seconds: 0.02)
        }
        return before
    }

    /// Waits until none of `pids` (workers from before a reload) runs any more: until then they may
    /// still proxy requests on kept-alive client connections to the old upstream.
    public func waitForExit(_ pids: Set<String>, timeout: Double = 15) {
        guard !pids.isEmpty else { return }
        let deadline = clock.now.addingTimeInterval(timeout)
        while clock.now < deadline, !Set(workers().keys).isDisjoint(with: pids) { clock.sleep(seconds: 0.05) }
    }

    /// nginx's workers: PID → process title (as the service host numbers them).
    func workers() -> [String: String] {
        guard let main = try? host.services.show([Self.unit], properties: ["MainPID"]).first?["MainPID"], main != "0",
              let r = try? host.run("ps", ["-o", "pid=,args=", "--ppid", main]) else { return [:] }
        var result: [String: String] = [:]
        for line in r.stdoutText.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard let sp = t.firstIndex(of: " ") else { continue }
            result[String(t[..<sp])] = String(t[sp...])
        }
        return result
    }

    public func sitePath(app: String) -> String { sitesDirectory + "/\(app).conf" }

    /// Installs `site` for `app`; returns the workers from before the reload (nil when the site
    /// was unchanged and nothing was reloaded). On a failed `nginx -t` the previous file (or its
    /// absence) is restored and the error thrown.
    @discardableResult
    public func install(site: String, app: String) throws -> Set<String>? {
        let path = sitePath(app: app)
        let previous = try? String(contentsOfFile: path, encoding: .utf8)
        if previous == site { return nil }
        try writeFileAtomically(path, site)
        do {
            return try reload()
        } catch {
            if let previous { try? writeFileAtomically(path, previous) } else { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }

    /// Removes `app`'s site and reloads (no-op when absent).
    public func remove(app: String) throws {
        let path = sitePath(app: app)
        guard FileManager.default.fileExists(atPath: path) else { return }
        try FileManager.default.removeItem(atPath: path)
        try reload()
    }
}

/// hop's own server (`hop server`) as a unit of the service host, published by hop's nginx.
public enum ControlPlane {
    /// The network-facing front: an unprivileged dynamic user, unix sockets only.
    public static let unit = "hop-server.service"
    /// The root helper that runs the operations the front passes on.
    public static let helperUnit = "hop-helper.service"
    /// The API socket nginx connects to, as the service host sees it.
    public static let socket = "/run/hop-server/api.sock"
    /// The helper's socket: root, group `helperGroup`, 0660.
    public static let helperSocket = "/run/hop-helper/helper.sock"
    /// The group that may reach the helper's socket: the front's, and nobody else's.
    public static let helperGroup = "hop-helper"
    /// The group nginx's workers run as (Debian's): the front's socket is made for it.
    public static let nginxGroup = "www-data"
    /// nginx's site for it; app names cannot start with `_`, so no app's site can be this file.
    public static let siteName = "_hop"

    /// The front (`hop-server.service`): a dynamic user in nginx's group (so its socket is nginx's
    /// to reach) and the helper's group (so it can reach the helper), no capabilities, no network
    /// but unix sockets, nothing of the file system writable, nothing of `$HOP_HOME` readable.
    /// `hopBinary` must be readable by any user (hop keeps a copy in the store).
    public static func renderUnit(hopBinary: String) -> String {
        var lines = ["# hop-server.service: generated by hop. Do not edit: hop rewrites it.",
                     "# The network-facing half of hop server: parses HTTP, passes hop's operations to \(helperUnit).",
                     "[Unit]", "Description=hop server (API and dashboard; unprivileged front)",
                     "After=hop-nginx.service \(helperUnit)", "Wants=\(helperUnit)", "",
                     "[Service]", "Type=exec",
                     "ExecStart=\(hopBinary) server run --front --socket \(socket) --helper \(helperSocket)",
                     "DynamicUser=yes", "User=hop-server", "Group=\(nginxGroup)", "SupplementaryGroups=\(helperGroup)",
                     "RuntimeDirectory=hop-server", "RuntimeDirectoryMode=0750", "UMask=0007",
                     "Restart=on-failure", "RestartSec=1",
                     "PrivateNetwork=yes", "IPAddressDeny=any", "PrivateIPC=yes", "ProtectProc=invisible"]
        lines += UnitRenderer.hardening(allowJIT: false).map {
            $0.hasPrefix("RestrictAddressFamilies=") ? "RestrictAddressFamilies=AF_UNIX" : $0
        }.filter { !lines.contains($0) }
        lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The root helper (`hop-helper.service`): hop drives nix and systemd, so it is root, but no
    /// new privileges, kernel and clock untouchable, only the address families it needs, and
    /// reachable only through its socket (root:`helperGroup` 0660). (No PrivateTmp: HOP_HOME may
    /// live under /tmp, as it does in the tests. No ProtectHostname: every Nix build it starts sets
    /// the sandbox's host name, and fails with "cannot set host name" under it.)
    /// `nixLibrary`: hop's Nix library as the unit can read it (its store copy: a source tree under
    /// /tmp is not visible in the private host, and a copied binary cannot find it from argv[0]).
    public static func renderHelperUnit(hopBinary: String, home: String, nixLibrary: String? = nil) -> String {
        """
        # hop-helper.service: generated by hop. Do not edit: hop rewrites it.
        # The privileged half of hop server: reached only by hop-server.service, over its socket.
        [Unit]
        Description=hop helper (runs the operations hop server passes on)
        After=hop-nginx.service

        [Service]
        Type=exec
        Environment=HOP_HOME=\(home)\(nixLibrary.map { "\nEnvironment=HOP_NIX_LIB=" + $0 } ?? "")
        ExecStart=\(hopBinary) server run --socket \(helperSocket) --socket-group \(helperGroup) --native-host
        RuntimeDirectory=hop-helper
        RuntimeDirectoryMode=0755
        Restart=on-failure
        RestartSec=1
        UMask=0077
        NoNewPrivileges=yes
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectClock=yes
        LockPersonality=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
        SystemCallArchitectures=native

        [Install]
        WantedBy=multi-user.target

        """
    }

    /// The nginx site that publishes the server under `serverName` (HTTP, and TLS when on).
    public static func renderSite(serverName: String, port: Int, tls: NginxSite.TLS?) -> String {
        var listen = "    listen \(port);\n    listen [::]:\(port);\n"
        var tlsLines = ""
        if let tls {
            listen += "    listen \(tls.port) ssl;\n    listen [::]:\(tls.port) ssl;\n"
            tlsLines = "    ssl_certificate \(tls.certificate);\n    ssl_certificate_key \(tls.key);\n"
        }
        return """
            # hop server (generated; do not edit)
            server {
            \(listen)    server_name \(serverName);
            \(tlsLines)    client_max_body_size 1m;
                location / {
                    proxy_pass http://unix:\(socket);
                    proxy_http_version 1.1;
                    proxy_set_header Host $host;
                    proxy_set_header X-Forwarded-Proto $scheme;
                    proxy_set_header X-Real-IP $remote_addr;
                    proxy_set_header X-Hop-Front-Worker $pid;
                    proxy_set_header Connection "";
                    proxy_buffering off;
                    proxy_read_timeout 3600s;
                }
            }

            """
    }
}
