// Regression metrics for ctr-eval --task regression (issue #13): RMSE, MAE, R², and the mean
// and spread of the residuals, overall and per segment, from real-valued targets and
// predictions. Definitions in docs/METRICS.md ("Regression").

import Dataset
import LogIO
import StageKit

/// What ctr-eval evaluates (`--task`).
public enum EvalTask: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// Labels 0/1 and predicted probabilities: AUC, log loss, calibration, ...
    case classification
    /// Real-valued targets and predictions: RMSE, MAE, R², residuals.
    case regression
}

/// The regression metrics of one model on a set of rows. Residual r = y − ŷ (target minus
/// prediction); with weights every mean is weighted by w / Σw.
public struct RegressionMetrics: Equatable, Sendable {
    public var rows: Int
    public var weightSum: Double
    /// √(Σ w r² / Σ w).
    public var rmse: Double
    /// Σ w r² / Σ w.
    public var mse: Double
    /// Σ w |r| / Σ w.
    public var mae: Double
    /// 1 − Σ w r² / Σ w (y − ȳ)²; nil when the targets are all equal (scikit-learn's r2_score
    /// then returns 1 or 0 by convention).
    public var r2: Double?
    /// Σ w r / Σ w.
    public var meanResidual: Double
    /// √(Σ w (r − r̄)² / Σ w): population standard deviation (numpy's std, ddof 0).
    public var stdResidual: Double
    public var meanTarget: Double
    public var meanPrediction: Double
}

/// One segment's metrics (`--group-by`).
public struct RegressionSegment: Equatable, Sendable {
    public var key: String
    public var metrics: RegressionMetrics
}

/// One model's regression evaluation.
public struct RegressionModelReport: Sendable {
    public var name: String
    public var predictionsPath: String
    public var metrics: RegressionMetrics
    /// Every segment, largest (by weight) first; nil without `--group-by`.
    public var segments: [RegressionSegment]?
    /// Up to `RegressionReport.plotPoints` (target, prediction) pairs, every k-th row, for the plot.
    public var sample: [(Double, Double)]
    /// Residual histogram: `edges.count == counts.count + 1`, weighted counts.
    public var histogram: (edges: [Double], counts: [Double])
}

/// Everything a regression evaluation found.
public struct RegressionReport: Sendable {
    public static let schemaVersion = 1
    static let plotPoints = 2000
    static let histogramBins = 30
    public var labelsPath: String
    public var labelsFormat: String
    public var weightsPath: String?
    public var groupByPath: String?
    public var title: String?
    public var models: [RegressionModelReport]
    public var warnings: [String]
}

/// Accumulates the sums of one group of rows in two passes: first the means, then the
/// deviations from them (no cancellation for targets far from 0, such as ratings).
struct RegressionSums {
    var rows = 0
    var w = 0.0, wy = 0.0, wp = 0.0, wr = 0.0, wr2 = 0.0, wabs = 0.0
    var devY = 0.0, devR = 0.0

    mutating func first(y: Double, p: Double, w: Double) {
        let r = y - p
        rows += 1
        self.w += w
        wy += w * y
        wp += w * p
        wr += w * r
        wr2 += w * r * r
        wabs += w * abs(r)
    }

    mutating func second(y: Double, p: Double, w: Double) {
        let dy = y - wy / self.w, dr = (y - p) - wr / self.w
        devY += w * dy * dy
        devR += w * dr * dr
    }

    var metrics: RegressionMetrics {
        let mse = wr2 / w
        return RegressionMetrics(rows: rows, weightSum: w, rmse: mse.squareRoot(), mse: mse, mae: wabs / w,
                                 r2: devY > 0 ? 1 - wr2 / devY : nil, meanResidual: wr / w,
                                 stdResidual: (devR / w).squareRoot(), meanTarget: wy / w, meanPrediction: wp / w)
    }
}

extension EvalStage {
    /// `run` for `--task regression`: reads targets and predictions (any finite numbers),
    /// computes the metrics, writes the JSON and HTML reports (one commit, the JSON last).
    static func runRegression(_ params: EvalParams, inputs: EvalInputs, outputs: EvalOutputs) throws -> EvalResult {
        let report = try evaluateRegression(params: params, inputs: inputs)
        let published = CommitGroup()
        if let path = outputs.html {
            let writer = try AtomicFileWriter(path: path, group: published)
            try writer.write(HTMLReport.renderRegression(report, segmentsShown: params.segmentsShown))
            try writer.commit()
        }
        if let path = outputs.json {
            let writer = try AtomicFileWriter(path: path, group: published)
            try writer.write(JSONReport.renderRegression(report))
            try writer.commit()
        }
        try published.commit()
        let empty = EvalReport(labelsPath: inputs.labels, labelsFormat: report.labelsFormat, weightsPath: inputs.weights,
                               negKeepRate: nil, title: params.title, models: [], warnings: report.warnings)
        var result = EvalResult(report: empty, table: TextReport.renderRegression(report, segmentsShown: params.segmentsShown),
                                jsonPath: outputs.json, htmlPath: outputs.html)
        result.regression = report
        return result
    }

