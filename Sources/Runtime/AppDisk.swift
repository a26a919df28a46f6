import Foundation
import AppSpec
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

// `[limits] disk`: each bounded app's state and cache live on an ext4 file system of their own, a
// sparse image file on a loop device. This kernel has no quota support (no CONFIG_QUOTA), so
// project quotas are not available; an image bounds the app the same way (ENOSPC at its size)
// and needs nothing from the kernel beyond loop devices.
//
// The image is mounted at `<mounts>/<app>` and holds `state/` and `cache/`; the app's state and
// cache directories are bind mounts of those. Restore stages inside the image, so its swap stays a
// rename on one file system; the binds are made again afterwards (`mount(app)` is idempotent and
// notices a bind left on a directory that was renamed away). Under the private host every mount
// is made twice: in hop's mount namespace (where hop backs up and restores) and in the private
// host's (where the app runs), on the same loop device — one ext4 superblock, never two.

/// Where one app's image is mounted and bound, in one mount namespace.
public struct DiskView: Sendable, Equatable {
    public struct Bind: Sendable, Equatable {
        /// A directory of the image (`state`, `cache`).
        public var subdirectory: String
        /// The directory it is bound onto, as this namespace sees it.
        public var target: String
    }
    /// The private host's PID 1 whose mount namespace this is; nil for hop's own.
    public var namespacePID: Int32?
    /// Where the image's root is mounted, as this namespace sees it.
    public var mountPoint: String
    public var binds: [Bind]

    /// A path of this namespace made openable from hop's.
    public func openable(_ path: String) -> String { namespacePID.map { "/proc/\($0)/root" + path } ?? path }

    /// A command run inside this namespace.
    public func command(_ executable: String, _ arguments: [String]) -> Command {
        guard let pid = namespacePID else { return Command(executable, arguments) }
        // -p too: umount and findmnt read /proc/self, which the namespace's /proc shows only to its own PIDs.
        return Command("nsenter", ["-t", "\(pid)", "-m", "-p", executable] + arguments)
    }
}

/// Where images and their mounts are for a HOP_HOME and a service host (pure).
public struct AppDiskLayout: Sendable, Equatable {
    public let images: String
    public let mounts: String
    public let privateHostPID: Int32?
    /// The state and cache roots as hop's namespace sees them.
    public let stateRoot: String
    public let cacheRoot: String

    /// `underPrivateHost`: the private host's layout even when it is not running (nil: whether a
    /// PID is given), for `hop host down` after it stopped.
    public init(home: HopHome, privateHostPID: Int32?, underPrivateHost: Bool? = nil) {
        self.privateHostPID = privateHostPID
        let privateRoot = "/var/lib/private/" + String(UnitNames.stateDirectory(app: "").dropLast())
        let cacheRoot = "/var/cache/private/" + String(UnitNames.stateDirectory(app: "").dropLast())
        if underPrivateHost ?? (privateHostPID != nil) {
            let appState = home.root + "/host/app-state"
            images = appState + "/disk-images"
            mounts = appState + "/disks"
            stateRoot = appState + "/private"
            self.cacheRoot = appState + "/cache-private"
        } else {
            images = home.root + "/disk-images"
            mounts = home.root + "/disks"
            stateRoot = privateRoot
            self.cacheRoot = cacheRoot
        }
    }

    public func image(_ app: String) -> String { images + "/\(app).ext4" }
    public func mountPoint(_ app: String) -> String { mounts + "/" + app }
    /// The app's state directory inside its image, as hop's namespace sees it: what restore swaps.
    public func imageState(_ app: String) -> String { mountPoint(app) + "/state" }

