// Expert (and baseline) names become directory names (`Experts/<name>`), command arguments and JSON keys,
// so they are restricted to a small, portable, shell-safe alphabet.

/// Validation of expert names.
public enum ExpertName {
    /// The longest accepted name, in characters.
    public static let maxLength = 64

    /// Throws `RegistryError.invalidName` saying which rule `name` breaks: non-empty, at most 64
    /// characters from [a-z0-9-_.], starting with a letter or digit, no "..", no "/".
    public static func validate(_ name: String) throws {
        if let reason = problem(with: name) {
            throw RegistryError.invalidName(name: name, reason: reason)
        }
    }

    /// True if `validate` would accept `name`.
    public static func isValid(_ name: String) -> Bool { problem(with: name) == nil }

    /// The first rule `name` breaks, or nil.
    static func problem(with name: String) -> String? {
        let scalars = Array(name.unicodeScalars)
        if scalars.isEmpty { return "it is empty" }
        if scalars.count > maxLength { return "it is \(scalars.count) characters long, more than \(maxLength)" }
        if name.contains("/") { return "it contains '/'" }
        if name.contains("..") { return "it contains '..'" }
        for scalar in scalars where !isAllowed(scalar) {
            if ("A"..."Z").contains(scalar) { return "it contains the uppercase letter '\(scalar)' (use lowercase)" }
            if scalar == " " { return "it contains a space" }
            return "it contains the character '\(scalar.escaped(asASCII: true))'"
        }
        if let first = scalars.first, !(isLetterOrDigit(first)) { return "it starts with '\(first)'" }
        return nil
    }

    private static func isLetterOrDigit(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("0"..."9").contains(s)
    }

    private static func isAllowed(_ s: Unicode.Scalar) -> Bool {
        isLetterOrDigit(s) || s == "-" || s == "_" || s == "."
    }
}
