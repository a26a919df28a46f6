import ArgumentParser
import Foundation
import HopBasics
import HopCore
import HopStore
import NixBuild
import Provenance

struct VerifyCommand: ParsableCommand {
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
    @Flag var json = false

    func validate() throws {
        if rebuildOnly && storeOnly { throw ValidationError("--rebuild-only and --store-only exclude each other") }
    }

    func run() throws {
        Hop.jsonMode = json
        let (b, db) = try cliOperations(json: json).findBuild(build)
        var report: [String: Any] = ["build": Int(b.id), "app": b.app, "outPath": b.outPath]
        var failure: HopError?

        if !rebuildOnly {
            let closure = try db.closure(buildID: b.id)
            if !json { Out.progress("store check: hashing \(closure.count) paths…") }
            let checks = try StoreCheck.verify(paths: closure.map { (path: $0.path, narHash: $0.narHash) }, storeRoot: storeRoot)
            if !json { Out.endProgress() }
            let bad = checks.filter { !$0.ok }
            report["store"] = ["ok": bad.isEmpty, "checked": checks.count,
                               "mismatches": bad.map { ["path": $0.path, "problem": $0.problem ?? ""] }]
            if !json {
                Out.line(bad.isEmpty ? "store: \(checks.count) paths match their recorded NAR hashes" : "store: \(bad.count) of \(checks.count) paths changed")
                for c in bad { Out.line("  CHANGED \(c.path): \(c.problem ?? "")") }
            }
            if !bad.isEmpty {
                failure = HopError(.verificationFailed, "\(bad.count) store path(s) of build \(b.id) no longer match their recorded NAR hash",
                                   hint: "restore them (nix-store --repair-path PATH) or rebuild")
            }
        }

        if !storeOnly {
            // Every derivation of the runtime closure that still exists (app, Python env, patched
            // toolchains), app first: the whole closure must rebuild bit for bit.
            let closure = try db.closure(buildID: b.id)
            var drvs = [b.drvPath]
            for p in closure { if let d = p.deriver, d != b.drvPath, FileManager.default.fileExists(atPath: d) { drvs.append(d) } }
            let nix = NixDriver(runner: SystemRunner())
            var checked: [[String: Any]] = []
            var allDiffs: [[String: Any]] = []
            for (i, drv) in drvs.enumerated() {
                if !json { Out.progress("rebuild check [\(i + 1)/\(drvs.count)]: \(drv)") }
                let check: (identical: Bool, log: String)
                do { check = try nix.check(drv: drv, keep: true) } catch let e as HopError {
                    if !json { Out.endProgress() }
                    report["rebuild"] = ["ok": false, "error": e.message, "derivation": drv]
                    if json { Out.json(report); throw ExitCode(e.code.exitCode) }
                    throw e
                }
                let out = closure.first { $0.deriver == drv }?.path ?? (drv == b.drvPath ? b.outPath : "")
                var entry: [String: Any] = ["derivation": drv, "output": out, "reproducible": check.identical]
                if !check.identical {
                    let second = out + ".check"
                    let diffs = (try? TreeDiff.compare(out, second)) ?? []
                    entry["secondOutput"] = second
                    let rows = diffs.map { d -> [String: Any] in
                        var o: [String: Any] = ["output": out, "path": d.path, "kind": d.kind.rawValue]
                        if let s = d.sizeBefore { o["sizeBefore"] = Int(s) }
                        if let s = d.sizeAfter { o["sizeAfter"] = Int(s) }
                        return o
                    }
                    entry["differences"] = rows
                    allDiffs += rows
                    if diffoscope {
                        let d = try? SystemRunner().run(Command("diffoscope", ["--text", "-", out, second]))
                        entry["diffoscope"] = d?.stdoutText ?? "diffoscope is not installed (apt install diffoscope)"
                    }
                }
                checked.append(entry)
            }
            if !json { Out.endProgress() }
            let reproducible = checked.allSatisfy { $0["reproducible"] as? Bool == true }
            report["rebuild"] = ["reproducible": reproducible, "derivations": checked, "differences": allDiffs]
            if !json {
                Out.line(reproducible ? "rebuild: reproducible: \(checked.count) derivation(s) bit-for-bit identical"
                                      : "rebuild: NOT reproducible")
                for c in checked where c["reproducible"] as? Bool == false {
                    Out.line("  \(c["output"] as? String ?? ""): second output kept at \(c["secondOutput"] as? String ?? "")")
                    for d in c["differences"] as? [[String: Any]] ?? [] {
                        let sizes = [(d["sizeBefore"] as? Int).map { "\($0) B" } ?? "-", (d["sizeAfter"] as? Int).map { "\($0) B" } ?? "-"].joined(separator: " → ")
                        Out.line("    \(pad(d["kind"] as? String ?? "", 12))\(pad(sizes, 24))\(d["path"] as? String ?? "")")
                    }
                    if let text = c["diffoscope"] as? String { Out.line(text) }
                }
            }
            if !reproducible {
                failure = failure ?? HopError(.notReproducible, "build \(b.id) (\(b.app)) is not reproducible: \(allDiffs.count) difference(s)",
                                              hint: "remove the nondeterminism (timestamps, randomness, build paths) from the build steps")
            }
        }
        if json { Out.json(report) }
        if let failure {
            if json { throw ExitCode(failure.code.exitCode) }
            throw failure
        }
    }
}

struct NarHashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nar-hash", abstract: "NAR SHA-256 of a path, computed by hop (compare `nix hash path`).")
    @Argument var path: String
    @Flag var json = false
    func run() throws {
        Hop.jsonMode = json
        let d = try NAR.hash(path: path)
        if json { Out.json(["path": path, "narHash": d.nixBase32, "sha256": d.hex, "narSize": Int(d.size)]); return }
        Out.line("\(d.nixBase32)  \(d.size)")
    }
}
