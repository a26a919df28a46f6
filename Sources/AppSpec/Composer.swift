import Foundation
import HopBasics

/// Checks a PHP app's composer files before anything is built: hop never runs composer (no network),
/// so what the app runs is its committed `vendor/`, and that must be what `composer.lock` says.
///
/// - `composer.json`'s `require`: `php` must accept hop's PHP (8.2), every `ext-NAME` must be an
///   extension hop's PHP has, and every package must be in `composer.lock`.
/// - every locked package must be installed in `vendor/` at the locked version
///   (`vendor/composer/installed.json`, which composer writes on install).
///
/// Pure: the caller reads the files (nil = absent). Errors are located at the offending entry.
public enum ComposerCheck {
    public static let phpVersion = (major: 8, minor: 2, patch: 99)

    public static func check(json: String, jsonFile: String, lock: String?, lockFile: String, installed: String?, installedFile: String) throws {
        let manifest = try object(json, file: jsonFile)
        let require = manifest["require"] as? [String: Any] ?? [:]
        var packages: [String] = []
        for (name, value) in require.sorted(by: { $0.key < $1.key }) {
            let at = locate(json, key: name, file: jsonFile)
            guard let constraint = value as? String else {
                throw HopError.invalid("composer.json `require` `\(name)` is not a version constraint string", at: at, hint: "e.g. `\"^1.2\"`")
            }
            let lower = name.lowercased()
            if lower == "php" || lower == "php-64bit" {
                guard satisfies(constraint) else {
                    throw HopError.invalid("composer.json requires PHP `\(constraint)`; hop's PHP is \(phpVersion.major).\(phpVersion.minor)", at: at,
                                           hint: "hop's PHP seed is Debian 12's PHP 8.2; widen the constraint if the app runs on it")
                }
            } else if lower.hasPrefix("ext-") {
                let ext = String(lower.dropFirst(4))
                guard phpModuleExtensions.contains(ext) || phpBuiltinExtensions.contains(ext) else {
                    let all = phpModuleExtensions + phpBuiltinExtensions
                    let fix = closestName(to: ext, among: all).map { "did you mean `ext-\($0)`? " } ?? ""
                    throw HopError.invalid("composer.json requires the PHP extension `\(ext)`, which hop's PHP does not have", at: at,
                                           hint: fix + "hop's PHP 8.2 has " + phpModuleExtensions.joined(separator: ", "))
                }
            } else if lower.hasPrefix("lib-") || lower == "composer-plugin-api" || lower == "composer-runtime-api" || lower == "composer" {
                continue
            } else {
                packages.append(lower)
            }
        }
        guard let lock else {
            if packages.isEmpty { return }
            throw HopError.invalid("composer.json requires \(packages.joined(separator: ", ")) but the app has no composer.lock",
                                   at: locate(json, key: "require", file: jsonFile),
                                   hint: "run `composer install` where you have network, and commit composer.lock and vendor/")
        }
        let locked = try object(lock, file: lockFile)
        var versions: [String: String] = [:]
        for section in ["packages", "packages-dev"] {
            guard let list = locked[section] else { continue }
            guard let entries = list as? [[String: Any]] else {
                throw HopError.invalid("composer.lock `\(section)` is not a list of packages", at: locate(lock, key: section, file: lockFile),
                                       hint: "regenerate it with `composer update --lock`")
            }
            for e in entries {
                guard let n = e["name"] as? String, let v = e["version"] as? String else {
                    throw HopError.invalid("composer.lock has a package without a name or version", at: locate(lock, key: section, file: lockFile),
                                           hint: "regenerate it with `composer update --lock`")
                }
                if section == "packages" { versions[n.lowercased()] = v }
            }
        }
        for p in packages where versions[p] == nil {
            throw HopError.invalid("composer.json requires `\(p)`, which composer.lock does not lock", at: locate(json, key: p, file: jsonFile),
                                   hint: "composer.lock is out of date: run `composer update \(p)` and commit composer.lock and vendor/")
        }
        guard !versions.isEmpty else { return }
        guard let installed else {
            throw HopError.invalid("composer.lock locks \(versions.count) package\(versions.count == 1 ? "" : "s") but vendor/ is missing (no vendor/composer/installed.json)",
                                   at: SourceLocation(file: lockFile, line: 1, column: 1),
                                   hint: "hop builds offline and never runs composer: run `composer install --no-dev` and commit vendor/")
        }
        let inst = try JSONSerialization.jsonObject(with: Data(installed.utf8))
        // Composer 2: {"packages": [...]}; composer 1: a bare list.
        let list = (inst as? [String: Any])?["packages"] as? [[String: Any]] ?? inst as? [[String: Any]] ?? []
        var present: [String: String] = [:]
        for e in list { if let n = e["name"] as? String, let v = e["version"] as? String { present[n.lowercased()] = v } }
        for (name, version) in versions.sorted(by: { $0.key < $1.key }) {
            let at = locate(lock, value: name, file: lockFile)
            guard let have = present[name] else {
                throw HopError.invalid("composer.lock locks `\(name)` \(version), which vendor/ does not have", at: at,
                                       hint: "run `composer install --no-dev` and commit vendor/ (see \(installedFile))")
            }
            guard have == version else {
                throw HopError.invalid("composer.lock locks `\(name)` \(version) but vendor/ has \(have)", at: at,
                                       hint: "vendor/ and composer.lock disagree: run `composer install` and commit both")
            }
        }
    }

