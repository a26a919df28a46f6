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

/// A count an app keeps in its data (`GET path` answers `name=N`): each `next(step)` expects the
/// count one higher than the last, retrying while the app does not answer 200 (it may be restarting).
final class DataCounter {
    let app: String, path: String, name: String
    var n = 0
    init(_ app: String, _ path: String, _ name: String) { self.app = app; self.path = path; self.name = name }

    func next(_ step: String, within seconds: Double = 8, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        n += 1
        let deadline = Date().addingTimeInterval(seconds)
        var r = fetch(app, path)
        while r.status != 200 && Date() < deadline { usleep(200_000); r = fetch(app, path) }
        #expect(r.body == "\(name)=\(n)\n", "\(path) after \(step): \(r.status) \(r.body.suffix(300))", sourceLocation: sourceLocation)
    }
}

/// The steps an app's data must survive, `check` after each: a redeploy, a rollback, scale
/// `process`=2 (checked twice: either instance may answer), a restart, `hop host down` and `up`.
/// Returns `host up`'s JSON.
func survivalSteps(app: String, src: String, process: String, check: (String) -> Void) throws -> [String: Any] {
    #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0", "--force"]).status == 0)
    check("a redeploy")
    #expect(try hopEnv(["rollback", app]).status == 0)
    check("a rollback")
    #expect(try hopEnv(["scale", app, "\(process)=2", "--watch", "0"]).status == 0)
    check("scale 2"); check("scale 2, again")
    #expect(try hopEnv(["restart", app]).status == 0)
    check("a restart")
    #expect(try hopEnv(["host", "down"]).status == 0)
    let up = try hopEnv(["host", "up", "--http-port", "\(deployHost.port)", "--json"])
    #expect(up.status == 0, "\(up.stderr)")
    check("host down and up")
    return json(up.stdout)
}

/// SIGKILL to an addon server's main process, inside the shared host (`type`: `postgres`, or
/// `redis-NAME` for a Redis addon's own server).
func killAddonServer(_ type: String) throws {
    let main = try hostSystemctl(["show", "-p", "MainPID", "--value", "hop-addon-\(type).service"]).stdoutText
        .trimmingCharacters(in: .whitespacesAndNewlines)
    // `kill -9 0` would kill the caller's process group: never send it.
    try #require(Int(main).map { $0 > 1 } == true, "hop-addon-\(type).service has no main process: \(main)")
    let hostPID = PrivateHost(stateDir: sharedHome.root + "/host").pid() ?? 0
    let killed = try SystemRunner().run(Command("nsenter", ["-t", "\(hostPID)", "-m", "-p", "kill", "-9", main]))
    #expect(killed.succeeded && main != "0", "kill -9 \(main): \(killed.stderrText)")
}

