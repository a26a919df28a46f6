import Crypto
import Foundation
import HopBasics
#if canImport(Glibc)
import Glibc
#endif

/// Encrypts secrets at rest (config values, later addon passwords and generated values) with an
/// AEAD (ChaCha20-Poly1305) under one 256-bit key kept in a root-only file beside the database
/// (`secrets.key`, 0600, in HOP_HOME which is 0700): never in the database, never in the store. A
/// copy of hop.db alone reveals no value. Each value is bound to where it belongs (the associated
/// data names its table, app and key), so a ciphertext moved to another row does not open.
///
/// Stored form: `enc1:` + base64(nonce ‖ ciphertext ‖ tag).
public struct SecretBox: Sendable {
    public static let prefix = "enc1:"
    public static let fileName = "secrets.key"
    let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    init(key: SymmetricKey) { keyBytes = key.withUnsafeBytes { Array($0) } }

    /// The key in `directory/secrets.key`, created (32 random bytes, 0600) when absent. Two processes
    /// creating it at once agree: the file appears with link(2), which never replaces one.
    public static func load(directory: String) throws -> SecretBox {
        let path = directory + "/" + fileName
        if let box = try read(path) { return box }
        let tmp = path + ".new-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw HopError(.environment, "cannot create \(tmp): \(String(cString: strerror(errno)))", hint: "hop's home must be writable by root")
        }
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        defer { unlink(tmp) }
        guard written == bytes.count, synced else { throw HopError(.environment, "cannot write \(tmp)") }
        if link(tmp, path) != 0 && errno != EEXIST {
            throw HopError(.environment, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        guard let box = try read(path) else { throw HopError(.environment, "\(path) vanished as it was created") }
        return box
    }

    static func read(_ path: String) throws -> SecretBox? {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw HopError(.environment, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw HopError(.environment, "\(path) is not a regular file") }
        guard st.st_mode & 0o077 == 0, st.st_uid == geteuid() else {
            throw HopError(.environment, "\(path) (the key that encrypts hop's secrets) is readable by others or not owned by this user",
                           hint: "chmod 600 \(path) and chown it to the user hop runs as; rotate the secrets if others read it")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count == 32 else {
            throw HopError(.environment, "\(path) is not a 32-byte key", hint: "restore it from the backup of hop's home")
        }
        return SecretBox(key: SymmetricKey(data: data))
    }

    /// The stored form of `plaintext` for the place `context` names.
    public func seal(_ plaintext: String, context: String) throws -> String {
        let box = try ChaChaPoly.seal(Data(plaintext.utf8), using: key, authenticating: Data(context.utf8))
        return Self.prefix + box.combined.base64EncodedString()
    }

    /// The plaintext of a stored value. A value without the prefix is one written before secrets
    /// were encrypted: returned as it is (and re-encrypted by `HopDatabase` when it opens).
    public func open(_ stored: String, context: String) throws -> String {
        guard stored.hasPrefix(Self.prefix) else { return stored }
        guard let data = Data(base64Encoded: String(stored.dropFirst(Self.prefix.count))),
              let box = try? ChaChaPoly.SealedBox(combined: data),
              let plain = try? ChaChaPoly.open(box, using: key, authenticating: Data(context.utf8)) else {
            throw HopError(.environment, "a secret (\(context)) does not decrypt with this host's \(Self.fileName)",
                           hint: "hop.db and secrets.key belong together: restore both from the same backup")
        }
        return String(decoding: plain, as: UTF8.self)
    }

    /// A keyed digest (HMAC-SHA256 under a key derived from the secrets key): tells whether two sets
    /// of values are equal without letting anyone who reads the database test guesses, as a plain
    /// hash would.
    public func digest(_ data: Data) -> String {
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("hop config digest".utf8), outputByteCount: 32)
        return "hmac-sha256:" + hexString(HMAC<SHA256>.authenticationCode(for: data, using: derived))
    }
}
