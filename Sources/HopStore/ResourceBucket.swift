import Foundation

// Resource measures as records: what `MetricsStore` keeps per app process and for the host, per
// interval. Counters (CPU time, restarts, OOM kills) are stored as what was used in the interval,
// gauges (memory, tasks, instances) as the highest reading in it, so buckets of one interval
// (the timer's and a `hop metrics`) and a coarser downsample merge the same way.

/// One process type of an app (all its running instances together) over one interval.
public struct ProcessBucket: Codable, Equatable, Sendable {
    public var app: String
    public var process: String
    public var start: Int
    /// CPU time used in the interval, in nanoseconds.
    public var cpuNanos: Int64 = 0
    /// The highest memory in use and the memory limit (summed over instances), in bytes; nil when
    /// systemd could not say.
    public var memory: Int64?
    public var memoryLimit: Int64?
    public var tasks: Int?
    /// Restarts systemd made and processes the kernel killed for memory, in the interval.
    public var restarts: Int = 0
    public var oomKills: Int = 0
    /// Instances running at the busiest reading.
    public var instances: Int = 0

    public init(app: String, process: String, start: Int) { self.app = app; self.process = process; self.start = start }

    public mutating func merge(_ o: ProcessBucket) {
        cpuNanos += o.cpuNanos
        restarts += o.restarts
        oomKills += o.oomKills
        memory = Self.maxOptional(memory, o.memory)
        memoryLimit = Self.maxOptional(memoryLimit, o.memoryLimit)
        tasks = Self.maxOptional(tasks, o.tasks)
        instances = max(instances, o.instances)
    }

    static func maxOptional<T: Comparable>(_ a: T?, _ b: T?) -> T? {
        switch (a, b) {
        case let (x?, y?): return max(x, y)
        default: return a ?? b
        }
    }
}

/// The machine over one interval: CPU time busy and elapsed (all cores, from /proc/stat), memory,
/// the disk holding hop's state, and the 1-minute load.
public struct HostBucket: Codable, Equatable, Sendable {
    public var start: Int
    public var cpuBusyTicks: Int64 = 0
    public var cpuTotalTicks: Int64 = 0
    public var memoryUsed: Int64 = 0
    public var memoryTotal: Int64 = 0
    public var diskUsed: Int64 = 0
    public var diskTotal: Int64 = 0
    public var load1: Double = 0

    public init(start: Int) { self.start = start }

    public mutating func merge(_ o: HostBucket) {
        cpuBusyTicks += o.cpuBusyTicks
        cpuTotalTicks += o.cpuTotalTicks
        memoryUsed = max(memoryUsed, o.memoryUsed)
        memoryTotal = max(memoryTotal, o.memoryTotal)
        diskUsed = max(diskUsed, o.diskUsed)
        diskTotal = max(diskTotal, o.diskTotal)
        load1 = max(load1, o.load1)
    }

    /// Busy share of all cores in the interval, 0–100; nil when nothing elapsed.
    public var cpuPercent: Double? { cpuTotalTicks > 0 ? Double(cpuBusyTicks) * 100 / Double(cpuTotalTicks) : nil }
}
