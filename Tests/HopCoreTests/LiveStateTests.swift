import Foundation
import Testing
import HopBasics
@testable import HopCore
@testable import HopStore
import HopTestSupport

/// The pure parts of `hop info` / `hop apps`' live state: the verdict from units and URL checks,
/// systemd's numbers, the grouping of units into processes, and the parallel probe helper.
@Suite struct LiveStateTests {
    func unit(_ id: String, _ state: String, _ sub: String = "running") -> [String: String] {
        ["Id": id, "ActiveState": state, "SubState": sub, "Result": "success"]
    }
    let up = URLCheck(url: "http://blog.localhost/", answering: true, status: 200)
    let down = URLCheck(url: "http://blog.localhost/", answering: false, status: 502, problem: "nginx answered 502: the app is not listening")

    @Test func verdictNeedsActiveUnitsAndAnAnsweringURL() {
        let web = unit("hop-blog-G3-web@1.service", "active")
        #expect(LiveCheck.verdict(units: [web], urls: [up]) == (true, "serving"))
        // Units up but nginx gets 502: not serving, and the URL says why.
        let v = LiveCheck.verdict(units: [web], urls: [down])
        #expect(!v.serving && v.state.hasPrefix("not answering: http://blog.localhost/ nginx answered 502"), "\(v.state)")
        // Every instance stopped (`hop stop`): stopped, whatever nginx says.
        #expect(LiveCheck.verdict(units: [unit("hop-blog-G3-web@1.service", "inactive", "dead")], urls: [down]) == (false, "stopped"))
        let failed = LiveCheck.verdict(units: [unit("hop-blog-G3-web@1.service", "failed", "failed")], urls: [down])
        #expect(!failed.serving && failed.state.hasPrefix("failed: hop-blog-G3-web@1.service"))
        let degraded = LiveCheck.verdict(units: [web, unit("hop-blog-G3-web@2.service", "activating", "auto-restart")], urls: [up])
        #expect(degraded == (false, "degraded: hop-blog-G3-web@2.service is activating/auto-restart"))
        // A static site has no units: the URL decides. A wildcard name (not checked) does not count.
        #expect(LiveCheck.verdict(units: [], urls: [up, URLCheck(url: "http://*.example.org/", answering: nil)]) == (true, "serving"))
        #expect(LiveCheck.verdict(units: [], urls: [down]).serving == false)
    }

    @Test func urlVerdictCountsFiveHundredsAndSilenceAsNotAnswering() {
        #expect(Operations.verdict(url: "u", status: 200, error: nil, ms: 3).answering == true)
        #expect(Operations.verdict(url: "u", status: 404, error: nil, ms: 3).answering == true)
        let bad = Operations.verdict(url: "u", status: 502, error: nil, ms: 3)
        #expect(bad.answering == false && bad.status == 502 && bad.problem?.contains("not listening") == true)
        let none = Operations.verdict(url: "u", status: 0, error: "connecting to 127.0.0.1:1 failed: Connection refused", ms: 1)
        #expect(none.answering == false && none.status == nil && none.problem?.contains("refused") == true)
    }

    @Test func aURLNobodyListensOnIsNotAnsweringAndAWildcardIsNotChecked() throws {
        // A port nothing listens on (bound, then closed): the probe says so at once.
        let port = try freePort()
        let c = Operations.checkURL(name: "blog.localhost", path: "/", http: port, https: nil, timeout: 1, runner: SystemRunner())
        #expect(c.answering == false && c.url == "http://blog.localhost:\(port)/", "\(c)")
        #expect(c.problem?.contains("127.0.0.1:\(port)") == true, "\(c)")
        let w = Operations.checkURL(name: "*.example.org", path: "/", http: 80, https: nil, timeout: 1, runner: SystemRunner())
        #expect(w.answering == nil && w.url == "http://*.example.org/")
    }

