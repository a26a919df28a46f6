import Foundation
import Testing
@testable import Runtime
import HopStore

@Suite("Request measures: the metrics log, its incremental reading, buckets and percentiles")
struct RequestMetricsTests {
    @Test("a log line reads as its five fields; torn, foreign or impossible lines are skipped")
    func parsing() {
        #expect(RequestLog.parse("1796679707.316 200 0.004 612 shop.example.org")
                == AccessRecord(time: 1796679707.316, status: 200, seconds: 0.004, bytes: 612, serverName: "shop.example.org"))
        for bad in ["", "1796679707.316 200 0.004 612", "1796679707.316 200 0.004 612 a b", "x 200 0.004 612 a",
                    "1796679707.316 700 0.004 612 a", "1796679707.316 200 - 612 a", "1796679707.316 200 0.004 -1 a",
                    "1796679707.316  200 0.004 612 a", "1796679707.316 200 0.004 612 "] {
            #expect(RequestLog.parse(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test("only complete lines are consumed: a line nginx is still writing waits for the next read")
    func completeLines() {
        let (lines, used) = RequestLog.completeLines(Data("a 1\nb 2\nc 3".utf8))
        #expect(lines == ["a 1", "b 2"] && used == 8)
        #expect(RequestLog.completeLines(Data("no newline yet".utf8)).consumed == 0)
        let whole = RequestLog.completeLines(Data("a\n\nb\n".utf8))
        #expect(whole.lines == ["a", "b"] && whole.consumed == 5)
    }

    @Test("every name of every server_name of an app's site is the app's")
    func serverNames() {
        let site = """
            server {
                listen 8080;
                server_name shop.example.org www.shop.example.org;
            }
            server {
                listen 8443 ssl;
                server_name shop.example.org;
            }
            """
        let map = RequestLog.serverNames(sites: ["shop": site, "blog": "server {\n  server_name blog.localhost;\n}\n"])
        #expect(map == ["shop.example.org": "shop", "www.shop.example.org": "shop", "blog.localhost": "blog"])
    }

    @Test("requests group by app and 10-s interval, by status class; unknown names are left out; downsampling keeps every request")
    func buckets() {
        let names = ["shop.localhost": "shop", "blog.localhost": "blog"]
        let t0 = 1_796_679_700.0
        var records: [AccessRecord] = []
        for i in 0..<30 { records.append(AccessRecord(time: t0 + Double(i), status: i % 10 == 0 ? 500 : 200, seconds: 0.01, bytes: 100, serverName: "shop.localhost")) }
        records.append(AccessRecord(time: t0 + 5, status: 404, seconds: 0.001, bytes: 10, serverName: "blog.localhost"))
        records.append(AccessRecord(time: t0 + 5, status: 404, seconds: 0.001, bytes: 10, serverName: "_"))
        let b = RequestBuckets.aggregate(records, serverNames: names)
        #expect(Set(b.keys) == ["shop", "blog"])
        let shop = b["shop"] ?? []
        #expect(shop.map(\.start) == [1_796_679_700, 1_796_679_710, 1_796_679_720])
        #expect(shop.map(\.requests) == [10, 10, 10])
        #expect(shop[0].classes == [0, 9, 0, 0, 1] && shop[0].bytes == 1000)
        #expect(b["blog"]?.first?.classes == [0, 0, 0, 1, 0])
        let coarse = RequestBucketsMath.downsample(shop, to: 300)
        #expect(coarse.count == 1 && coarse[0].start == 1_796_679_600 && coarse[0].requests == 30)
        #expect(coarse[0].classes[4] == 3 && coarse[0].latency.total == 30 && coarse[0].bytes == 3000)
    }
}
