import Foundation
import Testing
import HopBasics

/// `hop config`, `hop generations` and the confirmation of destructive commands, on one deployed
/// app with a generated secret, a Redis addon, a user-set value and a cron process.
@Suite("An operator's first day: config shows what the app gets, cron shows as a timer, destructive commands ask", .tags(.integration), .serialized)
struct OperatorDayIntegrationTests {
    @Test("config lists every variable with its source, secrets masked unless --reveal (audited), the values the process gets; generations and ps show the cron timer; destroy --purge, rollback --with-data and backup restore refuse without --yes (exit 2) and change nothing")
    func configGenerationsAndConfirmation() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-opday"
            let src = try stdlibVariant(dir, toml: """
                [env]
                SECRET_KEY = { generate = "hex", length = 40 }
                GREETING = "hello from hop3.toml"
                [[addons]]
                type = "redis"
                name = "it-opday-cache"
                """)
            try "web: python3 server.py\ncron: */5 * * * * echo tick\n".write(toFile: src + "/Procfile", atomically: true, encoding: .utf8)
            defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            try #require(d.status == 0, "\(d.stderr.suffix(800))")
            #expect(try hopEnv(["config", "set", app, "USER_VALUE=visible", "--watch", "0"]).status == 0)

            // What the process gets.
            func seen() throws -> [String: String] {
                let r = try hopEnv(["run", app, "--", "python3", "-c",
                                    "import json, os; print(json.dumps({k: os.environ.get(k, '') for k in ['SECRET_KEY', 'REDIS_URL', 'USER_VALUE', 'GREETING']}))"])
                return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: String] ?? [:]
            }
            let env = try seen()
            let secret = try #require(env["SECRET_KEY"].flatMap { $0.isEmpty ? nil : $0 }, "\(env)")
            let redisURL = try #require(env["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }, "\(env)")

            // Masked: every source named, no secret value printed.
            let masked = try hopEnv(["config", app])
            #expect(masked.status == 0, "\(masked.stderr)")
            for pattern in [#"(?m)^KEY +SOURCE +VALUE$"#, #"(?m)^SECRET_KEY +generated +\(hidden"#, #"(?m)^REDIS_URL +addon it-opday-cache +\(hidden"#,
                            #"(?m)^USER_VALUE +config +visible$"#, #"(?m)^GREETING +hop3\.toml +hello from hop3\.toml$"#,
                            #"(?m)^HOME +hop +/var/cache/hop-apps/it-opday$"#] {
                #expect(masked.stdout.range(of: pattern, options: .regularExpression) != nil, "\(pattern) not in:\n\(masked.stdout)")
            }
            #expect(!masked.stdout.contains(secret) && !masked.stdout.contains(redisURL), "a secret was printed without --reveal")
            // Revealed: exactly the values the process gets; the read is audited.
            let revealed = try hopEnv(["config", app, "--reveal", "--json"])
            let variables = (json(revealed.stdout)["variables"] as? [[String: Any]]) ?? []
            let byKey = Dictionary(uniqueKeysWithValues: variables.compactMap { v in (v["key"] as? String).map { ($0, v["value"] as? String ?? "") } })
            for (k, v) in env { #expect(byKey[k] == v, "\(k): config shows \(byKey[k] ?? "nothing"), the process gets \(v)") }
            let audit = try hopEnv(["audit", "list", "--app", app, "--json"]).stdout
            #expect(audit.contains("\"config reveal\""), "reading secrets is not audited")
            // The plain --json keeps its shape: the values set with `hop config set`.
            #expect(json(try hopEnv(["config", app, "--json"]).stdout) as NSDictionary == ["USER_VALUE": "visible"] as NSDictionary)

            // generations: a header, and the cron process as the timer it is.
            let gens = try hopEnv(["generations", app]).stdout
            #expect(gens.hasPrefix("   GEN") || gens.range(of: #"^ +GEN +BUILD +CREATED +STATUS +PROCESSES"#, options: .regularExpression) != nil, "\(gens)")
            #expect(gens.contains("cron=timer(*/5 * * * *)") && !gens.contains("cron=0"), "\(gens)")
            let ps = try hopEnv(["ps", app]).stdout
            #expect(ps.range(of: #"(?m)^UNIT +STATE +PID +RESTARTS$"#, options: .regularExpression) != nil
                    && ps.range(of: #"(?m)^hop-it-opday-G[0-9]+-cron\.timer +active/waiting "#, options: .regularExpression) != nil, "\(ps)")
            let gensJSON = try generations(app)
            #expect(gensJSON.first?["timers"] as? [String: String] == ["cron": "*/5 * * * *"], "\(gensJSON)")

            // Refusals: no terminal here, no --yes.
            let backup = try hopEnv(["backup", "create", app, "--json"])
            let backupID = try #require(json(backup.stdout)["id"] as? String, "\(backup.stderr)")
            let before = (gens: try generations(app).count, config: try hopEnv(["config", app, "--reveal", "--json"]).stdout)
            for args in [["destroy", app, "--purge"], ["rollback", app, "--with-data"], ["backup", "restore", backupID]] {
                let r = try hopEnv(args)
                #expect(r.status == 2 && r.stderr.contains("--yes") && r.stderr.contains("nothing was changed"), "\(args): \(r.status) \(r.stderr)")
            }
            let refusedJSON = try hopEnv(["destroy", app, "--purge", "--json"])
            #expect(refusedJSON.status == 2 && (json(refusedJSON.stdout)["error"] as? [String: Any])?["hint"] as? String != nil, "\(refusedJSON.stdout)")
            #expect(fetch(app).status == 200, "the app stopped serving")
            #expect(try generations(app).count == before.gens)
            #expect(try hopEnv(["config", app, "--reveal", "--json"]).stdout == before.config, "the config changed")
            #expect(try hopEnv(["addon", "info", "it-opday-cache"]).status == 0, "the addon went")
            #expect(try seen() == env)
            #expect(try hopEnv(["backup", "destroy", backupID]).status == 0)
            #expect(try hopEnv(["destroy", app, "--purge", "--yes"]).status == 0)
        }
    }
}
