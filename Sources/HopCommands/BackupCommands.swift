import ArgumentParser
import Foundation
import HopBasics
import HopCore
import Runtime

/// `hop backup …`: signed, encrypted backups of an app's data, through the operations core.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Backups of an app's data (state, volumes, addons, config): signed, encrypted with age, local or off-host.",
        subcommands: [Create.self, List.self, Show.self, Verify.self, Restore.self, Destroy.self, Prune.self, Schedule.self, Run.self, Remote.self, Key.self])

    static func table(_ all: [BackupInfo]) -> Table {
        var t = Table("ID", "APP", "STATUS", "REASON", "SIZE", "VERIFIED", "LOCATION")
        for b in all {
            t.add(b.id, b.app, b.status, b.reason, byteCount(b.size), b.verifiedAt != nil ? "yes" : "no",
                  b.status == "failed" ? (b.error ?? "") : b.location)
        }
        return t
    }

    static func byteCount(_ n: Int64) -> String {
        n >= 1 << 30 ? String(format: "%.1fG", Double(n) / Double(1 << 30)) : n >= 1 << 20 ? String(format: "%.1fM", Double(n) / Double(1 << 20))
            : n >= 1 << 10 ? String(format: "%.1fK", Double(n) / 1024) : "\(n)B"
    }

    struct Create: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Back up an app now.")
        @Argument(completion: NameCompletion.apps) var app: String
        @Option(help: "An absolute directory, or REMOTE:PATH of a remote from `hop backup remote add` (default: $HOP_HOME/backups).") var to: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let b = try runOperation(CreateBackup.self, .init(app: app, to: to), json: json)
            if json { emit(b) } else { Out.line("backup \(b.id) of \(b.app): \(byteCount(b.size)) (\(b.members ?? 0) members) at \(b.location)") }
        }
    }

    struct List: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List backups (failed attempts too), newest first.")
        @Argument(completion: NameCompletion.apps) var app: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let all = try runOperation(ListBackups.self, .init(app: app), json: json)
            if json { emit(all); return }
            table(all).print(empty: "no backups")
        }
    }

    struct Show: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one backup.")
        @Argument(completion: NameCompletion.backups) var id: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let b = try runOperation(ShowBackup.self, .init(backup: id), json: json)
            if json { emit(b); return }
            Out.line("backup     \(b.id)\napp        \(b.app)\nstatus     \(b.status)\(b.error.map { " (\($0))" } ?? "")\nreason     \(b.reason)")
            Out.line("created    \(b.createdAt)\ngeneration \(b.generation.map(String.init) ?? "-")\nbuild      \(b.build.map { String($0) } ?? "-")")
            Out.line("location   \(b.location)\nsize       \(byteCount(b.size)) (sha256 \(b.sha256))\nverified   \(b.verifiedAt ?? "never")")
            if let m = b.members { Out.line("members    \(m) (\(byteCount(b.bytes ?? 0)) before compression); addons: \((b.addons ?? []).joined(separator: ", ").ifEmptyDash)") }
        }
    }

    struct Verify: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "verify", abstract: "Read a backup back: its file hash, decryption, every member's checksum, the manifest's signature (exit 7 if any fails).")
        @Argument(completion: NameCompletion.backups) var id: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let v = try runOperation(VerifyBackup.self, .init(backup: id), json: json)
            if json { emit(v) } else { Out.line("backup \(v.id): verified (\(v.members) members, \(byteCount(v.bytes)); signed by \(v.keyid.prefix(16))…; \(String(format: "%.2f", v.seconds)) s)") }
        }
    }

    struct Restore: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "restore", abstract: "Restore a backup into its app (or a new app): verified first, staged, swapped in with the app stopped, health-gated; any failure puts the previous data back.")
        @Argument(completion: NameCompletion.backups) var id: String
        @Option(name: .customLong("to-app"), help: "Restore into a new app (a clone) instead.") var toApp: String?
        @Flag(help: "Confirm without being asked (needed when there is no terminal, and with --json).") var yes = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            if let toApp {
                _ = try checkedApp(toApp)
                try ConfirmGate.require("restore backup \(id) into \(toApp)", command: "backup restore \(id) --to-app \(toApp)",
                                         expected: nil, yes: yes, json: json)
            } else {
                // The app whose data is replaced, named when the backup is one hop knows.
                // Looked up only to ask: a refusal reads nothing.
                let app = ConfirmGate.decide(yes: yes, json: json, interactive: ConfirmGate.interactive) == .ask ? (try? runOperation(ShowBackup.self, .init(backup: id), json: json))?.app : nil
                try ConfirmGate.require("replace \(app ?? "the backed-up app")'s current data with backup \(id)'s", command: "backup restore \(id)",
                                         expected: app, yes: yes, json: json)
            }
            let r = try runOperation(RestoreBackup.self, .init(backup: id, toApp: toApp), json: json)
            if json { emit(r) } else {
                Out.line("restored backup \(r.id) of \(r.from) into \(r.app): \(r.files) files, \(byteCount(r.bytes))\(r.addons.isEmpty ? "" : ", addons \(r.addons.joined(separator: ", "))"); generation \(r.generation.map(String.init) ?? "-") serves (\(String(format: "%.2f", r.seconds)) s)")
            }
        }
    }

    struct Destroy: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "destroy", abstract: "Delete a backup (its file and its record).")
        @Argument(completion: NameCompletion.backups) var id: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let b = try runOperation(DestroyBackup.self, .init(backup: id), json: json)
            if json { emit(b) } else { Out.line("destroyed backup \(b.id) of \(b.app)") }
        }
    }

    struct Prune: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Apply a retention policy; the newest verified backup is always kept.")
        @Argument(completion: NameCompletion.apps) var app: String
        @Option(help: "last=N,daily=N,weekly=N,monthly=N (default: the app's schedule's).") var keep: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let r = try runOperation(PruneBackups.self, .init(app: app, keep: keep), json: json)
            if json { emit(r) } else { Out.line("\(r.app): kept \(r.kept.count), removed \(r.removed.count)\(r.removed.isEmpty ? "" : " (" + r.removed.joined(separator: ", ") + ")")") }
        }
    }

    struct Schedule: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "schedule", abstract: "Back an app up on a systemd calendar schedule (a timer), then prune; without options, show the schedule.")
        @Argument(completion: NameCompletion.apps) var app: String
        @Option(help: "A systemd calendar expression: daily, hourly, \"*-*-* 03:15:00\"…") var calendar: String?
        @Option(help: "Retention: last=N,daily=N,weekly=N,monthly=N.") var keep: String?
        @Option(help: "Where the scheduled backups go.") var to: String?
        @Flag(help: "Remove the schedule.") var off = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let s: BackupScheduleInfo
            if off {
                s = try runOperation(RemoveBackupSchedule.self, .init(app: app), json: json)
            } else if let calendar {
                s = try runOperation(SetBackupSchedule.self, .init(app: app, calendar: calendar, keep: keep, to: to), json: json)
            } else {
                if keep != nil || to != nil { throw HopError.invalid("--keep and --to go with --calendar", hint: "give the schedule's --calendar too") }
                s = try runOperation(GetBackupSchedule.self, .init(app: app), json: json)
            }
            if json { emit(s); return }
            if let c = s.calendar { Out.line("\(s.app): backed up on `\(c)`\(s.keep.map { ", keep \($0)" } ?? "")\(s.target.map { " to \($0)" } ?? "") (\(s.timer ?? ""))") }
            else { Out.line("\(s.app): no backup schedule") }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "What the schedule's timer runs: create, verify, prune.", shouldDisplay: false)
        @Argument(completion: NameCompletion.apps) var app: String
        @Flag(help: "Run apps under this machine's systemd (set when run by the service host's timer).") var nativeHost = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            Hop.jsonMode = json
            var ctx = cliContext(json: json)
            if nativeHost { ctx.serviceHostOverride = .native() }
            let b = try Operations(ctx).backupRun(app: app)
            if json { emit(b) } else { Out.line("scheduled backup \(b.id) of \(b.app): \(byteCount(b.size)), verified") }
        }
    }

    struct Remote: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remote", abstract: "Off-host targets (rclone remotes; their secrets kept sealed).",
                                                        subcommands: [Add.self, Remove.self, List.self])
        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a remote: NAME TYPE (sftp, s3, …) KEY=VALUE… (rclone's options).")
            @Argument var name: String
            @Argument var type: String
            @Argument var options: [String] = []
            @OptionGroup var outputOptions: OutputOptions
            var json: Bool { outputOptions.json }
            func run() throws {
                let r = try cliOperations(json: json).backupRemoteAdd(name: name, type: type, options: options)
                if json { emit(r) } else { Out.line("added backup remote \(r.name); use --to \(r.name):PATH") }
            }
        }
        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a remote.")
            @Argument var name: String
            @OptionGroup var outputOptions: OutputOptions
            var json: Bool { outputOptions.json }
            func run() throws {
                let r = try cliOperations(json: json).backupRemoteRemove(name: name)
                if json { emit(r) } else { Out.line("removed backup remote \(r.name)") }
            }
        }
        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List remotes.")
            @OptionGroup var outputOptions: OutputOptions
            var json: Bool { outputOptions.json }
            func run() throws {
                let all = try cliOperations(json: json).backupRemotes()
                if json { emit(all); return }
                var t = Table("NAME")
                for r in all { t.add(r.name) }
                t.print(empty: "no backup remotes")
            }
        }
    }

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "key", abstract: "The age identity backups are encrypted to (keep a copy off this machine).")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let k = try cliOperations(json: json).backupKey()
            if json { emit(k) } else { Out.line("identity  \(k.identity)\nrecipient \(k.recipient)\nopen a backup without hop: age -d -i \(k.identity) FILE | tar -x --zstd") }
        }
    }
}

extension String {
    var ifEmptyDash: String { isEmpty ? "-" : self }
}
