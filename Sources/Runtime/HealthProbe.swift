import Foundation
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// Where a probe connects: a unix socket (by directory + name, so long paths such as
/// `/proc/PID/root/run/hop/…` still fit in `sun_path`) or a loopback TCP port.
public enum ProbeTarget: Sendable, Hashable, CustomStringConvertible {
    case unix(directory: String, name: String)
    case tcp(port: Int)
    /// `/proc/123/root/run/hop/x` → `/run/hop/x` (other paths unchanged).
    public static func withoutProcRoot(_ path: String) -> String {
        guard path.hasPrefix("/proc/") else { return path }
        let rest = path.dropFirst("/proc/".count)
        let digits = rest.prefix { $0.isNumber }
        guard !digits.isEmpty, rest.dropFirst(digits.count).hasPrefix("/root/") else { return path }
        return String(rest.dropFirst(digits.count + "/root".count))
    }
    public var description: String {
        switch self {
        // As the service host names it: hop reaches a private host's sockets through
        // /proc/PID/root, which means nothing to the reader.
        case .unix(let d, let n): return "unix:\(Self.withoutProcRoot(d))/\(n)"
        case .tcp(let p): return "127.0.0.1:\(p)"
        }
    }
}

/// The answer to one HTTP GET.
public struct ProbeResponse: Sendable, Hashable {
    public var status: Int
    public var body: String
    public init(status: Int, body: String) { self.status = status; self.body = body }
}

/// How the health gate and the watch window ask an instance: a seam, so the decisions that hang
/// on an answer (switch, roll back) are tested without an app listening.
public protocol HealthProber: Sendable {
    /// One GET of `path` with `Host: host`: HTTP, or FastCGI under `fastCGIRoot` (PHP-FPM).
    /// Throws `.environment` when there is no answer (not listening, timeout, malformed).
    func get(_ target: ProbeTarget, fastCGIRoot: String?, path: String, host: String, timeout: Double) throws -> ProbeResponse
}

/// Asks over the socket or port (`HealthProbe`).
public struct NetworkProber: HealthProber {
    public init() {}
    public func get(_ target: ProbeTarget, fastCGIRoot: String?, path: String, host: String, timeout: Double) throws -> ProbeResponse {
        if let root = fastCGIRoot { return try HealthProbe.fastCGIGet(target, documentRoot: root, path: path, host: host, timeout: timeout) }
        return try HealthProbe.get(target, path: path, host: host, timeout: timeout)
    }
}

/// A minimal HTTP/1.1 client for health checks: one GET, `Connection: close`, a deadline for the
/// whole exchange. Enough for a health gate; not a general client.
public enum HealthProbe {
    /// Sends `GET path` with `Host: host` and returns the status and body, or throws `.environment`
    /// describing what failed (connect, timeout, malformed answer).
    public static func get(_ target: ProbeTarget, path: String, host: String, timeout: Double) throws -> ProbeResponse {
        let deadline = Date().addingTimeInterval(timeout)
        let fd = try connect(target, deadline: deadline)
        defer { close(fd) }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: hop-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        try writeAll(fd, Array(request.utf8), deadline: deadline, target: target)
        return try parse(try readToEnd(fd, deadline: deadline, target: target, what: "an answer"), target: target)
    }

