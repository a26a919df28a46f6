import AppSpec
import Foundation
import HopBasics
import NixBuild

/// Renders the systemd units that run an app generation's processes. Pure: values in, unit text out.
///
/// Every process becomes a *template* unit (`hop-<app>-g<gen>-<process>@.service`); `hop scale` starts
/// instances `@1`, `@2`, …. Units are hardened by default (dynamic user, read-only system, no
/// capabilities, a system-call filter) so an app starts with the least it needs; the hardening is
/// part of the snapshot tests and scored with `systemd-analyze security` (see `UnitValidation`).
///
/// Nothing user-controlled reaches the unit text unchecked: names must match hop's name rules, paths
/// must be absolute, normalized and free of whitespace, quotes, backslashes and control characters,
/// launchers must be inside `/nix/store`, limits must parse as systemd values, and `%` is written
/// as `%%` wherever systemd expands specifiers. Anything else is refused with `.invalidInput`
/// before a byte of text exists, so a hostile value can never add a directive to a unit.
public enum UnitRenderer {
    /// The template unit name for one process of one generation, e.g. `hop-blog-G3-web@.service`.
    /// An instance is this name with the number inserted before `.service` (`hop-blog-G3-web@1.service`).
    /// App names are lowercase, so `hop-<app>-G` names exactly one app's units: `shop` never
    /// matches `shop-gateway`'s or `shop-g1`'s (see `UnitNames`).
    public static func unitName(app: String, process: String, generation: Int) throws -> String {
        try checkApp(app)
        try checkProcess(process)
        try checkGeneration(generation)
        let name = UnitNames.prefix(app: app, generation: generation) + "\(process)@.service"
        // systemd refuses unit names longer than 255 bytes (UNIT_NAME_MAX); leave room for an instance.
        guard name.utf8.count <= 240 else {
            throw HopError.invalid("the unit name `\(name)` is too long for systemd", hint: "use a shorter app or process name")
        }
        return name
    }

    /// The instance unit name, e.g. `hop-blog-g3-web@2.service`.
    public static func instanceName(app: String, process: String, generation: Int, instance: Int) throws -> String {
        guard instance >= 1 else { throw HopError.invalid("instance numbers start at 1, not \(instance)") }
        let template = try unitName(app: app, process: process, generation: generation)
        return template.replacingOccurrences(of: "@.service", with: "@\(instance).service")
    }

