import Foundation
import HopBasics
import HopStore
import Runtime

/// One interval of the machine.
public struct HostPoint: Codable, Sendable, Equatable {
    public var start: String
    public var seconds: Int
    /// Busy share of all cores, 0–100.
    public var cpuPercent: Double?
    public var memoryUsed: Int64
    public var memoryTotal: Int64
    public var diskUsed: Int64
    public var diskTotal: Int64
    public var load1: Double
    init(_ b: HostBucket, seconds: Int) {
        start = isoTime(Date(timeIntervalSince1970: TimeInterval(b.start)))
        self.seconds = seconds
        cpuPercent = b.cpuPercent.map { ($0 * 10).rounded() / 10 }
        memoryUsed = b.memoryUsed; memoryTotal = b.memoryTotal; diskUsed = b.diskUsed; diskTotal = b.diskTotal; load1 = b.load1
    }
}

/// One app's share of the machine over the window.
public struct AppShare: Codable, Sendable, Equatable {
    public var app: String
    /// CPU used, in percent of one core, over the window.
    public var cpuPercent: Double
    /// Memory in use at the last reading (all processes).
    public var memory: Int64
    public var requests: Int
}

public struct HostMetricsResult: Codable, Sendable {
    public var since: String
    public var until: String
    public var cores: Int
    public var points: [HostPoint]
    public var apps: [AppShare]
}

public enum HostMetrics: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        /// How far back: `15m`, `1h`, `24h`, `7d` (default 1h, at most 30d).
        public var since: String?
        /// At most this many points (intervals merged into wider ones).
        public var points: Int?
        public init(since: String? = nil, points: Int? = nil) { self.since = since; self.points = points }
        public static var fieldSchemas: [String: JSONValue] { ["points": ["type": "integer", "minimum": 10, "maximum": 10000]] }
    }
    public static let name = "hostMetrics"
    public static let summary = "The machine's CPU, memory, disk and load over a window, and each app's share of CPU, memory and requests."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/host/metrics")
    public static func run(_ input: Input, _ call: OperationCall) throws -> HostMetricsResult {
        try call.ops.hostMetrics(since: input.since, points: input.points)
    }
}

extension Operations {
    public func hostMetrics(since: String?, points: Int?, now: Date = Date()) throws -> HostMetricsResult {
        let window = try Self.window(since ?? "1h")
        if let points, points < 10 || points > 10_000 { throw HopError.invalid("`points` must be between 10 and 10000") }
        try ctx.authorize(.admin, app: nil, action: "read the host's measures")
        let store = try MetricsStore(path: ctx.home.root + "/metrics.db")
        let to = Int(now.timeIntervalSince1970) + 1
        let from = (to - window) / MetricsStore.fineWidth * MetricsStore.fineWidth
        var host = try store.host(from: from, to: to)
        let step = Self.step(window: window, points: points)
        if let step {
            var merged: [Int: HostBucket] = [:]
            for b in host { merged[b.start / step * step, default: HostBucket(start: b.start / step * step)].merge(b) }
            host = merged.values.sorted { $0.start < $1.start }
        }
        var apps: [AppShare] = []
        for app in try store.processApps(from: from, to: to) {
            let procs = try store.processes(app: app, from: from, to: to)
            let cpu = Double(procs.reduce(Int64(0)) { $0 + $1.cpuNanos }) / 1e9 / Double(max(1, to - from)) * 100
            let last = procs.map(\.start).max() ?? 0
            let memory = procs.filter { $0.start == last }.reduce(Int64(0)) { $0 + ($1.memory ?? 0) }
            let requests = try store.requests(app: app, from: from, to: to).reduce(0) { $0 + $1.requests }
            apps.append(AppShare(app: app, cpuPercent: (cpu * 100).rounded() / 100, memory: memory, requests: requests))
        }
        return HostMetricsResult(since: isoTime(Date(timeIntervalSince1970: TimeInterval(to - window))), until: isoTime(now),
                                 cores: ProcessInfo.processInfo.activeProcessorCount,
                                 points: host.map { HostPoint($0, seconds: step ?? Self.width($0.start, now: now)) },
                                 apps: apps.sorted { $0.cpuPercent > $1.cpuPercent })
    }
}
