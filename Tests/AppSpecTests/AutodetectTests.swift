import Testing
@testable import AppSpec

@Suite(.tags(.small))
struct AutodetectTests {
    struct Tree: Sendable, CustomTestStringConvertible {
        var files: Set<String>
        var executables: Set<String> = []
        var builder: Builder?
        var testDescription: String { files.sorted().joined(separator: ",") + " → " + (builder?.rawValue ?? "nil") }
    }

    static let trees: [Tree] = [
        Tree(files: [], builder: nil),
        Tree(files: ["README.md", "LICENSE"], builder: nil),
        Tree(files: ["requirements.txt"], builder: .python),
        Tree(files: ["pyproject.toml", "uv.lock"], builder: .python),
        Tree(files: ["pyproject.toml", "poetry.lock"], builder: .python),
        Tree(files: ["pyproject.toml"], builder: .python),
        Tree(files: ["package.json", "index.html", "public/"], builder: .node),
        Tree(files: ["go.mod", "go.sum"], builder: .go),
        Tree(files: ["main.go"], builder: .go),
        Tree(files: ["default.nix", "requirements.txt", "package.json"], builder: .nix),
        Tree(files: ["requirements.txt", "package.json", "main.go"], builder: .python),
        Tree(files: ["package.json", "go.mod"], builder: .node),
        Tree(files: ["start.sh"], executables: ["start.sh"], builder: .shell),
        Tree(files: ["run", "index.html"], executables: ["run"], builder: .shell),
        Tree(files: ["start.sh"], builder: nil),
        Tree(files: ["go.mod", "start"], executables: ["start"], builder: .go),
        Tree(files: ["index.html"], builder: .static),
        Tree(files: ["public/"], builder: .static),
        Tree(files: ["public"], builder: nil),
        Tree(files: ["vendor.go/"], builder: nil),
        Tree(files: ["default.nix/"], builder: nil),
    ]

    @Test(arguments: trees)
    func detectsTheBuilder(_ tree: Tree) {
        #expect(detectBuilder(files: tree.files, executables: tree.executables) == tree.builder)
    }

    @Test func defaultProcessesForAppsWithoutAProcfile() {
        #expect(defaultProcesses(builder: .static, files: ["public/", "index.html"], executables: [])
            == [AppProcess(name: "static", kind: .static, command: "/:public")])
        #expect(defaultProcesses(builder: .static, files: ["index.html"], executables: [])
            == [AppProcess(name: "static", kind: .static, command: "/:.")])
        #expect(defaultProcesses(builder: .shell, files: ["run.sh", "start.sh"], executables: ["run.sh", "start.sh"])
            == [AppProcess(name: "web", kind: .web, command: "./start.sh")])
        #expect(defaultProcesses(builder: .python, files: ["requirements.txt"], executables: []).isEmpty)
    }

    @Test("a Node app with no Procfile starts as `npm start` would: scripts.start, else server.js, else main")
    func nodeStart() {
        #expect(nodeStartCommand(package: ["scripts": ["start": "node app.js"], "main": "index.js"], files: ["app.js", "index.js", "server.js"]) == "npm start")
        #expect(nodeStartCommand(package: ["scripts": ["start": "  "], "main": "index.js"], files: ["index.js", "server.js"]) == "node server.js")
        #expect(nodeStartCommand(package: ["main": "lib/index.js"], files: ["lib/index.js"]) == "node lib/index.js")
        #expect(nodeStartCommand(package: ["main": "lib/index.js"], files: []) == nil, "a main that is not in the tree")
        #expect(nodeStartCommand(package: ["main": "a.js; rm -rf /"], files: ["a.js; rm -rf /"]) == nil, "no shell in a main")
        #expect(nodeStartCommand(package: [:], files: ["index.js"]) == nil)
    }
}
