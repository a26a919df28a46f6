import Foundation
import HopBasics
import HopCore
import HopStore

/// One API call as a route handler sees it: the operations of the authenticated principal, the
/// path parameters, the query and the JSON body.
public struct APICall: Sendable {
    public var ops: Operations
    public var params: [String: String]
    public var query: [String: String]
    public var body: Data
    /// The uploaded file of an upload route.
    public var upload: String? = nil

    func param(_ name: String) -> String { params[name] ?? "" }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let data = body.isEmpty ? Data("{}".utf8) : body
        // An explicit null is not "absent": the schema allows no null, so neither does the server.
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let key = object.first(where: { $0.value is NSNull })?.key {
            throw HopError.invalid("`\(key)` is null; leave it out to use its default")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c) {
            throw HopError.invalid("the request body's \(c.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type: \(c.debugDescription)")
        } catch let DecodingError.keyNotFound(k, _) {
            throw HopError.invalid("the request body lacks `\(k.stringValue)`")
        } catch {
            throw HopError.invalid("the request body is not the JSON object this route takes", hint: "see /api/openapi.json")
        }
    }

    func intQuery(_ name: String) throws -> Int? {
        guard let v = query[name] else { return nil }
        guard let n = Int(v) else { throw HopError.invalid("the query parameter \(name)=\(v) is not an integer") }
        return n
    }

    func boolQuery(_ name: String) throws -> Bool {
        guard let v = query[name] else { return false }
        switch v { case "true", "1": return true; case "false", "0": return false
        default: throw HopError.invalid("the query parameter \(name)=\(v) is not true or false") }
    }
}

/// An API route: method, path, what it needs, its OpenAPI description and its handler. The route
/// table is the one source of the server's routes, its OpenAPI document and the role matrix tests.
public struct APIRoute: Sendable {
    public var method: String
    public var path: String
    public var operationID: String
    public var summary: String
    /// What the operation needs, for the document (the operation itself enforces it).
    public var permission: Permission
    public var mutates: Bool
    /// Component schema names (or inline JSON schema text) of the request body and response.
    public var request: String?
    public var response: String
    public var query: [(name: String, type: String)]
    /// Whether the route can stream progress as server-sent events (`Accept: text/event-stream`).
    public var streams: Bool
    /// The request body is a file upload (a source tar, up to `uploadLimit`), not JSON: the server
    /// writes it to a scratch file and hands the route its path as `APICall.upload`.
    public var upload = false
    public var handler: @Sendable (APICall) throws -> any Encodable & Sendable

    init(_ method: String, _ path: String, _ operationID: String, _ summary: String, permission: Permission, mutates: Bool = false,
         request: String? = nil, response: String, query: [(String, String)] = [], streams: Bool = false,
         _ handler: @escaping @Sendable (APICall) throws -> any Encodable & Sendable) {
        self.method = method; self.path = path; self.operationID = operationID; self.summary = summary
        self.permission = permission; self.mutates = mutates; self.request = request; self.response = response
        self.query = query.map { (name: $0.0, type: $0.1) }; self.streams = streams; self.handler = handler
    }

    /// Path parameters of a request path, or nil when it is not this route's.
    func match(_ requestPath: String) -> [String: String]? { Self.match(pattern: path, requestPath) }

    /// Whether `requestPath` is an instance of `pattern` (`/api/apps/{app}`).
    static func matches(pattern: String, _ requestPath: String) -> Bool { match(pattern: pattern, requestPath) != nil }

    static func match(pattern path: String, _ requestPath: String) -> [String: String]? {
        let want = path.split(separator: "/", omittingEmptySubsequences: true)
        let got = requestPath.split(separator: "/", omittingEmptySubsequences: true)
        guard want.count == got.count else { return nil }
        var params: [String: String] = [:]
        for (w, g) in zip(want, got) {
            if w.hasPrefix("{") && w.hasSuffix("}") {
                params[String(w.dropFirst().dropLast())] = String(g).removingPercentEncoding ?? String(g)
            } else if w != g {
                return nil
            }
        }
        return params
    }
}

