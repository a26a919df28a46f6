import Foundation
import Testing
import HopBasics

@Suite("hop info and hop apps report what is true now (real systemd, nginx, Flask)", .tags(.integration), .serialized)
struct InfoIntegrationTests {
    @Test("hop info: the Flask app's process runs with memory, its URL answers through nginx; after hop stop neither info nor apps claims it answers")
    func infoFollowsTheRealState() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-info"
            let src = try flaskVariant(dir, greeting: "info here")
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0", "--json"])
            try #require(d.status == 0, "\(d.stderr)")
            defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }
            #expect(fetch(app).body == "info here\n")

            let r = try hopEnv(["info", app, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let info = json(r.stdout)
            #expect(info["serving"] as? Bool == true && info["state"] as? String == "serving", "\(r.stdout)")
            let url = try #require((info["urls"] as? [[String: Any]])?.first)
            // (https when an earlier test of the run turned TLS on: then checked through nginx's TLS port.)
            let u = url["url"] as? String ?? ""
            #expect(u == "http://\(app).localhost:\(deployHost.port)/" || (u.hasPrefix("https://\(app).localhost:") && u.hasSuffix("/")), "\(u)")
            #expect(url["answering"] as? Bool == true && url["status"] as? Int == 200, "\(url)")
            let processes = try #require(info["processes"] as? [[String: Any]])
            let web = try #require(processes.first { $0["name"] as? String == "web" || $0["name"] as? String == "wsgi" }, "\(processes)")
            let instance = try #require((web["instances"] as? [[String: Any]])?.first, "\(web)")
            #expect(instance["state"] as? String == "active" && (instance["pid"] as? Int ?? 0) > 0, "\(instance)")
            let memory = instance["memoryBytes"] as? Int ?? 0
            #expect(memory > 0, "\(instance)")
            // The limit is the unit's own (hop's default 1G when the app says nothing).
            #expect(instance["memoryLimitBytes"] as? Int == 1 << 30, "\(instance)")
            #expect(memory < 1 << 30)
            // CPU time: systemd's figure, or the unit's processes' own from /proc (cgroup v1 here).
            // Starting Python and serving a request takes some.
            #expect((instance["cpuSeconds"] as? Double ?? 0) > 0, "\(instance)")
            let generation = try #require(info["generation"] as? [String: Any])
            #expect(generation["number"] as? Int == json(d.stdout)["generation"] as? Int)
            #expect(generation["action"] as? String == "deploy" && generation["by"] as? String == "root" && generation["via"] as? String == "cli",
                    "\(generation)")
            #expect((info["lastDeploy"] as? [String: Any])?["result"] as? String == "ok")
            #expect(info["domains"] as? [String] == ["\(app).localhost"])

            let human = try hopEnv(["info", app])
            #expect(human.status == 0 && human.stdout.hasPrefix("\(app): serving\n"), "\(human.stdout)\(human.stderr)")
            #expect(human.stdout.contains("answers (HTTP 200") && human.stdout.contains("memory "), "\(human.stdout)")

            let t0 = Date()
            let apps = try hopEnv(["apps", "--json"])
            let appsSeconds = Date().timeIntervalSince(t0)
            let row = try #require((parse(apps.stdout) as? [[String: Any]])?.first { $0["app"] as? String == app }, "\(apps.stdout)")
            #expect(row["serving"] as? Bool == true && row["answering"] as? Bool == true && row["state"] as? String == "serving", "\(row)")
            print("hop apps --json with \((parse(apps.stdout) as? [Any])?.count ?? 0) app(s): \(String(format: "%.3f", appsSeconds)) s")

            // Stopped: the generation is still the serving one in the database, but nothing answers.
            #expect(try hopEnv(["stop", app]).status == 0)
            #expect(fetch(app).status == 503, "a stopped app answers its 503 page")
            let after = json(try hopEnv(["info", app, "--json"]).stdout)
            #expect(after["serving"] as? Bool == false, "\(after)")
            #expect((after["state"] as? String)?.hasPrefix("stopped") == true, "\(after)")
            let deadURL = try #require((after["urls"] as? [[String: Any]])?.first)
            #expect(deadURL["answering"] as? Bool == false && deadURL["status"] as? Int == 503, "\(deadURL)")
            #expect(((after["processes"] as? [[String: Any]])?.first?["instances"] as? [[String: Any]])?.first?["state"] as? String != "active")
            let stoppedHuman = try hopEnv(["info", app]).stdout
            #expect(stoppedHuman.hasPrefix("\(app): stopped") && stoppedHuman.contains("does not answer") && !stoppedHuman.contains("answers ("),
                    "\(stoppedHuman)")
            let stoppedRow = (parse(try hopEnv(["apps", "--json"]).stdout) as? [[String: Any]])?.first { $0["app"] as? String == app }
            #expect(stoppedRow?["serving"] as? Bool == false && stoppedRow?["answering"] as? Bool == false, "\(stoppedRow ?? [:])")
            let table = try hopEnv(["apps"]).stdout
            let line = table.split(separator: "\n").first { $0.hasPrefix(app + " ") } ?? ""
            #expect(line.contains(" stopped ") && !line.contains("serving"), "\(table)")

            // Started again: serving again.
            let started = try hopEnv(["start", app])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(json(try hopEnv(["info", app, "--json"]).stdout)["serving"] as? Bool == true)
        }
    }

    @Test("hop metrics: requests sent through nginx are counted by status class within ±2 %, with latency percentiles; a bad window is bad input (exit 2)")
    func metricsCountWhatNginxServed() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-metrics"
            let d = try hopEnv(["deploy", try flaskVariant(dir, greeting: "counted"), "--app", app, "--watch", "0"])
            try #require(d.status == 0, "\(d.stderr)")
            defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }
            func classes() throws -> [Int] {
                let r = try hopEnv(["metrics", app, "--since", "1h", "--json"])
                #expect(r.status == 0, "\(r.stderr)")
                return ((json(r.stdout)["total"] as? [String: Any])?["classes"] as? [Int]) ?? [0, 0, 0, 0, 0]
            }
            let before = try classes()
            // 300 requests over keep-alive, one in five to a path the app does not have.
            var args = ["-s", "-H", "Host: \(app).localhost", "-w", "%{http_code}\n"]
            for i in 0..<300 { args += ["-o", "/dev/null", "http://127.0.0.1:\(deployHost.port)" + (i % 5 == 4 ? "/missing-\(i)" : "/")] }
            let codes = try SystemRunner().run(Command("curl", args)).stdoutText.split(separator: "\n").compactMap { Int($0) }
            #expect(codes.count == 300)
            var sent = [0, 0, 0, 0, 0]
            for c in codes where (100...599).contains(c) { sent[c / 100 - 1] += 1 }
            #expect(sent[3] == 60 || sent[2] == 300, "\(sent)")
            // The host's timer collects every 10 s with no one asking: metrics.db gets the rows.
            let stored = { () -> Int in
                let q = "SELECT COALESCE(SUM(c1 + c2 + c3 + c4 + c5), 0) FROM request_buckets WHERE app = '\(app)'"
                return Int((try? SystemRunner().run(Command("sqlite3", [sharedHome.root + "/metrics.db", q])).stdoutText
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? "") ?? 0
            }
            let timerDeadline = Date().addingTimeInterval(25)
            while stored() < 300 && Date() < timerDeadline { Thread.sleep(forTimeInterval: 1) }
            #expect(stored() >= 300, "the measures timer did not collect: \(stored()) rows' worth")
            // nginx writes its log at most a second late.
            var counted = [0, 0, 0, 0, 0]
            let deadline = Date().addingTimeInterval(15)
            repeat {
                Thread.sleep(forTimeInterval: 1)
                counted = zip(try classes(), before).map { $0 - $1 }
            } while counted.reduce(0, +) < 300 && Date() < deadline
            for i in 0..<5 {
                #expect(abs(counted[i] - sent[i]) <= max(1, sent[i] / 50), "\(i + 1)xx: sent \(sent[i]), counted \(counted[i])")
            }
            let m = json(try hopEnv(["metrics", app, "--json"]).stdout)
            let total = try #require(m["total"] as? [String: Any])
            #expect((total["p50"] as? Double ?? -1) >= 0 && (total["p99"] as? Double ?? -1) >= (total["p50"] as? Double ?? 0), "\(total)")
            #expect(((m["points"] as? [[String: Any]]) ?? []).contains { ($0["requests"] as? Int ?? 0) > 0 })
            // Its process, as systemd and the kernel account it: one instance, its memory under hop's
            // default 1 GiB limit, a few tasks.
            let procs = try #require(m["processes"] as? [[String: Any]], "\(m)")
            let wsgi = try #require(procs.first { $0["process"] as? String == "wsgi" }, "\(procs)")
            let latest = wsgi["latest"] as? [String: Any] ?? [:]
            #expect(latest["instances"] as? Int == 1, "\(wsgi)")
            #expect((latest["memory"] as? Int ?? 0) > 5_000_000 && latest["memoryLimit"] as? Int == 1 << 30, "\(latest)")
            #expect((latest["tasks"] as? Int ?? 0) >= 1, "\(latest)")
            let text = try hopEnv(["metrics", app])
            #expect(text.status == 0 && text.stdout.contains("requests (2xx") && text.stdout.contains("latency p50"), "\(text.stdout)")
            #expect(text.stdout.contains("wsgi: 1 running, CPU ") && text.stdout.contains(" of 1.0 GiB"), "\(text.stdout)")
            let bad = try hopEnv(["metrics", app, "--since", "forever"])
            #expect(bad.status == 2 && bad.stderr.contains("not a window"), "\(bad.stderr)")
        }
    }

    @Test("hop metrics counts a worker the kernel killed for memory, a crash systemd restarted, and CPU time spent (real cgroups, no agent)")
    func processMeasuresCountKillsAndRestarts() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-resources"
            let src = try flaskVariant(dir, greeting: "measured", extraPython: """

                @app.route('/hog')
                def hog():
                    b = bytearray(400 * 1024 * 1024)
                    return str(len(b))

                @app.route('/spin')
                def spin():
                    n = 0
                    for i in range(4000000):
                        n += i
                    return str(n)
                """, toml: "[limits]\nmemory = \"128M\"\n")
            let d = try hopEnv(["deploy", src, "--app", app, "--watch", "0"])
            try #require(d.status == 0, "\(d.stderr)")
            defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }
            func series() throws -> [String: Any] {
                let r = try hopEnv(["metrics", app, "--since", "10m", "--json"])
                #expect(r.status == 0, "\(r.stderr)")
                return ((json(r.stdout)["processes"] as? [[String: Any]]) ?? []).first { $0["process"] as? String == "wsgi" } ?? [:]
            }
            // A first reading, so what follows is counted from it.
            #expect((try series()["oomKills"] as? Int) == 0)
            for _ in 0..<3 { #expect(fetch(app, "/spin").status == 200) }
            // 400 MB in a unit limited to 128 MB: the kernel kills the worker, gunicorn starts another.
            #expect(fetch(app, "/hog").status == 502)
            var s = try series()
            let deadline = Date().addingTimeInterval(20)
            while (s["oomKills"] as? Int ?? 0) < 1 && Date() < deadline { Thread.sleep(forTimeInterval: 1); s = try series() }
            #expect(s["oomKills"] as? Int == 1, "\(s)")
            #expect((s["cpuPercent"] as? Double ?? 0) > 0, "CPU time spent in /spin is measured: \(s)")
            #expect(((s["points"] as? [[String: Any]]) ?? []).contains { ($0["cpuPercent"] as? Double ?? 0) > 1 }, "\(s)")
            #expect((s["latest"] as? [String: Any])?["memoryLimit"] as? Int == 128 << 20, "\(s)")
            #expect(s["restarts"] as? Int == 0, "a worker killed is not a restart of the unit: \(s)")
            // The main process killed: systemd starts the unit again; hop counts the restart.
            let unit = "hop-\(app)-G1-wsgi@1.service"
            #expect(try hostSystemctl(["kill", "--kill-who=main", "--signal=SIGKILL", unit]).succeeded)
            let back = Date().addingTimeInterval(20)
            while fetch(app).status != 200 && Date() < back { Thread.sleep(forTimeInterval: 0.2) }
            #expect(fetch(app).body == "measured\n")
            s = try series()
            #expect(s["restarts"] as? Int == 1, "\(s)")
            let text = try hopEnv(["metrics", app, "--since", "10m"]).stdout
            #expect(text.contains("1 restart, 1 OOM kill") && text.contains("of 128.0 MiB"), "\(text)")
        }
    }

    @Test("Debian's Prometheus scrapes hop's /metrics with a token: the app's request counter and histogram, its processes and the host's measures as hop serves them; a viewer's scrape shows only their apps, none is served without a token")
    func prometheusScrapesMetrics() throws {
        try #require(deployHost.ready)
        try withTemporaryDirectory { dir in
            let app = "it-scraped"
            let d = try hopEnv(["deploy", try flaskVariant(dir, greeting: "scraped"), "--app", app, "--watch", "0"])
            try #require(d.status == 0, "\(d.stderr)")
            defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }
            for i in 0..<25 { #expect(fetch(app, i % 5 == 0 ? "/nowhere" : "/").status > 0) }
            let admin = try newToken("it-prom-admin", role: "admin")
            let viewer = try newToken("it-prom-viewer", role: "viewer", apps: [app])
            let server = try LiveServer()
            defer { server.stop() }
            #expect(try server.call("GET", "/metrics").status == 401)
            // nginx writes its log within a second; the timer collects every 10 s.
            var exposition = ""
            let deadline = Date().addingTimeInterval(20)
            repeat {
                Thread.sleep(forTimeInterval: 1)
                exposition = try server.call("GET", "/metrics", token: admin).body
            } while !exposition.contains("hop_http_requests_total{app=\"\(app)\",class=\"4xx\"} 5\n") && Date() < deadline
            #expect(exposition.contains("hop_http_requests_total{app=\"\(app)\",class=\"2xx\"} 20\n"), "\(exposition)")
            #expect(exposition.contains("hop_http_requests_total{app=\"\(app)\",class=\"4xx\"} 5\n"), "\(exposition)")
            #expect(exposition.contains("hop_http_request_duration_seconds_count{app=\"\(app)\"} 25\n"), "\(exposition)")
            #expect(exposition.contains("hop_host_memory_bytes{kind=\"total\"}"), "\(exposition)")
            let mine = try server.call("GET", "/metrics", token: viewer).body
            #expect(mine.contains("app=\"\(app)\"") && !mine.contains("hop_host_") && !mine.contains("app=\"it-metrics\""), "\(mine)")

            // Prometheus, scraping every second with the admin's token from a file.
            let promPort = (19_950..<19_999).first(where: portFree) ?? 19_950
            try admin.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
            try """
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: hop
                    metrics_path: /metrics
                    authorization:
                      type: Bearer
                      credentials_file: \(dir)/token
                    static_configs:
                      - targets: ["127.0.0.1:\(server.port)"]
                  - job_name: hop-anonymous
                    metrics_path: /metrics
                    static_configs:
                      - targets: ["127.0.0.1:\(server.port)"]
                """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
            let start = try SystemRunner().run(Command("sh", ["-c", "setsid /usr/bin/prometheus --config.file=\(dir)/prometheus.yml "
                + "--storage.tsdb.path=\(dir)/tsdb --web.listen-address=127.0.0.1:\(promPort) >\(dir)/prometheus.log 2>&1 </dev/null & echo $!"]))
            let promPID = Int32(start.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            defer { if promPID > 0 { kill(promPID, SIGTERM); var st: Int32 = 0; for _ in 0..<50 where waitpid(promPID, &st, WNOHANG) == 0 { usleep(100_000) } } }
            func query(_ q: String) -> [[String: Any]] {
                let url = "http://127.0.0.1:\(promPort)/api/v1/query?query=" + (q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q)
                let out = (try? SystemRunner().run(Command("curl", ["-s", "--max-time", "5", url])).stdoutText) ?? ""
                return ((json(out)["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
            }
            func value(_ r: [String: Any]) -> Double? { ((r["value"] as? [Any])?.last as? String).flatMap(Double.init) }
            var twoxx: [[String: Any]] = []
            let scraped = Date().addingTimeInterval(30)
            repeat {
                Thread.sleep(forTimeInterval: 1)
                twoxx = query("hop_http_requests_total{app=\"\(app)\",class=\"2xx\"}")
            } while twoxx.isEmpty && Date() < scraped
            #expect(twoxx.first.flatMap(value) == 20, "\(twoxx) — \((try? String(contentsOfFile: dir + "/prometheus.log", encoding: .utf8)) ?? "")")
            #expect(query("hop_http_request_duration_seconds_count{app=\"\(app)\"}").first.flatMap(value) == 25)
            #expect(query("hop_process_up{app=\"\(app)\",process=\"wsgi\"}").first.flatMap(value) == 1)
            #expect((query("hop_process_memory_bytes{app=\"\(app)\"}").first.flatMap(value) ?? 0) > 5_000_000)
            #expect((query("hop_host_memory_bytes{kind=\"total\"}").first.flatMap(value) ?? 0) > 0)
            // The token-less job is down: hop answered it 401.
            let up = query("up")
            #expect(up.first { ($0["metric"] as? [String: Any])?["job"] as? String == "hop" }.flatMap(value) == 1, "\(up)")
            #expect(up.first { ($0["metric"] as? [String: Any])?["job"] as? String == "hop-anonymous" }.flatMap(value) == 0, "\(up)")
        }
    }

    @Test("the dashboard draws an app's requests by class, latency, CPU and memory against its limit with deploy and restart markers, and the host page, in headless Chromium at 1280 and 420 px (screenshots kept)")
    func dashboardGraphsInChromium() throws {
        try #require(deployHost.ready)
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "chromium is installed by scripts/setup.sh")
        try withTemporaryDirectory { dir in
            let app = "it-graphs"
            for greeting in ["one", "two"] {
                let d = try hopEnv(["deploy", try flaskVariant(dir, greeting: greeting), "--app", app, "--watch", "0"])
                try #require(d.status == 0, "\(d.stderr)")
            }
            defer { _ = try? hopEnv(["destroy", app, "--purge", "--yes"]) }
            for i in 0..<60 { _ = fetch(app, i % 6 == 0 ? "/missing" : "/") }
            #expect(try hostSystemctl(["kill", "--kill-who=main", "--signal=SIGKILL", "hop-\(app)-G2-wsgi@1.service"]).succeeded)
            let back = Date().addingTimeInterval(20)
            while fetch(app).status != 200 && Date() < back { Thread.sleep(forTimeInterval: 0.2) }
            // Collected by the timer (or this call) with the restart.
            let seenRestart = Date().addingTimeInterval(25)
            var restarts = 0
            repeat {
                Thread.sleep(forTimeInterval: 1)
                let m = json(try hopEnv(["metrics", app, "--json"]).stdout)
                restarts = ((m["processes"] as? [[String: Any]])?.first?["restarts"] as? Int) ?? 0
            } while restarts < 1 && Date() < seenRestart
            #expect(restarts == 1)
            _ = try? hopEnv(["user", "remove", "graphs-admin"])
            let add = try SystemRunner().run(Command(hopBinary, ["user", "add", "graphs-admin", "--role", "admin", "--password-stdin"],
                                                     environment: ["HOP_HOME": sharedHome.root], stdin: Data("a long graphs password\n".utf8)))
            #expect(add.succeeded, "\(add.stderrText)")
            let server = try LiveServer()
            defer { server.stop() }
            let artifacts = repoRoot + "/.build/test-artifacts"
            try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
            let r = try SystemRunner().run(Command(repoRoot + "/.venv-test/bin/python", [repoRoot + "/scripts/test/dashboard_graphs.py",
                "http://127.0.0.1:\(server.port)", "graphs-admin", "a long graphs password", app, artifacts]))
            #expect(r.succeeded, "\(r.stderrText.suffix(3000))")
            let seen = try #require(parse(r.stdoutText.split(separator: "\n").last.map(String.init) ?? "") as? [String: Any], "\(r.stdoutText)")
            #expect((seen["errors"] as? [String] ?? ["?"]).isEmpty, "\(seen)")
            for width in [1280, 420] {
                let graphs = seen["appGraphs\(width)"] as? [[String: Any]] ?? []
                #expect(graphs.map { $0["id"] as? String ?? "" } == ["graph-requests", "graph-latency", "graph-cpu", "graph-memory"], "\(graphs)")
                let requests = graphs.first { $0["id"] as? String == "graph-requests" } ?? [:]
                #expect((requests["bars"] as? Int ?? 0) >= 2 && (requests["desc"] as? String ?? "").contains("4xx: 10"), "\(requests)")
                let markers = Set(graphs.flatMap { $0["markers"] as? [String] ?? [] })
                #expect(markers.isSuperset(of: ["deploy 1", "deploy 2", "wsgi: restart"]), "\(markers)")
                let memory = graphs.first { $0["id"] as? String == "graph-memory" } ?? [:]
                #expect((memory["paths"] as? Int ?? 0) == 2 && (memory["desc"] as? String ?? "").contains("wsgi limit: last 1.0 GiB"), "\(memory)")
                #expect((graphs.first { $0["id"] as? String == "graph-cpu" }?["paths"] as? Int ?? 0) == 1)
                #expect((seen["appScrollWidth\(width)"] as? Int ?? 9999) <= (seen["appInnerWidth\(width)"] as? Int ?? 0), "no sideways scroll at \(width) px: \(seen)")
                #expect(FileManager.default.fileExists(atPath: artifacts + "/dashboard-graphs-\(width).png"))
            }
            #expect(seen["range24hCurrent"] as? String == "24h" && seen["range24hGraphs"] as? Int == 4)
            let host = seen["hostGraphs"] as? [[String: Any]] ?? []
            #expect(host.count == 4 && host.allSatisfy { ($0["paths"] as? Int ?? 0) >= 1 }, "\(host)")
            #expect((seen["hostShares"] as? String ?? "").contains(app), "\(seen["hostShares"] ?? "")")
            #expect((seen["hostScrollWidth420"] as? Int ?? 9999) <= (seen["hostInnerWidth420"] as? Int ?? 0))
            print("dashboard app page with graphs loaded in \(seen["appLoadSeconds1280"] ?? "?") s (browser, 1280 px); screenshots in \(artifacts)")
        }
    }

    @Test("hop info: a bad name is bad input (exit 2), an unknown app is not found, and neither leaves a trace")
    func infoRefusals() throws {
        let bad = try hop(["info", "Not_An_App"])
        #expect(bad.status == 2, "\(bad.stderr)")
        #expect(bad.stderr.contains("Not_An_App"), "\(bad.stderr)")
        let missing = try hop(["info", "it-never-deployed", "--json"])
        #expect(missing.status == 4, "\(missing.stdout)\(missing.stderr)")
        #expect((json(missing.stdout)["error"] as? [String: Any])?["code"] as? String == "notFound", "\(missing.stdout)")
    }
}
