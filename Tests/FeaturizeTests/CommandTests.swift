import Dataset
import Foundation
import Ingest
import LogIO
import TestSupport
import Testing
@testable import Featurize

/// The ctr-hash executable: the issue's command forms, exit codes and messages.
struct CommandTests {
    @Test func rowsFormWritesEverySplitAndTheFeaturizer() throws {
        let scratch = try Scratch("cli")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 400, seed: 21), valid: 0.1, test: 0.1)
        let config = try scratch.write("features.json", #"{"fields": {"I1": {"transform": "buckets", "boundaries": [0, 5, 50]}}}"#)
        let run = try TestSupport.run("ctr-hash", ["--rows", rows, "--out", scratch.path("out"), "--bins", "auto",
                                                   "--rare-threshold", "3", "--config", config, "--seed", "5"])
        #expect(run.status == 0, "\(run.stderr)")
        for name in ["train.ffm", "valid.ffm", "test.ffm", "train.cache", "valid.cache", "test.cache", "featurizer.json"] {
            #expect(FileManager.default.fileExists(atPath: scratch.path("out/\(name)")), "\(name)")
        }
        #expect(run.stderr.contains("I1              integer     buckets"))
        #expect(run.stderr.contains("train: 320 rows"))
        // Same as the library entry point with the same options.
        _ = try hash(rows: rows, out: scratch.path("lib")) {
            $0.rareThreshold = 3
            $0.config = config
            $0.seed = 5
        }
        #expect(scratch.data("out/train.ffm") == scratch.data("lib/train.ffm"))
    }

    @Test func rawLogsAndLibffmForms() throws {
        let scratch = try Scratch("cli-raw")
        let lines = criteoLines(count: 300, seed: 22)
        let train = try scratch.write("day0.tsv", lines.prefix(250).joined(separator: "\n") + "\n")
        let valid = try scratch.write("day1.tsv", lines.suffix(50).joined(separator: "\n") + "\n")
        let raw = try TestSupport.run("ctr-hash", ["--schema", "criteo", "--valid-file", valid, "--out", scratch.path("raw"),
                                                   "--quiet", train])
        #expect(raw.status == 0 && raw.stderr.isEmpty, "\(raw.stderr)")
        #expect(try scratch.lines("raw/train.ffm").count == 250 && scratch.lines("raw/valid.ffm").count == 50)
        let converted = try TestSupport.run("ctr-hash", ["--from-libffm", "--out", scratch.path("conv"), scratch.path("raw/valid.ffm")])
        #expect(converted.status == 0, "\(converted.stderr)")
        // The same cache, but text carries no featurizer: the converted one records none.
        #expect(withoutFeaturizerHash(scratch.data("conv/valid.cache")) == withoutFeaturizerHash(scratch.data("raw/valid.cache")))
        #expect(try CacheReader(path: scratch.path("conv/valid.cache")).info.featurizerHash == 0)
        let featurizerHash = try #require(scratch.data("raw/featurizer.json")).withUnsafeBytes { XXHash64.hash($0) }
        #expect(try CacheReader(path: scratch.path("raw/valid.cache")).info.featurizerHash == featurizerHash)
    }

    @Test func errorsExitWithOneAndAMessage() throws {
        let scratch = try Scratch("cli-bad")
        try FileManager.default.createDirectory(atPath: scratch.path("empty"), withIntermediateDirectories: true)
        let missing = try TestSupport.run("ctr-hash", ["--rows", scratch.path("empty"), "--out", scratch.path("out")])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no stats.json in the rows folder"))
        let usage = try TestSupport.run("ctr-hash", ["--rows", scratch.path("empty"), "--out", scratch.path("out"), "--bins", "lots"])
        #expect(usage.status != 0 && usage.stderr.contains("--bins"))
        let bad = try scratch.write("bad.ffm", "1 0:1:1\n3 0:1:1\n")
        let libffm = try TestSupport.run("ctr-hash", ["--from-libffm", "--out", scratch.path("out"), bad])
        #expect(libffm.status == 1 && libffm.stderr.contains("\(bad):2: bad label \"3\""))
    }

    @Test func splineOptionsOnTheCommandLine() throws {
        let scratch = try Scratch("cli-spline")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 300, seed: 23))
        for knots in ["0", "1"] {
            let run = try TestSupport.run("ctr-hash", ["--rows", rows, "--out", scratch.path("out"), "--numeric", "spline", "--knots", knots])
            #expect(run.status == 64 && run.stderr.contains("--knots: found \(knots); expected an integer from 2 to 1000"), "\(run.stderr)")
        }
        let typo = try TestSupport.run("ctr-hash", ["--rows", rows, "--out", scratch.path("out"), "--numeric", "splines"])
        #expect(typo.status == 64 && typo.stderr.contains("'spline-log-square'"), "\(typo.stderr)")
        let run = try TestSupport.run("ctr-hash", ["--rows", rows, "--out", scratch.path("out"), "--numeric", "spline-log-square",
                                                   "--knots", "6"])
        #expect(run.status == 0, "\(run.stderr)")
        let spec = try JSONDecoder().decode(FeaturizerSpec.self, from: #require(scratch.data("out/featurizer.json")))
        #expect(spec.fields.prefix(13).allSatisfy { $0.transform == .spline && $0.logSquare != nil && $0.knots!.count <= 6 })
    }
}
