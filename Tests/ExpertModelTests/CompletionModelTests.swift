import XCTest
import TensorCore
@testable import ExpertModel

/// The parts of a completion expert that live in ExpertModel: windows with FIM, bits per byte, decoding.
final class CompletionModelTests: XCTestCase {
    static let files: [[UInt8]] = [
        Array(String(repeating: "def add(a, b):\n    return a + b\n\n", count: 40).utf8),
        Array(String(repeating: "for i in range(10):\n    print(i)\n", count: 25).utf8),
        Array("x = 1\n".utf8),
    ]

    func testWindowsAreAFunctionOfTheStepAndFitTheContext() {
        let s = WindowSampler(corpus: TextCorpus(files: Self.files), batchSize: 8, length: 64, fimRate: 0.5, seed: 3)
        let a = s.batch(at: 7), b = s.batch(at: 7), c = s.batch(at: 8)
        XCTAssertEqual(a.tokens, b.tokens, "the same step gives the same batch (resume needs no sampler state)")
        XCTAssertNotEqual(a.tokens, c.tokens)
        XCTAssertEqual(a.batch, 8)
        XCTAssertEqual(a.seq, 64)
        var fim = 0, plain = 0
        for step in 0..<20 {
            let batch = s.batch(at: step)
            for r in 0..<batch.batch {
                let row = Array(batch.tokens[(r * 64)..<((r + 1) * 64)])
                let targets = Array(batch.targets[(r * 64)..<((r + 1) * 64)])
                if row.first == FillInTheMiddle.prefixMarker {
                    fim += 1
                    // PRE prefix SUF suffix MID middle EOS, in that order.
                    let suf = row.firstIndex(of: FillInTheMiddle.suffixMarker), mid = row.firstIndex(of: FillInTheMiddle.middleMarker)
                    XCTAssertNotNil(suf); XCTAssertNotNil(mid)
                    if let suf, let mid { XCTAssertLessThan(suf, mid) }
                    XCTAssertTrue(targets.contains(Vocabulary.eos), "the middle ends with EOS")
                } else {
                    plain += 1
                    XCTAssertFalse(row.contains(FillInTheMiddle.suffixMarker))
                }
                // Every real token is a byte, a marker, BOS or EOS; padding is masked out.
                for (t, m) in zip(row, batch.mask[(r * 64)..<((r + 1) * 64)]) where m == 0 { XCTAssertEqual(t, Vocabulary.pad) }
            }
        }
        XCTAssertGreaterThan(fim, 40)
        XCTAssertGreaterThan(plain, 40)
    }

    func testBitsPerByteScoresEveryByteOnce() {
        let batches = BitsPerByte.batches(files: Self.files, context: 32, batchSize: 5)
        let scored = batches.reduce(0) { $0 + Int($1.mask.reduce(0, +)) }
        XCTAssertEqual(scored, Self.files.reduce(0) { $0 + $1.count }, "each byte of each file scored exactly once (EOS not counted)")
        // Scored targets are the files' bytes, in order.
        var seen = [Int32]()
        for b in batches { for i in b.mask.indices where b.mask[i] == 1 { seen.append(b.targets[i]) } }
        XCTAssertEqual(seen, Self.files.flatMap { $0.map(Int32.init) })
        // A model that knows nothing pays about log2(260) bits per byte.
        let model = try! Transformer(config: .nano, seed: 1)
        let bpb = BitsPerByte.measure(model, batches: BitsPerByte.batches(files: Self.files, context: 64))
        XCTAssertEqual(bpb, log2(260), accuracy: 0.6)
    }

    func testTrainingOnACorpusLowersHeldOutBitsPerByte() throws {
        var config = ExpertConfig.nano.with(positions: .rope)
        config.context = 64
        let model = try Transformer(config: config, seed: 1)
        let sampler = WindowSampler(corpus: TextCorpus(files: Self.files), batchSize: 8, length: 64, seed: 1)
        let held = BitsPerByte.batches(files: [Array(String(repeating: "def add(a, b):\n    return a + b\n\n", count: 3).utf8)], context: 64)
        let before = BitsPerByte.measure(model, batches: held)
        var o = TrainingOptions(steps: 60, seed: 1)
        o.learningRate = 3e-3
        o.warmupSteps = 5
        o.validateEvery = 30
        let record = try Trainer(model: model, sampler: sampler, heldOut: held, options: o).run()
        let after = BitsPerByte.measure(model, batches: held)
        XCTAssertLessThan(after, before - 2, "60 steps on a repetitive corpus: \(before) → \(after) bits per byte")
        XCTAssertEqual(record.bestValidationBitsPerByte!, after, accuracy: 1e-6, "the model keeps its best validated weights")
        XCTAssertEqual(record.trainExamples, 3, "a corpus counts its files")
    }

    func testCompleteStopsAtTheLineEndAndTheByteLimit() throws {
        var config = ExpertConfig.nano.with(positions: .rope)
        config.context = 64
        let model = try Transformer(config: config, seed: 2)
        let dec = ExpertDecoder(model: model)
        let outs = try dec.complete([
            CompletionRequest(prefix: "def add(a, b):\n", maxBytes: 5),
            CompletionRequest(prefix: "for i in ", suffix: ":\n    print(i)\n", maxBytes: 12, stopAtNewline: false),
            CompletionRequest(prefix: String(repeating: "x", count: 200), maxBytes: 8),
        ])
        XCTAssertEqual(outs.count, 3)
        XCTAssertLessThanOrEqual(outs[0].text.utf8.count, 5)
        XCTAssertFalse(outs[0].text.contains("\n"))
        XCTAssertLessThanOrEqual(outs[1].text.utf8.count, 12)
        XCTAssertFalse(outs[0].truncated)
        XCTAssertTrue(outs[2].truncated, "a prefix longer than the context is cut to its tail")
        // The last token generated needs no position of its own: prompt + generated ≤ context + 1.
        XCTAssertLessThanOrEqual(outs[2].promptTokens + outs[2].generatedTokens, 65)
        XCTAssertEqual(ExpertDecoder.dropInvalid([0x61, 0xFF, 0xC3, 0xA9, 0xE2, 0x82, 0x62]), "a\u{E9}b")
        // The FIM prompt: PRE prefix SUF suffix MID.
        let p = FillInTheMiddle.prompt(prefix: Array("ab".utf8), suffix: Array("cd".utf8), context: 64, maxNew: 8)
        XCTAssertEqual(p, [FillInTheMiddle.prefixMarker, 97, 98, FillInTheMiddle.suffixMarker, 99, 100, FillInTheMiddle.middleMarker])
        // A batch answers each request as it would alone.
        let alone = try dec.complete([CompletionRequest(prefix: "for i in ", suffix: ":\n    print(i)\n", maxBytes: 12, stopAtNewline: false)])
        XCTAssertEqual(alone[0].text, outs[1].text)
    }
}
