import XCTest
@testable import TriageEngine

final class ScoringTests: XCTestCase {
    func testEditDistance() {
        XCTAssertEqual(Scoring.editDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(Scoring.editDistance([Int](), [1, 2]), 2)
        XCTAssertEqual(Scoring.editDistance([1, 2, 3], [1, 2, 3]), 0)
    }

    func testExactMatchAndPhoneErrorRate() {
        let plain = Scoring.metrics(predictions: ["a", "b", "c"], references: ["a", "x", "c"], metric: nil)
        XCTAssertEqual(plain.n, 3)
        XCTAssertEqual(plain.exactMatch, 2.0 / 3, accuracy: 1e-12)
        XCTAssertNil(plain.phoneErrorRate)
        // One substitution in 3 reference phones, one deletion in 2: 2 edits over 5 phones.
        let phones = Scoring.metrics(predictions: ["K AE1 T", "D AO1 G X"], references: ["K AE1 D", "D AO1 G"], metric: .phoneErrorRate)
        XCTAssertEqual(phones.exactMatch, 0)
        XCTAssertEqual(phones.wordErrorRate, 1)
        XCTAssertEqual(try XCTUnwrap(phones.phoneErrorRate), 2.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(Scoring.metrics(predictions: [], references: [], metric: nil).exactMatch, 0)
    }
}
