import Foundation
import Testing
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import HopBasics
import HopCore
import HopStore
@testable import HopServer
import HopTestSupport

/// The API and dashboard in-process (HummingbirdTesting), on a real SQLite database. No app is
/// deployed here (the integration tests deploy real ones): what is proven is who gets past the
/// door of every route.
@Suite struct ServerTests {
    struct Fixture {
        var home: HopHome
        var tokens: [String: String] = [:]
    }

    /// Users of every kind and their tokens: admin, deployer of blog, deployer of shop, viewer of
    /// blog; an expired and a revoked token of the blog deployer.
    func withFixture(behindFront: Bool = false, _ body: (Fixture, Router<BasicRequestContext>) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-server-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = HopHome(root: dir)
        let ops = Operations(HopContext(home: home))
        var f = Fixture(home: home)
        _ = try ops.userAdd(name: "ada", role: .admin, apps: [], password: nil)
        _ = try ops.userAdd(name: "dan", role: .deployer, apps: ["blog"], password: "dan's long password")
        _ = try ops.userAdd(name: "sam", role: .deployer, apps: ["shop"], password: nil)
        _ = try ops.userAdd(name: "vic", role: .viewer, apps: ["blog"], password: nil)
        for (key, user) in [("admin", "ada"), ("deployer", "dan"), ("otherDeployer", "sam"), ("viewer", "vic")] {
            f.tokens[key] = try ops.tokenCreate(user: user, label: key, expiresIn: 3600).token
        }
        let now = Date()
        f.tokens["expired"] = try ops.tokenCreate(user: "dan", label: "old", expiresIn: 1, now: now.addingTimeInterval(-10)).token
        let revoked = try ops.tokenCreate(user: "dan", label: "revoked", expiresIn: 3600)
        _ = try ops.tokenRevoke(id: revoked.id)
        f.tokens["revoked"] = revoked.token
        var server = HopHTTPServer(home: home, secureCookies: false)
        server.behindFront = behindFront
        try await body(f, server.router())
    }

    /// A request body each route accepts (so a refusal can only come from authorisation).
    func sampleBody(_ r: APIRoute) -> String? {
        switch r.operationID {
        case "changeConfig": return #"{"set":{"GREETING":"hi"}}"#
        case "deploy": return #"{"build":999999}"#
        case "rollback": return "{}"
        case "scale": return #"{"counts":{"web":1}}"#
        case "gc": return #"{"keep":3}"#
        case "addUser": return #"{"name":"newbie","role":"viewer"}"#
        case "setPassword": return #"{"password":"a new long password"}"#
        case "createToken": return #"{"user":"vic"}"#
        case "createAddon": return #"{"type":"postgres","name":"matrix-db"}"#
        case "attachAddon": return "{}"
        case "createBackup", "restoreBackup", "pruneBackups": return "{}"
        case "setBackupSchedule": return #"{"calendar":"daily"}"#
        case "addSSHKey": return #"{"user":"vic","key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl vic"}"#
        case "trustKey": return #"{"name":"ci","pem":"not a key"}"#
        case "silenceAlerts": return #"{"app":"blog","duration":"1h"}"#
        case "addNotifyChannel": return #"{"name":"ops","kind":"webhook","target":"https://hooks.example.org/x"}"#
        default: return nil
        }
    }

    func concretePath(_ r: APIRoute) -> String {
        // removeUser removes the user addUser added (the matrix keeps its own users).
        r.path.replacingOccurrences(of: "{app}", with: "blog")
            .replacingOccurrences(of: "{name}", with: r.operationID == "removeUser" ? "newbie" : "vic")
            .replacingOccurrences(of: "{id}", with: "0123456789abcdef")
            .replacingOccurrences(of: "{addon}", with: "blog-db")
            .replacingOccurrences(of: "{backup}", with: "20261205T000000Z-abcdef")
            .replacingOccurrences(of: "{key}", with: "SHA256:nothing")
    }

