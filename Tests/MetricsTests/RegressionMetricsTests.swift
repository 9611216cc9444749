import Foundation
import StageKit
import Testing
import TestSupport
@testable import Metrics

/// ctr-eval --task regression against scikit-learn 1.9.1 / numpy (regression_oracle.py,
/// run once; its output is pasted below).
@Suite struct RegressionMetricsTests {
    // (name, mse, rmse, mae, r2, mean residual, std residual), residual = y - p
    static let oracle: [(String, Double, Double, Double, Double, Double, Double)] = [
        ("all", 0.24951798643343434, 0.49951775387210645, 0.44332769084718715, 0.8361760290144926, 0.07982078067548508, 0.4930990056832304),
        ("weighted", 0.25812196713693597, 0.5080570510650708, 0.4552478502460979, 0.8308525472140681, 0.0791549843481713, 0.5018530218996163),
        ("segment 0", 0.26246931323884304, 0.5123175902102552, 0.4542290338626616, 0.8299105301003853, 0.15277999849658186, 0.489006733387412),
        ("segment 1", 0.2759311873396241, 0.5252915260497013, 0.48091186778110373, 0.8161224907357774, 0.08946650700835723, 0.5176165873147301),
        ("segment 2", 0.22607989183263905, 0.4754785924020545, 0.4241454900950961, 0.8493428459257716, 0.0358374603989572, 0.47412611008548367),
        ("segment 3", 0.23359155332263123, 0.4833131007148795, 0.4140243716498871, 0.8432271454210528, 0.041199156798044055, 0.4815539251234086),
    ]

    static let n = 40
    static let y = (0..<n).map { Double(($0 * 37) % 17) / 4 + 1 }
    static let p = (0..<n).map { y[$0] + sin(Double($0)) * 0.7 - 0.1 }

    func check(_ m: RegressionMetrics, _ o: (String, Double, Double, Double, Double, Double, Double)) {
        func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= 1e-12 * max(1, abs(b)) } ?? false }
        #expect(close(m.mse, o.1) && close(m.rmse, o.2) && close(m.mae, o.3), "\(o.0)")
        #expect(close(m.r2, o.4) && close(m.meanResidual, o.5) && close(m.stdResidual, o.6), "\(o.0)")
    }

    func files(_ s: Scratch) throws -> (labels: String, predictions: String, weights: String, segments: String) {
        // %.17g keeps every bit of the doubles.
        let labels = try s.file("y", Self.y.map { String(format: "%.17g", $0) }.joined(separator: "\n") + "\n")
        let predictions = try s.file("p", Self.p.map { String(format: "%.17g", $0) }.joined(separator: "\n") + "\n")
        let weights = try s.file("w", (0..<Self.n).map { "\(1 + $0 % 3)" }.joined(separator: "\n") + "\n")
        let segments = try s.file("g", (0..<Self.n).map { "s\($0 % 4)" }.joined(separator: "\n") + "\n")
        return (labels, predictions, weights, segments)
    }

    @Test func metricsMatchScikitLearn() throws {
        let s = try Scratch()
        let f = try files(s)
        var params = EvalParams.defaults
        params.task = .regression
        let plain = try EvalStage.evaluateRegression(params: params, inputs: EvalInputs(predictions: [f.predictions], labels: f.labels,
                                                                                        groupBy: f.segments))
        check(plain.models[0].metrics, Self.oracle[0])
        let segments = try #require(plain.models[0].segments)
        #expect(segments.map(\.key) == ["s0", "s1", "s2", "s3"])  // 10 rows each: ties in key order
        for seg in segments { check(seg.metrics, Self.oracle[2 + Int(seg.key.dropFirst())!]) }
        let weighted = try EvalStage.evaluateRegression(params: params, inputs: EvalInputs(predictions: [f.predictions], labels: f.labels,
                                                                                           weights: f.weights))
        check(weighted.models[0].metrics, Self.oracle[1])
        #expect(weighted.models[0].metrics.weightSum == 79)
        // The histogram holds every row.
        #expect(plain.models[0].histogram.counts.reduce(0, +) == 40 && plain.models[0].histogram.edges.count == 31)
    }

    @Test func reportsAreWrittenAndBadInputNamesTheLine() throws {
        let s = try Scratch()
        let f = try files(s)
        var params = EvalParams.defaults
        params.task = .regression
        let json = s.dir.appendingPathComponent("m.json").path, html = s.dir.appendingPathComponent("r.html").path
        let result = try EvalStage.run(params, inputs: EvalInputs(predictions: [f.predictions, f.labels], labels: f.labels, groupBy: f.segments),
                                       outputs: EvalOutputs(json: json, html: html), reporter: .silent)
        let report = try #require(result.regression)
        #expect(report.models[1].metrics.rmse == 0 && report.models[1].metrics.r2 == 1)
        let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        #expect(parsed["task"] as? String == "regression")
        let models = parsed["models"] as! [[String: Any]]
        let metrics = models[0]["metrics"] as! [String: Any]
        #expect(abs((metrics["rmse"] as! Double) - Self.oracle[0].2) < 1e-12)
        #expect((models[0]["segments"] as! [Any]).count == 4)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("predicted against actual") && page.contains("residual histogram") && page.contains("<svg"))
        #expect(result.table.contains("rmse") && result.table.contains("0.499518"))
        // Bad values name file and line.
        let bad = try s.file("bad", "1.5\nnan\n")
        let two = try s.file("two", "1\n2\n")
        #expect(throws: EvalError.badPrediction(path: bad, line: 2, found: "nan", reason: "NaN or infinite")) {
            try EvalStage.evaluateRegression(params: params, inputs: EvalInputs(predictions: [bad], labels: two))
        }
        #expect(throws: EvalError.badTarget(path: bad, line: 2, found: "nan", format: "labels file, one label per line")) {
            try EvalStage.evaluateRegression(params: params, inputs: EvalInputs(predictions: [two], labels: bad))
        }
        let short = try s.file("short", "1\n")
        #expect(throws: EvalError.lineCountMismatch(path: short, lines: 1, otherPath: two, otherLines: 2)) {
            try EvalStage.evaluateRegression(params: params, inputs: EvalInputs(predictions: [short], labels: two))
        }
        // libffm text with real labels.
        let ffm = try s.file("t.ffm", "3.5 0:1:1\n-1 0:2:1\n")
        let r = try EvalStage.evaluateRegression(params: params, inputs: EvalInputs(predictions: [two], labels: ffm))
        #expect(r.labelsFormat == "libffm" && r.models[0].metrics.meanTarget == 1.25)
    }
}
