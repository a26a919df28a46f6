import Foundation
import Testing
import HopBasics
import HopCore
import HopStore
import HopTestSupport
import Runtime

// The pure parts of git push, promotion and ACME: parsing what arrives from outside, and the files
// hop generates (authorized_keys, the sudo wrapper and rule, the renewal timer, the HTTPS redirect).

/// An ed25519 public key as ssh-keygen writes it (a fixed test key).
let testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvAw0MdmeKCi4mDzzhK2cVlb7xXH7hbGJmvvLh/JLSR dev@laptop"

@Suite struct SSHKeyTests {
    @Test func parsesAKeyAndFingerprintsItAsSSHKeygenDoes() throws {
        let k = try SSHPublicKey.parse(testKey + "\n")
        #expect(k.type == "ssh-ed25519" && k.comment == "dev@laptop")
        // ssh-keygen -lf of the same key.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-key-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try testKey.write(toFile: dir + "/k.pub", atomically: true, encoding: .utf8)
        let r = try SystemRunner().run(Command("ssh-keygen", ["-lf", dir + "/k.pub"]))
        #expect(r.stdoutText.split(separator: " ").dropFirst().first.map(String.init) == k.fingerprint, "\(r.stdoutText)")
    }

    @Test(arguments: [
        ("", "is not an SSH public key"),
        ("ssh-ed25519", "is not an SSH public key"),
        ("command=\"sh\" ssh-ed25519 AAAA", "not a key type hop accepts"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not a key type hop accepts"),
        ("ssh-ed25519 not-base64!!", "does not decode"),
        ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBvAw0MdmeKCi4mDzzhK2cVlb7xXH7hbGJmvvLh/JLSR", "not a ssh-rsa key"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvAw0MdmeKCi4mDzzhK2cVlb7xXH7hbGJmvvLh/JLSR a\"quote", "printable ASCII"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvAw0MdmeKCi4mDzzhK2cVlb7xXH7hbGJmvvLh/JLSR x\nssh-ed25519 AAAA", "one line"),
    ])
    func refusesWhatIsNotOneKey(_ text: String, _ says: String) {
        do {
            _ = try SSHPublicKey.parse(text)
            Issue.record("accepted \(text)")
        } catch let e as HopError {
            #expect(e.code == .invalidInput && e.message.contains(says), "\(e.message)")
        } catch { Issue.record("\(error)") }
    }
}

@Suite struct GitCommandTests {
    @Test(arguments: [
        ("git-receive-pack 'blog.git'", GitServiceCommand.Service.receivePack, "blog"),
        ("git-receive-pack '/blog.git'", .receivePack, "blog"),
        ("git-receive-pack 'blog'", .receivePack, "blog"),
        ("git-upload-pack '/blog/'", .uploadPack, "blog"),
        ("git-upload-pack blog.git", .uploadPack, "blog"),
    ])
    func acceptsGitOnAnAppRepository(_ text: String, _ service: GitServiceCommand.Service, _ app: String) throws {
        #expect(try GitServiceCommand.parse(text) == GitServiceCommand(service: service, app: app))
    }

    @Test(arguments: ["", "  ", "sh", "id", "git-receive-pack '../../etc'", "git-receive-pack '/etc/passwd'", "git-upload-pack 'a/b'",
                      "git-receive-pack 'blog'; rm -rf /", "git receive-pack 'blog'", "scp -t /tmp", "git-upload-archive 'blog'",
                      "git-receive-pack 'Blog'", "git-receive-pack '~/blog'", "git-receive-pack 'hop'"])
    func refusesEverythingElse(_ text: String) {
        do {
            let c = try GitServiceCommand.parse(text)
            Issue.record("accepted \(text) as \(c)")
        } catch let e as HopError {
            #expect(e.code == .forbidden, "\(text): \(e)")
        } catch { Issue.record("\(error)") }
    }

    @Test func readsPreReceiveInput() throws {
        let a = String(repeating: "a", count: 40), b = String(repeating: "b", count: 40), z = String(repeating: "0", count: 40)
        let u = try RefUpdate.parse("\(a) \(b) refs/heads/main\n\(b) \(z) refs/heads/old\n")
        #expect(u.count == 2 && u[0].ref == "refs/heads/main" && !u[0].isDelete && u[1].isDelete)
        #expect(throws: HopError.self) { try RefUpdate.parse("\(a) refs/heads/main") }
        #expect(throws: HopError.self) { try RefUpdate.parse("\(a) zz refs/heads/main") }
    }

    @Test func generatedFilesSnapshots() throws {
        let keys = [SSHKeyRecord(id: 3, user: "alice", type: "ssh-ed25519", blob: String(testKey.split(separator: " ")[1]), comment: "dev@laptop",
                                 fingerprint: "SHA256:x", addedAt: Date(timeIntervalSince1970: 0))]
        var setup = GitSetup(user: "hop-git", home: "/var/lib/hop-git", hop: "/usr/local/bin/hop", path: "/usr/local/bin:/usr/bin:/bin")
        setup.settings = ["HOP_FIND_LINKS": "/srv/wheels"]
        try assertSnapshot(GitSetup.authorizedKeys(keys, wrapper: setup.wrapper), named: "git-authorized_keys")
        try assertSnapshot(setup.wrapperScript(hopHome: "/var/lib/hop"), named: "git-wrapper.sh")
        try assertSnapshot(setup.sudoers(), named: "git-sudoers")
        #expect(setup.sudoersFile == "/etc/sudoers.d/hop-git-hop-git")
        #expect(GitSetup(user: "a.b", home: "/h", hop: "/hop", path: "/bin").sudoersFile == "/etc/sudoers.d/hop-git-a_b")
    }

    @Test func theSudoersRulePassesVisudo() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hop-sudoers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try GitSetup(user: "hop-git", home: "/var/lib/hop-git", hop: "/hop", path: "/bin").sudoers().write(toFile: file, atomically: true, encoding: .utf8)
        let r = try SystemRunner().run(Command("visudo", ["-c", "-q", "-f", file]))
        #expect(r.succeeded, "\(r.stderrText)")
    }
}

@Suite struct AcmeFilesTests {
    @Test func renewalTimerAndRedirectSnapshots() throws {
        try assertSnapshot(try TLSTimerUnits.renderService(hopBinary: "/usr/local/bin/hop", home: "/var/lib/hop"), named: "tls-renew.service")
        try assertSnapshot(TLSTimerUnits.timer, named: "tls-renew.timer")
        try assertSnapshot(NginxSite.httpsRedirect(httpsPort: 443), named: "https-redirect-443.conf")
        #expect(NginxSite.httpsRedirect(httpsPort: 8443).contains("return 301 https://$host:8443$request_uri;"))
    }
}
