import HopBasics
import Testing
@testable import AppSpec

@Suite(.tags(.small))
struct ProcfileTests {
    @Test func everyKindAndHook() throws {
        let procfile = try parseProcfile("""
        # processes of the demo app

        web: gunicorn app:app --bind 127.0.0.1:$PORT
        worker:   python worker.py --queue default  
        cron: */5 * * * * python cleanup.py --all
        cron-nightly: 0   3 * * 1-5   ./backup.sh
        release: python manage.py migrate
        static: /assets:public/assets
        prebuild: echo pre
        postbuild: echo post
        prerun: echo run
        """, file: "Procfile")
        #expect(procfile.processes == [
            AppProcess(name: "web", kind: .web, command: "gunicorn app:app --bind 127.0.0.1:$PORT"),
            AppProcess(name: "worker", kind: .daemon, command: "python worker.py --queue default"),
            AppProcess(name: "cron", kind: .cron(schedule: "*/5 * * * *"), command: "python cleanup.py --all"),
            AppProcess(name: "cron-nightly", kind: .cron(schedule: "0 3 * * 1-5"), command: "./backup.sh"),
            AppProcess(name: "release", kind: .release, command: "python manage.py migrate"),
            AppProcess(name: "static", kind: .static, command: "/assets:public/assets"),
        ])
        #expect(procfile.hooks == ["prebuild": "echo pre", "postbuild": "echo post", "prerun": "echo run"])
        #expect(procfile.locations["worker"] == SourceLocation(file: "Procfile", line: 4, column: 1))
    }

    @Test func wsgiStaticDirectoryAndCRLF() throws {
        let procfile = try parseProcfile("wsgi: myapp.wsgi:application\r\nstatic: public\r\n", file: "Procfile")
        #expect(procfile.processes == [
            AppProcess(name: "wsgi", kind: .wsgi, command: "myapp.wsgi:application"),
            AppProcess(name: "static", kind: .static, command: "/:public"),
        ])
        let factory = try parseProcfile("wsgi: app:create_app()", file: "Procfile")
        #expect(factory.processes.first?.command == "app:create_app()")
    }

    struct BadProcfile: Sendable, CustomTestStringConvertible {
        var text: String
        var line: Int
        var column: Int
        var message: String
        var testDescription: String { message }
    }

    static let badProcfiles: [BadProcfile] = [
        BadProcfile(text: "web gunicorn app:app", line: 1, column: 4, message: "contains a space"),
        BadProcfile(text: "  worker python w.py", line: 1, column: 9, message: "no `:`"),
        BadProcfile(text: "web: ./serve\n1web: x", line: 2, column: 1, message: "invalid Procfile process name"),
        BadProcfile(text: "we.b: x", line: 1, column: 3, message: "character `.` at position 3"),
        BadProcfile(text: "\(String(repeating: "w", count: 33)): x", line: 1, column: 1, message: "33 characters"),
        BadProcfile(text: "web:", line: 1, column: 5, message: "empty command"),
        BadProcfile(text: "wsgi: app:app\nweb: ./serve", line: 2, column: 1, message: "both `wsgi` (line 1) and `web`"),
        BadProcfile(text: "web: a\nweb: b", line: 2, column: 1, message: "declares `web` twice"),
        BadProcfile(text: "prebuild: make", line: 1, column: 1, message: "declares no processes"),
        BadProcfile(text: "", line: 1, column: 1, message: "declares no processes"),
        BadProcfile(text: "cron: 61 * * * * ./x", line: 1, column: 7, message: "minute field `61` is out of range"),
        BadProcfile(text: "cron: * * 0 * * ./x", line: 1, column: 11, message: "day-of-month field `0` is out of range"),
        BadProcfile(text: "cron: */0 * * * * ./x", line: 1, column: 7, message: "bad step"),
        BadProcfile(text: "cron: * * * * MON ./x", line: 1, column: 15, message: "contains `M`"),
        BadProcfile(text: "cron: 5-1 * * * * ./x", line: 1, column: 7, message: "backwards range"),
        BadProcfile(text: "cron: * * * * *", line: 1, column: 7, message: "five schedule fields and then a command"),
        BadProcfile(text: "cron: @daily ./x", line: 1, column: 7, message: "contains `@`"),
        BadProcfile(text: "wsgi: app", line: 1, column: 7, message: "module:callable"),
        BadProcfile(text: "static: ../secrets", line: 1, column: 9, message: "contains `..`"),
        BadProcfile(text: "static: /assets:/etc", line: 1, column: 17, message: "is absolute"),
        BadProcfile(text: "static: /a b:public", line: 1, column: 9, message: "contains a space"),
    ]

    @Test(arguments: badProcfiles)
    func errorsAreLocated(_ bad: BadProcfile) throws {
        let error = try #require(throws: HopError.self) { try parseProcfile(bad.text, file: "Procfile") }
        #expect(error.code == .invalidInput)
        #expect(error.location == SourceLocation(file: "Procfile", line: bad.line, column: bad.column))
        #expect(error.message.contains(bad.message), "\(error.message)")
        #expect(error.hint?.isEmpty == false)
    }

    @Test func cronFieldRules() {
        #expect(cronFieldProblem("*", range: 0...59) == nil)
        #expect(cronFieldProblem("1,15,30-45/5", range: 0...59) == nil)
        #expect(cronFieldProblem("*/15", range: 0...59) == nil)
        #expect(cronFieldProblem("7", range: 0...7) == nil)
        #expect(cronFieldProblem("", range: 0...59) != nil)
        #expect(cronFieldProblem("1,,2", range: 0...59) != nil)
        #expect(cronFieldProblem("1-2-3", range: 0...59) != nil)
        #expect(cronFieldProblem("13", range: 1...12) != nil)
    }
}
