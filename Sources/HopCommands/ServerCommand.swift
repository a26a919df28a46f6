import ArgumentParser
import Foundation
import HopBasics
import HopCore
import HopServer
import Runtime

struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server",
        abstract: "Serve hop's HTTP API and dashboard (in the foreground), or install it as a unit published by hop's nginx.",
        subcommands: [Run.self, Install.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Serve in the foreground until stopped.")
        @Option(help: "Listen on HOST:PORT (default 127.0.0.1:8090 unless --socket is given).") var listen: String?
        @Option(help: "Listen on this unix socket instead.") var socket: String?
        @Flag(help: "Run apps under this machine's systemd (set when hop server runs inside the service host).") var nativeHost = false
        @Flag(help: "Leave `Secure` off the session cookie (plain-HTTP loopback testing only).") var insecureCookies = false
        @Option(name: .customLong("socket-group"), help: "The group given the unix socket (default www-data, nginx's).") var socketGroup = "www-data"
        @Flag(help: "Run as the unprivileged front: take requests on --socket and pass hop's operations to the helper at --helper (hop-server.service).") var front = false
        @Option(help: "The helper's unix socket (with --front).") var helper: String?

        func validate() throws {
            if listen != nil && socket != nil { throw ValidationError("--listen and --socket exclude each other") }
            if front && (socket == nil || helper == nil) { throw ValidationError("--front needs --socket and --helper") }
            if !front && helper != nil { throw ValidationError("--helper goes with --front") }
            if let listen {
                guard let (host, _) = Self.hostAndPort(listen) else { throw ValidationError("--listen \(listen) is not HOST:PORT") }
                guard ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) || host.hasPrefix("127.") else {
                    throw ValidationError("--listen \(host) is not a loopback address: publish hop server through hop's nginx (`hop server install`) for TLS")
                }
            }
        }

        /// The front touches nothing of `$HOP_HOME`: it only passes requests on.
        func runFront(socket: String, helper: String) throws {
            let outcome = ServerOutcome()
            let front = HopFront(helperSocket: helper)
            Task { @Sendable in
                do {
                    try await front.run(socket: socket, onReady: { Out.err("hop server (front) listening on \($0), helper at \(helper)") })
                } catch { outcome.failure = "\(error)" }
                outcome.done.signal()
            }
            outcome.done.wait()
            if let failure = outcome.failure { throw HopError(.environment, "hop server stopped: \(failure)") }
        }

        /// `HOST:PORT` split at the last colon (so `[::1]:8090` works), or nil.
        static func hostAndPort(_ s: String) -> (host: String, port: Int)? {
            guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
            return (String(s[..<colon]), port)
        }

        func run() throws {
            if front, let socket, let helper { return try runFront(socket: socket, helper: helper) }
            let home = HopHome.fromEnvironment()
            try home.ensure()
            var server = HopHTTPServer(home: home, secureCookies: !insecureCookies)
            // Inside the service host, its own systemd is PID 1: use it directly.
            if nativeHost { server.serviceHost = .native() }
            let parsed = listen.flatMap(Self.hostAndPort)
            let host = parsed.map { $0.host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) }, port = parsed?.port
            let socket = self.socket
            let outcome = ServerOutcome()
            let (h, p, srv) = (host, port, server)
            Task { @Sendable in
                do {
                    try await srv.run(host: h, port: p, socket: socket, socketGroup: socketGroup, onReady: { Out.err("hop server listening on \($0)") })
                } catch { outcome.failure = "\(error)" }
                outcome.done.signal()
            }
            outcome.done.wait()
            if let failure = outcome.failure { throw HopError(.environment, "hop server stopped: \(failure)") }
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "install",
            abstract: "Install and start hop-server.service in the service host, published by hop's nginx.")
        @Option(name: .customLong("server-name"), help: "The host name the API and dashboard answer at (default: the one of the last install, else hop.localhost).") var serverName: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            // The running binary (resolved, so `hop` from PATH is /usr/bin/hop, not ./hop).
            let ops = cliOperations(json: json)
            let r = try ops.serverInstall(hopBinary: runningHopBinary(), serverName: serverName ?? ops.installedServerName() ?? "hop.localhost")
            if json { emit(r) } else { Out.line("hop server runs (\(r.unit)); API and dashboard at \(r.url)") }
        }
    }
}

final class ServerOutcome: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    var failure: String?
}
