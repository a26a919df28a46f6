import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOPosix
import HopBasics
import HopCore
import HopStore
import Runtime

/// `hop server`: the HTTP API and the dashboard over HopCore. Every request is authenticated
/// (bearer token, or the dashboard's session cookie plus its CSRF token on anything that changes
/// state), handed to the same `Operations` the CLI uses, and answered with the operation's Codable
/// result or a `{"error": …}` body whose status follows the error's code.
public struct HopHTTPServer: Sendable {
    public var home: HopHome
    public var logger: Logger
    /// Send `Secure` on cookies (behind TLS). Off only for plain-HTTP loopback use.
    public var secureCookies: Bool
    /// The systemd apps run under, when not resolved per request (hop server inside the service host).
    public var serviceHost: ServiceHost?
    /// Listening on the unix socket behind hop's nginx (set by `run(socket:)`).
    public var behindFront = false
    let databases = OpenDatabase()
    let limiter = LoginLimiter()

    public init(home: HopHome, secureCookies: Bool = true, logger: Logger = Logger(label: "hop.server")) {
        self.home = home; self.secureCookies = secureCookies; self.logger = logger
    }

    /// Builds the router (tests drive it in-process with HummingbirdTesting).
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let server = self
        router.get("/api/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        // Routes are mounted from the catalogue; a request no route takes gets the API's JSON 404
        // or 405 (with `Allow`) from the fallback, which runs no operation.
        router.add(middleware: APIFallback())
        for route in apiRoutes {
            router.on(RouterPath(route.path), method: HTTPRequest.Method(route.method)!) { request, context in
                var params: [String: String] = [:]
                for name in route.binding.pathParameters {
                    let raw = context.parameters.get(name) ?? ""
                    params[name] = raw.removingPercentEncoding ?? raw
                }
                return await server.api(route, params: params, request, context)
            }
        }
        Dashboard(server: server).register(on: router)
        return router
    }

    /// Runs until cancelled, on a TCP `host:port` or a unix socket. A unix socket is made 0660
    /// root:`socketGroup` once bound, so hop's nginx (and nobody else) can connect.
    public func run(host: String? = nil, port: Int? = nil, socket: String? = nil, socketGroup: String = "www-data",
                    onReady: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let address: BindAddress
        if let socket {
            unlink(socket)
            address = .unixDomainSocket(path: socket)
        } else {
            address = .hostname(host ?? "127.0.0.1", port: port ?? 8090)
        }
        var server = self
        server.behindFront = socket != nil
        let app = Application(router: server.router(), configuration: .init(address: address, serverName: "hop"),
                              onServerRunning: { channel in
                                  if let socket {
                                      let gid = getgrnam(socketGroup).map { $0.pointee.gr_gid } ?? 0
                                      chown(socket, 0, gid)
                                      chmod(socket, 0o660)
                                      onReady(socket)
                                  } else {
                                      onReady("http://\(host ?? "127.0.0.1"):\(channel.localAddress?.port ?? port ?? 0)")
                                  }
                              }, logger: logger)
        try await app.runService()
    }

    // MARK: API dispatch

    func api(_ route: APIRoute, params: [String: String], _ request: Request, _ context: BasicRequestContext) async -> Response {
        // One id per request, in every log line of its operation and in the response.
        let requestID = Self.requestID()
        var logger = self.logger
        logger[metadataKey: "request"] = .string(requestID)
        var response = await dispatch(route, params: params, request, logger: logger)
        response.headers[Self.requestIDField] = requestID
        return response
    }

    static let requestIDField = HTTPField.Name("X-Request-Id")!

    /// Eight random hex digits (what a UUID's first eight were, without making a UUID).
    static func requestID() -> String {
        let n = UInt32.random(in: .min ... .max)
        let s = String(n, radix: 16)
        return s.count == 8 ? s : String(repeating: "0", count: 8 - s.count) + s
    }