    /// The text of `process`'s template unit for generation `spec`.
    ///
    /// - Parameter allowJIT: leaves out `MemoryDenyWriteExecute=yes`, which kills runtimes that
    ///   generate machine code at run time (Node's V8, PyPy, the JVM). The caller knows the app's
    ///   toolchain (the launcher is usually a wrapper script whose path says nothing), so it decides;
    ///   the default keeps the protection.
    /// - Throws: `.invalidInput` for any value that is not safe to write into a unit.
    public static func render(_ spec: GenerationSpec, process: RuntimeProcess, allowJIT: Bool = false) throws -> String {
        let name = try unitName(app: spec.app, process: process.name, generation: spec.generation)
        guard process.instances >= 0 else {
            throw HopError.invalid("process `\(process.name)` has \(process.instances) instances", hint: "scale to 0 or more instances")
        }
        try checkStorePath(process.launcher, what: "the launcher of process `\(process.name)`")
        try checkStorePath(spec.outPath, what: "the build output of `\(spec.app)`")
        try checkPath(spec.environmentFile, what: "the environment file of `\(spec.app)`")
        if spec.environmentFile.hasPrefix("/nix/store/") {
            throw HopError.invalid("the environment file `\(spec.environmentFile)` is in /nix/store, which every user can read",
                                   hint: "keep config values and secrets in a root-only file outside the store")
        }
        let limits = try checkedLimits(spec.limits)

        var oneShot = false
        switch process.kind {
        case .static:
            throw HopError.invalid("process `\(process.name)` is static: nginx serves it and it has no unit")
        case .release, .cron:
            oneShot = true
        case .web, .wsgi, .daemon, .php:
            break
        }

        // How the web process is reached; other processes get neither variable.
        var environment: [String] = []
        var socketUnit: String?
        let runtimeDirectory = UnitNames.prefix(app: spec.app, generation: spec.generation) + "\(process.name)-%i"
        let serves = process.kind.servesHTTP
        if serves {
            switch spec.upstream {
            case .tcp(let port):
                guard (1...65535).contains(port) else {
                    throw HopError.invalid("the upstream port \(port) of `\(spec.app)` is not in 1–65535")
                }
                environment.append("PORT=\(port)")
            case .socket:
                guard let socketPath = spec.socketPath else {
                    throw HopError.invalid("`\(spec.app)` generation \(spec.generation) uses a socket upstream but has no socket path")
                }
                try checkSocketPath(socketPath)
                // systemd owns the listening socket (see `renderSocket`) and passes it as fd 3 to
                // every instance (LISTEN_FDS), so instances share it and it outlives restarts.
                // gunicorn picks it up by itself; naming it again (`--bind fd://3`) would make
                // gunicorn wrap fd 3 twice and fail.
                socketUnit = try socketUnitName(app: spec.app, process: process.name, generation: spec.generation)
            case .none:
                break
            }
        }

        var unit: [String] = []
        unit.append("# \(name): generated by hop for app \(spec.app), generation \(spec.generation). Do not edit: hop rewrites it.")
        unit.append("[Unit]")
        unit.append("Description=" + escapeSpecifiers("hop \(spec.app) generation \(spec.generation) process \(process.name)") + " (instance %i)")
        unit.append("StartLimitIntervalSec=60")
        unit.append("StartLimitBurst=5")
        if let socketUnit {
            unit.append("Requires=\(socketUnit)")
            unit.append("After=\(socketUnit)")
        }
        let network = UnitNames.networkUnit(app: spec.app)
        unit.append("Requires=\(network)")
        unit.append("After=\(network)")
        unit.append("")
        unit.append("[Service]")
        if let socketUnit { unit.append("Sockets=\(socketUnit)") }
        if oneShot {
            unit.append("Type=oneshot")
        } else {
            unit.append("Type=exec")
            unit.append("Restart=on-failure")
            unit.append("RestartSec=1")
        }
        // Store paths hold no whitespace, quotes, `$` or `%` (checked above); escaping is belt and braces.
        unit.append("ExecStart=" + escapeSpecifiers(process.launcher))
        unit.append("WorkingDirectory=" + escapeSpecifiers(spec.outPath))
        for assignment in environment { unit.append("Environment=" + quoteAssignment(assignment)) }
        unit.append("EnvironmentFile=-" + escapeSpecifiers(spec.environmentFile))
        unit.append("TimeoutStopSec=30")
        unit.append("")
        unit.append("# Identity and writable places: one dynamic user for every process, generation and `hop run` of")
        unit.append("# the app, state in \(UnitNames.stateRoot)/\(spec.app).")
        unit += try identitySettings(app: spec.app, outPath: spec.outPath, volumes: spec.volumes)
        unit.append("RuntimeDirectory=" + runtimeDirectory)
        unit.append("UMask=0077")
        unit.append("")
        unit.append("# Network: the app's own namespace (loopback only), shared by all its processes. Whatever the app")
        unit.append("# binds is bound there; nginx reaches a web port through hop's proxy (`hop-<app>-G<n>-<process>-P<port>`).")
        unit.append("NetworkNamespacePath=" + UnitNames.networkNamespacePath(app: spec.app))
        unit.append("Slice=" + UnitNames.slice(app: spec.app))
        unit.append("")
        unit.append("# Hardening: nothing from the host but what a network service needs.")
        unit += hardening(allowJIT: allowJIT)
        unit.append("")
        unit.append("# Limits: the app's [limits], else hop's defaults (memory \(Self.defaultMemoryMax), \(Self.defaultTasksMax) tasks per instance).")
        // No specifier expansion in these settings (`%%` would be read literally); the values are
        // checked to be plain numbers with a unit suffix, so nothing needs escaping.
        unit += limitSettings(limits)
        unit.append("")
        unit.append("[Install]")
        unit.append("WantedBy=multi-user.target")
        return unit.joined(separator: "\n") + "\n"
    }

