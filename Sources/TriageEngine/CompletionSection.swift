import Foundation

/// The two kinds of expert. The router keeps them apart: `ask` routes among task experts only and
/// `complete` among completion experts only.
public enum ExpertKind: String, Codable, Sendable, CaseIterable {
    /// Text in, answer out (JSONL examples).
    case task
    /// A language model over a set of files, completing a prefix (or filling between a prefix and a suffix).
    case completion
}

/// What a completion expert's manifest records about its files. Privacy: the files' contents are not
/// here, and not in the registry unless `--keep-data` was given; what is stored is listed in `stored`.
public struct CompletionSection: Codable, Equatable, Sendable {
    /// A held-out file: its path relative to the walk's root, SHA-256 and size.
    public struct HeldOutFile: Codable, Equatable, Sendable {
        public var path: String
        public var sha256: String
        public var bytes: Int
        public init(path: String, sha256: String, bytes: Int) { (self.path, self.sha256, self.bytes) = (path, sha256, bytes) }
    }
    /// Files trained on, and their bytes.
    public var trainFiles: Int
    public var trainBytes: Int
    /// Files held out by a hash of their relative path (never trained on), for bits per byte.
    public var heldOut: [HeldOutFile]
    /// Files the walk skipped, by reason (`binary`, `too_large`, `invalid_utf8`, `changed`, `unreadable`, `empty`).
    public var skipped: [String: Int]
    /// Fraction of training windows given the fill-in-the-middle transform.
    public var fimRate: Double
    /// Bits per byte on the held-out files at registration (nil without held-out files).
    public var heldOutBitsPerByte: Double?
    /// Held-out bytes that `heldOutBitsPerByte` scored (a prefix of the held-out files, up to a limit).
    public var heldOutBytesScored: Int?
    /// Next-line exact match on held-out files: given a file up to a line's start, is the completed line the true one.
    public var nextLineExactMatch: Double?
    public var nextLineSamples: Int?
    /// What of the files the registry holds, in words.
    public var stored: String
    /// The patterns the files came from.
    public var include: [String]
    public var exclude: [String]

    enum CodingKeys: String, CodingKey {
        case trainFiles = "train_files", trainBytes = "train_bytes", heldOut = "held_out", skipped, fimRate = "fim_rate"
        case heldOutBitsPerByte = "held_out_bits_per_byte", heldOutBytesScored = "held_out_bytes_scored"
        case nextLineExactMatch = "next_line_exact_match", nextLineSamples = "next_line_samples", stored, include, exclude
    }
}
