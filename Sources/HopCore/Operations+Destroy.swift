import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// Destroying an app, its logs, and one-off commands in its context.
extension Operations {
    // MARK: Destroy

    /// Stops an app and removes its units, site, profile and generations. Its config and data stay
    /// unless `purge`; purging only ever touches an app hop knows.
    public func destroy(app raw: String, purge: Bool) throws -> DestroyResult {
        let app = try Self.checkedApp(raw)
        return try audited("destroy", app: app, detail: ["purge": String(purge)], permission: .admin) {
            let db = try ctx.database()
            let everDeployed = try !db.generations(app: app).isEmpty
            if !everDeployed {
                let hasConfig = try !db.config(app: app).isEmpty, hasBuilds = try !db.builds(app: app).isEmpty
                guard purge && (hasConfig || hasBuilds) else { throw HopError(.notFound, "\(app) is not deployed") }
                // Nothing ever ran: forget the config and delete any data; no service host is needed.
                let lock = try AppLock(home: ctx.home, app: app)
                defer { withExtendedLifetime(lock) {} }
                try db.forgetApp(app, config: true)
                let root = (try? ctx.serviceHost())?.rootPrefix ?? ""
                // Only what hop created: a state directory hop never claimed is not hop's to delete.
                if FileManager.default.fileExists(atPath: ctx.home.apps + "/\(app)/state-claimed") {
                    if let host = try? ctx.serviceHost() { try AppDisks(home: ctx.home, host: host).remove(app) }
                    for d in AppRuntimePaths(app: app).stateDirectories { try? FileManager.default.removeItem(atPath: root + d) }
                    unlink(ctx.home.apps + "/\(app)/state-claimed")
                }
                try? FileManager.default.removeItem(atPath: ctx.home.root + "/tls/" + app)
                if let host = try? ctx.serviceHost() { try? FileManager.default.removeItem(atPath: NginxFront(home: ctx.home, host: host).tlsIncludeDirectory(app: app)) }
                return DestroyResult(app: app, destroyed: true, purged: true)
            }
            let rt = try runtime(db)
            let lock = try rt.lock(app)
            defer { withExtendedLifetime(lock) {} }
            let gens = try rt.db.generations(app: app)
            // A never-deployed app returned above; gone now only if another hop destroyed it meanwhile.
            guard !gens.isEmpty else { throw HopError(.notFound, "\(app) is not deployed") }
            for g in gens { try rt.activator.stopAndRemove(app: app, number: g.number) }
            try rt.activator.removeNetwork(app: app)
            // A `[limits] disk` image goes with its data (before anything is forgotten, so a failed
            // unmount can be retried); without --purge it stays, mounted.
            if purge && FileManager.default.fileExists(atPath: rt.home.apps + "/\(app)/state-claimed") { try rt.disks.remove(app) }
            try rt.activator.nginx.remove(app: app)
            try? FileManager.default.removeItem(atPath: rt.host.path(AppRuntimePaths(app: app).directory))
            for d in AppRuntimePaths(app: app).cacheDirectories { try? FileManager.default.removeItem(atPath: rt.host.path(d)) }
            let dir = rt.home.apps + "/" + app
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix("profile") || name == "env" || name == "generation.nix" {
                try? FileManager.default.removeItem(atPath: dir + "/" + name)
            }
            try rt.db.forgetApp(app, config: purge)
            if purge {
                // Its addons go with it, unless another app uses them too.
                for at in try rt.db.attachments(app: app) {
                    try rt.db.detach(app: app, addon: at.addon)
                    if try rt.db.attachments(addon: at.addon).isEmpty {
                        try AddonServers(ctx: ctx, db: rt.db, host: rt.host).drop(at.addon, type: try rt.db.addon(name: at.addon)?.type ?? "postgres")
                        try rt.db.removeAddon(at.addon)
                    }
                }
            }
            if purge, FileManager.default.fileExists(atPath: rt.home.apps + "/\(app)/state-claimed") {
                for d in AppRuntimePaths(app: app).stateDirectories { try? FileManager.default.removeItem(atPath: rt.host.path(d)) }
                unlink(rt.home.apps + "/\(app)/state-claimed")
            }
            if purge {
                try? FileManager.default.removeItem(atPath: rt.home.root + "/tls/" + app)
                try? FileManager.default.removeItem(atPath: rt.activator.nginx.tlsIncludeDirectory(app: app))
            }
            return DestroyResult(app: app, destroyed: true, purged: purge)
        }
    }

