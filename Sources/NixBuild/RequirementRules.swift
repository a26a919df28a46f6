import AppSpec
import Foundation
import HopBasics

/// What a tenant's Python requirements may say (pure). Only packages from the index or the
/// operator's wheelhouse are resolved: a local path (`./evil`, a PEP 517 project with an in-tree
/// backend), a VCS or URL requirement, or a pip option that reads another file or index would
/// make pip fetch or run what hop never hashes, so each is a located error before pip runs.
extension Locker {
    /// Options a requirements file may carry: they change how pip picks among index artifacts only.
    static let allowedRequirementOptions = ["--hash", "--pre", "--prefer-binary", "--require-hashes", "--only-binary", "--no-binary"]

    /// Checks every line of a requirements.txt; errors are located at line and column.
    public static func checkRequirementsFile(_ text: String, file: String) throws {
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            let body = line.trimmingCharacters(in: .whitespaces)
            guard !body.isEmpty, body != "\\" else { continue }
            let column = line.distance(from: line.startIndex, to: line.firstIndex(where: { !$0.isWhitespace }) ?? line.startIndex) + 1
            try checkRequirement(body, at: SourceLocation(file: file, line: n + 1, column: column))
        }
    }

    /// Checks one requirement line (a name with optional extras, version and marker, then options).
    public static func checkRequirement(_ line: String, at location: SourceLocation) throws {
        let body = line.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\\")).trimmingCharacters(in: .whitespaces)
        guard !body.isEmpty else { return }
        let words = body.split(whereSeparator: \.isWhitespace).map(String.init)
        let shown = printable(body)
        let fix = "name a package from the index or the wheelhouse (`name==1.2`); build local code as part of the app's own tree instead"
        if body.hasPrefix("-") {
            for w in words where w.hasPrefix("-") {
                let option = String(w.split(separator: "=", maxSplits: 1).first ?? "")
                guard allowedRequirementOptions.contains(option) else {
                    throw HopError.invalid("the requirement option `\(printable(option))` is not allowed: it makes pip read another file, index or source tree",
                                           at: location, hint: "remove it; the index and wheelhouse are the operator's (--find-links, HOP_INDEX_URL), and every requirement goes in this file")
                }
            }
            return
        }
        // The requirement itself: up to its options, and the marker after `;` left aside.
        let spec = words.prefix { !$0.hasPrefix("-") }.joined(separator: " ")
        let beforeMarker = String(spec.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        let lowered = beforeMarker.lowercased()
        let vcs = ["git+", "hg+", "svn+", "bzr+"]
        if vcs.contains(where: { lowered.hasPrefix($0) || lowered.contains("@ " + $0) || lowered.contains("@" + $0) }) {
            throw HopError.invalid("the requirement \(quote(shown)) is fetched from version control", at: location,
                                   hint: "hop resolves only hashed artifacts from the index or the wheelhouse; \(fix)")
        }
        if lowered.contains("://") || lowered.hasPrefix("file:") {
            throw HopError.invalid("the requirement \(quote(shown)) is a direct URL", at: location,
                                   hint: "hop resolves only from the index or the wheelhouse; \(fix)")
        }
        if beforeMarker.hasPrefix(".") || beforeMarker.hasPrefix("/") || beforeMarker.hasPrefix("~")
            || beforeMarker.contains("/") || beforeMarker.contains("\\") {
            throw HopError.invalid("the requirement \(quote(shown)) is a local path", at: location,
                                   hint: "a local project would run its own build code while hop resolves; \(fix)")
        }
        if let option = words.first(where: { $0.hasPrefix("-") }).map({ String($0.split(separator: "=", maxSplits: 1).first ?? "") }),
           !allowedRequirementOptions.contains(option) {
            throw HopError.invalid("the requirement option `\(printable(option))` is not allowed", at: location,
                                   hint: "only --hash (and --pre, --prefer-binary) may follow a requirement")
        }
    }

    /// The file the app's requirement lines come from, for locating errors in lines hop assembled.
    static func pythonRequirementsSource(appDir: String) -> String {
        for f in ["requirements.txt", "uv.lock", "poetry.lock", "pyproject.toml"]
        where FileManager.default.fileExists(atPath: appDir + "/" + f) { return f }
        return "hop3.toml"
    }

    static func printable(_ s: String) -> String {
        String(s.unicodeScalars.prefix(200).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }
}
