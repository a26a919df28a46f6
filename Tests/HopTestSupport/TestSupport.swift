import Foundation
import Testing

/// Compares `text` with `Snapshots/<name>` next to the calling test file. With
/// HOP_RECORD_SNAPSHOTS=1 it writes the snapshot and fails, so a recording run can never pass by
/// accident.
public func assertSnapshot(_ text: String, named name: String, filePath: String = #filePath,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
    let dir = URL(fileURLWithPath: filePath).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("Snapshots")
    let file = dir.appendingPathComponent(name)
    if ProcessInfo.processInfo.environment["HOP_RECORD_SNAPSHOTS"] == "1" {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try text.write(to: file, atomically: true, encoding: .utf8)
        Issue.record("recorded snapshot \(name); run again without HOP_RECORD_SNAPSHOTS", sourceLocation: sourceLocation)
        return
    }
    guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
        Issue.record("missing snapshot \(name); record it with HOP_RECORD_SNAPSHOTS=1", sourceLocation: sourceLocation)
        return
    }
    #expect(text == expected, "snapshot \(name) differs", sourceLocation: sourceLocation)
}

/// A fresh temporary directory, removed when `body` returns.
public func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}
