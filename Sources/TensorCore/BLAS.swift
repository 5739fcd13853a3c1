import COpenBLAS
import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS set-up: picks the fastest kernel table the CPU supports, sets the thread count,
/// and wraps sgemm. Every BLAS call in Triage goes through here, so the set-up runs before the first one.
public enum BLAS {
    /// What the set-up found and did.
    public struct Configuration: Sendable {
        /// The core OpenBLAS chose when it loaded.
        public let detectedCore: String
        /// The core in use now.
        public let core: String
        /// Why the core is what it is, for `bench` output and diagnostics.
        public let reason: String
    }

    /// Runs once, lazily and thread-safely (Swift globals are initialised with swift_once).
    public static let configuration: Configuration = configure()

    /// The OpenBLAS core in use (`openblas_get_corename`).
    public static var coreName: String {
        _ = configuration
        return String(cString: openblas_get_corename())
    }

    /// Cores one product may use (default: every core).
    ///
    /// OpenBLAS itself always runs on one thread; `sgemm` splits large products across Triage's own
    /// workers (`Parallel`). With OpenBLAS's pthread pool, its idle threads spin-wait for up to
    /// ~0.1 s after each call and took the cores from the elementwise and attention kernels that
    /// run between products (`perf` showed a quarter of a training step in `sched_yield`). One pool
    /// for everything removes that fight.
    public static func setThreads(_ n: Int) {
        _ = configuration
        gemmThreads = max(1, n)
    }

    /// Cores one product may use.
    public static var threads: Int {
        _ = configuration
        return gemmThreads
    }

    nonisolated(unsafe) private static var gemmThreads = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// Multiply-adds below which a product stays on the calling thread. Waking a parked worker takes
    /// 10-30 µs, and one core does 4M multiply-adds in about 40: below that a split loses (a batch-1
    /// prompt's products, 1-3M, ran 30% slower split at 512K).
    public static let splitThreshold = 1 << 22

    /// Capability levels of OpenBLAS x86-64 cores, so a weaker choice than the CPU supports is recognisable.
    static func level(ofCore name: String) -> Int {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "excavator": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return 1
        default: return 0
        }
    }

    /// The best core for a set of /proc/cpuinfo flags, or nil when only the baseline applies.
    static func bestCore(forFlags flags: Set<Substring>) -> String? {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(flags.contains) {
            return "SkylakeX"
        }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        if flags.contains("avx") { return "Sandybridge" }
        return nil
    }

    static func cpuFlags() -> Set<Substring> {
        guard let f = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            let s = String(cString: line!)
            if s.hasPrefix("flags") {
                guard let colon = s.firstIndex(of: ":") else { continue }
                return Set(s[s.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }))
            }
        }
        return []
    }

    private static func configure() -> Configuration {
        let detected = String(cString: openblas_get_corename())
        let finish = { (reason: String) -> Configuration in
            openblas_set_num_threads(1)
            _ = tc_openblas_stop_threads()
            return Configuration(detectedCore: detected, core: String(cString: openblas_get_corename()), reason: reason)
        }
        if let user = getenv("OPENBLAS_CORETYPE"), user.pointee != 0 {
            return finish("OPENBLAS_CORETYPE=\(String(cString: user)) set by the user: left alone")
        }
        guard let best = bestCore(forFlags: cpuFlags()) else {
            return finish("CPU flags allow no better core than \(detected)")
        }
        if level(ofCore: detected) >= level(ofCore: best) {
            return finish("OpenBLAS chose \(detected), as good as the CPU supports")
        }
        guard tc_openblas_reload(best) == 1 else {
            return finish("OpenBLAS chose \(detected); this build cannot switch cores in-process")
        }
        unsetenv("OPENBLAS_CORETYPE")  // child processes run their own detection
        return finish("OpenBLAS chose \(detected) for a CPU that supports \(best): switched in-process")
    }

    /// C[m,n] = alpha * op(A) * op(B) + beta * C, row-major, with leading dimensions for strided views.
    ///
    /// Large products are split into blocks of C rows (or columns, when C is wide) that workers compute
    /// with independent single-threaded calls; each block's result does not depend on the split.
    /// `rowBias` (n values) makes it C = alpha * op(A) * op(B) + bias on every row, the bias laid down per block.
    @inline(__always)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, maxWorkers: Int = .max,
                             rowBias: UnsafePointer<Float>? = nil) {
        _ = configuration
        let workers = min(gemmThreads, maxWorkers, max(1, (m * n * k) / splitThreshold))
        // With a bias, C's rows start as the bias and the product adds to them (beta is then ignored):
        // each block fills its own part just before its product, on its own core.
        let beta = rowBias == nil ? beta : 1
        if workers <= 1 {
            tc_flush_denormals()  // this thread may not have run a Parallel chunk yet
            if let rowBias { tc_fill_rows(c, ldc, rowBias, m, n) }
            rawSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        // Blocks are multiples of 16 rows/columns, the width of the AVX-512 micro-kernels.
        let splitRows = m >= n
        let extent = splitRows ? m : n
        let blocks = (extent + 15) / 16
        let parts = min(workers, blocks)
        Parallel.indexedChunks(blocks, workers: parts) { _, r in
            let lo = r.lowerBound * 16, hi = min(extent, r.upperBound * 16)
            if splitRows {
                if let rowBias { tc_fill_rows(c + lo * ldc, ldc, rowBias, hi - lo, n) }
                rawSgemm(transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc)
            } else {
                if let rowBias { tc_fill_rows(c + lo, ldc, rowBias + lo, m, hi - lo) }
                rawSgemm(transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc)
            }
        }
    }

    @inline(__always)
    private static func rawSgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                                 _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                                 _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[m] = alpha * A[m,n] · x + beta * y, row-major.
    ///
    /// The one place OpenBLAS's own threads still run: a matrix-vector product (one decoding step of
    /// one request) takes microseconds, less than waking a parked worker, and OpenBLAS's threads are
    /// awake (spinning) within it. Between such products nothing else needs the cores.
    @inline(__always)
    public static func sgemv(m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                             beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        _ = configuration
        let threaded = gemmThreads > 1 && m * n >= 1 << 15
        if threaded { openblas_set_num_threads(Int32(gemmThreads)) }
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
        if threaded { openblas_set_num_threads(1) }
    }
}

