import ArgumentParser
import Foundation
import Logging
import AppSpec
import HopBasics
import HopCore
import HopStore
import NixBuild
import Runtime

/// `APP` arguments: checked against hop's name rules before anything is opened.
func checkedApp(_ app: String) throws -> String { try Operations.checkedApp(app) }

/// The operations for one CLI invocation: root at the terminal, progress on stderr (not with --json).
func cliOperations(json: Bool) -> Operations {
    Hop.jsonMode = json
    return Operations(cliContext(json: json))
}

func cliContext(json: Bool) -> HopContext {
    // The terminal shows results and progress; the runner's per-operation log line is for the
    // server's log, so the CLI's logger prints warnings and errors only.
    var logger = Logger(label: "hop")
    logger.logLevel = .warning
    var ctx = HopContext(home: .fromEnvironment(), principal: .root, via: "cli", logger: logger, progress: { (e: HopCore.ProgressEvent) -> Void in
        if !json { CLIProgress.render(e) } else if e.phase == "warning" { Out.err("hop: " + e.message) }
    })
    // A deploy returns once the new generation serves; `hop settle` finishes it (`--wait` waits).
    ctx.settleInBackground = !Hop.waitMode
    return ctx
}

/// Renders progress events on stderr: build counters and the watch countdown as one redrawn line,
/// the URL and activation steps as lines of their own.
enum CLIProgress {
    static func render(_ e: HopCore.ProgressEvent) {
        switch e.phase {
        case "build":
            Out.progress("[\(e.done ?? 0)/\(e.total ?? 0)] \(e.message)")
        case "url":
            Out.endProgress()
            Out.err("serving at \(e.message)")
        case "watch":
            Out.progress("\(e.message) (the previous generation stays ready until then)")
            if e.done == e.total { Out.endProgress() }
        case "serving":
            Out.endProgress()
        default:
            Out.endProgress()
            Out.err("hop: " + e.message)
        }
    }
}

func emit<T: Encodable>(_ value: T) {
    let data = (try? JSONEncoder.stable.encode(value)) ?? Data("null".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

struct DeployCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "deploy",
        abstract: "Build an app and make it serve: a new generation, health-gated, switched without dropping a request.")
    @Argument(help: "The app's source directory (or --build ID).") var path: String?
    @Option(help: "Deploy a recorded build (one built here, or imported with `hop import`) instead of a source tree.") var build: Int64?
    @Option(help: "App name (default: [metadata] id, else the directory name).", completion: NameCompletion.apps) var app: String?
    @Option(help: "Seconds to watch the new generation after the switch; it is rolled back if it fails meanwhile.") var watch: Double = Defaults.watch
    @Flag(help: "Make a new generation even when nothing changed.") var force = false
    @OptionGroup var waitOption: WaitOption
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    @OptionGroup var indexOptions: IndexOptions

    func run() throws {
        waitOption.apply()
        let r = try appBackend(json: json).deploy(path: path, build: build, app: app, watch: watch, force: force, index: indexOptions.index)
        Out.endProgress()
        if json { emit(r); return }
        if r.noop {
            Out.line("\(r.app): generation \(r.generation) already serves build \(r.build); nothing to do (\(String(format: "%.2f", r.seconds)) s)")
        } else {
            Out.line("\(r.app): generation \(r.generation) serves at \(r.url) (build \(r.build), \(String(format: "%.1f", r.seconds)) s)"
                     + (r.watchingUntil != nil ? "; watching it for \(formatSeconds(watch)) in the background (`hop generations \(r.app)` shows the verdict; --wait waits for it)" : ""))
        }
    }
}

struct RollbackCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Serve an earlier generation again (default: the previous one).")
    @Argument(completion: NameCompletion.apps) var app: String
    @Option(help: "The generation to serve.") var to: Int?
    @Flag(help: "Also restore the data as it was before the current generation switched in (its before-deploy backup).") var withData = false
    @Flag(help: "Confirm --with-data without being asked (needed when there is no terminal, and with --json).") var yes = false
    @OptionGroup var waitOption: WaitOption
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        waitOption.apply()
        Hop.jsonMode = json
        if withData {
            _ = try checkedApp(app)
            try ConfirmGate.require("replace \(app)'s current data with the data from before its current generation", command: "rollback \(app) --with-data",
                                     expected: app, yes: yes, json: json)
        }
        let r = try appBackend(json: json).rollback(app: app, to: to, withData: withData)
        if json { emit(r) } else {
            Out.line("\(r.app): generation \(r.generation) serves again\(withData ? " with its data" : "") at \(r.url) (was \(r.from); \(String(format: "%.2f", r.seconds)) s)")
        }
    }
}

