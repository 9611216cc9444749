import LogIO
import StageKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `EvalStage.run` produced.
public struct EvalResult: Sendable {
    public var report: EvalReport
    /// The terminal table (what ctr-eval prints on stdout).
    public var table: String
    public var jsonPath: String?
    public var htmlPath: String?
    /// The metrics of `--task regression` (then `report` has no models).
    public var regression: RegressionReport?
}

/// ctr-eval's entry point, called by the executable and in-process by ctr-pipeline.
public enum EvalStage: Stage {
    /// Evaluates the predictions against the labels, writes the requested reports
    /// (atomically) and returns the metrics with the terminal table; warnings go to the reporter.
    /// - Throws: `EvalError` for bad input, `ParameterError` for bad parameters, `LogIOError`
    ///   for files that cannot be read or written.
    public static func run(_ params: EvalParams, inputs: EvalInputs, outputs: EvalOutputs, reporter: Reporter) throws -> EvalResult {
        if params.task == .regression {
            let result = try runRegression(params, inputs: inputs, outputs: outputs)
            for warning in result.report.warnings { reporter.note("warning: \(warning)") }
            return result
        }
        let result = try write(try evaluate(params: params, inputs: inputs), params: params, outputs: outputs)
        for warning in result.report.warnings { reporter.note("warning: \(warning)") }
        return result
    }

    /// Writes the reports of an evaluation and renders its table. The reports appear
    /// together or not at all (one `CommitGroup`), the JSON last: it is the completeness marker.
    public static func write(_ report: EvalReport, params: EvalParams, outputs: EvalOutputs) throws -> EvalResult {
        let published = CommitGroup()
        if let path = outputs.html {
            try writeText(HTMLReport.render(report, segmentsShown: params.segmentsShown), to: path, group: published)
        }
        if let path = outputs.json {
            try JSONReport.write(report, to: path, group: published)
        }
        try published.commit()
        return EvalResult(report: report, table: TextReport.render(report, segmentsShown: params.segmentsShown, jsonPath: outputs.json),
                          jsonPath: outputs.json, htmlPath: outputs.html)
    }

