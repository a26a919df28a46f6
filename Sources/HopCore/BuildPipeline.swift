import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Provenance

/// Options a build takes from the command line or a test.
public struct BuildOptions: Sendable {
    public var appName: String?
    public var index = PackageIndex.fromEnvironment()
    /// nil: seeds. Otherwise a pinned nixpkgs tarball (url, sha256).
    public var nixpkgs: (url: String, sha256: String)?
    /// Resolve dependencies again even when a previous build's lock matches.
    public var relock = false
    public var progress: (@Sendable (BuildProgress) -> Void)?
    /// A step worth telling the user about before it happens (a seed imported on first need).
    public var note: (@Sendable (String) -> Void)?
    public var log: (@Sendable (String) -> Void)?
    /// Where the source tree came from when it was pushed: the commit and the repository's URI,
    /// recorded with the build and named in its provenance.
    public var pushedCommit: (commit: String, uri: String)?
    public init() {}
}

/// What `hop build` did.
public struct BuildOutcome: Sendable {
    public var record: BuildRecord
    /// True when the output was already built and recorded: nothing was rebuilt.
    public var cached: Bool
    public var expressionFile: String
    public var closure: [StorePathInfo]
    public var plan: BuildPlan
}

/// App tree → validated metadata → lock → canonical source in the store → generated expression
/// → sandboxed build → closure recorded in SQLite with a GC root. Validation and locking happen
/// before anything is written, so bad input leaves the store, the DB and HOP_HOME untouched.
public struct BuildPipeline: Sendable {
    public let home: HopHome
    public let runner: any ProcessRunner
    public var nix: NixDriver { NixDriver(runner: runner, store: NixStoreReader.forRunner(runner)) }

    public init(home: HopHome, runner: any ProcessRunner = SystemRunner()) {
        self.home = home
        self.runner = runner
    }

    /// Seeds a builder needs.
    public static func seedKinds(for builder: Builder) -> [SeedKind] {
        switch builder {
        case .python: SeedKind.base + [.python]
        case .node: SeedKind.base + [.node]
        case .go: SeedKind.base + [.go]
        case .php: SeedKind.base + [.php]
        case .ruby: SeedKind.base + [.ruby]
        case .static, .shell, .nix: SeedKind.base
        }
    }

