import Foundation
import AppSpec
import HopBasics
import HopStore
import NixBuild
import Provenance

/// A recorded build as interfaces show it: the record, with its lock, seeds and toolchain decoded.
public struct BuildInfo: Sendable, Codable, Equatable {
    public var id: Int64
    public var app: String
    public var outPath: String
    public var drvPath: String
    public var sourceHash: String
    public var sourcePath: String
    public var builder: String
    public var toolchain: String
    public var hopVersion: String
    public var startedAt: String
    public var finishedAt: String
    public var gcRoot: String
    public var closureSize: Int64
    public var pathCount: Int
    public var version: String?
    /// The toolchain's inputs (seed store paths, or the pinned nixpkgs).
    public var toolchainDetail: JSONValue
    /// The dependency lock the build used, and the seeds it was built with.
    public var lock: JSONValue?
    public var seeds: JSONValue?
    /// The pushed commit and repository, for a build of a `git push`.
    public var commit: String?
    public var sourceURI: String?

    public init(_ b: BuildRecord) throws {
        id = b.id; app = b.app; outPath = b.outPath; drvPath = b.drvPath; sourceHash = b.sourceHash; sourcePath = b.sourcePath
        builder = b.builder; toolchain = b.toolchain; hopVersion = b.hopVersion; startedAt = isoTime(b.startedAt)
        finishedAt = isoTime(b.finishedAt); gcRoot = b.gcRoot; closureSize = b.closureSize; pathCount = b.pathCount
        version = try b.spec().metadata.version
        func decoded(_ text: String, _ column: String) throws -> JSONValue {
            do { return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) } catch {
                throw HopError(.internalError, "build \(b.id) has an unreadable \(column) column", hint: "build the app again")
            }
        }
        toolchainDetail = try decoded(b.toolchainDetail, "toolchain")
        lock = try b.lockJSON.map { try decoded($0, "lock") }
        seeds = try b.seedsJSON.map { try decoded($0, "seeds") }
        commit = b.sourceCommit
        sourceURI = b.sourceCommit == nil ? nil : b.sourceURI ?? ""
    }
}

public enum SBOMFormat: String, Sendable, Codable, CaseIterable { case cyclonedx, spdx }

extension Operations {
    /// A build id (`12`, `#12`) or an app name (its latest build); read permission on its app.
    public func findBuild(_ ref: String) throws -> (BuildRecord, HopDatabase) {
        guard let db = try ctx.existingDatabase() else {
            throw HopError(.notFound, "no builds yet in \(ctx.home.root)", hint: "run `hop build PATH` first (HOP_HOME selects the state directory)")
        }
        let record: BuildRecord
        if let id = Int64(ref.hasPrefix("#") ? String(ref.dropFirst()) : ref) {
            guard let b = try db.build(id: id) else { throw HopError(.notFound, "there is no build \(id)", hint: "`hop builds` lists them") }
            record = b
        } else {
            let app = try Self.checkedApp(ref)
            try ctx.authorize(.read, app: app, action: "read builds")
            guard let b = try db.latestBuild(app: app) else {
                throw HopError(.notFound, "app \(ref) has no builds", hint: "`hop builds` lists them; `hop build PATH --app \(ref)` makes one")
            }
            record = b
        }
        // A build of an app the caller may not read is "not found" to them, as if it did not exist.
        guard ctx.principal.may(.read, app: record.app) else {
            throw HopError(.notFound, "there is no build \(ref)", hint: "`hop builds` lists the builds you may see")
        }
        return (record, db)
    }

    /// Recorded builds, newest first (of the apps the principal may read).
    public func builds(app: String? = nil) throws -> [BuildRecord] {
        if let app { _ = try Self.checkedApp(app); try ctx.authorize(.read, app: app, action: "read builds") }
        guard let db = try ctx.existingDatabase() else { return [] }
        return try db.builds(app: app).filter { ctx.principal.may(.read, app: $0.app) }
    }

    public func closure(_ ref: String) throws -> (BuildRecord, [StorePathInfo]) {
        let (b, db) = try findBuild(ref)
        return (b, try db.closure(buildID: b.id))
    }

