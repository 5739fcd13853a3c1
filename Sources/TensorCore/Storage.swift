#if canImport(Glibc)
import Glibc
#endif
import CKernels

/// A 64-byte-aligned Float32 buffer owned by one or more tensors. Tensors share storage until one is
/// mutated (copy on write), so ops never copy inputs to read them.
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// Keeps borrowed memory alive (a mapped file's bytes); nil for buffers this storage owns.
    private let owner: AnyObject?

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
        owner = nil
        if zeroed { memset(raw, 0, bytes) }
    }

    /// Wraps `count` floats at `pointer` (64-byte aligned, writable) that `owner` keeps alive, without
    /// copying them: a router's 8 MB embedding table read straight from its mapped file, instead of a
    /// copy and a page fault per 4 KiB on every cold start.
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        precondition(Int(bitPattern: pointer) % 64 == 0, "TensorStorage: borrowed memory must be 64-byte aligned")
        (self.pointer, self.count, self.owner) = (pointer, count, owner)
    }

    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(count: count, zeroed: false)
        pointer.update(from: source, count: count)
    }

    deinit { if owner == nil { BufferPool.give(UnsafeMutableRawPointer(pointer), bytes: max(64, (count * 4 + 63) & ~63)) } }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

/// Recycles large tensor buffers by exact size. A training step frees and allocates the same buffer sizes
/// every step, yet glibc's heap, fragmented by them, kept growing and handing out fresh pages: on `tiny`
/// about 1,300 page faults a step, each a kernel zero-fill (`perf`: ~3% of a step). Freed buffers of
/// 64 KiB or more wait here for the next request of their size instead. At most `capacityBytes` are
/// kept: past that, the sizes least recently asked for go back to malloc first, so sizes seen once
/// (a validation pass, a decode of an odd batch) do not crowd out the ones every step uses.
enum BufferPool {
    static let minimumBytes = 1 << 16
    static let capacityBytes = 512 << 20

    private struct SizeClass {
        var free: [UnsafeMutableRawPointer] = []
        var lastUse = 0
    }
    nonisolated(unsafe) private static var classes: [Int: SizeClass] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    nonisolated(unsafe) private static var clock = 0
    /// Allocated once and never freed; every access to the pool's state holds it.
    nonisolated(unsafe) private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// A 64-byte-aligned buffer of `bytes` (a multiple of 64), recycled when one of that size is free.
    static func take(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes >= minimumBytes {
            pthread_mutex_lock(lock)
            clock += 1
            classes[bytes, default: SizeClass()].lastUse = clock
            let reused = classes[bytes]!.free.popLast()
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
        guard bytes >= minimumBytes, bytes <= capacityBytes else { Glibc.free(pointer); return }
        var evicted: [UnsafeMutableRawPointer] = []
        pthread_mutex_lock(lock)
        classes[bytes, default: SizeClass()].free.append(pointer)
        cachedBytes += bytes
        while cachedBytes > capacityBytes {
            // The least recently requested size that holds anything (possibly this one).
            guard let (size, _) = classes.filter({ !$0.value.free.isEmpty }).min(by: { $0.value.lastUse < $1.value.lastUse }) else { break }
            evicted += classes[size]!.free
            cachedBytes -= size * classes[size]!.free.count
            classes[size]!.free = []
        }
        pthread_mutex_unlock(lock)
        for p in evicted { Glibc.free(p) }
    }
}
