import ArgumentParser
import Foundation
import TriageEngine

/// `triage bench …`: speed of the hot paths, side by side with the peers' scripts in Benchmarks/.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Triage's hot paths (GEMM, ops, training, decoding, routing).",
        subcommands: [Gemm.self])

    struct Gemm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "sgemm GFLOP/s through TensorCore for 1024³ and the transformer's shapes.")
        @Option(help: "OpenBLAS threads (default: every core).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        @Flag(help: "One JSON object per shape.") var json = false

        func run() throws {
            let results = GemmBenchmark.run(threads: threads)
            if json {
                for r in results { print(try JSONOutput.line(r)) }
                return
            }
            let cfg = GemmBenchmark.configurationNote
            print("OpenBLAS core: \(results.first?.core ?? "?") (\(cfg)), threads \(threads)")
            print("shape                      GFLOP/s best   median   calls")
            for r in results {
                let shape = "[\(r.m)×\(r.k)]·[\(r.k)×\(r.n)]"
                print(shape.padding(toLength: 26, withPad: " ", startingAt: 0)
                      + String(format: "%13.1f %8.1f %7d", r.gflops, r.gflopsMedian, r.calls))
            }
        }
    }
}