    public func build(path: String, options: BuildOptions = BuildOptions()) throws -> BuildOutcome {
        let started = Date()
        let appDir = try resolveAppDir(path)
        // 1. Metadata: pure, located errors, nothing written.
        let spec = try AppSpecLoader.load(directory: appDir, appName: options.appName)
        // 2. Toolchain: seeds must be imported (checked before any write).
        try home.checkDatabaseNotLost()
        let dbExists = FileManager.default.fileExists(atPath: home.database)
        let existingDB = dbExists ? try HopDatabase(path: home.database) : nil
        // The Nix library's content-addressed path, so it is added only when missing; checked in
        // the same nix-store call as the seeds.
        let libDir = try NixLibrary.locate()
        let libCache = home.root + "/cache/nix-lib.json"
        let libDigest = try NixLibrary.narHash(of: libDir, cacheFile: libCache)
        let libPath = FixedOutputPath.recursive(name: Self.nixLibName, narSHA256Hex: libDigest.hex)
        // A seed not imported yet (or gone from the store) is imported from the host's packages on
        // first need, after everything about the app has been checked; one the host lacks is an
        // error before anything of the app is written.
        var seedRecords: [SeedRecord] = []
        var missingSeeds: [SeedKind] = []
        let importer = SeedImporter(runner: runner)
        if options.nixpkgs == nil {
            for kind in Self.seedKinds(for: spec.build.builder) {
                if let s = try existingDB?.seed(name: kind.rawValue) { seedRecords.append(s) } else { missingSeeds.append(kind) }
            }
        }
        // 3. Lock: a committed hop.lock must be current; otherwise reuse the last build's lock for
        //    the same inputs, or resolve now.
        let lock = try lockFor(appDir: appDir, spec: spec, db: existingDB, options: options)
        // 4. Writes start here (hop's own directories and a scratch directory, removed on return).
        try home.ensure()
        let scratch = try home.scratch("build")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let entries = try SourceArchive.list(root: appDir, ignore: spec.build.ignore, runner: runner)
        let tarName = "\(spec.name)-source.tar"
        let tar = scratch + "/" + tarName
        let sourceSHA = try SourceArchive.write(root: appDir, entries: entries, to: tar)
        let sourcePath = FixedOutputPath.flat(name: tarName, algorithm: "sha256", hex: sourceSHA)
        let localWheels = (lock.python + (lock.pythonBuild ?? [])).filter { $0.url.hasPrefix("file://") }
        let wheelPaths = localWheels.map { FixedOutputPath.flat(name: $0.filename, algorithm: "sha256", hex: $0.sha256) }
        // The expression is a pure function of the inputs' store paths: when it is the one
        // instantiated last time, so is the derivation (its text is cached next to build.nix, keyed
        // by the expression's hash and the Nix that evaluated it).
        let exprDir = home.apps + "/" + spec.name
        let exprFile = exprDir + "/build.nix"
        let drvCache = DerivationCache(file: exprDir + "/build.drv")
        // Everything the build needs in the store, checked in one nix-store call: the seeds, the
        // Nix library, the source archive, the locked wheels, and the cached derivation and output.
        let plannedSeeds = seedRecords
        let toolchainFor: ([SeedRecord]) -> ToolchainChoice = { seeds in
            options.nixpkgs.map { .nixpkgs(url: $0.url, sha256: $0.sha256) }
                ?? .seed(Dictionary(uniqueKeysWithValues: seeds.map { ($0.name, $0.storePath) }))
        }
        var plan = try makePlan(spec: spec, appDir: appDir, lock: lock, toolchain: toolchainFor(plannedSeeds), nixLib: libPath,
                                tarName: tarName, sourceSHA: sourceSHA)
        var expr = NixExpr.render(plan)
        let plannedExpr = expr
        let cachedDrv = drvCache.lookup(expression: expr)
        let invalid = try nix.invalidPaths(seedRecords.map(\.storePath) + [libPath, sourcePath] + wheelPaths
                                           + (cachedDrv.map { [$0.drv, $0.out] } ?? []))
        for s in seedRecords where invalid.contains(s.storePath) { if let k = SeedKind(rawValue: s.name) { missingSeeds.append(k) } }
        seedRecords.removeAll { invalid.contains($0.storePath) }
        for kind in missingSeeds where !FileManager.default.isExecutableFile(atPath: importer.hostExecutable(kind, from: nil)) {
            throw HopError(.environment, "the \(kind.rawValue) seed is not imported and this host has no \(importer.hostExecutable(kind, from: nil)) to import it from; a \(spec.build.builder.rawValue) build needs it",
                           hint: "install the host's package for it (scripts/setup.sh does), or run `hop seed import \(kind.rawValue) --from PATH`")
        }
        if !libDigest.fromCache { libDigest.save(to: libCache) }
        let db = try existingDB ?? HopDatabase(path: home.database)
        for kind in missingSeeds {
            options.note?("importing the \(kind.rawValue) seed from this host (first build that needs it)")
            let seedScratch = try home.scratch("seed")
            defer { try? FileManager.default.removeItem(atPath: seedScratch) }
            let s = try importer.importSeed(kind, scratch: seedScratch)
            let record = SeedRecord(name: s.name, version: s.version, storePath: s.storePath, narHash: s.narHash,
                                    origin: s.origin, importedAt: Date())
            try db.upsertSeed(record)
            seedRecords.append(record)
        }
        let toolchain = toolchainFor(seedRecords)
        if seedRecords.map(\.storePath).sorted() != plannedSeeds.map(\.storePath).sorted() {
            plan = try makePlan(spec: spec, appDir: appDir, lock: lock, toolchain: toolchain, nixLib: libPath, tarName: tarName, sourceSHA: sourceSHA)
            expr = NixExpr.render(plan)
        }
        // Only what is missing is added: the source archive and wheels by content (their paths
        // were computed above), the library by its NAR hash.
        var toAdd: [String] = []
        if invalid.contains(sourcePath) { toAdd.append(tar) }
        for (w, path) in zip(localWheels, wheelPaths) where invalid.contains(path) {
            toAdd.append(try localWheel(w, index: options.index))
        }
        if !toAdd.isEmpty {
            let added = try addFlat(toAdd)
            if invalid.contains(sourcePath), added.first != sourcePath {
                throw HopError(.internalError, "the source archive was added as \(added.first ?? "nothing"), not \(sourcePath)")
            }
        }
        for p in lock.npm where p.url.hasPrefix("file://") {
            try addLocalNpmTarball(p, scratch: scratch)
        }
        if invalid.contains(libPath) {
            let added = try addNixLibrary(libDir, scratch: scratch)
            guard added == libPath else {
                throw HopError(.internalError, "hop's Nix library was added as \(added), not \(libPath)")
            }
        }

        try FileManager.default.createDirectory(atPath: exprDir, withIntermediateDirectories: true)
        if (try? String(contentsOfFile: exprFile, encoding: .utf8)) != expr {
            try expr.write(toFile: exprFile, atomically: true, encoding: .utf8)
        }
        let rootDir = home.gcroots + "/builds"
        try FileManager.default.createDirectory(atPath: rootDir, withIntermediateDirectories: true)
        let drv: String
        let outPath: String
        let root: String
        // (A seed imported just now re-rendered the expression: the cached derivation is not its.)
        if let cachedDrv, !invalid.contains(cachedDrv.drv), expr == plannedExpr {
            (drv, outPath) = (cachedDrv.drv, cachedDrv.out)
            // Cache hit: the same derivation was built and recorded for this app (a derivation no
            // build recorded is not asked about: it is built).
            if let previous = try db.builds(app: spec.name).first(where: { $0.drvPath == drv }), !invalid.contains(outPath),
               FileManager.default.fileExists(atPath: previous.gcRoot) {
                let closure = try db.closure(buildID: previous.id)
                return BuildOutcome(record: previous, cached: true, expressionFile: exprFile, closure: closure, plan: plan)
            }
            root = rootDir + "/\(spec.name)-" + storeHashPart(outPath)
            try nix.build(drv: drv, root: root, progress: options.progress, log: options.log)
        } else {
            // A new expression is evaluated and built by one Nix process; its GC root is named by
            // the expression (the output path is not known before). Nix's log names the derivation
            // it built; an output that was already valid (code changed back) needs nix-instantiate
            // to say which derivation this expression is.
            root = rootDir + "/\(spec.name)-x" + String(DerivationCache.key(expression: expr).prefix(32))
            let built = try nix.buildExpression(exprFile, root: root, progress: options.progress, log: options.log)
            outPath = built.out
            if let d = built.builtBy {
                drv = d
            } else {
                drv = try nix.instantiate(exprFile)
                guard try nix.outputPath(of: drv) == outPath else {
                    throw HopError(.internalError, "\(exprFile) instantiated to \(drv), whose output is not \(outPath) that nix-build gave")
                }
            }
            drvCache.save(expression: expr, drv: drv, out: outPath)
            // The same derivation built and recorded before (an expression that evaluates to it again).
            if let previous = try db.builds(app: spec.name).first(where: { $0.drvPath == drv }),
               FileManager.default.fileExists(atPath: previous.gcRoot) {
                if previous.gcRoot != root { try? FileManager.default.removeItem(atPath: root) }
                let closure = try db.closure(buildID: previous.id)
                return BuildOutcome(record: previous, cached: true, expressionFile: exprFile, closure: closure, plan: plan)
            }
        }
        let built = outPath
        let closure = try nix.closure(of: [built]).map {
            StorePathInfo(path: $0.path, narHash: $0.narHash, narSize: $0.narSize, deriver: $0.deriver, references: $0.references)
        }
        let seedsJSON = seedRecords.isEmpty ? nil : jsonText(seedRecords.map {
            ["name": $0.name, "version": $0.version, "storePath": $0.storePath, "narHash": $0.narHash, "origin": $0.origin]
        })
        let toolchainDetail: String
        switch toolchain {
        case .seed(let s): toolchainDetail = jsonText(s)
        case .nixpkgs(let url, let sha): toolchainDetail = jsonText(["url": url, "sha256": sha])
        }
        var record = BuildRecord(app: spec.name, outPath: built, drvPath: drv, sourceHash: "sha256:" + sourceSHA,
                                 sourcePath: sourcePath, builder: spec.build.builder.rawValue, toolchain: toolchain.kind,
                                 toolchainDetail: toolchainDetail, lockJSON: lock.json(), seedsJSON: seedsJSON,
                                 specJSON: specJSON(spec), hopVersion: hopVersion, startedAt: started, finishedAt: Date(),
                                 gcRoot: root, closureSize: closure.reduce(0) { $0 + $1.narSize }, pathCount: closure.count,
                                 sourceCommit: options.pushedCommit?.commit, sourceURI: options.pushedCommit?.uri)
        record.id = try db.recordBuild(record, closure: closure)
        return BuildOutcome(record: record, cached: false, expressionFile: exprFile, closure: closure, plan: plan)
    }

