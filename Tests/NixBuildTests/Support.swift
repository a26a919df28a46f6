import Foundation
import Testing
import HopBasics
@_exported import HopTestSupport

extension Tag {
    @Tag static var small: Self
    @Tag static var integration: Self
}

let repoRoot: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}()

