import Foundation
import Testing
import TestSupport
@testable import Metrics

/// #16: learning curves from ctr-train's epochs.json, run metadata and the sweep view.
@Suite struct RunReportTests {
    /// ctr-train's --log-json layout (sorted keys, pretty printed), three epochs.
    static let epochsJSON = """
        [
          {
            "epoch" : 1,
            "seconds" : 0.5,
            "trLogLoss" : 0.52,
            "vaAUC" : 0.7,
            "vaLogLoss" : 0.5
          },
          {
            "epoch" : 2,
            "seconds" : 0.5,
            "trLogLoss" : 0.47,
            "vaAUC" : 0.72,
            "vaLogLoss" : 0.48
          },
          {
            "epoch" : 3,
            "seconds" : 0.5,
            "trLogLoss" : 0.44,
            "vaAUC" : 0.71,
            "vaLogLoss" : 0.49
          }
        ]
        """

    func write(_ text: String, _ name: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsEpochsAndMarksLowestValidationLoss() throws {
        let dir = try TestSupport.makeTemporaryDirectory("epochs")
        let log = try TrainingLog.read(try write(Self.epochsJSON, "epochs.json", in: dir))
        #expect(log.epochs.map(\.epoch) == [1, 2, 3])
        #expect(log.epochs.map(\.train) == [0.52, 0.47, 0.44])
        #expect(log.epochs.map(\.valid) == [0.5, 0.48, 0.49])
        #expect(log.epochs.map(\.validAUC) == [0.7, 0.72, 0.71])
        // Without a known kept epoch: the lowest validation loss, not claimed as kept.
        #expect(log.marked?.epoch == 2 && log.marked?.kept == false)
        var kept = log
        kept.keptEpoch = 3
        #expect(kept.marked?.epoch == 3 && kept.marked?.kept == true)
    }

    @Test func trainingOnlyLogHasNoMark() throws {
        let dir = try TestSupport.makeTemporaryDirectory("epochs")
        let path = try write("[{\"epoch\": 1, \"trLogLoss\": 0.6, \"seconds\": 1}, {\"epoch\": 2, \"trLogLoss\": 0.5, \"seconds\": 1}]", "e.json", in: dir)
        let log = try TrainingLog.read(path)
        #expect(log.epochs.map(\.valid) == [nil, nil])
        #expect(log.marked == nil)
        let html = HTMLReport.learningCurveChart(log)
        #expect(html.contains("training loss") && !html.contains("validation loss"))
    }

    @Test func badLogsNameTheFileAndEntry() throws {
        let dir = try TestSupport.makeTemporaryDirectory("epochs")
        let cases: [(String, String)] = [
            ("{\"epoch\": 1}", "not a JSON array"),
            ("[]", "no epochs"),
            ("[{\"epoch\": 1, \"trLogLoss\": 0.5}, {\"epoch\": 2}]", "entry [1]: no \"trLogLoss\""),
            ("[{\"epoch\": 1.5, \"trLogLoss\": 0.5}]", "\"epoch\" is 1.5"),
            ("[{\"epoch\": 1, \"trLogLoss\": \"x\"}]", "\"trLogLoss\" is x; expected a finite number"),
            ("[3]", "entry [0] is not an object"),
            ("not json", "not a JSON array"),
        ]
        for (i, (text, message)) in cases.enumerated() {
            let path = try write(text, "bad\(i).json", in: dir)
            #expect {
                try TrainingLog.read(path)
            } throws: { error in
                let d = String(describing: error)
                return d.hasPrefix(path + ": training log (--log-json): ") && d.contains(message)
            }
        }
        #expect(throws: EvalError.self) { try TrainingLog.read(dir.appendingPathComponent("missing.json").path) }
    }

