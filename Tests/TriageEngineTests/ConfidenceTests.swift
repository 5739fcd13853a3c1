import XCTest
import Foundation
import ExpertModel
@testable import TriageEngine

final class ConfidenceTests: XCTestCase {
    func manifestJSON(calibration: String?) -> Data {
        let m = ExpertManifest(name: "x", description: "d", config: .nano, maxOutputBytes: 8)
        var obj = try! JSONSerialization.jsonObject(with: try! m.encoded()) as! [String: Any]
        if let calibration { obj["calibration"] = try! JSONSerialization.jsonObject(with: Data(calibration.utf8)) }
        return try! JSONSerialization.data(withJSONObject: obj)
    }

    /// Manifests from before calibrations load (nil); a calibration round-trips; a broken one is named.
    func testManifestCalibrationIsOptionalAndChecked() throws {
        XCTAssertNil(try ExpertManifest.decode(manifestJSON(calibration: nil), origin: "old/expert.json").calibration)
        let good = #"{"score":"sequence_p","method":"isotonic","x":[0.1,0.9],"y":[0.2,0.8],"n":10,"validation_accuracy":0.5,"min_confidence":0.4}"#
        let c = try XCTUnwrap(try ExpertManifest.decode(manifestJSON(calibration: good), origin: "new/expert.json").calibration)
        XCTAssertEqual(c.score, .sequenceP)
        XCTAssertEqual(c.minConfidence, 0.4)
        XCTAssertEqual(c.probability(0.5), 0.5, accuracy: 1e-12)
        let bad = #"{"score":"sequence_p","method":"isotonic","x":[0.1,0.9],"y":[0.8,0.2],"n":10,"validation_accuracy":0.5}"#
        XCTAssertThrowsError(try ExpertManifest.decode(manifestJSON(calibration: bad), origin: "bad/expert.json")) { e in
            XCTAssertEqual("\(e)", "bad/expert.json: calibration: x and y must be ascending")
        }
    }

    /// The minimum confidence applies to the calibrated probability when there is one, hides the answer
    /// unless asked to show it, and leaves sure answers alone.
    func testMinimumConfidenceDeclinesUnsureAnswers() {
        let scored = ScoredAnswer(text: "42", logProbs: [log(Float(0.5)), log(Float(0.5)), 0])  // sequence_p 0.25
        let cal = ConfidenceCalibration(score: .sequenceP, method: "isotonic", x: [0, 1], y: [0, 0.6], n: 2, validationAccuracy: 0.5,
                                        validationAUROC: nil, validationECE: nil, minConfidence: 0.2)
        func answer() -> Answer {
            Answer(id: nil, input: "q", expert: "x", confidence: nil, abstained: false, fallback: false, output: nil, ms: 0, top: nil, error: nil)
        }
        var a = answer()
        Engine.attachConfidence(&a, scored: scored, kind: .sequenceP, calibration: cal, minimum: 0.2, showUnsure: false)
        XCTAssertEqual(a.answerConfidence ?? 0, 0.25, accuracy: 1e-6)
        XCTAssertEqual(a.pCorrect ?? 0, 0.15, accuracy: 1e-6)
        XCTAssertTrue(a.notSure, "p_correct 0.15 < 0.2 though the raw score is above it")
        a.output = "42"
        var shown = answer()
        shown.output = "42"
        Engine.attachConfidence(&shown, scored: scored, kind: .sequenceP, calibration: cal, minimum: 0.2, showUnsure: true)
        XCTAssertTrue(shown.notSure)
        XCTAssertEqual(shown.output, "42")
        var hidden = answer()
        hidden.output = "42"
        Engine.attachConfidence(&hidden, scored: scored, kind: .sequenceP, calibration: cal, minimum: 0.2, showUnsure: false)
        XCTAssertNil(hidden.output)
        var sure = answer()
        sure.output = "42"
        Engine.attachConfidence(&sure, scored: scored, kind: .sequenceP, calibration: cal, minimum: 0.1, showUnsure: false)
        XCTAssertFalse(sure.notSure)
        XCTAssertEqual(sure.output, "42")
        var uncalibrated = answer()
        uncalibrated.output = "42"
        Engine.attachConfidence(&uncalibrated, scored: scored, kind: .sequenceP, calibration: nil, minimum: 0.2, showUnsure: false)
        XCTAssertNil(uncalibrated.pCorrect)
        XCTAssertFalse(uncalibrated.notSure, "without a calibration the raw score 0.25 is held to the minimum")
        let json = String(decoding: try! JSONEncoder().encode(hidden), as: UTF8.self)
        XCTAssert(json.contains("\"answer_confidence\"") && json.contains("\"p_correct\"") && json.contains("\"not_sure\":true"), json)
    }

    func testConfidenceReportSummarisesTheCurve() throws {
        let r = try XCTUnwrap(ConfidenceReport.measure(scores: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05],
                                                       probabilities: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05],
                                                       correct: [true, true, true, true, true, false, true, false, false, false]))
        XCTAssertEqual(r.n, 10)
        XCTAssertEqual(r.curve.count, 10)
        XCTAssertEqual(r.curve[4].coverage, 0.5)
        XCTAssertEqual(r.curve[4].accuracy, 1)
        XCTAssertEqual(r.curve[9].accuracy, 0.6)
        XCTAssertEqual(r.accuracy, 0.6)
        XCTAssertEqual(r.auroc ?? 0, 23.0 / 24, accuracy: 1e-12)
        XCTAssertNil(ConfidenceReport.measure(scores: [], probabilities: [], correct: []))
    }
}
