import Foundation
import AppSpec
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// A toolchain imported from the host into the store, content-addressed, for air-gapped builds.
public enum SeedKind: String, Sendable, CaseIterable, Codable {
    case busybox, patchelf, python, node, go
    /// Debian's PHP 8.2: the CLI, PHP-FPM and the extension modules of the php8.2-* packages.
    case php
    /// Debian's Ruby 3.1 with its standard library, RubyGems and Bundler.
    case ruby
    /// Backing services (addons): Debian's PostgreSQL 15 server and clients, Redis 7, MariaDB 10.11.
    case postgres, redis, mariadb

    /// Seeds every build needs, whatever the builder.
    public static let base: [SeedKind] = [.busybox, .patchelf]
}

/// The result of importing one seed.
public struct ImportedSeed: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    public var storePath: String
    public var narHash: String
    public var origin: String
}

/// Stages a host toolchain into a directory (binary, its tree, every shared library it loads
/// and the loader) and adds it to the store with `nix-store --add-fixed --recursive`. The same
/// host files give the same store path. The Nix library (`nix/toolchains/seed.nix`) then patches
/// loader and rpath inside the sandbox.
public struct SeedImporter: Sendable {
    public let runner: any ProcessRunner
    public let nix: NixDriver
    public init(runner: any ProcessRunner) { self.runner = runner; self.nix = NixDriver(runner: runner) }

    /// Where each seed comes from on a Debian 12 host; `from` overrides the main executable.
    public func hostExecutable(_ kind: SeedKind, from: String?) -> String {
        if let from { return from }
        switch kind {
        case .busybox: return "/bin/busybox"
        case .patchelf: return "/usr/bin/patchelf"
        case .python: return "/usr/bin/python3.11"
        case .node: return "/usr/bin/node"
        case .go: return "/usr/lib/go-1.19/bin/go"
        case .php: return "/usr/bin/php8.2"
        case .ruby: return "/usr/bin/ruby3.1"
        case .postgres: return "/usr/lib/postgresql/15/bin/postgres"
        case .redis: return "/usr/bin/redis-server"
        case .mariadb: return "/usr/sbin/mariadbd"
        }
    }

