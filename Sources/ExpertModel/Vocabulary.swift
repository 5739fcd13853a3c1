/// The 260-token byte vocabulary: the 256 byte values, then four specials.
public enum Vocabulary {
    public static let size = 260
    public static let pad: Int32 = 256
    public static let bos: Int32 = 257
    public static let sep: Int32 = 258
    public static let eos: Int32 = 259

    /// `BOS input SEP` — the prompt a request becomes.
    public static func prompt(_ input: String) -> [Int32] {
        [bos] + input.utf8.map { Int32($0) } + [sep]
    }

    /// `BOS input SEP output EOS` — a training example.
    public static func example(input: String, output: String) -> [Int32] {
        prompt(input) + output.utf8.map { Int32($0) } + [eos]
    }

    /// Output tokens back to text (stops at the first special token; invalid UTF-8 is repaired).
    public static func text(_ tokens: [Int32]) -> String {
        let bytes = tokens.prefix { $0 >= 0 && $0 < 256 }.map { UInt8($0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
