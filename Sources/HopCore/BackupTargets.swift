import Foundation
import HopBasics
import HopStore
#if canImport(Glibc)
import Glibc
#endif

/// Where a backup goes: a local directory (an absolute path) or `REMOTE:PATH` on an rclone remote
/// hop configured (`hop backup remote add`). Pure parsing; the transfers are `RcloneRemotes`'.
public enum BackupTarget: Sendable, Equatable {
    case local(String)
    case remote(name: String, path: String)

    public static func parse(_ text: String) throws -> BackupTarget {
        if text.hasPrefix("/") {
            guard !text.split(separator: "/").contains(where: { $0 == ".." }), !text.contains("\0") else {
                throw HopError.invalid("backup target `\(text)` climbs with `..`", hint: "give a plain absolute directory")
            }
            return .local(text.count > 1 && text.hasSuffix("/") ? String(text.dropLast()) : text)
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw HopError.invalid("`\(text)` is not a backup target", hint: "an absolute directory (/srv/backups) or REMOTE:PATH of a remote from `hop backup remote add`")
        }
        let name = String(text[..<colon]), path = String(text[text.index(after: colon)...])
        try RcloneRemotes.checkName(name)
        guard !path.split(separator: "/").contains(where: { $0 == ".." }), !path.contains("\0"), !path.hasPrefix("-") else {
            throw HopError.invalid("backup target path `\(path)` is not a plain path")
        }
        return .remote(name: name, path: path)
    }

    public var text: String {
        switch self {
        case .local(let d): d
        case .remote(let n, let p): "\(n):\(p)"
        }
    }
}

/// rclone remotes for off-host backups. Their configuration (hosts, keys, passwords) is kept
/// sealed like every other secret of hop (`$HOP_HOME/keys/rclone.conf.sealed`) and written out as a
/// root-only file for the length of one transfer only.
struct RcloneRemotes {
    let home: HopHome
    let db: HopDatabase
    let runner: any ProcessRunner
    var sealedPath: String { home.root + "/keys/rclone.conf.sealed" }
    static let context = "backup\u{0}rclone.conf"
    static let types: Set<String> = ["sftp", "s3", "local", "webdav", "b2", "swift", "azureblob", "gcs", "ftp"]
    /// Fail fast: an unreachable target is a failed backup within seconds, not minutes.
    static let flags = ["--contimeout", "5s", "--timeout", "30s", "--retries", "1", "--low-level-retries", "2"]

    static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 32, name.first!.isLetter,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw HopError.invalid("`\(name)` is not a backup remote name", hint: "letters, digits, `-` and `_`, starting with a letter")
        }
    }

    func configText() throws -> String {
        guard let sealed = try? String(contentsOfFile: sealedPath, encoding: .utf8) else { return "" }
        return try db.secrets().open(sealed.trimmingCharacters(in: .whitespacesAndNewlines), context: Self.context)
    }

    func names() throws -> [String] {
        try configText().split(separator: "\n").compactMap { l in
            l.hasPrefix("[") && l.hasSuffix("]") ? String(l.dropFirst().dropLast()) : nil
        }
    }

    /// The configuration as a root-only file while `body` runs.
    func withConfig<T>(_ body: (String) throws -> T) throws -> T {
        try home.ensure()
        try FileManager.default.createDirectory(atPath: home.tmp, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let file = home.tmp + "/rclone-\(UUID().uuidString.prefix(8)).conf"
        try writeFileAtomically(file, try configText(), mode: 0o600)
        defer { unlink(file) }
        return try body(file)
    }

    /// rclone with hop's config. Debian's rclone (1.60) cannot build its S3 client when
    /// AWS_CA_BUNDLE is set ("unsupported transport"): the bundle is passed as rclone's own
    /// `--ca-cert` instead, which every backend honours.
    func rclone(_ args: [String], config: String) throws -> ProcessResult {
        let bundle = ProcessInfo.processInfo.environment["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
        return try runner.run(Command(try PipedProcess.resolve("rclone"), ["--config", config] + Self.flags + (bundle.map { ["--ca-cert", $0] } ?? []) + args,
                                      environment: ["AWS_CA_BUNDLE": nil]))
    }

    func add(name: String, type: String, options: [(String, String)]) throws {
        try Self.checkName(name)
        guard Self.types.contains(type) else {
            throw HopError.invalid("rclone type `\(type)` is not one hop offers", hint: "one of: \(Self.types.sorted().joined(separator: ", "))")
        }
        for (k, v) in options {
            guard !k.isEmpty, k.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }), !v.contains("\n") else {
                throw HopError.invalid("`\(k)=…` is not an rclone option", hint: "KEY=VALUE, KEY of letters, digits and `_`")
            }
        }
        if try names().contains(name) { throw HopError(.conflict, "backup remote \(name) exists", hint: "remove it first: hop backup remote remove \(name)") }
        let text = try withConfig { file -> String in
            let r = try runner.run(Command(try PipedProcess.resolve("rclone"),
                                           ["config", "create", name, type] + options.map { "\($0.0)=\($0.1)" } + ["--config", file, "--non-interactive"]))
            guard r.succeeded else { throw HopError.invalid("rclone refused remote \(name): \(r.stderrTail(3))") }
            return try String(contentsOfFile: file, encoding: .utf8)
        }
        try save(text)
    }

    func remove(name: String) throws {
        try Self.checkName(name)
        guard try names().contains(name) else { throw HopError(.notFound, "there is no backup remote \(name)") }
        var out: [Substring] = []
        var skipping = false
        for l in try configText().split(separator: "\n", omittingEmptySubsequences: false) {
            if l.hasPrefix("[") && l.hasSuffix("]") { skipping = l == "[\(name)]" }
            if !skipping { out.append(l) }
        }
        try save(out.joined(separator: "\n"))
    }

    private func save(_ text: String) throws {
        try FileManager.default.createDirectory(atPath: home.root + "/keys", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try writeFileAtomically(sealedPath, try db.secrets().seal(text, context: Self.context) + "\n", mode: 0o600)
    }

    func upload(_ file: String, to remote: String) throws {
        try withConfig { conf in
            let r = try rclone(["copyto", file, remote], config: conf)
            guard r.succeeded else { throw HopError(.environment, "uploading to \(remote) failed", detail: r.stderrTail(4)) }
            // The upload is done only when the remote has the whole file.
            let ls = try rclone(["lsjson", remote], config: conf)
            var st = stat()
            stat(file, &st)
            guard ls.succeeded, let arr = try? JSONSerialization.jsonObject(with: ls.stdout) as? [[String: Any]],
                  let size = arr.first?["Size"] as? Int, Int64(size) == Int64(st.st_size) else {
                throw HopError(.environment, "\(remote) does not hold the whole backup after the upload", detail: ls.stderrTail(3))
            }
        }
    }

    func download(_ remote: String, to file: String) throws {
        try withConfig { conf in
            let r = try rclone(["copyto", remote, file], config: conf)
            guard r.succeeded else { throw HopError(.environment, "downloading \(remote) failed", detail: r.stderrTail(4)) }
        }
    }

    func delete(_ remote: String) throws {
        try withConfig { conf in
            let r = try rclone(["deletefile", remote], config: conf)
            guard r.succeeded || r.stderrText.contains("not found") else { throw HopError(.environment, "deleting \(remote) failed", detail: r.stderrTail(3)) }
        }
    }
}

