import ArgumentParser
import Foundation
import AppSpec
import HopBasics
import HopCore

/// `hop check PATH`: reads an app's metadata (hop3.toml and Procfile, under `hop3/` first, as Hop3
/// does) and reports what hop would build and run, with a located warning for every Hop3 key hop
/// accepts and does not act on. Builds nothing and writes nothing.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check",
        abstract: "Read an app's metadata without building: errors (exit 2) and warnings, located.")
    @Argument(help: "The app's source directory.") var path: String
    @Option(help: "App name (default: [metadata] id, else the directory name).", completion: NameCompletion.apps) var app: String?
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }

    /// Where `[env.computed] NAME` is written: hop3/hop3.toml (else hop3.toml), its line.
    static func computedLocation(_ name: String, in path: String) -> SourceLocation {
        for rel in ["hop3/hop3.toml", "hop3.toml"] {
            guard let text = try? String(contentsOfFile: path + "/" + rel, encoding: .utf8) else { continue }
            let file = (path as NSString).appendingPathComponent(rel)
            var inSection = false
            for (i, line) in text.components(separatedBy: "\n").enumerated() {
                let t = line.trimmingCharacters(in: .whitespaces)
                if t.hasPrefix("[") { inSection = t == "[env.computed]"; continue }
                if inSection, t.hasPrefix(name), t.dropFirst(name.count).trimmingCharacters(in: .whitespaces).hasPrefix("=") {
                    return SourceLocation(file: file, line: i + 1, column: 1)
                }
            }
            return SourceLocation(file: file)
        }
        return SourceLocation(file: "hop3.toml")
    }

    func run() throws {
        Hop.jsonMode = json
        var (spec, warnings) = try AppSpecLoader.check(directory: path, appName: app)
        // Names a computed value uses that nothing in the file provides: `hop config set` must (deploy refuses otherwise).
        for (name, missing) in Operations.computedEnvGaps(spec: spec) {
            warnings.append(Hop3Warning(message: "`[env.computed] \(name)` uses ${\(missing)}, which nothing in the app provides: set it with `hop config set \(spec.name) \(missing)=…` before deploying", location: Self.computedLocation(name, in: path)))
        }
        func kind(_ k: ProcessKind) -> String {
            if case .cron(let s) = k { return "cron \(s)" }
            return k.name
        }
        if json {
            Out.json([
                "app": spec.name, "builder": spec.build.builder.rawValue, "source": "\(spec.source)",
                "processes": spec.processes.map { ["name": $0.name, "kind": kind($0.kind), "command": $0.command] },
                "domains": spec.domains, "addons": (spec.addons ?? []).map { $0.type },
                "volumes": (spec.volumes ?? []).map { ["name": $0.name, "target": $0.target] },
                "warnings": warnings.map { ["file": $0.location.file, "line": $0.location.line ?? 0, "column": $0.location.column ?? 0,
                                            "message": $0.message] as [String: Any] },
            ] as [String: Any])
            return
        }
        Out.line("\(spec.name): builder \(spec.build.builder.rawValue) (from \(spec.source))")
        for p in spec.processes { Out.line("  process \(p.name) (\(kind(p.kind))): \(p.command)") }
        if !spec.domains.isEmpty { Out.line("  domains: \(spec.domains.joined(separator: ", "))") }
        if let a = spec.addons, !a.isEmpty { Out.line("  addons: \(a.map { $0.name ?? $0.type }.joined(separator: ", "))") }
        if let v = spec.volumes, !v.isEmpty { Out.line("  volumes: \(v.map { "\($0.name) → \($0.target)" }.joined(separator: ", "))") }
        for w in warnings { Out.err(w.description) }
        Out.line("ok: no errors, \(warnings.count) warning\(warnings.count == 1 ? "" : "s")")
    }
}
