import ArgumentParser
import Foundation
import HopBasics
import HopCore
import HopStore
import Logging

struct GitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "git", abstract: "Set up deploys by `git push` over SSH.",
                                                    subcommands: [Setup.self])

    struct Setup: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "setup",
            abstract: "Create the git system user, its root-owned home and authorized_keys, and its sudoers rule (idempotent).")
        @Option(help: "The system user pushers log in as.") var user = "hop-git"
        @Option(help: "Its home directory (root-owned).") var home = "/var/lib/hop-git"
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            let s = try cliOperations(json: json).gitSetup(user: user, home: home, hop: runningHopBinary(), path: path,
                                                           settings: ProcessInfo.processInfo.environment)
            if json { emit(s); return }
            Out.line("git push reaches hop as \(s.user)@\(ProcessInfo.processInfo.hostName): `git remote add hop \(s.user)@HOST:APP`")
            Out.line("add pushers' keys with `hop ssh-key add USER 'ssh-ed25519 …'`")
        }
    }
}

struct SSHKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh-key", abstract: "The SSH keys that may `git push`, each tied to a hop user.",
                                                    subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Let a key push as USER (it deploys what USER may deploy).")
        @Argument var user: String
        @Argument(help: "The public key line (`ssh-ed25519 AAAA… comment`), or - to read it from standard input.") var key: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let text = key == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : key
            let k = try runOperation(AddSSHKey.self, .init(user: user, key: text), json: json)
            if json { emit(k) } else { Out.line("added key \(k.id) \(k.fingerprint) for \(k.user)") }
        }
    }

    struct List: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List SSH keys.")
        @Option(help: "Only this user's keys.") var user: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let keys = try runOperation(ListSSHKeys.self, .init(user: user), json: json)
            if json { emit(keys); return }
            var t = Table("ID", "USER", "TYPE", "FINGERPRINT", "COMMENT")
            for k in keys { t.add("\(k.id)", k.user, k.type, k.fingerprint, k.comment) }
            t.print(empty: "no SSH keys")
        }
    }

    struct Remove: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a key by id or fingerprint.")
        @Argument var key: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let removed = try runOperation(RemoveSSHKey.self, .init(key: key), json: json)
            if json { emit(removed) } else { for k in removed { Out.line("removed key \(k.id) \(k.fingerprint) of \(k.user)") } }
        }
    }
}

/// The forced command of every key (through the sudo wrapper). Not for people.
struct GitShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "git-shell", abstract: "Run a pushed git command for an SSH key (hop's forced command).",
                                                    shouldDisplay: false)
    @Argument var key: String
    @Argument var original: String = ""
    func run() throws {
        guard let id = Int64(key), id > 0 else { throw HopError.invalid("`\(key.prefix(30))` is not a key id") }
        let ops = Operations(HopContext(home: .fromEnvironment(), principal: .root, via: "git"))
        let invocation = try ops.gitShell(keyID: id, original: original, hop: runningHopBinary(), environment: ProcessInfo.processInfo.environment)
        // The wrapper started hop with `env -i`: the environment is already only what git needs.
        try execReplacing(Command("git", invocation.arguments, environment: invocation.environment.mapValues { $0 }))
    }
}

/// The background half of an activation (started by hop after a switch). Not for people.
struct SettleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "settle", abstract: "Watch a new generation and retire the old one (started by hop).",
                                                    shouldDisplay: false)
    @Argument var app: String
    @Argument var generation: Int
    func run() throws {
        var logger = Logger(label: "hop")
        logger.logLevel = .info
        let ops = Operations(HopContext(home: .fromEnvironment(), principal: .root, via: "watch", logger: logger))
        let r = try ops.settle(app: app, generation: generation)
        Out.line("\(r.app) generation \(r.generation): \(r.verdict)\(r.message.map { " (\($0))" } ?? "")")
    }
}

/// git's pre-receive hook in hop's repositories. Not for people.
struct GitHookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "git-hook", abstract: "Deploy a push (hop's pre-receive hook).", shouldDisplay: false)
    @Argument var hook: String
    func run() throws {
        guard hook == "pre-receive" else { throw HopError.invalid("hop has no `\(hook)` hook") }
        let env = ProcessInfo.processInfo.environment
        guard let key = env["HOP_GIT_KEY"].flatMap(Int64.init), let app = env["HOP_GIT_APP"] else {
            throw HopError.invalid("the pre-receive hook runs inside a push through `hop git-shell`")
        }
        // git's variables (the quarantine) serve to read the pushed commit only; the deploy's own
        // processes (nix, systemctl, git of the source listing) must not inherit them.
        let gitEnv = env.filter { $0.key.hasPrefix("GIT_") }
        for k in gitEnv.keys { unsetenv(k) }
        let updates = try RefUpdate.parse(String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self))
        for u in updates where Operations.deployBranches.contains(u.ref) && !u.isDelete {
            Out.err("hop: received \(u.new.prefix(12)) for \(app); building")
        }
        let progress: @Sendable (HopCore.ProgressEvent) -> Void = { e in
            if e.phase == "build", let d = e.done, let t = e.total, d != t, d % 5 != 0 { return }
            Out.err("hop: \(e.message)")
        }
        var ctx = HopContext(home: .fromEnvironment(), principal: .root, via: "git", progress: progress)
        // The push returns once the new generation serves; its watch window runs in the background.
        ctx.settleInBackground = true
        let ops = Operations(ctx)
        do {
            let outcome = try ops.gitReceive(keyID: key, app: app, updates: updates, host: ProcessInfo.processInfo.hostName, gitEnvironment: gitEnv)
            for m in outcome.messages { Out.err("hop: " + m) }
            if let d = outcome.deployed {
                Out.err("hop: \(d.app) generation \(d.generation) \(d.noop ? "already serves this build" : "serves") (build \(d.build)) at \(d.url)")
            }
        } catch let e as HopError {
            Out.err("hop: push refused, nothing changed: \(e.description)")
            throw ExitCode(e.code.exitCode)
        }
    }
}
