import Foundation
import Crypto
import HopBasics
import HopStore

// `git push` deploys. The path of a push:
//
//   ssh hop-git@host  →  sshd: the key's authorized_keys line forces
//   `sudo -n HOME/bin/hop-git-shell KEY-ID "$SSH_ORIGINAL_COMMAND"` (`restrict`: no pty, no
//   forwarding)  →  the wrapper (root-owned) runs `hop git-shell KEY-ID CMD` as root with a clean
//   environment  →  hop checks the command is git-receive-pack/git-upload-pack of an APP
//   repository the key's user may deploy/read, and execs `git receive-pack` on hop's bare
//   repository  →  its pre-receive hook (`hop git-hook pre-receive`) reads the pushed commit with
//   `git archive` (never a work tree) and deploys it through `Operations.deploy`, its progress on
//   stderr (which git shows the pusher as `remote:` lines); a failed deploy rejects the push.
//
// The git user runs nothing but sudo of that one wrapper: it owns no files, and hop's state stays
// root-only. Dokku uses the same sudo arrangement; hop's forced command carries the key id, so
// each push acts as the hop user who owns the key.

/// An SSH public key as `ssh-keygen` writes it: `TYPE BASE64 [COMMENT]` (pure).
public struct SSHPublicKey: Sendable, Equatable {
    public var type: String
    public var blob: String
    public var comment: String

    public static let types: Set<String> = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]

    public static func parse(_ text: String) throws -> SSHPublicKey {
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let hint = "give the public key as `ssh-keygen` wrote it, e.g. the contents of ~/.ssh/id_ed25519.pub: `ssh-ed25519 AAAA… you@laptop`"
        guard !line.contains("\n"), !line.contains("\r") else { throw HopError.invalid("give one key, on one line", hint: hint) }
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 2 else { throw HopError.invalid("`\(line.prefix(40))` is not an SSH public key", hint: hint) }
        guard types.contains(parts[0]) else {
            throw HopError.invalid("`\(parts[0].prefix(40))` is not a key type hop accepts (options before the key are not accepted either)",
                                   hint: "use one of \(types.sorted().joined(separator: ", "))")
        }
        guard parts[1].count <= 16384, let data = Data(base64Encoded: parts[1]), data.count >= 8 else {
            throw HopError.invalid("the key's base64 part does not decode", hint: hint)
        }
        // The blob starts with its own type as an SSH string (uint32 length, bytes).
        let bytes = [UInt8](data)
        let n = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard n > 0, 4 + n <= bytes.count, String(decoding: bytes[4..<(4 + n)], as: UTF8.self) == parts[0] else {
            throw HopError.invalid("the key's data says it is not a \(parts[0]) key", hint: hint)
        }
        let comment = parts.count > 2 ? parts[2] : ""
        guard comment.count <= 200, comment.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7f && $0 != "\"" && $0 != "\\" }) else {
            throw HopError.invalid("the key's comment must be printable ASCII without quotes or backslashes, at most 200 characters")
        }
        return SSHPublicKey(type: parts[0], blob: parts[1], comment: comment)
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    public var fingerprint: String {
        let digest = SHA256.hash(data: Data(base64Encoded: blob) ?? Data())
        var b64 = Data(digest).base64EncodedString()
        while b64.hasSuffix("=") { b64.removeLast() }
        return "SHA256:" + b64
    }
}

/// Where `hop git setup` put the git user, and what its forced command runs.
public struct GitSetup: Sendable, Codable, Equatable {
    /// The system user pushers log in as.
    public var user: String
    /// Its home: root-owned; holds `.ssh/authorized_keys` and `bin/hop-git-shell`.
    public var home: String
    /// The hop binary the wrapper runs, and the PATH it runs with.
    public var hop: String
    public var path: String
    /// hop's own settings from the environment `hop git setup` ran in (the package index a build
    /// resolves from: HOP_FIND_LINKS, HOP_INDEX_URL, HOP_PYTHON), so a push builds as a deploy there would.
    public var settings: [String: String] = [:]
    public static let settingNames = ["HOP_FIND_LINKS", "HOP_INDEX_URL", "HOP_PYTHON"]

    public init(user: String, home: String, hop: String, path: String, settings: [String: String] = [:]) {
        self.user = user; self.home = home; self.hop = hop; self.path = path; self.settings = settings
    }

