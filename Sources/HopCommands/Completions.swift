import ArgumentParser
import Foundation
import HopBasics
import HopStore

/// Shell completions of the names hop knows: apps, addons, backups. The shell runs
/// `hop ---completion …`, which calls these; they read hop.db read-only and never fail (a
/// completion that errors would print into the user's command line), so a missing or locked
/// database completes nothing.
enum NameCompletion {
    static func names(_ read: (HopDatabase) throws -> [String]) -> [String] {
        let home = HopHome.fromEnvironment()
        guard FileManager.default.isReadableFile(atPath: home.database),
              let db = try? HopDatabase(path: home.database) else { return [] }
        return ((try? read(db)) ?? []).sorted()
    }

    static func matching(_ all: [String], _ prefix: String) -> [String] {
        prefix.isEmpty ? all : all.filter { $0.hasPrefix(prefix) }
    }

    /// Apps with a build or a generation.
    static let apps = CompletionKind.custom { _, _, prefix in
        matching(names { db in Array(Set(try db.builds().map(\.app) + (try db.deployedApps()))) }, prefix)
    }
    static let addons = CompletionKind.custom { _, _, prefix in
        matching(names { db in try db.addons().map(\.name) }, prefix)
    }
    static let backups = CompletionKind.custom { _, _, prefix in
        matching(names { db in try db.backups().map(\.id) }, prefix)
    }
}
