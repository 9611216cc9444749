import Foundation
import StageKit
import LogIO
import Testing
import TestSupport
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
        // The hash cache carries the real targets (format 3) and the text its numbers.
        let work = dir.appendingPathComponent("work")
        let cache = try Data(contentsOf: work.appendingPathComponent("hash/train.cache"))
        #expect(cache[8] == 3)
        let text = try String(contentsOf: work.appendingPathComponent("hash/train.ffm"), encoding: .utf8)
        let firstLabel = text.prefix { $0 != " " }
        #expect(Double(firstLabel) != nil && firstLabel.contains("."))
        let summary = RunSummary.table(report)
        #expect(summary.contains("RMSE") && !summary.contains("AUC"))
    }
}
