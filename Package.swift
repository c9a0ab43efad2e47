// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mcp-attestation",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AttestCore", targets: ["AttestCore"]),
        .library(name: "AttestIdentity", targets: ["AttestIdentity"]),
        .library(name: "AttestDiscovery", targets: ["AttestDiscovery"]),
        .library(name: "AttestEvidence", targets: ["AttestEvidence"]),
        .library(name: "AttestMCP", targets: ["AttestMCP"]),
        .library(name: "AttestPortal", targets: ["AttestPortal"]),
        .library(name: "AttestWitness", targets: ["AttestWitness"]),
        .library(name: "SpecKit", targets: ["SpecKit"]),
        .executable(name: "attest", targets: ["attest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", exact: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", exact: "0.12.1"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium", path: "Sources/CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]),
        .systemLibrary(
            name: "CCmarkGFM", path: "Sources/CCmarkGFM", pkgConfig: "libcmark-gfm",
            providers: [.apt(["libcmark-gfm-dev", "libcmark-gfm-extensions-dev"]), .brew(["cmark-gfm"])]),
        .target(
            name: "AttestCore",
            dependencies: ["CSodium", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "AttestIdentity",
            dependencies: ["AttestCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(
            name: "AttestDiscovery",
            dependencies: [
                "AttestCore", "AttestIdentity",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .target(name: "AttestEvidence", dependencies: ["AttestCore"]),
        .target(
            name: "AttestMCP",
            dependencies: [
                "AttestCore", "AttestIdentity", "AttestEvidence", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        // The portal's framing and message sorting, apart so that a fuzz target reaches them
        // without the portal's network and storage dependencies.
        .target(name: "AttestPortalFraming", dependencies: ["AttestCore", "AttestEvidence"]),
        .target(
            name: "AttestPortal",
            dependencies: [
                "AttestCore", "AttestIdentity", "AttestEvidence", "AttestMCP", "AttestPortalFraming",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        .target(
            name: "AttestWitness",
            dependencies: [
                "AttestCore", "AttestEvidence", "AttestMCP",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .target(
            name: "SpecKit",
            dependencies: ["AttestCore", "CCmarkGFM", .product(name: "Mustache", package: "swift-mustache")]),
        .target(name: "AttestOps", dependencies: ["AttestCore", "AttestIdentity", "AttestDiscovery", "AttestEvidence", "AttestMCP", "AttestPortal", "SpecKit"]),
        .executableTarget(
            name: "attest",
            dependencies: [
                "AttestCore", "AttestIdentity", "AttestDiscovery", "AttestEvidence", "AttestMCP", "AttestPortal", "SpecKit", "AttestOps",
                "AttestWitness", "CSodium", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        // Token verification against general JWT libraries (`make bench-jose`): apart from
        // `attest`, so that the shipped CLI does not link jwt-kit.
        .executableTarget(
            name: "bench-jose",
            dependencies: ["AttestCore", "AttestIdentity", "CSodium", .product(name: "JWTKit", package: "jwt-kit")],
            path: "Sources/bench-jose"),
        .target(name: "TestSupport", dependencies: ["AttestCore"], path: "Tests/TestSupport"),
        .testTarget(name: "AttestCoreTests", dependencies: ["AttestCore", "TestSupport"]),
        .testTarget(name: "AttestIdentityTests", dependencies: ["AttestIdentity", "AttestCore", "TestSupport"]),
        .testTarget(
            name: "JWTKitInteropTests",
            dependencies: ["AttestIdentity", "AttestCore", "TestSupport", .product(name: "JWTKit", package: "jwt-kit")],
            path: "Tests/JWTKitInteropTests"),
        .testTarget(
            name: "AttestDiscoveryTests",
            dependencies: [
                "AttestDiscovery", "AttestIdentity", "AttestMCP", "AttestCore", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["Fixtures"]),
        .testTarget(name: "AttestEvidenceTests", dependencies: ["AttestEvidence", "AttestCore", "TestSupport"]),
        .testTarget(name: "SpecKitTests", dependencies: ["SpecKit", "AttestOps", "AttestCore", "AttestEvidence"]),
        .testTarget(
            name: "AttestPortalTests",
            dependencies: ["AttestPortal", "AttestPortalFraming", "AttestEvidence", "AttestIdentity", "AttestMCP", "AttestCore", "TestSupport", "AttestWitness",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "MCP", package: "swift-sdk"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .testTarget(
            name: "AttestWitnessTests",
            dependencies: ["AttestWitness", "AttestEvidence", "AttestCore", "TestSupport",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio")]),
        .testTarget(
            name: "AttestMCPTests",
            dependencies: [
                "AttestMCP", "AttestIdentity", "AttestCore", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ]
)

// Fuzzing and property tests (Fuzz/README.md). The fuzz target logic is an ordinary
// library, so the regression tests replay saved inputs through the same code; the
// libFuzzer executables exist only when ATTEST_FUZZ is set, because
// `swift build --sanitize=fuzzer` must not meet the package's other executables.
package.dependencies.append(.package(url: "https://github.com/x-sheep/swift-property-based.git", exact: "2.0.1"))
package.targets += [
    .target(name: "AttestFuzzTargets", dependencies: ["AttestCore", "AttestIdentity", "AttestEvidence", "AttestPortalFraming"], path: "Fuzz/Targets"),
    .testTarget(name: "FuzzRegressionTests", dependencies: ["AttestFuzzTargets"]),
    .testTarget(
        name: "PropertyTests",
        dependencies: ["AttestCore", "AttestEvidence", .product(name: "PropertyBased", package: "swift-property-based")]),
]
let fuzzTargets = ["json", "jcs", "base64url", "jws", "token", "checkpoint", "receipt-line", "bundle", "artifact", "constraint", "portal-framing"]
if Context.environment["ATTEST_FUZZ"] != nil {
    for name in fuzzTargets {
        package.targets.append(.executableTarget(name: "fuzz-\(name)", dependencies: ["AttestFuzzTargets"], path: "Fuzz/Main/\(name)"))
        package.products.append(.executable(name: "fuzz-\(name)", targets: ["fuzz-\(name)"]))
    }
}
