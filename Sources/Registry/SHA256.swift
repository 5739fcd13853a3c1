// SHA-256 through OpenSSL's libcrypto: blobs are verified on every load, so the hash runs over whole
// weight files on every `triage ask`; libcrypto uses the CPU's SHA extensions (~1.5-2 GB/s here, against
// ~240 MB/s for portable code), which keeps verification inside the cold-start budget.
import CCrypto

/// An incremental SHA-256 hasher: content addresses blobs and verifies them on every load.
public struct SHA256 {
    /// Owns the OpenSSL context; copies of a hasher share it (hash one message per hasher).
    private final class Context {
        let ctx: OpaquePointer
        init() {
            ctx = EVP_MD_CTX_new()
            EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
        }
        deinit { EVP_MD_CTX_free(ctx) }
    }
    private let context = Context()

    /// Creates a hasher over the empty message.
    public init() {}

    /// Hashes `bytes` in one call and returns the lowercase hex digest (the blob store's naming form).
    public static func hex<Bytes: Sequence>(of bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    /// Hashes `bytes` in one call and returns the 32-byte digest.
    public static func digest<Bytes: Sequence>(of bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Feeds more message bytes; contiguous collections (Array, Data, buffers) take the fast path.
    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if handled == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        EVP_DigestUpdate(context.ctx, base, buffer.count)
    }

    /// The 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(context.ctx, &out, &len)
        return out
    }

    /// The lowercase hex digest.
    public mutating func finalizeHex() -> String {
        let hexDigits = Array("0123456789abcdef".utf8)
        var chars = [UInt8]()
        chars.reserveCapacity(64)
        for b in finalize() { chars.append(hexDigits[Int(b >> 4)]); chars.append(hexDigits[Int(b & 15)]) }
        return String(decoding: chars, as: UTF8.self)
    }
}