    /// One FastCGI GET (PHP-FPM): `path`'s script under `documentRoot` (`/` and directories run
    /// `index.php`, as nginx's site does), CGI parameters as nginx sends them. The answer's `Status:`
    /// header (200 when absent) and body. Written here because the health gate only needs a
    /// responder role request and no FastCGI client is in the mirror.
    public static func fastCGIGet(_ target: ProbeTarget, documentRoot: String, path: String, host: String, timeout: Double) throws -> ProbeResponse {
        let deadline = Date().addingTimeInterval(timeout)
        let fd = try connect(target, deadline: deadline)
        defer { close(fd) }
        let parts = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let uriPath = String(parts.first ?? "/")
        let script = uriPath.hasSuffix(".php") ? uriPath : (uriPath.hasSuffix("/") ? uriPath : uriPath + "/") + "index.php"
        let params: [(String, String)] = [
            ("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_SOFTWARE", "hop-health"), ("REQUEST_METHOD", "GET"),
            ("SCRIPT_FILENAME", documentRoot + script), ("SCRIPT_NAME", script), ("DOCUMENT_ROOT", documentRoot),
            ("REQUEST_URI", path), ("DOCUMENT_URI", script), ("QUERY_STRING", parts.count > 1 ? String(parts[1]) : ""),
            ("SERVER_PROTOCOL", "HTTP/1.1"), ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "0"),
            ("SERVER_ADDR", "127.0.0.1"), ("SERVER_PORT", "80"), ("SERVER_NAME", host), ("HTTP_HOST", host),
            ("HTTP_USER_AGENT", "hop-health"), ("CONTENT_LENGTH", ""), ("CONTENT_TYPE", ""),
        ]
        var out: [UInt8] = []
        out += fcgiRecord(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0]) // BEGIN_REQUEST, responder, no keep-conn
        var body: [UInt8] = []
        for (k, v) in params { body += fcgiLength(k.utf8.count) + fcgiLength(v.utf8.count) + Array(k.utf8) + Array(v.utf8) }
        out += fcgiRecord(type: 4, content: body) + fcgiRecord(type: 4, content: []) + fcgiRecord(type: 5, content: [])
        try writeAll(fd, out, deadline: deadline, target: target)
        // Without FCGI_KEEP_CONN, PHP-FPM closes the connection after FCGI_END_REQUEST.
        var data = try readToEnd(fd, deadline: deadline, target: target, what: "a FastCGI answer")[...]
        var stdout = [UInt8]()
        var ended = false
        // Records: version, type, id (2), content length (2), padding, reserved, content, padding.
        while data.count >= 8 {
            let h = data.startIndex
            let length = Int(data[h + 4]) << 8 | Int(data[h + 5]), padding = Int(data[h + 6])
            guard data.count >= 8 + length + padding else { break }
            switch data[h + 1] {
            case 6: stdout += data[(h + 8)..<(h + 8 + length)]
            case 3: ended = true
            default: break
            }
            data = data.dropFirst(8 + length + padding)
        }
        guard ended || !stdout.isEmpty else { throw HopError(.environment, "\(target) closed the connection without a FastCGI answer") }
        let text = String(decoding: stdout, as: UTF8.self)
        let split = text.range(of: "\r\n\r\n") ?? text.range(of: "\n\n")
        let head = split.map { String(text[..<$0.lowerBound]) } ?? text
        var status = 200
        for line in head.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) where line.lowercased().hasPrefix("status:") {
            status = Int(line.dropFirst("status:".count).trimmingCharacters(in: .whitespaces).prefix(3)) ?? 500
        }
        return ProbeResponse(status: status, body: split.map { String(text[$0.upperBound...]) } ?? "")
    }

    static func fcgiRecord(type: UInt8, content: [UInt8]) -> [UInt8] {
        let padding = (8 - content.count % 8) % 8
        return [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xff), UInt8(padding), 0] + content + [UInt8](repeating: 0, count: padding)
    }

    static func fcgiLength(_ n: Int) -> [UInt8] {
        n < 128 ? [UInt8(n)] : [UInt8((n >> 24) | 0x80), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
    }

    /// Reads until the peer closes (at most 4 MiB), within the deadline.
    private static func readToEnd(_ fd: Int32, deadline: Date, target: ProbeTarget, what: String) throws -> [UInt8] {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            try wait(fd, events: Int16(POLLIN), deadline: deadline, target: target, what: what)
            let n = read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw HopError(.environment, "reading from \(target) failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > 4 << 20 { break }
        }
        return data
    }

    /// Parses a whole HTTP/1.x response (chunked bodies are decoded).
    static func parse(_ data: [UInt8], target: ProbeTarget) throws -> ProbeResponse {
        let text = String(decoding: data, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n") else {
            throw HopError(.environment, "\(target) closed the connection without a complete HTTP answer")
        }
        let head = text[..<headerEnd.lowerBound]
        let statusLine = head.split(separator: "\r\n", omittingEmptySubsequences: false).first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HopError(.environment, "\(target) answered `\(statusLine.prefix(80))`, which is not an HTTP status line")
        }
        var body = String(text[headerEnd.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") { body = dechunk(body) }
        return ProbeResponse(status: status, body: body)
    }

    static func dechunk(_ s: String) -> String {
        var bytes = Array(s.utf8)[...]
        var out = [UInt8]()
        while let cr = bytes.firstIndex(of: 13), bytes.index(after: cr) < bytes.endIndex, bytes[bytes.index(after: cr)] == 10 {
            let sizeText = String(decoding: bytes[..<cr], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = cr + 2
            let end = min(bytes.endIndex, start + size)
            out += bytes[start..<end]
            bytes = bytes[min(bytes.endIndex, end + 2)...]
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func connect(_ target: ProbeTarget, deadline: Date) throws -> Int32 {
        switch target {
        case .unix(let directory, let name):
            let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dirFD >= 0 else {
                throw HopError(.environment, "\(target): the socket directory cannot be opened: \(String(cString: strerror(errno)))")
            }
            defer { close(dirFD) }
            let path = "/proc/self/fd/\(dirFD)/\(name)"
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw HopError(.environment, "socket(AF_UNIX) failed") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw HopError(.environment, "socket path too long: \(path)") }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
                raw[bytes.count] = 0
            }
            let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            try finishConnect(fd, r, target: target, deadline: deadline)
            return fd
        case .tcp(let port):
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw HopError(.environment, "socket(AF_INET) failed") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
            let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            try finishConnect(fd, r, target: target, deadline: deadline)
            return fd
        }
    }

    private static func finishConnect(_ fd: Int32, _ r: Int32, target: ProbeTarget, deadline: Date) throws {
        if r == 0 { return }
        guard errno == EINPROGRESS || errno == EAGAIN else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HopError(.environment, "connecting to \(target) failed: \(message)")
        }
        do { try wait(fd, events: Int16(POLLOUT), deadline: deadline, target: target, what: "the connection") } catch { close(fd); throw error }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        if err != 0 {
            close(fd)
            throw HopError(.environment, "connecting to \(target) failed: \(String(cString: strerror(err)))")
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], deadline: Date, target: ProbeTarget) throws {
        var offset = 0
        while offset < bytes.count {
            try wait(fd, events: Int16(POLLOUT), deadline: deadline, target: target, what: "sending the request")
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw HopError(.environment, "sending to \(target) failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    private static func wait(_ fd: Int32, events: Int16, deadline: Date, target: ProbeTarget, what: String) throws {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw HopError(.environment, "\(target): timed out waiting for \(what)") }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, Int32(min(remaining * 1000, 60_000)) + 1)
            if r > 0 { return }
            if r < 0 && errno != EINTR { throw HopError(.environment, "poll on \(target) failed") }
        }
    }
}
