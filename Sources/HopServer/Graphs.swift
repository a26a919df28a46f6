import Foundation
import HopCore
import HopStore

/// Server-rendered SVG charts for the dashboard: no script, only presentation attributes (the
/// CSP allows no inline style), a viewBox so they scale to the page (readable at 420 px), a
/// `<title>` and `<desc>` for screen readers. Pure: values in, markup out.
enum Graph {
    struct Series {
        var name: String
        var color: String
        /// One value per time (nil: no reading).
        var values: [Double?]
        var dashed = false
    }

    /// A vertical line at a time: a deploy, a rollback, a restart.
    struct Marker {
        var at: Double
        /// What the marker's tooltip (and a screen reader) says.
        var label: String
        var color: String
        /// What is written beside the line (the label when nil).
        var short: String? = nil
    }

    static let width = 480.0, height = 170.0
    static let left = 46.0, right = 8.0, top = 22.0, bottom = 20.0
    static var plotWidth: Double { width - left - right }
    static var plotHeight: Double { height - top - bottom }

    static let classColors = ["#8c959f", "#1a7f37", "#0969da", "#bf8700", "#b42318"]
    static let palette = ["#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#116329"]

    /// A round top for the y axis: 1, 2 or 5 × 10^n at or above `v`.
    static func niceMax(_ v: Double) -> Double {
        guard v > 0, v.isFinite else { return 1 }
        let p = pow(10, floor(log10(v)))
        for m in [1.0, 2, 5, 10] where m * p >= v { return m * p }
        return 10 * p
    }

    static func x(_ t: Double, from: Double, to: Double) -> Double { left + (t - from) / max(1, to - from) * plotWidth }
    static func y(_ v: Double, max: Double) -> Double { top + plotHeight - min(v, max) / max * plotHeight }
    static func n(_ d: Double) -> String { String(format: "%.1f", d) }

    /// Time labels: HH:MM within a day, MM-DD HH:MM beyond (UTC). Computed, not formatted: a
    /// DateFormatter costs more to make than a whole graph to draw.
    static func timeLabel(_ t: Double, span: Double) -> String {
        let s = Int64(t.rounded(.down))
        let days = s >= 0 ? s / 86_400 : (s - 86_399) / 86_400
        let sod = s - days * 86_400
        let hm = String(format: "%02d:%02d", Int(sod / 3600), Int(sod / 60 % 60))
        guard span > 86_400 else { return hm }
        let c = Timestamp.civil(fromDays: days)
        return String(format: "%02d-%02d ", Int(c.month), Int(c.day)) + hm
    }

    /// The frame: title, legend, y grid with labels, x labels, markers; `plot` goes inside.
    static func frame(id: String, title: String, summary: String, from: Double, to: Double, yMax: Double, unit: (Double) -> String,
                      legend: [(String, String)], markers: [Marker], plot: String) -> String {
        var s = "<svg class=graph id=\"\(esc(id))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=img aria-labelledby=\"\(esc(id))-t \(esc(id))-d\" font-family=\"system-ui, sans-serif\" font-size=\"11\">"
        s += "<title id=\"\(esc(id))-t\">\(esc(title))</title><desc id=\"\(esc(id))-d\">\(esc(summary))</desc>"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#fff\"/>"
        s += "<text x=\"\(n(left))\" y=\"13\" font-weight=\"600\" fill=\"#1b1f24\">\(esc(title))</text>"
        var lx = width - right
        for (name, color) in legend.reversed() {
            lx -= Double(name.count) * 6.2 + 16
            s += "<rect x=\"\(n(lx))\" y=\"5\" width=\"9\" height=\"9\" fill=\"\(color)\"/><text x=\"\(n(lx + 12))\" y=\"13\" fill=\"#57606a\">\(esc(name))</text>"
        }
        for f in [0.0, 0.5, 1.0] {
            let yy = y(yMax * f, max: yMax)
            s += "<line x1=\"\(n(left))\" x2=\"\(n(width - right))\" y1=\"\(n(yy))\" y2=\"\(n(yy))\" stroke=\"#e3e6ea\" stroke-width=\"1\"/>"
            s += "<text x=\"\(n(left - 4))\" y=\"\(n(yy + 4))\" text-anchor=\"end\" fill=\"#57606a\">\(esc(unit(yMax * f)))</text>"
        }
        for (i, t) in [from, (from + to) / 2, to].enumerated() {
            let anchor = ["start", "middle", "end"][i]
            s += "<text x=\"\(n(x(t, from: from, to: to)))\" y=\"\(n(height - 5))\" text-anchor=\"\(anchor)\" fill=\"#57606a\">\(esc(timeLabel(t, span: to - from)))</text>"
        }
        s += plot
        for (i, m) in markers.filter({ $0.at >= from && $0.at <= to }).sorted(by: { $0.at < $1.at }).enumerated() {
            let mx = x(m.at, from: from, to: to)
            // Labels on three staggered rows, so neighbouring markers stay readable.
            let ly = top + 9 + Double(i % 3) * 11
            s += "<g><title>\(esc(m.label))</title><line x1=\"\(n(mx))\" x2=\"\(n(mx))\" y1=\"\(n(top))\" y2=\"\(n(top + plotHeight))\" stroke=\"\(m.color)\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\"/>"
            s += "<text x=\"\(n(mx + 2))\" y=\"\(n(ly))\" fill=\"\(m.color)\" font-size=\"10\">\(esc(m.short ?? String(m.label.prefix(14))))</text></g>"
        }
        return s + "</svg>"
    }

