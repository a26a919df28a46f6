import Foundation
import HopBasics

/// One store path of a build graph: a derivation output or a source added to the store, with
/// the store paths it was built from.
public struct BuildtimePath: Sendable, Hashable {
    /// The store path.
    public var path: String
    /// The derivation producing it; nil for sources (a derivation's `inputSrcs`).
    public var drvPath: String?
    /// What its derivation was built from: the outputs it uses of its input derivations and its
    /// input sources, sorted. Empty for sources.
    public var inputs: [String]

    public init(path: String, drvPath: String?, inputs: [String]) {
        self.path = path
        self.drvPath = drvPath
        self.inputs = inputs
    }
}

/// One derivation as `nix show-derivation` (Nix 2.8) prints it: only what SBOMs use.
public struct ShownDerivation: Sendable, Hashable {
    /// `/nix/store/…-name.drv`.
    public var drvPath: String
    /// Output name → store path.
    public var outputs: [String: String]
    /// Input derivation → the names of the outputs used.
    public var inputDrvs: [String: [String]]
    /// Store paths used as sources (not built by a derivation), sorted.
    public var inputSrcs: [String]
    /// `name`, `pname`, `version` from the derivation's environment.
    public var name: String?
    public var pname: String?
    public var version: String?

    public init(drvPath: String, outputs: [String: String], inputDrvs: [String: [String]], inputSrcs: [String],
                name: String?, pname: String?, version: String?) {
        self.drvPath = drvPath
        self.outputs = outputs
        self.inputDrvs = inputDrvs
        self.inputSrcs = inputSrcs
        self.name = name
        self.pname = pname
        self.version = version
    }
}

/// The build graph of a derivation, for build-time SBOMs and for naming store paths.
public enum Buildtime {
    /// Every derivation output and source of `drv`'s build graph, each with its inputs, sorted
    /// by path. Runs `nix show-derivation -r`, so `drv` must still be in the store.
    public static func load(drv: String, runner: any ProcessRunner) throws -> [BuildtimePath] {
        paths(from: try derivations(drv: drv, runner: runner))
    }

    /// `nix show-derivation -r DRV`: `drv` and every derivation it depends on, by path.
    public static func derivations(drv: String, runner: any ProcessRunner) throws -> [String: ShownDerivation] {
        let r = try runner.run(Command("nix", ["--extra-experimental-features", "nix-command", "show-derivation", "-r", drv]))
        guard r.succeeded else {
            throw HopError(.notFound, "cannot read the derivation \(drv) (nix show-derivation exited \(r.status))",
                           hint: "the derivation may have been garbage-collected; rebuild the app to list build-time components",
                           detail: r.stderrTail(10))
        }
        return try parse(showDerivation: r.stdout)
    }

    /// Parses `nix show-derivation` JSON: an object keyed by derivation path, each with
    /// `outputs` (`{name: {path}}`), `inputDrvs` (`{drv: [output names]}`), `inputSrcs` and `env`.
    public static func parse(showDerivation data: Data) throws -> [String: ShownDerivation] {
        guard let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HopError(.internalError, "nix show-derivation did not print a JSON object")
        }
        var result: [String: ShownDerivation] = [:]
        for (drvPath, value) in top {
            guard let d = value as? [String: Any], let outs = d["outputs"] as? [String: Any] else {
                throw HopError(.internalError, "nix show-derivation printed \(drvPath) without outputs")
            }
            var outputs: [String: String] = [:]
            for (name, o) in outs {
                if let path = (o as? [String: Any])?["path"] as? String { outputs[name] = path }
            }
            let env = d["env"] as? [String: Any] ?? [:]
            result[drvPath] = ShownDerivation(
                drvPath: drvPath, outputs: outputs,
                inputDrvs: (d["inputDrvs"] as? [String: [String]]) ?? [:],
                inputSrcs: ((d["inputSrcs"] as? [String]) ?? []).sorted(),
                name: env["name"] as? String, pname: env["pname"] as? String, version: env["version"] as? String)
        }
        return result
    }

    /// The build graph as store paths: each derivation output with its derivation's inputs, and
    /// each input source (no derivation, no inputs). An input derivation missing from
    /// `derivations` contributes no inputs. Sorted by path.
    public static func paths(from derivations: [String: ShownDerivation]) -> [BuildtimePath] {
        var byPath: [String: BuildtimePath] = [:]
        for d in derivations.values {
            var inputs = Set(d.inputSrcs)
            for (inputDrv, outputNames) in d.inputDrvs {
                guard let producer = derivations[inputDrv] else { continue }
                for name in outputNames { if let p = producer.outputs[name] { inputs.insert(p) } }
            }
            for path in d.outputs.values {
                byPath[path] = BuildtimePath(path: path, drvPath: d.drvPath, inputs: inputs.sorted())
            }
            for src in d.inputSrcs where byPath[src] == nil {
                byPath[src] = BuildtimePath(path: src, drvPath: nil, inputs: [])
            }
        }
        return byPath.values.sorted { $0.path < $1.path }
    }

    /// Derivation path → `pname`/`version` from its environment, for `SBOMInput.derivationNames`.
    /// Derivations that declare neither are left out (their names are parsed from store paths).
    public static func derivationNames(from derivations: [String: ShownDerivation]) -> [String: DerivationName] {
        var names: [String: DerivationName] = [:]
        for d in derivations.values where d.pname != nil || d.version != nil {
            names[d.drvPath] = DerivationName(pname: d.pname, version: d.version)
        }
        return names
    }
}
