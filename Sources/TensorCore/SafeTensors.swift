import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw little-endian data. Reading memory-maps the file and checks
/// the header's size bound, every dtype, shape and offset before touching data, so a malformed or
/// truncated file gives an error, never a crash.
public enum SafeTensors {
    /// Element types TensorCore reads and writes.
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32"
        public var size: Int {
            switch self {
            case .f16, .bf16: return 2
            case .f32, .i32: return 4
            case .f64, .i64: return 8
            }
        }
    }

    /// Larger headers are refused before parsing: a header is names and shapes, never megabytes.
    public static let maxHeaderBytes = 100 << 20

    /// One tensor of a file, converted to Float32 (integers are converted too, exactly up to 2^24).
    public struct Entry {
        public let dtype: DType
        public let shape: [Int]
        private let floats: Tensor?
        /// An integer entry's little-endian bytes (a slice of the file's data, not a copy).
        private let integerBytes: Data?

        init(dtype: DType, shape: [Int], floats: Tensor?, integerBytes: Data?) {
            (self.dtype, self.shape, self.floats, self.integerBytes) = (dtype, shape, floats, integerBytes)
        }

        /// The integer values, for I32/I64 entries (decoded when asked).
        public var integers: [Int64]? {
            guard let raw = integerBytes else { return nil }
            let n = count
            return raw.withUnsafeBytes { b in
                [Int64](unsafeUninitializedCapacity: n) { out, done in
                    if dtype == .i32 {
                        for i in 0..<n { out[i] = Int64(Int32(littleEndian: b.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))) }
                    } else {
                        for i in 0..<n { out[i] = Int64(littleEndian: b.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
                    }
                    done = n
                }
            }
        }

        /// Calls `body` with an integer entry's raw little-endian bytes (nil for float entries), for readers
        /// that reinterpret them without an `[Int64]` in between.
        public func withIntegerBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
            guard let raw = integerBytes else { return nil }
            return try raw.withUnsafeBytes(body)
        }

        /// The values as Float32. Integer entries are converted when asked: their readers (the router's
        /// novelty bits, megabytes of them) use `integers`, and a second copy as floats on every cold
        /// start cost milliseconds for nothing.
        public var tensor: Tensor { floats ?? Tensor(shape: shape, values: integers!.map { Float($0) }) }

        /// How many values the entry holds.
        public var count: Int { shape.reduce(1, *) }
    }

    /// A parsed file: tensors by name and the `__metadata__` strings.
    public struct File {
        public var entries: [String: Entry]
        public var metadata: [String: String]
        public var tensors: [String: Tensor] { entries.mapValues(\.tensor) }
        public subscript(name: String) -> Tensor? { entries[name]?.tensor }
    }

    // MARK: Reading

    public static func read(path: String) throws -> File {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw TensorCoreError.io("cannot read \(path): \(error.localizedDescription)")
        }
        do { return try read(data: data) } catch let e as TensorCoreError {
            throw TensorCoreError.malformed("\(path): \(e.description)")
        }
    }

    /// Parses a file. With `borrowing`, F32 tensors whose bytes lie 64-byte aligned in `data` are used
    /// where they are, kept alive by `data`, instead of copied: for read-only models loaded from a
    /// mapped blob (the router). `data` must not be changed afterwards, and writable if a tensor is.
    public static func read(data: Data, borrowing: Bool = false) throws -> File {
        guard data.count >= 8 else { throw TensorCoreError.malformed("truncated: \(data.count) bytes, fewer than the 8-byte header length") }
        let headerLen = data.withUnsafeBytes { raw -> UInt64 in
            var v: UInt64 = 0
            withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<8])) }
            return UInt64(littleEndian: v)
        }
        guard headerLen <= UInt64(maxHeaderBytes) else {
            throw TensorCoreError.malformed("header length \(headerLen) exceeds the \(maxHeaderBytes)-byte limit")
        }
        guard 8 + Int(headerLen) <= data.count else {
            throw TensorCoreError.malformed("truncated: header needs \(headerLen) bytes, file has \(data.count - 8) after the length")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLen)))
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
            throw TensorCoreError.malformed("header is not a JSON object")
        }
        let dataStart = 8 + Int(headerLen)
        let dataLen = data.count - dataStart
        var metadata = [String: String]()
        var entries = [String: Entry]()
        var ranges = [(Int, Int, String)]()
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw TensorCoreError.malformed("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw TensorCoreError.malformed("__metadata__[\(k)] is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw TensorCoreError.malformed("\(name): entry is not an object") }
            guard let dt = info["dtype"] as? String, let dtype = DType(rawValue: dt) else {
                throw TensorCoreError.malformed("\(name): unsupported dtype \(info["dtype"] ?? "nil") (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeAny = info["shape"] as? [Any], let shape = intArray(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw TensorCoreError.malformed("\(name): shape is not a list of non-negative integers")
            }
            guard let offAny = info["data_offsets"] as? [Any], let offs = intArray(offAny), offs.count == 2 else {
                throw TensorCoreError.malformed("\(name): data_offsets is not a pair of integers")
            }
            let (begin, end) = (offs[0], offs[1])
            guard begin >= 0, begin <= end, end <= dataLen else {
                throw TensorCoreError.malformed("\(name): data_offsets [\(begin), \(end)] fall outside the \(dataLen) data bytes (truncated file?)")
            }
            var elements = 1
            for s in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: s)
                guard !overflow else { throw TensorCoreError.malformed("\(name): shape \(shape) overflows") }
                elements = p
            }
            // Checked: TensorCore builds -Ounchecked in release, where a wrapped product could match a
            // small byte range and the decode below would read far past it.
            let (bytes, bytesOverflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !bytesOverflow, bytes == end - begin else {
                throw TensorCoreError.malformed("\(name): shape \(shape) of \(dtype.rawValue) needs \(bytesOverflow ? "more than \(Int.max)" : "\(bytes)") bytes, offsets give \(end - begin)")
            }
            // An empty tensor occupies no bytes, so it overlaps nothing (our own writer puts it at the next
            // tensor's offset; compared by begin alone it "overlapped" it in half the hash orders).
            if end > begin { ranges.append((begin, end, name)) }
            if dtype == .i32 || dtype == .i64 {
                let lower = data.startIndex + dataStart + begin
                entries[name] = Entry(dtype: dtype, shape: shape, floats: nil, integerBytes: data[lower..<(lower + end - begin)])
            } else {
                let storage = data.withUnsafeBytes { raw -> TensorStorage in
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[(dataStart + begin)..<(dataStart + end)])
                    if borrowing, dtype == .f32, elements > 0, Int(bitPattern: bytes.baseAddress!) % 64 == 0 {
                        #if _endian(little)
                        return TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: bytes.baseAddress!).assumingMemoryBound(to: Float.self),
                                             count: elements, owner: DataOwner(data))
                        #endif
                    }
                    return decode(bytes, dtype: dtype, count: elements)
                }
                entries[name] = Entry(dtype: dtype, shape: shape, floats: Tensor(shape: shape, storage: storage), integerBytes: nil)
            }
        }
        ranges.sort { $0.0 < $1.0 }
        for i in ranges.indices.dropFirst() where ranges[i].0 < ranges[i - 1].1 {
            throw TensorCoreError.malformed("\(ranges[i].2) overlaps \(ranges[i - 1].2) in the data section")
        }
        return File(entries: entries, metadata: metadata)
    }

    private static func intArray(_ a: [Any]) -> [Int]? {
        var out = [Int]()
        for v in a {
            guard let n = v as? NSNumber else { return nil }
            let d = n.doubleValue
            guard d.isFinite, d == d.rounded(), d >= -1e15, d <= 1e15 else { return nil }
            out.append(n.intValue)
        }
        return out
    }

    /// Float dtypes as Float32 storage (integer entries keep their bytes instead).
    private static func decode(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int) -> TensorStorage {
        let s = TensorStorage(count: count, zeroed: false)
        let p = s.pointer
        switch dtype {
        case .f32:
            #if _endian(little)
            if count > 0 { UnsafeMutableRawPointer(p).copyMemory(from: raw.baseAddress!, byteCount: count * 4) }
            #else
            for i in 0..<count { p[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            #endif
        case .f64:
            for i in 0..<count { p[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))) }
        case .f16:
            for i in 0..<count { p[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))) }
        case .bf16:
            for i in 0..<count { p[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16) }
        case .i32, .i64:
            preconditionFailure("integer entries are not decoded to floats")
        }
        return s
    }

    // MARK: Writing

    /// A tensor to write, with the dtype to store it as. Integer dtypes take `integers`.
    public struct Item {
        public let shape: [Int]
        public let dtype: DType
        let floats: Tensor?
        let integers: [Int64]?
        public init(_ tensor: Tensor, as dtype: DType = .f32) {
            precondition(dtype != .i32 && dtype != .i64, "SafeTensors.Item: use init(integers:shape:) for integer dtypes")
            shape = tensor.shape; self.dtype = dtype; floats = tensor; integers = nil
        }
        public init(integers: [Int64], shape: [Int], as dtype: DType = .i64) {
            precondition(dtype == .i32 || dtype == .i64, "SafeTensors.Item: integers need I32 or I64")
            precondition(shape.reduce(1, *) == integers.count, "SafeTensors.Item: shape \(shape) for \(integers.count) integers")
            self.shape = shape; self.dtype = dtype; floats = nil; self.integers = integers
        }
        var count: Int { shape.reduce(1, *) }
    }

    /// Serialises tensors (sorted by name) and metadata. F32 tensors convert to the requested dtype
    /// (F16 and BF16 round to nearest even).
    public static func encode(_ items: [String: Item], metadata: [String: String] = [:]) -> Data {
        let names = items.keys.sorted()
        var offset = 0
        var fields = [String]()
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            fields.append("\"__metadata__\":{\(m)}")
        }
        for n in names {
            let it = items[n]!
            let bytes = it.count * it.dtype.size
            fields.append("\(jsonString(n)):{\"dtype\":\"\(it.dtype.rawValue)\",\"shape\":[\(it.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        // Pad (with spaces, as the format allows) so the data starts 64-byte aligned: a reader of a mapped
        // file can then use the first tensor, and any whose offset is a multiple of 64, where it lies.
        while (8 + header.count) % 64 != 0 { header.append(0x20) }
        var out = Data(capacity: 8 + header.count + offset)
        var len = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for n in names {
            let it = items[n]!
            var buf = [UInt8](repeating: 0, count: it.count * it.dtype.size)
            buf.withUnsafeMutableBytes { raw in
                if let ints = it.integers {
                    for (i, v) in ints.enumerated() {
                        if it.dtype == .i64 { raw.storeBytes(of: v.littleEndian, toByteOffset: i * 8, as: Int64.self) }
                        else { raw.storeBytes(of: Int32(truncatingIfNeeded: v).littleEndian, toByteOffset: i * 4, as: Int32.self) }
                    }
                } else if let t = it.floats {
                    let p = t.storage.pointer
                    for i in 0..<it.count {
                        switch it.dtype {
                        case .f32: raw.storeBytes(of: p[i].bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                        case .f64: raw.storeBytes(of: Double(p[i]).bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
                        case .f16: raw.storeBytes(of: Float16(p[i]).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
                        case .bf16: raw.storeBytes(of: bfloat16Bits(p[i]).littleEndian, toByteOffset: i * 2, as: UInt16.self)
                        case .i32, .i64: break
                        }
                    }
                }
            }
            out.append(contentsOf: buf)
        }
        return out
    }

    /// Writes atomically: a temporary file in the same folder, fsynced, then renamed over the target.
    public static func write(_ items: [String: Item], metadata: [String: String] = [:], to path: String) throws {
        try AtomicFile.write(encode(items, metadata: metadata), to: path)
    }

    /// F32 tensors written as `dtype`.
    public static func write(_ tensors: [String: Tensor], as dtype: DType = .f32, metadata: [String: String] = [:], to path: String) throws {
        try write(tensors.mapValues { Item($0, as: dtype) }, metadata: metadata, to: path)
    }

    /// Round to nearest even, NaN stays NaN.
    static func bfloat16Bits(_ f: Float) -> UInt16 {
        if f.isNaN { return 0x7FC0 }
        let b = f.bitPattern
        let rounding: UInt32 = 0x7FFF + ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: (b &+ rounding) >> 16)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// Crash-safe file replacement: write to a temporary sibling, fsync, rename, fsync the folder.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/.tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))-" + (path as NSString).lastPathComponent
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TensorCoreError.io("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        // The errno of the first failing call, kept before cleanup can overwrite it: "No space left on
        // device" tells the user what to do, a stale errno does not.
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = n < 0 ? errno : EIO; break }
                off += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(tmp, path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(tmp)
            throw TensorCoreError.io("cannot write \(path): \(String(cString: strerror(failure)))")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

/// Holds a file's bytes for the tensors that borrow them.
private final class DataOwner {
    let data: Data
    init(_ data: Data) { self.data = data }
}
