import Foundation

/// How rows are assigned to train, valid and test.
public enum SplitMode: String, Codable, CaseIterable, Sendable {
    /// By position: the last `test` fraction of the valid rows (in input order) is the
    /// test split, the `valid` fraction before it the validation split (click logs are
    /// chronological, so this is a split by time).
    case order
    /// By a seeded hash of the raw line (MurmurHash3 x86_32): each row lands in a split
    /// with probability `valid` / `test`, the same row always in the same split.
    case hash
}

/// Every option of ctr-ingest (the long flags, camelCased), for the CLI and pipeline files.
/// Missing keys decode as the defaults of `init()`.
public struct IngestParams: Codable, Equatable, Sendable {
    /// A preset (`criteo`, `criteo-1tb`, `criteo-kaggle-csv`, `avazu`) or a schema JSON path.
    public var schema = "criteo"
    /// Overrides the schema's header mode (`absent`, `present`, `auto`).
    public var header: HeaderMode?
    public var split = SplitMode.order
    /// Fraction of rows for the validation split.
    public var valid = 0.1
    /// Fraction of rows for the test split.
    public var test = 0.1
    /// Seed of the hash split and of negative downsampling.
    public var seed: UInt64 = 0
    /// Keep rate of negatives in the training split (1 keeps all).
    public var negKeepRate = 1.0
    /// The stage fails when quarantined rows / rows read exceeds this.
    public var maxBadFraction = 0.01

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case schema, header, split, valid, test, seed, negKeepRate, maxBadFraction
    }

    public init(from decoder: Decoder) throws {
        let d = IngestParams()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schema = try c.decodeIfPresent(String.self, forKey: .schema) ?? d.schema
        header = try c.decodeIfPresent(HeaderMode.self, forKey: .header) ?? d.header
        split = try c.decodeIfPresent(SplitMode.self, forKey: .split) ?? d.split
        valid = try c.decodeIfPresent(Double.self, forKey: .valid) ?? d.valid
        test = try c.decodeIfPresent(Double.self, forKey: .test) ?? d.test
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        negKeepRate = try c.decodeIfPresent(Double.self, forKey: .negKeepRate) ?? d.negKeepRate
        maxBadFraction = try c.decodeIfPresent(Double.self, forKey: .maxBadFraction) ?? d.maxBadFraction
    }

    /// Checks ranges; the error names the flag.
    public func validate() throws {
        func check(_ ok: Bool, _ flag: String, _ message: String) throws {
            if !ok { throw IngestError.invalidParameter(flag: flag, message: message) }
        }
        try check(valid >= 0 && valid < 1, "--valid", "is \(valid); expected a fraction in [0, 1)")
        try check(test >= 0 && test < 1, "--test", "is \(test); expected a fraction in [0, 1)")
        try check(valid + test < 1, "--valid/--test", "sum to \(valid + test); expected less than 1 so that the training split is not empty")
        try check(negKeepRate > 0 && negKeepRate <= 1, "--neg-keep-rate", "is \(negKeepRate); expected a rate in (0, 1]")
        try check(maxBadFraction >= 0 && maxBadFraction <= 1, "--max-bad-fraction", "is \(maxBadFraction); expected a fraction in [0, 1]")
    }
}

/// Errors of the ingest stage; each says where, what was found and what was expected.
public enum IngestError: Error, Equatable, CustomStringConvertible {
    case invalidParameter(flag: String, message: String)
    case noInputs
    /// A file with no data rows (`headerOnly` when it held just a header).
    case emptyInput(path: String, headerOnly: Bool)
    case headerMismatch(path: String, message: String)
    case tooManyBadRows(quarantined: Int, read: Int, maxFraction: Double, byReason: String, quarantinePath: String)
    case badStats(path: String, message: String)
    case cannotCreateDirectory(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidParameter(flag, message):
            return "\(flag) \(message)"
        case .noInputs:
            return "no input files; expected one or more raw log files (gzip or plain)"
        case let .emptyInput(path, headerOnly):
            return headerOnly ? "\(path): the file holds only a header line; expected data rows after it"
                : "\(path): the file is empty; expected data rows"
        case let .headerMismatch(path, message):
            return "\(path):1: \(message) (the schema says the first line is a header; pass --header auto or absent if it is not)"
        case let .tooManyBadRows(quarantined, read, maxFraction, byReason, quarantinePath):
            let fraction = read > 0 ? Double(quarantined) / Double(read) : 1
            return "\(quarantined) of \(read) rows are bad (\(String(format: "%.4g", fraction * 100))%), more than --max-bad-fraction "
                + "\(maxFraction) allows: \(byReason). Is --schema right? The bad rows are in \(quarantinePath)"
        case let .badStats(path, message):
            return "\(path): \(message)"
        case let .cannotCreateDirectory(path, message):
            return "\(path): cannot create the output folder: \(message)"
        }
    }
}
