import Foundation
import Crypto
internal import CArchive
import HopBasics
import HopStore
import NixBuild
import Provenance

// Promotion of CI-built closures. `hop export BUILD -o FILE` writes one archive (pax + zstd, by
// libarchive):
//
//   hop-bundle.dsse.json   the bundle manifest (build record, every closure path with its NAR
//                          sha256, size and references; the sha256 of the two files below),
//                          signed with the exporting host's provenance key (DSSE, ed25519)
//   provenance.dsse.json   the build's signed SLSA provenance
//   sbom.cdx.json          its CycloneDX SBOM
//   nar/<name>.nar         one NAR per closure path (`nix-store --dump`)
//
// `hop import FILE` trusts nothing in it until the manifest verifies with a key in
// `$HOP_HOME/trust/` (`hop trust add KEY.pem`); the provenance must verify too and name the same
// output path and NAR hash; every NAR is hashed while it is unpacked to scratch and compared with
// the manifest. Only then does anything reach the store (`nix-store --import` of a stream hop
// builds from the NARs), and after it every path is re-hashed on disk before the build is recorded.

/// What a bundle carries, signed as a whole.
public struct BundleManifest: Sendable, Codable {
    public static let format = "hop-bundle/1"
    public static let payloadType = "application/vnd.hop.bundle+json"
    public static let member = "hop-bundle.dsse.json"
    public var format: String
    public var build: BuildRecord
    public var closure: [StorePathInfo]
    public var provenanceSHA256: String
    public var sbomSHA256: String
    public var exportedBy: String
    public var exportedAt: String

    /// The member name of a path's NAR.
    public static func narMember(_ path: String) -> String { "nar/" + (path as NSString).lastPathComponent + ".nar" }
}

/// The keys this host trusts to sign builds it will import and (with require-signed) serve.
public struct TrustStore: Sendable {
    public let home: HopHome
    public var directory: String { home.root + "/trust" }
    public var policyFile: String { directory + "/policy.json" }

    public init(home: HopHome) { self.home = home }

    public struct Key: Sendable, Codable, Equatable {
        public var keyid: String
        public var name: String
        public var file: String
    }

    public func keys() throws -> [(Key, Curve25519.Signing.PublicKey)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return try names.filter { $0.hasSuffix(".pem") }.sorted().map { n in
            let file = directory + "/" + n
            let k = try PublicKeyFile.parse(try String(contentsOfFile: file, encoding: .utf8), file: file)
            return (Key(keyid: PublicKeyFile.keyID(k), name: String(n.dropLast(4)), file: file), k)
        }
    }

    /// The payload of `envelope` and the trusted key that signed it, or `.verificationFailed`.
    public func verify(_ envelope: DSSEEnvelope, what: String) throws -> (Data, Key) {
        let trusted = try keys()
        guard !trusted.isEmpty else {
            throw HopError(.verificationFailed, "\(what) cannot be checked: this host trusts no signing key",
                           hint: "trust the exporting host's key: `hop trust add KEY.pem` (its `hop key show --pem`)")
        }
        for (meta, key) in trusted {
            if let payload = try? envelope.verifiedPayload(with: key) { return (payload, meta) }
        }
        throw HopError(.verificationFailed, "\(what) is not signed by a key this host trusts",
                       hint: "`hop trust list` shows the trusted keys; the signer was \(envelope.signatures.map { String($0.keyid.prefix(16)) }.joined(separator: ", "))")
    }

    public var requireSigned: Bool {
        guard let data = FileManager.default.contents(atPath: policyFile),
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return o["requireSigned"] as? Bool ?? false
    }
}

public struct ExportResult: Sendable, Codable, Equatable {
    public var build: Int64
    public var app: String
    public var file: String
    public var paths: Int
    public var narBytes: Int64
    public var size: Int64
    public var sha256: String
    public var keyid: String
}

public struct ImportResult: Sendable, Codable, Equatable {
    public var build: Int64
    public var app: String
    public var outPath: String
    public var paths: Int
    public var imported: Int
    public var signedBy: String
    public var seconds: Double
}

public struct TrustedKeyInfo: Sendable, Codable, Equatable {
    public var keyid: String
    public var name: String
}

extension Operations {
    // MARK: Trust

