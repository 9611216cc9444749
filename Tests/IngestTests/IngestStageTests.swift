import Foundation
import StageKit
import Testing
import LogIO
import TestSupport
@testable import Ingest

/// A scratch folder with helpers to write inputs and read outputs.
final class Workspace {
    let url: URL
    init() throws { url = try TestSupport.makeTemporaryDirectory("ingest-test") }
    deinit { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String, _ text: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func gzipFile(_ name: String, _ text: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        let writer = try AtomicFileWriter(path: path, gzip: true)
        try writer.write(text)
        try writer.commit()
        return path
    }

    var out: String { url.appendingPathComponent("out").path }
    func output(_ name: String) -> String { url.appendingPathComponent("out/\(name)").path }
    func lines(_ name: String) throws -> [String] {
        let text = try String(contentsOfFile: output(name), encoding: .utf8)
        return text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: output(name)) }
    /// Names in the output folder (temporary files included).
    var outputNames: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).sorted() }
}

/// `n` Criteo lines; row i has label `label(i)` and I1 = i.
func criteoRows(_ n: Int, label: (Int) -> Int = { $0 % 3 == 0 ? 1 : 0 }) -> String {
    (0..<n).map { i in criteoLine(label: String(label(i)), ints: [String(i)] + Array(repeating: "", count: 12)) + "\n" }.joined()
}

func params(_ configure: (inout IngestParams) -> Void = { _ in }) -> IngestParams {
    var p = IngestParams.defaults
    configure(&p)
    return p
}

struct IngestStageTests {
    @Test func orderSplitTakesTheLastFractions() throws {
        let w = try Workspace()
        let input = try w.gzipFile("a.gz", criteoRows(100))
        let result = try IngestStage.run(params(), inputs: [input], outputs: w.out, reporter: .silent)
        let s = result.stats
        #expect(s.rowsRead == 100 && s.rowsKept == 100 && s.rowsQuarantined == 0 && s.rowsDownsampled == 0)
        #expect(s.splits.train == SplitCount(rows: 80, clicks: 27))  // i % 3 == 0 for i < 80: 27
        #expect(s.splits.valid == SplitCount(rows: 10, clicks: 3))   // 81, 84, 87
        #expect(s.splits.test == SplitCount(rows: 10, clicks: 4))    // 90, 93, 96, 99
        let first = { (line: String) in line.split(separator: "\t", omittingEmptySubsequences: false)[1] }
        #expect(try w.lines("train.tsv").map(first) == (0..<80).map { Substring(String($0)) })
        #expect(try w.lines("valid.tsv").map(first) == (80..<90).map { Substring(String($0)) })
        #expect(try w.lines("test.tsv").map(first) == (90..<100).map { Substring(String($0)) })
        #expect(w.outputNames == ["quarantine.tsv", "stats.json", "test.tsv", "train.tsv", "valid.tsv"])
        #expect(try IngestStats.load(directory: w.out) == s)
    }

    @Test func orderSplitRoundsDownAndSpansFiles() throws {
        let w = try Workspace()
        let a = try w.file("a.tsv", criteoRows(7))
        let b = try w.file("b.tsv", criteoRows(3000))
        let s = try IngestStage.run(params { $0.valid = 0.25; $0.test = 0.05 }, inputs: [a, b], outputs: w.out, reporter: .silent).stats
        #expect(s.splits.valid.rows == 751)  // floor(3007 * 0.25)
        #expect(s.splits.test.rows == 150)   // floor(3007 * 0.05)
        #expect(s.splits.train.rows == 2106)
        #expect(s.inputs.map(\.rowsRead) == [7, 3000])
        let labels = (0..<7).map { $0 % 3 == 0 ? 1 : 0 } + (0..<3000).map { $0 % 3 == 0 ? 1 : 0 }
        #expect(s.splits.train.clicks == labels[0..<2106].reduce(0, +))
        #expect(s.splits.valid.clicks == labels[2106..<2857].reduce(0, +))
        #expect(s.splits.test.clicks == labels[2857...].reduce(0, +))
        #expect(try w.lines("valid.tsv").count == 751)
    }

