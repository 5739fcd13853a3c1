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

    /// Sets OpenBLAS's thread count (default: every core).
    public static func setThreads(_ n: Int) {
        _ = configuration
        openblas_set_num_threads(Int32(max(1, n)))
    }

    public static var threads: Int {
        _ = configuration
        return Int(openblas_get_num_threads())
    }

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
            openblas_set_num_threads(Int32(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
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
    @inline(__always)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = configuration
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[m] = alpha * A[m,n] · x + beta * y, row-major.
    @inline(__always)
    public static func sgemv(m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                             beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        _ = configuration
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}
