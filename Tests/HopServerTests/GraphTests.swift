import Foundation
import Testing
import HopBasics
import HopCore
@testable import HopServer
import HopTestSupport

@Suite("Dashboard graphs: server-rendered SVG, no script, no inline style")
struct GraphTests {
    func decode<T: Decodable>(_ t: T.Type, _ text: String) throws -> T { try JSONDecoder().decode(T.self, from: Data(text.utf8)) }

    func sample() throws -> (AppMetricsResult, [GenerationInfo], [AuditInfo]) {
        func point(_ i: Int, ok: Int, missing: Int, errors: Int) -> String {
            let t = String(format: "2027-01-15T08:%02d:00.000Z", i)
            return #"{"start":"\#(t)","seconds":60,"requests":\#(ok + missing + errors),"classes":[0,\#(ok),0,\#(missing),\#(errors)],"bytes":100,"p50":2.5,"p95":\#(10 + i),"p99":40}"#
        }
        func proc(_ i: Int, restarts: Int) -> String {
            let t = String(format: "2027-01-15T08:%02d:00.000Z", i)
            return #"{"start":"\#(t)","seconds":60,"cpuPercent":\#(Double(i) * 1.5),"memory":\#(40_000_000 + i * 1_000_000),"memoryLimit":1073741824,"tasks":3,"restarts":\#(restarts),"oomKills":0,"instances":1}"#
        }
        let points = (0..<10).map { point($0, ok: 20 + $0, missing: 2, errors: $0 == 7 ? 5 : 0) }.joined(separator: ",")
        let procs = (0..<10).map { proc($0, restarts: $0 == 6 ? 1 : 0) }
        let m = try decode(AppMetricsResult.self, """
            {"app":"blog","since":"2027-01-15T08:00:00.000Z","until":"2027-01-15T08:10:00.000Z",
             "total":{"start":"2027-01-15T08:00:00.000Z","seconds":600,"requests":300,"classes":[0,280,0,15,5],"bytes":1000},
             "points":[\(points)],
             "processes":[{"process":"web","cpuPercent":6.8,"restarts":1,"oomKills":0,"latest":\(procs.last!),"points":[\(procs.joined(separator: ","))]}]}
            """)
        let gens = try decode([GenerationInfo].self, """
            [{"app":"blog","generation":3,"build":7,"storePath":"/nix/store/x","appPath":"/nix/store/x","scale":{"web":1},"status":"active","createdAt":"2027-01-15T08:03:00.000Z","current":true},
             {"app":"blog","generation":4,"build":8,"storePath":"/nix/store/y","appPath":"/nix/store/y","scale":{"web":1},"status":"failed","createdAt":"2027-01-15T08:05:00.000Z","current":false}]
            """)
        return (m, gens, [])
    }

    @Test("an app's four graphs with deploy, rolled-back deploy and restart markers: snapshot; only presentation attributes")
    func appGraphs() throws {
        let (m, gens, audit) = try sample()
        let svg = Graph.appGraphs(m, generations: gens, rollbacks: audit)
        try assertSnapshot(svg.replacingOccurrences(of: "><", with: ">\n<"), named: "app-graphs.svg")
        #expect(svg.components(separatedBy: "<svg ").count - 1 == 4)
        #expect(!svg.contains("style=") && !svg.contains("<script") && !svg.contains("on"+"load"))
        #expect(svg.contains("<title>deploy 3</title>") && svg.contains("<title>deploy 4 (rolled back)</title>") && svg.contains("<title>web: restart</title>"))
        #expect(svg.contains("<desc id=\"graph-requests-d\">270 in all over the window; 2xx: 245, 3xx: 0, 4xx: 20, 5xx: 5</desc>"))
        #expect(svg.contains("stroke-dasharray=\"5 3\""), "the memory limit is dashed")
    }

    @Test("axis tops are 1, 2 or 5 × 10^n; a series with no reading draws nothing; labels are escaped")
    func pieces() {
        #expect(Graph.niceMax(0) == 1 && Graph.niceMax(3) == 5 && Graph.niceMax(12) == 20 && Graph.niceMax(5000) == 5000 && Graph.niceMax(5001) == 10000)
        let svg = Graph.lines(id: "g", title: "<x>", from: 0, to: 100, times: [0, 50, 100],
                              series: [.init(name: "none", color: "#000", values: [nil, nil, nil])], markers: [], unit: Graph.count)
        #expect(!svg.contains("<path") && svg.contains("&lt;x&gt;") && svg.contains("none: no readings"))
    }
}
