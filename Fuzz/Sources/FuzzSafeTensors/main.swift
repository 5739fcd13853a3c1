// The safetensors reader, on the path every weights file takes: `SafeTensors.read`, then (for a file
// whose metadata describes an expert) `Transformer.load`. A malformed or hostile file must give an
// error; an accepted one must round-trip through the writer.
import Foundation
import ExpertModel
import FuzzSupport
import TensorCore


func testOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = Harness.data(bytes, count)
    guard let file = try? SafeTensors.read(data: data) else { return 0 }
    // What was accepted writes back to a file that reads as the same tensors.
    var items = [String: SafeTensors.Item]()
    for (name, e) in file.entries {
        if let ints = e.integers { items[name] = .init(integers: ints, shape: e.shape, as: e.dtype) }
        else { items[name] = .init(e.tensor, as: .f32) }
    }
    guard let again = try? SafeTensors.read(data: SafeTensors.encode(items, metadata: file.metadata)) else {
        Harness.violated("an accepted file does not read back after writing")
    }
    guard again.metadata == file.metadata, again.entries.mapValues(\.shape) == file.entries.mapValues(\.shape) else {
        Harness.violated("an accepted file reads back with other names, shapes or metadata")
    }
    for (name, e) in file.entries where e.tensor.count != e.shape.reduce(1, *) {
        Harness.violated("\(name): \(e.tensor.count) values for shape \(e.shape)")
    }
    _ = try? Transformer.load(file, origin: "fuzz")
    return 0
}

Harness.main(seeds: {
    var seeds = ["tiny-f32.safetensors": try Fixtures.weights(dtype: .f32), "tiny-bf16.safetensors": try Fixtures.weights(dtype: .bf16),
                 "tiny-f16.safetensors": try Fixtures.weights(dtype: .f16)]
    let t = Tensor(shape: [2, 3], values: [1, -2, 3.5, 0, .infinity, -0.0])
    seeds["dtypes.safetensors"] = SafeTensors.encode([
        "f32": .init(t), "f64": .init(t, as: .f64), "f16": .init(t, as: .f16), "bf16": .init(t, as: .bf16),
        "i32": .init(integers: [1, -2, 3], shape: [3], as: .i32), "i64": .init(integers: [Int64.max, Int64.min], shape: [2, 1]),
        "empty": .init(Tensor(zeros: [0, 4])),
    ], metadata: ["format": "1", "note": "every dtype"])
    seeds["python.safetensors"] = Fixtures.repositoryFile("Tests/TensorCoreTests/Fixtures/python_written.safetensors")
    return seeds
}, testOneInput)
