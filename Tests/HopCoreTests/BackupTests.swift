import Foundation
import Testing
import HopBasics
@testable import HopCore
import HopStore
import HopTestSupport
import NixBuild
import Provenance

/// Backups' pure parts: retention, member-name rules, targets, the Redis dump format, and the
/// timer units hop writes (snapshots). The archives themselves are proven end to end in
/// BackupIntegrationTests (real age, libarchive, PostgreSQL, Redis, systemd).
@Suite struct BackupTests {
    static func day(_ d: Int, hour: Int = 3) -> Date {
        var c = DateComponents()
        c.year = 2026; c.month = 1; c.day = d; c.hour = hour
        var cal = Calendar(identifier: .iso8601)
        cal.timeZone = TimeZone(identifier: "UTC")!
        return cal.date(from: c)!
    }

    @Test func retentionKeepsTheNewestOfEachBucket() throws {
        // Two backups a day for 40 days (January 1 … February 9), ids by day and hour.
        var all: [(id: String, at: Date)] = []
        for d in 1...40 { for h in [3, 15] { all.append(("d\(d)h\(h)", Self.day(d, hour: h))) } }
        #expect(try BackupRetention.parse("last=3").keep(all) == ["d40h15", "d40h3", "d39h15"])
        #expect(try BackupRetention.parse("daily=3").keep(all) == ["d40h15", "d39h15", "d38h15"])
        // ISO weeks: Feb 9 2026 is a Monday (week 7); the newest of weeks 7 and 6.
        #expect(try BackupRetention.parse("weekly=2").keep(all) == ["d40h15", "d39h15"])
        #expect(try BackupRetention.parse("monthly=2").keep(all) == ["d40h15", "d31h15"])
        #expect(try BackupRetention.parse("last=1,daily=2,monthly=2").keep(all) == ["d40h15", "d39h15", "d31h15"])
        #expect(BackupRetention(last: 5).keep([]) == [])
    }

    @Test func retentionPoliciesAreChecked() {
        for bad in ["", "last", "last=-1", "yearly=2", "last=x", "last=0"] {
            #expect(throws: HopError.self, "\(bad)") { try BackupRetention.parse(bad) }
        }
        #expect((try? BackupRetention.parse(" last = 2 , weekly=1"))?.text == "last=2,daily=0,weekly=1,monthly=0")
    }

    @Test func memberNamesThatCannotBeExtractedSafely() {
        func problem(_ p: String, _ kind: BackupMember.Kind? = .file, seen: Set<String> = [], links: Set<String> = []) -> String? {
            BackupPathRules.problem(raw: Array(p.utf8), utf8: p, kind: kind, seen: seen, symlinks: links)
        }
        #expect(problem("state/a/b.txt") == nil)
        #expect(problem("state/caf\u{e9}") == nil)
        #expect(problem("hop-backup-manifest.dsse.json") == nil)
        #expect(problem("/etc/passwd")?.contains("absolute") == true)
        #expect(problem("state/../../x")?.contains("..") == true)
        #expect(problem("state//x") != nil)
        #expect(problem("state/./x") != nil)
        #expect(problem("etc/x")?.contains("outside") == true)
        #expect(problem("state/x", nil)?.contains("devices") == true)
        #expect(problem("state/x", seen: ["state/x"])?.contains("twice") == true)
        #expect(problem("state/l/x", links: ["state/l"])?.contains("symbolic link") == true)
        #expect(problem("state/" + String(repeating: "a", count: 256)) != nil)
        #expect(problem("state/" + Array(repeating: "d", count: 3000).joined(separator: "/")) != nil)
        #expect(BackupPathRules.problem(raw: [115, 116, 97, 116, 101, 47, 0xff], utf8: nil, kind: .file, seen: [], symlinks: [])?.contains("UTF-8") == true)
    }

    @Test func targets() throws {
        #expect(try BackupTarget.parse("/srv/backups/") == .local("/srv/backups"))
        #expect(try BackupTarget.parse("offsite:hop/prod") == .remote(name: "offsite", path: "hop/prod"))
        for bad in ["relative/dir", "/srv/../etc", "-x:y", "bad name:x", "r:../x", "r:-flag"] {
            #expect(throws: HopError.self, "\(bad)") { try BackupTarget.parse(bad) }
        }
    }

