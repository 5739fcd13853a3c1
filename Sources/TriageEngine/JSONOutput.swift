import Foundation

/// One compact, key-sorted JSON line per result, for `--json` output.
public enum JSONOutput {
    /// `value` as one compact line of key-sorted JSON.
    public static func line<T: Encodable>(_ value: T) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try enc.encode(value), as: UTF8.self)
    }
}
