import Foundation
import Testing
import HopBasics
@testable import AppSpec

/// Links in a tenant's tree must stay in it; one that leaves is named, its target never shown.
@Suite struct TreeLinksTests {
    func tree(_ body: (String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hop-links-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/sub/deep", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "web: x\n".write(toFile: dir + "/Procfile.real", atomically: true, encoding: .utf8)
        try body(dir)
    }

    @Test("links inside the tree pass: relative, chained, to a directory, dangling but inside")
    func inside() throws {
        try tree { dir in
            let fm = FileManager.default
            try fm.createSymbolicLink(atPath: dir + "/Procfile", withDestinationPath: "Procfile.real")
            try fm.createSymbolicLink(atPath: dir + "/sub/up", withDestinationPath: "..")
            try fm.createSymbolicLink(atPath: dir + "/sub/deep/chain", withDestinationPath: "../up/Procfile")
            try fm.createSymbolicLink(atPath: dir + "/later", withDestinationPath: "sub/not-yet")
            try TreeLinks.refuseLinksLeavingTree(dir)
        }
    }

    @Test("links out of the tree are refused naming the link only: absolute, climbing, through an inner link, dangling outside",
          arguments: [("Procfile", "/etc/shadow"), ("hop3.toml", "../../../etc/passwd"), ("sub/deep/x", "../../up/../.."), ("gone", "/nonexistent/key")])
    func outside(_ link: String, _ target: String) throws {
        try tree { dir in
            try FileManager.default.createSymbolicLink(atPath: dir + "/sub/up", withDestinationPath: "..")
            try FileManager.default.createSymbolicLink(atPath: dir + "/" + link, withDestinationPath: target)
            let e = #expect(throws: HopError.self) { try TreeLinks.refuseLinksLeavingTree(dir) }
            #expect(e?.code == .invalidInput && e?.message == "`\(link)` is a symbolic link that leaves the app's tree", "\(String(describing: e))")
            #expect(e?.message.contains(target) == false && e?.hint?.contains(target) == false)
        }
    }

    @Test("a link through an inner link that climbs out is caught (lexical checks miss it)")
    func throughInnerLink() throws {
        try tree { dir in
            // sub/up → the tree's root; `escape` = sub/up/.. → the tree's parent.
            try FileManager.default.createSymbolicLink(atPath: dir + "/sub/up", withDestinationPath: "..")
            try FileManager.default.createSymbolicLink(atPath: dir + "/escape", withDestinationPath: "sub/up/..")
            #expect(throws: HopError.self) { try TreeLinks.refuseLinksLeavingTree(dir) }
        }
    }

    @Test("names that catch others' traffic are broad: whole-TLD wildcards, localhost, IP literals")
    func broadDomains() {
        for d in ["localhost", "*.test", "*.com", "127.0.0.1", "10.0.0.7", "1.2.3"] { #expect(DomainRules.isBroad(d), "\(d)") }
        for d in ["app.example.org", "*.example.org", "app.localhost", "a1.example.org", "example.org"] { #expect(!DomainRules.isBroad(d), "\(d)") }
    }
}
