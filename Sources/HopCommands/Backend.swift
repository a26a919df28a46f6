import Foundation
import HopBasics
import HopCore
import NixBuild

/// What the app commands ask for, answered either by this machine's operations core or by a remote
/// hop's HTTP API (the same operations behind the server's routes). Each command calls its
/// backend once; which one is chosen here, not in every command.
protocol AppBackend {
    func deploy(path: String?, build: Int64?, app: String?, watch: Double, force: Bool, index: PackageIndex) throws -> DeployResult
    func rollback(app: String, to: Int?, withData: Bool) throws -> RollbackResult
    func generations(app: String) throws -> [GenerationInfo]
    func config(app: String) throws -> [String: String]
    func environment(app: String, reveal: Bool) throws -> AppEnvironment
    func changeConfig(app: String, set: [(String, String)], unset: [String], watch: Double) throws -> ConfigResult
    func apps() throws -> [AppSummary]
    func ps(app: String) throws -> ProcessList
    func info(app: String) throws -> AppInfo
    func scale(app: String, counts: [String: Int], watch: Double) throws -> GenerationInfo
    func control(_ verb: String, app: String) throws -> ActionResult
    func destroy(app: String, purge: Bool) throws -> DestroyResult
}

/// The backend for this invocation: the selected remote (`--remote`, HOP_REMOTE, the default
/// remote), else this machine.
func appBackend(json: Bool) -> AppBackend {
    Hop.jsonMode = json
    if let client = RemoteClient.current { return RemoteBackend(client: client, json: json) }
    return LocalBackend(ops: cliOperations(json: json))
}

struct LocalBackend: AppBackend {
    let ops: Operations
    func deploy(path: String?, build: Int64?, app: String?, watch: Double, force: Bool, index: PackageIndex) throws -> DeployResult {
        var opts = BuildOptions()
        opts.index = index
        return try ops.deploy(.init(path: path, build: build, app: app, watch: watch, force: force, options: opts))
    }
    func rollback(app: String, to: Int?, withData: Bool) throws -> RollbackResult { try ops.rollback(app: app, to: to, withData: withData) }
    func generations(app: String) throws -> [GenerationInfo] { try ops.generations(app: app) }
    func config(app: String) throws -> [String: String] { try ops.config(app: app) }
    func environment(app: String, reveal: Bool) throws -> AppEnvironment { try ops.environment(app: app, reveal: reveal) }
    func changeConfig(app: String, set: [(String, String)], unset: [String], watch: Double) throws -> ConfigResult {
        try ops.changeConfig(app: app, set: set, unset: unset, watch: watch)
    }
    func apps() throws -> [AppSummary] { try ops.apps() }
    func ps(app: String) throws -> ProcessList { try ops.ps(app: app) }
    func info(app: String) throws -> AppInfo { try ops.info(app: app) }
    func scale(app: String, counts: [String: Int], watch: Double) throws -> GenerationInfo { try ops.scale(app: app, counts: counts, watch: watch) }
    func control(_ verb: String, app: String) throws -> ActionResult { try ops.control(verb, app: app) }
    func destroy(app: String, purge: Bool) throws -> DestroyResult { try ops.destroy(app: app, purge: purge) }
}

