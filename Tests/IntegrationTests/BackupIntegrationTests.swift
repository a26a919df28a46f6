import Foundation
import Testing
import Crypto
import HopBasics
import Runtime

/// What an app of the pg-app fixture holds, read from the outside: its PostgreSQL rows (psql as the
/// superuser over hop's socket), its Redis keys (through the app's own credentials) and its
/// volume's files (type, name, bytes or link target). Equal snapshots mean equal data.
struct DataSnapshot: Equatable, CustomStringConvertible {
    var rows: String
    var redis: String
    var tree: String
    var description: String { "rows:\n\(rows.suffix(400))\nredis: \(redis)\ntree:\n\(tree.suffix(600))" }

    static func take(_ app: String, addon: String? = nil) throws -> DataSnapshot {
        let pg = try FileManager.default.destinationOfSymbolicLink(atPath: sharedHome.gcroots + "/addon-postgres")
        let r = try SystemRunner().run(Command(pg + "/bin/psql", ["-X", "-A", "-t", "-h", hostPath("/run/hop-addons/postgres"), "-U", "postgres",
                                                                  "-d", addon ?? "\(app)-postgres", "-c", "SELECT * FROM visits ORDER BY id"]))
        let script = """
            import os, json, redis
            r = redis.Redis.from_url(os.environ["REDIS_URL"]); p = os.environ["REDIS_KEY_PREFIX"]
            v = lambda b: b.decode() if b is not None else None
            print(json.dumps({"hits": v(r.get(p + "hits")), "h": {k.decode(): x.decode() for k, x in r.hgetall(p + "h").items()},
                              "l": [x.decode() for x in r.lrange(p + "l", 0, -1)], "ttl": r.ttl(p + "ttl") > 0}, sort_keys=True))
            """
        let redis = try hopEnv(["run", app, "--", "python3", "-c", script])
        return DataSnapshot(rows: r.succeeded ? r.stdoutText : "psql failed: \(r.stderrText)", redis: redis.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                            tree: treeListing(hostPath("/var/lib/private/hop-apps/\(app)/volumes/files")))
    }
}

/// Every entry under `root` (links not followed): kind, relative name and sha256 or link target.
func treeListing(_ root: String) -> String {
    guard let names = FileManager.default.subpaths(atPath: root) else { return "(no tree at \(root))" }
    return names.sorted().map { n -> String in
        let p = root + "/" + n
        var st = stat()
        lstat(p, &st)
        switch st.st_mode & S_IFMT {
        case S_IFLNK: return "l \(n) -> \((try? FileManager.default.destinationOfSymbolicLink(atPath: p)) ?? "?")"
        case S_IFDIR: return "d \(n)"
        default: return "f \(n) \(FileManager.default.contents(atPath: p).map { hexString(SHA256.hash(data: $0)) } ?? "unreadable")"
        }
    }.joined(separator: "\n")
}

/// Deploys the pg-app fixture as `app` and fills all three kinds of data; `visits` visits.
func deployWithData(_ app: String, visits: Int = 3) throws -> DataCounter {
    let d = try hopEnv(["deploy", fixtures + "/pg-app", "--app", app, "--watch", "0"])
    #expect(d.status == 0, "\(d.stderr)")
    let counter = DataCounter(app, "/visit", "visits")
    for i in 0..<visits { counter.next("visit \(i + 1)") }
    #expect(fetch(app, "/hits").body == "hits=1\n")
    #expect(fetch(app, "/hits").body == "hits=2\n")
    let py = """
        import os, redis
        r = redis.Redis.from_url(os.environ["REDIS_URL"]); p = os.environ["REDIS_KEY_PREFIX"]
        r.hset(p + "h", mapping={"a": "1", "b": "2"}); r.set(p + "ttl", "x", ex=3600); r.rpush(p + "l", "x", "y")
        """
    #expect(try hopEnv(["run", app, "--", "python3", "-c", py]).status == 0)
    let files = try hopEnv(["run", app, "--", "sh", "-c",
                            "mkdir -p files/sub/empty && printf hello > files/a.txt && head -c 300000 /dev/urandom > files/sub/blob && printf x > 'files/caf\u{e9}.txt' && ln -s a.txt files/link"])
    #expect(files.status == 0, "\(files.stderr)")
    return counter
}

