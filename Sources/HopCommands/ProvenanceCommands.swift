import ArgumentParser
import Crypto
import Foundation
import HopBasics
import HopCore
import HopStore
import NixBuild
import Provenance


/// Writes `data` to FILE (atomically) or stdout.
func emit(_ data: Data, to file: String?) throws {
    guard let file else {
        FileHandle.standardOutput.write(data + Data("\n".utf8))
        return
    }
    do { try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
        throw HopError(.environment, "cannot write \(file): \(error.localizedDescription)")
    }
}

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "key", abstract: "Manage the ed25519 key that signs provenance.",
                                                    subcommands: [Generate.self, Show.self])
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate", abstract: "Create the signing key in $HOP_HOME/keys (mode 0600).")
        @Flag(help: "Replace an existing key.") var force = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            let key = try runOperation(GenerateSigningKey.self, .init(force: force), json: json)
            if json { emit(key); return }
            Out.line("generated \(key.path) (keyid \(key.keyid))")
            Out.line("export the public key with `hop key show --pem > hop-provenance.pub`")
        }
    }
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the public key (keyid, or PEM for verifiers).")
        @Flag(help: "Print the public key as SubjectPublicKeyInfo PEM.") var pem = false
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            Hop.jsonMode = json
            let key = try SigningKey.load(from: .fromEnvironment())
            if json { Out.json(["keyid": key.keyID, "publicKeyPEM": PublicKeyFile.pem(key.publicKey)]); return }
            if pem { FileHandle.standardOutput.write(Data(PublicKeyFile.pem(key.publicKey).utf8)); return }
            Out.line("ed25519 keyid \(key.keyID)")
        }
    }
}

struct ProvenanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "provenance", abstract: "SLSA v1.0 provenance for a build, optionally signed (DSSE, ed25519).",
                                                    subcommands: [Generate.self, Verify.self], defaultSubcommand: Generate.self)

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate", abstract: "Write the in-toto Statement (or a signed DSSE envelope with --sign).")
        @Argument(help: "A build id, or an app name for its latest build.") var build: String
        @Flag(help: "Sign with $HOP_HOME/keys/provenance.key and emit a DSSE envelope.") var sign = false
        @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.") var output: String?
        @Flag(help: "Accepted for symmetry: the output is JSON already.") var json = false
        func run() throws {
            try emit(try cliOperations(json: json).provenance(build, sign: sign), to: output)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check a signed provenance file: signature, then every digest against the store.")
        @Argument(help: "A DSSE envelope written by `hop provenance BUILD --sign`.") var file: String
        @Option(help: "Public key PEM (default: this machine's key).") var key: String?
        @Option(help: "Check a copy of the store rooted here (its files under ROOT/nix/store).") var storeRoot: String = ""
        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }
        func run() throws {
            Hop.jsonMode = json
            guard let data = FileManager.default.contents(atPath: file) else { throw HopError(.notFound, "cannot read \(file)") }
            guard let envelope = try? JSONDecoder().decode(DSSEEnvelope.self, from: data) else {
                throw HopError.invalid("\(file) is not a DSSE envelope", at: SourceLocation(file: file),
                                       hint: "verify signed provenance: `hop provenance BUILD --sign -o FILE`")
            }
            let publicKey: Curve25519.Signing.PublicKey
            if let key {
                guard let text = try? String(contentsOfFile: key, encoding: .utf8) else { throw HopError(.notFound, "cannot read \(key)") }
                publicKey = try PublicKeyFile.parse(text, file: key)
            } else {
                publicKey = try SigningKey.load(from: .fromEnvironment()).publicKey
            }
            guard envelope.payloadType == SLSA.payloadType else {
                throw HopError(.verificationFailed, "payload type is \(envelope.payloadType), not \(SLSA.payloadType)")
            }
            let payload = try envelope.verifiedPayload(with: publicKey)
            guard let statement = try JSONSerialization.jsonObject(with: payload) as? [String: Any],
                  statement["_type"] as? String == SLSA.statementType, statement["predicateType"] as? String == SLSA.predicateType else {
                throw HopError(.verificationFailed, "the signed payload is not an in-toto Statement v1 with SLSA v1 provenance")
            }
            let results = try StatementDigests.check(statement: statement, root: storeRoot)
            let failed = results.filter { !$0.ok }
            if json {
                Out.json(["signature": "valid", "keyid": PublicKeyFile.keyID(publicKey), "ok": failed.isEmpty,
                          "digests": results.map { ["name": $0.name, "path": $0.path, "ok": $0.ok, "detail": $0.detail] }])
            } else {
                Out.line("signature: valid (keyid \(PublicKeyFile.keyID(publicKey).prefix(16))…)")
                for r in results { Out.line("\(r.ok ? "ok  " : "FAIL") \(r.name)  \(r.path)\(r.ok ? "" : "  " + r.detail)") }
            }
            if !failed.isEmpty {
                if json { throw ExitCode(HopError.Code.verificationFailed.exitCode) }
                throw HopError(.verificationFailed, "\(failed.count) of \(results.count) digests no longer match the store",
                               hint: "the store was changed since the provenance was signed; rebuild, or restore the paths listed")
            }
        }
    }
}
