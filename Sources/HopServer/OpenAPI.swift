import Foundation
import HopBasics
import HopCore

/// The API's OpenAPI 3.1 document, made from the route table (so a route cannot exist without
/// being described) and the result types' schemas. Served at /api/openapi.json; snapshot-tested.
public enum OpenAPIDocument {
    public static let json: String = render()

    static func object(_ properties: [String: Any], required: [String] = []) -> [String: Any] {
        var o: [String: Any] = ["type": "object", "properties": properties]
        if !required.isEmpty { o["required"] = required.sorted() }
        return o
    }
    static var string: [String: Any] { ["type": "string"] }
    static var integer: [String: Any] { ["type": "integer"] }
    static var number: [String: Any] { ["type": "number"] }
    static var boolean: [String: Any] { ["type": "boolean"] }
    static func nullable(_ type: String) -> [String: Any] { ["type": [type, "null"]] }
    static func array(_ items: [String: Any]) -> [String: Any] { ["type": "array", "items": items] }
    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
    static var counts: [String: Any] { ["type": "object", "additionalProperties": ["type": "integer"]] }

    static var schemas: [String: Any] { [
        "Error": object(["error": object(["code": string, "message": string, "hint": string, "exitCode": integer,
                                          "file": string, "line": integer, "column": integer,
                                          "more": array(object(["code": string, "message": string, "hint": string, "exitCode": integer,
                                                                "file": string, "line": integer, "column": integer],
                                                               required: ["code", "message", "exitCode"]))],
                                         required: ["code", "message", "exitCode"])], required: ["error"]),
        "Document": ["type": "object", "description": "A JSON document (CycloneDX, SPDX, in-toto Statement or DSSE envelope)."],
        "BuildInfo": object(["id": integer, "app": string, "outPath": string, "drvPath": string, "sourceHash": string, "sourcePath": string,
                             "builder": string, "toolchain": string, "hopVersion": string, "startedAt": string, "finishedAt": string,
                             "gcRoot": string, "closureSize": integer, "pathCount": integer, "version": string],
                            required: ["id", "app", "outPath", "drvPath", "sourceHash", "sourcePath", "builder", "toolchain", "hopVersion",
                                       "startedAt", "finishedAt", "gcRoot", "closureSize", "pathCount"]),
        "DomainOwner": object(["domain": string, "app": string], required: ["domain", "app"]),
        "Health": object(["ok": boolean, "version": string], required: ["ok", "version"]),
        "WhoAmI": object(["name": string, "role": ["enum": ["admin", "deployer", "viewer"]], "apps": array(string)],
                         required: ["name", "role", "apps"]),
        "AppSummary": object(["app": string, "generation": integer, "serving": boolean, "build": integer, "scale": counts,
                              "url": string, "state": string, "deployedAt": string, "answering": boolean], required: ["app", "serving", "state"]),
        "AppInfo": object([
            "app": string, "serving": boolean, "state": string, "checkedAt": string, "domains": array(string),
            "urls": array(object(["url": string, "answering": boolean, "status": integer, "problem": string, "milliseconds": integer],
                                 required: ["url"])),
            "generation": ref("GenerationSummary"), "previous": ref("GenerationSummary"),
            "processes": array(object(["name": string, "count": integer,
                                       "instances": array(object(["unit": string, "state": string, "sub": string, "pid": integer,
                                                                  "restarts": integer, "cpuSeconds": number, "memoryBytes": integer,
                                                                  "memoryLimitBytes": integer],
                                                                 required: ["unit", "state", "sub", "pid", "restarts"]))],
                                      required: ["name", "count", "instances"])),
            "addons": array(object(["type": string, "name": string], required: ["type", "name"])),
            "volumes": array(object(["name": string, "target": string, "bytes": integer], required: ["name", "target"])),
            "certificate": object(["kind": ["enum": ["acme", "self-signed", "none"]], "issuer": string, "notAfter": string,
                                   "domains": array(string), "lastAttempt": string, "error": string], required: ["kind", "domains"]),
            "lastDeploy": object(["at": string, "by": string, "via": string, "result": string], required: ["at", "by", "via", "result"]),
            "lastBackup": object(["id": string, "at": string, "status": ["enum": ["running", "ok", "failed"]], "reason": string,
                                  "size": integer, "error": string], required: ["id", "at", "status", "reason", "size"]),
        ], required: ["app", "serving", "state", "checkedAt", "domains", "urls", "processes", "addons", "volumes"]),
        "GenerationSummary": object(["number": integer, "build": integer, "status": ["enum": ["pending", "active", "retired", "failed"]],
                                     "createdAt": string, "action": string, "by": string, "via": string, "reason": string],
                                    required: ["number", "build", "status", "createdAt"]),
        "GenerationInfo": object(["app": string, "generation": integer, "build": integer, "storePath": string, "appPath": string,
                                  "scale": counts, "status": ["enum": ["pending", "active", "retired", "failed"]], "createdAt": string,
                                  "current": boolean, "ports": array(integer), "reason": string,
                                  "timers": ["type": "object", "description": "cron processes (they run from timers) and their schedules",
                                             "additionalProperties": string]],
                                 required: ["app", "generation", "build", "storePath", "appPath", "scale", "status", "createdAt", "current"]),
        "AppEnvironment": object(["app": string, "generation": integer, "revealed": boolean,
                                  "variables": array(object(["key": string, "value": string, "source": string, "masked": boolean],
                                                            required: ["key", "source", "masked"]))],
                                 required: ["app", "revealed", "variables"]),
        "ProcessList": object(["app": string, "generation": integer,
                               "processes": array(object(["unit": string, "state": string, "sub": string, "pid": integer, "restarts": integer],
                                                         required: ["unit", "state", "sub", "pid", "restarts"]))],
                              required: ["app", "generation", "processes"]),
        "ConfigView": object(["app": string, "masked": boolean,
                              "values": ["type": "object", "additionalProperties": nullable("string")]], required: ["app", "masked", "values"]),
        "ConfigBody": {
            var o = object(["set": ["type": "object", "additionalProperties": ["type": "string", "pattern": "^[^\\u0000]*$"],
                                    "propertyNames": configKey],
                            "unset": ["type": "array", "items": configKey], "watch": watch])
            o["anyOf"] = [["required": ["set"], "properties": ["set": ["minProperties": 1]]],
                          ["required": ["unset"], "properties": ["unset": ["minItems": 1]]]]
            return o
        }(),
        "ConfigResult": object(["app": string, "deployed": boolean, "generation": ref("GenerationInfo"), "noop": boolean, "keys": array(string)],
                               required: ["app", "deployed", "keys"]),
        "DeployBody": {
            var o = object(["path": ["type": "string", "minLength": 1], "build": ["type": "integer", "minimum": 1], "watch": watch,
                            "force": boolean])
            o["oneOf"] = [["required": ["path"]], ["required": ["build"]]]
            return o
        }(),
        "DeployResult": object(["app": string, "generation": integer, "build": integer, "status": string, "scale": counts, "noop": boolean,
                                "cached": boolean, "url": string, "seconds": number, "storePath": string, "current": boolean],
                               required: ["app", "generation", "build", "status", "scale", "noop", "cached", "url", "seconds", "storePath", "current"]),
        "RollbackBody": object(["to": ["type": "integer", "minimum": 1], "withData": boolean]),
        "BackupBody": object(["to": backupTarget]),
        "RestoreBody": object(["toApp": appName]),
        "PruneBody": object(["keep": retention]),
        "ScheduleBody": object(["calendar": ["type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9 *:,./~+-]+$"],
                                "keep": retention, "to": backupTarget], required: ["calendar"]),
        "BackupInfo": object(["id": string, "app": string, "createdAt": string, "finishedAt": string, "reason": string, "generation": integer,
                              "build": integer, "forGeneration": integer, "target": string, "location": string, "size": integer,
                              "sha256": string, "status": ["enum": ["running", "ok", "failed"]], "error": string, "verifiedAt": string,
                              "members": integer, "bytes": integer, "addons": array(string)],
                             required: ["id", "app", "createdAt", "reason", "target", "location", "size", "sha256", "status"]),
        "BackupVerification": object(["id": string, "app": string, "ok": boolean, "members": integer, "bytes": integer, "keyid": string,
                                      "seconds": number], required: ["id", "app", "ok", "members", "bytes", "keyid", "seconds"]),
        "RestoreResult": object(["id": string, "app": string, "from": string, "generation": integer, "addons": array(string),
                                 "files": integer, "bytes": integer, "seconds": number],
                                required: ["id", "app", "from", "addons", "files", "bytes", "seconds"]),
        "PruneResult": object(["app": string, "kept": array(string), "removed": array(string)], required: ["app", "kept", "removed"]),
        "BackupScheduleInfo": object(["app": string, "calendar": string, "keep": string, "target": string, "timer": string], required: ["app"]),
        "RollbackResult": object(["app": string, "generation": integer, "from": integer, "url": string, "seconds": number],
                                 required: ["app", "generation", "from", "url", "seconds"]),
        "ScaleBody": object(["counts": ["type": "object", "minProperties": 1,
                                        "additionalProperties": ["type": "integer", "minimum": 0, "maximum": 64]],
                             "watch": watch], required: ["counts"]),
        "ActionResult": object(["app": string, "action": string, "generation": integer], required: ["app", "action"]),
        "LogLines": object(["app": string, "lines": array(string)], required: ["app", "lines"]),
        "DestroyResult": object(["app": string, "destroyed": boolean, "purged": boolean], required: ["app", "destroyed", "purged"]),
        "GCBody": object(["keep": ["type": "integer", "minimum": 0], "app": appName]),
        "GCResult": object(["removed": array(object(["app": string, "generation": integer], required: ["app", "generation"]))],
                           required: ["removed"]),
        "UserBody": object(["name": userName, "role": ["enum": ["admin", "deployer", "viewer"]], "apps": array(appName),
                            "password": password], required: ["name", "role"]),
        "PasswordBody": object(["password": password], required: ["password"]),
        "UserInfo": object(["name": string, "role": string, "apps": array(string), "hasPassword": boolean, "createdAt": string],
                           required: ["name", "role", "apps", "hasPassword", "createdAt"]),
        "TokenBody": object(["user": userName, "label": ["type": "string", "maxLength": 100, "pattern": "^[^\\n\\r]*$"],
                             "expiresInSeconds": ["type": "number", "exclusiveMinimum": 0, "maximum": 94_608_000]], required: ["user"]),
        "TokenInfo": object(["id": string, "user": string, "label": string, "createdAt": string, "expiresAt": string, "revoked": boolean,
                             "lastUsedAt": string, "token": string], required: ["id", "user", "label", "createdAt", "revoked"]),
        "AuditInfo": object(["seq": integer, "at": string, "actor": string, "via": string, "action": string, "app": string,
                             "detail": string, "result": string, "hash": string],
                            required: ["seq", "at", "actor", "via", "action", "detail", "result", "hash"]),
        "AddonInfo": object(["name": string, "type": ["enum": ["postgres", "redis", "mariadb"]], "database": string, "socket": string, "extensions": array(string),
                             "attachedTo": array(string), "createdAt": string],
                            required: ["name", "type", "database", "socket", "extensions", "attachedTo", "createdAt"]),
        "AddonBody": object(["type": ["enum": ["postgres", "postgresql", "redis", "mariadb", "mysql"]], "name": addonName,
                             "extensions": array(["type": "string", "maxLength": 63, "pattern": "^[a-z][a-z0-9_-]*$"])], required: ["type", "name"]),
        "AttachBody": object(["prefix": ["type": "string", "maxLength": 64, "pattern": "^([A-Z][A-Z0-9_]*)?$"], "watch": watch]),
        "Credentials": ["type": "object", "additionalProperties": string],
        "AuditVerification": object(["ok": boolean, "entries": integer, "brokenAt": integer, "problem": string, "checkpoints": integer], required: ["ok", "entries"]),
        "AuditCheckpoint": object(["seq": integer, "hash": string, "at": string, "keyID": string, "signature": string, "line": string],
                                  required: ["seq", "hash", "at", "keyID", "signature", "line"]),
    ] }

