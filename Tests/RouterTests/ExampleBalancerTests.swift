import XCTest
@testable import Router

final class ExampleBalancerTests: XCTestCase {
    func testCapsAndUpsamplesToACommonCount() {
        var ex = [(input: String, expert: String)]()
        for i in 0..<50 { ex.append((input: "big \(i)", expert: "big")) }
        for i in 0..<7 { ex.append((input: "small \(i)", expert: "small")) }
        let b = ExampleBalancer.balance(ex, maxPerGroup: 20, seed: 3)
        XCTAssertEqual(b.filter { $0.expert == "big" }.count, 20)
        XCTAssertEqual(Set(b.filter { $0.expert == "big" }.map(\.input)).count, 20, "subsampling draws without replacement")
        let small = b.filter { $0.expert == "small" }.map(\.input)
        XCTAssertEqual(small.count, 20)
        XCTAssertEqual(Set(small).count, 7, "upsampling keeps every input")
        // Deterministic, and a group's draw does not depend on the other groups.
        XCTAssertEqual(b.map(\.input), ExampleBalancer.balance(ex, maxPerGroup: 20, seed: 3).map(\.input))
        let withThird = ExampleBalancer.balance(ex + [(input: "z", expert: "third")], maxPerGroup: 20, seed: 3)
        XCTAssertEqual(withThird.filter { $0.expert == "big" }.map(\.input), b.filter { $0.expert == "big" }.map(\.input))
        // Already balanced data comes back as it was.
        let again = ExampleBalancer.balance(b, maxPerGroup: 20, seed: 99)
        XCTAssertEqual(again.map(\.input).sorted(), b.map(\.input).sorted())
    }
}
