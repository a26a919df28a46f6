import Foundation
import HopBasics
import HopStore
import NixBuild

/// `NixStoreQueries` answered from Nix's database (HopStore's `NixStoreDatabase`), so a build's
/// validity and closure questions cost no Nix process.
struct NixStoreReader: NixStoreQueries {
    let database: NixStoreDatabase

    func validPaths(among paths: [String]) throws -> Set<String> { try database.validPaths(among: paths) }

    func closure(of paths: [String]) throws -> [PathInfo] {
        try database.closure(of: paths).map {
            PathInfo(path: $0.path, narHash: $0.narHash, narSize: $0.narSize, deriver: $0.deriver, references: $0.references)
        }
    }

    /// Opened once per process, on first use; nil when the file cannot be read.
    private static let opened: NixStoreReader? = (try? NixStoreDatabase()).map { NixStoreReader(database: $0) }

    /// The reader for commands `runner` starts, or nil when the answers could differ from what the
    /// Nix those commands run would say: a runner other than the system's (a test's fake), or an
    /// environment that points Nix at another store or a daemon (the `nix-store` hop starts
    /// inherits it). The process environment is read here, not in HopCore's logic, because it is
    /// Nix's input: hop only mirrors what Nix will see.
    static func forRunner(_ runner: any ProcessRunner, environment: [String: String] = ProcessInfo.processInfo.environment) -> NixStoreReader? {
        guard runner is SystemRunner else { return nil }
        let redirecting = ["NIX_REMOTE", "NIX_STORE_DIR", "NIX_STORE", "NIX_STATE_DIR", "NIX_DB_DIR", "NIX_CONFIG"]
        guard !redirecting.contains(where: { !(environment[$0] ?? "").isEmpty }) else { return nil }
        return opened
    }
}
