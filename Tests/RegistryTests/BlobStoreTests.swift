import Foundation
import XCTest
@testable import Registry

final class BlobStoreTests: XCTestCase {
    func testPutLoadAndIdempotence() throws {
        let dir = temporaryDirectory(self)
        let store = try BlobStore(directory: dir + "/blobs")
        let data = Data("hello blobs".utf8)
        let ref = try store.put(data)
        XCTAssertEqual(ref, BlobRef(sha256: SHA256.hex(of: data), size: data.count))
        XCTAssertEqual(store.path(for: ref.sha256), dir + "/blobs/sha256-" + ref.sha256)
        XCTAssertTrue(store.contains(ref.sha256))
        XCTAssertEqual(try store.load(ref.sha256, owner: "test"), data)
        XCTAssertEqual(try store.put(data), ref)
        XCTAssertEqual(try store.put(Data()).size, 0)
        XCTAssertEqual(try store.load(SHA256.hex(of: [UInt8]()), owner: "empty"), Data())
        // No temporary files are left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: store.directory)
        XCTAssertEqual(names.filter { $0.hasPrefix(".tmp-") }, [])
        XCTAssertEqual(names.count, 2)
    }

    func testStreamingPutMatchesInMemoryPut() throws {
        let dir = temporaryDirectory(self)
        let store = try BlobStore(directory: dir + "/blobs")
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/big.bin"))
        let streamed = try store.put(fileAt: dir + "/big.bin")
        XCTAssertEqual(streamed, BlobRef(sha256: SHA256.hex(of: bytes), size: bytes.count))
        XCTAssertEqual(try store.put(Data(bytes)), streamed)
        XCTAssertEqual(try store.verify(streamed.sha256, owner: "big"), streamed)
        assertThrows(try store.put(fileAt: dir + "/missing.bin"))
    }

    /// `load(_:owner:parse:)` parses while another thread hashes: what it parsed is returned only when the
    /// hash matched, and a damaged blob is reported as damaged even when the parser accepted it or threw.
    func testParsingWhileHashingNeverReturnsUnverifiedBytes() throws {
        let dir = temporaryDirectory(self)
        let store = try BlobStore(directory: dir + "/blobs")
        let data = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let ref = try store.put(data)
        let owner = BlobOwner.router(version: 3)
        XCTAssertEqual(try store.load(ref.sha256, owner: owner) { $0.count }, data.count)
        struct ParseFailed: Error {}
        XCTAssertThrowsError(try store.load(ref.sha256, owner: owner) { _ -> Int in throw ParseFailed() }) { XCTAssertTrue($0 is ParseFailed) }
        let path = store.path(for: ref.sha256)
        try flipOneByte(at: path, offset: 123_456)
        assertThrows(.corruptBlob(sha: ref.sha256, path: path, owner: owner), try store.load(ref.sha256, owner: owner) { $0.count })
        assertThrows(.corruptBlob(sha: ref.sha256, path: path, owner: owner), try store.load(ref.sha256, owner: owner) { _ -> Int in throw ParseFailed() })
    }

    func testDamagedOrMissingFilesAreReportedAndRepairedByPut() throws {
        let dir = temporaryDirectory(self)
        let store = try BlobStore(directory: dir + "/blobs")
        let data = Data(repeating: 7, count: 1000)
        let ref = try store.put(data)
        let path = store.path(for: ref.sha256)
        try flipOneByte(at: path, offset: 500)
        let owner = BlobOwner.expertWeights("sort")
        assertThrows(.corruptBlob(sha: ref.sha256, path: path, owner: owner), try store.load(ref.sha256, owner: owner))
        assertThrows(.corruptBlob(sha: ref.sha256, path: path, owner: owner), try store.verify(ref.sha256, owner: owner))
        // Putting the content again replaces the damaged copy.
        XCTAssertEqual(try store.put(data), ref)
        XCTAssertEqual(try store.load(ref.sha256, owner: owner), data)
        // A missing file is reported the same way.
        try FileManager.default.removeItem(atPath: path)
        assertThrows(.corruptBlob(sha: ref.sha256, path: path, owner: owner), try store.load(ref.sha256, owner: owner))
        // So is a truncated one.
        try Data(data.prefix(10)).write(to: URL(fileURLWithPath: path))
        assertThrows(.corruptBlob(sha: ref.sha256, path: path, owner: owner), try store.load(ref.sha256, owner: owner))
        // Malformed hashes never become paths.
        assertThrows(try store.load("../../etc/passwd", owner: owner))
        XCTAssertFalse(store.contains("../x"))
    }
}

/// Flips the bits of one byte of the file at `path`.
func flipOneByte(at path: String, offset: Int) throws {
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    bytes[offset] ^= 0xff
    try bytes.write(to: URL(fileURLWithPath: path))
}
