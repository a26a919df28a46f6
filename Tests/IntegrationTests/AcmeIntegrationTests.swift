import Foundation
import Testing
import HopBasics
import NixBuild

/// pebble (Debian's ACME test CA) and pebble-challtestsrv (its DNS, answering 127.0.0.1 for every
/// name) on loopback, pebble validating HTTP-01 against hop's nginx port. Under the shared
/// HOP_HOME, because the renewal timer's service runs inside the private host, which sees
/// HOP_HOME but not the host's /tmp.
final class PebbleRig {
    let dir: String
    let acmePort: Int, managementPort: Int, dnsPort: Int, dnsManagement: Int
    var pebble: LoopbackServer?
    var dns: LoopbackServer?
    var ca: String { dir + "/ca.pem" }

    init(httpPort: Int) throws {
        dir = sharedHome.root + "/pebble-\(UUID().uuidString.prefix(6).lowercased())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let run = SystemRunner()
        // pebble's own HTTPS: a throwaway CA and a leaf for 127.0.0.1 (Debian ships no test certificates).
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: dir + "/leaf.ext", atomically: true, encoding: .utf8)
        for args in [["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=hop test ACME CA",
                      "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem"],
                     ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                      "-keyout", dir + "/leaf.key", "-out", dir + "/leaf.csr"],
                     ["x509", "-req", "-in", dir + "/leaf.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "2",
                      "-extfile", dir + "/leaf.ext", "-out", dir + "/leaf.pem"]] {
            let r = try run.run(Command("openssl", args))
            guard r.succeeded else { throw HopError(.environment, "openssl failed: \(r.stderrText)") }
        }
        acmePort = freePort(from: 14100)
        managementPort = freePort(from: 15100)
        dnsPort = freePort(from: 18100)
        dnsManagement = freePort(from: 18700)
        let config: [String: Any] = ["pebble": [
            "listenAddress": "127.0.0.1:\(acmePort)", "managementListenAddress": "127.0.0.1:\(managementPort)",
            "certificate": dir + "/leaf.pem", "privateKey": dir + "/leaf.key", "httpPort": httpPort, "tlsPort": freePort(from: 15700),
            "ocspResponderURL": "", "externalAccountBindingRequired": false, "certificateValidityPeriod": 7_776_000,
        ]]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/pebble.json"))
        dns = try LoopbackServer("/usr/bin/pebble-challtestsrv", ["-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "", "-tlsalpn01", "",
                                                                 "-management", "127.0.0.1:\(dnsManagement)",
                                                                 "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
                                 port: dnsManagement, log: dir + "/dns.log")
        try startPebble()
    }

    func startPebble() throws {
        pebble = try LoopbackServer("/usr/bin/env", ["PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0",
                                                     "/usr/bin/pebble", "-config", dir + "/pebble.json", "-dnsserver", "127.0.0.1:\(dnsPort)"],
                                    port: acmePort, log: dir + "/pebble.log")
    }

    /// The root pebble issues under (made anew each time pebble starts).
    func root() throws -> String {
        let r = try SystemRunner().run(Command("curl", ["-sf", "--cacert", ca, "https://127.0.0.1:\(managementPort)/roots/0"]))
        guard r.succeeded else { throw HopError(.environment, "pebble's root: \(r.stderrText)") }
        try r.stdoutText.write(toFile: dir + "/root.pem", atomically: true, encoding: .utf8)
        return dir + "/root.pem"
    }

    func stop() { pebble?.stop(); dns?.stop() }
}

func sha256(file: String) -> String { (try? sha256Hex(file: file)) ?? "missing" }

@Suite("Automatic HTTPS from an ACME CA (pebble on loopback)", .tags(.integration), .serialized)
struct AcmeIntegrationTests {
    @Test("a certificate is issued for the app's domain and served by nginx; HTTP redirects; a forced renewal is served with no failed request; the timer's service runs; a failed renewal keeps the old certificate, shows in hop apps and the audit log")
    func acmeRoundTrip() throws {
        try #require(deployHost.ready)
        var tlsPort = Int.random(in: 19000...19090)
        while !portFree(tlsPort) { tlsPort += 1 }
        let up = try hopEnv(["host", "up", "--http-port", "\(deployHost.port)", "--https-port", "\(tlsPort)"])
        try #require(up.status == 0, "\(up.stderr)")
        let rig = try PebbleRig(httpPort: deployHost.port)
        defer { rig.stop(); try? FileManager.default.removeItem(atPath: rig.dir) }
        try #require(rig.pebble?.up == true, "pebble: \((try? String(contentsOfFile: rig.dir + "/pebble.log", encoding: .utf8)) ?? "")")

        let challenge = freePort(from: 18400)
        let acme = try hopEnv(["tls", "acme", "--directory", "https://127.0.0.1:\(rig.acmePort)/dir", "--email", "ops@example.org",
                               "--ca-file", rig.ca, "--challenge-port", "\(challenge)"])
        try #require(acme.status == 0, "\(acme.stderr)")
        // The shared home's other TLS tests expect no ACME: it goes off again at the end.
        defer {
            let off = try? hopEnv(["tls", "acme", "--off"])
            #expect(off?.status == 0, "\(off?.stderr ?? "")")
        }
        let app = "it-acme"
        let domain = "shop-\(UUID().uuidString.prefix(6).lowercased()).example.test"
        let src = try flaskVariant(rig.dir, greeting: "Served over HTTPS", toml: "[domains]\nlist = [\"\(domain)\"]\n")
        let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
        try #require(d.status == 0, "\(d.stderr)")
        defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }

