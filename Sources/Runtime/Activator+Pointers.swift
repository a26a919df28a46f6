import Foundation
import AppSpec
import HopBasics
import HopStore

// The symlinks, the nginx site and the profile that say which generation serves.

extension Activator {
    // MARK: Pointers

    /// Points `/run/hop/<app>/current` and `web.sock` at generation `g` (rename(2), atomic), then
    /// installs its nginx site (a reload only when the text changed: domains, TLS, instance count).
    @discardableResult
    func point(_ app: String, to g: GenerationRecord?, manifest m: GenerationManifest?) throws -> Set<String> {
        let paths = AppRuntimePaths(app: app)
        let dir = host.path(paths.directory)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        guard let g, let m else {
            unlink(host.path(paths.current)); unlink(host.path(paths.socketLink))
            unlinkProxyLinks(app, from: 1)
            try nginx.remove(app: app)
            return []
        }
        try swapSymlink(at: host.path(paths.current), to: g.storePath)
        if m.socket != nil {
            try swapSymlink(at: host.path(paths.socketLink), to: "g\(g.number)/web.sock")
        } else {
            unlink(host.path(paths.socketLink))
        }
        let proxies = m.proxySockets ?? []
        for (i, socket) in proxies.enumerated() {
            try swapSymlink(at: host.path(paths.proxyLink(instance: i + 1)), to: "g\(g.number)/" + (socket as NSString).lastPathComponent)
        }
        var site = NginxSite.withPorts(try String(contentsOfFile: g.storePath + "/nginx-site.conf", encoding: .utf8),
                                       http: nginx.httpPort, https: nginx.httpsPort)
        if isStopped(app) { site = NginxSite.stopped(site, app: app) }
        let oldWorkers = try nginx.install(site: site, app: app)
        // Links past this generation's instance count are unused once nginx has the new site.
        unlinkProxyLinks(app, from: proxies.count + 1)
        guard let oldWorkers else { return [] }
        log("nginx reloaded (site of \(app) changed)")
        return oldWorkers
    }

    /// Removes the proxy socket links `web-<i>.sock` of `app` from instance `first` on.
    func unlinkProxyLinks(_ app: String, from first: Int) {
        let paths = AppRuntimePaths(app: app)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: host.path(paths.directory))) ?? []
        for name in names where name.hasPrefix("web-") && name.hasSuffix(".sock") {
            if let i = Int(name.dropFirst(4).dropLast(5)), i >= first { unlink(host.path(paths.directory + "/" + name)) }
        }
    }

    func swapSymlink(at path: String, to target: String) throws {
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == target { return }
        let tmp = path + ".new-\(getpid())"
        unlink(tmp)
        guard symlink(target, tmp) == 0, rename(tmp, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(tmp)
            throw HopError(.environment, "could not point \(path) at \(target): \(message)")
        }
    }

    /// Points the app's Nix profile at generation `n` (`profile -> profile-N-link`), atomically.
    func setProfile(_ app: String, _ n: Int?) throws {
        guard let n else { unlink(profile(app)); return }
        try swapSymlink(at: profile(app), to: "profile-\(n)-link")
    }
}
