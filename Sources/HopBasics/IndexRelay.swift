import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way out of a resolver's sandbox: the sandbox gets a network namespace of its own
/// (loopback only) in which hop listens on `127.0.0.1:port`; that listener is an HTTP proxy that
/// connects to the package index's `host:port` and to nothing else (`CONNECT` for an https index,
/// absolute-form requests for an http one). So a package's `setup.py` running in the sandbox
/// reaches the index it resolves against, and not the machine's services, the metadata address, the
/// LAN or the internet.
///
/// The listening socket is made inside the sandbox's namespace (a thread `setns`es into it, binds,
/// and comes back), and the relay's threads run in hop's own namespace: no process in the sandbox
/// holds a way out, and no tool beyond iproute2 (`ip netns`) is needed. Written here because no
/// package in the mirror is an allow-listing forward proxy.
public final class IndexRelay: @unchecked Sendable {
    /// What the relay lets through.
    public struct Target: Sendable, Hashable {
        public var host: String
        public var port: Int
        /// Whether the index speaks TLS (then only `CONNECT host:port` passes).
        public var tls: Bool
        public init(host: String, port: Int, tls: Bool) { self.host = host; self.port = port; self.tls = tls }
    }

    public let target: Target
    /// The namespace's name under /run/netns (for `nsenter --net=`).
    public let namespace: String
    /// The proxy as the sandbox sees it.
    public var proxyURL: String { "http://127.0.0.1:\(port)" }
    public private(set) var port: Int = 0
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var closed = false

    /// The index's host and port from its URL (`https://pypi.org/simple` → pypi.org:443, TLS), or nil.
    public static func target(of indexURL: String) -> Target? {
        guard let c = URLComponents(string: indexURL), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty, c.user == nil else { return nil }
        return Target(host: host.lowercased(), port: c.port ?? (scheme == "https" ? 443 : 80), tls: scheme == "https")
    }

