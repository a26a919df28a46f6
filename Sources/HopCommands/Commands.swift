import ArgumentParser
import Foundation
import AppSpec
import HopBasics
import HopCore
import Runtime
import HopStore
import NixBuild

/// hop's command line, a library so tests can run it in-process.
public struct Hop: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hop",
        abstract: "Build apps into reproducible Nix closures and run them.",
        version: hopVersion,
        subcommands: [BuildCommand.self, BuildsCommand.self, ShowCommand.self, ClosureCommand.self,
                      LockCommand.self, SeedCommand.self, DoctorCommand.self,
                      SBOMCommand.self, ProvenanceCommand.self, KeyCommand.self, VerifyCommand.self, NarHashCommand.self,
                      HostCommand.self, DeployCommand.self, RollbackCommand.self, GenerationsCommand.self, MetricsCommand.self, MetricsCollectCommand.self, AlertsCommand.self, AlertCommand.self, NotifyCommand.self, GCCommand.self,
                      ConfigCommand.self, ConfigSetAlias.self, ConfigUnsetAlias.self, AddonCommand.self, BackupCommand.self, AppCommand.self, AppsCommand.self, InfoCommand.self, PsCommand.self,
                      ScaleCommand.self, StartCommand.self, StopCommand.self, RestartCommand.self, LogsCommand.self,
                      RunCommand.self, DestroyCommand.self, DomainsCommand.self, UserCommand.self, TokenCommand.self, AuditCommand.self, ServerCommand.self,
                      GitCommand.self, SSHKeyCommand.self, GitShellCommand.self, GitHookCommand.self, SettleCommand.self,
                      ExportCommand.self, ImportCommand.self, TrustCommand.self, RemoteCommand.self, TLSCommand.self, CheckCommand.self, InitCommand.self])
    public init() {}

    /// Runs hop with `arguments` and returns the exit status: HopError codes as documented,
    /// 2 for unusable arguments, 0 for help and version.
    public static func main(arguments: [String]) -> Int32 {
        // A peer that closes early (age after a damaged chunk, a proxy whose app is not up yet, a
        // client gone) must give hop an EPIPE error to handle, never kill it mid-operation.
        signal(SIGPIPE, SIG_IGN)
        // A command waiting for another one's lock says whose, every few seconds.
        AppLock.onWait = { Out.err("hop: " + $0) }
        // `--json` (before a `--`) makes every error JSON too, argument errors included.
        jsonMode = arguments.prefix { $0 != "--" }.contains("--json")
        do {
            let args = try Remote.select(arguments)
            var command = try parseAsRoot(args)
            if Remote.current != nil, !(command is RemoteCapable) {
                throw Remote.refuse(args.prefix { !$0.hasPrefix("-") }.prefix(2).joined(separator: " "))
            }
            try command.run()
            return 0
        } catch let e as HopError {
            report(e)
            return e.code.exitCode
        } catch let e as ExitCode {
            return e.rawValue
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success { print(message); return 0 }
            if jsonMode {
                // The argument parser's message, as the same error object every other error is.
                let text = message.split(separator: "\n").first.map(String.init) ?? message
                let e = HopError.invalid(text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text, hint: "see `hop help`")
                report(e)
                return e.code.exitCode
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            return 2
        }
    }

    static func report(_ e: HopError) {
        if jsonMode {
            Out.json(["error": e.jsonObject])
        } else {
            Out.err(e.description)
        }
    }

    nonisolated(unsafe) static var jsonMode = false
    /// `--wait`: activations return after their watch window and retirement, not once they serve.
    nonisolated(unsafe) static var waitMode = false
}

/// Options shared by commands that resolve Python dependencies.
struct IndexOptions: ParsableArguments {
    @Option(name: .customLong("find-links"), help: "A local wheel directory (repeatable). Implies --offline unless --index-url is given.")
    var findLinks: [String] = []
    @Option(name: .customLong("index-url"), help: "Python package index (default: PyPI).")
    var indexURL: String?
    @Flag(help: "Resolve from --find-links only; never contact an index.")
    var offline = false

    var index: PackageIndex {
        var i = PackageIndex.fromEnvironment()
        if !findLinks.isEmpty {
            i.findLinks = findLinks.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            i.offline = indexURL == nil
        }
        if let u = indexURL { i.indexURL = u; i.offline = false }
        if offline { i.offline = true }
        return i
    }
}

func validateAppFlag(_ app: String?) throws {
    if let app { _ = try validateAppName(app, at: nil) }
}

