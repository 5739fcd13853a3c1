import CSQLite
import Foundation
import XCTest
@testable import Registry

final class DatabaseTests: XCTestCase {
    private func openDatabase() throws -> Database {
        try Database(path: temporaryDirectory(self) + "/test.sqlite")
    }

    func testTypedBindingRoundTrips() throws {
        let db = try openDatabase()
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, d REAL, s TEXT, b BLOB, n)")
        let text = "héllo 'quoted' \"x\" \n tab\t ✓"
        let blob = Data([0, 1, 2, 255, 0])
        try db.run("INSERT INTO t (i, d, s, b, n) VALUES (?, ?, ?, ?, ?)",
                   [.int(Int64.max), .double(-1.25e-7), .text(text), .blob(blob), .null])
        try db.run("INSERT INTO t (i, d, s, b, n) VALUES (?, ?, ?, ?, ?)",
                   [.int(Int64.min), .double(0), .text(""), .blob(Data()), nil])
        let rows = try db.query("SELECT i, d, s, b, n FROM t ORDER BY id")
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0]["i"], .int(Int64.max))
        XCTAssertEqual(rows[0]["d"], .double(-1.25e-7))
        XCTAssertEqual(rows[0].string("s"), text)
        XCTAssertEqual(rows[0].data("b"), blob)
        XCTAssertEqual(rows[0]["n"], .null)
        XCTAssertEqual(rows[1]["i"], .int(Int64.min))
        XCTAssertEqual(rows[1].string("s"), "")
        XCTAssertEqual(rows[1]["b"], .blob(Data()), "an empty blob must not become NULL")
        XCTAssertEqual(try db.scalar("SELECT count(*) FROM t WHERE s = ?", [.text(text)]), .int(1))
        XCTAssertEqual(try db.scalar("SELECT 1 WHERE 0"), .null)
    }

    func testPreparedStatementReuse() throws {
        let db = try openDatabase()
        try db.execute("CREATE TABLE t (x INTEGER)")
        let insert = try db.prepare("INSERT INTO t (x) VALUES (?)")
        for x in 0..<10 {
            try insert.bind([.int(Int64(x))])
            XCTAssertFalse(try insert.step())
            insert.reset()
        }
        XCTAssertEqual(try db.scalar("SELECT sum(x) FROM t").intValue, 45)
    }

    func testConnectionSettings() throws {
        let db = try openDatabase()
        XCTAssertEqual(try db.scalar("PRAGMA journal_mode").stringValue, "wal")
        XCTAssertEqual(try db.scalar("PRAGMA foreign_keys").intValue, 1)
        XCTAssertEqual(try db.scalar("PRAGMA busy_timeout").intValue, 10_000)
    }

    func testTransactionCommitsAndRollsBack() throws {
        let db = try openDatabase()
        try db.execute("CREATE TABLE t (x INTEGER)")
        try db.transaction { try db.run("INSERT INTO t VALUES (1)") }
        struct Boom: Error {}
        XCTAssertThrowsError(try db.transaction {
            try db.run("INSERT INTO t VALUES (2)")
            throw Boom()
        })
        XCTAssertFalse(db.isInTransaction)
        XCTAssertEqual(try db.scalar("SELECT group_concat(x) FROM t").stringValue, "1")

        // A nested transaction is a savepoint: its failure undoes only its own work if caught.
        try db.transaction {
            try db.run("INSERT INTO t VALUES (3)")
            _ = try? db.transaction {
                try db.run("INSERT INTO t VALUES (4)")
                throw Boom()
            }
        }
        XCTAssertEqual(try db.scalar("SELECT group_concat(x) FROM t").stringValue, "1,3")
    }

    func testSQLErrorsCarryCodeAndContext() throws {
        let db = try openDatabase()
        let error = assertThrows(try db.run("INSERT INTO missing VALUES (1)"))
        guard case .sqlite(let code, let message, let context)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(code, SQLITE_ERROR)
        XCTAssertTrue(message.contains("no such table"))
        XCTAssertTrue(context.contains("INSERT INTO missing"))
    }

    func testBusyIsRetriedUntilTheWriterFinishes() throws {
        let path = temporaryDirectory(self) + "/busy.sqlite"
        let writer = try Database(path: path)
        try writer.execute("CREATE TABLE t (x INTEGER)")
        // A tiny busy_timeout forces SQLITE_BUSY out of SQLite: only the retry loop can hide it.
        let other = try Database(path: path, busyTimeout: 0.001)
        try writer.execute("BEGIN IMMEDIATE")
        try writer.run("INSERT INTO t VALUES (1)")
        let released = expectation(description: "writer released")
        // The connection moves to one other thread, which alone uses it from then on.
        struct Handoff: @unchecked Sendable { let db: Database }
        let handoff = Handoff(db: writer)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) {
            try? handoff.db.execute("COMMIT")
            released.fulfill()
        }
        try other.transaction { try other.run("INSERT INTO t VALUES (2)") }
        try other.run("INSERT INTO t VALUES (3)")
        wait(for: [released], timeout: 5)
        XCTAssertEqual(try other.scalar("SELECT count(*) FROM t").intValue, 3)
    }
}