@Suite("Apps that keep data: secrets at rest, volumes, PostgreSQL, Redis and MariaDB addons", .tags(.integration), .serialized)
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
        for args in [["apps", "--json"], ["info", app, "--json"], ["ps", app, "--json"], ["show", app, "--json"], ["audit", "--json"], ["generations", app, "--json"]] {
            let out = try hopEnv(args)
            #expect(!out.stdout.contains(secret) && !out.stderr.contains(secret), "hop \(args.joined(separator: " ")) shows the secret")
        }
        // Asked for, it is shown.
        #expect(try hopEnv(["config", app, "--json"]).stdout.contains(secret))
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
    }

    @Test("a volume file survives redeploy, rollback, scale 2, restart, host down/up, and destroy without --purge then a new deploy; the volume is the app user's, --purge deletes it")
    func volumeSurvivesEverything() throws {
        try #require(deployHost.ready)
        let app = "it-volume"
        let src = fixtures + "/volume-app"
        let visits = DataCounter(app, "/visit", "visits")
        let visit = { (step: String) in visits.next(step) }
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
        // hop info measures the volume where systemd keeps it (du): the visits file's block at least.
        let volumes = json(try hopEnv(["info", app, "--json"]).stdout)["volumes"] as? [[String: Any]] ?? []
        #expect(volumes.count == 1 && volumes.first?["name"] as? String == "uploads" && (volumes.first?["bytes"] as? Int ?? 0) > 0, "\(volumes)")
        _ = try survivalSteps(app: app, src: src, process: "web", check: visit)
        #expect(try hopEnv(["destroy", app]).status == 0)
        #expect(FileManager.default.fileExists(atPath: file), "destroy without --purge keeps the volume")
        #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
        visit("destroy, then a new deploy")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
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

    /// `hop addon credentials NAME --json`.
    func credentials(_ addon: String) throws -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(try hopEnv(["addon", "credentials", addon, "--json"]).stdout.utf8))) as? [String: String] ?? [:]
    }

    @Test("PostgreSQL and Redis: [[addons]] provisioned on the first deploy, a release step creates the table, and both counts survive redeploy, rollback, scale 2, restart, host down/up, destroy without --purge then a new deploy, and SIGKILLed servers")
    func postgresSurvives() throws {
        try #require(deployHost.ready)
        let app = "it-pg"
        let visits = DataCounter(app, "/visit", "visits"), hits = DataCounter(app, "/hits", "hits")
        func visit(_ step: String, within seconds: Double = 8) { visits.next(step, within: seconds); hits.next(step, within: seconds) }
        let d = try hopEnv(["deploy", fixtures + "/pg-app", "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr.suffix(800))")
        // Each addon server has an SBOM: its self-contained build and the Debian version it came from.
        for (type, version) in [("postgres", "15."), ("redis", "7.")] {
            let sbom = json(try hopEnv(["sbom", "addon:\(type)"]).stdout)
            let component = (sbom["metadata"] as? [String: Any])?["component"] as? [String: Any] ?? [:]
            #expect(component["name"] as? String == "hop-addon-\(type)" && (component["version"] as? String)?.hasPrefix(version) == true, "\(component)")
            let server = (try? FileManager.default.destinationOfSymbolicLink(atPath: sharedHome.gcroots + "/addon-\(type)")) ?? "missing"
            #expect(try hopEnv(["sbom", "addon:\(type)"]).stdout.contains(server), "the SBOM names the server's store path")
        }
        #expect(try hopEnv(["sbom", "addon:mongodb"]).status == 2)
        let info = json(try hopEnv(["addon", "info", "it-pg-postgres", "--json"]).stdout)
        #expect(info["attachedTo"] as? [String] == [app] && info["extensions"] as? [String] == ["pg_trgm"], "\(info)")
        let addons = (json(try hopEnv(["info", app, "--json"]).stdout)["addons"] as? [[String: String]] ?? []).map { "\($0["type"] ?? "") \($0["name"] ?? "")" }
        #expect(Set(addons) == ["postgres it-pg-postgres", "redis it-pg-redis"], "\(addons)")
        visit("the first deploy"); visit("a second visit")
        let up = try survivalSteps(app: app, src: fixtures + "/pg-app", process: "wsgi") { visit($0) }
        let restored = up["restored"] as? [String] ?? []
        #expect(restored.contains("postgres") && restored.contains("redis (it-pg-redis)"), "\(up)")
        // Each server killed under the running app: systemd starts it again, the app answers with its data.
        for server in ["postgres", "redis-it-pg-redis"] {
            try killAddonServer(server)
            let t0 = Date()
            visit("the \(server) server was SIGKILLed", within: 10)
            print("\(server) SIGKILL: the app answered again with its data after \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
        }
        #expect(try hopEnv(["destroy", app]).status == 0)
        #expect(try hopEnv(["deploy", fixtures + "/pg-app", "--app", app, "--watch", "0"]).status == 0)
        visit("destroy, then a new deploy")
        // An attached addon is not destroyed without --force.
        let refused = try hopEnv(["addon", "destroy", "it-pg-postgres"])
        #expect(refused.status == 12, "\(refused.status) \(refused.stderr)")
        visit("a refused addon destroy")
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        #expect(try hopEnv(["addon", "info", "it-pg-postgres"]).status == 4, "--purge destroys the app's own addons")
        #expect(try hopEnv(["addon", "info", "it-pg-redis"]).status == 4, "--purge destroys the app's own addons")
    }

    @Test("Isolation: app A's credentials open A's PostgreSQL database but not B's nor the server's own, and A's Redis user reads none of B's keys (from inside A, through its network namespace); the addon password is in the clear only in the 0600 env file")
    func postgresIsolationAndSecrets() throws {
        try #require(deployHost.ready)
        #expect(try hopEnv(["deploy", fixtures + "/pg-app", "--app", "it-pga", "--watch", "0"]).status == 0)
        #expect(try hopEnv(["addon", "create", "postgres", "it-pgb-db"]).status == 0)
        #expect(fetch("it-pga", "/visit").body == "visits=1\n")
        let a = try credentials("it-pga-postgres"), b = try credentials("it-pgb-db")
        let password = try #require(a["PGPASSWORD"])
        #expect(password.count >= 32 && b["PGPASSWORD"] != nil && b["PGPASSWORD"] != password)
        let probe = "import os, sys, psycopg2\ntry:\n    c = psycopg2.connect(host=os.environ['PGHOST'], user=os.environ['PGUSER'], password=os.environ['PGPASSWORD'], dbname=sys.argv[1])\n    c.cursor().execute('SELECT 1'); print('connected')\nexcept Exception as e:\n    print('refused:', str(e).strip().splitlines()[-1])\n"
        let own = try hopEnv(["run", "it-pga", "--", "python3", "-c", probe, "it-pga-postgres"])
        #expect(own.stdout.contains("connected"), "\(own.stdout) \(own.stderr)")
        for other in ["it-pgb-db", "postgres", "template1"] {
            let r = try hopEnv(["run", "it-pga", "--", "python3", "-c", probe, other])
            #expect(r.stdout.contains("refused") && !r.stdout.contains("connected"), "A reached \(other): \(r.stdout) \(r.stderr)")
        }
        // B's password is B's alone: with it, A's role name is refused too.
        let swapped = try hopEnv(["run", "it-pga", "--", "env", "PGPASSWORD=\(b["PGPASSWORD"]!)", "python3", "-c", probe, "it-pga-postgres"])
        #expect(swapped.stdout.contains("refused"), "\(swapped.stdout)")
        // Redis: a server per addon. A sees, counts, lists and flushes only its own keys and
        // functions, with any key names and databases (RQ-style fixed names work); admin commands are refused.
        #expect(try hopEnv(["addon", "create", "redis", "it-pgb-cache"]).status == 0)
        let bRedis = try credentials("it-pgb-cache")
        let redisProbe = "import os, sys, redis\nr = redis.Redis.from_url(sys.argv[1] or os.environ['REDIS_URL'])\nfor op in sys.argv[2:]:\n    try:\n        print(op, '=>', repr(eval(op)))\n    except Exception as e:\n        print(op, '=> refused:', type(e).__name__)\n"
        let bURL = try #require(bRedis["REDIS_URL"])
        let load = "r.function_load('#!lua name=blib' + chr(10) + \"redis.register_function('bf', function(keys, args) return 1 end)\")"
        let setB = try hopEnv(["run", "it-pga", "--", "python3", "-c", redisProbe, bURL, "r.set('secret', 'hidden')", load])
        #expect(setB.stdout.contains("=> True") && (setB.stdout.contains("=> b'blib'") || setB.stdout.contains("=> 'blib'")), "B writes its own key and function: \(setB.stdout) \(setB.stderr)")
        let fromA = try hopEnv(["run", "it-pga", "--", "python3", "-c", redisProbe, "", "r.flushall()", "r.set('mine', '1')",
                                "r.sadd('rq:queues', 'rq:queue:default')", "r.lpush('rq:queue:default', 'job-1')", "r.info()['redis_version'] >= '7'",
                                "redis.Redis.from_url(os.environ['REDIS_URL'].replace('db=0', 'db=3')).set('elsewhere', '1')",
                                "r.get('secret')", "sorted(r.keys('*'))", "r.dbsize()", "r.randomkey() in (b'mine', b'rq:queues', b'rq:queue:default')",
                                "r.function_list()", "r.config_get('dir')", "r.execute_command('DEBUG', 'SLEEP', '0')", "os.environ['REDIS_KEY_PREFIX']"])
        let results = Dictionary(fromA.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let r = line.range(of: " => ") else { return nil }
            return (String(line[..<r.lowerBound]), String(line[r.upperBound...]))
        }, uniquingKeysWith: { a, _ in a })
        #expect(results["r.flushall()"] == "True" && results["r.set('mine', '1')"] == "True", "\(fromA.stdout) \(fromA.stderr)")
        #expect(results["r.lpush('rq:queue:default', 'job-1')"] == "1" && results["r.info()['redis_version'] >= '7'"] == "True", "\(fromA.stdout)")
        #expect(results.contains { $0.key.hasPrefix("redis.Redis") && $0.value == "True" }, "another database of its own: \(fromA.stdout)")
        #expect(results["r.get('secret')"] == "None" && results["sorted(r.keys('*'))"] == "[b'mine', b'rq:queue:default', b'rq:queues']", "\(fromA.stdout)")
        #expect(results["r.dbsize()"] == "3" && results["r.randomkey() in (b'mine', b'rq:queues', b'rq:queue:default')"] == "True", "\(fromA.stdout)")
        #expect(results["r.function_list()"] == "[]", "A sees B's functions: \(fromA.stdout)")
        #expect(results["r.config_get('dir')"]?.contains("refused") == true && results["r.execute_command('DEBUG', 'SLEEP', '0')"]?.contains("refused") == true,
                "admin commands: \(fromA.stdout)")
        #expect(results["os.environ['REDIS_KEY_PREFIX']"] == "''", "\(fromA.stdout)")
        // A's FLUSHALL flushed A's server only: B's key and function are there.
        let stillB = try hopEnv(["run", "it-pga", "--", "python3", "-c", redisProbe, bURL, "r.get('secret')", "len(r.function_list())", "r.dbsize()"])
        #expect(stillB.stdout.contains("r.get('secret') => b'hidden'") && stillB.stdout.contains("len(r.function_list()) => 1")
                && stillB.stdout.contains("r.dbsize() => 1"), "\(stillB.stdout) \(stillB.stderr)")
        // Secrets at rest.
        let g = try #require(try generations("it-pga").first { $0["current"] as? Bool == true })
        let env = sharedHome.apps + "/it-pga/env/g\(g["generation"] as? Int ?? 0).env"
        #expect(!occurrences(of: password, under: env).isEmpty, "the control: the env file holds it")
        for path in [g["storePath"] as? String, g["appPath"] as? String].compactMap({ $0 }) + ["hop.db", "hop.db-wal", "hop.db-shm"].map({ sharedHome.root + "/" + $0 }) {
            #expect(occurrences(of: password, under: path).isEmpty, "\(path) holds the addon password")
        }
        for args in [["addon", "list", "--json"], ["addon", "info", "it-pga-postgres", "--json"], ["apps", "--json"], ["audit", "--json"], ["show", "it-pga", "--json"]] {
            #expect(!(try hopEnv(args)).stdout.contains(password), "hop \(args.joined(separator: " ")) shows the password")
        }
        #expect(try hopEnv(["destroy", "it-pga", "--purge", "--yes"]).status == 0)
        #expect(try hopEnv(["addon", "destroy", "it-pgb-db"]).status == 0)
        #expect(try hopEnv(["addon", "destroy", "it-pgb-cache"]).status == 0)
    }

    @Test("hostile addon input is refused with exit 2 and nothing is provisioned", arguments: [
        ["addon", "create", "mongodb", "x"], ["addon", "create", "postgres", "Bad Name"], ["addon", "create", "postgres", "x\ny"],
        ["addon", "create", "postgres", "ok-name", "--extension", "x;drop table"], ["addon", "create", "postgres", "postgres"],
        ["addon", "attach", "../etc", "x"], ["addon", "attach", "some-app", "x", "--as", "lower"],
        ["addon", "create", "redis", "cache", "--extension", "pg_trgm"],
    ])
    func hostileAddons(args: [String]) throws {
        try #require(deployHost.ready)
        let before = try hopEnv(["addon", "list", "--json"]).stdout
        let r = try hopEnv(args)
        #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
        #expect(try hopEnv(["addon", "list", "--json"]).stdout == before)
    }

    @Test("hostile [[addons]] in hop3.toml are located errors (exit 2) before anything is built", arguments: [
        ("type = \"mongodb\"", "hop3.toml:2:"), ("type = \"postgres\"\nname = \"Bad\"", "hop3.toml:3:"),
        ("type = \"postgres\"\nextensions = [\"x; DROP\"]", "hop3.toml:3:"), ("name = \"x\"", "hop3.toml:1:"),
        ("type = \"redis\"\nextensions = [\"pg_trgm\"]", "hop3.toml:3:"),
    ])
    func hostileAddonDeclarations(body: String, location: String) throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let src = try stdlibVariant(dir, toml: "[[addons]]\n" + body + "\n")
            let builds = try hopEnv(["builds", "--json"]).stdout
            let r = try hopEnv(["deploy", src, "--app", "it-hostile-addon", "--watch", "0"])
            #expect(r.status == 2 && r.stderr.contains(location), "\(r.status) \(r.stderr)")
            #expect(try hopEnv(["builds", "--json"]).stdout == builds)
        }
    }

    @Test("[env] generated values are made once and kept across deploys, taken from an addon, computed with ${VAR}; [admin] gets a generated password shown by `hop app credentials`; never in the store or hop.db in the clear; --purge forgets them")
    func generatedEnvironment() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let toml = """
                [env]
                SECRET_KEY = { generate = "hex", length = 40 }
                API_PASSWORD = { generate = "password" }
                INSTANCE_ID = { generate = "uuid" }
                DB = { from = "it-envgen-db", key = "PGDATABASE" }
                [env.computed]
                SIGNED = "key=${SECRET_KEY};db=${DB};cost=$$5"
                [[addons]]
                type = "postgres"
                name = "it-envgen-db"
                [admin]
                username = "root-of-blog"
                email = "admin@example.org"
                """
            let src = try stdlibVariant(dir, toml: toml)
            let app = "it-envgen"
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            #expect(d.status == 0, "\(d.stderr.suffix(600))")
            func seen() throws -> [String: String] {
                let r = try hopEnv(["run", app, "--", "python3", "-c", "import json, os; print(json.dumps({k: os.environ.get(k, '') for k in ['SECRET_KEY', 'API_PASSWORD', 'INSTANCE_ID', 'DB', 'SIGNED']}))"])
                return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: String] ?? [:]
            }
            let first = try seen()
            let key = first["SECRET_KEY"] ?? ""
            #expect(key.count == 40 && key.allSatisfy(\.isHexDigit), "\(first)")
            #expect(first["API_PASSWORD"]?.count == 24 && UUID(uuidString: first["INSTANCE_ID"] ?? "") != nil, "\(first)")
            #expect(first["DB"] == "it-envgen-db" && first["SIGNED"] == "key=\(key);db=it-envgen-db;cost=$5", "\(first)")
            // [admin]: the app sees the generated password; `hop app credentials` shows it, audited.
            let adminPassword = try hopEnv(["run", app, "--", "sh", "-c", "echo $ADMIN_USERNAME $ADMIN_EMAIL $ADMIN_PASSWORD"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
            #expect(adminPassword.count == 3 && adminPassword[0] == "root-of-blog" && adminPassword[2].count == 24, "\(adminPassword)")
            let creds = json(try hopEnv(["app", "credentials", app, "--json"]).stdout)
            #expect(creds["username"] as? String == "root-of-blog" && creds["email"] as? String == "admin@example.org"
                    && creds["password"] as? String == adminPassword.last, "\(creds)")
            #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0", "--force"]).status == 0)
            #expect(try seen() == first, "a redeploy changed the generated values")
            #expect(json(try hopEnv(["app", "credentials", app, "--json"]).stdout)["password"] as? String == adminPassword.last)
            let g = try #require(try generations(app).first { $0["current"] as? Bool == true })
            for path in [g["storePath"] as? String, g["appPath"] as? String].compactMap({ $0 }) + ["hop.db", "hop.db-wal"].map({ sharedHome.root + "/" + $0 }) {
                #expect(occurrences(of: key, under: path).isEmpty, "\(path) holds the generated key")
            }
            #expect(!occurrences(of: key, under: sharedHome.apps + "/\(app)/env/g\(g["generation"] as? Int ?? 0).env").isEmpty, "the control")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
            #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
            #expect(try seen()["SECRET_KEY"] != key, "--purge should forget generated values")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
            // A value from an addon the app does not have: exit 2 before anything is built.
            let orphan = try stdlibVariant(dir, toml: "[env]\nDB = { from = \"someone-elses\", key = \"DATABASE_URL\" }\n")
            let builds = try hopEnv(["builds", "--json"]).stdout
            let r = try hopEnv(["deploy", orphan, "--app", "it-envgen-orphan", "--watch", "0"])
            #expect(r.status == 2 && r.stderr.contains("neither declares nor has attached"), "\(r.status) \(r.stderr)")
            #expect(try hopEnv(["builds", "--json"]).stdout == builds)
        }
    }

    @Test("MariaDB: [[addons]] type mariadb; the count survives redeploy, rollback, scale 2, restart, host down/up, destroy without --purge then a new deploy, and a SIGKILLed server; app A's user cannot open B's database or mysql")
    func mariadbSurvivesAndIsolates() throws {
        try #require(deployHost.ready)
        let app = "it-maria"
        let visits = DataCounter(app, "/visit", "visits")
        func visit(_ step: String, within seconds: Double = 8) { visits.next(step, within: seconds) }
        let src = fixtures + "/mysql-app"
        let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
        #expect(d.status == 0, "\(d.stderr.suffix(800))")
        visit("the first deploy"); visit("a second visit")
        let up = try survivalSteps(app: app, src: src, process: "wsgi") { visit($0) }
        #expect((up["restored"] as? [String])?.contains("mariadb") == true, "\(up)")
        try killAddonServer("mariadb")
        let t0 = Date()
        visit("the mariadb server was SIGKILLed", within: 20)
        print("mariadb SIGKILL: the app answered again with its data after \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
        #expect(try hopEnv(["destroy", app]).status == 0)
        #expect(try hopEnv(["deploy", src, "--app", app, "--watch", "0"]).status == 0)
        visit("destroy, then a new deploy")
        // Isolation, from inside the app.
        #expect(try hopEnv(["addon", "create", "mysql", "it-maria-other"]).status == 0)
        let probe = "import os, sys, pymysql\ntry:\n    c = pymysql.connect(unix_socket=os.environ['MYSQL_UNIX_PORT'], user=os.environ['MYSQL_USER'], password=os.environ['MYSQL_PASSWORD'], database=sys.argv[1])\n    c.cursor().execute('SELECT 1'); print('connected')\nexcept Exception as e:\n    print('refused:', e)\n"
        #expect(try hopEnv(["run", app, "--", "python3", "-c", probe, "it-maria-mariadb"]).stdout.contains("connected"))
        for other in ["it-maria-other", "mysql"] {
            let r = try hopEnv(["run", app, "--", "python3", "-c", probe, other])
            #expect(r.stdout.contains("refused") && !r.stdout.contains("connected"), "A reached \(other): \(r.stdout) \(r.stderr)")
        }
        let password = try credentials("it-maria-mariadb")["MYSQL_PASSWORD"] ?? "missing"
        for path in ["hop.db", "hop.db-wal"].map({ sharedHome.root + "/" + $0 }) {
            #expect(occurrences(of: password, under: path).isEmpty, "\(path) holds the MariaDB password")
        }
        #expect(try hopEnv(["addon", "destroy", "it-maria-other"]).status == 0)
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        #expect(try hopEnv(["addon", "info", "it-maria-mariadb"]).status == 4)
    }

    @Test("a release step that fails (it had DATABASE_URL) keeps the old generation serving with its data: exit 8")
    func failedReleaseKeepsTheOldGeneration() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-release"
            let good = dir + "/good", bad = dir + "/bad"
            try copyTree(fixtures + "/pg-app", good)
            try copyTree(fixtures + "/pg-app", bad)
            try "import os\nprint('release: DATABASE_URL is %s' % ('set' if os.environ.get('DATABASE_URL', '').startswith('postgresql://') else 'missing'))\nraise SystemExit(3)\n"
                .write(toFile: bad + "/release.py", atomically: true, encoding: .utf8)
            #expect(try hopEnv(["deploy", good, "--app", app, "--watch", "0"]).status == 0)
            #expect(fetch(app, "/visit").body == "visits=1\n")
            let before = try activeNumber(app)
            let r = try hopEnv(["deploy", bad, "--app", app, "--watch", "0"])
            #expect(r.status == 8 && r.stderr.contains("release"), "\(r.status) \(r.stderr.suffix(400))")
            #expect(try activeNumber(app) == before, "the failed generation serves")
            #expect(fetch(app, "/visit").body == "visits=2\n", "the old generation lost its data or stopped serving")
            let logs = try hopEnv(["logs", app, "--process", "release", "-n", "50"]).stdout
            #expect(logs.contains("release: DATABASE_URL is set"), "the release step ran without the addon's variables: \(logs.suffix(600))")
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a Redis addon of an earlier hop (keys under NAME: on the shared server) moves to a server of its own with every key, TTL and type, even when hop is SIGKILLed mid-way; its app restarts with the new URL and the shared server forgets it")
    func legacyRedisMigrates() throws {
        try #require(deployHost.ready)
        let name = "it-old-cache", app = "it-old-app"
        func redis(_ commands: String) throws -> String {
            let r = try SystemRunner().run(Command(hopBinary, ["addon", "connect", name], environment: ["HOP_HOME": sharedHome.root],
                                                   stdin: Data(commands.utf8)))
            return r.stdoutText + r.stderrText
        }
        // The layout earlier hops made: an ACL user of the shared server, confined to its prefix.
        let made = try hopEnv(["addon", "create", "redis", name, "--json"], ["HOP_TEST_LEGACY_REDIS": "1"])
        try #require(made.status == 0, "\(made.stderr)")
        #expect((parse(made.stdout) as? [String: Any])?["socket"] as? String == "/run/hop-addons/redis", "\(made.stdout)")
        let wrote = try redis("SET \(name):hits 41\nRPUSH \(name):list a b c\nSET \(name):ttl x EX 5000\nHSET \(name):h f v\nSET other 1\n")
        #expect(wrote.contains("NOPERM") || wrote.contains("No permissions"), "the legacy user is confined to its prefix: \(wrote)")
        try withTemporaryDirectory { dir in
            let deployed = try hopEnv(["deploy", try stdlibVariant(dir), "--app", app, "--watch", "0"])
            let attached = try hopEnv(["addon", "attach", app, name, "--watch", "0"])
            #expect(deployed.status == 0 && attached.status == 0, "\(deployed.stderr) \(attached.stderr)")
        }
        defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]); _ = try? hopEnv(["addon", "destroy", name, "--force"]) }
        // Killed after the keys were copied, then after the move was recorded: a rerun finishes.
        for point in ["addon-migrate:copied", "addon-migrate:recorded"] {
            let killed = try hopEnv(["addon", "migrate", name, "--watch", "0"], ["HOP_FAULT": point])
            #expect(killed.status != 0, "hop was not killed at \(point)")
        }
        let done = try hopEnv(["addon", "migrate", name, "--watch", "0", "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect((parse(done.stdout) as? [String: Any])?["socket"] as? String == "/run/hop-addons/redis-\(name)", "\(done.stdout)")
        let after = try redis("GET hits\nLRANGE list 0 -1\nTTL ttl\nHGET h f\nDBSIZE\nSET free-name 1\n")
        let lines = after.split(separator: "\n").map(String.init)
        #expect(lines.count >= 8 && lines[0] == "41" && Array(lines[1...3]) == ["a", "b", "c"], "\(after)")
        #expect((Int(lines[4]) ?? 0) > 4000 && lines[5] == "v" && lines[6] == "4" && lines[7] == "OK", "\(after)")
        // The app got the new URL in a new generation.
        let env = try hopEnv(["run", app, "--", "python3", "-c", "import os; print(os.environ['REDIS_URL']); print(repr(os.environ['REDIS_KEY_PREFIX']))"])
        #expect(env.stdout.contains("/run/hop-addons/redis-\(name)/redis.sock") && env.stdout.contains("''"), "\(env.stdout) \(env.stderr)")
        // Running it again changes nothing.
        let gens = try generations(app).count
        #expect(try hopEnv(["addon", "migrate", name, "--watch", "0"]).status == 0)
        #expect(try generations(app).count == gens)
        // Destroying it (here with the app: --purge takes the addons only it used) removes its server.
        #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        #expect(try hopEnv(["addon", "info", name]).status == 4, "--purge destroyed the addon")
        let unitFiles = ["/etc/systemd/system", "/run/systemd/system"].map { hostPath($0 + "/hop-addon-redis-\(name).service") }
        #expect(unitFiles.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "\(unitFiles)")
    }
}
