import Foundation
import Testing
import HopBasics
import HopTestSupport
import HopStore
import Runtime
@testable import HopCore

@Suite("The Prometheus text exposition hop serves at /metrics")
struct PrometheusTests {
    func sample() -> (totals: [String: RequestBucket], units: [UnitReading], host: ResourceCollector.Snapshot) {
        var b = RequestBucket(start: 0)
        for _ in 0..<3 { b.add(status: 200, seconds: 0.004, bytes: 100) }
        b.add(status: 502, seconds: 1.5, bytes: 20)
        var u = UnitReading(unit: "hop-blog-G3-web@1.service", app: "blog", generation: 3, process: "web", active: true,
                            cpuNanos: 2_500_000_000, memory: 46_063_616, memoryLimit: 1 << 30, tasks: 3, restarts: 1)
        u.oomKills = 2
        let idle = UnitReading(unit: "hop-blog-G3-worker@1.service", app: "blog", generation: 3, process: "worker", active: false)
        let host = ResourceCollector.Snapshot(units: [], cpuTicks: (busy: 1500, total: 10000), memory: (used: 1 << 30, total: 4 << 30),
                                              disk: (used: 10, total: 100), load1: 0.25)
        return (["blog": b], [u, idle], host)
    }

    @Test("counters, a cumulative histogram with +Inf, _sum and _count, gauges per instance and the host's: snapshot")
    func exposition() throws {
        let s = sample()
        let text = PrometheusText.render(totals: s.totals, units: s.units, host: s.host)
        try assertSnapshot(text, named: "metrics.prom")
        #expect(text.contains("hop_http_request_duration_seconds_bucket{app=\"blog\",le=\"0.005\"} 3\n"))
        #expect(text.contains("hop_http_request_duration_seconds_bucket{app=\"blog\",le=\"+Inf\"} 4\n"))
        #expect(text.contains("hop_http_request_duration_seconds_sum{app=\"blog\"} 1.512\n"))
        #expect(text.contains("hop_process_up{app=\"blog\",process=\"worker\",generation=\"3\",unit=\"hop-blog-G3-worker@1.service\"} 0\n"))
        #expect(!text.contains("hop_process_memory_bytes{app=\"blog\",process=\"worker\""), "unknown is left out, not 0")
        #expect(text.hasSuffix("\n") && !text.contains("\n\n"))
        // Every sample line is `name{labels} value` and each family is declared once, before its samples.
        var declared = Set<String>()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") { #expect(declared.insert(String(line.split(separator: " ")[2])).inserted); continue }
            if line.hasPrefix("#") { continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            #expect(declared.contains { name == $0 || name == $0 + "_bucket" || name == $0 + "_sum" || name == $0 + "_count" }, "\(line)")
            #expect(Double(line.split(separator: " ").last!) != nil || line.hasSuffix("+Inf"), "\(line)")
        }
        let noHost = PrometheusText.render(totals: s.totals, units: [], host: nil)
        #expect(!noHost.contains("hop_host_") && !noHost.contains("hop_process_"))
    }

    @Test("label values are escaped")
    func escaping() {
        #expect(PrometheusText.label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd")
        #expect(PrometheusText.value(3) == "3" && PrometheusText.value(0.25) == "0.25" && PrometheusText.value(.infinity) == "+Inf")
    }
}