struct DeployBody: Decodable { var path: String?; var build: Int64?; var watch: Double?; var force: Bool? }
struct RollbackBody: Decodable { var to: Int?; var withData: Bool? }
struct BackupBody: Decodable { var to: String? }
struct RestoreBody: Decodable { var toApp: String? }
struct PruneBody: Decodable { var keep: String? }
struct ScheduleBody: Decodable { var calendar: String; var keep: String?; var to: String? }
struct ScaleBody: Decodable { var counts: [String: Int]; var watch: Double? }
struct ConfigBody: Decodable { var set: [String: String]?; var unset: [String]?; var watch: Double? }
struct GCBody: Decodable { var keep: Int?; var app: String? }
struct UserBody: Decodable { var name: String; var role: String; var apps: [String]?; var password: String? }
struct PasswordBody: Decodable { var password: String }
struct TokenBody: Decodable { var user: String; var label: String?; var expiresInSeconds: Double? }
struct AddonBody: Decodable { var type: String; var name: String; var extensions: [String]? }
struct AttachBody: Decodable { var prefix: String?; var watch: Double? }

/// A JSON document rendered elsewhere (SBOM, provenance), sent as is.
public struct RawJSON: Encodable, Sendable {
    public var text: String
    public func encode(to encoder: Encoder) throws { throw HopError(.internalError, "RawJSON is written, not encoded") }
}

public struct Health: Codable, Sendable { var ok: Bool; var version: String }
public struct WhoAmI: Codable, Sendable { var name: String; var role: String; var apps: [String] }
public struct ConfigView: Codable, Sendable {
    var app: String
    /// Keys with their values, or with `null` values when masked.
    var values: [String: String?]
    var masked: Bool
}