    /// Stacked bars (requests by class), one per interval of `step` seconds starting at `times`.
    static func stackedBars(id: String, title: String, from: Double, to: Double, step: Double, times: [Double], stacks: [Series],
                            markers: [Marker], unit: (Double) -> String) -> String {
        let totals = times.indices.map { i in stacks.reduce(0) { $0 + ($1.values[i] ?? 0) } }
        let yMax = niceMax(totals.max() ?? 0)
        let barWidth = max(1, step / max(1, to - from) * plotWidth - 0.5)
        var plot = ""
        for (i, t) in times.enumerated() {
            var base = 0.0
            for s in stacks {
                guard let v = s.values[i], v > 0 else { continue }
                let y0 = y(base, max: yMax), y1 = y(base + v, max: yMax)
                plot += "<rect x=\"\(n(x(t, from: from, to: to)))\" y=\"\(n(y1))\" width=\"\(n(barWidth))\" height=\"\(n(max(0.5, y0 - y1)))\" fill=\"\(s.color)\"/>"
                base += v
            }
        }
        let total = totals.reduce(0, +)
        let summary = "\(Int(total)) in all over the window; " + stacks.map { s in "\(s.name): \(Int(s.values.compactMap { $0 }.reduce(0, +)))" }.joined(separator: ", ")
        return frame(id: id, title: title, summary: summary, from: from, to: to, yMax: yMax, unit: unit,
                     legend: stacks.map { ($0.name, $0.color) }, markers: markers, plot: plot)
    }

    /// Lines (latency, CPU, memory against its limit): a gap where a value is missing.
    static func lines(id: String, title: String, from: Double, to: Double, times: [Double], series: [Series], markers: [Marker],
                      unit: (Double) -> String, yFloor: Double = 0, niceTop: (Double) -> Double = niceMax) -> String {
        let yMax = niceTop(max(yFloor, series.flatMap { $0.values.compactMap { $0 } }.max() ?? 0))
        var plot = ""
        for s in series {
            var path = ""
            var pen = false
            for (i, t) in times.enumerated() {
                guard let v = s.values[i] else { pen = false; continue }
                path += (pen ? "L" : "M") + n(x(t, from: from, to: to)) + " " + n(y(v, max: yMax)) + " "
                pen = true
            }
            guard !path.isEmpty else { continue }
            plot += "<path d=\"\(path.trimmingCharacters(in: .whitespaces))\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
        }
        let summary = series.map { s -> String in
            let v = s.values.compactMap { $0 }
            return v.isEmpty ? "\(s.name): no readings" : "\(s.name): last \(unit(v.last!)), highest \(unit(v.max()!))"
        }.joined(separator: "; ")
        return frame(id: id, title: title, summary: summary, from: from, to: to, yMax: yMax, unit: unit,
                     legend: series.map { ($0.name, $0.color) }, markers: markers, plot: plot)
    }

    /// A top for bytes: a power of two above the highest value (with room for a limit line).
    static func niceBytes(_ v: Double) -> Double {
        var top = 1_048_576.0
        while top < v * 1.05 { top *= 2 }
        return top
    }

    static func bytes(_ v: Double) -> String {
        let gib = 1_073_741_824.0, mib = 1_048_576.0
        return v >= gib ? String(format: "%.1f GiB", v / gib) : v >= mib ? String(format: "%.0f MiB", v / mib)
            : v >= 1024 ? String(format: "%.0f KiB", v / 1024) : String(format: "%.0f B", v)
    }
    static func count(_ v: Double) -> String { v >= 1000 ? String(format: "%.1fk", v / 1000) : String(format: "%.0f", v) }
    static func ms(_ v: Double) -> String { v >= 1000 ? String(format: "%.1f s", v / 1000) : String(format: "%.0f ms", v) }
    static func percent(_ v: Double) -> String { String(format: v < 10 && v != v.rounded() ? "%.1f %%" : "%.0f %%", v) }

    // MARK: The app page's graphs

