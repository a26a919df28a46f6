import Foundation
import HopBasics

// Backups: list, create, show, verify, restore, destroy, prune, schedule.

public struct BackupRef: Codable, Sendable, SchemaConstrained {
    public var backup: String
    public init(backup: String) { self.backup = backup }
    public static var fieldSchemas: [String: JSONValue] { ["backup": FieldSchema.backupID] }
}

public enum ListBackups: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var app: String?
        public init(app: String? = nil) { self.app = app }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName] }
    }
    public static let name = "listBackups"
    public static let summary = "Backups (failed attempts too), newest first, of the apps the caller may see."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/backups")
    public static func run(_ input: Input, _ call: OperationCall) throws -> [BackupInfo] { try call.ops.backups(app: input.app) }
}

public enum CreateBackup: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var to: String?
        public init(app: String, to: String? = nil) { self.app = app; self.to = to }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName, "to": FieldSchema.backupTarget] }
    }
    public static let name = "createBackup"
    public static let summary = "Back the app up now: state, volumes, addon dumps, config, provenance; signed and encrypted. A local `to` needs admin."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/backups", streams: true)
    public static func run(_ input: Input, _ call: OperationCall) throws -> BackupInfo { try call.ops.backupCreate(app: input.app, to: input.to) }
}

public enum ShowBackup: HopOperation {
    public static let name = "showBackup"
    public static let summary = "One backup."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/backups/{backup}")
    public static func run(_ input: BackupRef, _ call: OperationCall) throws -> BackupInfo { try call.ops.backupShow(id: input.backup) }
}

public enum VerifyBackup: HopOperation {
    public static let name = "verifyBackup"
    public static let summary = "Read a backup back in full: file hash, decryption, every checksum, the manifest's signature (422 if any fails)."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/backups/{backup}/verify")
    public static func run(_ input: BackupRef, _ call: OperationCall) throws -> BackupVerification { try call.ops.backupVerify(id: input.backup) }
}

public enum RestoreBackup: HopOperation {
    public struct Input: Codable, Sendable, SchemaConstrained {
        public var backup: String
        public var toApp: String?
        public init(backup: String, toApp: String? = nil) { self.backup = backup; self.toApp = toApp }
        public static var fieldSchemas: [String: JSONValue] { ["backup": FieldSchema.backupID, "toApp": FieldSchema.appName] }
    }
    public static let name = "restoreBackup"
    public static let summary = "Restore a backup into its app (or a new app, admin): verified, staged, swapped in, health-gated; undone on failure."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/backups/{backup}/restore", streams: true)
    public static func run(_ input: Input, _ call: OperationCall) throws -> RestoreResult {
        try call.ops.backupRestore(id: input.backup, toApp: input.toApp)
    }
}

public enum DestroyBackup: HopOperation {
    public static let name = "destroyBackup"
    public static let summary = "Delete a backup (its file and its record)."
    public static let permission = Permission.read
    public static let audit = AuditMode.operation
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/backups/{backup}")
    public static func run(_ input: BackupRef, _ call: OperationCall) throws -> BackupInfo { try call.ops.backupDestroy(id: input.backup) }
}

public enum PruneBackups: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var keep: String?
        public init(app: String, keep: String? = nil) { self.app = app; self.keep = keep }
        public static var fieldSchemas: [String: JSONValue] { ["app": FieldSchema.appName, "keep": FieldSchema.retention] }
    }
    public static let name = "pruneBackups"
    public static let summary = "Apply a retention policy; the newest verified backup is always kept."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.POST, "/api/apps/{app}/backups/prune")
    public static func run(_ input: Input, _ call: OperationCall) throws -> PruneResult { try call.ops.backupPrune(app: input.app, keep: input.keep) }
}

public enum GetBackupSchedule: AppOperation {
    public static let name = "getBackupSchedule"
    public static let summary = "The app's backup schedule."
    public static let permission = Permission.read
    public static let http: HTTPBinding? = HTTPBinding(.GET, "/api/apps/{app}/backup-schedule")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> BackupScheduleInfo {
        try call.ops.backupSchedule(app: input.app, calendar: nil, keep: nil, target: nil, off: false)
    }
}

public enum SetBackupSchedule: AppOperation {
    public struct Input: Codable, Sendable, SchemaConstrained, AppScoped {
        public var app: String
        public var calendar: String
        public var keep: String?
        public var to: String?
        public init(app: String, calendar: String, keep: String? = nil, to: String? = nil) {
            self.app = app; self.calendar = calendar; self.keep = keep; self.to = to
        }
        public static var fieldSchemas: [String: JSONValue] {
            ["app": FieldSchema.appName, "keep": FieldSchema.retention, "to": FieldSchema.backupTarget,
             "calendar": ["type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9 *:,./~+-]+$"]]
        }
    }
    public static let name = "setBackupSchedule"
    public static let summary = "Back the app up on a systemd calendar schedule, then prune."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.PUT, "/api/apps/{app}/backup-schedule")
    public static func run(_ input: Input, _ call: OperationCall) throws -> BackupScheduleInfo {
        try call.ops.backupSchedule(app: input.app, calendar: input.calendar, keep: input.keep, target: input.to, off: false)
    }
}

public enum RemoveBackupSchedule: AppOperation {
    public static let name = "removeBackupSchedule"
    public static let summary = "Remove the app's backup schedule."
    public static let permission = Permission.deploy
    public static let http: HTTPBinding? = HTTPBinding(.DELETE, "/api/apps/{app}/backup-schedule")
    public static func run(_ input: AppInput, _ call: OperationCall) throws -> BackupScheduleInfo {
        try call.ops.backupSchedule(app: input.app, calendar: nil, keep: nil, target: nil, off: true)
    }
}
