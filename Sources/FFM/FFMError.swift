/// Errors of training, prediction and model files. Each says what was found, what was
/// expected and where.
public enum FFMError: Error, Equatable, CustomStringConvertible {
    case outOfMemory(bytes: Int)
    case notAModel(path: String)
    case unsupportedModelVersion(path: String, found: UInt32, supported: UInt32)
    case corruptModel(path: String, detail: String)
    case invalidParameter(name: String, value: String, expected: String)
    case emptyTrainingSet(path: String)
    case incompatibleInitModel(path: String, detail: String)
    /// A row at predict time has a field the model was not trained with.
    case fieldBeyondModel(path: String, row: Int, field: UInt32, modelFields: Int)
    case featurizerMismatch(model: String, featurizer: String)
    /// A raw input line that cannot be featurized.
    case badInputLine(path: String, line: Int, detail: String)

    public var description: String {
        switch self {
        case let .outOfMemory(bytes):
            return "cannot allocate \(bytes) bytes for the model; reduce -k or the number of feature indices"
        case let .notAModel(path):
            return "\(path): not a SwiftCTR model file (expected it to start with \"CTRMODEL\")"
        case let .unsupportedModelVersion(path, found, supported):
            return "\(path): model format version \(found) is not supported (this build reads version \(supported))"
        case let .corruptModel(path, detail):
            return "\(path): corrupt model file: \(detail)"
        case let .invalidParameter(name, value, expected):
            return "invalid \(name) \(value): expected \(expected)"
        case let .emptyTrainingSet(path):
            return "\(path): the training set has no rows; expected at least one libffm line"
        case let .incompatibleInitModel(path, detail):
            return "\(path): cannot warm-start from this model: \(detail)"
        case let .fieldBeyondModel(path, row, field, modelFields):
            return "\(path): row \(row): field \(field) is beyond the model's \(modelFields) fields (0...\(modelFields - 1)); "
                + "was the model trained on data with these fields?"
        case let .badInputLine(path, line, detail):
            return "\(path):\(line): \(detail)"
        case let .featurizerMismatch(model, featurizer):
            return "\(featurizer): this featurizer is not the one model \(model) was trained with (hash differs)"
        }
    }
}
