import Foundation
import Testing
import HopBasics
import HopCore
import HopStore
import Runtime
import HopTestSupport

/// Roles, tokens, sessions and the audit chain, on a real SQLite database in a temporary HOP_HOME.
@Suite struct AccessTests {
    func withHome(_ body: (HopHome, Operations) throws -> Void) throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            try body(home, Operations(HopContext(home: home)))
        }
    }

    @Test func rolesAllowExactlyWhatTheyShould() {
        let admin = Principal(name: "a", role: .admin)
        let deployer = Principal(name: "d", role: .deployer, apps: ["blog"])
        let viewer = Principal(name: "v", role: .viewer, apps: ["blog"])
        for p in [Permission.read, .deploy, .admin] {
            #expect(admin.may(p, app: "blog") && admin.may(p, app: nil) && admin.may(p, app: "other"))
        }
        #expect(deployer.may(.read, app: "blog") && deployer.may(.deploy, app: "blog"))
        #expect(!deployer.may(.admin, app: "blog") && !deployer.may(.read, app: "other") && !deployer.may(.deploy, app: "other"))
        #expect(!deployer.may(.read, app: nil))
        #expect(viewer.may(.read, app: "blog"))
        #expect(!viewer.may(.deploy, app: "blog") && !viewer.may(.admin, app: "blog") && !viewer.may(.read, app: "other"))
        // `shop` granted is not `shop-gateway` granted.
        #expect(!Principal(name: "s", role: .deployer, apps: ["shop"]).may(.deploy, app: "shop-gateway"))
    }

    @Test func tokensAuthenticateUntilRevokedOrExpired() throws {
        try withHome { home, ops in
            _ = try ops.userAdd(name: "alice", role: .deployer, apps: ["blog"], password: nil)
            let now = Date()
            let t = try ops.tokenCreate(user: "alice", label: "ci", expiresIn: 60, now: now)
            let token = try #require(t.token)
            let p = try Operations.authenticate(token: token, home: home, now: now)
            #expect(p == Principal(name: "alice", role: .deployer, apps: ["blog"]))
            // Only a hash is stored: the secret is nowhere in the database file.
            let secret = String(token.split(separator: ".")[1])
            let dbBytes = try Data(contentsOf: URL(fileURLWithPath: home.database))
            #expect(dbBytes.range(of: Data(secret.utf8)) == nil)
            #expect(try ops.tokens().allSatisfy { $0.token == nil })
            func refused(_ token: String, at: Date = now) -> Bool {
                do { _ = try Operations.authenticate(token: token, home: home, now: at); return false } catch let e as HopError {
                    return e.code == .unauthenticated
                } catch { return false }
            }
            #expect(refused(token, at: now.addingTimeInterval(61)), "expired")
            #expect(refused(String(token.dropLast()) + (token.hasSuffix("0") ? "1" : "0")), "wrong secret")
            #expect(refused("hop_0000000000000000.abcdef"), "unknown id")
            #expect(refused("not-a-token"))
            _ = try ops.tokenRevoke(id: t.id)
            #expect(refused(token), "revoked")
            // Removing the user ends their other tokens too.
            let t2 = try #require(try ops.tokenCreate(user: "alice", label: "", expiresIn: 60).token)
            _ = try ops.userRemove(name: "alice")
            #expect(refused(t2))
        }
    }

    @Test func passwordsAreSlowHashesAndSessionsEndOnChange() throws {
        let h = try PasswordHash.make("correct horse battery", logN: 10)
        #expect(h.hasPrefix("scrypt$10$8$1$"))
        #expect(PasswordHash.verify("correct horse battery", against: h))
        #expect(!PasswordHash.verify("correct horse batterY", against: h))
        #expect(!PasswordHash.verify("x", against: "scrypt$10$8$1$zz$zz"))
        try withHome { home, ops in
            _ = try ops.userAdd(name: "bob", role: .viewer, apps: ["blog"], password: "long enough password")
            #expect(throws: HopError.self) { try Operations.login(user: "bob", password: "wrong password!", home: home) }
            let s = try Operations.login(user: "bob", password: "long enough password", home: home)
            #expect(try Operations.session(id: s.sessionID, home: home)?.principal.name == "bob")
            #expect(try Operations.session(id: s.sessionID, home: home, now: Date().addingTimeInterval(13 * 3600)) == nil)
            _ = try ops.userPasswd(name: "bob", password: "another long password")
            #expect(try Operations.session(id: s.sessionID, home: home) == nil, "a password change ends every session")
        }
    }

    @Test func badUserInputIsRefusedAndChangesNothing() throws {
        try withHome { home, ops in
            for name in ["", "Root", "root", "a b", "../x", String(repeating: "a", count: 65), "1abc"] {
                #expect(throws: HopError.self) { try ops.userAdd(name: name, role: .viewer, apps: [], password: nil) }
            }
            #expect(throws: HopError.self) { try ops.userAdd(name: "carol", role: .viewer, apps: ["Bad App"], password: nil) }
            #expect(throws: HopError.self) { try ops.userAdd(name: "carol", role: .viewer, apps: [], password: "short") }
            #expect(throws: HopError.self) { try ops.tokenCreate(user: "nobody", label: "", expiresIn: 60) }
            #expect(try ops.users().isEmpty)
            _ = try ops.userAdd(name: "carol", role: .viewer, apps: [], password: nil)
            #expect(performing: { try ops.userAdd(name: "carol", role: .admin, apps: [], password: nil) }, throws: { ($0 as? HopError)?.code == .conflict })
            #expect(try ops.users().map(\.role) == ["viewer"])
        }
    }

    @Test func nonAdminsCannotManageAccess() throws {
        try withHome { home, ops in
            _ = try ops.userAdd(name: "dave", role: .deployer, apps: ["blog"], password: nil)
            let dave = Operations(HopContext(home: home, principal: Principal(name: "dave", role: .deployer, apps: ["blog"]), via: "api"))
            let forbidden: (Error) -> Bool = { ($0 as? HopError)?.code == .forbidden }
            #expect(performing: { try dave.userAdd(name: "eve", role: .admin, apps: [], password: nil) }, throws: forbidden)
            #expect(performing: { try dave.tokenCreate(user: "dave", label: "", expiresIn: 60) }, throws: forbidden)
            #expect(performing: { try dave.users() }, throws: forbidden)
            #expect(performing: { try dave.auditVerify() }, throws: forbidden)
            _ = try ops.userAdd(name: "eve", role: .viewer, apps: [], password: nil)
            #expect(performing: { try dave.userPasswd(name: "eve", password: "0123456789ab") }, throws: forbidden)
            #expect(performing: { try dave.gc() }, throws: forbidden)
            #expect(performing: { try dave.destroy(app: "blog", purge: true) }, throws: forbidden)
            #expect(performing: { try dave.deploy(.init(path: "/etc", app: "blog")) }, throws: forbidden)
            #expect(performing: { try dave.rollback(app: "other") }, throws: forbidden)
            // Users may set their own password.
            _ = try dave.userPasswd(name: "dave", password: "my own password")
            // Denials are audited.
            let denied = try ops.audit().filter { $0.result == "denied" }
            #expect(denied.count >= 7 && denied.allSatisfy { $0.actor == "dave" && $0.via == "api" })
        }
    }

    @Test func auditChainDetectsEditsAndDeletions() throws {
        try withHome { home, ops in
            for i in 0..<6 { _ = try ops.userAdd(name: "user\(i)", role: .viewer, apps: [], password: nil) }
            #expect(try ops.auditVerify() == AuditVerification(ok: true, entries: 6))
            func sql(_ statement: String) throws {
                let r = try SystemRunner().run(Command("sqlite3", [home.database, statement]))
                #expect(r.succeeded, "\(r.stderrText)")
            }
            // An edited entry is named.
            try sql("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
            var v = try ops.auditVerify()
            #expect(!v.ok && v.brokenAt == 3, "\(v)")
            try sql("UPDATE audit SET actor = 'root' WHERE seq = 3")
            #expect(try ops.auditVerify().ok)
            // A deleted entry in the middle is named.
            try sql("DELETE FROM audit WHERE seq = 4")
            v = try ops.auditVerify()
            #expect(!v.ok && v.brokenAt == 5 && (v.problem ?? "").contains("entry 4"), "\(v)")
        }
        try withHome { home, ops in
            for i in 0..<3 { _ = try ops.userAdd(name: "user\(i)", role: .viewer, apps: [], password: nil) }
            // Deleting the newest entry leaves a valid chain; the head outside the database tells.
            let r = try SystemRunner().run(Command("sqlite3", [home.database, "DELETE FROM audit WHERE seq = 3"]))
            #expect(r.succeeded)
            let v = try ops.auditVerify()
            #expect(!v.ok && v.brokenAt == 3, "\(v)")
        }
    }

    @Test("a chain root recomputed after deleting an entry (audit.head rewritten too) verifies on its own, but not against a signed checkpoint: the one hop kept, or the line the operator kept after that file is gone")
    func recomputedChainFailsItsCheckpoint() throws {
        try withHome { home, ops in
            for i in 0..<5 { _ = try ops.userAdd(name: "user\(i)", role: .viewer, apps: [], password: nil) }
            let checkpoint = try ops.auditCheckpoint()
            #expect(checkpoint.seq == 5 && checkpoint.line.hasPrefix("hop-audit-checkpoint v1 5 "))
            #expect(try AuditCheckpoint.parse(checkpoint.line) == checkpoint)
            for i in 5..<7 { _ = try ops.userAdd(name: "user\(i)", role: .viewer, apps: [], password: nil) }
            let before = try ops.auditVerify()
            #expect(before.ok && before.checkpoints == 1, "\(before)")
            // Root deletes entry 2 ("user1 was added") and rewrites every later entry and the head.
            let rows = try HopDatabase(path: home.database).auditRows()
            var statements = ["DELETE FROM audit WHERE seq = 2"]
            var prev = rows[0].entry.hash
            for (n, row) in rows.dropFirst(2).enumerated() {
                let e = row.entry, seq = Int64(n + 2)
                let hash = AuditEntry.digest(seq: seq, at: row.atText, actor: e.actor, via: e.via, action: e.action, app: e.app,
                                             detail: e.detail, result: e.result, prevHash: prev)
                statements.append("UPDATE audit SET seq = \(seq), prev_hash = '\(prev)', hash = '\(hash)' WHERE seq = \(e.seq)")
                prev = hash
            }
            let r = try SystemRunner().run(Command("sqlite3", [home.database, statements.joined(separator: "; ")]))
            #expect(r.succeeded, "\(r.stderrText)")
            try "\(rows.count - 1) \(prev)\n".write(toFile: home.root + "/audit.head", atomically: true, encoding: .utf8)
            let chainOnly = Operations.verifyChain(try HopDatabase(path: home.database).auditRows())
            #expect(chainOnly.ok, "the rewrite is a valid chain: \(chainOnly)")
            let v = try ops.auditVerify()
            #expect(!v.ok && v.brokenAt == 5 && (v.problem ?? "").contains("the log was rewritten"), "\(v)")
            // Without hop's file of checkpoints, the operator's copy still catches it.
            try FileManager.default.removeItem(atPath: home.root + "/audit.checkpoints")
            #expect(try ops.auditVerify().ok, "no checkpoint left on the machine")
            let kept = try ops.auditVerify(checkpoints: [checkpoint.line])
            #expect(!kept.ok && kept.brokenAt == 5, "\(kept)")
            // A forged checkpoint (another key) is refused, and so is a broken chain when signing.
            var forged = checkpoint
            forged.signature = Data(repeating: 1, count: 64).base64EncodedString()
            #expect(try !ops.auditVerify(checkpoints: [forged.line]).ok)
            #expect(throws: HopError.self) { try ops.auditVerify(checkpoints: ["not a checkpoint"]) }
        }
    }

    @Test func reservedAndCollidingNames() throws {
        for name in ["hop.db", "gcroots", "apps", "tmp", "host", "nginx", "tls", "hop"] {
            #expect(performing: { try Operations.checkedApp(name) }, throws: { ($0 as? HopError)?.code == .invalidInput })
        }
        #expect(try Operations.checkedApp("shop") == "shop")
        // Unit names name exactly one app and generation.
        #expect(UnitNames.generation(ofUnit: "hop-shop-G3-web@1.service", app: "shop") == 3)
        #expect(UnitNames.generation(ofUnit: "hop-shop-gateway-G3-web@1.service", app: "shop") == nil)
        #expect(UnitNames.generation(ofUnit: "hop-shop-g1-G2-web@1.service", app: "shop") == nil)
        #expect(UnitNames.generation(ofUnit: "hop-shop-g1-G2-web@1.service", app: "shop-g1") == 2)
        #expect(!"hop-shop-gateway-G1-web@1.service".hasPrefix(UnitNames.prefix(app: "shop", generation: 1)))
        #expect(!"hop-shop-G12-web@1.service".hasPrefix(UnitNames.prefix(app: "shop", generation: 1)))
        #expect(UnitNames.journalPattern(app: "shop") == "hop-shop-G*")
        // App state is outside HOP_HOME's default location.
        #expect(!UnitNames.stateRoot.hasPrefix("/var/lib/hop/") && UnitNames.stateRoot != "/var/lib/hop")
    }

    @Test func storeRowsThatDoNotDecodeAreErrors() throws {
        try withHome { home, ops in
            _ = try ops.userAdd(name: "frank", role: .viewer, apps: [], password: nil)
            let r = try SystemRunner().run(Command("sqlite3", [home.database, "PRAGMA ignore_check_constraints = 1; UPDATE users SET role = 'god'"]))
            #expect(r.succeeded, "\(r.stderrText)")
            #expect(performing: { try ops.users() }, throws: { ($0 as? HopError)?.code == .internalError })
        }
    }
}
