import Foundation
import Testing
import HopBasics
import Runtime

/// A real `hop server` process on loopback, over the shared home (and its private systemd host).
final class LiveServer: @unchecked Sendable {
    let port: Int
    let pid: Int32
    let home: HopHome
    let log: String

    init(home: HopHome = sharedHome, findLinks: [String] = [wheelhouse]) throws {
        self.home = home
        var port = Int.random(in: 19100...19900)
        for candidate in (port..<19990) where portFree(candidate) { port = candidate; break }
        self.port = port
        log = home.root + "/server-\(port).log"
        let script = "HOP_HOME=\(shellQuote(home.root)) HOP_FIND_LINKS=\(shellQuote(findLinks.joined(separator: ":"))) setsid \(shellQuote(hopBinary)) server "
            + "--listen 127.0.0.1:\(port) --insecure-cookies >\(shellQuote(log)) 2>&1 </dev/null & echo $!"
        let r = try SystemRunner().run(Command("sh", ["-c", script]))
        pid = Int32(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? call("GET", "/api/health").status) == 200 { return }
            usleep(100_000)
        }
        Issue.record("hop server did not answer on \(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func stop() {
        if pid > 0 { kill(pid, SIGTERM) }
        var status: Int32 = 0
        for _ in 0..<50 where waitpid(pid, &status, WNOHANG) == 0 && kill(pid, 0) == 0 { usleep(100_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    deinit { stop() }

    /// One HTTP request with curl: status, body.
    @discardableResult
    func call(_ method: String, _ path: String, token: String? = nil, json body: String? = nil, accept: String? = nil,
              headers: [String] = []) throws -> (status: Int, body: String) {
        var args = ["-s", "--max-time", "300", "-X", method, "-w", "\n%{http_code}"]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
        if let accept { args += ["-H", "Accept: \(accept)", "-N"] }
        for h in headers { args += ["-H", h] }
        args.append("http://127.0.0.1:\(port)\(path)")
        let out = try SystemRunner().run(Command("curl", args)).stdoutText
        guard let nl = out.lastIndex(of: "\n") else { return (0, out) }
        return (Int(out[out.index(after: nl)...]) ?? 0, String(out[..<nl]))
    }
}

func parse(_ s: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(s.utf8)) }

/// A token for a new user of `role` granted `apps` (created through the CLI, as root).
func newToken(_ user: String, role: String, apps: [String] = [], expires: String = "1h", home: HopHome = sharedHome) throws -> String {
    let add = try hop(["user", "add", user, "--role", role] + apps.flatMap { ["--app", $0] }, home: home)
    #expect(add.status == 0 || add.stderr.contains("already exists"), "\(add.stderr)")
    let t = try hop(["token", "create", user, "--expires", expires], home: home)
    #expect(t.status == 0, "\(t.stderr)")
    return t.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("hop server: the API over the same operations as the CLI, against real systemd and nginx", .tags(.integration), .serialized)
struct ServerIntegrationTests {
    static let app = "it-api"

    @Test("the same deploy through the CLI and through the API gives the same records; the API streams progress and the URL")
    func sameDeployBothWays() throws {
        try #require(deployHost.ready)
        let server = try LiveServer()
        defer { server.stop() }
        let admin = try newToken("it-admin", role: "admin")
        let app = Self.app
        let cli = try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "1"])
        #expect(cli.status == 0, "\(cli.stderr)")
        // The URL (http, or https when an earlier test turned TLS on for the shared host).
        let url = try #require((parse(try hopEnv(["apps", "--json"]).stdout) as? [[String: Any]])?.first { $0["app"] as? String == app }?["url"] as? String)
        #expect(url.hasPrefix("http") && url.contains("://\(app).localhost:"), "\(url)")
        #expect(cli.stderr.contains("serving at \(url)"), "\(cli.stderr)")
        #expect(cli.stdout.contains("serves at \(url)"), "\(cli.stdout)")
        let cliJSON = try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0", "--force", "--json"])
        #expect(cliJSON.status == 0, "\(cliJSON.stderr)")
        let cliResult = try #require(parse(cliJSON.stdout) as? [String: Any])

        // The same deploy through the API, streamed as server-sent events.
        let body = "{\"path\": \"\(fixtures)/python-stdlib\", \"watch\": 1, \"force\": true, \"wait\": true}"
        let sse = try server.call("POST", "/api/apps/\(app)/deploy", token: admin, json: body, accept: "text/event-stream")
        #expect(sse.status == 200, "\(sse.body)")
        let events = sse.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let progress = events.filter { $0.hasPrefix("event: progress") }
        #expect(progress.contains { $0.contains("\"phase\":\"url\"") && $0.contains(url) }, "\(events)")
        #expect(progress.contains { $0.contains("\"phase\":\"watch\"") }, "\(events)")
        let resultEvent = try #require(events.last(where: { $0.hasPrefix("event: result") }), "\(events)")
        let apiResult = try #require(parse(String(resultEvent.split(separator: "\n")[1].dropFirst("data: ".count))) as? [String: Any])
        #expect(Set(apiResult.keys) == Set(cliResult.keys), "API \(apiResult.keys.sorted()) vs CLI \(cliResult.keys.sorted())")
        #expect(apiResult["build"] as? Int == cliResult["build"] as? Int, "one build, whoever asked")
        #expect(apiResult["generation"] as? Int == (cliResult["generation"] as? Int ?? 0) + 1)
        #expect(apiResult["url"] as? String == cliResult["url"] as? String)

        // The records: generations made through either interface are alike but for their number.
        let gens = try generations(app)
        let last2 = gens.suffix(2)
        #expect(last2.count == 2)
        for key in ["build", "appPath", "scale", "app"] {
            #expect(String(describing: last2.first?[key]) == String(describing: last2.last?[key]), "\(key)")
        }
        #expect(fetch(app).body == "Hello from the Python standard library\n")
        // The audit log says who deployed through which interface.
        let audit = try #require(parse(try hopEnv(["audit", "list", "--app", app, "--json"]).stdout) as? [[String: Any]])
        let deploys = audit.filter { $0["action"] as? String == "deploy" && $0["result"] as? String == "ok" }
        #expect(deploys.map { $0["via"] as? String } .suffix(3) == ["cli", "cli", "api"])
        #expect(deploys.last?["actor"] as? String == "it-admin")
        // A plain (non-streaming) API call returns the result as JSON.
        let plain = try server.call("POST", "/api/apps/\(app)/rollback", token: admin, json: "{}")
        #expect(plain.status == 200, "\(plain.body)")
        #expect((parse(plain.body) as? [String: Any])?["from"] as? Int == apiResult["generation"] as? Int)
    }

    @Test("role × route against the live server and a deployed app: every unauthorised call is refused and changes nothing")
    func roleMatrixAgainstADeployedApp() throws {
        try #require(deployHost.ready)
        let app = Self.app
        if (try? generations(app))?.isEmpty ?? true {
            #expect(try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", app, "--watch", "0"]).status == 0)
        }
        let server = try LiveServer()
        defer { server.stop() }
        var tokens: [String: String] = [
            "admin": try newToken("m-admin", role: "admin"),
            "deployer": try newToken("m-deployer", role: "deployer", apps: [app]),
            "otherDeployer": try newToken("m-other", role: "deployer", apps: ["it-elsewhere"]),
            "viewer": try newToken("m-viewer", role: "viewer", apps: [app]),
            "expired": try newToken("m-expired", role: "deployer", apps: [app], expires: "1s"),
        ]
        let revoked = try newToken("m-revoked", role: "deployer", apps: [app])
        #expect(try hop(["token", "revoke", revoked]).status == 0)
        tokens["revoked"] = revoked
        sleep(2) // the 1 s token expires
        let before = try generations(app).map { "\($0["generation"] ?? "")/\($0["status"] ?? "")" }
        let configBefore = try hopEnv(["config", "show", app, "--json"]).stdout

        // Every route, every principal that may not call it: 401 or 403, nothing changes.
        let refusals: [(method: String, path: String, body: String?, allowed: Set<String>)] = [
            ("GET", "/api/apps/\(app)/generations", nil, ["admin", "deployer", "viewer"]),
            ("GET", "/api/apps/\(app)/processes", nil, ["admin", "deployer", "viewer"]),
            ("GET", "/api/apps/\(app)/config", nil, ["admin", "deployer", "viewer"]),
            ("GET", "/api/apps/\(app)/config?reveal=true", nil, ["admin", "deployer"]),
            ("GET", "/api/apps/\(app)/logs", nil, ["admin", "deployer"]),
            ("GET", "/api/apps/\(app)/audit", nil, ["admin", "deployer", "viewer"]),
            ("PATCH", "/api/apps/\(app)/config", "{\"set\":{\"MATRIX\":\"1\"},\"watch\":0}", ["admin", "deployer"]),
            ("POST", "/api/apps/\(app)/deploy", "{\"path\":\"\(fixtures)/python-stdlib\",\"watch\":0}", ["admin"]),
            ("POST", "/api/apps/\(app)/rollback", "{}", ["admin", "deployer"]),
            ("POST", "/api/apps/\(app)/scale", "{\"counts\":{\"web\":2},\"watch\":0}", ["admin", "deployer"]),
            ("POST", "/api/apps/\(app)/stop", nil, ["admin", "deployer"]),
            ("POST", "/api/apps/\(app)/start", nil, ["admin", "deployer"]),
            ("POST", "/api/apps/\(app)/restart", nil, ["admin", "deployer"]),
            ("DELETE", "/api/apps/\(app)?purge=true", nil, ["admin"]),
            ("POST", "/api/gc", "{\"keep\":0}", ["admin"]),
            ("GET", "/api/users", nil, ["admin"]),
            ("POST", "/api/users", "{\"name\":\"intruder\",\"role\":\"admin\"}", ["admin"]),
            ("DELETE", "/api/users/m-admin", nil, ["admin"]),
            ("PUT", "/api/users/m-admin/password", "{\"password\":\"0123456789abc\"}", ["admin"]),
            ("GET", "/api/tokens", nil, ["admin"]),
            ("POST", "/api/tokens", "{\"user\":\"m-viewer\"}", ["admin"]),
            ("DELETE", "/api/tokens/0123456789abcdef", nil, ["admin"]),
            ("GET", "/api/audit", nil, ["admin"]),
            ("GET", "/api/audit/verify", nil, ["admin"]),
        ]
        var requests = 0, unauthorizedSuccesses: [String] = []
        for r in refusals {
            for who in ["none", "expired", "revoked", "otherDeployer", "viewer", "deployer"] where !r.allowed.contains(who) {
                let res = try server.call(r.method, r.path, token: tokens[who], json: r.body)
                requests += 1
                let want = ["none", "expired", "revoked"].contains(who) ? 401 : 403
                #expect(res.status == want, "\(r.method) \(r.path) as \(who): \(res.status) \(res.body)")
                if (200..<300).contains(res.status) { unauthorizedSuccesses.append("\(r.method) \(r.path) as \(who)") }
            }
        }
        #expect(unauthorizedSuccesses.isEmpty)
        #expect(requests >= 80, "\(requests)")
        print("role matrix: \(requests) unauthorised requests, \(unauthorizedSuccesses.count) succeeded")
        #expect(try generations(app).map { "\($0["generation"] ?? "")/\($0["status"] ?? "")" } == before, "nothing changed")
        #expect(try hopEnv(["config", "show", app, "--json"]).stdout == configBefore)
        #expect(fetch(app).status == 200)
        #expect(!(try hop(["user", "list", "--json"]).stdout.contains("intruder")))

        // What the deployer may do, it can: read, configure, roll back.
        #expect(try server.call("GET", "/api/apps/\(app)/logs?lines=20", token: tokens["deployer"]).status == 200)
        let masked = try server.call("GET", "/api/apps/\(app)/config", token: tokens["viewer"])
        #expect(masked.status == 200 && masked.body.contains("\"masked\":true"))
        let set = try server.call("PATCH", "/api/apps/\(app)/config", token: tokens["deployer"], json: "{\"set\":{\"FROM_API\":\"yes\"},\"watch\":0}")
        #expect(set.status == 200, "\(set.body)")
        let revealed = try server.call("GET", "/api/apps/\(app)/config?reveal=true", token: tokens["deployer"])
        #expect(revealed.body.contains("\"FROM_API\":\"yes\""))
        let rb = try server.call("POST", "/api/apps/\(app)/rollback", token: tokens["deployer"], json: "{}")
        #expect(rb.status == 200, "\(rb.body)")
        #expect(fetch(app).status == 200)
        let list = try server.call("GET", "/api/apps", token: tokens["viewer"])
        let apps = (parse(list.body) as? [[String: Any]] ?? []).compactMap { $0["app"] as? String }
        #expect(apps == [app], "a viewer sees only the apps granted: \(apps)")
    }

    @Test("OpenAPI document validates; schemathesis fuzzes every operation of the live server: no 5xx, no schema violation")
    func schemathesisAgainstTheLiveServer() throws {
        // A home of its own, with no service host: the fuzzer's admin token may do anything there.
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/fuzz-home")
            let admin = try newToken("fuzz-admin", role: "admin", home: home)
            let server = try LiveServer(home: home)
            defer { server.stop() }
            let doc = try server.call("GET", "/api/openapi.json")
            #expect(doc.status == 200)
            try doc.body.write(toFile: dir + "/openapi.json", atomically: true, encoding: .utf8)
            let venv = repoRoot + "/.venv-test/bin"
            let validate = try SystemRunner().run(Command(venv + "/openapi-spec-validator", [dir + "/openapi.json"]))
            #expect(validate.succeeded, "\(validate.stdoutText)\(validate.stderrText)")
            // Every check but positive_data_acceptance: whether a path holds an app or a name is
            // deployed is not something a schema can say, so schema-valid requests get 400/404 by design.
            // The stateful phase is off: it follows links such as GET /api/whoami → DELETE /api/users/{name}
            // and would revoke or remove the fuzzer's own credentials.
            // createAddon is left out: in a home with no service host a valid request ends in 503
            // (no server to create the database on); its refusals are in the role matrix and the
            // DataIntegrationTests' hostile-input tests.
            let st = try SystemRunner().run(Command(venv + "/schemathesis", [
                "run", "http://127.0.0.1:\(server.port)/api/openapi.json", "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                "--exclude-operation-id", "createAddon",
                // revokeToken and removeUser are left out too: schemathesis reuses values from
                // responses (the fuzzer's own token id from GET /api/tokens, its name from whoami),
                // revoked its credentials in the coverage phase and fuzzed the rest with a dead token
                // (every request 401, which passed unnoticed until the check below). Their
                // refusals and effects are in the role matrix and AccessTests.
                "--exclude-operation-id", "revokeToken", "--exclude-operation-id", "removeUser",
                "--phases", "examples,coverage,fuzzing", "--max-examples", "50", "--seed", "1", "--suppress-health-check", "all",
                "-H", "Authorization: Bearer \(admin)", "--request-timeout", "60", "--no-color",
                "--report", "vcr", "--report-vcr-path", dir + "/cassette.yaml",
            ]))
            let out = st.stdoutText
            if !st.succeeded { print(out.suffix(6000)) }
            // Every operation must have been exercised with the fuzzer's valid token, not only refused.
            #expect(!out.contains("Authentication failed"), "some operations only ever answered 401/403: \(out.suffix(3000))")
            #expect(st.succeeded, "schemathesis: \(out.suffix(3000))")
            // Count what was sent: at least 1000 requests over every operation, none answered 5xx,
            // none whose response breaks the schema.
            let cassette = (try? String(contentsOfFile: dir + "/cassette.yaml", encoding: .utf8)) ?? ""
            let sent = cassette.components(separatedBy: "\n- id: ").count - 1
            let fiveHundreds = cassette.components(separatedBy: "\n      code: '5").count - 1
            let schemaBreaks = cassette.components(separatedBy: "response_schema_conformance'\n      status: 'FAILURE'").count - 1
            let operations = Set(cassette.components(separatedBy: "\n  request:\n").dropFirst().compactMap { chunk -> String? in
                guard let m = chunk.range(of: "method: '"), let e = chunk[m.upperBound...].firstIndex(of: "'") else { return nil }
                return String(chunk[m.upperBound..<e])
            })
            print("schemathesis: \(sent) requests, \(fiveHundreds) answered 5xx, \(schemaBreaks) broke the schema, methods \(operations.sorted())")
            #expect(sent >= 1000, "\(sent) requests")
            #expect(schemaBreaks == 0)
            #expect(fiveHundreds == 0)
        }
    }

