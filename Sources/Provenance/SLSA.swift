import Foundation
import HopBasics
import HopStore
import NixBuild

/// What a provenance statement is made from: only recorded facts, so the same build always
/// yields the same bytes.
public struct ProvenanceInput: Sendable {
    public var build: BuildRecord
    public var closure: [StorePathInfo]
    public var lock: DependencyLock?
    /// The Nix version that built it (`nix-store --version`).
    public var nixVersion: String
    public init(build: BuildRecord, closure: [StorePathInfo], lock: DependencyLock?, nixVersion: String) {
        self.build = build; self.closure = closure; self.lock = lock; self.nixVersion = nixVersion
    }
}

/// SLSA v1.0 provenance as an in-toto Statement v1.
public enum SLSA {
    /// hop's build type, documented in docs/provenance.md. A URN: hop owns no domain, and a
    /// buildType only has to be a URI that names one documented build process.
    public static let buildType = "urn:hop:buildtype:nix-closure:v1"
    public static let builderID = "urn:hop:builder:nix-sandbox:v1"
    public static let statementType = "https://in-toto.io/Statement/v1"
    public static let predicateType = "https://slsa.dev/provenance/v1"
    public static let payloadType = "application/vnd.in-toto+json"

    /// The statement as a JSON value (dictionaries and arrays), for rendering and tests.
    public static func statement(_ input: ProvenanceInput) throws -> [String: Any] {
        let b = input.build
        guard let out = input.closure.first(where: { $0.path == b.outPath }),
              let outHex = NixBase32.sha256Hex(fromNixHash: out.narHash) else {
            throw HopError(.internalError, "build \(b.id): its output \(b.outPath) is missing from the recorded closure")
        }
        var external: [String: Any] = [
            "app": b.app,
            "source": ["uri": b.sourcePath, "digest": ["sha256": hexOnly(b.sourceHash)]],
        ]
        if let spec = try? JSONSerialization.jsonObject(with: Data(b.specJSON.utf8)) { external["metadata"] = spec }
        if let l = b.lockJSON, let lock = try? JSONSerialization.jsonObject(with: Data(l.utf8)) { external["lock"] = lock }

        var deps: [[String: Any]] = []
        deps.append(["name": "source", "uri": b.sourcePath, "digest": ["sha256": hexOnly(b.sourceHash)]])
        // A pushed build names the commit its source tree was read from (`git archive`).
        if let commit = b.sourceCommit {
            deps.append(["name": "git", "uri": b.sourceURI ?? "", "digest": ["gitCommit": commit]])
        }
        if let lock = input.lock {
            for w in lock.python {
                deps.append(["name": w.filename, "uri": "pkg:pypi/\(w.name)@\(w.version)", "digest": ["sha256": w.sha256],
                             "downloadLocation": w.url])
            }
            for p in lock.npm {
                if let sri = try? SRIHash(p.integrity) {
                    deps.append(["name": p.path, "uri": "pkg:npm/\(p.name)@\(p.version)",
                                 "digest": [sri.algorithm: hexString(sri.digest)],
                                 "downloadLocation": p.url])
                }
            }
            for m in lock.go {
                deps.append(["name": m.path, "uri": "pkg:golang/\(m.path)@\(m.version)", "annotations": ["vendored": true]])
            }
            for w in lock.pythonBuild ?? [] {
                deps.append(["name": w.filename, "uri": "pkg:pypi/\(w.name)@\(w.version)", "digest": ["sha256": w.sha256],
                             "downloadLocation": w.url, "annotations": ["buildsSdists": true]])
            }
            for g in lock.gems ?? [] {
                deps.append(["name": "vendor/cache/" + g.file, "uri": "pkg:gem/\(g.name)@\(g.version)", "digest": ["sha256": g.sha256]])
            }
            for c in lock.composer ?? [] {
                var d: [String: Any] = ["name": c.name, "uri": "pkg:composer/\(c.name)@\(c.version)", "annotations": ["vendored": true]]
                if let sha1 = c.sha1 { d["digest"] = ["sha1": sha1] }
                deps.append(d)
            }
        }
        if let s = b.seedsJSON, let seeds = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [[String: String]] {
            for seed in seeds {
                guard let path = seed["storePath"], let nar = seed["narHash"], let hex = NixBase32.sha256Hex(fromNixHash: nar) else { continue }
                deps.append(["name": "seed:\(seed["name"] ?? "")", "uri": path, "digest": ["sha256": hex],
                             "annotations": ["version": seed["version"] ?? "", "origin": seed["origin"] ?? "", "digestOf": "nar"]])
            }
        }
        if let detail = try? JSONSerialization.jsonObject(with: Data(b.toolchainDetail.utf8)) as? [String: String], b.toolchain == "nixpkgs",
           let url = detail["url"], let sha = detail["sha256"] {
            deps.append(["name": "nixpkgs", "uri": url, "digest": ["nix-sha256": sha]])
        }
        deps.sort { ($0["name"] as! String, $0["uri"] as! String) < ($1["name"] as! String, $1["uri"] as! String) }

        return [
            "_type": statementType,
            "subject": [["name": b.outPath, "digest": ["sha256": outHex], "annotations": ["digestOf": "nar"]]],
            "predicateType": predicateType,
            "predicate": [
                "buildDefinition": [
                    "buildType": buildType,
                    "externalParameters": external,
                    "internalParameters": ["derivation": b.drvPath, "toolchain": b.toolchain, "sandbox": true, "substituters": ""],
                    "resolvedDependencies": deps,
                ],
                "runDetails": [
                    "builder": ["id": builderID, "version": ["hop": b.hopVersion, "nix": input.nixVersion]],
                    "metadata": [
                        "invocationId": "urn:hop:build:\(b.app):\(b.id):\(storeHash(b.drvPath))",
                        "startedOn": rfc3339(b.startedAt),
                        "finishedOn": rfc3339(b.finishedAt),
                    ],
                ],
            ],
        ]
    }

    /// Canonical bytes of the statement: sorted keys, no insignificant whitespace.
    public static func render(_ input: ProvenanceInput) throws -> Data {
        try canonicalJSON(statement(input))
    }

    static func hexOnly(_ h: String) -> String { h.hasPrefix("sha256:") ? String(h.dropFirst(7)) : h }
    static func storeHash(_ p: String) -> String { String((p.split(separator: "/").last ?? "").prefix(32)) }
}

/// Sorted keys, no escaped slashes, no whitespace: the same value always gives the same bytes.
public func canonicalJSON(_ value: Any) throws -> Data {
    try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
}

/// RFC 3339 UTC with milliseconds (what the record keeps).
public func rfc3339(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: d)
}
