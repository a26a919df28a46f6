import ArgumentParser
import Foundation
import HopBasics
import HopStore
import NixBuild
import HopCore
import Runtime
import AppSpec

/// One thing `hop doctor` checked.
struct Check {
    var name: String
    var ok: Bool
    var detail: String
    var fix: String?
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Check this machine: nix, sandbox, store, seeds the apps need, tools, the service host, nginx, failed units, disk space, certificates.")
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }

    func run() throws {
        Hop.jsonMode = json
        let checks = Doctor(runner: SystemRunner(), home: .fromEnvironment()).run()
        if json {
            Out.json(["ok": checks.allSatisfy(\.ok), "checks": checks.map { c -> [String: Any] in
                var o: [String: Any] = ["name": c.name, "ok": c.ok, "detail": c.detail]
                if let f = c.fix { o["fix"] = f }
                return o
            }])
        } else {
            for c in checks {
                Out.line("\(c.ok ? "ok  " : "FAIL") \(pad(c.name, 22))\(c.detail)")
                if !c.ok, let f = c.fix { Out.line("     \(pad("", 22))→ \(f)") }
            }
        }
        if !checks.allSatisfy(\.ok) { throw ExitCode(HopError.Code.environment.exitCode) }
    }
}

struct Doctor {
    let runner: any ProcessRunner
    let home: HopHome

