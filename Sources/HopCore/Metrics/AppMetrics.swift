import Foundation
import HopBasics
import HopStore
import Runtime

/// One interval of an app's requests, as `hop metrics` and the API give it.
public struct RequestPoint: Codable, Sendable, Equatable {
    /// The interval's start (ISO 8601) and its length in seconds.
    public var start: String
    public var seconds: Int
    public var requests: Int
    /// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx.
    public var classes: [Int]
    public var bytes: Int64
    /// Latency percentiles in milliseconds (from a fixed-bucket histogram); nil with no request.
    public var p50: Double?
    public var p95: Double?
    public var p99: Double?

    init(_ b: RequestBucket, seconds: Int) {
        start = isoTime(Date(timeIntervalSince1970: TimeInterval(b.start)))
        self.seconds = seconds
        requests = b.requests; classes = b.classes; bytes = b.bytes
        p50 = b.latency.quantile(0.5); p95 = b.latency.quantile(0.95); p99 = b.latency.quantile(0.99)
    }
}

/// One interval of a process type's resources (all its running instances together).
public struct ProcessPoint: Codable, Sendable, Equatable {
    public var start: String
    public var seconds: Int
    /// CPU used, in percent of one core (200 = two cores busy).
    public var cpuPercent: Double
    /// Memory in use and its limit in bytes (highest reading); nil when systemd did not account it.
    public var memory: Int64?
    public var memoryLimit: Int64?
    public var tasks: Int?
    public var restarts: Int
    public var oomKills: Int
    public var instances: Int

    init(_ b: ProcessBucket, seconds: Int) {
        start = isoTime(Date(timeIntervalSince1970: TimeInterval(b.start)))
        self.seconds = seconds
        cpuPercent = (Double(b.cpuNanos) / 1e9 / Double(max(1, seconds)) * 1000).rounded() / 10
        memory = b.memory; memoryLimit = b.memoryLimit; tasks = b.tasks
        restarts = b.restarts; oomKills = b.oomKills; instances = b.instances
    }
}

/// A process type's resources over the window: `latest` is the last interval with a reading
/// (its memory and instances are the current ones); `cpuPercent`, `restarts` and `oomKills` are
/// over the intervals measured.
public struct ProcessSeries: Codable, Sendable, Equatable {
    public var process: String
    public var cpuPercent: Double
    public var restarts: Int
    public var oomKills: Int
    public var latest: ProcessPoint
    public var points: [ProcessPoint]
}

/// An app's requests through nginx over a window (the totals and one point per interval), and
/// its processes' resources.
public struct AppMetricsResult: Codable, Sendable {
    public var app: String
    public var since: String
    public var until: String
    public var total: RequestPoint
    public var points: [RequestPoint]
    public var processes: [ProcessSeries]
}

public enum AppMetrics: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        /// How far back: `90s`, `15m`, `1h`, `24h`, `7d` (default 1h, at most 30d).
        public var since: String?
        /// At most this many points per series: intervals are merged into wider ones (default: every interval kept).
        public var points: Int?
        public init(app: String, since: String? = nil, points: Int? = nil) { self.app = app; self.since = since; self.points = points }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName, "points": ["type": "integer", "minimum": 10, "maximum": 10000]] }
    }
    public static let name = "appMetrics"
    public static let summary = "An app's requests through nginx (by status class, bytes, latency percentiles) and its processes' CPU, memory, tasks, restarts and OOM kills over a window, collected now."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/metrics")
    public static func run(_ input: Input, _ call: OperationCall) throws -> AppMetricsResult {
        try call.ops.metrics(app: input.app, since: input.since, points: input.points)
    }
}

extension Operations {
    /// `hop metrics APP`: collects what nginx logged since the last collection, then reads the
    /// window from metrics.db.
    /// `collect: false` reads what the timer stored (the dashboard, which must render fast).
    public func metrics(app: String, since: String?, points: Int? = nil, collect: Bool = true, now: Date = Date()) throws -> AppMetricsResult {
        _ = try Self.checkedApp(app)
        let window = try Self.window(since ?? "1h")
        try ctx.authorize(.read, app: app, action: "read the measures of \(app)")
        guard let db = try ctx.existingDatabase(), try !db.generations(app: app).isEmpty else {
            throw HopError(.notFound, "\(app) is not deployed", hint: "`hop apps` lists the apps; deploy with `hop deploy PATH`")
        }
        // Collected now when the host runs (its timer collects every 10 s anyway); without one,
        // what was collected is answered.
        if collect, let host = try? ctx.serviceHost() {
            try RequestCollector(home: ctx.home, front: NginxFront(home: ctx.home, host: host)).collect()
        }
        if let points, points < 10 || points > 10_000 { throw HopError.invalid("`points` must be between 10 and 10000") }
        return try Self.readMetrics(app: app, store: MetricsStore(path: ctx.home.root + "/metrics.db"), window: window, points: points, now: now)
    }

