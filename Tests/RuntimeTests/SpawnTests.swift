import Foundation
import Testing
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// `Spawn`, the one posix_spawn of hop (HopBasics has no test target of its own; these run with
/// the runtime's unit tests). Real children, all short-lived and waited for.
@Suite("Spawn: hop's one way to start a child") struct SpawnTests {
    /// `SigIgn`/`SigBlk` of the child's /proc/self/status, read by the child itself (cat).
    func childSignalMasks() throws -> (ignored: String, blocked: String) {
        let r = try SystemRunner().run(Command("/bin/cat", ["/proc/self/status"]))
        let fields = Dictionary(r.stdoutText.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            return (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces))
        }, uniquingKeysWith: { a, _ in a })
        return (fields["SigIgn"] ?? "?", fields["SigBlk"] ?? "?")
    }

    @Test("a child neither ignores SIGPIPE nor blocks SIGTERM, whatever hop does")
    func signalsReset() throws {
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        var block = sigset_t(), old = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &block, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let masks = try childSignalMasks()
        let ignored = try #require(UInt64(masks.ignored, radix: 16)), blocked = try #require(UInt64(masks.blocked, radix: 16))
        // Bit n-1 is signal n. The standard signals (1–31) must all be default; glibc keeps two
        // real-time signals of its own (32, 33) out of sigfillset, so they are not asserted on.
        #expect(ignored & 0x7fff_ffff == 0, "SigIgn \(masks.ignored)")
        #expect(ignored & (1 << (UInt64(SIGPIPE) - 1)) == 0)
        #expect(blocked & 0x7fff_ffff == 0, "SigBlk \(masks.blocked)")
        #expect(blocked & (1 << (UInt64(SIGTERM) - 1)) == 0)
    }

    @Test("standard streams: a descriptor, /dev/null, a file opened in the child")
    func streams() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-test-spawn-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = try Spawn.pipe()
        let message = "through the pipe\n"
        _ = message.withCString { write(input.write, $0, strlen($0)) }
        close(input.write)
        let pid = try Spawn.spawn(["/bin/sh", "-c", "cat; echo to stderr >&2; cat /dev/stdin"], environment: ["PATH": "/usr/bin:/bin"],
                                  stdin: .descriptor(input.read), stdout: .file(dir + "/out", flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600),
                                  stderr: .file(dir + "/err", flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600))
        close(input.read)
        #expect(Spawn.wait(pid) == 0)
        #expect(try String(contentsOfFile: dir + "/out", encoding: .utf8) == message)
        #expect(try String(contentsOfFile: dir + "/err", encoding: .utf8) == "to stderr\n")
        let st = try FileManager.default.attributesOfItem(atPath: dir + "/out")
        #expect((st[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let nullPid = try Spawn.spawn(["/bin/sh", "-c", "test -z \"$(cat)\""], stdin: .null, stdout: .null, stderr: .null)
        #expect(Spawn.wait(nullPid) == 0)
    }

    @Test("a detached child leads a process group of its own")
    func newProcessGroup() throws {
        let out = try Spawn.pipe()
        let pid = try Spawn.spawn(["/bin/sh", "-c", "echo $$ $(cut -d' ' -f5 /proc/$$/stat)"], stdout: .descriptor(out.write), newProcessGroup: true)
        close(out.write)
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = read(out.read, &buffer, buffer.count)
        close(out.read)
        #expect(Spawn.wait(pid) == 0)
        let words = String(decoding: buffer[0..<max(0, n)], as: UTF8.self).split(whereSeparator: \.isWhitespace)
        #expect(words.count == 2 && words[0] == words[1] && words[0] == "\(pid)")
    }

    @Test("exit statuses: the code, or 128 + the signal; a missing program is a Failure")
    func statuses() throws {
        #expect(Spawn.wait(try Spawn.spawn(["/bin/sh", "-c", "exit 3"])) == 3)
        #expect(Spawn.wait(try Spawn.spawn(["/bin/sh", "-c", "kill -TERM $$"])) == 128 + SIGTERM)
        #expect(throws: Spawn.Failure.self) { _ = try Spawn.spawn(["/nonexistent/hop-test-program"]) }
        #expect(try SystemRunner().run(Command("/bin/sh", ["-c", "exit 7"])).status == 7)
    }
}
