import Foundation
import HopBasics
import AppSpec
import Crypto

/// A Python artifact pinned by hash. The wheel becomes a fixed-output input of the build.
public struct LockedWheel: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    public var filename: String
    public var url: String
    public var sha256: String
    public var license: String?
}

extension LockedWheel {
    /// An sdist (`.tar.gz`, `.zip`): the package publishes no wheel, so hop builds one in the sandbox.
    public var isSourceDistribution: Bool { filename.hasSuffix(".tar.gz") || filename.hasSuffix(".zip") }
}

/// What hop builds sdists with (setuptools' PEP 517 backend): resolved from the index like any wheel.
public let sdistBuildRequirements = ["setuptools", "wheel"]

/// An npm package from package-lock.json, pinned by its integrity hash.
public struct LockedNpmPackage: Sendable, Hashable, Codable {
    public var path: String
    public var name: String
    public var version: String
    public var url: String
    public var integrity: String
    public var license: String?
}

/// A Go module vendored in the app's tree (from vendor/modules.txt), for the SBOM.
public struct LockedGoModule: Sendable, Hashable, Codable {
    public var path: String
    public var version: String
}

/// A Ruby gem from Gemfile.lock, installed from the app's vendor/cache: the .gem file's sha256.
public struct LockedGem: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    public var file: String
    public var sha256: String
}

/// A PHP package from composer.lock, installed in the app's committed vendor/.
public struct LockedComposerPackage: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    /// The dist archive's sha1 when composer recorded one (`dist.shasum`).
    public var sha1: String?
    public var license: String?
}

/// The resolved, hashed dependency set of one app, stored with every build and written by
/// `hop lock` as `hop.lock` in the app tree. `inputsHash` says which requirement text it
/// resolves, so a stale lock is detected rather than silently used.
public struct DependencyLock: Sendable, Hashable, Codable {
    public var lockVersion = 1
    public var builder: Builder
    public var inputsHash: String
    /// Interpreter/platform the lock was resolved for (python builds), e.g. "cp311-x86_64-linux".
    public var resolvedFor: String?
    public var python: [LockedWheel] = []
    public var npm: [LockedNpmPackage] = []
    public var go: [LockedGoModule] = []
    /// Optional, so locks written before Ruby and PHP builds still decode.
    public var gems: [LockedGem]?
    /// What builds the sdists among `python` inside the sandbox (setuptools, wheel): build-time only.
    public var pythonBuild: [LockedWheel]?
    public var composer: [LockedComposerPackage]?

    public init(builder: Builder, inputsHash: String) {
        self.builder = builder
        self.inputsHash = inputsHash
    }

    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! enc.encode(self), as: UTF8.self) + "\n"
    }

    public static func decode(_ text: String, file: String) throws -> DependencyLock {
        do { return try JSONDecoder().decode(DependencyLock.self, from: Data(text.utf8)) } catch {
            throw HopError.invalid("\(file) is not a valid hop lock: \(error)", at: SourceLocation(file: file),
                                   hint: "regenerate it with `hop lock PATH`")
        }
    }
}

/// Where Python artifacts are resolved from.
public struct PackageIndex: Sendable, Hashable {
    /// Local wheel directories (pip --find-links).
    public var findLinks: [String] = []
    /// Index URL; nil means pip's default (PyPI). Ignored when `offline`.
    public var indexURL: String?
    /// Use only `findLinks` (pip --no-index): offline sites and tests.
    public var offline = false
    public init(findLinks: [String] = [], indexURL: String? = nil, offline: Bool = false) {
        self.findLinks = findLinks; self.indexURL = indexURL; self.offline = offline
    }

    /// `$HOP_FIND_LINKS` (colon-separated; implies offline), `$HOP_INDEX_URL`.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> PackageIndex {
        var i = PackageIndex()
        if let f = env["HOP_FIND_LINKS"], !f.isEmpty { i.findLinks = f.split(separator: ":").map(String.init); i.offline = true }
        if let u = env["HOP_INDEX_URL"], !u.isEmpty { i.indexURL = u }
        return i
    }
}

public enum Locker {
    /// The Python used to resolve: must match the seed interpreter's version (3.11).
    public static func resolverPython(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        env["HOP_PYTHON"] ?? "/usr/bin/python3.11"
    }

