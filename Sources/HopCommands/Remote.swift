import ArgumentParser
import AsyncHTTPClient
import Foundation
import HopBasics
import NIOCore
import NIOHTTP1
import HopCore

// The CLI against a remote hop server: `hop remote add NAME URL --token T`, then
// `hop --remote NAME <command>` (or HOP_REMOTE=NAME, or a default remote). A command that can run
// remotely calls the server's API for the same operation and renders the same result type the
// local operation returns, so its output and `--json` are the same. A command that acts on the
// server's own files (host, seeds, keys, server install…) says it does not run remotely.

/// One remote: its API URL and a bearer token (stored 0600 in the user's config directory).
struct RemoteEntry: Codable, Equatable {
    var name: String
    var url: String
    var token: String
}

struct RemoteFile: Codable {
    var remotes: [RemoteEntry] = []
    var defaultRemote: String?
}

enum RemoteStore {
    /// `$HOP_REMOTES` (a file), else `$XDG_CONFIG_HOME/hop/remotes.json`, else `~/.config/hop/remotes.json`.
    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let f = env["HOP_REMOTES"], !f.isEmpty { return f }
        let base = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.config")
        return base + "/hop/remotes.json"
    }

    static func load() throws -> RemoteFile {
        guard let data = FileManager.default.contents(atPath: path) else { return RemoteFile() }
        do { return try JSONDecoder().decode(RemoteFile.self, from: data) } catch {
            throw HopError.invalid("\(path) is not a remotes file hop wrote", at: SourceLocation(file: path), hint: "fix or remove it")
        }
    }

    static func save(_ f: RemoteFile) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let data = try JSONEncoder.stable.encode(f)
        try writeFileAtomically(path, String(decoding: data, as: UTF8.self) + "\n", mode: 0o600)
    }
}

/// The remote this invocation runs against, chosen by `Hop.main` before parsing.
enum Remote {
    nonisolated(unsafe) static var current: RemoteEntry?

    /// Takes `--remote NAME` / `--remote=NAME` out of the arguments (not after `--`), else
    /// HOP_REMOTE, else the default remote; `hop remote …` itself always runs here.
    static func select(_ arguments: [String]) throws -> [String] {
        var args: [String] = []
        var name: String?
        var i = 0
        var afterTerminator = false
        while i < arguments.count {
            let a = arguments[i]
            if afterTerminator { args.append(a); i += 1; continue }
            if a == "--" { afterTerminator = true; args.append(a); i += 1; continue }
            if a == "--remote" {
                guard i + 1 < arguments.count else { throw HopError.invalid("--remote needs a remote's name", hint: "`hop remote list` shows them") }
                name = arguments[i + 1]; i += 2; continue
            }
            if a.hasPrefix("--remote=") { name = String(a.dropFirst(9)); i += 1; continue }
            args.append(a); i += 1
        }
        if args.first == "remote" || args.first == "git-shell" || args.first == "git-hook" {
            if name != nil { throw HopError.invalid("`hop \(args[0])` runs on this machine; it takes no --remote") }
            return args
        }
        let env = ProcessInfo.processInfo.environment
        if name == nil, let e = env["HOP_REMOTE"], !e.isEmpty { name = e }
        let file = try RemoteStore.load()
        if name == nil { name = file.defaultRemote }
        guard let name, name != "local" else { return args }
        guard let entry = file.remotes.first(where: { $0.name == name }) else {
            throw HopError.invalid("there is no remote named \(name)", hint: "`hop remote add \(name) URL --token TOKEN` adds it; `hop remote list` shows them")
        }
        current = entry
        return args
    }

    static func refuse(_ command: String) -> HopError {
        HopError.invalid("`hop \(command)` acts on this machine's files and does not run against a remote",
                         hint: "run it on the server, or drop --remote (HOP_REMOTE=local overrides a default remote)")
    }
}

/// Commands that run against a remote server too.
protocol RemoteCapable {}

/// A small synchronous client of hop's API: JSON requests, file uploads, and server-sent progress
/// streams. It speaks HTTP through AsyncHTTPClient, which hop server's front already links, not
/// FoundationNetworking: that would link libcurl and some fifteen libraries behind it (TLS,
/// Kerberos, LDAP, SSH…) into every hop process, paid in start-up time and resident memory by
/// every command and by the server (issue 22).
final class RemoteClient: @unchecked Sendable {
    let entry: RemoteEntry

    init(_ entry: RemoteEntry) { self.entry = entry }

    static var current: RemoteClient? { Remote.current.map(RemoteClient.init) }

    /// One client for the process, never shut down (as the front's), on NIO's singleton loop.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// What one exchange gave: the status, the content type, the body when it was not a stream,
    /// and the error when the server could not be reached or the connection broke.
    private final class Exchange: @unchecked Sendable {
        var status = 0
        var contentType: String?
        var body = Data()
        var failure: Error?
    }