struct GenerationsCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "generations", abstract: "List an app's generations.")
    @Argument(completion: NameCompletion.apps) var app: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let gens = try appBackend(json: json).generations(app: app)
        if json { emit(gens); return }
        var t = Table("", "GEN", "BUILD", "CREATED", "STATUS", "PROCESSES", "NOTE")
        for g in gens {
            t.add(g.current ? "*" : "", "\(g.generation)", "\(g.build)", g.createdAt, g.status, processSummary(g), g.reason ?? "")
        }
        t.print(empty: "\(app) has no generations")
    }
}

struct MetricsCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "metrics",
        abstract: "An app's requests through nginx (by status class, bytes, latency percentiles) and its processes' CPU, memory, tasks, restarts, per 10 s.")
    @Argument(completion: NameCompletion.apps) var app: String
    @Option(help: "How far back: 90s, 15m, 1h, 24h, 7d (at most 30d).") var since: String = "1h"
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let m = try appBackend(json: json).metrics(app: app, since: since)
        if json { emit(m); return }
        let t = m.total
        func ms(_ v: Double?) -> String { v.map { String(format: "%.1f ms", $0) } ?? "-" }
        Out.line("\(app), since \(m.since): \(t.requests) requests (2xx \(t.classes[1]), 3xx \(t.classes[2]), 4xx \(t.classes[3]), 5xx \(t.classes[4])), \(t.bytes) bytes sent")
        Out.line("latency p50 \(ms(t.p50)), p95 \(ms(t.p95)), p99 \(ms(t.p99))")
        if !m.points.isEmpty { Out.line("requests per 10 s: " + sparkline(m.points.map { Double($0.requests) })) }
        for p in m.processes {
            let l = p.latest
            let memory = l.memory.map { humanBytes($0) + (l.memoryLimit.map { " of " + humanBytes($0) } ?? "") } ?? "-"
            Out.line("\(p.process): \(l.instances) running, CPU \(String(format: "%.1f", p.cpuPercent)) % of a core, memory \(memory), "
                     + "\(l.tasks.map(String.init) ?? "-") tasks, \(p.restarts) restart\(p.restarts == 1 ? "" : "s"), \(p.oomKills) OOM kill\(p.oomKills == 1 ? "" : "s")")
            Out.line("  CPU: " + sparkline(p.points.map(\.cpuPercent)) + "  memory: " + sparkline(p.points.map { Double($0.memory ?? 0) }))
        }
    }
}

struct MetricsCollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics-collect",
        abstract: "What the measures timer runs every 10 s: requests, processes and the host into metrics.db, then one round of alerts.", shouldDisplay: false)
    @Flag(help: "Run apps under this machine's systemd (set when run by the service host's timer).") var nativeHost = false
    func run() throws {
        var ctx = cliContext(json: false)
        if nativeHost { ctx.serviceHostOverride = .native() }
        _ = try Operations(ctx).collectMetrics()
    }
}

/// Values as a line of block characters, lowest to highest (at most the last 60).
func sparkline(_ values: [Double]) -> String {
    let blocks = Array("▁▂▃▄▅▆▇█")
    let v = values.suffix(60)
    guard let top = v.max(), top > 0 else { return String(repeating: "▁", count: v.count) }
    return String(v.map { blocks[min(blocks.count - 1, Int(($0 / top) * Double(blocks.count - 1)))] })
}

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc",
        abstract: "Drop old generations (their profile links, GC roots and env files); the serving one is always kept.")
    @Option(help: "Generations to keep per app besides the serving one.") var keep: Int = Defaults.keepGenerations
    @Option(help: "Only this app.", completion: NameCompletion.apps) var app: String?
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let r = try cliOperations(json: json).gc(keep: keep, app: app)
        if json { emit(r) } else {
            Out.line(r.removed.isEmpty ? "nothing to drop" : "dropped \(r.removed.count) generation\(r.removed.count == 1 ? "" : "s"); `nix-store --gc` frees their store paths")
        }
    }
}