    /// Whether `who` may call `route` on app blog (user vic, token 0123…), by the documented rules.
    func allowed(_ route: APIRoute, _ who: String) -> Bool {
        let principal: Principal
        switch who {
        case "admin": principal = Principal(name: "ada", role: .admin)
        case "deployer": principal = Principal(name: "dan", role: .deployer, apps: ["blog"])
        case "otherDeployer": principal = Principal(name: "sam", role: .deployer, apps: ["shop"])
        case "viewer": principal = Principal(name: "vic", role: .viewer, apps: ["blog"])
        default: return false
        }
        if route.operationID == "setPassword" { return principal.role == .admin || principal.name == "vic" }
        // Lists (and the Prometheus exposition) answer every user with what they may see.
        if ["whoami", "listApps", "listDomains", "listBuilds", "listBackups", "prometheusMetrics", "listAlerts"].contains(route.operationID) { return true }
        // A backup's routes are authorised on the backup's app, known only once it is found: an
        // unknown backup is 404 for every authenticated caller (the integration tests show the refusals).
        if route.path.contains("{backup}") { return true }
        // silenceAlerts names its app in the body.
        return principal.may(route.permission, app: route.path.contains("{app}") || route.operationID == "silenceAlerts" ? "blog" : nil)
    }

    @Test func everyRouteRefusesEveryoneItShould() async throws {
        try await withFixture { f, router in
            let app = Application(router: router)
            try await app.test(.router) { client in
                var unauthorizedSuccesses: [String] = []
                var checked = 0
                for route in apiRoutes where route.operationID != "health" {
                    for who in ["none", "expired", "revoked", "admin", "deployer", "otherDeployer", "viewer"] {
                        var headers: HTTPFields = [.contentType: "application/json"]
                        if let t = f.tokens[who] { headers[.authorization] = "Bearer \(t)" }
                        let body = sampleBody(route).map { ByteBuffer(string: $0) }
                        let status = try await client.execute(uri: concretePath(route), method: HTTPRequest.Method(route.method)!,
                                                              headers: headers, body: body) { $0.status }
                        checked += 1
                        switch who {
                        case "none", "expired", "revoked":
                            #expect(status == .unauthorized, "\(route.method) \(route.path) as \(who): \(status)")
                        default:
                            if allowed(route, who) {
                                #expect(status != .unauthorized && status != .forbidden, "\(route.method) \(route.path) as \(who): \(status)")
                            } else {
                                #expect(status == .forbidden, "\(route.method) \(route.path) as \(who): \(status)")
                            }
                        }
                        if !allowed(route, who), (200..<300).contains(status.code) { unauthorizedSuccesses.append("\(route.path) \(who)") }
                        #expect(status.code < 500 || status == .serviceUnavailable, "\(route.method) \(route.path) as \(who): \(status)")
                    }
                }
                #expect(unauthorizedSuccesses.isEmpty, "\(unauthorizedSuccesses)")
                #expect(checked == (apiRoutes.count - 1) * 7)
            }
            // Nothing an unauthorised caller sent changed anything: no user, token or config appeared.
            let ops = Operations(HopContext(home: f.home))
            let added = try ops.audit().filter { $0.action == "user add" && $0.result == "ok" && $0.detail.contains("newbie") }
            #expect(added.allSatisfy { $0.actor == "ada" }, "\(added)")
            let changedConfig = try ops.audit().filter { $0.action == "config set" && $0.result != "denied" }
            #expect(changedConfig.allSatisfy { ["ada", "dan"].contains($0.actor) }, "\(changedConfig)")
        }
    }

