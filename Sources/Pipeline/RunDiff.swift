import Foundation
import StageKit
import LogIO
import Metrics

/// `ctr-pipeline diff`: two runs side by side (parameters, inputs, metrics with deltas)
/// and, where both evaluated predictions on the same labels, DeLong's test of their AUC
/// difference.
public struct RunDiff: Codable, Sendable {
    public struct Side: Codable, Sendable {
        public var id: String
        public var record: String
        public var startedAt: String
        public var status: String
        public var seconds: Double
        public var overrides: [String]

        enum CodingKeys: String, CodingKey {
            case id, record, startedAt = "started_at", status, seconds, overrides
        }
    }

    public struct MetricDelta: Codable, Equatable, Sendable {
        public var stage: String
        public var model: String
        public var metric: String
        public var a: Double?
        public var b: Double?
        /// b − a.
        public var delta: Double?
    }

    /// DeLong's test of AUC(b) − AUC(a) for one model of one eval stage.
    public struct AUCTest: Codable, Equatable, Sendable {
        public var stage: String
        public var model: String
        /// Rows evaluated (the same labels in both runs).
        public var rows: Int?
        public var aucA: Double?
        public var aucB: Double?
        public var deltaAUC: Double?
        /// 95% confidence interval of the difference.
        public var lower: Double?
        public var upper: Double?
        public var z: Double?
        public var pValue: Double?
        /// Why there is no test (different labels, predictions no longer kept, ...).
        public var unavailable: String?

        enum CodingKeys: String, CodingKey {
            case stage, model, rows, aucA = "auc_a", aucB = "auc_b", deltaAUC = "delta_auc", lower, upper, z
            case pValue = "p_value", unavailable
        }
    }

    public var a: Side
    public var b: Side
    public var parameters: [RunHistory.ParameterChange]
    public var inputs: [RunHistory.InputChange]
    public var metrics: [MetricDelta]
    public var aucTests: [AUCTest]

    enum CodingKeys: String, CodingKey {
        case a, b, parameters, inputs, metrics, aucTests = "auc_tests"
    }

    static let metricOrder = ["auc", "logloss", "ne", "calibration", "rmse", "pr_auc", "brier", "ece", "click_rate", "rows",
                              "va_logloss", "va_mse", "va_auc"]
    static let titles = ["auc": "AUC", "logloss": "log loss", "ne": "NE", "calibration": "calibration", "rmse": "RMSE",
                         "va_logloss": "valid log loss", "va_mse": "valid mean squared error", "va_auc": "valid AUC"]

    /// Compares run `a` with run `b` (`b` the newer one, deltas are b − a). Prediction
    /// and label files are found at their paths when their content is unchanged, else in
    /// the run cache by content hash.
    public static func compare(_ a: RunRecord, _ b: RunRecord, workdir: String) -> RunDiff {
        let side = { (r: RunRecord) in
            Side(id: r.id, record: r.path, startedAt: r.manifest.startedAt, status: r.manifest.status,
                 seconds: r.manifest.seconds, overrides: r.manifest.overrides)
        }
        var diff = RunDiff(a: side(a), b: side(b),
                           parameters: RunHistory.parameterChanges(from: a.manifest, to: b.manifest),
                           inputs: RunHistory.inputChanges(from: a.manifest, to: b.manifest), metrics: [], aucTests: [])
        for mb in b.manifest.metrics {
            // Models are matched by name, else by position when the stage evaluated as many
            // models in both runs (a model is named after its kind: `train (ffm)` -> `train (fm)`).
            let stageA = a.manifest.metrics.filter { $0.stage == mb.stage }, stageB = b.manifest.metrics.filter { $0.stage == mb.stage }
            guard let ma = stageA.first(where: { $0.model == mb.model })
                    ?? (stageA.count == stageB.count ? stageB.firstIndex(where: { $0.model == mb.model }).map { stageA[$0] } : nil)
            else { continue }
            let keys = Set(ma.values.keys).intersection(mb.values.keys)
            let ordered = metricOrder.filter { keys.contains($0) } + keys.subtracting(metricOrder).sorted()
            for key in ordered {
                let x = ma.values[key] ?? nil, y = mb.values[key] ?? nil
                diff.metrics.append(MetricDelta(stage: mb.stage, model: mb.model, metric: key, a: x, b: y,
                                                delta: x.flatMap { x in y.map { $0 - x } }))
            }
        }
        let finder = FileFinder(workdir: workdir, pipeline: b.manifest.pipeline)
        for stage in b.manifest.stages where b.manifest.config[stage.name]?.kind == "eval" {
            guard let old = a.manifest.stages.first(where: { $0.name == stage.name }),
                  a.manifest.config[stage.name]?.kind == "eval" else { continue }
            diff.aucTests += aucTests(stage: stage.name, a: old, b: stage, configA: a.manifest.config[stage.name]!,
                                      configB: b.manifest.config[stage.name]!, finder: finder)
        }
        return diff
    }