    /// The build plan of an app: everything its Nix expression is rendered from.
    func makePlan(spec: AppSpec, appDir: String, lock: DependencyLock, toolchain: ToolchainChoice, nixLib: String,
                  tarName: String, sourceSHA: String) throws -> BuildPlan {
        var plan = BuildPlan(app: spec.name, version: spec.metadata.version ?? "0", builder: spec.build.builder,
                             toolchain: toolchain, nixLib: nixLib,
                             source: FixedInput(name: tarName, url: sourceArchiveURL, sha256: sourceSHA))
        plan.wheels = lock.python.map { FixedInput(name: $0.filename, url: $0.url, sha256: $0.sha256) }
        plan.buildWheels = (lock.pythonBuild ?? []).map { FixedInput(name: $0.filename, url: $0.url, sha256: $0.sha256) }
        plan.installProject = try spec.build.builder == .python && Locker.projectIsPackage(appDir: appDir)
        plan.npmPackages = lock.npm.map { (path: $0.path, input: FixedInput(name: npmTarballName($0), url: $0.url, hash: $0.integrity)) }
        plan.processes = processCommands(spec)
        plan.beforeBuild = spec.build.beforeBuild + (spec.hooks["prebuild"].map { [$0] } ?? [])
        plan.buildCommands = spec.build.build + (spec.hooks["postbuild"].map { [$0] } ?? [])
        // Each volume needs a mount point in the (read-only) build output: systemd bind-mounts the
        // volume there, and must never create a directory in the store itself. Made last, after the
        // app's own build steps; a file in the way fails the build.
        if spec.build.builder == .nix, !(spec.volumes ?? []).isEmpty {
            throw HopError.invalid("`[[volumes]]` needs a mount point in the build output, which hop cannot add to a `[nix] file` build",
                                   hint: "create the target directories in your derivation's $out/app, or use another builder")
        }
        for v in spec.volumes ?? [] {
            plan.buildCommands.append("if [ -e '\(v.target)' ] && [ ! -d '\(v.target)' ]; then echo \"hop: the volume target '\(v.target)' is a file in the app; a volume needs a directory there\" >&2; exit 1; fi; mkdir -p '\(v.target)'")
        }
        plan.env = spec.env
        plan.goBinary = spec.build.builder == .go ? spec.name : nil
        plan.goAtRuntime = spec.build.builder == .go && plan.processes.contains { runsTool("go", $0.command) }
        plan.php = spec.php
        plan.npmAtRuntime = spec.build.builder == .node && plan.processes.contains { runsTool("npm", $0.command) }
        plan.nixFile = spec.nixFile
        plan.manifestJSON = manifest(spec)
        return plan
    }

