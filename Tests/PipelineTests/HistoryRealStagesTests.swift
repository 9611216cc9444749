import Foundation
import LogIO
import Metrics
import StageKit
import Testing
import TestSupport
@testable import Pipeline
#if canImport(Glibc)
import Glibc
#endif

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
        #expect(test.stage == "eval" && test.model == "train (ffm)" && test.rows == 200)
        let predictionsA = try #require(RunCache(workdir: workdir).file(withHash: a.stage("predict")!.outputs[0].hash))
        #expect(predictionsA.hasPrefix(workdir + "/.ctr-pipeline/cache/"))
        let reference = try EvalStage.evaluate(params: .defaults, inputs: EvalInputs(
            predictions: [predictionsA, workdir + "/predict/predictions.txt"], labels: workdir + "/ingest/test.tsv"))
        let comparison = try #require(reference.models[1].comparison)
        #expect(test.aucA == aucA && test.aucB == aucB)
        #expect(test.deltaAUC == comparison.deltaAUC && test.z == comparison.z && test.pValue == comparison.pValue)
        let p = try #require(test.pValue)
        #expect(p > 0 && p < 1)
        // A naive reference: DeLong's structural components pair by pair (O(m n)).
        func numbers(_ path: String) throws -> [Double] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { Double($0)! }
        }
        let pa = try numbers(predictionsA), pb = try numbers(workdir + "/predict/predictions.txt")
        let y = try String(contentsOfFile: workdir + "/ingest/test.tsv", encoding: .utf8).split(separator: "\n").map { $0.hasPrefix("1") }
        let pos = y.indices.filter { y[$0] }, neg = y.indices.filter { !y[$0] }
        func kernel(_ a: Double, _ b: Double) -> Double { a > b ? 1 : a == b ? 0.5 : 0 }
        func components(_ p: [Double]) -> (v10: [Double], v01: [Double]) {
            (pos.map { i in neg.reduce(0) { $0 + kernel(p[i], p[$1]) } / Double(neg.count) },
             neg.map { j in pos.reduce(0) { $0 + kernel(p[$1], p[j]) } / Double(pos.count) })
        }
        let ca = components(pa), cb = components(pb)
        let naiveA = ca.v10.reduce(0, +) / Double(pos.count), naiveB = cb.v10.reduce(0, +) / Double(pos.count)
        func covariance(_ x: [Double], _ mx: Double, _ z: [Double], _ mz: Double) -> Double {
            zip(x, z).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - mz) } / Double(x.count - 1)
        }
        let variance = (covariance(ca.v10, naiveA, ca.v10, naiveA) + covariance(cb.v10, naiveB, cb.v10, naiveB)
                        - 2 * covariance(ca.v10, naiveA, cb.v10, naiveB)) / Double(pos.count)
            + (covariance(ca.v01, naiveA, ca.v01, naiveA) + covariance(cb.v01, naiveB, cb.v01, naiveB)
               - 2 * covariance(ca.v01, naiveA, cb.v01, naiveB)) / Double(neg.count)
        let naiveZ = (naiveB - naiveA) / variance.squareRoot()
        #expect(abs(naiveA - aucA) < 1e-12 && abs(naiveB - aucB) < 1e-12)
        #expect(abs(naiveZ - (test.z ?? .nan)) < 1e-9)
        #expect(abs(erfc(abs(naiveZ) / 2.0.squareRoot()) - p) < 1e-9)
        // The interval is delta ± 1.96 SE with SE = delta / z.
        let lower = try #require(test.lower), upper = try #require(test.upper), z = try #require(test.z)
        #expect(abs((upper + lower) / 2 - (aucB - aucA)) < 1e-12)
        #expect(abs((upper - lower) / 2 - 1.959963984540054 * abs((aucB - aucA) / z)) < 1e-9)
        #expect((lower < 0 && upper > 0) == (p >= 0.05))
        let text = diff.text()
        #expect(text.contains("  train.factors  "))
        #expect(text.contains("eval, model train (ffm): delta " + String(format: "%+.5f", aucB - aucA)))
        let json = try diff.json()
        var parser = JSONParser(json)
        let parsed = try parser.parse()
        guard case let .array(tests)? = parsed["auc_tests"] else { Issue.record("no auc_tests in \(json)"); return }
        #expect(tests.first?["p_value"] == .double(p))
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

    /// The commands end to end: `run` prints the run id, `runs` lists, `diff` compares (text
    /// and JSON), `gc` prunes; bad references and too few runs are errors naming what exists.
    @Test func runsDiffAndGCCommands() throws {
        let dir = try makeScratchDirectory()
        _ = try RealStagesTests.criteoSlice(rows: 600, in: dir)
        let file = dir.appendingPathComponent("p.json").path
        try RealStagesTests.pipeline(epochs: 1).write(toFile: file, atomically: true, encoding: .utf8)

        var r = try TestSupport.run("ctr-pipeline", ["runs", file])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no runs recorded yet"))
        let first = try TestSupport.run("ctr-pipeline", ["run", "--quiet", file])
        #expect(first.status == 0, "\(first.stderr)")
        r = try TestSupport.run("ctr-pipeline", ["diff", file])
        #expect(r.status == 1)
        #expect(r.stderr.contains("diff compares two runs; found 1 recorded run"), "\(r.stderr)")
        let second = try TestSupport.run("ctr-pipeline", ["run", "--quiet", file, "--set", "train.factors=2"])
        #expect(second.status == 0, "\(second.stderr)")
        let third = try TestSupport.run("ctr-pipeline", ["run", "--quiet", file])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.stdout.contains("train    restored"), "\(third.stdout)")
        #expect(third.stdout.contains("0 ran, 2 skipped, 3 restored"), "\(third.stdout)")

        let records = RunHistory.load(workdir: dir.appendingPathComponent("work").path)
        #expect(records.count == 3)
        #expect(first.stdout.contains("; run \(records[0].id)"))
        r = try TestSupport.run("ctr-pipeline", ["runs", file])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 6)
        #expect(lines[1].hasPrefix(records[0].id) && lines[1].hasSuffix("first recorded run"))
        #expect(lines[2].hasPrefix(records[1].id) && lines[2].hasSuffix("train.factors 4 -> 2"))
        #expect(lines[3].hasPrefix(records[2].id) && lines[3].contains("3 restored, 2 skipped") && lines[3].hasSuffix("train.factors 2 -> 4"))
        #expect(lines[5].hasPrefix("run cache: 8 entries"))
        r = try TestSupport.run("ctr-pipeline", ["runs", file, "--last", "1"])
        #expect(r.stdout.split(separator: "\n").count == 4)
        #expect(r.stdout.contains("3 runs (1 shown)"))

        // Default: the last two. Text and JSON agree.
        r = try TestSupport.run("ctr-pipeline", ["diff", file])
        #expect(r.status == 0, "\(r.stderr)")
        let diffLines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(diffLines.first == ["a:", records[1].id, "b:", records[2].id, "delta"])
        #expect(diffLines.contains(["train.factors", "2", "4", "+2"]))
        #expect(r.stdout.contains("eval, model train (ffm): delta "), "\(r.stdout)")
        let json = try TestSupport.run("ctr-pipeline", ["diff", file, String(records[1].id.prefix(6)), "last", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        var parser = JSONParser(json.stdout)
        let parsed = try parser.parse()
        #expect(parsed["a"]?["id"] == .string(records[1].id))
        #expect(parsed["b"]?["id"] == .string(records[2].id))
        guard case let .array(tests)? = parsed["auc_tests"], case let .double(p)? = tests.first?["p_value"] else {
            Issue.record("no p-value in \(json.stdout)")
            return
        }
        #expect(p > 0 && p <= 1)
        #expect(r.stdout.contains(", p " + RunDiff.pText(p)))
        // Identical runs: nothing to test.
        r = try TestSupport.run("ctr-pipeline", ["diff", file, "last-2", "last"])
        #expect(r.stdout.contains("(no change)"))
        #expect(r.stdout.contains("no test: identical predictions"))
        r = try TestSupport.run("ctr-pipeline", ["diff", file, "zzzz"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no run \"zzzz\"; expected a run id"))
        #expect(r.stderr.contains(records[2].id))
        r = try TestSupport.run("ctr-pipeline", ["diff", file, "a", "b", "c"])
        #expect(r.status == 64)

        // gc: keep the last run's entries (ingest, hash and the factors=4 stages).
        r = try TestSupport.run("ctr-pipeline", ["gc", file, "--keep", "1", "--dry-run"])
        // ingest, hash, then train, predict and eval for each factors value: 8; the factors=2 ones go.
        #expect(r.stdout.hasPrefix("run cache: would remove 3 entries\n"), "\(r.stdout)")
        r = try TestSupport.run("ctr-pipeline", ["gc", file, "--keep", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("run cache: removed 3 entries, freed "), "\(r.stdout)")
        #expect(r.stdout.contains("0 B of it held only by the cache"))
        #expect(RunCache(workdir: dir.appendingPathComponent("work").path).fingerprints().count == 5)
        r = try TestSupport.run("ctr-pipeline", ["gc", file, "--keep", "-1"])
        #expect(r.status == 64)
    }
}