    public var wrapper: String { home + "/bin/hop-git-shell" }
    public var authorizedKeys: String { home + "/.ssh/authorized_keys" }
    /// sudo ignores files in sudoers.d whose names contain a dot.
    public var sudoersFile: String { "/etc/sudoers.d/hop-git-" + user.replacingOccurrences(of: ".", with: "_") }

    static func file(_ home: HopHome) -> String { home.root + "/git/setup.json" }

    public static func load(_ home: HopHome) -> GitSetup? {
        guard let data = FileManager.default.contents(atPath: file(home)) else { return nil }
        return try? JSONDecoder().decode(GitSetup.self, from: data)
    }

    /// The authorized_keys hop writes: every key forced to run the wrapper with its own id (pure).
    public static func authorizedKeys(_ keys: [SSHKeyRecord], wrapper: String) -> String {
        var out = "# Written by hop (`hop ssh-key add|remove`); edits here are lost.\n"
        for k in keys {
            out += "restrict,command=\"sudo -n \(wrapper) \(k.id) \\\"$SSH_ORIGINAL_COMMAND\\\"\" \(k.type) \(k.blob) hop:\(k.user)\n"
        }
        return out
    }

    /// The root-owned wrapper sudo runs: hop with a clean environment (pure).
    public func wrapperScript(hopHome: String) -> String {
        var vars = ["HOP_HOME=" + shellQuote(hopHome), "PATH=" + shellQuote(path), "HOME=/root", "LANG=C.UTF-8"]
        vars += settings.sorted { $0.key < $1.key }.map { "\($0.key)=\(shellQuote($0.value))" }
        return "#!/bin/sh\n# Written by `hop git setup`: the only command the git user may run as root.\n"
            + "exec /usr/bin/env -i " + vars.joined(separator: " ") + " " + shellQuote(hop) + " git-shell \"$@\"\n"
    }

    public func sudoers() -> String {
        """
        # Written by `hop git setup`: \(user) may run hop's git shell as root, and nothing else.
        Defaults:\(user) !use_pty, !lecture
        \(user) ALL=(root) NOPASSWD: \(wrapper)

        """
    }
}


/// What a forced command was asked to run (pure): a git service on an app's repository.
public struct GitServiceCommand: Sendable, Equatable {
    public enum Service: String, Sendable { case receivePack = "git-receive-pack", uploadPack = "git-upload-pack" }
    public var service: Service
    public var app: String
    public init(service: Service, app: String) { self.service = service; self.app = app }

    /// `git-receive-pack 'app.git'`, `git-upload-pack '/app'`… Anything else — a shell, another
    /// command, a path that is not one app name — is refused.
    public static func parse(_ original: String) throws -> GitServiceCommand {
        let hint = "this key only pushes to and fetches from hop: `git push ssh://USER@HOST/APP main`"
        if original.trimmingCharacters(in: .whitespaces).isEmpty {
            throw HopError(.forbidden, "hop offers no shell here", hint: hint)
        }
        let parts = original.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, let service = Service(rawValue: parts[0]) else {
            throw HopError(.forbidden, "hop does not run `\(original.prefix(80))` for SSH keys", hint: hint)
        }
        var path = parts[1]
        if path.count >= 2, path.hasPrefix("'"), path.hasSuffix("'") { path = String(path.dropFirst().dropLast()) }
        if path.hasPrefix("/") { path.removeFirst() }
        if path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix(".git") { path.removeLast(4) }
        guard (try? Operations.checkedApp(path)) != nil else {
            throw HopError(.forbidden, "`\(parts[1].prefix(80))` is not an app's repository", hint: "the repository is the app's name: APP or APP.git")
        }
        return GitServiceCommand(service: service, app: path)
    }
}

/// One line of a pre-receive hook's input.
public struct RefUpdate: Sendable, Equatable {
    public var old: String
    public var new: String
    public var ref: String
    static let zero = String(repeating: "0", count: 40)
    public var isDelete: Bool { new == Self.zero }

    public static func parse(_ text: String) throws -> [RefUpdate] {
        try text.split(separator: "\n").map { line in
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 3, f[0].count == 40 || f[0].count == 64, f[1].count == f[0].count,
                  f[0].allSatisfy(\.isHexDigit), f[1].allSatisfy(\.isHexDigit) else {
                throw HopError.invalid("pre-receive input line `\(line.prefix(120))` is not `OLD NEW REF`")
            }
            return RefUpdate(old: f[0], new: f[1], ref: f[2])
        }
    }
}