    /// Resolves the lock `hop build` uses (see `build`). Throws before any write.
    func lockFor(appDir: String, spec: AppSpec, db: HopDatabase?, options: BuildOptions) throws -> DependencyLock {
        let want = Locker.inputsHash(appDir: appDir, spec: spec)
        let lockFile = appDir + "/hop.lock"
        if let text = try? String(contentsOfFile: lockFile, encoding: .utf8) {
            let lock = try DependencyLock.decode(text, file: "hop.lock")
            guard lock.inputsHash == want else {
                throw HopError.invalid("hop.lock is out of date: the requirements changed since it was written",
                                       at: SourceLocation(file: "hop.lock"), hint: "run `hop lock \(appDir)` and commit the new hop.lock")
            }
            return lock
        }
        if !options.relock, let previous = try db?.latestBuild(app: spec.name), let text = previous.lockJSON,
           let lock = try? DependencyLock.decode(text, file: "build \(previous.id)"), lock.inputsHash == want {
            return lock
        }
        return try Locker.lock(appDir: appDir, spec: spec, index: options.index, runner: runner, sandbox: tenantSandbox(home))
    }

    /// The wheel file behind a file:// lock entry: at its URL, or by name in the current
    /// wheelhouse (a lock written on another machine). Its sha256 must match the lock.
    func localWheel(_ w: LockedWheel, index: PackageIndex) throws -> String {
        var candidates = [URL(string: w.url)?.path ?? ""]
        candidates += index.findLinks.map { $0 + "/" + w.filename }
        for c in candidates where FileManager.default.fileExists(atPath: c) {
            let sha = try sha256Hex(file: c)
            guard sha == w.sha256 else {
                throw HopError.invalid("\(c) does not match the lock (sha256 \(sha), locked \(w.sha256))",
                                       at: SourceLocation(file: "hop.lock"), hint: "restore the locked wheel or run `hop lock` again")
            }
            return c
        }
        throw HopError(.environment, "the locked wheel \(w.filename) is not available", hint: "add it to the wheelhouse (--find-links DIR)")
    }

