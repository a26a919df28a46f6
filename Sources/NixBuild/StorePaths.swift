import Foundation
import HopBasics
import Crypto

/// Store path computation for flat fixed-output paths (what `nix-store --add-fixed ALGO FILE`
/// and `<nix/fetchurl.nix>` produce), so a recorded digest can be found in the store again.
public enum FixedOutputPath {
    static func sha256Hex(_ s: String) -> String { hexString(SHA256.hash(data: Data(s.utf8))) }

    /// Nix's compressHash: XOR-fold a digest to `size` bytes.
    static func compress(_ d: [UInt8], to size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        for (i, b) in d.enumerated() { out[i % size] ^= b }
        return out
    }

    /// /nix/store/<hash>-<name> for a flat file with `algorithm` (sha256, sha512) digest `hex`.
    public static func flat(name: String, algorithm: String, hex: String, storeDir: String = "/nix/store") -> String {
        let inner = sha256Hex("fixed:out:\(algorithm):\(hex):")
        let fingerprint = "output:out:sha256:\(inner):\(storeDir):\(name)"
        let digest = Array(SHA256.hash(data: Data(fingerprint.utf8)))
        return storeDir + "/" + NixBase32.encode(compress(digest, to: 20)) + "-" + name
    }

    /// /nix/store/<hash>-<name> for a directory added with `--add-fixed --recursive sha256`
    /// (no references): Nix names it by the "source" type and the NAR's sha256.
    public static func recursive(name: String, narSHA256Hex hex: String, storeDir: String = "/nix/store") -> String {
        let fingerprint = "source:sha256:\(hex):\(storeDir):\(name)"
        let digest = Array(SHA256.hash(data: Data(fingerprint.utf8)))
        return storeDir + "/" + NixBase32.encode(compress(digest, to: 20)) + "-" + name
    }
}
