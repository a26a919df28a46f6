import Foundation
import HopBasics

/// Where hop keeps measures: `metrics.db`, a SQLite file beside hop.db, so frequent metric writes
/// never contend with operations for hop.db's write lock, and its size is bounded on its own.
///
/// Requests are kept per app in 10-s buckets for a day, then in 5-min buckets for 30 days
/// (`compact`). At most 8,640 + 8,640 rows per app, each about 100–150 bytes: under ~2.5 MB per
/// app with traffic in every interval, ~250 MB for 100 such apps; an idle app writes nothing.
public final class MetricsStore: @unchecked Sendable {
    public static let fineWidth = 10
    public static let coarseWidth = 300
    public static let fineRetention = 24 * 3600
    public static let coarseRetention = 30 * 24 * 3600
    let db: Database

    public init(path: String) throws {
        db = try Database(path: path)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS request_buckets (
                app TEXT NOT NULL, width INTEGER NOT NULL, start INTEGER NOT NULL,
                c1 INTEGER NOT NULL, c2 INTEGER NOT NULL, c3 INTEGER NOT NULL, c4 INTEGER NOT NULL, c5 INTEGER NOT NULL,
                bytes INTEGER NOT NULL, latency TEXT NOT NULL,
                PRIMARY KEY (app, width, start)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS log_cursors (
                log TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS request_totals (
                app TEXT PRIMARY KEY,
                c1 INTEGER NOT NULL, c2 INTEGER NOT NULL, c3 INTEGER NOT NULL, c4 INTEGER NOT NULL, c5 INTEGER NOT NULL,
                bytes INTEGER NOT NULL, latency TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS process_buckets (
                app TEXT NOT NULL, process TEXT NOT NULL, width INTEGER NOT NULL, start INTEGER NOT NULL,
                cpu_ns INTEGER NOT NULL, memory INTEGER, memory_limit INTEGER, tasks INTEGER,
                restarts INTEGER NOT NULL, oom_kills INTEGER NOT NULL, instances INTEGER NOT NULL,
                PRIMARY KEY (app, process, width, start)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS host_buckets (
                width INTEGER NOT NULL, start INTEGER NOT NULL,
                cpu_busy INTEGER NOT NULL, cpu_total INTEGER NOT NULL, memory_used INTEGER NOT NULL, memory_total INTEGER NOT NULL,
                disk_used INTEGER NOT NULL, disk_total INTEGER NOT NULL, load1_milli INTEGER NOT NULL,
                PRIMARY KEY (width, start)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS counters (
                key TEXT PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL, c INTEGER NOT NULL
            ) WITHOUT ROWID;
            """ + Self.alertSchema)
    }

    /// Where reading `log` stopped: the file's inode and the offset after the last line counted.
    public func cursor(log: String) throws -> (inode: UInt64, offset: Int64)? {
        try db.read { conn in
            try conn.prepare("SELECT inode, offset FROM log_cursors WHERE log = ?").rows([.text(log)]) {
                (UInt64(bitPattern: try $0.int64(0)), try $0.int64(1))
            }.first
        }
    }

    /// Adds buckets of `width` seconds, merging into what is stored for the same interval, in one
    /// transaction (a collection interrupted halfway stores nothing of it).
    /// With `cursor`, where the buckets were read up to is recorded in the same transaction, so a
    /// collector killed at any point counts each line once.
    public func add(_ buckets: [String: [RequestBucket]], width: Int = MetricsStore.fineWidth,
                    cursor: (log: String, inode: UInt64, offset: Int64)? = nil) throws {
        try db.transaction { conn in
            if let cursor {
                try conn.cached("INSERT OR REPLACE INTO log_cursors (log, inode, offset) VALUES (?, ?, ?)")
                    .run([.text(cursor.log), .integer(Int64(bitPattern: cursor.inode)), .integer(cursor.offset)])
                // Counted once, as read from the log: every app's running totals (what a
                // Prometheus counter needs: never decreasing, unlike a window of buckets).
                let readT = try conn.cached("SELECT c1, c2, c3, c4, c5, bytes, latency FROM request_totals WHERE app = ?")
                let writeT = try conn.cached("INSERT OR REPLACE INTO request_totals (app, c1, c2, c3, c4, c5, bytes, latency) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                for (app, list) in buckets {
                    var total = try readT.rows([.text(app)], { try Self.bucket(start: 0, $0) }).first ?? RequestBucket(start: 0)
                    for b in list { total.merge(b) }
                    try writeT.run([.text(app)] + total.classes.map { .integer(Int64($0)) } + [.integer(total.bytes), .text(total.latency.stored)])
                }
            }
            let read = try conn.cached("SELECT c1, c2, c3, c4, c5, bytes, latency FROM request_buckets WHERE app = ? AND width = ? AND start = ?")
            let write = try conn.cached("""
                INSERT OR REPLACE INTO request_buckets (app, width, start, c1, c2, c3, c4, c5, bytes, latency)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for (app, list) in buckets {
                for b in list {
                    var merged = b
                    if let old = try read.rows([.text(app), .integer(Int64(width)), .integer(Int64(b.start))], { try Self.bucket(start: b.start, $0) }).first {
                        merged.merge(old)
                    }
                    try write.run([.text(app), .integer(Int64(width)), .integer(Int64(merged.start))]
                                  + merged.classes.map { .integer(Int64($0)) }
                                  + [.integer(merged.bytes), .text(merged.latency.stored)])
                }
            }
        }
    }

    /// Every app's requests since metrics.db was made, by app.
    public func totals() throws -> [String: RequestBucket] {
        try db.read { conn in
            var out: [String: RequestBucket] = [:]
            for (app, b) in try conn.prepare("SELECT app, c1, c2, c3, c4, c5, bytes, latency FROM request_totals")
                .rows([], { (try $0.text(0), try Self.bucket(start: 0, $0, offset: 1)) }) { out[app] = b }
            return out
        }
    }

    /// The app's buckets starting in `from..<to`, oldest first: 10-s ones where they are kept,
    /// 5-min ones before.
    public func requests(app: String, from: Int, to: Int) throws -> [RequestBucket] {
        try db.read { conn in
            let q = try conn.cached("""
                SELECT start, c1, c2, c3, c4, c5, bytes, latency FROM request_buckets
                WHERE app = ? AND start >= ? AND start < ? ORDER BY start, width
                """)
            return try q.rows([.text(app), .integer(Int64(from)), .integer(Int64(to))]) { s in
                try Self.bucket(start: Int(try s.int64(0)), s, offset: 1)
            }
        }
    }

    /// Folds 10-s buckets older than a day into 5-min ones and drops 5-min ones older than 30
    /// days, in one transaction. Returns how many rows were folded and dropped.
    @discardableResult
    public func compact(now: Int) throws -> (folded: Int, dropped: Int) {
        let fineCutoff = (now - Self.fineRetention) / Self.coarseWidth * Self.coarseWidth
        let old = try db.read { conn in
            try conn.prepare("SELECT app, start, c1, c2, c3, c4, c5, bytes, latency FROM request_buckets WHERE width = ? AND start < ?")
                .rows([.integer(Int64(Self.fineWidth)), .integer(Int64(fineCutoff))]) { s in
                    (try s.text(0), try Self.bucket(start: Int(try s.int64(1)), s, offset: 2))
                }
        }
        try compactResources(now: now)
        let grouped = Dictionary(grouping: old, by: \.0).mapValues { $0.map(\.1) }
        try add(grouped.mapValues { RequestBucketsMath.downsample($0, to: Self.coarseWidth) }, width: Self.coarseWidth)
        return try db.transaction { conn in
            try conn.prepare("DELETE FROM request_buckets WHERE width = ? AND start < ?")
                .run([.integer(Int64(Self.fineWidth)), .integer(Int64(fineCutoff))])
            let folded = conn.changes
            try conn.prepare("DELETE FROM request_buckets WHERE width = ? AND start < ?")
                .run([.integer(Int64(Self.coarseWidth)), .integer(Int64(now - Self.coarseRetention))])
            return (folded, conn.changes)
        }
    }

    /// A stored row (columns from `offset`: c1…c5, bytes, latency) as a bucket.
    static func bucket(start: Int, _ s: Statement, offset: Int32 = 0) throws -> RequestBucket {
        var b = RequestBucket(start: start)
        b.classes = try (0..<5).map { Int(try s.int64(offset + Int32($0))) }
        b.bytes = try s.int64(offset + 5)
        guard let h = LatencyHistogram(stored: try s.text(offset + 6)) else {
            throw HopError(.internalError, "metrics.db holds a latency histogram hop cannot read: \(try s.text(offset + 6))")
        }
        b.latency = h
        return b
    }
}

extension MetricsStore {
    /// The cumulative counters read at the last collection (a unit's CPU time, restarts and OOM
    /// kills; the host's busy and total CPU ticks), by key.
    public func counters() throws -> [String: [Int64]] {
        try db.read { conn in
            var out: [String: [Int64]] = [:]
            for (k, v) in try conn.prepare("SELECT key, a, b, c FROM counters").rows([], { (try $0.text(0), [try $0.int64(1), try $0.int64(2), try $0.int64(3)]) }) {
                out[k] = v
            }
            return out
        }
    }

    /// Adds process and host buckets of `width` seconds (merged into what is stored for the same
    /// interval) and replaces the counters they were computed from, in one transaction: a
    /// collection killed halfway stores nothing of itself, and counters of units gone are dropped.
    public func addResources(processes: [ProcessBucket], host: HostBucket?, counters: [String: [Int64]]?,
                             width: Int = MetricsStore.fineWidth) throws {
        try db.transaction { conn in
            if let counters {
                try conn.prepare("DELETE FROM counters").run([])
                let put = try conn.cached("INSERT INTO counters (key, a, b, c) VALUES (?, ?, ?, ?)")
                for (k, v) in counters where v.count == 3 { try put.run([.text(k)] + v.map { .integer($0) }) }
            }
            try Self.write(conn, processes: processes, host: host, width: width)
        }
    }

    /// Merges and writes buckets of `width` seconds inside the caller's transaction.
    static func write(_ conn: Connection, processes: [ProcessBucket], host: HostBucket?, width: Int) throws {
        let readP = try conn.cached("""
            SELECT cpu_ns, memory, memory_limit, tasks, restarts, oom_kills, instances FROM process_buckets
            WHERE app = ? AND process = ? AND width = ? AND start = ?
            """)
        let writeP = try conn.cached("""
            INSERT OR REPLACE INTO process_buckets (app, process, width, start, cpu_ns, memory, memory_limit, tasks, restarts, oom_kills, instances)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for b in processes {
            var merged = b
            let key: [SQLValue] = [.text(b.app), .text(b.process), .integer(Int64(width)), .integer(Int64(b.start))]
            if let old = try readP.rows(key, { try Self.processBucket(app: b.app, process: b.process, start: b.start, $0) }).first {
                merged.merge(old)
            }
            try writeP.run(key + [.integer(merged.cpuNanos), .integer(merged.memory), .integer(merged.memoryLimit),
                                  .integer(merged.tasks.map(Int64.init)), .integer(Int64(merged.restarts)),
                                  .integer(Int64(merged.oomKills)), .integer(Int64(merged.instances))])
        }
        if let host {
            var merged = host
            let key: [SQLValue] = [.integer(Int64(width)), .integer(Int64(host.start))]
            let read = try conn.cached("""
                SELECT cpu_busy, cpu_total, memory_used, memory_total, disk_used, disk_total, load1_milli FROM host_buckets WHERE width = ? AND start = ?
                """)
            if let old = try read.rows(key, { try Self.hostBucket(start: host.start, $0) }).first { merged.merge(old) }
            try conn.cached("""
                INSERT OR REPLACE INTO host_buckets (width, start, cpu_busy, cpu_total, memory_used, memory_total, disk_used, disk_total, load1_milli)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).run(key + [.integer(merged.cpuBusyTicks), .integer(merged.cpuTotalTicks), .integer(merged.memoryUsed),
                                .integer(merged.memoryTotal), .integer(merged.diskUsed), .integer(merged.diskTotal), .integer(Int64((merged.load1 * 1000).rounded()))])
        }
    }

    /// The app's process buckets starting in `from..<to`, oldest first (every process type).
    public func processes(app: String, from: Int, to: Int) throws -> [ProcessBucket] {
        try db.read { conn in
            try conn.cached("""
                SELECT process, start, cpu_ns, memory, memory_limit, tasks, restarts, oom_kills, instances FROM process_buckets
                WHERE app = ? AND start >= ? AND start < ? ORDER BY start, width, process
                """).rows([.text(app), .integer(Int64(from)), .integer(Int64(to))]) { s in
                try Self.processBucket(app: app, process: try s.text(0), start: Int(try s.int64(1)), s, offset: 2)
            }
        }
    }

    /// The apps with process buckets starting in `from..<to`.
    public func processApps(from: Int, to: Int) throws -> [String] {
        try db.read { conn in
            try conn.prepare("SELECT DISTINCT app FROM process_buckets WHERE start >= ? AND start < ? ORDER BY app")
                .rows([.integer(Int64(from)), .integer(Int64(to))]) { try $0.text(0) }
        }
    }

    /// The host's buckets starting in `from..<to`, oldest first.
    public func host(from: Int, to: Int) throws -> [HostBucket] {
        try db.read { conn in
            try conn.cached("""
                SELECT start, cpu_busy, cpu_total, memory_used, memory_total, disk_used, disk_total, load1_milli FROM host_buckets
                WHERE start >= ? AND start < ? ORDER BY start, width
                """).rows([.integer(Int64(from)), .integer(Int64(to))]) { s in
                try Self.hostBucket(start: Int(try s.int64(0)), s, offset: 1)
            }
        }
    }

    /// Folds day-old 10-s process and host buckets into 5-min ones and drops month-old ones, in
    /// one transaction (a compaction killed halfway leaves the rows as they were).
    func compactResources(now: Int) throws {
        let fineCutoff = (now - Self.fineRetention) / Self.coarseWidth * Self.coarseWidth
        let fine: [SQLValue] = [.integer(Int64(Self.fineWidth)), .integer(Int64(fineCutoff))]
        try db.transaction { conn in
            let procs = try conn.prepare("""
                SELECT app, process, start, cpu_ns, memory, memory_limit, tasks, restarts, oom_kills, instances FROM process_buckets
                WHERE width = ? AND start < ?
                """).rows(fine) { s in
                    try Self.processBucket(app: try s.text(0), process: try s.text(1), start: Int(try s.int64(2)) / Self.coarseWidth * Self.coarseWidth, s, offset: 3)
                }
            let hosts = try conn.prepare("""
                SELECT start, cpu_busy, cpu_total, memory_used, memory_total, disk_used, disk_total, load1_milli FROM host_buckets WHERE width = ? AND start < ?
                """).rows(fine) { s in try Self.hostBucket(start: Int(try s.int64(0)) / Self.coarseWidth * Self.coarseWidth, s, offset: 1) }
            var p: [String: ProcessBucket] = [:]
            for b in procs { p["\(b.app)\u{0}\(b.process)\u{0}\(b.start)", default: ProcessBucket(app: b.app, process: b.process, start: b.start)].merge(b) }
            var h: [Int: HostBucket] = [:]
            for b in hosts { h[b.start, default: HostBucket(start: b.start)].merge(b) }
            try Self.write(conn, processes: Array(p.values), host: nil, width: Self.coarseWidth)
            for b in h.values { try Self.write(conn, processes: [], host: b, width: Self.coarseWidth) }
            for table in ["process_buckets", "host_buckets"] {
                try conn.prepare("DELETE FROM \(table) WHERE width = ? AND start < ?").run(fine)
                try conn.prepare("DELETE FROM \(table) WHERE width = ? AND start < ?")
                    .run([.integer(Int64(Self.coarseWidth)), .integer(Int64(now - Self.coarseRetention))])
            }
        }
    }

    static func processBucket(app: String, process: String, start: Int, _ s: Statement, offset: Int32 = 0) throws -> ProcessBucket {
        var b = ProcessBucket(app: app, process: process, start: start)
        b.cpuNanos = try s.int64(offset)
        b.memory = s.isNull(offset + 1) ? nil : try s.int64(offset + 1)
        b.memoryLimit = s.isNull(offset + 2) ? nil : try s.int64(offset + 2)
        b.tasks = s.isNull(offset + 3) ? nil : Int(try s.int64(offset + 3))
        b.restarts = Int(try s.int64(offset + 4))
        b.oomKills = Int(try s.int64(offset + 5))
        b.instances = Int(try s.int64(offset + 6))
        return b
    }

    static func hostBucket(start: Int, _ s: Statement, offset: Int32 = 0) throws -> HostBucket {
        var b = HostBucket(start: start)
        b.cpuBusyTicks = try s.int64(offset)
        b.cpuTotalTicks = try s.int64(offset + 1)
        b.memoryUsed = try s.int64(offset + 2)
        b.memoryTotal = try s.int64(offset + 3)
        b.diskUsed = try s.int64(offset + 4)
        b.diskTotal = try s.int64(offset + 5)
        b.load1 = Double(try s.int64(offset + 6)) / 1000
        return b
    }
}

/// Bucket arithmetic shared by the store and Runtime's aggregation.
public enum RequestBucketsMath {
    /// The same buckets at a coarser `width` (a multiple of theirs): every request kept, counted
    /// in the interval its bucket starts in.
    public static func downsample(_ buckets: [RequestBucket], to width: Int) -> [RequestBucket] {
        var out: [Int: RequestBucket] = [:]
        for b in buckets {
            let start = b.start / width * width
            out[start, default: RequestBucket(start: start)].merge(b)
        }
        return out.values.sorted { $0.start < $1.start }
    }
}
