import Foundation
import HopBasics

/// Nix's base-32 (the alphabet without e, o, u, t; digits read from the end), used in store
/// paths and in `sha256:…` NAR hashes. SBOMs and SLSA want lowercase hex, so hop converts.
public enum NixBase32 {
    public static let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        let len = (bytes.count * 8 - 1) / 5 + 1
        var out = [UInt8]()
        out.reserveCapacity(len)
        for n in stride(from: len - 1, through: 0, by: -1) {
            let b = n * 5
            let i = b / 8, j = b % 8
            var c = Int(bytes[i]) >> j
            if i + 1 < bytes.count { c |= Int(bytes[i + 1]) << (8 - j) }
            out.append(alphabet[c & 0x1f])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes to `byteCount` bytes; nil for characters outside the alphabet or a wrong length.
    public static func decode(_ s: String, byteCount: Int) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count == (byteCount * 8 - 1) / 5 + 1 else { return nil }
        var bytes = [UInt8](repeating: 0, count: byteCount)
        for (n, ch) in chars.reversed().enumerated() {
            guard let digit = alphabet.firstIndex(of: ch) else { return nil }
            let b = n * 5
            let i = b / 8, j = b % 8
            bytes[i] |= UInt8(truncatingIfNeeded: digit << j)
            if i + 1 < byteCount {
                bytes[i + 1] |= UInt8(truncatingIfNeeded: digit >> (8 - j))
            } else if digit >> (8 - j) != 0 {
                return nil
            }
        }
        return bytes
    }

    /// `sha256:<nix base32>` (as `nix path-info` prints narHash) → lowercase hex; hex and SRI
    /// (`sha256-…`) forms are accepted too.
    public static func sha256Hex(fromNixHash h: String) -> String? {
        if h.hasPrefix("sha256-"), let d = Data(base64Encoded: String(h.dropFirst(7))), d.count == 32 {
            return hexString(d)
        }
        let body = h.hasPrefix("sha256:") ? String(h.dropFirst(7)) : h
        if body.count == 64, body.allSatisfy(\.isHexDigit) { return body.lowercased() }
        guard let bytes = decode(body, byteCount: 32) else { return nil }
        return hexString(bytes)
    }
}
