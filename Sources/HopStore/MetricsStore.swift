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
            """)
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
                                  + [.integer(merged.bytes), .text(merged.latency.counts.map(String.init).joined(separator: ","))])
                }
            }
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
        let counts = try s.text(offset + 6).split(separator: ",").compactMap { Int($0) }
        guard let h = LatencyHistogram(counts: counts) else {
            throw HopError(.internalError, "metrics.db holds a latency histogram hop cannot read: \(try s.text(offset + 6))")
        }
        b.latency = h
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
