/// The commented hop3.toml `hop init` writes: the detected builder and, when nothing else says
/// how the app runs, a `[run] start` guess; every other section commented out with what it does.
/// Pure, so the text is snapshot-tested; `hop check` must accept every file it writes.
public enum InitTemplate {
    /// What autodetection found, in the user's words: the files that decided it.
    public static func reason(builder: Builder, files: Set<String>, executables: Set<String>) -> String {
        let candidates: [Builder: [String]] = [
            .nix: ["default.nix"], .python: ["requirements.txt", "pyproject.toml", "uv.lock", "poetry.lock"],
            .node: ["package.json"], .go: ["go.mod"], .php: ["composer.json", "index.php"], .ruby: ["Gemfile", "config.ru"],
            .shell: startScriptNames, .static: ["index.html", "public/"],
        ]
        var found = (candidates[builder] ?? []).filter { files.contains($0) }
        if builder == .go, found.isEmpty { found = files.filter { $0.hasSuffix(".go") }.sorted().prefix(1).map { $0 } }
        if builder == .shell { found = found.filter { executables.contains($0) } }
        return found.isEmpty ? "autodetected" : found.joined(separator: ", ")
    }

    /// A start command for a builder whose processes nothing else names (no Procfile, no default):
    /// a guess the user is told to check.
    public static func startGuess(builder: Builder, files: Set<String>) -> String? {
        switch builder {
        case .python:
            for f in ["app.py", "main.py", "server.py", "manage.py"] where files.contains(f) {
                return f == "manage.py" ? "python3 manage.py runserver 0.0.0.0:$PORT" : "python3 \(f)"
            }
            return "python3 app.py"
        case .node:
            for f in ["server.js", "index.js", "app.js", "main.js"] where files.contains(f) { return "node \(f)" }
            return "npm start"
        default:
            return nil
        }
    }

    /// The file's text. `processes` are the ones hop already finds (from a Procfile, app.json or
    /// the builder's default), `start` a guess to write under [run] when there are none.
    public static func render(name: String?, builder: Builder, reason: String, processes: [(name: String, command: String)],
                              procfile: Bool, start: String?) -> String {
        var l: [String] = []
        l.append("# hop3.toml, written by `hop init`: hop detected a \(builder.rawValue) app (\(reason)).")
        l.append("# `hop check .` reads it without building; every key is described in docs/hop3-compat.md.")
        l.append("# Uncomment what you need; values shown commented out are examples, not defaults.")
        l.append("")
        l.append("[metadata]")
        if let name { l.append("id = \"\(name)\"                      # the app's name: its URL, units and data") } else {
            l.append("# id = \"my-app\"                  # the app's name (lowercase letters, digits, -)")
        }
        l.append("# version = \"0.1.0\"")
        l.append("# title = \"What the app is\"")
        l.append("")
        l.append("[build]")
        l.append("builder = \"\(builder.rawValue)\"")
        l.append("# before-build = [\"make assets\"]   # commands run in the build sandbox before the app is packaged")
        l.append("")
        switch builder {
        case .static:
            l.append("# A static site: nginx serves the files; there is no process to run.")
        default:
            l.append("[run]")
            if let start {
                l.append("# hop found no Procfile: check this guess. It must serve HTTP on $PORT.")
                l.append("start = \"\(start)\"")
            } else if !processes.isEmpty {
                let from = procfile ? "the Procfile" : "hop's default for \(builder.rawValue) apps"
                l.append("# The processes come from \(from):")
                for p in processes { l.append("#   \(p.name): \(p.command)") }
                if !procfile { l.append("# start = \"<command serving HTTP on $PORT>\"   # replaces the default") }
            }
            l.append("# start-timeout = 60              # seconds the first health check may take")
        }
        l.append("")
        l.append("# [env]")
        l.append("# GREETING = \"hello\"                              # a default; `hop config set` overrides it")
        l.append("# SECRET_KEY = { generate = \"hex\", length = 64 }  # made once by hop, kept, never in the build")
        l.append("")
        l.append("# [healthcheck]")
        l.append("# path = \"/\"                        # what hop asks before a new generation serves")
        l.append("")
        l.append("# [[addons]]")
        l.append("# type = \"postgres\"                 # postgres, redis or mariadb: DATABASE_URL, REDIS_URL or MYSQL_* reach the app")
        l.append("")
        l.append("# [[volumes]]")
        l.append("# name = \"uploads\"                  # a directory that outlives every generation")
        l.append("# target = \"data\"")
        l.append("")
        l.append("# [limits]")
        l.append("# memory = \"256M\"")
        return l.joined(separator: "\n") + "\n"
    }
}
