import Foundation
import Testing

extension Tag {
    /// Pure, in-memory or tiny-file tests that run in milliseconds.
    @Tag static var small: Self
}

/// A fresh directory under the system temporary directory, removed when `body` returns.
func withTemporaryDirectory<T>(named name: String = "app", _ body: (String) throws -> T) throws -> T {
    let parent = FileManager.default.temporaryDirectory.appendingPathComponent("appspec-tests-\(UUID().uuidString)")
    let directory = parent.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: parent) }
    return try body(directory.path)
}

/// Writes `files` (relative path → contents) into `directory`; names in `executables` get mode 0755.
func write(_ files: [String: String], into directory: String, executables: Set<String> = []) throws {
    for (name, text) in files {
        let path = directory + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        if executables.contains(name) {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
    }
}
