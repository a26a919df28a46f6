import Foundation
import Testing
import HopCore

@Suite("isoTime writes what ISO8601DateFormatter writes")
struct ISOTimeTests {
    nonisolated(unsafe) static let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    @Test("whole-millisecond dates (the database's): leap days, year and century ends, random ones")
    func wholeMilliseconds() {
        var dates: [Date] = [0, 86_399_999, 951_782_400_000, 951_868_799_999, 1_709_164_800_123, 4_107_542_399_999,
                             946_684_799_999, 946_684_800_000, 253_402_300_799_999].map { Date(timeIntervalSince1970: Double($0) / 1000) }
        var g = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let ms = Int64.random(in: 0..<253_402_300_800_000, using: &g)
            dates.append(Date(timeIntervalSince1970: Double(ms) / 1000))
        }
        let wrong = dates.filter { isoTime($0) != Self.formatter.string(from: $0) }
        #expect(wrong.isEmpty, "\(wrong.prefix(3).map { "\(isoTime($0)) vs \(Self.formatter.string(from: $0))" })")
    }

    @Test("other dates (now, before 1970, sub-millisecond) go through the formatter")
    func otherDates() {
        for d in [Date(), Date(timeIntervalSince1970: -1.5), Date(timeIntervalSince1970: 1_700_000_000.0001234)] {
            #expect(isoTime(d) == Self.formatter.string(from: d))
        }
    }
}
