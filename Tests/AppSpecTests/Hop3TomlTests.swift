import Foundation
import HopBasics
import Testing
@testable import AppSpec

@Suite(.tags(.small))
struct Hop3TomlTests {
    static let complete = """
    # hop3.toml for a small Flask app
    [metadata]
    id = "flask-demo"
    version = "1.2.0"
    title = "Flask demo"
    description = "Shows every section"
    license = "MIT"
    homepage = "https://example.com/flask-demo"

    [build]
    builder = "python"
    toolchain = "python3.12"
    before-build = "echo before"
    build = ["pip check", "python -m compileall ."]
    packages = ["busybox", "openssl"]
    pip-install = ["gunicorn==22.0.0"]
    ignore = ["*.pyc", "tests/"]

    [run]
    start = "gunicorn app:app --bind 127.0.0.1:$PORT"
    before-run = ["python manage.py migrate"]
    workers = { web = 2 }

    [env]
    SECRET = "s3cr3t"
    DEBUG = false
    WORKERS = 4

    [port]
    web = 8000

    [healthcheck]
    path = "/healthz"
    status = 204
    contains = "ok"
    interval = 2
    timeout = 1.5
    retries = 5

    [static]
    "/assets" = "public/assets"

    [domains]
    names = ["demo.example.com", "*.demo.example.com"]

    [backup]
    paths = ["data", "uploads/images"]
    exclude = ["*.tmp", "cache/"]
    schedule = "*-*-* 03:15:00"
    keep = "last=3,daily=7,weekly=4,monthly=6"
    before-deploy = true
    target = "offsite:hop/demo"

    [limits]
    memory = "512M"
    cpu = "150%"
    processes = 64
    disk = "1G"

    [nix]
    packages = ["ffmpeg", "python3Packages.numpy"]
    file = "nix/app.nix"
    """