    @Test func systemdNumbersUnsetAndInfinityAreLeftOut() {
        let i = Operations.instance(["Id": "hop-blog-G3-web@1.service", "ActiveState": "active", "SubState": "running", "MainPID": "42",
                                     "NRestarts": "1", "MemoryCurrent": "23068672", "MemoryMax": "1073741824", "CPUUsageNSec": "1500000000"])
        #expect(i == InstanceInfo(unit: "hop-blog-G3-web@1.service", state: "active", sub: "running", pid: 42, restarts: 1,
                                  cpuSeconds: 1.5, memoryBytes: 23_068_672, memoryLimitBytes: 1_073_741_824))
        let unknown = Operations.instance(["Id": "x", "MemoryCurrent": "[not set]", "MemoryMax": "infinity", "MemoryLimit": "18446744073709551615",
                                           "CPUUsageNSec": "18446744073709551615"])
        #expect(unknown.memoryBytes == nil && unknown.memoryLimitBytes == nil && unknown.cpuSeconds == nil)
        // cgroup v1 hosts report the limit as MemoryLimit.
        #expect(Operations.instance(["MemoryMax": "infinity", "MemoryLimit": "536870912"]).memoryLimitBytes == 536_870_912)
    }

    @Test func cpuTicksAreCountedAfterTheCommandName() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
        let stat = "221 (gunicorn: master (x)) S 1 221 221 0 -1 4194560 2915 0 0 0 6 5 2 1 20 0 1 0 4321 0 0"
        #expect(Operations.statCPUTicks(stat) == 14)
        #expect(Operations.statCPUTicks("garbage") == nil)
        // Our own process: some CPU time, read from the real /proc.
        let own = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
        #expect(own.flatMap(Operations.statCPUTicks) != nil)
    }

    @Test func aGenerationIsAttributedOnlyToAnEntryBetweenItAndTheNext() {
        let t = Date(timeIntervalSince1970: 1_000_000)
        func entry(_ action: String, _ offset: Double, _ actor: String) -> AuditEntry {
            AuditEntry(seq: 0, at: t.addingTimeInterval(offset), actor: actor, via: "cli", action: action, app: "blog", detail: "{}",
                       result: "ok", prevHash: "", hash: "")
        }
        let g = GenerationRecord(app: "blog", number: 2, buildID: 1, storePath: "/nix/store/x", appPath: "/nix/store/y", scale: [:],
                                 configHash: "", ports: [], status: .active, createdAt: t)
        let log = [entry("deploy", -50, "old"), entry("rollback", 5, "rb"), entry("deploy", 10, "alice"), entry("scale", 100, "bob")]
        #expect(Operations.maker(of: g, nextCreatedAt: t.addingTimeInterval(90), audit: log)?.actor == "alice")
        var denied = entry("deploy", 2, "mallory")
        denied.result = "denied"
        #expect(Operations.maker(of: g, nextCreatedAt: nil, audit: [denied] + log)?.actor == "alice", "a refused request made nothing")
        // Its own entry fell out of the window: the next generation's maker is not taken for its own.
        #expect(Operations.maker(of: g, nextCreatedAt: t.addingTimeInterval(90), audit: [entry("scale", 100, "bob")]) == nil)
    }

    @Test func unitsAreGroupedByProcessWithTheirScale() {
        let units = [unit("hop-blog-G3-web@1.service", "active"), unit("hop-blog-G3-web@2.service", "active"),
                     unit("hop-blog-G3-worker@1.service", "inactive", "dead")]
        let groups = Operations.processGroups(scale: ["web": 2, "worker": 1, "clock": 0], units: units, app: "blog", generation: 3)
        #expect(groups.map(\.name) == ["clock", "web", "worker"])
        #expect(groups.map(\.count) == [0, 2, 1])
        #expect(groups[1].instances.map(\.unit) == ["hop-blog-G3-web@1.service", "hop-blog-G3-web@2.service"])
        #expect(groups[2].instances.first?.state == "inactive")
    }

    @Test func probesRunInParallelAndKeepTheirOrder() {
        let t0 = Date()
        let out = concurrentMap(Array(0..<20), width: 16) { i -> Int in usleep(200_000); return i * 2 }
        let seconds = Date().timeIntervalSince(t0)
        #expect(out == (0..<20).map { $0 * 2 })
        // One after another this is 4 s; 16 at a time, two rounds of 0.2 s.
        #expect(seconds < 3, "\(seconds) s")
    }

    @Test func infoOfAnAppNeverDeployedIsNotFoundAndABadNameIsBadInput() throws {
        try withTemporaryDirectory { dir in
            let ops = Operations(HopContext(home: HopHome(root: dir + "/home")))
            #expect(performing: { try ops.info(app: "blog") }, throws: { ($0 as? HopError)?.code == .notFound })
            #expect(performing: { try ops.info(app: "Bad_Name") }, throws: { ($0 as? HopError)?.code == .invalidInput })
            let apps = try ops.apps()
            #expect(apps.isEmpty)
        }
    }

    @Test func withoutAServiceHostTheStateIsUnknownAndSaysWhatToRun() throws {
        // Only where systemd is not PID 1 (containers, CI, this machine): there nothing can be asked.
        let pid1 = (try? String(contentsOfFile: "/proc/1/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(pid1 != "systemd", "this test needs a machine where systemd is not PID 1")
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let ops = Operations(HopContext(home: home))
            let db = try ops.ctx.database(create: true)
            try db.putGeneration(GenerationRecord(app: "blog", number: 1, buildID: 1, storePath: "/nix/store/x", appPath: "/nix/store/y",
                                                  scale: ["web": 1], configHash: "", status: .active, createdAt: Date()))
            let row = try #require(try ops.apps().first)
            #expect(!row.serving && row.generation == 1 && row.state.hasPrefix("unknown: ") && row.state.contains("hop host up"), "\(row.state)")
            let info = try ops.info(app: "blog")
            #expect(!info.serving && info.state.hasPrefix("unknown: ") && info.state.contains("hop host up"), "\(info.state)")
            #expect(info.generation?.number == 1 && info.urls.isEmpty && info.processes.isEmpty)
        }
    }

    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        try #require(ok)
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

@Suite("the shared live check of a long-running server")
struct LiveCheckCacheTests {
    @Test("the same key within maxAge is one check; another key, an older check or an invalidation checks again")
    func sharedWithinMaxAge() throws {
        let cache = LiveCheckCache()
        var now = Date(timeIntervalSince1970: 1000)
        var computed = 0
        func get(_ key: String) throws -> Int {
            _ = try cache.value(for: key, now: { now }) { computed += 1; return [:] }
            return computed
        }
        #expect(try get("a") == 1)
        now += 1.5
        #expect(try get("a") == 1, "1.5 s later: shared")
        #expect(try get("b") == 2, "other apps or generations: checked")
        now += LiveCheckCache.maxAge
        #expect(try get("b") == 3, "older than maxAge: checked")
        cache.invalidate()
        #expect(try get("b") == 4, "after a change: checked")
    }

    @Test("past half maxAge the kept check is answered and renewed once in the background; past maxAge a request waits for a check")
    func renewedInTheBackground() async throws {
        let cache = LiveCheckCache()
        let start = Date(timeIntervalSince1970: 1000)
        let old = ["a": LiveCheck(units: [["Id": "old"]], urls: [])]
        let new = ["a": LiveCheck(units: [["Id": "new"]], urls: [])]
        _ = try cache.value(for: "k", now: { start }) { old }
        let renewals = CallCounter()
        let later = start + LiveCheckCache.maxAge * 0.6
        for _ in 0..<5 {
            let v = try cache.value(for: "k", now: { later }, refresh: { renewals.add(); Thread.sleep(forTimeInterval: 0.2); return new }) {
                Issue.record("a request waited for a check although the kept one was young enough")
                return [:]
            }
            #expect(v == old, "answered with the kept check while it is renewed")
        }
        // The renewal lands (stamped when it was asked for) and is what the next request gets.
        var got: [String: LiveCheck] = [:]
        for _ in 0..<100 {
            got = try cache.value(for: "k", now: { later }) { [:] }
            if got == new { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        #expect(got == new)
        #expect(renewals.count == 1, "one renewal, not one per request")
        // The renewal is as old as `later`: past maxAge from then, a request checks itself.
        let stale = later + LiveCheckCache.maxAge
        var checked = false
        _ = try cache.value(for: "k", now: { stale }) { checked = true; return new }
        #expect(checked)
    }

    @Test("a renewal that started before an invalidation is not kept")
    func renewalBeforeAChangeIsDropped() async throws {
        let cache = LiveCheckCache()
        let start = Date(timeIntervalSince1970: 1000)
        let old = ["a": LiveCheck(units: [["Id": "old"]], urls: [])]
        _ = try cache.value(for: "k", now: { start }) { old }
        let gate = CallCounter()
        let later = start + LiveCheckCache.maxAge * 0.6
        _ = try cache.value(for: "k", now: { later }, refresh: {
            while gate.count == 0 { Thread.sleep(forTimeInterval: 0.01) }
            return ["a": LiveCheck(units: [["Id": "before the change"]], urls: [])]
        }) { old }
        cache.invalidate()
        gate.add()
        try await Task.sleep(nanoseconds: 200_000_000)
        var checked = false
        _ = try cache.value(for: "k", now: { later }) { checked = true; return [:] }
        #expect(checked, "the invalidated cache checks again instead of keeping the renewal")
    }
}

final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var count: Int { lock.withLock { n } }
}
