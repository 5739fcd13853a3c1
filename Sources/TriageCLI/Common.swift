import ArgumentParser
import Foundation
import TriageEngine
import TriageLab
import TriagePresentation
import ExpertModel
import TensorCore

/// Options every registry command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Registry home (default: $TRIAGE_HOME, else $XDG_DATA_HOME/triage, else ~/.local/share/triage).")
    var home: String?
}

/// How answers are decoded (`ask`, `eval`).
struct DecodingOptions: ParsableArguments {
    @Option(help: "Decode with beam search of this many hypotheses per request (1-16; default 1, greedy): about a point more on pronounce, up to 4.5x the decoding time.")
    var beam: Int?

    /// The beam width asked for (1 when none); a width out of range is bad input (exit 2).
    func beamWidth() throws -> Int {
        guard let beam else { return 1 }
        guard (1...16).contains(beam) else { throw TriageError.badInput("--beam \(beam): a width from 1 to 16") }
        return beam
    }
}

/// Runs a command body, turning errors into one clear line on stderr and the documented exit code.
func guarded(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let e as ValidationError { throw e } catch let e as CleanExit { throw e } catch {
        let t = TriageError.from(error)
        FileHandle.standardError.write(Data("error: \(t.description)\n".utf8))
        throw ExitCode(t.exitCode.rawValue)
    }
}

/// Messages for people go to stderr, so stdout carries only results.
func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Opens the registry and imports the shipped suite on first use.
func openEngine(_ g: GlobalOptions, bootstrap: Bool = true) throws -> Engine {
    let engine = try Engine(home: g.home)
    if bootstrap { _ = try engine.bootstrapIfEmpty(log: note) }
    return engine
}

func printJSON<T: Encodable>(_ v: T) throws { print(try JSONOutput.line(v)) }

func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

extension ExpertConfig.Preset: ExpressibleByArgument {}
extension Setting: ExpressibleByArgument {}
extension PrecisionChoice: ExpressibleByArgument {}

/// `--precision auto|bf16|fp32`, on every command that trains or measures products.
struct PrecisionOption: ParsableArguments {
    @Option(help: "Products in bf16 (fp32 accumulation, fp32 master weights) or fp32; auto: bf16 where the CPU has AVX512-BF16 or AMX.")
    var precision: PrecisionChoice = .auto

    func resolved() throws -> Precision {
        do { return try MixedPrecision.resolve(precision) } catch { throw TriageError.badInput("\(error)") }
    }
}