    @Test func redisDumpRoundTripsAndRefusesTruncation() throws {
        let entries = [RedisDump.Entry(key: Array("a:k".utf8), ttl: -1, value: [0, 1, 2, 255]),
                       RedisDump.Entry(key: Array("a:\u{e9}".utf8), ttl: 3_600_000, value: Array(repeating: 7, count: 70_000))]
        let data = RedisDump.encode(entries)
        #expect(try RedisDump.decode(data) == RedisDump.Dump(ownServer: false, entries: entries))
        // A server of its own: any database, names as the app wrote them.
        let own = [RedisDump.Entry(db: 3, key: Array("rq:queue:default".utf8), ttl: -1, value: [9]), RedisDump.Entry(db: 0, key: Array("k".utf8), ttl: 5, value: [])]
        let ownData = RedisDump.encode(own, ownServer: true)
        let decoded = try RedisDump.decode(ownData)
        #expect(ownData.starts(with: Array("HOPREDIS2\n".utf8)) && decoded == RedisDump.Dump(ownServer: true, entries: own))
        #expect(throws: HopError.self) { try RedisDump.decode(ownData.prefix(ownData.count - 1)) }
        #expect(throws: HopError.self) { try RedisDump.decode(data.prefix(data.count - 1)) }
        #expect(throws: HopError.self) { try RedisDump.decode(Data("nope".utf8)) }
        #expect(RedisClient.encode([Array("GET".utf8), Array("a b".utf8)]) == Array("*2\r\n$3\r\nGET\r\n$3\r\na b\r\n".utf8))
    }

    @Test("a Redis dump moves between layouts: the shared server's prefix goes on a server of its own, is put back into the shared one (database 0 only), is renamed for --to-app")
    func redisDumpConversions() throws {
        let shared = RedisDump.Dump(ownServer: false, entries: [RedisDump.Entry(key: Array("blog:hits".utf8), ttl: -1, value: [1])])
        let own = try RedisDump.converted(shared, source: "blog", target: "blog", targetOwnServer: true)
        #expect(own == RedisDump.Dump(ownServer: true, entries: [RedisDump.Entry(db: 0, key: Array("hits".utf8), ttl: -1, value: [1])]))
        let back = try RedisDump.converted(own, source: "blog", target: "blog2", targetOwnServer: false)
        #expect(back.entries.map { String(decoding: $0.key, as: UTF8.self) } == ["blog2:hits"] && !back.ownServer)
        let renamed = try RedisDump.converted(shared, source: "blog", target: "copy", targetOwnServer: false)
        #expect(renamed.entries.first?.key == Array("copy:hits".utf8))
        // Keys of another addon in a dump, or a database the shared server cannot hold: refused.
        #expect(throws: HopError.self) { try RedisDump.converted(shared, source: "other", target: "x", targetOwnServer: true) }
        let db5 = RedisDump.Dump(ownServer: true, entries: [RedisDump.Entry(db: 5, key: [1], ttl: -1, value: [])])
        #expect(throws: HopError.self) { try RedisDump.converted(db5, source: "a", target: "a", targetOwnServer: false) }
        #expect(try RedisDump.converted(db5, source: "a", target: "b", targetOwnServer: true) == db5)
    }

    @Test func timerUnitsSnapshot() throws {
        try assertSnapshot(try BackupTimerUnits.renderService(app: "blog", hopBinary: "/usr/local/bin/hop", home: "/var/lib/hop"),
                           named: "backup-timer.service")
        try assertSnapshot(BackupTimerUnits.renderTimer(app: "blog", calendar: "*-*-* 03:15:00"), named: "backup-timer.timer")
        // (The measures timer is the same kind of unit pair.)
        try assertSnapshot(try MetricsTimerUnits.renderService(hopBinary: "/usr/local/bin/hop", home: "/var/lib/hop"), named: "metrics-timer.service")
        try assertSnapshot(MetricsTimerUnits.renderTimer(), named: "metrics-timer.timer")
        #expect(throws: HopError.self) { try MetricsTimerUnits.renderService(hopBinary: "/usr/local/bin/hop\nExecStart=/bin/sh", home: "/var/lib/hop") }
    }

