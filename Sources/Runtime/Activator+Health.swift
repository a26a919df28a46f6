import Foundation
import AppSpec
import HopBasics
import HopStore

// The health gate and what a unit's state says about it.

extension Activator {
    // MARK: Health

    /// The expected answer: `[healthcheck]` when given (status 200–399 and its `contains`), else any
    /// answer below 500 on `/`.
    func healthProblem(_ r: ProbeResponse, _ hc: HealthCheck?) -> String? {
        if let hc {
            if let expected = hc.status {
                guard r.status == expected else { return "answered HTTP \(r.status) on \(hc.path) (expected \(expected))" }
            } else {
                guard (200..<400).contains(r.status) else { return "answered HTTP \(r.status) on \(hc.path) (expected 200–399)" }
            }
            if let c = hc.contains, !r.body.contains(c) {
                return "answered HTTP \(r.status) on \(hc.path) without the expected text `\(c)`"
            }
            return nil
        }
        return r.status < 500 ? nil : "answered HTTP \(r.status) on / (expected below 500)"
    }

    func probeTargets(_ m: GenerationManifest) -> [ProbeTarget] {
        if let socket = m.socket {
            let dir = (socket as NSString).deletingLastPathComponent
            return [.unix(directory: host.path(dir), name: (socket as NSString).lastPathComponent)]
        }
        if let proxies = m.proxySockets, !proxies.isEmpty {
            return proxies.map { .unix(directory: host.path(($0 as NSString).deletingLastPathComponent), name: ($0 as NSString).lastPathComponent) }
        }
        return m.ports.map { .tcp(port: $0) }
    }

    /// One health request: HTTP, or FastCGI for a PHP app (PHP-FPM speaks nothing else).
    func probe(_ t: ProbeTarget, _ m: GenerationManifest, path: String, host: String, timeout: Double) throws -> ProbeResponse {
        try prober.get(t, fastCGIRoot: m.fastCGIRoot, path: path, host: host, timeout: timeout)
    }

    /// Why the generation's instances are unhealthy right now (restarted, failed, inactive), or nil.
    public func unitProblem(_ g: GenerationRecord, _ m: GenerationManifest) throws -> String? {
        let names = m.units
        let props = try services.show(names.instances, properties: ["Id", "ActiveState", "SubState", "NRestarts", "Result", "ExecMainStatus"])
        for p in props {
            let id = p["Id"] ?? "?"
            if let n = Int(p["NRestarts"] ?? "0"), n > 0 {
                let status = p["ExecMainStatus"].flatMap { $0 == "0" ? nil : " (status \($0))" } ?? ""
                return "\(id) exited\(status) and was restarted \(n) time\(n == 1 ? "" : "s")"
            }
            let state = p["ActiveState"] ?? ""
            if state == "failed" || state == "inactive" || (state == "activating" && p["SubState"] == "auto-restart") {
                return "\(id) is \(state) (\(p["Result"] ?? "?"), exit status \(p["ExecMainStatus"] ?? "?"))"
            }
        }
        return nil
    }

    /// How a serving generation is doing now, for alerts: stopped by an operator (every instance
    /// inactive, none failed), or each instance active and each probe target answering its health
    /// check as the gate wants it (straight to the app, not through nginx, so probes are not
    /// counted as the app's requests). nil when healthy; the problem otherwise.
    public func liveProblem(_ g: GenerationRecord, _ m: GenerationManifest, timeout: Double) -> (stopped: Bool, problem: String?) {
        let props = (try? services.show(m.units.instances, properties: ["Id", "ActiveState", "SubState", "Result"])) ?? []
        if !props.isEmpty, !props.contains(where: { $0["ActiveState"] == "active" || $0["ActiveState"] == "failed" || $0["ActiveState"] == "activating" }) {
            return (true, nil)
        }
        if let down = props.first(where: { $0["ActiveState"] != "active" }) {
            return (false, "\(down["Id"] ?? "?") is \(down["ActiveState"] ?? "?")/\(down["SubState"] ?? "?")")
        }
        let hc = m.healthcheck
        let path = hc?.path ?? "/"
        for t in probeTargets(m) {
            do {
                if let problem = healthProblem(try probe(t, m, path: path, host: "\(g.app).localhost", timeout: timeout), hc) { return (false, problem) }
            } catch let e as HopError {
                return (false, "no answer on \(path): \(e.message)")
            } catch {
                return (false, "no answer on \(path): \(error)")
            }
        }
        return (false, nil)
    }