    /// Requirement lines for a python app: requirements.txt (comments and blanks dropped), then
    /// `[build] pip-install`, then gunicorn when a `wsgi` process needs hop's WSGI server.
    public static func pythonRequirements(appDir: String, spec: AppSpec) -> [String] {
        var lines: [String] = []
        if let text = try? String(contentsOfFile: appDir + "/requirements.txt", encoding: .utf8) {
            for raw in text.split(whereSeparator: \.isNewline) {
                let l = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                if !l.isEmpty { lines.append(l) }
            }
        } else if let text = try? String(contentsOfFile: appDir + "/uv.lock", encoding: .utf8) {
            // uv's lock: every package pinned with its artifacts' hashes (reported at lock time when broken).
            lines += (try? uvLockRequirements(text, file: "uv.lock")) ?? []
        } else if let text = try? String(contentsOfFile: appDir + "/poetry.lock", encoding: .utf8),
                  let pyproject = try? String(contentsOfFile: appDir + "/pyproject.toml", encoding: .utf8) {
            lines += (try? poetryLockRequirements(text, file: "poetry.lock", pyproject: pyproject)) ?? []
        } else if let text = try? String(contentsOfFile: appDir + "/pyproject.toml", encoding: .utf8) {
            // A pyproject.toml that does not parse is reported by `pyprojectRequirements` at lock time.
            lines += (try? pyprojectRequirements(text, file: "pyproject.toml")) ?? []
        }
        lines += spec.build.pipInstall
        if spec.processes.contains(where: { $0.kind == .wsgi }),
           !lines.contains(where: { $0.lowercased().hasPrefix("gunicorn") }) {
            lines.append("gunicorn")
        }
        return lines
    }

