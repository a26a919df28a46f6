import Foundation

/// What a derivation says about itself (`pname`, `version` in its environment), which is more
/// reliable than reading a store path's name. Filled from `nix show-derivation`
/// (see `Buildtime.derivationNames(from:)`); either field may be missing.
public struct DerivationName: Sendable, Hashable, Codable {
    /// The package name without version (`env.pname`).
    public var pname: String?
    /// `env.version`.
    public var version: String?

    public init(pname: String?, version: String?) {
        self.pname = pname
        self.version = version
    }
}

/// The name and version of a package in the Nix store, read the way Nix reads derivation names.
///
/// Guarantees: the version never carries an output suffix (`-bin`, `-dev`, `-lib`, …) and files
/// (source archives, wheels, scripts) never get a version split out of their file name, except
/// wheels, whose file names carry name and version by specification.
public struct PackageName: Sendable, Hashable {
    public var name: String
    /// Nil when the name carries none (`python3.11-env`, `source.tar`).
    public var version: String?

    public init(name: String, version: String?) {
        self.name = name
        self.version = version
    }

    /// Splits like `builtins.parseDrvName`: the version starts after the first `-` that is
    /// followed by a character other than a letter. `hop-seed-python-3.11.2` gives
    /// hop-seed-python 3.11.2; `python3.11-env` has no version. A trailing output name is
    /// dropped from the version (`openssl-3.0.8-dev` gives openssl 3.0.8).
    public init(parsing drvName: String) {
        if let file = Self.fileName(drvName) {
            self = file
            return
        }
        let chars = Array(drvName)
        for i in chars.indices where chars[i] == "-" && i + 1 < chars.count && !Self.isASCIILetter(chars[i + 1]) {
            let name = String(chars[..<i])
            var version = String(chars[(i + 1)...])
            for suffix in Self.outputNames where version.hasSuffix("-" + suffix) && version.count > suffix.count + 1 {
                version.removeLast(suffix.count + 1)
                break
            }
            self.init(name: name, version: version)
            return
        }
        self.init(name: drvName, version: nil)
    }

    /// The name of a store path, preferring what its derivation declares: `pname` (and
    /// `version`) from `derivation` when known, else the path's name parsed as above.
    public init(storePath: String, derivation: DerivationName? = nil) {
        let parsed = PackageName(parsing: Self.storePathName(storePath))
        if let pname = derivation?.pname, !pname.isEmpty {
            let v = derivation?.version.flatMap { $0.isEmpty ? nil : $0 }
            self.init(name: pname, version: v)
        } else if let v = derivation?.version, !v.isEmpty {
            self.init(name: parsed.name, version: v)
        } else {
            self = parsed
        }
    }

    /// Nix uses C's `isalpha` in the "C" locale: ASCII letters only.
    static func isASCIILetter(_ c: Character) -> Bool { c.isASCII && c.isLetter }

    /// `/nix/store/<32-char hash>-<name>` → `<name>`; anything else → its last path component.
    public static func storePathName(_ path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let chars = Array(base.utf8)
        guard chars.count > 33, chars[32] == UInt8(ascii: "-"),
              chars[..<32].allSatisfy({ NixBase32.alphabet.contains($0) }) else { return base }
        return String(base.dropFirst(33))
    }

    /// Output names Nix packages commonly have; a version ending in `-<one of these>` names
    /// an output of a multi-output derivation, not a version.
    static let outputNames = ["bin", "dev", "lib", "out", "man", "doc", "devdoc", "info", "static", "debug",
                              "py", "python", "modules", "terminfo", "share", "examples", "tests", "data", "dist"]

    /// File names: store paths that are single files added to the store (sources, scripts).
    static let fileExtensions = [".tar", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tgz", ".tbz2", ".txz",
                                 ".zip", ".gem", ".jar", ".crate", ".nupkg", ".patch", ".diff", ".sh", ".py",
                                 ".nix", ".json", ".toml", ".lock", ".txt", ".conf", ".drv"]

    /// A wheel (`NAME-VERSION(-BUILD)?-PY-ABI-PLATFORM.whl`) gives its name and version; other
    /// files give their whole name and no version. Nil when `s` does not look like a file.
    static func fileName(_ s: String) -> PackageName? {
        if s.hasSuffix(".whl") {
            let parts = s.dropLast(4).split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 5 || parts.count == 6, parts.allSatisfy({ !$0.isEmpty }) {
                return PackageName(name: String(parts[0]), version: String(parts[1]))
            }
            return PackageName(name: s, version: nil)
        }
        if fileExtensions.contains(where: { s.hasSuffix($0) && s.count > $0.count }) {
            return PackageName(name: s, version: nil)
        }
        return nil
    }
}
