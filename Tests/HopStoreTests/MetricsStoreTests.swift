import Foundation
import Testing
import HopBasics
@testable import HopStore

@Suite("Measures: latency histograms and metrics.db", .tags(.medium))
struct MetricsStoreTests {
    @Test("percentiles come out of the histogram, interpolated within a bucket; merging adds")
    func histogram() throws {
        var h = LatencyHistogram()
        #expect(h.quantile(0.5) == nil)
        for _ in 0..<90 { h.add(seconds: 0.003) }   // (2, 5] ms
        for _ in 0..<10 { h.add(seconds: 0.2) }     // (100, 250] ms
        #expect(h.total == 100)
        let p50 = try #require(h.quantile(0.5))
        #expect(p50 > 2 && p50 <= 5)
        let p99 = try #require(h.quantile(0.99))
        #expect(p99 > 100 && p99 <= 250)
        var slow = LatencyHistogram()
        slow.add(seconds: 60)
        #expect(slow.quantile(1) == 10000, "beyond the last bound: its lower bound")
        h.merge(slow)
        #expect(h.total == 101 && h.quantile(1) == 10000)
    }

    func bucket(_ start: Int, ok: Int, errors: Int = 0, ms: Double = 3) -> RequestBucket {
        var b = RequestBucket(start: start)
        for _ in 0..<ok { b.add(status: 200, seconds: ms / 1000, bytes: 100) }
        for _ in 0..<errors { b.add(status: 503, seconds: ms / 1000, bytes: 10) }
        return b
    }

    @Test("buckets added twice for one interval merge; reads are per app and range, oldest first; a histogram row hop cannot read is an error")
    func addAndRead() throws {
        try withTemporaryDirectory { dir in
            let store = try MetricsStore(path: dir + "/metrics.db")
            try store.add(["shop": [bucket(100, ok: 5), bucket(110, ok: 1, errors: 1)], "blog": [bucket(100, ok: 7)]])
            try store.add(["shop": [bucket(110, ok: 2, ms: 300)]])
            let shop = try store.requests(app: "shop", from: 0, to: 1000)
            #expect(shop.map(\.start) == [100, 110])
            #expect(shop.map(\.requests) == [5, 4])
            #expect(shop[1].classes == [0, 3, 0, 0, 1] && shop[1].bytes == 310)
            #expect(shop[1].latency.total == 4 && (shop[1].latency.quantile(1) ?? 0) > 250)
            #expect(try store.requests(app: "shop", from: 105, to: 1000).map(\.start) == [110])
            #expect(try store.requests(app: "blog", from: 0, to: 1000).first?.requests == 7)
            // Another process's view: the same file reopened.
            #expect(try MetricsStore(path: dir + "/metrics.db").requests(app: "shop", from: 0, to: 1000) == shop)
            let db = try Database(path: dir + "/metrics.db")
            try db.execute("UPDATE request_buckets SET latency = '1,2' WHERE app = 'blog'")
            #expect(throws: HopError.self) { try store.requests(app: "blog", from: 0, to: 1000) }
        }
    }

    @Test("compaction folds day-old 10-s buckets into 5-min ones, keeping every request, and drops month-old ones")
    func compaction() throws {
        try withTemporaryDirectory { dir in
            let store = try MetricsStore(path: dir + "/metrics.db")
            let now = 100 * 86_400
            let dayAgo = now - 86_400 - 3_600   // 25 h ago, on a 5-min boundary
            try store.add(["shop": [bucket(dayAgo, ok: 3), bucket(dayAgo + 10, ok: 4, errors: 1), bucket(now - 60, ok: 9)]])
            try store.add(["shop": [bucket(now - 40 * 86_400, ok: 1)]], width: MetricsStore.coarseWidth)
            let r = try store.compact(now: now)
            #expect(r.folded == 2 && r.dropped == 1)
            let after = try store.requests(app: "shop", from: 0, to: now)
            #expect(after.map(\.start) == [dayAgo, now - 60])
            #expect(after[0].requests == 8 && after[0].classes[4] == 1 && after[0].latency.total == 8)
            let again = try store.compact(now: now)
            #expect(again.folded == 0 && again.dropped == 0)
        }
    }
}

