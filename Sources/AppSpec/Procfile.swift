import HopBasics

/// What a Procfile declares: the processes to run and the deploy hooks.
public struct Procfile: Sendable, Hashable {
    /// In file order.
    public var processes: [AppProcess]
    /// `prebuild`, `postbuild`, `prerun` → command. Hooks run at a deploy step; they are not processes.
    public var hooks: [String: String]
    /// Where each process or hook name was declared, so a clash found later (with `[run] start`, say)
    /// can still point at the line.
    public var locations: [String: SourceLocation]

    public init(processes: [AppProcess] = [], hooks: [String: String] = [:], locations: [String: SourceLocation] = [:]) {
        self.processes = processes
        self.hooks = hooks
        self.locations = locations
    }
}

/// Procfile names that are deploy hooks rather than processes.
public let procfileHookNames: Set<String> = ["prebuild", "postbuild", "prerun"]

/// Parses a Procfile: `name: command` lines; blank lines and `#` comments are ignored.
///
/// The name decides the kind: `web`, `wsgi` (a `module:callable` WSGI spec), `static` (a directory, or
/// `/prefix:dir`), `release`, `cron` or `cron…` (five cron fields then the command), the hooks `prebuild`,
/// `postbuild` and `prerun`; any other name (`[a-z][a-z0-9_-]{0,31}`) is a daemon. Static commands are
/// normalised to `/prefix:dir`; cron schedules to five single-space-separated fields.
///
/// Every error is located at `file:line:column` with a hint: a missing `:`, a bad name, an empty command,
/// a duplicate name, `web` together with `wsgi`, a malformed `wsgi`, `static` or `cron` entry, and a
/// Procfile without any process (an app with nothing to run is a mistake, not a default).
public func parseProcfile(_ text: String, file: String) throws -> Procfile {
    var result = Procfile()
    var lineNumber = 0
    // Every wrong line is reported at once (at most 20), each at its own line and column.
    var errors: [HopError] = []
    // Split on scalars: as Characters, "\r\n" is one grapheme and would not split on "\n".
    for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) where errors.count < 20 {
        lineNumber += 1
        var line = Array(rawLine)
        if line.last == "\r" { line.removeLast() }
        guard let first = line.firstIndex(where: { !isBlank($0) }), line[first] != "#" else { continue }
        let entry = ProcfileLine(scalars: line, file: file, line: lineNumber)
        do { try entry.parse(nameStart: first, into: &result) } catch let e as HopError { errors.append(e) }
    }
    if let e = HopError.collected(errors) { throw e }
    guard !result.processes.isEmpty else {
        throw HopError.invalid("the Procfile declares no processes", at: SourceLocation(file: file, line: 1, column: 1),
                               hint: "add a process line such as `web: <command that serves HTTP on $PORT>`")
    }
    return result
}

private func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" }

private struct ProcfileLine {
    let scalars: [Unicode.Scalar]
    let file: String
    let line: Int

