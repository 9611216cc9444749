import Foundation
import Testing
import TestSupport
@testable import Metrics

@Suite struct ReportTests {
    /// A small two-model evaluation with segments, written to files.
    func sample(_ s: Scratch, models: Int = 1, oneClass: Bool = false) throws -> (EvalInputs, EvalReport) {
        let data = OracleGenerator.make(seed: 5, count: 2000)
        let labels = oneClass ? data.labels.map { _ in UInt8(0) } : data.labels
        var predictions = [try writeLines(data.a, "a.txt", in: s.dir)]
        if models > 1 { predictions.append(try writeLines(data.b, "b.txt", in: s.dir)) }
        let inputs = EvalInputs(predictions: predictions, labels: try writeLines(labels, "y.txt", in: s.dir),
                                groupBy: try writeLines(data.segments, "g.txt", in: s.dir))
        return (inputs, try EvalStage.evaluate(params: EvalParams.defaults, inputs: inputs))
    }

    func parse(_ json: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test func singleModelJSONHasTopLevelMetrics() throws {
        let s = try Scratch()
        let (_, report) = try sample(s)
        let json = try parse(JSONReport.render(report))
        for key in ["schema_version", "rows", "positives", "click_rate", "auc", "auc_ci", "logloss", "ne", "rig",
                    "calibration", "calibration_slope", "calibration_intercept", "ece", "mce", "pr_auc", "brier",
                    "reliability", "segments", "warnings"] {
            #expect(json[key] != nil, "missing key \(key)")
        }
        #expect(json["models"] == nil)
        let m = report.models[0].metrics
        // Numbers are written in their shortest round-trip form (Foundation's parser on
        // Linux may be off in the last digit, so the exact check is on the text).
        let text = JSONReport.render(report)
        #expect(text.contains("\"auc\": \(m.auc!),"))
        #expect(text.contains("\"logloss\": \(m.logloss),"))
        #expect(close(json["auc"] as? Double, m.auc, relative: 1e-15))
        #expect(json["rows"] as? Int == 2000)
        let reliability = try #require(json["reliability"] as? [String: Any])
        let bins = try #require(reliability["bins"] as? [[String: Any]])
        #expect(bins.count == m.reliability!.bins.count)
        #expect(close(bins.first?["ci_lower"] as? Double, m.reliability!.bins[0].intervalLower, relative: 1e-15))
        let segments = try #require(json["segments"] as? [String: Any])
        #expect(close(segments["gauc"] as? Double, report.models[0].segments!.gauc, relative: 1e-15))
        #expect((segments["list"] as? [Any])?.count == 40)
    }

    @Test func severalModelsGiveAPerModelList() throws {
        let s = try Scratch()
        let (_, report) = try sample(s, models: 2)
        let json = try parse(JSONReport.render(report))
        let models = try #require(json["models"] as? [[String: Any]])
        #expect(models.count == 2)
        #expect(json["auc"] == nil)
        #expect(models[0]["model"] as? String == "a.txt")
        #expect(close(models[1]["auc"] as? Double, report.models[1].metrics.auc, relative: 1e-15))
        #expect(models[0]["comparison"] is NSNull)
        let comparison = try #require(models[1]["comparison"] as? [String: Any])
        #expect(close(comparison["delong_p"] as? Double, report.models[1].comparison!.pValue, relative: 1e-15))
    }

    @Test func oneClassGivesNullsAndAWarning() throws {
        let s = try Scratch()
        let (_, report) = try sample(s, oneClass: true)
        let json = try parse(JSONReport.render(report))
        #expect(json["auc"] is NSNull)
        #expect(json["pr_auc"] is NSNull)
        #expect(json["auc_ci"] is NSNull)
        #expect(json["calibration"] is NSNull)
        #expect(json["logloss"] is Double)
        #expect(json["brier"] is Double)
        let warnings = try #require(json["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("one class only") })
        // Segments all single-class: no GAUC.
        #expect((json["segments"] as? [String: Any])?["gauc"] is NSNull)
    }

    @Test func tableIsAligned() throws {
        let s = try Scratch()
        let (_, report) = try sample(s, models: 2)
        let table = TextReport.render(report, segmentsShown: 5)
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false)
        let metricLines = lines.drop { !$0.hasPrefix("metric") }.prefix { !$0.isEmpty }
        #expect(metricLines.count > 15)
        // Right-aligned numeric columns: every row of the block has the same width.
        let widths = Set(metricLines.filter { !$0.hasPrefix("-") }.map(\.count))
        #expect(widths.count == 1, "\(metricLines.joined(separator: "\n"))")
        #expect(table.contains("auc 95% CI (DeLong)"))
        #expect(table.contains("… 35 more segments"))
        #expect(table.contains("DeLong p"))
    }

    /// Without --json nothing points at a metrics.json that was not written.
    @Test func truncatedSegmentsPointAtWrittenJSONOnly() throws {
        let s = try Scratch()
        let (_, report) = try sample(s, models: 1)
        let unwritten = TextReport.render(report, segmentsShown: 5)
        #expect(!unwritten.contains("metrics.json"))
        #expect(unwritten.contains("… 35 more segments not shown (--segments-shown N lists more; --json FILE writes them all)"))
        let written = TextReport.render(report, segmentsShown: 5, jsonPath: "out/m.json")
        #expect(written.contains("… 35 more segments in out/m.json\n"))
    }

    @Test func htmlIsSelfContained() throws {
        let s = try Scratch()
        let (_, report) = try sample(s, models: 2)
        let html = HTMLReport.render(report)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)  // ROC, reliability, precision-recall, two histograms
        #expect(!html.contains("<script"))
        #expect(!html.contains("src="))
        #expect(!html.contains("href="))
        #expect(!html.contains("@import"))
        // The only URL is the SVG namespace name, which is never fetched.
        let urls = html.components(separatedBy: "http").count - 1
        #expect(urls == html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1)
        #expect(html.contains("Segments"))
        #expect(html.contains("Reliability bins"))
        #expect(html.contains("stroke-dasharray"))  // the diagonals
    }

    @Test func runWritesBothReportsAtomically() throws {
        let s = try Scratch()
        let (inputs, _) = try sample(s)
        let out = s.dir.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let result = try EvalStage.run(EvalParams.defaults, inputs: inputs, outputs: .directory(out), reporter: .silent)
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == ["metrics.json", "report.html"])
        let json = try String(contentsOfFile: out + "/metrics.json", encoding: .utf8)
        #expect(close(try parse(json)["auc"] as? Double, result.report.models[0].metrics.auc, relative: 1e-15))
        #expect(result.table.contains("logloss"))
    }

    /// Renders the report in headless Chromium when it is installed (Debian: `chromium`).
    @Test func htmlRendersInHeadlessChromium() throws {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium else { return }  // skipped: no browser on this machine
        let s = try Scratch()
        let (inputs, _) = try sample(s, models: 2)
        let html = s.dir.appendingPathComponent("report.html").path
        _ = try EvalStage.run(EvalParams.defaults, inputs: inputs, outputs: EvalOutputs(html: html), reporter: .silent)
        let png = s.dir.appendingPathComponent("report.png").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             "--screenshot=\(png)", "--window-size=1280,2000", "file://\(html)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(data.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let width = data[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = data[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1280 && height == 2000)
        #expect(data.count > 50_000)  // charts and tables, not a blank page
    }
}
