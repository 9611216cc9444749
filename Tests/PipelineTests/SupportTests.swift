import Foundation
import StageKit
import LogIO
import Testing
@testable import Pipeline

@Suite struct HashTests {
    // Published XXH64 vectors, seed 0.
    @Test(arguments: [
        ("", 0xEF46_DB37_51D8_E999),
        ("a", 0xD24E_C4F1_A98C_6E5B),
        ("abc", 0x44BC_2CF5_AD77_0999),
        ("message digest", 0x066E_D728_FCEE_B3BE),
        ("abcdefghijklmnopqrstuvwxyz", 0xCFE1_F278_FA89_835C),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 0xAAA4_6907_D304_7814),
        (String(repeating: "1234567890", count: 8), 0xE04A_477F_19EE_145D),
    ] as [(String, UInt64)])
    func xxh64Vectors(input: String, expected: UInt64) {
        #expect(XXHash64.hash(input) == expected)
    }

    @Test func streamingInAnyPiecesGivesTheOneShotDigest() {
        var rng = SplitMix64(seed: 42)
        let bytes = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var whole = XXHash64()
        bytes.withUnsafeBytes { whole.update($0) }
        for pieceSize in [1, 3, 7, 31, 32, 33, 100, 999] {
            var h = XXHash64()
            var i = 0
            while i < bytes.count {
                let end = min(i + pieceSize, bytes.count)
                bytes[i..<end].withUnsafeBytes { h.update($0) }
                i = end
            }
            #expect(h.digest() == whole.digest(), "piece size \(pieceSize)")
        }
    }

    @Test func contentHasherCachesByStampAndSeesChanges() throws {
        let dir = try makeScratchDirectory()
        let file = dir.appendingPathComponent("x.txt").path
        try "hello".write(toFile: file, atomically: false, encoding: .utf8)
        let hasher = ContentHasher()
        let first = try hasher.hash(file)
        #expect(first == XXHash64.hex(0x26C7_827D_889F_6DA3))  // XXH64("hello")
        #expect(hasher.bytesHashed == 5)
        #expect(try hasher.hash(file) == first)
        #expect(hasher.bytesHashed == 5)  // served from the cache
        // Same size, new content: the stamp (mtime) differs, so it is read again.
        try "HELLO".write(toFile: file, atomically: false, encoding: .utf8)
        #expect(try hasher.hash(file) != first)

        // A persisted cache is trusted while the stamp matches.
        let reloaded = ContentHasher(cache: hasher.usedEntries)
        _ = try reloaded.hash(file)
        #expect(reloaded.bytesHashed == 0)
        #expect(try hasher.hash(dir.appendingPathComponent("absent").path) == nil)
    }

    @Test func folderHashesCoverNamesAndContentButNotHiddenFiles() throws {
        let dir = try makeScratchDirectory()
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try "1".write(to: out.appendingPathComponent("a.txt"), atomically: false, encoding: .utf8)
        try "2".write(to: out.appendingPathComponent("sub/b.txt"), atomically: false, encoding: .utf8)
        let hasher = ContentHasher()
        let base = try hasher.hash(out.path)
        try "partial".write(to: out.appendingPathComponent(".a.txt.partial-1"), atomically: false, encoding: .utf8)
        #expect(try hasher.hash(out.path) == base)
        try FileManager.default.moveItem(at: out.appendingPathComponent("sub/b.txt"), to: out.appendingPathComponent("sub/c.txt"))
        #expect(try hasher.hash(out.path) != base)
    }
}


@Suite struct JSONTests {
    @Test func parsesValuesKeepingOrderAndIntegers() throws {
        var parser = JSONParser(#"{"b": [1, -2.5, 3e2, true, null], "a": "x\"\u00e9\ud83d\ude00\n", "c": {}}"#)
        let v = try parser.parse()
        #expect(v.objectEntries!.map(\.key) == ["b", "a", "c"])
        #expect(v["b"] == .array([.int(1), .double(-2.5), .double(300), .bool(true), .null]))
        #expect(v["a"] == .string("x\"é😀\n"))
        #expect(parser.positions["b[2]"] == SourcePosition(line: 1, column: 17))
        #expect(v.text(sortedKeys: true) == #"{"a":"x\"é😀\n","b":[1,-2.5,300.0,true,null],"c":{}}"#)
    }

    @Test(arguments: [
        ("{\"a\": 1,}", "1:9: trailing comma before '}'"),
        ("[1, 2", "1:6: unexpected end of the file; expected ',' or ']'"),
        ("{\"a\" 1}", "1:6: expected ':' after key \"a\""),
        ("{\n  // no\n}", "2:3: expected a key in double quotes"),
        ("01", "1:1: invalid number: leading zero"),
        ("\"abc", "1:5: unterminated string"),
        ("tru", "1:1: invalid literal; expected true"),
        ("{} x", "1:4: unexpected text after the end of the JSON value"),
    ] as [(String, String)])
    func syntaxErrors(text: String, expected: String) {
        var parser = JSONParser(text)
        do {
            _ = try parser.parse()
            Issue.record("no error for \(text)")
        } catch {
            #expect("\(error)" == expected)
        }
    }
}

@Suite struct SuggestTests {
    @Test func distances() {
        #expect(Suggest.distance("kitten", "sitting") == 3)
        #expect(Suggest.distance("", "abc") == 3)
        #expect(Suggest.distance("flaw", "lawn") == 2)
        #expect(Suggest.distance("widht", "width") == 1)
    }

