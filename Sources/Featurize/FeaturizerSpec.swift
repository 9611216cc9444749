import Foundation
import Ingest

/// The contents of `featurizer.json`: everything needed to turn a raw row into the same
/// features as training (docs/FORMATS.md, "featurizer.json").
public struct FeaturizerSpec: Codable, Equatable, Sendable {
    public static let formatName = "swiftctr-featurizer"
    public static let currentVersion = 1
    public static let hashFunctionName = "murmur3_x86_32"

    public var format = FeaturizerSpec.formatName
    public var version = FeaturizerSpec.currentVersion
    /// The raw schema (as ctr-ingest's schema JSON), so raw logs can be parsed the same way.
    public var schema: Schema
    public var hash: HashSpec
    /// `per-field`: field f owns `[offset, offset + bins)`; `shared`: one space `[0, indexCount)`.
    public var layout: Layout
    /// Number of indices: every feature index is below it (the `n` of an FFM).
    public var indexCount: Int
    /// One entry per output column, in schema order; field numbers are positions here.
    public var fields: [FieldSpec]
    /// The negative keep rate of the rows (from ctr-ingest's stats.json; 1 when not downsampled).
    public var negKeepRate: Double
    /// Rows of the training split the counts come from.
    public var trainRows: Int

    public enum Layout: String, Codable, Sendable {
        case perField = "per-field"
        case shared
    }

    public struct HashSpec: Codable, Equatable, Sendable {
        public var function: String
        public var seed: UInt32
        public init(function: String = FeaturizerSpec.hashFunctionName, seed: UInt32) {
            self.function = function
            self.seed = seed
        }
    }

    public init(schema: Schema, seed: UInt32, layout: Layout, indexCount: Int, fields: [FieldSpec],
                negKeepRate: Double, trainRows: Int) {
        self.schema = schema
        self.hash = HashSpec(seed: seed)
        self.layout = layout
        self.indexCount = indexCount
        self.fields = fields
        self.negKeepRate = negKeepRate
        self.trainRows = trainRows
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, version, schema, hash, layout
        case indexCount = "index_count"
        case fields
        case negKeepRate = "neg_keep_rate"
        case trainRows = "train_rows"
    }
}

/// One field of a featurizer: how its column's values become one feature.
public struct FieldSpec: Codable, Equatable, Sendable {
    /// The output column's name (ctr-ingest's output column), also the seed of its hashes.
    public var name: String
    public var kind: ColumnKind
    public var transform: Transform
    /// First index of the field's range (0 in the shared layout).
    public var offset: Int
    /// Size of the field's range: 2 reserved slots (missing, rare) then the hashed slots
    /// (`hash`, `log-square`), the buckets or the spline basis functions (then the log-square
    /// buckets with `logSquare`); 2 for `scaled` (missing, value).
    /// In the shared layout, the size of the shared space.
    public var bins: Int
    /// Values seen fewer times than this in the training split are rare (0: none are).
    public var rareThreshold: Int
    /// Fingerprints of the kept values (seen at least `rareThreshold` times), sorted, as
    /// base64 of little-endian UInt64s; absent when `rareThreshold` is 0.
    public var kept: String?
    public var keptCount: Int?
    /// `buckets`: the boundaries, strictly increasing.
    public var boundaries: [Double]?
    /// `scaled`: the training split's minimum and maximum.
    public var min: Double?
    public var max: Double?
    /// `spline`: the distinct knots in the compressed space, increasing (`Spline`); the
    /// field has `Spline.basisCount(knots:)` basis functions after the 2 reserved slots.
    public var knots: [Double]?
    /// `spline`: the compression applied to a value before the basis is evaluated.
    public var compression: SplineCompression?
    /// `spline` with the log-square bucket beside the basis (`--numeric spline-log-square`,
    /// a config's `log_square`): the bucket keys, whose slots follow the basis functions.
    public var logSquare: LogSquareBuckets?

