import Foundation
import HopStore

// The request side of issue 23's measures, as pure functions: what nginx logs for each request,
// how a log is read incrementally, and how requests become per-app buckets (HopStore's
// `RequestBucket`: counts by status class, bytes, a latency histogram). Not wired in yet: nginx
// does not write this log (see the note). Everything here is deterministic and unit-tested.

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

public enum RequestBuckets {
    /// Requests grouped by app (through `serverNames`) and interval of `width` seconds; requests
    /// for names no app has (the default server, hop's own site) are left out.
    public static func aggregate(_ records: [AccessRecord], serverNames: [String: String], width: Int = 10) -> [String: [RequestBucket]] {
        var byApp: [String: [Int: RequestBucket]] = [:]
        for r in records {
            guard let app = serverNames[r.serverName] else { continue }
            let start = Int(r.time.rounded(.down)) / width * width
            byApp[app, default: [:]][start, default: RequestBucket(start: start)].add(status: r.status, seconds: r.seconds, bytes: r.bytes)
        }
        return byApp.mapValues { $0.values.sorted { $0.start < $1.start } }
    }

}
