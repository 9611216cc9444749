import Foundation
import Ingest
import StageKit

/// A features config (`--config FEATURES.json`): per-field choices that override the
/// command-line defaults. Format in docs/FORMATS.md ("featurizer.json", features config).
///
/// ```json
/// {
///   "version": 1,
///   "schema": "criteo",
///   "fields": {
///     "I1": { "transform": "buckets", "boundaries": [0, 1, 10, 100] },
///     "I2": { "transform": "scaled" },
///     "I5": { "transform": "spline", "knots": 12, "compression": "log1p" },
///     "I6": { "transform": "spline", "log_square": true },
///     "C3": { "bins": 65536, "rare_threshold": 20 }
///   }
/// }
/// ```
public struct FeatureConfig: Codable, Equatable, Sendable {
    public static let currentVersion = 1

    public var version = FeatureConfig.currentVersion
    /// The schema name the config was written for; checked against the rows' schema when set.
    public var schema: String?
    /// Overrides by output column name.
    public var fields: [String: FieldOverride] = [:]

    public init(schema: String? = nil, fields: [String: FieldOverride] = [:]) {
        self.schema = schema
        self.fields = fields
    }

    public struct FieldOverride: Codable, Equatable, Sendable {
        public var transform: Transform?
        public var bins: Int?
        public var rareThreshold: Int?
        public var boundaries: [Double]?
        /// `spline`: knots requested (placed at quantiles; fewer when values repeat).
        public var knots: Int?
        /// `spline`: compression before the knots (`log1p` or `none`).
        public var compression: SplineCompression?
        /// `spline`: whether the value's log-square bucket goes beside the basis features
        /// (default: whether `--numeric` is `spline-log-square`).
        public var logSquare: Bool?

        public init(transform: Transform? = nil, bins: Int? = nil, rareThreshold: Int? = nil, boundaries: [Double]? = nil,
                    knots: Int? = nil, compression: SplineCompression? = nil, logSquare: Bool? = nil) {
            self.transform = transform
            self.bins = bins
            self.rareThreshold = rareThreshold
            self.boundaries = boundaries
            self.knots = knots
            self.compression = compression
            self.logSquare = logSquare
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case transform, bins
            case rareThreshold = "rare_threshold"
            case boundaries, knots, compression
            case logSquare = "log_square"
        }

        public init(from decoder: Decoder) throws {
            try FeatureConfig.rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "field setting")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            transform = try c.decodeIfPresent(Transform.self, forKey: .transform)
            bins = try c.decodeIfPresent(Int.self, forKey: .bins)
            rareThreshold = try c.decodeIfPresent(Int.self, forKey: .rareThreshold)
            boundaries = try c.decodeIfPresent([Double].self, forKey: .boundaries)
            knots = try c.decodeIfPresent(Int.self, forKey: .knots)
            compression = try c.decodeIfPresent(SplineCompression.self, forKey: .compression)
            logSquare = try c.decodeIfPresent(Bool.self, forKey: .logSquare)
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, schema, fields
    }