    @Test("seed import and key generate go through the operation runner: each is in the audit log, with its result")
    func machineOperationsAreAudited() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/machine-ops")
            let key = try hop(["key", "generate", "--json"], home: home)
            #expect(key.status == 0, "\(key.stderr)")
            let keyid = try #require((parse(key.stdout) as? [String: Any])?["keyid"] as? String, "\(key.stdout)")
            // Replacing the key without --force is refused as bad input (exit 2, nothing changed, no
            // entry); with --force it is replaced, and that is recorded.
            #expect(try hop(["key", "generate"], home: home).status == 2)
            let replaced = try hop(["key", "generate", "--force", "--json"], home: home)
            #expect(replaced.status == 0 && !replaced.stdout.contains(keyid), "\(replaced.stdout) \(replaced.stderr)")
            let seed = try hop(["seed", "import", "busybox", "--json"], home: home)
            #expect(seed.status == 0, "\(seed.stderr)")
            #expect((parse(seed.stdout) as? [[String: Any]])?.first?["name"] as? String == "busybox", "\(seed.stdout)")
            let audit = try hop(["audit", "list", "--json"], home: home)
            let entries = (parse(audit.stdout) as? [[String: Any]]) ?? []
            let keyEntries = entries.filter { $0["action"] as? String == "key generate" }
            #expect(keyEntries.count == 2 && keyEntries.allSatisfy { $0["result"] as? String == "ok" }, "\(audit.stdout)")
            let lastDetail = keyEntries.last?["detail"] as? String ?? ""
            #expect(lastDetail.contains("\"force\":\"true\""), "\(keyEntries)")
            #expect(entries.contains { $0["action"] as? String == "seed import" && $0["result"] as? String == "ok"
                                       && ($0["detail"] as? String ?? "").contains("busybox") }, "\(audit.stdout)")
            #expect(!audit.stdout.contains("private-key"), "no secret in the log")
        }
    }

    @Test("hop audit verify passes on the untouched log, fails naming an edited or deleted entry")
    func auditVerifyCLI() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/audit-home")
            for u in ["u1", "u2", "u3", "u4"] { #expect(try hop(["user", "add", u], home: home).status == 0) }
            let ok = try hop(["audit", "verify"], home: home)
            #expect(ok.status == 0 && ok.stdout.contains("intact: 4 entries"), "\(ok.stdout)\(ok.stderr)")
            _ = try SystemRunner().run(Command("sqlite3", [home.database, "UPDATE audit SET result = 'ok, honest' WHERE seq = 2"]))
            let edited = try hop(["audit", "verify"], home: home)
            #expect(edited.status == 7 && edited.stderr.contains("entry 2 was edited"), "\(edited.stderr)")
            _ = try SystemRunner().run(Command("sqlite3", [home.database, "UPDATE audit SET result = 'ok' WHERE seq = 2; DELETE FROM audit WHERE seq = 4"]))
            let deleted = try hop(["audit", "verify", "--json"], home: home)
            #expect(deleted.status == 7 && deleted.stdout.contains("entries 4–4 are missing"), "\(deleted.stdout)\(deleted.stderr)")
        }
    }
}
