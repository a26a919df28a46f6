import Foundation
import HopStore

/// One app unit as systemd reports it (`systemctl show`), the raw readings a collection turns
/// into `ProcessBucket`s.
public struct UnitReading: Equatable, Sendable {
    public var unit: String
    public var app: String
    public var generation: Int
    public var process: String
    public var active: Bool
    /// Cumulative CPU time (CPUUsageNSec), memory in use (MemoryCurrent), its limit (MemoryMax,
    /// nil when unlimited) and tasks (TasksCurrent); nil when systemd does not account it.
    public var cpuNanos: Int64?
    public var memory: Int64?
    public var memoryLimit: Int64?
    public var tasks: Int?
    /// Automatic restarts since the unit was started by hand (NRestarts).
    public var restarts: Int64
    /// OOM kills the kernel counted in the unit's memory cgroup (read by the collector).
    public var oomKills: Int64 = 0
    /// The unit's control group (relative to its systemd's root).
    public var controlGroup: String

    public init(unit: String, app: String, generation: Int, process: String, active: Bool, cpuNanos: Int64? = nil,
                memory: Int64? = nil, memoryLimit: Int64? = nil, tasks: Int? = nil, restarts: Int64 = 0, controlGroup: String = "") {
        self.unit = unit; self.app = app; self.generation = generation; self.process = process; self.active = active
        self.cpuNanos = cpuNanos; self.memory = memory; self.memoryLimit = memoryLimit; self.tasks = tasks
        self.restarts = restarts; self.controlGroup = controlGroup
    }
}

public enum ResourceMeasures {
    /// What a collection asks systemd for each app instance unit.
    public static let properties = ["Id", "ActiveState", "CPUUsageNSec", "MemoryCurrent", "MemoryMax", "TasksCurrent", "NRestarts", "ControlGroup"]

    /// `hop-<app>-G<n>-<process>@<instance>.service` → (app, generation, process); nil for any
    /// other unit (hop's own, sockets, an app's network unit). App names are lowercase, so the
    /// first `-G<digits>-` ends the app's name.
    public static func parseUnit(_ id: String) -> (app: String, generation: Int, process: String)? {
        guard id.hasPrefix("hop-"), id.hasSuffix(".service"), let at = id.lastIndex(of: "@") else { return nil }
        let body = id[id.index(id.startIndex, offsetBy: 4)..<at]
        guard let g = body.range(of: "-G") else { return nil }
        let app = String(body[..<g.lowerBound])
        let rest = body[g.upperBound...]
        let digits = rest.prefix { $0.isNumber }
        guard !app.isEmpty, !digits.isEmpty, let n = Int(digits), rest.dropFirst(digits.count).first == "-" else { return nil }
        let process = String(rest.dropFirst(digits.count + 1))
        guard !process.isEmpty, Int(id[id.index(after: at)...].dropLast(8)) != nil else { return nil }
        return (app, n, process)
    }

    /// A systemd number: nil for `[not set]`, `infinity`, an empty value or UINT64_MAX (what
    /// systemd prints for "not accounted").
    public static func number(_ s: String?) -> Int64? {
        guard let s, let v = UInt64(s), v != UInt64.max else { return nil }
        return Int64(clamping: v)
    }

    /// The app instance units among `systemctl show` blocks.
    public static func readings(_ blocks: [[String: String]]) -> [UnitReading] {
        blocks.compactMap { p in
            guard let id = p["Id"], let u = parseUnit(id) else { return nil }
            return UnitReading(unit: id, app: u.app, generation: u.generation, process: u.process,
                               active: p["ActiveState"] == "active" || p["ActiveState"] == "reloading",
                               cpuNanos: number(p["CPUUsageNSec"]), memory: number(p["MemoryCurrent"]),
                               memoryLimit: number(p["MemoryMax"]), tasks: number(p["TasksCurrent"]).map { Int($0) },
                               restarts: number(p["NRestarts"]) ?? 0, controlGroup: p["ControlGroup"] ?? "")
        }
    }

    /// The used amount of a cumulative counter since the last reading: nothing at a first reading
    /// (when it started counting is unknown), all of it after a reset (a unit started again).
    public static func delta(_ now: Int64, _ before: Int64?) -> Int64 {
        guard let before else { return 0 }
        return now >= before ? now - before : now
    }

