import Foundation
import StageKit
import Testing
import LogIO
import TestSupport
@testable import Ingest
@testable import Synth

/// The built executables, end to end: exit codes, messages, files.
struct CommandTests {
    @Test func synthThenIngest() throws {
        let w = try Workspace()
        let log = w.url.appendingPathComponent("c.tsv.gz").path
        let truth = w.url.appendingPathComponent("p.txt").path
        let synth = try TestSupport.run("ctr-synth", ["--format", "criteo", "--rows", "3000", "--seed", "5", "--out", log, "--probabilities", truth])
        #expect(synth.status == 0, "\(synth.stderr)")
        #expect(synth.stderr.hasPrefix("ctr-synth: wrote 3,000 criteo rows to \(log)"))
        let ingest = try TestSupport.run("ctr-ingest", ["--schema", "criteo", "--out", w.out, "--split", "hash", "--seed", "3",
                                                        "--neg-keep-rate", "0.5", "--valid", "0.2", "--test", "0.1", log])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(ingest.stderr.hasPrefix("ctr-ingest: read 3,000 rows from 1 file in "))
        let s = try IngestStats.load(directory: w.out)
        #expect(s.rowsRead == 3000 && s.rowsQuarantined == 0 && s.rowsDownsampled > 0)
        #expect(s.split == SplitSettings(mode: .hash, valid: 0.2, test: 0.1, seed: 3))
        #expect(s.negKeepRate == 0.5)
        #expect(try String(contentsOfFile: truth, encoding: .utf8).split(separator: "\n").count == 3000)
    }

