// swift-tools-version:6.1
// package-benchmark (ordo-one/benchmark) suites for TensorCore's core ops. A nested package, so that
// the root package's builds and tests do not compile the benchmark framework.
// Run from this folder: swift package benchmark
import Foundation
import PackageDescription

/// A path dependency's identity is its folder's name, which depends on where the repository was cloned.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "TriageBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CoreOps",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TensorCore", package: root),
            ],
            path: "Benchmarks/CoreOps",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