    /// Per app and process, what the readings taken at `at` add to the `width`-second interval
    /// they fall in, and the counters to keep for the next collection. Restarts at a first
    /// reading are counted (a unit is first read soon after it started, and its restarts are
    /// what an operator must see); CPU time is not.
    public static func buckets(_ readings: [UnitReading], counters: [String: [Int64]], at: Int,
                               width: Int = 10) -> (buckets: [ProcessBucket], counters: [String: [Int64]]) {
        let start = at / width * width
        var out: [String: ProcessBucket] = [:]
        var kept: [String: [Int64]] = [:]
        for r in readings {
            let before = counters["unit:" + r.unit]
            let cpu = r.cpuNanos ?? 0
            kept["unit:" + r.unit] = [cpu, r.restarts, r.oomKills]
            let key = r.app + "\u{0}" + r.process
            var b = out[key] ?? ProcessBucket(app: r.app, process: r.process, start: start)
            b.cpuNanos += delta(cpu, before?[0])
            b.restarts += Int(before == nil ? r.restarts : delta(r.restarts, before?[1]))
            b.oomKills += Int(before == nil ? r.oomKills : delta(r.oomKills, before?[2]))
            if r.active {
                b.instances += 1
                if let m = r.memory { b.memory = (b.memory ?? 0) + m }
                if let l = r.memoryLimit { b.memoryLimit = (b.memoryLimit ?? 0) + l }
                if let t = r.tasks { b.tasks = (b.tasks ?? 0) + t }
            }
            out[key] = b
        }
        return (out.values.sorted { ($0.app, $0.process) < ($1.app, $1.process) }, kept)
    }

    /// `oom_kill N` from a cgroup v1 `memory.oom_control` (or cgroup v2 `memory.events`).
    public static func oomKills(_ text: String) -> Int64? {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, f[0] == "oom_kill", let n = Int64(f[1]) { return n }
        }
        return nil
    }

    // MARK: The host, from /proc

    /// Busy and total ticks of all CPUs from /proc/stat's `cpu` line (busy: all but idle and iowait).
    public static func cpuTicks(procStat: String) -> (busy: Int64, total: Int64)? {
        guard let line = procStat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let v = line.split(separator: " ").dropFirst().compactMap { Int64($0) }
        guard v.count >= 5 else { return nil }
        // user nice system idle iowait irq softirq steal (guest time is inside user already).
        let total = v.prefix(8).reduce(0, +)
        return (total - v[3] - v[4], total)
    }

    /// Used and total bytes from /proc/meminfo (used: total minus MemAvailable).
    public static func memory(meminfo: String) -> (used: Int64, total: Int64)? {
        var kb: [String: Int64] = [:]
        for line in meminfo.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count >= 2, let n = Int64(f[1]) { kb[String(f[0].dropLast())] = n }
        }
        guard let total = kb["MemTotal"], let available = kb["MemAvailable"] else { return nil }
        return ((total - available) * 1024, total * 1024)
    }

    /// The 1-minute load from /proc/loadavg.
    public static func load1(loadavg: String) -> Double? {
        loadavg.split(separator: " ").first.flatMap { Double($0) }
    }

    /// A host bucket from the readings and the last CPU counters (kept under `host:cpu`).
    public static func hostBucket(cpu: (busy: Int64, total: Int64)?, memory: (used: Int64, total: Int64)?,
                                  disk: (used: Int64, total: Int64)?, load1: Double?, counters: [String: [Int64]],
                                  at: Int, width: Int = 10) -> (bucket: HostBucket, counter: [Int64]?) {
        var b = HostBucket(start: at / width * width)
        var kept: [Int64]?
        if let cpu {
            let before = counters["host:cpu"]
            b.cpuBusyTicks = delta(cpu.busy, before?[0])
            b.cpuTotalTicks = delta(cpu.total, before?[1])
            kept = [cpu.busy, cpu.total, 0]
        }
        if let memory { b.memoryUsed = memory.used; b.memoryTotal = memory.total }
        if let disk { b.diskUsed = disk.used; b.diskTotal = disk.total }
        b.load1 = load1 ?? 0
        return (b, kept)
    }
}
