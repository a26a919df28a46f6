import ArgumentParser
import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// `APP` arguments: checked against hop's name rules before anything is opened.
func checkedApp(_ app: String) throws -> String {
    try validateAppName(app, at: nil)
    return app
}

/// An app's runtime, opened with the app's lock held after recovering whatever a killed hop left
/// behind; the lock is released when this goes away (keep it alive with `withExtendedLifetime`).
final class LockedApp {
    let app: String
    let rt: AppRuntime
    private let lock: AppLock

    init(_ rawApp: String, json: Bool) throws {
        Hop.jsonMode = json
        app = try checkedApp(rawApp)
        rt = try openRuntime()
        lock = try rt.lock(app)
    }

    /// The generation serving now, or `.notFound`.
    func serving() throws -> GenerationRecord {
        guard let g = try rt.db.activeGeneration(app: app) else {
            throw HopError(.notFound, "\(app) is not deployed", hint: "hop deploy PATH")
        }
        return g
    }
}

func openRuntime() throws -> AppRuntime {
    let home = HopHome.fromEnvironment()
    return try AppRuntime(home: home, db: try openDB(home))
}

func generationJSON(_ g: GenerationRecord) -> [String: Any] {
    var o: [String: Any] = ["app": g.app, "generation": g.number, "build": g.buildID, "storePath": g.storePath,
                            "appPath": g.appPath, "scale": g.scale, "status": g.status.rawValue, "createdAt": iso(g.createdAt),
                            "current": g.status == .active]
    if !g.ports.isEmpty { o["ports"] = g.ports }
    if let r = g.reason { o["reason"] = r }
    return o
}

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deploy",
        abstract: "Build an app and make it serve: a new generation, health-gated, switched without dropping a request.")
    @Argument(help: "The app's source directory.") var path: String
    @Option(help: "App name (default: [metadata] id, else the directory name).") var app: String?
    @Option(help: "Seconds to watch the new generation after the switch; it is rolled back if it fails meanwhile.") var watch: Double = 5
    @Flag(help: "Make a new generation even when nothing changed.") var force = false
    @Flag var json = false
    @OptionGroup var indexOptions: IndexOptions

    func run() throws {
        Hop.jsonMode = json
        try validateAppFlag(app)
        guard watch >= 0, watch <= 3600 else { throw HopError.invalid("--watch \(watch) is not between 0 and 3600 seconds") }
        let home = HopHome.fromEnvironment()
        let t0 = Date()
        // Where it will run is checked first: no build is recorded for a deploy that cannot happen.
        let host = try ServiceHost.resolve(home: home)
        var opts = BuildOptions()
        opts.appName = app
        opts.index = indexOptions.index
        if !json { opts.progress = { p in Out.progress("[\(p.built)/\(p.total)] building \(p.current ?? "…")") } }
        // Validate and build first: bad input stops here, before the runtime is touched.
        let outcome = try BuildPipeline(home: home).build(path: path, options: opts)
        if !json { Out.endProgress() }
        let rt = try AppRuntime(home: home, db: try openDB(home), host: host)
        let lock = try rt.lock(outcome.record.app)
        defer { withExtendedLifetime(lock) {} }
        let result = try rt.rollout(build: outcome.record, watch: watch, force: force)
        let seconds = Date().timeIntervalSince(t0)
        if json {
            var o = generationJSON(result.generation)
            o["noop"] = result.noop
            o["seconds"] = seconds
            Out.json(o)
        } else if result.noop {
            Out.line("\(result.generation.app): generation \(result.generation.number) already serves build \(outcome.record.id); nothing to do (\(String(format: "%.2f", seconds)) s)")
        } else {
            Out.line("\(result.generation.app): generation \(result.generation.number) serves (build \(outcome.record.id), \(String(format: "%.1f", seconds)) s)")
        }
    }
}

struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Serve an earlier generation again (default: the previous one).")
    @Argument var app: String
    @Option(help: "The generation to serve.") var to: Int?
    @Flag var json = false
    func run() throws {
        let locked = try LockedApp(self.app, json: json)
        defer { withExtendedLifetime(locked) {} }
        let (app, rt) = (locked.app, locked.rt)
        let t0 = Date()
        let gens = try rt.db.generations(app: app)
        guard let current = gens.first(where: { $0.status == .active }) else {
            throw HopError(.notFound, "\(app) has no serving generation", hint: "deploy it first: hop deploy PATH")
        }
        let target: GenerationRecord
        if let to {
            guard let g = gens.first(where: { $0.number == to }) else {
                throw HopError(.notFound, "\(app) has no generation \(to)", hint: "see `hop generations \(app)`")
            }
            target = g
        } else {
            guard let g = gens.last(where: { $0.number < current.number && $0.status == .retired }) else {
                throw HopError(.notFound, "\(app) has no earlier generation that served", hint: "see `hop generations \(app)`")
            }
            target = g
        }
        try rt.switchTo(target, op: "rollback")
        let seconds = Date().timeIntervalSince(t0)
        if json { Out.json(["app": app, "generation": target.number, "from": current.number, "seconds": seconds]) } else {
            Out.line("\(app): generation \(target.number) serves again (was \(current.number); \(String(format: "%.2f", seconds)) s)")
        }
    }
}

struct GenerationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generations", abstract: "List an app's generations.")
    @Argument var app: String
    @Flag var json = false
    func run() throws {
        let locked = try LockedApp(self.app, json: json)
        defer { withExtendedLifetime(locked) {} }
        let (app, rt) = (locked.app, locked.rt)
        let gens = try rt.db.generations(app: app)
        if json { Out.json(gens.map(generationJSON)); return }
        if gens.isEmpty { Out.line("\(app) has no generations"); return }
        for g in gens {
            let mark = g.status == .active ? "*" : " "
            let scale = g.scale.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            Out.line("\(mark) \(g.number)\tbuild \(g.buildID)\t\(iso(g.createdAt))\t\(g.status.rawValue)\t\(scale)\(g.reason.map { "\t(\($0))" } ?? "")")
        }
    }
}

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc",
        abstract: "Drop old generations (their profile links, GC roots and env files); the serving one is always kept.")
    @Option(help: "Generations to keep per app besides the serving one.") var keep: Int = 3
    @Option(help: "Only this app.") var app: String?
    @Flag var json = false
    func run() throws {
        Hop.jsonMode = json
        guard keep >= 0 else { throw HopError.invalid("--keep \(keep) is negative") }
        if let app { _ = try checkedApp(app) }
        let rt = try openRuntime()
        var removed: [[String: Any]] = []
        for app in try app.map { [$0] } ?? rt.db.deployedApps() {
            let lock = try rt.lock(app)
            defer { withExtendedLifetime(lock) {} }
            let gens = try rt.db.generations(app: app)
            let others = gens.filter { $0.status != .active && $0.status != .pending }.sorted { $0.number > $1.number }
            for g in others.dropFirst(keep) {
                unlink(rt.activator.profileLink(app, g.number))
                unlink(rt.envFile(app, g.number))
                try rt.db.deleteGeneration(app: app, number: g.number)
                removed.append(["app": app, "generation": g.number])
            }
            try rt.activator.pruneUnitFiles(app: app, keep: Set(try rt.db.generations(app: app).map(\.number)))
        }
        if json { Out.json(["removed": removed]) } else {
            Out.line(removed.isEmpty ? "nothing to drop" : "dropped \(removed.count) generation\(removed.count == 1 ? "" : "s"); `nix-store --gc` frees their store paths")
        }
    }
}

/// KEY=VALUE arguments: keys are environment variable names; hop's own variables are refused.
func parseAssignments(_ args: [String]) throws -> [(String, String)] {
    var seen = Set<String>()
    return try args.map { a in
        guard let eq = a.firstIndex(of: "=") else {
            throw HopError.invalid("`\(a)` is not KEY=VALUE", hint: "write e.g. `hop config set blog SECRET_KEY=…`")
        }
        let key = String(a[..<eq]), value = String(a[a.index(after: eq)...])
        try checkConfigKey(key)
        guard !value.contains("\0") else { throw HopError.invalid("the value of \(key) contains a NUL byte") }
        guard seen.insert(key).inserted else { throw HopError.invalid("\(key) is given twice") }
        return (key, value)
    }
}

