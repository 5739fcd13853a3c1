import CFuzzer
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What every fuzz target shares: turning libFuzzer's pointer into `Data`, failing loudly on a broken
/// invariant, and writing the target's seed corpus on request.
public enum Harness {
    /// The input libFuzzer hands over, as `Data` (copied: the parsers may keep slices of it).
    public static func data(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Data {
        guard let bytes, count > 0 else { return Data() }
        return Data(bytes: bytes, count: count)
    }

    /// A parser accepted something it must not, or returned something inconsistent. A trap, so that
    /// libFuzzer saves the input as a crash like any other.
    public static func violated(_ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) -> Never {
        fatalError("invariant violated: \(what())", file: file, line: line)
    }

    /// libFuzzer's callback: one input, 0 to go on.
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

    /// A target's whole `main`: writes its seeds if asked (`initialize`), then hands the command line and
    /// `testOneInput` to libFuzzer's driver and exits with its status. (SwiftPM links every executable
    /// with its own `main`, so the target calls libFuzzer rather than libFuzzer calling it.)
    public static func main(seeds: () throws -> [String: Data], _ testOneInput: TestOneInput) -> Never {
        initialize(seeds: seeds)
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
    }

    /// With `FUZZ_WRITE_SEEDS=DIR` set (`run.sh --seeds`), writes the target's seeds to DIR (one file
    /// each, by name) and exits: the seeds come from Triage's own writers, so they stay valid inputs when
    /// the formats change.
    public static func initialize(seeds: () throws -> [String: Data]) {
        guard let dir = ProcessInfo.processInfo.environment["FUZZ_WRITE_SEEDS"], !dir.isEmpty else { return }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let all = try seeds()
            for (name, bytes) in all.sorted(by: { $0.key < $1.key }) {
                try bytes.write(to: URL(fileURLWithPath: dir + "/" + name))
            }
            print("wrote \(all.count) seeds to \(dir)")
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("cannot write seeds to \(dir): \(error)\n".utf8))
            exit(1)
        }
    }

    /// A private scratch folder for a target's files, in memory (`/dev/shm`) where there is one, so that
    /// a target writing its input to a file per execution costs no disk I/O. Removed at exit.
    public static func scratchDirectory(_ name: String) -> String {
        let root = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = root + "/triage-fuzz-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        scratch.append(dir)
        if scratch.count == 1 { atexit { for d in Harness.scratch { try? FileManager.default.removeItem(atPath: d) } } }
        return dir
    }

    nonisolated(unsafe) static var scratch: [String] = []
}