    /// The build's SBOM, byte-reproducible (its timestamp is the build's finish time unless `now`).
    public func sbom(_ ref: String, format: SBOMFormat, buildtime: Bool = false, now: Bool = false) throws -> String {
        if ref.hasPrefix("addon:") { return try addonServerSBOM(String(ref.dropFirst(6)), format: format, now: now) }
        let (b, db) = try findBuild(ref)
        let lock = try b.lockJSON.map { try DependencyLock.decode($0, file: "build \(b.id) lock") }
        // The derivation graph is read only for --buildtime. A runtime SBOM names components the
        // way Nix parses store path names (builtins.parseDrvName); pname/version set apart from
        // `name` in a derivation are the rare case this misses, and reading the whole graph would
        // double the cost on large closures (bench/sbom-bench.sh).
        let drvs: [String: ShownDerivation] = buildtime ? try Buildtime.derivations(drv: b.drvPath, runner: ctx.runner) : [:]
        let input = SBOMInput(app: b.app, appVersion: try b.spec().metadata.version, outPath: b.outPath, drvPath: b.drvPath,
                              closure: try db.closure(buildID: b.id), lock: lock,
                              derivationNames: Buildtime.derivationNames(from: drvs),
                              buildtime: buildtime ? Buildtime.paths(from: drvs) : nil,
                              created: now ? Date() : b.finishedAt, hopVersion: hopVersion)
        var text = format == .cyclonedx ? CycloneDX.render(input) : SPDX.render(input)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// The SBOM of an addon server (`hop sbom addon:postgres`): the self-contained build of its
    /// seed that runs, with every path of its closure and its hash, named `hop-addon-<type>` at
    /// the version of the Debian package it was imported from; dated when the seed was imported.
    func addonServerSBOM(_ type: String, format: SBOMFormat, now: Bool) throws -> String {
        let t = try Self.checkedAddonType(type)
        try ctx.authorize(.read, app: nil, action: "read the SBOM of the \(t.rawValue) server")
        guard let db = try ctx.existingDatabase(), let seed = try db.seed(name: AddonServers.seedKind(t).rawValue),
              let out = try? FileManager.default.destinationOfSymbolicLink(atPath: ctx.home.gcroots + "/addon-\(t.rawValue)") else {
            throw HopError(.notFound, "hop's \(t.rawValue) server has not been built here", hint: "`hop addon create \(t.rawValue) NAME` builds and starts it")
        }
        let closure = try NixDriver(runner: ctx.runner).closure(of: [out]).map {
            StorePathInfo(path: $0.path, narHash: $0.narHash, narSize: $0.narSize, deriver: $0.deriver, references: $0.references)
        }
        let drv = closure.first { $0.path == out }?.deriver ?? ""
        let input = SBOMInput(app: "hop-addon-\(t.rawValue)", appVersion: seed.version, outPath: out, drvPath: drv, closure: closure,
                              lock: nil, created: now ? Date() : seed.importedAt, hopVersion: hopVersion)
        var text = format == .cyclonedx ? CycloneDX.render(input) : SPDX.render(input)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// SLSA v1.0 provenance of the build: the in-toto Statement, or a DSSE envelope signed with
    /// the server's key.
    public func provenance(_ ref: String, sign: Bool) throws -> Data {
        let (b, db) = try findBuild(ref)
        // An imported build's provenance is the one its bundle carried, signed where it was built.
        if let imported = FileManager.default.contents(atPath: Self.importedProvenanceFile(ctx.home, build: b.id)) {
            guard sign else {
                let envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: imported)
                guard let payload = Data(base64Encoded: envelope.payload) else { throw HopError(.internalError, "build \(b.id)'s imported provenance is damaged") }
                return payload
            }
            return imported
        }
        let closure = try db.closure(buildID: b.id)
        let lock = try b.lockJSON.map { try DependencyLock.decode($0, file: "build \(b.id) lock") }
        let v = (try? ctx.runner.run(Command("nix-store", ["--version"])))?.stdoutText ?? ""
        let nixVersion = v.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "unknown"
        let statement = try SLSA.render(ProvenanceInput(build: b, closure: closure, lock: lock, nixVersion: nixVersion))
        guard sign else { return statement }
        let key = try SigningKey.load(from: ctx.home)
        return try DSSEEnvelope.sign(payload: statement, type: SLSA.payloadType, key: key).json()
    }
}

/// Each recorded build's metadata, decoded once per process. A build record never changes once
/// recorded and its id is never reused, so a cached value cannot go stale.
final class BuildSpecs: @unchecked Sendable {
    static let shared = BuildSpecs()
    private let lock = NSLock()
    private var specs: [Int64: AppSpec] = [:]

    func spec(buildID: Int64, db: HopDatabase) throws -> AppSpec? {
        lock.lock()
        if let s = specs[buildID] { lock.unlock(); return s }
        lock.unlock()
        guard let b = try db.build(id: buildID) else { return nil }
        let s = try b.spec()
        lock.lock(); specs[buildID] = s; lock.unlock()
        return s
    }
}