func checkConfigKey(_ key: String) throws {
    let first = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
    let rest = first.union("0123456789")
    guard let h = key.first, first.contains(h), key.allSatisfy({ rest.contains($0) }), key.count <= 128 else {
        throw HopError.invalid("`\(key.unicodeScalars.map { $0.value < 0x20 ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())` is not a valid config key",
                               hint: "keys are environment variable names: letters, digits and `_`, not starting with a digit")
    }
    if ["PORT", "HOP_BIND", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "PATH"].contains(key) {
        throw HopError.invalid("\(key) is set by hop and cannot be configured", hint: "choose another name")
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Show or change an app's config values.",
        subcommands: [Show.self, Set.self, Unset.self], defaultSubcommand: Show.self)

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print an app's config values.")
        @Argument var app: String
        @Flag var json = false
        func run() throws {
            Hop.jsonMode = json
            let app = try checkedApp(self.app)
            let db = try openDB(.fromEnvironment())
            let config = try db.config(app: app)
            if json { Out.json(Dictionary(uniqueKeysWithValues: config.map { ($0.key, $0.value) })) } else {
                for (k, v) in config { Out.line("\(k)=\(v)") }
            }
        }
    }
    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Set values; a deployed app restarts on them without downtime.")
        @OptionGroup var arguments: ConfigSetArguments
        func run() throws { try arguments.run() }
    }
    struct Unset: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "unset", abstract: "Remove values; a deployed app restarts without them.")
        @OptionGroup var arguments: ConfigUnsetArguments
        func run() throws { try arguments.run() }
    }
}

struct ConfigSetArguments: ParsableArguments {
    @Argument var app: String
    @Argument(help: "KEY=VALUE …") var assignments: [String]
    @Option(help: "Seconds to watch the new generation after the switch.") var watch: Double = 5
    @Flag var json = false
    func run() throws {
        Hop.jsonMode = json
        try changeConfig(app: app, set: try parseAssignments(assignments), unset: [], watch: watch, json: json)
    }
}

struct ConfigUnsetArguments: ParsableArguments {
    @Argument var app: String
    @Argument(help: "KEY …") var keys: [String]
    @Option(help: "Seconds to watch the new generation after the switch.") var watch: Double = 5
    @Flag var json = false
    func run() throws {
        Hop.jsonMode = json
        for k in keys { try checkConfigKey(k) }
        try changeConfig(app: app, set: [], unset: keys, watch: watch, json: json)
    }
}

/// `hop config:set APP K=V` (Heroku/Dokku spelling).
struct ConfigSetAlias: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config:set", abstract: "Same as `hop config set`.")
    @OptionGroup var arguments: ConfigSetArguments
    func run() throws { try arguments.run() }
}

struct ConfigUnsetAlias: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config:unset", abstract: "Same as `hop config unset`.")
    @OptionGroup var arguments: ConfigUnsetArguments
    func run() throws { try arguments.run() }
}

/// Records the change; when the app is deployed, rolls out a generation with it. If that
/// generation fails, the previous values are restored with the previous generation.
func changeConfig(app rawApp: String, set: [(String, String)], unset: [String], watch: Double, json: Bool) throws {
    let app = try checkedApp(rawApp)
    guard !set.isEmpty || !unset.isEmpty else { throw HopError.invalid("nothing to change", hint: "give KEY=VALUE (set) or KEY (unset)") }
    let home = HopHome.fromEnvironment()
    let db = try openDB(home)
    let before = try db.config(app: app)
    guard try db.activeGeneration(app: app) != nil else {
        try db.updateConfig(app: app, set: set, unset: unset)
        if json { Out.json(["app": app, "deployed": false]) } else { Out.line("\(app): config saved; it applies at the next deploy") }
        return
    }
    let rt = try AppRuntime(home: home, db: db)
    let lock = try rt.lock(app)
    defer { withExtendedLifetime(lock) {} }
    guard let current = try db.activeGeneration(app: app), let build = try db.build(id: current.buildID) else {
        throw HopError(.notFound, "the build of \(app)'s serving generation is gone", hint: "deploy again")
    }
    try db.updateConfig(app: app, set: set, unset: unset)
    do {
        let r = try rt.rollout(build: build, watch: watch, op: "config")
        if json { Out.json(generationJSON(r.generation)) } else {
            Out.line(r.noop ? "\(app): config unchanged" : "\(app): generation \(r.generation.number) serves with the new config")
        }
    } catch {
        let keys = Swift.Set(before.map(\.key))
        try db.updateConfig(app: app, set: before.map { ($0.key, $0.value) }, unset: (set.map(\.0) + unset).filter { !keys.contains($0) })
        throw error
    }
}

