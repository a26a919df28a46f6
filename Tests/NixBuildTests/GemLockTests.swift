import Foundation
import Testing
import HopBasics
import HopTestSupport
@testable import NixBuild

@Suite("Gemfile.lock against vendor/cache")
struct GemLockTests {
    let lock = """
    GEM
      remote: https://rubygems.org/
      specs:
        rack (2.2.22)
        tiny (1.0.0)
          rack (~> 2.2)

    PLATFORMS
      x86_64-linux

    DEPENDENCIES
      tiny

    """

    @Test func everyLockedGemIsHashedFromTheCache() throws {
        try withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/cache", withIntermediateDirectories: true)
            try "rack bytes".write(toFile: dir + "/cache/rack-2.2.22.gem", atomically: true, encoding: .utf8)
            try "tiny bytes".write(toFile: dir + "/cache/tiny-1.0.0.gem", atomically: true, encoding: .utf8)
            let gems = try Locker.gems(gemfileLock: lock, file: "app/Gemfile.lock", cache: dir + "/cache")
            #expect(gems.map(\.file) == ["rack-2.2.22.gem", "tiny-1.0.0.gem"])
            #expect(gems[0].sha256 == (try sha256Hex(file: dir + "/cache/rack-2.2.22.gem")))

            // A gem missing from the cache: located at its spec line.
            try FileManager.default.removeItem(atPath: dir + "/cache/tiny-1.0.0.gem")
            let missing = #expect(throws: HopError.self) { try Locker.gems(gemfileLock: lock, file: "app/Gemfile.lock", cache: dir + "/cache") }
            #expect(missing?.location?.description == "app/Gemfile.lock:5:5" && missing?.code == .invalidInput, "\(String(describing: missing))")

            // CHECKSUMS (Bundler 2.5+) that the cached file does not match.
            try "tiny bytes".write(toFile: dir + "/cache/tiny-1.0.0.gem", atomically: true, encoding: .utf8)
            let withSums = lock + "CHECKSUMS\n  rack (2.2.22) sha256=\(String(repeating: "0", count: 64))\n  tiny (1.0.0)\n"
            let mismatch = #expect(throws: HopError.self) { try Locker.gems(gemfileLock: withSums, file: "app/Gemfile.lock", cache: dir + "/cache") }
            #expect(mismatch?.message.contains("CHECKSUMS") == true && mismatch?.location?.description == "app/Gemfile.lock:4:5", "\(String(describing: mismatch))")
        }
    }
}

@Suite("Python projects hop builds as packages")
struct ProjectPackageTests {
    @Test func onlySetuptoolsProjectsAreBuiltAndOthersAreALocatedError() throws {
        try withTemporaryDirectory { dir in
            #expect(try Locker.projectIsPackage(appDir: dir) == false, "no pyproject.toml: not a package")
            try "[project]\nname = \"x\"\ndependencies = []\n".write(toFile: dir + "/pyproject.toml", atomically: true, encoding: .utf8)
            #expect(try Locker.projectIsPackage(appDir: dir) == false, "no [build-system]: the tree runs as it is")
            try "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"x\"\n"
                .write(toFile: dir + "/pyproject.toml", atomically: true, encoding: .utf8)
            #expect(try Locker.projectIsPackage(appDir: dir))
            try "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"x\"\n"
                .write(toFile: dir + "/pyproject.toml", atomically: true, encoding: .utf8)
            #expect(try Locker.projectIsPackage(appDir: dir) == false, "another backend, flat tree: runs as it is")
            try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
            let e = #expect(throws: HopError.self) { try Locker.projectIsPackage(appDir: dir) }
            #expect(e?.location == SourceLocation(file: dir + "/pyproject.toml", line: 3, column: 17) && e?.code == .invalidInput, "\(String(describing: e))")
        }
    }
}
