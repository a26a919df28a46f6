import ArgumentParser
import Foundation
import HopBasics

/// Writes command output. Data goes to stdout; progress and diagnostics to stderr.
/// The output flags every command shares (`@OptionGroup var outputOptions: OutputOptions`).
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the result as JSON: one line, sorted keys, the same shape as the HTTP API's; errors as {\"error\": {…}}.")
    var json = false
}

enum Out {
    static func line(_ s: String = "") { print(s) }

    static func err(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    /// Stable JSON: sorted keys, no escaped slashes, one line, trailing newline — the same form
    /// `emit` writes for Codable results, so every `--json` output has one form.
    static func json(_ value: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
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

/// Rows under a header, each column as wide as its widest cell plus two spaces; the last column
/// is not padded (no trailing blanks). Pure, so list commands render alike and are unit-tested.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells) }
    mutating func add(_ cells: [String]) { rows.append(cells) }

    /// The lines to print: the header and one line per row; no lines at all when there are no rows
    /// (the command says "no …" instead).
    var lines: [String] {
        guard !rows.isEmpty else { return [] }
        let all = [header] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for r in all { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return all.map { r in
            var line = ""
            for (i, c) in r.enumerated() {
                line += i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count + 2)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    /// Prints the table, or `empty` when there are no rows.
    func print(empty: String) {
        if rows.isEmpty { Out.line(empty); return }
        for l in lines { Out.line(l) }
    }
}

/// Whether a destructive command goes ahead: `--yes` says so; otherwise a person at a terminal
/// must confirm, and anything else (a script, a pipe, `--json`) is refused before anything changes.
enum ConfirmGate: Equatable {
    case proceed
    case ask
    case refuse

    /// Whether a person can be asked: stdin (the answer) and stderr (the question) are terminals.
    static var interactive: Bool { isatty(0) != 0 && isatty(2) != 0 }

    /// The decision before any question: `interactive` means stdin and stderr are terminals.
    static func decide(yes: Bool, json: Bool, interactive: Bool) -> ConfirmGate {
        if yes { return .proceed }
        if json || !interactive { return .refuse }
        return .ask
    }

    /// Whether an answer confirms: the exact name when there is one to type, else y or yes.
    static func accepts(_ answer: String?, expected: String?) -> Bool {
        guard let a = answer?.trimmingCharacters(in: .whitespaces) else { return false }
        if let expected { return a == expected }
        return ["y", "yes"].contains(a.lowercased())
    }

    /// The whole gate for a command: proceeds, or throws exit 2 naming `--yes` (nothing changed).
    /// `what` says what would be lost ("delete blog's config, data and its own addons");
    /// `expected` is the name to type, nil for a y/N question.
    static func require(_ what: String, command: String, expected: String?, yes: Bool, json: Bool,
                        interactive: Bool = ConfirmGate.interactive,
                        readAnswer: () -> String? = { readLine(strippingNewline: true) }) throws {
        switch decide(yes: yes, json: json, interactive: interactive) {
        case .proceed: return
        case .refuse:
            throw HopError.invalid("`hop \(command)` would \(what); it needs confirmation and \(json ? "--json cannot ask" : "there is no terminal to ask on"); nothing was changed",
                                   hint: "add --yes to confirm: `hop \(command) --yes`")
        case .ask:
            let prompt = expected.map { "This will \(what).\nType the app name (\($0)) to confirm: " } ?? "This will \(what).\nContinue? [y/N] "
            FileHandle.standardError.write(Data(prompt.utf8))
            guard accepts(readAnswer(), expected: expected) else {
                throw HopError.invalid("not confirmed; nothing was changed", hint: expected.map { "type \($0) exactly, or pass --yes" } ?? "answer y, or pass --yes")
            }
        }
    }
}