    /// What the operations accept, stated so that every value the schema allows is accepted.
    static var appName: [String: Any] {
        ["type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z0-9]+([._-][a-z0-9]+)*$",
         "not": ["enum": reservedNames]]
    }
    static var reservedNames: [String] { reservedAppNames.sorted() }
    static var userName: [String: Any] {
        ["type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z][a-z0-9._-]*$", "not": ["const": "root"]]
    }
    static var password: [String: Any] { ["type": "string", "minLength": 10] }
    static var addonName: [String: Any] {
        ["type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[a-z]([a-z0-9-]*[a-z0-9])?$",
         "not": ["anyOf": [["const": "postgres"], ["pattern": "^template"]]]]
    }
    static var backupTarget: [String: Any] {
        ["type": "string", "minLength": 2, "maxLength": 1000, "pattern": "^(/[^\\u0000]*|[A-Za-z][A-Za-z0-9_-]{0,31}:[^\\u0000]*)$"]
    }
    static var retention: [String: Any] {
        ["type": "string", "pattern": "^(last|daily|weekly|monthly)=[0-9]{1,4}(,(last|daily|weekly|monthly)=[0-9]{1,4})*$"]
    }
    static var watch: [String: Any] { ["type": "number", "minimum": 0, "maximum": 3600] }
    static var configKey: [String: Any] {
        ["type": "string", "maxLength": 128, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
         "not": ["enum": ["PORT", "HOP_BIND", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "PATH"]]]
    }

