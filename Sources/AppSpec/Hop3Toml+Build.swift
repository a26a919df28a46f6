import HopBasics

/// How an app is built: `[metadata]`, `[build]`, `[php]`, `[nix]`. (split from Hop3Toml.swift by concern; no change.)
extension Hop3Reader {
    /// `[php]`: `extensions` (names hop's PHP seed has), `ini` (a table of php.ini settings: plain
    /// names, one-line values), `deny` (paths under the document root), `workers` (PHP-FPM children).
    func readPHP(_ table: TOMLTable) throws -> PHPSettings {
        var php = PHPSettings()
        if let e = table["extensions"] {
            php.extensions = try stringArray(e, in: "php").map { name, node in
                let n = name.lowercased()
                guard phpModuleExtensions.contains(n) || phpBuiltinExtensions.contains(n) else {
                    let fix = closestName(to: n, among: phpModuleExtensions + phpBuiltinExtensions).map { "did you mean `\($0)`? " } ?? ""
                    throw HopError.invalid("`[php] extensions`: hop's PHP has no extension `\(printableScalars(name))`", at: at(node.position),
                                           hint: fix + "hop's PHP 8.2 has " + phpModuleExtensions.joined(separator: ", "))
                }
                return n
            }
        }
        if let e = table["ini"] {
            let t = try self.table(e, in: "php")
            for setting in t.entries {
                guard setting.key.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "." || $0 == "_" }),
                      !setting.key.isEmpty, !["extension", "zend_extension", "extension_dir"].contains(setting.key) else {
                    throw HopError.invalid("`[php.ini]` key `\(printableScalars(setting.key))` is not a php.ini setting hop passes on", at: at(setting.keyPosition),
                                           hint: "use setting names such as `memory_limit` or `upload_max_filesize`; load extensions with `[php] extensions`")
                }
                let value: String
                switch setting.node.value {
                case .string(let v): value = v
                case .integer(let i): value = String(i)
                case .bool(let b): value = b ? "On" : "Off"
                default: throw wrongType(setting, in: "php.ini", expected: "a string, an integer or a boolean", hint: "e.g. `memory_limit = \"256M\"`")
                }
                guard !value.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\"" || $0 == "\0" }) else {
                    throw HopError.invalid("`[php.ini] \(setting.key)` holds a line break or a quote", at: at(setting.node.position),
                                           hint: "php.ini values are one line, without `\"`")
                }
                php.ini.append(EnvVar(setting.key, value))
            }
        }
        if let e = table["deny"] {
            php.deny = try stringArray(e, in: "php").map { value, node in
                try checkRelativePath(value, node: node, what: "`[php] deny` entry")
            }
        }
        if let e = table["workers"] { php.workers = try positiveInt(e, in: "php", max: 256) }
        return php
    }

    func checkRelativePath(_ path: String, node: TOMLNode, what: String) throws -> String {
        if let problem = relativePathProblem(path) {
            throw HopError.invalid("\(what) `\(path)` \(problem)", at: at(node.position),
                                   hint: "write a path relative to the app directory, without `..`, spaces or quotes, e.g. `data/uploads`")
        }
        return path
    }

    /// Text that becomes one line (a pip requirement, an ignore pattern): no control characters.
    func checkLine(_ text: String, node: TOMLNode, what: String) throws -> String {
        if text.isEmpty || text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw HopError.invalid("\(what) `\(text)` must be a non-empty single line", at: at(node.position),
                                   hint: "write one item per array element, without newlines or control characters")
        }
        return text
    }

    func readMetadata(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            if entry.key == "categories" || entry.key == "tags" {
                _ = try stringArray(entry, in: "metadata")
                continue
            }
            let value = try string(entry, in: "metadata")
            switch entry.key {
            case "id":
                document.spec.metadata.id = try inside(entry.node) { try validateAppName(value, at: $0) }
            case "version": document.spec.metadata.version = value
            case "title": document.spec.metadata.title = value
            case "description": document.spec.metadata.description = value
            case "license": document.spec.metadata.license = value
            case "homepage": document.spec.metadata.homepage = value
            default: break  // author, name, categories, tags: catalogue information
            }
        }
    }

    func readBuild(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            switch entry.key {
            case "builder":
                let name = try string(entry, in: "build")
                // Hop3's builders: `auto`/`local` mean "detect from the tree (and [build] toolchain)".
                if name == "auto" || name == "local" { continue }
                if name == "docker" {
                    throw HopError.invalid("hop does not build Dockerfiles (`[build] builder = \"docker\"`)", at: at(entry.node.position),
                                           hint: "use a toolchain builder (\(Builder.allCases.map(\.rawValue).filter { $0 != "nix" }.joined(separator: ", "))) or `nix`; see docs/hop3-compat.md")
                }
                guard let builder = Builder(rawValue: name) else {
                    let all = Builder.allCases.map(\.rawValue)
                    let fix = closestName(to: name, among: all).map { "did you mean `\($0)`? " } ?? ""
                    throw HopError.invalid("unknown builder `\(name)` in `[build] builder`", at: at(entry.node.position),
                                           hint: fix + "use one of " + all.map { "`\($0)`" }.joined(separator: ", "))
                }
                document.builder = builder
            case "toolchain":
                let value = try string(entry, in: "build")
                if value.isEmpty || !value.unicodeScalars.allSatisfy(isToolchainScalar) {
                    throw HopError.invalid("`[build] toolchain` `\(value)` is not a toolchain name", at: at(entry.node.position),
                                           hint: "write a name such as `python3.12` or `nodejs_20` (letters, digits, `.`, `_`, `-`, `+`)")
                }
                document.spec.build.toolchain = value
                // Hop3 names the toolchain where hop names the builder.
                if document.builder == nil, let b = Builder(rawValue: value == "nodejs" ? "node" : value) { document.toolchainBuilder = b }
                if ["rust", "java", "clojure", "elixir"].contains(value) {
                    throw HopError.invalid("hop has no `\(value)` toolchain yet (`[build] toolchain`)", at: at(entry.node.position),
                                           hint: "hop builds python, node, go, php, ruby, static and shell apps, or a [nix] file; see docs/hop3-compat.md")
                }
            case "after-build":
                document.spec.build.build += try stringList(entry, in: "build").map(\.0)
            case "static-dir", "test", "node-version":
                _ = try stringList(entry, in: "build")
            case "before-build":
                document.spec.build.beforeBuild = try stringList(entry, in: "build").map(\.0)
            case "build":
                document.spec.build.build = try stringList(entry, in: "build").map(\.0)
            case "packages":
                document.spec.build.packages = try stringList(entry, in: "build").map { name, node in
                    guard isPackageName(name) else {
                        throw HopError.invalid("`[build] packages` entry `\(name)` is not a package name", at: at(node.position),
                                               hint: "write package names such as `busybox` or `openssl` (letters, digits, `.`, `_`, `-`, `+`)")
                    }
                    return name
                }
            case "pip-install":
                document.spec.build.pipInstall = try stringList(entry, in: "build").map {
                    try checkLine($0, node: $1, what: "`[build] pip-install` entry")
                }
            default:  // "ignore"
                document.spec.build.ignore = try stringList(entry, in: "build").map {
                    try checkLine($0, node: $1, what: "`[build] ignore` pattern")
                }
            }
        }
    }

    func readNix(_ table: TOMLTable, into document: inout Hop3Document) throws {
        for entry in table.entries {
            if hop3NixTemplateKeys.contains(entry.key) { continue }  // warned about by the section check
            if entry.key == "file" {
                let path = try string(entry, in: "nix")
                document.spec.nixFile = try checkRelativePath(path, node: entry.node, what: "`[nix] file`")
            } else {
                document.spec.nixPackages = try stringArray(entry, in: "nix").map { name, node in
                    guard isNixAttributePath(name) else {
                        throw HopError.invalid("`[nix] packages` entry `\(name)` is not a Nix attribute name", at: at(node.position),
                                               hint: "write attribute names such as `ffmpeg` or `python3Packages.numpy`")
                    }
                    return name
                }
            }
        }
    }

    func checkProcessName(_ name: String, at position: TOMLPosition, what: String) throws {
        guard isProcessName(name) else {
            throw HopError.invalid("\(what) `\(name)` is not a process name", at: at(position),
                                   hint: "use a process name: lowercase letters, digits, `-` and `_`, starting with a letter (e.g. `web`, `worker`)")
        }
    }
}
