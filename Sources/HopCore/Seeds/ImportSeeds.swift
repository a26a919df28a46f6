import Foundation
import HopBasics
import HopStore
import NixBuild

/// `hop seed import`: host toolchains into the store as content-addressed seeds, each recorded in
/// hop.db and held by a GC root. It writes hop's state, so it is an audited admin operation; it
/// reads executables of this machine, so it has no route.
public enum ImportSeeds: HopOperation {
    public struct Input: Codable, Sendable {
        public var kinds: [String]
        /// Import from this executable instead of the host's default path (one seed only).
        public var from: String?
        public init(kinds: [String], from: String? = nil) { self.kinds = kinds; self.from = from }
    }
    public static let name = "seed import"
    public static let summary = "Import host toolchains into the store as seeds for air-gapped builds."
    public static let permission = Permission.admin
    public static let audit = AuditMode.runner
    public static func auditDetail(_ input: Input) -> [String: String] {
        var d = ["seeds": input.kinds.joined(separator: ",")]
        if let from = input.from { d["from"] = from }
        return d
    }

    public static func run(_ input: Input, _ call: OperationCall) throws -> [ImportedSeed] {
        let kinds = try input.kinds.map { name -> SeedKind in
            guard let k = SeedKind(rawValue: name) else {
                throw HopError.invalid("unknown seed '\(name)'; seeds are: \(SeedKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return k
        }
        guard !kinds.isEmpty else { throw HopError.invalid("name the seeds to import, or pass --all") }
        if input.from != nil, kinds.count != 1 { throw HopError.invalid("--from applies to exactly one seed") }
        let ctx = call.ctx
        let home = ctx.home
        let importer = SeedImporter(runner: ctx.runner)
        try home.ensure()
        let db = try ctx.database(create: true)
        var results: [ImportedSeed] = []
        for kind in kinds {
            ctx.progress(ProgressEvent(phase: "seed", message: "importing \(kind.rawValue) seed…"))
            let scratch = try home.scratch("seed")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let s = try importer.importSeed(kind, from: input.from, scratch: scratch)
            let rootDir = home.gcroots + "/seeds"
            try FileManager.default.createDirectory(atPath: rootDir, withIntermediateDirectories: true)
            try NixDriver(runner: ctx.runner).addRoot(rootDir + "/" + kind.rawValue, for: s.storePath)
            try db.upsertSeed(SeedRecord(name: s.name, version: s.version, storePath: s.storePath, narHash: s.narHash,
                                         origin: s.origin, importedAt: Date()))
            results.append(s)
        }
        return results
    }
}