/// A build record as JSON, its JSON columns decoded: a column that does not decode is an error.
/// A build as `hop build --json` starts it: the same `BuildInfo` as `hop show --json` and the API.
func buildJSON(_ b: BuildRecord) throws -> [String: Any] {
    let data = try JSONEncoder.stable.encode(try BuildInfo(b))
    return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
}

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Build an app's source tree into a closure in the Nix sandbox.")

    @Argument(help: "The app's source directory.") var path: String
    @Option(help: "App name (default: [metadata] id, else the directory name).", completion: NameCompletion.apps) var app: String?
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    @Flag(name: [.customShort("L"), .long], help: "Print the full build log.") var printBuildLogs = false
    @Flag(help: "Resolve dependencies again even if a previous build's lock matches.") var relock = false
    @Option(help: "Use a pinned nixpkgs tarball instead of seeds (URL or path).") var nixpkgs: String?
    @Option(name: .customLong("nixpkgs-sha256"), help: "sha256 of the --nixpkgs tarball (required with it).") var nixpkgsSHA256: String?
    @OptionGroup var indexOptions: IndexOptions

    func validate() throws {
        if (nixpkgs == nil) != (nixpkgsSHA256 == nil) {
            throw ValidationError("--nixpkgs and --nixpkgs-sha256 go together: a nixpkgs is only used pinned by hash")
        }
    }

    func run() throws {
        Hop.jsonMode = json
        try validateAppFlag(app)
        var opts = BuildOptions()
        opts.appName = app
        opts.index = indexOptions.index
        opts.relock = relock
        if let n = nixpkgs, let h = nixpkgsSHA256 {
            opts.nixpkgs = (n.contains("://") ? n : "file://" + URL(fileURLWithPath: n).standardizedFileURL.path, h)
        }
        if printBuildLogs && !json { opts.log = { Out.err($0) } }
        let t0 = Date()
        let outcome = try cliOperations(json: json).build(.init(path: path, options: opts))
        if !json { Out.endProgress() }
        let b = outcome.record
        if json {
            var o = try buildJSON(b)
            o["cached"] = outcome.cached
            o["expression"] = outcome.expressionFile
            o["seconds"] = (Date().timeIntervalSince(t0) * 1000).rounded() / 1000
            Out.json(o)
        } else {
            Out.line("\(outcome.cached ? "up to date" : "built") \(b.app) (build \(b.id)) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
            Out.line("  out:     \(b.outPath)")
            Out.line("  closure: \(b.pathCount) paths, \(humanBytes(b.closureSize))")
            Out.line("  source:  \(b.sourceHash)")
        }
    }
}

struct BuildsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "builds", abstract: "List recorded builds, newest first.")
    @Argument(help: "Only this app's builds.", completion: NameCompletion.apps) var app: String?
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }

    func run() throws {
        Hop.jsonMode = json
        try validateAppFlag(app)
        let builds = try cliOperations(json: json).builds(app: app)
        if json { Out.json(try builds.map(buildJSON)); return }
        var t = Table("ID", "APP", "BUILDER", "FINISHED", "SIZE", "OUT")
        for b in builds { t.add("\(b.id)", b.app, b.builder, iso(b.finishedAt), humanBytes(b.closureSize), b.outPath) }
        t.print(empty: "no builds")
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one build record: inputs, lock, toolchain, closure summary.")
    @Argument(help: "A build id, or an app name for its latest build.") var build: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }

    func run() throws {
        Hop.jsonMode = json
        if json { emit(try runOperation(GetBuild.self, .init(id: build), json: json)); return }
        let (b, _) = try cliOperations(json: json).findBuild(build)
        Out.line("build \(b.id): \(b.app)")
        Out.line("  out:        \(b.outPath)")
        Out.line("  drv:        \(b.drvPath)")
        Out.line("  builder:    \(b.builder) (toolchain: \(b.toolchain))")
        Out.line("  source:     \(b.sourceHash)  \(b.sourcePath)")
        if let c = b.sourceCommit { Out.line("  commit:     \(c)  \(b.sourceURI ?? "")") }
        Out.line("  closure:    \(b.pathCount) paths, \(humanBytes(b.closureSize))")
        Out.line("  built:      \(iso(b.startedAt)) → \(iso(b.finishedAt)) by hop \(b.hopVersion)")
        Out.line("  gc root:    \(b.gcRoot)")
        if let s = b.seedsJSON {
            guard let seeds = try? JSONDecoder().decode([[String: String]].self, from: Data(s.utf8)) else {
                throw HopError(.internalError, "build \(b.id) has an unreadable seeds column", hint: "build the app again")
            }
            for seed in seeds { Out.line("  seed:       \(seed["name"] ?? "") \(seed["version"] ?? "") \(seed["narHash"] ?? "")") }
        }
        if let l = b.lockJSON {
            let lock = try DependencyLock.decode(l, file: "build \(b.id) lock")
            for w in lock.python { Out.line("  locked:     \(w.name) \(w.version) sha256:\(w.sha256)") }
            for p in lock.npm { Out.line("  locked:     \(p.name) \(p.version) \(p.integrity)") }
            for m in lock.go { Out.line("  vendored:   \(m.path) \(m.version)") }
        }
    }
}

