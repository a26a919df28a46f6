import Foundation
import HopBasics

/// Dates are stored as fixed-width ISO-8601 UTC text with milliseconds, `2023-11-14T22:13:20.123Z`,
/// so they read well in `sqlite3` and sort chronologically as text. These are pure calendar
/// arithmetic (proleptic Gregorian, no leap seconds), independent of locale and time zone.
public enum Timestamp {
    /// The date rounded to the nearest millisecond, as `yyyy-MM-ddTHH:mm:ss.SSSZ`. Throws
    /// `.invalidInput` for dates outside years 0000…9999, which the fixed width cannot hold.
    static func encode(_ date: Date) throws -> String {
        let millis = (date.timeIntervalSince1970 * 1000).rounded()
        guard millis.isFinite, abs(millis) < 1e15 else {
            throw HopError.invalid("date \(date) cannot be stored: it is outside years 0000…9999")
        }
        let ms = Int64(millis)
        let days = floorDiv(ms, 86_400_000)
        let msOfDay = ms - days * 86_400_000
        let (y, m, d) = civil(fromDays: days)
        guard (0...9999).contains(y) else {
            throw HopError.invalid("date \(date) cannot be stored: it is outside years 0000…9999")
        }
        let h = msOfDay / 3_600_000, mi = msOfDay / 60_000 % 60, s = msOfDay / 1000 % 60, f = msOfDay % 1000
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T" + pad(h, 2) + ":" + pad(mi, 2) + ":" + pad(s, 2)
            + "." + pad(f, 3) + "Z"
    }

    /// Parses exactly the form `encode` writes; nil for anything else. The result is
    /// `Date(timeIntervalSince1970: millis / 1000)`, so a date that was already whole milliseconds
    /// comes back equal (`==`) to the one stored.
    public static func decode(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."),
              b[23] == UInt8(ascii: "Z"),
              let y = number(b[0..<4]), let m = number(b[5..<7]), let d = number(b[8..<10]),
              let h = number(b[11..<13]), let mi = number(b[14..<16]), let s = number(b[17..<19]),
              let f = number(b[20..<23]),
              (1...12).contains(m), (1...daysInMonth(year: y, month: m)).contains(d),
              h < 24, mi < 60, s < 60
        else { return nil }
        let ms = days(fromCivil: y, m, d) * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + f
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }

    // Howard Hinnant's days_from_civil / civil_from_days (http://howardhinnant.github.io/date_algorithms.html).

    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func pad(_ n: Int64, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int64? {
        var n: Int64 = 0
        for c in digits {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int64(c - UInt8(ascii: "0"))
        }
        return n
    }
}
