import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Runtime

/// An app's config: read, keys, and changes rolled out as a generation.
extension Operations {
    // MARK: Config

    /// The app's config values. Values are secrets: only principals who may change the app see them.
    public func config(app raw: String) throws -> [String: String] {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.deploy, app: app, action: "read config values")
        guard let db = try ctx.existingDatabase() else { return [:] }
        return Dictionary(uniqueKeysWithValues: try db.config(app: app).map { ($0.key, $0.value) })
    }

    /// The app's config keys (values withheld): what a viewer may see.
    public func configKeys(app raw: String) throws -> [String] {
        let app = try Self.checkedApp(raw)
        try ctx.authorize(.read, app: app, action: "list config keys")
        guard let db = try ctx.existingDatabase() else { return [] }
        return try db.config(app: app).map(\.key)
    }

    /// Records the change; when the app is deployed, rolls out a generation with it. If that
    /// generation fails, the previous values are restored with the previous generation.
    public func changeConfig(app raw: String, set: [(String, String)], unset: [String], watch: Double = Defaults.watch) throws -> ConfigResult {
        let app = try Self.checkedApp(raw)
        guard !set.isEmpty || !unset.isEmpty else { throw HopError.invalid("nothing to change", hint: "give KEY=VALUE (set) or KEY (unset)") }
        try Self.checkWatch(watch)
        var seen = Set<String>()
        for (k, v) in set {
            try Self.checkConfigKey(k)
            guard !v.contains("\0") else { throw HopError.invalid("the value of \(k) contains a NUL byte") }
            guard k.utf8.count + 1 + v.utf8.count < Self.maxConfigAssignmentBytes else {
                throw HopError.invalid("\(k)=… is \(k.utf8.count + 1 + v.utf8.count) bytes; one variable may have at most \(Self.maxConfigAssignmentBytes - 1)",
                                       hint: "the kernel refuses to start a process with a longer environment string (MAX_ARG_STRLEN); keep large data in a file or a volume")
            }
            guard seen.insert(k).inserted else { throw HopError.invalid("\(k) is given twice") }
        }
        for k in unset { try Self.checkConfigKey(k) }
        let keys = set.map(\.0) + unset
        // Values never enter the audit log: only the keys changed.
        let detail = ["set": set.map(\.0).joined(separator: ","), "unset": unset.joined(separator: ",")]
        return try audited(set.isEmpty ? "config unset" : "config set", app: app, detail: detail, permission: .deploy) {
            let db = try ctx.database(create: true)
            let before = try db.config(app: app)
            var after = Dictionary(uniqueKeysWithValues: before.map { ($0.key, $0.value) })
            for (k, v) in set { after[k] = v }
            for k in unset { after[k] = nil }
            let total = after.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }
            guard total <= Self.maxConfigBytes else {
                throw HopError.invalid("\(app)'s config would be \(total) bytes; at most \(Self.maxConfigBytes) are allowed",
                                       hint: "a process's whole environment must fit the kernel's 2 MiB limit; keep large data in a file or a volume")
            }
            guard try db.activeGeneration(app: app) != nil else {
                try db.updateConfig(app: app, set: set, unset: unset)
                return ConfigResult(app: app, deployed: false, generation: nil, noop: nil, keys: keys)
            }
            let rt = try runtime(db)
            let lock = try rt.lock(app)
            defer { withExtendedLifetime(lock) {} }
            guard let current = try db.activeGeneration(app: app), let build = try db.build(id: current.buildID) else {
                throw HopError(.notFound, "the build of \(app)'s serving generation is gone", hint: "deploy again")
            }
            try db.updateConfig(app: app, set: set, unset: unset)
            do {
                let r = try rt.rollout(build: build, watch: watch, op: "config")
                return ConfigResult(app: app, deployed: true, generation: GenerationInfo(r.generation), noop: r.noop, keys: keys)
            } catch {
                let had = Set(before.map(\.key))
                try db.updateConfig(app: app, set: before.map { ($0.key, $0.value) }, unset: keys.filter { !had.contains($0) })
                throw error
            }
        }
    }

    /// The most config (keys and values) an app may have: its processes get it as environment,
    /// and the kernel refuses an exec whose arguments and environment pass 2 MiB.
    public static let maxConfigBytes = 512 * 1024
    /// One `KEY=value` string with its NUL: the kernel's MAX_ARG_STRLEN (32 pages), past which
    /// execve fails with E2BIG ("Argument list too long") however small the rest is.
    public static let maxConfigAssignmentBytes = 128 * 1024

    static func checkWatch(_ watch: Double) throws {
        guard watch >= 0, watch <= 3600 else { throw HopError.invalid("--watch \(watch) is not between 0 and 3600 seconds") }
    }

    public static func checkConfigKey(_ key: String) throws {
        let first = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
        let rest = first.union("0123456789")
        guard let h = key.first, first.contains(h), key.allSatisfy({ rest.contains($0) }), key.count <= 128 else {
            throw HopError.invalid("`\(key.unicodeScalars.map { $0.value < 0x20 ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())` is not a valid config key",
                                   hint: "keys are environment variable names: letters, digits and `_`, not starting with a digit")
        }
        if ["PORT", "HOP_BIND", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "PATH"].contains(key) {
            throw HopError.invalid("\(key) is set by hop and cannot be configured", hint: "choose another name")
        }
    }
}
