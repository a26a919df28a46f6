import Foundation

/// What a failed start's journal says, short: the first error the app raised (with the traceback
/// leading to it), then the last distinct lines. A server that wraps the app (gunicorn) logs its own
/// traceback last, which hides the app's `ModuleNotFoundError` above it; and a server that restarts
/// a dying worker repeats the same few lines for the whole gate window, so the tail counts repeats
/// (lines that differ only in their digits: a pid, a time) instead of showing one cycle by chance.
public enum JournalDigest {
    public static func summary(_ lines: [String], context: Int = 12, tail: Int = 8) -> String {
        func isErrorLine(_ l: String) -> Bool {
            let t = l.trimmingCharacters(in: .whitespaces)
            guard let colon = t.firstIndex(of: ":") else { return false }
            let name = t[..<colon]
            guard !name.isEmpty, !name.contains(" "), name.first!.isLetter else { return false }
            return (name.hasSuffix("Error") || name.hasSuffix("Exception") || name.hasSuffix("Exit")) && !name.hasPrefix("gunicorn.")
        }
        var out: [String] = []
        let firstError = lines.firstIndex(where: isErrorLine)
        if let first = firstError {
            let start = lines[..<first].lastIndex { $0.contains("Traceback (most recent call last)") }.map { max($0, first - context) } ?? max(0, first - 2)
            out = Array(lines[start...first])
        }
        let rest = lines[(firstError.map { $0 + 1 } ?? 0)...]
        let last = lastDistinct(Array(rest), count: tail)
        // Lines left out (older ones, or repeats) are marked, between the error and the tail.
        if last.count < rest.count { out.append("…") }
        out += last.map { $0.repeats > 1 ? "\($0.line) (×\($0.repeats))" : $0.line }
        return out.joined(separator: "\n")
    }

    /// The line with each run of digits replaced by `#`: its shape, the same for every cycle of a loop.
    public static func shape(_ line: String) -> String {
        var s = ""
        var inDigits = false
        for c in line.unicodeScalars {
            if ("0"..."9").contains(c) {
                if !inDigits { s.append("#") }
                inDigits = true
            } else {
                s.unicodeScalars.append(c)
                inDigits = false
            }
        }
        return s
    }

    /// Walking back from the end, the last `count` lines of distinct shapes, in their order, each with
    /// how many lines of its shape `lines` holds.
    static func lastDistinct(_ lines: [String], count: Int) -> [(index: Int, line: String, repeats: Int)] {
        var repeats: [String: Int] = [:]
        for l in lines { repeats[shape(l), default: 0] += 1 }
        var seen = Set<String>()
        var picked: [(index: Int, line: String, repeats: Int)] = []
        var i = lines.count - 1
        while i >= 0 && picked.count < count {
            let s = shape(lines[i])
            if seen.insert(s).inserted { picked.append((i, lines[i], repeats[s] ?? 1)) }
            i -= 1
        }
        return picked.reversed()
    }
}
