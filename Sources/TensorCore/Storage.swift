#if canImport(Glibc)
import Glibc
#endif
import CKernels

/// A 64-byte-aligned Float32 buffer owned by one or more tensors. Tensors share storage until one is
/// mutated (copy on write), so ops never copy inputs to read them.
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// Large buffers come and go every training step; keep glibc from returning them to the kernel
    /// (mmap/munmap and page faults per step) by raising its thresholds once.
    private static let mallocTuned: Bool = {
        tc_tune_malloc()
        return true
    }()

    public init(count: Int, zeroed: Bool = true) {
        precondition(count >= 0, "TensorStorage: negative count \(count)")
        _ = TensorStorage.mallocTuned
        self.count = count
        var raw: UnsafeMutableRawPointer? = nil
        let bytes = max(64, (count * 4 + 63) & ~63)
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("TensorStorage: out of memory allocating \(bytes) bytes")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        if zeroed { memset(raw, 0, bytes) }
    }

    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(count: count, zeroed: false)
        pointer.update(from: source, count: count)
    }

    deinit { free(pointer) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}
