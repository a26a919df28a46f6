import Foundation
import HopBasics
import HopStore
import Runtime

/// Reads what systemd accounts for every app instance (CPU time, memory and its limit, tasks,
/// restarts) with one `systemctl show`, the kernel's OOM-kill count of each unit's cgroup, and the
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
        // systemd accounts CPU time only where the cgroup v1 `cpu` and `cpuacct` controllers are
        // mounted together (or on cgroup v2); elsewhere (this machine) the unit's processes' times.
        for i in readings.indices where readings[i].cpuNanos == nil && readings[i].active {
            readings[i].cpuNanos = Operations.cpuNanoseconds(controlGroup: readings[i].controlGroup, host: host).map { Int64(clamping: $0) }
        }
        // OOM kills: the kernel's count in each unit's memory cgroup (a worker a server restarts
        // is counted; on cgroup v1 the count goes with the cgroup, so a main process killed for
        // memory, whose unit systemd starts again in a new cgroup, shows as a restart).
        for i in readings.indices where readings[i].active {
            readings[i].oomKills = oomKills(cgroup: readings[i].controlGroup) ?? 0
        }
        let (buckets, unitCounters) = ResourceMeasures.buckets(readings, counters: counters, at: at)
        var kept = unitCounters
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

    /// The memory cgroup's OOM-kill count, at the path systemd names (relative to the root of the
    /// host's cgroup namespace): cgroup v1's `memory.oom_control`, or v2's `memory.events`.
    func oomKills(cgroup: String) -> Int64? {
        guard cgroup.hasPrefix("/"), cgroup != "/", !cgroup.contains("..") else { return nil }
        for file in ["/sys/fs/cgroup/memory\(cgroup)/memory.oom_control", "/sys/fs/cgroup\(cgroup)/memory.events",
                     "/sys/fs/cgroup/unified\(cgroup)/memory.events"] {
            if let text = try? String(contentsOfFile: host.path(file), encoding: .utf8), let n = ResourceMeasures.oomKills(text) { return n }
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
