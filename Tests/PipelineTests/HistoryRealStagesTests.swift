import Foundation
import LogIO
import Metrics
import StageKit
import Testing
@testable import Pipeline

/// `diff` and the run cache with the real stages on a 1,000-row slice of SampleData.
@Suite(.serialized) struct HistoryRealStagesTests {
    func run(_ file: String, overrides: [String] = []) throws -> RunReport {
        let resolved = try PipelineLoader(registry: .standard).load(file: file, overrides: overrides)
        var options = RunOptions()
        options.quiet = true
        return try PipelineRunner(pipeline: resolved, options: options).run()
    }

    @Test func diffTestsTheAUCDifferenceAndGoingBackRestoresTheModel() throws {
        let dir = try makeScratchDirectory()
        _ = try RealStagesTests.criteoSlice(rows: 1000, in: dir)
        let file = dir.appendingPathComponent("p.json").path
        let workdir = dir.appendingPathComponent("work").path
        try RealStagesTests.pipeline(epochs: 3).write(toFile: file, atomically: true, encoding: .utf8)

        let a = try run(file)
        let b = try run(file, overrides: ["train.factors=8"])
        #expect(a.succeeded && b.succeeded)
        // Train reports the validation figures of its kept epoch.
        let va = try #require(b.stage("train")?.metrics.first)
        #expect(va.model == "train")
        #expect(((va.values["va_logloss"] ?? nil) ?? 0) > 0.3 && ((va.values["va_auc"] ?? nil) ?? 0) > 0.5)

        let records = RunHistory.load(workdir: workdir)
        #expect(records.map(\.id) == [a.runID!, b.runID!])
        let diff = RunDiff.compare(records[0], records[1], workdir: workdir)
        #expect(diff.parameters == [RunHistory.ParameterChange(stage: "train", key: "factors", a: .int(4), b: .int(8))])
        #expect(diff.inputs.isEmpty)
        let aucA = try #require(a.stage("eval")!.metrics[0].values["auc"] ?? nil)
        let aucB = try #require(b.stage("eval")!.metrics[0].values["auc"] ?? nil)
        let delta = try #require(diff.metrics.first { $0.stage == "eval" && $0.metric == "auc" })
        #expect(delta.a == aucA && delta.b == aucB && delta.delta == aucB - aucA)

        // The DeLong test: run a's predictions are no longer on disk (b replaced them), so
        // they come from the run cache; the figures are ctr-eval's own comparison of the two files.
        #expect(diff.aucTests.count == 1)
        let test = diff.aucTests[0]
        #expect(test.unavailable == nil)
        #expect(test.stage == "eval" && test.model == "predict" && test.rows == 200)
        let predictionsA = try #require(RunCache(workdir: workdir).file(withHash: a.stage("predict")!.outputs[0].hash))
        #expect(predictionsA.hasPrefix(workdir + "/.ctr-pipeline/cache/"))
        let reference = try EvalStage.evaluate(params: .defaults, inputs: EvalInputs(
            predictions: [predictionsA, workdir + "/predict/predictions.txt"], labels: workdir + "/ingest/test.tsv"))
        let comparison = try #require(reference.models[1].comparison)
        #expect(test.aucA == aucA && test.aucB == aucB)
        #expect(test.deltaAUC == comparison.deltaAUC && test.z == comparison.z && test.pValue == comparison.pValue)
        let p = try #require(test.pValue)
        #expect(p > 0 && p < 1)
        // The interval is delta ± 1.96 SE with SE = delta / z.
        let lower = try #require(test.lower), upper = try #require(test.upper), z = try #require(test.z)
        #expect(abs((upper + lower) / 2 - (aucB - aucA)) < 1e-12)
        #expect(abs((upper - lower) / 2 - 1.959963984540054 * abs((aucB - aucA) / z)) < 1e-9)
        #expect((lower < 0 && upper > 0) == (p >= 0.05))
        let text = diff.text()
        #expect(text.contains("  train.factors  "))
        #expect(text.contains("eval, model predict: delta " + String(format: "%+.5f", aucB - aucA)))
        let json = try diff.json()
        var parser = JSONParser(json)
        let parsed = try parser.parse()
        guard case let .array(tests)? = parsed["aucTests"] else { Issue.record("no aucTests in \(json)"); return }
        #expect(tests.first?["pValue"] == .double(p))
        #expect(parsed["a"]?["id"] == .string(a.runID!))

        // Back to 4 factors: train, predict and eval come back from the run cache.
        let c = try run(file)
        #expect(c.stages.map(\.status) == [.skipped, .skipped, .restored, .restored, .restored])
        #expect(c.stage("eval")!.metrics == a.stage("eval")!.metrics)
        #expect(try ContentHasher.hashFile(workdir + "/train/model.bin") == a.stage("train")!.outputs[0].hash)
        let same = RunDiff.compare(records[0], RunHistory.load(workdir: workdir)[2], workdir: workdir)
        #expect(same.parameters.isEmpty)
        #expect(same.aucTests.map(\.unavailable) == ["identical predictions"])
    }
}
