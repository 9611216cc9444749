import FFM
import Foundation
import StageKit
import LogIO
import Testing
import TestSupport
@testable import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// The real stages (ingest, hash, train, predict, eval) through the pipeline, on a small
/// slice of SampleData so the debug build stays quick.
@Suite(.serialized) struct RealStagesTests {
    static let root = TestSupport.packageRoot

    /// The first `rows` lines of SampleData's Criteo sample, as a plain file in `directory`.
    static func criteoSlice(rows: Int, in directory: URL) throws -> String {
        let reader = try LineReader(path: root.appendingPathComponent("SampleData/criteo-sample.tsv.gz").path)
        let path = directory.appendingPathComponent("criteo-slice.tsv").path
        let writer = try AtomicFileWriter(path: path)
        var n = 0
        while n < rows, let line = try reader.next() {
            try writer.write(line)
            try writer.write(byte: 10)
            n += 1
        }
        try writer.commit()
        return path
    }

    static func pipeline(epochs: Int, patience: Int = 2) -> String {
        """
        {
          "version": 1,
          "name": "small",
          "workdir": "work",
          "stages": {
            "ingest": {"kind": "ingest", "inputs": {"logs": "criteo-slice.tsv"}, "params": {"schema": "criteo", "valid": 0.2, "test": 0.2}},
            "hash": {"kind": "hash", "inputs": {"rows": "${ingest.rows}"}, "params": {"rareThreshold": 2, "threads": 1}},
            "train": {"kind": "train", "inputs": {"train": "${hash.train}", "valid": "${hash.valid}"}, "params": {"factors": 4, "epochs": \(epochs), "patience": \(patience)}},
            "predict": {"kind": "predict", "inputs": {"data": "${hash.test}", "model": "${train.model}"}, "params": {"threads": 1}},
            "eval": {"kind": "eval", "inputs": {"predictions": "${predict.predictions}", "labels": "${ingest.test}"}}
          }
        }
        """
    }

    func run(_ file: String, overrides: [String] = []) throws -> RunReport {
        let resolved = try PipelineLoader(registry: .standard).load(file: file, overrides: overrides)
        var options = RunOptions()
        options.quiet = true
        return try PipelineRunner(pipeline: resolved, options: options).run()
    }

