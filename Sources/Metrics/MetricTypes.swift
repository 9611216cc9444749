/// One reliability bin: rows whose prediction falls in `(lower, upper]` (the first bin
/// also holds `lower` itself), as scikit-learn's `calibration_curve` assigns them.
public struct ReliabilityBin: Equatable, Sendable {
    /// Bin edges (for quantile bins, the quantiles of the predictions).
    public var lower: Double
    public var upper: Double
    public var rows: Int
    public var positives: Int
    /// Σw of the rows (equals `rows` without weights).
    public var weight: Double
    /// Σwp / Σw.
    public var meanPrediction: Double
    /// Σwy / Σw.
    public var observedRate: Double
    /// Wilson score 95% interval of the observed rate, with n = Kish's effective size
    /// (Σw)² / Σw² (equal to `rows` without weights).
    public var intervalLower: Double
    public var intervalUpper: Double
}

/// Reliability bins and the calibration errors computed from them.
public struct Reliability: Equatable, Sendable {
    public var strategy: BinStrategy
    public var binsRequested: Int
    /// The non-empty bins, lowest predictions first (empty bins, e.g. from repeated
    /// quantile edges, are left out as scikit-learn does).
    public var bins: [ReliabilityBin]
    /// Expected calibration error: Σ_b (W_b / W) |mean prediction_b − observed rate_b|.
    public var ece: Double
    /// Maximum calibration error: max_b |mean prediction_b − observed rate_b|.
    public var mce: Double
}

/// A DeLong interval for the AUC.
public struct AUCInterval: Equatable, Sendable {
    public var lower: Double
    public var upper: Double
    /// DeLong standard error of the AUC.
    public var standardError: Double
    /// Confidence level (0.95).
    public var level: Double
}

/// Every scalar metric of one model on one set of rows.
public struct BinaryMetrics: Equatable, Sendable {
    public var rows: Int
    public var positives: Int
    public var negatives: Int
    /// Σw over rows (rows when unweighted; with `--neg-keep-rate W`, negatives count 1/W).
    public var weightSum: Double
    /// Σwy / Σw.
    public var clickRate: Double
    /// Σwp / Σw.
    public var meanPrediction: Double
    /// ROC AUC, ties counting one half; nil with only one class.
    public var auc: Double?
    public var aucInterval: AUCInterval?
    public var logloss: Double
    /// Normalized entropy: logloss / H(click rate); nil when the click rate is 0 or 1.
    public var ne: Double?
    /// Relative information gain: 1 − ne.
    public var rig: Double?
    /// Σwp / Σwy; nil without positives.
    public var calibration: Double?
    /// Average precision (scikit-learn's `average_precision_score`); nil with one class.
    public var prAUC: Double?
    /// Σw(y − p)² / Σw.
    public var brier: Double
    /// Logistic refit y ~ intercept + slope · logit(p); nil when it has no finite
    /// solution (one class, constant predictions, separable data).
    public var calibrationSlope: Double?
    public var calibrationIntercept: Double?
    /// Number of distinct prediction values.
    public var distinctPredictions: Int
    /// nil for per-segment metrics.
    public var reliability: Reliability?
}

/// Points and counts behind the HTML report's charts.
public struct Curves: Equatable, Sendable {
    /// ROC curve points (false positive rate, true positive rate) from (0, 0) to (1, 1),
    /// thinned to a few hundred points.
    public var roc: [(fpr: Double, tpr: Double)]
    /// Histogram of predictions on [0, histogramUpper]; the last bin also holds larger values.
    public var histogramUpper: Double
    public var histogramPositives: [Double]
    public var histogramNegatives: [Double]
    /// Precision-recall points (recall, precision) at each distinct prediction from the
    /// highest down, thinned to a few hundred points; empty with one class.
    public var pr: [(recall: Double, precision: Double)] = []

    public static func == (a: Curves, b: Curves) -> Bool {
        a.roc.elementsEqual(b.roc) { $0.fpr == $1.fpr && $0.tpr == $1.tpr }
            && a.pr.elementsEqual(b.pr) { $0.recall == $1.recall && $0.precision == $1.precision }
            && a.histogramUpper == b.histogramUpper
            && a.histogramPositives == b.histogramPositives
            && a.histogramNegatives == b.histogramNegatives
    }
}

/// Metrics of one segment (`--group-by`); compact, as there may be millions.
public struct SegmentMetrics: Equatable, Sendable {
    public var key: String
    public var rows: Int
    public var positives: Int
    public var weightSum: Double
    public var clickRate: Double
    public var meanPrediction: Double
    /// nil when the segment has one class only.
    public var auc: Double?
    public var logloss: Double
    /// nil without positives.
    public var calibration: Double?
}

/// Per-segment metrics and GAUC.
public struct SegmentReport: Equatable, Sendable {
    public var path: String
    /// Every segment, most rows first (ties by key).
    public var segments: [SegmentMetrics]
    /// Impression-weighted GAUC: Σ_s W_s AUC_s / Σ_s W_s over segments having both classes,
    /// W_s = the segment's weight sum (its rows when unweighted); nil when no segment has both.
    public var gauc: Double?
    /// Segments that entered GAUC, and the share of the total weight they hold.
    public var gaucSegments: Int
    public var gaucWeightFraction: Double
    /// Field-level expected calibration error (Field-ECE, Pan et al., WWW 2020) of the
    /// grouping field: Σ_s W_s |mean prediction_s − click rate_s| / Σ_s W_s over every
    /// segment, W_s its weight sum (rows when unweighted); nil when the total weight is 0.
    public var fieldECE: Double?
    public static let gaucVariant =
        "impression-weighted mean of per-segment AUC over segments with both classes (weight = rows, or the weight sum when weighted)"
}

/// DeLong's test of a model's AUC against the first model's, on the same rows.
public struct ModelComparison: Equatable, Sendable {
    public var baseline: String
    /// AUC(this) − AUC(baseline); nil with one class.
    public var deltaAUC: Double?
    /// logloss(this) − logloss(baseline).
    public var deltaLogloss: Double
    /// DeLong's z statistic and two-sided p-value; nil with one class or when the
    /// difference has zero variance.
    public var z: Double?
    public var pValue: Double?
    /// Correlation of the two AUC estimates (DeLong covariance / both standard errors).
    public var correlation: Double?
}

/// Everything evaluated for one predictions file.
public struct ModelReport: Equatable, Sendable {
    public var name: String
    public var predictionsPath: String
    public var metrics: BinaryMetrics
    public var curves: Curves
    public var segments: SegmentReport?
    /// nil for the first model.
    public var comparison: ModelComparison?
}

/// The whole evaluation: one or more models on the same labels.
public struct EvalReport: Equatable, Sendable {
    public var labelsPath: String
    /// How the labels file was read: "plain", "rows", "libffm".
    public var labelsFormat: String
    public var weightsPath: String?
    public var negKeepRate: Double?
    public var title: String?
    public var models: [ModelReport]
    /// Degenerate-input notes (one class, no positives, constant predictions, …).
    public var warnings: [String]
    /// Learning curves from `--log-json` (HTML report only).
    public var trainingLogs: [TrainingLog] = []
    /// How the report was made (HTML report only); set by the caller before `EvalStage.write`.
    public var run: RunMetadata? = nil
}
