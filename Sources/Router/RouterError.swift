/// What can go wrong building, training or loading a router; each case says what to fix.
public enum RouterError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case invalidData(String)
    case malformedModel(String)

    public var description: String {
        switch self {
        case .invalidConfig(let s): return "invalid router config: \(s)"
        case .invalidData(let s): return "invalid router training data: \(s)"
        case .malformedModel(let s): return "malformed router model: \(s)"
        }
    }
}
