import Foundation
import HopBasics
import HopCore
import NixBuild

/// What the app commands ask for, each one operation of the catalogue, run here or on the selected
/// remote by `runOperation` (the route, its query and body follow from the operation's binding).
/// Only a deploy of a source directory differs: here it reads the directory, remotely it uploads it.
struct AppBackend {
    let json: Bool

    func deploy(path: String?, build: Int64?, app: String?, watch: Double, force: Bool, index: PackageIndex) throws -> DeployResult {
        if let client = RemoteClient.current {
            if let build {
                guard let app else { throw HopError.invalid("--build against a remote needs --app APP") }
                return try client.run(Deploy.self, .init(app: app, build: build, watch: watch, force: force, wait: Hop.waitMode ? true : nil), quiet: json)
            }
            guard let path else { throw HopError.invalid("give the app's source directory or --build ID") }
            return try remoteDeploy(client, path: path, app: app, watch: watch, force: force, json: json)
        }
        // A path deploy here may name no app (the tree names it), which the catalogue's
        // per-app operation cannot express: it goes to the same `Operations.deploy` directly.
        var opts = BuildOptions()
        opts.index = index
        return try cliOperations(json: json).deploy(.init(path: path, build: build, app: app, watch: watch, force: force, options: opts))
    }
    func rollback(app: String, to: Int?, withData: Bool) throws -> RollbackResult {
        try runOperation(Rollback.self, .init(app: app, to: to, withData: withData, wait: Hop.waitMode ? true : nil), json: json)
    }
    func generations(app: String) throws -> [GenerationInfo] { try runOperation(ListGenerations.self, .init(app: app), json: json) }
    func metrics(app: String, since: String?) throws -> AppMetricsResult { try runOperation(AppMetrics.self, .init(app: app, since: since), json: json) }
    func config(app: String) throws -> [String: String] {
        try runOperation(GetConfig.self, .init(app: app, reveal: true), json: json).values.compactMapValues { $0 }
    }
    func environment(app: String, reveal: Bool) throws -> AppEnvironment {
        try runOperation(GetEnvironment.self, .init(app: app, reveal: reveal), json: json)
    }
    func changeConfig(app: String, set: [(String, String)], unset: [String], watch: Double) throws -> ConfigResult {
        try runOperation(ChangeConfig.self, .init(app: app, set: set.isEmpty ? nil : Dictionary(set, uniquingKeysWith: { _, b in b }),
                                                  unset: unset.isEmpty ? nil : unset, watch: watch, wait: Hop.waitMode ? true : nil), json: json)
    }
    func apps() throws -> [AppSummary] { try runOperation(ListApps.self, NoInput(), json: json) }
    func ps(app: String) throws -> ProcessList { try runOperation(ListProcesses.self, .init(app: app), json: json) }
    func info(app: String) throws -> AppInfo { try runOperation(AppInfoOperation.self, .init(app: app), json: json) }
    func scale(app: String, counts: [String: Int], watch: Double) throws -> GenerationInfo {
        try runOperation(Scale.self, .init(app: app, counts: counts, watch: watch, wait: Hop.waitMode ? true : nil), json: json)
    }
    func control(_ verb: String, app: String) throws -> ActionResult {
        switch ControlVerb(rawValue: verb) {
        case .start: try runOperation(StartApp.self, .init(app: app), json: json)
        case .stop: try runOperation(StopApp.self, .init(app: app), json: json)
        case .restart: try runOperation(RestartApp.self, .init(app: app), json: json)
        case nil: throw HopError.invalid("`\(verb)` is not start, stop or restart")
        }
    }
    func destroy(app: String, purge: Bool) throws -> DestroyResult {
        try runOperation(DestroyApp.self, .init(app: app, purge: purge), json: json)
    }
}

/// The backend for this invocation (the remote is chosen in `runOperation`).
func appBackend(json: Bool) -> AppBackend {
    Hop.jsonMode = json
    return AppBackend(json: json)
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