    @Test func backupIDsAreCheckedBeforeAnythingIsOpened() throws {
        try withTemporaryDirectory { dir in
            let ops = Operations(HopContext(home: HopHome(root: dir + "/home")))
            for bad in ["../x", "", String(repeating: "a", count: 41), "a b"] {
                #expect(throws: HopError.self) { try ops.backupShow(id: bad) }
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/home"), "a refused request made HOP_HOME")
            #expect(Operations.newBackupID(now: Self.day(5)).hasPrefix("20260105T030000Z-"))
        }
    }
}

@Suite("the children of a backup's pipeline")
struct PipedProcessSignalTests {
    @Test("age, rclone and the like start with SIGPIPE at its default although hop ignores it")
    func childrenGetDefaultSignals() throws {
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        try withTemporaryDirectory { dir in
            let out = dir + "/status"
            let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            #expect(fd >= 0)
            let p = try PipedProcess.spawn("sh", ["-c", "grep '^SigIgn:' /proc/self/status"], stdin: nil, stdout: fd, scratch: dir)
            close(fd)
            #expect(p.wait().status == 0)
            let line = try String(contentsOfFile: out, encoding: .utf8)
            let mask = UInt64(line.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "", radix: 16)
            let pipeBit: UInt64 = 1 << (UInt64(SIGPIPE) - 1)
            #expect(mask != nil && mask! & pipeBit == 0, "SigIgn \(line)")
        }
    }
}

/// The single read a restore makes of an archive: hop's writer (real libarchive, pax + zstd)
/// makes a signed archive; the reader unpacks it from a pipe (a stream read once, never rewound)
/// into a staging directory while it hashes every member, and only then is the signed manifest
/// checked against what was read. age is left out here (BackupIntegrationTests runs it).
@Suite("a restore verifies the archive while it unpacks it, in one read")
struct BackupSinglePassTests {
    static let lastData = Data("the last file of the state".utf8)

