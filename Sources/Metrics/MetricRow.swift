/// One row of the metrics table, shared by the terminal table (which names it by its
/// metrics.json key) and the HTML report (which uses a readable label).
struct MetricRow {
    let key: String
    let label: String
    /// The formatted value for each model, in report order.
    let values: [String]

    /// The metrics table's rows, in display order, for every model of the report.
    static func rows(_ report: EvalReport) -> [MetricRow] {
        var rows: [MetricRow] = []
        func row(_ key: String, _ label: String, _ value: (ModelReport) -> String) {
            rows.append(MetricRow(key: key, label: label, values: report.models.map(value)))
        }
        row("auc", "AUC") { Format.fixed($0.metrics.auc) }
        row("auc 95% CI (DeLong)", "AUC 95% CI (DeLong)") { Format.interval($0.metrics.aucInterval) }
        row("logloss", "log loss") { Format.fixed($0.metrics.logloss) }
        row("ne", "NE") { Format.fixed($0.metrics.ne) }
        row("rig", "RIG") { Format.fixed($0.metrics.rig) }
        row("calibration Σp/Σy", "calibration Σp/Σy") { Format.fixed($0.metrics.calibration, 4) }
        row("calibration slope", "calibration slope") { Format.fixed($0.metrics.calibrationSlope, 4) }
        row("calibration intercept", "calibration intercept") { Format.fixed($0.metrics.calibrationIntercept, 4) }
        row("ece", "ECE") { Format.fixed($0.metrics.reliability?.ece) }
        row("mce", "MCE") { Format.fixed($0.metrics.reliability?.mce) }
        row("pr_auc", "PR AUC (average precision)") { Format.fixed($0.metrics.prAUC) }
        row("brier", "Brier") { Format.fixed($0.metrics.brier) }
        row("mean prediction", "mean prediction") { Format.fixed($0.metrics.meanPrediction) }
        row("distinct predictions", "distinct predictions") { Format.count($0.metrics.distinctPredictions) }
        if report.models.contains(where: { $0.segments != nil }) {
            row("gauc", "GAUC") { Format.fixed($0.segments?.gauc) }
            row("field ece", "field-level ECE (Pan et al.)") { Format.fixed($0.segments?.fieldECE) }
        }
        if report.models.count > 1 {
            let baseline = report.models[0].name
            row("Δauc vs \(baseline)", "ΔAUC vs \(baseline)") { Format.signed($0.comparison?.deltaAUC) }
            row("Δlogloss vs \(baseline)", "Δlog loss vs \(baseline)") { Format.signed($0.comparison?.deltaLogloss) }
            row("DeLong z", "DeLong z") { Format.fixed($0.comparison?.z, 3) }
            row("DeLong p", "DeLong p") { Format.pValue($0.comparison?.pValue) }
        }
        return rows
    }
}
