import Testing
import HopBasics
@testable import AppSpec

@Suite("composer.json / composer.lock / vendor checks")
struct ComposerTests {
    let json = """
    {
        "require": {
            "php": ">=8.1",
            "ext-mbstring": "*",
            "acme/lib": "^1.0"
        }
    }
    """
    let lock = """
    {
        "packages": [
            { "name": "acme/lib", "version": "1.2.0" }
        ]
    }
    """
    let installed = #"{"packages": [{"name": "acme/lib", "version": "1.2.0"}]}"#

    func refusal(json: String? = nil, lock: String?? = .some(nil), installed: String?? = .some(nil)) -> HopError? {
        do {
            try ComposerCheck.check(json: json ?? self.json, jsonFile: "app/composer.json",
                                    lock: lock ?? self.lock, lockFile: "app/composer.lock",
                                    installed: installed ?? self.installed, installedFile: "app/vendor/composer/installed.json")
            return nil
        } catch let e as HopError { return e } catch { return HopError(.environment, "\(error)") }
    }

    @Test func consistentFilesPass() {
        #expect(refusal(lock: .some(lock), installed: .some(installed)) == nil)
    }

    @Test func eachMismatchIsALocatedRefusal() throws {
        // No lock although packages are required.
        let noLock = try #require(refusal(lock: .some(nil)))
        #expect(noLock.message.contains("no composer.lock") && noLock.location?.description == "app/composer.json:2:5", "\(noLock)")
        // Locked, but vendor/ missing.
        let noVendor = try #require(refusal(lock: .some(lock), installed: .some(nil)))
        #expect(noVendor.message.contains("vendor/ is missing"))
        // vendor/ has another version.
        let other = try #require(refusal(lock: .some(lock), installed: .some(installed.replacingOccurrences(of: "1.2.0", with: "1.1.0"))))
        #expect(other.message.contains("vendor/ has 1.1.0") && (other.location?.description ?? "").hasPrefix("app/composer.lock:3:"), "\(other)")
        // A requirement the lock does not have.
        let stale = try #require(refusal(json: json.replacingOccurrences(of: "\"acme/lib\"", with: "\"acme/other\""), lock: .some(lock), installed: .some(installed)))
        #expect(stale.message.contains("does not lock") && stale.location?.description == "app/composer.json:5:9", "\(stale)")
        // An extension hop's PHP lacks, with a suggestion.
        let ext = try #require(refusal(json: json.replacingOccurrences(of: "ext-mbstring", with: "ext-mbstrng"), lock: .some(lock), installed: .some(installed)))
        #expect(ext.message.contains("mbstrng") && (ext.hint ?? "").contains("ext-mbstring"), "\(ext)")
        // A PHP version hop does not have.
        let php = try #require(refusal(json: json.replacingOccurrences(of: ">=8.1", with: "^8.3"), lock: .some(lock), installed: .some(installed)))
        #expect(php.message.contains("^8.3") && php.location?.description == "app/composer.json:3:9", "\(php)")
        // Broken JSON, located where Foundation says.
        let broken = try #require(refusal(json: "{\n  \"require\": {,\n}", lock: .some(lock), installed: .some(installed)))
        #expect(broken.message.contains("not valid JSON") && broken.code == .invalidInput, "\(broken)")
    }

    @Test(arguments: [(">=8.1", true), ("^8.0", true), ("^8.3", false), ("~8.2.0", true), ("8.2.*", true), (">=7.4 <8.2", false),
                      ("^7.4 || ^8.0", true), ("*", true), ("<8.0", false), (">=8.0,<8.3", true)])
    func phpConstraints(_ constraint: String, _ ok: Bool) {
        #expect(ComposerCheck.satisfies(constraint) == ok, "\(constraint)")
    }
}