    /// Calls the API and decodes the result; progress events (when `stream`) go to the CLI's
    /// renderer unless `json`. An API error becomes the same HopError (and exit code) it was.
    func call<T: Decodable>(_ method: String, _ path: String, query: [String: String] = [:], json: [String: Any]? = nil,
                            upload: String? = nil, stream: Bool = false, quiet: Bool = false) throws -> T {
        guard var comps = URLComponents(string: entry.url.hasSuffix("/") ? String(entry.url.dropLast()) + path : entry.url + path) else {
            throw HopError.invalid("remote \(entry.name)'s URL \(entry.url) is not a URL")
        }
        if !query.isEmpty { comps.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) } }
        // `*.localhost` is loopback (RFC 6761), as curl and browsers resolve it; the system
        // resolver does not, so a plain-HTTP request to one goes to 127.0.0.1 with its Host kept.
        var authority: String?
        if comps.scheme == "http", let h = comps.host?.lowercased(), h == "localhost" || h.hasSuffix(".localhost") {
            authority = h + (comps.port.map { ":\($0)" } ?? "")
            comps.host = "127.0.0.1"
        }
        guard let url = comps.url else { throw HopError.invalid("cannot make a URL of \(entry.url)\(path)") }
        var req = HTTPClientRequest(url: url.absoluteString)
        if let authority { req.headers.replaceOrAdd(name: "Host", value: authority) }
        req.method = HTTPMethod(rawValue: method)
        req.headers.add(name: "Authorization", value: "Bearer \(entry.token)")
        req.headers.add(name: "Accept", value: stream ? "text/event-stream" : "application/json")
        if let json {
            req.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])))
            req.headers.add(name: "Content-Type", value: "application/json")
        } else if let upload {
            guard let data = FileManager.default.contents(atPath: upload) else { throw HopError(.environment, "cannot read \(upload)") }
            req.body = .bytes(ByteBuffer(bytes: data))
            req.headers.add(name: "Content-Type", value: "application/x-tar")
        }
        var result: T?
        var streamedError: HopError?
        let events = EventStream { event, data in
            switch event {
            case "progress":
                if !quiet, let e = try? JSONDecoder().decode(ProgressEvent.self, from: data) { CLIProgress.render(e) }
            case "result":
                result = try? JSONDecoder().decode(T.self, from: data)
            case "error":
                streamedError = Self.error(from: data, status: 0)
            default: break
            }
        }
        let exchange = Exchange()
        let done = DispatchSemaphore(value: 0)
        let request = req
        Task.detached {
            defer { done.signal() }
            do {
                let response = try await Self.http.execute(request, timeout: .seconds(3600))
                exchange.status = Int(response.status.code)
                exchange.contentType = response.headers.first(name: "Content-Type")
                let isStream = stream && (200..<300).contains(exchange.status) && exchange.contentType?.hasPrefix("text/event-stream") == true
                for try await chunk in response.body {
                    let data = Data(chunk.readableBytesView)
                    if isStream { events.append(data) } else { exchange.body.append(data) }
                }
            } catch {
                exchange.failure = error
            }
        }
        done.wait()
        if let failure = exchange.failure {
            throw HopError(.environment, "cannot reach remote \(entry.name) at \(entry.url): \(failure)",
                           hint: "check the URL (`hop remote list`) and that `hop server` runs there")
        }
        guard (200..<300).contains(exchange.status) else { throw Self.error(from: exchange.body, status: exchange.status) }
        if stream, exchange.contentType?.hasPrefix("text/event-stream") == true {
            events.finish()
            if let streamedError { throw streamedError }
            guard let result else { throw HopError(.internalError, "remote \(entry.name) ended the stream without a result") }
            return result
        }
        do { return try JSONDecoder().decode(T.self, from: exchange.body) } catch {
            throw HopError(.internalError, "remote \(entry.name) answered with JSON hop cannot read: \(error)",
                           detail: String(decoding: exchange.body.prefix(400), as: UTF8.self))
        }
    }

    /// One error of the API's `{"error": …}` body, with its location and the others found with it.
    static func decoded(_ e: [String: Any]) -> HopError? {
        guard let message = e["message"] as? String else { return nil }
        let code = (e["code"] as? String).flatMap(HopError.Code.named) ?? .internalError
        let location = (e["file"] as? String).map { SourceLocation(file: $0, line: e["line"] as? Int, column: e["column"] as? Int) }
        var error = HopError(code, message, at: location, hint: e["hint"] as? String)
        error.more = (e["more"] as? [[String: Any]] ?? []).compactMap(decoded)
        return error
    }

    static func error(from data: Data, status: Int) -> HopError {
        if let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let e = o["error"] as? [String: Any],
           let first = decoded(e) {
            return first
        }
        return HopError(status == 401 ? .unauthenticated : status == 403 ? .forbidden : status == 404 ? .notFound : .environment,
                        "the remote answered HTTP \(status)", detail: String(decoding: data.prefix(400), as: UTF8.self))
    }

}

/// A server-sent event stream cut into events (`event:` and `data:` lines, blank-line separated)
/// as its bytes arrive.
final class EventStream: @unchecked Sendable {
    private var pending = Data()
    private let onEvent: (String, Data) -> Void

