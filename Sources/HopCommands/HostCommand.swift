import ArgumentParser
import Foundation
import HopBasics
import Runtime

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "A private, real systemd for machines where systemd is not PID 1 (containers, CI).",
        subcommands: [Up.self, Down.self, Status.self])

    static func host() -> PrivateHost {
        let home = HopHome.fromEnvironment()
        return PrivateHost(stateDir: home.root + "/host", shared: [home.root])
    }

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "up", abstract: "Boot it (no-op when it runs).")
        @Option(name: .customLong("http-port"), help: "The port nginx serves apps on (default 80, or the last one given).") var httpPort: Int?
        @Option(name: .customLong("https-port"), help: "Also serve TLS on this port (certificates in $HOP_HOME/tls/<app>; self-signed when none is given).") var httpsPort: Int?
        @Flag var json = false
        func run() throws {
            Hop.jsonMode = json
            let home = HopHome.fromEnvironment()
            for (flag, port) in [("--http-port", httpPort), ("--https-port", httpsPort)] {
                if let port, !(1...65535).contains(port) { throw HopError.invalid("\(flag) \(port) is not a TCP port", hint: "use 1–65535") }
            }
            if let httpPort, httpPort == httpsPort { throw HopError.invalid("--http-port and --https-port are both \(httpPort)") }
            try home.ensure()
            let h = HostCommand.host()
            let p = try h.up()
            let service = try ServiceHost.resolve(home: home)
            let front = NginxFront(home: home, host: service)
            if let httpPort { try front.setHTTPPort(httpPort) }
            if let httpsPort { try front.setHTTPSPort(httpsPort) }
            try front.ensureRunning()
            // A fresh host has none of the apps' runtime state: bring every serving generation back.
            var restored: [String] = [], failed: [String: String] = [:]
            if FileManager.default.fileExists(atPath: home.database) {
                let rt = try AppRuntime(home: home, db: try openDB(home))
                for app in try rt.db.deployedApps() {
                    let lock = try rt.lock(app)
                    defer { withExtendedLifetime(lock) {} }
                    guard let g = try rt.db.activeGeneration(app: app), !rt.activator.isServing(g) else { continue }
                    do {
                        try rt.activator.restore(g)
                        restored.append(app)
                    } catch let e as HopError {
                        failed[app] = e.message
                        Out.err("hop: \(app) generation \(g.number) did not come back: \(e.message)")
                    }
                }
            }
            if json { Out.json(["pid": Int(p), "state": h.state(), "restored": restored, "failed": failed]) } else {
                Out.line("private systemd up (pid \(p), \(h.state()))" + (restored.isEmpty ? "" : "; serving again: \(restored.joined(separator: ", "))"))
            }
            if !failed.isEmpty { throw ExitCode(8) }
        }
    }
    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop it and everything running in it.")
        @Flag var json = false
        func run() throws {
            Hop.jsonMode = json
            try HostCommand.host().down()
            if json { Out.json(["state": "stopped"]) } else { Out.line("private systemd stopped") }
        }
    }
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Whether it runs, and its state.")
        @Flag var json = false
        func run() throws {
            Hop.jsonMode = json
            let h = HostCommand.host()
            let state = h.state()
            if json { Out.json(["pid": h.pid().map { Int($0) } as Any, "state": state]) } else {
                Out.line(h.pid().map { "private systemd pid \($0): \(state)" } ?? "private systemd: stopped")
            }
        }
    }
}