    public func importSeed(_ kind: SeedKind, from: String? = nil, scratch: String) throws -> ImportedSeed {
        let exe = hostExecutable(kind, from: from)
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw HopError(.environment, "cannot import the \(kind.rawValue) seed: \(exe) is not an executable",
                           hint: "install it (scripts/setup.sh installs busybox-static, patchelf, python3, nodejs, golang-go, php8.2-cli and php8.2-fpm, postgresql-15, redis-server, mariadb-server) or pass --from PATH")
        }
        let version = try detectVersion(kind, exe: exe)
        let stage = scratch + "/hop-seed-\(kind.rawValue)-\(version)"
        try FileManager.default.createDirectory(atPath: stage + "/bin", withIntermediateDirectories: true)
        var elfs: [String] = []
        switch kind {
        case .busybox:
            try copy(exe, to: stage + "/bin/busybox")
            guard !isDynamicELF(exe) else {
                throw HopError(.environment, "\(exe) is dynamically linked; the busybox seed must be static",
                               hint: "apt install busybox-static")
            }
            let list = try runner.output(Command(exe, ["--list"])) { HopError(.environment, "\(exe) --list failed: \($0.stderrTail(3))") }
            for applet in list.split(separator: "\n").map(String.init).sorted() where applet != "busybox" && !applet.contains("/") {
                try FileManager.default.createSymbolicLink(atPath: stage + "/bin/" + applet, withDestinationPath: "busybox")
            }
        case .patchelf, .node:
            let name = kind == .node ? "node" : "patchelf"
            try copy(exe, to: stage + "/bin/" + name)
            elfs = [exe]
        case .python:
            let (major, minor) = (version.split(separator: ".")[0], version.split(separator: ".")[1])
            let lib = "python\(major).\(minor)"
            try copy(exe, to: stage + "/bin/" + lib)
            try FileManager.default.createSymbolicLink(atPath: stage + "/bin/python3", withDestinationPath: lib)
            let stdlib = try runner.output(Command(exe, ["-I", "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"])) {
                HopError(.environment, "cannot ask \(exe) for its standard library: \($0.stderrTail(3))")
            }.trimmingCharacters(in: .whitespacesAndNewlines)
            try FileManager.default.createDirectory(atPath: stage + "/lib", withIntermediateDirectories: true)
            try copyTree(stdlib, to: stage + "/lib/" + lib,
                         drop: ["test", "idlelib", "tkinter", "turtledemo", "site-packages", "dist-packages", "__pycache__", "ensurepip"])
            elfs = [exe] + (try elfFiles(under: stage + "/lib/" + lib + "/lib-dynload"))
        case .go:
            let goroot = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: stage + "/share", withIntermediateDirectories: true)
            try copyTree(goroot, to: stage + "/share/go", drop: ["testdata", "test", "api", "doc", "misc", "linux_amd64_race", "__pycache__"])
            try runner.output(Command("find", [stage + "/share/go/src", "-name", "*_test.go", "-delete"])) { HopError(.environment, "pruning Go tests failed: \($0.stderrTail(3))") }
            for b in ["go", "gofmt"] {
                try FileManager.default.createSymbolicLink(atPath: stage + "/bin/" + b, withDestinationPath: "../share/go/bin/" + b)
            }
            elfs = try elfFiles(under: stage + "/share/go/bin") + elfFiles(under: stage + "/share/go/pkg/tool")
        case .php:
            // bin/php and bin/php-fpm, and the extension modules in lib/php/extensions (the php.ini
            // hop writes per app loads them in Debian's order: `PHPConfig`).
            let fpm = "/usr/sbin/php-fpm" + String(exe.dropFirst("/usr/bin/php".count))
            guard FileManager.default.isExecutableFile(atPath: fpm) else {
                throw HopError(.environment, "cannot import the php seed: \(fpm) is missing", hint: "apt install php8.2-fpm (scripts/setup.sh does)")
            }
            try copy(exe, to: stage + "/bin/php")
            try copy(fpm, to: stage + "/bin/php-fpm")
            let apiDir = try runner.output(Command(exe, ["-n", "-r", "echo ini_get('extension_dir');"])) {
                HopError(.environment, "cannot ask \(exe) for its extension directory: \($0.stderrTail(3))")
            }.trimmingCharacters(in: .whitespacesAndNewlines)
            let extDir = stage + "/lib/php/extensions"
            try FileManager.default.createDirectory(atPath: extDir, withIntermediateDirectories: true)
            for name in phpModuleExtensions {
                guard FileManager.default.fileExists(atPath: apiDir + "/\(name).so") else {
                    throw HopError(.environment, "cannot import the php seed: the extension \(name) is not installed (\(apiDir)/\(name).so)",
                                   hint: "install Debian's php8.2 extension packages (scripts/setup.sh does)")
                }
                try copy(apiDir + "/\(name).so", to: extDir + "/\(name).so")
            }
            elfs = [stage + "/bin/php", stage + "/bin/php-fpm"] + (try elfFiles(under: extDir))
        case .ruby:
            // Debian's Ruby is not relocatable (its load path is compiled in), so the tree is laid
            // out under lib/ruby and the ruby recipe's wrapper sets RUBYLIB and GEM_PATH to it:
            // lib/ruby/{vendor_ruby (RubyGems 3.3), 3.1.0 (stdlib), 3.1.0/arch (extensions)} and
            // lib/ruby/gems/3.1.0 (default gem specifications, and Bundler from rubygems-integration).
            let abi = "3.1.0"
            let bundler = try FileManager.default.contentsOfDirectory(atPath: "/usr/share/rubygems-integration/all/gems")
                .filter { $0.hasPrefix("bundler-") }.sorted().last
            guard let bundler else {
                throw HopError(.environment, "cannot import the ruby seed: Bundler is not installed", hint: "apt install bundler (scripts/setup.sh does)")
            }
            try copy(exe, to: stage + "/bin/ruby")
            try FileManager.default.createDirectory(atPath: stage + "/lib/ruby/gems/\(abi)/specifications", withIntermediateDirectories: true)
            try copyTree("/usr/lib/ruby/\(abi)", to: stage + "/lib/ruby/\(abi)", drop: ["__pycache__"])
            try copyTree("/usr/lib/x86_64-linux-gnu/ruby/\(abi)", to: stage + "/lib/ruby/\(abi)/arch", drop: ["__pycache__"])
            try copyTree("/usr/lib/ruby/vendor_ruby", to: stage + "/lib/ruby/vendor_ruby", drop: ["__pycache__"])
            try copyTree("/usr/lib/ruby/gems/\(abi)/specifications/default", to: stage + "/lib/ruby/gems/\(abi)/specifications/default", drop: [])
            try FileManager.default.createDirectory(atPath: stage + "/lib/ruby/gems/\(abi)/gems", withIntermediateDirectories: true)
            try copyTree("/usr/share/rubygems-integration/all/gems/" + bundler, to: stage + "/lib/ruby/gems/\(abi)/gems/" + bundler, drop: [])
            try copy("/usr/share/rubygems-integration/all/specifications/\(bundler).gemspec", to: stage + "/lib/ruby/gems/\(abi)/specifications/\(bundler).gemspec")
            elfs = [stage + "/bin/ruby"] + (try elfFiles(under: stage + "/lib/ruby/\(abi)/arch"))
        case .mariadb:
            // The layout mariadb-install-db expects under --basedir: sbin/mariadbd, bin/ (its helpers),
            // share/mysql (SQL, error messages, charsets), lib/mysql/plugin.
            let bindir = "/usr/bin"
            try FileManager.default.createDirectory(atPath: stage + "/sbin", withIntermediateDirectories: true)
            try copy(exe, to: stage + "/sbin/mariadbd")
            for tool in ["mariadb", "mariadb-dump", "mariadb-install-db", "my_print_defaults", "resolveip"] {
                try copy(bindir + "/" + tool, to: stage + "/bin/" + tool)
            }
            try FileManager.default.createDirectory(atPath: stage + "/share", withIntermediateDirectories: true)
            try copyTree("/usr/share/mysql", to: stage + "/share/mysql", drop: ["mini-benchmark-dir-none"])
            try FileManager.default.createDirectory(atPath: stage + "/lib/mysql", withIntermediateDirectories: true)
            try copyTree("/usr/lib/mysql/plugin", to: stage + "/lib/mysql/plugin", drop: ["auth_pam_tool_dir"])
            elfs = [stage + "/sbin/mariadbd"] + (try elfFiles(under: stage + "/bin")) + (try elfFiles(under: stage + "/lib/mysql/plugin"))
        case .redis:
            // redis-server is a link to redis-check-rdb, and Redis picks its mode from argv[0]'s
            // name: the copy is named redis-server.
            let dir = (exe as NSString).deletingLastPathComponent
            try copy(exe, to: stage + "/bin/redis-server")
            try copy(dir + "/redis-cli", to: stage + "/bin/redis-cli")
            elfs = [stage + "/bin/redis-server", stage + "/bin/redis-cli"]
        case .postgres:
            // Debian's layout, relative to the prefix: PostgreSQL finds its share directory (and
            // extensions) from its own binary's path, so lib/postgresql/15/bin and
            // share/postgresql/15 keep their relative places. JIT (LLVM, 100 MB) is left out.
            let base = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent().path
            let major = String(version.split(separator: ".")[0])
            let root = stage + "/lib/postgresql/\(major)"
            try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
            for tool in ["postgres", "initdb", "pg_ctl", "psql", "pg_dump", "pg_restore", "pg_isready", "createdb"] {
                try copy(base + "/bin/" + tool, to: root + "/bin/" + tool)
                try FileManager.default.createSymbolicLink(atPath: stage + "/bin/" + tool, withDestinationPath: "../lib/postgresql/\(major)/bin/" + tool)
            }
            try copyTree(base + "/lib", to: root + "/lib", drop: ["bitcode", "pgxs"])
            for jit in ["llvmjit.so", "llvmjit_types.bc"] { try? FileManager.default.removeItem(atPath: root + "/lib/" + jit) }
            try FileManager.default.createDirectory(atPath: stage + "/share/postgresql", withIntermediateDirectories: true)
            try copyTree("/usr/share/postgresql/\(major)", to: stage + "/share/postgresql/\(major)", drop: ["man"])
            elfs = try elfFiles(under: root + "/bin") + elfFiles(under: root + "/lib")
        }
        if !elfs.isEmpty { try stageLibraries(of: elfs, into: stage + "/lib") }
        let storePath = try nix.addFixed(stage, recursive: true)
        let narHash = try nix.narHash(storePath)
        return ImportedSeed(name: kind.rawValue, version: version, storePath: storePath, narHash: narHash, origin: exe)
    }

    func detectVersion(_ kind: SeedKind, exe: String) throws -> String {
        let cmd: Command
        switch kind {
        case .busybox: cmd = Command(exe, [])
        case .patchelf: cmd = Command(exe, ["--version"])
        case .python: cmd = Command(exe, ["-I", "-c", "import platform; print(platform.python_version())"])
        case .node: cmd = Command(exe, ["--version"])
        case .php: cmd = Command(exe, ["-n", "-r", "echo PHP_VERSION;"])
        case .ruby: cmd = Command(exe, ["--disable-gems", "-e", "print RUBY_VERSION"])
        case .go: cmd = Command(exe, ["env", "GOVERSION"])
        case .postgres, .redis, .mariadb: cmd = Command(exe, ["--version"])
        }
        let r = try runner.run(cmd)
        let text = r.stdoutText + r.stderrText
        // First dotted number in the output.
        guard let m = text.range(of: #"[0-9]+(\.[0-9]+)+"#, options: .regularExpression) else {
            throw HopError(.environment, "cannot tell the version of \(exe)", hint: "check that it runs: \(cmd)")
        }
        return String(text[m])
    }

    func copy(_ from: String, to: String) throws {
        try runner.output(Command("cp", ["-L", from, to])) { HopError(.environment, "copying \(from) failed: \($0.stderrTail(3))") }
    }

    /// Copies a tree, dereferencing symlinks (Debian links stdlib files into /etc and GOROOT into
    /// /usr/share), then drops directories by name.
    func copyTree(_ from: String, to: String, drop: [String]) throws {
        let r = try runner.run(Command("cp", ["-rL", from, to]))
        // Dangling links (Debian links some files to packages that may be absent) are reported but
        // everything else is copied; accept only that.
        let bad = r.stderrText.split(separator: "\n").filter { !$0.contains("No such file or directory") }
        if !r.succeeded, !bad.isEmpty {
            throw HopError(.environment, "copying \(from) failed", detail: bad.joined(separator: "\n"))
        }
        guard !drop.isEmpty else { return }
        var args = [to, "-depth", "-type", "d", "("]
        for (i, d) in drop.enumerated() { if i > 0 { args.append("-o") }; args += ["-name", d] }
        args += [")", "-exec", "rm", "-rf", "{}", "+"]
        try runner.output(Command("find", args)) { HopError(.environment, "pruning \(to) failed: \($0.stderrTail(3))") }
    }

    func elfFiles(under dir: String) throws -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            let p = dir + "/" + rel
            if isELF(p) { out.append(p) }
        }
        return out.sorted()
    }

    /// Copies every shared library `ldd` resolves for `files`, and the loader, into `lib`.
    func stageLibraries(of files: [String], into lib: String) throws {
        try FileManager.default.createDirectory(atPath: lib, withIntermediateDirectories: true)
        var libs = Set<String>()
        for f in files where isDynamicELF(f) {
            let r = try runner.run(Command("ldd", [f]))
            guard r.succeeded else { continue }
            for line in r.stdoutText.split(separator: "\n") {
                let t = line.trimmingCharacters(in: .whitespaces)
                if let arrow = t.range(of: "=> /") {
                    let rest = t[t.index(before: arrow.upperBound)...]
                    if let path = rest.split(separator: " ").first { libs.insert(String(path)) }
                } else if t.hasPrefix("/") , let path = t.split(separator: " ").first {
                    libs.insert(String(path))
                } else if t.contains("not found") {
                    throw HopError(.environment, "\(f) needs a library the host lacks: \(t)", hint: "install the package that provides it")
                }
            }
        }
        for l in libs.sorted() {
            let name = (l as NSString).lastPathComponent
            let dest = lib + "/" + (name.hasPrefix("ld-linux") ? "ld-linux-x86-64.so.2" : name)
            if !FileManager.default.fileExists(atPath: dest) { try copy(l, to: dest) }
        }
    }
}

func isELF(_ path: String) -> Bool {
    guard let h = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? h.close() }
    let magic = (try? h.read(upToCount: 4)) ?? Data()
    return magic == Data([0x7f, 0x45, 0x4c, 0x46])
}

/// True for ELF files with a PT_INTERP or dynamic section (ldd has something to say).
func isDynamicELF(_ path: String) -> Bool {
    guard isELF(path), let data = FileManager.default.contents(atPath: path), data.count > 64 else { return false }
    return data.withUnsafeBytes { raw -> Bool in
        func u16(_ o: Int) -> Int { Int(raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
        func u64(_ o: Int) -> Int { Int(raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        let phoff = u64(0x20), phentsize = u16(0x36), phnum = u16(0x38)
        for i in 0..<phnum {
            let o = phoff + i * phentsize
            guard o + 4 <= raw.count else { return false }
            let type = raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)
            if type == 2 || type == 3 { return true } // PT_DYNAMIC, PT_INTERP
        }
        return false
    }
}