    public func trustAdd(pem: String, name: String) throws -> TrustedKeyInfo {
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), name.allSatisfy(\.isASCII) else {
            throw HopError.invalid("`\(name)` is not a key name", hint: "use letters, digits, `-` and `_`")
        }
        let key = try PublicKeyFile.parse(pem, file: name)
        return try audited("trust add", app: nil, detail: ["name": name, "keyid": PublicKeyFile.keyID(key)], permission: .admin) {
            let store = TrustStore(home: ctx.home)
            try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if let same = try store.keys().first(where: { $0.0.keyid == PublicKeyFile.keyID(key) }) {
                throw HopError(.conflict, "that key is trusted already, as \(same.0.name)")
            }
            let file = store.directory + "/\(name).pem"
            guard !FileManager.default.fileExists(atPath: file) else { throw HopError(.conflict, "a trusted key is named \(name) already") }
            try writeFileAtomically(file, PublicKeyFile.pem(key), mode: 0o644)
            return TrustedKeyInfo(keyid: PublicKeyFile.keyID(key), name: name)
        }
    }

    public func trustList() throws -> [TrustedKeyInfo] {
        try ctx.authorize(.read, app: nil, action: "list trusted keys")
        return try TrustStore(home: ctx.home).keys().map { TrustedKeyInfo(keyid: $0.0.keyid, name: $0.0.name) }
    }

    public func trustRemove(_ nameOrID: String) throws -> TrustedKeyInfo {
        try audited("trust remove", app: nil, detail: ["key": nameOrID], permission: .admin) {
            guard let k = try TrustStore(home: ctx.home).keys().first(where: { $0.0.name == nameOrID || $0.0.keyid == nameOrID })?.0 else {
                throw HopError(.notFound, "no trusted key is named \(nameOrID)", hint: "`hop trust list` shows them")
            }
            try FileManager.default.removeItem(atPath: k.file)
            return TrustedKeyInfo(keyid: k.keyid, name: k.name)
        }
    }

    /// The host policy: every deploy needs a build signed by a trusted key whose closure re-hashes.
    public func trustPolicy(requireSigned: Bool) throws -> Bool {
        try audited("trust policy", app: nil, detail: ["requireSigned": String(requireSigned)], permission: .admin) {
            let store = TrustStore(home: ctx.home)
            try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try writeFileAtomically(store.policyFile, "{\"requireSigned\":\(requireSigned)}\n", mode: 0o644)
            return requireSigned
        }
    }

    // MARK: Export

    /// `hop export BUILD -o FILE`.
    public func exportBundle(_ ref: String, to file: String) throws -> ExportResult {
        let (b, db) = try findBuild(ref)
        return try audited("export", app: b.app, detail: ["build": String(b.id), "file": file], permission: .admin) {
            let key = try SigningKey.load(from: ctx.home)
            let closure = try db.closure(buildID: b.id)
            let provenance = try self.provenance(String(b.id), sign: true)
            let sbom = Data(try self.sbom(String(b.id), format: .cyclonedx).utf8)
            let manifest = BundleManifest(format: BundleManifest.format, build: b, closure: closure,
                                          provenanceSHA256: hexString(SHA256.hash(data: provenance)), sbomSHA256: hexString(SHA256.hash(data: sbom)),
                                          exportedBy: key.keyID, exportedAt: rfc3339(Date()))
            let envelope = try DSSEEnvelope.sign(payload: try JSONEncoder.stable.encode(manifest), type: BundleManifest.payloadType, key: key).json()
            let partial = (file as NSString).deletingLastPathComponent.isEmpty ? ".\(UUID().uuidString).partial"
                : (file as NSString).deletingLastPathComponent + "/.\((file as NSString).lastPathComponent).partial"
            let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw HopError(.environment, "cannot write \(file): \(String(cString: strerror(errno)))") }
            var done = false
            defer { if !done { unlink(partial) } }
            let scratch = try ctx.home.scratch("export")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            var narBytes: Int64 = 0
            do {
                defer { close(fd) }
                let w = try BackupArchiveWriter(fd: fd)
                try w.data(BundleManifest.member, envelope, mode: 0o644)
                try w.data("provenance.dsse.json", provenance, mode: 0o644)
                try w.data("sbom.cdx.json", sbom, mode: 0o644)
                for p in closure {
                    let pipe = try makePipe()
                    let proc: PipedProcess
                    do { proc = try PipedProcess.spawn("nix-store", ["--dump", p.path], stdin: nil, stdout: pipe.write, scratch: scratch) } catch {
                        close(pipe.read); close(pipe.write); throw error
                    }
                    close(pipe.write)
                    let intact = try w.file(BundleManifest.narMember(p.path), fd: pipe.read, size: p.narSize, mode: 0o644, mtime: 1)
                    close(pipe.read)
                    let r = proc.wait()
                    let want = NixBase32.sha256Hex(fromNixHash: p.narHash) ?? ""
                    guard r.status == 0, intact, w.members.last?.sha256 == want else {
                        throw HopError(.verificationFailed, "\(p.path) does not dump to the NAR its record names (\(r.stderr))",
                                       hint: "`hop verify \(b.id)` checks the closure on disk")
                    }
                    narBytes += p.narSize
                }
                try w.close()
                guard fsync(fd) == 0 else { throw HopError(.environment, "fsync \(file): \(String(cString: strerror(errno)))") }
            }
            guard rename(partial, file) == 0 else { throw HopError(.environment, "cannot write \(file): \(String(cString: strerror(errno)))") }
            done = true
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int64) ?? 0
            return ExportResult(build: b.id, app: b.app, file: file, paths: closure.count, narBytes: narBytes, size: size,
                                sha256: try sha256Hex(file: file), keyid: key.keyID)
        }
    }

    // MARK: Import

    /// `hop import FILE`: verified as a whole before anything reaches the store or the database.
    public func importBundle(_ file: String) throws -> ImportResult {
        let t0 = Date()
        return try audited("import", app: nil, detail: ["file": file], permission: .admin) {
            let scratch = try ctx.home.scratch("import")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let trust = TrustStore(home: ctx.home)
            let bundle = try BundleReader.read(file: file, scratch: scratch, trust: trust)
            let m = bundle.manifest
            _ = try Self.checkedApp(m.build.app)
            // Only now does the store change: the paths it lacks, references first.
            let nix = NixDriver(runner: ctx.runner)
            let missing = try nix.invalidPaths(m.closure.map(\.path))
            let order = try BundleReader.topologicalOrder(m.closure).filter { missing.contains($0.path) }
            if !order.isEmpty {
                try importIntoStore(order, nars: bundle.nars, scratch: scratch)
            }
            // Every path, imported or already present, re-hashed on disk against the signed manifest.
            let checks = try StoreCheck.verify(paths: m.closure.map { ($0.path, $0.narHash) })
            if let bad = checks.first(where: { !$0.ok }) {
                throw HopError(.verificationFailed, "\(bad.path) in the store does not match the bundle: \(bad.problem ?? "hash differs")",
                               hint: "the store path was there before and differs; `nix-store --verify --check-contents` looks at the store")
            }
            let db = try ctx.database(create: true)
            if let same = try db.builds(app: m.build.app).first(where: { $0.outPath == m.build.outPath && $0.drvPath == m.build.drvPath }),
               FileManager.default.fileExists(atPath: same.gcRoot) {
                try saveImportedProvenance(build: same.id, envelope: bundle.provenanceEnvelope)
                return ImportResult(build: same.id, app: same.app, outPath: same.outPath, paths: m.closure.count, imported: order.count,
                                    signedBy: bundle.signer.name, seconds: Date().timeIntervalSince(t0))
            }
            let rootDir = ctx.home.gcroots + "/builds"
            try FileManager.default.createDirectory(atPath: rootDir, withIntermediateDirectories: true)
            var record = m.build
            record.gcRoot = rootDir + "/\(record.app)-" + storeHashPart(record.outPath)
            try nix.addRoot(record.gcRoot, for: record.outPath)
            record.id = try db.recordBuild(record, closure: m.closure)
            try saveImportedProvenance(build: record.id, envelope: bundle.provenanceEnvelope)
            return ImportResult(build: record.id, app: record.app, outPath: record.outPath, paths: m.closure.count, imported: order.count,
                                signedBy: bundle.signer.name, seconds: Date().timeIntervalSince(t0))
        }
    }

    static func importedProvenanceFile(_ home: HopHome, build: Int64) -> String { home.root + "/provenance/\(build).dsse.json" }

    func saveImportedProvenance(build: Int64, envelope: Data) throws {
        let dir = ctx.home.root + "/provenance"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try (envelope).write(to: URL(fileURLWithPath: Self.importedProvenanceFile(ctx.home, build: build)), options: .atomic)
    }

    /// Streams `nix-store --import`'s format, built from verified NAR files, into nix-store.
    func importIntoStore(_ paths: [StorePathInfo], nars: [String: String], scratch: String) throws {
        let pipe = try makePipe()
        let proc: PipedProcess
        do { proc = try PipedProcess.spawn("nix-store", ["--import"], stdin: pipe.read, stdout: nil, scratch: scratch) } catch {
            close(pipe.read); close(pipe.write); throw error
        }
        close(pipe.read)
        var failure: Error?
        do {
            defer { close(pipe.write) }
            let out = FDWriter(fd: pipe.write)
            for p in paths {
                try out.u64(1)
                guard let nar = nars[p.path] else { throw HopError(.internalError, "no NAR for \(p.path)") }
                try out.copy(file: nar)
                try out.u64(0x4558_494e)
                try out.string(p.path)
                try out.u64(UInt64(p.references.count))
                for r in p.references.sorted() { try out.string(r) }
                try out.string(p.deriver ?? "")
                try out.u64(0)
            }
            try out.u64(0)
        } catch { failure = error }
        let r = proc.wait()
        if let failure { throw failure }
        guard r.status == 0 else { throw HopError(.environment, "nix-store --import failed", detail: r.stderr) }
    }

    // MARK: Policy

    /// Refuses a build when the app or the host requires signed builds and this one's provenance is
    /// not signed by a trusted key, does not name its output, or its closure does not re-hash.
    func checkSignedPolicy(_ record: BuildRecord, requiredByApp: Bool, db: HopDatabase) throws {
        let trust = TrustStore(home: ctx.home)
        guard requiredByApp || trust.requireSigned else { return }
        let why = requiredByApp ? "[deploy] require-signed" : "this host's policy (`hop trust policy`)"
        let envelopeData: Data
        let imported = Self.importedProvenanceFile(ctx.home, build: record.id)
        if let d = FileManager.default.contents(atPath: imported) {
            envelopeData = d
        } else if FileManager.default.fileExists(atPath: SigningKey.path(in: ctx.home)) {
            envelopeData = try provenance(String(record.id), sign: true)
        } else {
            throw HopError(.verificationFailed, "build \(record.id) has no signed provenance, and \(why) requires one",
                           hint: "import a signed bundle (`hop import`), or sign here with `hop key generate` and trust that key")
        }
        let envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: envelopeData)
        let (payload, _) = try trust.verify(envelope, what: "the provenance of build \(record.id) (\(why))")
        let closure = try db.closure(buildID: record.id)
        try BundleReader.checkSubject(payload, build: record, closure: closure)
        let checks = try StoreCheck.verify(paths: closure.map { ($0.path, $0.narHash) })
        if let bad = checks.first(where: { !$0.ok }) {
            throw HopError(.verificationFailed, "build \(record.id): \(bad.path) does not re-hash to its record (\(bad.problem ?? "differs")); \(why) refuses it")
        }
    }
}

