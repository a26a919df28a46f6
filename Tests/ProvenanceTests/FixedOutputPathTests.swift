import Foundation
import Testing
import Crypto
import HopBasics
@testable import Provenance

@Suite("Fixed-output store paths computed by hop agree with Nix")
struct FixedOutputPathTests {
    @Test("flat sha256 and sha512 files, and recursive directories, land where hop says", arguments: ["sha256", "sha512"])
    func agreesWithNix(algorithm: String) throws {
        try withTemporaryDirectory { dir in
            let marker = UUID().uuidString
            let file = dir + "/hop-fop-test-\(algorithm).tgz"
            let data = Data("fixed-output path test \(marker)\n".utf8)
            try data.write(to: URL(fileURLWithPath: file))
            let hex = algorithm == "sha512" ? hexString(SHA512.hash(data: data)) : hexString(SHA256.hash(data: data))
            let flat = try SystemRunner().run(Command("nix-store", ["--add-fixed", algorithm, file]))
            #expect(flat.succeeded, "\(flat.stderrText)")
            let flatPath = flat.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            defer { _ = try? SystemRunner().run(Command("nix-store", ["--delete", flatPath])) }
            #expect(FixedOutputPath.flat(name: (file as NSString).lastPathComponent, algorithm: algorithm, hex: hex) == flatPath)

            let tree = dir + "/hop-fop-tree"
            try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
            try "a \(marker)\n".write(toFile: tree + "/sub/a.txt", atomically: true, encoding: .utf8)
            let rec = try SystemRunner().run(Command("nix-store", ["--add-fixed", "--recursive", "sha256", tree]))
            #expect(rec.succeeded, "\(rec.stderrText)")
            let recPath = rec.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            defer { _ = try? SystemRunner().run(Command("nix-store", ["--delete", recPath])) }
            #expect(FixedOutputPath.recursive(name: "hop-fop-tree", narSHA256Hex: try NAR.hash(path: tree).hex) == recPath)
        }
    }
}
