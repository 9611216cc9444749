import Foundation
import Testing
import LogIO
import StageKit
import TestSupport
@testable import Ingest
@testable import Synth

/// The ratings presets, target columns and ctr-synth --format ratings (#13).
@Suite struct RatingsTests {
    @Test func targetColumnsParseAndBadTargetsAreBadLabels() throws {
        let parser = try RowParser(schema: Schema.ratings)
        var line = "u1\ti9\t3.5\t880000000"
        let target = line.withUTF8 { bytes -> String? in
            guard case .row(let row) = parser.parse(bytes) else { return nil }
            return row.target?.string
        }
        #expect(target == "3.5")
        #expect(parse(parser, "u1\ti9\t3.5\t880000000") == .row(label: 0, values: ["u1", "i9"]))
        #expect(parse(parser, "u1\ti9\tgood\t880000000") == .bad(.badLabel, column: 2))
        #expect(parse(parser, "u1\ti9\tnan\t880000000") == .bad(.badLabel, column: 2))
        #expect(parse(parser, "u1\ti9\t1e39\t880000000") == .bad(.badLabel, column: 2))
        #expect(parse(parser, "u1\ti9\t3.5") == .bad(.columnCount, column: -1))
        #expect(message(parser, "u1\ti9\tgood\t1") == "column 3 (rating): found \"good\"; expected a finite number (the regression target)")
        // A missing user, item or rating quarantines the row (user and item are required).
        #expect(parse(parser, "\ti9\t4\t1") == .bad(.missingValue, column: 0))
        #expect(parse(parser, "u1\t\t4\t1") == .bad(.missingValue, column: 1))
        #expect(parse(parser, "u1\ti9\t\t1") == .bad(.missingValue, column: 2))
        #expect(message(parser, "\ti9\t4\t1") == "column 1 (user): missing (found \"\"); expected a value (the column is required)")
        #expect(message(parser, "u1\ti9\t\t1") == "column 3 (rating): missing; expected a finite number (the regression target)")
        let csv = try RowParser(schema: Schema.ratingsCSV)
        #expect(isHeader(csv, "userId,movieId,rating,timestamp"))
        #expect(parse(csv, "7,31,2.5,1260759144") == .row(label: 0, values: ["7", "31"]))
        #expect(parse(csv, "7,,2.5,1260759144") == .bad(.missingValue, column: 1))
        #expect(Schema.preset(named: "ratings") == Schema.ratings && Schema.ratings.hasRealTarget && !Schema.criteo.hasRealTarget)
        // Exactly one label or target column.
        var two = Schema.ratings
        two.columns[3].type = .label
        #expect(throws: SchemaError.self) { try two.validate() }
    }

    @Test func customSchemasMarkColumnsRequired() throws {
        let json = #"{"delimiter": ",", "missing": ["NA"], "columns": [{"name": "y", "type": "target"},"#
            + #" {"name": "user", "type": "categorical", "required": true}, {"name": "age", "type": "integer", "required": true},"#
            + #" {"name": "city", "type": "categorical"}]}"#
        let schema = try JSONDecoder().decode(Schema.self, from: Data(json.utf8))
        #expect(schema.columns.map { $0.required ?? false } == [false, true, true, false])
        let parser = try RowParser(schema: schema)
        #expect(parse(parser, "2.5,u1,30,") == .row(label: 0, values: ["u1", "30", ""]))
        #expect(parse(parser, "2.5,NA,30,paris") == .bad(.missingValue, column: 1))
        #expect(parse(parser, "2.5,u1,,paris") == .bad(.missingValue, column: 2))
        #expect(parse(parser, ",u1,30,paris") == .bad(.missingValue, column: 0))
        // Without "required" a column keeps missing values, as before; the key is written only when set.
        let encoded = String(decoding: try JSONEncoder().encode(Schema.criteo), as: UTF8.self)
        #expect(!encoded.contains("required"))
    }

    @Test func ingestWritesTargetsAsTheyAppear() throws {
        let dir = try TestSupport.makeTemporaryDirectory("ratings-ingest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("u.data").path
        var text = ""
        for i in 0..<200 { text += "u\(i % 17)\ti\(i % 23)\t\(Double(i % 9) / 2 + 0.25)\t\(880_000_000 + i)\n" }
        text += "u1\ti2\toops\t1\n"
        text += "\ti2\t3\t1\nu1\t\t3\t1\nu1\ti2\t\t1\n"
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        var params = IngestParams.defaults
        params.schema = "ratings"
        params.maxBadFraction = 0.05
        let out = dir.appendingPathComponent("out").path
        let result = try IngestStage.run(params, inputs: [input], outputs: out, reporter: .silent)
        #expect(result.stats.rowsQuarantined == 4 && result.stats.rowsKept == 200)
        #expect(result.stats.badByReason["missing_value"] == 3 && result.stats.badByReason["bad_label"] == 1)
        let quarantine = try String(contentsOfFile: out + "/quarantine.tsv", encoding: .utf8)
        #expect(quarantine.contains("missing_value") && quarantine.contains("column 1 (user): missing"))
        #expect(result.stats.clickRate == 0 && result.stats.splits.train.clicks == 0)
        let train = try String(contentsOfFile: out + "/train.tsv", encoding: .utf8)
        #expect(train.hasPrefix("0.25\tu0\ti0\n"))
        params.negKeepRate = 0.5
        #expect(throws: ParameterError.self) { try IngestStage.run(params, inputs: [input], outputs: out, reporter: .silent) }
    }

    @Test func synthRatingsHaveTheirNoiseFloorAndAreDeterministic() throws {
        let dir = try TestSupport.makeTemporaryDirectory("ratings-synth")
        defer { try? FileManager.default.removeItem(at: dir) }
        var params = SynthParams.defaults
        params.format = .ratings
        params.rows = 20_000
        params.noise = 0.3
        let a = dir.appendingPathComponent("a.tsv").path, b = dir.appendingPathComponent("b.tsv").path
        let truth = dir.appendingPathComponent("t.txt").path
        let summary = try Synth.run(params: params, output: a, probabilities: truth)
        _ = try Synth.run(params: params, output: b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)))
        let bayes = try #require(summary.bayesRMSE), constant = try #require(summary.constantRMSE)
        #expect(abs(bayes - 0.3) < 0.01 && constant > 0.8)
        // The noise-free ratings file recomputes the summary's RMSE.
        let rows = try String(contentsOfFile: a, encoding: .utf8).split(separator: "\n").map { Double($0.split(separator: "\t")[2])! }
        let means = try String(contentsOfFile: truth, encoding: .utf8).split(separator: "\n").map { Double($0)! }
        let rmse = (zip(rows, means).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(rows.count)).squareRoot()
        #expect(rows.count == 20_000 && abs(rmse - bayes) < 1e-4)
        // Every line parses with the ratings preset.
        let parser = try RowParser(schema: Schema.ratings)
        for line in try String(contentsOfFile: a, encoding: .utf8).split(separator: "\n").prefix(100) {
            guard case .row = parse(parser, String(line)) else { Issue.record("\(line)"); continue }
        }
    }
}