    func dispatch(_ route: APIRoute, params: [String: String], _ request: Request, logger: Logger) async -> Response {
        let wantsStream = route.streams && (request.headers[.accept] ?? "").contains("text/event-stream")
        if !route.upload && !wantsStream {
            return await dispatchJSON(route, params: params, request, logger: logger)
        }
        var request = request
        let principal: Principal
        if route.binding.anonymous {
            principal = Principal(name: "anonymous", role: .viewer)
        } else {
            do {
                principal = try await authenticate(request, mutating: route.mutates)
            } catch {
                return authenticationFailure(error)
            }
        }
        var body = Data()
        var upload: String?
        if route.upload {
            do {
                upload = try await receiveUpload(request)
            } catch let e as HopError {
                return errorResponse(e, status: e.code == .invalidInput ? .contentTooLarge : nil)
            } catch { return errorResponse(HopError(.internalError, "\(error)")) }
        } else {
            do {
                let buffer = try await request.collectBody(upTo: 1 << 20)
                body = Data(buffer.readableBytesView)
            } catch {
                return errorResponse(HopError.invalid("the request body is larger than 1 MiB"), status: .contentTooLarge)
            }
        }
        defer { if let upload { try? FileManager.default.removeItem(atPath: (upload as NSString).deletingLastPathComponent) } }
        let query = Self.query(request)
        let worker = frontWorker(request)
        if wantsStream {
            // The stream outlives this function: the upload is removed when the route is done.
            let kept = upload.map { file -> String in
                let moved = (file as NSString).deletingLastPathComponent + "-stream"
                try? FileManager.default.moveItem(atPath: (file as NSString).deletingLastPathComponent, toPath: moved)
                return moved + "/" + (file as NSString).lastPathComponent
            }
            return stream(route, principal: principal, params: params, query: query, body: body, upload: kept, frontWorker: worker,
                          logger: logger)
        }
        let ops = Operations(self.context(principal, via: "api", frontWorker: worker, logger: logger))
        let call = { var c = APICall(ops: ops, params: params, query: query, body: body); c.upload = upload; return c }()
        do {
            let value = try await blocking { try route.handler(call) }
            return jsonResponse(value, status: HTTPResponse.Status(code: route.binding.status))
        } catch let e as HopError {
            return errorResponse(e)
        } catch {
            return errorResponse(HopError(.internalError, "\(error)"))
        }
    }

    /// A JSON route (no upload, no event stream): the body (at most 1 MiB) is read first, then the
    /// caller is authenticated and the operation run in one trip to the thread pool, and the
    /// result encoded there too, off the event loop.
    func dispatchJSON(_ route: APIRoute, params: [String: String], _ request: Request, logger: Logger) async -> Response {
        var request = request
        let credential = route.binding.anonymous ? Credential.anonymous : Self.credential(request, mutating: route.mutates)
        let body: Data
        do {
            let buffer = try await request.collectBody(upTo: 1 << 20)
            body = Data(buffer.readableBytesView)
        } catch {
            // Who is asking comes first: a stranger's oversized body is a 401, not a 413.
            if !route.binding.anonymous {
                do { _ = try await blocking { [self] in try principal(credential) } } catch { return authenticationFailure(error) }
            }
            return errorResponse(HopError.invalid("the request body is larger than 1 MiB"), status: .contentTooLarge)
        }
        let query = Self.query(request)
        let worker = frontWorker(request)
        let status = HTTPResponse.Status(code: route.binding.status)
        let server = self
        do {
            return try await blocking {
                let principal: Principal
                do { principal = try server.principal(credential) } catch { return server.authenticationFailure(error) }
                let ops = Operations(server.context(principal, via: "api", frontWorker: worker, logger: logger))
                do {
                    let value = try route.handler(APICall(ops: ops, params: params, query: query, body: body))
                    return jsonResponse(value, status: status)
                } catch let e as HopError {
                    return errorResponse(e)
                }
            }
        } catch {
            return errorResponse(HopError(.internalError, "\(error)"))
        }
    }

