import ArgumentParser
import Foundation
import StageKit

/// Every parameter of ctr-hash, declared once: the command line's options and a
/// pipeline file's `params` (keys camelCased). Start from `.defaults`.
public struct HashParams: StageParameters {
    /// Size of the per-field ranges.
    public enum Bins: Equatable, Sendable, CustomStringConvertible, ParameterValue {
        /// From the training split's distinct count after the rare threshold:
        /// `2 + min(maxBins, nextPowerOfTwo(2 × distinct))`.
        case auto
        /// Every hashed field gets this many indices (2 of them reserved: missing, rare).
        case fixed(Int)

        /// `"auto"` or a whole number.
        public init?(_ text: String) {
            if text == "auto" { self = .auto; return }
            guard let n = Int(text) else { return nil }
            self = .fixed(n)
        }

        public var description: String {
            switch self {
            case .auto: return "auto"
            case .fixed(let n): return String(n)
            }
        }

        public init?(argument: String) { self.init(argument) }

        public static var parameterType: ParamType { .oneOf([.choice(["auto"]), .integer]) }

        public init?(json: JSONValue) {
            switch json {
            case .string("auto"): self = .auto
            case let .int(n): guard let n = Int(exactly: n) else { return nil }; self = .fixed(n)
            default: return nil
            }
        }

        public var json: JSONValue {
            switch self {
            case .auto: return .string("auto")
            case .fixed(let n): return .int(Int64(n))
            }
        }

        public var argument: String { description }
    }

    @Option("ctr-ingest's output folder (train.tsv, valid.tsv, test.tsv, stats.json).", value: "DIR")
    public var rows: String?

    @Option("Read raw logs instead: a schema preset (criteo, criteo-1tb, criteo-kaggle-csv, avazu, ratings, ratings-csv) or a schema JSON file; the FILE arguments are the training split.", value: "NAME|FILE")
    public var schema: String?

    @Option("Raw log file of the validation split (with --schema; repeatable).", value: "FILE")
    public var validFile: [String] = []

    @Option("Raw log file of the test split (with --schema; repeatable).", value: "FILE")
    public var testFile: [String] = []

    @Flag("Convert the FILE arguments, libffm text files, into binary caches (DIR/NAME.cache).")
    public var fromLibffm = false

    @Option("Indices per hashed field: auto (next power of two >= 2 x distinct values in train, plus 2 reserved) or a number (including the 2 reserved).", value: "auto|N")
    public var bins = Bins.auto

    @Option("Cap of the hashed part of a field's range with --bins auto.", in: .closed(1, Double(1 << 30)), value: "N")
    public var maxBins = 1 << 20

    @Option("Categorical values seen fewer than T times in train map to the field's rare token (0: off).", in: .closed(0, Double(UInt16.max)), value: "T")
    public var rareThreshold = 10

    @Option("Features config: per-field transform (hash, log-square, buckets, scaled, spline), bins, rare_threshold, boundaries, knots, compression, log_square.", value: "FEATURES.json")
    public var config: String?

    @Option("Transform of integer and float columns the config does not set: log-square (floor(ln(v)^2) tokens), spline (cubic B-spline basis on quantile knots, up to 4 features per value) or spline-log-square (the spline basis and the log-square bucket in the same field, up to 5).")
    public var numeric = NumericTransform.logSquare

    @Option("Knots of a spline field (placed at quantiles of the training split; fewer when values repeat).", in: .closed(2, 1000), value: "K")
    public var knots = 20

    @Option("Compression of values before spline knots are placed: log1p (sign(v) ln(1+|v|), for heavy tails) or none.")
    public var splineCompression = SplineCompression.log1p

    @Option("Seed of the hashes.", value: "S")
    public var seed: UInt32 = 0

    @Option("Hash every field into one shared space of N indices (as the Criteo winners) instead of per-field ranges.", in: .closed(1, Double(Int32.max)), value: "N")
    public var sharedSpace: Int?

    @Option("Distinct values counted exactly (all fields together) before counting switches to a count-min sketch per field; bounds counting memory.", in: .atLeast(1024), value: "N")
    public var countLimit = 8_000_000

    @Option("Worker threads (0: one per core). Does not change the output.", in: .closed(0, 256), value: "N")
    public var threads = 0

    @Flag("Write the libffm text files (--no-text: caches only).")
    public var text = true

    @Flag("Write the binary caches (--no-cache: libffm text only).")
    public var cache = true

    @Option("With --schema: fail when bad rows / rows read exceeds F.", in: .closed(0, 1), value: "F")
    public var maxBadFraction = 0.01

    @Option("Memory (MB) for keeping the training split's per-value hashes and integers from the counting pass, so train is read once, not twice (fields of type hash and log-square only; a larger split, or 0, is read again). Does not change the output.", in: .closed(0, Double(1 << 30)), value: "MB")
    public var residentMb = 1024

    @Flag("Under mpirun: rank 0 joins each split's shards into one file (train.cache, train.ffm, ...), the bytes one process writes, after every rank has written its shard (one sequential pass over the outputs on rank 0). Without it each rank's shard stays a file of its own (docs/FORMATS.md \"Shards\").")
    public var joinShards = false

    public init() {}

    public func check() -> [ParamProblem] {
        var problems: [ParamProblem] = []
        if case .fixed(let n) = bins, !HashParams.fixedBins.contains(n) {
            problems.append(ParamProblem("bins", "found \(n); expected \"auto\" or \(HashParams.fixedBinsExpectation)"))
        }
        if sharedSpace != nil && bins != .auto {
            problems.append(ParamProblem(["sharedSpace", "bins"], "cannot be combined (the shared space is the one range)"))
        }
        if !text && !cache { problems.append(ParamProblem(["text", "cache"], "both off leave nothing to write")) }
        if [rows != nil, schema != nil, fromLibffm].filter({ $0 }).count > 1 {
            problems.append(ParamProblem(["rows", "schema", "fromLibffm"], "choose one input form"))
        }
        if schema == nil && !(validFile.isEmpty && testFile.isEmpty) {
            problems.append(ParamProblem(["validFile", "testFile"], "only apply to raw logs read with --schema"))
        }
        return problems
    }

    /// A field's fixed number of indices, on the command line (`--bins N`) and in a features
    /// config (`"bins"`): 2 reserved slots and at least one hashed one, within libffm's
    /// 32-bit signed indices.
    public static let fixedBins = (ReservedSlot.count + 1)...Int(Int32.max)
    static let fixedBinsExpectation = "a number of indices per field from \(fixedBins.lowerBound) to \(fixedBins.upperBound) "
        + "(2 are reserved: missing, rare)"

    /// Knots of a spline field (`--knots`, a config's `knots`).
    public static let knotRange = 2...1000

    /// Worker threads to use.
    var workerCount: Int { threads > 0 ? threads : max(1, ProcessInfo.processInfo.activeProcessorCount) }
}
