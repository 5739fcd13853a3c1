import CKernels

/// The number format of matrix products (the linear layers', the output head's and attention's scores and
/// weighted sums). Everything else (LayerNorm, softmax and its gradient, the loss, AdamW and its state, the
/// master weights, every sum) stays fp32 in either.
public enum Precision: String, CaseIterable, Codable, Sendable {
    /// fp32 operands on OpenBLAS.
    case fp32
    /// bfloat16 operands, fp32 accumulation and results, on oneDNN (AMX or AVX512-BF16 kernels).
    case bf16
}

/// What a user asks for: `auto` takes bf16 where the CPU runs it natively, fp32 otherwise.
public enum PrecisionChoice: String, CaseIterable, Sendable {
    case auto, bf16, fp32
}

/// Mixed precision: which bf16 kernels this CPU has, and the precision products use now.
///
/// The precision is process-wide state, set around a training run or a benchmark (`with`): products
/// deep inside autograd closures read it, and threading it through every op would put a parameter on
/// every layer for one switch.
public enum MixedPrecision {
    /// The bf16 kernels the CPU (and kernel) allow, best first.
    public enum Kernel: String, Codable, Sendable {
        /// AMX tiles (`amx_bf16`, with the kernel's permission for tile data, `arch_prctl(ARCH_REQ_XCOMP_PERM)`).
        case amx = "amx-bf16"
        /// AVX512-BF16 dot products (`avx512_bf16`).
        case avx512 = "avx512-bf16"
        /// Neither: products run in fp32.
        case none
    }

    /// What this machine has (`TRIAGE_BF16_LEVEL=0|1` lowers it, to test the fallbacks).
    public static var kernel: Kernel {
        switch tc_bf16_level() {
        case 2: return .amx
        case 1: return .avx512
        default: return .none
        }
    }

    /// The precision `choice` means here; bf16 asked for on a CPU without bf16 kernels is an error.
    public static func resolve(_ choice: PrecisionChoice) throws -> Precision {
        switch choice {
        case .fp32: return .fp32
        case .auto: return kernel == .none ? .fp32 : .bf16
        case .bf16:
            guard kernel != .none else {
                throw TensorCoreError.mismatch("--precision bf16: this CPU has no bf16 kernels (needs AVX512-BF16 or AMX); use --precision fp32 or auto")
            }
            return .bf16
        }
    }

    nonisolated(unsafe) private static var current: Precision = .fp32

    /// The precision products use now.
    public static var products: Precision { current }

    /// Runs `body` with products in `precision`, then restores the previous one.
    public static func with<R>(_ precision: Precision, _ body: () throws -> R) rethrows -> R {
        let saved = current
        current = precision == .bf16 && kernel == .none ? .fp32 : precision
        defer { current = saved }
        return try body()
    }
}

/// A bfloat16 copy of fp32 values (round to nearest even), in a recycled tensor buffer. Sendable
/// because it is written once, when made, and only read after that.
public final class BF16Buffer: @unchecked Sendable {
    /// Values held.
    public let count: Int
    private let storage: TensorStorage
    /// The bf16 values (raw bits).
    public let pointer: UnsafeMutablePointer<UInt16>

    /// Room for `count` values, uninitialised.
    public init(count: Int) {
        self.count = count
        storage = TensorStorage(count: (count + 1) / 2, zeroed: false)
        pointer = UnsafeMutableRawPointer(storage.pointer).bindMemory(to: UInt16.self, capacity: max(1, count))
    }

    /// `values` converted, split across cores when large.
    public convenience init(converting values: UnsafePointer<Float>, count: Int) {
        self.init(count: count)
        let out = pointer
        Parallel.chunks(count, minimumPerThread: 1 << 16) { r in
            tc_f32_to_bf16(values + r.lowerBound, out + r.lowerBound, r.count)
        }
    }
}