extension Operations {
    // MARK: SSH keys

    public func sshKeyAdd(user: String, key: String) throws -> SSHKeyRecord {
        try Self.checkUserName(user)
        let parsed = try SSHPublicKey.parse(key)
        return try audited("ssh-key add", app: nil, detail: ["user": user, "fingerprint": parsed.fingerprint], permission: .admin) {
            let db = try ctx.database(create: true)
            guard try db.user(user) != nil else { throw HopError(.notFound, "there is no user \(user)", hint: "add one with `hop user add`") }
            var record = SSHKeyRecord(user: user, type: parsed.type, blob: parsed.blob, comment: parsed.comment,
                                      fingerprint: parsed.fingerprint, addedAt: Date())
            record.id = try db.addSSHKey(record)
            try writeAuthorizedKeys(db)
            return record
        }
    }

    public func sshKeys(user: String?) throws -> [SSHKeyRecord] {
        try ctx.authorize(.admin, app: nil, action: "list ssh keys")
        return try ctx.existingDatabase()?.sshKeys(user: user) ?? []
    }

    /// Removes a key by id or fingerprint; pushes with it stop at once (authorized_keys rewritten).
    public func sshKeyRemove(_ key: String) throws -> [SSHKeyRecord] {
        guard !key.isEmpty, key.count <= 100 else { throw HopError.invalid("give a key id or its SHA256: fingerprint") }
        return try audited("ssh-key remove", app: nil, detail: ["key": key], permission: .admin) {
            let db = try ctx.database(create: true)
            let removed = try db.removeSSHKey(idOrFingerprint: key)
            guard !removed.isEmpty else { throw HopError(.notFound, "there is no SSH key \(key)", hint: "`hop ssh-key list` shows them") }
            try writeAuthorizedKeys(db)
            return removed
        }
    }

    /// Rewrites the git user's authorized_keys from the database (when `hop git setup` ran).
    func writeAuthorizedKeys(_ db: HopDatabase) throws {
        // A git home removed since (the operator took the git user away) is not made again here.
        guard let setup = GitSetup.load(ctx.home), FileManager.default.fileExists(atPath: setup.home) else { return }
        try writeFileAtomically(setup.authorizedKeys, GitSetup.authorizedKeys(try db.sshKeys(), wrapper: setup.wrapper), mode: 0o644)
    }

    // MARK: Setup

