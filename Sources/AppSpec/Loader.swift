import Foundation
import HopBasics

/// Reads an app's metadata from its source tree. This is the only file-system access in `AppSpec`;
/// everything it finds is handed to the pure parsers.
public enum AppSpecLoader {
    /// Loads `hop3.toml` and/or `Procfile` from `directory` and autodetects the rest.
    ///
    /// - Parameter appName: the name to deploy under; nil means `[metadata] id`, else the directory's
    ///   name lowercased. Whatever the source, an invalid name is an error — never silently rewritten.
    ///
    /// Precedence, documented because users will ask:
    /// - the builder is `[build] builder`, else the autodetected one (`detectBuilder`); neither is an error;
    /// - processes come from the Procfile; `[run] start` adds the `web` process, and declaring it next to a
    ///   Procfile `web:` or `wsgi:` line is an error (two answers to "how does the app serve HTTP?");
    /// - with neither, a static site serves `public/` (or the tree) and a shell app runs its start script;
    ///   other apps with nothing to run are an error.
    ///
    /// Errors are `HopError(.invalidInput)` located at `directory/hop3.toml` or `directory/Procfile` with
    /// line and column; problems with the directory itself are located at the directory.
    public static func load(directory: String, appName: String?) throws -> AppSpec {
        try check(directory: directory, appName: appName).spec
    }

    /// `load`, with the located warnings for Hop3 keys hop reads as aliases or does not act on
    /// (`hop check` prints them; deploys show them as warnings).
    public static func check(directory: String, appName: String?) throws -> (spec: AppSpec, warnings: [Hop3Warning]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HopError(.notFound, "app directory `\(directory)` does not exist or is not a directory",
                           at: SourceLocation(file: directory), hint: "pass the path of the app's source directory")
        }
        // Before any file is read: no link may lead out of the tree (tenant input is hostile).
        try TreeLinks.refuseLinksLeavingTree(directory)
        let tree = try listTopLevel(directory)
        // Hop3's order: `hop3/` first, then the app root, for each metadata file.
        let metadataDir = joinPath(directory, "hop3")
        let inHop3Dir = tree.files.contains("hop3/") ? try listTopLevel(metadataDir).files : []
        func located(_ name: String) -> String? {
            if inHop3Dir.contains(name) { return joinPath(metadataDir, name) }
            return tree.files.contains(name) ? joinPath(directory, name) : nil
        }
        // Each metadata file is read even when another is wrong: their errors come together.
        var fileErrors: [HopError] = []
        func reading<T>(_ body: () throws -> T?) throws -> T? {
            do { return try body() } catch let e as HopError where e.code == .invalidInput {
                var first = e
                first.more = []
                fileErrors += [first] + e.more
                return nil
            }
        }
        let hop3 = try reading { try located("hop3.toml").map { try parseHop3Document(readText($0), file: $0) } }
        let procfile = try reading { try located("Procfile").map { try parseProcfile(readText($0), file: $0) } }
        let appJSON = try reading { try located("app.json").map { try parseAppJSON(readText($0), file: $0) } }
        if let e = HopError.collected(Array(fileErrors.prefix(20))) { throw e }

