import ArgumentParser
import Foundation
import HopBasics
import HopCore
import HopStore

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage the users who may reach hop's API and dashboard.",
                                                    subcommands: [Add.self, List.self, Remove.self, Passwd.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a user: admin, deployer or viewer of the granted apps.")
        @Argument var name: String
        @Option(help: "admin, deployer or viewer.") var role: String = "viewer"
        @Option(name: .customLong("app"), help: "An app the user may act on (repeatable; deployers and viewers).") var apps: [String] = []
        @Flag(name: .customLong("password-stdin"), help: "Read a dashboard password from standard input.") var passwordStdin = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            guard let r = Role(rawValue: role) else { throw HopError.invalid("role `\(role)` is not admin, deployer or viewer") }
            let password = passwordStdin ? readSecretLine() : nil
            let u = try cliOperations(json: json).userAdd(name: name, role: r, apps: apps, password: password)
            if json { emit(u) } else { Out.line("added \(u.name) (\(u.role)\(u.apps.isEmpty ? "" : " of " + u.apps.joined(separator: ", ")))") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List users.")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let users = try cliOperations(json: json).users()
            if json { emit(users); return }
            var t = Table("USER", "ROLE", "PASSWORD", "APPS")
            for u in users { t.add(u.name, u.role, u.hasPassword ? "yes" : "no", u.apps.isEmpty ? "-" : u.apps.joined(separator: ",")) }
            t.print(empty: "no users (root on this host is admin)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a user with their tokens and sessions.")
        @Argument var name: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let u = try cliOperations(json: json).userRemove(name: name)
            if json { emit(u) } else { Out.line("removed \(u.name)") }
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "passwd", abstract: "Set a user's dashboard password (read from standard input).")
        @Argument var name: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            guard let password = readSecretLine() else { throw HopError.invalid("no password on standard input") }
            let u = try cliOperations(json: json).userPasswd(name: name, password: password)
            if json { emit(u) } else { Out.line("password set for \(u.name); their sessions ended") }
        }
    }
}

/// One line of standard input without its newline (nil at EOF).
func readSecretLine() -> String? {
    guard let line = readLine(strippingNewline: true), !line.isEmpty else { return nil }
    return line
}

/// `30d`, `12h`, `45m`, `90s` or a number of seconds.
func parseDuration(_ s: String) throws -> TimeInterval {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800]
    if let u = s.last, let mult = units[u], let n = Double(s.dropLast()), n > 0 { return n * mult }
    if let n = Double(s), n > 0 { return n }
    throw HopError.invalid("`\(s)` is not a duration", hint: "write e.g. 30d, 12h, 45m or 90s")
}

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage API tokens (hashed at rest, shown once).",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a token for a user and print it once.")
        @Argument var user: String
        @Option(help: "A label (what the token is for).") var label: String = ""
        @Option(help: "Lifetime: 30d, 12h, 45m, 90s (default 90d).") var expires: String = "90d"
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let t = try cliOperations(json: json).tokenCreate(user: user, label: label, expiresIn: try parseDuration(expires))
            if json { emit(t); return }
            Out.line(t.token ?? "")
            Out.err("token \(t.id) for \(t.user), expires \(t.expiresAt ?? "never"); it is not shown again")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens (never their secrets).")
        @Option var user: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let tokens = try cliOperations(json: json).tokens(user: user)
            if json { emit(tokens); return }
            var table = Table("ID", "USER", "STATE", "EXPIRES", "LABEL")
            for t in tokens { table.add(t.id, t.user, t.revoked ? "revoked" : "valid", t.expiresAt ?? "-", t.label) }
            table.print(empty: "no tokens")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token (by id, or the token itself).")
        @Argument var id: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let t = try cliOperations(json: json).tokenRevoke(id: id)
            if json { emit(t) } else { Out.line("revoked token \(t.id) of \(t.user)") }
        }
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "The audit log: every change, by whom, through which interface.",
                                                    subcommands: [List.self, Verify.self, Checkpoint.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show entries, oldest first.")
        @Option(completion: NameCompletion.apps) var app: String?
        @Option(name: [.customShort("n"), .long]) var limit: Int = 50
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let rows = try cliOperations(json: json).audit(app: app, limit: limit)
            if json { emit(rows); return }
            var t = Table("SEQ", "AT", "BY", "ACTION", "APP", "RESULT")
            for e in rows { t.add("\(e.seq)", e.at, "\(e.actor)@\(e.via)", e.action, e.app ?? "-", e.result) }
            t.print(empty: "no audit entries")
        }
    }

    struct Checkpoint: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "checkpoint",
                                                        abstract: "Sign the audit log's head with hop's key; keep the printed line somewhere a rewrite of this machine cannot reach.")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let c = try cliOperations(json: json).auditCheckpoint()
            if json { emit(c) } else { Out.line(c.line) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify",
                                                        abstract: "Recompute the hash chain and check the signed checkpoints; fails naming the first edited or deleted entry.")
        @Option(name: .customLong("checkpoint"), help: "A checkpoint line kept elsewhere, or @FILE of such lines (repeatable).") var checkpoints: [String] = []
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            var lines: [String] = []
            for c in checkpoints {
                if c.hasPrefix("@") {
                    let file = String(c.dropFirst())
                    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                        throw HopError.invalid("cannot read \(file)", at: SourceLocation(file: file), hint: "pass a file of checkpoint lines")
                    }
                    lines += text.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                } else { lines.append(c) }
            }
            let v = try cliOperations(json: json).auditVerify(checkpoints: lines)
            if json && v.ok { emit(v) } else if v.ok { Out.line("audit log intact: \(v.entries) entries, \(v.checkpoints ?? 0) signed checkpoints hold") }
            if !v.ok {
                throw HopError(.verificationFailed, "the audit log was tampered with: \(v.problem ?? "")",
                               hint: "entry \(v.brokenAt ?? 0) onward cannot be trusted; compare with a backup of hop.db")
            }
        }
    }
}
