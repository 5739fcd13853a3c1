// Content-addressed files: `blobs/sha256-<hex>`. A blob is written to a temporary file in the same
// directory, fsynced, renamed into place and the directory fsynced, so a crash leaves either no file or a
// complete one (plus, at worst, a stray temporary file that `gc` removes). Every load re-hashes the file:
// weights silently damaged on disk must fail loudly with the command that repairs them, not run.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A stored blob: its SHA-256 (lowercase hex, also its name) and its size in bytes.
public struct BlobRef: Hashable, Codable, CustomStringConvertible {
    public let sha256: String
    public let size: Int

    public init(sha256: String, size: Int) {
        self.sha256 = sha256
        self.size = size
    }

    public var description: String { "sha256-\(sha256) (\(size) bytes)" }
}

/// The directory of content-addressed blob files (a registry home's `blobs/`).
public final class BlobStore {
    /// The directory holding the blobs.
    public let directory: String
    /// File-name prefix of a blob.
    public static let filePrefix = "sha256-"
    /// File-name prefix of a blob being written.
    public static let tempPrefix = ".tmp-"
    private static let chunkSize = 1 << 20

    /// Opens the store at `directory`, creating it if needed.
    public init(directory: String) throws {
        self.directory = directory
        try BlobStore.makeDirectory(directory)
    }

    /// True if `sha` is 64 lowercase hex digits: guards every path built from a hash.
    public static func isValidSHA(_ sha: String) -> Bool {
        sha.utf8.count == 64 && sha.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// The file of blob `sha`, for callers that memory-map it (verify it first with `verify`).
    public func path(for sha: String) -> String {
        precondition(BlobStore.isValidSHA(sha), "not a SHA-256 hex digest: \(sha)")
        return directory + "/" + BlobStore.filePrefix + sha
    }

    /// True if the file of blob `sha` exists (its content is not checked).
    public func contains(_ sha: String) -> Bool {
        BlobStore.isValidSHA(sha) && access(path(for: sha), F_OK) == 0
    }

    /// The size of the file of blob `sha`, or nil if it is missing.
    public func fileSize(of sha: String) -> Int? {
        guard BlobStore.isValidSHA(sha) else { return nil }
        var info = stat()
        guard stat(path(for: sha), &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// Stores `data` and returns its reference. Idempotent: if a good copy exists it is kept (and its
    /// modification time refreshed, so `gc` treats it as new); a damaged copy is replaced.
    @discardableResult
    public func put(_ data: Data) throws -> BlobRef {
        let sha = SHA256.hex(of: data)
        let ref = BlobRef(sha256: sha, size: data.count)
        if keepExisting(ref) { return ref }
        let (fd, tempPath) = try createTemp()
        do {
            try data.withUnsafeBytes { try BlobStore.writeAll(fd, $0, path: tempPath) }
        } catch {
            close(fd)
            unlink(tempPath)
            throw error
        }
        do {
            try commitTemp(fd: fd, tempPath: tempPath, sha: sha)
        } catch {
            unlink(tempPath)
            throw error
        }
        return ref
    }

    /// Stores `bytes` (see `put(_ data:)`).
    @discardableResult
    public func put(bytes: [UInt8]) throws -> BlobRef { try put(Data(bytes)) }

    /// Stores the file at `sourcePath`, streaming it in 1 MiB chunks (hashing while copying), so large
    /// weight files never sit in memory whole.
    @discardableResult
    public func put(fileAt sourcePath: String) throws -> BlobRef {
        let source = open(sourcePath, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw BlobStore.ioError(sourcePath, "opening") }
        defer { close(source) }
        let (fd, tempPath) = try createTemp()
        var hasher = SHA256()
        var size = 0
        do {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: BlobStore.chunkSize, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try BlobStore.readSome(source, buffer, path: sourcePath)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                hasher.update(chunk)
                try BlobStore.writeAll(fd, chunk, path: tempPath)
                size += n
            }
        } catch {
            close(fd)
            unlink(tempPath)
            throw error
        }
        let ref = BlobRef(sha256: hasher.finalizeHex(), size: size)
        if keepExisting(ref) {
            close(fd)
            unlink(tempPath)
            return ref
        }
        do {
            try commitTemp(fd: fd, tempPath: tempPath, sha: ref.sha256)
        } catch {
            unlink(tempPath)
            throw error
        }
        return ref
    }

    /// Reads blob `sha` and verifies its hash; a missing or damaged file throws `corruptBlob` naming `owner`.
    public func load(_ sha: String, owner: BlobOwner) throws -> Data {
        let data = try readBytes(sha, owner: owner)
        guard SHA256.hex(of: data) == sha else { throw RegistryError.corruptBlob(sha: sha, path: path(for: sha), owner: owner) }
        return data
    }

    /// Reads blob `sha` and hands its bytes to `parse` while another core checks their hash, so a cold
    /// start pays for the slower of the two instead of their sum (hashing the router and an expert is
    /// about 8 ms of a 50 ms `triage complete`). Nothing is returned before the hash matched: a damaged
    /// blob throws `corruptBlob` whatever `parse` made of it, including when `parse` threw.
    public func load<T>(_ sha: String, owner: BlobOwner, parse: (Data) throws -> T) throws -> T {
        let (value, check) = try loadCheckingLater(sha, owner: owner, parse: parse)
        try check.wait()
        return value
    }

    /// Like `load(_:owner:parse:)`, but returns while the hash is still being checked: the caller goes on
    /// (a cold start routes and loads the chosen expert meanwhile) and must `wait()` on the check before
    /// anything derived from the blob leaves it. When `parse` throws, the check is awaited first, so a
    /// damaged blob is reported as damaged.
    public func loadCheckingLater<T>(_ sha: String, owner: BlobOwner, parse: (Data) throws -> T) throws -> (T, PendingCheck) {
        let data = try readBytes(sha, owner: owner)
        let check = PendingCheck(digest: ConcurrentDigest(data), sha: sha, path: path(for: sha), owner: owner)
        do { return (try parse(data), check) } catch {
            try check.wait()
            throw error
        }
    }

    /// The bytes of blob `sha`, unverified (callers verify).
    private func readBytes(_ sha: String, owner: BlobOwner) throws -> Data {
        guard BlobStore.isValidSHA(sha) else {
            throw RegistryError.corruptBlob(sha: sha, path: directory + "/" + BlobStore.filePrefix + sha, owner: owner)
        }
        let file = path(for: sha)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RegistryError.corruptBlob(sha: sha, path: file, owner: owner) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BlobStore.ioError(file, "examining") }
        // Mapped, not copied: a router is 12 MB, and reading it into fresh memory cost a copy and a page
        // fault per 4 KiB on every cold start. Safe because a blob file is never changed in place (a
        // repair or `gc` renames or unlinks, and the mapping keeps the old inode).
        if info.st_size >= BlobStore.mapThreshold, let mapped = BlobStore.map(fd, count: Int(info.st_size)) { return mapped }
        var data = Data(count: Int(info.st_size))
        let count = data.count
        try data.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < count {
                let n = try BlobStore.readSome(fd, UnsafeMutableRawBufferPointer(rebasing: raw[offset..<count]), path: file)
                if n == 0 { break }
                offset += n
            }
            if offset != count { throw RegistryError.corruptBlob(sha: sha, path: file, owner: owner) }
        }
        return data
    }