    /// The dependencies a pyproject.toml declares, as requirement lines (pure): PEP 621's
    /// `[project] dependencies` (what uv and modern setuptools/hatch/flit/pdm projects write), else
    /// Poetry's `[tool.poetry.dependencies]` with its constraints translated to PEP 440 (`^1.2` →
    /// `>=1.2,<2.0`, `~1.2` → `>=1.2,<1.3`, `*` → any; `python` itself is skipped). Errors are
    /// located in the file.
    public static func pyprojectRequirements(_ text: String, file: String) throws -> [String] {
        let root = try parseTOML(text, file: file)
        func located(_ entry: TOMLEntry, _ message: String, hint: String) -> HopError {
            HopError.invalid(message, at: SourceLocation(file: file, line: entry.node.position.line, column: entry.node.position.column), hint: hint)
        }
        if case .table(let project)? = root["project"]?.node.value, let deps = project["dependencies"] {
            guard case .array(let items) = deps.node.value else {
                throw located(deps, "`[project] dependencies` must be an array of requirement strings", hint: "e.g. dependencies = [\"flask>=3\"]")
            }
            return try items.map { item in
                guard case .string(let s) = item.value, !s.isEmpty, !s.contains(where: \.isNewline) else {
                    throw located(deps, "each `[project] dependencies` entry must be a requirement string", hint: "e.g. \"flask>=3\"")
                }
                return s
            }
        }
        guard case .table(let tool)? = root["tool"]?.node.value, case .table(let poetry)? = tool["poetry"]?.node.value,
              case .table(let deps)? = poetry["dependencies"]?.node.value else { return [] }
        var out: [String] = []
        for entry in deps.entries where entry.key.lowercased() != "python" {
            guard entry.key.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), entry.key.allSatisfy(\.isASCII) else {
                throw located(entry, "`\(entry.key)` is not a package name", hint: "Poetry dependency names are letters, digits, `-`, `_` and `.`")
            }
            var constraint = "*"
            var extras: [String] = []
            switch entry.node.value {
            case .string(let c): constraint = c
            case .table(let t):
                if case .string(let c)? = t["version"]?.node.value { constraint = c }
                if case .array(let xs)? = t["extras"]?.node.value {
                    extras = xs.compactMap { if case .string(let x) = $0.value { return x }; return nil }
                }
                if t["path"] != nil || t["git"] != nil || t["url"] != nil {
                    throw located(entry, "`\(entry.key)` comes from a path, git or URL, which hop does not fetch",
                                  hint: "publish it to the package index hop resolves from, or vendor it as a wheel in HOP_FIND_LINKS")
                }
            default:
                throw located(entry, "`\(entry.key)` must be a version constraint or a table", hint: "e.g. flask = \"^3.0\"")
            }
            guard let pep440 = poetryConstraint(constraint) else {
                throw located(entry, "`\(constraint)` is not a Poetry version constraint hop understands", hint: "use ^X.Y, ~X.Y, >=X,<Y, ==X or *")
            }
            out.append(entry.key + (extras.isEmpty ? "" : "[\(extras.joined(separator: ","))]") + pep440)
        }
        return out
    }

    /// uv.lock as pip requirement lines (pure): every package reachable from the project (the
    /// package whose source is `editable`/`virtual` "."), pinned `name==version`, with the marker of
    /// the dependency that brings it in (pip evaluates it: a Windows-only dependency is skipped on
    /// Linux) and every `--hash` uv recorded for its wheels and sdist. pip resolves these in
    /// hash-checking mode, so an artifact that is not the one uv locked is refused.
    public static func uvLockRequirements(_ text: String, file: String) throws -> [String] {
        let root = try parseTOML(text, file: file)
        let bad = { (why: String) in HopError.invalid("\(file) \(why)", at: SourceLocation(file: file), hint: "regenerate it with `uv lock`") }
        guard case .array(let items)? = root["package"]?.node.value else { throw bad("has no [[package]] entries") }
        var pkgs: [String: LockedPackage] = [:]
        var project: LockedPackage?
        for item in items {
            guard case .table(let t) = item.value, case .string(let name)? = t["name"]?.node.value else { throw bad("has a [[package]] without a name") }
            var p = LockedPackage(name: name)
            if case .string(let v)? = t["version"]?.node.value { p.version = v }
            func addHash(_ node: TOMLNode) {
                if case .table(let a) = node.value, case .string(let h)? = a["hash"]?.node.value, h.hasPrefix("sha256:"), h.count == 71 { p.hashes.append(h) }
            }
            if case .array(let wheels)? = t["wheels"]?.node.value { wheels.forEach(addHash) }
            if let sdist = t["sdist"]?.node { addHash(sdist) }
            if case .array(let ds)? = t["dependencies"]?.node.value {
                for d in ds {
                    guard case .table(let dt) = d.value, case .string(let dn)? = dt["name"]?.node.value else { continue }
                    var marker: String?
                    if case .string(let m)? = dt["marker"]?.node.value { marker = m }
                    p.deps.append((normalizedPackageName(dn), marker))
                }
            }
            if case .table(let src)? = t["source"]?.node.value, src["editable"] != nil || src["virtual"] != nil { project = p } else {
                pkgs[normalizedPackageName(name)] = p
            }
        }
        guard let project else { throw bad("names no project (a package whose source is editable or virtual)") }
        return try pinnedRequirements(roots: project.deps, packages: pkgs, bad: bad)
    }

    /// poetry.lock as pip requirement lines, like `uvLockRequirements`: the roots are the
    /// project's `[tool.poetry.dependencies]` (pyproject.toml), the edges each package's
    /// `[package.dependencies]` with their `markers`, the hashes each package's `files`.
    public static func poetryLockRequirements(_ text: String, file: String, pyproject: String) throws -> [String] {
        let root = try parseTOML(text, file: file)
        let bad = { (why: String) in HopError.invalid("\(file) \(why)", at: SourceLocation(file: file), hint: "regenerate it with `poetry lock`") }
        guard case .array(let items)? = root["package"]?.node.value else { throw bad("has no [[package]] entries") }
        func edges(_ table: TOMLTable) -> [(String, String?)] {
            table.entries.compactMap { e in
                if e.key.lowercased() == "python" { return nil }
                var marker: String?
                if case .table(let t) = e.node.value {
                    if t["optional"].map({ if case .bool(true) = $0.node.value { return true }; return false }) == true { return nil }
                    if case .string(let m)? = t["markers"]?.node.value { marker = m }
                }
                return (normalizedPackageName(e.key), marker)
            }
        }
        var pkgs: [String: LockedPackage] = [:]
        for item in items {
            guard case .table(let t) = item.value, case .string(let name)? = t["name"]?.node.value else { throw bad("has a [[package]] without a name") }
            var p = LockedPackage(name: name)
            if case .string(let v)? = t["version"]?.node.value { p.version = v }
            if case .array(let files)? = t["files"]?.node.value {
                for f in files {
                    if case .table(let a) = f.value, case .string(let h)? = a["hash"]?.node.value, h.hasPrefix("sha256:"), h.count == 71 { p.hashes.append(h) }
                }
            }
            if case .table(let deps)? = t["dependencies"]?.node.value { p.deps = edges(deps) }
            pkgs[normalizedPackageName(name)] = p
        }
        let project = try parseTOML(pyproject, file: "pyproject.toml")
        guard case .table(let tool)? = project["tool"]?.node.value, case .table(let poetry)? = tool["poetry"]?.node.value,
              case .table(let deps)? = poetry["dependencies"]?.node.value else { throw bad("has no project: pyproject.toml lacks [tool.poetry.dependencies]") }
        return try pinnedRequirements(roots: edges(deps), packages: pkgs, bad: bad)
    }

    struct LockedPackage {
        var name: String
        var version = ""
        var hashes: [String] = []
        var deps: [(String, String?)] = []
    }

    /// Every package reachable from `roots`, pinned with its hashes; a package reached only through
    /// edges with one marker keeps it (pip skips it where the marker is false), one reached by any
    /// unconditional edge (or by edges with different markers) has none.
    static func pinnedRequirements(roots: [(String, String?)], packages: [String: LockedPackage],
                                   bad: (String) -> HopError) throws -> [String] {
        var marker: [String: String?] = [:]
        var queue = roots
        while !queue.isEmpty {
            let (name, m) = queue.removeFirst()
            if let seen = marker[name] {
                if seen != nil && (m == nil || m != seen) { marker[name] = .some(nil) }
                continue
            }
            marker[name] = .some(m)
            guard let p = packages[name] else { throw bad("lists `\(name)` as a dependency but has no [[package]] for it") }
            queue += p.deps.map { ($0.0, $0.1 ?? m) }
        }
        return try marker.keys.sorted().map { name in
            let p = packages[name]!
            guard !p.version.isEmpty, !p.hashes.isEmpty else { throw bad("has no version or no sha256 hashes for `\(p.name)`") }
            let m = (marker[name] ?? nil).map { " ; " + $0 } ?? ""
            return "\(p.name)==\(p.version)\(m) " + p.hashes.map { "--hash=\($0)" }.joined(separator: " ")
        }
    }

    /// A Poetry constraint in PEP 440 (nil when it is not one hop understands).
    static func poetryConstraint(_ raw: String) -> String? {
        let parts = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var out: [String] = []
        for c in parts {
            if c == "*" || c.isEmpty { continue }
            if c.hasPrefix("^") || c.hasPrefix("~") && !c.hasPrefix("~=") {
                let caret = c.hasPrefix("^")
                let v = c.dropFirst().trimmingCharacters(in: .whitespaces)
                let nums = v.split(separator: ".").map { Int($0) }
                guard !nums.isEmpty, nums.allSatisfy({ $0 != nil }) else { return nil }
                let n = nums.map { $0! }
                var upper: [Int]
                if caret {
                    // ^1.2.3 → <2; ^0.2.3 → <0.3; ^0.0.3 → <0.0.4
                    let i = n.firstIndex(where: { $0 != 0 }) ?? (n.count - 1)
                    upper = Array(n.prefix(i + 1)); upper[i] += 1
                } else {
                    // ~1.2.3 → <1.3; ~1 → <2
                    upper = n.count >= 2 ? [n[0], n[1] + 1] : [n[0] + 1]
                }
                out.append(">=\(v)")
                out.append("<" + upper.map(String.init).joined(separator: "."))
            } else if let first = c.first, "<>=!~".contains(first) {
                out.append(c)
            } else if c.first?.isNumber == true {
                out.append("==" + c)
            } else {
                return nil
            }
        }
        return out.joined(separator: ",")
    }

    /// PEP 503 normalisation: `Foo_Bar.baz` and `foo-bar-baz` are one package.
    static func normalizedPackageName(_ n: String) -> String {
        n.lowercased().replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: ".", with: "-")
    }

    /// Hash of everything that determines a lock, so `hop build` can tell a stale `hop.lock`.
    public static func inputsHash(appDir: String, spec: AppSpec) -> String {
        var text = "builder=\(spec.build.builder.rawValue)\n"
        switch spec.build.builder {
        case .python:
            text += pythonRequirements(appDir: appDir, spec: spec).joined(separator: "\n")
            if (try? projectIsPackage(appDir: appDir)) == true { text += "\nproject-is-package" }
        case .node: text += (try? String(contentsOfFile: appDir + "/package-lock.json", encoding: .utf8)) ?? ""
        case .go: text += (try? String(contentsOfFile: appDir + "/vendor/modules.txt", encoding: .utf8)) ?? ""
        case .ruby:
            text += (try? String(contentsOfFile: appDir + "/Gemfile.lock", encoding: .utf8)) ?? ""
            // The gems themselves: a changed .gem under the same name must not reuse an old lock.
            let cache = appDir + "/vendor/cache"
            for f in ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).sorted() where f.hasSuffix(".gem") {
                text += "\n" + f + " " + ((try? sha256Hex(file: cache + "/" + f)) ?? "")
            }
        case .php: text += (try? String(contentsOfFile: appDir + "/composer.lock", encoding: .utf8)) ?? ""
        default: break
        }
        return "sha256:" + sha256Hex(Data(text.utf8))
    }

    /// Resolves the app's dependencies into a lock. Python goes through pip's resolver (outside
    /// the sandbox, against `index`); node and go read their own lock/vendor files.
    public static func lock(appDir: String, spec: AppSpec, index: PackageIndex, runner: any ProcessRunner,
                            sandbox: TenantSandbox?) throws -> DependencyLock {
        var lock = DependencyLock(builder: spec.build.builder, inputsHash: inputsHash(appDir: appDir, spec: spec))
        switch spec.build.builder {
        case .python:
            lock.resolvedFor = "cp311-x86_64-linux"
            // A pyproject.toml that does not parse (or declares what hop cannot fetch) is a located error here.
            if !FileManager.default.fileExists(atPath: appDir + "/requirements.txt"),
               let text = try? String(contentsOfFile: appDir + "/pyproject.toml", encoding: .utf8) {
                _ = try pyprojectRequirements(text, file: appDir + "/pyproject.toml")
            }
            if !FileManager.default.fileExists(atPath: appDir + "/requirements.txt"),
               let text = try? String(contentsOfFile: appDir + "/uv.lock", encoding: .utf8) {
                _ = try uvLockRequirements(text, file: appDir + "/uv.lock")
            } else if !FileManager.default.fileExists(atPath: appDir + "/requirements.txt"),
                      let text = try? String(contentsOfFile: appDir + "/poetry.lock", encoding: .utf8),
                      let pyproject = try? String(contentsOfFile: appDir + "/pyproject.toml", encoding: .utf8) {
                _ = try poetryLockRequirements(text, file: appDir + "/poetry.lock", pyproject: pyproject)
            }
            if let text = try? String(contentsOfFile: appDir + "/requirements.txt", encoding: .utf8) {
                try checkRequirementsFile(text, file: appDir + "/requirements.txt")
            }
            let reqs = pythonRequirements(appDir: appDir, spec: spec)
            for line in reqs { try checkRequirement(line, at: SourceLocation(file: appDir + "/" + pythonRequirementsSource(appDir: appDir))) }
            // Hash-pinned lines (uv.lock) are resolved on their own, in pip's hash-checking mode;
            // what hop adds without a hash (gunicorn, [build] pip-install) separately, then merged.
            let hashed = reqs.filter { $0.contains("--hash=") }, plain = reqs.filter { !$0.contains("--hash=") }
            var wheels: [LockedWheel] = []
            if !hashed.isEmpty {
                let lockFile = FileManager.default.fileExists(atPath: appDir + "/uv.lock") ? "uv.lock" : "poetry.lock"
                wheels = try resolvePython(requirements: hashed, appDir: appDir, index: index, runner: runner, sandbox: sandbox, lockFile: lockFile)
            }
            if !plain.isEmpty {
                for w in try resolvePython(requirements: plain, appDir: appDir, index: index, runner: runner, sandbox: sandbox)
                where !wheels.contains(where: { $0.name.lowercased() == w.name.lowercased() }) { wheels.append(w) }
            }
            if !hashed.isEmpty { lock.python = wheels.sorted { $0.name.lowercased() < $1.name.lowercased() } } else if !plain.isEmpty { lock.python = wheels }
            // A package published only as an sdist is built in the sandbox with setuptools (locked too).
            let isPackage = try projectIsPackage(appDir: appDir)
            if isPackage || lock.python.contains(where: { $0.isSourceDistribution }) {
                lock.pythonBuild = try resolvePython(requirements: sdistBuildRequirements, appDir: appDir, index: index, runner: runner, sandbox: sandbox)
            }
        case .node:
            lock.npm = try npmPackages(appDir: appDir)
        case .go:
            lock.go = try goModules(appDir: appDir)
        case .ruby:
            if let text = try? String(contentsOfFile: appDir + "/Gemfile.lock", encoding: .utf8) {
                lock.gems = try gems(gemfileLock: text, file: appDir + "/Gemfile.lock", cache: appDir + "/vendor/cache")
            } else if FileManager.default.fileExists(atPath: appDir + "/Gemfile") {
                throw HopError.invalid("the app has a Gemfile but no Gemfile.lock", at: SourceLocation(file: appDir + "/Gemfile"),
                                       hint: "run `bundle lock` and `bundle cache` where you have network, and commit Gemfile.lock and vendor/cache")
            }
        case .php:
            if let text = try? String(contentsOfFile: appDir + "/composer.lock", encoding: .utf8) {
                lock.composer = composerPackages(text)
            }
        default:
            break
        }
        return lock
    }

    /// Runs pip's resolver. pip may run a package's own code (an sdist's `setup.py`, a PEP 517
    /// backend) to learn its metadata, so with a `sandbox` it runs there as a throwaway identity that
    /// sees none of hop's state; it never runs in the app's tree (local paths are refused before).
    static func resolvePython(requirements: [String], appDir: String, index: PackageIndex, runner: any ProcessRunner,
                              sandbox: TenantSandbox?, lockFile: String = "requirements.txt") throws -> [LockedWheel] {
        let requested = index
        var index = index
        var sandbox = sandbox
        // With an index, the sandbox's only way out is a relay to that index's host and port.
        var relay: IndexRelay?
        if sandbox != nil, !index.offline {
            relay = try IndexRelay(indexURL: index.indexURL ?? "https://pypi.org/simple", runner: runner)
            sandbox?.namespace = relay?.namespace
        }
        defer { relay?.close() }
        let box = try sandbox?.makeBox(inputs: index.findLinks)
        defer { if let box { sandbox?.remove(box) } }
        let work = box?.work ?? NSTemporaryDirectory()
        if let box { index.findLinks = index.findLinks.indices.map { box.inside($0) } }
        let reqFile = work + "/hop-req-\(UUID().uuidString).txt"
        try requirements.joined(separator: "\n").appending("\n").write(toFile: reqFile, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: reqFile) }
        var args = ["-I", "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--disable-pip-version-check",
                    "--no-input", "--no-cache-dir", "--report", "-", "--prefer-binary"]
        if index.offline { args.append("--no-index") } else if let u = index.indexURL { args += ["--index-url", u] }
        if let relay {
            args += ["--proxy", relay.proxyURL]
            // The system's trust store (Debian's pip uses it too), which the sandbox can read.
            if FileManager.default.fileExists(atPath: "/etc/ssl/certs/ca-certificates.crt") { args += ["--cert", "/etc/ssl/certs/ca-certificates.crt"] }
        }
        for f in index.findLinks { args += ["--find-links", f] }
        args += ["-r", reqFile]
        let python = resolverPython()
        var command = Command(python, args, environment: ["PIP_CONFIG_FILE": "/dev/null", "PYTHONNOUSERSITE": "1"], workingDirectory: work)
        if let box, let sandbox { command = sandbox.wrap(command, in: box) }
        let r = try runner.run(command)
        guard r.succeeded else {
            // pip's own summary says "see above": keep enough of its output to show the package's error.
            let tail = r.stderrTail(30)
            let fromIndex = requested.offline ? "the wheelhouse \(requested.findLinks.joined(separator: ", "))" : (requested.indexURL ?? "PyPI")
            throw HopError(.invalidInput, "cannot resolve the Python requirements against \(fromIndex)",
                           at: SourceLocation(file: lockFile),
                           hint: "check the requirement names and versions, or add the missing wheels to the wheelhouse (--find-links)",
                           detail: tail)
        }
        return try parsePipReport(r.stdout)
    }

    /// Reads pip's installation report (`--report`): one locked wheel per resolved artifact.
    public static func parsePipReport(_ data: Data) throws -> [LockedWheel] {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let install = obj["install"] as? [[String: Any]] else {
            throw HopError(.internalError, "pip's report is not the JSON hop expects")
        }
        var wheels: [LockedWheel] = []
        for item in install {
            guard let meta = item["metadata"] as? [String: Any],
                  let name = meta["name"] as? String, let version = meta["version"] as? String,
                  let dl = item["download_info"] as? [String: Any], let url = dl["url"] as? String else {
                throw HopError(.internalError, "pip's report has an entry without name, version or URL")
            }
            let archive = dl["archive_info"] as? [String: Any]
            var sha: String?
            if let hashes = archive?["hashes"] as? [String: String] { sha = hashes["sha256"] }
            if sha == nil, let h = archive?["hash"] as? String, h.hasPrefix("sha256=") { sha = String(h.dropFirst(7)) }
            guard let sha256 = sha else {
                throw HopError(.invalidInput, "\(name) \(version) was resolved without a sha256 (\(url))",
                               hint: "use an index or wheelhouse that provides wheel files, not directories or VCS URLs")
            }
            let filename = String(url.split(separator: "/").last ?? Substring(name)).removingPercentEncoding ?? name
            let license = (meta["license_expression"] as? String) ?? shortLicense(meta["license"] as? String)
            wheels.append(LockedWheel(name: normalizeName(name), version: version, filename: filename, url: url,
                                      sha256: sha256.lowercased(), license: license))
        }
        return wheels.sorted { $0.name < $1.name }
    }

    static func shortLicense(_ s: String?) -> String? {
        guard let s, !s.isEmpty, s.count <= 64, !s.contains("\n") else { return nil }
        return s
    }

    /// PEP 503 normalised project name.
    public static func normalizeName(_ s: String) -> String {
        var out = ""
        var lastSep = false
        for c in s.lowercased() {
            if c == "-" || c == "_" || c == "." { if !lastSep { out.append("-") }; lastSep = true } else { out.append(c); lastSep = false }
        }
        return out
    }

    /// Production packages of package-lock.json (v2/v3 "packages" map), each with resolved URL
    /// and integrity. Missing integrity is an error: such a package cannot be a fixed input.
    public static func npmPackages(appDir: String) throws -> [LockedNpmPackage] {
        let file = appDir + "/package-lock.json"
        guard FileManager.default.fileExists(atPath: file) else {
            if let pkg = try? Data(contentsOf: URL(fileURLWithPath: appDir + "/package.json")),
               let o = try? JSONSerialization.jsonObject(with: pkg) as? [String: Any],
               let deps = o["dependencies"] as? [String: Any], !deps.isEmpty {
                throw HopError.invalid("package.json declares dependencies but there is no package-lock.json",
                                       at: SourceLocation(file: "package.json"),
                                       hint: "run `npm install --package-lock-only` and commit package-lock.json")
            }
            return []
        }
        guard let data = FileManager.default.contents(atPath: file),
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HopError.invalid("package-lock.json is not valid JSON", at: SourceLocation(file: "package-lock.json"),
                                   hint: "regenerate it with `npm install --package-lock-only`")
        }
        guard let packages = o["packages"] as? [String: [String: Any]] else {
            throw HopError.invalid("package-lock.json has no \"packages\" map (lockfileVersion 1 is not supported)",
                                   at: SourceLocation(file: "package-lock.json"),
                                   hint: "regenerate it with npm 7 or later (lockfileVersion 2 or 3)")
        }
        var out: [LockedNpmPackage] = []
        for (path, p) in packages where !path.isEmpty {
            if p["dev"] as? Bool == true || p["link"] as? Bool == true { continue }
            guard let url = p["resolved"] as? String, let integrity = p["integrity"] as? String else {
                throw HopError.invalid("\(path) has no resolved URL or integrity hash", at: SourceLocation(file: "package-lock.json"),
                                       hint: "regenerate package-lock.json against a registry so every package is pinned")
            }
            let name = path.components(separatedBy: "node_modules/").last ?? path
            let version = p["version"] as? String ?? "0"
            out.append(LockedNpmPackage(path: path, name: name, version: version, url: url, integrity: integrity,
                                        license: p["license"] as? String))
        }
        return out.sorted { $0.path < $1.path }
    }

    /// Vendored modules from vendor/modules.txt; a go.mod with requirements but no vendor
    /// directory cannot build offline and is an error.
    public static func goModules(appDir: String) throws -> [LockedGoModule] {
        let modules = appDir + "/vendor/modules.txt"
        if let text = try? String(contentsOfFile: modules, encoding: .utf8) {
            return text.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ")
                guard parts.count >= 3, parts[0] == "#", !parts[1].hasPrefix("explicit") else { return nil }
                return LockedGoModule(path: String(parts[1]), version: String(parts[2]))
            }.sorted { $0.path < $1.path }
        }
        if let gomod = try? String(contentsOfFile: appDir + "/go.mod", encoding: .utf8) {
            for (i, line) in gomod.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.trimmingCharacters(in: .whitespaces).hasPrefix("require") {
                throw HopError.invalid("go.mod requires modules but they are not vendored",
                                       at: SourceLocation(file: "go.mod", line: i + 1, column: 1),
                                       hint: "run `go mod vendor` and commit vendor/: builds are offline")
            }
        }
        return []
    }
}