    /// Finds a file by content: at its recorded path when it still has that content,
    /// else in the run cache.
    struct FileFinder {
        let hasher: ContentHasher
        let cache: RunCache

        init(workdir: String, pipeline: String) {
            hasher = ContentHasher(cache: LockFile.load(workdir: workdir, pipeline: pipeline, warn: { _ in }).files)
            cache = RunCache(workdir: workdir)
        }

        func find(_ input: InputHash) -> String? {
            if (try? hasher.hash(input.path)) == input.hash { return input.path }
            return cache.file(withHash: input.hash)
        }
    }

    static func aucTests(stage: String, a: StageReport, b: StageReport, configA: RunManifest.ResolvedStageConfig,
                         configB: RunManifest.ResolvedStageConfig, finder: FileFinder) -> [AUCTest] {
        var tests: [AUCTest] = []
        func slot(_ report: StageReport, _ name: String) -> [InputHash] { report.inputs.filter { $0.slot == name } }
        for (j, model) in b.metrics.enumerated() {
            guard let i = a.metrics.firstIndex(where: { $0.model == model.model }) ?? (a.metrics.count == b.metrics.count ? j : nil)
            else { continue }
            var test = AUCTest(stage: stage, model: model.model, aucA: a.metrics[i].values["auc"] ?? nil,
                               aucB: model.values["auc"] ?? nil)
            test.rows = (model.values["rows"] ?? nil).flatMap { $0.isFinite && abs($0) < 1e15 ? Int($0) : nil }
            defer { tests.append(test) }
            let predsA = slot(a, "predictions"), predsB = slot(b, "predictions")
            guard predsA.count == a.metrics.count, predsB.count == b.metrics.count else {
                test.unavailable = "the runs did not record their prediction inputs"
                continue
            }
            guard slot(a, "labels").map(\.hash) == slot(b, "labels").map(\.hash), let labels = slot(b, "labels").first else {
                test.unavailable = "the runs evaluated different labels (not the same test rows)"
                continue
            }
            guard slot(a, "weights").map(\.hash) == slot(b, "weights").map(\.hash),
                  configA.params["negKeepRate"] == configB.params["negKeepRate"] else {
                test.unavailable = "the runs weighted the rows differently (weights or negKeepRate)"
                continue
            }
            if predsA[i].hash == predsB[j].hash {
                test.deltaAUC = 0
                test.unavailable = "identical predictions"
                continue
            }
            guard let pathA = finder.find(predsA[i]), let pathB = finder.find(predsB[j]) else {
                test.unavailable = "the predictions of a run are no longer kept (changed on disk and not in the run cache)"
                continue
            }
            guard let labelsPath = finder.find(labels) else {
                test.unavailable = "the labels are no longer kept (changed on disk and not in the run cache)"
                continue
            }
            var weightsPath: String?
            if let weights = slot(b, "weights").first {
                guard let found = finder.find(weights) else {
                    test.unavailable = "the row weights are no longer kept"
                    continue
                }
                weightsPath = found
            }
            var params = EvalParams.defaults
            if case let .double(rate)? = configB.params["negKeepRate"] { params.negKeepRate = rate }
            if case let .int(rate)? = configB.params["negKeepRate"] { params.negKeepRate = Double(rate) }
            params.modelName = ["a", "b"]
            do {
                let report = try EvalStage.evaluate(params: params, inputs: EvalInputs(predictions: [pathA, pathB], labels: labelsPath,
                                                                                       weights: weightsPath))
                let first = report.models[0].metrics, second = report.models[1].metrics
                test.rows = second.rows
                test.aucA = first.auc
                test.aucB = second.auc
                guard let comparison = report.models[1].comparison else { continue }
                test.deltaAUC = comparison.deltaAUC
                test.z = comparison.z
                test.pValue = comparison.pValue
                if let delta = comparison.deltaAUC, let seA = first.aucInterval?.standardError,
                   let seB = second.aucInterval?.standardError, let r = comparison.correlation {
                    let variance = seA * seA + seB * seB - 2 * r * seA * seB
                    if variance > 0 {
                        let half = 1.959963984540054 * variance.squareRoot()
                        test.lower = delta - half
                        test.upper = delta + half
                    }
                }
                if comparison.pValue == nil { test.unavailable = "the AUC difference has no variance (one class, or equal rankings)" }
            } catch {
                test.unavailable = "cannot evaluate: \(error)"
            }
        }
        return tests
    }

