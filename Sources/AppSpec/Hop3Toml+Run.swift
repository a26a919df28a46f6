import HopBasics

/// How an app runs: `[run]`, `[port]`, `[healthcheck]`, `[static]`, `[limits]`. (split from Hop3Toml.swift by concern; no change.)
extension Hop3Reader {
    func readRun(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            switch entry.key {
            case "start":
                let command = try string(entry, in: "run")
                guard !command.allSatisfy(\.isWhitespace) else {
                    throw HopError.invalid("`[run] start` is empty", at: at(entry.node.position),
                                           hint: "write the command that starts the app's web server, e.g. `start = \"./serve --port $PORT\"`")
                }
                document.spec.run.start = command
                document.startLocation = at(entry.keyPosition)
            case "before-run":
                document.spec.run.beforeRun = try stringList(entry, in: "run").map(\.0)
            case "start-timeout":
                document.legacyStartTimeout = try positiveSeconds(entry, in: "run")
            case "healthcheck-timeout":
                _ = try positiveSeconds(entry, in: "run")
            case "packages":
                _ = try stringList(entry, in: "run")
            case "static":
                // Hop3's legacy place for [static]: used when [static] is absent.
                document.legacyStatic = try readStatic(try self.table(entry, in: "run"))
                document.warnings.append(Hop3Warning(message: "`[run] static` is Hop3's legacy spelling; read as [static] (which wins when present)",
                                                     location: at(entry.keyPosition)))
            case "healthcheck":
                let path = try string(entry, in: "run")
                guard path.hasPrefix("/"), !path.contains(where: { $0.isWhitespace }) else {
                    throw HopError.invalid("`[run] healthcheck` `\(printableScalars(path))` is not a URL path", at: at(entry.node.position), hint: "e.g. \"/health\"")
                }
                document.legacyHealthPath = path
                document.warnings.append(Hop3Warning(message: "`[run] healthcheck` is Hop3's legacy spelling; read as [healthcheck] path (which wins when present)",
                                                     location: at(entry.keyPosition)))
            default:  // "workers"
                guard case .table(let workers) = entry.node.value else {
                    throw wrongType(entry, in: "run", expected: "a table of process name = count",
                                    hint: "write `workers = { web = 2 }`, or a `[run.workers]` section with `web = 2`")
                }
                for worker in workers.entries {
                    try checkProcessName(worker.key, at: worker.keyPosition, what: "`[run.workers]` name")
                    // Hop3: `name = "command"` declares a process; hop: `name = N` sets an instance count.
                    if case .string = worker.node.value {
                        let command = try string(worker, in: "run.workers")
                        guard !command.allSatisfy(\.isWhitespace) else {
                            throw HopError.invalid("`[run.workers] \(worker.key)` is empty", at: at(worker.node.position), hint: "write the command that runs it")
                        }
                        document.workerProcesses.append((worker.key, command))
                        continue
                    }
                    document.spec.run.workers[worker.key] = try positiveInt(worker, in: "run.workers", max: Int64(AppBounds.maxInstancesPerProcess))
                    document.workerLocations.append((worker.key, at(worker.keyPosition)))
                }
            }
        }
    }

    func readPorts(_ table: TOMLTable) throws -> [String: Int] {
        var ports: [String: Int] = [:]
        for entry in table.entries {
            try checkProcessName(entry.key, at: entry.keyPosition, what: "`[port]` name")
            var portEntry = entry
            if case .table(let sub) = entry.node.value {
                try checkKeys(sub, section: "port.\(entry.key)", allowed: ["container", "public", "https"])
                for key in ["public", "https"] where sub[key] != nil {
                    warn("`[port.\(entry.key)] \(key)` is ignored: hop publishes every web process through nginx (HTTPS with `hop host up --https-port`)",
                         at: sub[key]!.keyPosition)
                }
                guard let container = sub["container"] else {
                    throw HopError.invalid("`[port.\(entry.key)]` has no `container` port", at: at(entry.keyPosition),
                                           hint: "add `container = 8000` (the port the process listens on), or write `\(entry.key) = 8000` under `[port]`")
                }
                portEntry = container
            }
            guard case .integer(let n) = portEntry.node.value else {
                throw wrongType(portEntry, in: portEntry == entry ? "port" : "port.\(entry.key)", expected: "a port number",
                                hint: "write the port without quotes: `\(entry.key) = 8000`")
            }
            guard (1...65535).contains(n) else {
                throw HopError.invalid("port \(n) for `\(entry.key)` is out of range", at: at(portEntry.node.position),
                                       hint: "use a port number from 1 to 65535, e.g. `\(entry.key) = 8000`")
            }
            ports[entry.key] = Int(n)
        }
        return ports
    }

    func readHealthCheck(_ table: TOMLTable) throws -> HealthCheck {
        var check = HealthCheck()
        for entry in table.entries {
            switch entry.key {
            case "path":
                let path = try string(entry, in: "healthcheck")
                guard path.hasPrefix("/") else {
                    throw HopError.invalid("`[healthcheck] path` `\(path)` does not start with `/`", at: at(entry.node.position),
                                           hint: "write the URL path the check requests, starting with `/`: `path = \"/\(path)\"`")
                }
                if let bad = path.unicodeScalars.first(where: { $0.value <= 0x20 || $0.value == 0x7F || $0 == "\"" || $0 == "\\" }) {
                    throw HopError.invalid("`[healthcheck] path` contains \(describeScalar(bad))", at: at(entry.node.position),
                                           hint: "percent-encode it (a space is `%20`)")
                }
                check.path = path
            case "status":
                let status = try positiveInt(entry, in: "healthcheck", max: 599)
                guard status >= 100 else {
                    throw HopError.invalid("`[healthcheck] status` \(status) is not an HTTP status", at: at(entry.node.position),
                                           hint: "write the status the health path answers, e.g. `status = 200` or `status = 204`")
                }
                check.status = status
            case "contains": check.contains = try string(entry, in: "healthcheck")
            case "interval": check.interval = try positiveSeconds(entry, in: "healthcheck")
            case "timeout": check.timeout = try positiveSeconds(entry, in: "healthcheck")
            case "start-timeout": check.startTimeout = try positiveSeconds(entry, in: "healthcheck")
            default: check.retries = try positiveInt(entry, in: "healthcheck", max: 1000)
            }
        }
        return check
    }

    func readStatic(_ table: TOMLTable) throws -> [String: String] {
        var paths: [String: String] = [:]
        for entry in table.entries {
            if let problem = urlPrefixProblem(entry.key) {
                throw HopError.invalid("`[static]` URL prefix `\(entry.key)` \(problem)", at: at(entry.keyPosition),
                                       hint: "write a quoted URL prefix then the directory: `\"/assets\" = \"public/assets\"`")
            }
            let directory = try string(entry, in: "static")
            paths[entry.key] = try checkRelativePath(directory, node: entry.node, what: "`[static]` directory")
        }
        return paths
    }

    func readLimits(_ table: TOMLTable) throws -> Limits {
        var limits = Limits()
        for entry in table.entries {
            switch entry.key {
            case "memory":
                let hint = "write a size such as `memory = \"512M\"` or `\"2G\"` (digits then K, M, G or T)"
                switch entry.node.value {
                case .integer(let n) where n > 0: limits.memory = String(n)
                case .string(let s):
                    guard isMemorySize(s) else {
                        throw HopError.invalid("`[limits] memory` `\(s)` is not a size", at: at(entry.node.position), hint: hint)
                    }
                    limits.memory = s
                default:
                    throw wrongType(entry, in: "limits", expected: "a size string", hint: hint)
                }
            case "cpu" where entry.node.value.typeName != "string":
                // Hop3 writes CPUs as a number (0.5, 2); hop's quota is a percentage of one CPU.
                let cpus: Double
                switch entry.node.value {
                case .integer(let n): cpus = Double(n)
                case .float(let f): cpus = f
                default: throw wrongType(entry, in: "limits", expected: "a number of CPUs or a percentage string", hint: "e.g. cpu = 0.5 or cpu = \"50%\"")
                }
                guard cpus > 0, cpus <= 1024 else {
                    throw HopError.invalid("`[limits] cpu` must be more than 0 CPUs", at: at(entry.node.position), hint: "e.g. cpu = 0.5")
                }
                limits.cpu = "\(Int((cpus * 100).rounded()))%"
            case "cpu":
                let value = try string(entry, in: "limits")
                guard value.hasSuffix("%"), let n = Int(value.dropLast()), n > 0, value.first != "+" else {
                    throw HopError.invalid("`[limits] cpu` `\(value)` is not a CPU quota", at: at(entry.node.position),
                                           hint: "write a percentage of one CPU: `cpu = \"50%\"`, or `\"200%\"` for two CPUs")
                }
                limits.cpu = value
            case "disk":
                let hint = "write a size such as `disk = \"512M\"` or `\"2G\"` (digits then K, M, G or T), at least 16M"
                let text: String
                switch entry.node.value {
                case .integer(let n): text = String(n)
                case .string(let s): text = s
                default: throw wrongType(entry, in: "limits", expected: "a size string", hint: hint)
                }
                guard let bytes = DiskSize.bytes(text) else {
                    throw HopError.invalid("`[limits] disk` `\(text)` is not a size", at: at(entry.node.position), hint: hint)
                }
                guard bytes >= DiskSize.minimum, bytes <= DiskSize.maximum else {
                    throw HopError.invalid("`[limits] disk` `\(text)` is \(bytes < DiskSize.minimum ? "below 16M" : "above 64T")",
                                           at: at(entry.node.position), hint: hint)
                }
                limits.disk = text
            default:
                limits.processes = try positiveInt(entry, in: "limits", max: 1_000_000)
            }
        }
        return limits
    }
}