struct ClosureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "closure", abstract: "List the store paths of a build's runtime closure.")
    @Argument(help: "A build id, or an app name for its latest build.") var build: String
    @Flag(help: "Show the reference tree from the app's output.") var tree = false
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }

    func run() throws {
        Hop.jsonMode = json
        let (b, db) = try cliOperations(json: json).findBuild(build)
        let closure = try db.closure(buildID: b.id)
        if json {
            Out.json(closure.map { ["path": $0.path, "narHash": $0.narHash, "narSize": Int($0.narSize),
                                    "deriver": $0.deriver as Any, "references": $0.references] })
            return
        }
        if !tree {
            for p in closure { Out.line(pad(humanBytes(p.narSize), 11) + p.path) }
            Out.line("\(closure.count) paths, \(humanBytes(b.closureSize))")
            return
        }
        let byPath = Dictionary(uniqueKeysWithValues: closure.map { ($0.path, $0) })
        var seen = Set<String>()
        func walk(_ path: String, _ prefix: String, _ isLast: Bool, _ root: Bool) {
            let label = root ? path : prefix + (isLast ? "└── " : "├── ") + path
            let refs = (byPath[path]?.references ?? []).filter { $0 != path }
            if seen.contains(path) && !refs.isEmpty { Out.line(label + " […]"); return }
            Out.line(label)
            seen.insert(path)
            let childPrefix = root ? "" : prefix + (isLast ? "    " : "│   ")
            for (i, r) in refs.enumerated() { walk(r, childPrefix, i == refs.count - 1, false) }
        }
        walk(b.outPath, "", true, true)
    }
}

struct LockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lock", abstract: "Resolve an app's dependencies and write PATH/hop.lock with a sha256 per artifact.")
    @Argument(help: "The app's source directory.") var path: String
    @Option(help: "App name.", completion: NameCompletion.apps) var app: String?
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    @OptionGroup var indexOptions: IndexOptions

    func run() throws {
        Hop.jsonMode = json
        try validateAppFlag(app)
        let dir = URL(fileURLWithPath: path).standardizedFileURL.path
        let spec = try AppSpecLoader.load(directory: dir, appName: app)
        let lock = try Locker.lock(appDir: dir, spec: spec, index: indexOptions.index, runner: SystemRunner(),
                                   sandbox: tenantSandbox(HopHome.fromEnvironment()))
        let text = lock.json()
        try writeFileAtomically(dir + "/hop.lock", text)
        if json { Out.json(try JSONSerialization.jsonObject(with: Data(text.utf8))); return }
        Out.line("wrote \(dir)/hop.lock: \(lock.python.count + lock.npm.count + lock.go.count) artifacts (\(spec.build.builder.rawValue))")
        for w in lock.python { Out.line("  \(w.name) \(w.version)  sha256:\(w.sha256)") }
        for p in lock.npm { Out.line("  \(p.name) \(p.version)  \(p.integrity)") }
        for m in lock.go { Out.line("  \(m.path) \(m.version)") }
    }
}

struct SeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "seed", abstract: "Manage content-addressed seed toolchains for air-gapped builds.",
                                                    subcommands: [Import.self, List.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "import", abstract: "Import host toolchains into the store as seeds.")
        @Argument(help: "Seeds to import: \(SeedKind.allCases.map(\.rawValue).joined(separator: ", ")).") var kinds: [String] = []
        @Flag(help: "Import every seed.") var all = false
        @Option(help: "Import from this executable instead of the default host path (one seed only).") var from: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func validate() throws {
            if kinds.isEmpty && !all { throw ValidationError("name the seeds to import, or pass --all") }
            for k in kinds where SeedKind(rawValue: k) == nil {
                throw ValidationError("unknown seed '\(k)'; seeds are: \(SeedKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if from != nil && (all || kinds.count != 1) { throw ValidationError("--from applies to exactly one seed") }
        }

        func run() throws {
            let wanted = all ? SeedKind.allCases.map(\.rawValue) : kinds
            let seeds = try runOperation(ImportSeeds.self, .init(kinds: wanted, from: from), json: json)
            if json { emit(seeds); return }
            Out.endProgress()
            for s in seeds { Out.line("seed \(s.name) \(s.version): \(s.storePath) (\(s.narHash))") }
        }
    }

    struct List: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List imported seeds with their hashes.")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let seeds = try runOperation(ListSeeds.self, NoInput(), json: json)
            if json { emit(seeds); return }
            var t = Table("SEED", "VERSION", "NAR HASH", "STORE PATH")
            for s in seeds { t.add(s.name, s.version, s.narHash, s.storePath + (s.valid ? "" : "  (MISSING from store)")) }
            t.print(empty: "no seeds; run `hop seed import --all`")
        }
    }
}
