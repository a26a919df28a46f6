import ArgumentParser
import Foundation
import HopCore

struct InfoCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "One app at a glance, checked now: URL (answering?), state, generations, processes (CPU, memory), addons, volumes, domains, certificate, last deploy and backup.")
    @Argument(completion: NameCompletion.apps) var app: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let info = try appBackend(json: json).info(app: app)
        if json { emit(info); return }
        for line in renderAppInfo(info) { Out.line(line) }
    }
}

/// `hop info`'s human output: a headline, then short sections whose values line up. Pure.
func renderAppInfo(_ i: AppInfo) -> [String] {
    var out = ["\(i.app): \(i.state)"]
    func row(_ label: String, _ value: String) { out.append("  " + pad(label, 13) + value) }
    for u in i.urls {
        let verdict: String
        switch u.answering {
        case true?: verdict = "answers (HTTP \(u.status ?? 0)" + (u.milliseconds.map { ", \($0) ms" } ?? "") + ")"
        case false?: verdict = "does not answer: " + (u.problem ?? "no answer")
        case nil: verdict = u.problem ?? "not checked"
        }
        row("url", u.url + "  " + verdict)
    }
    func generation(_ g: GenerationSummary) -> String {
        var s = "\(g.number) (build \(g.build)), \(g.createdAt)"
        if let action = g.action { s += ", \(action)" + (g.by.map { " by \($0)" } ?? "") + (g.via.map { " via \($0)" } ?? "") }
        return s
    }
    row("generation", i.generation.map(generation) ?? "none serving")
    if let p = i.previous { row("previous", generation(p)) }
    row("last deploy", i.lastDeploy.map { "\($0.at) by \($0.by) via \($0.via): \($0.result)" } ?? "none recorded")
    row("last backup", i.lastBackup.map { b in
        "\(b.at) \(b.reason): \(b.status)" + (b.status == "ok" ? ", \(humanBytes(b.size))" : "") + (b.error.map { " (\($0))" } ?? "")
    } ?? "none")
    if !i.processes.isEmpty {
        out.append("processes")
        for p in i.processes {
            let running = p.instances.filter { $0.state == "active" }.count
            out.append("  " + pad(p.name, 13) + "\(running) of \(p.count) running")
            for u in p.instances {
                var s = "    \(u.unit)  \(u.state)/\(u.sub)"
                if u.pid > 0 { s += "  pid \(u.pid)" }
                if let c = u.cpuSeconds { s += "  cpu " + String(format: "%.2f s", c) }
                if let m = u.memoryBytes { s += "  memory \(humanBytes(m))" + (u.memoryLimitBytes.map { " of \(humanBytes($0))" } ?? "") }
                if u.restarts > 0 { s += "  restarts \(u.restarts)" }
                out.append(s)
            }
        }
    }
    if !i.addons.isEmpty {
        out.append("addons")
        for a in i.addons { out.append("  " + pad(a.type, 13) + a.name) }
    }
    if !i.volumes.isEmpty {
        out.append("volumes")
        for v in i.volumes { out.append("  " + pad(v.name, 13) + v.target + (v.bytes.map { "  " + humanBytes($0) } ?? "")) }
    }
    out.append("domains")
    out.append("  " + i.domains.joined(separator: " "))
    if let c = i.certificate {
        out.append("certificate")
        var s = c.kind
        if let issuer = c.issuer { s += ", issuer \(issuer)" }
        if let end = c.notAfter { s += ", until \(end)" }
        out.append("  " + s)
        if c.lastAttempt == "failed" { out.append("  last attempt failed: \(c.error ?? "?")") }
    }
    return out
}
