import Foundation

// Request measures as records: what `MetricsStore` keeps per app and interval. Built from nginx's
// metrics log by Runtime's `RequestBuckets`.

/// Request durations counted in fixed buckets, so that buckets of many intervals and apps merge
/// by addition and percentiles come out of any merge.
public struct LatencyHistogram: Codable, Equatable, Sendable {
    /// Upper bounds in milliseconds; one more count holds everything above the last.
    public static let boundsMilliseconds: [Double] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
    public private(set) var counts: [Int]
    /// The durations' sum in microseconds (a Prometheus histogram's `_sum`).
    public private(set) var sumMicroseconds: Int64 = 0

    public init() { counts = Array(repeating: 0, count: Self.boundsMilliseconds.count + 1) }

    /// Counts as stored (one per bound, then the overflow); nil for any other length or a negative.
    public init?(counts: [Int], sumMicroseconds: Int64 = 0) {
        guard counts.count == Self.boundsMilliseconds.count + 1, counts.allSatisfy({ $0 >= 0 }), sumMicroseconds >= 0 else { return nil }
        self.counts = counts
        self.sumMicroseconds = sumMicroseconds
    }

    /// As stored: the counts, comma-separated, then `;` and the sum.
    public var stored: String { counts.map(String.init).joined(separator: ",") + ";\(sumMicroseconds)" }

    /// A stored histogram (a sum-less one reads with sum 0); nil when it is not one.
    public init?(stored: String) {
        // One pass over the bytes, no substrings: a 7-day graph reads ~10,000 of these.
        var counts: [Int] = []
        counts.reserveCapacity(Self.boundsMilliseconds.count + 1)
        var value: Int64 = 0, digits = 0, inSum = false
        var sum: Int64 = 0
        for b in stored.utf8 {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(b - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                value = a; digits += 1
            case UInt8(ascii: ",") where !inSum:
                guard digits > 0 else { return nil }
                counts.append(Int(value)); value = 0; digits = 0
            case UInt8(ascii: ";") where !inSum:
                guard digits > 0 else { return nil }
                counts.append(Int(value)); value = 0; digits = 0; inSum = true
            default:
                return nil
            }
        }
        guard digits > 0 else { return nil }
        if inSum { sum = value } else { counts.append(Int(value)) }
        self.init(counts: counts, sumMicroseconds: sum)
    }

    public var total: Int { counts.reduce(0, +) }

    public mutating func add(seconds: Double) {
        let ms = seconds * 1000
        let i = Self.boundsMilliseconds.firstIndex { ms <= $0 } ?? Self.boundsMilliseconds.count
        counts[i] += 1
        sumMicroseconds += Int64((max(0, seconds) * 1_000_000).rounded())
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
        sumMicroseconds += other.sumMicroseconds
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

    /// One response: `status` in 100–599.
    public mutating func add(status: Int, seconds: Double, bytes: Int64) {
        classes[status / 100 - 1] += 1
        self.bytes += bytes
        latency.add(seconds: seconds)
    }

    public mutating func merge(_ other: RequestBucket) {
        for i in classes.indices { classes[i] += other.classes[i] }
        bytes += other.bytes
        latency.merge(other.latency)
    }
}