    @Test func everySectionIsRead() throws {
        let spec = try parseHop3Toml(Self.complete, file: "hop3.toml", appName: "demo")
        #expect(spec.name == "demo")
        #expect(spec.source == .hop3toml)
        #expect(spec.metadata == Metadata(id: "flask-demo", version: "1.2.0", title: "Flask demo", description: "Shows every section",
                                          license: "MIT", homepage: "https://example.com/flask-demo"))
        #expect(spec.build.builder == .python)
        #expect(spec.build.toolchain == "python3.12")
        #expect(spec.build.beforeBuild == ["echo before"])
        #expect(spec.build.build == ["pip check", "python -m compileall ."])
        #expect(spec.build.packages == ["busybox", "openssl"])
        #expect(spec.build.pipInstall == ["gunicorn==22.0.0"])
        #expect(spec.build.ignore == ["*.pyc", "tests/"])
        #expect(spec.run.start == "gunicorn app:app --bind 127.0.0.1:$PORT")
        #expect(spec.run.beforeRun == ["python manage.py migrate"])
        #expect(spec.run.workers == ["web": 2])
        #expect(spec.processes == [AppProcess(name: "web", kind: .web, command: "gunicorn app:app --bind 127.0.0.1:$PORT")])
        #expect(spec.env == [EnvVar("SECRET", "s3cr3t"), EnvVar("DEBUG", "false"), EnvVar("WORKERS", "4")])
        #expect(spec.ports == ["web": 8000])
        var health = HealthCheck()
        health.path = "/healthz"
        health.status = 204
        health.contains = "ok"
        health.interval = 2
        health.timeout = 1.5
        health.retries = 5
        #expect(spec.healthcheck == health)
        #expect(spec.staticPaths == ["/assets": "public/assets"])
        #expect(spec.domains == ["demo.example.com", "*.demo.example.com"])
        #expect(spec.backupPaths == ["data", "uploads/images"])
        #expect(spec.backupExclude == ["*.tmp", "cache/"] && spec.backupSchedule == "*-*-* 03:15:00")
        #expect(spec.backupKeep == "last=3,daily=7,weekly=4,monthly=6" && spec.backupBeforeDeploy == true && spec.backupTarget == "offsite:hop/demo")
        #expect(spec.limits.memory == "512M" && spec.limits.cpu == "150%" && spec.limits.processes == 64 && spec.limits.disk == "1G")
        #expect(spec.nixPackages == ["ffmpeg", "python3Packages.numpy"])
        #expect(spec.nixFile == "nix/app.nix")
    }

    @Test("every wrong section is reported in one pass, each at its own line, with one combined exit code 2")
    func allSectionErrorsAtOnce() throws {
        let text = "[build]\nbuilder = \"cobol\"\n\n[run]\nstart = 42\n\n[healthcheck]\nretries = -1\n\n[metadata]\nid = \"ok\"\n"
        let error = try #require(#expect(throws: HopError.self) { try parseHop3Toml(text, file: "hop3.toml", appName: "blog") })
        #expect(error.code == .invalidInput && error.more.count == 2, "\(error)")
        #expect([error.location?.line] + error.more.map(\.location?.line) == [2, 5, 8], "\(error)")
        #expect(error.description.hasSuffix("3 errors"))
        #expect((error.jsonObject["more"] as? [[String: Any]])?.count == 2)
        // One wrong section: exactly the error it was before.
        let one = try #require(#expect(throws: HopError.self) { try parseHop3Toml("[run]\nstart = 42\n", file: "hop3.toml", appName: "blog") })
        #expect(one.more.isEmpty && !one.description.contains("errors"))
    }

    @Test("a wrong hop3.toml and a wrong Procfile: every error of both in one report, each located")
    func errorsAcrossFiles() throws {
        try withTemporaryDirectory { dir in
            try "[run]\nstart = 42\n".write(toFile: dir + "/hop3.toml", atomically: true, encoding: .utf8)
            try "web python app.py\nworker:\nweb: ok\n".write(toFile: dir + "/Procfile", atomically: true, encoding: .utf8)
            let error = try #require(#expect(throws: HopError.self) { try AppSpecLoader.load(directory: dir, appName: "blog") })
            let all = [error] + error.more
            #expect(all.map { ($0.location?.file as NSString?)?.lastPathComponent ?? "" } == ["hop3.toml", "Procfile", "Procfile"], "\(error)")
            #expect(all.map { $0.location?.line ?? 0 } == [2, 1, 2], "\(error)")
            #expect(error.more.allSatisfy { $0.more.isEmpty }, "one flat list")
        }
    }

    @Test func minimalFileUsesDefaults() throws {
        let spec = try parseHop3Toml("[build]\nbuilder = \"go\"\n", file: "hop3.toml", appName: "api")
        #expect(spec.build.builder == .go)
        #expect(spec.processes.isEmpty)
        #expect(spec.healthcheck == nil)
        #expect(spec.env.isEmpty && spec.ports.isEmpty && spec.domains.isEmpty)
    }

    @Test func volumesAreReadAndChecked() throws {
        let spec = try parseHop3Toml("[build]\nbuilder = \"python\"\n[[volumes]]\nname = \"uploads\"\ntarget = \"./data/uploads/\"\n[[volumes]]\nname = \"cache\"\ntarget = \"cache\"\n",
                                     file: "hop3.toml", appName: "blog")
        #expect(spec.volumes == [Volume(name: "uploads", target: "data/uploads"), Volume(name: "cache", target: "cache")])
        let cases: [(String, String, String)] = [
            ("name = \"a\"\ntarget = \"../x\"", "hop3.toml:5:", "`..`"),
            ("name = \"a\"\ntarget = \"/proc\"", "hop3.toml:5:", "absolute"),
            ("name = \"a\"\ntarget = \"x\\ny\"", "hop3.toml:5:", "control character"),
            ("name = \"A b\"\ntarget = \"x\"", "hop3.toml:4:", "not a volume name"),
            ("name = \"a\"\ntarget = \"x%y\"", "hop3.toml:5:", "`%`"),
            ("name = \"a\"", "hop3.toml:3:", "needs both"),
            ("name = \"a\"\ntarget = \"x\"\nsizes = 3", "hop3.toml:6:", "sizes"),
            ("name = \"a\"\ntarget = \"x\"\ntype = \"bind\"", "hop3.toml:6:", "on disk only"),
            ("name = \"a\"\ntarget = \"x\"\n[[volumes]]\nname = \"a\"\ntarget = \"y\"", "hop3.toml:7:", "twice"),
            ("name = \"a\"\ntarget = \"x\"\n[[volumes]]\nname = \"b\"\ntarget = \"x/y\"", "hop3.toml:8:", "overlaps"),
        ]
        for (body, location, message) in cases {
            let text = "[build]\nbuilder = \"python\"\n[[volumes]]\n" + body + "\n"
            let error = #expect(throws: HopError.self) { try parseHop3Toml(text, file: "hop3.toml", appName: "blog") }
            #expect(error?.code == .invalidInput && "\(error!)".contains(location) && error!.message.contains(message), "\(body): \(String(describing: error))")
        }
        #expect(throws: HopError.self) { try parseHop3Toml("volumes = 3\n", file: "hop3.toml", appName: "blog") }
    }

    @Test func secretEnvIsReadAndChecked() throws {
        let text = """
            [build]
            builder = "python"
            [env]
            PLAIN = "x"
            SECRET_KEY = { generate = "hex", length = 40 }
            PASSWORD = { generate = "password" }
            DB = { from = "blog-db", key = "DATABASE_URL" }
            [env.computed]
            URL = "https://${PLAIN}/?k=${SECRET_KEY}&cost=$$5"
            """
        let spec = try parseHop3Toml(text, file: "hop3.toml", appName: "blog")
        #expect(spec.env == [EnvVar("PLAIN", "x")])
        #expect(spec.secretEnv == [SecretEnv(name: "SECRET_KEY", kind: .generate(style: "hex", length: 40)),
                                   SecretEnv(name: "PASSWORD", kind: .generate(style: "password", length: 24)),
                                   SecretEnv(name: "DB", kind: .from(addon: "blog-db", key: "DATABASE_URL")),
                                   SecretEnv(name: "URL", kind: .computed(template: "https://${PLAIN}/?k=${SECRET_KEY}&cost=$$5"))])
        #expect(interpolate("https://${PLAIN}/?k=${SECRET_KEY}&cost=$$5", ["PLAIN": "h", "SECRET_KEY": "s"]) == ("https://h/?k=s&cost=$5", nil))
        #expect(interpolate("${NOPE}", [:]).missing == "NOPE")
        let bad: [(String, String, String)] = [
            ("K = { generate = \"rot13\" }", "hop3.toml:4:", "not a kind"),
            ("K = { generate = \"hex\", length = 3 }", "hop3.toml:4:", "8 to 4096"),
            ("K = { generate = \"hex\", size = 3 }", "hop3.toml:4:", "size"),
            ("K = { from = \"Bad Addon\", key = \"X\" }", "hop3.toml:4:", "not an addon name"),
            ("K = { from = \"db\" }", "hop3.toml:4:", "needs a `key`"),
            ("[env.computed]\nK = \"${not valid}\"", "hop3.toml:5:", "not a variable name"),
            ("[env.computed]\nK = \"$HOME\"", "hop3.toml:5:", "`$`"),
            ("K = 1.5", "hop3.toml:4:", "found float"),
        ]
        for (body, location, message) in bad {
            let error = #expect(throws: HopError.self) { try parseHop3Toml("[build]\nbuilder = \"python\"\n[env]\n" + body + "\n", file: "hop3.toml", appName: "blog") }
            #expect("\(error!)".contains(location) && error!.message.contains(message), "\(body): \(String(describing: error))")
        }
    }

    @Test func adminSectionAddsItsVariables() throws {
        let spec = try parseHop3Toml("[admin]\nusername = \"boss\"\nemail = \"boss@example.org\"\n[env]\nX = \"1\"\n[build]\nbuilder = \"python\"\n",
                                     file: "hop3.toml", appName: "blog")
        #expect(spec.env == [EnvVar("X", "1"), EnvVar("ADMIN_USERNAME", "boss"), EnvVar("ADMIN_EMAIL", "boss@example.org")])
        #expect(spec.secretEnv == [SecretEnv(name: "ADMIN_PASSWORD", kind: .generate(style: "password", length: 24))])
        for (body, location) in [("email = \"not-an-address\"", "hop3.toml:2:"), ("username = \"a b\"", "hop3.toml:2:"), ("password = \"x\"", "hop3.toml:2:")] {
            let error = #expect(throws: HopError.self) { try parseHop3Toml("[admin]\n\(body)\n[build]\nbuilder = \"python\"\n", file: "hop3.toml", appName: "blog") }
            #expect("\(error!)".contains(location), "\(body): \(String(describing: error))")
        }
    }

    @Test func portSubtablesAndWorkerSections() throws {
        let spec = try parseHop3Toml("""
        [build]
        builder = "node"
        [run]
        start = "node server.js"
        [run.workers]
        web = 3
        [port.web]
        container = 3000
        """, file: "hop3.toml", appName: "site")
        #expect(spec.ports == ["web": 3000])
        #expect(spec.run.workers == ["web": 3])
    }

    @Test func builderComesFromTheFileThenFromDetection() throws {
        let explicit = try parseHop3Toml("[build]\nbuilder = \"node\"\n", file: "hop3.toml", appName: "a", detectedBuilder: .python)
        #expect(explicit.build.builder == .node)
        let detected = try parseHop3Toml("[metadata]\ntitle = \"x\"\n", file: "hop3.toml", appName: "a", detectedBuilder: .python)
        #expect(detected.build.builder == .python)
        let error = try #require(throws: HopError.self) {
            try parseHop3Toml("[build]\ntoolchain = \"go1.22\"\n", file: "hop3.toml", appName: "a")
        }
        #expect(error.location == SourceLocation(file: "hop3.toml", line: 1, column: 2))
        #expect(error.hint?.contains("builder = ") == true)
    }

    @Test func invalidAppNameArgumentIsRejected() throws {
        let error = try #require(throws: HopError.self) {
            try parseHop3Toml("[build]\nbuilder = \"go\"\n", file: "hop3.toml", appName: "Bad Name")
        }
        #expect(error.code == .invalidInput)
        #expect(error.location == nil)
    }

    struct BadSpec: Sendable, CustomTestStringConvertible {
        var text: String
        var line: Int
        var column: Int
        var message: String
        var hint: String
        var testDescription: String { message }
    }

    static let badSpecs: [BadSpec] = [
        BadSpec(text: "[build]\nbuilder = \"go\"\n[run]\nstartt = \"x\"", line: 4, column: 1,
                message: "unknown key `startt` in [run]", hint: "did you mean `start`?"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[run]\nwhatever = 1", line: 4, column: 1,
                message: "unknown key `whatever` in [run]", hint: "remove it; the keys [run] accepts are `start`, `before-run`, `workers`"),
        BadSpec(text: "[deployment]\nx = 1", line: 1, column: 2, message: "unknown section `[deployment]`", hint: "remove it"),
        BadSpec(text: "[deploy]\nx = 1", line: 2, column: 1, message: "unknown key `x` in [deploy]", hint: "require-signed"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[build.extra]\nx = 1", line: 3, column: 8,
                message: "unknown key `extra` in [build]", hint: "the keys [build] accepts"),
        BadSpec(text: "appname = \"x\"", line: 1, column: 1, message: "unknown top-level key `appname`", hint: "put keys inside one of the sections"),
        BadSpec(text: "build = \"python\"", line: 1, column: 1, message: "`build` must be a section `[build]`, found string", hint: "write `[build]`"),
        BadSpec(text: "[[build]]\nbuilder = \"go\"", line: 1, column: 3, message: "array of tables", hint: "write the header as `[build]`"),
        BadSpec(text: "[build]\nbuilder = 3", line: 2, column: 11, message: "`[build] builder` must be a string, found integer", hint: "quotes"),
        BadSpec(text: "[build]\nbuilder = \"go\"\npackages = [\"a\", 1]", line: 3, column: 18,
                message: "each element of `[build] packages` must be a string, found integer", hint: "array of strings"),
        BadSpec(text: "[build]\nbuilder = \"go\"\nbuild = { a = 1 }", line: 3, column: 9,
                message: "must be a string or an array of strings, found table", hint: "write a string or an array of strings"),
        BadSpec(text: "[build]\nbuilder = \"go\"\npackages = [\"ok\", \"bad;rm\"]", line: 3, column: 19,
                message: "not a package name", hint: "busybox"),
        BadSpec(text: "[build]\nbuilder = \"go\"\ntoolchain = \"go 1.22\"", line: 3, column: 13, message: "not a toolchain name", hint: "python3.12"),
        BadSpec(text: "[metadata]\nid = \"my\\u002Fapp\"\n[build]\nbuilder = \"go\"", line: 2, column: 6,
                message: "a path separator `/` at position 3", hint: "use `-`"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[run]\nstart = \"  \"", line: 4, column: 9, message: "`[run] start` is empty", hint: "write the command"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[run]\nworkers = 2", line: 4, column: 11,
                message: "`[run] workers` must be a table", hint: "[run.workers]"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[run.workers]\nweb = 0", line: 4, column: 7,
                message: "must be between 1 and 16, found 0", hint: "whole number"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[env]\nRATIO = 0.5", line: 4, column: 9,
                message: "`[env] RATIO` must be a string (or an integer, a boolean, { generate = … } or { from = … }), found float", hint: "quotes"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[env]\n\"1ST\" = \"x\"", line: 4, column: 1,
                message: "not a valid environment variable name", hint: "`_1ST`"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[port]\nweb = \"8000\"", line: 4, column: 7,
                message: "`[port] web` must be a port number, found string", hint: "without quotes"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[port.web]\nhost = 1", line: 4, column: 1,
                message: "unknown key `host` in [port.web]", hint: "`container`"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[healthcheck]\nstatus = 42", line: 4, column: 10,
                message: "is not an HTTP status", hint: "status = 200"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[healthcheck]\ntimeout = -1", line: 4, column: 11,
                message: "positive number of seconds", hint: "timeout = 5"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[healthcheck]\nretries = \"3\"", line: 4, column: 11,
                message: "must be a positive integer, found string", hint: "without quotes"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[static]\nassets = \"public\"", line: 4, column: 1,
                message: "does not start with `/`", hint: "\"/assets\""),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[static]\n\"/a\" = \"/etc\"", line: 4, column: 8, message: "is absolute", hint: "relative"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[domains]\nnames = [\"a.example\", \"a.example\"]", line: 4, column: 23,
                message: "listed twice", hint: "remove the duplicate"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[domains]\nnames = \"a.example\"", line: 4, column: 9,
                message: "must be an array of strings, found string", hint: "array of strings"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[domains]\nnames = [\"App.example\"]", line: 4, column: 11,
                message: "uppercase letter `A`", hint: "`app.example`"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[backup]\npaths = [\"../x\"]", line: 4, column: 10, message: "contains `..`", hint: "relative"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[backup]\nkeep = \"yearly=2\"", line: 4, column: 8, message: "not a retention policy", hint: "last=3"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[backup]\nschedule = \"daily\\nrm\"", line: 4, column: 12, message: "not a calendar expression", hint: "OnCalendar"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[backup]\nbefore-deploy = \"yes\"", line: 4, column: 17, message: "must be true or false", hint: "before-deploy = true"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[limits]\ncpu = \"fast\"", line: 4, column: 7, message: "not a CPU quota", hint: "50%"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[limits]\ndisk = \"lots\"", line: 4, column: 8, message: "`[limits] disk` `lots` is not a size", hint: "512M"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[limits]\ndisk = \"8M\"", line: 4, column: 8, message: "is below 16M", hint: "at least 16M"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[limits]\ndisk = [1]", line: 4, column: 8, message: "`[limits] disk` must be a size string", hint: "512M"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[limits]\nprocesses = 0", line: 4, column: 13, message: "between 1 and", hint: "whole number"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[nix]\npackages = [\"pkgs; rm\"]", line: 4, column: 13,
                message: "not a Nix attribute name", hint: "ffmpeg"),
        BadSpec(text: "[build]\nbuilder = \"go\"\n[nix]\nfile = \"/etc/nix.nix\"", line: 4, column: 8, message: "is absolute", hint: "relative"),
    ]

    @Test(arguments: badSpecs)
    func invalidMetadataIsLocated(_ bad: BadSpec) throws {
        let error = try #require(throws: HopError.self) { try parseHop3Toml(bad.text, file: "hop3.toml", appName: "app") }
        #expect(error.code == .invalidInput)
        #expect(error.location == SourceLocation(file: "hop3.toml", line: bad.line, column: bad.column))
        #expect(error.message.contains(bad.message), "\(error.message)")
        #expect(error.hint?.contains(bad.hint) == true, "\(error.hint ?? "no hint")")
    }

    @Test func nearMissSuggestions() {
        #expect(closestName(to: "before_build", among: hop3SectionKeys["build"]!) == "before-build")
        #expect(closestName(to: "Builder", among: hop3SectionKeys["build"]!) == "builder")
        #expect(closestName(to: "biuld", among: hop3Sections) == "build")
        #expect(closestName(to: "healthchecks", among: hop3Sections) == "healthcheck")
        #expect(closestName(to: "zzz", among: hop3Sections) == nil)
        #expect(editDistance("kitten", "sitting") == 3)
    }
}
