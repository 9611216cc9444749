import ArgumentParser
import StageKit

/// How reliability bins are placed.
public enum BinStrategy: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// Edges at the quantiles of the predictions (numpy's `percentile`, linear
    /// interpolation, as scikit-learn's `calibration_curve(strategy="quantile")`).
    case quantile
    /// Equal-width bins on [0, 1].
    case uniform
}

/// Every option of ctr-eval that is not a file path, declared once: the command line's
/// options and a pipeline file's `params` (keys camelCased). Start from `.defaults`.
///
/// File paths (`--predictions`, `--labels`, `--group-by`, `--weights`, `--json`, `--html`)
/// are stage inputs and outputs: see ``EvalInputs`` and ``EvalOutputs``.
public struct EvalParams: StageParameters {
    @Option("Number of reliability bins.", in: .closed(1, 10_000))
    public var bins = 10

    @Option("Reliability bin placement: quantile (equal row counts) or uniform (equal widths on [0, 1]).")
    public var strategy = BinStrategy.quantile

    /// Keep rate W of negatives when the evaluated data was downsampled: probabilities
    /// become `q = p / (p + (1 - p) / W)` and negatives weigh `1 / W`. nil (or 1) means no correction.
    @Option("Keep rate W of the negatives if they were downsampled: probabilities are corrected to p/(p+(1-p)/W) and negatives weigh 1/W.", in: .openClosed(0, 1), value: "W")
    public var negKeepRate: Double?

    /// Display names of the models, one per predictions file, in order; empty means the files' base names.
    @Option("A display name for each --predictions file, in the same order (default: the file names).", value: "name")
    public var modelName: [String] = []

    @Option("Title of the table and the HTML report.")
    public var title: String?

    /// metrics.json always holds every segment.
    @Option("Segments listed in the table and the HTML report, largest first (metrics.json holds all).", in: .atLeast(0))
    public var segmentsShown = 20

    // MARK: - #13 regression

    @Option("Task: classification (labels 0/1, predicted probabilities) or regression (real targets and predictions: RMSE, MAE, R², residuals).")
    public var task = EvalTask.classification

    // MARK: - #16 learning curves

    /// ctr-train's per-epoch logs (epochs.json): learning curves in the HTML report. A
    /// pipeline passes its upstream train stages' logs itself.
    @Option("A ctr-train --log-json file (epochs.json): its learning curves go into the HTML report. Repeat for several.", value: "file")
    public var logJson: [String] = []

    public init() {}

    /// One model name per predictions file, when names are given.
    public func problems(predictionFiles: Int) -> [ParamProblem] {
        guard !modelName.isEmpty, modelName.count != predictionFiles else { return [] }
        return [ParamProblem("modelName", "given \(modelName.count) names; expected one per predictions file (\(predictionFiles))")]
    }
}

/// The files ctr-eval reads.
public struct EvalInputs: Equatable, Sendable {
    /// One or more prediction files (one probability per line), compared side by side.
    public var predictions: [String]
    /// Labels: one 0/1 per line, a ctr-ingest rows file (label = first tab-separated
    /// field) or a libffm text file (label = first space-separated token); the format
    /// is recognised from the content.
    public var labels: String
    /// Optional segment keys, one per line (`--group-by`).
    public var groupBy: String?
    /// Optional non-negative row weights, one per line (`--weights`).
    public var weights: String?

    public init(predictions: [String], labels: String, groupBy: String? = nil, weights: String? = nil) {
        self.predictions = predictions
        self.labels = labels
        self.groupBy = groupBy
        self.weights = weights
    }
}

/// Where the reports go; nil skips that output. Both are written atomically.
public struct EvalOutputs: Equatable, Sendable {
    public var json: String?
    public var html: String?

    public init(json: String? = nil, html: String? = nil) {
        self.json = json
        self.html = html
    }

    /// `DIR/metrics.json` and `DIR/report.html`.
    public static func directory(_ path: String) -> EvalOutputs {
        let dir = path.hasSuffix("/") ? path : path + "/"
        return EvalOutputs(json: dir + "metrics.json", html: dir + "report.html")
    }
}