    func location(_ index: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: index + 1)
    }

    func text(_ range: Range<Int>) -> String {
        String(String.UnicodeScalarView(scalars[range]))
    }

    func parse(nameStart first: Int, into result: inout Procfile) throws {
        let wordEnd = scalars[first...].firstIndex(where: { isBlank($0) || $0 == ":" }) ?? scalars.count
        let firstWord = text(first..<wordEnd)
        guard let colon = scalars[first...].firstIndex(of: ":") else {
            throw HopError.invalid("Procfile line has no `:` after the process name `\(firstWord)`", at: location(wordEnd),
                                   hint: "write `\(firstWord): <command>`: a process name, a colon, then the command")
        }
        var nameEnd = colon
        while nameEnd > first, isBlank(scalars[nameEnd - 1]) { nameEnd -= 1 }
        let name = text(first..<nameEnd)
        if wordEnd < nameEnd {
            throw HopError.invalid("Procfile process name `\(name)` contains a space", at: location(wordEnd),
                                   hint: "put the `:` right after the name: `\(firstWord): \(text(wordEnd..<nameEnd).drop(while: { $0 == " " || $0 == "\t" }))…`")
        }
        try checkName(name, at: first)

        var commandStart = colon + 1
        while commandStart < scalars.count, isBlank(scalars[commandStart]) { commandStart += 1 }
        var commandEnd = scalars.count
        while commandEnd > commandStart, isBlank(scalars[commandEnd - 1]) { commandEnd -= 1 }
        guard commandStart < commandEnd else {
            throw HopError.invalid("the Procfile entry `\(name)` has an empty command", at: location(colon + 1),
                                   hint: "write the command after the colon: `\(name): <command>`")
        }
        let command = text(commandStart..<commandEnd)

        if let earlier = result.locations[name] {
            throw HopError.invalid("the Procfile declares `\(name)` twice (first on line \(earlier.line ?? 0))", at: location(first),
                                   hint: "keep one `\(name):` line; give other processes distinct names")
        }
        for (this, other) in [("web", "wsgi"), ("wsgi", "web"), ("php", "web"), ("web", "php"), ("php", "wsgi"), ("wsgi", "php")] where name == this {
            if let earlier = result.locations[other] {
                throw HopError.invalid("the Procfile declares both `\(other)` (line \(earlier.line ?? 0)) and `\(this)`", at: location(first),
                                       hint: "keep only one: `web` runs your own HTTP server on $PORT, `wsgi` has hop serve a `module:callable`")
            }
        }
        result.locations[name] = location(first)

        if procfileHookNames.contains(name) {
            result.hooks[name] = command
            return
        }
        let process: AppProcess
        switch name {
        case "web":
            process = AppProcess(name: name, kind: .web, command: command)
        case "wsgi":
            try checkWSGI(command, at: commandStart)
            process = AppProcess(name: name, kind: .wsgi, command: command)
        case "static":
            process = AppProcess(name: name, kind: .static, command: try staticMapping(command, at: commandStart))
        case "php":
            if let problem = relativePathProblem(command) {
                throw HopError.invalid("`php` document root `\(command)` \(problem)", at: location(commandStart),
                                       hint: "name the directory PHP-FPM serves, relative to the app: `php: public` or `php: .`")
            }
            process = AppProcess(name: name, kind: .php, command: command)
        case "release":
            process = AppProcess(name: name, kind: .release, command: command)
        case _ where isCronName(name):
            let (schedule, rest) = try cronEntry(commandStart: commandStart, end: commandEnd)
            process = AppProcess(name: name, kind: .cron(schedule: schedule), command: rest)
        default:
            process = AppProcess(name: name, kind: .daemon, command: command)
        }
        result.processes.append(process)
    }

    func checkName(_ name: String, at start: Int) throws {
        let hint = "name processes with lowercase letters, digits, `-` and `_`, starting with a letter, at most 32 characters"
        let chars = Array(name.unicodeScalars)
        guard chars.count <= 32 else {
            throw HopError.invalid("Procfile process name `\(name)` is \(chars.count) characters long", at: location(start), hint: hint)
        }
        for (k, c) in chars.enumerated() {
            let ok = ("a"..."z").contains(c) || (k > 0 && (("0"..."9").contains(c) || c == "-" || c == "_"))
            if !ok {
                let what = ("A"..."Z").contains(c) ? "uppercase letter `\(c)`" : c.value < 0x20 ? "character \(hexName(c))" : "character `\(c)`"
                throw HopError.invalid("invalid Procfile process name `\(name)`: \(what) at position \(k + 1)",
                                       at: location(start + k), hint: hint)
            }
        }
    }

    func checkWSGI(_ spec: String, at start: Int) throws {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        var callable = parts.count == 2 ? Substring(parts[1]) : ""
        if callable.hasSuffix("()") { callable = callable.dropLast(2) }
        let ok = parts.count == 2
            && parts[0].split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isPythonIdentifier)
            && callable.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isPythonIdentifier)
        guard ok else {
            throw HopError.invalid("`wsgi` needs a WSGI spec `module:callable`, found `\(spec)`", at: location(start),
                                   hint: "write e.g. `wsgi: myapp.wsgi:application`; to run your own server command use `web:` instead")
        }
    }

    /// `dir` or `/prefix:dir` → `/prefix:dir`.
    func staticMapping(_ command: String, at start: Int) throws -> String {
        var prefix = "/"
        var directory = command
        var directoryStart = start
        if command.hasPrefix("/"), let colon = command.firstIndex(of: ":") {
            prefix = String(command[..<colon])
            directory = String(command[command.index(after: colon)...])
            directoryStart = start + command[...colon].unicodeScalars.count
            if let problem = urlPrefixProblem(prefix) {
                throw HopError.invalid("`static` URL prefix `\(prefix)` \(problem)", at: location(start),
                                       hint: "write `static: /prefix:directory`, e.g. `static: /assets:public/assets`")
            }
        }
        if let problem = relativePathProblem(directory) {
            throw HopError.invalid("`static` directory `\(directory)` \(problem)", at: location(directoryStart),
                                   hint: "name a directory inside the app, e.g. `static: public` or `static: /assets:public/assets`")
        }
        return "\(prefix):\(directory)"
    }

    /// Splits `m h dom mon dow command…`, checking each field's characters and number ranges.
    func cronEntry(commandStart: Int, end: Int) throws -> (schedule: String, command: String) {
        let example = "write five schedule fields (minute hour day-of-month month day-of-week) then the command, "
            + "e.g. `cron: */15 * * * * ./cleanup.sh`"
        let names = ["minute", "hour", "day-of-month", "month", "day-of-week"]
        let ranges = [0...59, 0...23, 1...31, 1...12, 0...7]
        var fields: [String] = []
        var k = commandStart
        while fields.count < 5, k < end {
            let fieldStart = k
            while k < end, !isBlank(scalars[k]) { k += 1 }
            let field = text(fieldStart..<k)
            if let problem = cronFieldProblem(field, range: ranges[fields.count]) {
                throw HopError.invalid("cron \(names[fields.count]) field `\(field)` \(problem)", at: location(fieldStart), hint: example)
            }
            fields.append(field)
            while k < end, isBlank(scalars[k]) { k += 1 }
        }
        guard fields.count == 5, k < end else {
            throw HopError.invalid("a cron entry needs five schedule fields and then a command", at: location(commandStart), hint: example)
        }
        return (fields.joined(separator: " "), text(k..<end))
    }
}