/// The same operations through a remote hop's API routes; long ones stream their progress back.
struct RemoteBackend: AppBackend {
    let client: RemoteClient
    let json: Bool
    func deploy(path: String?, build: Int64?, app: String?, watch: Double, force: Bool, index: PackageIndex) throws -> DeployResult {
        if let build {
            guard let app else { throw HopError.invalid("--build against a remote needs --app APP") }
            return try client.call("POST", "/api/apps/\(app)/deploy", json: ["build": build, "watch": watch, "force": force], stream: true, quiet: json)
        }
        guard let path else { throw HopError.invalid("give the app's source directory or --build ID") }
        return try remoteDeploy(client, path: path, app: app, watch: watch, force: force, json: json)
    }
    func rollback(app: String, to: Int?, withData: Bool) throws -> RollbackResult {
        var body: [String: Any] = ["withData": withData]
        if let to { body["to"] = to }
        return try client.call("POST", "/api/apps/\(app)/rollback", json: body, stream: true, quiet: json)
    }
    func generations(app: String) throws -> [GenerationInfo] { try client.call("GET", "/api/apps/\(app)/generations") }
    func config(app: String) throws -> [String: String] {
        let view: RemoteConfigView = try client.call("GET", "/api/apps/\(app)/config", query: ["reveal": "true"])
        return view.values.compactMapValues { $0 }
    }
    func environment(app: String, reveal: Bool) throws -> AppEnvironment {
        try client.call("GET", "/api/apps/\(app)/environment", query: ["reveal": String(reveal)])
    }
    func changeConfig(app: String, set: [(String, String)], unset: [String], watch: Double) throws -> ConfigResult {
        var body: [String: Any] = ["watch": watch]
        if !set.isEmpty { body["set"] = Dictionary(set, uniquingKeysWith: { _, b in b }) }
        if !unset.isEmpty { body["unset"] = unset }
        return try client.call("PATCH", "/api/apps/\(app)/config", json: body)
    }
    func apps() throws -> [AppSummary] { try client.call("GET", "/api/apps") }
    func ps(app: String) throws -> ProcessList { try client.call("GET", "/api/apps/\(app)/processes") }
    func info(app: String) throws -> AppInfo { try client.call("GET", "/api/apps/\(app)/info") }
    func scale(app: String, counts: [String: Int], watch: Double) throws -> GenerationInfo {
        try client.call("POST", "/api/apps/\(app)/scale", json: ["counts": counts, "watch": watch], stream: true, quiet: json)
    }
    func control(_ verb: String, app: String) throws -> ActionResult {
        try client.call("POST", "/api/apps/\(app)/\(verb)", stream: verb == "restart", quiet: json)
    }
    func destroy(app: String, purge: Bool) throws -> DestroyResult {
        try client.call("DELETE", "/api/apps/\(app)", query: ["purge": String(purge)])
    }
}

/// Runs a catalogue operation for a command: on the selected remote through the operation's route
/// (its progress streamed back), else here through the operation runner. A command that calls this
/// runs remotely with no other edit; an operation without a route says it runs only on its machine.
func runOperation<Op: HopOperation>(_ op: Op.Type, _ input: Op.Input, json: Bool, upload: String? = nil) throws -> Op.Output {
    Hop.jsonMode = json
    if let client = RemoteClient.current {
        guard Op.http != nil else { throw Remote.refuse(Op.name) }
        return try client.run(op, input, quiet: json)
    }
    return try OperationRunner(cliContext(json: json)).run(op, input, upload: upload)
}

extension RemoteClient {
    /// Calls an operation's route: path parameters and (for GET/DELETE, or fields the binding names)
    /// query parameters from the input's fields, the rest as the JSON body.
    func run<Op: HopOperation>(_ op: Op.Type, _ input: Op.Input, upload: String? = nil, quiet: Bool) throws -> Op.Output {
        guard let b = Op.http else { throw Remote.refuse(Op.name) }
        guard case .object(var fields)? = JSONValue.encoding(input) else {
            throw HopError(.internalError, "the input of \(Op.name) does not encode as a JSON object")
        }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        var path = b.path
        for name in b.pathParameters {
            let text = fields.removeValue(forKey: name)?.queryText ?? ""
            path = path.replacingOccurrences(of: "{\(name)}", with: text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text)
        }
        var query: [String: String] = [:]
        for (name, value) in fields where b.inQuery(name) {
            if let text = value.queryText { query[name] = text }
            fields.removeValue(forKey: name)
        }
        let hasBody = b.method != .GET && b.method != .DELETE && !b.upload
        let body = hasBody ? (try JSONSerialization.jsonObject(with: Data(JSONValue.object(fields).text().utf8)) as? [String: Any]) : nil
        return try call(b.method.rawValue, path, query: query, json: body, upload: upload, stream: b.streams, quiet: quiet)
    }
}