    static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
        return query
    }

    func authenticationFailure(_ error: any Error) -> Response {
        guard let e = error as? HopError else { return errorResponse(HopError(.internalError, "\(error)")) }
        return errorResponse(e, extra: e.code == .unauthenticated ? [.wwwAuthenticate: "Bearer realm=\"hop\""] : [:])
    }

    /// Runs the route and streams its progress events, then its result (or error), as server-sent events.
    func stream(_ route: APIRoute, principal: Principal, params: [String: String], query: [String: String], body: Data,
                upload: String? = nil, frontWorker: String?, logger: Logger) -> Response {
        let (events, continuation) = AsyncStream<ByteBuffer>.makeStream()
        var ctx = context(principal, via: "api", frontWorker: frontWorker, logger: logger)
        ctx.progress = { e in continuation.yield(ByteBuffer(string: sse("progress", encodeJSON(e)))) }
        let ops = Operations(ctx)
        let call = { var c = APICall(ops: ops, params: params, query: query, body: body); c.upload = upload; return c }()
        Task {
            defer { if let upload { try? FileManager.default.removeItem(atPath: (upload as NSString).deletingLastPathComponent) } }
            do {
                let value = try await blocking { try route.handler(call) }
                continuation.yield(ByteBuffer(string: sse("result", resultJSON(value))))
            } catch {
                let e = error as? HopError ?? HopError(.internalError, "\(error)")
                continuation.yield(ByteBuffer(string: sse("error", errorJSON(e))))
            }
            continuation.finish()
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                        body: ResponseBody(asyncSequence: events))
    }

    /// An upload route's body, written to a scratch file as it arrives (at most `uploadLimit` bytes).
    func receiveUpload(_ request: Request) async throws -> String {
        let dir = try home.scratch("api-upload")
        let file = dir + "/body"
        guard let handle = FileHandle(forWritingAtPath: file) ?? {
            _ = FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600])
            return FileHandle(forWritingAtPath: file)
        }() else { throw HopError(.environment, "cannot write \(file)") }
        defer { try? handle.close() }
        var size = 0
        do {
            for try await buffer in request.body {
                size += buffer.readableBytes
                guard size <= Self.uploadLimit else {
                    throw HopError.invalid("the upload is larger than \(Self.uploadLimit >> 20) MiB")
                }
                try handle.write(contentsOf: Data(buffer.readableBytesView))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        return file
    }

    static let uploadLimit = 512 << 20

    func context(_ principal: Principal, via: String, frontWorker: String? = nil, logger: Logger? = nil) -> HopContext {
        var ctx = HopContext(home: home, principal: principal, via: via, logger: logger ?? self.logger, serviceHost: serviceHost)
        ctx.frontWorker = frontWorker
        ctx.sharedDatabase = databases.get(home)
        return ctx
    }

    /// The nginx worker a request came through, from the header hop's own site sets; believed only
    /// when this server listens on the socket only that nginx reaches.
    func frontWorker(_ request: Request) -> String? {
        guard behindFront, let v = request.headers[HTTPField.Name("X-Hop-Front-Worker")!], !v.isEmpty, v.allSatisfy(\.isNumber) else { return nil }
        return v
    }

    /// What a request presents as proof of who sends it, read off its headers.
    enum Credential: Sendable {
        case anonymous
        case bearer(String)
        /// The dashboard's session cookie; `csrf` is the header's token when the request changes state.
        case session(id: String, mutating: Bool, csrf: String?)
        case malformed(HopError)
        case none
    }

    static func credential(_ request: Request, mutating: Bool) -> Credential {
        if let auth = request.headers[.authorization] {
            guard auth.hasPrefix("Bearer ") else { return .malformed(HopError(.unauthenticated, "use `Authorization: Bearer TOKEN`")) }
            return .bearer(String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        }
        if let sid = cookie(request, "hop_session") {
            return .session(id: sid, mutating: mutating, csrf: request.headers[csrfField])
        }
        return .none
    }

    static let csrfField = HTTPField.Name("X-CSRF-Token")!

    /// The principal a credential proves (blocking: reads the database).
    func principal(_ credential: Credential) throws -> Principal {
        switch credential {
        case .anonymous:
            return Principal(name: "anonymous", role: .viewer)
        case .bearer(let token):
            return try Operations.authenticate(token: token, home: home, db: databases.get(home))
        case .session(let sid, let mutating, let csrf):
            if let s = try Operations.session(id: sid, home: home, db: databases.get(home)) {
                if mutating && csrf != s.csrf {
                    throw HopError(.forbidden, "the CSRF token is missing or wrong", hint: "reload the page")
                }
                return s.principal
            }
        case .malformed(let e):
            throw e
        case .none:
            break
        }
        throw HopError(.unauthenticated, "authentication required", hint: "send `Authorization: Bearer TOKEN` (see `hop token create`)")
    }

    /// A bearer token, or (for the dashboard's scripts) a session cookie with the CSRF header on writes.
    func authenticate(_ request: Request, mutating: Bool) async throws -> Principal {
        let credential = Self.credential(request, mutating: mutating)
        return try await blocking { [self] in try principal(credential) }
    }
}

func cookie(_ request: Request, _ name: String) -> String? {
    guard let header = request.headers[.cookie] else { return nil }
    for part in header.split(separator: ";") {
        let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
        if kv.count == 2, kv[0] == name { return String(kv[1]) }
    }
    return nil
}

/// The server's one connection to hop.db, opened once the file exists (HopDatabase serialises its
/// use across threads). Opening per request cost more than most requests.
final class OpenDatabase: @unchecked Sendable {
    private let lock = NSLock()
    private var db: HopDatabase?
    func get(_ home: HopHome) -> HopDatabase? {
        lock.lock(); defer { lock.unlock() }
        if db == nil, FileManager.default.fileExists(atPath: home.database) { db = try? HopDatabase(path: home.database) }
        return db
    }
}

/// Runs blocking work (SQLite, nix, systemctl) off the server's event loops, on NIO's thread pool
/// (bounded, unlike a global dispatch queue that grows a thread per blocked request).
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}

