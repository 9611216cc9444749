import Foundation
import StageKit

/// What a raw column holds and how ingest treats it.
public enum ColumnType: String, Codable, CaseIterable, Sendable {
    /// The click label: `0` or `1`. Exactly one column of a schema has this type.
    case label
    /// Any token, kept as bytes (e.g. Criteo's 8-hex-digit hashes).
    case categorical
    /// A whole number in the signed 64-bit range, written in canonical decimal.
    case integer
    /// A finite floating-point number (`strtod` syntax), written as it appears.
    case float
    /// Checked for nothing and left out of the output.
    case ignore
    /// A real-valued regression target (a finite number, `strtod` syntax), the row's label
    /// for squared loss (#13): written to the rows file as it appears. A schema has exactly
    /// one `label` or `target` column.
    case target
    /// A `YYMMDDHH` timestamp (Avazu's `hour`), validated and expanded into two
    /// categorical output columns: hour of day (`0`…`23`) and day of week (`mon`…`sun`).
    /// The raw timestamp itself is not an output column.
    case yymmddhh
}

/// Whether the first line of each input file is a header.
public enum HeaderMode: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// No header: every line is data.
    case absent
    /// The first line must be a header naming the schema's columns (ASCII case-insensitive);
    /// anything else there is an error.
    case present
    /// The first line is skipped as a header when it names the schema's columns, and read
    /// as data otherwise (for sets like Avazu's where only the first file has a header).
    case auto
}

/// One raw column of a schema.
public struct SchemaColumn: Codable, Equatable, Sendable {
    public var name: String
    public var type: ColumnType
    /// Extra tokens that mean "missing" in this column, replacing the schema's list.
    public var missing: [String]?
    /// Names of the two output columns of a `yymmddhh` column (hour of day, day of week);
    /// default `NAME_hour_of_day`, `NAME_day_of_week`.
    public var derivedNames: [String]?
    /// A missing value quarantines the row (reason `missing_value`) instead of being kept as
    /// missing: the user and item of a ratings row (#13). Absent (nil) means false. A
    /// `target` column is always required.
    public var required: Bool?

    public init(_ name: String, _ type: ColumnType, missing: [String]? = nil, derivedNames: [String]? = nil, required: Bool? = nil) {
        self.name = name
        self.type = type
        self.missing = missing
        self.derivedNames = derivedNames
        self.required = required
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, type, missing, required
        case derivedNames = "derived_names"
    }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "column")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(ColumnType.self, forKey: .type)
        missing = try c.decodeIfPresent([String].self, forKey: .missing)
        derivedNames = try c.decodeIfPresent([String].self, forKey: .derivedNames)
        required = try c.decodeIfPresent(Bool.self, forKey: .required)
    }

    /// The output names of a `yymmddhh` column.
    public var resolvedDerivedNames: [String] {
        derivedNames ?? ["\(name)_hour_of_day", "\(name)_day_of_week"]
    }
}

/// The layout of a raw click log: delimiter, header, and what each column holds.
///
/// Presets cover the public CTR sets (`Schema.preset(named:)`); a custom schema comes from
/// a JSON file (`Schema.load(path:)`, format in docs/FORMATS.md "Raw schema JSON").
/// Empty values are always missing; `missing` lists further tokens that mean missing.
public struct Schema: Codable, Equatable, Sendable {
    public static let currentVersion = 1

    public var version: Int = Schema.currentVersion
    public var name: String
    /// The one-byte field separator, e.g. `"\t"` or `","`.
    public var delimiter: String
    public var header: HeaderMode
    /// RFC 4180 double quotes around fields (`"a,b"`, `""` inside for a quote). Off by default.
    public var quoting: Bool
    /// Tokens besides the empty value that mean "missing" (e.g. `"NA"`).
    public var missing: [String]
    /// Every raw column, in file order, including the label and ignored ones.
    public var columns: [SchemaColumn]

