import ArgumentParser
import Foundation
import HopBasics
import HopCore
import HopStore
import NixBuild
import Provenance

struct VerifyCommand: ParsableCommand, RemoteCapable {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove a build: rebuild it and compare bit for bit, and re-hash its closure against the record.",
        discussion: """
        Exit codes: 0 reproducible and untouched; 5 the rebuild differs; 6 the check could not run;
        7 a store path no longer matches its recorded NAR hash.
        """)
    @Argument(help: "A build id, or an app name for its latest build.") var build: String
    @Flag(help: "Only the rebuild check.") var rebuildOnly = false
    @Flag(help: "Only the store check.") var storeOnly = false
    @Option(help: "Check a copy of the store rooted here (its files under ROOT/nix/store).") var storeRoot: String = ""
    @Flag(help: "When the rebuild differs, also run diffoscope on the two outputs (if installed).") var diffoscope = false
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }

    func validate() throws {
        if rebuildOnly && storeOnly { throw ValidationError("--rebuild-only and --store-only exclude each other") }
    }

    func run() throws {
        let report = try runOperation(VerifyBuild.self, .init(id: build, rebuildOnly: rebuildOnly, storeOnly: storeOnly,
                                                              storeRoot: storeRoot.isEmpty ? nil : storeRoot, diffoscope: diffoscope), json: json)
        let failure = report.failure
        if json {
            emit(report)
            if let failure { throw ExitCode(failure.code.exitCode) }
            return
        }
        Out.endProgress()
        if let s = report.store {
            Out.line(s.ok ? "store: \(s.checked) paths match their recorded NAR hashes" : "store: \(s.mismatches.count) of \(s.checked) paths changed")
            for m in s.mismatches { Out.line("  CHANGED \(m.path): \(m.problem)") }
        }
        if let r = report.rebuild, r.error == nil {
            let reproducible = r.reproducible == true
            Out.line(reproducible ? "rebuild: reproducible: \(r.derivations?.count ?? 0) derivation(s) bit-for-bit identical" : "rebuild: NOT reproducible")
            for c in r.derivations ?? [] where !c.reproducible {
                Out.line("  \(c.output): second output kept at \(c.secondOutput ?? "")")
                for d in c.differences ?? [] {
                    let sizes = [d.sizeBefore.map { "\($0) B" } ?? "-", d.sizeAfter.map { "\($0) B" } ?? "-"].joined(separator: " → ")
                    Out.line("    \(pad(d.kind, 12))\(pad(sizes, 24))\(d.path)")
                }
                if let text = c.diffoscope { Out.line(text) }
            }
        }
        if let failure { throw failure }
    }
}

struct NarHashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nar-hash", abstract: "NAR SHA-256 of a path, computed by hop (compare `nix hash path`).")
    @Argument var path: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        Hop.jsonMode = json
        let d = try NAR.hash(path: path)
        if json { Out.json(["path": path, "narHash": d.nixBase32, "sha256": d.hex, "narSize": Int(d.size)]); return }
        Out.line("\(d.nixBase32)  \(d.size)")
    }
}
