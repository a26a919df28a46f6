import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import HopBasics
import HopCore
import Runtime

/// The network-facing half of the installed server (`hop-server.service`): an unprivileged
/// process that takes nginx's connections, parses HTTP, and passes on only what is one of hop's
/// operations to the root helper (`hop-helper.service`) over a unix socket. It holds no credential,
/// cannot read `$HOP_HOME`, and has no network but unix sockets (docs/server.md, "Privilege
/// separation").
///
/// What crosses to the helper is rebuilt, not relayed: the method, a path the route table or the
/// dashboard knows, the query re-encoded from its parsed pairs, an allow-list of headers, and the
/// body. A request the helper has no operation for is answered here (404) and never reaches it.
/// The helper authenticates the credential itself, authorises, audits and runs the operation.
public struct HopFront: Sendable {
    public var helperSocket: String
    public var logger: Logger

    public init(helperSocket: String, logger: Logger = Logger(label: "hop.front")) {
        self.helperSocket = helperSocket; self.logger = logger
    }

    /// One client for the process (never shut down, as `HTTPClient.shared`), that follows no
    /// redirect, and where a connection to a
    /// helper that is not there fails in 2 s instead of being retried until the request's deadline,
    /// and long requests (a deploy streams for minutes) do not queue the others behind 8 connections.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(2)
        // The helper's redirects (login → /) are the browser's to follow, not the front's.
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Request headers the helper reads (credentials, CSRF, content negotiation, and what hop's own
    /// nginx site sets: the client address and the worker). Everything else stays here.
    static let forwardedRequestHeaders: [HTTPField.Name] = [
        .authorization, .cookie, .contentType, .accept,
        HTTPField.Name("X-CSRF-Token")!, HTTPField.Name("X-Real-IP")!, HTTPField.Name("X-Hop-Front-Worker")!,
        HTTPField.Name("X-Forwarded-Proto")!,
    ]
    /// Hop-by-hop response headers, which describe the helper's connection, not the client's.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"]

    /// Whether the helper has an operation at `method path`: the API's route table (any method on a
    /// known path: the helper answers 405 with `Allow`), its OpenAPI document, and the dashboard's pages.
    public static func helperAccepts(method: String, path: String) -> Bool {
        guard path.hasPrefix("/"), path.count <= 2048, !path.contains(where: { $0.isNewline || $0 == "\0" }) else { return false }
        if path == "/api/openapi.json" { return method == "GET" || method == "HEAD" }
        if path.hasPrefix("/api/") { return apiRoutes.contains { $0.match(path) != nil } }
        // An operation outside /api (GET /metrics, where Prometheus looks by default).
        if apiRoutes.contains(where: { $0.match(path) != nil }) { return true }
        return Dashboard.routes.contains { $0.method == method && APIRoute.matches(pattern: $0.path, path) }
    }

    /// The query as the helper gets it: each parsed pair percent-encoded again.
    static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { k, v in
            (k.addingPercentEncoding(withAllowedCharacters: allowed) ?? "") + "=" + (v.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        }.joined(separator: "&")
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let front = self
        for method: HTTPRequest.Method in [.get, .post, .put, .patch, .delete, .head, .options] {
            router.on("/**", method: method) { request, _ in await front.forward(request) }
            router.on("/", method: method) { request, _ in await front.forward(request) }
        }
        return router
    }

    func forward(_ request: Request) async -> Response {
        let path = request.uri.path
        let method = request.method.rawValue
        guard Self.helperAccepts(method: method, path: path) else {
            return errorResponse(HopError(.notFound, "no route \(path)", hint: "see /api/openapi.json"))
        }
        var pairs: [(String, String)] = []
        for (k, v) in request.uri.queryParameters { pairs.append((String(k), String(v))) }
        let query = pairs.isEmpty ? "" : "?" + Self.canonicalQuery(pairs)
        guard let url = URL(httpURLWithSocketPath: helperSocket, uri: path + query) else {
            return errorResponse(HopError.invalid("the request path cannot be passed on"))
        }
        var outgoing = HTTPClientRequest(url: url.absoluteString)
        outgoing.method = .init(rawValue: method)
        for name in Self.forwardedRequestHeaders {
            for value in request.headers[values: name] { outgoing.headers.add(name: name.rawName, value: value) }
        }
        if let authority = request.head.authority { outgoing.headers.replaceOrAdd(name: "Host", value: authority) }
        if method != "GET" && method != "HEAD" {
            let length = request.headers[.contentLength].flatMap { Int64($0) }
            outgoing.body = .stream(request.body, length: length.map { .known($0) } ?? .unknown)
        }
        do {
            // As long as nginx waits for hop's site (a deploy may build for minutes).
            let response = try await Self.client.execute(outgoing, timeout: .seconds(3600), logger: logger)
            var headers = HTTPFields()
            for h in response.headers where !Self.hopByHop.contains(h.name.lowercased()) {
                if let name = HTTPField.Name(h.name) { headers.append(HTTPField(name: name, value: h.value)) }
            }
            return Response(status: .init(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
                            headers: headers, body: ResponseBody(asyncSequence: response.body))
        } catch {
            logger.error("the helper did not answer: \(error)")
            return errorResponse(HopError(.environment, "hop's helper did not answer", hint: "see `hop host journal \(ControlPlane.helperUnit)`"),
                                 status: .badGateway)
        }
    }

    /// Runs until cancelled on the unix socket nginx connects to, made 0660 with this process's
    /// group (the unit's `Group=`, nginx's), so only nginx and root reach it.
    public func run(socket: String, onReady: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        unlink(socket)
        let app = Application(router: router(), configuration: .init(address: .unixDomainSocket(path: socket), serverName: "hop"),
                              onServerRunning: { _ in
                                  chmod(socket, 0o660)
                                  onReady(socket)
                              }, logger: logger)
        try await app.runService()
    }
}