    /// A package-lock entry resolved to a local file: checked against its integrity hash, then
    /// added under the tarball name and hash algorithm its fixed-output input uses.
    func addLocalNpmTarball(_ p: LockedNpmPackage, scratch: String) throws {
        let file = URL(string: p.url)?.path ?? ""
        guard let data = FileManager.default.contents(atPath: file) else {
            throw HopError(.environment, "\(p.path): \(file) is not readable", at: SourceLocation(file: "package-lock.json"),
                           hint: "restore the tarball or regenerate package-lock.json")
        }
        let sri = try SRIHash(p.integrity)
        guard sri.matches(data) else {
            throw HopError.invalid("\(p.path): \(file) does not match its integrity \(p.integrity)",
                                   at: SourceLocation(file: "package-lock.json"), hint: "restore the locked tarball or regenerate package-lock.json")
        }
        let named = scratch + "/" + npmTarballName(p)
        try data.write(to: URL(fileURLWithPath: named))
        try runner.output(Command("nix-store", ["--add-fixed", sri.algorithm, named])) {
            HopError(.environment, "adding \(named) to the store failed", detail: $0.stderrTail(5))
        }
    }

    /// `nix-store --add-fixed sha256` for several files at once (one process).
    func addFlat(_ files: [String]) throws -> [String] {
        let out = try runner.output(Command("nix-store", ["--add-fixed", "sha256"] + files)) {
            HopError(.environment, "adding inputs to the store failed", hint: "run `hop doctor`", detail: $0.stderrTail(5))
        }
        return out.split(separator: "\n").map(String.init)
    }

    static let nixLibName = "hop-nix-lib"