/// A route's result as JSON (a document rendered elsewhere goes out as it is).
func resultJSON(_ value: any Encodable) -> String {
    if let raw = value as? RawJSON { return raw.text }
    return encodeJSON(AnyEncodable(value))
}

/// The API's answer to a request no route takes: JSON, 405 with `Allow` when the path is a route's.
struct APIFallback<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError where e.status == .notFound
                    && (request.uri.path.hasPrefix("/api/") || apiRoutes.contains { $0.match(request.uri.path) != nil }) {
            // (The second case: an operation outside /api, GET /metrics, asked with another method.)
            let path = request.uri.path
            let methods = apiRoutes.filter { $0.match(path) != nil }.map(\.method)
            guard !methods.isEmpty else { return errorResponse(HopError(.notFound, "no API route \(path)", hint: "see /api/openapi.json")) }
            return errorResponse(HopError(.invalidInput, "\(request.method.rawValue) is not allowed on \(path)"), status: .methodNotAllowed,
                                 extra: [.allow: methods.joined(separator: ", ")])
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
}

func encodeJSON<T: Encodable>(_ value: T) -> String {
    String(decoding: encodeJSONData(value), as: UTF8.self)
}

/// The API's JSON: sorted keys, slashes as they are. One encoder for the process (its options
/// never change after this; encoding with it from many threads at once is safe).
func encodeJSONData<T: Encodable>(_ value: T) -> Data {
    (try? apiEncoder.encode(value)) ?? Data("null".utf8)
}

let apiEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
}()

func sse(_ event: String, _ data: String) -> String { "event: \(event)\ndata: \(data)\n\n" }

struct ErrorBody: Codable {
    struct Detail: Codable {
        var code: String; var message: String; var hint: String?; var exitCode: Int
        /// Where, when the error is about a file of the app's tree (relative to it).
        var file: String?; var line: Int?; var column: Int?
        /// The other errors found in the same pass (every wrong metadata line at once).
        var more: [Detail]?

        init(_ e: HopError) {
            code = e.code.description; message = e.message; hint = e.hint; exitCode = Int(e.code.exitCode)
            file = e.location?.file; line = e.location?.line; column = e.location?.column
            more = e.more.isEmpty ? nil : e.more.map(Detail.init)
        }
    }
    var error: Detail
}

func errorJSON(_ e: HopError) -> String {
    encodeJSON(ErrorBody(error: .init(e)))
}

func status(for code: HopError.Code) -> HTTPResponse.Status {
    switch code {
    case .invalidInput: .badRequest
    case .notFound: .notFound
    case .unauthenticated: .unauthorized
    case .forbidden: .forbidden
    case .conflict, .busy: .conflict
    case .buildFailed, .rolledBack, .notReproducible, .verificationFailed: .unprocessableContent
    case .environment, .couldNotCheck: .serviceUnavailable
    default: .internalServerError
    }
}