    static func schema(_ name: String) -> [String: Any] {
        name.hasPrefix("[") ? array(ref(String(name.dropFirst().dropLast()))) : ref(name)
    }

    static func errorResponse(_ text: String) -> [String: Any] {
        ["description": text, "content": ["application/json": ["schema": ref("Error")]]]
    }

    static func render() -> String {
        var paths: [String: [String: Any]] = [:]
        for r in apiRoutes {
            var op: [String: Any] = ["operationId": r.operationID, "summary": r.summary]
            var parameters: [[String: Any]] = []
            for segment in r.path.split(separator: "/") where segment.hasPrefix("{") {
                let name = String(segment.dropFirst().dropLast())
                let schema: [String: Any] = switch name {
                case "app": appName
                case "name": userName
                case "addon": addonName
                case "backup": ["type": "string", "maxLength": 40, "pattern": "^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$"]
                case "id" where r.path.hasPrefix("/api/builds"): ["type": "string", "pattern": "^#?[0-9]{1,18}$|^[a-z0-9]+([._-][a-z0-9]+)*$"]
                default: ["type": "string", "pattern": "^[0-9a-f]{1,64}$"]
                }
                parameters.append(["name": name, "in": "path", "required": true, "schema": schema])
            }
            for q in r.query {
                var schema: [String: Any] = ["type": q.type]
                if q.name == "format" { schema = ["enum": ["cyclonedx", "spdx"]] }
                if q.name == "app" { schema = appName }
                parameters.append(["name": q.name, "in": "query", "required": false, "schema": schema])
            }
            if !parameters.isEmpty { op["parameters"] = parameters }
            if r.upload {
                // A tar (`application/x-tar` is what hop sends); described as octet-stream, the media
                // type generic OpenAPI tooling (and the fuzzer) can produce. The server reads any.
                op["requestBody"] = ["required": true, "description": "a tar archive of the source tree",
                                     "content": ["application/octet-stream": ["schema": ["type": "string", "format": "binary"]]]]
            } else if let body = r.request {
                op["requestBody"] = ["required": false, "content": ["application/json": ["schema": schema(body)]]]
            }
            var ok: [String: Any] = ["description": "The operation's result.", "content": ["application/json": ["schema": schema(r.response)]]]
            if r.streams {
                ok["content"] = ["application/json": ["schema": schema(r.response)],
                                 "text/event-stream": ["schema": ["type": "string",
                                                                  "description": "progress events, then one `result` (the JSON result) or `error` event"]]]
            }
            let success = r.method == "POST" && (r.operationID == "addUser" || r.operationID == "createToken") ? "201" : "200"
            var responses: [String: Any] = [
                success: ok,
                "400": errorResponse("Bad input: nothing was changed."),
                "404": errorResponse("No such app, generation, user or token."),
                "409": errorResponse("A conflict: the app is busy, or the thing exists."),
                "422": errorResponse("The operation did not take (a failed build, a generation rolled back)."),
                "503": errorResponse("The machine lacks something hop needs."),
            ]
            if r.operationID != "health" {
                responses["401"] = errorResponse("No valid token or session.")
                responses["403"] = errorResponse("The caller's role or grants do not allow this.")
                op["security"] = [["bearer": [String]()]]
            } else {
                op["security"] = [[String: [String]]()]
            }
            op["responses"] = responses
            op["x-hop-permission"] = r.permission.rawValue
            paths[r.path, default: [:]][r.method.lowercased()] = op
        }
        paths["/api/openapi.json"] = ["get": ["operationId": "openapi", "summary": "This document.", "security": [[String: [String]]()],
                                              "responses": ["200": ["description": "The OpenAPI document.",
                                                                    "content": ["application/json": ["schema": ["type": "object"]]]]]]]
        let doc: [String: Any] = [
            "openapi": "3.1.0",
            "info": ["title": "hop", "version": hopVersion,
                     "description": "The operations of a hop server. Every route is one of the operations the `hop` CLI runs; every change is authorised by role and written to the audit log."],
            "servers": [["url": "/"]],
            "paths": paths,
            "components": ["schemas": schemas,
                           "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer",
                                                          "description": "A token from `hop token create USER`."]]],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