    /// The socket unit of a socket-served process, e.g. `hop-blog-G3-web.socket`.
    public static func socketUnitName(app: String, process: String, generation: Int) throws -> String {
        let template = try unitName(app: app, process: process, generation: generation)
        return template.replacingOccurrences(of: "@.service", with: ".socket")
    }

    /// The socket unit for `process` of a socket-served generation. systemd (root) creates the
    /// socket, so its mode and group are hop's choice, not the app's umask: 0660, group
    /// `socketGroup` (nginx's worker group), in a 0755 directory. Every instance receives the same
    /// listening socket; the kernel spreads connections among them. `Service=` names instance 1,
    /// which systemd would start if a connection arrived while no instance ran.
    public static func renderSocket(_ spec: GenerationSpec, process: RuntimeProcess, socketGroup: String = "www-data") throws -> String {
        let name = try socketUnitName(app: spec.app, process: process.name, generation: spec.generation)
        guard case .socket = spec.upstream, let socketPath = spec.socketPath else {
            throw HopError.invalid("`\(spec.app)` generation \(spec.generation) is not served on a socket")
        }
        try checkSocketPath(socketPath)
        try checkProcess(socketGroup.replacingOccurrences(of: "-", with: "_"))
        let service = try instanceName(app: spec.app, process: process.name, generation: spec.generation, instance: 1)
        return ([
            "# \(name): generated by hop for app \(spec.app), generation \(spec.generation). Do not edit: hop rewrites it.",
            "[Unit]",
            "Description=" + escapeSpecifiers("hop \(spec.app) generation \(spec.generation) socket of process \(process.name)"),
            "",
            "[Socket]",
            "ListenStream=" + escapeSpecifiers(socketPath),
        ] + socketSettings(group: socketGroup) + [
            "Service=\(service)",
            "",
        ]).joined(separator: "\n")
    }

    /// A socket systemd (root) creates for nginx: 0660, group `group` (nginx's workers), in a 0755
    /// directory, removed when the unit stops.
    static func socketSettings(group: String) -> [String] {
        ["SocketUser=root", "SocketGroup=\(group)", "SocketMode=0660", "DirectoryMode=0755", "RemoveOnStop=yes", "Backlog=1024"]
    }

    /// The unit that creates the app's network namespace (`/run/netns/hop-<hash>`, loopback up),
    /// required by every unit of the app. Creating it is idempotent (`ip netns add` fails, harmlessly,
    /// when it exists) and nothing stops it: the namespace lives until `hop destroy` deletes it, so
    /// the units of two generations (and `hop run`) always share one. A namespace, not cgroup BPF
    /// (`SocketBindDeny=`, `IPAddressDeny=`), because those need cgroup v2 and hosts like this
    /// one run v1.
    public static func renderNetwork(app: String) throws -> String {
        try checkApp(app)
        let ns = UnitNames.networkNamespace(app: app)
        return [
            "# \(UnitNames.networkUnit(app: app)): generated by hop for app \(app). Do not edit: hop rewrites it.",
            "[Unit]",
            "Description=" + escapeSpecifiers("hop \(app) network namespace (loopback only)"),
            "DefaultDependencies=no",
            "",
            "[Service]",
            "Type=oneshot",
            "RemainAfterExit=yes",
            "ExecStart=-/bin/ip netns add \(ns)",
            "ExecStart=/bin/ip -n \(ns) link set lo up",
            "",
        ].joined(separator: "\n")
    }

    /// The proxy units of one TCP port of a web instance, e.g. `hop-blog-G3-web-P20001` (.socket,
    /// .service): systemd listens on a unix socket of the generation (`/run/hop/<app>/g<n>/web-<i>.sock`,
    /// 0660 root:www-data), where nginx connects through the app's renamed `web-<i>.sock` symlink, and
    /// `systemd-socket-proxyd` — in the app's namespace, as the app's user — forwards each connection
    /// to the app's 127.0.0.1:PORT there. The app binds what it likes (0.0.0.0 too); nothing of it
    /// listens in the host's namespace, no other app can bind or reach the port, and a switch is a
    /// rename (no nginx reload), as for `wsgi:`.
    public static func proxyName(app: String, process: String, generation: Int, port: Int) throws -> String {
        let template = try unitName(app: app, process: process, generation: generation)
        guard (1...65535).contains(port) else { throw HopError.invalid("the port \(port) is not in 1–65535") }
        return template.replacingOccurrences(of: "@.service", with: "-P\(port)")
    }