    @Test func hashSplitFollowsTheDocumentedRule() throws {
        let w = try Workspace()
        let text = criteoRows(2000)
        let input = try w.file("a.tsv", text)
        let seed: UInt64 = 0x1_0000_0007  // only the low 32 bits reach the hash
        let s = try IngestStage.run(params { $0.split = .hash; $0.seed = seed; $0.valid = 0.2; $0.test = 0.3 },
                                    inputs: [input], outputs: w.out, reporter: .silent).stats
        var expected = [0, 0, 0]
        for line in text.split(separator: "\n") {
            let u = Double(Murmur3.hash32(String(line), seed: 7)) / 4294967296.0
            expected[u < 0.3 ? 2 : u < 0.5 ? 1 : 0] += 1
        }
        #expect([s.splits.train.rows, s.splits.valid.rows, s.splits.test.rows] == expected)
        #expect(abs(Double(expected[2]) / 2000 - 0.3) < 0.05)
        // The same seed gives the same files.
        let train = try w.lines("train.tsv")
        let again = try IngestStage.run(params { $0.split = .hash; $0.seed = 7; $0.valid = 0.2; $0.test = 0.3 },
                                        inputs: [input], outputs: w.out, reporter: .silent).stats
        #expect(again.splits == s.splits)
        #expect(try w.lines("train.tsv") == train)
    }

    @Test(arguments: [SplitMode.order, .hash])
    func negativeDownsamplingOnlyTouchesTraining(_ mode: SplitMode) throws {
        let w = try Workspace()
        let input = try w.file("a.tsv", criteoRows(1000))
        let p = params { $0.split = mode; $0.negKeepRate = 0.25; $0.seed = 11 }
        let s = try IngestStage.run(p, inputs: [input], outputs: w.out, reporter: .silent).stats
        let full = try IngestStage.run(params { $0.split = mode; $0.seed = 11 }, inputs: [input],
                                       outputs: w.out + "-full", reporter: .silent).stats
        #expect(s.rowsRead == 1000)
        #expect(s.rowsRead == s.rowsKept + s.rowsQuarantined + s.rowsDownsampled)
        #expect(s.splits.valid == full.splits.valid)
        #expect(s.splits.test == full.splits.test)
        #expect(s.splits.train.clicks == full.splits.train.clicks)
        let negatives = full.splits.train.rows - full.splits.train.clicks
        #expect(s.splits.train.rows - s.splits.train.clicks + s.rowsDownsampled == negatives)
        // Exactly the documented rule, by valid-row index (here every row is valid; in order
        // mode training rows are the first ones, in hash mode they are the ones hashed to train).
        if mode == .order {
            let dropped = (0..<800).filter { $0 % 3 != 0 && !IngestStage.keepNegative(index: $0, seed: 11, rate: 0.25) }.count
            #expect(s.rowsDownsampled == dropped)
        }
        #expect(abs(Double(s.rowsDownsampled) / Double(negatives) - 0.75) < 0.08)
        #expect(s.negKeepRate == 0.25)
        #expect(try w.lines("train.tsv").count == s.splits.train.rows)
    }

