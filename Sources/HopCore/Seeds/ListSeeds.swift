import Foundation
import HopBasics
import NixBuild

/// One imported seed, and whether its store path is still in the store.
public struct SeedInfo: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    public var storePath: String
    public var narHash: String
    public var origin: String
    public var importedAt: String
    public var valid: Bool
}

/// `hop seed list`: the seed toolchains builds use, with their hashes.
public enum ListSeeds: HopOperation {
    public static let name = "listSeeds"
    public static let summary = "The imported seed toolchains, with their NAR hashes and whether they are still in the store."
    public static let permission = Permission.admin
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/seeds")
    public static func run(_ input: NoInput, _ call: OperationCall) throws -> [SeedInfo] {
        let nix = NixDriver(runner: call.ctx.runner)
        return try (call.ctx.existingDatabase()?.seeds() ?? []).map {
            SeedInfo(name: $0.name, version: $0.version, storePath: $0.storePath, narHash: $0.narHash, origin: $0.origin,
                     importedAt: isoTime($0.importedAt), valid: nix.isValid($0.storePath))
        }
    }
}