func shownValue(_ v: String) -> String {
    guard v.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\"" || $0 == "\\" }) else { return v }
    var out = "\""
    for c in v.unicodeScalars {
        switch c {
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where c.value < 0x20 || c.value == 0x7F: out += String(format: "\\x%02x", c.value)
        default: out.unicodeScalars.append(c)
        }
    }
    return out + "\""
}

/// KEY=VALUE arguments.
func parseAssignments(_ args: [String]) throws -> [(String, String)] {
    try args.map { a in
        guard let eq = a.firstIndex(of: "=") else {
            throw HopError.invalid("`\(a)` is not KEY=VALUE", hint: "write e.g. `hop config set blog SECRET_KEY=…`")
        }
        return (String(a[..<eq]), String(a[a.index(after: eq)...]))
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Show or change an app's config values.",
        subcommands: [Show.self, Set.self, Unset.self], defaultSubcommand: Show.self)

    struct Show: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "show",
            abstract: "Every variable the app's processes receive, with its source (config, generated, computed, addon, hop3.toml, hop).")
        @Argument(completion: NameCompletion.apps) var app: String
        @Flag(help: "Show the values of generated, computed and addon-provided variables too (deployers and admins; audited).") var reveal = false
        @Flag(help: "With --json: every variable with its source, as shown without --json (default: the values set with `hop config set`).") var all = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let backend = appBackend(json: json)
            if json && !all && !reveal { emit(try backend.config(app: app)); return }
            let env = try backend.environment(app: app, reveal: reveal)
            if json { emit(env); return }
            var t = Table("KEY", "SOURCE", "VALUE")
            // A value with a newline or another control character is shown quoted and escaped,
            // so it can never read as a second key.
            for v in env.variables { t.add(v.key, v.source, v.value.map(shownValue) ?? "(hidden; --reveal shows it)") }
            t.print(empty: "\(app) has no config values")
        }
    }
    struct Set: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Set values; a deployed app restarts on them without downtime.")
        @OptionGroup var arguments: ConfigSetArguments
        func run() throws { try arguments.run() }
    }
    struct Unset: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "unset", abstract: "Remove values; a deployed app restarts without them.")
        @OptionGroup var arguments: ConfigUnsetArguments
        func run() throws { try arguments.run() }
    }
}

struct ConfigSetArguments: ParsableArguments {
    @Argument(completion: NameCompletion.apps) var app: String
    @Argument(help: "KEY=VALUE …") var assignments: [String]
    @Option(help: "Seconds to watch the new generation after the switch.") var watch: Double = Defaults.watch
    @OptionGroup var waitOption: WaitOption
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        waitOption.apply()
        let r = try appBackend(json: json).changeConfig(app: app, set: try parseAssignments(assignments), unset: [], watch: watch)
        renderConfigResult(r, json: json)
    }
}

struct ConfigUnsetArguments: ParsableArguments {
    @Argument(completion: NameCompletion.apps) var app: String
    @Argument(help: "KEY …") var keys: [String]
    @Option(help: "Seconds to watch the new generation after the switch.") var watch: Double = Defaults.watch
    @OptionGroup var waitOption: WaitOption
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        waitOption.apply()
        let r = try appBackend(json: json).changeConfig(app: app, set: [], unset: keys, watch: watch)
        renderConfigResult(r, json: json)
    }
}

func renderConfigResult(_ r: ConfigResult, json: Bool) {
    if json { emit(r); return }
    guard let g = r.generation else { Out.line("\(r.app): config saved; it applies at the next deploy"); return }
    Out.line(r.noop == true ? "\(r.app): config unchanged" : "\(r.app): generation \(g.generation) serves with the new config")
}

/// `hop config:set APP K=V` (Heroku/Dokku spelling).
struct ConfigSetAlias: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "config:set", abstract: "Same as `hop config set`.")
    @OptionGroup var arguments: ConfigSetArguments
    func run() throws { try arguments.run() }
}

struct ConfigUnsetAlias: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "config:unset", abstract: "Same as `hop config unset`.")
    @OptionGroup var arguments: ConfigUnsetArguments
    func run() throws { try arguments.run() }
}

