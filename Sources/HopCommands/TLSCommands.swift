import ArgumentParser
import Foundation
import HopBasics
import HopCore

struct TLSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tls", abstract: "Certificates from an ACME CA (HTTP-01) for apps with [domains].",
                                                    subcommands: [Acme.self, Issue.self, Renew.self, Status.self])

    struct Acme: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "acme", abstract: "Get certificates from this ACME CA; installs the daily renewal timer.")
        @Option(help: "The CA's ACME directory URL.") var directory = "https://acme-v02.api.letsencrypt.org/directory"
        @Option(help: "The account's email address.") var email: String?
        @Option(name: .customLong("ca-file"), help: "Trust this CA bundle for the ACME server's HTTPS (a private CA).") var caFile: String?
        @Option(name: .customLong("challenge-port"), help: "The loopback port of the HTTP-01 challenge server.") var challengePort = 8402
        @Flag(help: "Stop getting certificates from a CA: sites deployed from now on have no challenge location; the renewal timer goes. Certificates in place stay.") var off = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            if off {
                try cliOperations(json: json).tlsUnconfigure()
                if json { emit(["acme": "off"]) } else { Out.line("ACME is off; certificates in place keep serving until they expire") }
                return
            }
            guard let email else { throw HopError.invalid("--email is required (or --off)") }
            let c = try cliOperations(json: json).tlsConfigure(directory: directory, email: email, caFile: caFile, challengePort: challengePort)
            if json { emit(c) } else {
                Out.line("certificates come from \(c.directory) (account \(c.email)); apps deployed from now on answer its challenges")
                Out.line("issue one with `hop tls issue APP`; a daily timer renews them 30 days before they expire")
            }
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "issue", abstract: "Get (or, with --force, replace) the app's certificate and serve it.")
        @Argument(completion: NameCompletion.apps) var app: String
        @Flag(help: "Ask for a new certificate even when one serves.") var force = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let s = try cliOperations(json: json).tlsIssue(app: app, force: force)
            TLSCommand.render(s, json: json)
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "renew", abstract: "Renew certificates that expire within 30 days (all with --all).")
        @Argument(completion: NameCompletion.apps) var app: String?
        @Flag var all = false
        @Flag(help: "Renew now, whatever the expiry date.") var force = false
        @Flag(help: "Run apps under this machine's systemd (set when run by the service host's timer).") var nativeHost = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            var ctx = cliContext(json: json)
            if nativeHost { ctx.serviceHostOverride = .native() }
            let ops = Operations(ctx)
            Hop.jsonMode = json
            if all {
                let list = try ops.tlsRenewAll(force: force)
                if json { emit(list) } else { for s in list { TLSCommand.render(s, json: false) } }
            } else {
                guard let app else { throw HopError.invalid("name an app, or --all") }
                TLSCommand.render(try ops.tlsIssue(app: app, renew: true, force: force), json: json)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Which certificate serves each app, until when, and how the last attempt went.")
        @Argument(completion: NameCompletion.apps) var app: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let list = try cliOperations(json: json).tlsStatuses(app: app)
            if json { emit(list); return }
            var t = Table("APP", "CERTIFICATE", "DOMAINS", "UNTIL", "LAST ATTEMPT")
            for s in list {
                t.add(s.app, s.certificate, s.domains.isEmpty ? "-" : s.domains.joined(separator: ","), s.notAfter ?? "-",
                      s.lastAttempt == "failed" ? "failed: \(s.error ?? "?")" : (s.lastAttempt ?? "-"))
            }
            t.print(empty: "no certificates")
        }
    }

    static func render(_ s: TLSStatus, json: Bool) {
        if json { emit(s); return }
        var line = "\(s.app): \(s.certificate)"
        if !s.domains.isEmpty { line += " for \(s.domains.joined(separator: ", "))" }
        if let n = s.notAfter { line += ", until \(n)" }
        if s.lastAttempt == "failed" { line += "; last attempt failed: \(s.error ?? "?")" }
        Out.line(line)
    }
}
