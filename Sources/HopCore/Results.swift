import Foundation
import AppSpec
import HopBasics
import HopStore

// The Codable results operations return. Their JSON (sorted keys) is the `--json` output of the
// CLI and the body of the API's responses: one shape for every interface.

public struct GenerationInfo: Sendable, Codable, Equatable {
    public var app: String
    public var generation: Int
    public var build: Int64
    public var storePath: String
    public var appPath: String
    public var scale: [String: Int]
    public var status: String
    public var createdAt: String
    public var current: Bool
    public var ports: [Int]?
    public var reason: String?
    /// The generation's cron processes and their schedules: each runs from a systemd timer, so its
    /// `scale` count (instances of a long-running unit) is 0 while the timer fires.
    public var timers: [String: String]?

    public init(_ g: GenerationRecord) {
        app = g.app; generation = g.number; build = g.buildID; storePath = g.storePath; appPath = g.appPath
        scale = g.scale; status = g.status.rawValue; createdAt = isoTime(g.createdAt); current = g.status == .active
        ports = g.ports.isEmpty ? nil : g.ports; reason = g.reason
    }
}

public struct DeployResult: Sendable, Codable, Equatable {
    public var app: String
    public var generation: Int
    public var build: Int64
    public var status: String
    public var scale: [String: Int]
    /// True when the serving generation already ran this build, scale and config: nothing changed.
    public var noop: Bool
    /// True when the build was already recorded (nothing was rebuilt).
    public var cached: Bool
    /// Where the app answers.
    public var url: String
    public var seconds: Double
    public var storePath: String
    public var current: Bool
    /// When the command returned before the watch window ended: when it ends (ISO 8601). A
    /// background `hop settle` reverts the generation if it fails meanwhile (`hop generations`
    /// and the audit log say so).
    public var watchingUntil: String?
}

public struct RollbackResult: Sendable, Codable, Equatable {
    public var app: String
    public var generation: Int
    public var from: Int
    public var url: String
    public var seconds: Double
}

public struct AppSummary: Sendable, Codable, Equatable {
    public var app: String
    /// The serving generation's number, when one serves.
    public var generation: Int?
    /// True only when checked now: the serving generation's units are active and its URL answers
    /// through nginx (a generation recorded as serving is not enough).
    public var serving: Bool
    public var build: Int64?
    public var scale: [String: Int]?
    public var url: String?
    /// What the check found first (`serving`, `stopped`, `not answering: …`, `degraded: …`,
    /// `failed: …`, `not serving`, `unknown: …`), then after `; ` why the last generation failed
    /// or how its certificate stands.
    public var state: String
    public var deployedAt: String?
    /// Whether nginx answered the app's URL(s) just now (nil: not checked, nothing serves).
    public var answering: Bool?
}

public struct ProcessInfoRow: Sendable, Codable, Equatable {
    public var unit: String
    public var state: String
    public var sub: String
    public var pid: Int
    public var restarts: Int
}

public struct ProcessList: Sendable, Codable, Equatable {
    public var app: String
    public var generation: Int
    public var processes: [ProcessInfoRow]
}

public struct ActionResult: Sendable, Codable, Equatable {
    public var app: String
    public var action: String
    public var generation: Int?
}

public struct ConfigResult: Sendable, Codable, Equatable {
    public var app: String
    public var deployed: Bool
    public var generation: GenerationInfo?
    public var noop: Bool?
    public var keys: [String]
}

public struct DestroyResult: Sendable, Codable, Equatable {
    public var app: String
    public var destroyed: Bool
    public var purged: Bool
}

public struct RemovedGeneration: Sendable, Codable, Equatable {
    public var app: String
    public var generation: Int
}

public struct GCResult: Sendable, Codable, Equatable {
    public var removed: [RemovedGeneration]
}

public struct HostStatus: Sendable, Codable, Equatable {
    public var pid: Int?
    public var state: String
    public var restored: [String]?
    public var failed: [String: String]?
}

public struct UserInfo: Sendable, Codable, Equatable {
    public var name: String
    public var role: String
    public var apps: [String]
    public var hasPassword: Bool
    public var createdAt: String
    public init(_ u: UserRecord) {
        name = u.name; role = u.role.rawValue; apps = u.apps; hasPassword = u.hasPassword; createdAt = isoTime(u.createdAt)
    }
}

public struct TokenInfo: Sendable, Codable, Equatable {
    public var id: String
    public var user: String
    public var label: String
    public var createdAt: String
    public var expiresAt: String?
    public var revoked: Bool
    public var lastUsedAt: String?
    /// The whole token: only in the result of `token create`, never again.
    public var token: String?
    public init(_ t: TokenRecord, secret: String? = nil) {
        id = t.id; user = t.user; label = t.label; createdAt = isoTime(t.createdAt); expiresAt = t.expiresAt.map(isoTime)
        revoked = t.revokedAt != nil; lastUsedAt = t.lastUsedAt.map(isoTime); token = secret
    }
}

