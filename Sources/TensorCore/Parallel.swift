import Foundation
import CKernels

/// How many cores Triage computes on: products (`BLAS`) and every other parallel loop (`Parallel`)
/// use the same workers, so they are always set together, here.
public enum ComputeThreads {
    /// Uses `n` cores (at least one) for products and loops alike.
    public static func set(_ n: Int) {
        BLAS.setThreads(n)
        Parallel.threads = max(1, n)
    }

    /// The cores in use.
    public static var count: Int { Parallel.threads }
}

/// Splits loops across cores. Work below `minimumPerThread` items stays on the calling thread,
/// where thread wake-up would cost more than it saves.
public enum Parallel {
    /// Worker count for elementwise and attention loops (default: every online core).
    nonisolated(unsafe) public static var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Calls `body(range)` for contiguous chunks of 0..<n, in parallel when n is large enough.
    @inline(__always)
    public static func chunks(_ n: Int, minimumPerThread: Int = 16_384, _ body: (Range<Int>) -> Void) {
        indexedChunks(n, workers: workers(for: n, minimumPerThread: minimumPerThread)) { _, r in body(r) }
    }

    /// How many workers `chunks` would use for n items.
    public static func workers(for n: Int, minimumPerThread: Int) -> Int {
        min(threads, max(1, n / max(1, minimumPerThread)))
    }

    /// Calls `body(worker, range)` for `workers` contiguous chunks of 0..<n, so each worker can own a scratch slice.
    /// Regions run on Triage's own pool (`tc_pool_run`: workers that spin briefly between regions, so
    /// back-to-back ops start at once); one started while another is in flight (nested, or from another
    /// thread) runs on GCD instead. Every thread that runs a chunk computes with denormals flushed to zero
    /// (`tc_flush_denormals`): the setting is per thread, so the pool's helpers set it when they start and
    /// GCD's workers, not ours to configure once, on every chunk.
    public static func indexedChunks(_ n: Int, workers: Int, _ body: (Int, Range<Int>) -> Void) {
        tc_flush_denormals()
        if workers <= 1 { body(0, 0..<n); return }
        withoutActuallyEscaping(body) { body in
            var region = Region(n: n, workers: workers, body: body)
            let ran = withUnsafeMutablePointer(to: &region) { p in
                tc_pool_run(workers, { ctx, w in ctx!.assumingMemoryBound(to: Region.self).pointee.run(w) }, p)
            }
            if ran != 0 { return }
            let shared = SharedRegion(region: region)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                tc_flush_denormals()
                shared.region.run(w)
            }
        }
    }

    /// A region handed to GCD's workers. Safe to share although the body is not `Sendable`: the
    /// region is only read, each worker runs the body on its own disjoint range (callers write
    /// disjoint slices, the contract of every parallel loop here), and `concurrentPerform` returns
    /// only after every worker has finished, so nothing outlives the caller's frame.
    private struct SharedRegion: @unchecked Sendable { let region: Region }

    /// One parallel region, reached by the pool's workers through a context pointer.
    private struct Region {
        let n: Int, workers: Int
        let body: (Int, Range<Int>) -> Void
        func run(_ w: Int) {
            let lo = n * w / workers, hi = n * (w + 1) / workers
            if lo < hi { body(w, lo..<hi) }
        }
    }
}

// Thin wrappers so call sites read as Swift.
@inline(__always) func tcAccumulate(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ n: Int) {
    Parallel.chunks(n, minimumPerThread: 1 << 17) { r in tc_accumulate(y + r.lowerBound, a + r.lowerBound, r.count) }
}
