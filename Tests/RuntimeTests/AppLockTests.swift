import Foundation
import Testing
import HopBasics
@testable import Runtime

/// Who holds a lock, as a waiting command sees it.
@Suite struct AppLockTests {
    @Test("a busy lock names its holder (command words, pid, how long) and never a value it was given; waiting is told")
    func busyNamesTheHolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-lock-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let held = try AppLock(path: dir + "/lock", what: "app blog", wait: 0)
        final class Told: @unchecked Sendable { var lines: [String] = [] }
        let told = Told()
        AppLock.onWait = { told.lines.append($0) }
        defer { AppLock.onWait = nil }
        do {
            _ = try AppLock(path: dir + "/lock", what: "app blog", wait: 0.3)
            Issue.record("a second lock was granted")
        } catch let e as HopError {
            #expect(e.code == .busy)
            #expect(e.message.hasPrefix("app blog is busy: `hop") && e.message.contains("(pid \(getpid())) has held it for "), "\(e.message)")
        }
        #expect(told.lines.first?.hasPrefix("waiting for app blog: `hop") == true, "\(told.lines)")
        withExtendedLifetime(held) {}
        #expect(AppLock.commandWords(["hop", "config", "set", "blog", "SECRET=xyz", "--watch", "0"]) == "hop config set blog")
        #expect(AppLock.commandWords(["hop", "deploy", "./app", "--app", "blog"]) == "hop deploy")
        #expect(AppLock.commandWords(["/usr/bin/hop", "server", "run", "--socket", "/x"]) == "a request to hop server")
    }
}