    /// `hop git setup`: the git system user (created when missing, with no password and no files of
    /// its own), its root-owned home with the wrapper and authorized_keys, and the sudoers rule that
    /// lets it run the wrapper. Idempotent.
    public func gitSetup(user: String, home gitHome: String, hop: String, path: String, settings: [String: String] = [:]) throws -> GitSetup {
        guard user.count <= 32, let f = user.first, f.isLowercase, user.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_" }),
              user.allSatisfy(\.isASCII) else {
            throw HopError.invalid("`\(user)` is not a system user name hop will create", hint: "use up to 32 lowercase letters, digits, `-`, `_`")
        }
        // The path goes into sudoers and authorized_keys verbatim: plain characters only.
        guard gitHome.hasPrefix("/"), !gitHome.contains("/../"), !gitHome.hasSuffix("/.."), gitHome.count > 1, gitHome.count < 200,
              gitHome.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "/._-".unicodeScalars.contains($0) }) else {
            throw HopError.invalid("the git user's home must be an absolute path of letters, digits, `/`, `.`, `_` and `-`", hint: "e.g. /var/lib/hop-git")
        }
        // sshd reads authorized_keys as the git user: every directory above the home must let it through.
        var above = (gitHome as NSString).deletingLastPathComponent
        while above.count > 1 {
            var st = stat()
            if stat(above, &st) == 0, st.st_mode & 0o001 == 0 {
                throw HopError.invalid("\(above) is not searchable by other users, so sshd cannot read the git user's keys under it",
                                       hint: "choose a home under a world-searchable directory (e.g. /var/lib/hop-git), or chmod o+x \(above)")
            }
            above = (above as NSString).deletingLastPathComponent
        }
        let setup = GitSetup(user: user, home: gitHome, hop: hop, path: path,
                             settings: settings.filter { GitSetup.settingNames.contains($0.key) && !$0.value.isEmpty })
        return try audited("git setup", app: nil, detail: ["user": user, "home": gitHome], permission: .admin) {
            let run = ctx.runner
            // The sudoers rule is checked by visudo before it is put in place.
            let sudoersTmp = setup.sudoersFile + ".hop-tmp"
            try writeFileAtomically(sudoersTmp, setup.sudoers(), mode: 0o440)
            let check = try run.run(Command("visudo", ["-c", "-q", "-f", sudoersTmp]))
            guard check.succeeded else {
                try? FileManager.default.removeItem(atPath: sudoersTmp)
                throw HopError(.environment, "visudo refused hop's sudoers rule", hint: "is sudo installed? (`apt install sudo`)", detail: check.stderrTail(5))
            }
            let exists = try run.run(Command("id", ["-u", user])).succeeded
            if !exists {
                // `*` as the password: no password login, but not a locked account (sshd refuses
                // locked accounts even for keys when PAM is off).
                try run.output(Command("useradd", ["--system", "--home-dir", gitHome, "--no-create-home", "--shell", "/bin/sh",
                                                   "--password", "*", "--comment", "hop git push", user])) {
                    HopError(.environment, "useradd \(user) failed", detail: $0.stderrTail(5))
                }
            }
            for dir in [gitHome, gitHome + "/.ssh", gitHome + "/bin"] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                guard chown(dir, 0, 0) == 0, chmod(dir, 0o755) == 0 else {
                    throw HopError(.environment, "cannot make \(dir) root-owned: \(String(cString: strerror(errno)))")
                }
            }
            try writeFileAtomically(setup.wrapper, setup.wrapperScript(hopHome: ctx.home.root), mode: 0o755)
            try FileManager.default.createDirectory(atPath: ctx.home.root + "/git/repos", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let data = try JSONEncoder.stable.encode(setup)
            try writeFileAtomically(GitSetup.file(ctx.home), String(decoding: data, as: UTF8.self), mode: 0o600)
            try writeAuthorizedKeys(try ctx.database(create: true))
            guard rename(sudoersTmp, setup.sudoersFile) == 0 else {
                throw HopError(.environment, "cannot install \(setup.sudoersFile): \(String(cString: strerror(errno)))")
            }
            return setup
        }
    }

    // MARK: The forced command

    /// What `hop git-shell` then runs: `git SERVICE REPO` with this environment.
    public struct GitInvocation: Sendable {
        public var arguments: [String]
        public var environment: [String: String]
    }

    public static func gitRepository(_ home: HopHome, app: String) -> String { home.root + "/git/repos/\(app).git" }

    /// The principal a key stands for (its user's current role and apps).
    func principal(forKey id: Int64) throws -> (Principal, SSHKeyRecord) {
        guard let db = try ctx.existingDatabase(), let key = try db.sshKey(id: id), let u = try db.user(key.user) else {
            throw HopError(.unauthenticated, "this SSH key is not registered with hop", hint: "an admin adds it with `hop ssh-key add USER KEY`")
        }
        return (Principal(name: u.name, role: u.role, apps: Set(u.apps)), key)
    }

    /// `hop git-shell KEY CMD`: checks the command and the key's rights; creates the app's bare
    /// repository on its first push; says what to exec. `ctx.principal` is ignored: the key decides.
    /// `environment`: the wrapper's (clean) environment; PATH, LANG, HOME and hop's index settings pass on.
    public func gitShell(keyID: Int64, original: String, hop: String, environment: [String: String]) throws -> GitInvocation {
        let (principal, key) = try principal(forKey: keyID)
        var scoped = self.ctx
        scoped.principal = principal
        scoped.via = "git"
        let ops = Operations(scoped)
        let command: GitServiceCommand
        do { command = try GitServiceCommand.parse(original) } catch let e as HopError {
            // Refused commands are recorded: someone with a key tried something else.
            ops.record(try? scoped.database(create: true).appendAudit(actor: principal.name, via: "git", action: "git-shell", app: nil,
                                                                      detail: stableJSONText(["command": String(original.prefix(200)), "key": key.fingerprint]),
                                                                      result: "denied"))
            throw e
        }
        let push = command.service == .receivePack
        try ops.authorizeAudited(push ? .deploy : .read, app: command.app, action: push ? "git push" : "git fetch")
        let repo = Self.gitRepository(ctx.home, app: command.app)
        if !FileManager.default.fileExists(atPath: repo) {
            guard push else { throw HopError(.notFound, "\(command.app) has no repository yet", hint: "push to it first") }
            try FileManager.default.createDirectory(atPath: ctx.home.root + "/git/repos", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let tmp = repo + ".hop-new"
            try? FileManager.default.removeItem(atPath: tmp)
            try ctx.runner.output(Command("git", ["init", "--quiet", "--bare", "--initial-branch=main", tmp])) {
                HopError(.environment, "git init failed", detail: $0.stderrTail(5))
            }
            for (k, v) in [("receive.fsckObjects", "true"), ("receive.denyDeletes", "true"), ("core.logAllRefUpdates", "true")] {
                try ctx.runner.output(Command("git", ["--git-dir", tmp, "config", k, v])) { HopError(.environment, "git config failed", detail: $0.stderrTail(5)) }
            }
            guard rename(tmp, repo) == 0 || FileManager.default.fileExists(atPath: repo) else {
                throw HopError(.environment, "cannot create \(repo): \(String(cString: strerror(errno)))")
            }
        }
        // The hook is hop's (written on every push, so a moved hop binary is followed).
        _ = try writeFileIfChanged(repo + "/hooks/pre-receive", "#!/bin/sh\nexec \(shellQuote(hop)) git-hook pre-receive\n", mode: 0o755)
        var env = environment.filter { ["PATH", "LANG", "HOME"].contains($0.key) || GitSetup.settingNames.contains($0.key) }
        env["HOP_HOME"] = ctx.home.root
        env["HOP_GIT_KEY"] = String(keyID)
        env["HOP_GIT_APP"] = command.app
        return GitInvocation(arguments: [push ? "receive-pack" : "upload-pack", repo], environment: env)
    }

    // MARK: The receive hook

    public struct PushOutcome: Sendable {
        public var deployed: DeployResult?
        public var messages: [String]
    }

    /// The branches a push to which deploys.
    public static let deployBranches: Set<String> = ["refs/heads/main", "refs/heads/master"]

    /// `hop git-hook pre-receive`, inside `git receive-pack`: the pushed commit of the deploy branch
    /// is read with `git archive` (the objects are still in git's quarantine, visible to this
    /// process through the environment git gives its hooks) and deployed as the key's user. A
    /// throw rejects the push; nothing of it is kept.
    /// `gitEnvironment`: the GIT_* variables git gave the hook (its quarantine), used for reading the
    /// commit only; the deploy's own processes must not see them.
    public func gitReceive(keyID: Int64, app: String, updates: [RefUpdate], host: String,
                           gitEnvironment: [String: String]) throws -> PushOutcome {
        let (principal, _) = try principal(forKey: keyID)
        var scoped = self.ctx
        scoped.principal = principal
        scoped.via = "git"
        let ops = Operations(scoped)
        _ = try Self.checkedApp(app)
        try ops.authorizeAudited(.deploy, app: app, action: "git push")
        var messages: [String] = []
        var deploy: RefUpdate?
        for u in updates {
            if Self.deployBranches.contains(u.ref) {
                guard !u.isDelete else { throw HopError(.conflict, "the deploy branch \(u.ref) cannot be deleted", hint: "`hop destroy \(app)` removes the app") }
                guard deploy == nil else { throw HopError.invalid("push one deploy branch at a time (main or master)") }
                deploy = u
            } else {
                messages.append("\(u.ref) stored, not deployed (pushes to main or master deploy)")
            }
        }
        guard let u = deploy else { return PushOutcome(deployed: nil, messages: messages) }
        let scratch = try ctx.home.scratch("push")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let tree = scratch + "/src"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        // The pushed commit's tree, never a work tree: `git archive` piped into tar. The objects
        // passed receive.fsckObjects, so no path is absolute or climbs out.
        let tar = scratch + "/src.tar"
        try ctx.runner.output(Command("git", ["archive", "--format=tar", "-o", tar, u.new], environment: gitEnvironment.mapValues { $0 })) {
            HopError(.environment, "reading commit \(u.new) failed", detail: $0.stderrTail(5))
        }
        try ctx.runner.output(Command("tar", ["-x", "-f", tar, "-C", tree, "--no-same-owner"])) {
            HopError(.environment, "unpacking commit \(u.new) failed", detail: $0.stderrTail(5))
        }
        var request = DeployRequest(app: app)
        request.pushed = PushedSource(directory: tree, commit: u.new, uri: "git+ssh://\(host)/\(app).git@\(u.ref)")
        let result = try ops.deploy(request)
        return PushOutcome(deployed: result, messages: messages)
    }
}
