/// Errors from TensorCore's I/O and loading.
public enum TensorCoreError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case mismatch(String)
    case io(String)

    public var description: String {
        switch self {
        case .malformed(let s), .mismatch(let s), .io(let s): return s
        }
    }
}
