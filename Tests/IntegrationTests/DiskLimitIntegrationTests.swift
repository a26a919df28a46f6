import Foundation
import Testing
import HopBasics
import Runtime

/// Mount points in this (hop's) namespace under `root`.
func mountsUnder(_ root: String) -> [String] {
    AppDisks.mountPoints(under: [root])
}

/// Loop devices whose backing file is under `root` (`losetup -a`).
func loopDevicesUnder(_ root: String) -> [String] {
    let r = try? SystemRunner().run(Command("losetup", ["-a"]))
    return (r?.stdoutText ?? "").split(separator: "\n").map(String.init).filter { $0.contains(root + "/") }
}

/// `[limits] disk` with the real parts: a loop-mounted ext4 image per app, in hop's namespace and
/// in the private host's, against the shared deploy host.
@Suite("[limits] disk: an app past its limit gets ENOSPC, hop and other apps carry on", .tags(.integration), .serialized)
struct DiskLimitIntegrationTests {
    @Test("an app writing past `[limits] disk = \"32M\"` gets ENOSPC with its data intact while another app deploys and serves; backup and restore round-trip through the image; host down leaves no mount or loop device and host up brings it back; destroy keeps the image, --purge removes it")
    func diskLimit() throws {
        try #require(deployHost.ready)
        let a = "it-disk-a", b = "it-disk-b"
        let layout = AppDiskLayout(home: sharedHome, privateHostPID: nil, underPrivateHost: true)
        try withTemporaryDirectory { dir in
            let src = dir + "/a"
            try copyTree(fixtures + "/volume-app", src)
            let toml = try String(contentsOfFile: src + "/hop3.toml", encoding: .utf8)
            try (toml + "\n[limits]\ndisk = \"32M\"\n").write(toFile: src + "/hop3.toml", atomically: true, encoding: .utf8)
            let t0 = Date()
            let d = try hopEnv(["deploy", src, "--app", a, "--watch", "0"])
            try #require(d.status == 0, "deploy: \(d.stderr)")
            print("deploy of \(a) with a disk image: \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
            var st = stat()
            #expect(stat(layout.image(a), &st) == 0 && st.st_size == 32 << 20, "the image is 32 MiB")
            print("image allocated after mkfs: \(Int64(st.st_blocks) * 512) bytes")
            #expect(fetch(a, "/visit").body == "visits=1\n")

            // The state directory is the image's, in hop's namespace and in the private host's.
            let pid = try #require(PrivateHost(stateDir: sharedHome.root + "/host").pid())
            let inside = try SystemRunner().run(Command("nsenter", ["-t", "\(pid)", "-m", "-p", "findmnt", "-n", "-o", "SOURCE,FSTYPE",
                                                                    "/var/lib/private/hop-apps/\(a)"]))
            #expect(inside.stdoutText.contains("/dev/loop") && inside.stdoutText.contains("ext4"), "inside: \(inside.stdoutText) \(inside.stderrText)")
            #expect(mountsUnder(layout.stateRoot).contains(layout.stateRoot + "/" + a))

            // Past the limit: ENOSPC, for a one-off command and for the app's own writes.
            #expect(try hopEnv(["run", a, "--", "sh", "-c", "printf keep > data/keep.txt"]).status == 0)
            let fill = try hopEnv(["run", a, "--", "sh", "-c", "dd if=/dev/zero of=data/big bs=1M count=64"])
            #expect(fill.status != 0 && (fill.stderr + fill.stdout).contains("No space left on device"), "dd: \(fill.status) \(fill.stderr)")
            let written = try hopEnv(["run", a, "--", "stat", "-c", "%s", "data/big"])
            let bytes = Int64(written.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(bytes > 16 << 20 && bytes < 32 << 20, "dd wrote \(bytes) bytes before ENOSPC")
            print("dd wrote \(bytes) bytes into the 32M image before ENOSPC")
            #expect(try hopEnv(["run", a, "--", "cat", "data/keep.txt"]).stdout == "keep", "earlier data intact")

            // Meanwhile hop deploys another app, which serves.
            let db = try hopEnv(["deploy", fixtures + "/python-stdlib", "--app", b, "--watch", "0"])
            #expect(db.status == 0, "deploy \(b) while \(a) is full: \(db.stderr)")
            #expect(fetch(b).status == 200)
            #expect(fetch(a).status == 200, "\(a) still serves")

            // Backup and restore: staged inside the image, swapped by rename, bound again.
            #expect(try hopEnv(["run", a, "--", "rm", "data/big"]).status == 0)
            let backup = try hopEnv(["backup", "create", a, "--json"])
            let id = try #require(json(backup.stdout)["id"] as? String, "backup: \(backup.stderr)")
            #expect(try hopEnv(["run", a, "--", "sh", "-c", "printf changed > data/keep.txt"]).status == 0)
            let t1 = Date()
            let restore = try hopEnv(["backup", "restore", "--yes", id])
            #expect(restore.status == 0, "restore: \(restore.stderr)")
            print("restore into the image: \(String(format: "%.1f", Date().timeIntervalSince(t1))) s")
            #expect(try hopEnv(["run", a, "--", "cat", "data/keep.txt"]).stdout == "keep", "restored")
            #expect(fetch(a, "/visit").body == "visits=2\n", "the restored visits, plus this one")
            let inner = try SystemRunner().run(Command("nsenter", ["-t", "\(pid)", "-m", "-p", "cat", "/var/lib/private/hop-apps/\(a)/volumes/uploads/keep.txt"]))
            #expect(inner.stdoutText == "keep", "the private host sees the restored state: \(inner.stdoutText) \(inner.stderrText)")

            // host down: nothing mounted under HOP_HOME, no loop device; host up mounts it again.
            let down = try hopEnv(["host", "down"])
            #expect(down.status == 0, "\(down.stderr)")
            #expect(mountsUnder(sharedHome.root).isEmpty, "left mounted: \(mountsUnder(sharedHome.root))")
            usleep(300_000)
            #expect(loopDevicesUnder(sharedHome.root).isEmpty, "left attached: \(loopDevicesUnder(sharedHome.root))")
            let up = try hopEnv(["host", "up", "--http-port", "\(deployHost.port)"])
            #expect(up.status == 0, "host up: \(up.stderr)")
            #expect(fetch(a, "/visit").body == "visits=3\n", "\(a) came back on its image")
            #expect(fetch(b).status == 200)

            // destroy keeps the image and its data; --purge removes them.
            #expect(try hopEnv(["destroy", a]).status == 0)
            #expect(FileManager.default.fileExists(atPath: layout.image(a)))
            #expect((try? String(contentsOfFile: layout.imageState(a) + "/volumes/uploads/keep.txt", encoding: .utf8)) == "keep")
            let purge = try hopEnv(["destroy", a, "--purge", "--yes"])
            #expect(purge.status == 0, "\(purge.stderr)")
            #expect(!FileManager.default.fileExists(atPath: layout.image(a)))
            #expect(mountsUnder(sharedHome.root).allSatisfy { !$0.hasSuffix("/" + a) }, "\(mountsUnder(sharedHome.root))")
            #expect(try hopEnv(["destroy", b, "--purge", "--yes"]).status == 0)
        }
    }

    @Test("a smaller `[limits] disk` is refused (exit 2, what to do); a larger one grows the image online")
    func changeLimit() throws {
        try #require(deployHost.ready)
        let a = "it-disk-grow"
        let layout = AppDiskLayout(home: sharedHome, privateHostPID: nil, underPrivateHost: true)
        try withTemporaryDirectory { dir in
            let src = dir + "/a"
            try copyTree(fixtures + "/volume-app", src)
            let toml = try String(contentsOfFile: src + "/hop3.toml", encoding: .utf8)
            func limit(_ size: String) throws { try (toml + "\n[limits]\ndisk = \"\(size)\"\n").write(toFile: src + "/hop3.toml", atomically: true, encoding: .utf8) }
            try limit("32M")
            #expect(try hopEnv(["deploy", src, "--app", a, "--watch", "0"]).status == 0)
            try limit("16M")
            let shrink = try hopEnv(["deploy", src, "--app", a, "--watch", "0"])
            #expect(shrink.status == 2 && shrink.stderr.contains("does not shrink a disk image"), "\(shrink.stderr)")
            try limit("64M")
            let grow = try hopEnv(["deploy", src, "--app", a, "--watch", "0"])
            #expect(grow.status == 0, "\(grow.stderr)")
            var st = stat()
            #expect(stat(layout.image(a), &st) == 0 && st.st_size == 64 << 20)
            if grow.stderr.contains("no CAP_SYS_RESOURCE") {
                // This machine cannot grow a mounted ext4: it grows at the next mount from scratch.
                #expect(try hopEnv(["host", "down"]).status == 0)
                #expect(try hopEnv(["host", "up", "--http-port", "\(deployHost.port)"]).status == 0)
            }
            let dd = try hopEnv(["run", a, "--", "sh", "-c", "dd if=/dev/zero of=data/big bs=1M count=48 && rm data/big"])
            #expect(dd.status == 0, "48 MiB fit after growing: \(dd.stderr)")
            #expect(try hopEnv(["destroy", a, "--purge", "--yes"]).status == 0)
        }
    }
}