/// A Subresource Integrity hash (`sha512-BASE64`), as npm writes them.
public struct SRIHash: Sendable, Hashable {
    public var algorithm: String
    public var digest: Data

    public init(_ text: String) throws {
        let parts = text.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, ["sha1", "sha256", "sha512"].contains(String(parts[0])),
              let d = Data(base64Encoded: String(parts[1])) else {
            throw HopError.invalid("'\(text)' is not an integrity hash (sha512-…, sha256-… or sha1-…)",
                                   at: SourceLocation(file: "package-lock.json"), hint: "regenerate package-lock.json")
        }
        algorithm = String(parts[0])
        digest = d
    }

    public func matches(_ data: Data) -> Bool {
        switch algorithm {
        case "sha512": return Data(SHA512.hash(data: data)) == digest
        case "sha256": return Data(SHA256.hash(data: data)) == digest
        default: return Data(Insecure.SHA1.hash(data: data)) == digest
        }
    }
}

extension Locker {
    /// Gemfile.lock's `GEM` specs (`    name (version)`, four spaces), each checked against its
    /// `vendor/cache/NAME-VERSION.gem` and hashed. A gem without its file, or one whose sha256
    /// differs from Gemfile.lock's `CHECKSUMS` section (Bundler 2.5+), is a located error.
    public static func gems(gemfileLock text: String, file: String, cache: String) throws -> [LockedGem] {
        var out: [LockedGem] = []
        var section = "", checksums: [String: String] = [:]
        var specs: [(name: String, version: String, line: Int)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if !line.hasPrefix(" "), !line.isEmpty { section = line.trimmingCharacters(in: .whitespaces); continue }
            guard line.hasPrefix("    "), !line.hasPrefix("     "), let open = line.firstIndex(of: "("), line.hasSuffix(")") else {
                if section == "CHECKSUMS", line.hasPrefix("  "), let open = line.firstIndex(of: "("), let close = line.firstIndex(of: ")") {
                    let key = line[..<open].trimmingCharacters(in: .whitespaces) + "-" + line[line.index(after: open)..<close]
                    if let sha = line.range(of: "sha256=") { checksums[key] = String(line[sha.upperBound...]).trimmingCharacters(in: .whitespaces) }
                }
                continue
            }
            guard section == "GEM" else { continue }
            let name = line[..<open].trimmingCharacters(in: .whitespaces)
            let version = String(line[line.index(after: open)..<line.index(before: line.endIndex)])
            specs.append((name, version, i + 1))
        }
        for s in specs {
            let gem = "\(s.name)-\(s.version).gem"
            let path = cache + "/" + gem
            guard FileManager.default.fileExists(atPath: path) else {
                throw HopError.invalid("Gemfile.lock locks \(s.name) \(s.version) but vendor/cache has no \(gem)", at: SourceLocation(file: file, line: s.line, column: 5),
                                       hint: "run `bundle cache` and commit vendor/cache (hop builds offline)")
            }
            let sha = try sha256Hex(file: path)
            if let want = checksums["\(s.name)-\(s.version)"], want != sha {
                throw HopError.invalid("vendor/cache/\(gem) has sha256 \(sha), but Gemfile.lock's CHECKSUMS say \(want)", at: SourceLocation(file: file, line: s.line, column: 5),
                                       hint: "the cached gem is not the one locked: run `bundle cache` again from a trusted source")
            }
            out.append(LockedGem(name: s.name, version: s.version, file: gem, sha256: sha))
        }
        return out.sorted { ($0.name, $0.version) < ($1.name, $1.version) }
    }