    public static func renderProxySocket(app: String, process: String, generation: Int, port: Int, socketPath: String,
                                         socketGroup: String = "www-data") throws -> String {
        let name = try proxyName(app: app, process: process, generation: generation, port: port)
        try checkSocketPath(socketPath)
        try checkProcess(socketGroup.replacingOccurrences(of: "-", with: "_"))
        return ([
            "# \(name).socket: generated by hop for app \(app), generation \(generation). Do not edit: hop rewrites it.",
            "[Unit]",
            "Description=" + escapeSpecifiers("hop \(app) generation \(generation) port \(port) of process \(process) (unix socket)"),
            "",
            "[Socket]",
            "ListenStream=" + escapeSpecifiers(socketPath),
        ] + socketSettings(group: socketGroup) + [
            "Service=\(name).service",
            "",
        ]).joined(separator: "\n")
    }

    public static func renderProxyService(app: String, process: String, generation: Int, port: Int) throws -> String {
        let name = try proxyName(app: app, process: process, generation: generation, port: port)
        let network = UnitNames.networkUnit(app: app)
        var unit = [
            "# \(name).service: generated by hop for app \(app), generation \(generation). Do not edit: hop rewrites it.",
            "[Unit]",
            "Description=" + escapeSpecifiers("hop \(app) generation \(generation) proxy to port \(port) of process \(process)"),
            "Requires=\(name).socket \(network)",
            "After=\(name).socket \(network)",
            "",
            "[Service]",
            "Type=simple",
            "ExecStart=/lib/systemd/systemd-socket-proxyd --connections-max=1024 127.0.0.1:\(port)",
            "NetworkNamespacePath=" + UnitNames.networkNamespacePath(app: app),
            "DynamicUser=yes",
            "User=" + UnitNames.user(app: app),
            "PrivateUsers=yes",
        ]
        unit += hardening(allowJIT: false)
        unit += ["MemoryMax=128M", "TasksMax=16", ""]
        return unit.joined(separator: "\n")
    }

    // MARK: - Checks

    static func checkApp(_ app: String) throws {
        guard matches(app, first: lowerAlnum, rest: lowerAlnum.union(["-", "_", "."])), app.utf8.count <= 63, !app.contains("..") else {
            throw HopError.invalid("`\(printable(app))` is not a valid app name",
                                   hint: "app names use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit")
        }
    }

    static func checkProcess(_ process: String) throws {
        guard matches(process, first: lowerLetters, rest: lowerAlnum.union(["-", "_"])), process.utf8.count <= 32 else {
            throw HopError.invalid("`\(printable(process))` is not a valid process name",
                                   hint: "process names use lowercase letters, digits, `-` and `_`, starting with a letter, at most 32 characters")
        }
    }

    static func checkGeneration(_ generation: Int) throws {
        guard generation >= 0 else { throw HopError.invalid("generation \(generation) is negative") }
    }

    /// An absolute, normalized path whose characters need no quoting in any unit setting.
    public static func checkPath(_ path: String, what: String) throws {
        let hint = "use an absolute path of letters, digits and `._+-=:@,`, without `.` or `..` components"
        guard path.hasPrefix("/"), path.utf8.count <= 4096, path.unicodeScalars.allSatisfy({ pathCharacters.contains($0) }) else {
            throw HopError.invalid("\(what) `\(printable(path))` is not an absolute path of safe characters", hint: hint)
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw HopError.invalid("\(what) `\(printable(path))` is not a normalized path", hint: hint)
        }
    }