/// Every API route.
public let apiRoutes: [APIRoute] = [
    APIRoute("GET", "/api/health", "health", "Liveness and version (no authentication).", permission: .read, response: "Health") { _ in
        Health(ok: true, version: hopVersion)
    },
    APIRoute("GET", "/api/whoami", "whoami", "The authenticated user, role and granted apps.", permission: .read, response: "WhoAmI") { c in
        let p = c.ops.ctx.principal
        return WhoAmI(name: p.name, role: p.role.rawValue, apps: p.apps.sorted())
    },
    APIRoute("GET", "/api/apps", "listApps", "Apps the caller may see: state, serving generation, URL.", permission: .read,
             response: "[AppSummary]") { c in try c.ops.apps() },
    APIRoute("GET", "/api/domains", "listDomains", "Which app owns which domain (of the apps the caller may see).", permission: .read,
             response: "[DomainOwner]") { c in try c.ops.domains() },
    APIRoute("GET", "/api/apps/{app}/generations", "listGenerations", "An app's generations.", permission: .read,
             response: "[GenerationInfo]") { c in try c.ops.generations(app: c.param("app")) },
    APIRoute("GET", "/api/apps/{app}/info", "appInfo",
             "One app at a glance, checked now: URLs (answering through nginx?), state, generations, processes with CPU and memory, addons, volumes, domains, certificate, last deploy and backup.",
             permission: .read, response: "AppInfo") { c in try c.ops.info(app: c.param("app")) },
    APIRoute("GET", "/api/apps/{app}/processes", "listProcesses", "The serving generation's processes.", permission: .read,
             response: "ProcessList") { c in try c.ops.ps(app: c.param("app")) },
    APIRoute("GET", "/api/apps/{app}/config", "getConfig", "Config keys; values only with reveal=true (deployers and admins).",
             permission: .read, response: "ConfigView", query: [("reveal", "boolean")]) { c in
        let app = c.param("app")
        if try c.boolQuery("reveal") {
            return ConfigView(app: app, values: try c.ops.config(app: app).mapValues { Optional($0) }, masked: false)
        }
        return ConfigView(app: app, values: Dictionary(uniqueKeysWithValues: try c.ops.configKeys(app: app).map { ($0, String?.none) }), masked: true)
    },
    APIRoute("GET", "/api/apps/{app}/environment", "getEnvironment",
             "Every variable the app's processes receive, with its source; generated, computed and addon values only with reveal=true (audited).",
             permission: .deploy, response: "AppEnvironment", query: [("reveal", "boolean")]) { c in
        try c.ops.environment(app: c.param("app"), reveal: try c.boolQuery("reveal"))
    },
    APIRoute("PATCH", "/api/apps/{app}/config", "changeConfig", "Set and unset config values; a deployed app rolls out a generation with them.",
             permission: .deploy, mutates: true, request: "ConfigBody", response: "ConfigResult") { c in
        let b = try c.decode(ConfigBody.self)
        return try c.ops.changeConfig(app: c.param("app"), set: (b.set ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                      unset: b.unset ?? [], watch: b.watch ?? 5)
    },
    APIRoute("POST", "/api/apps/{app}/deploy", "deploy",
             "Deploy a source tree on the server (admin) or a recorded build (deployer). Streams progress with Accept: text/event-stream.",
             permission: .deploy, mutates: true, request: "DeployBody", response: "DeployResult", streams: true) { c in
        let b = try c.decode(DeployBody.self)
        return try c.ops.deploy(.init(path: b.path, build: b.build, app: c.param("app"), watch: b.watch ?? 5, force: b.force ?? false))
    },
    {
        var r = APIRoute("POST", "/api/apps/{app}/source", "deploySource",
                         "Upload a source tree (a tar, as `hop deploy PATH --remote` sends it) and deploy it to the app (deployer). Streams progress with Accept: text/event-stream.",
                         permission: .deploy, mutates: true, request: "upload", response: "DeployResult",
                         query: [("watch", "number"), ("force", "boolean")], streams: true) { c in
            guard let file = c.upload else { throw HopError.invalid("send the source tar as the request body") }
            let watch = try c.query["watch"].map { v -> Double in
                guard let d = Double(v), d >= 0, d <= 3600 else { throw HopError.invalid("the query parameter watch=\(v) is not a number of seconds from 0 to 3600") }
                return d
            } ?? 5
            return try c.ops.deploySource(app: c.param("app"), archive: file, watch: watch, force: try c.boolQuery("force"))
        }
        r.upload = true
        return r
    }(),
    APIRoute("POST", "/api/apps/{app}/rollback", "rollback", "Serve an earlier generation again (default: the previous one).",
             permission: .deploy, mutates: true, request: "RollbackBody", response: "RollbackResult", streams: true) { c in
        let b = try c.decode(RollbackBody.self)
        return try c.ops.rollback(app: c.param("app"), to: b.to, withData: b.withData ?? false)
    },
    APIRoute("GET", "/api/backups", "listBackups", "Backups (failed attempts too), newest first, of the apps the caller may see.",
             permission: .read, response: "[BackupInfo]", query: [("app", "string")]) { c in try c.ops.backups(app: c.query["app"]) },
    APIRoute("POST", "/api/apps/{app}/backups", "createBackup",
             "Back the app up now: state, volumes, addon dumps, config, provenance; signed and encrypted. A local `to` needs admin.",
             permission: .deploy, mutates: true, request: "BackupBody", response: "BackupInfo", streams: true) { c in
        try c.ops.backupCreate(app: c.param("app"), to: try c.decode(BackupBody.self).to)
    },
    APIRoute("GET", "/api/backups/{backup}", "showBackup", "One backup.", permission: .read, response: "BackupInfo") { c in
        try c.ops.backupShow(id: c.param("backup"))
    },
    APIRoute("POST", "/api/backups/{backup}/verify", "verifyBackup",
             "Read a backup back in full: file hash, decryption, every checksum, the manifest's signature (422 if any fails).",
             permission: .read, mutates: true, response: "BackupVerification") { c in try c.ops.backupVerify(id: c.param("backup")) },
    APIRoute("POST", "/api/backups/{backup}/restore", "restoreBackup",
             "Restore a backup into its app (or a new app, admin): verified, staged, swapped in, health-gated; undone on failure.",
             permission: .read, mutates: true, request: "RestoreBody", response: "RestoreResult", streams: true) { c in
        try c.ops.backupRestore(id: c.param("backup"), toApp: try c.decode(RestoreBody.self).toApp)
    },
    APIRoute("DELETE", "/api/backups/{backup}", "destroyBackup", "Delete a backup (its file and its record).",
             permission: .read, mutates: true, response: "BackupInfo") { c in try c.ops.backupDestroy(id: c.param("backup")) },
    APIRoute("POST", "/api/apps/{app}/backups/prune", "pruneBackups", "Apply a retention policy; the newest verified backup is always kept.",
             permission: .deploy, mutates: true, request: "PruneBody", response: "PruneResult") { c in
        try c.ops.backupPrune(app: c.param("app"), keep: try c.decode(PruneBody.self).keep)
    },
    APIRoute("GET", "/api/apps/{app}/backup-schedule", "getBackupSchedule", "The app's backup schedule.", permission: .read,
             response: "BackupScheduleInfo") { c in
        try c.ops.backupSchedule(app: c.param("app"), calendar: nil, keep: nil, target: nil, off: false)
    },
    APIRoute("PUT", "/api/apps/{app}/backup-schedule", "setBackupSchedule", "Back the app up on a systemd calendar schedule, then prune.",
             permission: .deploy, mutates: true, request: "ScheduleBody", response: "BackupScheduleInfo") { c in
        let b = try c.decode(ScheduleBody.self)
        return try c.ops.backupSchedule(app: c.param("app"), calendar: b.calendar, keep: b.keep, target: b.to, off: false)
    },
    APIRoute("DELETE", "/api/apps/{app}/backup-schedule", "removeBackupSchedule", "Remove the app's backup schedule.", permission: .deploy,
             mutates: true, response: "BackupScheduleInfo") { c in
        try c.ops.backupSchedule(app: c.param("app"), calendar: nil, keep: nil, target: nil, off: true)
    },
    APIRoute("POST", "/api/apps/{app}/scale", "scale", "Set instance counts: a new generation, switched without downtime.",
             permission: .deploy, mutates: true, request: "ScaleBody", response: "GenerationInfo", streams: true) { c in
        let b = try c.decode(ScaleBody.self)
        return try c.ops.scale(app: c.param("app"), counts: b.counts, watch: b.watch ?? 5)
    },
    APIRoute("POST", "/api/apps/{app}/start", "start", "Start the app's processes.", permission: .deploy, mutates: true,
             response: "ActionResult") { c in try c.ops.control("start", app: c.param("app")) },
    APIRoute("POST", "/api/apps/{app}/stop", "stop", "Stop the app's processes.", permission: .deploy, mutates: true,
             response: "ActionResult") { c in try c.ops.control("stop", app: c.param("app")) },
    APIRoute("POST", "/api/apps/{app}/restart", "restart", "Restart without downtime (a fresh generation).", permission: .deploy,
             mutates: true, response: "ActionResult", streams: true) { c in try c.ops.control("restart", app: c.param("app")) },
    APIRoute("GET", "/api/apps/{app}/logs", "logs", "The app's last journal lines.", permission: .deploy, response: "LogLines",
             query: [("lines", "integer")]) { c in try c.ops.logs(app: c.param("app"), lines: try c.intQuery("lines") ?? 100) },
    APIRoute("GET", "/api/apps/{app}/audit", "appAudit", "The audit entries of one app.", permission: .read, response: "[AuditInfo]",
             query: [("limit", "integer")]) { c in try c.ops.audit(app: c.param("app"), limit: try c.intQuery("limit")) },
    APIRoute("DELETE", "/api/apps/{app}", "destroy", "Stop an app and remove it; its config and data stay unless purge=true.",
             permission: .admin, mutates: true, response: "DestroyResult", query: [("purge", "boolean")]) { c in
        try c.ops.destroy(app: c.param("app"), purge: try c.boolQuery("purge"))
    },
    APIRoute("GET", "/api/apps/{app}/credentials", "appCredentials", "The app's [admin] username, email and generated password (audited).",
             permission: .deploy, response: "Credentials") { c in try c.ops.appCredentials(app: c.param("app")) },
    APIRoute("GET", "/api/addons", "listAddons", "Addons (backing services) and the apps they are attached to; never passwords.",
             permission: .admin, response: "[AddonInfo]") { c in try c.ops.addons() },
    APIRoute("POST", "/api/addons", "createAddon", "Create an addon: a database and role of its own on hop's PostgreSQL server.",
             permission: .admin, mutates: true, request: "AddonBody", response: "AddonInfo") { c in
        let b = try c.decode(AddonBody.self)
        return try c.ops.addonCreate(type: b.type, name: b.name, extensions: b.extensions ?? [])
    },
    APIRoute("GET", "/api/addons/{addon}", "showAddon", "One addon (not its password).", permission: .admin, response: "AddonInfo") { c in
        try c.ops.addonInfo(name: c.param("addon"))
    },
    APIRoute("GET", "/api/addons/{addon}/credentials", "addonCredentials", "An addon's connection variables, password included (audited).",
             permission: .admin, response: "Credentials") { c in try c.ops.addonCredentials(name: c.param("addon")) },
    APIRoute("DELETE", "/api/addons/{addon}", "destroyAddon", "Drop an addon's database and role; refused while attached unless force=true.",
             permission: .admin, mutates: true, response: "AddonInfo", query: [("force", "boolean")]) { c in
        try c.ops.addonDestroy(name: c.param("addon"), force: try c.boolQuery("force"))
    },
    APIRoute("POST", "/api/addons/{addon}/migrate", "migrateAddon",
             "Move a Redis addon of an earlier hop from the shared server to a server of its own, keys and all; attached apps restart with the new variables.",
             permission: .admin, mutates: true, response: "AddonInfo", query: [("watch", "number")]) { c in
        let watch = try c.query["watch"].map { v -> Double in
            guard let d = Double(v) else { throw HopError.invalid("the query parameter watch=\(v) is not a number") }
            return d
        }
        return try c.ops.addonMigrate(name: c.param("addon"), watch: watch ?? 5)
    },
    APIRoute("PUT", "/api/apps/{app}/addons/{addon}", "attachAddon",
             "Attach an addon: its variables (DATABASE_URL, PG*) reach the app, which restarts with them.",
             permission: .admin, mutates: true, request: "AttachBody", response: "AddonInfo") { c in
        let b = try c.decode(AttachBody.self)
        return try c.ops.addonAttach(app: c.param("app"), addon: c.param("addon"), prefix: b.prefix, watch: b.watch ?? 5)
    },
    APIRoute("DELETE", "/api/apps/{app}/addons/{addon}", "detachAddon", "Detach an addon from an app (its data stays).",
             permission: .admin, mutates: true, response: "AddonInfo", query: [("watch", "number")]) { c in
        let watch = try c.query["watch"].map { v -> Double in
            guard let d = Double(v) else { throw HopError.invalid("the query parameter watch=\(v) is not a number") }
            return d
        }
        return try c.ops.addonDetach(app: c.param("app"), addon: c.param("addon"), watch: watch ?? 5)
    },
    APIRoute("POST", "/api/gc", "gc", "Drop old generations.", permission: .admin, mutates: true, request: "GCBody", response: "GCResult") { c in
        let b = try c.decode(GCBody.self)
        return try c.ops.gc(keep: b.keep ?? 3, app: b.app)
    },
    APIRoute("GET", "/api/builds", "listBuilds", "Recorded builds, newest first (of the apps the caller may see).", permission: .read,
             response: "[BuildInfo]", query: [("app", "string")]) { c in
        try c.ops.builds(app: c.query["app"]).map(BuildInfo.init)
    },
    APIRoute("GET", "/api/builds/{id}", "getBuild", "One build record.", permission: .read, response: "BuildInfo") { c in
        try BuildInfo(c.ops.findBuild(c.param("id")).0)
    },
    APIRoute("GET", "/api/builds/{id}/sbom", "sbom", "The build's SBOM: CycloneDX 1.6 (default) or SPDX 2.3 JSON.", permission: .read,
             response: "Document", query: [("format", "string")]) { c in
        let format = c.query["format"] ?? "cyclonedx"
        guard let f = SBOMFormat(rawValue: format) else { throw HopError.invalid("format \(format) is not cyclonedx or spdx") }
        return RawJSON(text: try c.ops.sbom(c.param("id"), format: f))
    },
    APIRoute("GET", "/api/builds/{id}/provenance", "provenance", "SLSA v1.0 provenance: the in-toto Statement, or a DSSE envelope with sign=true.",
             permission: .read, response: "Document", query: [("sign", "boolean")]) { c in
        RawJSON(text: String(decoding: try c.ops.provenance(c.param("id"), sign: try c.boolQuery("sign")), as: UTF8.self))
    },
    APIRoute("GET", "/api/users", "listUsers", "Users with roles and grants.", permission: .admin, response: "[UserInfo]") { c in try c.ops.users() },
    APIRoute("POST", "/api/users", "addUser", "Add a user.", permission: .admin, mutates: true, request: "UserBody", response: "UserInfo") { c in
        let b = try c.decode(UserBody.self)
        guard let role = Role(rawValue: b.role) else { throw HopError.invalid("role `\(b.role)` is not admin, deployer or viewer") }
        return try c.ops.userAdd(name: b.name, role: role, apps: b.apps ?? [], password: b.password)
    },
    APIRoute("DELETE", "/api/users/{name}", "removeUser", "Remove a user with their tokens and sessions.", permission: .admin, mutates: true,
             response: "UserInfo") { c in try c.ops.userRemove(name: c.param("name")) },
    APIRoute("PUT", "/api/users/{name}/password", "setPassword", "Set a user's dashboard password (admins, or the user).",
             permission: .read, mutates: true, request: "PasswordBody", response: "UserInfo") { c in
        try c.ops.userPasswd(name: c.param("name"), password: try c.decode(PasswordBody.self).password)
    },
    APIRoute("GET", "/api/tokens", "listTokens", "API tokens (never their secrets).", permission: .admin, response: "[TokenInfo]") { c in
        try c.ops.tokens()
    },
    APIRoute("POST", "/api/tokens", "createToken", "Create a token; the response is the only place its secret appears.",
             permission: .admin, mutates: true, request: "TokenBody", response: "TokenInfo") { c in
        let b = try c.decode(TokenBody.self)
        return try c.ops.tokenCreate(user: b.user, label: b.label ?? "", expiresIn: b.expiresInSeconds)
    },
    APIRoute("DELETE", "/api/tokens/{id}", "revokeToken", "Revoke a token.", permission: .admin, mutates: true, response: "TokenInfo") { c in
        try c.ops.tokenRevoke(id: c.param("id"))
    },
    APIRoute("GET", "/api/audit", "audit", "The audit log, oldest first.", permission: .admin, response: "[AuditInfo]",
             query: [("limit", "integer")]) { c in try c.ops.audit(limit: try c.intQuery("limit")) },
    APIRoute("GET", "/api/audit/verify", "auditVerify", "Recompute the audit log's hash chain.", permission: .admin,
             response: "AuditVerification") { c in try c.ops.auditVerify() },
    APIRoute("POST", "/api/audit/checkpoint", "auditCheckpoint",
             "Sign the audit log's head with hop's key (after verifying it); keep the line where a rewrite of this machine cannot reach it.",
             permission: .admin, mutates: true, response: "AuditCheckpoint") { c in try c.ops.auditCheckpoint() },
]