    /// An ISO 8601 time (as hop writes them) in seconds since 1970.
    static func seconds(_ iso: String) -> Double? {
        if let d = Timestamp.decode(iso) { return d.timeIntervalSince1970 }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: iso)?.timeIntervalSince1970
    }

    /// Requests by class, latency p95, CPU and memory against the limit, with deploy, rollback
    /// and restart markers.
    static func appGraphs(_ m: AppMetricsResult, generations: [GenerationInfo], rollbacks: [AuditInfo]) -> String {
        guard let from = seconds(m.since), let to = seconds(m.until) else { return "" }
        var markers: [Marker] = generations.compactMap { g in
            seconds(g.createdAt).map { Marker(at: $0, label: "deploy \(g.generation)\(g.status == "failed" ? " (rolled back)" : "")",
                                              color: g.status == "failed" ? "#b42318" : "#1a7f37",
                                              short: "deploy \(g.generation)\(g.status == "failed" ? " ✗" : "")") }
        }
        markers += rollbacks.compactMap { e in seconds(e.at).map { Marker(at: $0, label: "rollback", color: "#bf8700") } }
        for p in m.processes {
            for pt in p.points where pt.restarts > 0 || pt.oomKills > 0 {
                if let t = seconds(pt.start) {
                    markers.append(Marker(at: t, label: pt.oomKills > 0 ? "\(p.process): OOM kill" : "\(p.process): restart", color: "#cf222e"))
                }
            }
        }
        let times = m.points.compactMap { seconds($0.start) }
        let step = Double(m.points.first?.seconds ?? 10)
        let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"]
        let stacks = (0..<5).map { c in Series(name: classes[c], color: classColors[c], values: m.points.map { Double($0.classes[c]) }) }.filter { s in
            s.name != "1xx" || s.values.contains { ($0 ?? 0) > 0 }
        }
        var out = stackedBars(id: "graph-requests", title: "Requests per \(formatStep(step))", from: from, to: to, step: step, times: times,
                              stacks: stacks, markers: markers, unit: count)
        out += lines(id: "graph-latency", title: "Latency p95", from: from, to: to, times: times,
                     series: [Series(name: "p95", color: "#8250df", values: m.points.map(\.p95))], markers: markers, unit: ms)
        var cpu: [Series] = [], memory: [Series] = []
        var ptimes: [Double] = []
        // One time axis for every process: the union of their points.
        let allTimes = Set(m.processes.flatMap { $0.points.compactMap { seconds($0.start) } }).sorted()
        ptimes = allTimes
        for (i, p) in m.processes.enumerated() {
            let byTime = Dictionary(p.points.compactMap { pt in seconds(pt.start).map { ($0, pt) } }, uniquingKeysWith: { a, _ in a })
            let color = palette[i % palette.count]
            cpu.append(Series(name: p.process, color: color, values: ptimes.map { byTime[$0]?.cpuPercent }))
            memory.append(Series(name: p.process, color: color, values: ptimes.map { t in byTime[t]?.memory.map(Double.init) }))
            if p.latest.memoryLimit != nil {
                memory.append(Series(name: "\(p.process) limit", color: "#cf222e", values: ptimes.map { t in byTime[t]?.memoryLimit.map(Double.init) }, dashed: true))
            }
        }
        out += lines(id: "graph-cpu", title: "CPU (% of a core)", from: from, to: to, times: ptimes, series: cpu, markers: markers, unit: percent, yFloor: 1)
        out += lines(id: "graph-memory", title: "Memory and its limit", from: from, to: to, times: ptimes, series: memory, markers: markers, unit: bytes, niceTop: niceBytes)
        return out
    }

    static func formatStep(_ s: Double) -> String { s < 60 ? "\(Int(s)) s" : s < 3600 ? "\(Int(s / 60)) min" : "\(Int(s / 3600)) h" }

    /// The host page's graphs: CPU, memory and disk against their totals, load.
    static func hostGraphs(_ h: HostMetricsResult) -> String {
        guard let from = seconds(h.since), let to = seconds(h.until) else { return "" }
        let times = h.points.compactMap { seconds($0.start) }
        var out = lines(id: "graph-host-cpu", title: "CPU (all \(h.cores) cores)", from: from, to: to, times: times,
                        series: [Series(name: "busy", color: "#0969da", values: h.points.map(\.cpuPercent))], markers: [], unit: percent, yFloor: 100)
        out += lines(id: "graph-host-memory", title: "Memory", from: from, to: to, times: times,
                     series: [Series(name: "used", color: "#8250df", values: h.points.map { Double($0.memoryUsed) }),
                              Series(name: "total", color: "#cf222e", values: h.points.map { Double($0.memoryTotal) }, dashed: true)],
                     markers: [], unit: bytes, niceTop: niceBytes)
        out += lines(id: "graph-host-disk", title: "Disk (hop's state)", from: from, to: to, times: times,
                     series: [Series(name: "used", color: "#1a7f37", values: h.points.map { Double($0.diskUsed) }),
                              Series(name: "total", color: "#cf222e", values: h.points.map { Double($0.diskTotal) }, dashed: true)],
                     markers: [], unit: bytes, niceTop: niceBytes)
        out += lines(id: "graph-host-load", title: "Load (1 min)", from: from, to: to, times: times,
                     series: [Series(name: "load", color: "#bf8700", values: h.points.map(\.load1))], markers: [], unit: { String(format: "%.1f", $0) })
        return out
    }
}
