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
        let bytes = max(64, (count * 4 + 63) & ~63)
        let raw = BufferPool.take(bytes: bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        if zeroed { memset(raw, 0, bytes) }
    }

    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(count: count, zeroed: false)
        pointer.update(from: source, count: count)
    }

    deinit { BufferPool.give(UnsafeMutableRawPointer(pointer), bytes: max(64, (count * 4 + 63) & ~63)) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

/// Recycles large tensor buffers by exact size. A training step frees and allocates the same buffer sizes
/// every step, yet glibc's heap, fragmented by them, kept growing and handing out fresh pages: on `tiny`
/// about 1,300 page faults a step, each a kernel zero-fill (`perf`: ~3% of a step). Freed buffers of
/// 64 KiB or more wait here for the next request of their size instead; at most `capacityBytes` are
/// kept (beyond that they go back to malloc), so a process that allocates many sizes once (decoding
/// varied batches) holds no more than that.
enum BufferPool {
    static let minimumBytes = 1 << 16
    static let capacityBytes = 1 << 30

    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// A 64-byte-aligned buffer of `bytes` (a multiple of 64), recycled when one of that size is free.
    static func take(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes >= minimumBytes {
            pthread_mutex_lock(lock)
            let reused = free[bytes]?.popLast()
            if reused != nil { cachedBytes -= bytes }
            pthread_mutex_unlock(lock)
            if let reused { return reused }
        }
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("TensorStorage: out of memory allocating \(bytes) bytes")
        }
        return raw
    }

    static func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= minimumBytes {
            pthread_mutex_lock(lock)
            let kept = cachedBytes + bytes <= capacityBytes
            if kept {
                free[bytes, default: []].append(pointer)
                cachedBytes += bytes
            }
            pthread_mutex_unlock(lock)
            if kept { return }
        }
        Glibc.free(pointer)
    }
}
