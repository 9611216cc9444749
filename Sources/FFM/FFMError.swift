import LogIO

/// Errors of training, prediction and model files. Each says what was found, what was
/// expected and where.
public enum FFMError: Error, Equatable, CustomStringConvertible {
    case outOfMemory(bytes: Int)
    /// The weights of a model of this shape do not fit in memory (`bytes` nil: more than `Int.max`).
    case modelTooLarge(kind: ModelKind, factors: Int, fields: Int, indices: Int, bytes: Int?, available: Int)
    /// Two files of one run carry different featurizer hashes (XXH64 of featurizer.json):
    /// a cache against a model, a featurizer or another cache.
    case cacheFeaturizerMismatch(cache: String, cacheHash: UInt64, other: String, otherHash: UInt64, otherRole: String)
    case notAModel(path: String)
    case unsupportedModelVersion(path: String, found: UInt32, supported: UInt32)
    case corruptModel(path: String, detail: String)
    /// A loss or the bias stopped being finite in this epoch.
    case diverged(epoch: Int, eta: Double)
    /// DeepFM's loss, bias or network stopped being finite in this epoch.
    case networkDiverged(epoch: Int, eta: Double, netEta: Double)
    case emptyTrainingSet(path: String)
    /// A training set given as a folder, glob or list that names no file.
    case noTrainingFiles(spec: String, detail: String)
    case incompatibleInitModel(path: String, detail: String)
    /// A row at predict time has a field the model was not trained with.
    case fieldBeyondModel(path: String, row: Int, field: UInt32, modelFields: Int)
    case featurizerMismatch(model: String, featurizer: String)
    /// A raw input line that cannot be featurized.
    case badInputLine(path: String, line: Int, detail: String)
    /// `--calibrate` could not fit a calibrator on the validation set `path`.
    case calibrationFailed(path: String, method: String, detail: String)
    /// `ctr-train --dump … --format` cannot express this model in that format.
    case cannotExport(format: String, detail: String)
    /// A classifier (log loss) given a cache of real-valued targets; `row` is 1-based.
    case classificationGivenTargets(path: String, row: Int, label: Float)
    /// DeepFM's `--hidden` asks for a network that does not fit (or a zero width).
    case networkTooLarge(hidden: [Int], input: Int, bytes: Int?, available: Int)

    public var description: String {
        switch self {
        case let .outOfMemory(bytes):
            return "cannot allocate \(MemoryBudget.describe(bytes)) for the model, more than \(MemoryBudget.machineDescription); "
                + "reduce -k or the number of feature indices"
        case let .modelTooLarge(kind, factors, fields, indices, bytes, available):
            let shape: String
            switch kind {
            case .ffm: shape = "-k/--factors \(factors) with \(ProgressMeter.grouped(fields)) fields and "
            case .fm, .deepfm, .hofm: shape = "-k/--factors \(factors) with "
            case .lr: shape = ""
            }
            return "\(kind.rawValue) model: \(shape)\(ProgressMeter.grouped(indices)) feature indices needs "
                + "\(MemoryBudget.describe(bytes)) of weights, more than this machine's \(MemoryBudget.describe(available)) of memory; "
                + "expected a smaller model: lower -k/--factors, or fewer fields or indices (ctr-hash --bins, --max-bins, --rare-threshold)"
        case let .cacheFeaturizerMismatch(cache, cacheHash, other, otherHash, otherRole):
            return "\(cache): this cache was made with featurizer \(hex(cacheHash)), but \(otherRole) \(other) has featurizer "
                + "\(hex(otherHash)) (featurizer hash: XXH64 of featurizer.json); expected files from the same ctr-hash run"
        case let .notAModel(path):
            return "\(path): not a SwiftCTR model file (expected it to start with \"CTRMODEL\")"
        case let .unsupportedModelVersion(path, found, supported):
            return "\(path): model format version \(found) is not supported (this build reads versions 1 to \(supported))"
        case let .corruptModel(path, detail):
            return "\(path): corrupt model file: \(detail)"
        case let .diverged(epoch, eta):
            return "training diverged in epoch \(epoch): the loss is no longer a finite number; expected finite losses: "
                + "lower -r/--eta (\(eta)) or raise -l/--lambda"
        case let .networkDiverged(epoch, eta, netEta):
            return "training diverged in epoch \(epoch): the loss or the network's weights are no longer finite numbers; no model was written; "
                + "expected finite losses: lower --net-eta (\(netEta)) or -r/--eta (\(eta)), or raise -l/--lambda or --weight-decay"
        case let .emptyTrainingSet(path):
            return "\(path): the training set has no rows; expected at least one libffm line"
        case let .noTrainingFiles(spec, detail):
            return "\(spec): no training file: \(detail); expected a file, a folder of *.cache files, a glob pattern or a comma-separated list of them"
        case let .incompatibleInitModel(path, detail):
            return "\(path): cannot warm-start from this model: \(detail)"
        case let .fieldBeyondModel(path, row, field, modelFields):
            return "\(path): row \(row): field \(field) is beyond the model's \(modelFields) fields (0...\(modelFields - 1)); "
                + "was the model trained on data with these fields?"
        case let .badInputLine(path, line, detail):
            return "\(path):\(line): \(detail)"
        case let .calibrationFailed(path, method, detail):
            return "\(path): cannot fit the --calibrate \(method) calibrator on this validation set: \(detail)"
        case let .cannotExport(format, detail):
            return "cannot write this model as --format \(format): found \(detail)"
        case let .classificationGivenTargets(path, row, label):
            return "\(path): row \(row): label \(label) is a real-valued target, but a classification model (--loss logistic) "
                + "needs labels 0 or 1; expected --loss squared for regression, or 0/1 labels"
        case let .networkTooLarge(hidden, input, bytes, available):
            if let zero = hidden.firstIndex(where: { $0 < 1 }) {
                return "--hidden: layer \(zero + 1) has width \(hidden[zero]); expected widths of at least 1 (an empty list for no hidden layer)"
            }
            return "--hidden \(hidden.map(String.init).joined(separator: ",")): a network over \(ProgressMeter.grouped(input)) inputs "
                + "(fields × k) with these layers needs \(MemoryBudget.describe(bytes)) (weights, Adam moments, gradients), more than "
                + "this machine's \(MemoryBudget.describe(available)) of memory; expected narrower or fewer layers"
        case let .featurizerMismatch(model, featurizer):
            return "\(featurizer): this featurizer is not the one model \(model) was trained with (hash differs)"
        }
    }
}

/// A featurizer hash as ctr-train --dump prints it.
func hex(_ hash: UInt64) -> String { String(hash, radix: 16) }
