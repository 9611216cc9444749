import Foundation
import StageKit
import LogIO
import Testing
import TestSupport
import FFM
@testable import Pipeline

/// Regression end to end (#13): ratings through ingest (ratings preset), hash (a cache of
/// format 3 with the targets), an FM with squared loss, predict and regression metrics.
@Suite struct RatingsPipelineTests {
    @Test func ratingsRunThroughEveryStageToRegressionMetrics() throws {
        let dir = try TestSupport.makeTemporaryDirectory("ratings-pipeline")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sample = TestSupport.packageRoot.appendingPathComponent("SampleData/ratings-sample.tsv.gz").path
        guard FileManager.default.fileExists(atPath: sample) else {
            Issue.record("SampleData/ratings-sample.tsv.gz is part of the repository and missing")
            return
        }
        let file = dir.appendingPathComponent("ratings.json").path
        try """
        {
          "version": 1, "name": "ratings", "workdir": "work",
          "stages": {
            "ingest": {"kind": "ingest", "inputs": {"logs": "\(sample)"}, "params": {"schema": "ratings", "split": "hash", "valid": 0.1, "test": 0.1, "seed": 1}},
            "hash": {"kind": "hash", "inputs": {"rows": "${ingest.rows}"}, "params": {"bins": 65536, "rareThreshold": 1, "threads": 1}},
            "train": {"kind": "train", "inputs": {"train": "${hash.train}", "valid": "${hash.valid}"},
                      "params": {"model": "fm", "loss": "squared", "factors": 4, "epochs": 12, "eta": 0.3, "lambda": 0.03, "noNorm": true}},
            "predict": {"kind": "predict", "inputs": {"data": "${hash.test}", "model": "${train.model}"}, "params": {"threads": 1}},
            "eval": {"kind": "eval", "inputs": {"predictions": "${predict.predictions}", "labels": "${ingest.test}"}, "params": {"task": "regression"}}
          }
        }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let resolved = try PipelineLoader(registry: .standard).load(file: file)
        var options = RunOptions()
        options.quiet = true
        let report = try PipelineRunner(pipeline: resolved, options: options).run()
        #expect(report.stages.map(\.status) == [.ran, .ran, .ran, .ran, .ran])
        let metrics = try #require(report.stage("eval")?.metrics.first?.values)
        // Noise σ = 0.5 is the floor; the mean rating scores 1.06 on the sample.
        let rmse = try #require(metrics["rmse"] ?? nil)
        #expect(rmse > 0.5 && rmse < 0.75, "test RMSE \(rmse)")
        #expect(metrics["auc"] == nil)
        // The hash cache carries the real targets (Float32 labels: label size 4 in the header) and the text its numbers.
        let work = dir.appendingPathComponent("work")
        let cache = try Data(contentsOf: work.appendingPathComponent("hash/train.cache"))
        #expect(cache[8] == 4 && cache[20] == 4)
        let text = try String(contentsOf: work.appendingPathComponent("hash/train.ffm"), encoding: .utf8)
        let firstLabel = text.prefix { $0 != " " }
        #expect(Double(firstLabel) != nil && firstLabel.contains("."))
        let summary = RunSummary.table(report)
        #expect(summary.contains("RMSE") && !summary.contains("AUC"))
        // Raw ratings lines through the featurizer: the targets come from the rating column.
        let raw = dir.appendingPathComponent("raw.tsv").path
        let reader = try LineReader(path: sample)
        var lines: [String] = []
        while lines.count < 500, let line = try reader.next() { lines.append(line.string) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: raw, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("raw.pred").path
        let predicted = try PredictStage.run(.defaults, inputs: PredictInputs(data: raw, model: work.appendingPathComponent("train/model.bin").path,
                                                                            featurizer: work.appendingPathComponent("hash/featurizer.json").path),
                                             outputs: out, reporter: .silent)
        let p = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map { Double($0)! }
        let y = lines.map { Double($0.split(separator: "\t")[2])! }
        let expected = (zip(p, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(p.count)).squareRoot()
        let rawRMSE = try #require(predicted.rmse)
        #expect(p.count == 500 && abs(rawRMSE - expected) < 1e-4)
    }
}
