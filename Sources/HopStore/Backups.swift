import Foundation
import HopBasics

/// One backup attempt. A failed attempt stays recorded (status `failed`, with its error): a
/// backup that did not happen is never shown as done.
public struct BackupRecord: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable { case running, ok, failed }
    public var id: String
    public var app: String
    public var createdAt: Date
    public var finishedAt: Date?
    /// `manual`, `scheduled` or `before-deploy`.
    public var reason: String
    /// The generation serving when it was taken, and its build.
    public var generation: Int?
    public var buildID: Int64?
    /// A before-deploy backup: the generation whose switch it precedes.
    public var forGeneration: Int?
    /// Where it went: a local directory, or `rclone:REMOTE:PATH`.
    public var target: String
    /// The archive's full location at that target.
    public var location: String
    public var size: Int64
    /// SHA-256 of the encrypted file, hex.
    public var sha256: String
    public var status: Status
    public var error: String
    public var verifiedAt: Date?
    /// JSON: members, bytes, addons (a summary of the signed manifest, for listing).
    public var summary: String

    public init(id: String, app: String, createdAt: Date, finishedAt: Date? = nil, reason: String, generation: Int?, buildID: Int64?,
                forGeneration: Int? = nil, target: String, location: String, size: Int64 = 0, sha256: String = "",
                status: Status, error: String = "", verifiedAt: Date? = nil, summary: String = "{}") {
        self.id = id; self.app = app; self.createdAt = createdAt; self.finishedAt = finishedAt; self.reason = reason
        self.generation = generation; self.buildID = buildID; self.forGeneration = forGeneration; self.target = target
        self.location = location; self.size = size; self.sha256 = sha256; self.status = status; self.error = error
        self.verifiedAt = verifiedAt; self.summary = summary
    }
}

/// `[backup] schedule` / `hop backup schedule`: a systemd calendar expression and a retention policy.
public struct BackupScheduleRecord: Sendable, Codable, Hashable {
    public var app: String
    public var calendar: String
    /// Retention as text: `last=3,daily=7,weekly=4,monthly=6`.
    public var keep: String
    public var target: String?
    public init(app: String, calendar: String, keep: String, target: String?) {
        self.app = app; self.calendar = calendar; self.keep = keep; self.target = target
    }
}

extension HopDatabase {
    static let backupColumns = "id, app, created_at, finished_at, reason, generation, build_id, for_generation, target, location, size, sha256, status, error, verified_at, summary"

    public func putBackup(_ b: BackupRecord) throws {
        func int(_ v: Int?) -> SQLValue { v.map { .integer(Int64($0)) } ?? .null }
        func date(_ d: Date?) throws -> SQLValue { try d.map { .text(try Timestamp.encode($0)) } ?? .null }
        let values: [SQLValue] = [
            .text(b.id), .text(b.app), .text(try Timestamp.encode(b.createdAt)), try date(b.finishedAt), .text(b.reason),
            int(b.generation), b.buildID.map { .integer($0) } ?? .null, int(b.forGeneration), .text(b.target), .text(b.location),
            .integer(b.size), .text(b.sha256), .text(b.status.rawValue), .text(b.error), try date(b.verifiedAt), .text(b.summary),
        ]
        try db.transaction { conn in
            try conn.prepare("INSERT OR REPLACE INTO backups (\(Self.backupColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").run(values)
        }
    }

    /// Backups, newest first: of one app, or every one.
    public func backups(app: String? = nil) throws -> [BackupRecord] {
        try queryBackups("SELECT \(Self.backupColumns) FROM backups" + (app == nil ? "" : " WHERE app = ?") + " ORDER BY created_at DESC, id DESC",
                         app.map { [.text($0)] } ?? [])
    }

    public func backup(id: String) throws -> BackupRecord? {
        try queryBackups("SELECT \(Self.backupColumns) FROM backups WHERE id = ?", [.text(id)]).first
    }

    public func removeBackup(id: String) throws {
        try db.transaction { conn in try conn.prepare("DELETE FROM backups WHERE id = ?").run([.text(id)]) }
    }

    private func queryBackups(_ sql: String, _ args: [SQLValue]) throws -> [BackupRecord] {
        try db.read { conn in
            try conn.prepare(sql).rows(args) { r in
                guard let status = BackupRecord.Status(rawValue: try r.text(12)) else {
                    throw HopError(.environment, "backup \(try r.text(0)) in hop.db has an unknown status")
                }
                return BackupRecord(
                    id: try r.text(0), app: try r.text(1), createdAt: Timestamp.decode(try r.text(2)) ?? Date(timeIntervalSince1970: 0),
                    finishedAt: r.optionalText(3).flatMap(Timestamp.decode), reason: try r.text(4),
                    generation: r.isNull(5) ? nil : Int(try r.int64(5)), buildID: r.isNull(6) ? nil : try r.int64(6),
                    forGeneration: r.isNull(7) ? nil : Int(try r.int64(7)), target: try r.text(8), location: try r.text(9),
                    size: try r.int64(10), sha256: try r.text(11), status: status, error: try r.text(13),
                    verifiedAt: r.optionalText(14).flatMap(Timestamp.decode), summary: try r.text(15))
            }
        }
    }

    // MARK: Schedules

    public func setBackupSchedule(_ s: BackupScheduleRecord) throws {
        try db.transaction { conn in
            try conn.prepare("INSERT OR REPLACE INTO backup_schedules (app, calendar, keep, target) VALUES (?, ?, ?, ?)")
                .run([.text(s.app), .text(s.calendar), .text(s.keep), s.target.map { .text($0) } ?? .null])
        }
    }

    public func removeBackupSchedule(app: String) throws {
        try db.transaction { conn in try conn.prepare("DELETE FROM backup_schedules WHERE app = ?").run([.text(app)]) }
    }

    public func backupSchedules(app: String? = nil) throws -> [BackupScheduleRecord] {
        try db.read { conn in
            try conn.prepare("SELECT app, calendar, keep, target FROM backup_schedules" + (app == nil ? "" : " WHERE app = ?") + " ORDER BY app")
                .rows(app.map { [.text($0)] } ?? []) { r in
                    BackupScheduleRecord(app: try r.text(0), calendar: try r.text(1), keep: try r.text(2), target: r.optionalText(3))
                }
        }
    }
}