    /// Predict on raw logs with hash's featurizer gives the very predictions of predict on
    /// hash's cache of the same rows (ingest's test split is the last 20% of the lines).
    @Test func predictFromRawLogsInAPipeline() throws {
        let dir = try makeScratchDirectory()
        let slice = try Self.criteoSlice(rows: 1000, in: dir)
        let lines = try String(contentsOfFile: slice, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        try (lines[800..<1000].joined(separator: "\n") + "\n").write(toFile: dir.appendingPathComponent("test-raw.tsv").path,
                                                                   atomically: true, encoding: .utf8)
        var text = Self.pipeline(epochs: 2)
        text = text.replacingOccurrences(of: #""eval": {"#, with: """
            "predictRaw": {"kind": "predict", "inputs": {"data": "test-raw.tsv", "model": "${train.model}", "featurizer": "${hash.featurizer}"}},
                "eval": {
            """)
        let file = dir.appendingPathComponent("p.json").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let report = try run(file)
        #expect(report.succeeded, "\(report.failure.map(String.init(describing:)) ?? "")")
        let fromCache = try String(contentsOfFile: dir.appendingPathComponent("work/predict/predictions.txt").path, encoding: .utf8)
        let fromRaw = try String(contentsOfFile: dir.appendingPathComponent("work/predictRaw/predictions.txt").path, encoding: .utf8)
        #expect(fromCache.split(separator: "\n").count == 200)
        #expect(fromRaw == fromCache)
    }

    @Test func calibrationAndRawScoresInAPipeline() throws {
        let dir = try makeScratchDirectory()
        _ = try Self.criteoSlice(rows: 1000, in: dir)
        var text = Self.pipeline(epochs: 2)
        text = text.replacingOccurrences(of: #""patience": 2}"#, with: #""patience": 2, "calibrate": "isotonic"}"#)
        text = text.replacingOccurrences(of: #""eval": {"#, with: """
            "predictPlain": {"kind": "predict", "inputs": {"data": "${hash.test}", "model": "${train.model}"}, "params": {"uncalibrated": true}},
                "predictRaw": {"kind": "predict", "inputs": {"data": "${hash.test}", "model": "${train.model}"}, "params": {"rawScore": true}},
                "eval": {
            """)
        let file = dir.appendingPathComponent("p.json").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let report = try run(file)
        #expect(report.succeeded, "\(report.failure.map(String.init(describing:)) ?? "")")
        // Predictions are Float text that reads back exactly as a Float (FloatText), so they
        // are read as Float: as Double the raw margin would be off by up to half a Float ulp,
        // which a steep isotonic segment can magnify past the tolerance.
        func lines(_ stage: String) throws -> [Double] {
            try String(contentsOfFile: dir.appendingPathComponent("work/\(stage)/predictions.txt").path, encoding: .utf8)
                .split(separator: "\n").map { Double(Float($0)!) }
        }
        let (calibrated, plain, raw) = (try lines("predict"), try lines("predictPlain"), try lines("predictRaw"))
        #expect(calibrated.count == 200 && plain.count == 200 && raw.count == 200)
        let (_, metadata) = try ModelFile.load(dir.appendingPathComponent("work/train/model.bin").path)
        let calibrator = try #require(try Calibrator.from(metadata, path: "model"))
        #expect(calibrator.method == .isotonic)
        for i in 0..<200 {
            #expect(abs(plain[i] - sigmoid(raw[i])) < 1e-6)
            #expect(abs(calibrated[i] - calibrator.probability(margin: raw[i])) < 1e-6)
        }
        // #16: eval shows the calibrated model before and after its calibrator, the
        // "before" being exactly the uncalibrated predictions.
        let evaluated = try #require(report.stage("eval")?.metrics)
        #expect(evaluated.map(\.model) == ["train (ffm) (uncalibrated)", "train (ffm) (isotonic)"])
        let labels = try String(contentsOfFile: dir.appendingPathComponent("work/ingest/test.tsv").path, encoding: .utf8)
            .split(separator: "\n").map { Double($0.split(separator: "\t", omittingEmptySubsequences: false)[0])! }
        func logloss(_ p: [Double]) -> Double {
            let eps = Double.ulpOfOne  // eval clips p to [ε, 1−ε], ε = 2.22e-16
            return zip(p, labels).map { p, y in -(y * log(min(max(p, eps), 1 - eps)) + (1 - y) * log(1 - min(max(p, eps), 1 - eps))) }.reduce(0, +) / Double(p.count)
        }
        #expect(abs((evaluated[0].values["logloss"] ?? nil)! - logloss(plain)) < 1e-9)
        #expect(abs((evaluated[1].values["logloss"] ?? nil)! - logloss(calibrated)) < 1e-9)
        let html = try String(contentsOfFile: dir.appendingPathComponent("work/eval/report.html").path, encoding: .utf8)
        #expect(html.contains("train (ffm) (uncalibrated)") && html.contains("train (ffm) (isotonic)"))
        // No temporary scores are left behind.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("work/eval").path)
        #expect(Set(left) == ["metrics.json", "report.html"])
    }

    /// #16: a swept train: eval's report ranks the variants by validation loss with the test
    /// metrics beside, as the run summary does, and draws one learning curve per variant.
    @Test func evalReportShowsTheSweep() throws {
        let dir = try makeScratchDirectory()
        _ = try Self.criteoSlice(rows: 1000, in: dir)
        let text = Self.pipeline(epochs: 2).replacingOccurrences(of: #""patience": 2}}"#, with: #""patience": 2}, "sweep": {"factors": [2, 6]}}"#)
            .replacingOccurrences(of: #""factors": 4, "#, with: "")
        #expect(text.contains("sweep"))
        let file = dir.appendingPathComponent("p.json").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let report = try run(file)
        #expect(report.succeeded, "\(report.failure.map(String.init(describing:)) ?? "")")
        let resolved = try PipelineLoader(registry: .standard).load(file: file)
        let tables = RunSummary.sweepTables(report, pipeline: resolved)
        #expect(tables.count == 1)
        let rows = try #require(tables.first?.rows)
        #expect(rows.count == 3 && rows.dropFirst().allSatisfy { !$0[4].isEmpty })  // test AUC filled in
        let html = try String(contentsOfFile: dir.appendingPathComponent("work/eval/report.html").path, encoding: .utf8)
        #expect(html.contains("<h2>Sweep</h2>") && html.contains(tables[0].title))
        for row in rows.dropFirst() {
            #expect(html.contains("<tr><td class=\"n\">\(row[0])</td><td>\(row[1])</td><td class=\"n\">\(row[2])</td><td class=\"n\">\(row[3])</td><td class=\"n\">\(row[4])</td>"))
        }
        #expect(html.contains("Learning curves of train@factors=2") && html.contains("Learning curves of train@factors=6"))
    }

    /// #16: eval's report gets train's learning curves (kept epoch marked) and the run's metadata.
    @Test func evalReportHasLearningCurvesAndRunMetadata() throws {
        let dir = try makeScratchDirectory()
        _ = try Self.criteoSlice(rows: 1000, in: dir)
        let file = dir.appendingPathComponent("p.json").path
        try Self.pipeline(epochs: 3, patience: 0).write(toFile: file, atomically: true, encoding: .utf8)
        let report = try run(file)
        #expect(report.succeeded, "\(report.failure.map(String.init(describing:)) ?? "")")
        let html = try String(contentsOfFile: dir.appendingPathComponent("work/eval/report.html").path, encoding: .utf8)
        // Without patience train keeps the last epoch.
        #expect(html.contains("<h2>Learning curves</h2>") && html.contains("kept epoch 3<"))
        #expect(html.contains("Learning curves of train ("))
        #expect(html.contains("<tr><th>SwiftCTR</th><td>\(SwiftCTRVersion.current)</td></tr>"))
        #expect(html.contains("stage eval</td>"))
        let epochs = dir.appendingPathComponent("work/train/epochs.json").path
        let hash = try #require(report.stage("train")?.outputs.first { $0.name == "epochs" }?.hash)
        #expect(html.contains("<td>training log</td><td>\(epochs)</td>"))
        #expect(html.contains("<td>\(hash)</td>"))
        let labelsHash = try #require(report.stage("eval")?.inputs.first { $0.slot == "labels" }?.hash)
        #expect(html.contains("<td>labels</td>") && html.contains("<td>\(labelsHash)</td>"))
        // The reserved logJson is not listed as a parameter.
        #expect(!html.contains("<td>logJson</td>"))
    }

    @Test func realStagesRunSkipAndRerunWhatChanged() throws {
        let dir = try makeScratchDirectory()
        _ = try Self.criteoSlice(rows: 1000, in: dir)
        let file = dir.appendingPathComponent("p.json").path
        try Self.pipeline(epochs: 2).write(toFile: file, atomically: true, encoding: .utf8)

        let first = try run(file)
        #expect(first.succeeded, "\(String(describing: first.failure))")
        #expect(first.stages.map(\.status) == [.ran, .ran, .ran, .ran, .ran])
        let metrics = try #require(first.stage("eval")?.metrics.first)
        #expect(metrics.model == "train (ffm)")
        let auc = try #require(metrics.values["auc"] ?? nil)
        // Model quality is the stages' business (their own tests); here: a real AUC, a finite log loss.
        #expect(auc > 0 && auc < 1)
        let logloss = try #require(metrics.values["logloss"] ?? nil)
        #expect(logloss.isFinite && logloss > 0)
        #expect(metrics.values["rows"] == 200)
        // Outputs are where the references say.
        for file in ["ingest/train.tsv", "ingest/stats.json", "hash/train.cache", "hash/featurizer.json",
                     "train/model.bin", "train/epochs.json", "predict/predictions.txt", "eval/metrics.json", "eval/report.html"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("work/" + file).path), "\(file)")
        }

        let second = try run(file)
        #expect(second.stages.allSatisfy { $0.status == .skipped })
        #expect(second.stage("eval")!.metrics == first.stage("eval")!.metrics)

        let changed = try run(file, overrides: ["train.factors=2"])
        #expect(changed.stages.map(\.status) == [.skipped, .skipped, .ran, .ran, .ran])
        #expect(changed.stage("train")!.reasons == ["changed parameter: factors 4 -> 2"])
    }

    @Test func samplePipelinesValidate() throws {
        let loader = PipelineLoader(registry: .standard)
        for name in ["criteo-sample", "avazu-sample", "criteo-sweep", "criteo-command", "ratings-sample"] {
            let p = try loader.load(file: Self.root.appendingPathComponent("Pipelines/\(name).json").path)
            #expect(p.stages.first?.name == "ingest")
            #expect(p.stages.last?.name == "eval")
        }
        // These read files that other commands make (see docs/PIPELINES.md): when those are
        // absent, missing inputs must be the only complaint.
        for name in ["criteo-days", "libffm-files"] {
            do {
                _ = try loader.load(file: Self.root.appendingPathComponent("Pipelines/\(name).json").path)
            } catch let PipelineError.invalid(_, issues) {
                for issue in issues {
                    #expect(issue.message.hasPrefix("no such file") || issue.message.hasPrefix("no file matches"), "\(issue)")
                }
            }
        }
    }

    @Test func schemaFileIsUpToDate() throws {
        let committed = try String(contentsOf: Self.root.appendingPathComponent("docs/pipeline.schema.json"), encoding: .utf8)
        let generated = PipelineSchema.generate(registry: .standard).text(pretty: true) + "\n"
        #expect(committed == generated, "regenerate with: swift run ctr-pipeline schema > docs/pipeline.schema.json")
    }

    /// A run killed (SIGKILL) during training resumes at training and ends with the same
    /// metrics as an uninterrupted run.
    @Test func aRunKilledDuringTrainingResumesThere() throws {
        let executable = TestSupport.productsDirectory.appendingPathComponent("ctr-pipeline")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            Issue.record("ctr-pipeline is not built at \(executable.path)")
            return
        }
        let killed = try makeScratchDirectory()
        let clean = try makeScratchDirectory()
        for dir in [killed, clean] {
            _ = try Self.criteoSlice(rows: 800, in: dir)
            try Self.pipeline(epochs: 5, patience: 0).write(to: dir.appendingPathComponent("p.json"), atomically: true, encoding: .utf8)
        }

        // Start, wait for the first epoch line of training, kill.
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run", killed.appendingPathComponent("p.json").path]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        let handle = err.fileHandleForReading
        while !String(decoding: seen, as: UTF8.self).contains("[train  ]    1 ") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let stderrText = String(decoding: seen, as: UTF8.self)
        #expect(stderrText.contains("[train  ]    1 "), "\(stderrText)")
        let lock = LockFile.load(workdir: killed.appendingPathComponent("work").path, pipeline: "small") { _ in }
        #expect(Set(lock.stages.keys) == ["ingest", "hash"])
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("work/train/model.bin").path))
        // What the killed writer left under a temporary name is cleaned up by the next run.
        try "partial".write(to: killed.appendingPathComponent("work/train/.model.bin.partial-99999"), atomically: false, encoding: .utf8)

        let resumed = try TestSupport.run("ctr-pipeline", ["run", "--quiet", killed.appendingPathComponent("p.json").path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let uninterrupted = try TestSupport.run("ctr-pipeline", ["run", "--quiet", clean.appendingPathComponent("p.json").path])
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")

        func manifest(_ dir: URL) throws -> RunManifest {
            try JSONDecoder().decode(RunManifest.self, from: Data(contentsOf: dir.appendingPathComponent("work/manifest.json")))
        }
        let a = try manifest(killed), b = try manifest(clean)
        #expect(a.stages.map(\.status) == [.skipped, .skipped, .ran, .ran, .ran])
        // Train's validation figures (kept epoch) and eval's test metrics.
        #expect(a.metrics.map(\.stage) == ["train", "eval"])
        #expect(a.metrics.map(\.values) == b.metrics.map(\.values))
        // The same model and predictions, byte for byte (one training thread).
        #expect(a.stages[2].outputs.first { $0.name == "model" }!.hash == b.stages[2].outputs.first { $0.name == "model" }!.hash)
        #expect(a.stages[3].outputs.map(\.hash) == b.stages[3].outputs.map(\.hash))
        #expect(resumed.stdout.contains("ingest   skipped"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: killed.appendingPathComponent("work/train").path)
        #expect(!leftovers.contains { $0.contains(".partial-") }, "\(leftovers)")
    }
}
