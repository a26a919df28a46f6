import ArgumentParser
import Foundation
import AppSpec
import HopBasics

/// `hop init [PATH]`: writes a commented hop3.toml for the kind of app autodetection finds, so a
/// first deploy starts from a file that says what hop will do. Never overwrites one.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init",
        abstract: "Write a commented hop3.toml for the app in PATH (default: here), from what hop detects; never overwrites one.")
    @Argument(help: "The app's source directory.") var path: String = "."
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }

    func run() throws {
        Hop.jsonMode = json
        let dir = URL(fileURLWithPath: path).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HopError.invalid("`\(path)` is not a directory", at: SourceLocation(file: path), hint: "pass the app's source directory")
        }
        for rel in ["hop3.toml", "hop3/hop3.toml"] where FileManager.default.fileExists(atPath: dir + "/" + rel) {
            throw HopError.invalid("\(dir)/\(rel) exists; hop init does not overwrite it", at: SourceLocation(file: dir + "/" + rel),
                                   hint: "edit it, or read it with `hop check \(path)`")
        }
        let (files, executables) = try AppSpecLoader.topLevel(dir)
        guard let builder = detectBuilder(files: files, executables: executables) else {
            throw HopError.invalid("hop cannot tell what kind of app \(dir) is", at: SourceLocation(file: dir),
                                   hint: "it looks for requirements.txt or pyproject.toml, package.json, go.mod, composer.json, Gemfile, an executable start script, index.html; or write hop3.toml with [build] builder yourself")
        }
        let base = URL(fileURLWithPath: dir).lastPathComponent.lowercased()
        let name = try? validateAppName(base, at: nil)
        // The processes hop already finds (Procfile, app.json, the builder's default); a guess only without them.
        let found = try? AppSpecLoader.load(directory: dir, appName: name ?? "app")
        let processes = (found?.processes ?? []).map { (name: $0.name, command: $0.command) }
        let start = processes.isEmpty ? InitTemplate.startGuess(builder: builder, files: files) : nil
        let reason = InitTemplate.reason(builder: builder, files: files, executables: executables)
        let text = InitTemplate.render(name: name, builder: builder, reason: reason, processes: processes,
                                       procfile: ["Procfile", "hop3/Procfile"].contains { FileManager.default.fileExists(atPath: dir + "/" + $0) },
                                       start: start)
        let file = dir + "/hop3.toml"
        try writeFileAtomically(file, text, mode: 0o644)
        if json {
            Out.json(["file": file, "builder": builder.rawValue, "detectedFrom": reason, "app": name.map { $0 as Any } ?? NSNull(),
                      "processes": processes.map { ["name": $0.name, "command": $0.command] }, "start": start.map { $0 as Any } ?? NSNull()])
            return
        }
        Out.line("detected a \(builder.rawValue) app (\(reason))")
        if let start { Out.line("no Procfile: wrote `[run] start = \"\(start)\"` as a guess; check it") }
        for p in processes { Out.line("  process \(p.name): \(p.command)") }
        if name == nil {
            Out.line("`\(base)` is not an app name: set `id` under [metadata] (lowercase letters, digits, -), or pass --app to hop check and hop deploy")
        }
        Out.line("wrote \(file); `hop check \(path)` reads it, `hop deploy \(path)` deploys")
    }
}