struct AppsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apps", abstract: "List deployed apps.")
    @Flag var json = false
    func run() throws {
        Hop.jsonMode = json
        let home = HopHome.fromEnvironment()
        guard FileManager.default.fileExists(atPath: home.database) else {
            if json { Out.json([Any]()) } else { Out.line("no apps") }
            return
        }
        let db = try openDB(home)
        var rows: [[String: Any]] = []
        for app in try db.deployedApps() {
            let g = try db.activeGeneration(app: app)
            var o: [String: Any] = ["app": app, "generation": g?.number as Any, "serving": g != nil]
            if let g { o["build"] = g.buildID; o["scale"] = g.scale }
            rows.append(o)
        }
        if json { Out.json(rows); return }
        for r in rows {
            Out.line("\(r["app"]!)\t\((r["generation"] as? Int).map { "generation \($0)" } ?? "not serving")")
        }
    }
}

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "An app's running processes.")
    @Argument var app: String
    @Flag var json = false
    func run() throws {
        let locked = try LockedApp(self.app, json: json)
        defer { withExtendedLifetime(locked) {} }
        let (app, rt) = (locked.app, locked.rt)
        let g = try locked.serving()
        let procs = try rt.processes(g)
        if json {
            Out.json(["app": app, "generation": g.number, "processes": procs.map { p in
                ["unit": p["Id"] ?? "", "state": p["ActiveState"] ?? "", "sub": p["SubState"] ?? "",
                 "pid": Int(p["MainPID"] ?? "") ?? 0, "restarts": Int(p["NRestarts"] ?? "") ?? 0] as [String: Any]
            }])
            return
        }
        Out.line("\(app): generation \(g.number)")
        for p in procs { Out.line("  \(p["Id"] ?? "?")\t\(p["ActiveState"] ?? "?")/\(p["SubState"] ?? "?")\tpid \(p["MainPID"] ?? "?")\trestarts \(p["NRestarts"] ?? "?")") }
    }
}

struct ScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "Set instance counts (web=2 worker=1): a new generation, switched without downtime.")
    @Argument var app: String
    @Argument(help: "PROCESS=COUNT …") var counts: [String]
    @Option var watch: Double = 5
    @Flag var json = false
    func run() throws {
        Hop.jsonMode = json
        let app = try checkedApp(self.app)
        var scale: [String: Int] = [:]
        for c in counts {
            let parts = c.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let n = Int(parts[1]), (0...64).contains(n) else {
                throw HopError.invalid("`\(c)` is not PROCESS=COUNT with a count from 0 to 64", hint: "e.g. `hop scale \(app) web=2`")
            }
            scale[parts[0]] = n
        }
        guard !scale.isEmpty else { throw HopError.invalid("no PROCESS=COUNT given") }
        let locked = try LockedApp(app, json: json)
        defer { withExtendedLifetime(locked) {} }
        let rt = locked.rt
        guard let build = try rt.db.build(id: try locked.serving().buildID) else {
            throw HopError(.notFound, "the build of \(app)'s serving generation is gone", hint: "deploy it again")
        }
        let r = try rt.rollout(build: build, scale: scale, watch: watch, op: "scale")
        if json { Out.json(generationJSON(r.generation)) } else {
            Out.line(r.noop ? "\(app): already at that scale" : "\(app): generation \(r.generation.number) serves with \(r.generation.scale.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        }
    }
}

struct StartStopCommand {
    static func act(_ verb: String, app rawApp: String, json: Bool) throws {
        let locked = try LockedApp(rawApp, json: json)
        defer { withExtendedLifetime(locked) {} }
        let (app, rt, g) = (locked.app, locked.rt, try locked.serving())
        if verb == "restart" {
            guard let build = try rt.db.build(id: g.buildID) else { throw HopError(.notFound, "the build of \(app) is gone") }
            let r = try rt.rollout(build: build, watch: 0, force: true, op: "restart")
            if json { Out.json(generationJSON(r.generation)) } else { Out.line("\(app): restarted as generation \(r.generation.number)") }
            return
        }
        let units = try rt.processes(g).compactMap { $0["Id"] }
        if !units.isEmpty { try rt.host.systemctlChecked([verb] + units, what: "\(verb) \(app)") }
        if json { Out.json(["app": app, "generation": g.number, "action": verb]) } else { Out.line("\(app): \(verb == "start" ? "started" : "stopped")") }
    }
}

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start an app's processes.")
    @Argument var app: String
    @Flag var json = false
    func run() throws { try StartStopCommand.act("start", app: app, json: json) }
}
struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop an app's processes (its site answers 502 until `hop start`).")
    @Argument var app: String
    @Flag var json = false
    func run() throws { try StartStopCommand.act("stop", app: app, json: json) }
}
struct RestartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart an app without downtime (fresh instances, then switch).")
    @Argument var app: String
    @Flag var json = false
    func run() throws { try StartStopCommand.act("restart", app: app, json: json) }
}