    // MARK: Text

    public func text() -> String {
        var lines: [String] = []
        let header = ["", "a: " + a.id, "b: " + b.id, "delta"]
        var rows: [[String]] = [header, ["started (UTC)", a.startedAt, b.startedAt, ""],
                                ["status", a.status, b.status, ""],
                                ["time", formatSeconds(a.seconds), formatSeconds(b.seconds), ""]]
        rows.append(["parameters", "", "", ""])
        if parameters.isEmpty { rows.append(["  (no change)", "", "", ""]) }
        for p in parameters {
            rows.append(["  \(p.stage).\(p.key)", p.a?.text() ?? "unset", p.b?.text() ?? "unset", RunDiff.numericDelta(p.a, p.b)])
        }
        if !inputs.isEmpty {
            rows.append(["inputs", "", "", ""])
            for i in inputs {
                rows.append(["  \(i.stage).\(i.slot)", i.a.map { String($0.prefix(8)) }.joined(separator: ","),
                             i.b.map { String($0.prefix(8)) }.joined(separator: ","), "changed"])
            }
        }
        var group = ""
        for m in metrics {
            let title = "metrics: \(m.stage)" + (m.model == m.stage ? "" : ", model \(m.model)")
            if title != group {
                rows.append([title, "", "", ""])
                group = title
            }
            let count = m.metric == "rows"
            rows.append(["  " + (RunDiff.titles[m.metric] ?? m.metric), RunDiff.number(m.a, count: count), RunDiff.number(m.b, count: count),
                         m.delta.map { String(format: count ? "%+.0f" : "%+.5f", $0) } ?? ""])
        }
        lines.append(RunHistory.render(rows, numeric: []))
        if !aucTests.isEmpty {
            lines.append("")
            lines.append("DeLong test of AUC(b) - AUC(a) on the same test rows:")
            for t in aucTests {
                var line = "  \(t.stage), model \(t.model): "
                if let p = t.pValue, let d = t.deltaAUC {
                    line += String(format: "delta %+.5f", d)
                    if let lo = t.lower, let hi = t.upper { line += String(format: ", 95%% CI [%+.5f, %+.5f]", lo, hi) }
                    if let z = t.z { line += String(format: ", z %.3f", z) }
                    line += ", p " + RunDiff.pText(p) + (t.rows.map { " (\(ProgressMeter.grouped($0)) rows)" } ?? "")
                    line += p < 0.05 ? ": significant at the 5% level" : ": not significant at the 5% level"
                } else {
                    line += "no test: " + (t.unavailable ?? "unknown")
                }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }

    static func number(_ value: Double?, count: Bool = false) -> String {
        value.map { String(format: count ? "%.0f" : "%.5f", $0) } ?? "n/a"
    }

    static func pText(_ p: Double) -> String { p < 0.0001 ? String(format: "%.1e", p) : String(format: "%.4f", p) }

    static func numericDelta(_ a: JSONValue?, _ b: JSONValue?) -> String {
        func number(_ v: JSONValue?) -> Double? {
            switch v {
            case let .int(i)?: return Double(i)
            case let .double(d)?: return d
            default: return nil
            }
        }
        if case let .int(x)? = a, case let .int(y)? = b {
            let (d, overflow) = y.subtractingReportingOverflow(x)
            return overflow ? "" : (d >= 0 ? "+" : "") + String(d)
        }
        guard let x = number(a), let y = number(b) else { return "" }
        return String(format: "%+g", y - x)
    }

    /// The diff as pretty JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var parser = JSONParser(bytes: Array(try encoder.encode(self)))
        return try parser.parse().text(pretty: true)
    }
}
