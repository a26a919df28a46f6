import Foundation
import HopBasics
import HopStore
import NixBuild
import Provenance

/// What `hop verify` found: the store check (every closure path against its recorded NAR hash)
/// and the rebuild check (every derivation of the closure rebuilt and compared bit for bit).
public struct VerifyReport: Codable, Sendable, Equatable {
    public struct Mismatch: Codable, Sendable, Equatable { public var path: String; public var problem: String }
    public struct StoreResult: Codable, Sendable, Equatable {
        public var ok: Bool
        public var checked: Int
        public var mismatches: [Mismatch]
    }
    public struct Difference: Codable, Sendable, Equatable {
        public var output: String
        public var path: String
        /// `added`, `removed`, `content`, `mode`, `type`…
        public var kind: String
        public var sizeBefore: Int64?
        public var sizeAfter: Int64?
    }
    public struct Derivation: Codable, Sendable, Equatable {
        public var derivation: String
        public var output: String
        public var reproducible: Bool
        /// The second build's output, kept for inspection when it differs.
        public var secondOutput: String?
        public var differences: [Difference]?
        public var diffoscope: String?
    }
    public struct RebuildResult: Codable, Sendable, Equatable {
        /// All bit-for-bit identical (nil when the check could not run: see `error`).
        public var reproducible: Bool?
        public var derivations: [Derivation]?
        public var differences: [Difference]?
        /// The check could not run: why, and on which derivation.
        public var ok: Bool?
        public var error: String?
        public var code: String?
        public var derivation: String?
    }
    public var build: Int64
    public var app: String
    public var outPath: String
    public var store: StoreResult?
    public var rebuild: RebuildResult?

    /// The error the report amounts to, if any: a changed store path first, then a rebuild that
    /// differs or could not run.
    public var failure: HopError? {
        if let s = store, !s.ok {
            return HopError(.verificationFailed, "\(s.mismatches.count) store path(s) of build \(build) no longer match their recorded NAR hash",
                            hint: "restore them (nix-store --repair-path PATH) or rebuild")
        }
        if let r = rebuild {
            if let error = r.error { return HopError(r.code.flatMap(HopError.Code.named) ?? .couldNotCheck, error) }
            if r.reproducible == false {
                return HopError(.notReproducible, "build \(build) (\(app)) is not reproducible: \(r.differences?.count ?? 0) difference(s)",
                                hint: "remove the nondeterminism (timestamps, randomness, build paths) from the build steps")
            }
        }
        return nil
    }
}

/// `hop verify`: prove a build. It rebuilds derivations in the Nix sandbox of the server, so it is
/// an admin operation (and audited); a failed check is a result (the report), not an error of the
/// operation: the interface turns `report.failure` into its exit code.
public enum VerifyBuild: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var id: String
        public var rebuildOnly: Bool?
        public var storeOnly: Bool?
        /// Check a copy of the store rooted here (its files under ROOT/nix/store).
        public var storeRoot: String?
        /// When the rebuild differs, also run diffoscope on the two outputs (if installed).
        public var diffoscope: Bool?
        public init(id: String, rebuildOnly: Bool? = nil, storeOnly: Bool? = nil, storeRoot: String? = nil, diffoscope: Bool? = nil) {
            self.id = id; self.rebuildOnly = rebuildOnly; self.storeOnly = storeOnly; self.storeRoot = storeRoot; self.diffoscope = diffoscope
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["id": FieldSchema.buildRef, "storeRoot": ["type": "string", "minLength": 1, "maxLength": 4096, "pattern": "^/[^\\u0000]*$"]]
        }
    }
    public static let name = "verify"
    public static let summary = "Prove a build: re-hash its closure against the record, rebuild every derivation and compare bit for bit."
    public static let permission = Permission.admin
    public static let audit = AuditMode.runner
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/builds/{id}/verify", streams: true)
    public static func auditDetail(_ input: Input) -> [String: String] {
        var d = ["build": input.id]
        if input.rebuildOnly == true { d["only"] = "rebuild" }
        if input.storeOnly == true { d["only"] = "store" }
        return d
    }

    public static func run(_ input: Input, _ call: OperationCall) throws -> VerifyReport {
        if input.rebuildOnly == true && input.storeOnly == true { throw HopError.invalid("--rebuild-only and --store-only exclude each other") }
        let (b, db) = try call.ops.findBuild(input.id)
        let progress = call.ctx.progress
        var report = VerifyReport(build: b.id, app: b.app, outPath: b.outPath)
        let closure = try db.closure(buildID: b.id)
        if input.rebuildOnly != true {
            progress(ProgressEvent(phase: "verify", message: "store check: hashing \(closure.count) paths…"))
            let checks = try StoreCheck.verify(paths: closure.map { (path: $0.path, narHash: $0.narHash) }, storeRoot: input.storeRoot ?? "")
            let bad = checks.filter { !$0.ok }
            report.store = .init(ok: bad.isEmpty, checked: checks.count,
                                 mismatches: bad.map { .init(path: $0.path, problem: $0.problem ?? "") })
        }
        if input.storeOnly != true {
            // Every derivation of the runtime closure that still exists (app, Python env, patched
            // toolchains), app first: the whole closure must rebuild bit for bit.
            var drvs = [b.drvPath]
            for p in closure { if let d = p.deriver, d != b.drvPath, FileManager.default.fileExists(atPath: d) { drvs.append(d) } }
            let nix = NixDriver(runner: call.ctx.runner)
            var checked: [VerifyReport.Derivation] = []
            var all: [VerifyReport.Difference] = []
            for (i, drv) in drvs.enumerated() {
                progress(ProgressEvent(phase: "verify", message: "rebuild check: \(drv)", done: i + 1, total: drvs.count))
                let check: (identical: Bool, log: String)
                do { check = try nix.check(drv: drv, keep: true) } catch let e as HopError {
                    report.rebuild = .init(ok: false, error: e.message, code: e.code.description, derivation: drv)
                    return report
                }
                let out = closure.first { $0.deriver == drv }?.path ?? (drv == b.drvPath ? b.outPath : "")
                var entry = VerifyReport.Derivation(derivation: drv, output: out, reproducible: check.identical)
                if !check.identical {
                    let second = out + ".check"
                    let diffs = ((try? TreeDiff.compare(out, second)) ?? []).map {
                        VerifyReport.Difference(output: out, path: $0.path, kind: $0.kind.rawValue, sizeBefore: $0.sizeBefore, sizeAfter: $0.sizeAfter)
                    }
                    entry.secondOutput = second
                    entry.differences = diffs
                    all += diffs
                    if input.diffoscope == true {
                        let d = try? call.ctx.runner.run(Command("diffoscope", ["--text", "-", out, second]))
                        entry.diffoscope = d?.stdoutText ?? "diffoscope is not installed (apt install diffoscope)"
                    }
                }
                checked.append(entry)
            }
            report.rebuild = .init(reproducible: checked.allSatisfy(\.reproducible), derivations: checked, differences: all)
        }
        return report
    }
}
