import Foundation
import HopBasics

/// Finds hop's Nix library (the repo's nix/ directory, or share/hop/nix in an installed hop).
public enum NixLibrary {
    public static func locate(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var candidates: [String] = []
        if let d = env["HOP_NIX_LIB"], !d.isEmpty { candidates.append(d) }
        // The resolved executable, not argv[0]: `hop` started from PATH finds PREFIX/share/hop/nix.
        let exe = URL(fileURLWithPath: runningHopBinary())
        var dir = exe.deletingLastPathComponent()
        candidates.append(dir.appendingPathComponent("../share/hop/nix").standardized.path)
        // A development checkout: .build/<config>/hop → repo root/nix.
        for _ in 0..<5 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent("nix").path)
        }
        // Tests run from the package directory.
        candidates.append(FileManager.default.currentDirectoryPath + "/nix")
        // A copy of the binary elsewhere (HOP_HOME/bin, a store path) still finds an installed hop.
        candidates += ["/usr/share/hop/nix", "/usr/local/share/hop/nix"]
        for c in candidates where FileManager.default.fileExists(atPath: c + "/toolchains/seed.nix") {
            return c
        }
        throw HopError(.environment, "cannot find hop's Nix library (nix/toolchains/seed.nix)",
                       hint: "set HOP_NIX_LIB to the nix/ directory of hop's source or installation")
    }
}
