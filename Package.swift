// swift-tools-version:6.1
// Triage: narrow experts and a router, on the user's own CPU.
//
// Dependencies point one way: triage (CLI) → TriagePresentation → TriageLab → TriageEngine (the runtime)
// → Router / ExpertModel / Registry → TensorCore.
// TensorCore knows nothing of experts; Registry knows nothing of tensors.
import PackageDescription

/// Hot C kernels are always optimised, even in debug builds (where Swift loops run 25-50x slower),
/// and are compiled for several instruction sets at once (target_clones), so one binary runs on any x86-64.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno", "-ffp-contract=fast", "-fno-trapping-math"])]

let package = Package(
    name: "Triage",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "triage", targets: ["TriageCLI"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        // The parsers' modules, for the libFuzzer package in Fuzz/ (a path dependency sees only products);
        // the server apart, so that the other fuzz targets build without Hummingbird.
        .library(name: "TriageParsers", targets: ["ExpertModel", "Router", "Registry", "TriageEngine"]),
        .library(name: "TriageServerParsers", targets: ["TriageServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `triage serve` (TriageServer): HTTP, graceful shutdown, Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // oneDNN (Debian libdnnl-dev) runs the bf16 products (Sources/CKernels/bf16.c): its header is
        // needed to build; the library is opened at run time, when a bf16 product first runs.
        .target(name: "CKernels", cSettings: kernelFlags,
                linkerSettings: [.linkedLibrary("m"), .linkedLibrary("dl")]),
        .target(name: "TensorCore", dependencies: ["COpenBLAS", "CKernels"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "ExpertModel", dependencies: ["TensorCore", "CKernels"]),
        .target(name: "Router", dependencies: ["TensorCore", "CKernels"]),
        .target(name: "Registry", dependencies: ["CSQLite", "CCrypto"]),
        // Runtime: the engine the CLI and the server call (ask, route, experts, eval, the suite bootstrap).
        .target(name: "TriageEngine", dependencies: ["ExpertModel", "Router", "Registry", "TensorCore", "CKernels"]),
        // Lab: benchmarks, parity, compare, suite training and the expert READMEs it writes.
        .target(name: "TriageLab", dependencies: ["TriageEngine", "ExpertModel", "Router", "Registry", "TensorCore"]),
        // Presentation: progress bars and the HTML report, for people at a terminal or a browser.
        .target(name: "TriagePresentation", dependencies: ["TriageLab", "ExpertModel", "TensorCore"]),
        // Server: `triage serve`, the OpenAI-compatible HTTP API over the runtime.
        .target(name: "TriageServer", dependencies: [
            "TriageEngine", "ExpertModel", "TensorCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "TriageCLI", dependencies: [
            "TriageEngine", "TriageLab", "TriagePresentation", "TriageServer", "ExpertModel", "Router", "TensorCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "CKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ExpertModelTests", dependencies: ["ExpertModel", "TensorCore"]),
        .testTarget(name: "RouterTests", dependencies: ["Router", "TensorCore"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry"]),
        .testTarget(name: "TriageEngineTests", dependencies: ["TriageEngine", "TriageLab", "ExpertModel", "Registry"]),
        .testTarget(name: "TriageCLITests", dependencies: ["Registry", "ExpertModel"]),
        .testTarget(name: "TriageServerTests", dependencies: [
            "TriageServer", "TriageEngine", "TensorCore",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