    @Test func evaluateReadsLogJsonAndReportDrawsCurves() throws {
        let dir = try TestSupport.makeTemporaryDirectory("curves")
        let logPath = try write(Self.epochsJSON, "epochs.json", in: dir)
        let labels = try writeLines([UInt8](arrayLiteral: 0, 1, 0, 1, 1, 0), "y.txt", in: dir)
        let predictions = try writeLines([0.2, 0.7, 0.4, 0.6, 0.9, 0.1], "p.txt", in: dir)
        var params = EvalParams.defaults
        params.logJson = [logPath]
        params.bins = 2
        let inputs = EvalInputs(predictions: [predictions], labels: labels)
        var report = try EvalStage.evaluate(params: params, inputs: inputs)
        #expect(report.trainingLogs.count == 1)
        #expect(report.trainingLogs[0].epochs.count == 3)
        report.trainingLogs[0].keptEpoch = 2
        let html = HTMLReport.render(report)
        #expect(html.contains("<h2>Learning curves</h2>"))
        #expect(html.contains("kept epoch 2"))
        #expect(html.contains("training 0.47000, validation 0.48000, validation AUC 0.72000"))
        // Two polylines of three points each: training and validation.
        let chart = HTMLReport.learningCurveChart(report.trainingLogs[0])
        let lines = chart.components(separatedBy: "<polyline points=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(lines.count == 2 && lines.allSatisfy { $0.split(separator: " ").count == 3 })
        // The loss axis spans the data, not 0..1: ticks between 0.42 and 0.54.
        let ticks = chart.components(separatedBy: "text-anchor=\"end\">").dropFirst().compactMap { Double($0.prefix { $0 != "<" }) }
        #expect(!ticks.isEmpty && ticks.allSatisfy { $0 >= 0.42 && $0 <= 0.54 })
        // Two logs share one loss axis: the second's ticks are the union's.
        var other = report.trainingLogs[0]
        other.epochs = other.epochs.map { var e = $0; e.train += 0.3; e.valid = e.valid.map { $0 + 0.3 }; return e }
        report.trainingLogs.append(other)
        let both = HTMLReport.learningCurves(report.trainingLogs)
        let figures = both.components(separatedBy: "<figure>").dropFirst().map { figure in
            figure.components(separatedBy: "text-anchor=\"end\">").dropFirst().compactMap { Double($0.prefix { $0 != "<" }) }
        }
        #expect(figures.count == 2 && figures[0] == figures[1] && figures[0].min()! <= 0.44 && figures[0].max()! >= 0.82)
        report.trainingLogs.removeLast()
        // metrics.json does not change.
        #expect(!JSONReport.render(report).contains("epochs"))
        // A bad log is an error before any metric.
        params.logJson = [try write("[]", "empty.json", in: dir)]
        #expect(throws: EvalError.self) { try EvalStage.evaluate(params: params, inputs: inputs) }
    }

    @Test func runSectionAndSweepTable() throws {
        let dir = try TestSupport.makeTemporaryDirectory("run")
        let labels = try writeLines([UInt8](arrayLiteral: 0, 1, 0, 1), "y.txt", in: dir)
        let predictions = try writeLines([0.2, 0.7, 0.4, 0.6], "p.txt", in: dir)
        var params = EvalParams.defaults
        params.bins = 2
        let inputs = EvalInputs(predictions: [predictions], labels: labels)
        var report = try EvalStage.evaluate(params: params, inputs: inputs)
        var run = RunMetadata.commandLine(["ctr-eval", "--predictions", predictions, "--labels", labels, "--title", "a <b>"],
                                          toolVersion: "9.9.9", gitRevision: "abc123", params: params, inputs: inputs)
        #expect(run.files.map(\.role) == ["predictions", "labels"])
        #expect(run.files.map(\.bytes) == [16, 8])
        #expect(run.parameters.first { $0.key == "bins" }?.value == "2")
        #expect(run.commandLine?.hasSuffix("--title 'a <b>'") == true)
        run.sweeps = [ReportTable(title: "sweep of train: 2 variants", header: ["rank", "variant", "valid log loss"],
                                  rows: [["1", "train@k=4", "0.45000"], ["2", "train@k=2", "0.46000"]], numeric: [0, 2])]
        report.run = run
        let html = HTMLReport.render(report)
        #expect(html.contains("<h2>Run</h2>"))
        #expect(html.contains("<code>ctr-eval --predictions \(predictions) --labels \(labels) --title 'a &lt;b&gt;'</code>"))
        #expect(html.contains("<tr><th>SwiftCTR</th><td>9.9.9</td></tr>"))
        #expect(html.contains("<tr><th>git revision</th><td>abc123</td></tr>"))
        #expect(html.contains("<td>train@k=4</td><td class=\"n\">0.45000</td>"))
        // The sweep comes right after the metrics table, before the charts.
        let sweep = try #require(html.range(of: "<h2>Sweep</h2>")), charts = try #require(html.range(of: "<h2>Charts</h2>"))
        #expect(sweep.lowerBound < charts.lowerBound)
        #expect(!JSONReport.render(report).contains("abc123"))
    }
}
