import Foundation
import StageKit

/// Rows and clicks of one split.
public struct SplitCount: Codable, Equatable, Sendable {
    public var rows: Int
    public var clicks: Int
    public init(rows: Int = 0, clicks: Int = 0) {
        self.rows = rows
        self.clicks = clicks
    }
}

/// The `splits` object of stats.json.
public struct SplitCounts: Codable, Equatable, Sendable {
    public var train = SplitCount()
    public var valid = SplitCount()
    public var test = SplitCount()
    public init() {}

    public subscript(split: Split) -> SplitCount {
        get {
            switch split {
            case .train: return train
            case .valid: return valid
            case .test: return test
            }
        }
        set {
            switch split {
            case .train: train = newValue
            case .valid: valid = newValue
            case .test: test = newValue
            }
        }
    }
}

/// Statistics of one output column over the valid rows (all splits, before negative
/// downsampling).
public struct ColumnStats: Codable, Equatable, Sendable {
    public var name: String
    public var type: ValueType
    /// Missing (empty) values / valid rows.
    public var missingRate: Double
    /// HyperLogLog estimate of the distinct non-missing values (about 0.8% error).
    public var distinctEstimate: Int
    /// Numeric columns only (null otherwise, and when every value is missing).
    public var min: Double?
    public var max: Double?
    public var mean: Double?

    public init(name: String, type: ValueType, missingRate: Double, distinctEstimate: Int,
                min: Double? = nil, max: Double? = nil, mean: Double? = nil) {
        self.name = name
        self.type = type
        self.missingRate = missingRate
        self.distinctEstimate = distinctEstimate
        self.min = min
        self.max = max
        self.mean = mean
    }

    enum CodingKeys: String, CodingKey {
        case name, type, min, max, mean
        case missingRate = "missing_rate"
        case distinctEstimate = "distinct_estimate"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(missingRate, forKey: .missingRate)
        try c.encode(distinctEstimate, forKey: .distinctEstimate)
        // Explicit nulls: every column object has the same keys.
        try c.encode(min, forKey: .min)
        try c.encode(max, forKey: .max)
        try c.encode(mean, forKey: .mean)
    }
}

/// How the rows were split (the settings, recorded for later stages and reruns).
public struct SplitSettings: Codable, Equatable, Sendable {
    public var mode: SplitMode
    public var valid: Double
    public var test: Double
    public var seed: UInt64
    public init(mode: SplitMode, valid: Double, test: Double, seed: UInt64) {
        self.mode = mode
        self.valid = valid
        self.test = test
        self.seed = seed
    }
}

/// Per input file counts.
public struct InputStats: Codable, Equatable, Sendable {
    public var path: String
    public var rowsRead: Int
    public var headerLines: Int
    public var rowsQuarantined: Int
    public init(path: String, rowsRead: Int = 0, headerLines: Int = 0, rowsQuarantined: Int = 0) {
        self.path = path
        self.rowsRead = rowsRead
        self.headerLines = headerLines
        self.rowsQuarantined = rowsQuarantined
    }
    enum CodingKeys: String, CodingKey {
        case path
        case rowsRead = "rows_read"
        case headerLines = "header_lines"
        case rowsQuarantined = "rows_quarantined"
    }
}

/// stats.json, written by ctr-ingest beside the rows files (docs/FORMATS.md "stats.json").
/// `rowsRead == rowsKept + rowsQuarantined + rowsDownsampled` always.
public struct IngestStats: Codable, Equatable, Sendable {
    public static let fileName = "stats.json"
    public static let currentFormatVersion = 1

    public var formatVersion = IngestStats.currentFormatVersion
    /// Data lines of all inputs (header lines excluded).
    public var rowsRead = 0
    /// Rows written to the three split files.
    public var rowsKept = 0
    public var rowsQuarantined = 0
    /// Negatives of the training split dropped by negative downsampling.
    public var rowsDownsampled = 0
    public var headerLines = 0
    /// Quarantined rows by reason; every `BadRowReason` is a key (0 when none).
    public var badByReason: [String: Int] = [:]
    /// Keep rate of training negatives; probabilities of a model trained on them are
    /// corrected by `q = p / (p + (1 - p) / w)`.
    public var negKeepRate = 1.0
    /// The splits negative downsampling applied to (always `["train"]`).
    public var downsampledSplits: [Split] = [.train]
    public var split = SplitSettings(mode: .order, valid: 0.1, test: 0.1, seed: 0)
    public var splits = SplitCounts()
    /// Clicks / rows over the valid rows before downsampling.
    public var clickRate = 0.0
    public var inputs: [InputStats] = []
    /// The resolved schema: `RowParser(schema: stats.schema)` reads the same raw logs.
    public var schema: Schema
    /// Per output column, in output-column order (the order of values in the rows files).
    public var columns: [ColumnStats] = []

    public init(schema: Schema) { self.schema = schema }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case rowsRead = "rows_read"
        case rowsKept = "rows_kept"
        case rowsQuarantined = "rows_quarantined"
        case rowsDownsampled = "rows_downsampled"
        case headerLines = "header_lines"
        case badByReason = "bad_by_reason"
        case negKeepRate = "neg_keep_rate"
        case downsampledSplits = "downsampled_splits"
        case split, splits
        case clickRate = "click_rate"
        case inputs, schema, columns
    }

    /// The output columns (name and type) in rows-file order.
    public var outputColumns: [OutputColumn] { columns.map { OutputColumn(name: $0.name, type: $0.type) } }

    /// A parser for raw logs of the same schema (what ctr-hash and ctr-predict use).
    public func makeParser(labelMode: LabelMode = .required) throws -> RowParser {
        try RowParser(schema: schema, labelMode: labelMode)
    }

    /// Reads `DIR/stats.json`.
    public static func load(directory: String) throws -> IngestStats {
        try load(path: directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName)
    }

    /// Reads a stats.json file with the strict JSON reader.
    /// - Throws: `IngestError.badStats` naming the file, line:column and JSON path.
    public static func load(path: String) throws -> IngestStats {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError.badStats(path: path, message: "cannot read the file (expected the stats.json ctr-ingest writes)")
        }
        do {
            let document = try StrictJSONDocument(data: data)
            let stats = try document.decode(IngestStats.self)
            guard stats.formatVersion == currentFormatVersion else {
                throw JSONInputProblem(jsonPath: "format_version", position: document.position(of: "format_version"),
                                       message: "found \(stats.formatVersion); expected \(currentFormatVersion) (the format this build reads)")
            }
            return stats
        } catch let problem as JSONInputProblem {
            throw IngestError(problem, path: path)
        }
    }

    /// Pretty, key-sorted JSON.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

extension IngestError {
    /// A stats.json problem from the strict JSON reader.
    init(_ problem: JSONInputProblem, path: String) {
        let message = problem.jsonPath.isEmpty ? problem.message : "\(problem.jsonPath): \(problem.message)"
        self = .badStats(path: path, message: message, position: problem.position)
    }
}
