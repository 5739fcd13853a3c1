import XCTest
import TensorCore
@testable import ExpertModel

final class BeamSearchTests: XCTestCase {
    /// Log-probabilities of every next token after `tokens`, from a full forward pass (no cache).
    private func nextLogProbs(_ model: Transformer, _ tokens: [Int32]) -> [Float] {
        let v = model.config.vocab
        let logits = Autograd.noGrad { model.logits(tokens: tokens, batch: 1, seq: tokens.count) }.values
        let last = Array(logits[((tokens.count - 1) * v)...])
        let top = last.max()!
        let logZ = top + log(last.reduce(0) { $0 + exp($1 - top) })
        return last.map { $0 - logZ }
    }

    /// With a beam as wide as the vocabulary and answers of at most two tokens the search is exhaustive,
    /// so it must find the most probable answer that brute force over every one- and two-token answer
    /// (scored by full forward passes) finds; its log-probabilities are the model's for that answer. A
    /// wrong cache copy between slots would give the second token wrong scores.
    func testAWideBeamFindsTheMostProbableShortAnswer() throws {
        let model = try Transformer(config: .nano, seed: 5)
        let v = model.config.vocab
        let prompt = Vocabulary.prompt("beam")
        let first = nextLogProbs(model, prompt)
        var best = (tokens: [Int32](), logProbs: [first[Int(Vocabulary.eos)]], score: first[Int(Vocabulary.eos)])
        for t1 in 0..<v where Int32(t1) != Vocabulary.eos {
            let second = nextLogProbs(model, prompt + [Int32(t1)])
            for t2 in 0..<v {
                let score = first[t1] + second[t2]
                guard score > best.score else { continue }
                best = Int32(t2) == Vocabulary.eos ? ([Int32(t1)], [first[t1], second[t2]], score)
                                                   : ([Int32(t1), Int32(t2)], [first[t1], second[t2]], score)
            }
        }
        let found = try ExpertDecoder(model: model).generateBeam(prompts: [prompt], width: v, maxNewTokens: 2)[0]
        XCTAssertEqual(found.tokens, best.tokens)
        XCTAssertEqual(found.logProbs.count, best.logProbs.count)
        for (a, b) in zip(found.logProbs, best.logProbs) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }

    /// Longer answers with a narrow beam: every returned log-probability is the model's own for that
    /// answer's token after the answer so far (cache slots copied and reused across many steps).
    func testBeamLogProbabilitiesAreTheModelsForTheAnswer() throws {
        let model = try Transformer(config: .nano, seed: 6)
        let prompts = ["abc", "a longer prompt", "x"].map(Vocabulary.prompt)
        let answers = try ExpertDecoder(model: model).generateBeam(prompts: prompts, width: 4, maxNewTokens: 10)
        for (p, a) in zip(prompts, answers) {
            XCTAssert(a.logProbs.count == a.tokens.count || a.logProbs.count == a.tokens.count + 1)
            for (i, lp) in a.logProbs.enumerated() {
                let token = i < a.tokens.count ? a.tokens[i] : Vocabulary.eos
                XCTAssertEqual(lp, nextLogProbs(model, p + a.tokens.prefix(i))[Int(token)], accuracy: 1e-4)
            }
        }
    }

    func testBeamAnswersDoNotDependOnTheBatch() throws {
        let model = try Transformer(config: .nano, seed: 7)
        let inputs = ["a", "a much longer request here", "mid size", "", "xyz", "0123456789", "bb", "the quick brown fox",
                      "q", "seven", "lorem ipsum dolor", "!"]
        let dec = ExpertDecoder(model: model)
        let alone = try inputs.map { try dec.generateBeam(prompts: [Vocabulary.prompt($0)], width: 3, maxNewTokens: 6)[0] }
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2  // twelve requests are split by request across two cores
        // The same answers; their scores agree to rounding (products over other row counts sum in another order).
        func assertSame(_ a: [ScoredTokens], _ b: [ScoredTokens], line: UInt = #line) {
            XCTAssertEqual(a.map(\.tokens), b.map(\.tokens), line: line)
            for (x, y) in zip(a, b) {
                XCTAssertEqual(x.logProbs.count, y.logProbs.count, line: line)
                for (p, q) in zip(x.logProbs, y.logProbs) { XCTAssertEqual(p, q, accuracy: 1e-5, line: line) }
            }
        }
        assertSame(try dec.generateBeam(prompts: inputs.prefix(4).map(Vocabulary.prompt), width: 3, maxNewTokens: 6), Array(alone.prefix(4)))
        assertSame(try dec.generateBeam(prompts: inputs.map(Vocabulary.prompt), width: 3, maxNewTokens: 6), alone)
        // Width 1 is greedy decoding.
        XCTAssertEqual(try dec.generateBeam(prompts: inputs.map(Vocabulary.prompt), width: 1, maxNewTokens: 6),
                       try dec.generateScored(prompts: inputs.map(Vocabulary.prompt), maxNewTokens: 6))
    }
}