    /// Blobs at least this large are memory-mapped by `load`.
    static let mapThreshold = 1 << 20

    /// The file's first `count` bytes, mapped copy-on-write: readers may use them in place (the router's
    /// tables), and a write changes this process's copy, never the blob.
    private static func map(_ fd: Int32, count: Int) -> Data? {
        guard let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else { return nil }
        return Data(bytesNoCopy: p, count: count, deallocator: .custom { p, n in munmap(p, n) })
    }

    /// Re-hashes blob `sha` without keeping it in memory (to check a blob without loading it).
    @discardableResult
    public func verify(_ sha: String, owner: BlobOwner) throws -> BlobRef {
        guard BlobStore.isValidSHA(sha), let ref = hashFile(path(for: sha)), ref.sha256 == sha else {
            throw RegistryError.corruptBlob(sha: sha, path: BlobStore.isValidSHA(sha) ? path(for: sha) : sha, owner: owner)
        }
        return ref
    }

    /// Lists the directory: blob hashes with their sizes and ages, and temporary files with their ages.
    func scan() throws -> (blobs: [(sha: String, size: Int, age: TimeInterval)], temps: [(path: String, size: Int, age: TimeInterval)]) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw BlobStore.ioError(directory, "listing", error: error)
        }
        let now = Date().timeIntervalSince1970
        var blobs: [(String, Int, TimeInterval)] = []
        var temps: [(String, Int, TimeInterval)] = []
        for name in names.sorted() {
            let full = directory + "/" + name
            var info = stat()
            guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            #if canImport(Darwin)
            let modified = info.st_mtimespec
            #else
            let modified = info.st_mtim
            #endif
            let age = now - (Double(modified.tv_sec) + Double(modified.tv_nsec) * 1e-9)
            if name.hasPrefix(BlobStore.tempPrefix) {
                temps.append((full, Int(info.st_size), age))
            } else if name.hasPrefix(BlobStore.filePrefix) {
                let sha = String(name.dropFirst(BlobStore.filePrefix.count))
                if BlobStore.isValidSHA(sha) { blobs.append((sha, Int(info.st_size), age)) }
            }
        }
        return (blobs, temps)
    }

    /// Deletes a file `gc` found unreferenced: false if it was already gone (another gc), a `disk` error
    /// if the disk refused (the caller's transaction then rolls back; a file already removed was garbage).
    func removeFile(_ path: String) throws -> Bool {
        if let code = Failpoint.injectedErrno("blob.unlink") { throw BlobStore.ioError(path, "removing", code: code) }
        if unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw BlobStore.ioError(path, "removing")
    }

    // MARK: - File plumbing

    /// If a correct copy of `ref` is already stored, refreshes its mtime and returns true.
    private func keepExisting(_ ref: BlobRef) -> Bool {
        let file = path(for: ref.sha256)
        guard fileSize(of: ref.sha256) == ref.size, hashFile(file) == ref else { return false }
        utimes(file, nil)
        return true
    }

    /// Hashes a file by streaming it; nil if it cannot be read.
    func hashFile(_ file: String) -> BlobRef? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: BlobStore.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var size = 0
        while true {
            guard let n = try? BlobStore.readSome(fd, buffer, path: file) else { return nil }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            size += n
        }
        return BlobRef(sha256: hasher.finalizeHex(), size: size)
    }

    private func createTemp() throws -> (Int32, String) {
        for _ in 0..<16 {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let tempPath = directory + "/" + BlobStore.tempPrefix + "\(getpid())-" + suffix
            let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (fd, tempPath) }
            if errno != EEXIST { throw BlobStore.ioError(tempPath, "creating the temporary file") }
        }
        throw BlobStore.ioError(directory, "creating a unique temporary file in")
    }

    /// fsyncs and closes the temporary file (always closing `fd`), renames it to the blob's name, fsyncs the directory.
    private func commitTemp(fd: Int32, tempPath: String, sha: String) throws {
        guard fsync(fd) == 0 else {
            let code = errno
            close(fd)
            throw BlobStore.ioError(tempPath, "flushing (fsync)", code: code)
        }
        guard close(fd) == 0 else { throw BlobStore.ioError(tempPath, "closing") }
        let finalPath = path(for: sha)
        guard rename(tempPath, finalPath) == 0 else { throw BlobStore.ioError(finalPath, "renaming the temporary file to") }
        try BlobStore.syncDirectory(directory)
    }

    static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(directory, "opening the directory") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ioError(directory, "flushing (fsync) the directory") }
    }

    static func makeDirectory(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ioError(directory, "creating the directory", error: error)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        if let code = Failpoint.injectedErrno("blob.write") { throw ioError(path, "writing", code: code) }
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let n = write(fd, base, remaining)
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError(path, "writing")
            }
            base += n
            remaining -= n
        }
    }

    static func readSome(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw ioError(path, "reading") }
        }
    }

    /// `ioError` for a Foundation error: its POSIX code when it has one, else its own description.
    static func ioError(_ path: String, _ what: String, error: Error) -> RegistryError {
        let ns = error as NSError
        let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError
        if ns.domain == NSPOSIXErrorDomain { return ioError(path, what, code: Int32(ns.code)) }
        if let u = underlying, u.domain == NSPOSIXErrorDomain { return ioError(path, what, code: Int32(u.code)) }
        return .io(path: path, message: "\(what) failed: \(error.localizedDescription)")
    }

    /// A disk fault (full, read-only, failing) gets `RegistryError.disk`, which says what to do about it.
    static func ioError(_ path: String, _ what: String, code: Int32 = errno) -> RegistryError {
        if DiskFault.isDiskFault(code) { return .disk(path: path, operation: what, code: code) }
        let reason = String(cString: strerror(code))
        return .io(path: path, message: "\(what) failed: \(reason)")
    }
}

/// A blob's SHA-256 being computed on another thread (`BlobStore.loadCheckingLater`).
public final class PendingCheck {
    private let digest: ConcurrentDigest
    private let sha: String, path: String, owner: BlobOwner

    fileprivate init(digest: ConcurrentDigest, sha: String, path: String, owner: BlobOwner) {
        (self.digest, self.sha, self.path, self.owner) = (digest, sha, path, owner)
    }

    /// Waits for the hash; throws `corruptBlob` if the bytes were not the blob's. May be called again.
    public func wait() throws {
        guard digest.wait() == sha else { throw RegistryError.corruptBlob(sha: sha, path: path, owner: owner) }
    }
}

/// A SHA-256 computed on its own thread: `wait()` returns the hex digest (from one thread at a time).
private final class ConcurrentDigest: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var hex = ""
    private var finished = false

    init(_ data: Data) {
        // A plain thread, not Dispatch's pool or Swift's cooperative one: this runs during a cold start
        // whose other core is otherwise idle, and must not queue behind work already there.
        let thread = Thread { [self] in
            hex = SHA256.hex(of: data)
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    func wait() -> String {
        if !finished {
            done.wait()
            finished = true
        }
        return hex
    }
}
