import Foundation
import HopBasics
import HopStore

/// hop's alert rules, with how long a condition must hold before it fires (`holdFor`) and how
/// long it must be clear before it resolves (`clearFor`): the hysteresis that keeps a flapping
/// condition from sending a message every 10 s.
public enum AlertRule: String, CaseIterable, Codable, Sendable {
    case down, errors, restartLoop = "restart-loop", memory, certificate, backup, disk, rollback

    public var holdFor: Int {
        switch self {
        case .down, .memory, .disk: 60
        case .errors, .restartLoop, .certificate, .backup, .rollback: 0   // their measure is a window already, or an event
        }
    }

    public var clearFor: Int {
        switch self {
        case .down: 30
        case .errors, .memory, .disk: 120
        case .restartLoop: 300
        case .certificate, .backup, .rollback: 0
        }
    }

    public var summary: String {
        switch self {
        case .down: "an app does not answer its health path for 1 min"
        case .errors: "over 5 % of an app's responses are 5xx over 5 min (at least 20 requests)"
        case .restartLoop: "an app's processes restarted 3 times or more in 5 min"
        case .memory: "an app's process uses over 90 % of its memory limit for 1 min"
        case .certificate: "an app's certificate expires within 14 days, or its renewal failed"
        case .backup: "an app's last scheduled backup failed, or none succeeded for twice its period"
        case .disk: "the disk holding hop's state is over 90 % full for 1 min"
        case .rollback: "a deploy was rolled back (resolved by the next generation that serves)"
        }
    }
}

/// One condition as an evaluation found it.
public struct AlertObservation: Sendable, Equatable {
    public var rule: AlertRule
    public var app: String?
    /// What the alert is about: the app, `app/domain`, `host`.
    public var subject: String
    /// nil: not checked this round (a costly check made less often): the alert stays as it is.
    public var active: Bool?
    /// What an operator reads: what is wrong, with the measure.
    public var message: String

    public init(rule: AlertRule, app: String?, subject: String, active: Bool?, message: String) {
        self.rule = rule; self.app = app; self.subject = subject; self.active = active; self.message = message
    }

    public var key: String { rule.rawValue + "/" + subject }
}

public enum AlertTransition: String, Sendable { case fired = "firing", resolved }

public enum AlertEngine {
    /// Seconds between two evaluations (the measures timer's period).
    public static let collectionInterval = 10

    /// One step of one alert: the open record (nil when none) and this round's observation (nil
    /// when its subject is gone: an app destroyed) → what to store and whether it fired or resolved.
    /// `store` nil with `drop` true: a pending alert whose condition went away.
    public static func step(_ open: AlertRecord?, _ o: AlertObservation?, rule: AlertRule, now: Int)
        -> (store: AlertRecord?, drop: Bool, transition: AlertTransition?) {
        if o != nil, o?.active == nil { return (open, false, nil) }
        let active = o?.active ?? false
        guard var a = open else {
            guard let o, active else { return (nil, false, nil) }
            var new = AlertRecord(key: o.key, rule: rule.rawValue, app: o.app, subject: o.subject, status: "pending", since: now, message: o.message)
            if rule.holdFor == 0 { new.status = "firing"; new.firedAt = now; return (new, false, .fired) }
            return (new, false, nil)
        }
        if let o, active { a.message = o.message }
        switch (a.status, active) {
        case ("pending", true):
            // The condition began up to one collection interval before it was first seen.
            guard now - a.since + Self.collectionInterval >= rule.holdFor else { return (a, false, nil) }
            a.status = "firing"; a.firedAt = now
            return (a, false, .fired)
        case ("pending", false):
            return (nil, true, nil)
        case ("firing", true):
            a.clearSince = nil
            return (a, false, nil)
        case ("firing", false):
            let clear = a.clearSince ?? now
            a.clearSince = clear
            guard now - clear >= rule.clearFor else { return (a, false, nil) }
            a.status = "resolved"; a.resolvedAt = now
            if let o { a.message = o.message }
            return (a, false, .resolved)
        default:
            return (nil, false, nil)
        }
    }

    /// Every open alert and observation of a round, stepped.
    public static func evaluate(open: [String: AlertRecord], observations: [AlertObservation], now: Int)
        -> (upsert: [(AlertRecord, AlertTransition?)], drop: [Int64]) {
        var byKey: [String: AlertObservation] = [:]
        for o in observations { byKey[o.key] = o }
        var upsert: [(AlertRecord, AlertTransition?)] = []
        var drop: [Int64] = []
        for key in Set(open.keys).union(byKey.keys).sorted() {
            let rec = open[key]
            guard let rule = AlertRule(rawValue: rec?.rule ?? byKey[key]?.rule.rawValue ?? "") else { continue }
            let r = step(rec, byKey[key], rule: rule, now: now)
            if r.drop, let id = rec?.id { drop.append(id) }
            if let s = r.store, s != rec || r.transition != nil { upsert.append((s, r.transition)) }
        }
        return (upsert, drop)
    }
}

/// What a notification says, per channel kind.
public enum AlertMessage {
    public static func subject(_ a: AlertRecord, _ t: AlertTransition) -> String {
        "[hop] \(t == .fired ? "FIRING" : "RESOLVED") \(a.rule): \(a.subject)"
    }

    public static func text(_ a: AlertRecord, _ t: AlertTransition, link: String?) -> String {
        var s = subject(a, t) + " — " + a.message
        if t == .resolved, let f = a.firedAt, let r = a.resolvedAt { s += " (after \(formatDuration(r - f)) firing)" }
        if let link { s += "\n" + link }
        return s
    }

    /// A mail: headers and a plain-text body (RFC 5322, CRLF line ends), as curl uploads it.
    public static func mail(from: String, to: [String], subject: String, body: String, date: Date, messageID: String) -> String {
        let headers = [
            "From: \(from)", "To: \(to.joined(separator: ", "))", "Subject: \(subject)",
            "Date: \(rfc5322Date(date))", "Message-ID: <\(messageID)>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "Auto-Submitted: auto-generated",
        ]
        // A line of only "." would end the message early in SMTP: curl dot-stuffs, but keep lines short.
        return (headers + [""] + body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)).joined(separator: "\r\n") + "\r\n"
    }

    /// A webhook body Slack and Mattermost (`text`) and Discord (`content`) all take, with the
    /// alert's fields for anything else.
    public static func webhook(_ a: AlertRecord, _ t: AlertTransition?, text: String, link: String?) -> String {
        var o: [String: JSONValue] = ["text": .string(text), "content": .string(text), "status": .string(t?.rawValue ?? "test"),
                                      "rule": .string(a.rule), "subject": .string(a.subject), "message": .string(a.message),
                                      "since": .string(isoTime(Date(timeIntervalSince1970: TimeInterval(a.since))))]
        if let app = a.app { o["app"] = .string(app) }
        if let link { o["link"] = .string(link) }
        return JSONValue.object(o).text()
    }

    static func formatDuration(_ seconds: Int) -> String {
        seconds < 120 ? "\(seconds) s" : seconds < 7200 ? "\(seconds / 60) min" : "\(seconds / 3600) h"
    }

    static func rfc5322Date(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return f.string(from: d)
    }
}
