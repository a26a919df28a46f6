import Foundation
import Crypto
import HopBasics

/// An ed25519 signing key kept in `$HOP_HOME/keys/provenance.key` (mode 0600, outside the store).
public struct SigningKey: Sendable {
    /// Raw 32-byte seed (swift-crypto's key type is not Sendable).
    let raw: Data
    public var privateKey: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: raw) }
    init(privateKey: Curve25519.Signing.PrivateKey) { raw = privateKey.rawRepresentation }
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }
    /// A stable key id: SHA-256 of the raw public key, hex.
    public var keyID: String { PublicKeyFile.keyID(publicKey) }

    public static func path(in home: HopHome) -> String { home.root + "/keys/provenance.key" }

    /// Creates and stores a key; refuses to replace one unless `force`.
    public static func generate(in home: HopHome, force: Bool) throws -> SigningKey {
        let file = path(in: home)
        if FileManager.default.fileExists(atPath: file) && !force {
            throw HopError.invalid("a signing key already exists at \(file)", hint: "pass --force to replace it (old signatures will no longer verify with the new key)")
        }
        try FileManager.default.createDirectory(atPath: home.root + "/keys", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = Curve25519.Signing.PrivateKey()
        let text = "hop-ed25519-private-key-v1\n" + key.rawRepresentation.base64EncodedString() + "\n"
        try writeFileAtomically(file, text, mode: 0o600)
        return SigningKey(privateKey: key)
    }

    public static func load(from home: HopHome) throws -> SigningKey {
        let file = path(in: home)
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw HopError(.notFound, "no signing key at \(file)", hint: "run `hop key generate`")
        }
        let lines = text.split(separator: "\n")
        guard lines.count == 2, lines[0] == "hop-ed25519-private-key-v1", let raw = Data(base64Encoded: String(lines[1])),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw HopError.invalid("\(file) is not a hop signing key", at: SourceLocation(file: file), hint: "run `hop key generate --force`")
        }
        return SigningKey(privateKey: key)
    }
}

/// Public keys as SubjectPublicKeyInfo PEM (what openssl and cosign read).
public enum PublicKeyFile {
    static let spkiPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    public static func pem(_ key: Curve25519.Signing.PublicKey) -> String {
        let der = Data(spkiPrefix) + key.rawRepresentation
        let b64 = der.base64EncodedString()
        return "-----BEGIN PUBLIC KEY-----\n" + b64 + "\n-----END PUBLIC KEY-----\n"
    }

    public static func parse(_ text: String, file: String) throws -> Curve25519.Signing.PublicKey {
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let der = Data(base64Encoded: body), der.count == 44, Array(der.prefix(12)) == spkiPrefix,
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32)) else {
            throw HopError.invalid("\(file) is not an ed25519 public key in PEM form", at: SourceLocation(file: file),
                                   hint: "export one with `hop key show --pem`")
        }
        return key
    }

    public static func keyID(_ key: Curve25519.Signing.PublicKey) -> String {
        hexString(SHA256.hash(data: key.rawRepresentation))
    }
}

/// Dead Simple Signing Envelope (DSSE v1).
public struct DSSEEnvelope: Sendable, Codable, Hashable {
    public struct Signature: Sendable, Codable, Hashable { public var keyid: String; public var sig: String }
    public var payload: String
    public var payloadType: String
    public var signatures: [Signature]

    /// PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body.
    public static func pae(type: String, body: Data) -> Data {
        var d = Data("DSSEv1 \(type.utf8.count) \(type) \(body.count) ".utf8)
        d.append(body)
        return d
    }

    public static func sign(payload: Data, type: String, key: SigningKey) throws -> DSSEEnvelope {
        let sig = try key.privateKey.signature(for: pae(type: type, body: payload))
        return DSSEEnvelope(payload: payload.base64EncodedString(), payloadType: type,
                            signatures: [Signature(keyid: key.keyID, sig: sig.base64EncodedString())])
    }

    /// The payload, if at least one signature by `key` verifies.
    public func verifiedPayload(with key: Curve25519.Signing.PublicKey) throws -> Data {
        guard let body = Data(base64Encoded: payload) else {
            throw HopError(.verificationFailed, "the envelope's payload is not base64")
        }
        let message = Self.pae(type: payloadType, body: body)
        for s in signatures {
            if let sig = Data(base64Encoded: s.sig), key.isValidSignature(sig, for: message) { return body }
        }
        throw HopError(.verificationFailed, "no signature in the envelope verifies with key \(PublicKeyFile.keyID(key).prefix(16))…",
                       hint: "check that the provenance was signed with this key and not modified since")
    }

    public func json() throws -> Data {
        try JSONEncoder.stable.encode(self)
    }
}