    @Test func suggestions() {
        let keys = ["lambda", "epochs", "negKeepRate", "k", "patience"]
        #expect(Suggest.closest(to: "lamda", among: keys) == "lambda")
        #expect(Suggest.closest(to: "neg-keep-rate", among: keys) == "negKeepRate")
        #expect(Suggest.closest(to: "epoch", among: keys) == "epochs")
        #expect(Suggest.closest(to: "kk", among: keys) == "k")
        #expect(Suggest.closest(to: "zebra", among: keys) == nil)
    }
}

@Suite struct CommandLineTests {
    @Test(arguments: [
        (["run", "p.json", "--force"], ["run", "p.json", "--force"]),
        (["run", "--force", "p.json"], ["run", "--force", "p.json"]),
        (["run", "--force", "train", "p.json"], ["run", "--force-stage", "train", "p.json"]),
        (["run", "p.json", "--force", "train", "--jobs", "2"], ["run", "p.json", "--force-stage", "train", "--jobs", "2"]),
        (["run", "p.json", "--force=hash"], ["run", "p.json", "--force-stage", "hash"]),
        (["run", "--force", "--only", "eval", "p.json"], ["run", "--force", "--only", "eval", "p.json"]),
        (["plan", "--set", "train.k=8", "--force", "p.json"], ["plan", "--set", "train.k=8", "--force", "p.json"]),
    ] as [([String], [String])])
    func forceTakesAnOptionalStage(input: [String], expected: [String]) {
        #expect(CommandLineSupport.rewriteForce(input) == expected)
    }
}

@Suite struct SchemaTests {
    @Test func schemaListsEachKindsParametersWithTypesAndDefaults() throws {
        let schema = PipelineSchema.generate(registry: fakeRegistry(StageLog()))
        let concat = schema["$defs"]!["stage-concat"]!
        let params = concat["properties"]!["params"]!["properties"]!
        #expect(params["repeat"] == .object([("description", .string("Times the text is repeated. Allowed: an integer from 1 to 10.")),
                                              ("type", .string("integer")), ("minimum", .int(1)), ("maximum", .int(10)), ("default", .int(1))]))
        #expect(params["ratio"]?["exclusiveMaximum"] == .int(1))
        #expect(params["mode"] == .object([("description", .string("Case change.")),
                                            ("enum", .array([.string("none"), .string("upper"), .string("lower")])), ("default", .string("none"))]))
        #expect(params["out"] == nil)  // reserved: set by the pipeline
        #expect(schema["$defs"]!["stage"]!["properties"]!["kind"]!["enum"] == .array([.string("concat"), .string("model"), .string("score"), .string("command")]))
        // The text reads back as the same value.
        var parser = JSONParser(schema.text(pretty: true))
        #expect(try parser.parse() == schema)
    }

    @Test func summaryTableAlignsColumns() {
        let report = RunReport(pipeline: "p", stages: [
            StageReport(name: "ingest", kind: "ingest", status: .skipped, reasons: [], seconds: 0.01, fingerprint: nil, inputs: [], outputs: [], metrics: [], error: nil),
            StageReport(name: "eval", kind: "eval", status: .ran, reasons: [], seconds: 1.234, fingerprint: nil, inputs: [], outputs: [],
                        metrics: [ModelMetrics(model: "m", values: ["auc": 0.75, "logloss": 0.45678912, "ne": 0.9, "calibration": nil])], error: nil),
        ], seconds: 1.5, failure: nil, manifestPath: nil)
        #expect(RunSummary.table(report) == """
        stage   status    time      AUC  log loss       NE  calibration
        ingest  skipped      -
        eval    ran      1.23s  0.75000   0.45679  0.90000          n/a
        1 ran, 1 skipped in 1.50s
        """)
    }
}