struct AppsCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "apps", abstract: "List deployed apps: state (checked now: units active, URL answering through nginx), serving generation and URL.")
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let rows = try appBackend(json: json).apps()
        if json { emit(rows); return }
        if rows.isEmpty { Out.line("no apps"); return }
        for line in renderApps(rows) { Out.line(line) }
    }
}

/// `hop apps`' table: the checked state's verdict in its column (`serving`, `stopped`, `not
/// answering`…), the detail and what else the state says (a failed generation, a failed
/// certificate renewal) on indented lines below. Pure.
func renderApps(_ rows: [AppSummary]) -> [String] {
    var out = [pad("APP", 24) + pad("GENERATION", 12) + pad("STATE", 15) + "URL"]
    for r in rows {
        var parts = r.state.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        let head = parts.isEmpty ? r.state : parts.removeFirst()
        let colon = head.firstIndex(of: ":")
        let verdict = colon.map { String(head[..<$0]) } ?? head
        if let colon { parts.insert(head[head.index(after: colon)...].trimmingCharacters(in: .whitespaces), at: 0) }
        out.append(pad(r.app, 24) + pad(r.generation.map(String.init) ?? "-", 12) + pad(verdict, 15) + (r.url ?? ""))
        for p in parts where !p.isEmpty { out.append("  " + p) }
    }
    return out
}

struct DomainsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "domains", abstract: "Which app owns which domain.")
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let rows = try cliOperations(json: json).domains()
        if json { emit(rows); return }
        var t = Table("DOMAIN", "APP")
        for r in rows { t.add(r.domain, r.app) }
        t.print(empty: "no domains")
    }
}

struct PsCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "An app's running processes.")
    @Argument(completion: NameCompletion.apps) var app: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let r = try appBackend(json: json).ps(app: app)
        if json { emit(r); return }
        Out.line("\(r.app): generation \(r.generation)")
        var t = Table("UNIT", "STATE", "PID", "RESTARTS")
        for p in r.processes { t.add(p.unit, "\(p.state)/\(p.sub)", p.pid == 0 ? "-" : "\(p.pid)", "\(p.restarts)") }
        t.print(empty: "no processes")
    }
}

struct ScaleCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "Set instance counts (web=2 worker=1): a new generation, switched without downtime.")
    @Argument(completion: NameCompletion.apps) var app: String
    @Argument(help: "PROCESS=COUNT …") var counts: [String]
    @Option var watch: Double = Defaults.watch
    @OptionGroup var waitOption: WaitOption
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        waitOption.apply()
        var scale: [String: Int] = [:]
        for c in counts {
            let parts = c.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let n = Int(parts[1]), (0...AppBounds.maxInstancesPerProcess).contains(n) else {
                throw HopError.invalid("`\(c)` is not PROCESS=COUNT with a count from 0 to \(AppBounds.maxInstancesPerProcess)", hint: "e.g. `hop scale \(app) web=2`")
            }
            scale[parts[0]] = n
        }
        let g = try appBackend(json: json).scale(app: app, counts: scale, watch: watch)
        if json { emit(g) } else {
            Out.line("\(g.app): generation \(g.generation) serves with \(processSummary(g))")
        }
    }
}

struct StartStopCommand {
    static func act(_ verb: String, app: String, json: Bool) throws {
        let r = try appBackend(json: json).control(verb, app: app)
        if json { emit(r) } else {
            Out.line(verb == "restart" ? "\(r.app): restarted as generation \(r.generation ?? 0)" : "\(r.app): \(verb == "start" ? "started" : "stopped")")
        }
    }
}

struct StartCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start an app's processes; returns once the app answers its health check.")
    @Argument(completion: NameCompletion.apps) var app: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws { try StartStopCommand.act("start", app: app, json: json) }
}
struct StopCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop an app's processes, sockets and timers; its site answers 503 (a page saying so) until `hop start`, deploy, rollback or restart.")
    @Argument(completion: NameCompletion.apps) var app: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws { try StartStopCommand.act("stop", app: app, json: json) }
}
struct RestartCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart an app without downtime (fresh instances, then switch).")
    @Argument(completion: NameCompletion.apps) var app: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws { try StartStopCommand.act("restart", app: app, json: json) }
}