    @Test func statsValues() throws {
        let w = try Workspace()
        let schema = try w.file("s.json", """
            {"delimiter": ",", "header": "present", "missing": ["NA"],
             "columns": [{"name": "y", "type": "label"}, {"name": "n", "type": "integer"},
                         {"name": "x", "type": "float"}, {"name": "c", "type": "categorical"},
                         {"name": "t", "type": "yymmddhh"}]}
            """)
        let input = try w.file("a.csv", """
            y,n,x,c,t
            1,5,0.5,a,14102100
            0,-3,,b,14102101
            0,NA,1.5,a,14102202
            1,+10,2,,14102203
            0,0,NA,c,14102204

            """)
        let s = try IngestStage.run(params { $0.schema = schema; $0.valid = 0; $0.test = 0 },
                                    inputs: [input], outputs: w.out, reporter: .silent).stats
        #expect(s.rowsRead == 5 && s.headerLines == 1 && s.clickRate == 0.4)
        #expect(s.schema.columns.map(\.name) == ["y", "n", "x", "c", "t"])
        let byName = Dictionary(uniqueKeysWithValues: s.columns.map { ($0.name, $0) })
        #expect(s.columns.map(\.name) == ["n", "x", "c", "t_hour_of_day", "t_day_of_week"])
        #expect(byName["n"] == ColumnStats(name: "n", type: .integer, missingRate: 0.2, distinctEstimate: 4, min: -3, max: 10, mean: 3))
        #expect(byName["x"] == ColumnStats(name: "x", type: .float, missingRate: 0.4, distinctEstimate: 3, min: 0.5, max: 2, mean: 4.0 / 3))
        #expect(byName["c"] == ColumnStats(name: "c", type: .categorical, missingRate: 0.2, distinctEstimate: 3))
        #expect(byName["t_hour_of_day"]?.distinctEstimate == 5)
        #expect(byName["t_day_of_week"]?.distinctEstimate == 2)
        #expect(try w.lines("train.tsv") == ["1\t5\t0.5\ta\t0\ttue", "0\t-3\t\tb\t1\ttue", "0\t\t1.5\ta\t2\twed",
                                              "1\t10\t2\t\t3\twed", "0\t0\t\tc\t4\twed"])
    }

    @Test func hyperLogLogIsCloseOnManyValues() {
        var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        for i in 0..<200_000 {
            var text = "v\(i)"
            let h = text.withUTF8 { HyperLogLog.hash($0) }
            let (index, rank) = HyperLogLog.slot(h)
            registers[index] = max(registers[index], rank)
        }
        let estimate = registers.withUnsafeBufferPointer { HyperLogLog.estimate($0) }
        #expect(abs(estimate / 200_000 - 1) < 0.03)
    }

    @Test func badRowsAreQuarantinedByReason() throws {
        let w = try Workspace()
        let good = criteoRows(300)
        let bad = [
            criteoLine(label: "2"),
            criteoLine(ints: ["x"] + Array(repeating: "", count: 12)),
            criteoLine(ints: ["99999999999999999999"] + Array(repeating: "", count: 12)),
            criteoLine() + "\textra",
            "",
        ]
        let input = try w.file("a.tsv", good + bad.joined(separator: "\n") + "\n")
        let s = try IngestStage.run(params { $0.maxBadFraction = 0.05 }, inputs: [input], outputs: w.out, reporter: .silent).stats
        #expect(s.rowsRead == 305 && s.rowsKept == 300 && s.rowsQuarantined == 5)
        #expect(s.badByReason["bad_label"] == 1 && s.badByReason["bad_integer"] == 1 && s.badByReason["integer_out_of_range"] == 1)
        #expect(s.badByReason["column_count"] == 1 && s.badByReason["empty_line"] == 1 && s.badByReason["bad_float"] == 0)
        #expect(s.badByReason.count == BadRowReason.allCases.count)
        let quarantine = try w.lines("quarantine.tsv")
        #expect(quarantine.count == 5)
        #expect(quarantine[0] == "\(input)\t301\tbad_label\tcolumn 1 (label): found \"2\"; expected 0 or 1\t\(bad[0])")
        #expect(quarantine[3].hasPrefix("\(input)\t304\tcolumn_count\tfound 41 fields; expected 40 separated by tab\t"))
        #expect(quarantine[4] == "\(input)\t305\tempty_line\tempty line; expected 40 fields separated by tab\t")
    }

    @Test func tooManyBadRowsFailsAndKeepsOnlyTheFailedQuarantine() throws {
        let w = try Workspace()
        let input = try w.file("a.tsv", criteoRows(98) + criteoLine(label: "x") + "\n" + criteoLine(label: "y") + "\n")
        #expect(throws: IngestError.tooManyBadRows(quarantined: 2, read: 100, maxFraction: 0.01, byReason: "bad_label 2",
                                                   quarantinePath: w.output("quarantine.failed.tsv"))) {
            try IngestStage.run(params(), inputs: [input], outputs: w.out, reporter: .silent)
        }
        #expect(w.outputNames == ["quarantine.failed.tsv"])
        #expect(try w.lines("quarantine.failed.tsv").count == 2)
        // At exactly the limit it passes, and the failed run's bad rows are gone.
        let s = try IngestStage.run(params { $0.maxBadFraction = 0.02 }, inputs: [input], outputs: w.out, reporter: .silent).stats
        #expect(s.rowsQuarantined == 2)
        #expect(w.outputNames == ["quarantine.tsv", "stats.json", "test.tsv", "train.tsv", "valid.tsv"])
    }

    /// Issue 12, item 5: a run failing past --max-bad-fraction used to publish quarantine.tsv
    /// beside the previous run's stats.json and splits.
    @Test func tooManyBadRowsLeavesThePreviousRunsOutputsUntouched() throws {
        for split in [SplitMode.order, .hash] {
            let w = try Workspace()
            let good = try w.file("good.tsv", criteoRows(100) + criteoLine(label: "z") + "\n")
            _ = try IngestStage.run(params { $0.split = split }, inputs: [good], outputs: w.out, reporter: .silent)
            let names = ["quarantine.tsv", "stats.json", "test.tsv", "train.tsv", "valid.tsv"]
            let before = try names.map { try Data(contentsOf: URL(fileURLWithPath: w.output($0))) }
            let bad = try w.file("bad.tsv", criteoRows(50) + String(repeating: criteoLine(label: "x") + "\n", count: 10))
            #expect(throws: IngestError.self) {
                try IngestStage.run(params { $0.split = split }, inputs: [bad], outputs: w.out, reporter: .silent)
            }
            #expect(w.outputNames == ["quarantine.failed.tsv"] + names)
            let after = try names.map { try Data(contentsOf: URL(fileURLWithPath: w.output($0))) }
            #expect(after == before, "\(split)")
            #expect(try w.lines("quarantine.tsv").count == 1)
            #expect(try w.lines("quarantine.failed.tsv").count == 10)
        }
    }

    /// Issue 12, item 12: a run killed with SIGKILL leaves `.NAME.partial-PID` (and, with
    /// --split order, its scratch file); the next run removes those whose process is gone
    /// and keeps those of live processes.
    @Test func stalePartialsOfDeadProcessesAreRemovedByTheNextRun() throws {
        let w = try Workspace()
        try FileManager.default.createDirectory(atPath: w.out, withIntermediateDirectories: true)
        let dead = try TestSupport.deadProcessID()
        let live = getppid()
        let stale = [".train.tsv.partial-\(dead)", ".stats.json.partial-\(dead)", ".ctr-ingest-rows-\(dead).tsv",
                     "..ctr-ingest-rows-\(dead).tsv.partial-\(dead)"]
        let kept = [".train.tsv.partial-\(live)", ".other.tsv.partial-\(dead)", ".train.tsv.partial-x\(dead)"]
        for name in stale + kept { try Data("junk".utf8).write(to: URL(fileURLWithPath: w.output(name))) }
        let input = try w.file("a.tsv", criteoRows(50))
        _ = try IngestStage.run(params(), inputs: [input], outputs: w.out, reporter: .silent)
        #expect(w.outputNames == (kept + ["quarantine.tsv", "stats.json", "test.tsv", "train.tsv", "valid.tsv"]).sorted())
    }

    @Test func aFailedRunLeavesNoSplitFileAndKeepsThePreviousOnes() throws {
        let w = try Workspace()
        let good = try w.gzipFile("good.gz", criteoRows(50))
        _ = try IngestStage.run(params(), inputs: [good], outputs: w.out, reporter: .silent)
        let before = try w.lines("train.tsv")
        // A truncated gzip file after a good one: the run fails after writing rows.
        let whole = try Data(contentsOf: URL(fileURLWithPath: try w.gzipFile("big.gz", criteoRows(5000))))
        let truncated = w.url.appendingPathComponent("truncated.gz").path
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        do {
            _ = try IngestStage.run(params(), inputs: [good, truncated], outputs: w.out, reporter: .silent)
            Issue.record("expected an error")
        } catch let error as LogIOError {
            guard case .truncatedGzip(let path, _, _) = error else { Issue.record("\(error)"); return }
            #expect(path == truncated)
        }
        #expect(w.outputNames == ["quarantine.tsv", "stats.json", "test.tsv", "train.tsv", "valid.tsv"])
        #expect(try w.lines("train.tsv") == before)
        #expect(try IngestStats.load(directory: w.out).rowsRead == 50)
    }

    @Test func fileWithoutGzipMagicNamedGzIsReadAsText() throws {
        let w = try Workspace()
        let input = try w.file("plain.gz", criteoRows(10))
        let s = try IngestStage.run(params(), inputs: [input], outputs: w.out, reporter: .silent).stats
        #expect(s.rowsKept == 10)
    }

    @Test func emptyAndHeaderOnlyFilesAreErrors() throws {
        let w = try Workspace()
        let empty = try w.file("empty.tsv", "")
        #expect(throws: IngestError.emptyInput(path: empty, headerOnly: false)) {
            try IngestStage.run(params(), inputs: [empty], outputs: w.out, reporter: .silent)
        }
        let header = try w.file("header.csv", Schema.avazu.columns.map(\.name).joined(separator: ",") + "\n")
        #expect(throws: IngestError.emptyInput(path: header, headerOnly: true)) {
            try IngestStage.run(params { $0.schema = "avazu" }, inputs: [header], outputs: w.out, reporter: .silent)
        }
        #expect(w.outputNames.isEmpty)
        #expect(throws: IngestError.noInputs) {
            try IngestStage.run(params(), inputs: [], outputs: w.out, reporter: .silent)
        }
    }

    @Test func headerModes() throws {
        let w = try Workspace()
        let header = Schema.avazu.columns.map(\.name).joined(separator: ",")
        let row = "1000009418151094273,1,14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,-1,79"
        let withHeader = try w.file("train.csv", header + "\r\n" + row + "\r\n" + row + "\r\n")
        let without = try w.file("dev.csv", row + "\n")
        let s = try IngestStage.run(params { $0.schema = "avazu" }, inputs: [withHeader, without], outputs: w.out, reporter: .silent).stats
        #expect(s.rowsRead == 3 && s.headerLines == 1 && s.rowsKept == 3)
        #expect(s.inputs.map(\.headerLines) == [1, 0])
        #expect(try w.lines("train.tsv").first == "1\t0\ttue\t1005\t0\t1fbe01fe\tf3845767\t28905ebd\tecad2386\t7801e8d9\t07d7df22\ta99f214a\tddd2926e\t44956a24\t1\t2\t15706\t320\t50\t1722\t0\t35\t-1\t79")
        // --header present: a file without it is an error naming the file and what was expected.
        do {
            _ = try IngestStage.run(params { $0.schema = "avazu"; $0.header = .present }, inputs: [withHeader, without],
                                    outputs: w.out + "2", reporter: .silent)
            Issue.record("expected an error")
        } catch let error as IngestError {
            guard case .headerMismatch(let path, let message) = error else { Issue.record("\(error)"); return }
            #expect(path == without)
            #expect(message == "header field 1 is \"1000009418151094273\"; expected \"id\" (expected header: \(header))")
        }
        // --header absent: the header line is data, and bad.
        let s3 = try IngestStage.run(params { $0.schema = "avazu"; $0.header = .absent; $0.maxBadFraction = 0.5 },
                                     inputs: [withHeader], outputs: w.out + "3", reporter: .silent).stats
        #expect(s3.rowsRead == 3 && s3.rowsQuarantined == 1 && s3.badByReason["bad_label"] == 1)
    }

    @Test func paramsDecodeDefaultsAndValidate() throws {
        #expect(try IngestParams.decode(.object([])).get() == IngestParams.defaults)
        var parser = JSONParser(#"{"schema": "avazu", "negKeepRate": 0.5, "split": "hash"}"#)
        let p = try IngestParams.decode(parser.parse()).get()
        #expect(p.schema == "avazu" && p.negKeepRate == 0.5 && p.split == .hash && p.valid == 0.1)
        #expect(IngestParams.specs.count == 8)
        #expect(params { $0.negKeepRate = 0 }.problems() == [ParamProblem("negKeepRate", "found 0.0; expected a finite number in (0, 1]")])
        #expect(params { $0.valid = 0.5; $0.test = 0.5 }.problems()
                == [ParamProblem(["valid", "test"], "sum to 1.0; expected less than 1 so that the training split is not empty")])
        #expect(throws: ParameterError.self) { try params { $0.negKeepRate = 0 }.validated() }
    }
}
