import Foundation
import Testing
import HopStore
@testable import Runtime

@Suite("Resource measures: systemd's and /proc's readings into per-process and host buckets")
struct ResourceMeasuresTests {
    @Test("an app instance unit's name gives app, generation and process; nothing else is taken for one")
    func unitNames() {
        #expect(ResourceMeasures.parseUnit("hop-blog-G3-web@1.service")! == ("blog", 3, "web"))
        #expect(ResourceMeasures.parseUnit("hop-shop-gateway-G12-worker-queue@2.service")! == ("shop-gateway", 12, "worker-queue"))
        for other in ["hop-blog-Net.service", "hop-blog-G3-web.socket", "hop-blog-G3-web@.service", "hop-blog-G3-web@x.service",
                      "hop-nginx.service", "hop-Metrics.service", "hop--G3-web@1.service", "hop-blog-G-web@1.service", "nginx.service"] {
            #expect(ResourceMeasures.parseUnit(other) == nil, "\(other)")
        }
    }

    @Test("systemctl show blocks: numbers, [not set], infinity and UINT64_MAX; units that are not app instances are left out")
    func readings() {
        let r = ResourceMeasures.readings(Systemctl.parseShow("""
            Id=hop-blog-G3-web@1.service
            ActiveState=active
            CPUUsageNSec=1500000000
            MemoryCurrent=46063616
            MemoryMax=1073741824
            TasksCurrent=3
            NRestarts=2
            ControlGroup=/hop.slice/hop-abc.slice/hop-blog-G3-web@1.service

            Id=hop-blog-G3-worker@1.service
            ActiveState=activating
            CPUUsageNSec=[not set]
            MemoryCurrent=18446744073709551615
            MemoryMax=infinity
            TasksCurrent=[not set]
            NRestarts=0
            ControlGroup=

            Id=hop-nginx.service
            ActiveState=active
            """))
        #expect(r.count == 2)
        #expect(r[0].app == "blog" && r[0].process == "web" && r[0].active && r[0].cpuNanos == 1_500_000_000
                && r[0].memory == 46063616 && r[0].memoryLimit == 1 << 30 && r[0].tasks == 3 && r[0].restarts == 2)
        #expect(r[1].process == "worker" && !r[1].active && r[1].cpuNanos == nil && r[1].memory == nil && r[1].memoryLimit == nil && r[1].tasks == nil)
    }

    @Test("counters become what was used since the last reading: nothing at a first CPU reading, all after a reset; instances' gauges add up per process")
    func buckets() {
        func unit(_ n: Int, cpu: Int64, restarts: Int64 = 0, ooms: Int64 = 0, memory: Int64 = 100, active: Bool = true) -> UnitReading {
            var u = UnitReading(unit: "hop-blog-G3-web@\(n).service", app: "blog", generation: 3, process: "web", active: active,
                                cpuNanos: cpu, memory: memory, memoryLimit: 1000, tasks: 2, restarts: restarts)
            u.oomKills = ooms
            return u
        }
        // First reading: CPU unknown since when (0), restarts and OOM kills counted.
        let first = ResourceMeasures.buckets([unit(1, cpu: 5_000, restarts: 1, ooms: 1), unit(2, cpu: 7_000)], counters: [:], at: 1_005)
        #expect(first.buckets.count == 1)
        let b = first.buckets[0]
        #expect(b.start == 1_000 && b.cpuNanos == 0 && b.restarts == 1 && b.oomKills == 1 && b.instances == 2)
        #expect(b.memory == 200 && b.memoryLimit == 2000 && b.tasks == 4)
        // Next: deltas; instance 2's counter went down (its processes started again): all of it.
        let next = ResourceMeasures.buckets([unit(1, cpu: 6_000, restarts: 1, ooms: 3), unit(2, cpu: 500, active: false)],
                                            counters: first.counters, at: 1_013)
        let n = next.buckets[0]
        #expect(n.start == 1_010 && n.cpuNanos == 1_000 + 500 && n.restarts == 0 && n.oomKills == 2)
        #expect(n.instances == 1 && n.memory == 100, "an inactive instance counts no memory")
        #expect(Set(next.counters.keys) == ["unit:hop-blog-G3-web@1.service", "unit:hop-blog-G3-web@2.service"])
        #expect(ResourceMeasures.delta(10, nil) == 0 && ResourceMeasures.delta(10, 4) == 6 && ResourceMeasures.delta(3, 4) == 3)
    }

    @Test("/proc readings: the host's busy and total ticks, memory, load; OOM kills from cgroup v1 and v2 files")
    func procReadings() {
        let t = ResourceMeasures.cpuTicks(procStat: "cpu  100 5 50 800 20 1 2 3 0 0\ncpu0 50 2 25 400 10 0 1 1 0 0\n")!
        #expect(t.total == 100 + 5 + 50 + 800 + 20 + 1 + 2 + 3 && t.busy == t.total - 800 - 20)
        let m = ResourceMeasures.memory(meminfo: "MemTotal:       24684748 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\n")!
        #expect(m.total == 24684748 * 1024 && m.used == (24684748 - 20000000) * 1024)
        #expect(ResourceMeasures.load1(loadavg: "0.81 0.50 0.40 2/300 12345\n") == 0.81)
        #expect(ResourceMeasures.oomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n") == 4)
        #expect(ResourceMeasures.oomKills("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n") == 1)
        #expect(ResourceMeasures.oomKills("under_oom 0\n") == nil)
        let h = ResourceMeasures.hostBucket(cpu: (busy: 150, total: 1000), memory: (1, 2), disk: (3, 4), load1: 0.5,
                                            counters: ["host:cpu": [100, 900, 0]], at: 1_234)
        #expect(h.bucket.start == 1_230 && h.bucket.cpuBusyTicks == 50 && h.bucket.cpuTotalTicks == 100 && h.bucket.cpuPercent == 50)
        #expect(h.counter == [150, 1000, 0] && h.bucket.diskTotal == 4 && h.bucket.load1 == 0.5)
    }
}
