import Foundation
import HopBasics
import HopStore
import Runtime

/// A result that is a text document, not JSON: the server sends `text` with its content type,
/// and the OpenAPI document says so.
public struct TextDocument: Codable, Sendable, Equatable {
    public var contentType: String
    public var text: String
    public init(contentType: String, text: String) { self.contentType = contentType; self.text = text }
}

/// The Prometheus text exposition (format 0.0.4) of what hop measures: request counters and a
/// latency histogram per app (running totals since metrics.db was made), each app instance's
/// CPU time, memory, limit, tasks, restarts and OOM kills (as systemd and the kernel count them now), and the
/// machine's. Written by hand: a few lines of a stable, documented format; the Swift Prometheus
/// client is not in the mirror and would keep its own registry, not render hop's stored totals.
public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// A label value with `\`, `"` and newlines escaped.
    static func label(_ v: String) -> String {
        v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A sample value: integers as they are, others with enough digits.
    static func value(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.6g", v)
    }

    struct Family {
        var name: String
        var help: String
        var type: String
        var samples: [(suffix: String, labels: [(String, String)], value: Double)] = []
        mutating func add(_ labels: [(String, String)], _ v: Double, suffix: String = "") { samples.append((suffix, labels, v)) }
        var text: String {
            guard !samples.isEmpty else { return "" }
            var out = "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples {
                let l = s.labels.map { "\($0.0)=\"\(label($0.1))\"" }.joined(separator: ",")
                out += "\(name)\(s.suffix)\(l.isEmpty ? "" : "{\(l)}") \(value(s.value))\n"
            }
            return out
        }
    }

    /// Renders `totals` (requests by app), `units` (app instances) and, when given, the machine.
    /// `clockTicks` turns /proc/stat ticks into seconds.
    static func render(totals: [String: RequestBucket], units: [UnitReading], host: ResourceCollector.Snapshot?,
                       clockTicks: Double = 100) -> String {
        var requests = Family(name: "hop_http_requests_total", help: "Requests nginx answered for the app, by status class.", type: "counter")
        var bytes = Family(name: "hop_http_response_bytes_total", help: "Bytes nginx sent for the app.", type: "counter")
        var latency = Family(name: "hop_http_request_duration_seconds", help: "Time nginx took to answer the app's requests.", type: "histogram")
        for (app, t) in totals.sorted(by: { $0.key < $1.key }) {
            for (i, c) in t.classes.enumerated() { requests.add([("app", app), ("class", "\(i + 1)xx")], Double(c)) }
            bytes.add([("app", app)], Double(t.bytes))
            var cumulative = 0
            for (i, bound) in LatencyHistogram.boundsMilliseconds.enumerated() {
                cumulative += t.latency.counts[i]
                latency.add([("app", app), ("le", value(bound / 1000))], Double(cumulative), suffix: "_bucket")
            }
            latency.add([("app", app), ("le", "+Inf")], Double(t.latency.total), suffix: "_bucket")
            latency.add([("app", app)], Double(t.latency.sumMicroseconds) / 1e6, suffix: "_sum")
            latency.add([("app", app)], Double(t.latency.total), suffix: "_count")
        }
        var up = Family(name: "hop_process_up", help: "Whether the app instance's unit is active.", type: "gauge")
        var cpu = Family(name: "hop_process_cpu_seconds_total", help: "CPU time the app instance used (resets when its unit starts again).", type: "counter")
        var memory = Family(name: "hop_process_memory_bytes", help: "Memory the app instance uses.", type: "gauge")
        var limit = Family(name: "hop_process_memory_limit_bytes", help: "The app instance's memory limit.", type: "gauge")
        var tasks = Family(name: "hop_process_tasks", help: "Tasks (threads) of the app instance.", type: "gauge")
        var restarts = Family(name: "hop_process_restarts_total", help: "Restarts systemd made of the app instance.", type: "counter")
        var ooms = Family(name: "hop_process_oom_kills_total", help: "Processes of the app instance the kernel killed for memory (resets when its unit starts again).", type: "counter")
        for u in units.sorted(by: { $0.unit < $1.unit }) {
            let l = [("app", u.app), ("process", u.process), ("generation", String(u.generation)), ("unit", u.unit)]
            up.add(l, u.active ? 1 : 0)
            if let c = u.cpuNanos { cpu.add(l, Double(c) / 1e9) }
            if let m = u.memory { memory.add(l, Double(m)) }
            if let m = u.memoryLimit { limit.add(l, Double(m)) }
            if let t = u.tasks { tasks.add(l, Double(t)) }
            restarts.add(l, Double(u.restarts))
            ooms.add(l, Double(u.oomKills))
        }
        var families = [requests, bytes, latency, up, cpu, memory, limit, tasks, restarts, ooms]
        if let host {
            var hcpu = Family(name: "hop_host_cpu_seconds_total", help: "CPU time of all the machine's cores, busy or idle.", type: "counter")
            if let t = host.cpuTicks {
                hcpu.add([("mode", "busy")], Double(t.busy) / clockTicks)
                hcpu.add([("mode", "idle")], Double(t.total - t.busy) / clockTicks)
            }
            var hmem = Family(name: "hop_host_memory_bytes", help: "The machine's memory in use (total minus available) and in all.", type: "gauge")
            if let m = host.memory { hmem.add([("kind", "used")], Double(m.used)); hmem.add([("kind", "total")], Double(m.total)) }
            var hdisk = Family(name: "hop_host_disk_bytes", help: "The file system holding hop's state: used and in all.", type: "gauge")
            if let d = host.disk { hdisk.add([("kind", "used")], Double(d.used)); hdisk.add([("kind", "total")], Double(d.total)) }
            var load = Family(name: "hop_host_load1", help: "The machine's 1-minute load average.", type: "gauge")
            if let l = host.load1 { load.add([], l) }
            families += [hcpu, hmem, hdisk, load]
        }
        return families.map(\.text).joined()
    }
}

public enum PrometheusMetrics: HopOperation {
    public static let name = "prometheusMetrics"
    public static let summary = "What hop measures, in the Prometheus text format, for an operator's Prometheus to scrape: each app's requests and latency histogram, its instances' CPU, memory, tasks, restarts and OOM kills (the apps the caller may read), and the machine's (admins only)."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/metrics")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> TextDocument {
        TextDocument(contentType: PrometheusText.contentType, text: try call.ops.prometheusMetrics())
    }
}

extension Operations {
    /// Collects now (when the service host runs) and renders the exposition for the caller: any
    /// authenticated user, who sees the apps they may read (like `listApps`).
    public func prometheusMetrics() throws -> String {
        var snapshot: ResourceCollector.Snapshot?
        if let host = try? ctx.serviceHost() {
            snapshot = try RequestCollector(home: ctx.home, front: NginxFront(home: ctx.home, host: host)).collectAll().resources
        }
        let store = try MetricsStore(path: ctx.home.root + "/metrics.db")
        let mayRead = { (app: String) in self.ctx.principal.may(.read, app: app) }
        let admin = ctx.principal.may(.admin, app: nil)
        return PrometheusText.render(totals: try store.totals().filter { mayRead($0.key) },
                                     units: (snapshot?.units ?? []).filter { mayRead($0.app) },
                                     host: admin ? snapshot : nil, clockTicks: Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}