extension BLAS {
    /// Runs `body` with products on one thread, for regions that parallelise over many small products themselves.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        let saved = threads
        if saved == 1 { return try body() }
        setThreads(1)
        defer { setThreads(saved) }
        return try body()
    }
}

extension BLAS {
    /// C[m,n] = op(A) · op(B) (+ `rowBias` on every row) + beta · C with bfloat16 operands and fp32
    /// accumulation and results (oneDNN matmul). Split like `sgemm`: blocks of C's rows (or columns,
    /// when C is wide) that Triage's workers compute with single-threaded oneDNN calls, so oneDNN's
    /// OpenMP threads never start and never spin against the pool (Benchmarks/bf16_kernels.md: an
    /// OpenMP worker spun 5-8 ms after each call and slowed the next fp32 op 2.3x). Each block's
    /// result does not depend on the split.
    public static func bf16gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, maxWorkers: Int = .max,
                                rowBias: UnsafePointer<Float>? = nil) {
        _ = configuration
        let workers = min(gemmThreads, maxWorkers, max(1, (m * n * k) / splitThreshold))
        let (ta, tb) = (Int32(transA ? 1 : 0), Int32(transB ? 1 : 0))
        if workers <= 1 {
            tc_flush_denormals()
            check(tc_bf16_gemm_single(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc, rowBias), m, n, k)
            return
        }
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: workers) { status in
            Parallel.indexedChunks(workers, workers: workers) { w, _ in
                status[w] = tc_bf16_gemm_part(Int32(w), Int32(workers), ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc, rowBias)
            }
            for s in status { check(s, m, n, k) }
        }
    }

    /// oneDNN refusing a product it accepted at start-up (the level check) has never been seen; when it
    /// happens, part of C may be written, so there is no silent fallback: stop, and say how to go on.
    private static func check(_ status: Int32, _ m: Int, _ n: Int, _ k: Int) {
        if status != 0 {
            fatalError("oneDNN bf16 product [\(m)×\(k)]·[\(k)×\(n)] failed (status \(status)); run with --precision fp32")
        }
    }
}