public struct AuditInfo: Sendable, Codable, Equatable {
    public var seq: Int64
    public var at: String
    public var actor: String
    public var via: String
    public var action: String
    public var app: String?
    public var detail: String
    public var result: String
    public var hash: String
    public init(_ e: AuditEntry) {
        seq = e.seq; at = isoTime(e.at); actor = e.actor; via = e.via; action = e.action; app = e.app; detail = e.detail
        result = e.result; hash = e.hash
    }
}

public struct AuditVerification: Sendable, Codable, Equatable {
    public var ok: Bool
    public var entries: Int
    /// The first entry that does not verify, and why.
    public var brokenAt: Int64?
    public var problem: String?
    /// How many signed checkpoints held (when the chain verified).
    public var checkpoints: Int?
    public init(ok: Bool, entries: Int, brokenAt: Int64? = nil, problem: String? = nil, checkpoints: Int? = nil) {
        self.ok = ok; self.entries = entries; self.brokenAt = brokenAt; self.problem = problem; self.checkpoints = checkpoints
    }
}

public struct LogLines: Sendable, Codable, Equatable {
    public var app: String
    public var lines: [String]
}

/// `2023-11-14T22:13:20.123Z`. A date of whole milliseconds since 1970 (every date read back from
/// the database) is written by plain arithmetic, the same text the formatter writes (`hop apps`
/// formats one per app per request); any other goes through the formatter.
public func isoTime(_ d: Date) -> String {
    let t = d.timeIntervalSince1970
    let ms = (t * 1000).rounded()
    guard t >= 0, ms < 253_402_300_800_000, ms / 1000 == t else { return isoFormatter.string(from: d) }
    return wholeMillisecondISOTime(Int64(ms))
}

func wholeMillisecondISOTime(_ ms: Int64) -> String {
    let msOfDay = ms % 86_400_000
    let (year, month, day) = Timestamp.civil(fromDays: ms / 86_400_000)
    let h = msOfDay / 3_600_000, mi = msOfDay / 60_000 % 60, s = msOfDay / 1000 % 60, f = msOfDay % 1000
    return String(unsafeUninitializedCapacity: 24) { out in
        func put(_ value: Int64, _ width: Int, at offset: Int) {
            var v = value
            for i in stride(from: offset + width - 1, through: offset, by: -1) { out[i] = UInt8(48 + v % 10); v /= 10 }
        }
        put(year, 4, at: 0); out[4] = 0x2D; put(month, 2, at: 5); out[7] = 0x2D; put(day, 2, at: 8); out[10] = 0x54
        put(h, 2, at: 11); out[13] = 0x3A; put(mi, 2, at: 14); out[16] = 0x3A; put(s, 2, at: 17); out[19] = 0x2E
        put(f, 3, at: 20); out[23] = 0x5A
        return 24
    }
}

/// One formatter for the process (making one per call costs more than formatting).
nonisolated(unsafe) private let isoFormatter: ISO8601DateFormatter = {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f
}()

extension BuildRecord {
    /// The app's metadata as recorded with the build; a record that does not decode is an error.
    public func spec() throws -> AppSpec {
        do {
            return try JSONDecoder().decode(AppSpec.self, from: Data(specJSON.utf8))
        } catch {
            throw HopError(.internalError, "build \(id) of \(app) has unreadable metadata: \(error)", hint: "build the app again")
        }
    }
}

public struct ServerInstallResult: Sendable, Codable, Equatable {
    public var unit: String
    public var url: String
}

public struct DomainOwner: Sendable, Codable, Equatable {
    public var domain: String
    public var app: String
}

/// A one-off command (`hop run`): the transient unit it runs as, the command that starts it and
/// waits, and the command that stops it (when the client goes away).
public struct RunPlan: Sendable {
    public var unit: String
    public var command: Command
    public var stop: Command
}

/// One variable an app's processes receive, with where it comes from: `config` (`hop config
/// set`), `generated` / `computed` (hop3.toml `[env]`), `addon NAME`, `hop3.toml` (an `[env]`
/// default baked into the build), or `hop` (set by hop's units: PORT, HOME…).
public struct EnvironmentEntry: Sendable, Codable, Equatable {
    public var key: String
    /// nil when masked (a secret shown without `reveal`).
    public var value: String?
    public var source: String
    public var masked: Bool

    public init(key: String, value: String?, source: String, masked: Bool = false) {
        self.key = key; self.value = value; self.source = source; self.masked = masked
    }

    /// Generated, computed and addon-provided values are secrets (passwords, keys, URLs with
    /// credentials): shown only on request.
    public var isSecret: Bool { source == "generated" || source == "computed" || source.hasPrefix("addon ") }
}

/// Every variable an app's serving generation receives (`hop config APP`).
public struct AppEnvironment: Sendable, Codable, Equatable {
    public var app: String
    public var generation: Int?
    public var revealed: Bool
    public var variables: [EnvironmentEntry]
}