/// Replaces hop with `command` (stdin/stdout/stderr pass through); returns only on failure.
func execReplacing(_ command: Command) throws -> Never {
    var path = command.executable
    if !path.hasPrefix("/") {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + path) { path = dir + "/" + path; break }
    }
    let args = [path] + command.arguments
    let cargs = args.map { strdup($0) } + [nil]
    execv(path, cargs)
    throw HopError(.environment, "could not run \(path): \(String(cString: strerror(errno)))")
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "An app's journal (all generations).")
    @Argument var app: String
    @Flag(name: .shortAndLong, help: "Follow.") var follow = false
    @Option(help: "Only this process.") var process: String?
    @Option(name: [.customShort("n"), .long], help: "Lines to show.") var lines: Int = 100
    func run() throws {
        let app = try checkedApp(self.app)
        if let p = process, p.isEmpty || !p.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            throw HopError.invalid("`\(p)` is not a process name")
        }
        let host = try ServiceHost.resolve(home: .fromEnvironment())
        let pattern = process.map { "hop-\(app)-g*-\($0)@*" } ?? "hop-\(app)-g*"
        var args = ["--no-pager", "-o", "short-iso", "-n", "\(max(0, lines))", "-u", pattern]
        if follow { args.append("-f") }
        try execReplacing(host.command("journalctl", args))
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a one-off command in the app's environment (its build, config, user and sandbox).")
    @Argument var app: String
    @Argument(parsing: .postTerminator) var command: [String]
    func run() throws {
        guard !command.isEmpty else { throw HopError.invalid("no command given", hint: "hop run \(self.app) -- CMD …") }
        // The lock (and recovery) only while the generation is looked up: its descriptor is
        // close-on-exec, so the one-off command does not hold it.
        let locked = try LockedApp(self.app, json: false)
        let (app, rt, g) = (locked.app, locked.rt, try locked.serving())
        let props = ["DynamicUser=yes", "PrivateUsers=yes", "StateDirectory=hop/\(app)", "ProtectSystem=strict", "ProtectHome=yes",
                     "PrivateTmp=yes", "NoNewPrivileges=yes", "EnvironmentFile=-\(rt.envFile(app, g.number))",
                     "WorkingDirectory=\(g.appPath)/app"]
        var args = ["--wait", "--pipe", "--quiet", "--collect", "--service-type=exec"]
        for p in props { args += ["-p", p] }
        args += ["--", g.appPath + "/bin/.hop-run"] + command
        try execReplacing(rt.host.command("systemd-run", args))
    }
}

struct DestroyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "destroy", abstract: "Stop an app and remove its units, site, profile and generations (its data stays unless --purge).")
    @Argument var app: String
    @Flag(help: "Also delete its config values and state directory.") var purge = false
    @Flag var json = false
    func run() throws {
        let locked = try LockedApp(self.app, json: json)
        defer { withExtendedLifetime(locked) {} }
        let (app, rt) = (locked.app, locked.rt)
        let gens = try rt.db.generations(app: app)
        guard !gens.isEmpty || purge else { throw HopError(.notFound, "\(app) is not deployed") }
        for g in gens { try rt.activator.stopAndRemove(app: app, number: g.number) }
        try rt.activator.nginx.remove(app: app)
        try? FileManager.default.removeItem(atPath: rt.host.path(AppRuntimePaths(app: app).directory))
        let dir = rt.home.apps + "/" + app
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix("profile") || name == "env" || name == "generation.nix" {
            try? FileManager.default.removeItem(atPath: dir + "/" + name)
        }
        try rt.db.forgetApp(app, config: purge)
        if purge {
            for d in ["/var/lib/private/hop/\(app)", "/var/lib/hop/\(app)"] { try? FileManager.default.removeItem(atPath: rt.host.path(d)) }
            try? FileManager.default.removeItem(atPath: rt.home.root + "/tls/" + app)
        }
        if json { Out.json(["app": app, "destroyed": true, "purged": purge]) } else { Out.line("\(app): destroyed\(purge ? " (config and data purged)" : "; config and data kept (use --purge to delete them)")") }
    }
}