    // Report only: not needed to featurize.
    /// Distinct tokens in the training split after the rare threshold.
    public var distinct: Int
    /// Whether `distinct` is an exact count (false: HyperLogLog or sketch estimate).
    public var distinctExact: Bool
    /// Fraction of the distinct kept tokens that share their index with another token.
    public var collisionRate: Double?
    /// Fraction of the training split's non-missing values mapped to the rare token (nil when unknown).
    public var rareShare: Double?
    public var missingShare: Double?

    public init(name: String, kind: ColumnKind, transform: Transform, offset: Int, bins: Int, rareThreshold: Int,
                kept: [UInt64]? = nil, boundaries: [Double]? = nil, min: Double? = nil, max: Double? = nil,
                distinct: Int = 0, distinctExact: Bool = true, collisionRate: Double? = nil, rareShare: Double? = nil,
                missingShare: Double? = nil, knots: [Double]? = nil, compression: SplineCompression? = nil,
                logSquare: LogSquareBuckets? = nil) {
        self.name = name
        self.kind = kind
        self.transform = transform
        self.offset = offset
        self.bins = bins
        self.rareThreshold = rareThreshold
        self.kept = kept.map(FieldSpec.encodeFingerprints)
        self.keptCount = kept?.count
        self.boundaries = boundaries
        self.min = min
        self.max = max
        self.distinct = distinct
        self.distinctExact = distinctExact
        self.collisionRate = collisionRate
        self.rareShare = rareShare
        self.missingShare = missingShare
        self.knots = knots
        self.compression = compression
        self.logSquare = logSquare
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, kind, transform, offset, bins
        case rareThreshold = "rare_threshold"
        case keptCount = "kept_count"
        case kept, boundaries, min, max, knots, compression
        case logSquare = "log_square"
        case distinct
        case distinctExact = "distinct_exact"
        case collisionRate = "collision_rate"
        case rareShare = "rare_share"
        case missingShare = "missing_share"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(ColumnKind.self, forKey: .kind)
        transform = try c.decode(Transform.self, forKey: .transform)
        offset = try c.decode(Int.self, forKey: .offset)
        bins = try c.decode(Int.self, forKey: .bins)
        rareThreshold = try c.decodeIfPresent(Int.self, forKey: .rareThreshold) ?? 0
        kept = try c.decodeIfPresent(String.self, forKey: .kept)
        keptCount = try c.decodeIfPresent(Int.self, forKey: .keptCount)
        boundaries = try c.decodeIfPresent([Double].self, forKey: .boundaries)
        min = try c.decodeIfPresent(Double.self, forKey: .min)
        max = try c.decodeIfPresent(Double.self, forKey: .max)
        knots = try c.decodeIfPresent([Double].self, forKey: .knots)
        compression = try c.decodeIfPresent(SplineCompression.self, forKey: .compression)
        logSquare = try c.decodeIfPresent(LogSquareBuckets.self, forKey: .logSquare)
        // Report only: optional when reading.
        distinct = try c.decodeIfPresent(Int.self, forKey: .distinct) ?? 0
        distinctExact = try c.decodeIfPresent(Bool.self, forKey: .distinctExact) ?? false
        collisionRate = try c.decodeIfPresent(Double.self, forKey: .collisionRate)
        rareShare = try c.decodeIfPresent(Double.self, forKey: .rareShare)
        missingShare = try c.decodeIfPresent(Double.self, forKey: .missingShare)
    }

    /// Base64 of the little-endian bytes of the fingerprints.
    static func encodeFingerprints(_ values: [UInt64]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 8)
        for v in values {
            var le = v.littleEndian
            withUnsafeBytes(of: &le) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes).base64EncodedString()
    }

    /// The kept fingerprints, nil when the text is not base64 of whole UInt64s.
    func decodedKept() -> [UInt64]? {
        guard let kept else { return [] }
        guard let data = Data(base64Encoded: kept), data.count % 8 == 0 else { return nil }
        return data.withUnsafeBytes { raw in
            (0..<data.count / 8).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        }
    }
}