    static func object(_ text: String, file: String) throws -> [String: Any] {
        do {
            guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw HopError.invalid("\((file as NSString).lastPathComponent) is not a JSON object", at: SourceLocation(file: file, line: 1, column: 1),
                                       hint: "it must start with `{`")
            }
            return o
        } catch let e as HopError { throw e } catch {
            // Foundation says where ("around line L, column C"); keep that location.
            let d = "\(error)"
            var line = 1, column = 1
            if let r = d.range(of: #"line ([0-9]+), column ([0-9]+)"#, options: .regularExpression) {
                let nums = d[r].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                if nums.count == 2 { line = nums[0]; column = nums[1] }
            }
            throw HopError.invalid("\((file as NSString).lastPathComponent) is not valid JSON", at: SourceLocation(file: file, line: line, column: column),
                                   hint: "fix the syntax (`composer validate` shows it too)")
        }
    }

    /// Where `"key":` (or a `"value"`) first appears in `text`, as file:line:col.
    static func locate(_ text: String, key: String? = nil, value: String? = nil, file: String) -> SourceLocation {
        let needle = key.map { "\"\($0)\"" } ?? value.map { "\"\($0)\"" } ?? ""
        guard let r = text.range(of: needle, options: .caseInsensitive) else { return SourceLocation(file: file, line: 1, column: 1) }
        let before = text[..<r.lowerBound]
        let line = before.reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
        let column = before.count - (before.lastIndex(of: "\n").map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0) + 1
        return SourceLocation(file: file, line: line, column: column)
    }

    /// Whether PHP `phpVersion` satisfies a composer constraint (`^8.1`, `>=7.4 <8.3`, `8.2.*`, `~8.0`, `||`).
    static func satisfies(_ constraint: String) -> Bool {
        let v = [phpVersion.major, phpVersion.minor, phpVersion.patch]
        func parse(_ s: Substring) -> [Int] { s.split(separator: ".").prefix(3).map { Int($0.filter(\.isNumber)) ?? 0 } }
        func cmp(_ a: [Int], _ b: [Int]) -> Int {
            for i in 0..<3 { let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0; if x != y { return x < y ? -1 : 1 } }
            return 0
        }
        return constraint.components(separatedBy: "||").contains { alternative in
            alternative.split(whereSeparator: { $0 == " " || $0 == "," }).allSatisfy { c in
                var c = c
                if c == "*" { return true }
                if c.hasPrefix("v") { c = c.dropFirst() }
                for op in [">=", "<=", "!=", ">", "<", "==", "="] where c.hasPrefix(op) {
                    let r = cmp(v, parse(c.dropFirst(op.count)))
                    switch op {
                    case ">=": return r >= 0
                    case "<=": return r <= 0 || cmp(Array(v.prefix(parse(c.dropFirst(2)).count)), parse(c.dropFirst(2))) == 0
                    case ">": return r > 0
                    case "<": return r < 0 && cmp(Array(v.prefix(parse(c.dropFirst(1)).count)), parse(c.dropFirst(1))) != 0
                    case "!=": return r != 0
                    default: return cmp(Array(v.prefix(parse(c.dropFirst(op.count)).count)), parse(c.dropFirst(op.count))) == 0
                    }
                }
                if c.hasPrefix("^") || c.hasPrefix("~") {
                    let base = parse(c.dropFirst())
                    guard cmp(v, base) >= 0 else { return false }
                    if c.hasPrefix("^") || base.count <= 2 { return v[0] == base.first }
                    return v[0] == base[0] && v[1] == (base.count > 1 ? base[1] : 0)
                }
                let parts = c.split(separator: ".")
                let fixed = parts.prefix { $0 != "*" && $0 != "x" }.map { Int($0) ?? -1 }
                return Array(v.prefix(fixed.count)) == fixed
            }
        }
    }
}
