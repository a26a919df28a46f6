import Foundation
import Testing
@testable import HopCommands

@Suite struct RenderTests {
    @Test func configValuesWithControlCharactersAreShownEscaped() {
        #expect(shownValue("plain value") == "plain value")
        #expect(shownValue("a\nEVIL=1") == "\"a\\nEVIL=1\"")
        #expect(shownValue("tab\there \"q\" back\\slash") == "\"tab\\there \\\"q\\\" back\\\\slash\"")
        #expect(shownValue("bell\u{7}") == "\"bell\\x07\"")
        #expect(!shownValue("x\ny").contains("\n"))
    }

    @Test func durations() throws {
        #expect(try parseDuration("30d") == 30 * 86400)
        #expect(try parseDuration("12h") == 12 * 3600)
        #expect(try parseDuration("90") == 90)
        for bad in ["", "d", "-1h", "0", "1y"] { #expect(throws: (any Error).self) { try parseDuration(bad) } }
    }
}
