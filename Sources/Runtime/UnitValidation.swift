import Foundation
import HopBasics

/// Checks rendered units with systemd's own tools before hop installs them.
///
/// `systemd-analyze verify` exits 0 for a unit with an unknown key or an unparsable value — systemd
/// only logs "…, ignoring." and runs the service without the setting, which for a hardening
/// directive means silently running unhardened. So `verify` also reads what it logged and reports
/// every such line as a problem.
public enum UnitValidation {
    /// Phrases systemd logs for a setting it dropped or a unit it cannot load.
    static let problemMarkers = [
        "Unknown key", "Unknown section", "Unknown lvalue", "Failed to parse", "Invalid", "invalid",
        "ignoring", "not executable", "not absolute", "Missing", "is not valid", "bad-setting", "Failed to",
    ]

    /// Problems `systemd-analyze verify` finds in `unitText` saved as `name` (empty when there are none).
    ///
    /// The unit is written to a fresh temporary directory that is removed afterwards. The
    /// `ExecStart=` program must exist on this machine: verify checks it.
    /// - Throws: `.invalidInput` for a name that is not a plain unit file name or text with NUL
    ///   (nothing is written then); `.environment` when systemd-analyze cannot be run.
    /// `companions` are units it refers to (a service's socket unit), written beside it.
    public static func verify(unitText: String, name: String, companions: [String: String] = [:],
                              runner: any ProcessRunner = SystemRunner()) throws -> [String] {
        try withUnitFile(unitText: unitText, name: name) { path in
            for (companion, text) in companions {
                try checkUnitFileName(companion)
                try Data(text.utf8).write(to: URL(fileURLWithPath: (path as NSString).deletingLastPathComponent + "/" + companion))
            }
            let result = try runner.run(Command("systemd-analyze", ["verify", "--man=no", path], environment: quietEnvironment))
            var problems: [String] = []
            let lines = (result.stderrText + "\n" + result.stdoutText).split(separator: "\n").map { String($0) }
            for line in lines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                if line.contains(path) || problemMarkers.contains(where: { line.contains($0) }) {
                    problems.append(line.replacingOccurrences(of: path, with: name))
                }
            }
            if !result.succeeded && problems.isEmpty {
                problems.append("systemd-analyze verify exited with status \(result.status): \(result.stderrTail(5))")
            }
            return problems
        }
    }

    /// The "overall exposure level" `systemd-analyze security --offline=true` gives the unit: 0.0
    /// (locked down) to 10.0 (fully exposed). A template unit is scored as its `@i` instance.
    public static func exposure(unitText: String, name: String, runner: any ProcessRunner = SystemRunner()) throws -> Double {
        try withUnitFile(unitText: unitText, name: name) { path in
            let result = try runner.run(Command("systemd-analyze", ["security", "--offline=true", "--no-pager", path],
                                                environment: quietEnvironment))
            guard result.succeeded, let score = parseExposure(result.stdoutText) else {
                throw HopError(.couldNotCheck, "systemd-analyze security could not score \(name)",
                               hint: "run `systemd-analyze security --offline=true <unit file>` to see why",
                               detail: result.stderrTail(10))
            }
            return score
        }
    }

    /// Reads `Overall exposure level for <unit>: 1.2 OK` from `systemd-analyze security` output.
    static func parseExposure(_ output: String) -> Double? {
        for line in output.split(separator: "\n") {
            guard let range = line.range(of: "Overall exposure level for ") else { continue }
            let rest = line[range.upperBound...]
            guard let colon = rest.range(of: ": ") else { continue }
            let number = rest[colon.upperBound...].prefix { $0.isNumber || $0 == "." }
            if let value = Double(number) { return value }
        }
        return nil
    }

    private static let quietEnvironment: [String: String?] = [
        "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "SYSTEMD_LOG_COLOR": "0", "LC_ALL": "C",
    ]

    /// Writes the unit into a private temporary directory, runs `body` with its path, removes it.
    private static func withUnitFile<T>(unitText: String, name: String, _ body: (String) throws -> T) throws -> T {
        try checkUnitFileName(name)
        guard !unitText.contains("\0") else { throw HopError.invalid("the unit text for \(name) contains a NUL byte") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-unit-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw HopError(.environment, "cannot create a temporary directory to check \(name): \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + name
        do {
            try Data(unitText.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw HopError(.environment, "cannot write \(path): \(error)")
        }
        return try body(path)
    }

    /// A unit file name systemd accepts and that cannot leave the directory: `[A-Za-z0-9:_.@-]`,
    /// a known suffix, at most 255 bytes.
    static func checkUnitFileName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.@-\\".unicodeScalars)
        let suffixes = [".service", ".socket", ".timer", ".target", ".path", ".slice", ".mount"]
        guard name.utf8.count <= 255, !name.hasPrefix("."), !name.contains(".."),
              name.unicodeScalars.allSatisfy({ allowed.contains($0) }),
              let suffix = suffixes.first(where: { name.hasSuffix($0) }), name.count > suffix.count else {
            throw HopError.invalid("`\(UnitRenderer.printable(name))` is not a unit file name",
                                   hint: "name units like hop-<app>-g<generation>-<process>@.service")
        }
    }
}