    /// Computes every metric without writing anything.
    public static func evaluate(params: EvalParams, inputs: EvalInputs) throws -> EvalReport {
        try params.validated(params.problems() + params.problems(predictionFiles: inputs.predictions.count))
        guard !inputs.predictions.isEmpty else { throw EvalError.noPredictions }
        let trainingLogs = try params.logJson.map { try TrainingLog.read($0) }
        let negKeepRate = params.negKeepRate.flatMap { $0 == 1 ? nil : $0 }
        let modelCount = inputs.predictions.count
        let needIndex = inputs.weights != nil || inputs.groupBy != nil || modelCount > 1
        let loaded = try loadRows(inputs, negKeepRate: negKeepRate, keepLabels: modelCount > 1)
        let n = loaded.rows
        let names = params.modelName.isEmpty ? uniqueNames(inputs.predictions) : params.modelName

        var warnings: [String] = []
        var models: [ModelReport] = []
        var components: [RowBuffer<Double>] = []
        let options = MetricOptions(bins: params.bins, strategy: params.strategy)
        for j in 0..<modelCount {
            let keys = loaded.keys[j]
            var index: RowBuffer<UInt32>?
            if needIndex {
                let ix = RowBuffer<UInt32>(uninitializedCount: n)
                for i in 0..<n { ix.base[i] = UInt32(truncatingIfNeeded: i) }
                index = ix
            }
            radixSort(keys: keys, payload: index)
            let rows = ScoredRows(keys: keys.base, start: 0, end: n, index: index.map { UnsafePointer($0.base) },
                                  weights: loaded.weights.map { UnsafePointer($0.base) },
                                  negativeWeight: negKeepRate.map { 1 / $0 } ?? 1)
            let (metrics, curves) = computeMetrics(rows, options: options)
            if modelCount > 1 {
                let v = RowBuffer<Double>(uninitializedCount: n)
                scatterComponents(rows, into: v.base)
                components.append(v)
            }
            var segments: SegmentReport?
            if let segmentIDs = loaded.segments, let index {
                segments = segmentMetrics(keys: keys, index: index, segmentIDs: segmentIDs,
                                          interner: loaded.segmentKeys, template: rows, path: inputs.groupBy!)
            }
            // The sorted keys are no longer needed: free them before the next model.
            loaded.keys[j] = RowBuffer(capacity: 1)
            if metrics.distinctPredictions == 1 {
                warnings.append("\(names[j]): all \(n) predictions are equal (\(metrics.meanPrediction)): the model does not rank rows; "
                                + "calibration_slope and calibration_intercept are null")
            } else if metrics.auc != nil && metrics.calibrationSlope == nil {
                warnings.append("\(names[j]): the logistic refit of the labels on logit(p) has no finite solution "
                                + "(the predictions separate the classes): calibration_slope and calibration_intercept are null")
            }
            models.append(ModelReport(name: names[j], predictionsPath: inputs.predictions[j], metrics: metrics,
                                      curves: curves!, segments: segments, comparison: nil))
        }
        let first = models[0].metrics
        if first.auc == nil {
            let noPositives = first.clickRate == 0
            let nulls = noPositives
                ? "auc, auc_ci, pr_auc, calibration, ne, rig, calibration_slope and calibration_intercept"
                : "auc, auc_ci, pr_auc, ne, rig, calibration_slope and calibration_intercept"
            warnings.insert("\(inputs.labels): one class only (no \(noPositives ? "positive" : "negative") rows): \(nulls) are null", at: 0)
        }
        if modelCount > 1, let labels = loaded.labels {
            for j in 1..<modelCount {
                models[j].comparison = compare(models[j], components[j], against: models[0], components[0],
                                               labels: labels, weights: loaded.weights, negKeepRate: negKeepRate)
            }
        }
        return EvalReport(labelsPath: inputs.labels, labelsFormat: loaded.labelFormat.rawValue,
                          weightsPath: inputs.weights, negKeepRate: negKeepRate, title: params.title,
                          models: models, warnings: warnings, trainingLogs: trainingLogs)
    }

    /// Base names of the prediction files, with their folder when two base names collide.
    public static func uniqueNames(_ paths: [String]) -> [String] {
        let base = paths.map { $0.split(separator: "/").last.map(String.init) ?? $0 }
        return base.enumerated().map { i, name in
            base.filter { $0 == name }.count > 1 ? paths[i] : name
        }
    }
}

private func writeText(_ text: String, to path: String, group: CommitGroup) throws {
    let writer = try AtomicFileWriter(path: path, group: group)
    try writer.write(text)
    try writer.commit()
}

/// Writes each row's DeLong structural component (V10 for positives, V01 for negatives)
/// at its original row number.
func scatterComponents(_ rows: ScoredRows, into v: UnsafeMutablePointer<Double>) {
    let totals = Totals(rows)
    guard totals.hasBothClasses, let index = rows.index else { return }
    let keys = rows.keys
    forEachStructuralComponent(rows, totals: totals) { g, v10, v01 in
        for r in g.lower..<g.upper {
            v[Int(index[r])] = keys[r] & 1 == 1 ? v10 : v01
        }
    }
}

