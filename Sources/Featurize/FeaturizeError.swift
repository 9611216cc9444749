import StageKit

/// Errors of the hashing stage and of featurizing rows. Each says where (file and line,
/// or JSON path), what was found and what was expected.
public enum FeaturizeError: Error, Equatable, CustomStringConvertible {
    /// A rows folder has no stats.json (it was not written by ctr-ingest, or the run failed).
    case missingStats(directory: String)
    /// A required input file is absent.
    case missingFile(path: String, detail: String)
    /// A JSON file does not decode: the coding path, what was wrong, and line:column when known.
    case badJSON(path: String, codingPath: String, detail: String, position: SourcePosition? = nil)
    /// The features config does not fit the schema of the rows (unknown column, wrong kind, ...).
    case configMismatch(path: String, jsonPath: String, detail: String)
    /// A rows-file line that does not have the schema's shape.
    case badRow(path: String, line: Int, detail: String)
    /// A value that does not parse as its column's type.
    case badValue(path: String, line: Int, column: String, value: String, expected: String)
    /// Options that contradict each other or are out of range.
    case badOption(option: String, detail: String)
    /// A featurizer.json that cannot be used (wrong format or version, inconsistent layout).
    case badFeaturizer(path: String, detail: String)
    /// Raw input in `--schema` mode with too many bad rows.
    case tooManyBadRows(bad: Int, read: Int, limit: Double, firstExample: String)
    /// The layout does not fit in libffm's 32-bit signed indices.
    case indexSpaceTooLarge(total: Int, limit: Int)

    public var description: String {
        switch self {
        case let .missingStats(directory):
            return "\(directory): no stats.json in the rows folder; expected the output folder of ctr-ingest "
                + "(train.tsv, valid.tsv, test.tsv and stats.json)"
        case let .missingFile(path, detail):
            return "\(path): \(detail)"
        case let .badJSON(path, codingPath, detail, position?):
            return "\(path):\(position): " + (codingPath.isEmpty ? "" : "at \(codingPath): ") + detail
        case let .badJSON(path, codingPath, detail, nil):
            return "\(path): at \(codingPath.isEmpty ? "the top level" : codingPath): \(detail)"
        case let .configMismatch(path, jsonPath, detail):
            return "\(path): at \(jsonPath): \(detail)"
        case let .badRow(path, line, detail):
            return "\(path):\(line): \(detail)"
        case let .badValue(path, line, column, value, expected):
            return "\(path):\(line): column \(column): found \"\(value)\", expected \(expected)"
        case let .badOption(option, detail):
            return "\(option): \(detail)"
        case let .badFeaturizer(path, detail):
            return "\(path): \(detail)"
        case let .tooManyBadRows(bad, read, limit, example):
            return "\(bad) of \(read) rows are bad (more than the allowed fraction \(limit)); first: \(example)"
        case let .indexSpaceTooLarge(total, limit):
            return "the feature layout needs \(total) indices, more than libffm's limit of \(limit); "
                + "lower --max-bins or the per-field bins"
        }
    }
}
