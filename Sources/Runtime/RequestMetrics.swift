import Foundation

// The request side of issue 23's measures, as pure functions: what nginx logs for each request,
// how a log is read incrementally, and how requests become per-app buckets (counts by status
// class, bytes, a latency histogram) that can be merged, downsampled and asked for percentiles.
// Not wired in yet: nginx does not write this log and nothing stores the buckets (see the issue's
// note). Everything here is deterministic and unit-tested.

/// One request as hop's nginx logs it for metrics (`RequestLog.format`).
public struct AccessRecord: Equatable, Sendable {
    /// When the request ended, in seconds since the epoch (`$msec`).
    public var time: Double
    public var status: Int
    /// `$request_time`: from the first byte read from the client to the last byte sent.
    public var seconds: Double
    public var bytes: Int64
    /// `$server_name`: the first name of the server block that answered (an app's site).
    public var serverName: String

    public init(time: Double, status: Int, seconds: Double, bytes: Int64, serverName: String) {
        self.time = time; self.status = status; self.seconds = seconds; self.bytes = bytes; self.serverName = serverName
    }
}

public enum RequestLog {
    /// The `log_format` name and text. Fields are space-separated and none can hold a space: the
    /// client sends none of them (no path, no user agent, no address — nothing personal is kept).
    public static let formatName = "hop_metrics"
    public static let format = "$msec $status $request_time $bytes_sent $server_name"

    /// One line of the log; nil for a line that is not one (a torn or foreign line is skipped,
    /// never guessed at).
    public static func parse(_ line: Substring) -> AccessRecord? {
        let f = line.split(separator: " ", omittingEmptySubsequences: false)
        guard f.count == 5, let time = Double(f[0]), let status = Int(f[1]), (100...599).contains(status),
              let seconds = Double(f[2]), seconds >= 0, let bytes = Int64(f[3]), bytes >= 0, !f[4].isEmpty else { return nil }
        return AccessRecord(time: time, status: status, seconds: seconds, bytes: bytes, serverName: String(f[4]))
    }

    /// The complete lines at the start of `data` and how many bytes they span (a last line
    /// without its newline is left for the next read: nginx may be writing it).
    public static func completeLines(_ data: Data) -> (lines: [Substring], consumed: Int) {
        guard let last = data.lastIndex(of: UInt8(ascii: "\n")) else { return ([], 0) }
        let consumed = last - data.startIndex + 1
        let text = String(decoding: data.prefix(consumed), as: UTF8.self)
        return (text.split(separator: "\n"), consumed)
    }

    /// Which app answers to each server name, from the apps' nginx sites (app → site text): every
    /// name of every `server_name` directive of an app's site is that app's.
    public static func serverNames(sites: [String: String]) -> [String: String] {
        var map: [String: String] = [:]
        for (app, text) in sites {
            for line in text.split(separator: "\n") {
                let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
                guard words.first == "server_name" else { continue }
                for w in words.dropFirst() {
                    let name = w.hasSuffix(";") ? w.dropLast() : w
                    if !name.isEmpty { map[String(name)] = app }
                }
            }
        }
        return map
    }
}

/// Request durations counted in fixed buckets, so that buckets of many intervals and apps merge
/// by addition and percentiles come out of any merge.
public struct LatencyHistogram: Codable, Equatable, Sendable {
    /// Upper bounds in milliseconds; one more count holds everything above the last.
    public static let boundsMilliseconds: [Double] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
    public private(set) var counts: [Int]

    public init() { counts = Array(repeating: 0, count: Self.boundsMilliseconds.count + 1) }

    public var total: Int { counts.reduce(0, +) }

    public mutating func add(seconds: Double) {
        let ms = seconds * 1000
        let i = Self.boundsMilliseconds.firstIndex { ms <= $0 } ?? Self.boundsMilliseconds.count
        counts[i] += 1
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds, interpolated linearly inside its bucket (the
    /// first from 0); the last bucket answers its lower bound. nil when empty.
    public func quantile(_ q: Double) -> Double? {
        let n = total
        guard n > 0 else { return nil }
        let rank = max(1, (q * Double(n)).rounded(.up))
        var seen = 0
        for (i, c) in counts.enumerated() where c > 0 {
            if Double(seen + c) >= rank {
                let lower = i == 0 ? 0 : Self.boundsMilliseconds[i - 1]
                guard i < Self.boundsMilliseconds.count else { return lower }
                let upper = Self.boundsMilliseconds[i]
                return lower + (upper - lower) * (rank - Double(seen)) / Double(c)
            }
            seen += c
        }
        return Self.boundsMilliseconds.last
    }
}

/// The requests one app answered in one interval.
public struct RequestBucket: Codable, Equatable, Sendable {
    /// The interval's start, seconds since the epoch (a multiple of its width).
    public var start: Int
    /// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx.
    public var classes: [Int]
    public var bytes: Int64
    public var latency: LatencyHistogram

    public init(start: Int) {
        self.start = start; classes = [0, 0, 0, 0, 0]; bytes = 0; latency = LatencyHistogram()
    }

    public var requests: Int { classes.reduce(0, +) }

    public mutating func add(_ r: AccessRecord) {
        classes[r.status / 100 - 1] += 1
        bytes += r.bytes
        latency.add(seconds: r.seconds)
    }

    public mutating func merge(_ other: RequestBucket) {
        for i in classes.indices { classes[i] += other.classes[i] }
        bytes += other.bytes
        latency.merge(other.latency)
    }
}

public enum RequestBuckets {
    /// Requests grouped by app (through `serverNames`) and interval of `width` seconds; requests
    /// for names no app has (the default server, hop's own site) are left out.
    public static func aggregate(_ records: [AccessRecord], serverNames: [String: String], width: Int = 10) -> [String: [RequestBucket]] {
        var byApp: [String: [Int: RequestBucket]] = [:]
        for r in records {
            guard let app = serverNames[r.serverName] else { continue }
            let start = Int(r.time.rounded(.down)) / width * width
            byApp[app, default: [:]][start, default: RequestBucket(start: start)].add(r)
        }
        return byApp.mapValues { $0.values.sorted { $0.start < $1.start } }
    }

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