private func isCronName(_ name: String) -> Bool {
    guard name.hasPrefix("cron") else { return false }
    let rest = name.dropFirst(4)
    return rest.isEmpty || rest.first == "-" || rest.first == "_" || rest.first!.isNumber
}

private func isPythonIdentifier(_ s: Substring) -> Bool {
    guard let first = s.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) || ("A"..."Z").contains(first) else {
        return false
    }
    return s.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
}

/// Why a cron field is wrong, or nil. Accepts `*`, numbers, `a-b` ranges, `/step` and `,` lists — the
/// syntax every cron shares — and refuses names and `@daily`-style shortcuts.
func cronFieldProblem(_ field: String, range: ClosedRange<Int>) -> String? {
    if let bad = field.unicodeScalars.first(where: { !("0"..."9").contains($0) && !"*,-/".unicodeScalars.contains($0) }) {
        return "contains `\(bad)`; fields use only digits, `*`, `,`, `-` and `/`"
    }
    for item in field.split(separator: ",", omittingEmptySubsequences: false) {
        let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard stepParts.count <= 2 else { return "has more than one `/` in `\(item)`" }
        if stepParts.count == 2 {
            guard let step = Int(stepParts[1]), step > 0 else { return "has a bad step in `\(item)`" }
        }
        let base = stepParts[0]
        if base == "*" { continue }
        let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(bounds.count) else { return "has a bad range in `\(item)`" }
        let numbers = bounds.compactMap { Int($0) }
        guard numbers.count == bounds.count else { return "has a bad value in `\(item)`" }
        for number in numbers where !range.contains(number) {
            return "is out of range: \(number) is not within \(range.lowerBound)–\(range.upperBound)"
        }
        if numbers.count == 2, numbers[0] > numbers[1] { return "has a backwards range `\(item)`" }
    }
    return nil
}

/// Why a directory or file path is not a safe path inside the app tree, or nil. Besides `..` and
/// absolute paths, characters that would need quoting in an nginx or systemd file are refused.
func relativePathProblem(_ path: String) -> String? {
    if path.isEmpty { return "is empty" }
    if path.hasPrefix("/") { return "is absolute; it must be relative to the app directory" }
    if path.split(separator: "/").contains("..") { return "contains `..`; it must stay inside the app directory" }
    if let bad = path.unicodeScalars.first(where: unsafePathScalar) { return "contains \(describeScalar(bad))" }
    return nil
}

/// Why a URL path prefix (`/assets`) is unusable, or nil.
func urlPrefixProblem(_ prefix: String) -> String? {
    if !prefix.hasPrefix("/") { return "does not start with `/`" }
    if prefix.split(separator: "/").contains("..") { return "contains `..`" }
    if let bad = prefix.unicodeScalars.first(where: unsafePathScalar) { return "contains \(describeScalar(bad))" }
    return nil
}

func unsafePathScalar(_ c: Unicode.Scalar) -> Bool {
    c.value < 0x20 || c.value == 0x7F || c == " " || c == "\t" || ";{}\"'\\`$".unicodeScalars.contains(c)
}

func describeScalar(_ c: Unicode.Scalar) -> String {
    if c == " " { return "a space" }
    if c.value < 0x20 || c.value == 0x7F { return "the control character \(hexName(c))" }
    return quote(String(c))
}
