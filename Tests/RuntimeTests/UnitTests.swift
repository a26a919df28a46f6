import Foundation
import Testing
import AppSpec
import HopBasics
import HopTestSupport
@testable import Runtime

// Helpers are fileprivate so other RuntimeTests files may use the same names.

/// Runs `body` and returns the HopError it throws (nil, recorded as an issue, when it throws none).
fileprivate func unitError(_ body: () throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> HopError? {
    do {
        try body()
        Issue.record("expected a HopError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as HopError {
        return error
    } catch {
        Issue.record("expected a HopError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Fixed (not necessarily existing) store paths, so snapshots do not depend on this machine's store.
fileprivate let fakeOut = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-blog-1.0"
fileprivate let fakeNodeOut = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-chat-2.1"

fileprivate func webSpec(out: String = fakeOut) -> (GenerationSpec, RuntimeProcess) {
    let web = RuntimeProcess(name: "web", kind: .web, launcher: out + "/bin/web", instances: 2)
    let spec = GenerationSpec(app: "blog", generation: 3, outPath: out, processes: [web],
                              environmentFile: "/var/lib/hop/env/blog.env", upstream: .tcp(port: 8003))
    return (spec, web)
}

fileprivate func wsgiSpec(out: String = fakeOut) -> (GenerationSpec, RuntimeProcess) {
    let web = RuntimeProcess(name: "web", kind: .wsgi, launcher: out + "/bin/web", instances: 1)
    let spec = GenerationSpec(app: "shop.example", generation: 12, outPath: out, processes: [web],
                              environmentFile: "/var/lib/hop/env/shop.example.env",
                              upstream: .socket(path: "/run/hop/shop.example/web.sock"),
                              socketPath: "/run/hop/shop.example/g12/web.sock")
    return (spec, web)
}

fileprivate func workerSpec(out: String = fakeOut) -> (GenerationSpec, RuntimeProcess) {
    let worker = RuntimeProcess(name: "worker", kind: .daemon, launcher: out + "/bin/web", instances: 3)
    var limits = Limits()
    limits.memory = "512M"
    limits.cpu = "50%"
    limits.processes = 64
    var spec = GenerationSpec(app: "blog", generation: 3, outPath: out, processes: [worker],
                              environmentFile: "/var/lib/hop/env/blog.env", limits: limits, upstream: .tcp(port: 8003))
    spec.volumes = [Volume(name: "uploads", target: "data/uploads"), Volume(name: "cache", target: "cache")]
    return (spec, worker)
}

fileprivate func nodeSpec(out: String = fakeNodeOut) -> (GenerationSpec, RuntimeProcess) {
    let web = RuntimeProcess(name: "web", kind: .web, launcher: out + "/bin/web", instances: 1)
    let spec = GenerationSpec(app: "chat", generation: 1, outPath: out, processes: [web],
                              environmentFile: "/var/lib/hop/env/chat.env", upstream: .tcp(port: 8101))
    return (spec, web)
}

/// The four units under test: name, spec maker, whether the runtime JITs, whether it must score ≤ 1.5.
fileprivate let cases: [(String, @Sendable (String) -> (GenerationSpec, RuntimeProcess), Bool, Bool)] = [
    ("web-tcp", { webSpec(out: $0) }, false, true),
    ("wsgi-socket", { wsgiSpec(out: $0) }, false, true),
    ("worker-limits", { workerSpec(out: $0) }, false, true),
    ("node-jit", { nodeSpec(out: $0) }, true, false),
]

/// A real store path holding an executable `bin/web`, because `systemd-analyze verify` checks that
/// `ExecStart=` exists. `--add-fixed` of the same bytes always gives the same path.
fileprivate func realLauncherOut() throws -> String {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("hop-unit-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: base) }
    let dir = base + "/hop-unit-test-launcher"
    try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
    try Data("#!/bin/sh\nexec sleep 3600\n".utf8).write(to: URL(fileURLWithPath: dir + "/bin/web"))
    try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir + "/bin/web")
    let out = try SystemRunner().output(Command("nix-store", ["--add-fixed", "--recursive", "sha256", dir])) { r in
        HopError(.environment, "nix-store --add-fixed failed", detail: r.stderrTail())
    }
    return out.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite struct UnitRendererTests {
    @Test func unitNames() throws {
        #expect(try UnitRenderer.unitName(app: "blog", process: "web", generation: 3) == "hop-blog-G3-web@.service")
        #expect(try UnitRenderer.instanceName(app: "blog", process: "web", generation: 3, instance: 2) == "hop-blog-G3-web@2.service")
    }

    @Test(arguments: [0, 1, 2, 3])
    func snapshots(index: Int) throws {
        let (name, make, jit, _) = cases[index]
        let (spec, process) = make(name == "node-jit" ? fakeNodeOut : fakeOut)
        let text = try UnitRenderer.render(spec, process: process, allowJIT: jit)
        try assertSnapshot(text, named: "\(name).service")
    }

    @Test func jitLeavesOutOnlyMemoryDenyWriteExecute() throws {
        let (spec, process) = nodeSpec()
        let strict = try UnitRenderer.render(spec, process: process)
        let jit = try UnitRenderer.render(spec, process: process, allowJIT: true)
        #expect(strict.contains("MemoryDenyWriteExecute=yes\n"))
        #expect(strict.replacingOccurrences(of: "MemoryDenyWriteExecute=yes\n", with: "") == jit)
    }

    @Test func renderedUnitsPassSystemdVerify() throws {
        let out = try realLauncherOut()
        for (name, make, jit, _) in cases {
            let (spec, process) = make(out)
            let text = try UnitRenderer.render(spec, process: process, allowJIT: jit)
            let unitName = try UnitRenderer.unitName(app: spec.app, process: process.name, generation: spec.generation)
            var companions: [String: String] = [UnitNames.networkUnit(app: spec.app): try UnitRenderer.renderNetwork(app: spec.app)]
            if process.kind == .wsgi {
                companions[try UnitRenderer.socketUnitName(app: spec.app, process: process.name, generation: spec.generation)] =
                    try UnitRenderer.renderSocket(spec, process: process)
            }
            let problems = try UnitValidation.verify(unitText: text, name: unitName, companions: companions)
            #expect(problems.isEmpty, "\(name): \(problems)")
        }
    }

    @Test func exposureIsLow() throws {
        let out = try realLauncherOut()
        var scores: [String] = []
        for (name, make, jit, bounded) in cases {
            let (spec, process) = make(out)
            let text = try UnitRenderer.render(spec, process: process, allowJIT: jit)
            let unitName = try UnitRenderer.unitName(app: spec.app, process: process.name, generation: spec.generation)
            let score = try UnitValidation.exposure(unitText: text, name: unitName)
            scores.append("\(name)=\(score)")
            if bounded { #expect(score <= 1.5, "\(name) scores \(score)") }
            #expect(score < 2.5, "\(name) scores \(score)")
        }
        print("unit exposure: " + scores.joined(separator: " "))
    }

    @Test func verifyReportsWhatTheExitCodeMisses() throws {
        let out = try realLauncherOut()
        let (spec, process) = webSpec(out: out)
        let good = try UnitRenderer.render(spec, process: process)
        let broken = good.replacingOccurrences(of: "[Service]\n", with: "[Service]\nBogusHardening=yes\nMemoryMax=12QQ\n")
            + "[Frobnicate]\nX=1\n"
        // The exit status alone says "fine"…
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-unit-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/hop-blog-g3-web@.service"
        try Data(broken.utf8).write(to: URL(fileURLWithPath: file))
        try Data(try UnitRenderer.renderNetwork(app: spec.app).utf8).write(to: URL(fileURLWithPath: dir + "/" + UnitNames.networkUnit(app: spec.app)))
        let raw = try SystemRunner().run(Command("systemd-analyze", ["verify", "--man=no", file]))
        #expect(raw.status == 0)
        // …the scan does not.
        let problems = try UnitValidation.verify(unitText: broken, name: "hop-blog-G3-web@.service")
        #expect(problems.contains { $0.contains("BogusHardening") }, "\(problems)")
        #expect(problems.contains { $0.contains("12QQ") }, "\(problems)")
        #expect(problems.contains { $0.contains("Frobnicate") }, "\(problems)")
        #expect(problems.allSatisfy { !$0.contains(dir) }, "problems name the unit, not the temporary file")
    }

    @Test func verifyReportsAMissingLauncher() throws {
        let (spec, process) = webSpec()  // fakeOut does not exist
        let text = try UnitRenderer.render(spec, process: process)
        let problems = try UnitValidation.verify(unitText: text, name: "hop-blog-G3-web@.service")
        #expect(!problems.isEmpty)
    }

    @Test func parsesExposureLine() {
        #expect(UnitValidation.parseExposure("x\n→ Overall exposure level for hop-a-g1-web@i.service: 1.2 OK 🙂\n") == 1.2)
        #expect(UnitValidation.parseExposure("nothing here") == nil)
    }

    @Test func hostileValuesAreRefused() throws {
        func refused(_ change: (inout GenerationSpec, inout RuntimeProcess) -> Void, jit: Bool = false,
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            var (spec, process) = webSpec()
            change(&spec, &process)
            let error = unitError({ _ = try UnitRenderer.render(spec, process: process, allowJIT: jit) }, sourceLocation: sourceLocation)
            #expect(error?.code == .invalidInput, sourceLocation: sourceLocation)
        }
        refused { _, p in p.launcher = fakeOut + "/bin/web\nExecStartPre=/bin/rm -rf /" }
        refused { _, p in p.launcher = fakeOut + "/bin/web\0" }
        refused { _, p in p.launcher = fakeOut + "/bin/%h" }
        refused { _, p in p.launcher = fakeOut + "/bin/web --flag" }
        refused { _, p in p.launcher = fakeOut + "/bin/$HOME" }
        refused { _, p in p.launcher = "/usr/bin/python3" }
        refused { _, p in p.launcher = "bin/web" }
        refused { _, p in p.launcher = fakeOut + "/../../../bin/sh" }
        refused { _, p in p.launcher = "/nix/store/not-a-hash-blog/bin/web" }
        refused { s, _ in s.app = "blog;rm" }
        refused { s, _ in s.app = "../blog" }
        refused { s, _ in s.app = "Blog" }
        refused { s, _ in s.app = "blog\n[Service]" }
        refused { _, p in p.name = "web%i" }
        refused { _, p in p.name = "web/../x" }
        refused { s, _ in s.generation = -1 }
        refused { s, _ in s.outPath = "/tmp/blog" }
        refused { s, _ in s.environmentFile = "/var/lib/hop/env/blog.env\nUser=root" }
        refused { s, _ in s.environmentFile = "/var/lib/hop/../../etc/shadow" }
        refused { s, _ in s.environmentFile = "relative.env" }
        refused { s, _ in s.environmentFile = "/var/lib/hop/env/my env" }
        refused { s, _ in s.environmentFile = fakeOut + "/env" }
        refused { s, _ in s.limits.memory = "512M\nUser=root" }
        refused { s, _ in s.limits.memory = "lots" }
        refused { s, _ in s.limits.cpu = "50" }
        refused { s, _ in s.limits.cpu = "%i%" }
        refused { s, _ in s.limits.processes = 0 }
        refused { s, _ in s.upstream = .tcp(port: 0) }
        refused { s, _ in s.upstream = .socket(path: "/run/hop/blog/web.sock"); s.socketPath = nil }
        refused { s, _ in s.upstream = .socket(path: "/run/hop/blog/web.sock"); s.socketPath = "/tmp/web.sock" }
        refused { s, _ in s.upstream = .socket(path: "/run/hop/blog/web.sock"); s.socketPath = "/run/x/../../etc/web.sock" }
        refused { _, p in p.kind = .static }
        let nameError = unitError { _ = try UnitRenderer.unitName(app: "a;b", process: "web", generation: 1) }
        #expect(nameError?.code == .invalidInput)
    }

    @Test func hostileUnitFileNamesWriteNothing() throws {
        let tmp = FileManager.default.temporaryDirectory.path
        for name in ["../hop-escape-test.service", "a/b.service", "evil\n.service", "hop.conf", ".service", "x y.service"] {
            let error = unitError { _ = try UnitValidation.verify(unitText: "[Unit]\n", name: name) }
            #expect(error?.code == .invalidInput, "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: tmp + "/../hop-escape-test.service"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/hop-escape-test.service"))
        let nul = unitError { _ = try UnitValidation.verify(unitText: "[Unit]\0", name: "ok.service") }
        #expect(nul?.code == .invalidInput)
    }

    @Test func percentSignsInEnvironmentValuesAreEscaped() {
        #expect(UnitRenderer.quoteAssignment("A=50% \"x\" \\") == "\"A=50%% \\\"x\\\" \\\\\"")
        #expect(UnitRenderer.escapeSpecifiers("/a/%i") == "/a/%%i")
    }

    @Test("the app's slice carries its totals: its instances and one more, twice for a switch; named by the app's hash (no nesting from `-`)")
    func sliceTotals() throws {
        var limits = Limits()
        limits.memory = "512M"; limits.cpu = "50%"; limits.processes = 64
        let text = try UnitRenderer.renderSlice(app: "my-blog", limits: limits, instances: 3)
        try assertSnapshot(text, named: "app.slice")
        #expect(text.contains("MemoryMax=\(8 * 512 << 20)") && text.contains("TasksMax=512") && text.contains("CPUQuota=400%"), "\(text)")
        #expect(UnitNames.slice(app: "my-blog").hasPrefix("hop-") && !UnitNames.slice(app: "my-blog").dropFirst(4).contains("-"))
        let defaults = try UnitRenderer.renderSlice(app: "a", limits: Limits(), instances: 0)
        #expect(defaults.contains("MemoryMax=\(2 << 30)") && defaults.contains("TasksMax=1024") && !defaults.contains("CPUQuota"), "\(defaults)")
        #expect(throws: HopError.self) { try UnitRenderer.renderSlice(app: "a;b", limits: Limits(), instances: 1) }
    }
}
