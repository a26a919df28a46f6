import Foundation
import Testing
import HopBasics
@testable import Provenance

@Suite("Nix base-32")
struct NixBase32Tests {
    @Test("round-trips and agrees with nix-hash --to-base32 on real hashes")
    func agreesWithNix() throws {
        for hex in ["0943908a713cbcd36ecad375a6719350208d91804510d5e9d427bab81f036aea",
                    "0000000000000000000000000000000000000000000000000000000000000000",
                    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"] {
            let r = try SystemRunner().run(Command("nix-hash", ["--type", "sha256", "--to-base32", hex]))
            #expect(r.succeeded)
            let nix32 = r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            var bytes: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex { let j = hex.index(i, offsetBy: 2); bytes.append(UInt8(hex[i..<j], radix: 16)!); i = j }
            #expect(NixBase32.encode(bytes) == nix32)
            #expect(NixBase32.sha256Hex(fromNixHash: "sha256:" + nix32) == hex)
        }
        #expect(NixBase32.decode("e", byteCount: 32) == nil)
    }
}