func jsonResponse(_ value: any Encodable, status: HTTPResponse.Status = .ok) -> Response {
    if let doc = value as? TextDocument {
        return Response(status: status, headers: [.contentType: doc.contentType, .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: doc.text)))
    }
    if let raw = value as? RawJSON {
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: raw.text)))
    }
    if let apps = value as? [AppSummary] {
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: appsListBody.body(for: apps)))
    }
    return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
             body: .init(byteBuffer: ByteBuffer(bytes: encodeJSONData(AnyEncodable(value)))))
}

/// The apps list, polled by dashboards and API clients, is mostly what it was a moment ago: when
/// the list equals the one encoded last, the same bytes go out again (a ByteBuffer is shared, not
/// copied). Equality of the whole list is the key, so a different caller's list or any change of
/// any field is encoded afresh.
let appsListBody = LastEncoded<[AppSummary]>()

final class LastEncoded<Value: Encodable & Equatable & Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var last: (value: Value, body: ByteBuffer)?

    func body(for value: Value) -> ByteBuffer {
        if let kept = lock.withLock({ last }), kept.value == value { return kept.body }
        let body = ByteBuffer(bytes: encodeJSONData(value))
        lock.withLock { last = (value, body) }
        return body
    }
}

func errorResponse(_ e: HopError, status override: HTTPResponse.Status? = nil, extra: HTTPFields = [:]) -> Response {
    var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
    headers.append(contentsOf: extra)
    return Response(status: override ?? status(for: e.code), headers: headers, body: .init(byteBuffer: ByteBuffer(string: errorJSON(e))))
}

/// Login attempts per (user name, client). An attempt is counted when it starts, before the
/// password is checked (scrypt is slow on purpose), so concurrent guesses cannot all be checked:
/// at most `limit` attempts (in flight plus recent failures) per pair in `window`. Reaching the
/// limit locks that pair out, for `window` the first time and twice as long each time after (up to
/// an hour). Keyed by client too, so a stranger's guesses never lock the real user out from their
/// own address; a client also gets at most `clientLimit` failures over all user names (spraying).
/// In memory: a restart forgets, which only helps a legitimate user.
final class LoginLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private struct Pair { var failures: [Date] = []; var inFlight = 0; var lockedUntil: Date?; var lockouts = 0 }
    private var pairs: [String: Pair] = [:]
    private var clientFailures: [String: [Date]] = [:]
    let limit = 5
    let clientLimit = 20
    let window: TimeInterval = 300

    static func key(user: String, client: String) -> String { user + "\u{0}" + client }

    /// Starts an attempt: true when it may be checked (and is now counted), false when refused.
    func begin(user: String, client: String, now: Date = Date()) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let k = Self.key(user: user, client: client)
        var p = pairs[k] ?? Pair()
        p.failures = p.failures.filter { now.timeIntervalSince($0) < window }
        let sprayed = (clientFailures[client] ?? []).filter { now.timeIntervalSince($0) < window }
        clientFailures[client] = sprayed
        if let until = p.lockedUntil, until > now { pairs[k] = p; return false }
        guard p.failures.count + p.inFlight < limit, sprayed.count < clientLimit else { pairs[k] = p; return false }
        p.inFlight += 1
        pairs[k] = p
        return true
    }

    /// Ends an attempt `begin` allowed.
    func finish(user: String, client: String, succeeded: Bool, now: Date = Date()) {
        lock.lock(); defer { lock.unlock() }
        let k = Self.key(user: user, client: client)
        var p = pairs[k] ?? Pair()
        p.inFlight = max(0, p.inFlight - 1)
        if succeeded {
            p.failures = []; p.lockouts = 0; p.lockedUntil = nil
        } else {
            p.failures.append(now)
            clientFailures[client, default: []].append(now)
            if p.failures.count >= limit {
                p.lockedUntil = now.addingTimeInterval(min(3600, window * pow(2, Double(p.lockouts))))
                p.lockouts += 1
                p.failures = []
            }
        }
        pairs[k] = p
    }
}