    public init(name: String, delimiter: String, header: HeaderMode, quoting: Bool = false,
                missing: [String] = [], columns: [SchemaColumn]) {
        self.name = name
        self.delimiter = delimiter
        self.header = header
        self.quoting = quoting
        self.missing = missing
        self.columns = columns
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, name, delimiter, header, quoting, missing, columns
    }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "schema")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? Schema.currentVersion
        guard version == Schema.currentVersion else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: c,
                debugDescription: "schema version \(version) is not supported (expected \(Schema.currentVersion))")
        }
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "custom"
        delimiter = try c.decode(String.self, forKey: .delimiter)
        if delimiter == "tab" { delimiter = "\t" }
        if delimiter == "comma" { delimiter = "," }
        header = try c.decodeIfPresent(HeaderMode.self, forKey: .header) ?? .absent
        quoting = try c.decodeIfPresent(Bool.self, forKey: .quoting) ?? false
        missing = try c.decodeIfPresent([String].self, forKey: .missing) ?? []
        columns = try c.decode([SchemaColumn].self, forKey: .columns)
    }

    /// The delimiter byte (validated by `validate()`).
    public var delimiterByte: UInt8 { delimiter.utf8.first ?? 9 }

    /// Index of the label (or target) column.
    public var labelIndex: Int? { columns.firstIndex { $0.type == .label || $0.type == .target } }

    /// The label is a real-valued regression target (a `target` column) rather than 0/1.
    public var hasRealTarget: Bool { columns.contains { $0.type == .target } }

    /// Checks what Codable cannot: one-byte delimiter, exactly one label, unique names, …
    /// - Throws: `SchemaError.invalid` with the JSON path of the offending key.
    public func validate(source: String = "schema") throws {
        func fail(_ path: String, _ message: String) -> SchemaError {
            .invalid(source: source, jsonPath: path, message: message)
        }
        guard delimiter.utf8.count == 1, let d = delimiter.utf8.first else {
            throw fail("delimiter", "found \(String(reflecting: delimiter)); expected exactly one byte such as \"\\t\" or \",\"")
        }
        guard d != 10 && d != 13 && d != 34 else {
            throw fail("delimiter", "found \(String(reflecting: delimiter)); a newline, carriage return or double quote cannot separate fields")
        }
        guard !columns.isEmpty else { throw fail("columns", "is empty; expected the raw columns in file order") }
        let labels = columns.indices.filter { columns[$0].type == .label || columns[$0].type == .target }
        guard labels.count == 1 else {
            throw fail("columns", labels.isEmpty
                ? "has no column of type \"label\"; expected exactly one (the 0/1 click column, or a \"target\" column for regression)"
                : "has \(labels.count) columns of type \"label\" or \"target\" (\(labels.map { columns[$0].name }.joined(separator: ", "))); expected exactly one")
        }
        for (i, token) in missing.enumerated() where !Schema.isRepresentableToken(token, delimiter: d) {
            throw fail("missing[\(i)]", "found \(String(reflecting: token)); expected a non-empty token without the delimiter, tab or line breaks (empty values are always missing)")
        }
        var seen: [String: String] = [:]
        var outputs = 0
        for (i, column) in columns.enumerated() {
            let path = "columns[\(i)]"
            guard !column.name.isEmpty else { throw fail("\(path).name", "is empty; expected a column name") }
            var names = [column.name]
            if column.type == .yymmddhh {
                let derived = column.resolvedDerivedNames
                guard derived.count == 2, derived.allSatisfy({ !$0.isEmpty }) else {
                    throw fail("\(path).derived_names", "found \(derived); expected two non-empty names (hour of day, day of week)")
                }
                names += derived
            } else if column.derivedNames != nil {
                throw fail("\(path).derived_names", "is only allowed on columns of type \"yymmddhh\", not \"\(column.type.rawValue)\"")
            }
            for n in names {
                if let other = seen[n] { throw fail("\(path).name", "\"\(n)\" is already used by \(other); expected unique names") }
                seen[n] = path
            }
            if let tokens = column.missing {
                for (j, token) in tokens.enumerated() where !Schema.isRepresentableToken(token, delimiter: d) {
                    throw fail("\(path).missing[\(j)]", "found \(String(reflecting: token)); expected a non-empty token without the delimiter, tab or line breaks")
                }
                if column.type == .label || column.type == .target || column.type == .ignore {
                    throw fail("\(path).missing", "is not allowed on a column of type \"\(column.type.rawValue)\"")
                }
            }
            switch column.type {
            case .categorical, .integer, .float: outputs += 1
            case .yymmddhh: outputs += 2
            case .label, .target, .ignore: break
            }
        }
        guard outputs > 0 else {
            throw fail("columns", "has no output column; expected at least one categorical, integer, float or yymmddhh column")
        }
    }

    static func isRepresentableToken(_ token: String, delimiter: UInt8) -> Bool {
        !token.isEmpty && !token.utf8.contains { $0 == delimiter || $0 == 9 || $0 == 10 || $0 == 13 }
    }

    // MARK: - Loading

    /// A preset name (`criteo`, `criteo-1tb`, `criteo-kaggle-csv`, `avazu`) or the path of a
    /// schema JSON file.
    public static func resolve(_ nameOrPath: String) throws -> Schema {
        if let preset = preset(named: nameOrPath) { return preset }
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") || FileManager.default.fileExists(atPath: nameOrPath) {
            return try load(path: nameOrPath)
        }
        throw SchemaError.unknownPreset(name: nameOrPath, known: presetNames)
    }

    /// Reads and validates a schema JSON file.
    public static func load(path: String) throws -> Schema {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SchemaError.cannotRead(path: path)
        }
        return try decode(data, source: path)
    }

    /// Decodes and validates schema JSON with the strict reader (no duplicate keys,
    /// trailing commas or comments); errors name `source`, line:column and the JSON path.
    public static func decode(_ data: Data, source: String = "schema") throws -> Schema {
        let schema: Schema
        let document: StrictJSONDocument
        do {
            document = try StrictJSONDocument(data: data)
            schema = try document.decode(Schema.self)
        } catch let problem as JSONInputProblem {
            throw SchemaError(problem, source: source)
        }
        do {
            try schema.validate(source: source)
        } catch let SchemaError.invalid(source, jsonPath, message, nil) {
            throw SchemaError.invalid(source: source, jsonPath: jsonPath, message: message, position: document.position(of: jsonPath))
        }
        return schema
    }

    /// Pretty, key-sorted JSON for this schema (the format `load` reads): the same bytes every run.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    // MARK: - Presets

    public static let presetNames = ["criteo", "criteo-1tb", "criteo-kaggle-csv", "avazu", "ratings", "ratings-csv"]

    public static func preset(named name: String) -> Schema? {
        switch name {
        case "criteo": return criteo
        case "criteo-1tb": return criteo1TB
        case "criteo-kaggle-csv": return criteoKaggleCSV
        case "avazu": return avazu
        case "ratings": return ratings
        case "ratings-csv": return ratingsCSV
        default: return nil
        }
    }

    /// User-item ratings like MovieLens `u.data` (#13): TSV, no header,
    /// `user, item, rating, timestamp`; user and item are categorical and required (a row
    /// without either is quarantined), the rating is the regression target, the timestamp
    /// is ignored. Files without a timestamp column need a custom schema (three columns).
    public static let ratings = Schema(name: "ratings", delimiter: "\t", header: .absent,
                                       columns: [SchemaColumn("user", .categorical, required: true),
                                                 SchemaColumn("item", .categorical, required: true),
                                                 SchemaColumn("rating", .target), SchemaColumn("timestamp", .ignore)])

    /// User-item ratings like MovieLens `ratings.csv` (#13): CSV, header
    /// `userId,movieId,rating,timestamp` (detected), the same roles as `ratings`.
    public static let ratingsCSV = Schema(name: "ratings-csv", delimiter: ",", header: .auto,
                                          columns: [SchemaColumn("userId", .categorical, required: true),
                                                    SchemaColumn("movieId", .categorical, required: true),
                                                    SchemaColumn("rating", .target), SchemaColumn("timestamp", .ignore)])

    static var criteoColumns: [SchemaColumn] {
        (1...13).map { SchemaColumn("I\($0)", .integer) } + (1...26).map { SchemaColumn("C\($0)", .categorical) }
    }

    /// Kaggle Display Advertising Challenge `train.txt`: TSV, no header, 40 fields:
    /// `label, I1…I13` (integers, may be negative or empty), `C1…C26` (hex strings, may be empty).
    public static let criteo = Schema(name: "criteo", delimiter: "\t", header: .absent,
                                      columns: [SchemaColumn("label", .label)] + criteoColumns)

    /// Criteo 1TB click logs (`day_0` … `day_23`): the same 40 TSV fields as `criteo`.
    public static let criteo1TB = Schema(name: "criteo-1tb", delimiter: "\t", header: .absent,
                                         columns: [SchemaColumn("label", .label)] + criteoColumns)

    /// The Kaggle CSV variant (3 Idiots' `train.csv`): header `Id,Label,I1…,C1…`, 41 fields,
    /// CRLF; `Id` is ignored. The header is detected (`auto`), so split files without it work too.
    public static let criteoKaggleCSV = Schema(name: "criteo-kaggle-csv", delimiter: ",", header: .auto,
                                               columns: [SchemaColumn("Id", .ignore), SchemaColumn("Label", .label)] + criteoColumns)

    /// Avazu `train.csv`: CSV with a header (detected, `auto`: files without it are read as
    /// data), 24 fields. `id` is ignored, `click` is the label, `hour` (YYMMDDHH) becomes
    /// `hour_of_day` and `day_of_week`; all other columns are categorical.
    public static let avazu: Schema = {
        let categorical = ["C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id", "app_domain",
                           "app_category", "device_id", "device_ip", "device_model", "device_type", "device_conn_type",
                           "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21"]
        return Schema(name: "avazu", delimiter: ",", header: .auto,
                      columns: [SchemaColumn("id", .ignore), SchemaColumn("click", .label),
                                SchemaColumn("hour", .yymmddhh, derivedNames: ["hour_of_day", "day_of_week"])]
                          + categorical.map { SchemaColumn($0, .categorical) })
    }()
}