/// Runs a one-off command's unit attached to this terminal (stdin/stdout/stderr pass through) and
/// exits with its status. When hop is interrupted or terminated, or systemd-run returns for any
/// reason, the unit is stopped: a `hop run` never outlives its client.
func runAttached(_ plan: RunPlan) throws -> Never {
    var path = plan.command.executable
    if !path.hasPrefix("/") {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + path) { path = dir + "/" + path; break }
    }
    // stdin/stdout/stderr and the environment are hop's; signals default, none blocked.
    let pid: pid_t
    do throws(Spawn.Failure) { pid = try Spawn.spawn([path] + plan.command.arguments) } catch {
        throw HopError(.environment, "could not run \(path): \(error.message)")
    }
    let stop: @Sendable () -> Void = { _ = try? SystemRunner().run(plan.stop) }
    var sources: [DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { stop(); kill(pid, SIGTERM) }
        source.resume()
        sources.append(source)
    }
    let status = Spawn.wait(pid)
    stop()
    withExtendedLifetime(sources) {}
    exit(status)
}

/// Replaces hop with `command` (stdin/stdout/stderr pass through); returns only on failure.
func execReplacing(_ command: Command) throws -> Never {
    var path = command.executable
    if !path.hasPrefix("/") {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + path) { path = dir + "/" + path; break }
    }
    let args = [path] + command.arguments
    let cargs = args.map { strdup($0) } + [nil]
    for (k, v) in command.environment { if let v { setenv(k, v, 1) } else { unsetenv(k) } }
    execv(path, cargs)
    throw HopError(.environment, "could not run \(path): \(String(cString: strerror(errno)))")
}

struct LogsCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "An app's journal (all generations).")
    @Argument(completion: NameCompletion.apps) var app: String
    @Flag(name: .shortAndLong, help: "Follow.") var follow = false
    @Option(help: "Only this process.") var process: String?
    @Option(name: [.customShort("n"), .long], help: "Lines to show.") var lines: Int = Defaults.logLines
    func run() throws {
        if let client = RemoteClient.current {
            guard !follow, process == nil else {
                throw HopError.invalid("--follow and --process are not available against a remote yet", hint: "run `hop logs` on the server, or without them")
            }
            let r: LogLines = try client.call("GET", "/api/apps/\(app)/logs", query: ["lines": String(lines)])
            for l in r.lines { Out.line(l) }
            return
        }
        try execReplacing(try cliOperations(json: false).logsCommand(app: app, lines: lines, follow: follow, process: process))
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a one-off command in the app's environment (its build, config, user and sandbox).")
    @Argument(completion: NameCompletion.apps) var app: String
    @Argument(parsing: .postTerminator) var command: [String]
    func run() throws {
        try runAttached(try cliOperations(json: false).runCommand(app: app, command: command))
    }
}

struct DestroyCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "destroy", abstract: "Stop an app and remove its units, site, profile and generations (its data stays unless --purge).")
    @Argument(completion: NameCompletion.apps) var app: String
    @Flag(help: "Also delete its config values, state directory, volumes and the addons only it uses.") var purge = false
    @Flag(help: "Confirm --purge without being asked (needed when there is no terminal, and with --json).") var yes = false
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        Hop.jsonMode = json
        if purge {
            _ = try checkedApp(app)
            try ConfirmGate.require("delete \(app)'s config values, data, volumes and the addons only it uses", command: "destroy \(app) --purge",
                                     expected: app, yes: yes, json: json)
        }
        let r = try appBackend(json: json).destroy(app: app, purge: purge)
        if json { emit(r) } else { Out.line("\(r.app): destroyed\(purge ? " (config and data purged)" : "; config and data kept (use --purge to delete them)")") }
    }
}

/// A generation's processes as `name=count`, a cron process as `name=timer(SCHEDULE)`: it runs
/// from a systemd timer, so its instance count (0) would say it never runs.
func processSummary(_ g: GenerationInfo) -> String {
    let timers = g.timers ?? [:]
    return g.scale.keys.sorted().map { name in
        if let schedule = timers[name] { return "\(name)=timer(\(schedule))" }
        return "\(name)=\(g.scale[name] ?? 0)"
    }.joined(separator: " ")
}

/// `--wait` on the commands that activate a generation (deploy, rollback, scale, config).
struct WaitOption: ParsableArguments {
    @Flag(help: "Return after the watch window and the old generation's retirement, with the watch's verdict (exit 8 if it rolled back), not as soon as the new generation serves.")
    var wait = false
    func apply() { Hop.waitMode = wait }
}
