import Foundation
import XCTest
@testable import Registry

final class SHA256Tests: XCTestCase {
    func testStandardVectors() {
        XCTAssertEqual(SHA256.hex(of: [UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(of: Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(of: [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // The 896-bit message: two blocks of input, padding needs a third.
        XCTAssertEqual(SHA256.hex(of: Array(("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn" +
                                              "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu").utf8)),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testIncrementalUpdatesMatchOneShot() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let expected = SHA256.hex(of: bytes)
        for chunk in [1, 3, 55, 56, 63, 64, 65, 127, 1000] {
            var hasher = SHA256()
            var start = 0
            while start < bytes.count {
                let end = min(start + chunk, bytes.count)
                hasher.update(bytes[start..<end])
                start = end
            }
            XCTAssertEqual(hasher.finalizeHex(), expected, "chunk \(chunk)")
        }
        // Non-contiguous sequences take the slow path.
        XCTAssertEqual(SHA256.hex(of: bytes.lazy.map { $0 }), expected)
        XCTAssertEqual(SHA256.digest(of: Array("abc".utf8)).count, 32)
    }

    func testMatchesSha256sumForRandomFile() throws {
        let tool = "/usr/bin/sha256sum"
        guard FileManager.default.isExecutableFile(atPath: tool) else { throw XCTSkip("no sha256sum") }
        let dir = temporaryDirectory(self)
        let path = dir + "/random.bin"
        var generator = SystemRandomNumberGenerator()
        for size in [0, 1, 63, 64, 65, 200_003] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = [path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let expected = String(output.prefix(64))
            XCTAssertEqual(SHA256.hex(of: bytes), expected, "size \(size)")
            // The streaming path used by the blob store agrees too.
            let store = try BlobStore(directory: dir + "/blobs")
            XCTAssertEqual(try store.put(fileAt: path).sha256, expected)
        }
    }
}
