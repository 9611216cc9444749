import ArgumentParser
import LogIO
import StageKit

/// Every hyperparameter of `ctr-train`, declared once: the command line's options and a
/// pipeline file's `params` (keys camelCased). Start from `.defaults`. Files are not
/// parameters: see ``TrainInputs`` and ``TrainOutputs``.
public struct TrainParams: StageParameters {
    @Option("L2 regularisation λ.", short: "l", in: .atLeast(0))
    public var lambda = 0.00002

    @Option("Number of latent factors.", short: "k", in: .closed(1, 4096))
    public var factors = 4

    @Option("Number of epochs (iterations).", short: "t", in: .atLeast(1))
    public var epochs = 15

    @Option("Learning rate η.", short: "r", in: .above(0))
    public var eta = 0.2

    @Option("Number of threads (hogwild); 1 gives a byte-identical model for a seed.", short: "s", in: .closed(1, 1024))
    public var threads = 1

    @Flag("Turn off instance-wise normalisation.")
    public var noNorm = false

    @Flag("Stop when validation log loss stops improving and keep the best epoch (= --patience 1).")
    public var autoStop = false

    @Option("Stop after this many epochs without validation improvement and keep the best epoch (0 = off).", in: .atLeast(0))
    public var patience = 0

    @Option("Seed for the initial weights and the shuffles.")
    public var seed: UInt64 = 1

    @Flag("Visit the rows in file order every epoch instead of shuffling them (libffm's --no-rand).")
    public var noRand = false

    @Option("Model kind.")
    public var model = ModelKind.ffm

    @Flag("No bias and linear terms: exactly libffm's model.")
    public var noLinear = false

    @Option("Megabytes of training data read per block (memory vs I/O granularity).", in: .closed(1, 1_048_576))
    public var blockMb = 32

    @Option("Megabytes of training rows kept in memory after the first epoch, so later epochs neither read, check, decode nor remap the cache (one-hot rows in field order: 4 bytes a feature, others 12; 0: read every epoch; more rows than this: read every epoch); the validation rows are kept the same way in what the training rows leave.", in: .closed(0, 1_048_576))
    public var residentMb = 512

    // MARK: - #16 calibration
    @Option("Fit a calibrator on the validation predictions of the kept model and store it in the model: platt (logistic on the margin), isotonic (PAV) or none.")
    public var calibrate = CalibrationMethod.none

    // MARK: - #13 regression

    @Option("Loss: logistic (labels 0/1, output the probability) or squared (real-valued targets, output the prediction).")
    public var loss = LossKind.logistic

    @Flag("With --loss squared, do not clip predictions to the range of the training targets (clipped by default, as libFM).")
    public var noClip = false

    @Option("HOFM: highest interaction order of --model hofm (2 is fm's model; separate factors per order).", in: .closed(2, 4), value: "N")
    public var degree = 3

    // MARK: - #14 DeepFM

    @Option("DeepFM: hidden layer widths of the network, comma-separated (\"\" for none).", value: "W,W,...")
    public var hidden = LayerWidths([400, 400, 400])

    @Option("DeepFM: probability of dropping a hidden unit in training.", in: .halfOpen(0, 1))
    public var dropout = 0.0

    @Option("DeepFM: rows per mini-batch.", in: .closed(1, 1_048_576))
    public var batch = 256

    @Option("DeepFM: Adam's learning rate for the network (the embeddings take -r/--eta with AdaGrad).", in: .above(0))
    public var netEta = 0.001

    @Option("DeepFM: decoupled weight decay of the network's weights (AdamW).", in: .atLeast(0))
    public var weightDecay = 0.0

    @Option("DeepFM: number format of the network's matrix products in training and validation: fp32, or bf16 (weights, activations and gradients rounded to bfloat16 for the products, sums, weights and Adam state in fp32, as PyTorch's CPU autocast; products about 1.6x faster on Zen 4; needs a processor with AVX512_BF16). ctr-predict uses fp32.")
    public var precision = DeepPrecision.fp32

    // MARK: Data parallel training under mpirun (docs/SCALING.md)

    @Option("Under mpirun: rows each rank trains between two syncs, where the ranks merge their changes (0 = only at the end of each epoch); no effect on one process. Default: a rank's rows per epoch / 4, at least 32768 (32768 held one process's quality per epoch on 100,000 rows per rank, 4 syncs an epoch from the third epoch on 1,000,000; docs/SCALING.md).", in: .atLeast(0), value: "N")
    public var syncRows: Int?

    @Option("Under mpirun: how a sync merges the ranks' models: sqrt (each rank's change since the last sync weighted by the square root of its squared gradients, the accumulators summed) or mean (Vowpal Wabbit's AdaGrad-weighted mean of the weights; about half the progress per epoch; docs/SCALING.md).")
    public var rankMerge = RankMerge.sqrt

    @Option("Under mpirun: block momentum μ of a sync: each latent and linear weight moves by its merged change plus μ times its move at the previous sync, so that ranks whose changes agree move as far as one process would (0 = none). Default: 0.4 at 32768 rows between syncs or fewer, 0.05 less for each doubling of the rows beyond, at least 0.3 (from 131072 rows; 0.4 at 32768 and 0.3 at 125,000 and 250,000 held one process's validation log loss within 0.001 on 2 ranks; docs/SCALING.md).", in: .halfOpen(0, 1), value: "MU")
    public var rankMomentum: Double?

