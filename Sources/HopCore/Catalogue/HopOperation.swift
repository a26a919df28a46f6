import Foundation
import HopBasics
import Logging

/// One operation of hop, as every interface sees it: typed input and output, a stable name, the
/// permission it needs, the app it concerns and (when it makes sense over the network) its HTTP
/// binding. The server mounts a route per operation, the OpenAPI document is generated from the
/// types, the remote CLI calls the route, the local CLI runs it here: all through `OperationRunner`.
///
/// Adding an operation is one file declaring a type that conforms, one line in `Catalogue`, and
/// one command that calls `backend.run(TheOperation.self, input)`.
public protocol HopOperation: Sendable {
    associatedtype Input: Codable & Sendable
    associatedtype Output: Codable & Sendable
    /// Stable: the OpenAPI operationId and (for `.runner` audit) the audit log's action.
    static var name: String { get }
    /// One line for the API document and `hop operations`.
    static var summary: String { get }
    /// What the caller needs (on `app(of:)` when it names an app).
    static var permission: Permission { get }
    /// Where the operation is reachable over HTTP; nil for operations of this machine only.
    static var http: HTTPBinding? { get }
    /// Who writes the audit entry.
    static var audit: AuditMode { get }
    /// The app the input concerns, for authorisation, the lock and the audit log.
    static func app(of input: Input) -> String?
    /// What the audit entry records about the input (never a secret).
    static func auditDetail(_ input: Input) -> [String: String]
    /// Does the work; the runner has authorised (and, for `.runner`, audits) around it.
    static func run(_ input: Input, _ call: OperationCall) throws -> Output
}

extension HopOperation {
    public static var audit: AuditMode { .none }
    public static var http: HTTPBinding? { nil }
    public static func app(of input: Input) -> String? { nil }
    public static func auditDetail(_ input: Input) -> [String: String] { [:] }
}

/// Who writes an operation's audit entry.
public enum AuditMode: String, Sendable {
    /// A read: nothing is written (reads that reveal secrets are audited by the operation).
    case none
    /// The runner: one entry named after the operation, with its result, denied requests included.
    case runner
    /// The operation itself, because what it records depends on its work (the deploy names the app
    /// a source tree turns out to be). Every such operation calls `Operations.audited`.
    case operation
}

/// What an operation runs with: the operations of the caller's context, and the file an upload
/// route received.
public struct OperationCall: Sendable {
    public var ops: Operations
    public var upload: String?
    public var ctx: HopContext { ops.ctx }
    public init(ops: Operations, upload: String? = nil) { self.ops = ops; self.upload = upload }
}

/// An operation's route. Path parameters (`{app}`) are input fields of the same name; for GET and
/// DELETE the other fields are query parameters, otherwise they are the JSON body, except those
/// listed in `query`. Whether a route changes state (and needs the dashboard's CSRF token) follows
/// from its method.
public struct HTTPBinding: Sendable {
    public enum Method: String, Sendable { case GET, POST, PUT, PATCH, DELETE }
    public var method: Method
    public var path: String
    /// Fields sent as query parameters although the method has a body (an upload's options).
    public var query: [String] = []
    /// Can stream progress as server-sent events (`Accept: text/event-stream`).
    public var streams = false
    /// The body is a file (a source tar), not JSON.
    public var upload = false
    /// Answered without authentication (health).
    public var anonymous = false
    /// The success status (201 for a creation).
    public var status = 200

    public init(_ method: Method, _ path: String, query: [String] = [], streams: Bool = false, upload: Bool = false,
                anonymous: Bool = false, status: Int = 200) {
        self.method = method; self.path = path; self.query = query; self.streams = streams
        self.upload = upload; self.anonymous = anonymous; self.status = status
    }

    public var mutates: Bool { method != .GET }
    public var pathParameters: [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }
    /// Whether `field` of the input travels in the URL's query.
    public func inQuery(_ field: String) -> Bool {
        !pathParameters.contains(field) && (method == .GET || method == .DELETE || query.contains(field))
    }
}

/// The defaults interfaces share (one place, not one per route and command).
public enum Defaults {
    /// Seconds a rollout watches a new generation's processes before calling it healthy.
    public static let watch: Double = 5
    /// Generations `hop gc` keeps per app.
    public static let keepGenerations = 3
    /// Journal lines `hop logs` shows.
    public static let logLines = 100
}

/// Runs operations: authorise → run → audit, once for every interface, with one structured log
/// line per operation (name, app, actor, interface, duration, result).
public struct OperationRunner: Sendable {
    public let ctx: HopContext
    public init(_ ctx: HopContext) { self.ctx = ctx }

    public func run<Op: HopOperation>(_ op: Op.Type, _ input: Op.Input, upload: String? = nil) throws -> Op.Output {
        let ops = Operations(ctx)
        let app = Op.app(of: input)
        let started = DispatchTime.now().uptimeNanoseconds
        var outcome = "ok"
        defer {
            var logger = ctx.logger
            logger[metadataKey: "operation"] = .string(Op.name)
            if let app { logger[metadataKey: "app"] = .string(app) }
            logger[metadataKey: "actor"] = .string(ctx.principal.name)
            logger[metadataKey: "via"] = .string(ctx.via)
            logger[metadataKey: "ms"] = .stringConvertible((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)
            logger[metadataKey: "result"] = .string(outcome)
            logger.info("operation")
        }
        do {
            if let app { _ = try Operations.checkedApp(app) }
            let call = OperationCall(ops: ops, upload: upload)
            switch Op.audit {
            case .runner:
                return try ops.audited(Op.name, app: app, detail: Op.auditDetail(input), permission: Op.permission) {
                    try Op.run(input, call)
                }
            case .operation:
                // An admin operation is refused before its input is looked at (a denial is recorded).
                if Op.permission == .admin { try ops.authorizeAudited(.admin, app: app, action: Op.name) }
                return try Op.run(input, call)
            case .none:
                // Decided here when it can be; a read of many apps filters them in the operation.
                if app != nil || Op.permission == .admin { try ctx.authorize(Op.permission, app: app, action: Op.name) }
                return try Op.run(input, call)
            }
        } catch {
            outcome = (error as? HopError)?.code.description ?? "error"
            throw error
        }
    }
}

/// Every operation hop has, in the order the API document lists them.
public enum Catalogue {
    public static var operations: [any HopOperation.Type] { catalogueOperations }

    public static func named(_ name: String) -> (any HopOperation.Type)? { operations.first { $0.name == name } }
}
