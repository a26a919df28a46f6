import Foundation
import HopBasics

/// A store path's registration, as Nix reports it.
public struct PathInfo: Sendable, Hashable, Codable {
    public var path: String
    public var narHash: String
    public var narSize: Int64
    public var deriver: String?
    public var references: [String]

    public init(path: String, narHash: String, narSize: Int64, deriver: String?, references: [String]) {
        self.path = path; self.narHash = narHash; self.narSize = narSize; self.deriver = deriver; self.references = references
    }
}

/// Progress of a running build, parsed from Nix's log.
public struct BuildProgress: Sendable {
    public var built: Int
    public var total: Int
    public var current: String?
}

/// Read-only answers about what is registered in the Nix store, without a Nix process: the
/// validity and closure questions a build asks on its critical path (each `nix-store` / `nix`
/// call costs 40–70 ms here, mostly start-up). HopStore's `NixStoreDatabase` reads Nix's own
/// database; any error makes `NixDriver` ask the command line instead.
public protocol NixStoreQueries: Sendable {
    /// The paths among `paths` registered as valid.
    func validPaths(among paths: [String]) throws -> Set<String>
    /// Every path of the runtime closure of `paths` with its registration (as `nix path-info
    /// --json --recursive` gives it: SRI NAR hash, sorted references), sorted by path. Throws when
    /// one of `paths` is not valid.
    func closure(of paths: [String]) throws -> [PathInfo]
}

/// Drives the Nix 2.8 command line. Sandbox on and substituters off on every call, whatever
/// nix.conf says: builds must be hermetic and must not wait on an unreachable cache.
public struct NixDriver: Sendable {
    public let runner: any ProcessRunner
    /// Answers validity and closure queries without a Nix process when set (see `NixStoreQueries`).
    public var store: (any NixStoreQueries)?
    public init(runner: any ProcessRunner, store: (any NixStoreQueries)? = nil) { self.runner = runner; self.store = store }

    static let options = ["--option", "sandbox", "true", "--option", "substituters", ""]

    func nixFailure(_ what: String) -> (ProcessResult) -> HopError {
        { r in HopError(.environment, "\(what) failed (exit \(r.status))", hint: "run `hop doctor`", detail: r.stderrTail(10)) }
    }