    /// A path inside a store object: `/nix/store/<32-character hash>-<name>[/…]`.
    static func checkStorePath(_ path: String, what: String) throws {
        try checkPath(path, what: what)
        let components = path.split(separator: "/")
        let hashAlphabet = Set("0123456789abcdfghijklmnpqrsvwxyz")
        guard components.count >= 3, components[0] == "nix", components[1] == "store",
              components[2].count > 33, components[2].prefix(32).allSatisfy({ hashAlphabet.contains($0) }),
              components[2].dropFirst(32).first == "-" else {
            throw HopError.invalid("\(what) `\(printable(path))` is not inside /nix/store",
                                   hint: "hop runs only what it built: point at a path inside the app's closure")
        }
    }

    /// A socket path systemd creates: normalized, under /run, short enough for `sun_path`.
    static func checkSocketPath(_ socketPath: String) throws {
        try checkPath(socketPath, what: "the socket path")
        guard socketPath.hasPrefix("/run/"), socketPath.split(separator: "/").count >= 3 else {
            throw HopError.invalid("the socket path `\(socketPath)` is not inside a directory under /run",
                                   hint: "use a path like /run/hop/<app>/g<generation>/web.sock")
        }
        guard socketPath.utf8.count <= 107 else {
            throw HopError.invalid("the socket path `\(socketPath)` is longer than the 107 bytes a unix socket path holds",
                                   hint: "use a shorter app name")
        }
    }

    /// The app's state directory and its volumes (`/var/lib/hop-apps/<app>/volumes/<name>`, made and
    /// owned by systemd for the app's user, the `volumes` directory itself root's), each volume
    /// bind-mounted read-write at its target in the app directory (a mount point the build made).
    /// `STATE_DIRECTORY` stays the one state directory (systemd would list every directory).
    public static func identitySettings(app: String, outPath: String, volumes: [Volume]) throws -> [String] {
        try checkApp(app)
        var state = [UnitNames.stateDirectory(app: app)]
        var lines: [String] = []
        for v in volumes {
            guard v.name.utf8.count <= 32, let first = v.name.unicodeScalars.first, lowerLetters.contains(first),
                  v.name.unicodeScalars.allSatisfy({ lowerAlnum.union(["-", "_"]).contains($0) }) else {
                throw HopError.invalid("`\(printable(v.name))` is not a volume name")
            }
            let source = UnitNames.stateRoot + "/\(app)/volumes/\(v.name)"
            let target = outPath + "/app/" + v.target
            try checkPath(target, what: "the target of volume `\(v.name)`")
            guard !target.contains(":") else { throw HopError.invalid("the target of volume `\(v.name)` contains `:`") }
            state.append(UnitNames.stateDirectory(app: app) + "/volumes/\(v.name)")
            lines.append("BindPaths=" + escapeSpecifiers(source + ":" + target))
        }
        // A writable HOME and cache for toolchains run at start (`go run`, pip, npm): the app's
        // cache directory, shared by its generations, disposable (never backed up or restored).
        let cache = UnitNames.cacheRoot + "/" + app
        var out = ["DynamicUser=yes", "User=" + UnitNames.user(app: app), "PrivateUsers=yes",
                   "StateDirectory=" + state.joined(separator: " "),
                   "CacheDirectory=" + UnitNames.stateDirectory(app: app),
                   "Environment=HOME=\(cache) XDG_CACHE_HOME=\(cache)"]
        if !volumes.isEmpty { out.append("Environment=STATE_DIRECTORY=\(UnitNames.stateRoot)/\(app)") }
        return out + lines
    }

    /// What every unit of an app runs under (and `hop run` too): nothing from the host but what a
    /// network service needs. `allowJIT` leaves out MemoryDenyWriteExecute (V8 needs W+X pages).
    public static func hardening(allowJIT: Bool) -> [String] {
        var h = ["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "PrivateMounts=yes",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=", "AmbientCapabilities=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                 "SystemCallFilter=@system-service", "SystemCallFilter=~@privileged @resources", "SystemCallErrorNumber=EPERM",
                 "SystemCallArchitectures=native", "LockPersonality=yes"]
        if !allowJIT { h.append("MemoryDenyWriteExecute=yes") }
        // PrivateDevices= bind-mounts the host's /dev/shm: a tmpfs of its own instead, bounded
        // (its pages count against the unit's MemoryMax too), gone when the unit stops.
        h.append("TemporaryFileSystem=/dev/shm:size=\(devShmSize),mode=1777,nosuid,nodev")
        h += ["ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
              "ProtectClock=yes", "ProtectHostname=yes", "ProtectProc=invisible", "ProcSubset=pid", "RestrictNamespaces=yes",
              "RestrictRealtime=yes", "RestrictSUIDSGID=yes", "RemoveIPC=yes", "KeyringMode=private", "DevicePolicy=closed"]
        return h
    }

