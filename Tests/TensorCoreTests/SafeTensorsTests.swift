import XCTest
@testable import TensorCore

final class SafeTensorsTests: XCTestCase {
    let values: [Float] = [0, 0.5, -1.25, 3.0, 1e-3, -7.5]

    func testRoundTripEveryDType() throws {
        let t = Tensor(shape: [2, 3], values: values)
        for dtype in [SafeTensors.DType.f32, .f16, .bf16, .f64] {
            let data = SafeTensors.encode(["w": .init(t, as: dtype)], metadata: ["name": "x", "d_model": "3"])
            let file = try SafeTensors.read(data: data)
            XCTAssertEqual(file.entries["w"]!.dtype, dtype)
            XCTAssertEqual(file["w"]!.shape, [2, 3])
            XCTAssertEqual(file.metadata, ["name": "x", "d_model": "3"])
            let tol: Float = dtype == .bf16 ? 1e-2 : (dtype == .f16 ? 1e-3 : 0)
            for (a, b) in zip(file["w"]!.values, values) { XCTAssertEqual(a, b, accuracy: tol * max(1, abs(b)), "\(dtype)") }
        }
        let ints = SafeTensors.encode(["i": .init(integers: [1, -2, 300000], shape: [3], as: .i32),
                                       "l": .init(integers: [5, 6], shape: [1, 2])])
        let f = try SafeTensors.read(data: ints)
        XCTAssertEqual(f.entries["i"]!.integers, [1, -2, 300000])
        XCTAssertEqual(f.entries["l"]!.integers, [5, 6])
    }

    func testWriteIsAtomicFileAndReadsBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        try SafeTensors.write(["a": Tensor(shape: [6], values: values)], to: path)
        XCTAssertEqual(try SafeTensors.read(path: path)["a"]!.values, values)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["w.safetensors"])
    }

    func testReadsFileWrittenByPythonSafetensors() throws {
        let url = Bundle.module.url(forResource: "python_written", withExtension: "safetensors", subdirectory: "Fixtures")!
        let f = try SafeTensors.read(path: url.path)
        let expected = (0..<12).map { Float($0) / 8 - 0.5 }
        XCTAssertEqual(f["f32"]!.shape, [3, 4])
        XCTAssertEqual(f["f32"]!.values, expected)
        XCTAssertEqual(f["f16"]!.values, expected)   // all exactly representable
        XCTAssertEqual(f["bf16"]!.values, expected)
        XCTAssertEqual(f.entries["i64"]!.integers, [1, -2, 3, 40000, 5, -6])
        XCTAssertEqual(f["scalar"]!.shape, [])
        XCTAssertEqual(f["scalar"]!.item, 3.25)
        XCTAssertEqual(f.metadata, ["name": "fixture", "d_model": "4"])
    }

    private func header(_ json: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
        var d = Data()
        var n = (declaredLength ?? UInt64(json.utf8.count)).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(json.utf8))
        d.append(contentsOf: data)
        return d
    }

    private func assertMalformed(_ data: Data, _ fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.read(data: data), line: line) { e in
            guard let e = e as? TensorCoreError else { return XCTFail("wrong error \(e)", line: line) }
            XCTAssert(e.description.contains(fragment), "\(e.description) lacks '\(fragment)'", line: line)
        }
    }

    func testMalformedFilesGiveErrors() {
        assertMalformed(Data([1, 2, 3]), "truncated")
        assertMalformed(header("{}", declaredLength: 1 << 40), "exceeds")
        assertMalformed(header("{}", declaredLength: 100), "truncated")
        assertMalformed(header("[1,2]"), "not a JSON object")
        assertMalformed(header("{\"a\":"), "not a JSON object")
        assertMalformed(header(#"{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "unsupported dtype")
        assertMalformed(header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]), "outside")
        assertMalformed(header(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), "needs 12 bytes")
        assertMalformed(header(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "shape")
        assertMalformed(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: Array(repeating: 0, count: 8)), "outside")
        assertMalformed(header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                               data: Array(repeating: 0, count: 8)), "overlaps")
        assertMalformed(header(#"{"__metadata__":{"a":1}}"#), "not a string")
    }

    /// Found by the safetensors fuzzer: an empty tensor shares its offset with the next tensor (as
    /// `encode` writes it), or sits inside another's range; it occupies no bytes, so it overlaps nothing.
    /// The check sorted by offset alone, so whether the file was refused depended on the hash order.
    func testEmptyTensorsOverlapNothing() throws {
        let empty = SafeTensors.Item(Tensor(zeros: [0, 4]))
        for _ in 0..<8 {  // `encode` sorts by name: "a" [0, 0) then "b" [0, 8)
            let file = try SafeTensors.read(data: SafeTensors.encode(["a": empty, "b": .init(Tensor(shape: [2], values: [1, 2]))]))
            XCTAssertEqual(file["a"]!.shape, [0, 4])
        }
        let inside = header(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#,
                            data: Array(repeating: 0, count: 8))
        XCTAssertEqual(try SafeTensors.read(data: inside)["a"]!.shape, [0])
    }

    /// 2^20 × (2^41 + 1) F64 elements need 2^64 + 2^23 bytes: unchecked, the byte count wraps to 2^23 and a
    /// file with 8 MiB of data would pass the size check (in release, where TensorCore is -Ounchecked)
    /// and be decoded as 2^61 elements, far past its end.
    func testAByteCountThatOverflowsIsRefused() {
        let shape = "[1048576,2199023255553]"
        assertMalformed(header(#"{"a":{"dtype":"F64","shape":\#(shape),"data_offsets":[0,8388608]}}"#,
                               data: Array(repeating: 0, count: 8_388_608)), "more than")
    }

    func testTruncatedRealFile() throws {
        let full = SafeTensors.encode(["w": .init(Tensor(shape: [2, 3], values: values))])
        for cut in [4, 12, full.count - 1] {
            XCTAssertThrowsError(try SafeTensors.read(data: full.prefix(cut)), "cut at \(cut)")
        }
    }
}
