import Foundation
import Testing
import HopBasics
@testable import HopCommands

@Suite("CLI conveniences: confirmation of destructive commands, list tables")
struct ConvenienceTests {
    @Test("the confirmation decision: --yes proceeds; a terminal is asked; no terminal or --json refuses",
          arguments: [
              (true, false, false, ConfirmGate.proceed), (true, true, false, .proceed), (true, false, true, .proceed), (true, true, true, .proceed),
              (false, false, true, .ask), (false, false, false, .refuse), (false, true, true, .refuse), (false, true, false, .refuse),
          ] as [(Bool, Bool, Bool, ConfirmGate)])
    func decision(yes: Bool, json: Bool, interactive: Bool, expected: ConfirmGate) {
        #expect(ConfirmGate.decide(yes: yes, json: json, interactive: interactive) == expected)
    }

    @Test("an answer confirms only when it is the app's name (or y/yes when there is no name)")
    func answers() {
        #expect(ConfirmGate.accepts("blog", expected: "blog"))
        #expect(ConfirmGate.accepts("  blog ", expected: "blog"))
        #expect(!ConfirmGate.accepts("y", expected: "blog"))
        #expect(!ConfirmGate.accepts("Blog", expected: "blog"))
        #expect(!ConfirmGate.accepts("", expected: "blog"))
        #expect(!ConfirmGate.accepts(nil, expected: "blog"))
        #expect(ConfirmGate.accepts("y", expected: nil))
        #expect(ConfirmGate.accepts("YES", expected: nil))
        #expect(!ConfirmGate.accepts("", expected: nil))
        #expect(!ConfirmGate.accepts("n", expected: nil))
        #expect(!ConfirmGate.accepts(nil, expected: nil))
    }

    @Test("the gate: refusal is exit 2 naming --yes; a wrong answer refuses; the right one proceeds")
    func gate() throws {
        func run(yes: Bool = false, json: Bool = false, tty: Bool, answer: String?) -> HopError? {
            do {
                try ConfirmGate.require("delete blog's data", command: "destroy blog --purge", expected: "blog", yes: yes, json: json,
                                         interactive: tty, readAnswer: { answer })
                return nil
            } catch let e as HopError { return e } catch { Issue.record("unexpected \(error)"); return nil }
        }
        let noTTY = try #require(run(tty: false, answer: "blog"))
        #expect(noTTY.code.exitCode == 2)
        #expect(noTTY.hint?.contains("--yes") == true && noTTY.message.contains("nothing was changed"))
        let json = try #require(run(json: true, tty: true, answer: "blog"))
        #expect(json.message.contains("--json"))
        #expect(run(tty: true, answer: "blog") == nil)
        #expect(run(tty: true, answer: "other")?.code.exitCode == 2)
        #expect(run(yes: true, tty: false, answer: nil) == nil)
    }

    @Test("at a terminal (script(1) gives hop one) the question comes before anything is done: a wrong name refuses with exit 2, the right one goes on to the operation",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func asksAtATerminal() throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            func answer(_ text: String) throws -> ProcessResult {
                try SystemRunner().run(Command("sh", ["-c", "printf '\(text)\\n' | script -qec '\(hopBinary) destroy blog --purge' /dev/null"],
                                               environment: ["HOP_HOME": home.root]))
            }
            let wrong = try answer("not-blog")
            #expect(wrong.status == 2 && wrong.stdoutText.contains("Type the app name (blog) to confirm") && wrong.stdoutText.contains("not confirmed"),
                    "\(wrong.status) \(wrong.stdoutText)")
            #expect(!FileManager.default.fileExists(atPath: home.root), "a refused destroy made HOP_HOME")
            // Confirmed: the destroy itself runs, and finds nothing to destroy on this empty home (exit 4).
            let right = try answer("blog")
            #expect(right.status == 4 && !right.stdoutText.contains("not confirmed"), "\(right.status) \(right.stdoutText)")
        }
    }

    @Test("tables: aligned columns under a header, the last column unpadded, nothing for no rows")
    func table() {
        var t = Table("APP", "GENERATION", "URL")
        #expect(t.lines.isEmpty)
        t.add("blog", "12", "http://blog.localhost")
        t.add("a-much-longer-name", "3", "")
        #expect(t.lines == [
            "APP                 GENERATION  URL",
            "blog                12          http://blog.localhost",
            "a-much-longer-name  3",
        ])
    }
}
