import Foundation
@testable import HopStore
@_exported import HopTestSupport

/// A date that is whole milliseconds, so it survives storage exactly.
func millis(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

func sampleBuild(app: String = "web", finishedAt: Date = millis(1_700_000_100_456), tag: String = "a") -> BuildRecord {
    BuildRecord(
        id: 999, app: app,
        outPath: "/nix/store/\(tag)aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-\(app)",
        drvPath: "/nix/store/\(tag)ddddddddddddddddddddddddddddddd-\(app).drv",
        sourceHash: "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
        sourcePath: "/nix/store/\(tag)sssssssssssssssssssssssssssssss-source.tar",
        builder: "python", toolchain: "seed",
        toolchainDetail: #"{"python":"/nix/store/pppppppppppppppppppppppppppppppp-python-3.11"}"#,
        lockJSON: "{\n  \"flask\": \"3.0.0\" , \"ünïcode\": \"✓\"\n}", seedsJSON: #"["python"]"#,
        specJSON: #"{"name":"\#(app)","processes":{"web":"python app.py"}}"#,
        hopVersion: "0.1.0", startedAt: millis(1_700_000_000_123), finishedAt: finishedAt,
        gcRoot: "/var/lib/hop/gcroots/\(app)-\(tag)", closureSize: 123_456_789_012, pathCount: 3)
}

func storePath(_ i: Int, _ name: String = "p") -> String {
    let hash = String(String(i, radix: 32).reversed()).padding(toLength: 32, withPad: "0", startingAt: 0)
    return "/nix/store/\(hash)-\(name)\(i)"
}

/// `n` paths; path i references itself and up to three lower-numbered paths.
func syntheticClosure(_ n: Int, name: String = "p") -> [StorePathInfo] {
    (0..<n).map { i in
        var refs = [storePath(i, name)]
        for d in [1, 7, 31] where i - d >= 0 { refs.append(storePath(i - d, name)) }
        return StorePathInfo(path: storePath(i, name), narHash: "sha256:\(String(repeating: "x", count: 40))\(i)",
                             narSize: Int64(i) * 1024, deriver: i % 3 == 0 ? nil : storePath(i, name) + ".drv",
                             references: refs)
    }
}

/// The closure as `HopDatabase.closure(buildID:)` promises to return it.
func normalized(_ closure: [StorePathInfo]) -> [StorePathInfo] {
    closure.map { var c = $0; c.references = Array(Set(c.references)).sorted(); return c }
        .sorted { $0.path < $1.path }
}

func rowCount(_ db: HopDatabase, _ table: String) throws -> Int64 {
    try db.db.read { try $0.prepare("SELECT COUNT(*) FROM \(table)").rows([]) { try $0.int64(0) }.first ?? -1 }
}
