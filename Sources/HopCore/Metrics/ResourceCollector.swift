import Foundation
import HopBasics
import HopStore
import Runtime

/// Reads what systemd accounts for every app instance (CPU time, memory and its limit, tasks,
/// restarts) with one `systemctl show`, the kernel's OOM-kill count of each app's slice, and the
/// machine's CPU, memory, disk and load from /proc, and adds them to metrics.db with the
/// counters they were computed from, in one transaction.
struct ResourceCollector {
    /// What one collection read: every app unit (its counters cumulative, OOM kills as hop has
    /// counted them) and the machine.
    struct Snapshot {
        var units: [UnitReading] = []
        var cpuTicks: (busy: Int64, total: Int64)?
        var memory: (used: Int64, total: Int64)?
        var disk: (used: Int64, total: Int64)?
        var load1: Double?
    }

    let home: HopHome
    let host: ServiceHost
    var procRoot = "/proc"

    /// Every app instance unit loaded in the host (a glob `systemctl show` expands itself).
    static let unitGlob = "hop-*-G*-*@*.service"

    @discardableResult
    func collect(store: MetricsStore, now: Date = Date()) throws -> Snapshot {
        let at = Int(now.timeIntervalSince1970)
        let counters = try store.counters()
        var readings = ResourceMeasures.readings(try host.show([Self.unitGlob], properties: ResourceMeasures.properties))
        // OOM kills: the kernel counts them up the memory cgroup tree, so an app's slice holds the
        // kills of all its units, including one whose cgroup went away as systemd restarted it.
        // They are given to the app's first unit that restarted in this interval (the one killed),
        // else its first unit.
        var slices: [String: Int64] = [:]
        for r in readings where slices[r.app] == nil {
            let slice = (r.controlGroup as NSString).deletingLastPathComponent
            if let n = oomKills(cgroup: slice) { slices[r.app] = n }
        }
        var kept: [String: [Int64]] = [:]
        for (app, n) in slices {
            kept["slice:" + app] = [n, 0, 0]
            let gained = ResourceMeasures.delta(n, counters["slice:" + app]?[0])
            guard gained > 0 else { continue }
            let mine = readings.indices.filter { readings[$0].app == app }
            let restarted = mine.first { i in
                let before = counters["unit:" + readings[i].unit]?[1]
                return before.map { readings[i].restarts > $0 } ?? (readings[i].restarts > 0)
            }
            if let i = restarted ?? mine.first { readings[i].oomKills = gained }
        }
        // The per-unit OOM counter is a running sum of what was given to the unit, so its delta is
        // exactly what was given now.
        for i in readings.indices { readings[i].oomKills += counters["unit:" + readings[i].unit]?[2] ?? 0 }
        let (buckets, unitCounters) = ResourceMeasures.buckets(readings, counters: counters, at: at)
        kept.merge(unitCounters) { a, _ in a }
        let snapshot = Snapshot(units: readings, cpuTicks: read("stat").flatMap(ResourceMeasures.cpuTicks(procStat:)),
                                memory: read("meminfo").flatMap(ResourceMeasures.memory(meminfo:)),
                                disk: diskUse(home.root), load1: read("loadavg").flatMap(ResourceMeasures.load1(loadavg:)))
        let hostReading = ResourceMeasures.hostBucket(cpu: snapshot.cpuTicks, memory: snapshot.memory, disk: snapshot.disk,
                                                      load1: snapshot.load1, counters: counters, at: at)
        if let c = hostReading.counter { kept["host:cpu"] = c }
        try store.addResources(processes: buckets, host: hostReading.bucket, counters: kept)
        return snapshot
    }

    func read(_ name: String) -> String? { try? String(contentsOfFile: procRoot + "/" + name, encoding: .utf8) }

    /// The memory cgroup's OOM-kill count: the path systemd names, under the memory hierarchy,
    /// beneath the cgroup systemd itself runs in when it is a private host's.
    func oomKills(cgroup: String) -> Int64? {
        guard !cgroup.isEmpty, cgroup != "/" else { return nil }
        var bases = [""]
        if let own = read("1/cgroup")?.split(separator: "\n").first(where: { $0.split(separator: ":").dropFirst().first == "memory" }),
           let path = own.split(separator: ":", maxSplits: 2).last, path != "/" {
            bases.insert(String(path), at: 0)
        }
        for base in bases {
            for file in ["memory.oom_control", "memory.events"] {
                let p = host.path("/sys/fs/cgroup/memory" + base + cgroup + "/" + file)
                if let text = try? String(contentsOfFile: p, encoding: .utf8), let n = ResourceMeasures.oomKills(text) { return n }
            }
        }
        return nil
    }

    /// Used and total bytes of the file system holding `path`.
    func diskUse(_ path: String) -> (used: Int64, total: Int64)? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        let block = Int64(s.f_frsize)
        let total = Int64(s.f_blocks) * block
        return (total - Int64(s.f_bfree) * block, total)
    }
}