    /// Every mount an app's image needs, namespace by namespace, hop's first.
    public func views(_ app: String) -> [DiskView] {
        let own = DiskView(namespacePID: nil, mountPoint: mountPoint(app),
                           binds: [.init(subdirectory: "state", target: stateRoot + "/" + app),
                                   .init(subdirectory: "cache", target: cacheRoot + "/" + app)])
        guard let pid = privateHostPID else { return [own] }
        let inner = DiskView(namespacePID: pid, mountPoint: "/run/hop-disks/" + app,
                             binds: [.init(subdirectory: "state", target: "/var/lib/private/" + UnitNames.stateDirectory(app: app)),
                                     .init(subdirectory: "cache", target: "/var/cache/private/" + UnitNames.stateDirectory(app: app))])
        return [own, inner]
    }

    /// Directories under which every mount in hop's namespace is hop's (released by `hop host down`).
    public var ownedMountRoots: [String] { [mounts, stateRoot, cacheRoot] }
}

/// The reserve rule (pure): an image may be made or grown only if the file system holding them
/// would keep `reserve` free with every image filled to its limit:
/// free ≥ Σ (limit − allocated) + reserve.
public struct DiskBudget: Sendable, Equatable {
    public struct Image: Sendable, Equatable {
        public var limit: Int64
        public var allocated: Int64
        public init(limit: Int64, allocated: Int64) { self.limit = limit; self.allocated = allocated }
    }
    public var fileSystemSize: Int64
    public var free: Int64
    public var images: [String: Image]
    public var reserve: Int64

    public init(fileSystemSize: Int64, free: Int64, images: [String: Image], reserve: Int64) {
        self.fileSystemSize = fileSystemSize; self.free = free; self.images = images; self.reserve = reserve
    }

    /// 5% of the file system, at least 1 GiB.
    public static func defaultReserve(fileSystemSize: Int64) -> Int64 { max(1 << 30, fileSystemSize / 20) }

    /// What images may still take if `app`'s limit becomes `limit`.
    public func committed(app: String, limit: Int64) -> Int64 {
        var total: Int64 = 0
        for (name, i) in images where name != app { total += max(0, i.limit - i.allocated) }
        return total + max(0, limit - (images[app]?.allocated ?? 0))
    }

    /// How many bytes are missing for `app` to have `limit` (nil: it fits).
    public func shortfall(app: String, limit: Int64) -> Int64? {
        let need = committed(app: app, limit: limit) + reserve
        return free >= need ? nil : need - free
    }
}

/// The images of one HOP_HOME: made, grown, mounted and released through the process runner.
public struct AppDisks: Sendable {
    public let layout: AppDiskLayout
    public let runner: any ProcessRunner
    public var warn: @Sendable (String) -> Void = { _ in }
    /// Where HOP_DISK_RESERVE is read (tests give their own).
    public var environment: [String: String] = ProcessInfo.processInfo.environment

    /// hop running inside the private host (hop server's unit): the images are the CLI's to make,
    /// mount and resize (it reaches both namespaces); here they are only checked.
    public let insidePrivateHost: Bool

    public init(home: HopHome, host: ServiceHost, runner: (any ProcessRunner)? = nil) {
        insidePrivateHost = host.pid == nil && FileManager.default.fileExists(atPath: home.root + "/host/app-state")
        self.layout = AppDiskLayout(home: home, privateHostPID: host.pid, underPrivateHost: host.pid != nil || insidePrivateHost)
        self.runner = runner ?? host.runner
    }

    public init(layout: AppDiskLayout, runner: any ProcessRunner) {
        insidePrivateHost = false
        self.layout = layout
        self.runner = runner
    }

    public func hasImage(_ app: String) -> Bool { FileManager.default.fileExists(atPath: layout.image(app)) }