    /// composer.lock's runtime packages (ComposerCheck has already matched them with vendor/).
    public static func composerPackages(_ text: String) -> [LockedComposerPackage] {
        guard let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let packages = o["packages"] as? [[String: Any]] else { return [] }
        return packages.compactMap { p in
            guard let name = p["name"] as? String, let version = p["version"] as? String else { return nil }
            let sha1 = ((p["dist"] as? [String: Any])?["shasum"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            return LockedComposerPackage(name: name, version: version, sha1: sha1, license: (p["license"] as? [String])?.first)
        }.sorted { $0.name < $1.name }
    }
}

extension Locker {
    /// Whether the app is itself a Python package (`pyproject.toml` with `[project] name` and a
    /// `[build-system]`): hop then builds and installs it, so `src/` layouts import and its
    /// console scripts exist. hop builds projects with setuptools' backend; with another backend a
    /// flat tree runs as it is, and a src/ layout (which cannot) is a located error.
    public static func projectIsPackage(appDir: String) throws -> Bool {
        let file = appDir + "/pyproject.toml"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return false }
        let root = try parseTOML(text, file: file)
        guard case .table(let project)? = root["project"]?.node.value, project["name"] != nil,
              case .table(let build)? = root["build-system"]?.node.value else { return false }
        if let backend = build["build-backend"] {
            guard case .string(let b) = backend.node.value, b.hasPrefix("setuptools.build_meta") else {
                // Another backend (hatchling, flit, poetry-core…): hop cannot build it offline, so a
                // flat tree runs as it is; only a src/ layout, which cannot, is an error.
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: appDir + "/src", isDirectory: &isDirectory), isDirectory.boolValue else { return false }
                throw HopError.invalid("`[build-system] build-backend` is not setuptools, and a src/ layout must be installed to import; hop builds projects with setuptools.build_meta",
                                       at: SourceLocation(file: file, line: backend.node.position.line, column: backend.node.position.column),
                                       hint: "use `build-backend = \"setuptools.build_meta\"`, or drop [build-system] to run the tree as it is")
            }
        }
        return true
    }
}