        let name: String
        if let appName {
            name = try validateAppName(appName, at: nil)
        } else if let id = hop3?.spec.metadata.id {
            name = id  // validated where it is written
        } else {
            let base = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent.lowercased()
            do {
                name = try validateAppName(base, at: SourceLocation(file: directory))
            } catch var error as HopError {
                error.hint = (error.hint.map { $0 + "; or " } ?? "") + "pass an app name, or set `[metadata] id` in hop3.toml"
                throw error
            }
        }
        let spec = try assembleAppSpec(AppSources(
            name: name, directory: directory, hop3: hop3, procfile: procfile, appJSON: appJSON,
            detectedBuilder: detectBuilder(files: tree.files, executables: tree.executables), tree: tree))
        if spec.build.builder == .php, tree.files.contains("composer.json") {
            let json = joinPath(directory, "composer.json"), lock = joinPath(directory, "composer.lock")
            let installed = joinPath(directory, "vendor/composer/installed.json")
            try ComposerCheck.check(json: try readText(json), jsonFile: json,
                                    lock: tree.files.contains("composer.lock") ? try readText(lock) : nil, lockFile: lock,
                                    installed: FileManager.default.fileExists(atPath: installed) ? try readText(installed) : nil, installedFile: installed)
        }
        return (spec, (hop3?.warnings ?? []) + (appJSON?.warnings ?? []))
    }

    /// The top-level entries of an app tree (directories end in `/`) and which are executable
    /// files: what `detectBuilder` reads.
    public static func topLevel(_ directory: String) throws -> (files: Set<String>, executables: Set<String>) {
        let tree = try listTopLevel(directory)
        return (tree.files, tree.executables)
    }

    private static func listTopLevel(_ directory: String) throws -> AppTree {
        let manager = FileManager.default
        let names: [String]
        do {
            names = try manager.contentsOfDirectory(atPath: directory)
        } catch {
            throw HopError(.environment, "cannot list the app directory `\(directory)`: \(error.localizedDescription)",
                           at: SourceLocation(file: directory), hint: "check that hop may read the directory")
        }
        var tree = AppTree()
        for name in names {
            let path = joinPath(directory, name)
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: path, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                tree.files.insert(name + "/")
            } else {
                tree.files.insert(name)
                if manager.isExecutableFile(atPath: path) { tree.executables.insert(name) }
            }
        }
        return tree
    }

    private static func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HopError(.environment, "cannot read `\(path)`", at: SourceLocation(file: path),
                           hint: "check that the file exists and that hop may read it")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw HopError.invalid("`\(path)` is not valid UTF-8 text", at: SourceLocation(file: path),
                                   hint: "save the file as UTF-8")
        }
        return text
    }

    private static func joinPath(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

/// The top level of an app tree as autodetection sees it: names, directories with a trailing `/`.
struct AppTree: Sendable {
    var files: Set<String> = []
    var executables: Set<String> = []
}

/// Everything known about an app before it becomes an `AppSpec`.
struct AppSources: Sendable {
    var name: String
    /// For errors that concern the tree rather than a file.
    var directory: String?
    var hop3: Hop3Document?
    var procfile: Procfile?
    /// Heroku/Dokku app.json: read after hop3.toml and the Procfile, for what they leave unsaid.
    var appJSON: AppJSONDocument?
    var detectedBuilder: Builder?
    /// Nil when the caller has no tree (parsing a lone hop3.toml): tree-based defaults are then skipped.
    var tree: AppTree?

    init(name: String, directory: String? = nil, hop3: Hop3Document? = nil, procfile: Procfile? = nil, appJSON: AppJSONDocument? = nil,
         detectedBuilder: Builder? = nil, tree: AppTree? = nil) {
        self.appJSON = appJSON
        self.name = name
        self.directory = directory
        self.hop3 = hop3
        self.procfile = procfile
        self.detectedBuilder = detectedBuilder
        self.tree = tree
    }
}

/// Combines hop3.toml, Procfile and autodetection into one `AppSpec` (the precedence is documented on
/// `AppSpecLoader.load`). Pure.
func assembleAppSpec(_ sources: AppSources) throws -> AppSpec {
    let hop3 = sources.hop3
    var spec = hop3?.spec ?? AppSpec(name: sources.name, source: .autodetected, builder: .shell)
    spec.name = sources.name
    spec.source = hop3 != nil ? .hop3toml : sources.procfile != nil ? .procfile : .autodetected

    guard let builder = hop3?.builder ?? sources.detectedBuilder else {
        let location = hop3.map { $0.buildLocation ?? SourceLocation(file: $0.file, line: 1, column: 1) }
            ?? sources.directory.map { SourceLocation(file: $0) }
        let builders = Builder.allCases.map(\.rawValue).joined(separator: ", ")
        throw HopError.invalid("cannot tell how to build `\(sources.name)`: no `[build] builder` and no recognised files",
                               at: location,
                               hint: (hop3 == nil ? "add a hop3.toml with a `[build]` section holding" : "add to hop3.toml a `[build]` section holding")
                                + " `builder = \"…\"` (one of \(builders))")
    }
    spec.build.builder = builder

    var processes: [AppProcess] = []
    if let procfile = sources.procfile {
        processes = procfile.processes
        spec.hooks = procfile.hooks
    }
    if let start = spec.run.start {
        if let clash = processes.first(where: { $0.kind.servesHTTP }) {
            let procfileLine = sources.procfile?.locations[clash.name]?.description ?? "Procfile"
            throw HopError.invalid("`[run] start` and the Procfile's `\(clash.name)` process (\(procfileLine)) both say how the app serves HTTP",
                                   at: hop3?.startLocation,
                                   hint: "keep one: delete `start` from [run], or the `\(clash.name):` line from the Procfile")
        }
        processes.insert(AppProcess(name: "web", kind: .web, command: start), at: 0)
    }
    let workers = hop3?.workerProcesses ?? []
    if processes.isEmpty, workers.isEmpty, let tree = sources.tree {
        processes = defaultProcesses(builder: builder, files: tree.files, executables: tree.executables)
        // A Go app runs the binary the go recipe builds (named after the app); a Node app starts
        // the way `npm start` would.
        if processes.isEmpty, builder == .go {
            processes = [AppProcess(name: "web", kind: .web, command: sources.name)]
        }
        if processes.isEmpty, builder == .node, let dir = sources.directory,
           let data = FileManager.default.contents(atPath: dir + "/package.json"),
           let pkg = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let command = nodeStartCommand(package: pkg, files: tree.files) {
            processes = [AppProcess(name: "web", kind: .web, command: command)]
        }
        if processes.isEmpty {
            let location = hop3.map { $0.runLocation ?? SourceLocation(file: $0.file, line: 1, column: 1) }
                ?? sources.directory.map { SourceLocation(file: $0) }
            throw HopError.invalid("`\(sources.name)` has nothing to run: no Procfile and no `[run] start`", at: location,
                                   hint: "add a Procfile with a line such as `web: <command serving on $PORT>`, or `start = \"<command>\"` under [run] in hop3.toml")
        }
    }
    // Hop3's `[run.workers] name = "command"`: a process of its own (it replaces a Procfile line of that name).
    for w in workers {
        processes.removeAll { $0.name == w.name }
        processes.append(AppProcess(name: w.name, kind: .daemon, command: w.command))
    }
    if let json = sources.appJSON {
        if let pre = json.predeploy {
            if let release = processes.first(where: { $0.kind == .release }) {
                throw HopError.invalid("app.json's `scripts.dokku.predeploy` and the `\(release.name)` release process both say what runs before the switch",
                                       at: SourceLocation(file: (sources.directory ?? ".") + "/app.json"), hint: "keep one of them")
            }
            processes.append(AppProcess(name: "release", kind: .release, command: pre))
        }
        if spec.healthcheck == nil { spec.healthcheck = json.healthcheck }
        for (name, count) in json.formation {
            // Dokku's `web` is whichever process serves HTTP (hop's `wsgi:` too).
            let target = processes.contains(where: { $0.name == name }) ? name
                : name == "web" ? processes.first(where: { $0.kind.servesHTTP })?.name : nil
            if let target, spec.run.workers[target] == nil { spec.run.workers[target] = count }
        }
        for e in json.env where !spec.env.contains(where: { $0.name == e.name }) { spec.env.append(e) }
        for e in json.secret where !(spec.secretEnv ?? []).contains(where: { $0.name == e.name }) && !spec.env.contains(where: { $0.name == e.name }) {
            spec.secretEnv = (spec.secretEnv ?? []) + [e]
        }
    }
    spec.processes = processes
    // Bounds on what one app may start (a tenant's metadata must not take the host's PIDs and memory).
    if processes.count > AppBounds.maxProcessTypes {
        throw HopError.invalid("`\(sources.name)` declares \(processes.count) process types; at most \(AppBounds.maxProcessTypes) are allowed",
                               at: sources.directory.map { SourceLocation(file: $0) }, hint: "merge processes, or run them from one supervisor process")
    }
    let total = processes.reduce(0) { $0 + (spec.run.workers[$1.name] ?? ($1.kind.isLongRunning ? 1 : 0)) }
    if total > AppBounds.maxInstancesPerApp {
        throw HopError.invalid("`\(sources.name)` would start \(total) instances; at most \(AppBounds.maxInstancesPerApp) are allowed per app",
                               at: sources.directory.map { SourceLocation(file: $0) }, hint: "lower the counts in [run.workers] or app.json's formation")
    }

    if !processes.isEmpty, let hop3 {
        let names = processes.map(\.name)
        for worker in hop3.workerLocations where !names.contains(worker.name) {
            throw HopError.invalid("`[run.workers]` names `\(worker.name)`, which is not one of the app's processes", at: worker.location,
                                   hint: "use one of the process names: " + names.map { "`\($0)`" }.joined(separator: ", "))
        }
    }
    return spec
}

/// How `npm start` would start a Node app with no Procfile: its `scripts.start` (run by hop's
/// script runner, with `prestart`), else `node server.js` when that file exists (npm's own default),
/// else `node <main>`.
public func nodeStartCommand(package pkg: [String: Any], files: Set<String>) -> String? {
    if let scripts = pkg["scripts"] as? [String: Any], let start = scripts["start"] as? String,
       !start.trimmingCharacters(in: .whitespaces).isEmpty {
        return "npm start"
    }
    if files.contains("server.js") { return "node server.js" }
    if let main = pkg["main"] as? String, files.contains(main),
       main.allSatisfy({ $0.isLetter || $0.isNumber || "._-/".contains($0) }) {
        return "node \(main)"
    }
    return nil
}
