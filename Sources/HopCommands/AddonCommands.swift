import ArgumentParser
import Foundation
import HopBasics
import HopCore

/// `hop addon …`: backing services (hop's PostgreSQL server), through the operations core.
struct AddonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "addon", abstract: "Backing services: a database of its own for each app on hop's PostgreSQL server.",
        subcommands: [Create.self, Attach.self, Detach.self, Destroy.self, List.self, Info.self, Credentials.self, Connect.self, Migrate.self])

    static func show(_ a: AddonInfo, json: Bool, verb: String) {
        if json { emit(a); return }
        Out.line("\(verb) \(a.type) addon \(a.name)" + (a.attachedTo.isEmpty ? "" : " (attached to \(a.attachedTo.joined(separator: ", ")))"))
    }

    struct Create: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create an addon: TYPE (postgres) and NAME.")
        @Argument var type: String
        @Argument var name: String
        @Option(name: .customLong("extension"), help: "A PostgreSQL extension to create in its database (repeatable).") var extensions: [String] = []
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws { show(try runOperation(CreateAddon.self, .init(type: type, name: name, extensions: extensions), json: json), json: json, verb: "created") }
    }

    struct Attach: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "attach", abstract: "Give an app an addon's variables (DATABASE_URL, PG*); a deployed app restarts with them.")
        @Argument(completion: NameCompletion.apps) var app: String
        @Argument(completion: NameCompletion.addons) var name: String
        @Option(name: .customLong("as"), help: "Variable prefix (e.g. CACHE_ gives CACHE_DATABASE_URL).") var prefix: String?
        @Option(help: "Seconds to watch the new generation.") var watch: Double = Defaults.watch
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws { show(try runOperation(AttachAddon.self, .init(app: app, addon: name, prefix: prefix, watch: watch), json: json), json: json, verb: "attached") }
    }

    struct Detach: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "detach", abstract: "Take an addon's variables from an app (its data stays).")
        @Argument(completion: NameCompletion.apps) var app: String
        @Argument(completion: NameCompletion.addons) var name: String
        @Option(help: "Seconds to watch the new generation.") var watch: Double = Defaults.watch
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws { show(try runOperation(DetachAddon.self, .init(app: app, addon: name, watch: watch), json: json), json: json, verb: "detached") }
    }

    struct Destroy: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "destroy", abstract: "Drop an addon's database and role (refused while attached, unless --force).")
        @Argument(completion: NameCompletion.addons) var name: String
        @Flag(help: "Destroy it even though apps are attached (their data goes).") var force = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws { show(try runOperation(DestroyAddon.self, .init(addon: name, force: force), json: json), json: json, verb: "destroyed") }
    }

    struct List: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List addons.")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let all = try runOperation(ListAddons.self, NoInput(), json: json)
            if json { emit(all); return }
            var t = Table("NAME", "TYPE", "ATTACHED TO")
            for a in all { t.add(a.name, a.type, a.attachedTo.isEmpty ? "-" : a.attachedTo.joined(separator: ",")) }
            t.print(empty: "no addons")
        }
    }

    struct Info: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an addon (not its password).", aliases: ["info"])
        @Argument(completion: NameCompletion.addons) var name: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let a = try runOperation(ShowAddon.self, .init(addon: name), json: json)
            if json { emit(a); return }
            Out.line("\(a.name): \(a.type), database \(a.database) on \(a.socket)")
            Out.line("attached to: \(a.attachedTo.isEmpty ? "-" : a.attachedTo.joined(separator: ", "))")
            if !a.extensions.isEmpty { Out.line("extensions: \(a.extensions.joined(separator: ", "))") }
            Out.line("created: \(a.createdAt)")
        }
    }

    struct Credentials: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "credentials", abstract: "Print an addon's connection variables, password included.")
        @Argument(completion: NameCompletion.addons) var name: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let c = try runOperation(AddonCredentials.self, .init(addon: name), json: json)
            if json { emit(c); return }
            for (k, v) in c.sorted(by: { $0.key < $1.key }) { Out.line("\(k)=\(v)") }
        }
    }

    struct Migrate: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "migrate",
                                                        abstract: "Move a Redis addon of an earlier hop (keys under NAME: on the shared server) to a Redis server of its own, keys and all.")
        @Argument(completion: NameCompletion.addons) var name: String
        @Option(help: "Seconds to watch each attached app's new generation.") var watch: Double = Defaults.watch
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws { show(try runOperation(MigrateAddon.self, .init(addon: name, watch: watch), json: json), json: json, verb: "migrated") }
    }

    struct Connect: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "connect", abstract: "psql as the addon's own role, in its database.")
        @Argument(completion: NameCompletion.addons) var name: String
        func run() throws { try execReplacing(try cliOperations(json: false).addonConnectCommand(name: name)) }
    }
}

/// `hop app credentials APP`: the `[admin]` credentials hop generated for an app.
struct AppCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "app", abstract: "App-level details: the [admin] credentials hop generated.",
                                                    subcommands: [Credentials.self])
    struct Credentials: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "credentials", abstract: "Print the app's [admin] username, email and password.")
        @Argument(completion: NameCompletion.apps) var app: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let c = try cliOperations(json: json).appCredentials(app: app)
            if json { emit(c); return }
            for k in ["username", "email", "password"] { if let v = c[k] { Out.line("\(k): \(v)") } }
        }
    }
}
