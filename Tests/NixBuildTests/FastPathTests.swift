import Foundation
import Testing
import HopBasics
import HopTestSupport
@testable import NixBuild

@Suite("The build's fast path: what is cached and how it is keyed")
struct FastPathTests {
    @Test("a derivation's out path is read from its ATerm text; anything else is not guessed at")
    func outPathFromDerivation() {
        let drv = #"Derive([("out","/nix/store/v6y5fxljaz9rd7gicl4c3xmj5p3yjq6v-flask-app-0","","")],[],[],"x86_64-linux","/bin/sh",[],[])"#
        #expect(derivationOutPath(drv) == "/nix/store/v6y5fxljaz9rd7gicl4c3xmj5p3yjq6v-flask-app-0")
        #expect(derivationOutPath(#"Derive([("dev","/nix/store/abc-x-dev","","")])"#) == nil)
        #expect(derivationOutPath("not a derivation") == nil)
    }

    @Test("nix-build: the derivation is the one Nix's log says it built whose output is the result; none when nothing was built; a failure names the builder")
    func buildExpressionDerivation() throws {
        try withTemporaryDirectory { dir in
            // hop reads only store derivations: a real one, instantiated (not built) in the store.
            try #"derivation { name = "hop-fastpath-test"; system = "x86_64-linux"; builder = "/bin/sh"; }"#
                .write(toFile: dir + "/t.nix", atomically: true, encoding: .utf8)
            let storeDrv = try SystemRunner().output(Command("nix-instantiate", [dir + "/t.nix"]), failure: { HopError(.environment, "nix-instantiate: \($0.stderrText)") })
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let out = try #require(derivationOutPath(try String(contentsOfFile: storeDrv, encoding: .utf8)))
            let appDrv = dir + "/app.drv", envDrv = dir + "/env.drv"
            try #"Derive([("out","\#(out)","","")],[],[],"x86_64-linux","/bin/sh",[],[])"#.write(toFile: appDrv, atomically: true, encoding: .utf8)
            try #"Derive([("out","/nix/store/0000000000000000000000000000000a-env","","")],[],[],"x86_64-linux","/bin/sh",[],[])"#
                .write(toFile: envDrv, atomically: true, encoding: .utf8)
            let runner = FakeProcessRunner()
            runner.on(["nix-build"], ProcessResult(status: 0, stdout: Data((out + "\n").utf8),
                                                   stderr: Data("these 2 derivations will be built:\nbuilding '\(envDrv)'...\nbuilding '\(storeDrv)'...\n".utf8)))
            let built = try NixDriver(runner: runner).buildExpression(dir + "/build.nix", root: dir + "/root")
            #expect(built.out == out && built.builtBy == storeDrv)
            #expect(runner.commandWords.last?.contains("--out-link") == true)

            let valid = FakeProcessRunner()
            valid.on(["nix-build"], ProcessResult(status: 0, stdout: Data((out + "\n").utf8), stderr: Data()))
            #expect(try NixDriver(runner: valid).buildExpression(dir + "/build.nix", root: dir + "/root").builtBy == nil)

            let failing = FakeProcessRunner()
            failing.on(["nix-build"], ProcessResult(status: 1, stdout: Data(), stderr: Data("error: builder for '\(appDrv)' failed with exit code 1\n".utf8)))
            #expect { try NixDriver(runner: failing).buildExpression(dir + "/build.nix", root: dir + "/root") } throws: { e in
                (e as? HopError)?.code == .buildFailed && (e as? HopError)?.message.contains("builder for") == true
            }
        }
    }

    @Test("nix-build's stderr carries the builder's output: a \"building\" line a tenant printed never makes hop open a file outside the store, follow a link, or block on a FIFO")
    func buildExpressionIgnoresHostileLines() throws {
        try withTemporaryDirectory { dir in
            let out = "/nix/store/v6y5fxljaz9rd7gicl4c3xmj5p3yjq6v-flask-app-0"
            let fakeDrv = dir + "/x.drv"
            try #"Derive([("out","\#(out)","","")],[],[],"x86_64-linux","/bin/sh",[],[])"#.write(toFile: fakeDrv, atomically: true, encoding: .utf8)
            let fifo = dir + "/pipe.drv"
            #expect(mkfifo(fifo, 0o600) == 0)
            let lines = [fakeDrv, fifo, "/etc/passwd", "/nix/store/../etc/shadow.drv", "/nix/store/v6y5fxljaz9rd7gicl4c3xmj5p3yjq6v-x/../y.drv"]
                .map { "building '\($0)'...\n" }.joined()
            let runner = FakeProcessRunner()
            runner.on(["nix-build"], ProcessResult(status: 0, stdout: Data((out + "\n").utf8), stderr: Data(lines.utf8)))
            #expect(try NixDriver(runner: runner).buildExpression(dir + "/build.nix", root: dir + "/root").builtBy == nil)
            #expect(NixDriver.isStoreDerivationPath("/nix/store/v6y5fxljaz9rd7gicl4c3xmj5p3yjq6v-flask-app-0.drv"))
            #expect(!NixDriver.isStoreDerivationPath("/nix/store/v6y5fxljaz9rd7gicl4c3xmj5p3yjq6v-a/b.drv"))
            #expect(!NixDriver.isStoreDerivationPath("/nix/store/V6Y5FXLJAZ9RD7GICL4C3XMJ5P3YJQ6V-a.drv"))
            #expect(NixDriver.smallFile(fifo) == nil && NixDriver.smallFile(fakeDrv) != nil)
        }
    }

    @Test("the derivation cache answers only for the same expression text")
    func derivationCache() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-drvcache-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = DerivationCache(file: dir + "/build.drv")
        #expect(cache.lookup(expression: "{ a = 1; }") == nil)
        cache.save(expression: "{ a = 1; }", drv: "/nix/store/aaa-x.drv", out: "/nix/store/bbb-x")
        #expect(cache.lookup(expression: "{ a = 1; }")?.drv == "/nix/store/aaa-x.drv")
        #expect(cache.lookup(expression: "{ a = 1; }")?.out == "/nix/store/bbb-x")
        #expect(cache.lookup(expression: "{ a = 2; }") == nil)
        try "garbage\n".write(toFile: dir + "/build.drv", atomically: true, encoding: .utf8)
        #expect(cache.lookup(expression: "{ a = 1; }") == nil)
    }

    @Test("the Nix library's hash is cached by its files' identity: a changed byte (same size) or a new file misses")
    func libraryHashCache() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-libcache-\(UUID().uuidString)").path
        let lib = dir + "/nix"
        try FileManager.default.createDirectory(atPath: lib + "/toolchains", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{ }\n".write(toFile: lib + "/toolchains/seed.nix", atomically: true, encoding: .utf8)
        let cacheFile = dir + "/cache/nix-lib.json"
        let first = try NixLibrary.narHash(of: lib, cacheFile: cacheFile)
        #expect(!first.fromCache)
        #expect(first.hex == (try NAR.hash(path: lib).hex))
        first.save(to: cacheFile)
        let second = try NixLibrary.narHash(of: lib, cacheFile: cacheFile)
        #expect(second.fromCache && second.hex == first.hex)
        // Same size, different byte (written in place: the inode stays). Past the kernel's
        // timestamp tick first, as any real edit is.
        Thread.sleep(forTimeInterval: 0.05)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: lib + "/toolchains/seed.nix"))
        try h.write(contentsOf: Data("[ ]".utf8)); try h.close()
        let third = try NixLibrary.narHash(of: lib, cacheFile: cacheFile)
        #expect(!third.fromCache)
        #expect(third.hex == (try NAR.hash(path: lib).hex) && third.hex != first.hex)
        third.save(to: cacheFile)
        try "x".write(toFile: lib + "/new.nix", atomically: true, encoding: .utf8)
        #expect(!(try NixLibrary.narHash(of: lib, cacheFile: cacheFile)).fromCache)
    }
}