    @Test func outputFolderProblemsSayWhat() throws {
        let w = try Workspace()
        let input = try w.file("a.tsv", criteoRows(10))
        // `--out ''` was ": cannot create the output folder".
        let empty = try TestSupport.run("ctr-ingest", ["--out", "", input])
        #expect(empty.status == 64)
        #expect(empty.stderr.contains("--out: found an empty path; expected the folder to write the outputs into"), "\(empty.stderr)")
        let file = try w.file("taken", "x")
        let onFile = try TestSupport.run("ctr-ingest", ["--out", file, input])
        #expect(onFile.status == 1)
        #expect(onFile.stderr.contains("\(file): cannot create the output folder: it is a file, not a folder"), "\(onFile.stderr)")
        #expect(throws: IngestError.cannotCreateDirectory(path: "", message: "the path is empty; expected the name of a folder")) {
            _ = try IngestStage.run(params(), inputs: [input], outputs: "", reporter: .silent)
        }
        #expect(IngestError.cannotCreateDirectory(path: "", message: "m").description == "\"\": cannot create the output folder: m")
    }

    @Test func badArgumentsAndBadInputsExitNonZero() throws {
        let w = try Workspace()
        let input = try w.file("a.tsv", criteoRows(10))
        let badFraction = try TestSupport.run("ctr-ingest", ["--out", w.out, "--valid", "1.5", input])
        #expect(badFraction.status != 0)
        #expect(badFraction.stderr.contains("--valid: found 1.5; expected a finite number in [0, 1)"), "\(badFraction.stderr)")
        // A negative number is a value, and out of range.
        let negative = try TestSupport.run("ctr-ingest", ["--out", w.out, "--valid", "-0.1", input])
        #expect(negative.status != 0)
        #expect(negative.stderr.contains("--valid: found -0.1; expected a finite number in [0, 1)"), "\(negative.stderr)")
        let noFiles = try TestSupport.run("ctr-ingest", ["--out", w.out])
        #expect(noFiles.status != 0)
        #expect(noFiles.stderr.contains("No input files"), "\(noFiles.stderr)")
        let badSchema = try TestSupport.run("ctr-ingest", ["--schema", "critter", "--out", w.out, input])
        #expect(badSchema.status == 1)
        #expect(badSchema.stderr.contains("unknown schema \"critter\""), "\(badSchema.stderr)")
        let missing = try TestSupport.run("ctr-ingest", ["--out", w.out, w.url.appendingPathComponent("nope.gz").path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope.gz: cannot open: No such file or directory"), "\(missing.stderr)")
        let wrongSchema = try TestSupport.run("ctr-ingest", ["--schema", "avazu", "--out", w.out, input])
        #expect(wrongSchema.status == 1)
        #expect(wrongSchema.stderr.contains("10 of 10 rows are bad (100%), more than --max-bad-fraction 0.01 allows: column_count 10"), "\(wrongSchema.stderr)")
        #expect(w.outputNames == ["quarantine.failed.tsv"])
        let help = try TestSupport.run("ctr-ingest", ["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--neg-keep-rate <W>"))
    }
}

/// Every stage with relative paths, run from its folder, as a user types them.
struct RelativePathTests {
    @Test func stagesTakeRelativePaths() throws {
        let w = try Workspace()
        let dir = w.url.path
        _ = try w.file("day.tsv", criteoRows(300))
        func run(_ tool: String, _ args: [String]) throws {
            let r = try TestSupport.run(tool, args, in: dir)
            #expect(r.status == 0, "\(tool) \(args): \(r.stderr)")
        }
        try run("ctr-ingest", ["--quiet", "--out", "rows", "--valid", "0.2", "--test", "0.2", "day.tsv"])
        try run("ctr-hash", ["--quiet", "--rows", "rows", "--out", "h"])
        try run("ctr-hash", ["--quiet", "--from-libffm", "--out", "c/d", "h/train.ffm"])
        try run("ctr-train", ["--quiet", "-t", "1", "-p", "h/valid.cache", "h/train.cache", "m"])
        try run("ctr-predict", ["--quiet", "h/test.cache", "m", "p.txt"])
        try run("ctr-eval", ["--quiet", "--predictions", "p.txt", "--labels", "h/test.ffm", "--json", "metrics.json"])
        for name in ["rows/stats.json", "h/featurizer.json", "c/d/train.cache", "m", "p.txt", "metrics.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + name), "\(name)")
        }
    }

    @Test func parentFolders() {
        #expect(FileIO.parentFolder("h") == "")
        #expect(FileIO.parentFolder("a/b") == "a")
        #expect(FileIO.parentFolder("a/b/") == "a")
        #expect(FileIO.parentFolder("a//b") == "a")
        #expect(FileIO.parentFolder("/b") == "/")
        #expect(FileIO.parentFolder("/") == "/")
        #expect(FileIO.parentFolder("") == "")
    }
}

struct SynthTests {
    func generate(_ configure: (inout SynthParams) -> Void, name: String, in w: Workspace) throws -> (Data, SynthSummary) {
        var p = SynthParams.defaults
        configure(&p)
        let path = w.url.appendingPathComponent(name).path
        let summary = try Synth.run(params: p, output: path)
        return (try Data(contentsOf: URL(fileURLWithPath: path)), summary)
    }

    @Test func deterministicForASeed() throws {
        let w = try Workspace()
        let (a, sa) = try generate({ $0.rows = 2000; $0.seed = 9 }, name: "a.tsv", in: w)
        let (b, sb) = try generate({ $0.rows = 2000; $0.seed = 9 }, name: "b.tsv", in: w)
        let (c, _) = try generate({ $0.rows = 2000; $0.seed = 10 }, name: "c.tsv", in: w)
        #expect(a == b)
        #expect(sa == sb)
        #expect(a != c)
    }

    @Test func criteoLooksLikeCriteo() throws {
        let w = try Workspace()
        let (_, summary) = try generate({ $0.rows = 8_000; $0.seed = 3 }, name: "c.tsv", in: w)
        #expect(abs(Double(summary.clicks) / 8_000 - 0.2) < 0.025)
        #expect(summary.bayesLogLoss < 0.9 * summary.constantLogLoss)
        var p = IngestParams.defaults
        p.maxBadFraction = 0
        let s = try IngestStage.run(p, inputs: [w.url.appendingPathComponent("c.tsv").path], outputs: w.out, reporter: .silent).stats
        #expect(s.rowsKept == 8_000)
        let columns = Dictionary(uniqueKeysWithValues: s.columns.map { ($0.name, $0) })
        #expect(columns["I2"]!.min! < 0)                      // negative integers
        #expect(columns["I1"]!.missingRate > 0.4)              // missing values
        #expect(columns["C9"]!.distinctEstimate == 3)          // tiny vocabulary
        #expect(columns["C3"]!.distinctEstimate > 2_000)       // huge vocabulary
    }

    @Test func avazuIngestsWithTheAvazuPreset() throws {
        let w = try Workspace()
        let (data, summary) = try generate({ $0.format = .avazu; $0.rows = 5000; $0.seed = 4 }, name: "a.csv.gz", in: w)
        #expect(data.prefix(2) == Data([0x1f, 0x8b]))
        #expect(abs(Double(summary.clicks) / 5000 - 0.17) < 0.025)
        var p = IngestParams.defaults
        p.schema = "avazu"
        p.maxBadFraction = 0
        let s = try IngestStage.run(p, inputs: [w.url.appendingPathComponent("a.csv.gz").path], outputs: w.out, reporter: .silent).stats
        #expect(s.rowsKept == 5000 && s.headerLines == 1)
        let columns = Dictionary(uniqueKeysWithValues: s.columns.map { ($0.name, $0) })
        #expect(columns["hour_of_day"]!.distinctEstimate == 24)
        #expect(columns["day_of_week"]!.distinctEstimate == 7)
    }

    @Test func deepTruthChangesOnlyTheLabels() throws {
        let w = try Workspace()
        let (ffm, sf) = try generate({ $0.rows = 6000; $0.seed = 5 }, name: "f.tsv", in: w)
        let (deep, sd) = try generate({ $0.rows = 6000; $0.seed = 5; $0.truth = .deep }, name: "d.tsv", in: w)
        let (again, _) = try generate({ $0.rows = 6000; $0.seed = 5; $0.truth = .deep }, name: "d2.tsv", in: w)
        #expect(deep == again)
        #expect(deep != ffm)
        func features(_ d: Data) -> [Substring] {
            String(decoding: d, as: UTF8.self).split(separator: "\n").map { $0.drop { $0 != "\t" } }
        }
        #expect(features(ffm) == features(deep))
        #expect(abs(Double(sd.clicks) / 6000 - 0.2) < 0.025)
        // The deep part adds signal: the truth is further from the constant predictor.
        #expect(sd.bayesLogLoss < sf.bayesLogLoss)
        #expect(sd.bayesLogLoss < 0.9 * sd.constantLogLoss)
    }

    @Test func deepTruthsNetworkIsStrongAndThresholded() {
        // Over random embeddings: output sd 3 logits (its scale), units active on about a
        // tenth of the draws (thresholds 1...1.5 on pre-activations of sd about 1).
        let truth = DeepTruth(seed: 11, fields: Array(0..<10))
        var rng = Xoshiro256(seed: 3)
        var sum = 0.0, squares = 0.0, active = 0
        let draws = 20000, inputs = 40
        for _ in 0..<draws {
            let e = (0..<inputs).map { _ in 2 * rng.uniform() - 1 }
            let y = DeepTruth.output(e, w1: truth.w1, b1: truth.b1, w2: truth.w2)
            sum += y
            squares += y * y
            for j in 0..<DeepTruth.hidden {
                var z = truth.b1[j]
                for i in 0..<inputs { z += truth.w1[j * inputs + i] * e[i] }
                if z > 0 { active += 1 }
            }
        }
        let mean = sum / Double(draws), sd = (squares / Double(draws) - mean * mean).squareRoot()
        #expect(abs(sd - DeepTruth.outputSD) < 0.15)
        let activity = Double(active) / Double(draws * DeepTruth.hidden)
        #expect(activity > 0.05 && activity < 0.2)
        #expect(truth.b1.allSatisfy { $0 <= -1 && $0 >= -1.5 })
    }

    @Test func cubicTruthChangesOnlyTheLabels() throws {
        let w = try Workspace()
        let (ffm, sf) = try generate({ $0.rows = 6000; $0.seed = 5 }, name: "f.tsv", in: w)
        let (cubic, sc) = try generate({ $0.rows = 6000; $0.seed = 5; $0.truth = .cubic }, name: "c.tsv", in: w)
        let (again, _) = try generate({ $0.rows = 6000; $0.seed = 5; $0.truth = .cubic }, name: "c2.tsv", in: w)
        #expect(cubic == again)
        #expect(cubic != ffm)
        func features(_ d: Data) -> [Substring] {
            String(decoding: d, as: UTF8.self).split(separator: "\n").map { $0.drop { $0 != "\t" } }
        }
        #expect(features(ffm) == features(cubic))
        #expect(abs(Double(sc.clicks) / 6000 - 0.2) < 0.025)
        // The three-way part adds signal: the truth is further from the constant predictor.
        #expect(sc.bayesLogLoss < sf.bayesLogLoss)
    }

    /// The cubic truth's three-way part is pure: centred embeddings make its mean 0 given
    /// any two of its fields' values (no pair model can explain it), with a standard
    /// deviation of `cubicDeviation` logits over the rows.
    @Test func cubicTruthIsPureThreeWay() {
        let (fields, interacting) = Generator.criteoFields()
        var model = PlantedModel(seed: 9, fields: fields, interacting: interacting, interactionScale: 0.4, cubic: true)
        let cubic = model.cubic
        // Skewed keys as the data has them: rank r with probability ∝ 1/r², 50 values per field.
        func rows(_ n: Int, seed: UInt64) -> [[Int64]] {
            var rng = Xoshiro256(seed: seed)
            return (0..<n).map { _ in
                var keys = [Int64](repeating: 0, count: fields.count)
                for f in cubic { keys[f] = Int64(min(50, Int(1 / max(rng.uniform(), 1e-9).squareRoot()))) }
                return keys
            }
        }
        let sample = rows(100_000, seed: 1)
        model.makeCubicPure(rows: sample.count) { sample[$0] }
        let fresh = rows(100_000, seed: 2)
        let terms = fresh.map { keys in keys.withUnsafeBufferPointer { model.cubicScale * model.cubicTerm($0) } }
        let mean = terms.reduce(0, +) / Double(terms.count)
        let deviation = (terms.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(terms.count)).squareRoot()
        #expect(abs(mean) < 0.03 && abs(deviation - PlantedModel.cubicDeviation) < 0.05, "mean \(mean), sd \(deviation)")
        // Given the most frequent values of two fields (key 1), the mean over the others is ~0,
        // while the part still varies there (it is not a function of fewer fields).
        let given = zip(fresh, terms).filter { $0.0[cubic[0]] == 1 && $0.0[cubic[1]] == 1 }.map(\.1)
        let conditional = given.reduce(0, +) / Double(given.count)
        #expect(given.count > 10_000 && abs(conditional) < 0.05 * PlantedModel.cubicDeviation, "conditional mean \(conditional)")
        // Uncentred (the old truth), the same rows' part has a clear pairwise mean.
        let uncentred = PlantedModel(seed: 9, fields: fields, interacting: interacting, interactionScale: 0.4, cubic: true)
        let raw = fresh.filter { $0[cubic[0]] == 1 && $0[cubic[1]] == 1 }.map { keys in keys.withUnsafeBufferPointer { uncentred.cubicTerm($0) } }
        #expect(abs(raw.reduce(0, +) / Double(raw.count)) > 0.05, "uncentred conditional mean")
    }

    @Test func probabilityFormat() {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBufferPointer { Synth.formatProbability(0.1234567890126, into: $0.baseAddress!) }
        #expect(String(decoding: buffer[..<n], as: UTF8.self) == "0.123456789013\n")
    }

    @Test func paramsDecodeDefaults() throws {
        #expect(try SynthParams.decode(.object([])).get() == SynthParams.defaults)
        var p = SynthParams.defaults
        p.rows = 0
        #expect(p.problems() == [ParamProblem("rows", "found 0; expected an integer >= 1")])
        #expect(throws: ParameterError.self) { try p.validated() }
    }
}

/// Issue 12, item 12: SIGINT and SIGTERM remove the temporary files of the live writers.
struct SignalCleanupTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalledIngestLeavesNoTemporaryFiles(signal: Int32) throws {
        let w = try Workspace()
        // Enough rows that the run is still reading when the signal comes.
        let input = try w.file("big.tsv", String(repeating: criteoRows(1000), count: 600))
        for split in ["order", "hash"] {
            try? FileManager.default.removeItem(atPath: w.out)
            let pid = try TestSupport.start("ctr-ingest", ["--schema", "criteo", "--split", split, "--out", w.out, input])
            // Wait until the run has opened its temporary files.
            let deadline = Date().addingTimeInterval(60)
            while !w.outputNames.contains(where: { $0.contains(".partial-") }) && Date() < deadline { usleep(2000) }
            #expect(!w.outputNames.contains("stats.json"), "ctr-ingest ended before it could be signalled")
            kill(pid, signal)
            let end = TestSupport.waitForExit(pid)
            #expect(end.signal == signal, "\(split): \(end)")
            #expect(w.outputNames == [], "\(split)")
        }
    }
}
