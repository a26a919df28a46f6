import Foundation
import Testing
import HopBasics
@testable import HopStore

/// Occurrences of `needle` in the raw bytes of a file (0 when it does not exist).
func rawCount(_ needle: String, in path: String) -> Int {
    guard let data = FileManager.default.contents(atPath: path) else { return 0 }
    let n = Data(needle.utf8)
    var count = 0
    var start = data.startIndex
    while let r = data.range(of: n, in: start..<data.endIndex) { count += 1; start = r.upperBound }
    return count
}

@Suite("Secrets are encrypted at rest", .tags(.medium))
struct SecretsTests {
    @Test("a config value never reaches hop.db or its WAL in the clear; it reads back; the key file is 0600 and stable")
    func configValuesAreSealed() throws {
        try withTemporaryDirectory { dir in
            let secret = "s3cr3t-" + UUID().uuidString
            let db = try HopDatabase(path: dir + "/hop.db")
            try db.updateConfig(app: "blog", set: [("DB_PASSWORD", secret), ("PLAIN", "x")], unset: [])
            #expect(try db.config(app: "blog").map(\.value) == [secret, "x"])
            for file in ["hop.db", "hop.db-wal", "hop.db-shm"] {
                #expect(rawCount(secret, in: dir + "/" + file) == 0, "\(file) holds the secret")
            }
            // Overwritten and deleted values leave nothing either.
            let next = "n3xt-" + UUID().uuidString
            try db.updateConfig(app: "blog", set: [("DB_PASSWORD", next)], unset: [])
            try db.updateConfig(app: "blog", set: [], unset: ["DB_PASSWORD"])
            try db.db.checkpoint()
            for file in ["hop.db", "hop.db-wal"] {
                #expect(rawCount(next, in: dir + "/" + file) == 0 && rawCount(secret, in: dir + "/" + file) == 0)
            }
            let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/secrets.key")
            #expect((attrs[.posixPermissions] as? Int) == 0o600 && (attrs[.size] as? Int) == 32)
            let key = FileManager.default.contents(atPath: dir + "/secrets.key")
            _ = try HopDatabase(path: dir + "/hop.db")
            #expect(FileManager.default.contents(atPath: dir + "/secrets.key") == key)
        }
    }

    @Test("a value moved to another app's row, or read with another key, does not open")
    func boundToItsPlaceAndKey() throws {
        try withTemporaryDirectory { dir in
            let db = try HopDatabase(path: dir + "/hop.db")
            try db.updateConfig(app: "a", set: [("K", "alpha")], unset: [])
            try db.updateConfig(app: "b", set: [("K", "beta")], unset: [])
            try db.db.execute("UPDATE config SET value = (SELECT value FROM config WHERE app = 'a') WHERE app = 'b'")
            #expect(throws: HopError.self) { try db.config(app: "b") }
            #expect(try db.config(app: "a").first?.value == "alpha")
            // Another host's key.
            try FileManager.default.removeItem(atPath: dir + "/secrets.key")
            let other = try HopDatabase(path: dir + "/hop.db")
            let error = #expect(throws: HopError.self) { try other.config(app: "a") }
            #expect(error?.message.contains("does not decrypt") == true)
            // A key others can read is refused.
            chmod(dir + "/secrets.key", 0o644)
            #expect(throws: HopError.self) { try other.config(app: "a") }
        }
    }

    @Test("values written before encryption are sealed when the database opens, leaving no plaintext")
    func legacyValuesAreSealedOnOpen() throws {
        try withTemporaryDirectory { dir in
            let legacy = "legacy-" + UUID().uuidString
            do {
                let db = try HopDatabase(path: dir + "/hop.db")
                try db.db.execute("INSERT INTO config (app, key, value) VALUES ('old', 'TOKEN', '\(legacy)')")
                try db.db.checkpoint()
                #expect(rawCount(legacy, in: dir + "/hop.db") == 1)
            }
            let db = try HopDatabase(path: dir + "/hop.db")
            #expect(try db.config(app: "old").first?.value == legacy)
            for file in ["hop.db", "hop.db-wal"] { #expect(rawCount(legacy, in: dir + "/" + file) == 0, "\(file)") }
        }
    }

    @Test("the config digest is keyed: equal values give equal digests on one host, another key gives another")
    func keyedDigest() throws {
        try withTemporaryDirectory { dir in
            let box = try SecretBox.load(directory: dir)
            let d = box.digest(Data("A=1\n".utf8))
            #expect(d == box.digest(Data("A=1\n".utf8)) && d != box.digest(Data("A=2\n".utf8)))
            let other = try withTemporaryDirectory { try SecretBox.load(directory: $0) }
            #expect(other.digest(Data("A=1\n".utf8)) != d)
        }
    }
}