    /// hop's Nix library as a content-addressed store path (named hop-nix-lib).
    func addNixLibrary(_ src: String, scratch: String) throws -> String {
        let dest = scratch + "/" + Self.nixLibName
        try runner.output(Command("cp", ["-r", src, dest])) { HopError(.environment, "copying the Nix library failed: \($0.stderrTail(3))") }
        return try nix.addFixed(dest, recursive: true)
    }

    func resolveAppDir(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: abs, isDirectory: &isDir), isDir.boolValue else {
            throw HopError.invalid("\(path) is not a directory", hint: "pass the path of the app's source tree")
        }
        return abs
    }
}

/// Launch commands per process. `wsgi:` processes are served by gunicorn, which hop adds to the
/// lock; it binds hop's socket when `HOP_BIND` is set, else 127.0.0.1:$PORT.
public func processCommands(_ spec: AppSpec) -> [(name: String, command: String)] {
    spec.processes.compactMap { p in
        switch p.kind {
        case .wsgi:
            return (p.name, "exec gunicorn --bind \"${HOP_BIND:-127.0.0.1:${PORT:-8000}}\" --workers \"${WEB_CONCURRENCY:-2}\" \(p.command)")
        case .static:
            return nil // served by the front proxy
        case .php:
            // PHP-FPM in the foreground, its config and php.ini from the build ($out/php, next to app/).
            return (p.name, "exec php-fpm --nodaemonize --fpm-config \"$PWD/../php/php-fpm.conf\" --php-ini \"$PWD/../php/php.ini\"")
        default: // web, cron (its schedule lives in the manifest), release, daemons
            return (p.name, p.command)
        }
    }.sorted { $0.name < $1.name }
}

/// Whether a process command starts the tool `tool` (`go run server.go`, `exec go run .`), so the
/// toolchain has to be in the runtime closure, not only at build time.
func runsTool(_ tool: String, _ command: String) -> Bool {
    var words = command.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    while let first = words.first, first == "exec" || first.contains("=") { words.removeFirst() }
    return words.first == tool
}

/// The source archive is always added to the store before evaluation, so its fixed-output
/// derivation is never run; this URL only says so. (A FOD's URL never changes downstream
/// derivation hashes: they depend on its output path, which is name + hash.)
let sourceArchiveURL = "file:///hop/source-archive-is-added-to-the-store-by-hop-build"

func npmTarballName(_ p: LockedNpmPackage) -> String {
    let base = p.name.replacingOccurrences(of: "@", with: "").replacingOccurrences(of: "/", with: "-")
    return "\(base)-\(p.version).tgz"
}

func storeHashPart(_ path: String) -> String {
    String((path.split(separator: "/").last ?? "").prefix(32))
}

func jsonText(_ value: Any) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("null".utf8)
    return String(decoding: data, as: UTF8.self)
}

func specJSON(_ spec: AppSpec) -> String {
    String(decoding: (try? JSONEncoder.stable.encode(spec)) ?? Data(), as: UTF8.self)
}

/// The manifest each app output carries at $out/hop-app.json: what hop's runtime needs.
func manifest(_ spec: AppSpec) -> String {
    var procs: [[String: Any]] = []
    for p in spec.processes {
        var o: [String: Any] = ["name": p.name, "command": p.command, "kind": p.kind.name]
        if case .cron(let s) = p.kind { o["schedule"] = s }
        procs.append(o)
    }
    procs.sort { ($0["name"] as! String) < ($1["name"] as! String) }
    var m: [String: Any] = ["app": spec.name, "builder": spec.build.builder.rawValue, "processes": procs,
                            "static": spec.staticPaths, "hop": hopVersion]
    if let v = spec.metadata.version { m["version"] = v }
    return jsonText(m)
}

/// The sandbox tenant input is resolved in: hop's state directory hidden with the rest; nil when
/// hop itself is not root (then it has nothing of root's to give away).
public func tenantSandbox(_ home: HopHome) -> TenantSandbox? {
    TenantSandbox.available ? TenantSandbox(hiding: [home.root], network: false) : nil
}