    /// Waits until every instance answers its health check, or throws `.rolledBack` with the reason.
    public func healthGate(_ g: GenerationRecord, _ m: GenerationManifest, previous: Bool = true) throws {
        do { try gate(g, m, previous: previous) } catch var e as HopError {
            // The app's own words (a traceback, "address already in use") are in its journal.
            if e.detail == nil || e.detail?.isEmpty == true { e.detail = journalTail(g) }
            throw e
        }
    }

    /// The last lines this generation's units wrote (what the app said as it failed), or nil.
    func journalTail(_ g: GenerationRecord) -> String? {
        guard let r = try? services.journal(UnitNames.prefix(app: g.app, generation: g.number) + "*", lines: 300),
              r.succeeded else { return nil }
        let text = JournalDigest.summary(r.stdoutText.split(separator: "\n").map(String.init).filter { $0 != "-- No entries --" })
        return text.isEmpty ? nil : text
    }

    func gate(_ g: GenerationRecord, _ m: GenerationManifest, previous: Bool) throws {
        let stillServes = previous ? "; the previous generation still serves" : ""
        let hc = m.healthcheck
        let targets = probeTargets(m)
        let interval = max(0.05, hc?.interval ?? 1)
        let timeout = max(0.5, hc?.timeout ?? 5)
        let retries = max(1, hc?.retries ?? 10)
        let path = hc?.path ?? "/"
        let hostName = "\(g.app).localhost"
        // One window: the app has `start-timeout` (default 60 s) to start listening, and once it
        // answers, `retries` answers `interval` apart, each within `timeout`, to answer right.
        let startWindow = max(0.5, hc?.startTimeout ?? HealthCheck.defaultStartTimeout)
        let deadline = clock.now.addingTimeInterval(max(startWindow, Double(retries) * interval + timeout))
        var everAnswered = false
        var badAnswers = 0
        var last = "no answer yet"
        // A short settle for processes that serve nothing (workers): they must stay up briefly.
        if targets.isEmpty { clock.sleep(seconds: 0.3) }
        while true {
            if let problem = try unitProblem(g, m) {
                throw HopError(.rolledBack, "generation \(g.number) of \(g.app) failed its health gate: \(problem)",
                               hint: "the app's last lines are below; more with `hop logs \(g.app)`" + stillServes)
            }
            var pending: String?
            for t in targets {
                do {
                    let r = try probe(t, m, path: path, host: hostName, timeout: min(timeout, max(0.2, deadline.timeIntervalSince(clock.now))))
                    everAnswered = true
                    if let problem = healthProblem(r, hc) { pending = problem; badAnswers += 1; break }
                } catch let e as HopError {
                    pending = e.message
                    break
                }
            }
            guard let problem = pending else { return }
            last = problem
            if badAnswers >= retries || clock.now > deadline {
                if !everAnswered {
                    throw HopError(.rolledBack, "generation \(g.number) of \(g.app) failed its health gate: the app never listened within \(formatSeconds(startWindow)) (\(last))",
                                   hint: "make the app listen on $PORT; if it needs longer to start, raise `[healthcheck] start-timeout` (or Hop3's `[run] start-timeout`)" + stillServes)
                }
                throw HopError(.rolledBack, "generation \(g.number) of \(g.app) failed its health gate: \(last)",
                               hint: "fix the app or its [healthcheck]" + stillServes)
            }
            // Not listening yet: poll quickly; a wrong answer: wait the configured interval.
            clock.sleep(seconds: problem.contains("answered") ? interval : 0.025)
        }
    }
}
