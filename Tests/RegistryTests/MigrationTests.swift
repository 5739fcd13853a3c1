import Foundation
import XCTest
@testable import Registry

final class MigrationTests: XCTestCase {
    func testFreshRegistryHasTheLatestSchema() throws {
        let registry = try Registry(home: temporaryDirectory(self))
        XCTAssertEqual(try registry.database.userVersion(), Migrations.latestVersion)
        XCTAssertGreaterThanOrEqual(Migrations.latestVersion, 1)
        let tables = Set(try registry.database.query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .compactMap { $0.string("name") })
        XCTAssertEqual(tables, ["blobs", "experts", "expert_data", "routers", "baselines", "settings"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: registry.home + "/registry.sqlite"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: registry.home + "/blobs"))
        // Opening again is a no-op.
        let again = try Registry(home: registry.home)
        XCTAssertEqual(try again.dump(), try registry.dump())
    }

    func testSchemaConstraints() throws {
        let registry = try Registry(home: temporaryDirectory(self))
        let db = registry.database
        // Foreign keys: an expert cannot point at a blob row that does not exist.
        XCTAssertThrowsError(try db.run("""
            INSERT INTO experts (name, version, config_json, param_count, weights_blob) VALUES ('x', 1, '{}', 1, 'nope')
            """))
        // Roles are checked; at most one router is active.
        try db.run("INSERT INTO blobs (sha256, size) VALUES ('b', 1)")
        try db.run("INSERT INTO routers (version, expert_set_json, weights_blob, active) VALUES (1, '[]', 'b', 1)")
        XCTAssertThrowsError(try db.run("INSERT INTO routers (version, expert_set_json, weights_blob, active) VALUES (2, '[]', 'b', 1)"))
        try db.run("INSERT INTO routers (version, expert_set_json, weights_blob, active) VALUES (2, '[]', 'b', 0)")
        try db.run("INSERT INTO experts (name, version, config_json, param_count, weights_blob) VALUES ('x', 1, '{}', 1, 'b')")
        XCTAssertThrowsError(try db.run("INSERT INTO expert_data (expert_id, role, blob) VALUES (1, 'other', 'b')"))
        try db.run("INSERT INTO expert_data (expert_id, role, blob) VALUES (1, 'train', 'b')")
        // Deleting the expert cascades to its data rows.
        try db.run("DELETE FROM experts")
        XCTAssertEqual(try db.scalar("SELECT count(*) FROM expert_data").intValue, 0)
    }

    func testNewerMigrationUpgradesAnOlderRegistryInPlace() throws {
        let home = temporaryDirectory(self)
        let v1 = Array(Migrations.all.prefix(1))
        do {
            let old = try Registry(home: home, migrations: v1)
            try old.addFakeExpert("sort")
            XCTAssertEqual(try old.database.userVersion(), 1)
        }
        let next = v1.count + 1
        let migration2 = Migration(version: next, name: "expert tags") { db in
            try db.execute("ALTER TABLE experts ADD COLUMN tags TEXT")
            try db.run("UPDATE experts SET tags = 'legacy:' || name")
        }
        let upgraded = try Registry(home: home, migrations: v1 + [migration2])
        XCTAssertEqual(try upgraded.database.userVersion(), next)
        XCTAssertEqual(try upgraded.database.scalar("SELECT tags FROM experts WHERE name = 'sort'").stringValue, "legacy:sort")
        XCTAssertEqual(try upgraded.expert(named: "sort")?.version, 1)
        XCTAssertTrue(try upgraded.dump().contains("tags"))
        // The old binary now refuses the upgraded file.
        let error = assertThrows(.newerSchema(found: next, supported: 1), try Registry(home: home, migrations: v1))
        XCTAssertTrue(error?.description.contains("upgrade triage") ?? false)
    }

    func testFailedMigrationLeavesTheOldVersion() throws {
        let home = temporaryDirectory(self)
        let v1 = Array(Migrations.all.prefix(1))
        let before = try Registry(home: home, migrations: v1).dump()
        let broken = Migration(version: 2, name: "broken", sql: "CREATE TABLE extra (x); INSERT INTO no_such_table VALUES (1);")
        let error = assertThrows(try Registry(home: home, migrations: v1 + [broken]))
        XCTAssertTrue(error?.description.contains("migrating the registry to version 2") ?? false, "\(String(describing: error))")
        let reopened = try Registry(home: home, migrations: v1)
        XCTAssertEqual(try reopened.database.userVersion(), 1)
        XCTAssertEqual(try reopened.dump(), before)
    }

    func testRegistryFromANewerTriageIsRefused() throws {
        let home = temporaryDirectory(self)
        do {
            let registry = try Registry(home: home)
            try registry.database.setUserVersion(99)
        }
        let error = assertThrows(.newerSchema(found: 99, supported: Migrations.latestVersion), try Registry(home: home))
        let message = error?.description ?? ""
        XCTAssertTrue(message.contains("upgrade triage"), message)
        XCTAssertTrue(message.contains("99"), message)
    }
}
