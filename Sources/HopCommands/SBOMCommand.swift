import ArgumentParser
import Foundation
import HopBasics
import HopCore
import HopStore
import NixBuild
import Provenance

struct SBOMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sbom",
        abstract: "Software bill of materials for a build: CycloneDX 1.6 or SPDX 2.3 JSON, byte-reproducible.")
    enum Format: String, ExpressibleByArgument, CaseIterable { case cyclonedx, spdx }

    @Argument(help: "A build id, an app name for its latest build, or addon:TYPE for an addon server (addon:postgres).") var build: String
    @Option(help: "cyclonedx or spdx.") var format: Format = .cyclonedx
    @Flag(help: "Add the build-time closure from the derivations.") var buildtime = false
    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.") var output: String?
    @Flag(help: "Use the current time as the document's timestamp (default: the build's finish time, so output is reproducible).")
    var now = false
    @Flag(help: "Accepted for symmetry: the output is JSON already.") var json = false

    func run() throws {
        let text = try cliOperations(json: json).sbom(build, format: format == .cyclonedx ? .cyclonedx : .spdx, buildtime: buildtime, now: now)
        try emit(Data(text.utf8), to: output)
    }
}
