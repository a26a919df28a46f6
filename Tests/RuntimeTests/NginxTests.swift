import Foundation
import Testing
import HopTestSupport
import AppSpec
import HopBasics
import Runtime
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers (distinct names so they never clash with other RuntimeTests support files)

/// Writes a self-contained main config into `dir` (everything nginx writes stays under `dir`;
/// nothing under /etc or /var is read) that includes the preamble and `site`. Returns its path.
private func writeNginxMainConfig(in dir: String, site: String, daemon: Bool = false) throws -> String {
    try NginxSite.httpPreamble().write(toFile: "\(dir)/hop-preamble.conf", atomically: true, encoding: .utf8)
    try site.write(toFile: "\(dir)/site.conf", atomically: true, encoding: .utf8)
    let main = """
    daemon \(daemon ? "on" : "off");
    worker_processes 1;
    pid \(dir)/nginx.pid;
    error_log \(dir)/error.log;
    events { worker_connections 64; }
    http {
        types { text/html html; text/plain txt; }
        default_type application/octet-stream;
        access_log \(dir)/access.log;
        client_body_temp_path \(dir)/client_body;
        proxy_temp_path \(dir)/proxy;
        fastcgi_temp_path \(dir)/fastcgi;
        uwsgi_temp_path \(dir)/uwsgi;
        scgi_temp_path \(dir)/scgi;
        include \(dir)/hop-preamble.conf;
        include \(dir)/site.conf;
    }

    """
    let path = "\(dir)/nginx.conf"
    try main.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private func nginxArguments(dir: String, config: String) -> [String] {
    ["-c", config, "-p", "\(dir)/", "-e", "\(dir)/error.log"]
}

/// Runs the real `nginx -t` on `site`; records the output as an issue when it fails.
private func expectNginxAccepts(_ site: String, in dir: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
    let config = try writeNginxMainConfig(in: dir, site: site)
    let result = try SystemRunner().run(Command("nginx", ["-t", "-q"] + nginxArguments(dir: dir, config: config)))
    #expect(result.succeeded, "nginx -t failed:\n\(result.stderrText)\n--- site ---\n\(site)", sourceLocation: sourceLocation)
}

private func makeSelfSignedCertificate(in dir: String) throws -> NginxSite.TLS {
    let result = try SystemRunner().run(Command("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=test", "-keyout", "\(dir)/k", "-out", "\(dir)/c",
    ]))
    guard result.succeeded else { throw HopError(.environment, "openssl failed: \(result.stderrTail())") }
    return NginxSite.TLS(certificate: "\(dir)/c", key: "\(dir)/k", port: 8443)
}

private let storeDir = "/nix/store/3x7dwzq014bblazs7kq20p9hyzz0qh8g-myapp-1.0"

private func spec(app: String = "myapp", upstream: Upstream = .socket(path: "/run/hop/apps/myapp/web.sock"),
                  domains: [String] = [], staticPaths: [String: String] = [:], clientMaxBodySize: String = "10m",
                  listenPort: Int = 18080, proxyLinks: [String]? = nil) -> GenerationSpec {
    var s = GenerationSpec(app: app, generation: 3, outPath: storeDir, processes: [], environmentFile: "/var/lib/hop/apps/\(app)/env",
                           upstream: upstream, domains: domains, staticPaths: staticPaths, clientMaxBodySize: clientMaxBodySize,
                           listenPort: listenPort)
    s.proxyLinks = proxyLinks ?? ["/run/hop/\(app)/web-1.sock"]
    return s
}

private let socketSpec = spec(domains: ["app.example.com", "*.example.org"],
                              staticPaths: ["/static": "\(storeDir)/share/static", "/media/": "\(storeDir)/share/media/"])
private let tcpSpec = spec(app: "my-app.v2", upstream: .tcp(port: 5000), clientMaxBodySize: "512k")