    func run() -> [Check] {
        var checks: [Check] = []
        let setup = "run scripts/setup.sh as root"
        // nix itself
        if let r = try? runner.run(Command("nix-build", ["--version"])), r.succeeded {
            checks.append(Check(name: "nix", ok: true, detail: r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        } else {
            checks.append(Check(name: "nix", ok: false, detail: "nix-build not found", fix: "apt install nix-bin (\(setup))"))
            return checks
        }
        // configuration: sandbox and substituters
        let config = (try? runner.run(Command("nix", ["--extra-experimental-features", "nix-command", "show-config"])))?.stdoutText ?? ""
        func setting(_ k: String) -> String? {
            config.split(separator: "\n").first { $0.hasPrefix(k + " = ") }.map { String($0.dropFirst(k.count + 3)) }
        }
        let sandbox = setting("sandbox") ?? "?"
        checks.append(Check(name: "sandbox", ok: sandbox == "true", detail: "sandbox = \(sandbox) (hop forces it on for every build)",
                            fix: sandbox == "true" ? nil : "set `sandbox = true` in /etc/nix/nix.conf (\(setup))"))
        let subs = setting("substituters") ?? ""
        checks.append(Check(name: "substituters", ok: true,
                            detail: subs.isEmpty ? "none (air-gapped)" : "\(subs) (hop passes --option substituters '' to every build)"))
        // store
        let storeWritable = access("/nix/store", W_OK) == 0
        let daemon = FileManager.default.fileExists(atPath: "/nix/var/nix/daemon-socket/socket")
        checks.append(Check(name: "store", ok: storeWritable || daemon,
                            detail: storeWritable ? "/nix/store writable (single-user, as \(getuid() == 0 ? "root" : "this user"))" : (daemon ? "nix-daemon socket present" : "/nix/store not writable and no nix-daemon"),
                            fix: "run hop as root, or start nix-daemon"))
        if getuid() == 0 {
            let group = (try? runner.run(Command("getent", ["group", "nixbld"])))?.succeeded ?? false
            checks.append(Check(name: "build users", ok: group, detail: group ? "group nixbld present" : "group nixbld missing",
                                fix: "create the nixbld group and users (\(setup))"))
        }
        // state directory
        let homeOK: Bool = { do { try home.ensure(); return access(home.root, W_OK) == 0 } catch { return false } }()
        checks.append(Check(name: "HOP_HOME", ok: homeOK, detail: home.root, fix: "make \(home.root) writable or set HOP_HOME"))
        // Nix library
        if let lib = try? NixLibrary.locate() {
            checks.append(Check(name: "nix library", ok: true, detail: lib))
        } else {
            checks.append(Check(name: "nix library", ok: false, detail: "not found", fix: "set HOP_NIX_LIB to hop's nix/ directory"))
        }
        // seeds: imported on first need from the host's packages, so only a toolchain an app
        // recorded here uses and this host cannot provide is a failure.
        let db = FileManager.default.fileExists(atPath: home.database) ? try? HopDatabase(path: home.database) : nil
        let seeds = (try? db?.seeds()) ?? []
        let needed = Self.neededSeeds(builders: ((try? db?.builds()) ?? []).map(\.builder), addonTypes: ((try? db?.addons()) ?? []).map(\.type))
        let nix = NixDriver(runner: runner)
        let importer = SeedImporter(runner: runner)
        for kind in SeedKind.allCases {
            let user = needed.contains(kind) ? "used by this host's apps" : "no app here uses it yet"
            let hostExe = importer.hostExecutable(kind, from: nil)
            if let s = seeds.first(where: { $0.name == kind.rawValue }), nix.isValid(s.storePath) {
                checks.append(Check(name: "seed \(kind.rawValue)", ok: true, detail: "\(s.version) \(s.storePath)"))
            } else if FileManager.default.isExecutableFile(atPath: hostExe) {
                checks.append(Check(name: "seed \(kind.rawValue)", ok: true, detail: "imported on first need from \(hostExe) (\(user))"))
            } else {
                checks.append(Check(name: "seed \(kind.rawValue)", ok: !needed.contains(kind),
                                    detail: "not imported and \(hostExe) is missing (\(user))",
                                    fix: "install the host's package for it (\(setup)), or `hop seed import \(kind.rawValue) --from PATH`"))
            }
        }
        checks += hostChecks(db: db)
        // tools used outside the sandbox
        let py = Locker.resolverPython()
        let pip = (try? runner.run(Command(py, ["-m", "pip", "--version"])))?.succeeded ?? false
        checks.append(Check(name: "python resolver", ok: pip, detail: pip ? "\(py) -m pip" : "\(py) with pip not found",
                            fix: "apt install python3-pip (\(setup)), or set HOP_PYTHON"))
        let git = (try? runner.run(Command("git", ["--version"])))?.succeeded ?? false
        checks.append(Check(name: "git", ok: git, detail: git ? "present" : "missing", fix: "apt install git"))
        return checks
    }

    /// The seeds the recorded builds and addons need.
    static func neededSeeds(builders: [String], addonTypes: [String]) -> Set<SeedKind> {
        var out = Set<SeedKind>()
        for b in builders { if let builder = Builder(rawValue: b) { out.formUnion(BuildPipeline.seedKinds(for: builder)) } }
        for t in addonTypes { if let kind = SeedKind(rawValue: t) { out.formUnion(SeedKind.base + [kind]) } }
        return out
    }

    /// The service host and what runs in it: up when apps are deployed, nginx listening, no failed
    /// unit; room on the disks; certificates not about to expire.
    func hostChecks(db: HopDatabase?) -> [Check] {
        var checks: [Check] = []
        let deployed = (try? db?.deployedApps()) ?? []
        if let host = try? ServiceHost.resolve(home: home, runner: runner) {
            let pid = host.pid.map { "private systemd pid \($0)" } ?? "this machine's systemd"
            checks.append(Check(name: "service host", ok: true, detail: "\(pid), \(deployed.count) app\(deployed.count == 1 ? "" : "s") deployed"))
            let front = NginxFront(home: home, host: host)
            let port = front.httpPort
            let listens = front.listens(port)
            checks.append(Check(name: "nginx", ok: listens, detail: listens ? "listening on :\(port)" : "not listening on :\(port)",
                                fix: "run `hop host up`; see `hop host journal hop-nginx.service`"))
            let failed = ((try? runner.run(host.command("systemctl", ["--failed", "--no-legend", "--plain"])))?.stdoutText ?? "")
                .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            checks.append(Check(name: "units", ok: failed.isEmpty, detail: failed.isEmpty ? "none failed" : "failed: \(failed.joined(separator: ", "))",
                                fix: failed.first.map { "see `hop host journal \($0)`" }))
        } else {
            checks.append(Check(name: "service host", ok: deployed.isEmpty,
                                detail: deployed.isEmpty ? "down (no app deployed)" : "down: \(deployed.count) deployed app\(deployed.count == 1 ? " is" : "s are") not serving",
                                fix: "run `hop host up`"))
        }
        for (label, path) in [("disk /nix/store", "/nix/store"), ("disk HOP_HOME", home.root)] {
            var st = statvfs()
            guard statvfs(path, &st) == 0 else { continue }
            let free = Double(st.f_bavail) * Double(st.f_frsize), total = Double(st.f_blocks) * Double(st.f_frsize)
            let ok = free >= 1_073_741_824 && (total == 0 || free / total >= 0.05)
            checks.append(Check(name: label, ok: ok, detail: String(format: "%.1f GiB free of %.1f GiB", free / 1_073_741_824, total / 1_073_741_824),
                                fix: "free space: `hop gc`, `nix-collect-garbage`, or grow the disk"))
        }
        let tlsDir = home.root + "/tls"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: tlsDir)) ?? []).sorted() {
            let candidates = [tlsDir + "/\(name)/live/cert.pem", tlsDir + "/\(name)/cert.pem"]
            guard let cert = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else { continue }
            let soon = (try? runner.run(Command("openssl", ["x509", "-noout", "-checkend", "\(14 * 86400)", "-in", cert])))?.succeeded ?? false
            let end = ((try? runner.run(Command("openssl", ["x509", "-noout", "-enddate", "-in", cert])))?.stdoutText ?? "")
                .replacingOccurrences(of: "notAfter=", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
            checks.append(Check(name: "certificate \(name)", ok: soon, detail: soon ? "valid until \(end)" : "expires within 14 days (\(end))",
                                fix: "renew it: `hop tls renew` (ACME) or replace \(cert)"))
        }
        return checks
    }
}
