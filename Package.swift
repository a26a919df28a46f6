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
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .target(name: "HopBasics"),
        .target(name: "AppSpec", dependencies: ["HopBasics"]),
        .target(name: "HopStore", dependencies: ["HopBasics", "CSQLite", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "NixBuild", dependencies: [
            "AppSpec", "HopBasics", "CArchive",
            .product(name: "Crypto", package: "swift-crypto"),
        ], resources: []),
        .target(name: "Provenance", dependencies: [
            "NixBuild", "HopStore", "HopBasics",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Runtime", dependencies: ["AppSpec", "NixBuild", "HopStore", "HopBasics"]),
        // The operations every interface shares (CLI, HTTP API, dashboard, later git push).
        .target(name: "HopCore", dependencies: [
            "Runtime", "Provenance", "AppSpec", "NixBuild", "HopStore", "HopBasics", "CArchive",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HopCommands", dependencies: [
            "HopCore", "HopServer",
            "Runtime", "Provenance", "AppSpec", "NixBuild", "HopStore", "HopBasics",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            // The remote CLI's HTTP client (already linked for hop server's front).
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // `hop server`: the HTTP API and the dashboard over HopCore (the only importer of Hummingbird).
        .target(name: "HopServer", dependencies: [
            "HopCore", "HopStore", "HopBasics", "Runtime",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            // The front's one client: to the helper, over its unix socket (also HummingbirdTesting's client).
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            // NIO's bounded thread pool for blocking work (SQLite, nix, systemctl).
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "hop", dependencies: ["HopCommands"]),
        // Shared test helpers (snapshots, temporary directories, fakes of the process runner, systemd
        // and the clock); a library so every test target can use one copy.
        .target(name: "HopTestSupport", dependencies: ["HopBasics", "Runtime"], path: "Tests/HopTestSupport"),
        .testTarget(name: "AppSpecTests", dependencies: ["AppSpec"]),
        .testTarget(name: "HopStoreTests", dependencies: ["HopTestSupport", "HopStore"]),
        .testTarget(name: "NixBuildTests", dependencies: ["HopTestSupport", "NixBuild", "HopStore"], exclude: ["Snapshots"]),
        .testTarget(name: "ProvenanceTests", dependencies: ["HopTestSupport", "Provenance", "NixBuild", "HopStore"], exclude: ["Snapshots"]),
        .testTarget(name: "RuntimeTests", dependencies: ["HopTestSupport", "Runtime", "AppSpec"], exclude: ["Snapshots"]),
        .testTarget(name: "HopCoreTests", dependencies: ["HopTestSupport", "HopCore", "HopStore", "Runtime", "AppSpec"], exclude: ["Snapshots"]),
        .testTarget(name: "HopServerTests", dependencies: ["HopTestSupport", "HopServer", "HopCore", "HopStore",
                                                           .product(name: "HummingbirdTesting", package: "hummingbird")], exclude: ["Snapshots"]),
        .testTarget(name: "HopCommandsTests", dependencies: ["HopCommands", "HopCore"]),
        // The tests that prove the product with real parts (the built `hop`, the Nix sandbox, systemd,
        // nginx, PostgreSQL, OpenSSH, Chromium): serial, against one shared private service host.
        .testTarget(name: "IntegrationTests", dependencies: ["HopTestSupport", "HopCommands", "HopCore", "HopStore", "NixBuild", "Runtime", "AppSpec", .product(name: "Crypto", package: "swift-crypto")], exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v6]
)