    init(_ onEvent: @escaping (String, Data) -> Void) { self.onEvent = onEvent }

    func append(_ data: Data) {
        pending.append(data)
        while let range = pending.range(of: Data("\n\n".utf8)) {
            let block = pending.subdata(in: pending.startIndex..<range.lowerBound)
            pending.removeSubrange(pending.startIndex..<range.upperBound)
            emit(block)
        }
    }

    /// The last event, when the stream ended without its blank line.
    func finish() {
        if !pending.isEmpty { emit(pending); pending = Data() }
    }

    private func emit(_ block: Data) {
        var event = "message", data = Data()
        for line in String(decoding: block, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data.append(Data(line.dropFirst(6).utf8)) }
        }
        onEvent(event, data)
    }
}

struct RemoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remote", abstract: "Remote hop servers this CLI can run commands on (`hop --remote NAME …`).",
                                                    subcommands: [Add.self, List.self, Remove.self, Default.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a remote: its API URL and a token (`hop token create USER` on the server).")
        @Argument var name: String
        @Argument(help: "The server's URL, e.g. https://hop.example.org") var url: String
        @Option(help: "The API token.") var token: String?
        @Flag(name: .customLong("token-stdin"), help: "Read the token from standard input.") var tokenStdin = false
        @Flag(name: .customLong("default"), help: "Run every command against this remote unless --remote says otherwise.") var makeDefault = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            Hop.jsonMode = json
            try checkRemoteName(name)
            guard let u = URL(string: url), ["http", "https"].contains(u.scheme ?? ""), u.host != nil else {
                throw HopError.invalid("`\(url)` is not an http(s) URL", hint: "e.g. https://hop.example.org")
            }
            let t = tokenStdin ? readSecretLine() : token
            guard let t, t.hasPrefix("hop_"), t.count < 200 else {
                throw HopError.invalid("give the API token with --token or --token-stdin", hint: "`hop token create USER` on the server prints one (hop_…)")
            }
            var f = try RemoteStore.load()
            f.remotes.removeAll { $0.name == name }
            f.remotes.append(RemoteEntry(name: name, url: url, token: t))
            f.remotes.sort { $0.name < $1.name }
            if makeDefault { f.defaultRemote = name }
            try RemoteStore.save(f)
            if json { emit(["name": name, "url": url]) } else { Out.line("added remote \(name) (\(url)); run commands there with `hop --remote \(name) …`") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List remotes (tokens are not shown).")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            Hop.jsonMode = json
            let f = try RemoteStore.load()
            if json { emit(f.remotes.map { ["name": $0.name, "url": $0.url, "default": $0.name == f.defaultRemote ? "true" : "false"] }); return }
            var t = Table("", "NAME", "URL")
            for r in f.remotes { t.add(r.name == f.defaultRemote ? "*" : "", r.name, r.url) }
            t.print(empty: "no remotes")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Forget a remote and its token.")
        @Argument var name: String
        func run() throws {
            var f = try RemoteStore.load()
            guard f.remotes.contains(where: { $0.name == name }) else { throw HopError(.notFound, "there is no remote named \(name)") }
            f.remotes.removeAll { $0.name == name }
            if f.defaultRemote == name { f.defaultRemote = nil }
            try RemoteStore.save(f)
            Out.line("removed remote \(name)")
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "default", abstract: "Set the default remote (`local` for none).")
        @Argument var name: String
        func run() throws {
            var f = try RemoteStore.load()
            if name == "local" { f.defaultRemote = nil } else {
                guard f.remotes.contains(where: { $0.name == name }) else { throw HopError(.notFound, "there is no remote named \(name)") }
                f.defaultRemote = name
            }
            try RemoteStore.save(f)
            Out.line(name == "local" ? "commands run on this machine" : "commands run on \(name) unless --remote says otherwise")
        }
    }
}

func checkRemoteName(_ name: String) throws {
    guard !name.isEmpty, name.count <= 40, name != "local", name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
        throw HopError.invalid("`\(name)` is not a remote name", hint: "use letters, digits, `-` and `_` (and not `local`)")
    }
}

/// `hop deploy PATH --remote NAME`: the source tree as hop would archive it on the server (git's
/// files or the whole tree, `[build] ignore` applied), uploaded; the build and deploy stream back.
func remoteDeploy(_ client: RemoteClient, path: String, app: String?, watch: Double, force: Bool, json: Bool) throws -> DeployResult {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("hop-upload-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(atPath: tmp) }
    let tar = tmp + "/source.tar"
    let name = try SourceUpload.archive(directory: path, appName: app, to: tar)
    if !json { Out.err("uploading \(name)'s source to \(client.entry.name)") }
    return try client.call("POST", "/api/apps/\(name)/source", query: ["watch": String(watch), "force": String(force)].merging(Hop.waitMode ? ["wait": "true"] : [:]) { a, _ in a },
                           upload: tar, stream: true, quiet: json)
}
