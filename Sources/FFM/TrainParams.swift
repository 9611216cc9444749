/// Every option of `ctr-train`, named after its long flag; the CLI and ctr-pipeline both
/// fill one of these. Decoding accepts any subset of keys (the rest keep their defaults).
public struct TrainParams: Codable, Equatable, Sendable {
    /// L2 regularisation λ (`-l`, `--lambda`).
    public var lambda: Double = 0.00002
    /// Latent factors k (`-k`, `--factors`).
    public var factors: Int = 4
    /// Epochs (`-t`, `--epochs`).
    public var epochs: Int = 15
    /// Learning rate η (`-r`, `--eta`).
    public var eta: Double = 0.2
    /// Training threads (`-s`, `--threads`); one thread gives a byte-identical model for a seed.
    public var threads: Int = 1
    /// Validation set (`-p`, `--validation`): libffm text or binary cache.
    public var validation: String?
    /// No output but errors (`--quiet`).
    public var quiet = false
    /// Turn off instance-wise normalisation (`--no-norm`).
    public var noNorm = false
    /// Stop at the first epoch whose validation log loss does not improve and keep the best (`--auto-stop`, patience 1).
    public var autoStop = false
    /// Stop after this many epochs without improvement and keep the best (`--patience`); 0 = off.
    public var patience = 0
    /// Seed of the initial weights and of the shuffles (`--seed`).
    public var seed: UInt64 = 1
    /// Model kind (`--model ffm|fm|lr`).
    public var model: ModelKind = .ffm
    /// Drop the bias and linear terms (`--no-linear`): exactly libffm's model.
    public var noLinear = false
    /// Warm start from this model file (`--init-model`).
    public var initModel: String?
    /// Per-epoch figures as JSON (`--log-json`).
    public var logJson: String?
    /// The featurizer.json the data was made with; its hash is stored in the model (`--featurizer`).
    public var featurizer: String?
    /// Model file to write (`-o`, `--output`, or the second positional argument);
    /// default: the training file's name + `.model` in the current directory (as libffm).
    public var output: String?
    /// Megabytes of training data per block read from the cache (`--block-mb`).
    public var blockMb = 32

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case lambda, factors, epochs, eta, threads, validation, quiet, noNorm, autoStop, patience, seed, model
        case noLinear, initModel, logJson, featurizer, output, blockMb
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainParams()
        lambda = try c.decodeIfPresent(Double.self, forKey: .lambda) ?? d.lambda
        factors = try c.decodeIfPresent(Int.self, forKey: .factors) ?? d.factors
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        eta = try c.decodeIfPresent(Double.self, forKey: .eta) ?? d.eta
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
        validation = try c.decodeIfPresent(String.self, forKey: .validation) ?? d.validation
        quiet = try c.decodeIfPresent(Bool.self, forKey: .quiet) ?? d.quiet
        noNorm = try c.decodeIfPresent(Bool.self, forKey: .noNorm) ?? d.noNorm
        autoStop = try c.decodeIfPresent(Bool.self, forKey: .autoStop) ?? d.autoStop
        patience = try c.decodeIfPresent(Int.self, forKey: .patience) ?? d.patience
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        model = try c.decodeIfPresent(ModelKind.self, forKey: .model) ?? d.model
        noLinear = try c.decodeIfPresent(Bool.self, forKey: .noLinear) ?? d.noLinear
        initModel = try c.decodeIfPresent(String.self, forKey: .initModel) ?? d.initModel
        logJson = try c.decodeIfPresent(String.self, forKey: .logJson) ?? d.logJson
        featurizer = try c.decodeIfPresent(String.self, forKey: .featurizer) ?? d.featurizer
        output = try c.decodeIfPresent(String.self, forKey: .output) ?? d.output
        blockMb = try c.decodeIfPresent(Int.self, forKey: .blockMb) ?? d.blockMb
    }

    /// Patience in effect: `patience`, or 1 with `autoStop`.
    public var effectivePatience: Int { patience > 0 ? patience : (autoStop ? 1 : 0) }

    /// Checks ranges and combinations, naming the flag.
    public func validate() throws {
        func bad(_ name: String, _ value: Any, _ expected: String) -> FFMError {
            .invalidParameter(name: name, value: "\(value)", expected: expected)
        }
        guard lambda >= 0, lambda.isFinite else { throw bad("-l/--lambda", lambda, "a finite number >= 0") }
        guard factors >= 1, factors <= 4096 else { throw bad("-k/--factors", factors, "1...4096") }
        guard epochs >= 1 else { throw bad("-t/--epochs", epochs, "at least 1") }
        guard eta > 0, eta.isFinite else { throw bad("-r/--eta", eta, "a finite number > 0") }
        guard threads >= 1, threads <= 1024 else { throw bad("-s/--threads", threads, "1...1024") }
        guard patience >= 0 else { throw bad("--patience", patience, "0 (off) or more") }
        guard blockMb >= 1 else { throw bad("--block-mb", blockMb, "at least 1") }
        if effectivePatience > 0 && validation == nil {
            throw bad(autoStop ? "--auto-stop" : "--patience", patience > 0 ? "\(patience)" : "", "a validation set (-p FILE)")
        }
        if model == .lr && noLinear { throw bad("--no-linear", "with --model lr", "linear terms (LR is only linear terms)") }
    }
}

/// Figures of one epoch.
public struct EpochStats: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trLogLoss: Double
    public var vaLogLoss: Double?
    public var vaAUC: Double?
    public var seconds: Double
}

/// What a training run produced.
public struct TrainResult: Codable, Equatable, Sendable {
    public var modelPath: String
    public var epochs: [EpochStats]
    /// The epoch whose weights were written (the last one without early stopping).
    public var bestEpoch: Int
    public var rows: Int
    public var indexCount: Int
    public var fieldCount: Int
    /// Indices seen in training (the model holds weights only for these).
    public var presentIndices: Int
}
