import Foundation
import HopBasics

/// Heroku/Dokku `app.json`, read the way Dokku uses it: `scripts.dokku.predeploy` (a release step,
/// run before the switch), `healthchecks.web` (the health gate), `formation` (instance counts) and
/// `env` (values, and `"generator": "secret"`). Everything else app.json may hold (buildpacks,
/// addons, environments…) is accepted with a warning. Pure: the text in, values out. JSON has no
/// positions in Foundation's parser, so warnings and errors are located at the first line that
/// names the key.
struct AppJSONDocument: Sendable {
    var predeploy: String?
    var healthcheck: HealthCheck?
    var formation: [String: Int] = [:]
    var env: [EnvVar] = []
    var secret: [SecretEnv] = []
    var warnings: [Hop3Warning] = []
}

func parseAppJSON(_ text: String, file: String) throws -> AppJSONDocument {
    func locate(_ key: String) -> SourceLocation {
        let needle = "\"\(key)\""
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let r = line.range(of: needle) { return SourceLocation(file: file, line: i + 1, column: line.distance(from: line.startIndex, to: r.lowerBound) + 1) }
        }
        return SourceLocation(file: file, line: 1, column: 1)
    }
    let root: [String: Any]
    do {
        guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw HopError.invalid("app.json must be a JSON object", at: SourceLocation(file: file, line: 1, column: 1), hint: "see Heroku's app.json schema")
        }
        root = o
    } catch let e as HopError { throw e } catch {
        throw HopError.invalid("app.json is not valid JSON: \((error as NSError).userInfo["NSDebugDescription"] ?? error)",
                               at: SourceLocation(file: file, line: 1, column: 1), hint: "fix the JSON (a trailing comma? a missing quote?)")
    }
    var doc = AppJSONDocument()
    let known: Set<String> = ["scripts", "healthchecks", "formation", "env"]
    let informational: Set<String> = ["name", "description", "keywords", "website", "repository", "logo", "success_url"]
    for key in root.keys.sorted() where !known.contains(key) && !informational.contains(key) {
        doc.warnings.append(Hop3Warning(message: "`\(key)` in app.json is ignored: hop reads scripts.dokku, healthchecks, formation and env", location: locate(key)))
    }
    if let scripts = root["scripts"] as? [String: Any] {
        let dokku = scripts["dokku"] as? [String: Any] ?? [:]
        if let pre = dokku["predeploy"] {
            guard let s = pre as? String, !s.allSatisfy(\.isWhitespace), !s.contains(where: \.isNewline) else {
                throw HopError.invalid("`scripts.dokku.predeploy` must be one command line", at: locate("predeploy"), hint: "e.g. \"python manage.py migrate\"")
            }
            doc.predeploy = s
        }
        for key in dokku.keys.sorted() where key != "predeploy" {
            doc.warnings.append(Hop3Warning(message: "`scripts.dokku.\(key)` is ignored: hop runs a release step before the switch (predeploy) and nothing after it",
                                            location: locate(key)))
        }
        for key in scripts.keys.sorted() where key != "dokku" {
            doc.warnings.append(Hop3Warning(message: "`scripts.\(key)` is ignored (Heroku's review-app scripts)", location: locate(key)))
        }
    }
    if let checks = root["healthchecks"] as? [String: Any] {
        for key in checks.keys.sorted() where key != "web" {
            doc.warnings.append(Hop3Warning(message: "`healthchecks.\(key)` is ignored: hop gates the web process", location: locate(key)))
        }
        if let web = checks["web"] as? [[String: Any]],
           let check = web.first(where: { ($0["type"] as? String ?? "startup") != "liveness" && $0["path"] != nil }) {
            var h = HealthCheck()
            guard let path = check["path"] as? String, path.hasPrefix("/"), !path.contains(where: { $0.isWhitespace }), path.count <= 1024 else {
                throw HopError.invalid("`healthchecks.web` path must be a URL path", at: locate("path"), hint: "e.g. \"/health\"")
            }
            h.path = path
            if let c = check["content"] as? String { h.contains = c }
            if let n = check["attempts"] as? Int, (1...100).contains(n) { h.retries = n }
            if let t = check["timeout"] as? Int, (1...600).contains(t) { h.timeout = Double(t) }
            doc.healthcheck = h
        }
    }
    if let formation = root["formation"] as? [String: Any] {
        for (name, value) in formation {
            guard let spec = value as? [String: Any], let q = spec["quantity"] as? Int, (0...AppBounds.maxInstancesPerProcess).contains(q) else {
                throw HopError.invalid("`formation.\(name)` needs a quantity from 0 to \(AppBounds.maxInstancesPerProcess)", at: locate(name), hint: "e.g. \"web\": {\"quantity\": 2}")
            }
            if q > 0 { doc.formation[name] = q }
        }
    }
    if let env = root["env"] as? [String: Any] {
        for name in env.keys.sorted() {
            guard isEnvName(name) else {
                throw HopError.invalid("`\(name)` in app.json env is not a variable name", at: locate(name), hint: "letters, digits and `_`")
            }
            switch env[name] {
            case let s as String: doc.env.append(EnvVar(name, s))
            case let o as [String: Any]:
                if o["generator"] as? String == "secret" {
                    doc.secret.append(SecretEnv(name: name, kind: .generate(style: "hex", length: 64)))
                } else if let v = o["value"] as? String {
                    doc.env.append(EnvVar(name, v))
                } else if o["required"] as? Bool ?? true {
                    doc.warnings.append(Hop3Warning(message: "`\(name)` in app.json env has no value: set it with `hop config set APP \(name)=…`", location: locate(name)))
                }
            default:
                throw HopError.invalid("`\(name)` in app.json env must be a string or an object", at: locate(name), hint: "e.g. {\"value\": \"…\"}")
            }
        }
    }
    return doc
}