    /// Computes the regression metrics without writing anything.
    public static func evaluateRegression(params: EvalParams, inputs: EvalInputs) throws -> RegressionReport {
        try params.validated(params.problems() + params.problems(predictionFiles: inputs.predictions.count))
        guard !inputs.predictions.isEmpty else { throw EvalError.noPredictions }
        var warnings: [String] = []
        if params.negKeepRate.map({ $0 != 1 }) ?? false {
            warnings.append("--neg-keep-rate is ignored for regression")
        }
        let targets = try LabelSource(path: inputs.labels, realLabels: true)
        let predictionReaders = try inputs.predictions.map { try LineReader(path: $0) }
        let weightReader = try inputs.weights.map { try LineReader(path: $0) }
        let segmentReader = try inputs.groupBy.map { try LineReader(path: $0) }
        let interner = ByteInterner()
        var y: [Double] = [], p: [[Double]] = inputs.predictions.map { _ in [] }, w: [Double] = [], segment: [UInt32] = []
        func countRest(_ row: Int) throws -> Int {
            var n = row
            while try targets.nextTarget() != nil { n += 1 }
            return n
        }
        while let target = try targets.nextTarget() {
            let row = targets.row
            y.append(target)
            for (j, reader) in predictionReaders.enumerated() {
                guard let line = try reader.next() else {
                    throw EvalError.lineCountMismatch(path: reader.path, lines: row - 1, otherPath: inputs.labels, otherLines: try countRest(row))
                }
                guard let v = ByteParsing.double(line), v.isFinite else {
                    let v = ByteParsing.double(line)
                    throw EvalError.badPrediction(path: reader.path, line: row, found: line.string,
                                                  reason: v == nil ? "not a number" : "NaN or infinite")
                }
                p[j].append(v)
            }
            if let weightReader {
                guard let line = try weightReader.next() else {
                    throw EvalError.lineCountMismatch(path: weightReader.path, lines: row - 1, otherPath: inputs.labels, otherLines: try countRest(row))
                }
                guard let v = ByteParsing.double(line), v >= 0, v.isFinite else {
                    throw EvalError.badWeight(path: weightReader.path, line: row, found: line.string)
                }
                guard v == 0 || EvalError.weightRange.contains(v) else {
                    throw EvalError.weightOutOfRange(path: weightReader.path, line: row, found: line.string)
                }
                w.append(v)
            }
            if let segmentReader {
                guard let line = try segmentReader.next() else {
                    throw EvalError.lineCountMismatch(path: segmentReader.path, lines: row - 1, otherPath: inputs.labels, otherLines: try countRest(row))
                }
                guard let id = interner.id(for: line) else { throw EvalError.tooManySegments(path: segmentReader.path, line: row) }
                segment.append(id)
            }
        }
        let n = y.count
        for reader in predictionReaders + [weightReader, segmentReader].compactMap({ $0 }) where try reader.next() != nil {
            while try reader.next() != nil {}
            throw EvalError.lineCountMismatch(path: reader.path, lines: reader.lineNumber, otherPath: inputs.labels, otherLines: n)
        }
        guard n > 0 else { throw EvalError.emptyInput(path: inputs.labels) }
        if weightReader != nil {
            let total = w.reduce(0, +)
            guard total > 0 else { throw EvalError.zeroTotalWeight(path: inputs.weights!) }
        }
        let names = params.modelName.isEmpty ? uniqueNames(inputs.predictions) : params.modelName
        let weight: (Int) -> Double = w.isEmpty ? { _ in 1 } : { w[$0] }
        var models: [RegressionModelReport] = []
        for j in 0..<p.count {
            let pj = p[j]
            var all = RegressionSums()
            var bySegment = [RegressionSums](repeating: RegressionSums(), count: segment.isEmpty ? 0 : interner.count)
            for i in 0..<n {
                all.first(y: y[i], p: pj[i], w: weight(i))
                if !segment.isEmpty { bySegment[Int(segment[i])].first(y: y[i], p: pj[i], w: weight(i)) }
            }
            for i in 0..<n {
                all.second(y: y[i], p: pj[i], w: weight(i))
                if !segment.isEmpty { bySegment[Int(segment[i])].second(y: y[i], p: pj[i], w: weight(i)) }
            }
            let metrics = all.metrics
            if metrics.r2 == nil { warnings.append("\(names[j]): the targets are all equal (weighted): r2 is null") }
            var segments: [RegressionSegment]?
            if !segment.isEmpty {
                segments = bySegment.enumerated().filter { $0.element.w > 0 }
                    .map { RegressionSegment(key: interner.key($0.offset), metrics: $0.element.metrics) }
                    .sorted { ($0.metrics.weightSum, $1.key) > ($1.metrics.weightSum, $0.key) }
            }
            let step = max(1, (n + RegressionReport.plotPoints - 1) / RegressionReport.plotPoints)
            let sample = stride(from: 0, to: n, by: step).map { (y[$0], pj[$0]) }
            models.append(RegressionModelReport(name: names[j], predictionsPath: inputs.predictions[j], metrics: metrics,
                                                segments: segments, sample: sample,
                                                histogram: residualHistogram(y: y, p: pj, weight: weight)))
        }
        return RegressionReport(labelsPath: inputs.labels, labelsFormat: targets.format.rawValue, weightsPath: inputs.weights,
                                groupByPath: inputs.groupBy, title: params.title, models: models, warnings: warnings)
    }

