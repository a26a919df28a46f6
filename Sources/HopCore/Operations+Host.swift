import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// Operations on the machine itself: the private host, and hop server as its unit.
extension Operations {
    // MARK: Host

    public func hostUp(httpPort: Int?, httpsPort: Int?) throws -> HostStatus {
        for (flag, port) in [("--http-port", httpPort), ("--https-port", httpsPort)] {
            if let port, !(1...65535).contains(port) { throw HopError.invalid("\(flag) \(port) is not a TCP port", hint: "use 1–65535") }
        }
        if let httpPort, httpPort == httpsPort { throw HopError.invalid("--http-port and --https-port are both \(httpPort)") }
        return try audited("host up", app: nil, permission: .admin) {
            try ctx.home.ensure()
            let h = privateHost
            let p = try h.up()
            let service = try ctx.serviceHost()
            let front = NginxFront(home: ctx.home, host: service)
            if let httpPort { try front.setHTTPPort(httpPort) }
            if let httpsPort { try front.setHTTPSPort(httpsPort) }
            try front.ensureRunning()
            // A fresh host has none of the apps' runtime state: bring every serving generation back.
            var restored: [String] = [], failed: [String: String] = [:]
            do { try installMetricsTimer(host: service) } catch let e as HopError {
                failed["measures timer"] = e.message
                ctx.warn("request measures are not collected: \(e.message)")
            }
            if let db = try ctx.existingDatabase() {
                // Addon servers first: the apps restored next connect to them.
                // (Redis: a server per addon, and the shared one of earlier hops while addons use it.)
                let addons = try db.addons()
                var servers = Set(addons.filter { $0.type != "redis" }.map { ($0.type, "") }.map { "\($0.0)\u{0}\($0.1)" })
                for a in addons where a.type == "redis" { servers.insert("redis\u{0}" + (a.onSharedServer ? "" : a.name)) }
                for key in servers.sorted() {
                    let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
                    let (type, name) = (parts[0], parts[1].isEmpty ? nil : parts[1])
                    let label = name.map { "\(type) (\($0))" } ?? type
                    do {
                        try AddonServers(ctx: ctx, db: db, host: service).ensure(try Self.checkedAddonType(type), name: name)
                        restored.append(label)
                    } catch let e as HopError {
                        failed[label] = e.message
                        ctx.warn("hop's \(label) server did not come back: \(e.message)")
                    }
                }
                for sched in try db.backupSchedules() {
                    do { try installBackupTimer(sched, host: service) } catch let e as HopError {
                        failed["backup schedule of \(sched.app)"] = e.message
                    }
                }
                let rt = try AppRuntime(ctx, db: db, host: service)
                // `[limits] disk` images, in both namespaces, before any app starts (and for
                // destroyed apps' kept data too, which backups read).
                for app in rt.disks.apps() {
                    let lock = try AppLock(home: ctx.home, app: app)
                    defer { withExtendedLifetime(lock) {} }
                    do { try rt.disks.mount(app) } catch let e as HopError {
                        failed["disk image of \(app)"] = e.message
                        ctx.warn("\(app)'s disk image is not mounted: \(e.message)")
                    }
                }
                for app in try rt.db.deployedApps() {
                    let lock = try rt.lock(app)
                    defer { withExtendedLifetime(lock) {} }
                    guard let g = try rt.db.activeGeneration(app: app) else { continue }
                    if rt.activator.isStopped(app) {
                        // Stopped by an operator: it stays stopped, behind its 503 page.
                        do { try rt.activator.restoreStopped(g); restored.append("\(app) (stopped)") } catch let e as HopError {
                            failed[app] = e.message
                        }
                        continue
                    }
                    if rt.activator.isServing(g) {
                        // Serving already: its site follows the front's ports (`--http-port` changed).
                        do { try rt.activator.reinstallSite(g) } catch let e as HopError {
                            failed[app] = e.message
                            ctx.warn("\(app)'s site was not moved to the front's ports: \(e.message)")
                        }
                        continue
                    }
                    do {
                        ctx.progress(ProgressEvent(phase: "restore", message: "bringing \(app) back"))
                        try rt.activator.restore(g)
                        restored.append(app)
                    } catch let e as HopError {
                        failed[app] = e.message
                        ctx.warn("\(app) generation \(g.number) did not come back: \(e.message)")
                    }
                }
                // Redis addons of earlier hops move to a server of their own, keys and all.
                for a in try db.addons() where a.onSharedServer {
                    do {
                        ctx.progress(ProgressEvent(phase: "addon", message: "moving Redis addon \(a.name) to a server of its own"))
                        _ = try addonMigrate(name: a.name, watch: 0)
                        restored.append("redis (\(a.name), migrated)")
                    } catch let e as HopError {
                        failed["redis (\(a.name))"] = e.message
                        ctx.warn("Redis addon \(a.name) stays on the shared server: \(e.message); run `hop addon migrate \(a.name)`")
                    }
                }
            }
            if let data = FileManager.default.contents(atPath: ctx.home.root + "/server-install.json"),
               let install = try? JSONDecoder().decode([String: String].self, from: data),
               let remembered = install["binary"], let name = install["serverName"] {
                // The binary it was installed from may be gone (a package removed, a build tree
                // deleted): the hop running now takes over, and says so.
                let binary = FileManager.default.isExecutableFile(atPath: remembered) ? remembered : runningHopBinary()
                do {
                    _ = try serverInstall(hopBinary: binary, serverName: name)
                    restored.append(binary == remembered ? "hop server" : "hop server (from \(binary); \(remembered) is gone)")
                } catch let e as HopError {
                    failed["hop server"] = e.message
                }
            }
            return HostStatus(pid: Int(p), state: h.state(), restored: restored, failed: failed)
        }
    }

