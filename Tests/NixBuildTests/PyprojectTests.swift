import Foundation
import Testing
import HopBasics
@testable import NixBuild

@Suite struct PyprojectTests {
    @Test func pep621Dependencies() throws {
        let reqs = try Locker.pyprojectRequirements("[project]\nname = \"x\"\ndependencies = [\"flask>=3.0\", \"redis[hiredis]~=5.0\"]\n", file: "pyproject.toml")
        #expect(reqs == ["flask>=3.0", "redis[hiredis]~=5.0"])
    }

    @Test func poetryDependenciesAreTranslated() throws {
        let text = """
            [tool.poetry.dependencies]
            python = "^3.11"
            flask = "^3.0"
            zero = "^0.2.3"
            tilde = "~1.4"
            any = "*"
            pinned = "2.1"
            ranged = ">=1,<3"
            withextras = { version = "^2", extras = ["a", "b"] }
            """
        #expect(try Locker.pyprojectRequirements(text, file: "pyproject.toml") ==
                ["flask>=3.0,<4", "zero>=0.2.3,<0.3", "tilde>=1.4,<1.5", "any", "pinned==2.1", "ranged>=1,<3", "withextras[a,b]>=2,<3"])
    }

    @Test(arguments: [
        ("[project]\ndependencies = \"flask\"", 2, 16, "must be an array"),
        ("[tool.poetry.dependencies]\nlib = { git = \"https://example.org/lib.git\" }", 2, 7, "path, git or URL"),
        ("[tool.poetry.dependencies]\nlib = \"latest\"", 2, 7, "not a Poetry version constraint"),
        ("[project\n", 1, 1, ""),
    ])
    func badPyprojectIsLocated(_ text: String, _ line: Int, _ column: Int, _ says: String) {
        do {
            _ = try Locker.pyprojectRequirements(text, file: "pyproject.toml")
            Issue.record("accepted \(text)")
        } catch let e as HopError {
            #expect(e.code == .invalidInput && e.location?.file == "pyproject.toml" && e.location?.line == line, "\(e)")
            if !says.isEmpty { #expect(e.location?.column == column && e.message.contains(says), "\(e)") }
        } catch { Issue.record("\(error)") }
    }

    @Test func noDependenciesIsEmpty() throws {
        #expect(try Locker.pyprojectRequirements("[build-system]\nrequires = [\"hatchling\"]\n", file: "pyproject.toml").isEmpty)
    }

    @Test func uvLockPinsReachablePackagesWithTheirHashesAndMarkers() throws {
        let h = { (c: Character) in "sha256:" + String(repeating: c, count: 64) }
        let text = """
            version = 1
            [[package]]
            name = "app"
            version = "0.1.0"
            source = { virtual = "." }
            dependencies = [{ name = "a" }, { name = "winonly", marker = "sys_platform == 'win32'" }]
            [[package]]
            name = "a"
            version = "1.0"
            dependencies = [{ name = "b" }]
            wheels = [{ url = "x", hash = "\(h("a"))" }]
            sdist = { url = "y", hash = "\(h("s"))" }
            [[package]]
            name = "b"
            version = "2.0"
            wheels = [{ url = "x", hash = "\(h("b"))" }]
            [[package]]
            name = "winonly"
            version = "3.0"
            wheels = [{ url = "x", hash = "\(h("w"))" }]
            [[package]]
            name = "unreached"
            version = "4.0"
            wheels = [{ url = "x", hash = "\(h("u"))" }]
            """
        #expect(try Locker.uvLockRequirements(text, file: "uv.lock") == [
            "a==1.0 --hash=\(h("a")) --hash=\(h("s"))",
            "b==2.0 --hash=\(h("b"))",
            "winonly==3.0 ; sys_platform == 'win32' --hash=\(h("w"))",
        ])
        #expect(throws: HopError.self) { try Locker.uvLockRequirements("version = 1\n", file: "uv.lock") }
    }

    @Test func poetryLockPinsFromTheProjectsDependencies() throws {
        let h = { (c: Character) in "sha256:" + String(repeating: c, count: 64) }
        let lock = """
            [[package]]
            name = "A_Pkg"
            version = "1.0"
            files = [{file = "a.whl", hash = "\(h("a"))"}]

            [package.dependencies]
            b = ">=1"
            win = {version = "*", markers = "platform_system == \\"Windows\\""}
            opt = {version = "*", optional = true}

            [[package]]
            name = "b"
            version = "2.0"
            files = [{file = "b.whl", hash = "\(h("b"))"}, {file = "b.tar.gz", hash = "\(h("c"))"}]

            [[package]]
            name = "win"
            version = "3.0"
            files = [{file = "w.whl", hash = "\(h("w"))"}]

            [[package]]
            name = "opt"
            version = "4.0"
            files = [{file = "o.whl", hash = "\(h("o"))"}]
            """
        let pyproject = "[tool.poetry.dependencies]\npython = \"^3.11\"\na-pkg = \"^1.0\"\n"
        #expect(try Locker.poetryLockRequirements(lock, file: "poetry.lock", pyproject: pyproject) == [
            "A_Pkg==1.0 --hash=\(h("a"))",
            "b==2.0 --hash=\(h("b")) --hash=\(h("c"))",
            "win==3.0 ; platform_system == \"Windows\" --hash=\(h("w"))",
        ])
        #expect(throws: HopError.self) { try Locker.poetryLockRequirements(lock, file: "poetry.lock", pyproject: "[tool.poetry.dependencies]\nmissing = \"*\"\n") }
    }
}