    /// Equal-width bins over [min r, max r] of the residuals, weighted counts.
    static func residualHistogram(y: [Double], p: [Double], weight: (Int) -> Double) -> (edges: [Double], counts: [Double]) {
        var lo = Double.infinity, hi = -Double.infinity
        for i in y.indices { lo = min(lo, y[i] - p[i]); hi = max(hi, y[i] - p[i]) }
        if !(lo < hi) { lo -= 0.5; hi += 0.5 }
        let bins = RegressionReport.histogramBins
        let width = (hi - lo) / Double(bins)
        var counts = [Double](repeating: 0, count: bins)
        for i in y.indices {
            let b = min(bins - 1, max(0, Int(((y[i] - p[i]) - lo) / width)))
            counts[b] += weight(i)
        }
        return ((0...bins).map { lo + Double($0) * width }, counts)
    }
}

extension JSONReport {
    /// metrics.json of a regression evaluation (docs/METRICS.md, "Regression").
    static func renderRegression(_ report: RegressionReport) -> String {
        func metrics(_ m: RegressionMetrics) -> [(String, JSONValue)] {
            [("rows", .int(m.rows)), ("weight_sum", .number(m.weightSum)), ("rmse", .number(m.rmse)), ("mse", .number(m.mse)),
             ("mae", .number(m.mae)), ("r2", .number(m.r2)), ("mean_residual", .number(m.meanResidual)),
             ("std_residual", .number(m.stdResidual)), ("mean_target", .number(m.meanTarget)),
             ("mean_prediction", .number(m.meanPrediction))]
        }
        let models: [JSONValue] = report.models.map { model in
            var fields: [(String, JSONValue)] = [("name", .string(model.name)), ("predictions", .string(model.predictionsPath)),
                                                 ("metrics", .object(metrics(model.metrics)))]
            fields.append(("residual_histogram", .object([("edges", .array(model.histogram.edges.map { .number($0) })),
                                                          ("counts", .array(model.histogram.counts.map { .number($0) }))])))
            if let segments = model.segments {
                fields.append(("segments", .lazyArray(count: segments.count) { i in
                    .object([("key", .string(segments[i].key))] + metrics(segments[i].metrics))
                }))
            } else {
                fields.append(("segments", .null))
            }
            return .object(fields)
        }
        let document = JSONValue.object([
            ("schema_version", .int(RegressionReport.schemaVersion)),
            ("task", .string("regression")),
            ("title", .string(report.title)),
            ("labels", .string(report.labelsPath)),
            ("labels_format", .string(report.labelsFormat)),
            ("weights", .string(report.weightsPath)),
            ("group_by", .string(report.groupByPath)),
            ("definitions", .string("residual r = target - prediction; rmse = sqrt(sum w r^2 / sum w); mae = sum w |r| / sum w; "
                + "r2 = 1 - sum w r^2 / sum w (y - mean y)^2; std_residual: population (ddof 0)")),
            ("models", .array(models)),
            ("warnings", .array(report.warnings.map { .string($0) })),
        ])
        let out = JSONOutput()
        try? document.render(into: out)
        return out.text + "\n"
    }
}
