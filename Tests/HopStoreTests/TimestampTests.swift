import Foundation
import Testing
@testable import HopStore

@Suite(.tags(.small))
struct TimestampTests {
    @Test func encodesFixedWidthUTCWithMilliseconds() throws {
        #expect(try Timestamp.encode(millis(0)) == "1970-01-01T00:00:00.000Z")
        #expect(try Timestamp.encode(millis(1_700_000_000_123)) == "2023-11-14T22:13:20.123Z")
        #expect(try Timestamp.encode(millis(951_782_400_000)) == "2000-02-29T00:00:00.000Z")
        #expect(try Timestamp.encode(millis(-1)) == "1969-12-31T23:59:59.999Z")
        #expect(try Timestamp.encode(millis(253_402_300_799_999)) == "9999-12-31T23:59:59.999Z")
        #expect(try Timestamp.encode(Date(timeIntervalSince1970: 1.0004)) == "1970-01-01T00:00:01.000Z")
        #expect(try Timestamp.encode(Date(timeIntervalSince1970: 1.0006)) == "1970-01-01T00:00:01.001Z")
    }

    @Test func agreesWithFoundationFormatter() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for ms: Int64 in [0, 86_399_999, 1_000_000_000_000, 1_709_164_800_000, 4_102_444_800_001, -2_208_988_800_000] {
            #expect(try Timestamp.encode(millis(ms)) == formatter.string(from: millis(ms)))
        }
    }

    @Test func decodeInvertsEncodeExactlyForWholeMilliseconds() throws {
        var ms: Int64 = -62_135_596_800_000 // 0001-01-01
        while ms < 253_402_300_799_999 {
            let date = millis(ms)
            #expect(Timestamp.decode(try Timestamp.encode(date)) == date)
            ms += 99_999_999_977 // about 1.16 days, so times of day vary too
        }
    }

    @Test func textOrderIsTimeOrder() throws {
        let dates = [millis(-5), millis(0), millis(999), millis(1000), millis(1_700_000_000_000)]
        let texts = try dates.map(Timestamp.encode)
        #expect(texts == texts.sorted())
    }

    @Test func decodeRejectsAnythingElse() {
        for bad in ["", "2023-11-14T22:13:20Z", "2023-11-14 22:13:20.123Z", "2023-11-14T22:13:20.123+00:00",
                    "2023-02-29T00:00:00.000Z", "2023-13-01T00:00:00.000Z", "2023-11-14T24:00:00.000Z",
                    "2023-11-14T22:60:00.000Z", "2023-11-14T22:13:60.000Z", "2023-11-1xT22:13:20.123Z"] {
            #expect(Timestamp.decode(bad) == nil, "\(bad)")
        }
    }

    @Test func refusesDatesThatDoNotFit() {
        #expect(throws: (any Error).self) { try Timestamp.encode(Date(timeIntervalSince1970: 1e13)) }
        #expect(throws: (any Error).self) { try Timestamp.encode(Date(timeIntervalSince1970: -1e12)) }
    }
}