/// DeLong's test of two correlated AUCs on the same rows (DeLong et al. 1988): the
/// covariance of the two estimates from the rows' structural components.
func compare(_ model: ModelReport, _ v: RowBuffer<Double>, against baseline: ModelReport, _ u: RowBuffer<Double>,
             labels: RowBuffer<UInt8>, weights: RowBuffer<Double>?, negKeepRate: Double?) -> ModelComparison {
    var result = ModelComparison(baseline: baseline.name, deltaAUC: nil,
                                 deltaLogloss: model.metrics.logloss - baseline.metrics.logloss,
                                 z: nil, pValue: nil, correlation: nil)
    guard let a = model.metrics.auc, let b = baseline.metrics.auc,
          let seA = model.metrics.aucInterval?.standardError,
          let seB = baseline.metrics.aucInterval?.standardError else {
        if let a = model.metrics.auc, let b = baseline.metrics.auc { result.deltaAUC = a - b }
        return result
    }
    result.deltaAUC = a - b
    let c = negKeepRate.map { 1 / $0 } ?? 1
    var c10 = 0.0, c01 = 0.0
    var wPos = 0.0, wNeg = 0.0
    var m = 0, n = 0
    for i in 0..<labels.count {
        let w = weights?.base[i] ?? 1
        if labels.base[i] == 1 {
            c10 += w * w * (v.base[i] - a) * (u.base[i] - b)
            wPos += w
            m += 1
        } else {
            let x = w * c
            c01 += x * x * (v.base[i] - a) * (u.base[i] - b)
            wNeg += x
            n += 1
        }
    }
    let covariance = c10 / (wPos * wPos) * Double(m) / Double(m - 1) + c01 / (wNeg * wNeg) * Double(n) / Double(n - 1)
    let variance = seA * seA + seB * seB - 2 * covariance
    if seA > 0 && seB > 0 { result.correlation = covariance / (seA * seB) }
    if variance > 0 {
        let z = (a - b) / variance.squareRoot()
        result.z = z
        result.pValue = erfc(abs(z) / 2.0.squareRoot())
    }
    return result
}

/// Groups the sorted rows by segment (a stable counting sort, so each segment stays sorted
/// by prediction) and computes each segment's metrics and GAUC.
func segmentMetrics(keys: RowBuffer<UInt64>, index: RowBuffer<UInt32>, segmentIDs: RowBuffer<UInt32>,
                    interner: ByteInterner, template: ScoredRows, path: String) -> SegmentReport {
    let n = keys.count
    let s = interner.count
    var start = [Int](repeating: 0, count: s + 1)
    for i in 0..<n { start[Int(segmentIDs.base[i]) + 1] += 1 }
    for k in 0..<s { start[k + 1] += start[k] }
    var next = Array(start[0..<s])
    let groupedKeys = RowBuffer<UInt64>(uninitializedCount: n)
    let groupedIndex = RowBuffer<UInt32>(uninitializedCount: n)
    for i in 0..<n {
        let row = index.base[i]
        let segment = Int(segmentIDs.base[Int(row)])
        let at = next[segment]
        next[segment] = at + 1
        groupedKeys.base[at] = keys.base[i]
        groupedIndex.base[at] = row
    }
    var segments: [SegmentMetrics] = []
    segments.reserveCapacity(s)
    var gaucSum = 0.0, gaucWeight = 0.0, totalWeight = 0.0, gapSum = 0.0
    var used = 0
    let options = MetricOptions(full: false)
    for k in 0..<s where start[k + 1] > start[k] {
        let rows = ScoredRows(keys: groupedKeys.base, start: start[k], end: start[k + 1], index: groupedIndex.base,
                              weights: template.weights, negativeWeight: template.negativeWeight)
        let (metrics, _) = computeMetrics(rows, options: options)
        totalWeight += metrics.weightSum
        if metrics.weightSum > 0 { gapSum += metrics.weightSum * abs(metrics.meanPrediction - metrics.clickRate) }
        if let auc = metrics.auc {
            gaucSum += metrics.weightSum * auc
            gaucWeight += metrics.weightSum
            used += 1
        }
        segments.append(SegmentMetrics(key: interner.key(k), rows: metrics.rows, positives: metrics.positives,
                                       weightSum: metrics.weightSum, clickRate: metrics.clickRate,
                                       meanPrediction: metrics.meanPrediction, auc: metrics.auc,
                                       logloss: metrics.logloss, calibration: metrics.calibration))
    }
    segments.sort { $0.rows != $1.rows ? $0.rows > $1.rows : $0.key < $1.key }
    return SegmentReport(path: path, segments: segments, gauc: gaucWeight > 0 ? gaucSum / gaucWeight : nil,
                         gaucSegments: used, gaucWeightFraction: totalWeight > 0 ? gaucWeight / totalWeight : 0,
                         fieldECE: totalWeight > 0 ? gapSum / totalWeight : nil)
}
