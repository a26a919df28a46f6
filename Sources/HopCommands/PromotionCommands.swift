import ArgumentParser
import Foundation
import HopBasics
import HopCore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export",
        abstract: "Write a build as one signed bundle (its closure's NARs, record, SBOM, signed provenance) for `hop import` on another host.")
    @Argument(help: "A build id, or an app name for its latest build.") var build: String
    @Option(name: .shortAndLong, help: "The bundle file to write.") var output: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let r = try cliOperations(json: json).exportBundle(build, to: output)
        if json { emit(r); return }
        Out.line("exported build \(r.build) of \(r.app): \(r.paths) store paths (\(humanBytes(r.narBytes)) of NARs) → \(r.file) (\(humanBytes(r.size)), signed by \(r.keyid.prefix(16))…)")
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import",
        abstract: "Import a bundle from `hop export`: verified against trusted keys and re-hashed before it is recorded; then `hop deploy --build ID`.")
    @Argument(help: "The bundle file.") var file: String
    @OptionGroup var outputOptions: OutputOptions
    var json: Bool { outputOptions.json }
    func run() throws {
        let r = try cliOperations(json: json).importBundle(file)
        if json { emit(r); return }
        Out.line("imported build \(r.build) of \(r.app) (\(r.imported) of \(r.paths) store paths were new; signed by \(r.signedBy)); serve it with `hop deploy --build \(r.build)`")
    }
}

struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trust", abstract: "The signing keys whose builds this host imports and serves.",
                                                    subcommands: [Add.self, List.self, Remove.self, Policy.self])

    struct Add: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Trust a public key (PEM, as `hop key show --pem` prints it).")
        @Argument(help: "The PEM file.") var file: String
        @Option(help: "A name for it (default: the file name).") var name: String?
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            guard let pem = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw HopError.invalid("cannot read \(file)", hint: "give the path of a PEM public key")
            }
            let base = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            let k = try runOperation(TrustKey.self, .init(pem: pem, name: name ?? base), json: json)
            if json { emit(k) } else { Out.line("trusted \(k.name) (keyid \(k.keyid.prefix(16))…)") }
        }
    }

    struct List: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List trusted keys.")
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let keys = try runOperation(ListTrustedKeys.self, NoInput(), json: json)
            if json { emit(keys); return }
            var t = Table("NAME", "KEYID")
            for k in keys { t.add(k.name, k.keyid) }
            t.print(empty: "no trusted keys")
        }
    }

    struct Remove: ParsableCommand, RemoteCapable {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Stop trusting a key (by name or keyid).")
        @Argument var key: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let k = try runOperation(DistrustKey.self, .init(key: key), json: json)
            if json { emit(k) } else { Out.line("no longer trusted: \(k.name)") }
        }
    }

    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "policy",
            abstract: "Whether every deploy on this host needs a build signed by a trusted key whose closure re-hashes.")
        @Option(name: .customLong("require-signed"), help: "on or off.") var requireSigned: String
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            guard requireSigned == "on" || requireSigned == "off" else { throw HopError.invalid("--require-signed takes on or off") }
            let on = try cliOperations(json: json).trustPolicy(requireSigned: requireSigned == "on")
            if json { emit(["requireSigned": on]) } else { Out.line("require-signed: \(on ? "on" : "off")") }
        }
    }
}
