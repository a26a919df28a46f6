import Foundation
import Testing
import HopBasics
import HopTestSupport
import HopStore
import Runtime
@testable import HopCore

/// The collector on real files and a real metrics.db; systemd is a fake runner that records the
/// reopen signal (the integration suite proves collection against hop's real nginx).
@Suite("The request collector: each line once, across rotation and restarts")
struct RequestCollectorTests {
    func line(_ t: Int, _ status: Int, _ name: String = "shop.localhost") -> String { "\(t).000 \(status) 0.002 100 \(name)\n" }

    func append(_ path: String, _ text: String) throws {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let h = try #require(FileHandle(forWritingAtPath: path))
        try h.seekToEnd(); try h.write(contentsOf: Data(text.utf8)); try h.close()
    }

    @Test("lines are counted once whatever the collections; a torn last line waits; past the size the log is renamed, nginx told to reopen, the rest of the old file read, then removed")
    func rotation() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            try home.ensure()
            let runner = FakeProcessRunner()
            let front = NginxFront(home: home, host: ServiceHost(rootPrefix: "", pid: nil, runner: runner))
            try FileManager.default.createDirectory(atPath: front.sitesDirectory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: front.directory + "/logs", withIntermediateDirectories: true)
            try "server {\n  server_name shop.localhost;\n}\n".write(toFile: front.sitePath(app: "shop"), atomically: true, encoding: .utf8)
            var collector = RequestCollector(home: home, front: front)
            collector.rotateBytes = 300
            let log = front.requestLog
            let t = Int(Date().timeIntervalSince1970) / 10 * 10 - 100   // recent: compaction keeps it
            var sent = 0
            func total() throws -> Int { try MetricsStore(path: collector.storePath).requests(app: "shop", from: 0, to: t + 1000).map(\.requests).reduce(0, +) }

            try append(log, line(t, 200) + line(t + 1, 404) + line(t + 2, 200, "other.localhost") + "\(t + 3).000 200 0.00")
            sent += 2
            #expect(try collector.collect() == 3)   // three lines parsed; the foreign name is not an app's
            #expect(try total() == sent)
            #expect(try collector.collect() == 0, "nothing new: nothing counted again")
            try append(log, "2 100 shop.localhost\n")   // the torn line completed: counted now
            for i in 0..<10 { try append(log, line(t + 10 + i, 200)) }
            sent += 11
            _ = try collector.collect()
            #expect(try total() == sent)
            // Past 300 bytes: renamed and nginx signalled.
            #expect(FileManager.default.fileExists(atPath: collector.rotated) && !FileManager.default.fileExists(atPath: log))
            #expect(runner.commandWords.contains { $0.contains("--signal=USR1") && $0.contains(NginxFront.unit) }, "\(runner.commandWords)")
            // nginx writes a little more to the old file before it reopens: kept until then.
            try append(collector.rotated, line(t + 30, 503))
            sent += 1
            _ = try collector.collect()
            #expect(try total() == sent && FileManager.default.fileExists(atPath: collector.rotated))
            // Reopened: the new file's lines and the old file's rest, each once; the old file gone.
            try append(collector.rotated, line(t + 31, 200))
            try append(log, line(t + 40, 200) + line(t + 41, 301))
            sent += 3
            _ = try collector.collect()
            #expect(try total() == sent)
            #expect(!FileManager.default.fileExists(atPath: collector.rotated))
            _ = try collector.collect()
            #expect(try total() == sent)
            let classes = try MetricsStore(path: collector.storePath).requests(app: "shop", from: 0, to: t + 1000)
                .reduce(into: [0, 0, 0, 0, 0]) { acc, b in for i in 0..<5 { acc[i] += b.classes[i] } }
            #expect(classes == [0, 14, 1, 1, 1])
        }
    }
}
