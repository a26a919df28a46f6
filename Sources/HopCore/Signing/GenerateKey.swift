import Foundation
import HopBasics
import Provenance

/// The signing key as interfaces show it: its id, file and public half.
public struct SigningKeyInfo: Codable, Sendable, Equatable {
    public var keyid: String
    public var path: String
    public var publicKeyPEM: String
}

/// `hop key generate`: the ed25519 key that signs provenance, backups' manifests and audit
/// checkpoints. Replacing it (`force`) changes what every verifier must trust, so it is an
/// audited admin operation; the key never leaves this machine, so it has no route.
public enum GenerateSigningKey: HopOperation {
    public struct Input: Codable, Sendable {
        public var force: Bool
        public init(force: Bool = false) { self.force = force }
    }
    public static let name = "key generate"
    public static let summary = "Create (or with force, replace) the ed25519 signing key in $HOP_HOME/keys (mode 0600)."
    public static let permission = Permission.admin
    public static let audit = AuditMode.runner
    public static func auditDetail(_ input: Input) -> [String: String] { ["force": String(input.force)] }

    public static func run(_ input: Input, _ call: OperationCall) throws -> SigningKeyInfo {
        let home = call.ctx.home
        try home.ensure()
        let key = try SigningKey.generate(in: home, force: input.force)
        return SigningKeyInfo(keyid: key.keyID, path: SigningKey.path(in: home), publicKeyPEM: PublicKeyFile.pem(key.publicKey))
    }
}
