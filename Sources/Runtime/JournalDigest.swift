import Foundation

/// What a failed start's journal says, short: the first error the app raised (with the traceback
/// leading to it), then the last lines. A server that wraps the app (gunicorn) logs its own
/// traceback last, which hides the app's `ModuleNotFoundError` above it.
public enum JournalDigest {
    public static func summary(_ lines: [String], context: Int = 12, tail: Int = 6) -> String {
        func isErrorLine(_ l: String) -> Bool {
            let t = l.trimmingCharacters(in: .whitespaces)
            guard let colon = t.firstIndex(of: ":") else { return false }
            let name = t[..<colon]
            guard !name.isEmpty, !name.contains(" "), name.first!.isLetter else { return false }
            return (name.hasSuffix("Error") || name.hasSuffix("Exception") || name.hasSuffix("Exit")) && !name.hasPrefix("gunicorn.")
        }
        var out: [String] = []
        if let first = lines.firstIndex(where: isErrorLine) {
            let start = lines[..<first].lastIndex { $0.contains("Traceback (most recent call last)") }.map { max($0, first - context) } ?? max(0, first - 2)
            out = Array(lines[start...first])
            if lines.count - 1 - first > tail { out.append("…") }
        }
        let lastStart = max(out.isEmpty ? 0 : (lines.firstIndex(where: isErrorLine)! + 1), lines.count - tail)
        out += lines[lastStart...]
        return out.joined(separator: "\n")
    }
}
