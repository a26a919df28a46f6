import Foundation
import Testing
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import HopBasics
import HopCore
@testable import HopServer
import HopTestSupport

/// The unprivileged front of the installed server: what it passes to the helper, and a real pass
/// over the helper's unix socket (the helper here is hop's server on a socket in a scratch dir).
@Suite struct FrontTests {
    @Test("the front passes on the route table's paths, the OpenAPI document and the dashboard's pages, nothing else")
    func gate() {
        for (method, path) in [("GET", "/api/health"), ("GET", "/api/apps"), ("POST", "/api/apps/blog/deploy"), ("DELETE", "/api/apps/blog"),
                               ("PUT", "/api/apps/blog/deploy"), // a known path: the helper answers 405 with Allow
                               ("GET", "/api/openapi.json"), ("GET", "/"), ("GET", "/apps/blog"), ("POST", "/apps/blog/rollback"),
                               ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/static/hop.css")] {
            #expect(HopFront.helperAccepts(method: method, path: path), "\(method) \(path)")
        }
        for (method, path) in [("GET", "/etc/passwd"), ("GET", "/api/nope"), ("GET", "/api/apps/blog/nope/deeper"), ("POST", "/static/hop.css"),
                               ("DELETE", "/login"), ("GET", "/apps/blog/rollback"), ("POST", "/api/openapi.json"), ("GET", "relative"),
                               ("GET", "/api/apps\n"), ("GET", "/" + String(repeating: "a", count: 3000))] {
            #expect(!HopFront.helperAccepts(method: method, path: path), "\(method) \(path)")
        }
    }

    @Test func queryIsReEncoded() {
        #expect(HopFront.canonicalQuery([("lines", "200"), ("reveal", "true")]) == "lines=200&reveal=true")
        #expect(HopFront.canonicalQuery([("a b", "c&d=e"), ("x", "/\r\n")]) == "a%20b=c%26d%3De&x=%2F%0D%0A")
    }

    @Test("through the front: the helper authenticates (401 without a token, 200 with one), unknown paths stop at the front, a missing helper is a 502 with a hint")
    func passesToTheHelper() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-front-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = HopHome(root: dir + "/home")
        let ops = Operations(HopContext(home: home))
        _ = try ops.userAdd(name: "ada", role: .admin, apps: [], password: nil)
        let token = try #require(try ops.tokenCreate(user: "ada", label: "t", expiresIn: 3600).token)
        let socket = dir + "/helper.sock"
        let ready = AsyncStream<Void>.makeStream()
        let helper = Task {
            try await HopHTTPServer(home: home, secureCookies: false).run(socket: socket, socketGroup: "root", onReady: { _ in ready.continuation.yield() })
        }
        defer { helper.cancel() }
        var it = ready.stream.makeAsyncIterator()
        _ = await it.next()
        let front = HopFront(helperSocket: socket)
        let app = Application(router: front.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/apps", method: .get) { r in
                #expect(r.status == .unauthorized)
                #expect(String(buffer: r.body).contains("authentication required"))
            }
            try await client.execute(uri: "/api/whoami", method: .get, headers: [.authorization: "Bearer \(token)"]) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body).contains("\"name\":\"ada\""))
            }
            try await client.execute(uri: "/api/users", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                     body: ByteBuffer(string: #"{"name":"newbie","role":"viewer"}"#)) { r in
                #expect(r.status == .created, "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/api/apps/blog/deploy", method: .put, headers: [.authorization: "Bearer \(token)"]) { r in
                #expect(r.status == .methodNotAllowed)
            }
            try await client.execute(uri: "/secret", method: .get, headers: [.authorization: "Bearer \(token)"]) { r in
                #expect(r.status == .notFound)
            }
            try await client.execute(uri: "/login", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentSecurityPolicy] != nil)
            }
            // A redirect is passed on to the browser, not followed.
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .seeOther && r.headers[.location] == "/login")
            }
        }
        #expect(try Operations(HopContext(home: home)).users().contains { $0.name == "newbie" }, "the user was added by the helper")
        let orphan = Application(router: HopFront(helperSocket: dir + "/absent.sock").router())
        let t0 = Date()
        try await orphan.test(.router) { client in
            try await client.execute(uri: "/api/health", method: .get) { r in
                #expect(r.status == .badGateway)
                #expect(String(buffer: r.body).contains("hop host journal hop-helper.service"))
            }
        }
        #expect(Date().timeIntervalSince(t0) < 10, "a missing helper is said at once")
    }
}
