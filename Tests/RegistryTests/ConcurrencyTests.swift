import Foundation
import XCTest
@testable import Registry

final class ConcurrencyTests: XCTestCase {
    /// Two threads, each with its own connection to one home, register 50 experts each while reading; no
    /// SQLite error may surface. A registration whose router went stale because the other thread committed
    /// first is retried with a fresh router, as the engine does.
    func testTwoConnectionsRegisterAndReadConcurrently() throws {
        let home = temporaryDirectory(self)
        _ = try Registry(home: home)
        let perThread = 50
        let log = Log()
        let group = DispatchGroup()
        for thread in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let registry = try Registry(home: home)
                    for i in 0..<perThread {
                        let name = "t\(thread)-\(i)"
                        while true {
                            do {
                                try registry.addFakeExpert(name, seed: i)
                                break
                            } catch RegistryError.routerOutOfDate {
                                log.staleRetry()
                            }
                        }
                        // In one snapshot, the active router routes to exactly the listed experts.
                        let (listed, router) = try registry.database.read { (try registry.listExperts(), try registry.activeRouter()) }
                        guard listed.contains(where: { $0.name == name }) else { throw RegistryError.notFound(kind: "expert", name: name) }
                        guard let router, Set(router.expertSet) == Set(listed.map(\.name)) else {
                            throw RegistryError.invalidRecord(reason: "the active router does not match the experts")
                        }
                        _ = try registry.expert(named: name).map(registry.loadWeights(of:))
                    }
                } catch {
                    log.fail("thread \(thread): \(error)")
                }
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 300), .success)
        XCTAssertEqual(log.errors, [])
        let registry = try Registry(home: home)
        XCTAssertEqual(try registry.listExperts().count, 2 * perThread)
        XCTAssertEqual(Set(try XCTUnwrap(registry.activeRouter()).expertSet), Set(try registry.expertNames()))
        XCTAssertEqual(try registry.routers().filter(\.active).count, 1)
        print("concurrent registrations: \(log.staleRetries) stale-router retries")
    }
}

/// Errors and retry counts collected from several threads.
private final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var errors: [String] = []
    private(set) var staleRetries = 0

    func fail(_ message: String) { lock.lock(); errors.append(message); lock.unlock() }
    func staleRetry() { lock.lock(); staleRetries += 1; lock.unlock() }
}