    public func hostDown() throws -> HostStatus {
        try audited("host down", app: nil, permission: .admin) {
            try privateHost.down()
            // The private host's mounts went with its namespace; hop's own go now, so nothing
            // is left mounted under HOP_HOME (a `rm -rf` of it must not reach into an image).
            try AppDisks(layout: AppDiskLayout(home: ctx.home, privateHostPID: nil, underPrivateHost: true), runner: ctx.runner).releaseAll()
            return HostStatus(pid: nil, state: "stopped")
        }
    }

    /// The last `lines` journal lines of one of hop's own units in the service host (its nginx,
    /// server, helper, addon servers, an app's unit): what `journalctl -u` would show there.
    public func hostJournal(unit: String, lines: Int = 100) throws -> LogLines {
        try ctx.authorize(.admin, app: nil, action: "read the service host's journal")
        guard unit.hasPrefix("hop-"), unit.count <= 200,
              unit.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) }) else {
            throw HopError.invalid("`\(unit)` is not one of hop's units", hint: "e.g. hop-nginx.service, hop-server.service, hop-helper.service")
        }
        let host = try ctx.serviceHost()
        let r = try ctx.runner.run(host.command("journalctl", ["--no-pager", "-o", "short-iso", "-n", "\(min(max(lines, 0), 10_000))", "-u", unit]))
        return LogLines(app: unit, lines: r.stdoutText.split(separator: "\n").map(String.init).filter { $0 != "-- No entries --" })
    }

    public func hostStatus() throws -> HostStatus {
        let h = privateHost
        return HostStatus(pid: h.pid().map { Int($0) }, state: h.state())
    }

    /// Installs and starts `hop server` as a unit of the service host, published by hop's nginx at
    /// `serverName` (TLS too when the front serves TLS). Idempotent.
    public func serverInstall(hopBinary: String, serverName: String) throws -> ServerInstallResult {
        guard hopBinary.hasPrefix("/"), FileManager.default.isExecutableFile(atPath: hopBinary) else {
            throw HopError.invalid("\(hopBinary) is not an executable", hint: "pass the absolute path of the hop binary")
        }
        _ = try validateDomainName(serverName, at: nil)
        return try audited("server install", app: nil, detail: ["serverName": serverName], permission: .admin) {
            if let db = try ctx.existingDatabase(), let owner = try domainOwners(db).first(where: { $0.domain == serverName }) {
                throw HopError(.conflict, "\(serverName) is a name of app \(owner.app)",
                               hint: "choose another --server-name, or remove it from \(owner.app)'s [domains] first")
            }
            let host = try ctx.serviceHost()
            // Both halves run hop from the store: readable by the front's dynamic user (HOP_HOME
            // is root's alone), visible inside the private host wherever the binary was built.
            let stored = try storedHopBinary(hopBinary)
            try ensureHelperGroup()
            let front = NginxFront(home: ctx.home, host: host)
            try front.ensureRunning()
            let nixLibrary = try storedNixLibrary()
            var changed = false
            for (unit, text) in [(ControlPlane.helperUnit, ControlPlane.renderHelperUnit(hopBinary: stored, home: ctx.home.root, nixLibrary: nixLibrary)),
                                 (ControlPlane.unit, ControlPlane.renderUnit(hopBinary: stored))] {
                if try writeFileIfChanged(host.path(host.unitDirectory + "/" + unit), text) { changed = true }
            }
            if changed {
                try host.systemctlChecked(["daemon-reload"], what: "reloading systemd")
                try host.systemctl(["stop", ControlPlane.unit, ControlPlane.helperUnit])
            }
            try host.systemctlChecked(["start", ControlPlane.helperUnit], what: "starting hop's helper")
            try host.systemctlChecked(["start", ControlPlane.unit], what: "starting hop server")
            let tls = try front.certificate(app: ControlPlane.siteName, serverNames: [serverName], runner: ctx.runner)
            try front.install(site: ControlPlane.renderSite(serverName: serverName, port: front.httpPort, tls: tls), app: ControlPlane.siteName)
            // Ready when a request through the front reaches the helper and comes back.
            let deadline = Date().addingTimeInterval(15)
            let target = ProbeTarget.unix(directory: host.path((ControlPlane.socket as NSString).deletingLastPathComponent),
                                          name: (ControlPlane.socket as NSString).lastPathComponent)
            var last = ""
            while true {
                do {
                    let r = try HealthProbe.get(target, path: "/api/health", host: serverName, timeout: 2)
                    if r.status == 200 { break }
                    last = "HTTP \(r.status): \(r.body.prefix(200))"
                } catch let e as HopError { last = e.message }
                guard Date() < deadline else {
                    throw HopError(.environment, "hop server did not answer through its front: \(last)",
                                   hint: "see `hop host journal \(ControlPlane.unit)` and `hop host journal \(ControlPlane.helperUnit)`")
                }
                usleep(100_000)
            }
            // Remembered, so `hop host up` brings the server back with the apps.
            try writeFileAtomically(ctx.home.root + "/server-install.json",
                                    stableJSONText(["binary": hopBinary, "serverName": serverName]), mode: 0o600)
            let url = tls.map { "https://\(serverName)" + ($0.port == 443 ? "" : ":\($0.port)") + "/" }
                ?? "http://\(serverName)" + (front.httpPort == 80 ? "" : ":\(front.httpPort)") + "/"
            return ServerInstallResult(unit: ControlPlane.unit, url: url)
        }
    }

    /// hop's Nix library in the store (added when missing, kept by a GC root): the installed server
    /// builds with it wherever hop's source tree is, /tmp included.
    func storedNixLibrary() throws -> String {
        let libDir = try NixLibrary.locate()
        let libPath = FixedOutputPath.recursive(name: BuildPipeline.nixLibName, narSHA256Hex: try NAR.hash(path: libDir).hex)
        let nix = NixDriver(runner: ctx.runner)
        if !nix.isValid(libPath) {
            let scratch = try ctx.home.scratch("lib")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            _ = try pipeline.addNixLibrary(libDir, scratch: scratch)
        }
        try FileManager.default.createDirectory(atPath: ctx.home.gcroots, withIntermediateDirectories: true)
        try nix.addRoot(ctx.home.gcroots + "/hop-server-nix-lib", for: libPath)
        return libPath
    }

    /// The hop binary in the store (added when missing, kept by a GC root): world-readable and
    /// immutable, so the front's dynamic user can run it and nothing can change it under the helper.
    /// An installed hop (PREFIX/bin/hop beside PREFIX/lib/hop, its Swift runtime) is stored as that
    /// pair, so the stored binary finds its libraries through its `$ORIGIN/../lib/hop` RUNPATH and
    /// keeps running the version it was installed with when a package upgrade replaces PREFIX.
    func storedHopBinary(_ hopBinary: String) throws -> String {
        let nix = NixDriver(runner: ctx.runner)
        let fm = FileManager.default
        let prefix = ((hopBinary as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let runtime = prefix + "/lib/hop"
        var path: String
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: runtime, isDirectory: &isDir), isDir.boolValue {
            let scratch = try ctx.home.scratch("server-bin")
            defer { try? fm.removeItem(atPath: scratch) }
            let tree = scratch + "/hop-\(hopVersion)"
            try fm.createDirectory(atPath: tree + "/bin", withIntermediateDirectories: true)
            try fm.copyItem(atPath: hopBinary, toPath: tree + "/bin/hop")
            try fm.createDirectory(atPath: tree + "/lib", withIntermediateDirectories: true)
            try fm.copyItem(atPath: runtime, toPath: tree + "/lib/hop")
            path = try nix.addFixed(tree, recursive: true) + "/bin/hop"
        } else {
            path = try nix.addFixed(hopBinary, recursive: true)
        }
        try fm.createDirectory(atPath: ctx.home.gcroots, withIntermediateDirectories: true)
        try nix.addRoot(ctx.home.gcroots + "/hop-server-bin", for: path.hasSuffix("/bin/hop") ? String(path.dropLast(8)) : path)
        return path
    }

    /// The system group whose members reach the helper's socket (the front only).
    func ensureHelperGroup() throws {
        guard getgrnam(ControlPlane.helperGroup) == nil else { return }
        let r = try ctx.runner.run(Command("groupadd", ["--system", ControlPlane.helperGroup]))
        guard r.succeeded || getgrnam(ControlPlane.helperGroup) != nil else {
            throw HopError(.environment, "cannot create the group \(ControlPlane.helperGroup): \(r.stderrText.suffix(300))")
        }
    }

    /// The hop binary as the service host's units can run it. The private host replaces /tmp and
    /// /run with its own: a binary there (a build tree under /tmp, say) is not visible inside it,
    /// so it gets a copy (a hard link when it can) in HOP_HOME, which is.
    func placedHopBinary(_ hopBinary: String, host: ServiceHost) throws -> String {
        guard host.pid != nil, hopBinary.hasPrefix("/tmp/") || hopBinary.hasPrefix("/run/") else { return hopBinary }
        let dir = ctx.home.root + "/bin"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let staged = dir + "/.hop-\(getpid())"
        try? FileManager.default.removeItem(atPath: staged)
        do { try FileManager.default.linkItem(atPath: hopBinary, toPath: staged) } catch {
            try FileManager.default.copyItem(atPath: hopBinary, toPath: staged)
        }
        guard rename(staged, dir + "/hop") == 0 else { throw HopError(.environment, "cannot place \(dir)/hop") }
        return dir + "/hop"
    }

    var privateHost: PrivateHost { PrivateHost(stateDir: ctx.home.root + "/host", shared: [ctx.home.root]) }
}