    /// What a request head asks for, and whether the target allows it: `CONNECT h:p` (TLS) or an
    /// absolute-form `METHOD http://h:p/… ` (plain HTTP). Pure, for the tests.
    public static func decide(requestLine: String, target: Target) -> Bool {
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return false }
        let method = parts[0], uri = String(parts[1])
        if target.tls {
            guard method == "CONNECT", let colon = uri.lastIndex(of: ":"), let port = Int(uri[uri.index(after: colon)...]) else { return false }
            var host = String(uri[..<colon]).lowercased()
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return host == target.host && port == target.port
        }
        guard ["GET", "HEAD"].contains(method), let c = URLComponents(string: uri), c.scheme?.lowercased() == "http",
              let host = c.host?.lowercased(), c.user == nil else { return false }
        return host == target.host && (c.port ?? 80) == target.port
    }

    /// A proxy request head (absolute-form) as the origin server takes it: `GET /path HTTP/1.1`,
    /// the `Proxy-*` headers dropped. Pure, for the tests.
    public static func originForm(_ head: String) -> String {
        var lines = head.components(separatedBy: "\r\n")
        guard let first = lines.first else { return head }
        let parts = first.split(separator: " ", omittingEmptySubsequences: false)
        if parts.count == 3, let c = URLComponents(string: String(parts[1])) {
            let path = (c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath) + (c.percentEncodedQuery.map { "?" + $0 } ?? "")
            lines[0] = "\(parts[0]) \(path) \(parts[2])"
        }
        lines = lines.filter { !$0.lowercased().hasPrefix("proxy-") }
        return lines.joined(separator: "\r\n")
    }

    /// Makes the namespace (loopback up) and the listener in it; relays until `close()`.
    public init(indexURL: String, runner: any ProcessRunner) throws {
        guard let target = Self.target(of: indexURL) else {
            throw HopError.invalid("the index URL \(indexURL) is not an http(s) URL with a host", hint: "e.g. --index-url https://pypi.org/simple")
        }
        self.target = target
        namespace = "hop-sandbox-" + String(UInt64.random(in: 0..<(1 << 48)), radix: 16)
        self.runner = runner
        let add = try runner.run(Command("ip", ["netns", "add", namespace]))
        guard add.succeeded else {
            throw HopError(.environment, "cannot make the resolver's network namespace: \(add.stderrText.suffix(300))", hint: "hop needs iproute2 and root")
        }
        do {
            let up = try runner.run(Command("ip", ["-n", namespace, "link", "set", "lo", "up"]))
            guard up.succeeded else { throw HopError(.environment, "cannot bring up the sandbox's loopback: \(up.stderrText.suffix(300))") }
            try listen()
        } catch {
            _ = try? runner.run(Command("ip", ["netns", "delete", namespace]))
            throw error
        }
        let t = Thread { [self] in acceptLoop() }
        t.name = "hop-index-relay"
        t.start()
    }

    private var runner: (any ProcessRunner)?

    /// Binds `127.0.0.1:0` inside the namespace from a thread of its own (setns moves only the
    /// calling thread), which then returns to hop's namespace.
    private func listen() throws {
        let nsPath = "/run/netns/" + namespace
        final class Outcome: @unchecked Sendable { var value: Result<(fd: Int32, port: Int), HopError> = .failure(HopError(.internalError, "not run")) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            outcome.value = Self.bindInside(nsPath)
            done.signal()
        }
        t.start()
        done.wait()
        let (fd, bound) = try outcome.value.get()
        listener = fd
        port = bound
    }

    /// Runs on a thread of its own, which ends after: enters the namespace, binds, returns.
    private static func bindInside(_ nsPath: String) -> Result<(fd: Int32, port: Int), HopError> {
        func failed(_ what: String) -> Result<(fd: Int32, port: Int), HopError> {
            .failure(HopError(.environment, "the resolver's relay: \(what): \(String(cString: strerror(errno)))"))
        }
        let mine = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let theirs = open(nsPath, O_RDONLY | O_CLOEXEC)
        defer { if mine >= 0 { Glibc.close(mine) }; if theirs >= 0 { Glibc.close(theirs) } }
        guard mine >= 0, theirs >= 0, setns(theirs, cloneNewNet) == 0 else { return failed("cannot enter \(nsPath)") }
        defer { _ = setns(mine, cloneNewNet) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return failed("socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let b = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard b == 0, Glibc.listen(fd, 16) == 0 else { let r = failed("bind/listen"); Glibc.close(fd); return r }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return .success((fd, Int(UInt16(bigEndian: addr.sin_port))))
    }

    /// setns(2): glibc has it, Swift's Glibc module does not export it (it is behind _GNU_SOURCE).
    static let cloneNewNet: Int32 = 0x4000_0000
    static func setns(_ fd: Int32, _ type: Int32) -> Int32 {
        typealias F = @convention(c) (Int32, Int32) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { errno = ENOSYS; return -1 }
        return unsafeBitCast(sym, to: F.self)(fd, type)
    }

    private func acceptLoop() {
        while true {
            let c = accept(listener, nil, nil)
            if c >= 0 { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
            if c < 0 {
                if errno == EINTR { continue }
                return // closed
            }
            let t = Thread { [self] in serve(c) }
            t.start()
        }
    }

    /// One client: its request head, the decision, then bytes both ways until either side closes.
    private func serve(_ client: Int32) {
        defer { Glibc.close(client) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while head.count < 16 << 10, !head.ends(with: [13, 10, 13, 10]) {
            let n = read(client, &buffer, 1)
            if n <= 0 { return }
            head.append(buffer[0])
        }
        let text = String(decoding: head, as: UTF8.self)
        let line = text.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        guard Self.decide(requestLine: line, target: target) else {
            _ = writeAll(client, Array("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            return
        }
        guard let upstream = connectTarget() else {
            _ = writeAll(client, Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            return
        }
        defer { Glibc.close(upstream) }
        if target.tls {
            guard writeAll(client, Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)) else { return }
        } else {
            guard writeAll(upstream, Array(Self.originForm(text).utf8)) else { return }
        }
        pump(client, upstream)
    }

    private func connectTarget() -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target.host, String(target.port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let a = p {
            let fd = socket(a.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 {
                if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                Glibc.close(fd)
            }
            p = a.pointee.ai_next
        }
        return nil
    }

    private func pump(_ a: Int32, _ b: Int32) {
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let r = poll(&fds, 2, 300_000)
            if r <= 0 { if r < 0 && errno == EINTR { continue }; return }
            for (i, f) in fds.enumerated() where f.revents != 0 {
                let n = read(f.fd, &buffer, buffer.count)
                if n <= 0 { return }
                guard writeAll(i == 0 ? b : a, Array(buffer[0..<n])) else { return }
            }
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }

    /// Stops listening and deletes the namespace (connections still open end with it).
    public func close() {
        lock.lock(); defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        _ = try? runner?.run(Command("ip", ["netns", "delete", namespace]))
    }

    deinit { close() }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
