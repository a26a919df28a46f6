import Foundation

/// One finished build of an app: what went in (source, toolchain, lock, spec), what came out
/// (the output path and its closure's size) and where it is kept alive (the GC root).
///
/// Strings are stored verbatim; dates are stored to the millisecond, so a date read back equals
/// the one recorded rounded to the nearest millisecond.
public struct BuildRecord: Sendable, Codable, Hashable {
    /// Assigned by `HopDatabase.recordBuild`; ignored when recording. Never reused after a delete.
    public var id: Int64
    public var app: String
    /// The Nix output path, `/nix/store/…-app`.
    public var outPath: String
    /// The derivation that produced `outPath`.
    public var drvPath: String
    /// The source archive's hash as hop prints it, `sha256:…`.
    public var sourceHash: String
    /// The store path of the source archive.
    public var sourcePath: String
    /// The builder that ran (say, `python`).
    public var builder: String
    /// The toolchain set used, e.g. `seed`.
    public var toolchain: String
    /// JSON text: toolchain component names → store paths.
    public var toolchainDetail: String
    /// The dependency lock, verbatim; nil when the app has none.
    public var lockJSON: String?
    /// The seeds the build used, as JSON; nil when none.
    public var seedsJSON: String?
    /// The app's metadata (its `AppSpec`) as JSON.
    public var specJSON: String
    public var hopVersion: String
    public var startedAt: Date
    public var finishedAt: Date
    /// The GC root keeping `outPath` alive.
    public var gcRoot: String
    /// Total NAR size of the closure, in bytes.
    public var closureSize: Int64
    /// Number of store paths in the closure.
    public var pathCount: Int
    /// The git commit the source was read from (a `git push`), and the repository it was pushed to.
    public var sourceCommit: String? = nil
    public var sourceURI: String? = nil

    public init(id: Int64 = 0, app: String, outPath: String, drvPath: String, sourceHash: String,
                sourcePath: String, builder: String, toolchain: String, toolchainDetail: String,
                lockJSON: String?, seedsJSON: String?, specJSON: String, hopVersion: String,
                startedAt: Date, finishedAt: Date, gcRoot: String, closureSize: Int64, pathCount: Int,
                sourceCommit: String? = nil, sourceURI: String? = nil) {
        self.sourceCommit = sourceCommit
        self.sourceURI = sourceURI
        self.id = id
        self.app = app
        self.outPath = outPath
        self.drvPath = drvPath
        self.sourceHash = sourceHash
        self.sourcePath = sourcePath
        self.builder = builder
        self.toolchain = toolchain
        self.toolchainDetail = toolchainDetail
        self.lockJSON = lockJSON
        self.seedsJSON = seedsJSON
        self.specJSON = specJSON
        self.hopVersion = hopVersion
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.gcRoot = gcRoot
        self.closureSize = closureSize
        self.pathCount = pathCount
    }
}

/// What Nix knows about one store path (`nix path-info --json`): enough to rebuild a closure graph,
/// an SBOM or a NAR manifest without asking Nix again.
public struct StorePathInfo: Sendable, Codable, Hashable {
    /// Absolute store path, `/nix/store/…`.
    public var path: String
    /// As Nix prints it, `sha256:…`.
    public var narHash: String
    public var narSize: Int64
    /// The derivation that built it; nil for sources added to the store and when unknown.
    public var deriver: String?
    /// Store paths this one references (may include itself). Read back sorted.
    public var references: [String]

    public init(path: String, narHash: String, narSize: Int64, deriver: String?, references: [String]) {
        self.path = path
        self.narHash = narHash
        self.narSize = narSize
        self.deriver = deriver
        self.references = references
    }
}

/// A bootstrap toolchain imported from the host into the Nix store (a "seed").
public struct SeedRecord: Sendable, Codable, Hashable {
    /// The seed's name, e.g. `python`; unique.
    public var name: String
    public var version: String
    public var storePath: String
    /// As Nix prints it, `sha256:…`.
    public var narHash: String
    /// The host path it was imported from.
    public var origin: String
    public var importedAt: Date

    public init(name: String, version: String, storePath: String, narHash: String, origin: String, importedAt: Date) {
        self.name = name
        self.version = version
        self.storePath = storePath
        self.narHash = narHash
        self.origin = origin
        self.importedAt = importedAt
    }
}
