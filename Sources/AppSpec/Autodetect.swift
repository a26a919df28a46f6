/// Start scripts hop runs for a shell app, in the order it looks for them.
public let startScriptNames = ["start", "start.sh", "run", "run.sh"]

/// Picks the builder from the files at the top of an app tree, or nil when nothing says what the app is.
///
/// - Parameters:
///   - files: the tree's top-level entries as relative names; directories end in `/` (e.g. `public/`).
///   - executables: the entries of `files` that are executable regular files.
///
/// The order decides mixed trees: `default.nix` first (the app brought its own Nix, which knows best),
/// then Python (`requirements.txt` or `pyproject.toml`, with or without `uv.lock`/`poetry.lock`),
/// Node (`package.json`), Go (`go.mod` or any `*.go`), PHP (`composer.json` or `index.php`), a shell app (an executable `start`, `start.sh`,
/// `run` or `run.sh`), and last a static site (`index.html` or a `public/` directory) — last because
/// most apps of the other kinds also ship HTML.
public func detectBuilder(files: Set<String>, executables: Set<String>) -> Builder? {
    if files.contains("default.nix") { return .nix }
    if files.contains("requirements.txt") || files.contains("pyproject.toml") { return .python }
    if files.contains("package.json") { return .node }
    if files.contains("go.mod") || files.contains(where: { $0.hasSuffix(".go") && !$0.hasSuffix("/") }) { return .go }
    if files.contains("composer.json") || files.contains("index.php") { return .php }
    if files.contains("Gemfile") || files.contains("config.ru") { return .ruby }
    if detectStartScript(files: files, executables: executables) != nil { return .shell }
    if files.contains("index.html") || files.contains("public/") { return .static }
    return nil
}

/// The start script a shell app ships (`start`, `start.sh`, `run`, `run.sh`, first found), if executable.
public func detectStartScript(files: Set<String>, executables: Set<String>) -> String? {
    startScriptNames.first { files.contains($0) && executables.contains($0) }
}

/// The processes hop runs when neither a Procfile nor `[run] start` says: a static site serves its
/// `public/` directory (or the tree itself), and a shell app runs its start script. Other builders
/// have no safe guess and get none, which the loader reports.
public func defaultProcesses(builder: Builder, files: Set<String>, executables: Set<String>) -> [AppProcess] {
    switch builder {
    case .static:
        return [AppProcess(name: "static", kind: .static, command: files.contains("public/") ? "/:public" : "/:.")]
    case .shell:
        guard let script = detectStartScript(files: files, executables: executables) else { return [] }
        return [AppProcess(name: "web", kind: .web, command: "./\(script)")]
    case .php:
        // PHP-FPM serves `public/` when the app has one with an index.php (Laravel, Symfony…), else the tree.
        return [AppProcess(name: "php", kind: .php, command: files.contains("public/") ? "public" : ".")]
    case .ruby:
        // A Rack app (config.ru) on WEBrick, through Bundler when there is a Gemfile.
        guard files.contains("config.ru") else { return [] }
        let bundle = files.contains("Gemfile") ? "bundle exec " : ""
        return [AppProcess(name: "web", kind: .web, command: "\(bundle)rackup --host 0.0.0.0 --port $PORT config.ru")]
    case .python, .node, .go, .nix:
        return []
    }
}
