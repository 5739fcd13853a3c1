// swift-tools-version:6.1
// libFuzzer targets for Triage's parsers. Each executable's main hands its `testOneInput` to libFuzzer's
// driver (`LLVMFuzzerRunDriver`: SwiftPM gives every executable its own `main`, so libFuzzer's cannot be
// used). Build and run them with `Fuzz/run.sh TARGET SECONDS`, which passes `-sanitize=fuzzer,address`
// (instrumenting Triage's modules too). They link with lld: gold fails on them with an internal error.
// A separate package so that the main one never builds with sanitizer flags or links libFuzzer.
import PackageDescription

let parsers: Target.Dependency = .product(name: "TriageParsers", package: "Triage")
let server: Target.Dependency = .product(name: "TriageServerParsers", package: "Triage")

let lld: [LinkerSetting] = [.unsafeFlags(["-use-ld=lld"])]

let package = Package(
    name: "TriageFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Triage", path: "..")],
    targets: [
        // Fixtures (a tiny model, router and expert folder, built by the real writers) and seed corpora.
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer", parsers]),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["FuzzSupport", parsers], linkerSettings: lld),
        .executableTarget(name: "FuzzJSONL", dependencies: ["FuzzSupport", parsers], linkerSettings: lld),
        .executableTarget(name: "FuzzManifest", dependencies: ["FuzzSupport", parsers], linkerSettings: lld),
        .executableTarget(name: "FuzzRouter", dependencies: ["FuzzSupport", parsers], linkerSettings: lld),
        .executableTarget(name: "FuzzServeRequest", dependencies: ["FuzzSupport", server], linkerSettings: lld),
    ],
    swiftLanguageModes: [.v6]
)
