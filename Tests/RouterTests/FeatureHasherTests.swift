import XCTest
@testable import Router

final class FeatureHasherTests: XCTestCase {
    /// The ids are part of every saved model's meaning: if this test fails, the hash changed and
    /// `RouterModel.hashScheme` must change with it.
    func testFixedInputHashesToFixedBuckets() {
        let h = FeatureHasher(buckets: 1 << 20, minn: 2, maxn: 5, wordNgrams: 2)
        // Cross-checked with an independent Python implementation of the documented definition.
        XCTAssertEqual(h.features("Sort 3, 1"), [
            73366, 241822, 394820, 401315, 521108, 5382, 299813, 225552, 266375, 17453, 828812, 558041, 307373, 429188,
            357217, 304436, 646291, 398950, 834848, 685949, 131221, 914433, 962231, 695877, 650969, 746743, 1418, 425417, 665042,
        ])
    }

    func testIncrementalHashIsFNV1a64() {
        // Published FNV-1a 64 test vectors.
        XCTAssertEqual(ExampleBalancer.nameHash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(ExampleBalancer.nameHash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(ExampleBalancer.nameHash("foobar"), 0x8594_4171_f739_67e8)
    }

    func testFeatureCountsFollowTheDefinition() {
        let h = FeatureHasher(buckets: 1000, minn: 2, maxn: 5, wordNgrams: 2)
        // "ab" → "<ab>": 2-grams 3, 3-grams 2, 4-grams 1 = 6 n-grams, plus the word, plus the word count: 8.
        XCTAssertEqual(h.features("ab").count, 8)
        // Two words: 7 + 7 + one bigram + the word count; whitespace of any kind separates, leading and
        // trailing is ignored.
        XCTAssertEqual(h.features(" ab\tcd\n").count, 16)
        XCTAssertEqual(h.features("ab cd"), h.features("  ab \n cd "))
        XCTAssertEqual(h.features(""), [])
        XCTAssertEqual(h.features(" \t\n"), [])
        XCTAssertTrue(h.features(String(repeating: "x7+ ", count: 50)).allSatisfy { $0 < 1000 })
        // Unigrams only: no bigram.
        XCTAssertEqual(FeatureHasher(buckets: 1000, minn: 2, maxn: 5, wordNgrams: 1).features("ab cd").count, 15)
        // No word-count feature: the same ids without the last one.
        let noCount = FeatureHasher(buckets: 1000, minn: 2, maxn: 5, wordNgrams: 2, wordCount: false)
        XCTAssertEqual(noCount.features("ab cd"), Array(h.features("ab cd").dropLast()))
        // The word-count feature tells lengths apart, and caps at 16 words.
        XCTAssertNotEqual(h.features("ab").last, h.features("ab ab").last)
        XCTAssertEqual(h.features(String(repeating: "ab ", count: 16)).last, h.features(String(repeating: "ab ", count: 30)).last)
    }

    func testBytesNotCharacters() {
        // "é" is two UTF-8 bytes, so "<é>" has 4 bytes: 2-grams 3, 3-grams 2, 4-grams 1, plus the word.
        let h = FeatureHasher(buckets: 1 << 16, minn: 2, maxn: 5, wordNgrams: 1, wordCount: false)
        XCTAssertEqual(h.features("é").count, 7)
        let s = "naïve café"
        XCTAssertEqual(h.features(s), h.features(String(decoding: Array(s.utf8), as: UTF8.self)))
        // "<naïve>" is 8 bytes (7+6+5+4 n-grams, plus the word), "<café>" 7 bytes (6+5+4+3, plus the word).
        XCTAssertEqual(h.features(s).count, 23 + 19)
    }
}
