import Foundation
import Hummingbird
import HTTPTypes
import HopBasics
import HopCore
import HopStore

/// The web dashboard: server-rendered pages over the same operations as the API, a little plain
/// JavaScript (live log tail, revealing config values) from /static, a strict Content-Security-
/// Policy, session cookies (HttpOnly, SameSite=Strict, Secure behind TLS) and a CSRF token on every form.
struct Dashboard: Sendable {
    let server: HopHTTPServer
    var home: HopHome { server.home }

    static let csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// Every page and form of the dashboard (the front passes these, and only these, to the helper).
    static let routes: [(method: String, path: String)] = [
        ("GET", "/"), ("GET", "/apps/{app}"), ("POST", "/apps/{app}/rollback"), ("GET", "/host"), ("GET", "/login"), ("POST", "/login"),
        ("POST", "/logout"), ("GET", "/static/hop.js"), ("GET", "/static/hop.css"),
    ]

    func register(on router: Router<BasicRequestContext>) {
        let d = self
        router.get("/") { req, _ in await d.page(req) { p in try d.appsPage(p) } }
        router.get("/apps/{app}") { req, ctx in
            let app = ctx.parameters.get("app") ?? ""
            let range = Self.range(req.uri.queryParameters.get("range"))
            return await d.page(req) { p in try d.appPage(p, app: app, range: range) }
        }
        router.get("/host") { req, _ in
            let range = Self.range(req.uri.queryParameters.get("range"))
            return await d.page(req) { p in try d.hostPage(p, range: range) }
        }
        router.post("/apps/{app}/rollback") { req, ctx in
            let app = ctx.parameters.get("app") ?? ""
            return await d.form(req) { p, form, worker in
                let to = form["to"].flatMap { Int($0) }
                _ = try Operations(d.server.context(p, via: "dashboard", frontWorker: worker)).rollback(app: app, to: to)
                return "/apps/\(app)"
            }
        }
        router.get("/login") { req, _ in d.loginPage(error: nil) }
        router.post("/login") { req, _ in await d.login(req) }
        router.post("/logout") { req, _ in
            await d.form(req) { _, _, _ in
                if let sid = cookie(req, "hop_session") { try Operations.logout(id: sid, home: d.home) }
                return "/login"
            }
        }
        router.get("/static/hop.js") { _, _ in d.asset(DashboardAssets.script, type: "text/javascript") }
        router.get("/static/hop.css") { _, _ in d.asset(DashboardAssets.style, type: "text/css") }
    }

    // MARK: Plumbing

