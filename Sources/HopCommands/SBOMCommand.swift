import ArgumentParser
import Foundation
import HopBasics
import HopStore
import NixBuild
import Provenance

struct SBOMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sbom",
        abstract: "Software bill of materials for a build: CycloneDX 1.6 or SPDX 2.3 JSON, byte-reproducible.")
    enum Format: String, ExpressibleByArgument, CaseIterable { case cyclonedx, spdx }

    @Argument(help: "A build id, or an app name for its latest build.") var build: String
    @Option(help: "cyclonedx or spdx.") var format: Format = .cyclonedx
    @Flag(help: "Add the build-time closure from the derivations.") var buildtime = false
    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.") var output: String?
    @Flag(help: "Use the current time as the document's timestamp (default: the build's finish time, so output is reproducible).")
    var now = false
    @Flag(help: "Accepted for symmetry: the output is JSON already.") var json = false

    func run() throws {
        Hop.jsonMode = json
        let db = try openDB(.fromEnvironment())
        let b = try findBuild(build, db: db)
        let runner = SystemRunner()
        let lock = try b.lockJSON.map { try DependencyLock.decode($0, file: "build \(b.id) lock") }
        // The derivation graph is read only for --buildtime. A runtime SBOM names components the
        // way Nix parses store path names (builtins.parseDrvName); pname/version set apart from
        // `name` in a derivation are the rare case this misses, and reading the whole graph would
        // double the cost on large closures (bench/sbom-bench.sh).
        let drvs: [String: ShownDerivation] = buildtime ? try Buildtime.derivations(drv: b.drvPath, runner: runner) : [:]
        var appVersion: String?
        if let spec = try? JSONSerialization.jsonObject(with: Data(b.specJSON.utf8)) as? [String: Any],
           let meta = spec["metadata"] as? [String: Any] { appVersion = meta["version"] as? String }
        let input = SBOMInput(app: b.app, appVersion: appVersion, outPath: b.outPath, drvPath: b.drvPath,
                              closure: try db.closure(buildID: b.id), lock: lock,
                              derivationNames: Buildtime.derivationNames(from: drvs),
                              buildtime: buildtime ? Buildtime.paths(from: drvs) : nil,
                              created: now ? Date() : b.finishedAt, hopVersion: hopVersion)
        let text = format == .cyclonedx ? CycloneDX.render(input) : SPDX.render(input)
        var data = Data(text.utf8)
        if data.last == 0x0A { data.removeLast() }
        try emit(data, to: output)
    }
}
