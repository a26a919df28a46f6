import Foundation
import Crypto
import HopBasics
import HopStore
import Provenance

/// A signed statement of the audit chain's head: hop's signing key vouches that entry `seq` had
/// `hash` at `at`. The chain alone proves nothing against root, who can delete rows and recompute
/// every hash after them (and audit.head); a checkpoint kept where that rewrite cannot reach it (a
/// backup archive, the operator's notes) still names the entry that was there.
///
/// One line: `hop-audit-checkpoint v1 SEQ HASH AT KEYID SIGNATURE` (signature base64, ed25519 over
/// `hop-audit-checkpoint v1\nSEQ\nHASH\nAT\n`).
public struct AuditCheckpoint: Sendable, Codable, Equatable {
    public var seq: Int64
    public var hash: String
    public var at: String
    public var keyID: String
    public var signature: String

    public var line: String { "hop-audit-checkpoint v1 \(seq) \(hash) \(at) \(keyID) \(signature)" }

    enum CodingKeys: String, CodingKey { case seq, hash, at, keyID, signature, line }
    public init(seq: Int64, hash: String, at: String, keyID: String, signature: String) {
        self.seq = seq; self.hash = hash; self.at = at; self.keyID = keyID; self.signature = signature
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(seq: try c.decode(Int64.self, forKey: .seq), hash: try c.decode(String.self, forKey: .hash), at: try c.decode(String.self, forKey: .at),
                  keyID: try c.decode(String.self, forKey: .keyID), signature: try c.decode(String.self, forKey: .signature))
    }
    /// With `line`: the form an operator copies.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seq, forKey: .seq); try c.encode(hash, forKey: .hash); try c.encode(at, forKey: .at)
        try c.encode(keyID, forKey: .keyID); try c.encode(signature, forKey: .signature); try c.encode(line, forKey: .line)
    }

    static func message(seq: Int64, hash: String, at: String) -> Data { Data("hop-audit-checkpoint v1\n\(seq)\n\(hash)\n\(at)\n".utf8) }

    static func signed(seq: Int64, hash: String, at: String, key: SigningKey) throws -> AuditCheckpoint {
        let sig = try key.privateKey.signature(for: message(seq: seq, hash: hash, at: at))
        return AuditCheckpoint(seq: seq, hash: hash, at: at, keyID: PublicKeyFile.keyID(key.publicKey), signature: sig.base64EncodedString())
    }

    /// Parses a checkpoint line (pure); `where` locates errors.
    public static func parse(_ line: String, where location: SourceLocation? = nil) throws -> AuditCheckpoint {
        let p = line.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
        guard p.count == 7, p[0] == "hop-audit-checkpoint", p[1] == "v1", let seq = Int64(p[2]), seq > 0,
              p[3].count == 64, p[3].allSatisfy(\.isHexDigit), Data(base64Encoded: p[6]) != nil else {
            throw HopError.invalid("not an audit checkpoint line", at: location,
                                   hint: "pass a line `hop audit checkpoint` printed: hop-audit-checkpoint v1 SEQ HASH AT KEYID SIGNATURE")
        }
        return AuditCheckpoint(seq: seq, hash: p[3], at: p[4], keyID: p[5], signature: p[6])
    }

    /// Whether `key` made this checkpoint's signature.
    public func isSigned(by key: Curve25519.Signing.PublicKey) -> Bool {
        guard let sig = Data(base64Encoded: signature) else { return false }
        return key.isValidSignature(sig, for: Self.message(seq: seq, hash: hash, at: at))
    }
}

/// The checkpoints hop made on this machine, one line each in `$HOP_HOME/audit.checkpoints` (0600).
struct AuditCheckpointFile {
    let home: HopHome
    var path: String { home.root + "/audit.checkpoints" }

    func all() throws -> [AuditCheckpoint] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").enumerated().map { i, l in
            try AuditCheckpoint.parse(String(l), where: SourceLocation(file: path, line: i + 1, column: 1))
        }
    }

    func append(_ c: AuditCheckpoint) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HopError(.environment, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array((c.line + "\n").utf8)
        guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
            throw HopError(.environment, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

extension Operations {
    /// Signs the audit chain's head with hop's key (made when missing), after checking the chain,
    /// keeps the checkpoint in `$HOP_HOME/audit.checkpoints` and returns it for the operator to keep
    /// elsewhere. Backups carry one too.
    public func auditCheckpoint() throws -> AuditCheckpoint {
        try ctx.authorize(.admin, app: nil, action: "checkpoint the audit log")
        return try audited("audit checkpoint", app: nil, permission: .admin) { try makeAuditCheckpoint() }
    }

    /// The checkpoint itself (callers authorise): nil-free, throws when the chain does not verify.
    func makeAuditCheckpoint() throws -> AuditCheckpoint {
        let v = try auditVerifyUnchecked(extra: [])
        guard v.ok else {
            throw HopError(.verificationFailed, "the audit log does not verify, so it is not signed: \(v.problem ?? "")",
                           hint: "`hop audit verify` names the entry; compare with a backup of hop.db")
        }
        guard let db = try ctx.existingDatabase(), let last = try db.auditRows().last?.entry else {
            throw HopError(.notFound, "the audit log is empty: nothing to checkpoint")
        }
        let key: SigningKey
        if FileManager.default.fileExists(atPath: SigningKey.path(in: ctx.home)) { key = try SigningKey.load(from: ctx.home) } else {
            key = try SigningKey.generate(in: ctx.home, force: false)
        }
        let c = try AuditCheckpoint.signed(seq: last.seq, hash: last.hash, at: isoTime(Date()), key: key)
        try AuditCheckpointFile(home: ctx.home).append(c)
        return c
    }

    /// Checks each checkpoint against the chain: signed by hop's key, and its entry still there with
    /// the hash it had. The first that fails is the answer (nil: all hold).
    func checkCheckpoints(_ checkpoints: [AuditCheckpoint], rows: [(entry: AuditEntry, atText: String)]) throws -> AuditVerification? {
        guard !checkpoints.isEmpty else { return nil }
        let key = FileManager.default.fileExists(atPath: SigningKey.path(in: ctx.home)) ? try SigningKey.load(from: ctx.home).publicKey : nil
        let bySeq = Dictionary(rows.map { ($0.entry.seq, $0.entry.hash) }, uniquingKeysWith: { a, _ in a })
        for c in checkpoints.sorted(by: { $0.seq < $1.seq }) {
            guard let key, c.isSigned(by: key) else {
                return AuditVerification(ok: false, entries: rows.count, brokenAt: c.seq,
                                         problem: "the checkpoint of entry \(c.seq) (\(c.at)) is not signed by this hop's key")
            }
            guard let hash = bySeq[c.seq] else {
                return AuditVerification(ok: false, entries: rows.count, brokenAt: c.seq,
                                         problem: "entry \(c.seq), checkpointed at \(c.at), is missing")
            }
            if hash != c.hash {
                return AuditVerification(ok: false, entries: rows.count, brokenAt: c.seq,
                                         problem: "entry \(c.seq) is not the entry checkpointed at \(c.at): the log was rewritten")
            }
        }
        return nil
    }
}