/// Which backups a retention policy keeps: the newest `last`, and the newest of each of the last
/// `daily` days, `weekly` ISO weeks and `monthly` months that have one. Pure (UTC calendar).
public struct BackupRetention: Sendable, Equatable, Codable {
    public var last = 0, daily = 0, weekly = 0, monthly = 0

    public init(last: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0) {
        self.last = last; self.daily = daily; self.weekly = weekly; self.monthly = monthly
    }

    /// `last=3,daily=7,weekly=4,monthly=6` (any subset).
    public static func parse(_ text: String) throws -> BackupRetention {
        var r = BackupRetention()
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, let n = Int(kv[1]), n >= 0, n <= 10_000 else {
                throw HopError.invalid("`\(part)` is not a retention rule", hint: "e.g. last=3,daily=7,weekly=4,monthly=6")
            }
            switch kv[0] {
            case "last": r.last = n
            case "daily": r.daily = n
            case "weekly": r.weekly = n
            case "monthly": r.monthly = n
            default: throw HopError.invalid("`\(kv[0])` is not a retention rule", hint: "last, daily, weekly or monthly")
            }
        }
        guard r.last + r.daily + r.weekly + r.monthly > 0 else {
            throw HopError.invalid("a retention policy that keeps nothing", hint: "keep at least one: e.g. last=1")
        }
        return r
    }

    public var text: String { "last=\(last),daily=\(daily),weekly=\(weekly),monthly=\(monthly)" }

    /// The ids to keep among `backups` (id, time), newest rule-holders first.
    public func keep(_ backups: [(id: String, at: Date)]) -> Set<String> {
        let sorted = backups.sorted { $0.at > $1.at }
        var cal = Calendar(identifier: .iso8601)
        cal.timeZone = TimeZone(identifier: "UTC")!
        var keep = Set(sorted.prefix(last).map(\.id))
        func bucket(_ n: Int, _ key: (Date) -> String) {
            var seen: [String] = []
            for b in sorted {
                let k = key(b.at)
                if seen.contains(k) { continue }
                if seen.count >= n { break }
                seen.append(k)
                keep.insert(b.id)
            }
        }
        bucket(daily) { let c = cal.dateComponents([.year, .month, .day], from: $0); return "\(c.year!)-\(c.month!)-\(c.day!)" }
        bucket(weekly) { let c = cal.dateComponents([.yearForWeekOfYear, .weekOfYear], from: $0); return "\(c.yearForWeekOfYear!)-W\(c.weekOfYear!)" }
        bucket(monthly) { let c = cal.dateComponents([.year, .month], from: $0); return "\(c.year!)-\(c.month!)" }
        return keep
    }
}
