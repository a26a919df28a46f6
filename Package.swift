// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "hop",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hop", targets: ["hop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .target(name: "HopBasics"),
        .target(name: "AppSpec", dependencies: ["HopBasics"]),
        .target(name: "HopStore", dependencies: ["HopBasics", "CSQLite"]),
        .target(name: "NixBuild", dependencies: [
            "AppSpec", "HopBasics", "CArchive",
            .product(name: "Crypto", package: "swift-crypto"),
        ], resources: []),
        .target(name: "Provenance", dependencies: [
            "NixBuild", "HopStore", "HopBasics",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Runtime", dependencies: ["AppSpec", "NixBuild", "HopStore", "HopBasics"]),
        .target(name: "HopCommands", dependencies: [
            "Runtime",
            "Provenance",
            "AppSpec", "NixBuild", "HopStore", "HopBasics",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "hop", dependencies: ["HopCommands"]),
        // Shared test helpers (snapshots, temporary directories); a library so every test target can use one copy.
        .target(name: "HopTestSupport", path: "Tests/HopTestSupport"),
        .testTarget(name: "AppSpecTests", dependencies: ["AppSpec"]),
        .testTarget(name: "HopStoreTests", dependencies: ["HopTestSupport", "HopStore"]),
        .testTarget(name: "NixBuildTests", dependencies: ["HopTestSupport", "NixBuild", "HopStore"], exclude: ["Snapshots"]),
        .testTarget(name: "ProvenanceTests", dependencies: ["HopTestSupport", "Provenance", "NixBuild", "HopStore"], exclude: ["Snapshots"]),
        .testTarget(name: "RuntimeTests", dependencies: ["HopTestSupport", "Runtime", "AppSpec"], exclude: ["Snapshots"]),
        .testTarget(name: "HopCommandsTests", dependencies: ["HopTestSupport", "HopCommands", "HopStore", "NixBuild", "Runtime", "AppSpec", .product(name: "Crypto", package: "swift-crypto")]),
    ],
    swiftLanguageModes: [.v6]
)
