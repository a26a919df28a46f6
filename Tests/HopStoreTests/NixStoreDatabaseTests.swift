import Foundation
import Testing
import HopBasics
@testable import HopStore

/// The reader's logic on a file with Nix's schema (the integration suite compares it with
/// `nix path-info` on the real store).
@Suite(.tags(.medium))
struct NixStoreDatabaseTests {
    static let schema = """
        CREATE TABLE ValidPaths (id integer primary key autoincrement not null, path text unique not null, hash text not null,
          registrationTime integer not null, deriver text, narSize integer, ultimate integer, sigs text, ca text);
        CREATE TABLE Refs (referrer integer not null, reference integer not null, primary key (referrer, reference));
        """

    func store(_ dir: String) throws -> String {
        let path = dir + "/db.sqlite"
        let db = try Database(path: path)
        try db.execute(Self.schema)
        let h = { (c: Character) in "sha256:" + String(repeating: c, count: 64) }
        try db.execute("""
            INSERT INTO ValidPaths (id, path, hash, registrationTime, deriver, narSize) VALUES
              (1, '/nix/store/a-app', '\(h("a"))', 0, '/nix/store/x-app.drv', 100),
              (2, '/nix/store/b-lib', '\(h("b"))', 0, '', 20),
              (3, '/nix/store/c-libc', '\(h("c"))', 0, NULL, 30),
              (4, '/nix/store/d-other', '\(h("d"))', 0, NULL, 40);
            INSERT INTO Refs VALUES (1, 2), (1, 1), (2, 3), (3, 3), (4, 3);
            """)
        return path
    }

    @Test("the closure follows references transitively, once each, sorted; hashes in SRI form; an empty deriver is none")
    func closure() throws {
        try withTemporaryDirectory { dir in
            let path = try store(dir)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let nix = try NixStoreDatabase(path: path)
            let c = try nix.closure(of: ["/nix/store/a-app"])
            #expect(c.map(\.path) == ["/nix/store/a-app", "/nix/store/b-lib", "/nix/store/c-libc"])
            #expect(c[0].references == ["/nix/store/a-app", "/nix/store/b-lib"])
            #expect(c[0].deriver == "/nix/store/x-app.drv" && c[1].deriver == nil && c[2].deriver == nil)
            #expect(c[0].narSize == 100)
            #expect(c[0].narHash == "sha256-" + Data(repeating: 0xaa, count: 32).base64EncodedString())
            #expect(try nix.closure(of: ["/nix/store/d-other", "/nix/store/b-lib"]).map(\.path)
                    == ["/nix/store/b-lib", "/nix/store/c-libc", "/nix/store/d-other"])
            #expect(try nix.validPaths(among: ["/nix/store/a-app", "/nix/store/z-gone"]) == ["/nix/store/a-app"])
            #expect(throws: HopError.self) { try nix.closure(of: ["/nix/store/z-gone"]) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the reader wrote to Nix's database")
        }
    }

    @Test("a file without Nix's tables is refused; an unknown hash form is an error, not a guess")
    func refusals() throws {
        try withTemporaryDirectory { dir in
            let other = try Database(path: dir + "/other.db")
            try other.execute("CREATE TABLE t (x)")
            #expect(throws: HopError.self) { try NixStoreDatabase(path: dir + "/other.db") }
            #expect(throws: HopError.self) { try NixStoreDatabase(path: dir + "/missing.db") }
            #expect(throws: HopError.self) { try NixStoreDatabase.sri("sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h") }
            #expect(throws: HopError.self) { try NixStoreDatabase.sri("md5:00") }
        }
    }
}
