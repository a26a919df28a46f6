import Foundation
import HopBasics
import HopStore
import Runtime

/// Reads what nginx appended to its metrics log since the last read and adds it to metrics.db,
/// per app and 10-s interval. The lines read and the place reading stopped are committed in one
/// transaction, so a collector killed at any point counts every request once. A log over
/// `rotateBytes` is renamed and nginx is told to reopen it (SIGUSR1 to its master); the renamed
/// file's rest is read on the next collection, then removed — no line is lost to a truncation.
struct RequestCollector {
    let home: HopHome
    let front: NginxFront
    var rotateBytes: Int64 = 8 << 20

    static let logKey = "nginx-requests"
    var storePath: String { home.root + "/metrics.db" }
    var rotated: String { front.requestLog + ".1" }

    /// Collects now; returns how many requests were counted.
    @discardableResult
    func collect() throws -> Int { try collectAll().requests }

    /// Collects requests and resources now.
    func collectAll() throws -> (requests: Int, resources: ResourceCollector.Snapshot?) {
        // One collector at a time (the timer's and a `hop metrics`): two reading from one cursor
        // would count the same lines twice.
        let lock = try AppLock.host(home: home, named: "metrics")
        defer { withExtendedLifetime(lock) {} }
        let store = try MetricsStore(path: storePath)
        let names = RequestLog.serverNames(sites: sites())
        var counted = 0
        // The rest of a rotated file first (the cursor is still on its inode), then the live one.
        if let st = fileStatus(atPath: rotated) {
            counted += try read(rotated, inode: st.inode, store: store, names: names)
            // Until nginx has reopened (made the new file) it may still write to the old one.
            guard FileManager.default.fileExists(atPath: front.requestLog) else { return (counted, nil) }
            try FileManager.default.removeItem(atPath: rotated)
        }
        try compactHourly(store)
        let resources = try ResourceCollector(home: home, host: front.host).collect(store: store)
        guard let live = fileStatus(atPath: front.requestLog) else { return (counted, resources) }
        counted += try read(front.requestLog, inode: live.inode, store: store, names: names)
        if live.size > rotateBytes, !FileManager.default.fileExists(atPath: rotated) {
            try FileManager.default.moveItem(atPath: front.requestLog, toPath: rotated)
            _ = try front.host.systemctl(["kill", "--kill-who=main", "--signal=USR1", NginxFront.unit])
        }
        return (counted, resources)
    }

    /// Reads `path` from the cursor (from the start when the cursor is on another file) to its
    /// last complete line and stores what it read with the new cursor.
    func read(_ path: String, inode: UInt64, store: MetricsStore, names: [String: String]) throws -> Int {
        var offset: Int64 = 0
        if let c = try store.cursor(log: Self.logKey), c.inode == inode { offset = c.offset }
        guard let handle = FileHandle(forReadingAtPath: path) else { return 0 }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let data = try handle.readToEnd() ?? Data()
        let (lines, consumed) = RequestLog.completeLines(data)
        guard consumed > 0 else { return 0 }
        let records = lines.compactMap(RequestLog.parse)
        try store.add(RequestBuckets.aggregate(records, serverNames: names), cursor: (Self.logKey, inode, offset + Int64(consumed)))
        return records.count
    }

    /// Folds day-old buckets and drops month-old ones at most once an hour (a marker file's time),
    /// which keeps metrics.db within its stated bound.
    func compactHourly(_ store: MetricsStore, now: Date = Date()) throws {
        let marker = home.root + "/cache/metrics-compacted"
        if let last = fileStatus(atPath: marker)?.modified, now.timeIntervalSince(last) < 3600 { return }
        try store.compact(now: Int(now.timeIntervalSince1970))
        try FileManager.default.createDirectory(atPath: home.root + "/cache", withIntermediateDirectories: true)
        try writeFileAtomically(marker, "\(Int(now.timeIntervalSince1970))\n", mode: 0o600)
    }

    /// Every app's live nginx site, by app (hop's own `_…` sites are not apps).
    func sites() -> [String: String] {
        var out: [String: String] = [:]
        for f in (try? FileManager.default.contentsOfDirectory(atPath: front.sitesDirectory)) ?? []
        where f.hasSuffix(".conf") && !f.hasPrefix("_") {
            out[String(f.dropLast(5))] = try? String(contentsOfFile: front.sitesDirectory + "/" + f, encoding: .utf8)
        }
        return out
    }
}
