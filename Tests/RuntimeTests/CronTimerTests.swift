import Foundation
import Testing
import HopBasics
@testable import Runtime

@Suite struct CronTimerTests {
    @Test(arguments: [
        ("* * * * *", ["*-*-* *:*:00"]),
        ("*/15 * * * *", ["*-*-* *:00,15,30,45:00"]),
        ("30 2 * * *", ["*-*-* 02:30:00"]),
        ("0 9-11 * * 1-5", ["Mon,Tue,Wed,Thu,Fri *-*-* 09,10,11:00:00"]),
        ("0 0 1 1 *", ["*-01-01 00:00:00"]),
        ("5 4 * * 0,7", ["Sun *-*-* 04:05:00"]),
        ("0 12 1,15 * 3", ["*-*-01,15 12:00:00", "Wed *-*-* 12:00:00"]),
        ("0 0 */10 * *", ["*-*-01,11,21,31 00:00:00"]),
    ])
    func converts(_ schedule: String, _ expected: [String]) throws {
        #expect(try CronTimer.onCalendar(schedule) == expected)
    }

    @Test func everyExpressionParsesInSystemd() throws {
        for schedule in ["* * * * *", "*/15 * * * *", "0 9-11 * * 1-5", "0 12 1,15 * 3", "0 0 */10 * *", "59 23 31 12 6"] {
            for calendar in try CronTimer.onCalendar(schedule) {
                let r = try SystemRunner().run(Command("systemd-analyze", ["calendar", calendar]))
                #expect(r.succeeded, "\(schedule) → \(calendar): \(r.stderrText)")
            }
        }
    }

    @Test func outOfRangeIsRefused() {
        #expect(throws: HopError.self) { try CronTimer.onCalendar("61 * * * *") }
        #expect(throws: HopError.self) { try CronTimer.onCalendar("* * * *") }
        #expect(throws: HopError.self) { try CronTimer.onCalendar("5-1 * * * *") }
    }

    @Test func timerUnitNamesItsServiceAndPassesVerify() throws {
        let text = try CronTimer.render(app: "shop", process: "cleanup", generation: 4, schedule: "*/15 * * * *")
        #expect(text.contains("\nOnCalendar=*-*-* *:00,15,30,45:00\n"))
        #expect(text.contains("\nUnit=hop-shop-G4-cleanup@1.service\n"))
        let service = "[Unit]\nDescription=x\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
        let problems = try UnitValidation.verify(unitText: text, name: "hop-shop-G4-cleanup.timer",
                                                 companions: ["hop-shop-G4-cleanup@.service": service])
        #expect(problems.isEmpty, "\(problems)")
    }
}
