import XCTest
import ExpertModel
import Registry
@testable import TriageEngine

final class EngineTests: XCTestCase {
    func testSplitIsDeterministicByInputAndKeepsDuplicatesTogether() {
        let examples = (0..<4000).map { Example(input: "q\($0 % 3000)", output: "a\($0)") }
        let (train, valid, test) = Engine.split(examples)
        XCTAssertEqual(train.count + valid.count + test.count, examples.count)
        XCTAssertEqual(Engine.split(examples).test, test, "same input, same split")
        XCTAssertTrue(Set(test.map(\.input)).isDisjoint(with: train.map(\.input)), "an input's duplicates land together")
        XCTAssertTrue(Set(valid.map(\.input)).isDisjoint(with: train.map(\.input)))
        // About 1/20 each.
        XCTAssertEqual(Double(test.count) / Double(examples.count), 0.05, accuracy: 0.02)
        XCTAssertEqual(Double(valid.count) / Double(examples.count), 0.05, accuracy: 0.02)
    }

    func testErrorsMapToTheDocumentedExitCodes() {
        XCTAssertEqual(TriageError.from(ExpertError.badData(file: "f", line: 3, problem: "p")).exitCode, .badInput)
        XCTAssertEqual(TriageError.from(ExpertError.badWeights("x")).exitCode, .corrupt)
        XCTAssertEqual(TriageError.from(ExpertError.interrupted(step: 5, checkpoint: "c")).exitCode, .interrupted)
        XCTAssertEqual(TriageError.from(RegistryError.notFound(kind: "expert", name: "n")).exitCode, .notFound)
        XCTAssertEqual(TriageError.from(RegistryError.newerSchema(found: 9, supported: 1)).exitCode, .corrupt)
        XCTAssertEqual(TriageError.from(RegistryError.injectedFailure(point: "p")).exitCode, .internalError)
        XCTAssertEqual(TriageError.from(TriageError.notFound("x")).exitCode, .notFound)
        struct Other: Error {}
        XCTAssertEqual(TriageError.from(Other()).exitCode, .internalError)
        XCTAssertEqual(TriageError.ExitCode.interrupted.rawValue, 130)
    }

    func testRoleFilesReadAndWriteTheManifestShape() throws {
        let files: RoleFiles = [.train: "t.jsonl", .test: "x.jsonl"]
        let json = try JSONOutput.line(files)
        XCTAssertEqual(json, #"{"test":"x.jsonl","train":"t.jsonl"}"#)
        XCTAssertEqual(try JSONDecoder().decode(RoleFiles.self, from: Data(json.utf8)), files)
        XCTAssertThrowsError(try JSONDecoder().decode(RoleFiles.self, from: Data(#"{"extra":"e.jsonl"}"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("unknown data role \"extra\""), "\(error)")
        }
        XCTAssertEqual(files.roles, [.train, .test])
    }

    func testUserRunScheduleFollowsTheBudget() {
        var req = AddRequest(name: "x", dataPath: "d", budget: .steps(2000))
        req.recipe.learningRate = 3e-3
        XCTAssertEqual(req.options.steps, 2000)
        XCTAssertEqual(req.options.warmupSteps, 200)
        XCTAssertEqual(req.options.validateEvery, 200)
        XCTAssertEqual(req.options.learningRate, 3e-3)
        // The standard recipe: Muon for the hidden matrices, initialisation recorded in the options.
        XCTAssertEqual(req.options.optimizer, .muon)
        XCTAssertEqual(req.options.zeroOutputProjections, true)
        req.budget = .steps(5000)
        XCTAssertEqual(req.options.warmupSteps, 200)
        req.budget = .steps(30)
        XCTAssertEqual(req.options.warmupSteps, 3)
        XCTAssertEqual(req.options.validateEvery, 50)
        req.budget = .minutes(2)
        XCTAssertNil(req.options.steps)
        XCTAssertEqual(req.options.minutes, 2)
    }

    func testRequestsFileNamesTheBadLine() throws {
        let path = NSTemporaryDirectory() + "requests-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("{\"input\":\"a\",\"id\":7}\n\n{\"input\":3}\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try RequestReader.read(path)) { error in
            XCTAssertEqual("\(error)", "\(path):3: missing string field \"input\"")
        }
        try Data("{\"input\":\"a\",\"id\":7}\r\n  \n".utf8).write(to: URL(fileURLWithPath: path))
        let requests = try RequestReader.read(path)
        XCTAssertEqual(requests.map(\.input), ["a"])
        XCTAssertEqual(requests.map(\.id), ["7"])
    }
}
