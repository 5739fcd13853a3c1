import Foundation
import XCTest
@testable import Registry

final class NameAndHomeTests: XCTestCase {
    func testValidNames() throws {
        for name in ["sort", "a", "9lives", "add-2.digits_v1", String(repeating: "x", count: 64)] {
            XCTAssertNoThrow(try ExpertName.validate(name), name)
            XCTAssertTrue(ExpertName.isValid(name), name)
        }
    }

    func testInvalidNamesSayWhy() {
        let cases: [(String, String)] = [
            ("", "empty"),
            ("../x", "'/'"),
            ("a/b", "'/'"),
            (String(repeating: "x", count: 65), "65 characters"),
            ("a..b", "'..'"),
            ("Sort", "uppercase"),
            ("-x", "starts with '-'"),
            (".x", "starts with '.'"),
            ("_x", "starts with '_'"),
            ("a b", "space"),
            ("é", "character"),
        ]
        for (name, reason) in cases {
            let error = assertThrows(try ExpertName.validate(name))
            guard case .invalidName(let got, let why)? = error else { XCTFail("\(name): \(String(describing: error))"); continue }
            XCTAssertEqual(got, name)
            XCTAssertTrue(why.contains(reason), "\(name): \(why)")
            XCTAssertTrue(error!.description.contains("not a valid expert name"))
        }
    }

    func testHomeResolutionOrder() {
        let env = ["HOME": "/home/u", "TRIAGE_HOME": "/t", "XDG_DATA_HOME": "/xdg"]
        XCTAssertEqual(RegistryHome.resolve(explicit: "/flag", environment: env), "/flag")
        XCTAssertEqual(RegistryHome.resolve(explicit: "~/reg", environment: env), "/home/u/reg")
        XCTAssertEqual(RegistryHome.resolve(explicit: nil, environment: env), "/t")
        XCTAssertEqual(RegistryHome.resolve(explicit: "", environment: env), "/t")
        XCTAssertEqual(RegistryHome.resolve(explicit: nil, environment: ["HOME": "/home/u", "XDG_DATA_HOME": "/xdg"]), "/xdg/triage")
        XCTAssertEqual(RegistryHome.resolve(explicit: nil, environment: ["HOME": "/home/u", "TRIAGE_HOME": "", "XDG_DATA_HOME": ""]),
                       "/home/u/.local/share/triage")
    }
}
