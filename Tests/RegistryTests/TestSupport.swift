// Helpers shared by the registry tests: temporary homes and small fake experts.

import Foundation
import XCTest
@testable import Registry

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, file: StaticString = #filePath, line: UInt = #line) -> String {
    let path = NSTemporaryDirectory() + "registry-tests-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Asserts that `body` throws the RegistryError `expected`, and returns it.
@discardableResult
func assertThrows<T>(_ expected: RegistryError, _ body: @autoclosure () throws -> T,
                     file: StaticString = #filePath, line: UInt = #line) -> RegistryError? {
    assertThrowsRegistryError(expected, try body(), file: file, line: line)
}

/// Asserts that `body` throws some RegistryError, and returns it.
@discardableResult
func assertThrows<T>(_ body: @autoclosure () throws -> T,
                     file: StaticString = #filePath, line: UInt = #line) -> RegistryError? {
    assertThrowsRegistryError(nil, try body(), file: file, line: line)
}

private func assertThrowsRegistryError<T>(_ expected: RegistryError?, _ body: @autoclosure () throws -> T,
                     file: StaticString = #filePath, line: UInt = #line) -> RegistryError? {
    do {
        _ = try body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch let error as RegistryError {
        if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
        return error
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
        return nil
    }
}

extension Registry {
    /// Registers a small fake expert `name` whose weights and data derive from `seed`, with a router over
    /// all experts registered afterwards. Blob files are written first, as the engine does.
    @discardableResult
    func addFakeExpert(_ name: String, seed: Int = 0, replace: Bool = false,
                       roles: [DataRole] = DataRole.allCases) throws -> (expert: ExpertRecord, router: RouterRecord) {
        let weights = try blobs.put(Data("weights of \(name) #\(seed)".utf8))
        var data: [DataRole: BlobRef] = [:]
        for role in roles { data[role] = try blobs.put(Data("\(role.rawValue) data of \(name) #\(seed)\n".utf8)) }
        var names = Set(try expertNames())
        names.insert(name)
        let routerWeights = try blobs.put(Data("router over \(names.sorted()) #\(seed)".utf8))
        let record = ExpertRecord(name: name, description: "the \(name) expert", configJSON: #"{"layers":2}"#,
                                  paramCount: 1000 + seed, maxOutputBytes: 64, metricsJSON: #"{"accuracy":0.5}"#,
                                  trainingJSON: #"{"steps":10,"seconds":1.5,"seed":\#(seed),"tokens":1000}"#,
                                  manifestJSON: "{}")
        return try registerExpert(record, weights: weights, data: data,
                                  router: RouterRecord(expertSet: names.sorted(), weightsBlob: routerWeights.sha256),
                                  replace: replace)
    }
}