@Suite("metrics.db: process and host resources, running totals", .tags(.medium))
struct ResourceStoreTests {
    func proc(_ start: Int, cpu: Int64, memory: Int64?, restarts: Int = 0, process: String = "web") -> ProcessBucket {
        var b = ProcessBucket(app: "blog", process: process, start: start)
        b.cpuNanos = cpu; b.memory = memory; b.memoryLimit = 1000; b.tasks = 3; b.restarts = restarts; b.instances = 1
        return b
    }

    @Test("process buckets of one interval merge (counters add, gauges keep the highest); counters are replaced with the buckets, in one transaction")
    func addAndMerge() throws {
        try withTemporaryDirectory { dir in
            let store = try MetricsStore(path: dir + "/metrics.db")
            try store.addResources(processes: [proc(10, cpu: 5, memory: 100, restarts: 1), proc(10, cpu: 1, memory: nil, process: "worker")],
                                   host: nil, counters: ["unit:a": [1, 2, 3], "unit:gone": [0, 0, 0]])
            try store.addResources(processes: [proc(10, cpu: 7, memory: 80, restarts: 1)], host: nil, counters: ["unit:a": [4, 5, 6]])
            let web = try store.processes(app: "blog", from: 0, to: 100).filter { $0.process == "web" }
            #expect(web.count == 1 && web[0].cpuNanos == 12 && web[0].memory == 100 && web[0].restarts == 2)
            let worker = try store.processes(app: "blog", from: 0, to: 100).first { $0.process == "worker" }
            #expect(worker?.memory == nil, "not accounted stays unknown, not 0")
            #expect(try store.counters() == ["unit:a": [4, 5, 6]])
            #expect(try store.processApps(from: 0, to: 100) == ["blog"])
        }
    }

    @Test("host buckets keep the load to a thousandth; a day-old 10-s row folds into its 5-minute bucket, a month-old one is dropped")
    func hostAndCompact() throws {
        try withTemporaryDirectory { dir in
            let store = try MetricsStore(path: dir + "/metrics.db")
            let now = 100 * 86_400
            var h = HostBucket(start: now - 2 * 86_400)
            h.cpuBusyTicks = 10; h.cpuTotalTicks = 40; h.memoryUsed = 5; h.memoryTotal = 9; h.load1 = 1.2345
            try store.addResources(processes: [proc(now - 2 * 86_400, cpu: 3, memory: 50), proc(now - 2 * 86_400 + 10, cpu: 4, memory: 70),
                                               proc(now - 40 * 86_400, cpu: 1, memory: 1), proc(now - 10, cpu: 9, memory: 9)],
                                   host: h, counters: nil)
            try store.compact(now: now)
            let p = try store.processes(app: "blog", from: 0, to: now + 1)
            #expect(p.map(\.start) == [now - 2 * 86_400, now - 10], "\(p)")
            #expect(p[0].cpuNanos == 7 && p[0].memory == 70)
            let hosts = try store.host(from: 0, to: now + 1)
            #expect(hosts.count == 1 && hosts[0].load1 == 1.235 && hosts[0].cpuPercent == 25)
        }
    }

    @Test("running totals grow with what collections read (with a cursor), never with a compaction; histograms keep their sum")
    func totals() throws {
        try withTemporaryDirectory { dir in
            let store = try MetricsStore(path: dir + "/metrics.db")
            var b = RequestBucket(start: 10)
            b.add(status: 200, seconds: 0.25, bytes: 10)
            b.add(status: 404, seconds: 0.5, bytes: 5)
            try store.add(["blog": [b]], cursor: ("log", 1, 100))
            try store.add(["blog": [b]], cursor: ("log", 1, 200))
            try store.add(["blog": [b]])
            let t = try #require(try store.totals()["blog"])
            #expect(t.classes == [0, 2, 0, 2, 0] && t.bytes == 30 && t.latency.sumMicroseconds == 1_500_000)
            try store.compact(now: 10 + 2 * 86_400)
            #expect(try store.totals()["blog"] == t)
            #expect(LatencyHistogram(stored: t.latency.stored) == t.latency)
            #expect(LatencyHistogram(stored: "1,2,3,4,5,6,7,8,9,10,11,12,13,14")?.sumMicroseconds == 0, "a sum-less row reads")
            #expect(LatencyHistogram(stored: "1,2;x") == nil && LatencyHistogram(stored: "1,2,3") == nil)
        }
    }
}
