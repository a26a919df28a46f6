import Foundation
import Testing
import AppSpec
import HopBasics
@testable import Runtime
import HopTestSupport

fileprivate let appOut = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-shop-1.0"
fileprivate let busybox = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-hop-seed-busybox"

fileprivate func plan(_ processes: [AppProcess], scale: [String: Int] = [:], basePort: Int? = nil, static statics: [String: String] = [:],
                      domains: [String] = []) -> GenerationPlan {
    var spec = AppSpec(name: "shop", source: .procfile, builder: .python)
    spec.processes = processes
    spec.staticPaths = statics
    spec.domains = domains
    var hc = HealthCheck()
    hc.path = "/health"
    hc.contains = "ok"
    spec.healthcheck = hc
    return GenerationPlan(app: "shop", number: 4, buildID: 9, appPath: appOut, spec: spec, scale: scale, basePort: basePort,
                          environmentFile: "/var/lib/hop/apps/shop/env/g4.env", listenPort: 8080)
}

@Suite struct GenerationTests {
    @Test func wsgiGenerationFilesAndExpression() throws {
        let p = plan([AppProcess(name: "wsgi", kind: .wsgi, command: "shop:app"), AppProcess(name: "worker", kind: .daemon, command: "python worker.py"),
                      AppProcess(name: "static", kind: .static, command: "/assets:public")], scale: ["wsgi": 2],
                     domains: ["shop.example.org"])
        let files = try p.files()
        #expect(files.keys.sorted() == ["manifest.json", "nginx-site.conf", "units/\(UnitNames.slice(app: "shop"))", "units/hop-shop-G4-worker@.service",
                                        "units/hop-shop-G4-wsgi.socket", "units/hop-shop-G4-wsgi@.service", "units/hop-shop-Net.service"])
        // wsgi ×2 and the worker ×1, plus one, twice: 8 × 1G.
        #expect(files["units/\(UnitNames.slice(app: "shop"))"]?.contains("MemoryMax=\(8 << 30)") == true)
        try assertSnapshot(files["units/hop-shop-G4-wsgi.socket"]!, named: "generation-wsgi.socket")
        try assertSnapshot(files["nginx-site.conf"]!, named: "generation-wsgi.nginx.conf")
        try assertSnapshot(files["manifest.json"]!, named: "generation-wsgi.manifest.json")
        let expr = try p.expression(busybox: busybox)
        try assertSnapshot(expr, named: "generation-wsgi.nix")
        #expect(try p.instanceUnits == ["hop-shop-G4-worker@1.service", "hop-shop-G4-wsgi@1.service", "hop-shop-G4-wsgi@2.service"])
        // The unit names the socket; the socket names the first instance.
        #expect(files["units/hop-shop-G4-wsgi@.service"]!.contains("\nSockets=hop-shop-G4-wsgi.socket\n"))
        #expect(!files["units/hop-shop-G4-wsgi@.service"]!.contains("HOP_BIND"))
        // The site is the same text for every generation of the same shape: no reload on a switch.
        var next = p
        next.number = 5
        #expect(try next.site() == (try p.site()))
    }

    @Test func expressionParses() throws {
        let p = plan([AppProcess(name: "wsgi", kind: .wsgi, command: "shop:app")])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hop-gen-\(UUID().uuidString).nix").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try p.expression(busybox: busybox).write(toFile: file, atomically: true, encoding: .utf8)
        let r = try SystemRunner().run(Command("nix-instantiate", ["--parse", file]))
        #expect(r.succeeded, "\(r.stderrText)")
    }

    @Test func tcpGenerationGetsAPortPerInstance() throws {
        let p = plan([AppProcess(name: "web", kind: .web, command: "python app.py")], scale: ["web": 3], basePort: 20010)
        #expect(p.ports == [20010, 20011, 20012])
        let files = try p.files()
        #expect(files["units/hop-shop-G4-web@2.service.d/port.conf"] == "# hop: this instance's port\n[Service]\nEnvironment=PORT=20011\n")
        try assertSnapshot(files["nginx-site.conf"]!, named: "generation-tcp.nginx.conf")
        // Each port: a loopback socket in the host's namespace and a proxy into the app's namespace.
        #expect(try p.units.sockets == ["hop-shop-G4-web-P20010.socket", "hop-shop-G4-web-P20011.socket", "hop-shop-G4-web-P20012.socket"])
        try assertSnapshot(files["units/hop-shop-G4-web-P20011.socket"]!, named: "generation-tcp-proxy.socket")
        try assertSnapshot(files["units/hop-shop-G4-web-P20011.service"]!, named: "generation-tcp-proxy.service")
        try assertSnapshot(files["units/hop-shop-Net.service"]!, named: "generation-network.service")
        #expect(files["units/hop-shop-G4-web@.service"]!.contains("\nNetworkNamespacePath=/run/netns/\(UnitNames.networkNamespace(app: "shop"))\n"))
    }

    @Test func networkAndProxyUnitsPassSystemdVerifyAndScoreLow() throws {
        let p = plan([AppProcess(name: "web", kind: .web, command: "python app.py")], basePort: 20010)
        let files = try p.files()
        let net = "hop-shop-Net.service", socket = "hop-shop-G4-web-P20010.socket", proxy = "hop-shop-G4-web-P20010.service"
        for name in [net, socket, proxy] {
            var companions: [String: String] = [:]
            for other in [net, socket, proxy] where other != name { companions[other] = files["units/" + other]! }
            let problems = try UnitValidation.verify(unitText: files["units/" + name]!, name: name, companions: companions)
            #expect(problems.isEmpty, "\(name): \(problems)")
        }
        let score = try UnitValidation.exposure(unitText: files["units/" + proxy]!, name: proxy)
        print("proxy unit exposure: \(score)")
        #expect(score <= 1.5, "the proxy scores \(score)")
    }

    @Test func staticSiteHasOnlyItsNetworkUnitAndARoot() throws {
        let p = plan([AppProcess(name: "static", kind: .static, command: "/:.")])
        let files = try p.files()
        #expect(files.keys.sorted() == ["manifest.json", "nginx-site.conf", "units/\(UnitNames.slice(app: "shop"))", "units/hop-shop-Net.service"])
        #expect(files["nginx-site.conf"]!.contains("root /run/hop/shop/current/app/app;"))
        #expect(!files["nginx-site.conf"]!.contains("upstream"))
        try assertSnapshot(files["nginx-site.conf"]!, named: "generation-static.nginx.conf")
    }

    @Test func socketUnitPassesSystemdVerify() throws {
        let p = plan([AppProcess(name: "wsgi", kind: .wsgi, command: "shop:app")])
        let text = try p.files()["units/hop-shop-G4-wsgi.socket"]!
        let problems = try UnitValidation.verify(unitText: text, name: "hop-shop-G4-wsgi.socket")
        // The socket names a service that only exists once installed; anything else is a problem.
        #expect(problems.filter { !$0.contains("hop-shop-G4-wsgi@1.service") }.isEmpty, "\(problems)")
    }

    @Test func healthProbeParsesAnswers() throws {
        let plain = Array("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n".utf8)
        #expect(try HealthProbe.parse(plain, target: .tcp(port: 1)) == ProbeResponse(status: 200, body: "ok\n"))
        let chunked = Array("HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nboom\r\n3\r\n!!!\r\n0\r\n\r\n".utf8)
        #expect(try HealthProbe.parse(chunked, target: .tcp(port: 1)) == ProbeResponse(status: 500, body: "boom!!!"))
        #expect(throws: HopError.self) { try HealthProbe.parse(Array("garbage".utf8), target: .tcp(port: 1)) }
        #expect(throws: HopError.self) { try HealthProbe.parse(Array("SSH-2.0-x\r\n\r\n".utf8), target: .tcp(port: 1)) }
    }

    @Test func healthProbeTalksToARealSocket() throws {
        // A one-shot HTTP server on a unix socket (python3 from the host) answers the probe.
        try withTemporaryDirectory { dir in
            let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
            print("ready", flush=True)
            c, _ = s.accept(); c.recv(4096)
            c.sendall(b"HTTP/1.1 200 OK\\r\\nConnection: close\\r\\n\\r\\nhealthy"); c.close()
            """
            try script.write(toFile: dir + "/srv.py", atomically: true, encoding: .utf8)
            let pid = try spawnBackground(["/usr/bin/python3", dir + "/srv.py", dir + "/a.sock"])
            defer { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: dir + "/a.sock") { usleep(20_000) }
            let r = try HealthProbe.get(.unix(directory: dir, name: "a.sock"), path: "/", host: "x.localhost", timeout: 5)
            #expect(r == ProbeResponse(status: 200, body: "healthy"))
            #expect(throws: HopError.self) { try HealthProbe.get(.unix(directory: dir, name: "none.sock"), path: "/", host: "x", timeout: 1) }
        }
    }
}

/// posix_spawn without waiting (the test reaps it).
func spawnBackground(_ argv: [String]) throws -> pid_t {
    var pid: pid_t = 0
    let cargs = argv.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    let rc = posix_spawn(&pid, argv[0], nil, nil, cargs, environ)
    guard rc == 0 else { throw HopError(.environment, "spawn failed: \(rc)") }
    return pid
}
