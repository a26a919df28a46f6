import ArgumentParser
import Foundation
import HopBasics
import HopCore
import Runtime

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "A private, real systemd for machines where systemd is not PID 1 (containers, CI).",
        subcommands: [Up.self, Down.self, Status.self, Journal.self])

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "up", abstract: "Boot it (no-op when it runs).")
        @Option(name: .customLong("http-port"), help: "The port nginx serves apps on (default 80, or the last one given).") var httpPort: Int?
        @Option(name: .customLong("https-port"), help: "Also serve TLS on this port (certificates in $HOP_HOME/tls/<app>; self-signed when none is given).") var httpsPort: Int?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let r = try cliOperations(json: json).hostUp(httpPort: httpPort, httpsPort: httpsPort)
            if json { emit(r) } else {
                let restored = r.restored ?? []
                Out.line("private systemd up (pid \(r.pid ?? 0), \(r.state))" + (restored.isEmpty ? "" : "; serving again: \(restored.joined(separator: ", "))"))
            }
            if !(r.failed ?? [:]).isEmpty { throw ExitCode(8) }
        }
    }
    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop it and everything running in it.")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let r = try cliOperations(json: json).hostDown()
            if json { emit(r) } else { Out.line("private systemd stopped") }
        }
    }
    struct Journal: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "journal",
            abstract: "The journal of one of hop's units in the service host (hop-nginx.service, hop-server.service, hop-helper.service…).")
        @Argument(help: "The unit.") var unit: String
        @Option(name: [.customShort("n"), .customLong("lines")], help: "How many lines (default 100).") var lines = 100
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let r = try cliOperations(json: json).hostJournal(unit: unit, lines: lines)
            if json { emit(r) } else { r.lines.forEach { Out.line($0) } }
        }
    }
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Whether it runs, and its state.")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let r = try cliOperations(json: json).hostStatus()
            if json { emit(r) } else {
                Out.line(r.pid.map { "private systemd pid \($0): \(r.state)" } ?? "private systemd: stopped")
            }
        }
    }
}
