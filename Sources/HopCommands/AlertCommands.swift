import ArgumentParser
import Foundation
import HopBasics
import HopCore

struct AlertsCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(commandName: "alerts",
        abstract: "Alerts firing now and resolved recently, with their notifications; the silences in force.")
    @Option(help: "How far back resolved alerts are listed: 15m, 24h, 7d.") var since: String = "24h"
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let l = try runOperation(ListAlerts.self, .init(since: since), json: json)
        if json { emit(l); return }
        var t = Table("ID", "STATUS", "RULE", "SUBJECT", "SINCE", "MESSAGE", "NOTIFIED")
        for a in l.alerts {
            let sent = a.notifications.filter { $0.sentAt != nil }.map { "\($0.channel) \($0.event)" }
            let failed = a.notifications.filter { $0.sentAt == nil && $0.lastError != nil }.map { "\($0.channel): \($0.lastError ?? "")" }
            let notified = a.silenced ? "silenced" : (sent + failed.map { "not sent: " + $0 }).joined(separator: "; ")
            t.add("\(a.id)", a.status, a.rule, a.subject, a.status == "resolved" ? (a.resolvedAt ?? a.since) : (a.firedAt ?? a.since), a.message, notified)
        }
        t.print(empty: "no alerts since \(since)")
        for s in l.silences {
            Out.line("silence \(s.id): \(s.app ?? "every app")\(s.rule.map { ", rule \($0)" } ?? "") until \(s.until) (by \(s.by)\(s.reason.isEmpty ? "" : ": " + s.reason))")
        }
    }
}

struct AlertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "alert", abstract: "Silence alerts, end a silence, list the rules.",
                                                    subcommands: [Silence.self, Unsilence.self, Rules.self])

    struct Silence: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "silence",
            abstract: "Hold an app's alert notifications (every app's with no APP: admins) for a while; alerts still change state.")
        @Argument(completion: NameCompletion.apps) var app: String?
        @Option(help: "Only this rule (see `hop alert rules`).") var rule: String?
        @Option(name: .customLong("for"), help: "For how long: 30m, 2h, 1d.") var duration: String
        @Option(help: "Why (kept with the silence and in the audit log).") var reason: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let s = try runOperation(SilenceAlerts.self, .init(app: app, rule: rule, duration: duration, reason: reason), json: json)
            if json { emit(s) } else { Out.line("silence \(s.id): \(s.app ?? "every app")\(s.rule.map { ", rule \($0)" } ?? "") until \(s.until)") }
        }
    }

    struct Unsilence: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "unsilence", abstract: "End a silence now.")
        @Argument var id: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let s = try runOperation(EndSilence.self, .init(id: id), json: json)
            if json { emit(s) } else { Out.line("silence \(s.id) ended") }
        }
    }

    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rules", abstract: "The alert rules, when they fire and resolve.")
        @OptionGroup var outputOptions: OutputOptions
        func run() throws {
            var t = Table("RULE", "FIRES WHEN", "HOLDS", "CLEARS")
            for r in AlertRule.allCases { t.add(r.rawValue, r.summary, "\(r.holdFor) s", "\(r.clearFor) s") }
            t.print(empty: "")
        }
    }
}

struct NotifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notify", abstract: "Where alert notifications go: mail through an SMTP relay, webhooks.",
                                                    subcommands: [Add.self, List.self, Remove.self, Test.self])

    struct Add: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a channel: `mail NAME smtp://user:pass@relay:587 --to ops@example.org`, or `webhook NAME https://…`.")
        @Argument(help: "mail or webhook.") var kind: String
        @Argument var name: String
        @Argument(help: "smtp://[user:password@]host[:port] (STARTTLS when offered), smtp+starttls://… (required), smtps://…; or the webhook's URL.") var target: String
        @Option(help: "A recipient (mail; repeat for more).") var to: [String] = []
        @Option(help: "The From address (mail; default hop@ the relay).") var from: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let c = try runOperation(AddNotifyChannel.self, .init(name: name, kind: kind, target: target, to: to.isEmpty ? nil : to, from: from), json: json)
            if json { emit(c) } else { Out.line("added \(c.kind) channel \(c.name) (\(c.target)); `hop notify test \(c.name)` sends a test") }
        }
    }

    struct List: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List channels (never their credentials).")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let list = try runOperation(ListNotifyChannels.self, NoInput(), json: json)
            if json { emit(list); return }
            var t = Table("NAME", "KIND", "TARGET", "TO")
            for c in list { t.add(c.name, c.kind, c.target, c.recipients.joined(separator: ", ")) }
            t.print(empty: "no notification channels: add one with `hop notify add mail|webhook …`")
        }
    }

    struct Remove: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a channel.")
        @Argument var name: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let c = try runOperation(RemoveNotifyChannel.self, .init(name: name), json: json)
            if json { emit(c) } else { Out.line("removed channel \(c.name)") }
        }
    }

    struct Test: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "test", abstract: "Send a test notification now.")
        @Argument var name: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let c = try runOperation(TestNotifyChannel.self, .init(name: name), json: json)
            if json { emit(c) } else { Out.line("\(c.name) took the test notification") }
        }
    }
}
