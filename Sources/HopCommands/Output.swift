import Foundation
import HopBasics

/// Writes command output. Data goes to stdout; progress and diagnostics to stderr.
enum Out {
    static func line(_ s: String = "") { print(s) }

    static func err(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    /// Stable JSON: sorted keys, no escaped slashes, trailing newline.
    static func json(_ value: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    static var stderrIsTTY: Bool { isatty(2) != 0 }

    /// A progress line: redrawn in place on a terminal, one line per update otherwise.
    static func progress(_ s: String) {
        if stderrIsTTY { FileHandle.standardError.write(Data(("\r\u{1B}[K" + s).utf8)) } else { err(s) }
    }
    static func endProgress() { if stderrIsTTY { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

func humanBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), i = 0
    while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
    return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
}

func iso(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: d)
}
