import XCTest
@testable import TriageEngine

final class ScoringTests: XCTestCase {
    func testEditDistance() {
        XCTAssertEqual(Scoring.editDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(Scoring.editDistance([Int](), [1, 2]), 2)
        XCTAssertEqual(Scoring.editDistance([1, 2, 3], [1, 2, 3]), 0)
    }
}