    /// Writes a signed archive to `file`; `tamper` changes the manifest's members before it is signed.
    static func writeArchive(_ file: String, home: HopHome, tamper: (inout [BackupMember]) -> Void = { _ in }) throws -> BackupManifest {
        let signer = try SigningKey.generate(in: home, force: true)
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let w = try BackupArchiveWriter(fd: fd)
        try w.directory("meta", mode: 0o700, mtime: 1_700_000_000)
        try w.data("meta/config.json", Data("{}".utf8))
        try w.directory("state", mode: 0o755, mtime: 1_700_000_000)
        try w.data("state/a.bin", Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }), mode: 0o640)
        try w.symlink("state/link", target: "a.bin", mtime: 1_700_000_000)
        try w.directory("state/sub", mode: 0o750, mtime: 1_700_000_000)
        try w.data("state/sub/z-last", lastData)
        var manifest = BackupManifest(id: "20260105T030000Z-abcdef", app: "blog", createdAt: "2026-01-05T03:00:00Z", hopVersion: "test",
                                      generation: nil, build: nil, addons: [], members: w.members, skipped: [], changed: [])
        tamper(&manifest.members)
        let envelope = try DSSEEnvelope.sign(payload: try JSONEncoder().encode(manifest), type: BackupManifest.payloadType, key: signer).json()
        try w.finish(envelope: envelope)
        return manifest
    }

    /// Reads `file` once through a pipe into `staging` (the scan), counting the bytes that passed.
    static func readThroughPipe(_ file: String, staging: String?, limits: BackupArchiveReader.Limits? = nil)
        -> (scan: Result<BackupArchiveReader.Scan, any Error>, fed: String) {
        let fileFD = open(file, O_RDONLY | O_CLOEXEC)
        let p = try! makePipe()
        let feed = FeedResult.copying(from: fileFD, to: p.write, closing: [p.write, fileFD])
        let scan = Result { try BackupArchiveReader.read(fd: p.read, extractTo: staging, limits: limits) }
        var sink = [UInt8](repeating: 0, count: 1 << 16)
        while sink.withUnsafeMutableBytes({ read(p.read, $0.baseAddress, $0.count) }) > 0 {}
        close(p.read)
        feed.done.wait()
        return (scan, feed.digest)
    }

    static func sha256(_ file: String) -> String { (try? sha256Hex(file: file)) ?? "" }

    @Test("a good archive: one read of a pipe both stages every member and verifies them all against the signed manifest")
    func oneReadStagesAndVerifies() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let written = try Self.writeArchive(dir + "/b.tar.zst", home: home)
            let staging = dir + "/staging"
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            let (scan, fed) = Self.readThroughPipe(dir + "/b.tar.zst", staging: staging)
            #expect(fed == Self.sha256(dir + "/b.tar.zst"), "the whole file passed through the pipe once")
            let ops = Operations(HopContext(home: home))
            let (manifest, _) = try ops.checkedManifest(try scan.get(), BackupExpectation(id: written.id, app: "blog"))
            #expect(manifest == written)
            #expect(FileManager.default.contents(atPath: staging + "/state/sub/z-last") == Self.lastData)
            #expect(FileManager.default.contents(atPath: staging + "/state/a.bin")?.count == 300_000)
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: staging + "/state/link")) == "a.bin")
            var st = stat()
            #expect(lstat(staging + "/state/a.bin", &st) == 0 && st.st_mode & 0o7777 == 0o640)
        }
    }

    @Test("the archive's last member differs from its checksum in the signed manifest: everything was staged, yet the check after the read refuses it (exit 7)")
    func corruptedLastMemberIsRefused() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let written = try Self.writeArchive(dir + "/b.tar.zst", home: home) { members in
                members[members.count - 1].sha256 = sha256Hex(Data("what the backup held".utf8))
            }
            #expect(written.members.last?.path == "state/sub/z-last")
            let staging = dir + "/staging"
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            let scan = try Self.readThroughPipe(dir + "/b.tar.zst", staging: staging).scan.get()
            // The reader alone cannot know: the manifest comes last. The check that follows must refuse.
            #expect(FileManager.default.fileExists(atPath: staging + "/state/sub/z-last"))
            let ops = Operations(HopContext(home: home))
            let e = #expect(throws: HopError.self) { try ops.checkedManifest(scan, BackupExpectation(id: written.id, app: "blog")) }
            #expect(e?.code == .verificationFailed && e?.message.contains("state/sub/z-last") == true, "\(String(describing: e))")
            // Another backup's id or app: refused as well.
            let good = try Self.writeArchive(dir + "/c.tar.zst", home: home)
            let goodScan = try Self.readThroughPipe(dir + "/c.tar.zst", staging: nil).scan.get()
            #expect(throws: HopError.self) { try ops.checkedManifest(goodScan, BackupExpectation(id: "20260105T030000Z-000000", app: "blog")) }
            #expect(throws: HopError.self) { try ops.checkedManifest(goodScan, BackupExpectation(id: good.id, app: "other")) }
            // A truncated archive (no manifest at its end) is refused by the reader.
            let whole = try #require(FileManager.default.contents(atPath: dir + "/c.tar.zst"))
            try whole.prefix(whole.count - 40).write(to: URL(fileURLWithPath: dir + "/cut.tar.zst"))
            #expect(throws: HopError.self) { try Self.readThroughPipe(dir + "/cut.tar.zst", staging: nil).scan.get() }
        }
    }

    @Test("an archive holding more members or bytes than its backup recorded is refused before the member past the bound is written")
    func limitsFromTheRecordBoundWhatIsStaged() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let written = try Self.writeArchive(dir + "/b.tar.zst", home: home)
            let exact = BackupExpectation(written).limits!
            #expect(exact == .init(members: written.members.count, bytes: 300_000 + 2 + Int64(Self.lastData.count)))
            #expect(throws: Never.self) { try Self.readThroughPipe(dir + "/b.tar.zst", staging: nil, limits: exact).scan.get() }
            for (i, limits) in [BackupArchiveReader.Limits(members: exact.members - 1, bytes: exact.bytes),
                                BackupArchiveReader.Limits(members: exact.members, bytes: exact.bytes - 1)].enumerated() {
                let staging = dir + "/staging-\(i)"
                try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
                let e = #expect(throws: HopError.self) { try Self.readThroughPipe(dir + "/b.tar.zst", staging: staging, limits: limits).scan.get() }
                #expect(e?.code == .verificationFailed)
                #expect(FileManager.default.fileExists(atPath: staging + "/state/a.bin"))
                #expect(!FileManager.default.fileExists(atPath: staging + "/state/sub/z-last"), "the member past the bound was written")
            }
        }
    }
}
