import Foundation
import Testing
import HopBasics
import HopCore
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