    /// The app's slice: its totals, so one app cannot take the host however many instances,
    /// one-offs and forks it runs. Each instance is bounded by its unit; the slice by the sum over
    /// the generation's long-running instances plus one (a one-off, release or cron run), twice
    /// (during a switch the old generation serves beside the new one).
    public static func renderSlice(app: String, limits: Limits, instances: Int) throws -> String {
        try checkApp(app)
        let n = 2 * (max(0, instances) + 1)
        var lines = ["# \(UnitNames.slice(app: app)): generated by hop for app \(app). Do not edit: hop rewrites it.",
                     "# The app's totals: \(n) × each instance's limits (its instances and one more, twice for a switch).",
                     "[Unit]", "Description=" + escapeSpecifiers("hop app \(app)"), "", "[Slice]"]
        if let bytes = sizeInBytes(limits.memory ?? defaultMemoryMax) { lines.append("MemoryMax=\(bytes * Int64(n))") }
        lines.append("TasksMax=\((limits.processes ?? defaultTasksMax) * n)")
        if let cpu = limits.cpu, cpu.hasSuffix("%"), let percent = Int(cpu.dropLast()) { lines.append("CPUQuota=\(percent * n)%") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// systemd's size syntax (`512M`, `1G`, a byte count; base 1024) as bytes; nil otherwise.
    static func sizeInBytes(_ text: String) -> Int64? {
        DiskSize.bytes(text).flatMap { $0 > 0 ? $0 : nil }
    }

    /// The app's [limits], else hop's defaults.
    /// The unit's CPU time is accounted (cgroup v1 does not by default) for `hop metrics`.
    public static func limitSettings(_ limits: Limits) -> [String] {
        var l = ["MemoryMax=" + (limits.memory ?? defaultMemoryMax)]
        if let cpu = limits.cpu { l.append("CPUQuota=" + cpu) }
        l.append("TasksMax=\(limits.processes ?? defaultTasksMax)")
        l.append("CPUAccounting=yes")
        return l
    }

    /// Every instance is limited even when the app says nothing: one runaway app must not take
    /// the host's memory or PIDs from the others. `[limits] memory` / `processes` override these.
    public static let defaultMemoryMax = "1G"
    public static let defaultTasksMax = 512
    /// Each unit's private /dev/shm.
    public static let devShmSize = "64M"

    /// Limits re-checked against systemd's syntax: AppSpec checks them too, but a unit is written
    /// from whatever reaches it.
    public static func checkedLimits(_ limits: Limits) throws -> Limits {
        if let memory = limits.memory {
            let digitsAndDot = Set("0123456789.")
            var number = Substring(memory)
            if let last = number.last, "KMGT%".contains(last) { number = number.dropLast() }
            guard !number.isEmpty, number.first != ".", number.last != ".", number.filter({ $0 == "." }).count <= 1,
                  number.allSatisfy({ digitsAndDot.contains($0) }) else {
                throw HopError.invalid("the memory limit `\(printable(memory))` is not a systemd size", hint: "write it like 512M or 2G")
            }
        }
        if let cpu = limits.cpu {
            let number = cpu.dropLast()
            guard cpu.hasSuffix("%"), !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), Int(number) ?? 0 > 0 else {
                throw HopError.invalid("the CPU limit `\(printable(cpu))` is not a percentage", hint: "write it like 50% (or 200% for two cores)")
            }
        }
        if let processes = limits.processes, processes < 1 {
            throw HopError.invalid("the process limit \(processes) is below 1", hint: "allow at least one process")
        }
        return limits
    }

    // MARK: - Escaping

    /// `%` starts a specifier in most settings; `%%` is a literal percent sign.
    static func escapeSpecifiers(_ value: String) -> String {
        value.replacingOccurrences(of: "%", with: "%%")
    }

    /// One `Environment=` assignment, double-quoted with C-style escapes so spaces, quotes and
    /// backslashes stay inside it. Callers pass only checked values: no control characters, which
    /// no quoting could keep from ending the setting.
    static func quoteAssignment(_ assignment: String) -> String {
        var out = "\""
        for c in escapeSpecifiers(assignment) {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default: out.append(c)
            }
        }
        return out + "\""
    }