    func headers(_ type: String = "text/html; charset=utf-8") -> HTTPFields {
        [.contentType: type, .contentSecurityPolicy: Self.csp, .cacheControl: "no-store",
         HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer"]
    }

    func asset(_ text: String, type: String) -> Response {
        var h = headers(type)
        h[.cacheControl] = "max-age=300"
        return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func html(_ body: String, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        var h = headers()
        h.append(contentsOf: extra)
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func redirect(_ to: String, extra: HTTPFields = [:]) -> Response {
        var h = headers()
        h[.location] = to
        h.append(contentsOf: extra)
        return Response(status: .seeOther, headers: h)
    }

    struct Viewer { var principal: Principal; var csrf: String }

    func viewer(_ req: Request) async -> Viewer? {
        guard let sid = cookie(req, "hop_session") else { return nil }
        let home = self.home, db = server.databases.get(home)
        guard let s = try? await blocking({ try Operations.session(id: sid, home: home, db: db) }) else { return nil }
        return Viewer(principal: s.principal, csrf: s.csrf)
    }

    func page(_ req: Request, _ render: @escaping @Sendable (Viewer) throws -> String) async -> Response {
        guard let v = await viewer(req) else { return redirect("/login") }
        do {
            return html(try await blocking { try render(v) })
        } catch let e as HopError {
            return html(layout("Error", v, "<p class=error>\(esc(e.message))</p><p><a href=\"/\">Apps</a></p>"), status: status(for: e.code))
        } catch {
            return html(layout("Error", v, "<p class=error>\(esc("\(error)"))</p>"), status: .internalServerError)
        }
    }

    /// A form post: a live session and its CSRF token, or 403 and nothing done.
    func form(_ req: Request, _ act: @escaping @Sendable (Principal, [String: String], String?) throws -> String) async -> Response {
        var req = req
        let worker = server.frontWorker(req)
        guard let v = await viewer(req) else { return redirect("/login") }
        let fields = await formFields(&req)
        guard let token = fields["csrf"], constantTimeEquals(token, v.csrf) else {
            return html(layout("Refused", v, "<p class=error>The form's CSRF token is missing or wrong: nothing was done.</p>"), status: .forbidden)
        }
        do {
            let to = try await blocking { try act(v.principal, fields, worker) }
            return redirect(to)
        } catch let e as HopError {
            return html(layout("Error", v, "<p class=error>\(esc(e.message))</p><p><a href=\"/\">Apps</a></p>"), status: status(for: e.code))
        } catch {
            return html(layout("Error", v, "<p class=error>\(esc("\(error)"))</p>"), status: .internalServerError)
        }
    }

    func formFields(_ req: inout Request) async -> [String: String] {
        guard let buffer = try? await req.collectBody(upTo: 64 * 1024) else { return [:] }
        return parseForm(String(buffer: buffer))
    }

    // MARK: Login

    func loginPage(error: String?, status: HTTPResponse.Status = .ok, user: String = "") -> Response {
        // After a wrong password the user name stays; the cursor goes to the password.
        let userValue = user.isEmpty ? " autofocus" : " value=\"\(esc(user))\""
        let body = """
            <form method=post action="/login" class=login>
            <h1>hop</h1>
            \(error.map { "<p class=error>\(esc($0))</p>" } ?? "")
            <label>User <input name=user autocomplete=username required\(userValue)></label>
            <label>Password <input name=password type=password autocomplete=current-password required\(user.isEmpty ? "" : " autofocus")></label>
            <button type=submit>Log in</button>
            </form>
            """
        return html(layout("Log in", nil, body), status: status)
    }

    /// Whether the session cookie is `Secure`: behind hop's nginx, when the browser came over
    /// HTTPS; otherwise as configured (`--insecure-cookies` turns it off for loopback testing).
    static func secureCookie(configured: Bool, behindFront: Bool, forwardedProto: String?) -> Bool {
        guard configured else { return false }
        guard behindFront, let proto = forwardedProto else { return true }
        return proto.lowercased() == "https"
    }

    func login(_ req: Request) async -> Response {
        var req = req
        let fields = await formFields(&req)
        let user = fields["user"] ?? "", password = fields["password"] ?? ""
        // The client: the address hop's nginx saw (trusted only on the socket behind it).
        let client = server.behindFront ? (req.headers[HTTPField.Name("X-Real-IP")!] ?? "front") : "direct"
        guard server.limiter.begin(user: user, client: client) else {
            return loginPage(error: "Too many failed attempts; wait a few minutes.", status: .tooManyRequests, user: user)
        }
        let home = self.home
        do {
            let s = try await blocking { try Operations.login(user: user, password: password, home: home) }
            server.limiter.finish(user: user, client: client, succeeded: true)
            // `Secure` follows the scheme the browser used (hop's nginx says which): on a plain-HTTP
            // server name a Secure cookie is never sent back, and login would silently loop.
            let secure = Self.secureCookie(configured: server.secureCookies, behindFront: server.behindFront,
                                           forwardedProto: req.headers[HTTPField.Name("X-Forwarded-Proto")!]) ? "; Secure" : ""
            return redirect("/", extra: [.setCookie: "hop_session=\(s.sessionID); Path=/; HttpOnly; SameSite=Strict; Max-Age=43200\(secure)"])
        } catch {
            server.limiter.finish(user: user, client: client, succeeded: false)
            return loginPage(error: "Wrong user name or password.", status: .unauthorized, user: user)
        }
    }

    // MARK: Pages

    func ops(_ v: Viewer) -> Operations { Operations(server.context(v.principal, via: "dashboard")) }

    func appsPage(_ v: Viewer) throws -> String {
        let apps = try ops(v).apps()
        var rows = ""
        for a in apps {
            let url = a.url.map { "<a href=\"\(esc($0))\">\(esc($0))</a>" } ?? ""
            rows += "<tr><td><a href=\"/apps/\(esc(a.app))\">\(esc(a.app))</a></td><td class=\(a.serving ? "ok" : "bad")>\(esc(a.state))</td>"
                + "<td>\(a.generation.map(String.init) ?? "–")</td><td>\(url)</td></tr>\n"
        }
        let table = apps.isEmpty ? "<p>No apps yet. Deploy one with <code>hop deploy PATH</code>.</p>"
            : "<table><thead><tr><th>App</th><th>State</th><th>Generation</th><th>URL</th></tr></thead><tbody>\n\(rows)</tbody></table>"
        return layout("Apps", v, "<h1>Apps</h1>\n" + table)
    }

    /// The graphs' windows: 1 hour, a day, a week.
    static let ranges = ["1h", "24h", "7d"]
    static func range(_ q: String?) -> String { q.flatMap { ranges.contains($0) ? $0 : nil } ?? "1h" }

    /// Links to the other windows, the current one marked.
    static func rangeLinks(_ base: String, _ current: String) -> String {
        "<p class=ranges>" + ranges.map { r in
            r == current ? "<strong aria-current=page>\(r)</strong>" : "<a href=\"\(esc(base))?range=\(r)\">\(r)</a>"
        }.joined(separator: " · ") + "</p>\n"
    }

    /// The measures section of an app page: graphs over `range`, at most 120 points each.
    func measures(_ o: Operations, app: String, range: String, generations: [GenerationInfo], history: [AuditInfo]) -> String {
        let m: AppMetricsResult
        do { m = try o.metrics(app: app, since: range, points: 120, collect: false) } catch {
            // Said, not hidden: an unreadable metrics.db is not "no measures".
            return "<h2>Measures</h2>\n<p class=error>The measures could not be read: \(esc((error as? HopError)?.message ?? "\(error)"))</p>\n"
        }
        let rollbacks = history.filter { $0.action == "rollback" && $0.result == "ok" }
        return "<h2>Measures</h2>\n" + Self.rangeLinks("/apps/\(app)", range) + "<div class=graphs>"
            + Graph.appGraphs(m, generations: generations, rollbacks: rollbacks) + "</div>\n"
    }

    func hostPage(_ v: Viewer, range: String) throws -> String {
        let h = try ops(v).hostMetrics(since: range, points: 120)
        var out = "<h1>Host</h1>\n" + Self.rangeLinks("/host", range) + "<div class=graphs>" + Graph.hostGraphs(h) + "</div>\n"
        out += "<h2>Apps' share</h2>\n<table id=shares><thead><tr><th>App</th><th>CPU (% of a core)</th><th>Memory</th><th>Requests</th></tr></thead><tbody>\n"
        for a in h.apps {
            out += "<tr><td><a href=\"/apps/\(esc(a.app))?range=\(range)\">\(esc(a.app))</a></td><td>\(String(format: "%.2f", a.cpuPercent))</td>"
                + "<td>\(Self.mib(a.memory))</td><td>\(a.requests)</td></tr>\n"
        }
        out += "</tbody></table>\n"
        return layout("Host", v, out)
    }

    func appPage(_ v: Viewer, app: String, range: String = "1h") throws -> String {
        let o = ops(v)
        let gens = try o.generations(app: app)
        let info = try o.info(app: app)
        let canDeploy = v.principal.may(.deploy, app: app)
        let history = (try? o.audit(app: app, limit: 200)) ?? []
        var out = "<h1>\(esc(app))</h1>\n" + Self.overview(info) + measures(o, app: app, range: range, generations: gens, history: history)
        out += "<h2>Generations</h2>\n<table><thead><tr><th></th><th>#</th><th>Build</th><th>Created</th><th>Status</th><th>Scale</th><th></th></tr></thead><tbody>\n"
        for g in gens.reversed() {
            let scale = g.scale.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            var action = ""
            if canDeploy && !g.current && g.status == "retired" {
                action = "<form method=post action=\"/apps/\(esc(app))/rollback\"><input type=hidden name=csrf value=\"\(v.csrf)\">"
                    + "<input type=hidden name=to value=\"\(g.generation)\"><button type=submit class=rollback data-generation=\"\(g.generation)\">Roll back to \(g.generation)</button></form>"
            }
            out += "<tr class=\(g.current ? "current" : "")><td>\(g.current ? "▶" : "")</td><td>\(g.generation)</td><td>\(g.build)</td>"
                + "<td>\(esc(g.createdAt))</td><td>\(esc(g.status))\(g.reason.map { " – " + esc($0) } ?? "")</td><td>\(esc(scale))</td><td>\(action)</td></tr>\n"
        }
        out += "</tbody></table>\n"
        let keys = try o.configKeys(app: app)
        out += "<h2>Config</h2>\n"
        if keys.isEmpty { out += "<p>No config values.</p>\n" } else {
            out += "<table id=config data-app=\"\(esc(app))\"><tbody>\n"
            for k in keys { out += "<tr><td>\(esc(k))</td><td class=masked data-key=\"\(esc(k))\">••••••</td></tr>\n" }
            out += "</tbody></table>\n"
            if canDeploy { out += "<button type=button id=reveal data-app=\"\(esc(app))\">Show values</button>\n" }
        }
        if canDeploy {
            out += "<h2>Logs</h2>\n<pre id=logs data-app=\"\(esc(app))\">loading…</pre>\n"
        }
        let builds = (try? o.builds(app: app).prefix(10)) ?? []
        if !builds.isEmpty {
            out += "<h2>Builds</h2>\n<table><thead><tr><th>Build</th><th>Finished</th><th>Closure</th><th>Documents</th></tr></thead><tbody>\n"
            for b in builds {
                let docs = "<a href=\"/api/builds/\(b.id)/sbom?format=cyclonedx\" download=\"\(esc(b.app))-\(b.id).cdx.json\">CycloneDX</a> · "
                    + "<a href=\"/api/builds/\(b.id)/sbom?format=spdx\" download=\"\(esc(b.app))-\(b.id).spdx.json\">SPDX</a> · "
                    + "<a href=\"/api/builds/\(b.id)/provenance\" download=\"\(esc(b.app))-\(b.id).intoto.json\">provenance</a>"
                out += "<tr><td>\(b.id)</td><td>\(esc(isoTime(b.finishedAt)))</td><td>\(b.pathCount) paths, \(b.closureSize / 1_048_576) MiB</td><td>\(docs)</td></tr>\n"
            }
            out += "</tbody></table>\n"
        }
        out += "<h2>History</h2>\n<table><thead><tr><th>When</th><th>Who</th><th>Via</th><th>What</th><th>Result</th></tr></thead><tbody>\n"
        for e in history.suffix(20).reversed() {
            out += "<tr><td>\(esc(e.at))</td><td>\(esc(e.actor))</td><td>\(esc(e.via))</td><td>\(esc(e.action))</td><td>\(esc(e.result))</td></tr>\n"
        }
        out += "</tbody></table>\n"
        return layout(app, v, out)
    }

    /// The facts `hop info` prints, as the app page's first sections: state and URLs (checked
    /// now), generations, last deploy and backup, processes with CPU and memory, addons, volumes,
    /// domains and certificate. Pure.
    static func overview(_ i: AppInfo) -> String {
        func row(_ label: String, _ value: String) -> String { "<tr><th>\(esc(label))</th><td>\(value)</td></tr>\n" }
        func generation(_ g: GenerationSummary) -> String {
            var s = "\(g.number) (build \(g.build)), \(g.createdAt)"
            if let a = g.action { s += ", \(a)" + (g.by.map { " by \($0)" } ?? "") + (g.via.map { " via \($0)" } ?? "") }
            return esc(s)
        }
        var out = "<p class=summary><span id=state class=\(i.serving ? "ok" : "bad")>\(esc(i.state))</span>"
        if let g = i.generation { out += " · generation <strong id=serving>\(g.number)</strong>" }
        out += " · checked \(esc(i.checkedAt))</p>\n<table class=facts><tbody>\n"
        for (n, u) in i.urls.enumerated() {
            let verdict: String
            switch u.answering {
            case true?: verdict = "<span class=ok>answers (HTTP \(u.status ?? 0))</span>"
            case false?: verdict = "<span class=bad>does not answer: \(esc(u.problem ?? "no answer"))</span>"
            case nil: verdict = esc(u.problem ?? "not checked")
            }
            out += row("URL", "<a href=\"\(esc(u.url))\" class=url\(n == 0 ? " id=url" : "")>\(esc(u.url))</a> " + verdict)
        }
        out += row("Generation", i.generation.map(generation) ?? "none serving")
        if let p = i.previous { out += row("Previous", generation(p)) }
        out += row("Last deploy", i.lastDeploy.map { esc("\($0.at) by \($0.by) via \($0.via): \($0.result)") } ?? "none recorded")
        out += row("Last backup", i.lastBackup.map { esc("\($0.at) \($0.reason): \($0.status)" + ($0.error.map { " (\($0))" } ?? "")) } ?? "none")
        out += row("Domains", esc(i.domains.joined(separator: " ")))
        if let c = i.certificate {
            out += row("Certificate", esc(c.kind + (c.issuer.map { ", issuer \($0)" } ?? "") + (c.notAfter.map { ", until \($0)" } ?? "")))
        }
        out += "</tbody></table>\n"
        if !i.processes.isEmpty {
            out += "<h2>Processes</h2>\n<table id=processes><thead><tr><th>Process</th><th>Unit</th><th>State</th><th>PID</th><th>CPU</th><th>Memory</th><th>Restarts</th></tr></thead><tbody>\n"
            for p in i.processes {
                if p.instances.isEmpty { out += "<tr><td>\(esc(p.name))</td><td colspan=6>\(p.count) instances</td></tr>\n" }
                for u in p.instances {
                    let cpu = u.cpuSeconds.map { String(format: "%.2f s", $0) } ?? "–"
                    let mem = u.memoryBytes.map { mib($0) + (u.memoryLimitBytes.map { " of " + mib($0) } ?? "") } ?? "–"
                    out += "<tr><td>\(esc(p.name))</td><td>\(esc(u.unit))</td><td>\(esc(u.state))/\(esc(u.sub))</td><td>\(u.pid)</td>"
                        + "<td>\(cpu)</td><td>\(mem)</td><td>\(u.restarts)</td></tr>\n"
                }
            }
            out += "</tbody></table>\n"
        }
        if !i.addons.isEmpty {
            out += "<h2>Addons</h2>\n<table><tbody>\n"
            for a in i.addons { out += "<tr><td>\(esc(a.type))</td><td>\(esc(a.name))</td></tr>\n" }
            out += "</tbody></table>\n"
        }
        if !i.volumes.isEmpty {
            out += "<h2>Volumes</h2>\n<table><tbody>\n"
            for v in i.volumes { out += "<tr><td>\(esc(v.name))</td><td>\(esc(v.target))</td><td>\(v.bytes.map(mib) ?? "–")</td></tr>\n" }
            out += "</tbody></table>\n"
        }
        return out
    }

    static func mib(_ n: Int64) -> String { String(format: "%.1f MiB", Double(n) / 1_048_576) }

    func layout(_ title: String, _ v: Viewer?, _ body: String) -> String {
        var nav = ""
        if let v {
            nav = "<nav><a href=\"/\">Apps</a>" + (v.principal.role == .admin ? "<a href=\"/host\">Host</a>" : "") + "<span class=who>\(esc(v.principal.name)) (\(v.principal.role.rawValue))</span>"
                + "<form method=post action=\"/logout\"><input type=hidden name=csrf value=\"\(v.csrf)\"><button type=submit>Log out</button></form></nav>"
        }
        return """
            <!doctype html>
            <html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
            <title>\(esc(title)) · hop</title><link rel=stylesheet href="/static/hop.css"><script src="/static/hop.js" defer></script></head>
            <body>\(nav)<main>
            \(body)
            </main></body></html>

            """
    }
}

func esc(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

func parseForm(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for pair in text.split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
        if let k = kv.first { out[k] = kv.count > 1 ? kv[1] : "" }
    }
    return out
}

func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
}

enum DashboardAssets {
    static let script = """
        "use strict";
        // hop dashboard: live log tail and config reveal, through the same API (session cookie).
        function csrf() { const i = document.querySelector("input[name=csrf]"); return i ? i.value : ""; }
        async function tail(pre) {
          const app = pre.dataset.app;
          try {
            const r = await fetch("/api/apps/" + encodeURIComponent(app) + "/logs?lines=200", {credentials: "same-origin"});
            if (r.ok) {
              const j = await r.json();
              const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
              pre.textContent = j.lines.join("\\n") || "(no log lines yet)";
              if (atEnd) pre.scrollTop = pre.scrollHeight;
            }
          } catch (e) { /* keep the last lines */ }
          setTimeout(() => tail(pre), 2000);
        }
        async function reveal(button) {
          const r = await fetch("/api/apps/" + encodeURIComponent(button.dataset.app) + "/config?reveal=true", {credentials: "same-origin"});
          if (!r.ok) return;
          const j = await r.json();
          for (const td of document.querySelectorAll("td[data-key]")) {
            td.textContent = j.values[td.dataset.key] ?? "";
            td.classList.remove("masked");
          }
          button.remove();
        }
        document.addEventListener("DOMContentLoaded", () => {
          const pre = document.getElementById("logs");
          if (pre) tail(pre);
          const b = document.getElementById("reveal");
          if (b) b.addEventListener("click", () => reveal(b));
        });
        """

    static let style = """
        :root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
        body { margin: 0; }
        nav { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #1b1f24; color: #fff; flex-wrap: wrap; }
        nav a { color: #fff; font-weight: 600; text-decoration: none; }
        nav .who { margin-left: auto; opacity: .8; }
        nav form { margin: 0; }
        main { padding: 1rem; max-width: 70rem; margin: 0 auto; }
        table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1rem; display: block; overflow-x: auto; }
        th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e3e6ea; white-space: nowrap; }
        table.facts { display: table; table-layout: fixed; }
        table.facts th { width: 7.5rem; vertical-align: top; }
        table.facts td { white-space: normal; overflow-wrap: anywhere; }
        tr.current { background: #eef8ee; }
        .ok { color: #1a7f37; } .bad, .error { color: #b42318; }
        pre#logs { background: #0d1117; color: #d1d7e0; padding: .8rem; max-height: 24rem; overflow: auto; font-size: .8rem; white-space: pre-wrap; }
        button { padding: .35rem .8rem; border-radius: 4px; border: 1px solid #8c959f; background: #fff; cursor: pointer; }
        form.login { max-width: 20rem; margin: 4rem auto; display: flex; flex-direction: column; gap: .8rem; background: #fff; padding: 1.5rem; border-radius: 8px; }
        form.login input { display: block; width: 100%; padding: .4rem; box-sizing: border-box; }
        td.masked { color: #8c959f; }
        .graphs { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: .8rem; margin-bottom: 1rem; }
        svg.graph { display: block; width: 100%; height: auto; border: 1px solid #e3e6ea; border-radius: 4px; }
        p.ranges a, p.ranges strong { padding: .1rem .3rem; }
        """
}
