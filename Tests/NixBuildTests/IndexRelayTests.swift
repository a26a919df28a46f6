import Foundation
import Testing
import HopBasics
@testable import NixBuild

/// The resolver's only way out: a relay to its index and nothing else. Pure decisions here, and
/// the real thing (a network namespace, hop's relay, pip in the tenant sandbox, two local servers).
@Suite struct IndexRelayTests {
    @Test func targets() {
        #expect(IndexRelay.target(of: "https://pypi.org/simple") == .init(host: "pypi.org", port: 443, tls: true))
        #expect(IndexRelay.target(of: "http://127.0.0.1:8081/simple/") == .init(host: "127.0.0.1", port: 8081, tls: false))
        #expect(IndexRelay.target(of: "https://user:pw@index.example/simple") == nil)
        #expect(IndexRelay.target(of: "file:///srv/wheels") == nil)
    }

    @Test func decisions() {
        let tls = IndexRelay.Target(host: "pypi.org", port: 443, tls: true)
        #expect(IndexRelay.decide(requestLine: "CONNECT pypi.org:443 HTTP/1.1", target: tls))
        #expect(IndexRelay.decide(requestLine: "CONNECT PyPI.org:443 HTTP/1.1", target: tls))
        for line in ["CONNECT pypi.org:22 HTTP/1.1", "CONNECT files.pythonhosted.org:443 HTTP/1.1", "CONNECT 169.254.169.254:80 HTTP/1.1",
                     "GET http://pypi.org/simple/ HTTP/1.1", "CONNECT pypi.org:443", "CONNECT pypi.org:443 HTTP/1.1 extra",
                     "CONNECT pypi.org.evil.example:443 HTTP/1.1"] {
            #expect(!IndexRelay.decide(requestLine: line, target: tls), "\(line)")
        }
        let plain = IndexRelay.Target(host: "127.0.0.1", port: 8081, tls: false)
        #expect(IndexRelay.decide(requestLine: "GET http://127.0.0.1:8081/simple/click/ HTTP/1.1", target: plain))
        for line in ["GET http://127.0.0.1:8082/ HTTP/1.1", "POST http://127.0.0.1:8081/simple/ HTTP/1.1", "GET /simple/ HTTP/1.1",
                     "CONNECT 127.0.0.1:8081 HTTP/1.1", "GET http://x@127.0.0.1:8081/ HTTP/1.1"] {
            #expect(!IndexRelay.decide(requestLine: line, target: plain), "\(line)")
        }
    }

    @Test func originForm() {
        #expect(IndexRelay.originForm("GET http://127.0.0.1:8081/simple/click/?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nProxy-Connection: keep-alive\r\n\r\n")
                == "GET /simple/click/?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n\r\n")
    }

    /// A PEP 503 index of the fixture wheelhouse's `click`, served by Python on loopback.
    func withServers(_ body: (_ index: Int, _ other: Int) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-relay-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wheel = "click-8.5.1-py3-none-any.whl"
        try FileManager.default.createDirectory(atPath: dir + "/index/simple/click", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repoRoot + "/fixtures/wheelhouse/" + wheel, toPath: dir + "/index/simple/click/" + wheel)
        try "<a href=\"\(wheel)\">\(wheel)</a>\n".write(toFile: dir + "/index/simple/click/index.html", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
        try "not for the sandbox\n".write(toFile: dir + "/other/index.html", atomically: true, encoding: .utf8)
        var servers: [Int32] = []
        defer { for pid in servers { kill(pid, SIGTERM) } }
        var ports: [Int] = []
        for root in [dir + "/index", dir + "/other"] {
            let port = Int.random(in: 30000..<40000)
            let started = try SystemRunner().run(Command("/bin/sh", ["-c", "python3 -m http.server --bind 127.0.0.1 --directory \"$1\" \"$2\" >/dev/null 2>&1 & echo $!", "sh", root, String(port)]))
            if let pid = Int32(started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) { servers.append(pid) }
            ports.append(port)
        }
        for port in ports {
            let deadline = Date().addingTimeInterval(10)
            while (try? SystemRunner().run(Command("curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/"])).succeeded) != true, Date() < deadline {
                usleep(100_000)
            }
        }
        try body(ports[0], ports[1])
    }

    @Test("in the resolver's sandbox, the index answers through the relay; another loopback server, the same through the relay, and the metadata address do not")
    func sandboxReachesTheIndexOnly() throws {
        try #require(TenantSandbox.available, "root is needed to sandbox")
        var name = ""
        try withServers { index, other in
            let relay = try IndexRelay(indexURL: "http://127.0.0.1:\(index)/simple", runner: SystemRunner())
            defer { relay.close() }
            name = relay.namespace
            var sandbox = TenantSandbox(hiding: [], network: false)
            sandbox.namespace = relay.namespace
            let box = try sandbox.makeBox(inputs: [])
            defer { sandbox.remove(box) }
            let probe = """
            import socket, urllib.request, sys
            def via_proxy(url):
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "\(relay.proxyURL)"}))
                try: return str(opener.open(url, timeout=5).status)
                except urllib.error.HTTPError as e: return str(e.code)
                except Exception as e: return type(e).__name__
            def direct(port):
                try: socket.create_connection(("127.0.0.1", port), timeout=3); return "connected"
                except Exception as e: return type(e).__name__
            print("index", via_proxy("http://127.0.0.1:\(index)/simple/click/"))
            print("other-via-relay", via_proxy("http://127.0.0.1:\(other)/"))
            print("metadata-via-relay", via_proxy("http://169.254.169.254/latest/meta-data/"))
            print("other-direct", direct(\(other)))
            print("index-direct", direct(\(index)))
            """
            let r = try SystemRunner().run(sandbox.wrap(Command("/usr/bin/python3", ["-c", probe]), in: box))
            let out = r.stdoutText
            #expect(r.succeeded, "\(r.stderrText)")
            #expect(out.contains("index 200"), "\(out)")
            #expect(out.contains("other-via-relay 403"), "\(out)")
            #expect(out.contains("metadata-via-relay 403"), "\(out)")
            #expect(out.contains("other-direct ConnectionRefusedError"), "\(out)")
            #expect(out.contains("index-direct ConnectionRefusedError"), "only through the relay: \(out)")
        }
        let leftover = try SystemRunner().run(Command("ip", ["netns", "list"])).stdoutText
        #expect(!name.isEmpty && !leftover.contains(name), "the relay's namespace is deleted: \(leftover)")
    }

    @Test("pip resolves against an index URL in the sandbox, through the relay only")
    func pipResolvesThroughTheRelay() throws {
        try #require(TenantSandbox.available, "root is needed to sandbox")
        try withServers { index, _ in
            let sandbox = TenantSandbox(hiding: [], network: false)
            let wheels = try Locker.resolvePython(requirements: ["click==8.5.1"], appDir: "/nonexistent",
                                                  index: PackageIndex(indexURL: "http://127.0.0.1:\(index)/simple"),
                                                  runner: SystemRunner(), sandbox: sandbox)
            #expect(wheels.map(\.name) == ["click"], "\(wheels)")
        }
    }
}
