import Foundation
import CKernels
import Registry

/// The files a completion expert learns from: what `--files` and `--exclude` name, read once each,
/// with what was skipped and why. Text only: binary files (a NUL byte), files over the size limit and
/// invalid UTF-8 are skipped and counted, as are files that changed while they were read (read twice,
/// the sizes, times or bytes differ) — so a file being edited is never half-learned.
public struct FileWalk: Sendable {
    /// A file read: its path relative to the root of the pattern that found it, and its bytes.
    public struct File: Sendable {
        public let path: String
        public let relativePath: String
        public let bytes: [UInt8]
    }
    public private(set) var files: [File] = []
    /// Skipped paths by reason.
    public private(set) var skipped: [String: [String]] = [:]

    /// Reasons a file is skipped.
    public enum Skip: String, CaseIterable {
        case binary, tooLarge = "too_large", invalidUTF8 = "invalid_utf8", changed, unreadable, empty
    }

    /// Walks `include` (files, folders — everything under them — or glob patterns with `*`, `?`, `[…]` and
    /// `**`), leaving out paths that match an `exclude` pattern (matched against the relative path and the
    /// file name) and hidden folders (`.git`, `.build`, …) under a walked folder.
    public init(include: [String], exclude: [String] = [], maxFileBytes: Int = 2 << 20) throws {
        guard !include.isEmpty else { throw TriageError.badInput("--files: give at least one file, folder or pattern") }
        var seen = Set<String>()
        for pattern in include {
            let found = try Self.expand(pattern)
            if found.isEmpty { throw TriageError.badInput("--files \(pattern): matches no file") }
            for (path, rel) in found where !seen.contains(path) {
                seen.insert(path)
                if exclude.contains(where: { Self.matches($0, rel) || Self.matches($0, (rel as NSString).lastPathComponent) || Self.matches($0, path) }) { continue }
                read(path: path, relative: rel, maxFileBytes: maxFileBytes)
            }
        }
        files.sort { $0.relativePath < $1.relativePath }
    }

    /// Counts of skipped files by reason (zeros left out).
    public var skippedCounts: [String: Int] { skipped.mapValues(\.count).filter { $0.value > 0 } }

    private mutating func read(path: String, relative: String, maxFileBytes: Int) {
        func skip(_ why: Skip) { skipped[why.rawValue, default: []].append(relative) }
        guard let before = Self.stamp(path) else { return skip(.unreadable) }
        if before.size > maxFileBytes { return skip(.tooLarge) }
        guard let first = FileManager.default.contents(atPath: path) else { return skip(.unreadable) }
        FileWalk.afterRead?(path)
        guard let after = Self.stamp(path), after == before, first.count == before.size else {
            // Changed while read: one more try, then give up on it.
            guard let again = FileManager.default.contents(atPath: path), FileWalk.afterRead.map({ $0(path); return true }) ?? true,
                  let s2 = Self.stamp(path), again.count == s2.size,
                  again == FileManager.default.contents(atPath: path) else { return skip(.changed) }
            return accept(again, path: path, relative: relative, maxFileBytes: maxFileBytes)
        }
        accept(first, path: path, relative: relative, maxFileBytes: maxFileBytes)
    }

    private mutating func accept(_ data: Data, path: String, relative: String, maxFileBytes: Int) {
        func skip(_ why: Skip) { skipped[why.rawValue, default: []].append(relative) }
        if data.isEmpty { return skip(.empty) }
        if data.count > maxFileBytes { return skip(.tooLarge) }
        let bytes = [UInt8](data)
        if bytes.contains(0) { return skip(.binary) }
        if String(validating: bytes, as: UTF8.self) == nil { return skip(.invalidUTF8) }
        files.append(File(path: path, relativePath: relative, bytes: bytes))
    }

    /// Test hook: called after each read of a file (a test writes to it there, as an editor saving mid-walk would).
    nonisolated(unsafe) static var afterRead: ((String) -> Void)?

    private struct Stamp: Equatable { let size: Int; let mtime: Int; let nsec: Int }
    private static func stamp(_ path: String) -> Stamp? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Stamp(size: Int(st.st_size), mtime: Int(st.st_mtim.tv_sec), nsec: Int(st.st_mtim.tv_nsec))
    }

    /// The regular files `pattern` names, with their paths relative to its root.
    static func expand(_ pattern: String) throws -> [(String, String)] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let isGlob = pattern.contains { "*?[".contains($0) }
        if !isGlob {
            guard fm.fileExists(atPath: pattern, isDirectory: &isDir) else { throw TriageError.notFound("--files \(pattern): no such file or folder") }
            if !isDir.boolValue { return [(pattern, (pattern as NSString).lastPathComponent)] }
            return walk(root: pattern) { _ in true }
        }
        // The root is the folder part before the first wildcard; the rest is matched against paths under it.
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let fixed = parts.prefix { !$0.contains(where: { "*?[".contains($0) }) }
        let root = fixed.isEmpty ? "." : (pattern.hasPrefix("/") && fixed.count == 1 ? "/" : fixed.joined(separator: "/"))
        let rest = parts.dropFirst(fixed.count).joined(separator: "/")
        guard fm.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else { return [] }
        return walk(root: root) { matches(rest, $0) }
    }

    /// Regular files under `root` (hidden folders and files left out), relative paths sorted.
    static func walk(root: String, keep: (String) -> Bool) -> [(String, String)] {
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        var out = [(String, String)]()
        while let rel = e.nextObject() as? String {
            let name = (rel as NSString).lastPathComponent
            if name.hasPrefix(".") { if e.fileAttributes?[.type] as? FileAttributeType == .typeDirectory { e.skipDescendants() }; continue }
            guard e.fileAttributes?[.type] as? FileAttributeType == .typeRegular, keep(rel) else { continue }
            out.append(((root as NSString).appendingPathComponent(rel), rel))
        }
        return out.sorted { $0.1 < $1.1 }
    }

    /// Shell-style matching where `*` also crosses `/` and `**/` may match nothing (`src/**/*.py` takes `src/a.py`).
    static func matches(_ pattern: String, _ path: String) -> Bool {
        if fnmatch(pattern, path, 0) == 0 { return true }
        if pattern.contains("**/") { return fnmatch(pattern.replacingOccurrences(of: "**/", with: ""), path, 0) == 0 }
        return false
    }

    /// Splits the files into training and held-out ones by a hash of the relative path: about `percent`
    /// percent held out, at least one when there are two or more files, never all of them.
    public func split(heldOutPercent: Int = 5) -> (train: [File], heldOut: [File]) {
        func hash(_ f: File) -> UInt64 { Array(f.relativePath.utf8).withUnsafeBufferPointer { tc_fnv1a64($0.baseAddress, $0.count) } }
        var train = [File](), held = [File]()
        for f in files { if hash(f) % 100 < UInt64(heldOutPercent) { held.append(f) } else { train.append(f) } }
        if held.isEmpty, files.count >= 2, let pick = files.min(by: { hash($0) < hash($1) }) {
            held = [pick]
            train.removeAll { $0.relativePath == pick.relativePath }
        }
        if train.isEmpty, let last = held.popLast() { train = [last] }
        return (train, held)
    }
}