    /// Apps that have an image.
    public func apps() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: layout.images)) ?? [])
            .filter { $0.hasSuffix(".ext4") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The image's size: the app's limit now.
    public func limit(_ app: String) -> Int64? {
        var st = stat()
        guard stat(layout.image(app), &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    /// Bytes used inside the image (its mounted file system), nil when not mounted.
    public func used(_ app: String) -> Int64? {
        guard isMountedRight(view: layout.views(app)[0], device: try? loopDevice(app, attach: false)) else { return nil }
        var s = statvfs()
        guard statvfs(layout.mountPoint(app), &s) == 0 else { return nil }
        return Int64(s.f_blocks - s.f_bfree) * Int64(s.f_frsize)
    }

    // MARK: The reserve

    /// The budget of the file system holding the images, with the reserve (`HOP_DISK_RESERVE`, a
    /// size like `2G`, or the default).
    public func budget() throws -> DiskBudget {
        try FileManager.default.createDirectory(atPath: layout.images, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var s = statvfs()
        guard statvfs(layout.images, &s) == 0 else { throw HopError(.environment, "cannot read the free space of \(layout.images)") }
        let size = Int64(s.f_blocks) * Int64(s.f_frsize)
        var images: [String: DiskBudget.Image] = [:]
        for app in apps() {
            var st = stat()
            if stat(layout.image(app), &st) == 0 { images[app] = .init(limit: Int64(st.st_size), allocated: Int64(st.st_blocks) * 512) }
        }
        var reserve = DiskBudget.defaultReserve(fileSystemSize: size)
        if let text = environment["HOP_DISK_RESERVE"], !text.isEmpty {
            guard let r = DiskSize.bytes(text) else {
                throw HopError.invalid("HOP_DISK_RESERVE `\(text)` is not a size", hint: "write a size such as `2G` or `500M`")
            }
            reserve = r
        }
        return DiskBudget(fileSystemSize: size, free: Int64(s.f_bavail) * Int64(s.f_frsize), images: images, reserve: reserve)
    }

    func checkReserve(_ app: String, limit: Int64, what: String) throws {
        let b = try budget()
        guard let short = b.shortfall(app: app, limit: limit) else { return }
        throw HopError.invalid(
            "cannot \(what): the file system of \(layout.images) has \(DiskSize.describe(b.free)) free, and would need "
                + "\(DiskSize.describe(b.committed(app: app, limit: limit))) for every app's disk image filled to its limit "
                + "plus hop's reserve of \(DiskSize.describe(b.reserve)) (\(DiskSize.describe(short)) short)",
            hint: "free space there, lower `[limits] disk`, or set HOP_DISK_RESERVE to a smaller reserve (hop's state and the Nix store need it)")
    }

    // MARK: Making and changing an image

    /// Brings the app's image in line with `limit` (bytes; nil: no `[limits] disk`) and mounts it.
    /// A new image needs an empty (or no) state directory: hop does not move live data.
    public func prepare(_ app: String, limit: Int64?) throws {
        if insidePrivateHost {
            guard limit == nil || limit == self.limit(app) else {
                throw HopError.invalid("\(app)'s `[limits] disk` image is made and resized by the hop CLI on the machine, not through hop server",
                                       hint: "run `hop deploy` for \(app) on the machine once with this limit")
            }
            return try mount(app)
        }
        if hasImage(app) {
            if let limit, let size = self.limit(app), limit != size {
                try mount(app)
                if limit > size { try grow(app, to: limit) } else { try refuseShrink(app, from: size, to: limit) }
            } else if limit == nil {
                warn("\(app) has no `[limits] disk` any more; its state stays on its \(DiskSize.describe(self.limit(app) ?? 0)) disk image (hop never moves live data)")
            }
            try mount(app)
            return
        }
        guard let limit else { return }
        for dir in [layout.stateRoot + "/" + app, layout.cacheRoot + "/" + app] where FileManager.default.fileExists(atPath: dir) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            guard entries.isEmpty else {
                throw HopError.invalid("\(app) has state outside a disk image (\(dir)); hop does not move live data onto a new `[limits] disk` image",
                                       hint: "deploy without `[limits] disk`, or: `hop backup create \(app)`, `hop destroy \(app) --purge`, deploy with the limit, `hop backup restore ID`")
            }
        }
        try create(app, bytes: limit)
        for dir in [layout.stateRoot + "/" + app, layout.cacheRoot + "/" + app] { rmdir(dir) }
        try mount(app)
    }

    /// A sparse image of `bytes` with an ext4 file system, made beside its final name and renamed
    /// into place: a killed hop leaves either no image or a whole one.
    func create(_ app: String, bytes: Int64) throws {
        try checkReserve(app, limit: bytes, what: "make a \(DiskSize.describe(bytes)) disk image for \(app)")
        let image = layout.image(app), partial = image + ".new"
        unlink(partial)
        let fd = open(partial, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HopError(.environment, "cannot create \(partial): \(String(cString: strerror(errno)))") }
        let truncated = ftruncate(fd, off_t(bytes)) == 0
        close(fd)
        guard truncated else { unlink(partial); throw HopError(.environment, "cannot size \(partial): \(String(cString: strerror(errno)))") }
        // No blocks reserved for root: the limit is the app's. The label says whose it is.
        let r = try runner.run(Command("mkfs.ext4", ["-q", "-F", "-m", "0", "-L", String("hop-" + app).prefix(16).description,
                                                     "-E", "root_owner=0:0", partial]))
        guard r.succeeded else {
            unlink(partial)
            throw HopError(.environment, "mkfs.ext4 failed for \(app)'s disk image", hint: "apt install e2fsprogs", detail: r.stderrTail(4))
        }
        guard rename(partial, image) == 0 else { unlink(partial); throw HopError(.environment, "cannot move \(partial) into place") }
    }

    /// Online growth: the file grows, the loop device learns its new size, resize2fs grows ext4.
    func grow(_ app: String, to bytes: Int64) throws {
        let size = limit(app) ?? 0
        try checkReserve(app, limit: bytes, what: "grow \(app)'s disk image from \(DiskSize.describe(size)) to \(DiskSize.describe(bytes))")
        let device = try loopDevice(app, attach: true)
        guard truncate(layout.image(app), off_t(bytes)) == 0 else {
            throw HopError(.environment, "cannot grow \(layout.image(app)): \(String(cString: strerror(errno)))")
        }
        let c = try runner.run(Command("losetup", ["-c", device]))
        guard c.succeeded else { throw HopError(.environment, "losetup -c \(device) failed", detail: c.stderrTail(3)) }
        let r = try runner.run(Command("resize2fs", [device]))
        if !r.succeeded && r.stderrText.contains("Permission denied") {
            // Online growth needs CAP_SYS_RESOURCE, which a container may not have: the file
            // system then grows offline the next time the image is mounted from scratch.
            warn("\(app)'s disk image is now \(DiskSize.describe(bytes)), but this machine does not allow growing a mounted ext4 "
                 + "(no CAP_SYS_RESOURCE): its file system stays at \(DiskSize.describe(size)) until it is next mounted (`hop host down`, `hop host up`)")
            return
        }
        guard r.succeeded else {
            throw HopError(.environment, "resize2fs could not grow \(app)'s disk image to \(DiskSize.describe(bytes))",
                           hint: "the image file is already larger; run `hop deploy` again to retry", detail: r.stderrTail(4))
        }
    }

    /// Grows the file system to the image's size while it is mounted nowhere (a growth that could
    /// not happen online): e2fsck first, as resize2fs requires offline.
    func growOffline(_ app: String, device: String) throws {
        let info = try runner.run(Command("dumpe2fs", ["-h", device]))
        var blocks: Int64 = 0, blockSize: Int64 = 0
        for line in info.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "Block count" { blocks = Int64(parts[1]) ?? 0 }
            if parts[0] == "Block size" { blockSize = Int64(parts[1]) ?? 0 }
        }
        guard info.succeeded, blocks > 0, blockSize > 0, let size = limit(app), blocks * blockSize < size else { return }
        let check = try runner.run(Command("e2fsck", ["-f", "-p", device]))
        guard check.status < 4 else {
            throw HopError(.environment, "e2fsck found errors it could not fix in \(app)'s disk image", hint: "run `e2fsck -f \(device)` by hand", detail: check.stdoutText + check.stderrTail(4))
        }
        let r = try runner.run(Command("resize2fs", [device]))
        if !r.succeeded { warn("\(app)'s disk image could not grow to \(DiskSize.describe(size)): \(r.stderrTail(1))") }
    }

    func refuseShrink(_ app: String, from size: Int64, to bytes: Int64) throws {
        let used = self.used(app) ?? 0
        let how = "keep `[limits] disk` at \(DiskSize.describe(size)) or more; to move to a smaller image: `hop backup create \(app)`, "
            + "`hop destroy \(app) --purge`, deploy with the new limit, `hop backup restore ID`"
        if used > bytes {
            throw HopError.invalid("\(app) uses \(DiskSize.describe(used)) of its disk, more than the new `[limits] disk` of \(DiskSize.describe(bytes))", hint: how)
        }
        throw HopError.invalid("hop does not shrink a disk image in place (\(app)'s is \(DiskSize.describe(size)), `[limits] disk` asks for \(DiskSize.describe(bytes)))", hint: how)
    }

    // MARK: Mounting

    /// The loop device of the app's image: the one it is attached to already (`losetup -j`), so
    /// every namespace mounts one device and ext4 sees one file system; else a new one.
    public func loopDevice(_ app: String, attach: Bool) throws -> String {
        let image = layout.image(app)
        let j = try runner.run(Command("losetup", ["-j", image]))
        if j.succeeded, let line = j.stdoutText.split(separator: "\n").first, let colon = line.firstIndex(of: ":") {
            return String(line[..<colon])
        }
        guard attach else { throw HopError(.notFound, "\(app)'s disk image is not attached") }
        let r = try runner.run(Command("losetup", ["--find", "--show", image]))
        let device = r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard r.succeeded, device.hasPrefix("/dev/") else {
            throw HopError(.environment, "cannot attach \(image) to a loop device", hint: "check that /dev/loop* exist (modprobe loop)", detail: r.stderrTail(3))
        }
        return device
    }

    func deviceNumber(_ device: String) -> dev_t? {
        var st = stat()
        return stat(device, &st) == 0 ? st.st_rdev : nil
    }

    func identity(_ path: String) -> (dev_t, ino_t)? {
        var st = stat()
        return stat(path, &st) == 0 ? (st.st_dev, st.st_ino) : nil
    }

    /// Whether `path` is a mount point of a file system other than its parent's.
    func isMountPoint(_ path: String) -> Bool {
        guard let me = identity(path), let parent = identity((path as NSString).deletingLastPathComponent) else { return false }
        return me.0 != parent.0
    }

    func isMountedRight(view: DiskView, device: String?) -> Bool {
        guard let device, let dev = deviceNumber(device), let here = identity(view.openable(view.mountPoint)) else { return false }
        return here.0 == dev && here.1 == 2  // the root inode of an ext4 file system
    }

    func run(_ view: DiskView, _ executable: String, _ arguments: [String], what: String) throws {
        let r = try runner.run(view.command(executable, arguments))
        guard r.succeeded else { throw HopError(.environment, "\(what) failed: \(executable) \(arguments.joined(separator: " ")) exited \(r.status)", detail: r.stderrTail(4)) }
    }

    /// Mounts the app's image and its binds in every namespace (idempotent: what is right stays,
    /// a bind left on a directory renamed away by a restore is replaced). Call before the app
    /// starts, after `hop host up`, and after a restore's swap.
    public func mount(_ app: String) throws {
        guard hasImage(app) else { return }
        if insidePrivateHost {
            let state = "/var/lib/private/" + UnitNames.stateDirectory(app: app)
            guard isMountPoint(state) else {
                throw HopError(.environment, "\(app)'s disk image is not mounted in the private host", hint: "run `hop host up` on the machine")
            }
            return
        }
        let device = try loopDevice(app, attach: true)
        if !layout.views(app).contains(where: { isMountedRight(view: $0, device: device) }) { try growOffline(app, device: device) }
        for view in layout.views(app) {
            let point = view.openable(view.mountPoint)
            if !isMountedRight(view: view, device: device) {
                try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                if isMountPoint(point) {
                    throw HopError(.environment, "\(view.mountPoint) has something else mounted on it, not \(app)'s disk image",
                                   hint: "unmount it (`umount \(view.mountPoint)`), then run the command again")
                }
                try run(view, "mount", ["-t", "ext4", "-o", "nosuid,nodev", device, view.mountPoint], what: "mounting \(app)'s disk image")
            }
            for b in view.binds {
                let source = view.mountPoint + "/" + b.subdirectory
                if view.namespacePID == nil, !FileManager.default.fileExists(atPath: source) {
                    // Root-owned at the top: systemd hands it to the app's user when the app starts.
                    try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                }
                let target = view.openable(b.target)
                if let s = identity(view.openable(source)), let t = identity(target), s == t { continue }
                if isMountPoint(target) {
                    // Stale: bound to a directory that is not the image's `state` any more. Lazily,
                    // since only the view goes; the directory itself is wherever restore put it.
                    try run(view, "umount", ["-l", b.target], what: "replacing the bind of \(b.target)")
                }
                if !FileManager.default.fileExists(atPath: target) {
                    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                }
                try run(view, "mount", ["--bind", source, b.target], what: "binding \(app)'s \(b.subdirectory) directory")
            }
        }
    }

    /// Unmounts the app's binds and image in every namespace and detaches its loop device. The
    /// image stays.
    public func release(_ app: String) throws {
        for view in layout.views(app).reversed() {
            for b in view.binds where isMountPoint(view.openable(b.target)) {
                try run(view, "umount", [b.target], what: "unmounting \(b.target)")
            }
            if isMountPoint(view.openable(view.mountPoint)) {
                try run(view, "umount", [view.mountPoint], what: "unmounting \(app)'s disk image")
            }
        }
        if hasImage(app), let device = try? loopDevice(app, attach: false) {
            _ = try runner.run(Command("losetup", ["-d", device]))
        }
    }

    /// Unmounts and deletes the app's image (`destroy --purge`).
    public func remove(_ app: String) throws {
        try release(app)
        unlink(layout.image(app))
        rmdir(layout.mountPoint(app))
    }

    /// After the private host stopped (its namespace took its mounts with it): every mount hop
    /// made in its own namespace under the images' directories, deepest first, then every loop
    /// device of an image. Run by `hop host down`; tests run it before deleting a HOP_HOME.
    public func releaseAll() throws {
        var problems: [String] = []
        for point in Self.mountPoints(under: layout.ownedMountRoots) {
            let r = try runner.run(Command("umount", [point]))
            if !r.succeeded { problems.append("\(point): \(r.stderrTail(1))") }
        }
        for app in apps() {
            let j = try runner.run(Command("losetup", ["-j", layout.image(app)]))
            for line in j.stdoutText.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                _ = try runner.run(Command("losetup", ["-d", String(line[..<colon])]))
            }
        }
        if !problems.isEmpty {
            throw HopError(.environment, "could not unmount every disk image: " + problems.joined(separator: "; "),
                           hint: "stop what uses them (fuser -m PATH), then run `hop host down` again")
        }
    }

    /// Mount points in hop's namespace under any of `roots`, deepest (and latest) first.
    public static func mountPoints(under roots: [String], mountinfo: String? = nil) -> [String] {
        let text = mountinfo ?? ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
        var points: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            let point = unescapeMountinfo(String(fields[4]))
            if roots.contains(where: { point.hasPrefix($0 + "/") }) { points.append(point) }
        }
        return points.enumerated().sorted { a, b in
            let (da, db) = (a.element.split(separator: "/").count, b.element.split(separator: "/").count)
            return da != db ? da > db : a.offset > b.offset
        }.map(\.element)
    }

    /// mountinfo writes space, tab, newline and backslash as `\ooo`.
    static func unescapeMountinfo(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v); i += 4
            } else { out.append(b[i]); i += 1 }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
