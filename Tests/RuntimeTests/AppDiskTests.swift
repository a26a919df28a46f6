import Foundation
import Testing
import AppSpec
import HopBasics
import HopTestSupport
@testable import Runtime

/// Answers `losetup -j` from a table (image → attached device) and records every command;
/// anything else succeeds silently.
fileprivate func loopRunner(attached: [String: String] = [:]) -> FakeProcessRunner {
    let runner = FakeProcessRunner()
    runner.on(["losetup", "-j"]) { command in
        .ok(command.arguments.last.flatMap { image in attached[image].map { "\($0): [2049]:1234 (\(image))\n" } } ?? "")
    }
    return runner
}

@Suite("[limits] disk: sizes, the reserve rule, where images are mounted")
struct AppDiskTests {
    @Test("sizes are digits then K, M, G or T in powers of 1024, or bytes; nothing else")
    func sizes() {
        #expect(DiskSize.bytes("32M") == 32 << 20)
        #expect(DiskSize.bytes("1G") == 1 << 30)
        #expect(DiskSize.bytes("2T") == 2 << 40)
        #expect(DiskSize.bytes("512K") == 512 << 10)
        #expect(DiskSize.bytes("16777216") == 16 << 20)
        for bad in ["", "M", "1.5G", "-1G", "+1G", "1g", "1 G", "1GB", "99999999999999999999T", "9999999999999999T"] {
            #expect(DiskSize.bytes(bad) == nil, "\(bad)")
        }
        #expect(DiskSize.describe(32 << 20) == "32 MiB")
        #expect(DiskSize.describe(3 << 29) == "1.5 GiB")
        #expect(DiskSize.describe(100) == "100 bytes")
    }

    @Test("free ≥ Σ(limit − allocated) + reserve: a new image counts its whole limit, a grown one only what it adds")
    func reserve() {
        let gib: Int64 = 1 << 30
        let b = DiskBudget(fileSystemSize: 100 * gib, free: 10 * gib,
                           images: ["a": .init(limit: 4 * gib, allocated: 1 * gib), "b": .init(limit: 2 * gib, allocated: 2 * gib)],
                           reserve: 5 * gib)
        // a may still take 3 GiB, b nothing: 2 GiB fit beside them and the reserve, 3 GiB do not.
        #expect(b.committed(app: "c", limit: 2 * gib) == 5 * gib)
        #expect(b.shortfall(app: "c", limit: 2 * gib) == nil)
        #expect(b.shortfall(app: "c", limit: 3 * gib) == 1 * gib)
        // Growing a from 4 to 6 GiB: it may take 5 GiB more than it holds.
        #expect(b.shortfall(app: "a", limit: 6 * gib) == nil)
        #expect(b.shortfall(app: "a", limit: 7 * gib) == 1 * gib)
        // An image allocated past its limit (never: ext4 stays inside) counts as nothing, not less.
        let over = DiskBudget(fileSystemSize: 10 * gib, free: gib, images: ["x": .init(limit: gib, allocated: 2 * gib)], reserve: gib)
        #expect(over.committed(app: "y", limit: 0) == 0)
        #expect(DiskBudget.defaultReserve(fileSystemSize: 10 * gib) == gib)
        #expect(DiskBudget.defaultReserve(fileSystemSize: 200 * gib) == 10 * gib)
    }

