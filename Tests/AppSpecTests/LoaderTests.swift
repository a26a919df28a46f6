import Foundation
import HopBasics
import Testing
@testable import AppSpec

@Suite(.tags(.small))
struct LoaderTests {
    @Test func pythonAppWithOnlyAProcfile() throws {
        try withTemporaryDirectory(named: "Flask-Demo") { dir in
            try write(["requirements.txt": "flask\n", "Procfile": "wsgi: app:app\nworker: python w.py\n", "app.py": ""], into: dir)
            let spec = try AppSpecLoader.load(directory: dir, appName: nil)
            #expect(spec.name == "flask-demo")
            #expect(spec.source == .procfile)
            #expect(spec.build.builder == .python)
            #expect(spec.processes.map(\.name) == ["wsgi", "worker"])
        }
    }

    @Test func staticSiteGetsAStaticProcess() throws {
        try withTemporaryDirectory { dir in
            try write(["public/index.html": "<h1>hi</h1>"], into: dir)
            let spec = try AppSpecLoader.load(directory: dir, appName: "site")
            #expect(spec.name == "site")
            #expect(spec.source == .autodetected)
            #expect(spec.build.builder == .static)
            #expect(spec.processes == [AppProcess(name: "static", kind: .static, command: "/:public")])
        }
    }

    @Test func shellAppRunsItsStartScript() throws {
        try withTemporaryDirectory { dir in
            try write(["start.sh": "#!/bin/sh\nexec busybox httpd -f -p $PORT\n"], into: dir, executables: ["start.sh"])
            let spec = try AppSpecLoader.load(directory: dir + "/", appName: nil)
            #expect(spec.name == "app")
            #expect(spec.build.builder == .shell)
            #expect(spec.processes == [AppProcess(name: "web", kind: .web, command: "./start.sh")])
        }
    }

    @Test func hop3TomlWithProcfileAndMetadataId() throws {
        try withTemporaryDirectory { dir in
            try write([
                "hop3.toml": "[metadata]\nid = \"billing\"\n[run]\nstart = \"./serve\"\n[run.workers]\nworker = 2\n",
                "Procfile": "worker: ./work\nprebuild: make assets\n",
                "go.mod": "module billing\n",
            ], into: dir)
            let spec = try AppSpecLoader.load(directory: dir, appName: nil)
            #expect(spec.name == "billing")
            #expect(spec.source == .hop3toml)
            #expect(spec.build.builder == .go)
            #expect(spec.processes == [AppProcess(name: "web", kind: .web, command: "./serve"),
                                       AppProcess(name: "worker", kind: .daemon, command: "./work")])
            #expect(spec.hooks == ["prebuild": "make assets"])
            #expect(spec.run.workers == ["worker": 2])
        }
    }

    @Test func hop3DirectoryComesFirstAsInHop3() throws {
        try withTemporaryDirectory { dir in
            try write(["requirements.txt": "flask\n", "app.py": "",
                       "hop3/hop3.toml": "[metadata]\nid = \"from-hop3-dir\"\n[domains]\nlist = [\"blog.example.org\"]\n",
                       "hop3/Procfile": "wsgi: app:app\n",
                       "hop3.toml": "[metadata]\nid = \"from-root\"\n", "Procfile": "web: python other.py\n"], into: dir)
            let spec = try AppSpecLoader.load(directory: dir, appName: nil)
            #expect(spec.name == "from-hop3-dir" && spec.domains == ["blog.example.org"])
            #expect(spec.processes.map(\.name) == ["wsgi"])
            // An error in it is located in hop3/hop3.toml.
            try write(["hop3/hop3.toml": "[domains]\nnames = [\"a.example.org\"]\nlist = [\"b.example.org\"]\n"], into: dir)
            let error = #expect(throws: HopError.self) { try AppSpecLoader.load(directory: dir, appName: "x") }
            #expect("\(error!)".contains("hop3/hop3.toml:3:") && error!.message.contains("both `names` and `list`"), "\(String(describing: error))")
        }
    }

    @Test func explicitNameWinsOverMetadataId() throws {
        try withTemporaryDirectory { dir in
            try write(["hop3.toml": "[metadata]\nid = \"billing\"\n[build]\nbuilder = \"static\"\n"], into: dir)
            let spec = try AppSpecLoader.load(directory: dir, appName: "billing-staging")
            #expect(spec.name == "billing-staging")
            #expect(spec.metadata.id == "billing")
            #expect(spec.processes == [AppProcess(name: "static", kind: .static, command: "/:.")])
        }
    }

    @Test func directoryNameIsNeverRewritten() throws {
        try withTemporaryDirectory(named: "my app") { dir in
            try write(["index.html": ""], into: dir)
            let error = try #require(throws: HopError.self) { try AppSpecLoader.load(directory: dir, appName: nil) }
            #expect(error.code == .invalidInput)
            #expect(error.location == SourceLocation(file: dir))
            #expect(error.hint?.contains("pass an app name") == true)
        }
    }

    @Test func nothingToDetectIsAnError() throws {
        try withTemporaryDirectory { dir in
            try write(["README.md": "hello"], into: dir)
            let error = try #require(throws: HopError.self) { try AppSpecLoader.load(directory: dir, appName: nil) }
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("cannot tell how to build"))
            #expect(error.location == SourceLocation(file: dir))
            #expect(error.hint?.contains("builder = ") == true)
        }
    }

    @Test func pythonWithNothingToRunIsAnError() throws {
        try withTemporaryDirectory { dir in
            try write(["requirements.txt": "flask\n"], into: dir)
            let error = try #require(throws: HopError.self) { try AppSpecLoader.load(directory: dir, appName: nil) }
            #expect(error.message.contains("nothing to run"))
            #expect(error.hint?.contains("Procfile") == true)
        }
    }

    @Test func missingDirectoryIsNotFound() throws {
        let error = try #require(throws: HopError.self) {
            try AppSpecLoader.load(directory: "/nonexistent/hop-app-\(UUID().uuidString)", appName: nil)
        }
        #expect(error.code == .notFound)
    }

    @Test func invalidUTF8IsReported() throws {
        try withTemporaryDirectory { dir in
            try Data([0x5B, 0xFF, 0x5D]).write(to: URL(fileURLWithPath: dir + "/hop3.toml"))
            let error = try #require(throws: HopError.self) { try AppSpecLoader.load(directory: dir, appName: nil) }
            #expect(error.code == .invalidInput)
            #expect(error.location?.file == dir + "/hop3.toml")
            #expect(error.message.contains("UTF-8"))
        }
    }
}
