import ArgumentParser
import Foundation
import HopBasics
import HopStore
import NixBuild

/// One thing `hop doctor` checked.
struct Check {
    var name: String
    var ok: Bool
    var detail: String
    var fix: String?
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Check that this machine can build: nix, sandbox, store, seeds, tools.")
    @Flag var json = false

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
        // seeds
        let seeds = (try? FileManager.default.fileExists(atPath: home.database) ? HopDatabase(path: home.database).seeds() : []) ?? []
        let nix = NixDriver(runner: runner)
        for kind in SeedKind.allCases {
            if let s = seeds.first(where: { $0.name == kind.rawValue }) {
                let valid = nix.isValid(s.storePath)
                checks.append(Check(name: "seed \(kind.rawValue)", ok: valid, detail: valid ? "\(s.version) \(s.storePath)" : "recorded but missing from the store",
                                    fix: "hop seed import \(kind.rawValue)"))
            } else {
                checks.append(Check(name: "seed \(kind.rawValue)", ok: false, detail: "not imported", fix: "hop seed import \(kind.rawValue)"))
            }
        }
        // tools used outside the sandbox
        let py = Locker.resolverPython()
        let pip = (try? runner.run(Command(py, ["-m", "pip", "--version"])))?.succeeded ?? false
        checks.append(Check(name: "python resolver", ok: pip, detail: pip ? "\(py) -m pip" : "\(py) with pip not found",
                            fix: "apt install python3-pip (\(setup)), or set HOP_PYTHON"))
        let git = (try? runner.run(Command("git", ["--version"])))?.succeeded ?? false
        checks.append(Check(name: "git", ok: git, detail: git ? "present" : "missing", fix: "apt install git"))
        return checks
    }
}
