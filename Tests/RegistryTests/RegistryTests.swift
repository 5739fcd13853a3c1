import Foundation
import XCTest
@testable import Registry

final class RegistryTests: XCTestCase {
    private func makeRegistry() throws -> Registry { try Registry(home: temporaryDirectory(self)) }

    func testRegisterListShowRemove() throws {
        let registry = try makeRegistry()
        XCTAssertEqual(try registry.listExperts(), [])
        XCTAssertNil(try registry.activeRouter())

        let (sort, router1) = try registry.addFakeExpert("sort", seed: 1)
        XCTAssertEqual(sort.name, "sort")
        XCTAssertEqual(sort.version, 1)
        XCTAssertEqual(sort.paramCount, 1001)
        XCTAssertEqual(sort.maxOutputBytes, 64)
        XCTAssertEqual(sort.trainingJSON, #"{"steps":10,"seconds":1.5,"seed":1,"tokens":1000}"#)
        XCTAssertEqual(Set(sort.dataBlobs.keys), ["train", "valid", "test"])
        XCTAssertNotNil(sort.createdAt)
        XCTAssertEqual(router1.version, 1)
        XCTAssertTrue(router1.active)
        XCTAssertEqual(router1.expertSet, ["sort"])

        try registry.addFakeExpert("reverse", seed: 2, roles: [.train])
        XCTAssertEqual(try registry.listExperts().map(\.name), ["reverse", "sort"])
        XCTAssertEqual(try registry.expertNames(), ["reverse", "sort"])
        let shown = try XCTUnwrap(registry.expert(named: "reverse"))
        XCTAssertEqual(Array(shown.dataBlobs.keys), ["train"])
        XCTAssertEqual(try registry.loadData(of: shown, role: .train), Data("train data of reverse #2\n".utf8))
        XCTAssertNil(try registry.loadData(of: shown, role: .test))
        XCTAssertEqual(try registry.loadWeights(of: shown), Data("weights of reverse #2".utf8))
        XCTAssertNil(try registry.expert(named: "missing"))

        let active = try XCTUnwrap(registry.activeRouter())
        XCTAssertEqual(active.version, 2)
        XCTAssertEqual(active.expertSet, ["reverse", "sort"])
        XCTAssertEqual(try registry.routers().map(\.active), [true], "the superseded router is deleted")
        XCTAssertEqual(try registry.loadWeights(of: active), Data(#"router over ["reverse", "sort"] #2"#.utf8))

        // Removing with a new router installs it; the removed expert is gone with its data rows.
        let routerBlob = try registry.blobs.put(Data("router over sort only".utf8))
        let newRouter = try registry.removeExpert(name: "reverse",
                                                  newRouter: RouterRecord(expertSet: ["sort"], weightsBlob: routerBlob.sha256))
        XCTAssertEqual(newRouter?.version, 3)
        XCTAssertEqual(try registry.activeRouter()?.expertSet, ["sort"])
        XCTAssertEqual(try registry.expertNames(), ["sort"])
        XCTAssertEqual(try registry.database.scalar("SELECT count(*) FROM expert_data").intValue, 3)
        assertThrows(.notFound(kind: "expert", name: "reverse"), try registry.removeExpert(name: "reverse"))

        // Removing the last expert without a router leaves no active router.
        XCTAssertNil(try registry.removeExpert(name: "sort"))
        XCTAssertNil(try registry.activeRouter())
        XCTAssertEqual(try registry.listExperts(), [])
    }

    func testVersioningAndUniqueNames() throws {
        let registry = try makeRegistry()
        try registry.addFakeExpert("sort", seed: 1)
        let before = try registry.dump()
        let error = assertThrows(.alreadyExists(kind: "expert", name: "sort"), try registry.addFakeExpert("sort", seed: 2))
        XCTAssertTrue(error?.description.contains("--replace") ?? false)
        XCTAssertEqual(try registry.dump(), before)

        let (v2, _) = try registry.addFakeExpert("sort", seed: 2, replace: true, roles: [.train, .valid])
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(v2.paramCount, 1002)
        XCTAssertEqual(Set(v2.dataBlobs.keys), ["train", "valid"])
        XCTAssertEqual(try registry.loadWeights(of: v2), Data("weights of sort #2".utf8))
        XCTAssertEqual(try registry.addFakeExpert("sort", seed: 3, replace: true).expert.version, 3)
        XCTAssertEqual(try registry.listExperts().count, 1)
    }

    func testInvalidNamesAreRefusedBeforeAnyChange() throws {
        let registry = try makeRegistry()
        let before = try registry.dump()
        for name in ["", "../x", "a/b", String(repeating: "a", count: 65)] {
            let error = assertThrows(try registry.addFakeExpert(name))
            guard case .invalidName? = error else { XCTFail("\(name): \(String(describing: error))"); continue }
        }
        XCTAssertEqual(try registry.dump(), before)
    }

    func testRouterMustMatchTheRegisteredExperts() throws {
        let registry = try makeRegistry()
        try registry.addFakeExpert("sort")
        let before = try registry.dump()
        let weights = try registry.blobs.put(Data("w".utf8))
        let routerBlob = try registry.blobs.put(Data("r".utf8))
        let record = ExpertRecord(name: "reverse", configJSON: "{}", paramCount: 1)
        // A router that does not know the new expert, or that forgets an old one, is refused.
        assertThrows(.routerOutOfDate(missing: ["reverse"], unknown: []),
                     try registry.registerExpert(record, weights: weights,
                                                 router: RouterRecord(expertSet: ["sort"], weightsBlob: routerBlob.sha256)))
        let error = assertThrows(.routerOutOfDate(missing: ["sort"], unknown: ["ghost"]),
                                 try registry.registerExpert(record, weights: weights,
                                                             router: RouterRecord(expertSet: ["reverse", "ghost"], weightsBlob: routerBlob.sha256)))
        XCTAssertTrue(error?.description.contains("re-run the command") ?? false)
        assertThrows(try registry.registerExpert(record, weights: weights,
                                                 router: RouterRecord(expertSet: ["sort", "reverse", "sort"], weightsBlob: routerBlob.sha256)))
        XCTAssertEqual(try registry.dump(), before)
    }

    func testANewRouterSupersedesTheOldOneAndGCFreesItsBlob() throws {
        let registry = try makeRegistry()
        try registry.addFakeExpert("a")
        try registry.addFakeExpert("b")
        let superseded = try XCTUnwrap(registry.activeRouter())
        let blob = try registry.blobs.put(Data("retrained".utf8))
        let retrained = try registry.registerRouter(RouterRecord(expertSet: ["b", "a"], weightsBlob: blob.sha256,
                                                                 metricsJSON: #"{"accuracy":0.9}"#))
        XCTAssertEqual(retrained.version, 3, "versions keep counting up")
        XCTAssertEqual(try registry.activeRouter(), retrained)
        XCTAssertEqual(retrained.expertSet, ["b", "a"], "the router's output order is kept")
        XCTAssertEqual(try registry.routers().map(\.version), [3], "superseded routers are deleted")
        assertThrows(.routerOutOfDate(missing: ["b"], unknown: []),
                     try registry.registerRouter(RouterRecord(expertSet: ["a"], weightsBlob: blob.sha256)))
        let freed = try registry.gc(minimumAge: 0)
        XCTAssertTrue(freed.removed.contains(superseded.weightsBlob))
        XCTAssertFalse(freed.removed.contains(blob.sha256))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: registry.blobs.directory)
            .filter { $0.hasPrefix(BlobStore.filePrefix) }.map { String($0.dropFirst(BlobStore.filePrefix.count)) }),
                       try registry.referencedBlobs(), "every blob left is referenced")
    }

    func testBaselinesAndSettings() throws {
        let registry = try makeRegistry()
        XCTAssertNil(try registry.baseline(named: "single"))
        let weights = try registry.blobs.put(Data("baseline weights".utf8))
        let stored = try registry.putBaseline(BaselineRecord(name: "single", configJSON: "{}", metricsJSON: #"{"acc":0.7}"#,
                                                             trainingJSON: "{}", expertSet: ["a", "b"]), weights: weights)
        XCTAssertEqual(stored.weightsBlob, weights.sha256)
        XCTAssertEqual(stored.expertSet, ["a", "b"])
        let updated = try registry.putBaseline(BaselineRecord(name: "single", metricsJSON: #"{"acc":0.8}"#))
        XCTAssertEqual(updated.metricsJSON, #"{"acc":0.8}"#)
        XCTAssertNil(updated.weightsBlob)
        XCTAssertEqual(try registry.baselines().map(\.name), ["single"])
        XCTAssertNil(try registry.loadWeights(of: updated))
        try registry.removeBaseline(named: "single")
        assertThrows(.notFound(kind: "baseline", name: "single"), try registry.removeBaseline(named: "single"))

        XCTAssertNil(try registry.setting("fallback_expert"))
        try registry.setSetting("fallback_expert", "sort")
        try registry.setSetting("fallback_expert", "reverse")
        XCTAssertEqual(try registry.setting("fallback_expert"), "reverse")
        XCTAssertEqual(try registry.settings(), ["fallback_expert": "reverse"])
        try registry.setSetting("fallback_expert", nil)
        XCTAssertNil(try registry.setting("fallback_expert"))
    }

    func testCorruptWeightsNameTheOwnerAndTheRepair() throws {
        let registry = try makeRegistry()
        let (sort, _) = try registry.addFakeExpert("sort")
        let path = registry.blobs.path(for: sort.weightsBlob)
        try flipOneByte(at: path, offset: 3)
        let error = assertThrows(.corruptBlob(sha: sort.weightsBlob, path: path, owner: .expertWeights("sort")),
                                 try registry.loadWeights(of: sort))
        let message = error?.description ?? ""
        for part in ["expert 'sort' weights", path, "triage experts import Experts/sort", "triage experts remove sort"] {
            XCTAssertTrue(message.contains(part), "\(part) missing from: \(message)")
        }
        // Data splits name their role.
        let trainPath = registry.blobs.path(for: sort.dataBlobs["train"]!)
        try FileManager.default.removeItem(atPath: trainPath)
        let dataError = assertThrows(try registry.loadData(of: sort, role: .train))
        XCTAssertTrue(dataError?.description.contains("expert 'sort' train data") ?? false)
    }

    func testRegistrationRefusesMissingBlobFiles() throws {
        let registry = try makeRegistry()
        let before = try registry.dump()
        let ghost = BlobRef(sha256: String(repeating: "ab", count: 32), size: 3)
        let router = try registry.blobs.put(Data("r".utf8))
        let error = assertThrows(try registry.registerExpert(ExpertRecord(name: "x", configJSON: "{}", paramCount: 1), weights: ghost,
                                                             router: RouterRecord(expertSet: ["x"], weightsBlob: router.sha256)))
        guard case .corruptBlob(_, _, let owner)? = error else { return XCTFail(String(describing: error)) }
        XCTAssertEqual(owner, .expertWeights("x"))
        XCTAssertEqual(try registry.dump(), before)
    }

    func testGCRemovesOnlyUnreferencedBlobs() throws {
        let registry = try makeRegistry()
        let (keep, _) = try registry.addFakeExpert("keep", seed: 1)
        let supersededRouters = try registry.routers().map(\.weightsBlob)
        let (drop, _) = try registry.addFakeExpert("drop", seed: 2)
        let supersededRouters2 = try registry.routers().map(\.weightsBlob)
        let orphan = try registry.blobs.put(Data("never registered".utf8))
        let baseline = try registry.blobs.put(Data("baseline".utf8))
        try registry.putBaseline(BaselineRecord(name: "single"), weights: baseline)
        try registry.removeExpert(name: "drop", newRouter: RouterRecord(expertSet: ["keep"], weightsBlob: try registry.blobs.put(Data("r2".utf8)).sha256))

        // A fresh orphan survives the default grace period (another command may be about to register it).
        XCTAssertEqual(try registry.gc().removed, [])
        XCTAssertTrue(registry.blobs.contains(orphan.sha256))

        // Stray temporary files: old ones go, fresh ones stay.
        let oldTemp = registry.blobs.directory + "/.tmp-old"
        let newTemp = registry.blobs.directory + "/.tmp-new"
        try Data(count: 10).write(to: URL(fileURLWithPath: oldTemp))
        try Data(count: 10).write(to: URL(fileURLWithPath: newTemp))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: oldTemp)

        let referenced = try registry.referencedBlobs()
        let (removed, bytes) = try registry.gc(minimumAge: 0)
        let dropped = Set([drop.weightsBlob] + drop.dataBlobs.values + supersededRouters + supersededRouters2)
        XCTAssertTrue(dropped.isDisjoint(with: referenced))
        XCTAssertEqual(Set(removed), dropped.union([orphan.sha256]))
        XCTAssertEqual(removed, removed.sorted())
        XCTAssertGreaterThan(bytes, 10)
        XCTAssertFalse(FileManager.default.fileExists(atPath: oldTemp))
        XCTAssertTrue(FileManager.default.fileExists(atPath: newTemp))

        // Everything still referenced still loads; nothing referenced is missing.
        for sha in referenced { XCTAssertTrue(registry.blobs.contains(sha), sha) }
        XCTAssertEqual(try registry.loadWeights(of: keep), Data("weights of keep #1".utf8))
        XCTAssertNotNil(try registry.loadWeights(of: XCTUnwrap(registry.baseline(named: "single"))))
        let rows = Set(try registry.database.query("SELECT sha256 FROM blobs").compactMap { $0.string("sha256") })
        XCTAssertEqual(rows, referenced)
        // A second run has nothing left to do.
        XCTAssertEqual(try registry.gc(minimumAge: 0).removed, [])
    }

    func testFailedRegistrationOrRemovalLeavesTheDumpUnchanged() throws {
        let registry = try makeRegistry()
        try registry.addFakeExpert("sort", seed: 1)
        try registry.setSetting("fallback_expert", "sort")
        let before = try registry.dump()
        for point in ["register.afterExpert", "register.beforeCommit"] {
            registry.failpointHook = { if $0 == point { throw RegistryError.injectedFailure(point: $0) } }
            assertThrows(.injectedFailure(point: point), try registry.addFakeExpert("reverse", seed: 2))
            assertThrows(.injectedFailure(point: point), try registry.addFakeExpert("sort", seed: 3, replace: true))
            XCTAssertEqual(try registry.dump(), before, point)
        }
        for point in ["remove.afterDelete", "remove.beforeCommit"] {
            registry.failpointHook = { if $0 == point { throw RegistryError.injectedFailure(point: $0) } }
            assertThrows(.injectedFailure(point: point), try registry.removeExpert(name: "sort"))
            XCTAssertEqual(try registry.dump(), before, point)
        }
        registry.failpointHook = nil
        XCTAssertEqual(try registry.expert(named: "sort")?.version, 1)
        XCTAssertEqual(try registry.activeRouter()?.version, 1)
    }

    func testDumpIsDeterministicAndIgnoresTimestamps() throws {
        let a = try makeRegistry()
        let b = try makeRegistry()
        for registry in [a, b] {
            try registry.addFakeExpert("sort", seed: 1)
            try registry.addFakeExpert("add", seed: 2)
            try registry.setSetting("k", "it's\nmultiline")
        }
        try b.database.run("UPDATE experts SET created_at = '2000-01-01T00:00:00Z'")
        let dump = try a.dump()
        XCTAssertEqual(dump, try b.dump())
        XCTAssertTrue(dump.hasPrefix("user_version \(Migrations.latestVersion)\n"))
        XCTAssertFalse(dump.contains("created_at"))
        XCTAssertTrue(dump.contains("'it''s\\nmultiline'"))
        XCTAssertLessThan(dump.range(of: "table blobs")!.lowerBound, dump.range(of: "table experts")!.lowerBound)
    }
}
