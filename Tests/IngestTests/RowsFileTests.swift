import Foundation
import Testing
import LogIO
import StageKit
import TestSupport
@testable import Ingest

struct RowsFileTests {
    @Test func writeThenRead() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("train.tsv").path
        let parser = try RowParser(schema: .criteo)
        let writer = try AtomicFileWriter(path: path)
        let lines = [criteoLine(label: "1", ints: ["+1"] + Array(repeating: "", count: 12)), criteoLine(label: "0")]
        for line in lines {
            var text = line
            try text.withUTF8 { bytes in
                guard case let .row(row) = parser.parse(bytes) else { Issue.record("bad"); return }
                try RowsFormat.write(label: row.label!, values: row.values, to: writer)
            }
        }
        try writer.commit()
        let content = try String(contentsOfFile: path, encoding: .utf8)
        #expect(content == criteoLine(label: "1", ints: ["1"] + Array(repeating: "", count: 12)) + "\n" + criteoLine(label: "0") + "\n")

        let reader = try RowsReader(path: path, columnCount: 39)
        var got: [(UInt8, [String])] = []
        while let row = try reader.next() { got.append((row.label, row.values.map(\.string))) }
        #expect(got.count == 2)
        #expect(got[0].0 == 1 && got[0].1[0] == "1" && got[0].1[1] == "")
        #expect(got[1].0 == 0 && got[1].1[13] == "00001eef")
    }

    @Test func readerRejectsBadLines() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("rows.tsv")
        try write("1\ta\tb\n2\ta\tb\n", to: url)
        let reader = try RowsReader(path: url.path)
        #expect(try reader.next()?.values.count == 2)
        #expect(throws: RowsFileError.badLine(path: url.path, line: 2, message: "found label \"2\"; expected 0 or 1 in the first field")) {
            try reader.next()
        }
        try write("1\ta\tb\n0\ta\n", to: url)
        let counted = try RowsReader(path: url.path, columnCount: 2)
        _ = try counted.next()
        #expect(throws: RowsFileError.badLine(path: url.path, line: 2, message: "found 1 values after the label; expected 2 (tab-separated)")) {
            try counted.next()
        }
    }

    @Test func statsRoundTrip() throws {
        var stats = IngestStats(schema: .avazu)
        stats.rowsRead = 10
        stats.rowsKept = 9
        stats.rowsQuarantined = 1
        stats.badByReason = ["bad_label": 1]
        stats.splits.train = SplitCount(rows: 7, clicks: 2)
        stats.columns = [ColumnStats(name: "hour_of_day", type: .categorical, missingRate: 0, distinctEstimate: 3)]
        let data = try stats.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"min\" : null"))
        #expect(text.contains("\"rows_downsampled\" : 0"))
        let back = try JSONDecoder().decode(IngestStats.self, from: data)
        #expect(back == stats)
        #expect(try back.makeParser().outputColumns.count == 23)
    }

    @Test func statsLoadErrorsNameThePath() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("stats.json")
        try write(#"{"format_version": 1}"#, to: url)
        do {
            _ = try IngestStats.load(directory: dir.path)
            Issue.record("expected an error")
        } catch let error as IngestError {
            #expect(error.description == "\(url.path):1:1: rows_read: is missing; expected a value for \"rows_read\"")
        }
        // Not JSON: the line and column, not just "$ is not valid JSON".
        try write("{\n  \"format_version\": 1,\n  \"rows_read\": 1,\n", to: url)
        #expect(throws: IngestError.badStats(path: url.path, message: "invalid JSON: unexpected end of the file; expected a key in double quotes",
                                             position: SourcePosition(line: 4, column: 1))) {
            _ = try IngestStats.load(path: url.path)
        }
        var stats = IngestStats(schema: .criteo)
        stats.split.seed = UInt64.max
        var text = String(decoding: try stats.jsonData(), as: UTF8.self)
        // 64-bit seeds read back exactly through the strict reader.
        try write(text, to: url)
        #expect(try IngestStats.load(path: url.path) == stats)
        text = text.replacingOccurrences(of: "\"rows_kept\" : 0", with: "\"rows_kept\" : 0.5")
        try write(text, to: url)
        let message = caughtDescription { _ = try IngestStats.load(path: url.path) }
        #expect(message.hasPrefix("\(url.path):"), "\(message)")
        #expect(message.hasSuffix(": rows_kept: found a number (0.5); expected an integer"), "\(message)")
    }

    func caughtDescription(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }
}