    public init(from decoder: Decoder) throws {
        try FeatureConfig.rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "config")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? FeatureConfig.currentVersion
        guard version == FeatureConfig.currentVersion else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: c,
                debugDescription: "version \(version) is not supported; expected \(FeatureConfig.currentVersion)")
        }
        schema = try c.decodeIfPresent(String.self, forKey: .schema)
        fields = try c.decodeIfPresent([String: FieldOverride].self, forKey: .fields) ?? [:]
    }

    /// Reads a config file with the strict reader (no duplicate keys, trailing commas or
    /// comments; integers written as integers).
    /// - Throws: `FeaturizeError.badJSON` naming the file, line:column and JSON path.
    public static func load(path: String) throws -> FeatureConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FeaturizeError.missingFile(path: path, detail: "cannot read the features config")
        }
        do {
            return try StrictJSONDocument(data: data).decode(FeatureConfig.self)
        } catch let problem as JSONInputProblem {
            throw FeaturizeError.badJSON(path: path, codingPath: problem.jsonPath, detail: problem.message, position: problem.position)
        }
    }

    /// Checks the config against the output columns of the rows it will featurize.
    /// - Throws: `FeaturizeError.configMismatch` naming the JSON path.
    /// `numeric`: the transform of numeric columns without one in the config (`--numeric`).
    public func validate(columns: [OutputColumn], schemaName: String, source: String,
                         numeric: Transform = .logSquare) throws {
        func fail(_ path: String, _ detail: String) -> FeaturizeError {
            .configMismatch(path: source, jsonPath: path, detail: detail)
        }
        if let schema, schema != schemaName {
            throw fail("schema", "the config is for schema \"\(schema)\" but the rows have schema \"\(schemaName)\"")
        }
        let names = columns.map(\.name)
        for name in fields.keys.sorted() {
            let o = fields[name]!
            let path = "fields.\(name)"
            guard let column = columns.first(where: { $0.name == name }) else {
                var detail = "no output column \"\(name)\" in schema \"\(schemaName)\""
                if let close = FeatureConfig.closest(to: name, among: names) { detail += "; did you mean \"\(close)\"?" }
                detail += " (columns: \(names.joined(separator: ", ")))"
                throw fail(path, detail)
            }
            let transform = o.transform ?? (column.type == .categorical ? .hash : numeric)
            if column.type == .categorical && transform != .hash {
                throw fail("\(path).transform", "\"\(transform.rawValue)\" needs a numeric column, but \(name) is categorical; expected \"hash\"")
            }
            if transform == .buckets {
                guard let b = o.boundaries, !b.isEmpty else {
                    throw fail("\(path).boundaries", "is missing; the buckets transform needs boundaries, e.g. [0, 1, 10, 100]")
                }
                for (i, v) in b.enumerated() where !v.isFinite || (i > 0 && !(b[i - 1] < v)) {
                    throw fail("\(path).boundaries[\(i)]", "found \(v); expected finite boundaries in strictly increasing order")
                }
            } else if o.boundaries != nil {
                throw fail("\(path).boundaries", "only applies to the buckets transform, not \"\(transform.rawValue)\"")
            }
            if transform == .spline {
                if let k = o.knots, !HashParams.knotRange.contains(k) {
                    throw fail("\(path).knots", "found \(k); expected \(HashParams.knotRange.lowerBound)…\(HashParams.knotRange.upperBound) "
                        + "(a cubic spline needs at least 2 knots)")
                }
            } else {
                if o.knots != nil { throw fail("\(path).knots", "only applies to the spline transform, not \"\(transform.rawValue)\"") }
                if o.compression != nil {
                    throw fail("\(path).compression", "only applies to the spline transform, not \"\(transform.rawValue)\"")
                }
                if o.logSquare != nil {
                    throw fail("\(path).log_square", "only applies to the spline transform, not \"\(transform.rawValue)\"")
                }
            }
            if let bins = o.bins {
                if transform == .buckets || transform == .scaled || transform == .spline {
                    throw fail("\(path).bins", "does not apply to the \(transform.rawValue) transform (its range size is fixed)")
                }
                guard HashParams.fixedBins.contains(bins) else {
                    throw fail("\(path).bins", "found \(bins); expected \(HashParams.fixedBinsExpectation), as for --bins")
                }
            }
            if let t = o.rareThreshold {
                guard t >= 0 && t <= Int(UInt16.max) else { throw fail("\(path).rare_threshold", "found \(t); expected 0…\(UInt16.max)") }
                if transform == .buckets || transform == .scaled || transform == .spline, t > 0 {
                    throw fail("\(path).rare_threshold", "does not apply to the \(transform.rawValue) transform")
                }
            }
        }
    }

    static func rejectUnknownKeys(_ decoder: Decoder, allowed: [String], what: String) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            var message = "\"\(key.stringValue)\" is not a known \(what) key"
            if let close = closest(to: key.stringValue, among: allowed) { message += "; did you mean \"\(close)\"?" }
            message += " (known: \(allowed.joined(separator: ", ")))"
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath + [key], debugDescription: message))
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    /// The candidate within edit distance 2 (case-insensitive), for suggestions.
    static func closest(to name: String, among candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            if a.isEmpty { return b.count }
            if b.isEmpty { return a.count }
            var previous = Array(0...b.count)
            for i in 1...a.count {
                var current = [i] + Array(repeating: 0, count: b.count)
                for j in 1...b.count {
                    current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                previous = current
            }
            return previous[b.count]
        }
        let lower = Array(name.lowercased())
        return candidates.map { ($0, distance(lower, Array($0.lowercased()))) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }
}
