import Foundation
import Testing
import TestSupport
@testable import Metrics

@Suite struct CalibrationReportTests {
    @Test func tickLabelsHaveTheDecimalsTheStepNeeds() {
        #expect([0, 0.25, 0.5, 0.75, 1, 1.25].map { HTMLReport.tickLabel($0, step: 0.25) } == ["0.00", "0.25", "0.50", "0.75", "1.00", "1.25"])
        #expect([0, 0.2, 0.4].map { HTMLReport.tickLabel($0, step: 0.2) } == ["0.0", "0.2", "0.4"])
        #expect(HTMLReport.tickLabel(0.0025, step: 0.0025) == "0.0025")
        #expect(HTMLReport.tickLabel(0.001, step: 0.001) == "0.001")
        #expect(HTMLReport.tickLabel(3000, step: 500) == "3000")
        // Every tick of a linear axis up to 1.25 reads back as itself.
        let axis = HTMLReport.Axis.linear(1.25)
        #expect(axis.ticks.map(axis.label) == ["0.00", "0.25", "0.50", "0.75", "1.00", "1.25"])
    }

    @Test func reliabilityAxisIsLinearAtTwentyPercentAndLogarithmicAtLowClickRates() {
        // A 20% click rate: bins spread over [0, 0.8].
        let spread = [0.02, 0.05, 0.09, 0.13, 0.17, 0.22, 0.28, 0.36, 0.48, 0.71]
        #expect(HTMLReport.reliabilityAxis(means: spread, observed: spread, upper: 0.78) == .linear(1))
        // A 0.2% click rate: nine bins under 0.004, one at 0.05.
        let low = [0.0002, 0.0004, 0.0006, 0.0008, 0.001, 0.0013, 0.0017, 0.0023, 0.0035, 0.05]
        let observed = [0, 0, 0.0005, 0.001, 0.0009, 0.0016, 0.002, 0.002, 0.004, 0.045]
        let axis = HTMLReport.reliabilityAxis(means: low, observed: observed, upper: 0.06)
        #expect(axis == HTMLReport.Axis(lower: 0.0001, upper: 0.1, logarithmic: true))
        #expect(axis.ticks == [0.0001, 0.001, 0.01, 0.1])
        #expect(axis.ticks.map(axis.label) == ["0.0001", "0.001", "0.01", "0.1"])
        // The bins then spread over the width: the third of the decades, not the first tenth.
        #expect(axis.fraction(0.001) > 0.3 && axis.fraction(0.0) == 0)
        // Zoomed but linear when the bins are not crowded at the origin.
        #expect(HTMLReport.reliabilityAxis(means: [0.01, 0.015, 0.02, 0.03], observed: [0.01, 0.02, 0.02, 0.03], upper: 0.035) == .linear(0.04))
        #expect(HTMLReport.reliabilityAxis(means: [], observed: [], upper: 0) == .linear(1))
    }

    @Test func pValuesBelowOneInTenThousandSaySo() {
        #expect(Format.pValue(0.00002) == "< 1e-4")
        #expect(Format.pValue(0) == "< 1e-4")
        #expect(Format.pValue(0.0123) == "0.0123")
        #expect(Format.pValue(nil) == "—")
    }

    @Test func fieldLevelCalibrationErrorIsTheWeightedMeanGap() throws {
        let dir = try TestSupport.makeTemporaryDirectory("fece")
        let data = OracleGenerator.make(seed: 7, count: 3000)
        let inputs = EvalInputs(predictions: [try writeLines(data.a, "a.txt", in: dir)],
                                labels: try writeLines(data.labels, "y.txt", in: dir),
                                groupBy: try writeLines(data.segments, "g.txt", in: dir))
        let report = try EvalStage.evaluate(params: EvalParams.defaults, inputs: inputs)
        // Naive reference: Σ_s |Σ_{i∈s} (p_i − y_i)| / N.
        var gap: [String: Double] = [:]
        for i in 0..<data.a.count { gap[data.segments[i], default: 0] += data.a[i] - Double(data.labels[i]) }
        let expected = gap.values.map(abs).reduce(0, +) / Double(data.a.count)
        let fece = try #require(report.models[0].segments?.fieldECE)
        #expect(abs(fece - expected) < 1e-12)
        #expect(JSONReport.render(report).contains("\"field_ece\": \(fece)"))
        #expect(TextReport.render(report).contains("field-level ECE \(Format.fixed(fece))"))
        let html = HTMLReport.render(report)
        #expect(html.contains("Field-level ECE \(Format.fixed(fece))"))
        #expect(html.contains("field-level ECE (Pan et al.)"))

        // Weighted: W_s is the weight sum.
        let weighted = EvalInputs(predictions: [try writeLines([0.1, 0.3, 0.5, 0.5], "wa.txt", in: dir)],
                                  labels: try writeLines([0, 1, 1, 0], "wy.txt", in: dir),
                                  groupBy: try writeLines(["x", "x", "z", "z"], "wg.txt", in: dir),
                                  weights: try writeLines([1.0, 3.0, 2.0, 2.0], "ww.txt", in: dir))
        let w = try EvalStage.evaluate(params: EvalParams.defaults, inputs: weighted)
        // x: weight 4, mean p (0.1 + 0.9) / 4 = 0.25, rate 3/4: gap 0.5; z: weight 4, gap 0.
        #expect(abs(try #require(w.models[0].segments?.fieldECE) - 0.25) < 1e-15)
    }

    @Test func chartLegendsAreHTMLOutsideTheSVGs() throws {
        let dir = try TestSupport.makeTemporaryDirectory("legend")
        let data = OracleGenerator.make(seed: 5, count: 1000)
        let names = (1...6).map { "model-\($0)" }
        let files = try names.map { try writeLines(data.b, "\($0).txt", in: dir) }
        var params = EvalParams.defaults
        params.modelName = names
        let report = try EvalStage.evaluate(params: params, inputs: EvalInputs(predictions: files, labels: try writeLines(data.labels, "y.txt", in: dir)))
        let html = HTMLReport.render(report)
        // Full legend text, outside every <svg>…</svg>.
        let auc = "model-6: AUC \(Format.fixed(report.models[5].metrics.auc, 4))"
        #expect(html.contains(auc))
        let svgs = html.components(separatedBy: "<svg").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
        #expect(!svgs.contains { $0.contains("AUC") || $0.contains("ECE") })
        #expect(html.contains("<div class=\"wide\"><table>"))
    }
}
