import Foundation
import Crypto
import _CryptoExtras
import HopBasics
import HopStore
import AppSpec

/// Passwords: scrypt (N=2^15, r=8, p=1, 32 bytes) with a random 16-byte salt, stored as
/// `scrypt$15$8$1$<salt hex>$<hash hex>`. Verification takes ~0.1 s on purpose.
public enum PasswordHash {
    public static func make(_ password: String, logN: Int = 15) throws -> String {
        let salt = randomBytes(16)
        let key = try derive(password, salt: salt, logN: logN, r: 8, p: 1)
        return "scrypt$\(logN)$8$1$\(hexString(salt))$\(hexString(key))"
    }

    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$").map(String.init)
        guard parts.count == 6, parts[0] == "scrypt", let logN = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
              (10...20).contains(logN), let salt = bytes(fromHex: parts[4]), let want = bytes(fromHex: parts[5]),
              let got = try? derive(password, salt: salt, logN: logN, r: r, p: p) else { return false }
        return constantTimeEqual(got, want)
    }

    static func derive(_ password: String, salt: [UInt8], logN: Int, r: Int, p: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: 32, rounds: 1 << logN,
                                           blockSize: r, parallelism: p)
        return key.withUnsafeBytes { Array($0) }
    }
}

public func randomBytes(_ n: Int) -> [UInt8] {
    var g = SystemRandomNumberGenerator()
    return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for (x, y) in zip(a, b) { diff |= x ^ y }
    return diff == 0
}

public func sha256Hex(_ s: String) -> String { hexString(SHA256.hash(data: Data(s.utf8))) }

/// Users, tokens, sessions and the audit log: who may reach hop, and what they did.
extension Operations {
    // MARK: Users

