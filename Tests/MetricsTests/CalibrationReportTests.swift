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

    @Test func precisionRecallCurveHasAPointPerDistinctPrediction() throws {
        let dir = try TestSupport.makeTemporaryDirectory("pr")
        let inputs = EvalInputs(predictions: [try writeLines([0.9, 0.8, 0.3, 0.1], "p.txt", in: dir)],
                                labels: try writeLines([1, 0, 1, 0], "y.txt", in: dir))
        let report = try EvalStage.evaluate(params: EvalParams.defaults, inputs: inputs)
        let pr = report.models[0].curves.pr
        #expect(pr.map(\.recall) == [0.5, 0.5, 1, 1])
        #expect(pr.map(\.precision) == [1, 0.5, 2.0 / 3, 0.5])
        // Average precision = Σ (r_k − r_{k−1}) p_k over these points.
        #expect(abs(report.models[0].metrics.prAUC! - (0.5 * 1 + 0.5 * 2.0 / 3)) < 1e-15)
        let html = HTMLReport.render(report)
        #expect(html.contains("average precision \(Format.fixed(report.models[0].metrics.prAUC, 4))"))
        #expect(html.contains("Precision-recall curve"))
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

/// The report as a browser lays it out: every SVG text inside its SVG, at a 0.2% click rate
/// with six models.
@Suite struct ChromiumLayoutTests {
    @Test func svgTextFitsAtLowClickRateWithSixModels() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("skipped: no chromium on this machine")
            return
        }
        let dir = try TestSupport.makeTemporaryDirectory("layout")
        var rng = SplitMix64Test(seed: 11)
        var p: [Double] = [], y: [UInt8] = []
        for _ in 0..<20_000 {
            let u = rng.unit(), v = rng.unit()
            let q = 0.0004 + 0.02 * u * u * u * u
            p.append((q * 1e6).rounded() / 1e6)
            y.append(v < q ? 1 : 0)
        }
        let names = (1...6).map { "variant-\($0)-with-a-long-name" }
        let files = try (0..<6).map { m in
            try writeLines(p.map { (min(1, $0 * (0.7 + 0.12 * Double(m))) * 1e6).rounded() / 1e6 }, "p\(m).txt", in: dir)
        }
        var params = EvalParams.defaults
        params.modelName = names
        var report = try EvalStage.evaluate(params: params, inputs: EvalInputs(predictions: files, labels: try writeLines(y, "y.txt", in: dir)))
        #expect(report.models[0].metrics.clickRate < 0.005)
        // Learning curves (#16): twelve epochs, the kept one near the right edge (its label
        // turns left), and one with the mark near the left edge.
        let epochs = (1...12).map { e in
            TrainingLog.Epoch(epoch: e, train: 0.02 - 0.001 * Double(e), valid: 0.0195 - 0.0008 * Double(min(e, 11)) + 0.0003 * Double(max(0, e - 11)),
                              validAUC: 0.7)
        }
        report.trainingLogs = [TrainingLog(name: "train@factors=8,lambda=0.0001", path: "/w/train@factors=8,lambda=0.0001/epochs.json",
                                           epochs: epochs, keptEpoch: 11),
                               TrainingLog(name: "train@factors=2", path: "/w/e.json", epochs: Array(epochs.prefix(3)), keptEpoch: 1)]
        report.run = RunMetadata(source: "ctr-pipeline layout (Pipelines/layout.json), stage eval", toolVersion: "0.1.0",
                                 parameters: [("bins", "10")],
                                 files: [.init(role: "labels", path: "/w/y.txt", bytes: 40_000, hash: String(repeating: "ab", count: 32))],
                                 sweeps: [ReportTable(title: "sweep of train", header: ["rank", "variant"] + (1...9).map { "test metric \($0)" },
                                                      rows: names.enumerated().map { ["\($0.offset + 1)", $0.element] + (1...9).map { _ in "0.123456" } },
                                                      numeric: [0])])
        var html = HTMLReport.render(report)
        #expect(html.contains("kept epoch 11") && html.contains("kept epoch 1<"))
        #expect(html.contains("(log scale)"))
        // Measure in the browser: each <text>'s box against its <svg>'s.
        html = html.replacingOccurrences(of: "</body>", with: """
            <script>
            let bad = [], total = 0;
            for (const svg of document.querySelectorAll('svg')) {
              const box = svg.getBoundingClientRect();
              for (const t of svg.querySelectorAll('text')) {
                total++;
                const r = t.getBoundingClientRect();
                if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) bad.push(t.textContent);
              }
            }
            const out = document.createElement('pre'); out.id = 'layout';
            out.textContent = 'TEXTS ' + total + ' CLIPPED ' + bad.length + ' [' + bad.join('|') + ']';
            document.body.appendChild(out);
            </script>
            </body>
            """)
        let page = dir.appendingPathComponent("report.html").path
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000", "--dump-dom", "file://\(page)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let dom = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let line = try #require(dom.components(separatedBy: "<pre id=\"layout\">").dropFirst().first?.components(separatedBy: "</pre>").first)
        #expect(line.contains("CLIPPED 0 "), "\(line)")
        let total = Int(line.split(separator: " ")[1]) ?? 0
        #expect(total > 40)
    }
}

/// SplitMix64 for test data (LogIO's, without importing it here).
struct SplitMix64Test {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func unit() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) * 0x1p-53
    }
}
