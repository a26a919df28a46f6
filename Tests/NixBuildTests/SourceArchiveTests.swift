import Foundation
import Testing
import HopBasics
@testable import NixBuild

@Suite("Canonical source archive", .tags(.small))
struct SourceArchiveTests {
    /// Writes the same tree with the given umask, mtimes and creation order.
    func makeTree(_ root: String, umaskValue: mode_t, reverse: Bool, mtime: Date) throws {
        let old = umask(umaskValue)
        defer { umask(old) }
        var files = [("b.txt", "bee\n", false), ("a/x.py", "print(1)\n", false), ("a/run.sh", "#!/bin/sh\n", true), ("z/empty/.keep", "", false)]
        if reverse { files.reverse() }
        for (path, text, exec) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: full, contents: Data(text.utf8)))
            if exec { chmod(full, 0o777 & ~umaskValue) }
            try FileManager.default.setAttributes([.modificationDate: mtime], ofItemAtPath: full)
        }
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: "b.txt")
        try FileManager.default.createDirectory(atPath: root + "/.git/objects", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: root + "/.git/HEAD", contents: Data("junk".utf8)))
    }

    func archiveHash(_ root: String, ignore: [String] = []) throws -> (String, [SourceEntry]) {
        let entries = try SourceArchive.list(root: root, ignore: ignore, runner: SystemRunner())
        let out = root + ".tar"
        defer { try? FileManager.default.removeItem(atPath: out) }
        return (try SourceArchive.write(root: root, entries: entries, to: out), entries)
    }

    @Test("the same source gives the same hash whatever the clock, umask or creation order")
    func deterministic() throws {
        try withTemporaryDirectory { dir in
            try makeTree(dir + "/one", umaskValue: 0o022, reverse: false, mtime: Date(timeIntervalSince1970: 1_000_000))
            try makeTree(dir + "/two", umaskValue: 0o077, reverse: true, mtime: Date())
            let (h1, e1) = try archiveHash(dir + "/one")
            let (h2, _) = try archiveHash(dir + "/two")
            #expect(h1 == h2)
            #expect(!e1.contains { $0.path.hasPrefix(".git") })
            #expect(e1.map(\.path) == e1.map(\.path).sorted())
            // A content change changes the hash.
            try "bee!\n".write(toFile: dir + "/two/b.txt", atomically: true, encoding: .utf8)
            #expect(try archiveHash(dir + "/two").0 != h1)
        }
    }

    @Test("the archive holds canonical metadata: mtime 0, uid/gid 0, 0644/0755 modes")
    func canonicalMetadata() throws {
        try withTemporaryDirectory { dir in
            try makeTree(dir + "/t", umaskValue: 0o002, reverse: false, mtime: Date())
            let entries = try SourceArchive.list(root: dir + "/t", ignore: [], runner: SystemRunner())
            try SourceArchive.write(root: dir + "/t", entries: entries, to: dir + "/t.tar")
            let r = try SystemRunner().run(Command("tar", ["--numeric-owner", "--full-time", "-tvf", dir + "/t.tar"]))
            #expect(r.succeeded)
            let lines = r.stdoutText.split(separator: "\n").map(String.init)
            #expect(lines.count == entries.count)
            for l in lines {
                #expect(l.contains(" 0/0 "), "owner not 0/0: \(l)")
                #expect(l.contains("1970-01-01 00:00:00"), "mtime not 0: \(l)")
            }
            #expect(lines.contains { $0.hasPrefix("-rwxr-xr-x") && $0.hasSuffix("a/run.sh") })
            #expect(lines.contains { $0.hasPrefix("-rw-r--r--") && $0.hasSuffix("b.txt") })
            #expect(lines.contains { $0.hasPrefix("lrwxrwxrwx") && $0.hasSuffix("link -> b.txt") })
        }
    }

    @Test("ignore patterns: bare names at any depth, anchored paths, directory-only")
    func ignoreRules() {
        let r = IgnoreRules(["*.pyc", "/build", "cache/", "docs/*.md", "# comment"])
        #expect(r.ignores("a/b/x.pyc", isDirectory: false))
        #expect(r.ignores("build/out.o", isDirectory: false))
        #expect(!r.ignores("src/build/out.o", isDirectory: false))
        #expect(r.ignores("x/cache/f", isDirectory: false))
        #expect(!r.ignores("cache", isDirectory: false))
        #expect(r.ignores("docs/a.md", isDirectory: false))
        #expect(!r.ignores("docs/sub/a.md", isDirectory: false))
        #expect(!r.ignores("app.py", isDirectory: false))
    }

    @Test("in a git work tree only files git would commit are archived")
    func gitTree() throws {
        try withTemporaryDirectory { dir in
            let run = { (args: [String]) throws in
                let r = try SystemRunner().run(Command("git", ["-C", dir] + args))
                #expect(r.succeeded, "git \(args): \(r.stderrText)")
            }
            try run(["init", "-q"])
            try "ignored.log\n".write(toFile: dir + "/.gitignore", atomically: true, encoding: .utf8)
            try "a".write(toFile: dir + "/tracked.txt", atomically: true, encoding: .utf8)
            try "b".write(toFile: dir + "/ignored.log", atomically: true, encoding: .utf8)
            try "c".write(toFile: dir + "/new.txt", atomically: true, encoding: .utf8)
            try "d".write(toFile: dir + "/gone.txt", atomically: true, encoding: .utf8)
            try run(["add", "tracked.txt", "gone.txt", ".gitignore"])
            try FileManager.default.removeItem(atPath: dir + "/gone.txt")
            let paths = try SourceArchive.list(root: dir, ignore: ["new.txt"], runner: SystemRunner()).map(\.path)
            #expect(paths == [".gitignore", "tracked.txt"])
        }
    }

    @Test("a tracked path whose parent became a symbolic link is refused (exit 2), never read through the link")
    func symlinkedParentRefused() throws {
        try withTemporaryDirectory { dir in
            let app = dir + "/app", secret = dir + "/root-only"
            try FileManager.default.createDirectory(atPath: app + "/conf", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
            try "public\n".write(toFile: app + "/conf/settings", atomically: true, encoding: .utf8)
            try "TOP SECRET\n".write(toFile: secret + "/settings", atomically: true, encoding: .utf8)
            chmod(secret, 0o700); chmod(secret + "/settings", 0o600)
            let git = { (args: [String]) throws in
                let r = try SystemRunner().run(Command("git", ["-C", app] + args))
                #expect(r.succeeded, "git \(args): \(r.stderrText)")
            }
            try git(["init", "-q"])
            try git(["add", "conf/settings"])
            // The tracked directory is swapped for a link to a root-only one.
            try FileManager.default.removeItem(atPath: app + "/conf")
            try FileManager.default.createSymbolicLink(atPath: app + "/conf", withDestinationPath: secret)
            let error = #expect(throws: HopError.self) { try SourceArchive.list(root: app, ignore: [], runner: SystemRunner()) }
            #expect(error?.code == .invalidInput && error?.message.contains("conf, which is a symbolic link") == true, "\(String(describing: error))")
            // Listed before the swap, then swapped: write refuses too, and the archive holds no secret.
            try FileManager.default.removeItem(atPath: app + "/conf")
            try FileManager.default.createDirectory(atPath: app + "/conf", withIntermediateDirectories: true)
            try "public\n".write(toFile: app + "/conf/settings", atomically: true, encoding: .utf8)
            let entries = try SourceArchive.list(root: app, ignore: [], runner: SystemRunner())
            try FileManager.default.removeItem(atPath: app + "/conf")
            try FileManager.default.createSymbolicLink(atPath: app + "/conf", withDestinationPath: secret)
            #expect(throws: HopError.self) { try SourceArchive.write(root: app, entries: entries, to: dir + "/out.tar") }
            let tar = (try? Data(contentsOf: URL(fileURLWithPath: dir + "/out.tar"))) ?? Data()
            #expect(!String(decoding: tar, as: UTF8.self).contains("TOP SECRET"))
        }
    }

    @Test("a link is archived as a link, whatever it points at (outside the tree too)")
    func linksStayLinks() throws {
        try withTemporaryDirectory { dir in
            let app = dir + "/app"
            try FileManager.default.createDirectory(atPath: app + "/public", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: app + "/public/rootfs", withDestinationPath: "/")
            try FileManager.default.createSymbolicLink(atPath: app + "/passwd", withDestinationPath: "/etc/passwd")
            let (_, entries) = try archiveHash(app)
            #expect(entries.contains(SourceEntry(path: "public/rootfs", kind: .symlink(target: "/"))))
            #expect(entries.contains(SourceEntry(path: "passwd", kind: .symlink(target: "/etc/passwd"))))
            let entriesAgain = try SourceArchive.list(root: app, ignore: [], runner: SystemRunner())
            try SourceArchive.write(root: app, entries: entriesAgain, to: dir + "/a.tar")
            let listing = try SystemRunner().run(Command("tar", ["-tvf", dir + "/a.tar"])).stdoutText
            #expect(listing.contains("passwd -> /etc/passwd") && !listing.contains("root:x:0:0"), "\(listing)")
        }
    }

    @Test("a file made more private than its tree (chmod 600 .env in a 755 tree) is refused; a tree private throughout (umask 077) is not")
    func privateFilesRefused() throws {
        try withTemporaryDirectory { dir in
            let app = dir + "/app"
            try FileManager.default.createDirectory(atPath: app + "/keys", withIntermediateDirectories: true)
            chmod(app, 0o755)
            try "x = 1\n".write(toFile: app + "/app.py", atomically: true, encoding: .utf8)
            chmod(app + "/app.py", 0o644)
            try "SECRET=1\n".write(toFile: app + "/.env", atomically: true, encoding: .utf8)
            chmod(app + "/.env", 0o600)
            try "k".write(toFile: app + "/keys/id", atomically: true, encoding: .utf8)
            chmod(app + "/keys/id", 0o644); chmod(app + "/keys", 0o700)
            let error = #expect(throws: HopError.self) { try SourceArchive.list(root: app, ignore: [], runner: SystemRunner()) }
            #expect(error?.code == .invalidInput, "\(String(describing: error))")
            #expect(error?.message.contains(".env") == true && error?.message.contains("keys/") == true, "\(String(describing: error))")
            // Ignored, they are not read at all.
            #expect(try SourceArchive.list(root: app, ignore: [".env", "keys/"], runner: SystemRunner()).map(\.path) == ["app.py"])
            // Group-private in a group-readable tree (umask 027 checkout: 750/640) is refused too.
            chmod(app, 0o750); chmod(app + "/app.py", 0o640); chmod(app + "/keys", 0o750); chmod(app + "/keys/id", 0o640)
            let groupError = #expect(throws: HopError.self) { try SourceArchive.list(root: app, ignore: [], runner: SystemRunner()) }
            #expect(groupError?.message.contains(".env") == true && groupError?.message.contains("keys") == false, "\(String(describing: groupError))")
            // A tree private throughout says nothing per file.
            chmod(app, 0o700); chmod(app + "/app.py", 0o600); chmod(app + "/keys", 0o700); chmod(app + "/keys/id", 0o600)
            #expect(try SourceArchive.list(root: app, ignore: [], runner: SystemRunner()).count == 4)
        }
    }
}