    // MARK: - Character sets

    private static let lowerLetters = Set("abcdefghijklmnopqrstuvwxyz".unicodeScalars)
    private static let lowerAlnum = lowerLetters.union("0123456789".unicodeScalars)
    private static let pathCharacters = lowerAlnum
        .union("ABCDEFGHIJKLMNOPQRSTUVWXYZ".unicodeScalars)
        .union("/._+-=:@,".unicodeScalars)

    private static func matches(_ s: String, first: Set<Unicode.Scalar>, rest: Set<Unicode.Scalar>) -> Bool {
        guard let head = s.unicodeScalars.first, first.contains(head) else { return false }
        return s.unicodeScalars.dropFirst().allSatisfy { rest.contains($0) }
    }

    /// A value as an error message may show it: control characters as `\u{…}`, never raw.
    public static func printable(_ s: String) -> String {
        s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    }
}

/// How an app's units are named and matched. Every unit of generation N of app A starts with
/// `hop-A-GN-`; app names are lowercase, so the capital `G` ends the app's name: a prefix or glob
/// built here names exactly one app (and one generation), never another app whose name merely
/// starts the same way (`shop` vs `shop-gateway` or `shop-g1`). (`:` would do too, but
/// `systemd-analyze verify` cannot read unit files whose names contain it.)
public enum UnitNames {
    public static func prefix(app: String, generation: Int) -> String { "hop-\(app)-G\(generation)-" }
    /// Every unit of every generation of `app`.
    public static func appPrefix(app: String) -> String { "hop-\(app)-G" }
    /// A `journalctl -u` / `systemctl` glob for an app's units (of one process when given).
    public static func journalPattern(app: String, process: String? = nil) -> String {
        process.map { "hop-\(app)-G*-\($0)@*" } ?? "hop-\(app)-G*"
    }
    /// The generation number of a unit file of `app`, or nil when the file is not one of its units.
    public static func generation(ofUnit file: String, app: String) -> Int? {
        let prefix = appPrefix(app: app)
        guard file.hasPrefix(prefix) else { return nil }
        let rest = file.dropFirst(prefix.count)
        let digits = rest.prefix { $0.isNumber }
        guard !digits.isEmpty, rest.dropFirst(digits.count).hasPrefix("-") else { return nil }
        return Int(digits)
    }
    /// Apps' state lives under its own root, outside HOP_HOME (hop's private, root-only files):
    /// `/var/lib/hop-apps/<app>` (systemd keeps it in /var/lib/private for dynamic users).
    public static let stateRoot = "/var/lib/hop-apps"
    /// Where an app's cache directory (its HOME) is, as its processes see it.
    public static let cacheRoot = "/var/cache/hop-apps"
    /// The app's one service user, shared by all its units (so none re-owns the others' files):
    /// `hop-` and 12 hex digits of the name's SHA-256, a valid user name whatever the app's length.
    public static func user(app: String) -> String { "hop-" + sha256Hex(Data(app.utf8)).prefix(12) }
    public static func stateDirectory(app: String) -> String { "hop-apps/\(app)" }
    /// The app's network namespace (`ip netns` name): every process of the app runs in it.
    public static func networkNamespace(app: String) -> String { user(app: app) }
    public static func networkNamespacePath(app: String) -> String { "/run/netns/" + networkNamespace(app: app) }
    /// The unit that creates it (capital `N`: no app name can make a unit of that name).
    public static func networkUnit(app: String) -> String { "hop-\(app)-Net.service" }
    /// The app's slice: every process, one-off and cron run of the app is in it (under `hop.slice`;
    /// named by the app's hash, as `-` in a slice name means nesting and app names have `-`).
    public static func slice(app: String) -> String { user(app: app) + ".slice" }
}
