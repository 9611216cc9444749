import Dataset
import Foundation
import Ingest
import LogIO
import StageKit
import Testing
@testable import Featurize

/// Bad input gets a clear error naming the file and line (or JSON path), what was found and
/// what was expected.
struct BadInputTests {
    static func message(_ body: () throws -> Void) -> String {
        caught(body).map { "\($0)" } ?? "no error"
    }

    @Test func rowsFolderWithoutStats() throws {
        let scratch = try Scratch("nostats")
        try scratch.write("rows/train.tsv", "1\ta\n")
        let error = caught { _ = try hash(rows: scratch.path("rows"), out: scratch.path("out")) }
        #expect(error as? FeaturizeError == .missingStats(directory: scratch.path("rows")))
        #expect("\(error!)".contains("no stats.json"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out/train.ffm")))
    }

    @Test func rowsFolderMissingASplitFile() throws {
        let scratch = try Scratch("nosplit")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 20, seed: 1))
        try FileManager.default.removeItem(atPath: rows + "/valid.tsv")
        let text = Self.message { _ = try hash(rows: rows, out: scratch.path("out")) }
        #expect(text.contains("valid.tsv") && text.contains("missing"))
    }

    @Test func malformedRowsLinesNameFileAndLine() throws {
        let scratch = try Scratch("badrows")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 50, seed: 2))
        var lines = try String(contentsOfFile: rows + "/train.tsv", encoding: .utf8).split(separator: "\n").map(String.init)
        let good = lines
        lines[30] = "1\tonly\ttwo"
        try (lines.joined(separator: "\n") + "\n").write(toFile: rows + "/train.tsv", atomically: false, encoding: .utf8)
        for threads in [1, 3] {
            let text = Self.message { _ = try hash(rows: rows, out: scratch.path("out"), chunkBytes: 900) { $0.threads = threads } }
            #expect(text == "\(rows)/train.tsv:31: found 2 values after the label; expected 39 (tab-separated)")
        }
        lines = good
        lines[12] = "7" + lines[12].dropFirst()
        lines[20] = "1\tabc" + lines[20].drop { $0 != "\t" }.dropFirst().drop { $0 != "\t" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: rows + "/train.tsv", atomically: false, encoding: .utf8)
        let text = Self.message { _ = try hash(rows: rows, out: scratch.path("out"), chunkBytes: 900) }
        #expect(text.hasPrefix("\(rows)/train.tsv:13: found label \"7\""))
        lines[12] = good[12]
        try (lines.joined(separator: "\n") + "\n").write(toFile: rows + "/train.tsv", atomically: false, encoding: .utf8)
        let value = Self.message { _ = try hash(rows: rows, out: scratch.path("out"), chunkBytes: 900) }
        #expect(value == "\(rows)/train.tsv:21: column I1: found \"abc\", expected a 64-bit integer")
    }

    @Test func aFailedRunLeavesThePreviousOutputsUntouched() throws {
        let scratch = try Scratch("atomic")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 200, seed: 23), valid: 0.1, test: 0.1)
        _ = try hash(rows: rows, out: scratch.path("out"))
        let before = try FileManager.default.contentsOfDirectory(atPath: scratch.path("out")).sorted()
        let train = scratch.data("out/train.ffm")
        let featurizer = scratch.data("out/featurizer.json")
        try "1\tbroken\n".write(toFile: rows + "/test.tsv", atomically: false, encoding: .utf8)
        let text = Self.message { _ = try hash(rows: rows, out: scratch.path("out")) { $0.seed = 99 } }
        #expect(text.hasPrefix("\(rows)/test.tsv:1: found 1 values after the label"))
        // The new train and valid outputs were complete, but nothing was renamed into place.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("out")).sorted() == before)
        #expect(scratch.data("out/train.ffm") == train && scratch.data("out/featurizer.json") == featurizer)
    }

    @Test func configThatDoesNotMatchTheSchema() throws {
        let scratch = try Scratch("config")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 20, seed: 3))
        let cases: [(String, String)] = [
            (#"{"fields": {"C27": {"bins": 100}}}"#, "fields.C27: no output column \"C27\" in schema \"criteo\"; did you mean \"C2\"?"),
            (#"{"schema": "avazu", "fields": {}}"#, "at schema: the config is for schema \"avazu\" but the rows have schema \"criteo\""),
            (#"{"fields": {"C1": {"transform": "scaled"}}}"#, "fields.C1.transform: \"scaled\" needs a numeric column, but C1 is categorical"),
            (#"{"fields": {"I1": {"transform": "buckets"}}}"#, "fields.I1.boundaries: is missing"),
            (#"{"fields": {"I1": {"transform": "buckets", "boundaries": [5, 1]}}}"#, "fields.I1.boundaries[1]: found 1.0; expected finite boundaries in strictly increasing order"),
            (#"{"fields": {"I1": {"boundaries": [1, 2]}}}"#, "fields.I1.boundaries: only applies to the buckets transform"),
            (#"{"fields": {"C1": {"bins": 2}}}"#, "fields.C1.bins: found 2; expected a number of indices per field from 3 to 2147483647"),
            (#"{"fields": {"C1": {"bins": 1099511627776}}}"#,
             "fields.C1.bins: found 1099511627776; expected a number of indices per field from 3 to 2147483647 (2 are reserved: missing, rare), as for --bins"),
            (#"{"fields": {"C1": {"rare_treshold": 2}}}"#, "\"rare_treshold\" is not a known field setting key; did you mean \"rare_threshold\"?"),
            (#"{"fields": {"C1": {"transform": "onehot"}}}"#, "fields.C1.transform"),
            (#"{"version": 2}"#, "version 2 is not supported"),
            (#"{"feilds": {}}"#, "did you mean \"fields\"?"),
            // Read by the strict reader: the line:column, the JSON path, what was found and expected.
            (#"{"fields": {"C1": {"bins": 1.5}}}"#, ":1:28: at fields.C1.bins: found a number (1.5); expected an integer"),
            (#"{"fields": {"I1": {"transform": "sqrt"}}}"#,
             ":1:33: at fields.I1.transform: found \"sqrt\"; expected one of \"hash\", \"log-square\", \"buckets\", \"scaled\""),
            (#"{"fields": {"I1": {"transform": "scaeld"}}}"#, "(did you mean \"scaled\"?)"),
            (#"{"fields": {"C1": {"bins": 100, "bins": 200}}}"#, ":1:33: invalid JSON: duplicate key \"bins\" in fields.C1"),
            ("{\"fields\": {\"C1\": {\"bins\": 100},\n}}", ":2:1: invalid JSON: trailing comma before '}'"),
            (#"{"fields": {"C1": {"bins": 100}}} // bins"#, ":1:35: invalid JSON: unexpected text after the end of the JSON value"),
        ]
        for (i, (json, expected)) in cases.enumerated() {
            let config = try scratch.write("config\(i).json", json)
            let text = Self.message { _ = try hash(rows: rows, out: scratch.path("out")) { $0.config = config } }
            #expect(text.contains(expected), "case \(i): \(text)")
            #expect(text.hasPrefix(config), "case \(i) names the file: \(text)")
        }
        let shared = try scratch.write("shared.json", #"{"fields": {"C1": {"bins": 100}}}"#)
        let text = Self.message { _ = try hash(rows: rows, out: scratch.path("out")) { $0.config = shared; $0.sharedSpace = 1000 } }
        #expect(text.contains("fields.C1.bins: per-field bins do not apply with --shared-space"))
    }

    @Test func optionsOutOfRange() {
        var p = HashParams.defaults
        p.bins = .fixed(2)
        #expect(Self.message { try p.validate() }.hasPrefix("--bins: found 2"))
        p = HashParams.defaults
        p.rareThreshold = -1
        #expect(Self.message { try p.validate() }.hasPrefix("--rare-threshold"))
        p = HashParams.defaults
        p.sharedSpace = 100
        p.bins = .fixed(10)
        #expect(Self.message { try p.validate() }.contains("--shared-space/--bins: cannot be combined"))
        p = HashParams.defaults
        p.rows = "x"
        p.schema = "criteo"
        #expect(Self.message { try p.validate() }.contains("choose one input form"))
        p = HashParams.defaults
        p.text = false
        p.cache = false
        #expect(Self.message { try p.validate() }.contains("nothing to write"))
        #expect(Self.message { _ = try HashStage.run(HashParams.defaults, inputs: [], outputs: "/tmp/x-ctr-hash", reporter: .silent) }
                    .contains("expected --rows DIR"))
    }

    @Test func paramsDecodeMissingKeysAsDefaults() throws {
        func decode(_ text: String) throws -> HashParams {
            var parser = JSONParser(text)
            return try HashParams.decode(parser.parse()).get()
        }
        let empty = try decode("{}")
        #expect(empty == HashParams.defaults)
        let some = try decode(#"{"bins": 4096, "rareThreshold": 3, "seed": 9}"#)
        #expect(some.bins == .fixed(4096) && some.rareThreshold == 3 && some.seed == 9 && some.maxBins == HashParams.defaults.maxBins)
        let auto = try decode(#"{"bins": "auto"}"#)
        #expect(auto.bins == .auto)
        #expect(caught { _ = try decode(#"{"bins": "many"}"#) } != nil)
        #expect(try HashParams.decode(some.encoded()).get() == some)
        #expect(HashParams.specs.map(\.key).contains("sharedSpace"))
    }

    @Test func rawLogsWithTooManyBadRows() throws {
        let scratch = try Scratch("rawbad")
        var lines = criteoLines(count: 100, seed: 4)
        lines[5] = "2" + lines[5].dropFirst()
        lines[9] = "0\t1\t2"
        let raw = try scratch.write("day.tsv", lines.joined(separator: "\n") + "\n")
        var params = HashParams.defaults
        params.schema = "criteo"
        let text = Self.message { _ = try HashStage.run(params, inputs: [raw], outputs: scratch.path("out"), reporter: .silent) }
        #expect(text.contains("2 of 100 rows are bad") && text.contains("\(raw):6:"))
        params.maxBadFraction = 0.05
        let result = try HashStage.run(params, inputs: [raw], outputs: scratch.path("out"), reporter: .silent)
        #expect(result.splits[0].rows == 98 && result.splits[0].badRows == 2)
        #expect(result.badByReason == ["bad_label": 1, "column_count": 1])
        #expect(try scratch.lines("out/train.ffm").count == 98)
    }

    // MARK: - libffm text through the conversion into the binary cache (Dataset's reader)

    static let libffmCases: [(name: String, text: String, expected: String)] = [
        ("missing index", "1 0:1:1\n1 0:5\n", "bad.ffm:2: bad feature \"0:5\" (token 1)"),
        ("not numbers", "1 a:b:c\n", "bad.ffm:1: bad feature \"a:b:c\" (token 1)"),
        ("negative field", "0 1:2:1 -1:2:1\n", "bad.ffm:1: bad feature \"-1:2:1\" (token 2)"),
        ("negative index", "0 1:-2:1\n", "bad.ffm:1: bad feature \"1:-2:1\" (token 1)"),
        ("NaN value", "1 0:1:nan\n", "bad.ffm:1: bad feature \"0:1:nan\" (token 1): value is NaN or infinite"),
        ("infinite value", "1 0:1:1\n0 0:1:inf\n", "bad.ffm:2: bad feature \"0:1:inf\" (token 1): value is NaN or infinite"),
        ("label 2", "2 0:1:1\n", "bad.ffm:1: bad label \"2\"; expected 0, 1, -1 or +1"),
        ("empty line", "1 0:1:1\n\n0 0:1:1\n", "bad.ffm:2: empty line"),
    ]

    @Test(arguments: 0..<libffmCases.count)
    func malformedLibffmText(_ i: Int) throws {
        let c = Self.libffmCases[i]
        let scratch = try Scratch("libffm")
        let input = try scratch.write("bad.ffm", c.text)
        var params = HashParams.defaults
        params.fromLibffm = true
        let text = Self.message { _ = try HashStage.run(params, inputs: [input], outputs: scratch.path("out"), reporter: .silent) }
        #expect(text.hasPrefix(scratch.path(c.expected.components(separatedBy: ":").first!)), "\(c.name): \(text)")
        #expect(text.contains(c.expected), "\(c.name): \(text)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out/bad.cache")))
    }

    @Test func acceptedLibffmText() throws {
        let scratch = try Scratch("libffm-ok")
        // A 10 MB line (libffm would silently split it at 100k characters), -1/+1 labels,
        // and no newline after the last line.
        var long = "1"
        var f = 0
        while long.utf8.count < 10_000_000 {
            long += " \(f % 39):\(f):0.5"
            f += 1
        }
        let input = try scratch.write("data.ffm", "-1 0:3:1 1:4:0.25\n" + long + "\n+1 2:7:1")
        var params = HashParams.defaults
        params.fromLibffm = true
        let result = try HashStage.run(params, inputs: [input], outputs: scratch.path("out"), reporter: .silent)
        #expect(result.conversions.count == 1)
        #expect(result.conversions[0].output == scratch.path("out/data.cache"))
        let rows = try cacheRows(scratch.path("out/data.cache"))
        #expect(rows.count == 3)
        #expect(rows[0].label == 0 && rows[0].features == [Feature(field: 0, index: 3, value: 1), Feature(field: 1, index: 4, value: 0.25)])
        #expect(rows[1].label == 1 && rows[1].features.count == f)
        #expect(rows[2].label == 1 && rows[2].features == [Feature(field: 2, index: 7, value: 1)])
    }

    /// Issue 12, item 4: `--from-libffm` publishes every cache or none; a failure in a later
    /// input (a bad line, two inputs with the same base name) used to leave the earlier caches.
    @Test func libffmConversionIsAllOrNothing() throws {
        let scratch = try Scratch("libffm-atomic")
        let good = try scratch.write("a.ffm", "1 0:1:1\n0 1:2:1\n")
        let bad = try scratch.write("b.ffm", "1 0:1:1\n0 1:2\n")
        let twin = try scratch.write("other/a.ffm", "1 0:1:1\n")
        var params = HashParams.defaults
        params.fromLibffm = true
        let out = scratch.path("out")
        let badLine = Self.message { _ = try HashStage.run(params, inputs: [good, bad], outputs: out, reporter: .silent) }
        #expect(badLine.hasPrefix("\(bad):2:"), "\(badLine)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
        let sameName = Self.message { _ = try HashStage.run(params, inputs: [good, twin], outputs: out, reporter: .silent) }
        #expect(sameName.contains("two inputs would both be converted to \(out)/a.cache"), "\(sameName)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
        // A success publishes both; a later failure leaves them as they were.
        _ = try HashStage.run(params, inputs: [good], outputs: out, reporter: .silent)
        let before = scratch.data("out/a.cache")
        #expect(before != nil)
        _ = Self.message { _ = try HashStage.run(params, inputs: [twin, bad], outputs: out, reporter: .silent) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["a.cache"])
        #expect(scratch.data("out/a.cache") == before)
    }

    @Test func convertsOurOwnTextBackToTheSameCache() throws {
        let scratch = try Scratch("reconvert")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 300, seed: 15))
        _ = try hash(rows: rows, out: scratch.path("out")) { $0.config = try? scratch.write("c.json", #"{"fields": {"I2": {"transform": "scaled"}}}"#) }
        var params = HashParams.defaults
        params.fromLibffm = true
        _ = try HashStage.run(params, inputs: [scratch.path("out/train.ffm")], outputs: scratch.path("again"), reporter: .silent)
        // Equal but for the featurizer hash, which text does not carry.
        #expect(withoutFeaturizerHash(scratch.data("again/train.cache")) == withoutFeaturizerHash(scratch.data("out/train.cache")))
    }
}
