import Foundation
import HopBasics

/// Finds hop's Nix library (the repo's nix/ directory, or share/hop/nix in an installed hop).
public enum NixLibrary {
    public static func locate(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var candidates: [String] = []
        if let d = env["HOP_NIX_LIB"], !d.isEmpty { candidates.append(d) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        candidates.append(dir.appendingPathComponent("../share/hop/nix").standardized.path)
        // A development checkout: .build/<config>/hop → repo root/nix.
        for _ in 0..<5 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent("nix").path)
        }
        // Tests run from the package directory.
        candidates.append(FileManager.default.currentDirectoryPath + "/nix")
        for c in candidates where FileManager.default.fileExists(atPath: c + "/toolchains/seed.nix") {
            return c
        }
        throw HopError(.environment, "cannot find hop's Nix library (nix/toolchains/seed.nix)",
                       hint: "set HOP_NIX_LIB to the nix/ directory of hop's source or installation")
    }
}
