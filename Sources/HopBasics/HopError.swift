import Foundation

/// Where in a user's file something went wrong. Lines and columns are 1-based.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?

    public init(file: String, line: Int? = nil, column: Int? = nil) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)"; if let column { s += ":\(column)" } }
        return s
    }
}

/// The one error type hop's commands surface. It always says what failed, where (when there is a
/// file), and what to do next; its `code` decides the process exit status.
public struct HopError: Error, CustomStringConvertible, Sendable {
    /// A stable category. `exitCode` is part of hop's CLI contract.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable { case invalidInput, buildFailed, environment, notFound, internalError, notReproducible, couldNotCheck, verificationFailed, rolledBack, busy, unauthenticated, forbidden, conflict }
        private let kind: Kind
        private init(_ k: Kind) { kind = k }

        /// Bad metadata, bad arguments, hostile names: nothing was changed. Exit 2.
        public static let invalidInput = Code(.invalidInput)
        /// Nix (or a tool it runs) failed to build. Exit 1.
        public static let buildFailed = Code(.buildFailed)
        /// The machine lacks something hop needs (nix, sandbox, a seed). Exit 3.
        public static let environment = Code(.environment)
        /// A build, app or seed that the user named does not exist. Exit 4.
        public static let notFound = Code(.notFound)
        /// A rebuild produced different bytes. Exit 5.
        public static let notReproducible = Code(.notReproducible)
        /// A check could not be carried out. Exit 6.
        public static let couldNotCheck = Code(.couldNotCheck)
        /// A signature or a digest does not match: the store or a document was changed. Exit 7.
        public static let verificationFailed = Code(.verificationFailed)
        /// A deploy or config change did not take: the new generation failed its health gate or
        /// watch window and the previous one serves again. Exit 8.
        public static let rolledBack = Code(.rolledBack)
        /// Another hop command holds the app's lock. Exit 9.
        public static let busy = Code(.busy)
        /// No valid credentials (no token, an expired or revoked one, a wrong password). Exit 10; HTTP 401.
        public static let unauthenticated = Code(.unauthenticated)
        /// Valid credentials whose role or grants do not allow the operation. Exit 11; HTTP 403.
        public static let forbidden = Code(.forbidden)
        /// The thing to create already exists (a user, a domain another app owns). Exit 12; HTTP 409.
        public static let conflict = Code(.conflict)
        /// A bug in hop. Exit 70 (EX_SOFTWARE).
        public static let internalError = Code(.internalError)

        public var exitCode: Int32 {
            switch kind {
            case .invalidInput: 2
            case .buildFailed: 1
            case .environment: 3
            case .notFound: 4
            case .notReproducible: 5
            case .couldNotCheck: 6
            case .verificationFailed: 7
            case .rolledBack: 8
            case .busy: 9
            case .unauthenticated: 10
            case .forbidden: 11
            case .conflict: 12
            case .internalError: 70
            }
        }
        public var description: String { kind.rawValue }
        /// The code a description names (an error that came back from a remote hop's API).
        public static func named(_ name: String) -> Code? { Kind(rawValue: name).map(Code.init) }
    }

    public var code: Code
    public var message: String
    public var location: SourceLocation?
    public var hint: String?
    /// Extra lines shown after the message (a build log tail, say).
    public var detail: String?
    /// Further errors found in the same pass over the same input (a hop3.toml with several wrong
    /// sections), so a user fixes them all in one round; bounded by whoever collects them.
    public var more: [HopError] = []

    public init(_ code: Code, _ message: String, at location: SourceLocation? = nil, hint: String? = nil, detail: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.hint = hint
        self.detail = detail
    }

    public static func invalid(_ message: String, at location: SourceLocation? = nil, hint: String? = nil) -> HopError {
        HopError(.invalidInput, message, at: location, hint: hint)
    }

    /// `file:line:col: error: message` then `  hint: …`, in the style compilers use so editors can jump.
    public var description: String {
        var s = ""
        if let location { s += "\(location): " }
        s += "error: \(message)"
        if let hint { s += "\n  hint: \(hint)" }
        if let detail, !detail.isEmpty { s += "\n" + detail }
        for e in more { s += "\n" + e.description }
        if !more.isEmpty { s += "\n\(more.count + 1) errors" }
        return s
    }

    /// The same error with `directory` taken out of its locations and text: files inside it are
    /// named relative to it, as the person who sent that tree knows them.
    public func relativized(to directory: String) -> HopError {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        func strip(_ s: String) -> String { s.replacingOccurrences(of: prefix, with: "") }
        var e = self
        if let l = location, l.file.hasPrefix(prefix) { e.location?.file = String(l.file.dropFirst(prefix.count)) }
        e.message = strip(message)
        e.hint = hint.map(strip)
        e.detail = detail.map(strip)
        e.more = more.map { $0.relativized(to: directory) }
        return e
    }

    /// The first error, carrying the others (nil when there are none).
    public static func collected(_ errors: [HopError]) -> HopError? {
        guard var first = errors.first else { return nil }
        first.more = Array(errors.dropFirst())
        return first
    }

    /// A stable JSON-able shape for `--json` output.
    public var jsonObject: [String: Any] {
        var o: [String: Any] = ["code": code.description, "message": message, "exitCode": Int(code.exitCode)]
        if let location {
            o["file"] = location.file
            if let l = location.line { o["line"] = l }
            if let c = location.column { o["column"] = c }
        }
        if let hint { o["hint"] = hint }
        if !more.isEmpty { o["more"] = more.map(\.jsonObject) }
        return o
    }
}
