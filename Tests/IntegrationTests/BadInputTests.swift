import Foundation
import Testing
import HopBasics

let brokenRoot = repoRoot + "/fixtures/broken"

func brokenCases() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: brokenRoot)) ?? []).sorted()
}

@Suite("Bad input: located error, exit 2, nothing written", .tags(.integration), .serialized)
struct BadInputTests {
    @Test("there are at least 20 malformed-metadata fixtures")
    func enoughCases() {
        #expect(brokenCases().count >= 20)
    }

    @Test("each malformed app gives file:line:col, a hint, exit 2, and leaves no store path, DB or HOP_HOME",
          arguments: brokenCases())
    func malformed(name: String) throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let before = storeListing()
            let r = try hop(["build", brokenRoot + "/" + name, "--app", "broken-app"], home: home)
            #expect(r.status == 2, "exit \(r.status): \(r.stderr)")
            // file:line:col: error: …  then a hint saying what to do.
            let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(first.range(of: #"^[^:\s]+:[0-9]+:[0-9]+: error: \S"#, options: .regularExpression) != nil, "not located: \(r.stderr)")
            #expect(r.stderr.contains("\n  hint: "), "no hint: \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: home.root), "HOP_HOME was created")
            #expect(storeListing() == before, "the store changed")
        }
    }

    @Test("hostile app names are refused before anything is written",
          arguments: ["a/b", "..", "has space", "semi;colon", "$(touch x)", "back`tick`", String(repeating: "a", count: 200),
                      "Upper", "аpp", "new\nline", ""])
    func hostileNames(name: String) throws {
        try withTemporaryDirectory { dir in
            let home = HopHome(root: dir + "/home")
            let before = storeListing()
            let r = try hop(["build", fixtures + "/static-site", "--app", name], home: home)
            #expect(r.status == 2, "exit \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("error:"))
            #expect(!FileManager.default.fileExists(atPath: home.root))
            #expect(storeListing() == before)
        }
    }

    @Test("usage errors exit 2 too", arguments: [["build"], ["seed", "import", "nonsense"], ["frobnicate"], ["build", "/nonexistent/dir"]])
    func usage(args: [String]) throws {
        try withTemporaryDirectory { dir in
            let r = try hop(args, home: HopHome(root: dir + "/home"))
            #expect(r.status == 2, "exit \(r.status): \(r.stderr)")
            #expect(!r.stderr.isEmpty)
        }
    }
}