    /// Adds a file (flat) or a directory (recursive) as a content-addressed path; returns it.
    public func addFixed(_ path: String, recursive: Bool) throws -> String {
        var args = ["--add-fixed", "sha256"]
        if recursive { args.append("--recursive") }
        args.append(path)
        return try runner.output(Command("nix-store", args), failure: nixFailure("nix-store --add-fixed \(path)"))
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func narHash(_ storePath: String) throws -> String {
        try runner.output(Command("nix-store", ["--query", "--hash", storePath]), failure: nixFailure("nix-store --query --hash"))
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The paths among `paths` that are not valid in the store, in one nix-store call.
    public func invalidPaths(_ paths: [String]) throws -> Set<String> {
        if paths.isEmpty { return [] }
        if let store, let valid = try? store.validPaths(among: paths) { return Set(paths).subtracting(valid) }
        let out = try runner.output(Command("nix-store", ["--check-validity", "--print-invalid"] + paths),
                                    failure: nixFailure("nix-store --check-validity"))
        return Set(out.split(separator: "\n").map(String.init))
    }

    public func isValid(_ storePath: String) -> Bool {
        if let store, let valid = try? store.validPaths(among: [storePath]) { return valid.contains(storePath) }
        return (try? runner.run(Command("nix-store", ["--check-validity", storePath])))?.succeeded ?? false
    }

    /// Checks that an expression parses (`nix-instantiate --parse`).
    public func parse(_ file: String) throws {
        let r = try runner.run(Command("nix-instantiate", ["--parse", file]))
        guard r.succeeded else {
            throw HopError(.internalError, "hop generated an expression Nix cannot parse: \(file)", detail: r.stderrTail(10))
        }
    }

    /// Evaluates an expression to its derivation path.
    public func instantiate(_ file: String) throws -> String {
        let r = try runner.run(Command("nix-instantiate", Self.options + [file]))
        guard r.succeeded else {
            throw HopError(.buildFailed, "evaluating \(file) failed", hint: "the expression is kept at \(file)", detail: r.stderrTail(15))
        }
        return r.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// The output path a derivation will produce (without building).
    public func outputPath(of drv: String) throws -> String {
        // The derivation file says it (read, not parsed by a Nix call: ~20 ms saved per build).
        if let text = try? String(contentsOfFile: drv, encoding: .utf8), let out = derivationOutPath(text) { return out }
        return try runner.output(Command("nix-store", ["--query", "--outputs", drv]), failure: nixFailure("nix-store --query --outputs"))
            .split(separator: "\n").first.map(String.init) ?? ""
    }

    /// Realises a derivation, registering `root` as an indirect GC root. The log streams to
    /// `progress` (derivations built of total, current one) and `log`. Returns the root.
    @discardableResult
    public func build(drv: String, root: String, progress: (@Sendable (BuildProgress) -> Void)? = nil,
                      log: (@Sendable (String) -> Void)? = nil) throws -> String {
        let (r, _) = try runBuild(Command("nix-store", Self.options + ["--realise", drv, "--add-root", root, "--indirect"]),
                                  failed: "building \(drv) failed", hint: "the log tail is below; `nix-store --read-log DRV` shows the whole log",
                                  progress: progress, log: log)
        return r.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// Runs a Nix command that builds, streaming its log to `progress` and `log`; a failure is a
    /// `.buildFailed` naming the builder that failed when Nix says which. Returns the result and
    /// the derivations Nix said it built.
    func runBuild(_ command: Command, failed what: String, hint: String, progress: (@Sendable (BuildProgress) -> Void)?,
                  log: (@Sendable (String) -> Void)?) throws -> (ProcessResult, built: [String]) {
        let state = ProgressState()
        let r = try runner.run(command) { line in
            log?(line)
            if let p = state.update(line) { progress?(p) }
        }
        guard r.succeeded else {
            let failed = r.stderrText.split(separator: "\n").last { $0.contains("builder for") }.map(String.init)
            throw HopError(.buildFailed, failed ?? what, hint: hint, detail: r.stderrTail(25))
        }
        return (r, state.builtDerivations)
    }

    /// Evaluates an expression and realises it in one Nix process (`nix-build --out-link ROOT`,
    /// an indirect GC root like `build`'s): one start-up and store connection instead of the two
    /// of `instantiate` + `build`. Returns the output path and the derivation that built it when
    /// this call built it (read from Nix's "building '….drv'" line whose output it is; Nix 2.8's
    /// `nix-build` ignores `--drv-link`); nil when the output was already valid — then only
    /// `instantiate` can say which derivation the expression is. The log streams to `progress`
    /// and `log` as `build`'s.
    public func buildExpression(_ file: String, root: String,
                                progress: (@Sendable (BuildProgress) -> Void)? = nil,
                                log: (@Sendable (String) -> Void)? = nil) throws -> (out: String, builtBy: String?) {
        let (r, built) = try runBuild(Command("nix-build", Self.options + [file, "--out-link", root]),
                                      failed: "evaluating or building \(file) failed",
                                      hint: "the expression is kept at \(file); `nix-store --read-log DRV` shows a build's whole log",
                                      progress: progress, log: log)
        let out = r.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
        // The builder's own output reaches the same stderr: a tenant's build can print a
        // "building '…'" line of its choosing. Only a store derivation is looked at (a name of
        // Nix's shape, a regular file of bounded size, read without following a link), and only
        // one whose output is the result counts.
        let builtBy = built.last { drv in Self.isStoreDerivationPath(drv) && Self.smallFile(drv).flatMap(derivationOutPath) == out }
        return (out, builtBy)
    }

    /// `/nix/store/<32 base-32 characters>-<name>.drv`, nothing else (no `..`, no other directory).
    static func isStoreDerivationPath(_ p: String) -> Bool {
        let prefix = "/nix/store/"
        guard p.hasPrefix(prefix), p.hasSuffix(".drv") else { return false }
        let base = p.dropFirst(prefix.count)
        let hash = base.prefix(32)
        let alphabet = Set("0123456789abcdfghijklmnpqrsvwxyz")
        return hash.count == 32 && hash.allSatisfy { alphabet.contains($0) } && base.dropFirst(32).first == "-"
            && !base.contains("/") && base != "." && !base.contains("..")
    }

    /// A regular file's text when it is at most 1 MB, opened without following a link.
    static func smallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= 1 << 20 else { return nil }
        return try? FileHandle(fileDescriptor: fd, closeOnDealloc: false).readToEnd().map { String(decoding: $0, as: UTF8.self) }
    }

    /// Rebuilds an already-built derivation and compares (`nix-store --realise --check`).
    /// Returns nil when identical, or the stderr explaining the difference.
    public func check(drv: String, keep: Bool = false) throws -> (identical: Bool, log: String) {
        var args = Self.options + ["--realise", drv, "--check"]
        if keep { args.append("--keep-failed") }
        let r = try runner.run(Command("nix-store", args))
        // --keep-failed is for the `.check` output; the build directory it also keeps in /tmp is
        // not needed (the differences are read from the two outputs), so it is removed.
        for line in r.stderrText.split(separator: "\n") where line.contains("keeping build directory '") {
            let parts = line.split(separator: "'")
            if parts.count >= 2, parts[1].hasPrefix("/tmp/nix-build-") || parts[1].hasPrefix("/build/") {
                try? FileManager.default.removeItem(atPath: String(parts[1]))
            }
        }
        if r.succeeded { return (true, r.stderrText) }
        if r.stderrText.contains("may not be deterministic") { return (false, r.stderrText) }
        throw HopError(.couldNotCheck, "the rebuild check of \(drv) could not run", detail: r.stderrTail(15))
    }

    /// Every path of the runtime closure of `paths`, with hashes, sizes, deriver and references.
    public func closure(of paths: [String]) throws -> [PathInfo] {
        if let store, let infos = try? store.closure(of: paths) { return infos }
        let out = try runner.output(Command("nix", ["--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive"] + paths),
                                    failure: nixFailure("nix path-info"))
        guard let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] else {
            throw HopError(.internalError, "nix path-info --json did not return a list")
        }
        return list.compactMap { o in
            guard let path = o["path"] as? String, let nar = o["narHash"] as? String else { return nil }
            let size = (o["narSize"] as? NSNumber)?.int64Value ?? 0
            let deriver = (o["deriver"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            return PathInfo(path: path, narHash: nar, narSize: size, deriver: deriver,
                            references: ((o["references"] as? [String]) ?? []).sorted())
        }.sorted { $0.path < $1.path }
    }

    /// The input derivations of a derivation (direct), for the "what rebuilds" assertions.
    public func inputDerivations(of drv: String) throws -> [String] {
        let out = try runner.output(Command("nix", ["--extra-experimental-features", "nix-command", "show-derivation", drv]),
                                    failure: nixFailure("nix show-derivation"))
        guard let o = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: [String: Any]],
              let d = o[drv], let inputs = d["inputDrvs"] as? [String: Any] else { return [] }
        return inputs.keys.sorted()
    }

    /// `nix-store --add-root ROOT --realise PATH`: keeps an existing path alive.
    public func addRoot(_ root: String, for path: String) throws {
        try runner.output(Command("nix-store", ["--add-root", root, "--indirect", "--realise", path]), failure: nixFailure("registering GC root \(root)"))
    }
}

/// Tracks "these N derivations will be built" and "building '…'" lines.
final class ProgressState: @unchecked Sendable {
    private let lock = NSLock()
    private var built = 0, total = 0
    private var drvs: [String] = []
    /// The derivations Nix said it built, in order.
    var builtDerivations: [String] { lock.withLock { drvs } }
    func update(_ line: String) -> BuildProgress? {
        lock.withLock {
            if line.hasPrefix("these "), line.contains("derivations will be built"),
               let n = Int(line.split(separator: " ")[1]) {
                total = n
                return BuildProgress(built: 0, total: total, current: nil)
            }
            if line.hasPrefix("this derivation will be built") { total = 1; return BuildProgress(built: 0, total: 1, current: nil) }
            if line.hasPrefix("building '"), let drv = line.split(separator: "'").dropFirst().first {
                built += 1
                drvs.append(String(drv))
                let name = String(drv.split(separator: "/").last ?? drv).split(separator: "-", maxSplits: 1).last.map(String.init) ?? String(drv)
                return BuildProgress(built: built, total: max(total, built), current: name.replacingOccurrences(of: ".drv", with: ""))
            }
            return nil
        }
    }
}

/// The derivation an expression file instantiated to last time, kept next to it. An expression
/// hop renders names every input by store path (seeds, the library, the source archive, wheels),
/// so the same text evaluated by the same Nix gives the same derivation: the no-op rebuild skips
/// `nix-instantiate` and `nix-store --query --outputs` (both paths are still checked for validity,
/// in the build's one `--check-validity` call).
public struct DerivationCache: Sendable {
    public let file: String
    public init(file: String) { self.file = file }

    /// The key: the expression's SHA-256 and the Nix evaluating it (its resolved executable, a
    /// store path that changes with the version).
    public static func key(expression: String) -> String {
        sha256Hex(Data(expression.utf8)) + " " + nixIdentity
    }

    static let nixIdentity: String = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = String(dir) + "/nix-instantiate"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path
            }
        }
        return "nix-instantiate"
    }()

    public func lookup(expression: String) -> (drv: String, out: String)? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count == 3, lines[0] == Self.key(expression: expression),
              lines[1].hasPrefix("/nix/store/"), lines[1].hasSuffix(".drv"), lines[2].hasPrefix("/nix/store/") else { return nil }
        return (lines[1], lines[2])
    }

    public func save(expression: String, drv: String, out: String) {
        try? writeFileAtomically(file, "\(Self.key(expression: expression))\n\(drv)\n\(out)\n", mode: 0o600)
    }
}

/// The `out` output path written in a derivation file (`Derive([("out","/nix/store/…",…`), or nil
/// when the file does not read that way.
public func derivationOutPath(_ drvText: String) -> String? {
    let prefix = "Derive([(\"out\",\""
    guard drvText.hasPrefix(prefix) else { return nil }
    let rest = drvText.dropFirst(prefix.count)
    guard let end = rest.firstIndex(of: "\"") else { return nil }
    let path = String(rest[..<end])
    return path.hasPrefix("/nix/store/") ? path : nil
}
