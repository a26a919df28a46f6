import Foundation
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// A minimal RESP2 client over a unix socket, for what redis-cli cannot do binary-safely: DUMP and
/// RESTORE of an addon's keys (their values in Redis's RDB serialisation). Written here because
/// no Redis client is in the package mirror and hop needs only these few commands.
final class RedisClient {
    enum Reply: Equatable { case simple(String), error(String), integer(Int64), bulk([UInt8]?), array([Reply]?) }
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var pos = 0

    init(socket path: String, user: String, password: String) throws {
        fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HopError(.environment, "socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw HopError(.environment, "socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { let e = errno; close(fd); throw HopError(.environment, "cannot reach hop's Redis at \(path): \(String(cString: strerror(e)))") }
        let auth = try call(["AUTH", user, password])
        if case .error(let e) = auth { throw HopError(.environment, "Redis refused hop's credentials: \(e)") }
    }
    deinit { close(fd) }

    func call(_ args: [String]) throws -> Reply { try call(args.map { Array($0.utf8) }) }

    func call(_ args: [[UInt8]]) throws -> Reply {
        try send(args)
        return try reply()
    }

    /// Sends several commands before reading their replies (pipelining).
    func pipeline(_ commands: [[[UInt8]]]) throws -> [Reply] {
        var out: [UInt8] = []
        for c in commands { out += Self.encode(c) }
        try writeAll(out)
        return try commands.map { _ in try reply() }
    }

    static func encode(_ args: [[UInt8]]) -> [UInt8] {
        var out = Array("*\(args.count)\r\n".utf8)
        for a in args { out += Array("$\(a.count)\r\n".utf8); out += a; out += [13, 10] }
        return out
    }

    private func send(_ args: [[UInt8]]) throws { try writeAll(Self.encode(args)) }

    private func writeAll(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HopError(.environment, "writing to Redis failed: \(String(cString: strerror(errno)))") }
            off += n
        }
    }

    private func fill() throws {
        if pos > 0 && pos == buffer.count { buffer.removeAll(keepingCapacity: true); pos = 0 }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw HopError(.environment, "Redis closed the connection") }
        buffer += chunk[0..<n]
    }

    private func line() throws -> String {
        while true {
            if let i = buffer[pos...].firstIndex(of: 10), i > pos, buffer[i - 1] == 13 {
                let s = String(decoding: buffer[pos..<(i - 1)], as: UTF8.self)
                pos = i + 1
                return s
            }
            try fill()
        }
    }

    private func bytes(_ n: Int) throws -> [UInt8] {
        while buffer.count - pos < n + 2 { try fill() }
        let out = Array(buffer[pos..<(pos + n)])
        pos += n + 2
        return out
    }

    func reply() throws -> Reply {
        let l = try line()
        guard let t = l.first else { throw HopError(.environment, "Redis sent an empty reply") }
        let rest = String(l.dropFirst())
        switch t {
        case "+": return .simple(rest)
        case "-": return .error(rest)
        case ":": return .integer(Int64(rest) ?? 0)
        case "$":
            let n = Int(rest) ?? -1
            return .bulk(n < 0 ? nil : try bytes(n))
        case "*":
            let n = Int(rest) ?? -1
            if n < 0 { return .array(nil) }
            return .array(try (0..<n).map { _ in try reply() })
        default: throw HopError(.environment, "Redis sent an unknown reply type `\(t)`")
        }
    }

    /// The databases that hold keys (`INFO keyspace`: `db3:keys=…`).
    func databasesWithKeys() throws -> [Int] {
        guard case .bulk(let b?) = try call(["INFO", "keyspace"]) else { throw HopError(.environment, "Redis INFO keyspace failed") }
        return String(decoding: b, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap { line -> Int? in
            guard line.hasPrefix("db"), let colon = line.firstIndex(of: ":") else { return nil }
            return Int(line[line.index(line.startIndex, offsetBy: 2)..<colon])
        }.sorted()
    }

    /// Every key matching `pattern` (SCAN, as hop's ACL user).
    func keys(matching pattern: String) throws -> [[UInt8]] {
        var cursor = "0"
        var out: [[UInt8]] = []
        repeat {
            guard case .array(let parts?) = try call(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"]), parts.count == 2,
                  case .bulk(let c?) = parts[0], case .array(let ks?) = parts[1] else { throw HopError(.environment, "Redis SCAN failed") }
            cursor = String(decoding: c, as: UTF8.self)
            for k in ks { if case .bulk(let b?) = k { out.append(b) } }
        } while cursor != "0"
        return Array(Set(out.map { Data($0) })).map { [UInt8]($0) }.sorted { $0.lexicographicallyPrecedes($1) }
    }
}

/// An addon's keys as hop archives them. Two layouts:
/// - `HOPREDIS1\n` (an addon on the shared server of earlier hops): per key its name (with the
///   addon's `NAME:` prefix), its time to live in milliseconds (-1: none) and its value as Redis's
///   DUMP gives it (RDB serialisation), each length-prefixed (u32/i64 big-endian);
/// - `HOPREDIS2\n` (an addon with a server of its own): the same, each key preceded by its
///   database number (u32), names as the app wrote them.
enum RedisDump {
    static let magic = Array("HOPREDIS1\n".utf8)
    static let magicOwn = Array("HOPREDIS2\n".utf8)

    struct Entry: Equatable { var db: Int = 0; var key: [UInt8]; var ttl: Int64; var value: [UInt8] }

    /// A dump: `ownServer` says which layout its keys are in.
    struct Dump: Equatable { var ownServer: Bool; var entries: [Entry] }

    static func encode(_ entries: [Entry], ownServer: Bool = false) -> Data {
        var out = Data(ownServer ? magicOwn : magic)
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).bigEndian) { out.append(contentsOf: $0) } }
        for e in entries {
            if ownServer { u32(e.db) }
            u32(e.key.count); out.append(contentsOf: e.key)
            withUnsafeBytes(of: e.ttl.bigEndian) { out.append(contentsOf: $0) }
            u32(e.value.count); out.append(contentsOf: e.value)
        }
        return out
    }

    static func encode(_ dump: Dump) -> Data { encode(dump.entries, ownServer: dump.ownServer) }

    static func decode(_ data: Data) throws -> Dump {
        let b = [UInt8](data)
        let own = b.starts(with: magicOwn)
        guard own || b.starts(with: magic) else { throw HopError(.verificationFailed, "the Redis dump has no HOPREDIS1 or HOPREDIS2 header") }
        var i = magic.count
        func need(_ n: Int) throws { guard i + n <= b.count else { throw HopError(.verificationFailed, "the Redis dump is truncated") } }
        func u32() throws -> Int { try need(4); defer { i += 4 }; return Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        var out: [Entry] = []
        while i < b.count {
            let db = own ? try u32() : 0
            let kn = try u32(); try need(kn); let key = Array(b[i..<(i + kn)]); i += kn
            try need(8); var ttl: Int64 = 0; for j in 0..<8 { ttl = ttl << 8 | Int64(b[i + j]) }; i += 8
            let vn = try u32(); try need(vn); let value = Array(b[i..<(i + vn)]); i += vn
            out.append(Entry(db: db, key: key, ttl: ttl, value: value))
        }
        return Dump(ownServer: own, entries: out)
    }

    /// The dump of addon `source` as addon `target` holds it (pure): from the shared layout to a
    /// server of its own the `source:` prefix goes; into the shared layout `target:` is put on
    /// (database 0 only: the shared server gives an addon no other); between prefixes it is renamed.
    static func converted(_ dump: Dump, source: String, target: String, targetOwnServer: Bool) throws -> Dump {
        let from = Array("\(source):".utf8), to = Array("\(target):".utf8)
        let entries = try dump.entries.map { e -> Entry in
            var key = e.key
            if !dump.ownServer {
                guard key.starts(with: from) else { throw HopError(.verificationFailed, "the Redis dump of \(source) holds keys of another addon") }
                key = Array(key.dropFirst(from.count))
            }
            if targetOwnServer { return Entry(db: e.db, key: key, ttl: e.ttl, value: e.value) }
            guard e.db == 0 else {
                throw HopError(.verificationFailed, "the Redis dump of \(source) uses database \(e.db), which an addon on the shared server cannot",
                               hint: "migrate the addon to a server of its own first (`hop addon migrate \(target)`)")
            }
            return Entry(db: 0, key: to + key, ttl: e.ttl, value: e.value)
        }
        return Dump(ownServer: targetOwnServer, entries: entries)
    }
}