    @Test("under the private host an image is mounted and bound in hop's namespace and in the host's; natively once")
    func views() {
        let home = HopHome(root: "/srv/hop")
        let p = AppDiskLayout(home: home, privateHostPID: 4242)
        #expect(p.image("blog") == "/srv/hop/host/app-state/disk-images/blog.ext4")
        #expect(p.imageState("blog") == "/srv/hop/host/app-state/disks/blog/state")
        let v = p.views("blog")
        #expect(v.count == 2)
        #expect(v[0].namespacePID == nil && v[0].mountPoint == "/srv/hop/host/app-state/disks/blog")
        #expect(v[0].binds == [.init(subdirectory: "state", target: "/srv/hop/host/app-state/private/blog"),
                               .init(subdirectory: "cache", target: "/srv/hop/host/app-state/cache-private/blog")])
        #expect(v[1].namespacePID == 4242 && v[1].mountPoint == "/run/hop-disks/blog")
        #expect(v[1].binds == [.init(subdirectory: "state", target: "/var/lib/private/hop-apps/blog"),
                               .init(subdirectory: "cache", target: "/var/cache/private/hop-apps/blog")])
        #expect(v[1].openable("/run/hop-disks/blog") == "/proc/4242/root/run/hop-disks/blog")
        #expect(v[1].command("mount", ["--bind", "a", "b"]) == Command("nsenter", ["-t", "4242", "-m", "-p", "mount", "--bind", "a", "b"]))
        #expect(v[0].command("mount", ["x"]) == Command("mount", ["x"]))
        // After the private host stopped, `host down` still knows where its layout was.
        #expect(AppDiskLayout(home: home, privateHostPID: nil, underPrivateHost: true).ownedMountRoots
                == ["/srv/hop/host/app-state/disks", "/srv/hop/host/app-state/private", "/srv/hop/host/app-state/cache-private"])
        let native = AppDiskLayout(home: home, privateHostPID: nil)
        #expect(native.views("blog").count == 1)
        #expect(native.views("blog")[0].binds[0].target == "/var/lib/private/hop-apps/blog")
    }

    @Test("host down unmounts binds before the images they come from, and only hop's mounts")
    func releaseOrder() {
        let info = """
            22 1 253:0 / / rw - ext4 /dev/vda rw
            90 22 7:3 / /h/host/app-state/disks/a rw - ext4 /dev/loop3 rw
            91 22 7:3 /state /h/host/app-state/private/a rw - ext4 /dev/loop3 rw
            92 22 7:3 /cache /h/host/app-state/cache-private/a rw - ext4 /dev/loop3 rw
            93 22 7:4 / /h/host/app-state/disks/my\\040app rw - ext4 /dev/loop4 rw
            94 22 7:5 / /h/other/disks/x rw - ext4 /dev/loop5 rw
            95 22 7:5 / /h/host/app-state/disks rw - tmpfs tmpfs rw
            """
        let roots = AppDiskLayout(home: HopHome(root: "/h"), privateHostPID: nil, underPrivateHost: true).ownedMountRoots
        let points = AppDisks.mountPoints(under: roots, mountinfo: info)
        #expect(Set(points) == ["/h/host/app-state/disks/a", "/h/host/app-state/private/a", "/h/host/app-state/cache-private/a", "/h/host/app-state/disks/my app"])
        #expect(points.firstIndex(of: "/h/host/app-state/private/a")! < points.firstIndex(of: "/h/host/app-state/disks/a")!
                || points.firstIndex(of: "/h/host/app-state/cache-private/a")! < points.firstIndex(of: "/h/host/app-state/disks/a")!)
        #expect(points.last == "/h/host/app-state/disks/a" || points.last == "/h/host/app-state/disks/my app")
    }

    @Test("every namespace mounts the loop device the image is attached to already; a new one only when none is")
    func oneLoopDevice() throws {
        try withTemporaryDirectory { dir in
            let layout = AppDiskLayout(home: HopHome(root: dir), privateHostPID: nil)
            let runner = loopRunner(attached: [layout.image("a"): "/dev/loop7"])
            let disks = AppDisks(layout: layout, runner: runner)
            let device = try disks.loopDevice("a", attach: true)
            #expect(device == "/dev/loop7")
            #expect(!runner.commands.contains { $0.arguments.contains("--find") })
            #expect(throws: HopError.self) { try disks.loopDevice("b", attach: false) }
        }
    }

    @Test("a limit hop cannot honour is refused before anything is made: state outside an image, or a reserve the file system cannot keep")
    func refusals() throws {
        try withTemporaryDirectory { dir in
            let layout = AppDiskLayout(home: HopHome(root: dir), privateHostPID: nil, underPrivateHost: true)
            let runner = loopRunner()
            var disks = AppDisks(layout: layout, runner: runner)
            // State already there: hop does not move live data.
            try FileManager.default.createDirectory(atPath: layout.stateRoot + "/a", withIntermediateDirectories: true)
            try "x".write(toFile: layout.stateRoot + "/a/visits", atomically: true, encoding: .utf8)
            do { try disks.prepare("a", limit: 32 << 20); Issue.record("no error") } catch let e as HopError {
                #expect(e.code == .invalidInput && e.message.contains("state outside a disk image") && (e.hint ?? "").contains("hop backup create a"), "\(e)")
            }
            // A reserve larger than the file system's free space.
            disks.environment = ["HOP_DISK_RESERVE": "64T"]
            do { try disks.prepare("b", limit: 32 << 20); Issue.record("no error") } catch let e as HopError {
                #expect(e.code == .invalidInput && e.message.contains("cannot make a 32 MiB disk image for b") && e.message.contains("reserve of 64 TiB"), "\(e)")
                #expect((e.hint ?? "").contains("HOP_DISK_RESERVE"))
            }
            disks.environment = ["HOP_DISK_RESERVE": "lots"]
            #expect(throws: HopError.self) { try disks.prepare("b", limit: 32 << 20) }
            #expect(runner.commands.isEmpty, "\(runner.commands)")
            #expect(!disks.hasImage("a") && !disks.hasImage("b"))
        }
    }
}
