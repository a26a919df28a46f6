import Foundation
import Crypto
import HopBasics

/// Re-checks the digests a statement names against the store: subjects and seeds by NAR hash
/// (recomputed in Swift), the source archive and locked artifacts by the flat file's hash at the
/// fixed-output path the digest determines.
public enum StatementDigests {
    /// One digest of the statement, re-checked.
    public struct Result: Sendable, Hashable {
        public var name: String
        public var path: String
        public var ok: Bool
        public var detail: String
    }

    /// `root` is "" for the real store, or the root of a copy whose files live under ROOT/nix/store.
    public static func check(statement: [String: Any], root: String = "") throws -> [Result] {
        var results: [Result] = []
        for s in statement["subject"] as? [[String: Any]] ?? [] {
            let path = s["name"] as? String ?? ""
            let want = (s["digest"] as? [String: String])?["sha256"] ?? ""
            results.append(narCheck(name: "subject", path: path, wantHex: want, root: root))
        }
        let predicate = statement["predicate"] as? [String: Any]
        let deps = (predicate?["buildDefinition"] as? [String: Any])?["resolvedDependencies"] as? [[String: Any]] ?? []
        for d in deps {
            let name = d["name"] as? String ?? ""
            let uri = d["uri"] as? String ?? ""
            let digest = d["digest"] as? [String: String] ?? [:]
            let annotations = d["annotations"] as? [String: Any] ?? [:]
            if annotations["digestOf"] as? String == "nar", let want = digest["sha256"] {
                results.append(narCheck(name: name, path: uri, wantHex: want, root: root))
            } else if uri.hasPrefix("/nix/store/"), let want = digest["sha256"] {
                results.append(flatCheck(name: name, path: uri, algorithm: "sha256", wantHex: want, root: root))
            } else if uri.hasPrefix("pkg:pypi/"), let want = digest["sha256"] {
                results.append(flatCheck(name: name, path: FixedOutputPath.flat(name: name, algorithm: "sha256", hex: want), algorithm: "sha256", wantHex: want, root: root))
            } else if uri.hasPrefix("pkg:npm/"), let (algo, want) = digest.first {
                let file = npmName(uri)
                results.append(flatCheck(name: name, path: FixedOutputPath.flat(name: file, algorithm: algo, hex: want), algorithm: algo, wantHex: want, root: root))
            }
        }
        return results
    }

    static func npmName(_ purl: String) -> String {
        // pkg:npm/NAME@VERSION → NAME-VERSION.tgz as hop names npm inputs (scope '@' dropped, '/' → '-').
        let body = purl.dropFirst("pkg:npm/".count)
        guard let at = body.lastIndex(of: "@") else { return String(body) }
        let name = body[..<at].replacingOccurrences(of: "@", with: "").replacingOccurrences(of: "/", with: "-")
        return "\(name)-\(body[body.index(after: at)...]).tgz"
    }

    static func narCheck(name: String, path: String, wantHex: String, root: String) -> Result {
        let file = root + path
        guard FileManager.default.fileExists(atPath: file) || (try? FileManager.default.destinationOfSymbolicLink(atPath: file)) != nil else {
            return Result(name: name, path: path, ok: false, detail: "missing from the store")
        }
        do {
            let got = try NAR.hash(path: file).hex
            return Result(name: name, path: path, ok: got == wantHex, detail: got == wantHex ? "" : "NAR sha256 \(got), signed \(wantHex)")
        } catch {
            return Result(name: name, path: path, ok: false, detail: "\(error)")
        }
    }

    static func flatCheck(name: String, path: String, algorithm: String, wantHex: String, root: String) -> Result {
        guard let data = FileManager.default.contents(atPath: root + path) else {
            return Result(name: name, path: path, ok: false, detail: "missing from the store")
        }
        let got: String
        switch algorithm {
        case "sha512": got = hexString(SHA512.hash(data: data))
        case "sha1": got = hexString(Insecure.SHA1.hash(data: data))
        default: got = hexString(SHA256.hash(data: data))
        }
        return Result(name: name, path: path, ok: got == wantHex, detail: got == wantHex ? "" : "\(algorithm) \(got), signed \(wantHex)")
    }
}
