import Foundation

/// Every option of ctr-hash (the long flags, camelCased), for the CLI and pipeline files.
/// Missing keys decode as the defaults of `init()`.
public struct HashParams: Codable, Equatable, Sendable {
    /// Size of the per-field ranges.
    public enum Bins: Equatable, Sendable, Codable, CustomStringConvertible {
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

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int.self) {
                self = .fixed(n)
                return
            }
            let text = try c.decode(String.self)
            guard let bins = Bins(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "found \"\(text)\"; expected \"auto\" or a whole number")
            }
            self = bins
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .auto: try c.encode("auto")
            case .fixed(let n): try c.encode(n)
            }
        }
    }

    /// ctr-ingest's output folder (train.tsv, valid.tsv, test.tsv, stats.json).
    public var rows: String?
    /// Raw logs instead of a rows folder: a schema preset or schema JSON path; the inputs
    /// are the training split's raw files.
    public var schema: String?
    /// Raw files of the validation split (with `schema`).
    public var validFile: [String] = []
    /// Raw files of the test split (with `schema`).
    public var testFile: [String] = []
    /// Convert the inputs, libffm text files, into binary caches (nothing else is done).
    public var fromLibffm = false
    public var bins = Bins.auto
    /// Upper bound of the hashed part of a field's range under `--bins auto`.
    public var maxBins = 1 << 20
    /// Categorical values seen fewer times than this in the training split map to the
    /// field's rare token (0 disables).
    public var rareThreshold = 10
    /// A features config (per-field transforms, bins, thresholds).
    public var config: String?
    /// Seed of the hashes.
    public var seed: UInt32 = 0
    /// One hash space of this size shared by all fields (as the Criteo winners), instead of
    /// per-field ranges.
    public var sharedSpace: Int?
    /// Distinct values counted exactly (over all fields) before counting falls back to a sketch.
    public var countLimit = 8_000_000
    /// Worker threads (0: one per core). The output does not depend on it.
    public var threads = 0
    /// Write the libffm text files (`--no-text` writes only the caches).
    public var text = true
    /// Write the binary caches (`--no-cache` writes only the text).
    public var cache = true
    /// With `schema`: fail when bad rows / rows read exceeds this.
    public var maxBadFraction = 0.01

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case rows, schema, validFile, testFile, fromLibffm, bins, maxBins, rareThreshold, config, seed
        case sharedSpace, countLimit, threads, text, cache, maxBadFraction
    }

    public init(from decoder: Decoder) throws {
        let d = HashParams()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rows = try c.decodeIfPresent(String.self, forKey: .rows) ?? d.rows
        schema = try c.decodeIfPresent(String.self, forKey: .schema) ?? d.schema
        validFile = try c.decodeIfPresent([String].self, forKey: .validFile) ?? d.validFile
        testFile = try c.decodeIfPresent([String].self, forKey: .testFile) ?? d.testFile
        fromLibffm = try c.decodeIfPresent(Bool.self, forKey: .fromLibffm) ?? d.fromLibffm
        bins = try c.decodeIfPresent(Bins.self, forKey: .bins) ?? d.bins
        maxBins = try c.decodeIfPresent(Int.self, forKey: .maxBins) ?? d.maxBins
        rareThreshold = try c.decodeIfPresent(Int.self, forKey: .rareThreshold) ?? d.rareThreshold
        config = try c.decodeIfPresent(String.self, forKey: .config) ?? d.config
        seed = try c.decodeIfPresent(UInt32.self, forKey: .seed) ?? d.seed
        sharedSpace = try c.decodeIfPresent(Int.self, forKey: .sharedSpace) ?? d.sharedSpace
        countLimit = try c.decodeIfPresent(Int.self, forKey: .countLimit) ?? d.countLimit
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
        text = try c.decodeIfPresent(Bool.self, forKey: .text) ?? d.text
        cache = try c.decodeIfPresent(Bool.self, forKey: .cache) ?? d.cache
        maxBadFraction = try c.decodeIfPresent(Double.self, forKey: .maxBadFraction) ?? d.maxBadFraction
    }

    /// Checks ranges and combinations; the error names the flag.
    public func validate() throws {
        func check(_ ok: Bool, _ flag: String, _ detail: String) throws {
            if !ok { throw FeaturizeError.badOption(option: flag, detail: detail) }
        }
        if case .fixed(let n) = bins {
            try check(n >= ReservedSlot.count + 1 && n <= Int(Int32.max), "--bins",
                      "is \(n); expected \"auto\" or a number of indices per field from \(ReservedSlot.count + 1) (2 are reserved: missing, rare)")
        }
        try check(maxBins >= 1 && maxBins <= 1 << 30, "--max-bins", "is \(maxBins); expected 1…\(1 << 30)")
        try check(rareThreshold >= 0 && rareThreshold <= Int(UInt16.max), "--rare-threshold",
                  "is \(rareThreshold); expected 0 (off) to \(UInt16.max)")
        if let s = sharedSpace {
            try check(s >= 1 && s <= Int(Int32.max), "--shared-space", "is \(s); expected 1…\(Int32.max)")
            try check(bins == .auto, "--shared-space", "cannot be combined with --bins (the shared space is the one range)")
        }
        try check(countLimit >= 1024, "--count-limit", "is \(countLimit); expected at least 1024")
        try check(threads >= 0 && threads <= 256, "--threads", "is \(threads); expected 0 (one per core) to 256")
        try check(text || cache, "--no-text/--no-cache", "together leave nothing to write")
        try check(maxBadFraction >= 0 && maxBadFraction <= 1, "--max-bad-fraction", "is \(maxBadFraction); expected a fraction in [0, 1]")
        let modes = [rows != nil, schema != nil, fromLibffm].filter { $0 }.count
        try check(modes <= 1, "--rows/--schema/--from-libffm", "choose one input form")
        if schema == nil {
            try check(validFile.isEmpty && testFile.isEmpty, "--valid-file/--test-file", "only apply to raw logs read with --schema")
        }
    }

    /// Worker threads to use.
    var workerCount: Int { threads > 0 ? threads : max(1, ProcessInfo.processInfo.activeProcessorCount) }
}
