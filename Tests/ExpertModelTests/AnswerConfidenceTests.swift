import XCTest
import Foundation
import TensorCore
@testable import ExpertModel

final class AnswerConfidenceTests: XCTestCase {
    /// The decoder's log-probabilities are those of the full forward pass's softmax, one per greedy choice
    /// plus one for the EOS that ended the answer, and scoring does not change the tokens.
    func testScoredDecodingMatchesTheFullForwardSoftmax() throws {
        let model = try Transformer(config: .nano, seed: 3)
        let prompt = Vocabulary.prompt("hello")
        let dec = ExpertDecoder(model: model)
        let scored = try dec.generateScored(prompts: [prompt], maxNewTokens: 8)[0]
        XCTAssertEqual(scored.tokens, try dec.generate(prompts: [prompt], maxNewTokens: 8)[0])
        XCTAssertTrue(scored.logProbs.count == scored.tokens.count || scored.logProbs.count == scored.tokens.count + 1)
        var seq = prompt
        for (i, lp) in scored.logProbs.enumerated() {
            let logits = Autograd.noGrad { model.logits(tokens: seq, batch: 1, seq: seq.count) }.values
            let last = Array(logits[((seq.count - 1) * 260)..<(seq.count * 260)])
            let top = last.max()!
            let expected = -log(last.reduce(0.0) { $0 + exp(Double($1 - top)) })
            XCTAssertEqual(Double(lp), expected, accuracy: 1e-4, "step \(i)")
            XCTAssertLessThanOrEqual(lp, 0)
            if i < scored.tokens.count { seq.append(scored.tokens[i]) }
        }
        let a = try dec.answerScored(["hello"], maxOutputBytes: 8)[0]
        XCTAssertEqual(a.logProbs, scored.logProbs)
        XCTAssertEqual(a.confidence, AnswerConfidence.score(scored.logProbs), accuracy: 1e-12)
    }

    func testScoresSummariseTheTokenProbabilities() {
        let lp = [log(Float(0.5)), log(Float(0.8))]
        XCTAssertEqual(AnswerConfidence.score(lp, kind: .minTokenP), 0.5, accuracy: 1e-6)
        XCTAssertEqual(AnswerConfidence.score(lp, kind: .meanTokenP), sqrt(0.4), accuracy: 1e-6)
        XCTAssertEqual(AnswerConfidence.score(lp, kind: .sequenceP), 0.4, accuracy: 1e-6)
        XCTAssertEqual(AnswerConfidence.score([], kind: .sequenceP), 0)
    }

    /// Pool-adjacent-violators on a small case worked by hand, and the map between breakpoints.
    func testIsotonicFitPoolsViolatorsAndInterpolates() throws {
        let c = ConfidenceCalibration.fit(scores: [0.1, 0.2, 0.3, 0.4], correct: [false, true, false, true], kind: .sequenceP)
        XCTAssertEqual(c.x, [0.1, 0.2, 0.3, 0.4])
        XCTAssertEqual(c.y, [0, 0.5, 0.5, 1])
        XCTAssertEqual(c.probability(0.05), 0)
        XCTAssertEqual(c.probability(0.15), 0.25, accuracy: 1e-12)
        XCTAssertEqual(c.probability(0.25), 0.5, accuracy: 1e-12)
        XCTAssertEqual(c.probability(0.9), 1)
        XCTAssertEqual(c.validationAccuracy, 0.5)
        XCTAssertEqual(c.validationAUROC ?? -1, 0.75, accuracy: 1e-12)
        XCTAssertNil(c.problem)
        // Ties form one block; a monotone, usable map comes out of noisy data.
        var rng = RandomGenerator(seed: 9)
        let scores = (0..<500).map { _ in Double(rng.nextInt(below: 20)) / 20 }
        let correct = scores.map { Double(rng.nextInt(below: 1000)) / 1000 < $0 }
        let fit = ConfidenceCalibration.fit(scores: scores, correct: correct, kind: .sequenceP, minConfidence: 0.3)
        XCTAssertNil(fit.problem)
        XCTAssertEqual(fit.minConfidence, 0.3)
        for (a, b) in zip(fit.y, fit.y.dropFirst()) { XCTAssertLessThanOrEqual(a, b) }
        XCTAssertLessThan(fit.validationECE ?? 1, 0.02)  // isotonic is calibrated on its own data
        XCTAssertLessThan(fit.probability(0.1), fit.probability(0.9))
        // A manifest's broken calibration is named, not used.
        var bad = fit
        bad.y = bad.y.reversed()
        XCTAssertNotNil(bad.problem)
        bad = fit
        bad.minConfidence = 1.5
        XCTAssertEqual(bad.problem, "calibration: min_confidence must be in [0, 1], got 1.5")
        let decoded = try JSONDecoder().decode(ConfidenceCalibration.self, from: JSONEncoder().encode(fit))
        XCTAssertEqual(decoded, fit)
    }

    func testAUROCECEAndRiskCoverageOnKnownCases() {
        XCTAssertEqual(ConfidenceMetrics.auroc(scores: [0.9, 0.8, 0.2, 0.1], correct: [true, true, false, false]), 1)
        XCTAssertEqual(ConfidenceMetrics.auroc(scores: [0.9, 0.8, 0.2, 0.1], correct: [false, false, true, true]), 0)
        XCTAssertEqual(ConfidenceMetrics.auroc(scores: [0.5, 0.5, 0.5, 0.5], correct: [true, false, true, false]), 0.5)
        XCTAssertNil(ConfidenceMetrics.auroc(scores: [0.5, 0.7], correct: [true, true]))
        // Two bins: 0.05 (1 of 2 right → |0.5 - 0.05|), 0.95 (2 of 2 → |1 - 0.95|); weights 2/4 each.
        XCTAssertEqual(ConfidenceMetrics.ece(probabilities: [0.05, 0.05, 0.95, 0.95], correct: [true, false, true, true]),
                       (0.45 * 2 + 0.05 * 2) / 4, accuracy: 1e-12)
        let curve = ConfidenceMetrics.riskCoverage(scores: [0.9, 0.7, 0.5, 0.3], correct: [true, false, true, false])
        XCTAssertEqual(curve.map(\.coverage), [0.25, 0.5, 0.75, 1])
        XCTAssertEqual(curve.map(\.accuracy), [1, 0.5, 2.0 / 3, 0.5])
        XCTAssertEqual(ConfidenceMetrics.accuracy(at: 0.5, of: curve), 0.5)
        // Error rates of the top 1..4: 0, 1/2, 1/3, 1/2.
        XCTAssertEqual(ConfidenceMetrics.aurc(scores: [0.9, 0.7, 0.5, 0.3], correct: [true, false, true, false]),
                       (0 + 0.5 + 1.0 / 3 + 0.5) / 4, accuracy: 1e-12)
        // A score that ties everything is worth the overall error rate at every coverage.
        XCTAssertEqual(ConfidenceMetrics.aurc(scores: [0.5, 0.5, 0.5, 0.5], correct: [true, false, true, false]), 0.5, accuracy: 1e-12)
    }
}
