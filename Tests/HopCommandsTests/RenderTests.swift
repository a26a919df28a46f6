import Foundation
import Testing
@testable import HopCommands
@testable import HopCore

@Suite struct RenderTests {
    @Test func configValuesWithControlCharactersAreShownEscaped() {
        #expect(shownValue("plain value") == "plain value")
        #expect(shownValue("a\nEVIL=1") == "\"a\\nEVIL=1\"")
        #expect(shownValue("tab\there \"q\" back\\slash") == "\"tab\\there \\\"q\\\" back\\\\slash\"")
        #expect(shownValue("bell\u{7}") == "\"bell\\x07\"")
        #expect(!shownValue("x\ny").contains("\n"))
    }

    @Test func durations() throws {
        #expect(try parseDuration("30d") == 30 * 86400)
        #expect(try parseDuration("12h") == 12 * 3600)
        #expect(try parseDuration("90") == 90)
        for bad in ["", "d", "-1h", "0", "1y"] { #expect(throws: (any Error).self) { try parseDuration(bad) } }
    }

    static let info = AppInfo(
        app: "blog", serving: true, state: "serving",
        urls: [URLCheck(url: "http://blog.localhost:8080/", answering: true, status: 200, milliseconds: 4)],
        generation: GenerationSummary(number: 3, build: 7, status: "active", createdAt: "2026-12-07T10:00:00.000Z", action: "deploy", by: "alice", via: "api"),
        previous: GenerationSummary(number: 2, build: 6, status: "retired", createdAt: "2026-12-06T10:00:00.000Z"),
        processes: [ProcessGroupInfo(name: "web", count: 2, instances: [
            InstanceInfo(unit: "hop-blog-G3-web@1.service", state: "active", sub: "running", pid: 42, restarts: 0,
                         cpuSeconds: 1.25, memoryBytes: 25 * 1_048_576, memoryLimitBytes: 1_073_741_824),
            InstanceInfo(unit: "hop-blog-G3-web@2.service", state: "failed", sub: "failed", pid: 0, restarts: 3),
        ])],
        addons: [AddonRef(type: "postgres", name: "blog-postgres")],
        volumes: [VolumeUse(name: "uploads", target: "data/uploads", bytes: 2048), VolumeUse(name: "cache", target: "tmp/c", bytes: nil)],
        domains: ["blog.localhost"],
        certificate: CertificateInfo(kind: "self-signed", issuer: "CN = blog.localhost", notAfter: "Dec  7 10:00:00 2027 GMT", domains: ["blog.localhost"]),
        lastDeploy: DeployEvent(at: "2026-12-07T10:00:01.000Z", by: "alice", via: "api", result: "ok"),
        lastBackup: nil, checkedAt: "2026-12-07T11:00:00.000Z")

    @Test func infoIsShortAlignedSections() {
        let lines = renderAppInfo(Self.info)
        #expect(lines == [
            "blog: serving",
            "  url          http://blog.localhost:8080/  answers (HTTP 200, 4 ms)",
            "  generation   3 (build 7), 2026-12-07T10:00:00.000Z, deploy by alice via api",
            "  previous     2 (build 6), 2026-12-06T10:00:00.000Z",
            "  last deploy  2026-12-07T10:00:01.000Z by alice via api: ok",
            "  last backup  none",
            "processes",
            "  web          1 of 2 running",
            "    hop-blog-G3-web@1.service  active/running  pid 42  cpu 1.25 s  memory 25.0 MiB of 1.0 GiB",
            "    hop-blog-G3-web@2.service  failed/failed  restarts 3",
            "addons",
            "  postgres     blog-postgres",
            "volumes",
            "  uploads      data/uploads  2.0 KiB",
            "  cache        tmp/c",
            "domains",
            "  blog.localhost",
            "certificate",
            "  self-signed, issuer CN = blog.localhost, until Dec  7 10:00:00 2027 GMT",
        ], "\(lines.joined(separator: "\n"))")
        var stopped = Self.info
        stopped.serving = false
        stopped.state = "stopped"
        stopped.urls = [URLCheck(url: "http://blog.localhost:8080/", answering: false, status: 502, problem: "nginx answered 502: the app is not listening")]
        let s = renderAppInfo(stopped)
        #expect(s[0] == "blog: stopped")
        #expect(s[1] == "  url          http://blog.localhost:8080/  does not answer: nginx answered 502: the app is not listening")
    }

    @Test func appsShowTheCheckedVerdictAndItsDetail() {
        func row(_ app: String, _ state: String, serving: Bool = false) -> AppSummary {
            AppSummary(app: app, generation: 3, serving: serving, build: 7, scale: ["web": 1], url: "http://\(app).localhost/", state: state,
                       deployedAt: nil, answering: nil)
        }
        let lines = renderApps([row("a", "serving", serving: true), row("b", "stopped; generation 4 failed: boom"),
                                row("c", "not answering: http://c.localhost/ nginx answered 502: the app is not listening")])
        #expect(lines == [
            "APP                     GENERATION  STATE          URL",
            "a                       3           serving        http://a.localhost/",
            "b                       3           stopped        http://b.localhost/",
            "  generation 4 failed: boom",
            "c                       3           not answering  http://c.localhost/",
            "  http://c.localhost/ nginx answered 502: the app is not listening",
        ], "\(lines.joined(separator: "\n"))")
    }
}