/// Errors of schema resolution, each naming the file and JSON path.
public enum SchemaError: Error, Equatable, CustomStringConvertible {
    case unknownPreset(name: String, known: [String])
    case cannotRead(path: String)
    /// At `jsonPath` ("$" for the whole file), starting at `position` when known.
    case invalid(source: String, jsonPath: String, message: String, position: SourcePosition? = nil)

    public var description: String {
        switch self {
        case let .unknownPreset(name, known):
            return "unknown schema \"\(name)\": expected a preset (\(known.joined(separator: ", "))) or the path of a schema JSON file"
        case let .cannotRead(path):
            return "\(path): cannot read the schema file"
        case let .invalid(source, path, message, position):
            let location = position.map { "\(source):\($0)" } ?? source
            return path == "$" ? "\(location): \(message)" : "\(location): \(path) \(message)"
        }
    }

    /// A problem from the strict JSON reader.
    init(_ problem: JSONInputProblem, source: String) {
        self = .invalid(source: source, jsonPath: problem.jsonPath.isEmpty ? "$" : problem.jsonPath,
                        message: problem.message, position: problem.position)
    }
}

/// A coding key for any string, to list the keys an object really has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
}

/// Throws a `dataCorrupted` error at the unknown key (with a close known key as a
/// suggestion): a typo must never silently become a default.
func rejectUnknownKeys(_ decoder: Decoder, allowed: [String], what: String) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    for key in container.allKeys where !allowed.contains(key.stringValue) {
        var message = "is not a known \(what) key"
        if let close = closestName(to: key.stringValue, among: allowed) { message += "; did you mean \"\(close)\"?" }
        message += " (known: \(allowed.joined(separator: ", ")))"
        throw DecodingError.dataCorrupted(DecodingError.Context(
            codingPath: decoder.codingPath + [key], debugDescription: message,
            underlyingError: SchemaError.invalid(source: "", jsonPath: "", message: message)))
    }
}

/// The candidate within edit distance 2 of `name`, if any (case-insensitive).
func closestName(to name: String, among candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return b.isEmpty ? a.count : previous[b.count]
    }
    let lower = Array(name.lowercased())
    let scored = candidates.map { ($0, distance(lower, Array($0.lowercased()))) }.filter { $0.1 <= 2 }
    return scored.min { $0.1 < $1.1 }?.0
}
