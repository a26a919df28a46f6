import Foundation
import Testing
import HopBasics
@testable import HopCore
import AppSpec
import HopStore
import HopTestSupport

/// Config changes on an app that is not deployed (no service host needed): limits and keys.
@Suite struct ConfigTests {
    @Test func configHasABoundedSizeAndRefusalChangesNothing() throws {
        try withTemporaryDirectory { dir in
            let ops = Operations(HopContext(home: HopHome(root: dir + "/home")))
            _ = try ops.changeConfig(app: "blog", set: [("SMALL", "1")], unset: [])
            let big = String(repeating: "x", count: Operations.maxConfigBytes)
            #expect(performing: { try ops.changeConfig(app: "blog", set: [("BIG", big)], unset: []) },
                    throws: { ($0 as? HopError)?.code == .invalidInput && ($0 as? HopError)?.message.contains("bytes") == true })
            #expect(try ops.config(app: "blog") == ["SMALL": "1"])
            for key in ["PORT", "1X", "A-B", "", "PATH"] {
                #expect(throws: HopError.self) { try ops.changeConfig(app: "blog", set: [(key, "v")], unset: []) }
            }
            #expect(throws: HopError.self) { try ops.changeConfig(app: "blog", set: [("K", "a\u{0}b")], unset: []) }
            #expect(throws: HopError.self) { try ops.changeConfig(app: "blog", set: [("K", "1")], unset: [], watch: -1) }
            #expect(try ops.config(app: "blog") == ["SMALL": "1"])
            // Values never enter the audit log; keys do.
            let audit = try ops.audit()
            #expect(audit.count == 1 && audit[0].detail.contains("SMALL") && !audit[0].detail.contains("\"1\""))
            // One variable past the kernel's per-string limit, though the whole config would fit.
            let long = String(repeating: "y", count: Operations.maxConfigAssignmentBytes - "LONG=".utf8.count)
            #expect(performing: { try ops.changeConfig(app: "blog", set: [("LONG", long)], unset: []) },
                    throws: { ($0 as? HopError)?.code == .invalidInput && ($0 as? HopError)?.message.contains("one variable") == true })
            _ = try ops.changeConfig(app: "blog", set: [("LONG", String(long.dropLast()))], unset: [])
            _ = try ops.changeConfig(app: "blog", set: [], unset: ["LONG"])
        }
    }
}

/// The merge behind both a rollout's environment file and `hop config`: sources, precedence, and
/// reading without generating.
@Suite struct EnvironmentSourcesTests {
    @Test func sourcesPrecedenceAndReadingGeneratesNothing() throws {
        try withTemporaryDirectory { dir in
            let src = dir + "/blog"
            try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
            try "flask\n".write(toFile: src + "/requirements.txt", atomically: true, encoding: .utf8)
            try "web: python3 app.py\n".write(toFile: src + "/Procfile", atomically: true, encoding: .utf8)
            try """
                [env]
                GREETING = "hello"
                SECRET_KEY = { generate = "hex", length = 16 }
                OVERRIDDEN = { generate = "hex", length = 8 }
                [env.computed]
                SIGNED = "key=${SECRET_KEY}"
                """.write(toFile: src + "/hop3.toml", atomically: true, encoding: .utf8)
            let spec = try AppSpecLoader.load(directory: src, appName: "blog")
            let home = HopHome(root: dir + "/home")
            let ops = Operations(HopContext(home: home))
            _ = try ops.changeConfig(app: "blog", set: [("USER", "me"), ("OVERRIDDEN", "mine")], unset: [])
            let db = try HopDatabase(path: home.database)

            // Reading: nothing generated yet, so neither the secret nor what is computed from it appears, and nothing is stored.
            let read = try AppRuntime.environmentSources(db: db, app: "blog", spec: spec, generate: false)
            #expect(read.map(\.key) == ["OVERRIDDEN", "USER"] && read.allSatisfy { $0.source == "config" }, "\(read)")
            #expect(try db.generatedValues(app: "blog").isEmpty)

            // A rollout generates; config wins over a generated value; the file's lines are the same values.
            let written = try AppRuntime.environmentSources(db: db, app: "blog", spec: spec, generate: true)
            let byKey = Dictionary(uniqueKeysWithValues: written.map { ($0.key, $0) })
            let key = try #require(byKey["SECRET_KEY"]?.value)
            #expect(byKey["SECRET_KEY"]?.source == "generated" && key.count == 16)
            #expect(byKey["SIGNED"]?.source == "computed" && byKey["SIGNED"]?.value == "key=\(key)")
            #expect(byKey["OVERRIDDEN"]?.source == "config" && byKey["OVERRIDDEN"]?.value == "mine")
            #expect(byKey["USER"]?.value == "me" && byKey["GREETING"] == nil, "[env] defaults are in the build, not the file")
            #expect(try AppRuntime.environment(db: db, app: "blog", spec: spec).map { "\($0.key)=\($0.value)" } == written.map { "\($0.key)=\($0.value ?? "")" })
            // Read again: the same values, now that they exist.
            #expect(try AppRuntime.environmentSources(db: db, app: "blog", spec: spec, generate: false) == written)

            // The view: undeployed, so config only (no spec); masked entries never carry a value.
            let view = try ops.environment(app: "blog", reveal: false)
            #expect(view.variables.map(\.key) == ["OVERRIDDEN", "USER"] && view.variables.allSatisfy { !$0.masked && $0.value != nil })
            #expect(EnvironmentEntry(key: "K", value: "v", source: "addon blog-db").isSecret)
            #expect(!EnvironmentEntry(key: "K", value: "v", source: "config").isSecret && !EnvironmentEntry(key: "K", value: "v", source: "hop").isSecret)
            // Revealing is audited; a plain read is not.
            _ = try ops.environment(app: "blog", reveal: true)
            #expect(try ops.audit().filter { $0.action == "config reveal" }.count == 1)
        }
    }
}
