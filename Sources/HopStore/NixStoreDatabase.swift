import Foundation
import HopBasics

/// One path's registration in the Nix store, read from Nix's database.
public struct NixRegistration: Sendable, Hashable {
    public var path: String
    /// SRI form (`sha256-<base64>`), as `nix path-info --json` prints it.
    public var narHash: String
    public var narSize: Int64
    public var deriver: String?
    /// Sorted store paths.
    public var references: [String]
}

/// Nix's own store database (`/nix/var/nix/db/db.sqlite`), opened read-only: the answers
/// `nix-store --check-validity` and `nix path-info --recursive` give, without starting a Nix
/// process (40–70 ms each here). Nix keeps the file in WAL mode and commits a path's registration
/// before the command that built or added it returns, so a reader sees every path as soon as Nix
/// says it exists. The schema (ValidPaths, Refs) is the one Nix has used since 1.x; a file
/// without it is refused at open, and callers then ask the command line.
///
/// Written by hand because no library reads Nix's store: the Nix C API arrived after 2.8.
public final class NixStoreDatabase: @unchecked Sendable {
    public static let defaultPath = "/nix/var/nix/db/db.sqlite"
    let db: Database

    /// Opens the file read-only and checks it has Nix's tables; throws `.environment` otherwise.
    public init(path: String = NixStoreDatabase.defaultPath) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw HopError(.environment, "cannot read Nix's database \(path)")
        }
        db = try Database(path: path, readOnly: true)
        let tables = try db.read { try $0.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").rows([]) { try $0.text(0) } }
        guard Set(tables).isSuperset(of: ["ValidPaths", "Refs"]) else {
            throw HopError(.environment, "\(path) is not a Nix store database (no ValidPaths/Refs tables)")
        }
    }

    /// The paths among `paths` that are registered (valid).
    public func validPaths(among paths: [String]) throws -> Set<String> {
        guard !paths.isEmpty else { return [] }
        return try db.read { conn in
            let stmt = try conn.cached("SELECT 1 FROM ValidPaths WHERE path = ?")
            var valid = Set<String>()
            for p in paths where try !stmt.rows([.text(p)]) { _ in true }.isEmpty { valid.insert(p) }
            return valid
        }
    }

    /// The runtime closure of `paths` (each path and everything it references, transitively),
    /// sorted by path, read in one transaction. Throws `.notFound` when one of `paths` is not valid.
    public func closure(of paths: [String]) throws -> [NixRegistration] {
        try db.read { conn in
            try conn.execute("BEGIN")
            defer { try? conn.execute("COMMIT") }
            let idOf = try conn.cached("SELECT id FROM ValidPaths WHERE path = ?")
            var pending: [Int64] = []
            for p in paths {
                guard let id = try idOf.rows([.text(p)], { try $0.int64(0) }).first else {
                    throw HopError(.notFound, "\(p) is not a valid store path")
                }
                pending.append(id)
            }
            let row = try conn.cached("SELECT path, hash, narSize, deriver FROM ValidPaths WHERE id = ?")
            let refs = try conn.cached("SELECT v.id, v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference WHERE r.referrer = ?")
            var seen = Set(pending)
            var out: [NixRegistration] = []
            while let id = pending.popLast() {
                guard let r = try row.rows([.integer(id)], { s in
                    (try s.text(0), try s.text(1), s.isNull(2) ? 0 : try s.int64(2), s.optionalText(3))
                }).first else { continue }
                let references = try refs.rows([.integer(id)]) { s in (try s.int64(0), try s.text(1)) }
                for (rid, _) in references where seen.insert(rid).inserted { pending.append(rid) }
                out.append(NixRegistration(path: r.0, narHash: try Self.sri(r.1), narSize: r.2,
                                           deriver: r.3.flatMap { $0.isEmpty ? nil : $0 },
                                           references: references.map(\.1).sorted()))
            }
            return out.sorted { $0.path < $1.path }
        }
    }

    /// Nix's database form `sha256:<base16>` (older registrations: `sha256:<nix base32>`, not
    /// converted here) as SRI `sha256-<base64>`.
    static func sri(_ stored: String) throws -> String {
        guard stored.hasPrefix("sha256:"), let raw = bytes(fromHex: String(stored.dropFirst(7))), raw.count == 32 else {
            throw HopError(.internalError, "unexpected NAR hash form in Nix's database: \(stored)")
        }
        return "sha256-" + Data(raw).base64EncodedString()
    }
}