    @Test func healthAndOpenAPINeedNoToken() async throws {
        try await withFixture { _, router in
            let app = Application(router: router)
            try await app.test(.router) { client in
                try await client.execute(uri: "/api/health", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(String(buffer: r.body).contains("\"ok\":true"))
                }
                try await client.execute(uri: "/api/openapi.json", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(String(buffer: r.body) == OpenAPIDocument.json)
                }
                try await client.execute(uri: "/api/nothing-here", method: .get) { r in #expect(r.status == .notFound) }
                try await client.execute(uri: "/api/apps", method: .delete) { r in #expect(r.status == .methodNotAllowed) }
            }
        }
    }

    @Test("a config value past the kernel's per-variable limit is refused over the API (400) and nothing changes")
    func configValueTooLongForTheKernel() async throws {
        try await withFixture { f, router in
            let app = Application(router: router)
            try await app.test(.router) { client in
                let headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(f.tokens["admin"]!)"]
                let long = String(repeating: "y", count: Operations.maxConfigAssignmentBytes - "BIG=".utf8.count)
                let status = try await client.execute(uri: "/api/apps/blog/config", method: .patch, headers: headers,
                                                      body: ByteBuffer(string: "{\"set\": {\"BIG\": \"\(long)\"}}")) { $0.status }
                #expect(status == .badRequest)
                let fits = try await client.execute(uri: "/api/apps/blog/config", method: .patch, headers: headers,
                                                    body: ByteBuffer(string: "{\"set\": {\"BIG\": \"\(long.dropLast())\"}}")) { $0.status }
                #expect(fits == .ok)
            }
            #expect(try Operations(HopContext(home: f.home)).config(app: "blog")["BIG"]?.utf8.count == Operations.maxConfigAssignmentBytes - "BIG=".utf8.count - 1)
        }
    }

    @Test func openAPIDocumentSnapshot() throws {
        try assertSnapshot(OpenAPIDocument.json, named: "openapi.json")
        // Every route is documented, with its permission.
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        for r in apiRoutes { #expect(paths[r.path]?[r.method.lowercased()] != nil, "\(r.method) \(r.path)") }
        #expect(doc["openapi"] as? String == "3.1.0")
    }

    @Test("the document and the catalogue agree: every documented operation is a networked operation with that route, and back; every $ref resolves; reflection read every type whole; the validator accepts it")
    func openAPIMatchesTheCatalogue() throws {
        let (document, incomplete) = OpenAPIDocument.generate()
        #expect(incomplete.isEmpty, "\(incomplete)")
        var documented: [String: String] = [:]
        for (path, item) in document["paths"]?.object ?? [:] {
            for (method, op) in item.object ?? [:] {
                documented[op["operationId"]?.stringValue ?? "?"] = "\(method.uppercased()) \(path)"
            }
        }
        documented.removeValue(forKey: "openapi")
        var networked: [String: String] = [:]
        for op in Catalogue.operations { if let b = op.http { networked[op.name] = "\(b.method.rawValue) \(b.path)" } }
        #expect(documented == networked)
        #expect(Set(apiRoutes.map(\.operationID)) == Set(networked.keys))
        // Every reference names a component.
        let text = OpenAPIDocument.json
        let schemas = Set((document["components"]?["schemas"]?.object ?? [:]).keys)
        let refs = text.components(separatedBy: "#/components/schemas/").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(!refs.isEmpty && refs.allSatisfy(schemas.contains), "\(Set(refs).subtracting(schemas))")
        // The OpenAPI validator (installed by `make setup`), when this checkout has it.
        let validator = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".venv-test/bin/openapi-spec-validator").path
        try #require(FileManager.default.isExecutableFile(atPath: validator), "run `make setup`: \(validator) is missing")
        let file = NSTemporaryDirectory() + "hop-openapi-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try SystemRunner().run(Command(validator, [file]))
        #expect(r.succeeded, "\(r.stdoutText)\(r.stderrText)")
    }

    @Test func dashboardLoginSessionsAndCSRF() async throws {
        try await withFixture { f, router in
            let app = Application(router: router)
            try await app.test(.router) { client in
                // Not logged in: the dashboard sends you to the login page.
                try await client.execute(uri: "/", method: .get) { r in
                    #expect(r.status == .seeOther && r.headers[.location] == "/login")
                }
                try await client.execute(uri: "/login", method: .get) { r in
                    #expect(r.status == .ok)
                    let csp = r.headers[.contentSecurityPolicy] ?? ""
                    #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"))
                }
                let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                let cookie = try await client.execute(uri: "/login", method: .post, headers: form,
                                                      body: ByteBuffer(string: "user=dan&password=dan%27s+long+password")) { r -> String in
                    #expect(r.status == .seeOther)
                    let set = r.headers[.setCookie] ?? ""
                    #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict"))
                    return String(set.split(separator: ";")[0])
                }
                let page = try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]) { r -> String in
                    #expect(r.status == .ok)
                    return String(buffer: r.body)
                }
                #expect(page.contains("dan (deployer)"))
                // A form posted without its CSRF token is refused and does nothing.
                let before = try Operations(HopContext(home: f.home)).audit().count
                try await client.execute(uri: "/apps/blog/rollback", method: .post, headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: "to=1")) { r in #expect(r.status == .forbidden) }
                try await client.execute(uri: "/apps/blog/rollback", method: .post, headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: "to=1&csrf=0000")) { r in #expect(r.status == .forbidden) }
                #expect(try Operations(HopContext(home: f.home)).audit().count == before)
                // The API with the session cookie: reads work, writes need the CSRF header.
                try await client.execute(uri: "/api/whoami", method: .get, headers: [.cookie: cookie]) { r in #expect(r.status == .ok) }
                try await client.execute(uri: "/api/apps/blog/rollback", method: .post, headers: [.cookie: cookie]) { r in
                    #expect(r.status == .forbidden)
                }
                // Five wrong passwords, then even the right one is refused for a while.
                for _ in 0..<5 {
                    try await client.execute(uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "user=vic&password=nope")) { r in
                        #expect(r.status == .unauthorized)
                        #expect(String(buffer: r.body).contains("name=user autocomplete=username required value=\"vic\""), "the user name stays")
                    }
                }
                try await client.execute(uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "user=vic&password=nope")) { r in
                    #expect(r.status == .tooManyRequests)
                }
            }
        }
    }

    @Test("the session cookie is Secure when the browser came over HTTPS (as hop's nginx says), not on a plain-HTTP server name")
    func cookieFollowsTheScheme() {
        #expect(Dashboard.secureCookie(configured: true, behindFront: true, forwardedProto: "https"))
        #expect(!Dashboard.secureCookie(configured: true, behindFront: true, forwardedProto: "http"))
        #expect(Dashboard.secureCookie(configured: true, behindFront: true, forwardedProto: nil))
        #expect(Dashboard.secureCookie(configured: true, behindFront: false, forwardedProto: "http"), "a direct client's header is not believed")
        #expect(!Dashboard.secureCookie(configured: false, behindFront: true, forwardedProto: "https"))
    }

    @Test("20 concurrent wrong passwords from one client: at most 5 are checked (401), the rest refused before scrypt (429); the real user, from another address, still logs in")
    func loginLimiterCountsBeforeTheCheck() async throws {
        try await withFixture(behindFront: true) { f, router in
            let app = Application(router: router)
            try await app.test(.router) { client in
                func form(_ ip: String) -> HTTPFields { [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("X-Real-IP")!: ip] }
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            try await client.execute(uri: "/login", method: .post, headers: form("203.0.113.9"),
                                                     body: ByteBuffer(string: "user=dan&password=guess")) { $0.status }
                        }
                    }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
                let checked = statuses.filter { $0 == .unauthorized }.count
                #expect(checked <= 5 && statuses.filter { $0 == .tooManyRequests }.count == 20 - checked, "\(statuses)")
                // The stranger stays locked out, even with the right password.
                try await client.execute(uri: "/login", method: .post, headers: form("203.0.113.9"),
                                         body: ByteBuffer(string: "user=dan&password=dan%27s+long+password")) { r in #expect(r.status == .tooManyRequests) }
                // The real user from their own address is not.
                try await client.execute(uri: "/login", method: .post, headers: form("198.51.100.4"),
                                         body: ByteBuffer(string: "user=dan&password=dan%27s+long+password")) { r in #expect(r.status == .seeOther) }
            }
        }
    }

    @Test("the limiter's lockout doubles each time and ends; a success forgets the failures")
    func limiterBackoff() {
        let l = LoginLimiter()
        var now = Date(timeIntervalSince1970: 1_000_000)
        func failFive() { for _ in 0..<5 { #expect(l.begin(user: "u", client: "c", now: now)); l.finish(user: "u", client: "c", succeeded: false, now: now) } }
        failFive()
        #expect(!l.begin(user: "u", client: "c", now: now))
        #expect(l.begin(user: "u", client: "other", now: now), "another client is not locked out")
        l.finish(user: "u", client: "other", succeeded: true, now: now)
        now += 301
        failFive()
        now += 301
        #expect(!l.begin(user: "u", client: "c", now: now), "the second lockout lasts 600 s")
        now += 300
        #expect(l.begin(user: "u", client: "c", now: now))
        l.finish(user: "u", client: "c", succeeded: true, now: now)
        #expect(l.begin(user: "u", client: "c", now: now))
    }

    @Test func errorsMapToStatuses() {
        #expect(status(for: .invalidInput) == .badRequest)
        #expect(status(for: .unauthenticated) == .unauthorized)
        #expect(status(for: .forbidden) == .forbidden)
        #expect(status(for: .notFound) == .notFound)
        #expect(status(for: .conflict) == .conflict)
        #expect(status(for: .internalError) == .internalServerError)
        #expect(esc("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
        #expect(parseForm("a=1&b=x+y%21&c") == ["a": "1", "b": "x y!", "c": ""])
    }

    @Test func dashboardOverviewShowsTheCheckedFacts() throws {
        let data = Data("""
            {"app":"blog","serving":false,"state":"stopped","checkedAt":"2026-12-07T11:00:00.000Z","domains":["blog.localhost"],
             "urls":[{"url":"http://blog.localhost/","answering":false,"status":502,"problem":"nginx answered 502: the app is not listening"}],
             "generation":{"number":3,"build":7,"status":"active","createdAt":"2026-12-07T10:00:00.000Z","action":"deploy","by":"<alice>","via":"api"},
             "processes":[{"name":"web","count":1,"instances":[{"unit":"hop-blog-G3-web@1.service","state":"inactive","sub":"dead","pid":0,"restarts":0,
                           "memoryBytes":1048576,"memoryLimitBytes":1073741824,"cpuSeconds":0.5}]}],
             "addons":[{"type":"postgres","name":"blog-postgres"}],"volumes":[{"name":"uploads","target":"data/uploads","bytes":2097152}]}
            """.utf8)
        let info = try JSONDecoder().decode(AppInfo.self, from: data)
        let html = Dashboard.overview(info)
        #expect(html.contains("<span id=state class=bad>stopped</span>"))
        #expect(html.contains("does not answer: nginx answered 502"))
        #expect(!html.contains("answers (HTTP"))
        #expect(html.contains("deploy by &lt;alice&gt; via api"), "names are escaped")
        #expect(html.contains("<td>hop-blog-G3-web@1.service</td><td>inactive/dead</td><td>0</td><td>0.50 s</td><td>1.0 MiB of 1024.0 MiB</td>"), "\(html)")
        #expect(html.contains("<td>postgres</td><td>blog-postgres</td>") && html.contains("<td>uploads</td><td>data/uploads</td><td>2.0 MiB</td>"))
    }

    /// The server keeps one database connection and reuses what it read and encoded; the CLI is
    /// another process with its own connection. Whatever the CLI commits shows in the very next
    /// request: deploys, rollbacks, destroys, grants, removed users and revoked tokens.
    @Test func changesMadeByAnotherConnectionShowInTheNextRequest() async throws {
        try await withFixture { f, router in
            let cli = try HopDatabase(path: f.home.database)
            @Sendable func gen(_ app: String, _ n: Int, _ status: GenerationRecord.Status) -> GenerationRecord {
                GenerationRecord(app: app, number: n, buildID: 424_242, storePath: "/nix/store/\(n)-gen-\(app)", appPath: "/nix/store/\(n)-\(app)",
                                 scale: ["web": n], configHash: "h", status: status, createdAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(n)))
            }
            try await Application(router: router).test(.router) { client in
                func list(_ who: String) async throws -> (status: HTTPResponse.Status, apps: [String: Int?]) {
                    try await client.execute(uri: "/api/apps", method: .get, headers: [.authorization: "Bearer \(f.tokens[who]!)"]) { r in
                        guard r.status == .ok else { return (r.status, [:]) }
                        let rows = try JSONDecoder().decode([AppSummary].self, from: Data(buffer: r.body))
                        return (r.status, Dictionary(uniqueKeysWithValues: rows.map { ($0.app, $0.generation) }))
                    }
                }
                #expect(try await list("admin").apps.isEmpty)
                try cli.putGeneration(gen("blog", 1, .active))
                try cli.putGeneration(gen("shop", 1, .active))
                #expect(try await list("admin").apps == ["blog": 1, "shop": 1])
                #expect(try await list("admin").apps == ["blog": 1, "shop": 1], "asked again, nothing changed")
                #expect(try await list("deployer").apps == ["blog": 1], "dan sees only blog")
                // A deploy of blog by the CLI.
                try cli.putGeneration(gen("blog", 2, .active))
                #expect(try await list("admin").apps == ["blog": 2, "shop": 1])
                #expect(try await list("deployer").apps == ["blog": 2])
                // A rollback.
                try cli.setGenerationStatus(app: "blog", number: 1, .active)
                #expect(try await list("admin").apps == ["blog": 1, "shop": 1])
                // A destroy.
                try cli.forgetApp("shop", config: true)
                #expect(try await list("admin").apps == ["blog": 1])
                // A grant added by another process (sqlite3), then a user removed and a token revoked by the CLI.
                let r = try SystemRunner().run(Command("sqlite3", [f.home.database, "INSERT INTO grants (user, app) VALUES ('dan', 'shop')"]))
                #expect(r.succeeded, "\(r.stderrText)")
                try cli.putGeneration(gen("shop", 3, .active))
                #expect(try await list("deployer").apps == ["blog": 1, "shop": 3])
                _ = try cli.removeUser("sam")
                #expect(try await list("otherDeployer").status == .unauthorized)
                let id = String(f.tokens["viewer"]!.dropFirst(4).prefix { $0 != "." })
                #expect(try await list("viewer").status == .ok)
                _ = try cli.revokeToken(id: id)
                #expect(try await list("viewer").status == .unauthorized)
            }
        }
    }
}