    public static func checkUserName(_ name: String) throws {
        let ok = !name.isEmpty && name.count <= 64 && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        } && name.first!.isLetter
        guard ok else {
            throw HopError.invalid("`\(name)` is not a user name", hint: "use 1–64 lowercase letters, digits, `-`, `_`, `.`, starting with a letter")
        }
        if name == "root" { throw HopError.invalid("`root` is the host's administrator and cannot be added as a user") }
    }

    public func userAdd(name: String, role: Role, apps: [String], password: String?) throws -> UserInfo {
        try Self.checkUserName(name)
        for app in apps { _ = try Self.checkedApp(app) }
        if let password, password.count < 10 { throw HopError.invalid("the password is shorter than 10 characters") }
        return try audited("user add", app: nil, detail: ["user": name, "role": role.rawValue, "apps": apps.joined(separator: ",")],
                           permission: .admin) {
            let db = try ctx.database(create: true)
            try db.addUser(name: name, role: role, apps: apps, passwordHash: try password.map { try PasswordHash.make($0) })
            return UserInfo(try db.user(name)!)
        }
    }

    public func users() throws -> [UserInfo] {
        try ctx.authorize(.admin, app: nil, action: "list users")
        return try ctx.existingDatabase()?.users().map(UserInfo.init) ?? []
    }

    public func userRemove(name: String) throws -> UserInfo {
        try Self.checkUserName(name)
        return try audited("user remove", app: nil, detail: ["user": name], permission: .admin) {
            let db = try ctx.database(create: true)
            guard let u = try db.user(name) else { throw HopError(.notFound, "there is no user \(name)", hint: "`hop user list` shows them") }
            guard name != ctx.principal.name else {
                throw HopError(.conflict, "\(name) cannot remove their own account", hint: "another admin (or root with `hop user remove`) can")
            }
            try db.removeUser(name)
            // Their SSH keys went with them: they must stop reaching the git user at once.
            try writeAuthorizedKeys(db)
            return UserInfo(u)
        }
    }

    /// Sets a user's dashboard password; every session of theirs ends. Users may change their own.
    public func userPasswd(name: String, password: String) throws -> UserInfo {
        try Self.checkUserName(name)
        guard password.count >= 10 else { throw HopError.invalid("the password is shorter than 10 characters") }
        return try audited("user passwd", app: nil, detail: ["user": name], permission: ctx.principal.name == name ? nil : .admin) {
            let db = try ctx.database(create: true)
            guard let u = try db.user(name) else { throw HopError(.notFound, "there is no user \(name)") }
            try db.setPasswordHash(user: name, try PasswordHash.make(password))
            return UserInfo(try db.user(name) ?? u)
        }
    }

    // MARK: Tokens

    /// A new API token for `user`: `hop_<id>.<secret>`. Only a SHA-256 of the secret is kept; the
    /// token is in this result and nowhere else.
    public func tokenCreate(user: String, label: String, expiresIn: TimeInterval?, now: Date = Date()) throws -> TokenInfo {
        try Self.checkUserName(user)
        if let e = expiresIn, e <= 0 || e > 3 * 365 * 86400 {
            throw HopError.invalid("a token expires after 1 second to 3 years", hint: "e.g. --expires 30d")
        }
        guard label.count <= 100, !label.contains(where: { $0.isNewline }) else { throw HopError.invalid("the label is too long or has a newline") }
        return try audited("token create", app: nil, detail: ["user": user, "label": label], permission: .admin) {
            let db = try ctx.database(create: true)
            guard try db.user(user) != nil else { throw HopError(.notFound, "there is no user \(user)", hint: "add one with `hop user add`") }
            let id = hexString(randomBytes(8))
            let secret = hexString(randomBytes(24))
            let record = TokenRecord(id: id, user: user, label: label, secretHash: sha256Hex(secret), createdAt: now,
                                     expiresAt: expiresIn.map { now.addingTimeInterval($0) })
            try db.addToken(record)
            return TokenInfo(try db.token(id: id) ?? record, secret: "hop_\(id).\(secret)")
        }
    }

    public func tokens(user: String? = nil) throws -> [TokenInfo] {
        try ctx.authorize(.admin, app: nil, action: "list tokens")
        return try ctx.existingDatabase()?.tokens(user: user).map { TokenInfo($0) } ?? []
    }

    public func tokenRevoke(id: String) throws -> TokenInfo {
        let id = id.hasPrefix("hop_") ? String(id.dropFirst(4).prefix { $0 != "." }) : id
        guard !id.isEmpty, id.count <= 64, id.allSatisfy(\.isHexDigit) else { throw HopError.invalid("`\(id)` is not a token id") }
        return try audited("token revoke", app: nil, detail: ["token": id], permission: .admin) {
            let db = try ctx.database(create: true)
            guard let t = try db.token(id: id) else { throw HopError(.notFound, "there is no token \(id)", hint: "`hop token list` shows them") }
            try db.revokeToken(id: id)
            return TokenInfo(try db.token(id: id) ?? t)
        }
    }

    // MARK: Audit

    public func audit(app: String? = nil, limit: Int? = nil) throws -> [AuditInfo] {
        if let app { _ = try Self.checkedApp(app) }
        try ctx.authorize(app == nil ? .admin : .read, app: app, action: "read the audit log")
        return try ctx.existingDatabase()?.auditRows(app: app, limit: limit).map { AuditInfo($0.entry) } ?? []
    }

    /// Recomputes the chain: every entry's hash, its link to the one before, and unbroken sequence
    /// numbers. Names the first entry that does not verify.
    /// Signed checkpoints are checked too: those hop kept (`audit.checkpoints`) and `checkpoints`,
    /// lines the operator kept elsewhere, so a chain root rewrote from an entry on still fails.
    public func auditVerify(checkpoints: [String] = []) throws -> AuditVerification {
        try ctx.authorize(.admin, app: nil, action: "verify the audit log")
        let extra = try checkpoints.map { try AuditCheckpoint.parse($0) }
        return try auditVerifyUnchecked(extra: extra)
    }

    func auditVerifyUnchecked(extra: [AuditCheckpoint]) throws -> AuditVerification {
        let head = AuditHead(home: ctx.home).read()
        let checkpoints = try AuditCheckpointFile(home: ctx.home).all() + extra
        guard let db = try ctx.existingDatabase() else {
            if let head { return AuditVerification(ok: false, entries: 0, brokenAt: head.seq, problem: "the database holds no entries, but entry \(head.seq) was written") }
            if let c = checkpoints.first { return AuditVerification(ok: false, entries: 0, brokenAt: c.seq, problem: "the database holds no entries, but entry \(c.seq) was checkpointed") }
            return AuditVerification(ok: true, entries: 0)
        }
        let rows = try db.auditRows()
        var v = Self.verifyChain(rows)
        if v.ok, let head {
            let last = rows.last?.entry
            if (last?.seq ?? 0) < head.seq {
                v = AuditVerification(ok: false, entries: rows.count, brokenAt: (last?.seq ?? 0) + 1,
                                      problem: "entries \((last?.seq ?? 0) + 1)–\(head.seq) are missing (deleted from the end)")
            } else if last?.seq == head.seq, last?.hash != head.hash {
                v = AuditVerification(ok: false, entries: rows.count, brokenAt: head.seq, problem: "entry \(head.seq) is not the entry that was written")
            }
        }
        if v.ok, let broken = try checkCheckpoints(checkpoints, rows: rows) { return broken }
        if v.ok, !checkpoints.isEmpty { v.checkpoints = checkpoints.count }
        return v
    }

    public static func verifyChain(_ rows: [(entry: AuditEntry, atText: String)]) -> AuditVerification {
        var prev = AuditEntry.genesis
        var expectedSeq: Int64 = 1
        for (e, at) in rows {
            if e.seq != expectedSeq {
                return AuditVerification(ok: false, entries: rows.count, brokenAt: e.seq,
                                         problem: "entry \(expectedSeq)\(e.seq > expectedSeq + 1 ? "–\(e.seq - 1)" : "") is missing (deleted)")
            }
            if e.prevHash != prev {
                return AuditVerification(ok: false, entries: rows.count, brokenAt: e.seq,
                                         problem: "entry \(e.seq) does not follow the entry before it")
            }
            let want = AuditEntry.digest(seq: e.seq, at: at, actor: e.actor, via: e.via, action: e.action, app: e.app,
                                         detail: e.detail, result: e.result, prevHash: e.prevHash)
            if want != e.hash {
                return AuditVerification(ok: false, entries: rows.count, brokenAt: e.seq, problem: "entry \(e.seq) was edited: its hash does not match")
            }
            prev = e.hash
            expectedSeq += 1
        }
        return AuditVerification(ok: true, entries: rows.count)
    }

    // MARK: Authentication

    /// The principal a bearer token stands for, or `.unauthenticated` (unknown, wrong secret,
    /// expired or revoked — one message for all, so a caller learns nothing from it).
    public static func authenticate(token: String, home: HopHome, db shared: HopDatabase? = nil, now: Date = Date()) throws -> Principal {
        let denied = HopError(.unauthenticated, "the token is not valid", hint: "create one with `hop token create USER`")
        guard token.hasPrefix("hop_"), let dot = token.firstIndex(of: ".") else { throw denied }
        let id = String(token[token.index(token.startIndex, offsetBy: 4)..<dot])
        let secret = String(token[token.index(after: dot)...])
        guard !id.isEmpty, id.count <= 64, shared != nil || FileManager.default.fileExists(atPath: home.database) else { throw denied }
        let db = try shared ?? HopDatabase(path: home.database)
        guard let t = try db.token(id: id), t.revokedAt == nil, constantTimeEqual(Array(sha256Hex(secret).utf8), Array(t.secretHash.utf8)),
              (t.expiresAt.map { $0 > now } ?? true), let u = try db.user(t.user) else { throw denied }
        // last_used_at is kept to the minute: a write (and its fsync) on every request would cost
        // more than the request.
        if t.lastUsedAt.map({ now.timeIntervalSince($0) > 60 }) ?? true { try? db.touchToken(id: id, now: now) }
        return Principal(name: u.name, role: u.role, apps: Set(u.apps))
    }

    /// Checks a user's password; a new dashboard session (its id and CSRF token) on success.
    public static func login(user: String, password: String, home: HopHome, now: Date = Date(), lifetime: TimeInterval = 12 * 3600)
        throws -> (sessionID: String, csrf: String, principal: Principal) {
        let denied = HopError(.unauthenticated, "wrong user name or password")
        guard FileManager.default.fileExists(atPath: home.database) else { throw denied }
        let db = try HopDatabase(path: home.database)
        guard (try? checkUserName(user)) != nil, let hash = try db.passwordHash(user: user), PasswordHash.verify(password, against: hash),
              let u = try db.user(user) else { throw denied }
        let sid = hexString(randomBytes(32)), csrf = hexString(randomBytes(32))
        try db.addSession(SessionRecord(idHash: sha256Hex(sid), user: user, csrf: csrf, createdAt: now, expiresAt: now.addingTimeInterval(lifetime)))
        return (sid, csrf, Principal(name: u.name, role: u.role, apps: Set(u.apps)))
    }

    /// The principal and CSRF token of a live session.
    public static func session(id: String, home: HopHome, db shared: HopDatabase? = nil, now: Date = Date()) throws -> (principal: Principal, csrf: String)? {
        guard !id.isEmpty, id.count <= 128, shared != nil || FileManager.default.fileExists(atPath: home.database) else { return nil }
        let db = try shared ?? HopDatabase(path: home.database)
        guard let s = try db.session(idHash: sha256Hex(id)), s.expiresAt > now, let u = try db.user(s.user) else { return nil }
        return (Principal(name: u.name, role: u.role, apps: Set(u.apps)), s.csrf)
    }

    public static func logout(id: String, home: HopHome) throws {
        guard FileManager.default.fileExists(atPath: home.database) else { return }
        try HopDatabase(path: home.database).removeSession(idHash: sha256Hex(id))
    }
}

/// The newest audit entry's seq and hash, kept in `$HOP_HOME/audit.head` (0600) beside the
/// database: the chain proves every entry up to the newest one, the head proves which is newest.
struct AuditHead {
    let home: HopHome
    var path: String { home.root + "/audit.head" }

    func read() -> (seq: Int64, hash: String)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard parts.count == 2, let seq = Int64(parts[0]) else { return nil }
        return (seq, parts[1])
    }

    /// Moves the head to `entry` unless a newer entry is already there (several processes append).
    func advance(to entry: AuditEntry) {
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        if let current = read(), current.seq >= entry.seq { return }
        try? writeFileAtomically(path, "\(entry.seq) \(entry.hash)\n", mode: 0o600)
    }
}
