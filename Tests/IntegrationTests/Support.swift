import Foundation
import Testing
import HopBasics
@_exported import HopTestSupport

extension Tag {
    @Tag static var integration: Self
}

let repoRoot: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}()
let fixtures = repoRoot + "/fixtures/apps"
let wheelhouse = repoRoot + "/fixtures/wheelhouse"

/// The `hop` executable `swift build` produced (tests drive the real CLI for exit codes).
let hopBinary: String = {
    for c in [".build/debug/hop", ".build/release/hop", ".build/x86_64-unknown-linux-gnu/debug/hop"] {
        let p = repoRoot + "/" + c
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return repoRoot + "/.build/debug/hop"
}()

/// One HOP_HOME shared by the integration tests of a run (seeds are imported once): the
/// Makefile passes HOP_TEST_HOME and removes it afterwards; otherwise a temporary one is used
/// and removed when the test process exits.
let sharedHome: HopHome = {
    if let h = ProcessInfo.processInfo.environment["HOP_TEST_HOME"], !h.isEmpty { return HopHome(root: h) }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-itest-\(getpid())").path
    cleanupAtExit = dir
    atexit {
        guard let d = cleanupAtExit else { return }
        // Never delete through a mount (a `[limits] disk` image still mounted would lose its data
        // and the removal would reach whatever else is mounted there).
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        if mountinfo.split(separator: "\n").contains(where: { $0.split(separator: " ").count > 4 && $0.split(separator: " ")[4].hasPrefix(d + "/") }) {
            print("not removing \(d): something is still mounted under it")
            return
        }
        try? FileManager.default.removeItem(atPath: d)
    }
    return HopHome(root: dir)
}()
nonisolated(unsafe) var cleanupAtExit: String?

struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the real `hop` binary with HOP_HOME set.
@discardableResult
func hop(_ args: [String], home: HopHome = sharedHome, cwd: String? = nil) throws -> CLIResult {
    let r = try SystemRunner().run(Command(hopBinary, args, environment: ["HOP_HOME": home.root, "HOP_FIND_LINKS": nil], workingDirectory: cwd))
    return CLIResult(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
}

/// Imports every seed once per shared home.
let seedsReady: Bool = {
    let r = try? hop(["seed", "import", "--all", "--json"])
    if r?.status != 0 { print("seed import failed: \(r?.stderr ?? "no result")") }
    return r?.status == 0
}()

func copyTree(_ from: String, _ to: String) throws {
    let r = try SystemRunner().run(Command("cp", ["-R", from, to]))
    #expect(r.succeeded, "cp: \(r.stderrText)")
}

func json(_ s: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] ?? [:]
}

func storeListing() -> Set<String> {
    Set((try? FileManager.default.contentsOfDirectory(atPath: "/nix/store")) ?? [])
}