    // MARK: Logs

    /// The journal command for an app's units (every generation), exactly this app's.
    public func logsCommand(app raw: String, lines: Int, follow: Bool, process: String?) throws -> Command {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.deploy, app: app, action: "read logs")
        if let p = process, p.isEmpty || !p.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            throw HopError.invalid("`\(p)` is not a process name")
        }
        guard let db = try ctx.existingDatabase(), try !db.generations(app: app).isEmpty else {
            throw HopError(.notFound, "\(app) is not deployed", hint: "hop deploy PATH")
        }
        let host = try ctx.serviceHost()
        var args = ["--no-pager", "-o", "short-iso", "-n", "\(max(0, lines))", "-u", UnitNames.journalPattern(app: app, process: process)]
        if follow { args.append("-f") }
        return host.command("journalctl", args)
    }

    /// The last `lines` journal lines of an app.
    public func logs(app: String, lines: Int = Defaults.logLines) throws -> LogLines {
        let cmd = try logsCommand(app: app, lines: min(max(lines, 0), 10_000), follow: false, process: nil)
        let r = try ctx.runner.run(cmd)
        let text = r.stdoutText
        return LogLines(app: app, lines: text.split(separator: "\n").map(String.init).filter { $0 != "-- No entries --" })
    }

    /// How to run `command` once in the app's environment: a transient unit named within the
    /// serving generation (`hop-APP-GN-run-XXXXXXXX.service`), with the app's identity, state,
    /// config, hardening and limits, so `hop ps` lists it and `hop stop`/`destroy` stop it. The
    /// app's lock is held only while the generation is looked up.
    public func runCommand(app raw: String, command: [String]) throws -> RunPlan {
        let app = try Self.checkedApp(raw)
        guard !command.isEmpty else { throw HopError.invalid("no command given", hint: "hop run \(app) -- CMD …") }
        return try audited("run", app: app, detail: ["command": command.joined(separator: " ")], permission: .deploy) {
            try withServing(app) { rt, g in
                let spec = try BuildSpecs.shared.spec(buildID: g.buildID, db: rt.db)
                let unit = UnitNames.prefix(app: app, generation: g.number) + "run-" + hexString(randomBytes(4)) + ".service"
                // In the app's network namespace (started by the serving generation; Requires= makes
                // sure): the one-off reaches its own app on 127.0.0.1, never another app's port.
                let network = UnitNames.networkUnit(app: app)
                var props = ["Requires=\(network)", "After=\(network)",
                             "NetworkNamespacePath=\(UnitNames.networkNamespacePath(app: app))",
                             "Slice=\(UnitNames.slice(app: app))",
                             "UMask=0077",
                             "EnvironmentFile=-\(rt.envFile(app, g.number))", "WorkingDirectory=\(g.appPath)/app"]
                props += try UnitRenderer.identitySettings(app: app, outPath: g.appPath, volumes: spec?.volumes ?? [])
                props += UnitRenderer.hardening(allowJIT: spec?.build.builder == .node)
                props += UnitRenderer.limitSettings(try UnitRenderer.checkedLimits(spec?.limits ?? Limits()))
                var args = ["--unit=\(unit)", "--wait", "--pipe", "--quiet", "--collect", "--service-type=exec"]
                for p in props { args += ["-p", p] }
                args += ["--", g.appPath + "/bin/.hop-run"] + command
                return RunPlan(unit: unit, command: rt.host.command("systemd-run", args),
                               stop: rt.host.command("systemctl", ["stop", unit]))
            }
        }
    }
}