    /// The width that gives at most `points` intervals over `window`: a multiple of 10 s, and of
    /// 5 min when the window reaches back to where only 5-min buckets are kept; nil when the
    /// stored intervals are few enough already.
    static func step(window: Int, points: Int?) -> Int? {
        guard let points else { return nil }
        let raw = (window + points - 1) / points
        let unit = window > MetricsStore.fineRetention ? MetricsStore.coarseWidth : MetricsStore.fineWidth
        guard raw > unit else { return nil }
        return (raw + unit - 1) / unit * unit
    }

    /// The window's measures of `app` as metrics.db holds them.
    static func readMetrics(app: String, store: MetricsStore, window: Int, points: Int? = nil, now: Date) throws -> AppMetricsResult {
        let to = Int(now.timeIntervalSince1970) + 1
        let from = to - window
        var buckets = try store.requests(app: app, from: from / MetricsStore.fineWidth * MetricsStore.fineWidth, to: to)
        var procs = try store.processes(app: app, from: from / MetricsStore.fineWidth * MetricsStore.fineWidth, to: to)
        let step = Self.step(window: window, points: points)
        if let step {
            buckets = RequestBucketsMath.downsample(buckets, to: step)
            var merged: [String: ProcessBucket] = [:]
            for b in procs {
                let start = b.start / step * step
                merged[b.process + "\u{0}\(start)", default: ProcessBucket(app: app, process: b.process, start: start)].merge(b)
            }
            procs = merged.values.sorted { ($0.start, $0.process) < ($1.start, $1.process) }
        }
        let widthOf = { (start: Int) in step ?? Self.width(start, now: now) }
        var total = RequestBucket(start: from)
        for b in buckets { total.merge(b) }
        return AppMetricsResult(app: app, since: isoTime(Date(timeIntervalSince1970: TimeInterval(from))),
                                until: isoTime(now), total: RequestPoint(total, seconds: window),
                                points: buckets.map { RequestPoint($0, seconds: widthOf($0.start)) },
                                processes: processSeries(procs, width: widthOf))
    }

    /// A bucket's width: 5 min where 10-s ones are no longer kept.
    static func width(_ start: Int, now: Date) -> Int {
        Int(now.timeIntervalSince1970) - start > MetricsStore.fineRetention ? MetricsStore.coarseWidth : MetricsStore.fineWidth
    }

    static func processSeries(_ buckets: [ProcessBucket], width: (Int) -> Int) -> [ProcessSeries] {
        Dictionary(grouping: buckets, by: \.process).sorted { $0.key < $1.key }.compactMap { process, list in
            let points = list.map { ProcessPoint($0, seconds: width($0.start)) }
            guard let latest = points.last(where: { $0.instances > 0 }) ?? points.last else { return nil }
            let seconds = points.reduce(0) { $0 + $1.seconds }
            let cpu = Double(list.reduce(Int64(0)) { $0 + $1.cpuNanos }) / 1e9 / Double(max(1, seconds)) * 100
            return ProcessSeries(process: process, cpuPercent: (cpu * 10).rounded() / 10, restarts: points.reduce(0) { $0 + $1.restarts },
                                 oomKills: points.reduce(0) { $0 + $1.oomKills }, latest: latest, points: points)
        }
    }

    /// `90s`, `15m`, `1h`, `24h`, `7d` as seconds (at most the 30 days kept).
    static func window(_ text: String) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let n = Int(text.dropLast()), n > 0, n * unit <= MetricsStore.coarseRetention else {
            throw HopError.invalid("`\(text)` is not a window", hint: "say how far back with a number and s, m, h or d (e.g. 15m, 24h, 7d; at most 30d)")
        }
        return n * unit
    }
}
