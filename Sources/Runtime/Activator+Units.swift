import Foundation
import AppSpec
import HopBasics
import HopStore

// Installing, starting, stopping and pruning a generation's units.

extension Activator {
    // MARK: Units

    /// Copies the generation's unit files (and drop-ins) into the host's unit directory; systemd
    /// reloads only when it could otherwise run stale or incomplete settings:
    /// - a generation's own units (`hop-<app>-G<n>-…`, drop-ins included) have names no other
    ///   generation uses and never change (numbers are not reused). A new one needs no reload:
    ///   systemd (≥ 246) rebuilds its unit-name map when a unit directory changed and finds the
    ///   file when the unit is first started; a unit asked about before its file existed is
    ///   "not-found", which systemd retries. So a deploy or a rollback pays no `daemon-reload`
    ///   (~220 ms in the private host).
    /// - the app's slice and network unit keep their names across generations. A slice is loaded
    ///   even without a file (an implicit, unlimited slice, as `systemctl show` of it leaves), and
    ///   systemd does not look again: a new or changed one reloads (an app's first deploy, a
    ///   `hop scale` that changes the slice's limits).
    func installUnits(_ g: GenerationRecord) throws {
        var reload = false
        let fm = FileManager.default
        let src = g.storePath + "/units"
        let dst = host.path(host.unitDirectory)
        guard let names = try? fm.contentsOfDirectory(atPath: src) else { return }
        for name in names.sorted() {
            let own = UnitNames.generation(ofUnit: name, app: g.app) == g.number
            func install(_ from: String, _ to: String) throws {
                let existed = fm.fileExists(atPath: to)
                if try writeFileIfChanged(to, try String(contentsOfFile: from, encoding: .utf8)), existed || !own { reload = true }
            }
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: src + "/" + name, isDirectory: &isDir)
            if isDir.boolValue {
                for inner in try fm.contentsOfDirectory(atPath: src + "/" + name) {
                    try install(src + "/" + name + "/" + inner, dst + "/" + name + "/" + inner)
                }
            } else {
                try install(src + "/" + name, dst + "/" + name)
            }
        }
        if reload { try services.daemonReloadChecked() }
    }

    /// The unit files of generation `n` of `app` present in the unit directory.
    func installedUnitFiles(app: String, number n: Int) -> [String] {
        let dir = host.path(host.unitDirectory)
        let prefix = UnitNames.prefix(app: app, generation: n)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Stops every unit of generation `n` and removes its unit files.
    public func stopAndRemove(app: String, number n: Int) throws {
        try stop(app: app, number: n)
        let dir = host.path(host.unitDirectory)
        let files = installedUnitFiles(app: app, number: n)
        for f in files { try? FileManager.default.removeItem(atPath: dir + "/" + f) }
        if !files.isEmpty { _ = try services.daemonReload() }
    }

    /// Removes the app's network namespace and the unit that creates it (after its generations are
    /// stopped and removed: `hop destroy`). Processes still inside would keep it alive, unreachable.
    public func removeNetwork(app: String) throws {
        let unit = UnitNames.networkUnit(app: app)
        _ = try services.stop([unit])
        let file = host.path(host.unitDirectory) + "/" + unit
        let slice = host.path(host.unitDirectory) + "/" + UnitNames.slice(app: app)
        if FileManager.default.fileExists(atPath: file) || FileManager.default.fileExists(atPath: slice) {
            try? FileManager.default.removeItem(atPath: file)
            try? FileManager.default.removeItem(atPath: slice)
            _ = try services.daemonReload()
        }
        if FileManager.default.fileExists(atPath: host.path(UnitNames.networkNamespacePath(app: app))) {
            let r = try host.run("ip", ["netns", "delete", UnitNames.networkNamespace(app: app)])
            if !r.succeeded { log("could not delete the network namespace of \(app): \(r.stderrTail(2))") }
        }
    }

    /// Stops every unit of generation `n` (its unit files stay, so starting it again is quick).
    public func stop(app: String, number n: Int) throws {
        let pattern = UnitNames.prefix(app: app, generation: n) + "*"
        _ = try services.stop([pattern])
        _ = try services.resetFailed([pattern])
    }

    /// Removes the unit files of every generation of `app` except `keep` (stopped ones only).
    public func pruneUnitFiles(app: String, keep: Set<Int>) throws {
        let dir = host.path(host.unitDirectory)
        var removed = false
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            guard let n = UnitNames.generation(ofUnit: f, app: app), !keep.contains(n) else { continue }
            try stop(app: app, number: n)
            try? FileManager.default.removeItem(atPath: dir + "/" + f)
            removed = true
        }
        if removed { _ = try services.daemonReload() }
    }

    /// Starts the generation's socket, release and process instances.
    func start(_ g: GenerationRecord, _ m: GenerationManifest) throws {
        // A `[limits] disk` image must be mounted (and bound) in the service host before a unit
        // of the app starts, or the app would write its state beside the image, unbounded.
        try AppDisks(home: home, host: host).mount(g.app)
        let gs = m.units
        // Without a release step, sockets and instances start in one systemd transaction (one
        // systemctl call less, ~20 ms: each instance is ordered after its socket by its unit).
        var instances = gs.instances
        if gs.releases.isEmpty {
            instances = gs.sockets + gs.instances
        } else if !gs.sockets.isEmpty {
            try services.startChecked(gs.sockets, what: "starting the sockets of \(g.app) generation \(g.number)")
        }
        for release in gs.releases {
            log("running release step \(release)")
            let r = try services.start([release])
            if !r.succeeded {
                throw HopError(.rolledBack, "the release step of \(g.app) generation \(g.number) failed",
                               hint: "see `hop logs \(g.app) --process release`", detail: r.stderrTail(5))
            }
        }
        if !instances.isEmpty {
            let r = try services.start(instances)
            if !r.succeeded {
                throw HopError(.rolledBack, "systemd could not start \(g.app) generation \(g.number)", detail: r.stderrTail(6))
            }
        }
    }
}
