import Foundation
import Testing
import HopBasics
import Runtime

/// Occurrences of `needle` in every regular file under `root` (links not followed).
func occurrences(of needle: String, under root: String) -> [String] {
    var hits: [String] = []
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: root, isDirectory: &isDir) else { return [] }
    let files = isDir.boolValue ? ((fm.enumerator(atPath: root)?.allObjects as? [String]) ?? []).map { root + "/" + $0 } : [root]
    for f in files {
        guard let type = try? fm.attributesOfItem(atPath: f)[.type] as? FileAttributeType, type == .typeRegular,
              let data = fm.contents(atPath: f) else { continue }
        if data.range(of: Data(needle.utf8)) != nil { hits.append(f) }
    }
    return hits
}

@Suite("Apps that keep data: secrets at rest, volumes", .tags(.integration), .serialized)
struct DataIntegrationTests {
    @Test("a config value is in the clear only in the app's 0600 env file: not in the store paths hop made, not in hop.db or its WAL, not in --json output, and the app sees it")
    func secretsAtRest() throws {
        try #require(deployHost.ready)
        let app = "it-secret"
        #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"]).status == 0)
        let secret = "tok-" + UUID().uuidString
        #expect(try hopEnv(["config", "set", app, "API_TOKEN=\(secret)", "--watch", "0"]).status == 0)
        let seen = try hopEnv(["run", app, "--", "python3", "-c", "import os; print(os.environ['API_TOKEN'])"])
        #expect(seen.stdout.contains(secret), "the app does not see its config: \(seen.stdout) \(seen.stderr)")
        // The control: the env file holds it, root-only.
        let g = try #require(try generations(app).first { $0["current"] as? Bool == true })
        let number = try #require(g["generation"] as? Int)
        let env = sharedHome.apps + "/\(app)/env/g\(number).env"
        #expect(!occurrences(of: secret, under: env).isEmpty, "the test looks in the wrong place")
        #expect((try FileManager.default.attributesOfItem(atPath: env)[.posixPermissions] as? Int) == 0o600)
        // Nowhere else.
        for path in [g["storePath"] as? String, g["appPath"] as? String].compactMap({ $0 }) {
            #expect(occurrences(of: secret, under: path).isEmpty, "\(path) holds the secret")
        }
        for file in ["hop.db", "hop.db-wal", "hop.db-shm"] {
            #expect(occurrences(of: secret, under: sharedHome.root + "/" + file).isEmpty, "\(file) holds the secret in the clear")
        }
        for args in [["apps", "--json"], ["ps", app, "--json"], ["show", app, "--json"], ["audit", "--json"], ["generations", app, "--json"]] {
            let out = try hopEnv(args)
            #expect(!out.stdout.contains(secret) && !out.stderr.contains(secret), "hop \(args.joined(separator: " ")) shows the secret")
        }
        // Asked for, it is shown.
        #expect(try hopEnv(["config", app, "--json"]).stdout.contains(secret))
        #expect(try hopEnv(["destroy", app, "--purge"]).status == 0)
    }

    @Test("a volume file survives redeploy, rollback, scale 2, restart, host down/up, and destroy without --purge then a new deploy; the volume is the app user's, --purge deletes it")
    func volumeSurvivesEverything() throws {
        try #require(deployHost.ready)
        let app = "it-volume"
        let src = fixtures + "/volume-app"
        var n = 0
        func visit(_ step: String) {
            n += 1
            var r = fetch(app, "/visit")
            for _ in 0..<30 where r.status != 200 { usleep(200_000); r = fetch(app, "/visit") }
            #expect(r.body == "visits=\(n)\n", "after \(step): \(r.status) \(r.body)")
        }
        #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
        visit("the first deploy"); visit("a second visit")
        // Through the host's /proc/PID/root: recomputed after `host up`, which starts a new PID 1.
        var file: String { hostPath("/var/lib/private/hop-apps/\(app)/volumes/uploads/visits") }
        #expect(FileManager.default.fileExists(atPath: file), "the volume lives in /var/lib/hop-apps/\(app)/volumes/uploads")
        var st = stat(), parent = stat()
        #expect(lstat(hostPath("/var/lib/private/hop-apps/\(app)/volumes/uploads"), &st) == 0 && st.st_uid != 0, "the volume is the app user's")
        #expect(lstat(hostPath("/var/lib/private/hop-apps/\(app)/volumes"), &parent) == 0 && parent.st_uid == 0, "the volumes directory is root's")
        // The app sees the one state directory, and the volume at data/.
        let env = try hopEnv(["run", app, "--", "sh", "-c", "echo $STATE_DIRECTORY; cat data/visits | wc -l"])
        #expect(env.stdout.contains("/var/lib/hop-apps/\(app)\n") && env.stdout.contains("2"), "\(env.stdout) \(env.stderr)")
        #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0", "--force"]).status == 0)
        visit("a redeploy")
        #expect(try hopEnv(["rollback", app]).status == 0)
        visit("a rollback")
        #expect(try hopEnv(["scale", app, "web=2", "--watch", "0"]).status == 0)
        visit("scale 2"); visit("scale 2, again")
        #expect(try hopEnv(["restart", app]).status == 0)
        visit("a restart")
        #expect(try hopEnv(["host", "down"]).status == 0)
        let up = try hopEnv(["host", "up", "--http-port", "\(deployHost.port)", "--json"])
        #expect(up.status == 0, "\(up.stderr)")
        visit("host down and up")
        #expect(try hopEnv(["destroy", app]).status == 0)
        #expect(FileManager.default.fileExists(atPath: file), "destroy without --purge keeps the volume")
        #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
        visit("destroy, then a new deploy")
        #expect(try hopEnv(["destroy", app, "--purge"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: file), "--purge deletes the volume")
    }

    @Test("hostile volumes are located errors (exit 2) and nothing is built", arguments: [
        ("name = \"up\"\ntarget = \"../outside\"", "`..`"),
        ("name = \"abs\"\ntarget = \"/proc\"", "absolute"),
        ("name = \"nl\"\ntarget = \"data\\nEvil=1\"", "control character"),
        ("name = \"Bad Name\"\ntarget = \"data\"", "not a volume name"),
        ("name = \"c\"\ntarget = \"a:b\"", "`:`"),
        ("name = \"dot\"\ntarget = \".\"", "not the app directory itself"),
    ])
    func hostileVolumes(body: String, expected: String) throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let src = try stdlibVariant(dir, toml: "[[volumes]]\n" + body + "\n")
            let builds = try hopEnv(["builds", "--json"]).stdout
            let r = try hopEnv(["deploy", src, "--app", "it-hostile-volume", "--watch", "0"])
            #expect(r.status == 2 && r.stderr.range(of: "hop3.toml:[23]:", options: .regularExpression) != nil && r.stderr.contains(expected), "\(r.status) \(r.stderr)")
            #expect(try hopEnv(["builds", "--json"]).stdout == builds)
        }
    }
}