/// Buffered big-endian-free writes of Nix's wire format (u64 little endian, padded strings).
final class FDWriter {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HopError(.environment, "writing to nix-store --import failed: \(String(cString: strerror(errno)))") }
            off += n
        }
    }
    func u64(_ v: UInt64) throws { var le = v.littleEndian; try withUnsafeBytes(of: &le) { try write($0) } }
    func string(_ s: String) throws {
        let b = Array(s.utf8)
        try u64(UInt64(b.count))
        try b.withUnsafeBytes { try write($0) }
        let pad = (8 - b.count % 8) % 8
        if pad > 0 { try [UInt8](repeating: 0, count: pad).withUnsafeBytes { try write($0) } }
    }
    func copy(file: String) throws {
        let src = open(file, O_RDONLY | O_CLOEXEC)
        guard src >= 0 else { throw HopError(.environment, "cannot read \(file)") }
        defer { close(src) }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { read(src, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw HopError(.environment, "cannot read \(file)") }
            if n == 0 { break }
            try buf.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
}

/// Reads and verifies a bundle into scratch; writes nothing else.
enum BundleReader {
    struct Verified {
        var manifest: BundleManifest
        var signer: TrustStore.Key
        var provenanceEnvelope: Data
        /// store path → its verified NAR file in scratch.
        var nars: [String: String]
    }

    static func refused(_ why: String) -> HopError {
        HopError(.verificationFailed, "the bundle is refused: \(why)", hint: "nothing was imported; export it again from the build host")
    }

    static func read(file: String, scratch: String, trust: TrustStore) throws -> Verified {
        archiveUTF8Locale()
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HopError(.notFound, "cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let a = archive_read_new() else { throw HopError(.internalError, "libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_format_tar(a)
        archive_read_support_filter_zstd(a)
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK else { throw refused("not a hop bundle (\(BackupArchiveReader.err(a)))") }
        var manifest: BundleManifest?
        var signer: TrustStore.Key?
        var provenance: Data?
        var sbomSeen = false
        var expected: [String: StorePathInfo] = [:]
        var nars: [String: String] = [:]
        let narDir = scratch + "/nar"
        try FileManager.default.createDirectory(atPath: narDir, withIntermediateDirectories: true)
        var entry: OpaquePointer?
        while true {
            let rc = archive_read_next_header(a, &entry)
            if rc == ARCHIVE_EOF { break }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let e = entry else { throw refused("the archive is damaged (\(BackupArchiveReader.err(a)))") }
            guard let cname = archive_entry_pathname_utf8(e) else { throw refused("a member's name is not UTF-8") }
            let name = String(cString: cname)
            guard archive_entry_filetype(e) == 0o100000 else { throw refused("\(name.prefix(100)) is not a regular file") }
            let size = archive_entry_size(e)
            if manifest == nil {
                guard name == BundleManifest.member, size > 0, size < 64 << 20 else { throw refused("it does not start with its signed manifest") }
                let data = try readAll(a, size: size)
                let envelope: DSSEEnvelope
                do { envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: data) } catch { throw refused("the manifest is not a DSSE envelope") }
                guard envelope.payloadType == BundleManifest.payloadType else { throw refused("the manifest has payload type \(envelope.payloadType)") }
                let (payload, key) = try trust.verify(envelope, what: "the bundle's manifest")
                let m: BundleManifest
                do { m = try JSONDecoder().decode(BundleManifest.self, from: payload) } catch { throw refused("the signed manifest does not decode") }
                guard m.format == BundleManifest.format else { throw refused("format \(m.format) is not \(BundleManifest.format)") }
                for p in m.closure { expected[BundleManifest.narMember(p.path)] = p }
                guard expected.count == m.closure.count, m.closure.contains(where: { $0.path == m.build.outPath }) else {
                    throw refused("the manifest's closure is inconsistent")
                }
                let paths = Set(m.closure.map(\.path))
                if let open = m.closure.first(where: { $0.references.contains { !paths.contains($0) } }) {
                    throw refused("the closure is not closed: \(open.path) references a path the bundle lacks")
                }
                for p in m.closure {
                    let base = (p.path as NSString).lastPathComponent
                    guard p.path == "/nix/store/" + base, base.count > 33, !base.hasPrefix("."), base.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-._?=".contains($0)) }) else {
                        throw refused("\(p.path.prefix(120)) is not a store path")
                    }
                }
                manifest = m
                signer = key
                continue
            }
            let m = manifest!
            switch name {
            case "provenance.dsse.json":
                guard provenance == nil, size < 64 << 20 else { throw refused("provenance.dsse.json is duplicated or too large") }
                let data = try readAll(a, size: size)
                guard hexString(SHA256.hash(data: data)) == m.provenanceSHA256 else { throw refused("provenance.dsse.json is not the one the manifest signs") }
                let envelope: DSSEEnvelope
                do { envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: data) } catch { throw refused("the provenance is not a DSSE envelope") }
                let (payload, _) = try trust.verify(envelope, what: "the bundle's provenance")
                try checkSubject(payload, build: m.build, closure: m.closure)
                provenance = data
            case "sbom.cdx.json":
                guard !sbomSeen, size < 256 << 20 else { throw refused("sbom.cdx.json is duplicated or too large") }
                let data = try readAll(a, size: size)
                guard hexString(SHA256.hash(data: data)) == m.sbomSHA256 else { throw refused("sbom.cdx.json is not the one the manifest signs") }
                sbomSeen = true
            default:
                guard let p = expected[name] else { throw refused("\(name.prefix(120)) is not a member the manifest lists") }
                guard nars[p.path] == nil else { throw refused("\(name) appears twice") }
                guard size == p.narSize else { throw refused("\(name) is \(size) bytes; the manifest says \(p.narSize)") }
                let target = narDir + "/" + (p.path as NSString).lastPathComponent + ".nar"
                let sha = try copyHashing(a, size: size, to: target)
                guard sha == NixBase32.sha256Hex(fromNixHash: p.narHash) else {
                    throw refused("\(name) does not hash to the NAR hash the manifest signs (\(p.narHash))")
                }
                nars[p.path] = target
            }
        }
        guard let m = manifest, let signer else { throw refused("it is empty") }
        guard let provenance else { throw refused("it has no provenance") }
        if let lacking = m.closure.first(where: { nars[$0.path] == nil }) { throw refused("the NAR of \(lacking.path) is missing") }
        return Verified(manifest: m, signer: signer, provenanceEnvelope: provenance, nars: nars)
    }

    /// The provenance statement must name this build's output with the NAR hash its closure records.
    static func checkSubject(_ payload: Data, build: BuildRecord, closure: [StorePathInfo]) throws {
        guard let statement = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
              let subjects = statement["subject"] as? [[String: Any]], subjects.count == 1,
              let name = subjects[0]["name"] as? String, let digest = (subjects[0]["digest"] as? [String: Any])?["sha256"] as? String else {
            throw refused("the provenance is not a statement with one subject")
        }
        guard let out = closure.first(where: { $0.path == build.outPath }), name == build.outPath,
              digest == NixBase32.sha256Hex(fromNixHash: out.narHash) else {
            throw refused("the provenance names \(name) (sha256 \(digest.prefix(16))…), not this build's output \(build.outPath)")
        }
        let derivation = ((statement["predicate"] as? [String: Any])?["buildDefinition"] as? [String: Any])
            .flatMap { $0["internalParameters"] as? [String: Any] }?["derivation"] as? String
        guard derivation == build.drvPath else { throw refused("the provenance names derivation \(derivation ?? "none"), not \(build.drvPath)") }
    }

    static func readAll(_ a: OpaquePointer, size: Int64) throws -> Data {
        var data = Data(count: Int(size))
        var off = 0
        try data.withUnsafeMutableBytes { buf in
            while off < Int(size) {
                let n = archive_read_data(a, buf.baseAddress! + off, Int(size) - off)
                guard n > 0 else { throw refused("a member is truncated (\(BackupArchiveReader.err(a)))") }
                off += n
            }
        }
        return data
    }

    static func copyHashing(_ a: OpaquePointer, size: Int64, to path: String) throws -> String {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HopError(.environment, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = SHA256()
        var left = size
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while left > 0 {
            let n = buf.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, Int(min(Int64($0.count), left))) }
            guard n > 0 else { throw refused("a NAR is truncated (\(BackupArchiveReader.err(a)))") }
            try buf.withUnsafeBytes { b in
                var off = 0
                while off < n {
                    let w = write(fd, b.baseAddress! + off, n - off)
                    if w < 0 && errno == EINTR { continue }
                    guard w > 0 else { throw HopError(.environment, "cannot write \(path): \(String(cString: strerror(errno)))") }
                    off += w
                }
            }
            hasher.update(data: buf[0..<n])
            left -= Int64(n)
        }
        return hexString(hasher.finalize())
    }

    /// References before the paths that use them (a path's reference to itself ignored).
    static func topologicalOrder(_ closure: [StorePathInfo]) throws -> [StorePathInfo] {
        let byPath = Dictionary(closure.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var done = Set<String>(), visiting = Set<String>(), out: [StorePathInfo] = []
        func visit(_ p: String) throws {
            if done.contains(p) { return }
            guard !visiting.contains(p) else { throw refused("the closure has a reference cycle through \(p)") }
            visiting.insert(p)
            for r in byPath[p]?.references ?? [] where r != p { try visit(r) }
            visiting.remove(p)
            done.insert(p)
            if let info = byPath[p] { out.append(info) }
        }
        for p in closure.map(\.path).sorted() { try visit(p) }
        return out
    }
}