func backupCreate(_ app: String, _ extra: [String] = []) throws -> [String: Any] {
    let r = try hopEnv(["backup", "create", app, "--json"] + extra)
    #expect(r.status == 0, "backup create: \(r.stderr)")
    return json(r.stdout)
}

func restoreStagingLeft() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: sharedHome.root + "/host/app-state/private")) ?? []).filter { $0.hasPrefix(".hop-restore-") }
}

/// A server the test starts on a loopback port (in the background, through sh) and stops by its PID.
final class LoopbackServer {
    let pid: pid_t
    let port: Int
    init(_ executable: String, _ args: [String], port: Int, log: String) throws {
        self.port = port
        let r = try SystemRunner().run(Command("sh", ["-c", "\"$0\" \"$@\" >\"$LOG\" 2>&1 </dev/null & echo $!", executable] + args,
                                               environment: ["LOG": log]))
        pid = pid_t(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let deadline = Date().addingTimeInterval(30)
        while !listening(port) && Date() < deadline && alive { usleep(100_000) }
    }
    var alive: Bool { pid > 0 && kill(pid, 0) == 0 }
    var up: Bool { alive && listening(port) }
    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while alive && Date() < deadline { usleep(50_000) }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:port.
func listening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

func freePort(from: Int) -> Int {
    var p = from + Int.random(in: 0..<500)
    while listening(p) { p += 1 }
    return p
}

/// Debian's OpenSSH server on 127.0.0.1: root by key only, host key pinned in a known_hosts file.
func startSSHD(_ dir: String) throws -> (server: LoopbackServer, key: String, knownHosts: String) {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    let run = SystemRunner()
    for k in ["host_key", "client_key"] {
        #expect(try run.run(Command("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/" + k])).succeeded)
    }
    try FileManager.default.copyItem(atPath: dir + "/client_key.pub", toPath: dir + "/authorized_keys")
    let port = freePort(from: 22200)
    let config = """
        Port \(port)
        ListenAddress 127.0.0.1
        HostKey \(dir)/host_key
        PidFile \(dir)/sshd.pid
        AuthorizedKeysFile \(dir)/authorized_keys
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        Subsystem sftp internal-sftp
        """
    try config.write(toFile: dir + "/sshd_config", atomically: true, encoding: .utf8)
    let hostPub = try String(contentsOfFile: dir + "/host_key.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
    try "[127.0.0.1]:\(port) \(hostPub)\n".write(toFile: dir + "/known_hosts", atomically: true, encoding: .utf8)
    let server = try LoopbackServer("/usr/sbin/sshd", ["-D", "-f", dir + "/sshd_config", "-E", dir + "/sshd.log"], port: port, log: dir + "/stdout.log")
    return (server, dir + "/client_key", dir + "/known_hosts")
}

@Suite("Backups that restore: signed, encrypted, verified, restored by swap, undone on failure", .tags(.integration), .serialized)
struct BackupIntegrationTests {
    @Test("round trip: backup → --to-app clone while the original serves → destroy --purge → restore: the same rows, Redis keys and volume files; age -d and tar open it without hop")
    func roundTrip() throws {
        try #require(deployHost.ready)
        let app = "it-bk"
        let visits = try deployWithData(app)
        let before = try DataSnapshot.take(app)
        #expect(before.rows.split(separator: "\n").count == 3 && before.redis.contains("\"hits\": \"2\"") && before.tree.contains("caf\u{e9}.txt"),
                "the fixture's data is not there: \(before)")
        let b = try backupCreate(app)
        let id = try #require(b["id"] as? String)
        let location = try #require(b["location"] as? String)
        #expect(b["status"] as? String == "ok" && (b["addons"] as? [String])?.sorted() == ["\(app)-postgres", "\(app)-redis"])

        // Without hop: Debian's age and tar open it.
        let dir = try FileManager.default.url(for: .itemReplacementDirectory, in: .userDomainMask, appropriateFor: URL(fileURLWithPath: "/tmp"), create: true).path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let listed = try SystemRunner().run(Command("sh", ["-c", "age -d -i \"$1\" \"$2\" | tar -t --zstd", "sh", sharedHome.root + "/keys/backup.age", location]))
        #expect(listed.succeeded, "\(listed.stderrText)")
        for member in ["state/volumes/files/a.txt", "state/volumes/files/caf\u{e9}.txt", "addons/\(app)-postgres.pgdump", "addons/\(app)-redis.redis",
                       "meta/config.json", "meta/provenance.dsse.json", "hop-backup-manifest.dsse.json"] {
            #expect(listed.stdoutText.split(separator: "\n").contains { $0 == member || $0 == member + "/" }, "tar -t lacks \(member): \(listed.stdoutText.prefix(800))")
        }
        let extracted = try SystemRunner().run(Command("sh", ["-c", "age -d -i \"$1\" \"$2\" | tar -x --zstd -C \"$3\" && cat \"$3/state/volumes/files/a.txt\"",
                                                               "sh", sharedHome.root + "/keys/backup.age", location, dir]))
        #expect(extracted.stdoutText == "hello", "\(extracted.stderrText)")
        #expect(try hopEnv(["backup", "verify", id]).status == 0)

        // A clone while the original keeps serving: its own addons, the same data.
        let clone = "it-bk-clone"
        let c = try hopEnv(["backup", "restore", "--yes", id, "--to-app", clone, "--json"])
        #expect(c.status == 0, "\(c.stderr)")
        let cloneAddon = try #require((json(c.stdout)["addons"] as? [String])?.first { $0.hasSuffix("postgres") })
        #expect(cloneAddon != "\(app)-postgres")
        #expect(try DataSnapshot.take(clone, addon: cloneAddon) == before, "the clone's data differs")
        visits.next("the clone was made")
        #expect(fetch(clone, "/visit").body == "visits=4\n", "the clone counts on its own copy")
        #expect(fetch(clone, "/visit").body == "visits=5\n")
        visits.next("the clone counted twice")
        #expect(try hopEnv(["destroy", clone, "--purge", "--yes"]).status == 0)

        // Everything gone, then back.
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: hostPath("/var/lib/private/hop-apps/\(app)")), "purge left the state")
        let r = try hopEnv(["backup", "restore", "--yes", id, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let after = try DataSnapshot.take(app)
        #expect(after == before, "restored data differs:\nbefore \(before)\nafter \(after)")
        #expect(fetch(app, "/visit").body == "visits=4\n")
        #expect(restoreStagingLeft().isEmpty)
        // Listed, shown, audited.
        let shown = json(try hopEnv(["backup", "show", id, "--json"]).stdout)
        #expect(shown["verifiedAt"] != nil && shown["sha256"] as? String == b["sha256"] as? String)
        let audit = try hopEnv(["audit", "--json"]).stdout
        for action in ["backup create", "backup verify", "backup restore"] { #expect(audit.contains("\"\(action)\""), "\(action) is not audited") }
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a flipped byte, a truncated archive and a manifest signed by another key are refused by verify and restore (exit 7); nothing changes")
    func tamperedArchivesAreRefused() throws {
        try #require(deployHost.ready)
        let app = "it-bk-tamper"
        let visits = try deployWithData(app, visits: 1)
        let b = try backupCreate(app)
        let id = try #require(b["id"] as? String), location = try #require(b["location"] as? String)
        let original = try #require(FileManager.default.contents(atPath: location))
        let dir = sharedHome.root + "/tamper"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var flipped = original
        flipped[flipped.count / 2] ^= 0x01
        try flipped.write(to: URL(fileURLWithPath: dir + "/flipped.tar.zst.age"))
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: dir + "/truncated.tar.zst.age"))
        // Signed by another key: the machine's key is swapped for a new one while a backup is made.
        let keyFile = sharedHome.root + "/keys/provenance.key"
        let savedKey = try #require(FileManager.default.contents(atPath: keyFile))
        #expect(try hopEnv(["key", "generate", "--force"]).status == 0)
        let other = try backupCreate(app)
        try savedKey.write(to: URL(fileURLWithPath: keyFile))
        let otherID = try #require(other["id"] as? String)
        visits.next("the backups")
        let rowsBefore = try DataSnapshot.take(app)
        for (what, ref) in [("a flipped byte", dir + "/flipped.tar.zst.age"), ("a truncated archive", dir + "/truncated.tar.zst.age"),
                            ("another key's signature", otherID), ("another key's signature, as a file", other["location"] as? String ?? "")] {
            let v = try hopEnv(["backup", "verify", ref])
            #expect(v.status == 7, "verify of \(what): \(v.status) \(v.stderr)")
            let r = try hopEnv(["backup", "restore", "--yes", ref])
            #expect(r.status == 7, "restore of \(what): \(r.status) \(r.stderr)")
        }
        // The recorded backup whose file changed: refused by its hash before anything is read.
        try flipped.write(to: URL(fileURLWithPath: location))
        let v = try hopEnv(["backup", "verify", id])
        #expect(v.status == 7 && v.stderr.contains("not the file that was written"), "\(v.stderr)")
        #expect(try hopEnv(["backup", "restore", "--yes", id]).status == 7)
        try original.write(to: URL(fileURLWithPath: location))
        #expect(try hopEnv(["backup", "verify", id]).status == 0, "the untouched file verifies again")
        #expect(try DataSnapshot.take(app) == rowsBefore, "a refused restore changed the data")
        visits.next("the refusals")
        #expect(restoreStagingLeft().isEmpty)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a restore reads the archive once (one age -d) and verifies it while it unpacks: a recorded backup whose last member changed is staged whole, then refused (exit 7) before anything is swapped; the live files, rows and Redis keys stay, the staging goes")
    func restoreReadsOnceAndRefusesAtTheEnd() throws {
        try #require(deployHost.ready)
        let app = "it-bk-once"
        let visits = try deployWithData(app, visits: 2)
        let b = try backupCreate(app)
        let id = try #require(b["id"] as? String), location = try #require(b["location"] as? String)
        let original = try #require(FileManager.default.contents(atPath: location))
        let dir = sharedHome.root + "/once"
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // age on PATH logs each run (hop finds age through PATH): the decryptions are the reads of the archive.
        let age = try #require(["/usr/bin/age", "/usr/local/bin/age"].first { FileManager.default.isExecutableFile(atPath: $0) })
        try "#!/bin/sh\necho \"$*\" >>\(dir)/age.log\nexec \(age) \"$@\"\n".write(toFile: dir + "/bin/age", atomically: true, encoding: .utf8)
        chmod(dir + "/bin/age", 0o755)
        let env: [String: String?] = ["PATH": dir + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        func decryptions() -> Int {
            ((try? String(contentsOfFile: dir + "/age.log", encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.hasPrefix("-d") }.count
        }
        // The archive again with one byte of its state's last file flipped, encrypted to this machine.
        let script = """
            import io, subprocess, sys, tarfile
            key, src, out = sys.argv[1:4]
            plain = subprocess.run(["sh", "-c", 'age -d -i "$0" "$1" | zstd -d -q -c', key, src], check=True, capture_output=True).stdout
            recipient = subprocess.run(["age-keygen", "-y", key], check=True, capture_output=True, text=True).stdout.split("\\n")[0]
            with tarfile.open(fileobj=io.BytesIO(plain)) as t:
                last = [m for m in t.getmembers() if m.isfile() and m.size > 0 and m.name.startswith("state/")][-1]
            buf = bytearray(plain)
            buf[last.offset_data + last.size - 1] ^= 1
            zst = subprocess.run(["zstd", "-q", "-c"], input=bytes(buf), check=True, capture_output=True).stdout
            subprocess.run(["age", "-e", "-r", recipient, "-o", out], input=zst, check=True)
            print(last.name)
            """
        let made = try SystemRunner().run(Command("python3", ["-c", script, sharedHome.root + "/keys/backup.age", location, dir + "/last.tar.zst.age"]))
        #expect(made.succeeded, "\(made.stderrText)")
        let tampered = try #require(FileManager.default.contents(atPath: dir + "/last.tar.zst.age"))

        // Live data that differs from the backup's.
        visits.next("after the backup")
        #expect(try hopEnv(["run", app, "--", "sh", "-c", "printf live > files/a.txt"]).status == 0)
        let live = try DataSnapshot.take(app)
        try tampered.write(to: URL(fileURLWithPath: location))
        let r = try hopEnv(["backup", "restore", "--yes", id], env)
        #expect(r.status == 7, "restore of an archive whose last member (\(made.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))) changed: \(r.status) \(r.stderr)")
        #expect(r.stderr.contains("while unpacking"), "the refusal did not come from the unpacking read: \(r.stderr)")
        #expect(!r.stderr.contains("stopping"), "\(r.stderr)")
        #expect(decryptions() == 1, "the refused restore decrypted the archive \(decryptions()) times")
        #expect(try DataSnapshot.take(app) == live, "a refused restore changed the live data")
        #expect(restoreStagingLeft().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sharedHome.apps + "/\(app)/restore.json"))
        visits.next("the refusal")

        // Killed while unpacking: no journal yet and nothing live touched; the staging it left
        // is removed by the next restore of the app.
        try original.write(to: URL(fileURLWithPath: location))
        let beforeKill = try DataSnapshot.take(app)
        let killed = try hopEnv(["backup", "restore", "--yes", id], ["HOP_FAULT": "restore:unpacking"])
        #expect(killed.status != 0, "hop was not killed while unpacking")
        #expect(try hopEnv(["ps", app]).status == 0)
        #expect(try DataSnapshot.take(app) == beforeKill, "a restore killed while unpacking changed the live data")
        #expect(restoreStagingLeft().count == 1, "\(restoreStagingLeft())")
        visits.next("the kill while unpacking")

        // The archive as written: restored, with one decryption.
        unlink(dir + "/age.log")
        let ok = try hopEnv(["backup", "restore", "--yes", id], env)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(decryptions() == 1, "a restore decrypted the archive \(decryptions()) times")
        #expect(try DataSnapshot.take(app).tree != live.tree)
        visits.n = 2
        visits.next("the restore")
        #expect(restoreStagingLeft().isEmpty)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a corpus of hostile archives, each encrypted to this machine and signed with its key: every one refused (exit 7), nothing written outside staging, the app's data unchanged")
    func hostileArchives() throws {
        try #require(deployHost.ready)
        let app = "it-bk-hostile"
        let visits = try deployWithData(app, visits: 1)
        _ = try backupCreate(app) // makes the age identity
        let sentinel = sharedHome.root + "/sentinel"
        let corpus = sharedHome.root + "/hostile"
        try FileManager.default.createDirectory(atPath: sentinel, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: sentinel); try? FileManager.default.removeItem(atPath: corpus) }
        try "keep".write(toFile: sentinel + "/keep", atomically: true, encoding: .utf8)
        let made = try SystemRunner().run(Command(repoRoot + "/.venv-test/bin/python", [repoRoot + "/scripts/test/hostile-backups.py", sharedHome.root, app, sentinel, corpus]))
        #expect(made.succeeded, "\(made.stderrText)")
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus).sorted()
        #expect(files.count >= 12, "\(files)")
        let sentinelBefore = treeListing(sentinel)
        let etcPasswd = FileManager.default.contents(atPath: "/etc/passwd")
        let before = try DataSnapshot.take(app)
        for f in files {
            let v = try hopEnv(["backup", "verify", corpus + "/" + f])
            #expect(v.status == 7, "verify \(f): \(v.status) \(v.stderr)")
            let r = try hopEnv(["backup", "restore", "--yes", corpus + "/" + f])
            #expect(r.status == 7, "restore \(f): \(r.status) \(r.stderr)")
            #expect(treeListing(sentinel) == sentinelBefore, "\(f) wrote outside staging")
            #expect(restoreStagingLeft().isEmpty, "\(f) left a staging directory")
        }
        #expect(FileManager.default.contents(atPath: "/etc/passwd") == etcPasswd)
        #expect(!FileManager.default.fileExists(atPath: "/etc/cron.d/pwned"))
        #expect(try DataSnapshot.take(app) == before)
        visits.next("the hostile archives")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("SIGKILL of hop at each step of a restore: the next command undoes it (or, once committed, finishes it); the app serves the old or the new data, never a mix")
    func restoreSurvivesSIGKILL() throws {
        try #require(deployHost.ready)
        let app = "it-bk-kill"
        let visits = try deployWithData(app, visits: 3)
        let backup = try DataSnapshot.take(app)
        let id = try #require(try backupCreate(app)["id"] as? String)
        for point in ["restore:staged", "restore:loaded", "restore:stopped", "restore:state-aside", "restore:state-swapped",
                      "restore:addons-swapped", "restore:started", "restore:committed"] {
            // Live data that differs from the backup in all three places.
            visits.next("before \(point)")
            #expect(try hopEnv(["run", app, "--", "sh", "-c", "printf live > files/a.txt"]).status == 0)
            #expect(fetch(app, "/hits").status == 200)
            let live = try DataSnapshot.take(app)
            #expect(live != backup)
            let killed = try hopEnv(["backup", "restore", "--yes", id], ["HOP_FAULT": point])
            #expect(killed.status != 0, "\(point): hop was not killed")
            let next = try hopEnv(["ps", app])
            #expect(next.status == 0, "\(point): the next command: \(next.stdout) \(next.stderr)")
            let now = try DataSnapshot.take(app)
            if point == "restore:committed" {
                #expect(now == backup, "\(point): the restore was not finished:\n\(now)")
                visits.n = 3
            } else {
                #expect(now == live, "\(point): the restore was not undone:\n\(now)\nlive: \(live)")
            }
            #expect(restoreStagingLeft().isEmpty, "\(point) left a staging directory")
            #expect(!FileManager.default.fileExists(atPath: sharedHome.apps + "/\(app)/restore.json"))
        }
        visits.next("after every kill")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("rollback --with-data after a migration that changed the schema: the old generation serves with the old schema and rows; a SIGKILL midway is undone")
    func rollbackWithData() throws {
        try #require(deployHost.ready)
        let app = "it-bk-rwd"
        let visits = try deployWithData(app, visits: 2)
        let v1 = try DataSnapshot.take(app)
        // Version 2 migrates: a new column, and every row gets a value.
        let dir = sharedHome.root + "/rwd-src"
        try? FileManager.default.removeItem(atPath: dir)
        try copyTree(fixtures + "/pg-app", dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var release = try String(contentsOfFile: dir + "/release.py", encoding: .utf8)
        release = release.replacingOccurrences(of: "print(\"release: table visits is there\")", with: """
            with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
                cur.execute("ALTER TABLE visits ADD COLUMN IF NOT EXISTS note text NOT NULL DEFAULT 'v2'")
                cur.execute("DELETE FROM visits WHERE id = 1")
            print("release: migrated to v2")
            """)
        try release.write(toFile: dir + "/release.py", atomically: true, encoding: .utf8)
        let d = try hopEnv(["deploy", dir, "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr)")
        let listed = json("{\"b\": \(try hopEnv(["backup", "list", app, "--json"]).stdout)}")["b"] as? [[String: Any]] ?? []
        let g2 = try #require(try activeNumber(app))
        #expect(listed.contains { $0["reason"] as? String == "before-deploy" && $0["forGeneration"] as? Int == g2 }, "no before-deploy backup: \(listed)")
        visits.n = 1
        visits.next("v2 deleted a row and counts again")
        #expect(try DataSnapshot.take(app).rows.contains("|v2"), "the migration did not run")
        // Killed at each step (data swapped, code switching, switched): undone, v2 serves with its data.
        let v2 = try DataSnapshot.take(app)
        for point in ["restore:staged", "restore:addons-swapped", "rollback:started", "rollback:switched", "restore:started"] {
            let killed = try hopEnv(["rollback", app, "--with-data", "--yes"], ["HOP_FAULT": point])
            #expect(killed.status != 0, "\(point): not killed")
            let next = try hopEnv(["ps", app])
            #expect(next.status == 0, "\(point): \(next.stderr)")
            #expect(try activeNumber(app) == g2, "\(point): generation \(g2) does not serve")
            #expect(try DataSnapshot.take(app) == v2, "\(point): an interrupted rollback --with-data was not undone")
            #expect(fetch(app, "/").status == 200)
        }
        // Then for real.
        let r = try hopEnv(["rollback", app, "--with-data", "--yes", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try activeNumber(app) == g2 - 1)
        let now = try DataSnapshot.take(app)
        #expect(now == v1, "rollback --with-data did not bring back the data of generation \(g2 - 1):\n\(now)\nwanted \(v1)")
        #expect(!now.rows.contains("v2"))
        visits.n = 2
        visits.next("generation 1 counts on its own rows")
        // Without a before-deploy backup for the serving generation, --with-data is refused and nothing changes.
        let again = try hopEnv(["rollback", app, "--with-data", "--yes"])
        #expect(again.status == 4, "\(again.stderr)")
        #expect(try activeNumber(app) == g2 - 1)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a schedule's timer runs create, verify and prune; prune keeps exactly the policy's set and the newest verified; a bad calendar is refused (exit 2) and changes nothing")
    func scheduleAndPrune() throws {
        try #require(deployHost.ready)
        let app = "it-bk-sched"
        _ = try deployWithData(app, visits: 1)
        let bad = try hopEnv(["backup", "schedule", app, "--calendar", "every full moon"])
        #expect(bad.status == 2, "\(bad.stderr)")
        #expect(try hopEnv(["backup", "schedule", app, "--json"]).stdout.contains("\"calendar\"") == false)
        let s = try hopEnv(["backup", "schedule", app, "--calendar", "*-*-* 03:15:00", "--keep", "last=2", "--json"])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(try hostSystemctl(["is-active", "hop-Backup-\(app).timer"]).succeeded, "the timer is not active")
        for i in 1...3 {
            let fired = try hostSystemctl(["start", "hop-Backup-\(app).service"])
            if !fired.succeeded {
                let pid = PrivateHost(stateDir: sharedHome.root + "/host").pid() ?? 0
                let journal = try SystemRunner().run(Command("nsenter", ["-t", "\(pid)", "-m", "-p", "journalctl", "-u", "hop-Backup-\(app).service", "--no-pager", "-n", "30"]))
                Issue.record("run \(i): \(fired.stderrText)\n\(journal.stdoutText)")
            }
        }
        let list = (try? JSONSerialization.jsonObject(with: Data(try hopEnv(["backup", "list", app, "--json"]).stdout.utf8))) as? [[String: Any]] ?? []
        let scheduled = list.filter { $0["reason"] as? String == "scheduled" }
        #expect(scheduled.count == 2, "prune kept \(scheduled.count) scheduled backups: \(list.map { $0["id"] ?? "" })")
        #expect(scheduled.allSatisfy { $0["verifiedAt"] != nil && $0["status"] as? String == "ok" })
        let files = (try? FileManager.default.contentsOfDirectory(atPath: sharedHome.root + "/backups/\(app)")) ?? []
        #expect(Set(files) == Set(scheduled.compactMap { ($0["id"] as? String).map { $0 + ".tar.zst.age" } }), "files on disk: \(files)")
        // keep last=1 by hand: the newest verified stays even when the policy alone would keep another.
        let p = json(try hopEnv(["backup", "prune", app, "--keep", "last=1", "--json"]).stdout)
        #expect((p["kept"] as? [String])?.count == 1)
        #expect(try hopEnv(["backup", "schedule", app, "--off"]).status == 0)
        #expect(!(try hostSystemctl(["is-active", "hop-Backup-\(app).timer"]).succeeded))
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("off-host through rclone: SFTP to a real sshd and S3 to moto's server on loopback round-trip; an unreachable target is a failed, recorded backup; the remotes' secrets are sealed")
    func offHostTargets() throws {
        try #require(deployHost.ready)
        let app = "it-bk-off"
        _ = try deployWithData(app, visits: 2)
        let before = try DataSnapshot.take(app)
        let dir = sharedHome.root + "/offhost"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sshd = try startSSHD(dir + "/sshd")
        defer { sshd.server.stop() }
        try #require(sshd.server.up, "sshd did not start: \((try? String(contentsOfFile: dir + "/sshd/sshd.log", encoding: .utf8)) ?? "")")
        let add = try hopEnv(["backup", "remote", "add", "sftpbox", "sftp", "host=127.0.0.1", "port=\(sshd.server.port)", "user=root",
                              "key_file=\(sshd.key)", "known_hosts_file=\(sshd.knownHosts)"])
        #expect(add.status == 0, "\(add.stderr)")
        let s3port = freePort(from: 23200)
        let moto = try LoopbackServer(repoRoot + "/.venv-test/bin/moto_server", ["-H", "127.0.0.1", "-p", "\(s3port)"], port: s3port, log: dir + "/moto.log")
        defer { moto.stop() }
        try #require(moto.up, "moto did not start: \((try? String(contentsOfFile: dir + "/moto.log", encoding: .utf8)) ?? "")")
        let secret = "hopsecret-" + UUID().uuidString
        let s3 = try hopEnv(["backup", "remote", "add", "s3box", "s3", "provider=Other", "env_auth=false", "access_key_id=hoptest",
                             "secret_access_key=\(secret)", "endpoint=http://127.0.0.1:\(s3port)", "region=us-east-1", "force_path_style=true"])
        #expect(s3.status == 0, "\(s3.stderr)")

        for (target, file) in [("sftpbox:\(dir)/sftp-root", true), ("s3box:hop-backups/prod", false)] {
            let b = try backupCreate(app, ["--to", target])
            let id = try #require(b["id"] as? String, "backup to \(target)")
            let location = try #require(b["location"] as? String)
            #expect(location == "\(target)/\(app)/\(id).tar.zst.age")
            if file {
                let path = "\(dir)/sftp-root/\(app)/\(id).tar.zst.age"
                #expect((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int).map { Int64($0) } == (b["size"] as? Int).map { Int64($0) },
                        "the SFTP server does not hold the whole archive at \(path)")
            }
            #expect(try hopEnv(["backup", "verify", id]).status == 0, "verify from \(target)")
            #expect(try hopEnv(["run", app, "--", "sh", "-c", "printf changed > files/a.txt"]).status == 0)
            let r = try hopEnv(["backup", "restore", "--yes", id])
            #expect(r.status == 0, "restore from \(target): \(r.stderr)")
            #expect(try DataSnapshot.take(app) == before, "restored from \(target), the data differs")
            #expect(fetch(app, "/visit").body == "visits=3\n")
            // Back to the backup's rows for the next round.
            #expect(try hopEnv(["backup", "restore", "--yes", id]).status == 0)
        }

        // An unreachable target: the backup fails, says why, and stays recorded as failed.
        let dead = freePort(from: 24200)
        #expect(try hopEnv(["backup", "remote", "add", "deadbox", "sftp", "host=127.0.0.1", "port=\(dead)", "user=root", "key_file=\(sshd.key)"]).status == 0)
        let failed = try hopEnv(["backup", "create", app, "--to", "deadbox:x", "--json"])
        #expect(failed.status != 0, "a backup to an unreachable target was reported as done")
        let list = (try? JSONSerialization.jsonObject(with: Data(try hopEnv(["backup", "list", app, "--json"]).stdout.utf8))) as? [[String: Any]] ?? []
        let newest = try #require(list.first)
        #expect(newest["status"] as? String == "failed" && newest["target"] as? String == "deadbox:x" && (newest["error"] as? String)?.isEmpty == false,
                "\(newest)")
        #expect(try hopEnv(["backup", "verify", newest["id"] as? String ?? ""]).status == 4, "a failed backup has nothing to verify")

        // The remotes' secrets are sealed at rest: nowhere in HOP_HOME in the clear.
        #expect(occurrences(of: secret, under: sharedHome.root).isEmpty, "the S3 secret is in the clear under HOP_HOME")
        // (a header row, then one name per line)
        let remoteLines = try hopEnv(["backup", "remote", "list"]).stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(remoteLines.first == "NAME" && remoteLines.dropFirst().sorted() == ["deadbox", "s3box", "sftpbox"], "\(remoteLines)")
        for r in ["deadbox", "s3box", "sftpbox"] { #expect(try hopEnv(["backup", "remote", "remove", r]).status == 0) }
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("MariaDB: a backup restores the rows by one RENAME TABLE swap, a clone gets its own database, and a SIGKILL after the swap is undone")
    func mariadbRestore() throws {
        try #require(deployHost.ready)
        let app = "it-bk-maria"
        let visits = DataCounter(app, "/visit", "visits")
        let d = try hopEnv(["deploy", fixtures + "/mysql-app", "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr.suffix(600))")
        for i in 1...3 { visits.next("visit \(i)") }
        let b = try backupCreate(app)
        let id = try #require(b["id"] as? String)
        #expect((b["addons"] as? [String]) == ["\(app)-mariadb"])
        visits.next("after the backup"); visits.next("again")
        // Killed after the tables were swapped: undone, the live count (5) stays.
        #expect(try hopEnv(["backup", "restore", "--yes", id], ["HOP_FAULT": "restore:addons-swapped"]).status != 0)
        #expect(try hopEnv(["ps", app]).status == 0)
        visits.next("an interrupted restore")
        let r = try hopEnv(["backup", "restore", "--yes", id])
        #expect(r.status == 0, "\(r.stderr)")
        visits.n = 3
        visits.next("the restore: back to 3 rows")
        let c = try hopEnv(["backup", "restore", "--yes", id, "--to-app", "it-bk-maria2"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(fetch("it-bk-maria2", "/visit").body == "visits=4\n", "the clone has the backup's rows in its own database")
        visits.next("the clone counted on its own")
        #expect(try hopEnv(["destroy", "it-bk-maria2", "--purge", "--yes"]).status == 0)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }
}