private func expectInvalidInput(_ spec: GenerationSpec, tls: NginxSite.TLS? = nil, mentioning needle: String,
                                sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    do {
        let text = try NginxSite.render(spec, tls: tls)
        Issue.record("rendered although it should have been refused:\n\(text)", sourceLocation: sourceLocation)
    } catch let error as HopError {
        #expect(error.code == .invalidInput, sourceLocation: sourceLocation)
        #expect(error.message.contains(needle), "message \(error.message) does not mention \(needle)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - Rendering

@Suite("nginx site rendering", .tags(.nginxSmall))
struct NginxSiteRenderingTests {
    @Test("hop's nginx unit, hop-server's front and its helper: snapshots and systemd-analyze exposure (front <= 2.0; nginx hardened as far as a root master allows)")
    func frontUnitsExposure() throws {
        let nginx = NginxFront.renderUnit(mainConfig: "/var/lib/hop/nginx/nginx.conf")
        try assertSnapshot(nginx, named: "hop-nginx.service")
        let nginxScore = try UnitValidation.exposure(unitText: nginx, name: "hop-nginx.service")
        let server = ControlPlane.renderUnit(hopBinary: "/nix/store/00000000000000000000000000000000-hop")
        try assertSnapshot(server, named: "hop-server.service")
        let serverScore = try UnitValidation.exposure(unitText: server, name: "hop-server.service")
        let helper = ControlPlane.renderHelperUnit(hopBinary: "/nix/store/00000000000000000000000000000000-hop", home: "/var/lib/hop")
        try assertSnapshot(helper, named: "hop-helper.service")
        let helperScore = try UnitValidation.exposure(unitText: helper, name: "hop-helper.service")
        print("hop-nginx.service exposure: \(nginxScore); hop-server.service (front) exposure: \(serverScore); hop-helper.service: \(helperScore)")
        #expect(nginxScore <= 3.5, "hop-nginx.service scores \(nginxScore)")
        #expect(serverScore <= 2.0, "hop-server.service (network-facing) scores \(serverScore)")
        #expect(server.contains("DynamicUser=yes") && server.contains("CapabilityBoundingSet=\n") && server.contains("PrivateNetwork=yes"))
        #expect(!server.contains("HOP_HOME"), "the front gets nothing of hop's state")
        #expect(!helper.contains("ProtectHostname"), "every Nix build the helper starts sets the sandbox's host name")
    }

    @Test func socketUpstreamWithDomainsAndStaticPaths() throws {
        try assertSnapshot(try NginxSite.render(socketSpec), named: "socket-domains-static.nginx.conf")
    }

    @Test func tcpUpstreamCatchAll() throws {
        try assertSnapshot(try NginxSite.render(tcpSpec), named: "tcp-catch-all.nginx.conf")
    }

    @Test func tlsVariant() throws {
        let tls = NginxSite.TLS(certificate: "/var/lib/hop/tls/app.example.com/cert.pem",
                                key: "/var/lib/hop/tls/app.example.com/key.pem")
        try assertSnapshot(try NginxSite.render(spec(domains: ["app.example.com"]), tls: tls), named: "tls.nginx.conf")
    }

    @Test("a generation's site follows the front's ports: plain listen lines to the HTTP port, ssl ones to the HTTPS port, nothing else")
    func sitePortsFollowTheFront() throws {
        let tls = NginxSite.TLS(certificate: "/var/lib/hop/tls/app.example.com/cert.pem", key: "/var/lib/hop/tls/app.example.com/key.pem")
        let site = try NginxSite.render(spec(domains: ["app.example.com"]), tls: tls)
        let moved = NginxSite.withPorts(site, http: 8081, https: 8443)
        let listens = moved.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("listen ") }
        #expect(!listens.isEmpty && listens.allSatisfy { $0.contains("8081") || $0.contains("8443 ssl") }, "\(listens)")
        #expect(listens.contains { $0.hasPrefix("listen [::]:8081") } && listens.contains { $0.hasPrefix("listen [::]:8443 ssl") })
        // Everything but the listen lines is untouched, and the same ports give the same text.
        #expect(moved.split(separator: "\n").filter { !$0.contains("listen ") } == site.split(separator: "\n").filter { !$0.contains("listen ") })
        #expect(NginxSite.withPorts(moved, http: 8081, https: 8443) == moved)
        #expect(NginxSite.withPorts(site, http: 8081, https: nil).contains("ssl"), "no HTTPS port: ssl lines stay as they were")
    }

    @Test("a stopped app's site: the same site with a server-level 503 page (ACME challenges still pass), snapshot")
    func stoppedSite() throws {
        let tls = NginxSite.TLS(certificate: "/var/lib/hop/tls/app.example.com/cert.pem", key: "/var/lib/hop/tls/app.example.com/key.pem")
        let site = try NginxSite.render(spec(domains: ["app.example.com"]), tls: tls)
        let stopped = NginxSite.stopped(site, app: "blog")
        try assertSnapshot(stopped, named: "stopped.nginx.conf")
        // Only lines were added, once, right after server_name.
        let added = stopped.split(separator: "\n", omittingEmptySubsequences: false).count - site.split(separator: "\n", omittingEmptySubsequences: false).count
        #expect(added == 6)
        #expect(stopped.components(separatedBy: "return 503").count == 2)
        #expect(stopped.contains("<title>blog is stopped</title>") && stopped.contains("hop start blog"))
    }

    @Test("a failed start's journal, short: the app's first error with its traceback, then the last lines")
    func journalDigest() {
        let lines = ["[INFO] Starting gunicorn 23.0.0", "[ERROR] Exception in worker process", "Traceback (most recent call last):",
                     "  File \"/app/app.py\", line 3, in <module>", "    import no_such_module", "ModuleNotFoundError: No module named 'no_such_module'",
                     "[INFO] Worker exiting"] + (1...20).map { "gunicorn frame \($0)" } + ["gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
                     "unit: Main process exited, code=exited, status=1/FAILURE", "unit: Failed with result 'exit-code'."]
        let s = JournalDigest.summary(lines)
        #expect(s.hasPrefix("Traceback (most recent call last):\n  File \"/app/app.py\""), "\(s)")
        #expect(s.contains("ModuleNotFoundError: No module named 'no_such_module'\n…\n"), "\(s)")
        #expect(s.hasSuffix("unit: Failed with result 'exit-code'."), "\(s)")
        #expect(s.split(separator: "\n").count <= 12 + 1 + 1 + 6)
        #expect(JournalDigest.summary(["a", "b"]) == "a\nb")
        #expect(JournalDigest.summary([]) == "")
    }

    @Test("a worker crash loop's journal, short: each distinct line once with its count, so the app's own words are never pushed out by the restarts")
    func journalDigestCrashLoop() {
        var lines = ["[2026-12-07 23:28:11 +0000] [429] [INFO] Starting gunicorn 23.0.0"]
        for pid in 1000..<1100 {
            lines += ["[2026-12-07 23:28:\(pid % 60) +0000] [\(pid)] [INFO] Booting worker with pid: \(pid)", "broken on purpose",
                      "[2026-12-07 23:28:\(pid % 60) +0000] [429] [ERROR] Worker (pid:\(pid)) exited with code 1",
                      "[2026-12-07 23:28:\(pid % 60) +0000] [429] [ERROR] Worker (pid:\(pid)) exited with code 1."]
        }
        // Whatever cycle the window ends in, the app's line is there.
        for cut in 0..<4 {
            let s = JournalDigest.summary(Array(lines.dropLast(cut)))
            #expect(s.contains("broken on purpose (×100)") || s.contains("broken on purpose (×99)"), "\(s)")
            #expect(s.hasPrefix("…\n"), "older lines are marked as left out: \(s)")
            #expect(s.split(separator: "\n").count <= 9, "\(s)")
        }
        #expect(JournalDigest.shape("[2026-12-07] pid:1078 code 1") == "[#-#-#] pid:# code #")
    }

    @Test func preamble() throws {
        try assertSnapshot(NginxSite.httpPreamble(), named: "preamble.nginx.conf")
    }

    @Test func renderingIsDeterministic() throws {
        let a = try NginxSite.render(socketSpec)
        for _ in 0..<5 { #expect(try NginxSite.render(socketSpec) == a) }
    }

    @Test(arguments: ["app.example.com;", "app{.example.com", "app.example.com\nevil", "../etc", "аpp.example.com",
                      "app.example.com }", "$host", "app .example.com", "app\u{0}.example.com", "\"a\".example.com"])
    func hostileDomainsAreRefused(_ domain: String) {
        expectInvalidInput(spec(domains: ["ok.example.com", domain]), mentioning: "the nginx site of app `myapp`")
    }

    @Test func duplicateDomainIsRefused() {
        expectInvalidInput(spec(domains: ["a.example.com", "a.example.com"]), mentioning: "listed twice")
    }

    @Test(arguments: ["/static files", "/static;", "static", "/st{a}tic", "/static$", "/stаtic", "/", "/../etc", "/a//b",
                      "/a\nb", "/a\"b", ""])
    func hostileStaticPrefixesAreRefused(_ prefix: String) {
        expectInvalidInput(spec(staticPaths: [prefix: "\(storeDir)/share"]), mentioning: "static path prefix")
    }

    @Test(arguments: ["\(storeDir)/share static", "\(storeDir)/share;", "\(storeDir)/../../etc", "/etc/nginx",
                      "share/static", "\(storeDir)/sh\u{0}are", "/nix/store/", "/nix/store/x/./y", "\(storeDir)/\u{2044}etc",
                      "\(storeDir)/$document_root"])
    func hostileStaticDirectoriesAreRefused(_ dir: String) {
        expectInvalidInput(spec(staticPaths: ["/static": dir]), mentioning: "static directory for `/static`")
    }

    @Test(arguments: ["My-App", "-app", "app;", "app name", "a..b", "аpp", "app\n", ""])
    func hostileAppNamesAreRefused(_ app: String) {
        expectInvalidInput(spec(app: app), mentioning: "app name")
    }

    @Test func hostileSocketPathsAndOtherFieldsAreRefused() {
        expectInvalidInput(spec(upstream: .socket(path: "/run/hop/a b.sock")), mentioning: "upstream socket path")
        expectInvalidInput(spec(upstream: .socket(path: "run/hop/a.sock")), mentioning: "not absolute")
        expectInvalidInput(spec(upstream: .socket(path: "/run/hop/../a.sock")), mentioning: "`..`")
        expectInvalidInput(spec(upstream: .socket(path: "/" + String(repeating: "s", count: 120))), mentioning: "at most 107")
        expectInvalidInput(spec(upstream: .tcp(port: 0)), mentioning: "upstream TCP port")
        expectInvalidInput(spec(upstream: .tcp(port: 70000)), mentioning: "upstream TCP port")
        expectInvalidInput(spec(listenPort: -1), mentioning: "listen port")
        expectInvalidInput(spec(clientMaxBodySize: "10m; allow all"), mentioning: "client_max_body_size")
        expectInvalidInput(spec(clientMaxBodySize: "m"), mentioning: "client_max_body_size")
        expectInvalidInput(spec(staticPaths: ["/static": "\(storeDir)/a", "/static/": "\(storeDir)/b"]), mentioning: "same location")
        expectInvalidInput(spec(), tls: NginxSite.TLS(certificate: "/tls/c;", key: "/tls/k"), mentioning: "TLS certificate path")
        expectInvalidInput(spec(), tls: NginxSite.TLS(certificate: "/tls/c", key: "/tls/k\n"), mentioning: "TLS key path")
        expectInvalidInput(spec(), tls: NginxSite.TLS(certificate: "/tls/c", key: "/tls/k", port: 18080), mentioning: "TLS port")
    }

    @Test func errorMessagesShowControlCharactersVisibly() throws {
        do {
            _ = try NginxSite.render(spec(staticPaths: ["/a\nb": "\(storeDir)/x"]))
            Issue.record("not refused")
        } catch let error as HopError {
            #expect(!error.message.contains("\n"))
            #expect(error.message.contains("\\u{a}"))
            #expect(error.message.contains("a line break at position 3"))
        }
    }
}

// MARK: - Real nginx

@Suite("nginx accepts rendered sites", .tags(.nginxIntegration), .serialized)
struct NginxConfigTestTests {
    @Test func socketSiteIsAccepted() throws {
        try withTemporaryDirectory { dir in try expectNginxAccepts(try NginxSite.render(socketSpec), in: dir) }
    }

    @Test func tcpCatchAllSiteIsAccepted() throws {
        try withTemporaryDirectory { dir in try expectNginxAccepts(try NginxSite.render(tcpSpec), in: dir) }
    }

    @Test func tlsSiteIsAccepted() throws {
        try withTemporaryDirectory { dir in
            let tls = try makeSelfSignedCertificate(in: dir)
            try expectNginxAccepts(try NginxSite.render(spec(domains: ["app.example.com"]), tls: tls), in: dir)
        }
    }

    @Test func twoSitesOnOnePortAreAccepted() throws {
        try withTemporaryDirectory { dir in
            let a = try NginxSite.render(socketSpec)
            let b = try NginxSite.render(spec(app: "other", domains: ["other.example.com"]))
            let c = try NginxSite.render(tcpSpec)
            try expectNginxAccepts(a + b + c, in: dir)
        }
    }

    /// A broken site must make `nginx -t` fail, or the checks above prove nothing.
    @Test func nginxTestRejectsBrokenConfig() throws {
        try withTemporaryDirectory { dir in
            let config = try writeNginxMainConfig(in: dir, site: "server { listen 18080; bogus_directive on; }\n")
            let result = try SystemRunner().run(Command("nginx", ["-t", "-q"] + nginxArguments(dir: dir, config: config)))
            #expect(!result.succeeded)
            #expect(result.stderrText.contains("bogus_directive"))
        }
    }
}

// MARK: - Live: nginx serves a static file and proxies to an upstream

private func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    // The state follows the parenthesised command name; a zombie is as good as gone.
    guard let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}

private func stopProcess(_ pid: pid_t) {
    guard pid > 0, isRunning(pid) else { return }
    kill(pid, SIGTERM)
    for _ in 0..<100 where isRunning(pid) { usleep(50_000) }
    if isRunning(pid) { kill(pid, SIGKILL); usleep(100_000) }
}

private func fetch(_ url: String) throws -> ProcessResult {
    var last = try SystemRunner().run(Command("curl", ["-sS", "--max-time", "5", "-D", "-", url]))
    for _ in 0..<40 where !last.succeeded {
        usleep(100_000)
        last = try SystemRunner().run(Command("curl", ["-sS", "--max-time", "5", "-D", "-", url]))
    }
    return last
}

private let echoUpstream = """
import os, socketserver, sys
from http.server import BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = "".join(f"{k}: {self.headers.get(k)}\\n" for k in ["Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Connection"]).encode()
        body = b"upstream saw " + self.path.encode() + b"\\n" + body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.UnixStreamServer):
    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("127.0.0.1", 0)
server = S(sys.argv[1], H)
os.chmod(sys.argv[1], 0o666)  # nginx's workers run as another user
server.serve_forever()

"""

@Suite("nginx serves a rendered site", .tags(.nginxIntegration), .serialized)
struct NginxLiveTests {
    @Test func servesStaticFilesAndProxiesToTheUpstream() throws {
        try withTemporaryDirectory { dir in
            // The static directory must be a real store path: the renderer refuses anything else.
            let publicDir = "\(dir)/hop-nginx-test-public"
            try FileManager.default.createDirectory(atPath: publicDir, withIntermediateDirectories: true)
            try "hello from the store\n".write(toFile: "\(publicDir)/hello.txt", atomically: true, encoding: .utf8)
            let added = try SystemRunner().run(Command("nix-store", ["--add", publicDir]))
            try #require(added.succeeded, "nix-store --add failed: \(added.stderrText)")
            let storePath = added.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)

            let listenPort = Int.random(in: 20000..<60000)
            // A TCP app is reached through its proxy socket: here the upstream itself listens on it.
            let upstreamSocket = "\(dir)/web-1.sock"
            #expect(chmod(dir, 0o755) == 0)
            try echoUpstream.write(toFile: "\(dir)/echo.py", atomically: true, encoding: .utf8)
            let started = try SystemRunner().run(Command("sh", ["-c",
                "/usr/bin/python3 \"$1\" \"$2\" >\"$3\" 2>&1 </dev/null & echo $!", "sh",
                "\(dir)/echo.py", upstreamSocket, "\(dir)/echo.log"]))
            let upstreamPID = pid_t(started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            try #require(upstreamPID > 0)
            defer { stopProcess(upstreamPID) }
            var ready = try SystemRunner().run(Command("curl", ["-sS", "--max-time", "5", "--unix-socket", upstreamSocket, "http://x/ready"]))
            for _ in 0..<40 where !ready.succeeded {
                usleep(100_000)
                ready = try SystemRunner().run(Command("curl", ["-sS", "--max-time", "5", "--unix-socket", upstreamSocket, "http://x/ready"]))
            }
            try #require(ready.succeeded, "upstream did not come up: \((try? String(contentsOfFile: "\(dir)/echo.log", encoding: .utf8)) ?? "")")

            let site = try NginxSite.render(spec(app: "live", upstream: .tcp(port: 5000),
                                                 staticPaths: ["/static": storePath], listenPort: listenPort, proxyLinks: [upstreamSocket]))
            let config = try writeNginxMainConfig(in: dir, site: site, daemon: true)
            let nginx = try SystemRunner().run(Command("nginx", nginxArguments(dir: dir, config: config)))
            try #require(nginx.succeeded, "nginx did not start: \(nginx.stderrText)")
            var nginxPID: pid_t = 0
            for _ in 0..<50 where nginxPID == 0 {
                nginxPID = pid_t((try? String(contentsOfFile: "\(dir)/nginx.pid", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
                if nginxPID == 0 { usleep(50_000) }
            }
            try #require(nginxPID > 0, "no pid file")
            defer { stopProcess(nginxPID) }

            let staticFile = try fetch("http://127.0.0.1:\(listenPort)/static/hello.txt")
            #expect(staticFile.succeeded, "\(staticFile.stderrText)")
            #expect(staticFile.stdoutText.hasSuffix("\r\n\r\nhello from the store\n"))
            #expect(staticFile.stdoutText.lowercased().contains("cache-control: no-cache"))
            #expect(!staticFile.stdoutText.lowercased().contains("etag:"))

            let traversal = try fetch("http://127.0.0.1:\(listenPort)/static../etc/passwd")
            #expect(!traversal.stdoutText.contains("root:"))

            let proxied = try fetch("http://127.0.0.1:\(listenPort)/hello?x=1")
            #expect(proxied.succeeded, "\(proxied.stderrText)")
            let body = proxied.stdoutText
            #expect(body.contains("upstream saw /hello?x=1"), "\(body)")
            #expect(body.contains("Host: 127.0.0.1"))
            #expect(body.contains("X-Real-IP: 127.0.0.1"))
            #expect(body.contains("X-Forwarded-For: 127.0.0.1"))
            #expect(body.contains("X-Forwarded-Proto: http"))
            #expect(body.contains("X-Forwarded-Host: 127.0.0.1"))

            stopProcess(nginxPID)
            #expect(!isRunning(nginxPID), "nginx master \(nginxPID) still running")
            stopProcess(upstreamPID)
            #expect(!isRunning(upstreamPID), "upstream \(upstreamPID) still running")
        }
    }
}

extension Tag {
    @Tag static var nginxSmall: Self
    @Tag static var nginxIntegration: Self
}
