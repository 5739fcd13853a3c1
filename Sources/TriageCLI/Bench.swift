import ArgumentParser
import Foundation
import TriageEngine
import TriageLab
import TriagePresentation
import ExpertModel

/// `triage bench …`: speed of the hot paths, side by side with the peers' scripts in Benchmarks/.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Triage's hot paths (GEMM, ops, training, decoding, routing).",
        subcommands: [Gemm.self, Ops.self, Train.self, Decode.self, Route.self, Hash.self])

    struct Gemm: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "gemm", abstract: "sgemm GFLOP/s through TensorCore for 1024³ and the transformer's shapes.")
        @Option(help: "OpenBLAS threads (default: every core).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        @OptionGroup var precision: PrecisionOption
        @Flag(help: "One JSON object per shape.") var json = false

        func run() throws {
          try guarded {
            let results = GemmBenchmark.run(threads: threads, precision: try precision.resolved())
            if json {
                for r in results { print(try JSONOutput.line(r)) }
                return
            }
            let cfg = GemmBenchmark.configurationNote
            if results.first?.precision == .bf16 {
                print("bf16 products on oneDNN (\(results.first?.core ?? "?")), threads \(threads)")
            } else {
                print("OpenBLAS core: \(results.first?.core ?? "?") (\(cfg)), threads \(threads)")
            }
            print("shape                      GFLOP/s best   median   calls")
            for r in results {
                let shape = "[\(r.m)×\(r.k)]·[\(r.k)×\(r.n)]"
                print(shape.padding(toLength: 26, withPad: " ", startingAt: 0)
                      + String(format: "%13.1f %8.1f %7d", r.gflops, r.gflopsMedian, r.calls))
            }
          }
        }
    }
}

extension Bench {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train",
            abstract: "Training tokens/s of the tiny reference model (the workload of shared/peers/torch_tiny_transformer.py).")
        @Option(help: "Threads for OpenBLAS and TensorCore loops.") var threads: Int = 2
        @Option(help: "Timed steps after 5 warm-up steps.") var steps: Int = 20
        @OptionGroup var precision: PrecisionOption
        @OptionGroup(title: "Recipe (given: the recipe's architecture and optimisers instead of the peers' workload)") var recipe: RecipeOptions
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            try guarded {
                let r = try TrainBenchmark.run(threads: threads, steps: steps, precision: try precision.resolved(), recipe: recipe.given ? recipe.resolved : nil)
                if json { print(try JSONOutput.line(r)); return }
                print(String(format: "train tiny (%d params), batch 32×128, %d threads, %@ products (%@): %.0f tokens/s (median step %.1f ms; best %.0f tokens/s), loss %.3f → %.3f",
                             r.params, r.threads, r.precision.rawValue, r.kernel.rawValue, r.tokensPerS, r.stepMs, r.tokensPerSBest, r.lossFirst, r.lossLast))
            }
        }
    }

    struct Ops: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ops",
            abstract: "Per-op time profile of one forward+backward pass of tiny at batch 32×128.")
        @Option(help: "Threads for OpenBLAS and TensorCore loops.") var threads: Int = 2
        @OptionGroup var precision: PrecisionOption
        @OptionGroup(title: "Recipe (given: the recipe's architecture instead of the peers' model)") var recipe: RecipeOptions
        @Flag(help: "One JSON object per op and pass.") var json = false

        func run() throws {
            let (rows, total) = try OpsBenchmark.run(threads: threads, precision: try precision.resolved(), recipe: recipe.given ? recipe.resolved : nil)
            if json {
                for r in rows { print(try JSONOutput.line(r)) }
                return
            }
            print("one forward+backward of tiny, batch 32×128, \(threads) threads: \(String(format: "%.1f", total)) ms")
            print("op            pass        calls       ms   share")
            for r in rows.sorted(by: { $0.ms > $1.ms }) {
                print(r.op.padding(toLength: 14, withPad: " ", startingAt: 0) + r.pass.padding(toLength: 10, withPad: " ", startingAt: 0)
                      + String(format: "%7d %8.2f %6.1f%%", r.calls, r.ms, 100 * r.ms / total))
            }
        }
    }
}

extension Bench {
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode",
            abstract: "Greedy decoding of tiny: 48-byte prompt + 16 new tokens at batch 1 and 32 (the peer's workload).")
        @Option(help: "Threads for OpenBLAS and TensorCore loops.") var threads: Int = 2
        @Option(help: "Batch sizes, comma-separated.") var batches = "1,32"
        @Option(help: "New tokens per request (the peer's workload: 16).") var newTokens = 16
        @OptionGroup var precision: PrecisionOption
        @Option(help: ArgumentHelp("bf16 only: rows from which a product runs in bf16 (measuring the crossover).", visibility: .hidden))
        var bf16MinimumRows: Int?
        @Flag(help: "One JSON object per batch size.") var json = false

        func run() throws {
            if let bf16MinimumRows { ExpertDecoder.bf16MinimumRows = bf16MinimumRows }
            let sizes = batches.split(separator: ",").compactMap { Int($0) }
            guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }) else { throw ValidationError("--batches takes positive integers, e.g. 1,32") }
            for r in try DecodeBenchmark.run(threads: threads, batches: sizes, newTokens: newTokens, precision: try precision.resolved()) {
                if json { print(try JSONOutput.line(r)); continue }
                print(String(format: "decode tiny, batch %2d, %d threads, \(r.precision.rawValue): %.2f ms/request, %.0f requests/s (%.2f ms per batch, median of %d)",
                             r.batch, r.threads, r.msPerRequest, r.requestsPerS, r.msPerBatch, r.runs))
            }
        }
    }
}

extension Bench {
    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "hash", abstract: "SHA-256 MB/s of the registry's hasher (blobs are hashed on every write and load).")
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            let r = HashBenchmark.run()
            if json { print(try JSONOutput.line(r)); return }
            print(String(format: "SHA-256: %.0f MB/s (best of 5 passes over %d MiB)", r.mbPerS, r.bytes >> 20))
        }
    }
}