    public init() {}

    /// Patience in effect: `patience`, or 1 with `autoStop`.
    public var effectivePatience: Int { patience > 0 ? patience : (autoStop ? 1 : 0) }

    public func check() -> [ParamProblem] {
        var problems = model == .lr && noLinear ? [ParamProblem(["noLinear", "model"], "LR is only linear terms; drop --no-linear or choose another model")] : []
        if noClip && loss != .squared { problems.append(ParamProblem(["noClip", "loss"], "--no-clip applies to --loss squared only")) }
        if calibrate != .none && loss == .squared {
            problems.append(ParamProblem(["calibrate", "loss"], "--calibrate maps margins to probabilities; a squared-loss model predicts values: drop --calibrate"))
        }
        if let bad = hidden.widths.firstIndex(where: { $0 < 1 || $0 > 65536 }) {
            // The memory of the network with one input field: a lower bound for any data.
            let clamped = hidden.widths.map { min(max($0, 1), 1 << 40) }
            let size = hidden.widths[bad] > 65536
                ? " (a network with these layers takes at least \(MemoryBudget.describe(DeepNet.bytes(fieldCount: 1, factors: factors, hidden: clamped))))" : ""
            problems.append(ParamProblem("hidden", "layer \(bad + 1) has width \(hidden.widths[bad])\(size); expected widths in 1...65536 (\"\" for no hidden layer)"))
        } else if hidden.widths.count > 64 {
            problems.append(ParamProblem("hidden", "found \(hidden.widths.count) layers; expected at most 64"))
        }
        if precision == .bf16 && model != .deepfm {
            problems.append(ParamProblem(["precision", "model"], "--precision bf16 applies to the network of --model deepfm only; expected fp32 (the default) for \(model)"))
        }
        if model == .deepfm && loss == .squared {
            problems.append(ParamProblem(["loss", "model"], "deepfm is trained with log loss only; expected --loss logistic, or --model fm/ffm/lr for squared loss"))
        }
        return problems
    }

    /// What the inputs decide: early stopping needs a validation set.
    public func inputProblems(hasValidation: Bool) -> [ParamProblem] {
        guard !hasValidation else { return [] }
        var problems: [ParamProblem] = []
        if effectivePatience > 0 {
            problems.append(ParamProblem(autoStop && patience == 0 ? "autoStop" : "patience", "early stopping needs a validation set"))
        }
        if calibrate != .none { problems.append(ParamProblem("calibrate", "calibration is fitted on the validation set; give one")) }
        return problems
    }
}

/// DeepFM's number format for the network's matrix products (`--precision`).
public enum DeepPrecision: String, Codable, CaseIterable, Sendable, ParameterChoice {
    case fp32
    /// bfloat16 operands, fp32 sums (CDeepKernel's VDPBF16PS product).
    case bf16
}

/// How a sync merges the ranks' models (docs/SCALING.md).
public enum RankMerge: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// w = Σ G_r w_r / Σ G_r, G = Σ G_r / N (Vowpal Wabbit's AdaGrad-weighted average).
    case mean
    /// w = w₀ + Σ √ΔG_r Δw_r / √ΣΔG_r, G = G₀ + Σ ΔG_r (changes since the last sync).
    case sqrt
}

/// The files ctr-train reads.
public struct TrainInputs: Sendable {
    /// libffm text (plain or gzip) or a binary cache.
    public var train: String
    /// Validation set (same formats): the per-epoch table and early stopping.
    public var valid: String?
    /// Warm start from this model file.
    public var initModel: String?
    /// The featurizer.json the data was made with; its hash goes into the model.
    public var featurizer: String?

    public init(train: String, valid: String? = nil, initModel: String? = nil, featurizer: String? = nil) {
        self.train = train
        self.valid = valid
        self.initModel = initModel
        self.featurizer = featurizer
    }
}

/// Where ctr-train writes.
public struct TrainOutputs: Sendable {
    /// The model file; default: the training file's name + `.model` in the current folder (as libffm).
    public var model: String?
    /// Per-epoch figures as JSON.
    public var epochs: String?

    public init(model: String? = nil, epochs: String? = nil) {
        self.model = model
        self.epochs = epochs
    }
}

/// Figures of one epoch.
public struct EpochStats: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trLogLoss: Double
    public var vaLogLoss: Double?
    public var vaAUC: Double?
    public var seconds: Double
    /// Several MPI ranks only (absent otherwise): syncs of the ranks' models in the epoch,
    /// those that sent only the touched rows, bytes this rank put into collectives for them,
    /// model rows synchronised, model rows touched on any rank since the previous sync
    /// (summed over the syncs), wall seconds in collectives (validation included) and wall
    /// seconds in the syncs (the merge's arithmetic and copies, and their collectives).
    public var syncs: Int?
    public var sparseSyncs: Int?
    public var bytesSent: Int?
    public var rowsSent: Int?
    public var rowsTouched: Int?
    public var communicationSeconds: Double?
    public var syncSeconds: Double?
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