        // Before: the self-signed fallback, and no redirect.
        let plainBefore = try SystemRunner().run(Command("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(domain)",
                                                                  "http://127.0.0.1:\(deployHost.port)/"]))
        #expect(plainBefore.stdoutText == "200")

        let t0 = Date()
        let issued = try hopEnv(["tls", "issue", app, "--json"])
        try #require(issued.status == 0, "\(issued.stderr)\n\((try? String(contentsOfFile: rig.dir + "/pebble.log", encoding: .utf8))?.suffix(1500) ?? "")")
        print("ACME issuance through pebble: \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
        let status = try #require(parse(issued.stdout) as? [String: Any])
        #expect(status["certificate"] as? String == "acme" && (status["domains"] as? [String]) == [domain], "\(issued.stdout)")
        let root = try rig.root()
        func httpsGet() throws -> ProcessResult {
            try SystemRunner().run(Command("curl", ["-s", "--max-time", "5", "--cacert", root, "--resolve", "\(domain):\(tlsPort):127.0.0.1",
                                                    "https://\(domain):\(tlsPort)/"]))
        }
        let served = try httpsGet()
        #expect(served.succeeded && served.stdoutText.contains("Served over HTTPS"), "curl \(served.status): \(served.stderrText)")
        let key = sharedHome.root + "/tls/\(app)/live/key.pem"
        #expect((try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int) == 0o600)
        let redirect = try SystemRunner().run(Command("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", "Host: \(domain)",
                                                               "http://127.0.0.1:\(deployHost.port)/some/path?q=1"]))
        #expect(redirect.stdoutText == "301 https://\(domain):\(tlsPort)/some/path?q=1", "\(redirect.stdoutText)")
        // hop info: the HTTPS URL answers (checked through nginx's TLS port), the certificate is the CA's, with its expiry.
        let info = try #require(parse(try hopEnv(["info", app, "--json"]).stdout) as? [String: Any])
        let url = (info["urls"] as? [[String: Any]])?.first ?? [:]
        #expect(url["url"] as? String == "https://\(domain):\(tlsPort)/" && url["answering"] as? Bool == true && url["status"] as? Int == 200, "\(info)")
        let cert = info["certificate"] as? [String: Any] ?? [:]
        #expect(cert["kind"] as? String == "acme" && (cert["issuer"] as? String)?.lowercased().contains("pebble") == true
                && (cert["notAfter"] as? String)?.isEmpty == false, "\(cert)")

        // A forced renewal under HTTPS load: a new certificate, no failed request.
        let certFile = sharedHome.root + "/tls/\(app)/live/cert.pem"
        let before = sha256(file: certFile)
        let stop = rig.dir + "/stop-load", loadOut = rig.dir + "/load.json"
        let load = try SystemRunner().run(Command("sh", ["-c", "\"$0\" \"$1\" \"$2\" \"$3\" \"$4\" \"$5\" >\"$6\" 2>&1 & echo $!", "/usr/bin/python3",
                                                         repoRoot + "/scripts/test/load.py", String(tlsPort), domain, stop, root, loadOut]))
        let loadPID = pid_t(load.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        usleep(500_000)
        let renewed = try hopEnv(["tls", "renew", app, "--force"])
        usleep(700_000)
        _ = FileManager.default.createFile(atPath: stop, contents: Data())
        var waited = 0
        while loadPID > 0, kill(loadPID, 0) == 0, waited < 200 { usleep(50_000); waited += 1 }
        #expect(renewed.status == 0, "\(renewed.stderr)")
        #expect(sha256(file: certFile) != before, "the forced renewal installed no new certificate")
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: loadOut))) as? [String: Any])
        print("HTTPS during a forced renewal: \(stats["requests"] ?? "?") requests, \(stats["failed"] ?? "?") failed, "
              + "\(stats["retriedAfterKeepAliveClose"] ?? "?") retried after nginx's reload closed an idle keep-alive connection")
        #expect((stats["requests"] as? Int ?? 0) > 20 && stats["failed"] as? Int == 0, "\(stats)")

        // The renewal timer's service (what the timer starts daily) runs: nothing is due, nothing changes.
        let afterForced = sha256(file: certFile)
        #expect(try hostSystemctl(["is-active", "hop-TLS-renew.timer"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "active")
        let ran = try hostSystemctl(["start", "hop-TLS-renew.service"])
        #expect(ran.succeeded, "\(ran.stderrText) \((try? hostSystemctl(["status", "hop-TLS-renew.service"]))?.stdoutText ?? "")")
        #expect(sha256(file: certFile) == afterForced, "a certificate with 89 days left was renewed")

        // The CA is gone: a forced renewal fails, the certificate in place keeps serving, and the
        // failure is visible in hop apps, hop tls status and the audit log.
        rig.pebble?.stop()
        let failed = try hopEnv(["tls", "renew", app, "--force"])
        #expect(failed.status == 3 && failed.stderr.contains("keeps serving"), "\(failed.status) \(failed.stderr)")
        #expect(sha256(file: certFile) == afterForced)
        let stillServed = try httpsGet()
        #expect(stillServed.succeeded && stillServed.stdoutText.contains("Served over HTTPS"))
        #expect(try hopEnv(["apps"]).stdout.contains("certificate renewal failed"))
        let audit = try hopEnv(["audit", "--json"]).stdout
        #expect(audit.contains("tls renew") && audit.contains("error: environment"), "\(audit.suffix(800))")
    }
}
