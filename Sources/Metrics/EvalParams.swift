/// How reliability bins are placed.
public enum BinStrategy: String, Codable, CaseIterable, Sendable {
    /// Edges at the quantiles of the predictions (numpy's `percentile`, linear
    /// interpolation, as scikit-learn's `calibration_curve(strategy="quantile")`).
    case quantile
    /// Equal-width bins on [0, 1].
    case uniform
}

/// Every option of ctr-eval that is not a file path: the same struct for the
/// command line and for a pipeline file's `params` (keys are the long flags, camelCased).
///
/// File paths (`--predictions`, `--labels`, `--group-by`, `--weights`, `--json`, `--html`)
/// are stage inputs and outputs: see ``EvalInputs`` and ``EvalOutputs``.
public struct EvalParams: Codable, Equatable, Sendable {
    /// Number of reliability bins (`--bins`), at least 1.
    public var bins: Int
    /// Reliability bin placement (`--strategy`).
    public var strategy: BinStrategy
    /// Keep rate W of negatives when the evaluated data was downsampled (`--neg-keep-rate`):
    /// probabilities become `q = p / (p + (1 - p) / W)` and negatives weigh `1 / W`.
    /// nil (or 1) means no correction.
    public var negKeepRate: Double?
    /// Display names of the models, one per predictions file, in order (`--model-name`);
    /// empty means the files' base names.
    public var modelName: [String]
    /// Title of the HTML report and the terminal table (`--title`).
    public var title: String?
    /// Segments listed in the terminal table and the HTML report, largest first
    /// (`--segments-shown`); metrics.json always holds every segment.
    public var segmentsShown: Int

    public init() {
        bins = 10
        strategy = .quantile
        negKeepRate = nil
        modelName = []
        title = nil
        segmentsShown = 20
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case bins, strategy, negKeepRate, modelName, title, segmentsShown
    }

    /// Missing keys take the defaults of `EvalParams()`.
    public init(from decoder: Decoder) throws {
        let defaults = EvalParams()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bins = try c.decodeIfPresent(Int.self, forKey: .bins) ?? defaults.bins
        strategy = try c.decodeIfPresent(BinStrategy.self, forKey: .strategy) ?? defaults.strategy
        negKeepRate = try c.decodeIfPresent(Double.self, forKey: .negKeepRate) ?? defaults.negKeepRate
        modelName = try c.decodeIfPresent([String].self, forKey: .modelName) ?? defaults.modelName
        title = try c.decodeIfPresent(String.self, forKey: .title) ?? defaults.title
        segmentsShown = try c.decodeIfPresent(Int.self, forKey: .segmentsShown) ?? defaults.segmentsShown
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bins, forKey: .bins)
        try c.encode(strategy, forKey: .strategy)
        try c.encodeIfPresent(negKeepRate, forKey: .negKeepRate)
        try c.encode(modelName, forKey: .modelName)
        try c.encodeIfPresent(title, forKey: .title)
        try c.encode(segmentsShown, forKey: .segmentsShown)
    }

    /// Checks the ranges of the values (the names are the command-line flags).
    public func validate() throws {
        guard bins >= 1 && bins <= 10_000 else {
            throw EvalError.invalidParameter(name: "--bins", value: String(bins), expected: "an integer from 1 to 10000")
        }
        if let w = negKeepRate, !(w > 0 && w <= 1) {
            throw EvalError.invalidParameter(name: "--neg-keep-rate", value: String(w), expected: "a keep rate in (0, 1]")
        }
        guard segmentsShown >= 0 else {
            throw EvalError.invalidParameter(name: "--segments-shown", value: String(segmentsShown), expected: "0 or more")
        }
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
