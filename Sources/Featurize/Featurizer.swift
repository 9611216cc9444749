import Dataset
import Foundation
import Ingest
import LogIO

/// Turns rows into features exactly as ctr-hash did for training, from a `featurizer.json`.
///
/// Immutable and thread-safe: share one `Featurizer` between threads, give each thread its
/// own `RowFeaturizer` (which holds the raw-line parser and the output buffer).
///
/// ```swift
/// let featurizer = try Featurizer(contentsOf: "hashed/featurizer.json")
/// let row = try featurizer.makeRowFeaturizer()
/// switch row.featurize(rawLine: line) {
/// case .features(let label, let features): …   // one Feature per field (up to 5 for a spline field)
/// case .bad(let message): …
/// case .header: break
/// }
/// ```
public final class Featurizer: @unchecked Sendable {
    public let spec: FeaturizerSpec
    /// The file the spec came from, for messages.
    public let source: String
    /// Fields per row; every row gets one feature per field, except spline fields (1 to 4,
    /// or 1 to 5 with the log-square bucket).
    public var fieldCount: Int { spec.fields.count }
    /// Most features a row can have: 1 per field, 4 per spline field (5 with the log-square bucket).
    public let maxFeaturesPerRow: Int
    /// Whether any field is a spline (rows then have a variable number of features).
    public let hasSplines: Bool
    /// Per field, the first of its feature positions in a row of `maxFeaturesPerRow` positions.
    let positions: [Int]
    /// Every index is below this (the `n` of an FFM).
    public var indexCount: Int { spec.indexCount }

    let fields: UnsafeMutableBufferPointer<CompiledField>
    /// Owners of the memory the compiled fields point into.
    private let keptSets: [FingerprintSet?]
    private let boundaryStorage: UnsafeMutableBufferPointer<Double>
    private let smallIndexStorage: UnsafeMutableBufferPointer<UInt32>

    /// Loads and checks a featurizer.json.
    public convenience init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FeaturizeError.missingFile(path: path, detail: "cannot read the featurizer file")
        }
        let spec: FeaturizerSpec
        do {
            spec = try JSONDecoder().decode(FeaturizerSpec.self, from: data)
        } catch let error as DecodingError {
            throw FeaturizeError(decodingError: error, path: path)
        }
        try self.init(spec: spec, source: path)
    }

    /// Compiles a spec. `source` names it in error messages.
    public init(spec: FeaturizerSpec, source: String = "featurizer.json") throws {
        func fail(_ detail: String) -> FeaturizeError { .badFeaturizer(path: source, detail: detail) }
        guard spec.format == FeaturizerSpec.formatName else {
            throw fail("format is \"\(spec.format)\"; expected \"\(FeaturizerSpec.formatName)\"")
        }
        guard spec.version == FeaturizerSpec.currentVersion else {
            throw fail("version \(spec.version) is not supported (this build reads version \(FeaturizerSpec.currentVersion))")
        }
        guard spec.hash.function == FeaturizerSpec.hashFunctionName else {
            throw fail("hash.function is \"\(spec.hash.function)\"; expected \"\(FeaturizerSpec.hashFunctionName)\"")
        }
        guard !spec.fields.isEmpty else { throw fail("fields is empty; expected one field per output column") }
        guard spec.indexCount > 0, spec.indexCount <= Int(Int32.max) else {
            throw fail("index_count \(spec.indexCount) is out of range; expected 1…\(Int32.max)")
        }
        self.spec = spec
        self.source = source
        var sets: [FingerprintSet?] = []
        var allBoundaries: [Double] = []
        var compiled: [CompiledField] = []
        for (f, field) in spec.fields.enumerated() {
            let path = "fields[\(f)] (\(field.name))"
            guard field.bins >= 1, field.offset >= 0, field.offset + field.bins <= spec.indexCount else {
                throw fail("\(path): range [\(field.offset), \(field.offset + field.bins)) is not inside [0, \(spec.indexCount))")
            }
            if spec.layout == .perField {
                let least = field.transform == .scaled ? 2 : ReservedSlot.count + 1
                guard field.bins >= least else { throw fail("\(path): bins \(field.bins) is below \(least)") }
                if field.transform == .scaled && field.bins != 2 { throw fail("\(path): a scaled field has bins 2, found \(field.bins)") }
            }
            guard field.rareThreshold >= 0 else { throw fail("\(path): rare_threshold is negative") }
            var set: FingerprintSet?
            if field.rareThreshold > 0 {
                guard let kept = field.decodedKept(), field.kept != nil else {
                    throw fail("\(path): kept is missing or not base64 of 8-byte fingerprints (rare_threshold is \(field.rareThreshold))")
                }
                if let n = field.keptCount, n != kept.count {
                    throw fail("\(path): kept_count is \(n) but kept holds \(kept.count) fingerprints")
                }
                set = FingerprintSet(kept)
            }
            sets.append(set)
            let boundaryStart = allBoundaries.count
            if field.logSquare != nil && field.transform != .spline {
                throw fail("\(path): log_square only applies to the spline transform, not \"\(field.transform.rawValue)\"")
            }
            switch field.transform {
            case .hash:
                break
            case .logSquare:
                guard field.kind != .categorical else { throw fail("\(path): log-square needs an integer or float column") }
            case .buckets:
                guard field.kind != .categorical else { throw fail("\(path): buckets need an integer or float column") }
                guard let b = field.boundaries, !b.isEmpty, zip(b, b.dropFirst()).allSatisfy({ $0 < $1 }),
                      b.allSatisfy({ $0.isFinite }) else {
                    throw fail("\(path): boundaries must be finite and strictly increasing")
                }
                if spec.layout == .perField && field.bins != ReservedSlot.count + b.count + 1 {
                    throw fail("\(path): bins \(field.bins) does not match \(b.count) boundaries (expected \(ReservedSlot.count + b.count + 1))")
                }
                allBoundaries += b
            case .scaled:
                guard field.kind != .categorical else { throw fail("\(path): scaled needs an integer or float column") }
                guard let lo = field.min, let hi = field.max, lo.isFinite, hi.isFinite, lo <= hi else {
                    throw fail("\(path): a scaled field needs finite min <= max")
                }
            case .spline:
                guard field.kind != .categorical else { throw fail("\(path): spline needs an integer or float column") }
                guard field.compression != nil else { throw fail("\(path): compression is missing; expected \"log1p\" or \"none\"") }
                guard let k = field.knots, !k.isEmpty, zip(k, k.dropFirst()).allSatisfy({ $0 < $1 }), k.allSatisfy({ $0.isFinite }) else {
                    throw fail("\(path): knots must be at least one finite number, strictly increasing")
                }
                let buckets = field.logSquare?.count ?? 0
                if let b = field.logSquare, !(b.low >= LogSquareBuckets.lowestKey && b.low <= b.high && b.count <= LogSquareBuckets.maxCount) {
                    throw fail("\(path): log_square low \(b.low), high \(b.high); expected \(LogSquareBuckets.lowestKey) <= low <= high, "
                        + "at most \(LogSquareBuckets.maxCount) buckets")
                }
                let expected = ReservedSlot.count + Spline.basisCount(knots: k.count) + buckets
                if spec.layout == .perField && field.bins != expected {
                    throw fail("\(path): bins \(field.bins) does not match \(k.count) knots"
                        + (buckets > 0 ? " and \(buckets) log-square buckets" : "") + " (expected \(expected))")
                }
                allBoundaries += k
            }
            compiled.append(CompiledField(field: field, layout: spec.layout, seed: spec.hash.seed, set: set,
                                          boundaryStart: boundaryStart))
        }
        var positions: [Int] = []
        var width = 0
        for field in spec.fields {
            positions.append(width)
            width += field.transform == .spline ? (field.logSquare == nil ? 4 : 5) : 1
        }
        self.positions = positions
        maxFeaturesPerRow = width
        hasSplines = width != spec.fields.count
        keptSets = sets
        boundaryStorage = .allocate(capacity: max(allBoundaries.count, 1))
        _ = boundaryStorage.initialize(from: allBoundaries)
        fields = .allocate(capacity: compiled.count)
        _ = fields.initialize(from: compiled)
        for f in 0..<compiled.count {
            fields[f].boundaries = UnsafePointer(boundaryStorage.baseAddress! + compiled[f].boundaryStart)
            if let set = sets[f] { fields[f].kept = set.raw }
        }
        // Integer log-square fields without kept values: the indices of the small values'
        // tokens, computed once by the same `numericIndex`.
        let logs = LogSquareTable.shared
        let small = compiled.indices.filter { f in
            compiled[f].kind == .integer && compiled[f].transform == .logSquare && sets[f] == nil
        }
        smallIndexStorage = .allocate(capacity: max(small.count, 1) * logs.smallSlots)
        for (k, f) in small.enumerated() {
            let table = smallIndexStorage.baseAddress! + k * logs.smallSlots
            for v in 0..<LogSquareTable.limit {
                let token = logs.token(int: v)
                table[logs.slot(small: v)] = fields[f].numericIndex(tag: token.tag, bits: token.bits)
            }
            fields[f].smallIndices = UnsafePointer(table)
        }
    }

    deinit {
        fields.deallocate()
        boundaryStorage.deallocate()
        smallIndexStorage.deallocate()
    }

    /// The features of one row of normalized values (one per field, in field order; an empty
    /// value is missing), written to `out[0..<count]` in field order: one feature per field,
    /// 1 to 4 for a spline field (5 with the log-square bucket). `out` has room for `maxFeaturesPerRow`.
    ///
    /// - Returns: nil, or the number of the first field whose value does not parse as its
    ///   column's type (integer or float); `out` is then incomplete.
    /// - Complexity: O(total value bytes), no allocation.
    @inline(__always)
    public func featurize(values: UnsafeBufferPointer<ByteSlice>, into out: UnsafeMutablePointer<Feature>,
                          count: inout Int) -> Int? {
        let n = fields.count
        precondition(values.count >= n, "featurize: \(values.count) values for \(n) fields")
        let fs = UnsafePointer(fields.baseAddress!)
        var c = 0
        for f in 0..<n {
            if fs[f].transform == .spline {
                guard let written = fs[f].splineFeatures(values[f], field: f, into: out + c, pad: false) else { return f }
                c += written
                continue
            }
            guard let (index, value) = fs[f].feature(values[f]) else { return f }
            out[c] = Feature(field: UInt32(truncatingIfNeeded: f), index: index, value: value)
            c += 1
        }
        count = c
        return nil
    }

    /// `featurize(values:into:count:)` without the count, for callers that know the row's
    /// features fill `out[0..<fieldCount]` (no spline field).
    @inline(__always)
    public func featurize(values: UnsafeBufferPointer<ByteSlice>, into out: UnsafeMutablePointer<Feature>) -> Int? {
        var count = 0
        return featurize(values: values, into: out, count: &count)
    }

    /// A per-thread featurizer for raw log lines (parsed with the featurizer's schema) and
    /// rows-file lines.
    /// - Parameter labelMode: whether raw lines carry the label column (`.optional` accepts both).
    public func makeRowFeaturizer(labelMode: LabelMode = .optional) throws -> RowFeaturizer {
        try RowFeaturizer(featurizer: self, labelMode: labelMode)
    }
}

/// What `RowFeaturizer` made of one line. `features` points into the row featurizer's
/// buffer: valid until its next call.
public enum FeaturizedLine {
    /// The row's features; `label` is nil for a raw line without the label column.
    case features(label: UInt8?, features: UnsafeBufferPointer<Feature>)
    /// A header line of the raw schema (skip it).
    case header
    /// The line is not a valid row: why, naming the column and value.
    case bad(message: String)
}

/// One thread's featurizer: parses lines and featurizes them into its own buffer with no
/// allocation per line.
public final class RowFeaturizer {
    public let featurizer: Featurizer
    /// The raw-line parser of the featurizer's schema (e.g. for `RawLogReader(path:parser:)`,
    /// which skips headers and byte order marks as ctr-ingest does).
    public let parser: RowParser
    private let buffer: UnsafeMutableBufferPointer<Feature>
    private let rowValues: UnsafeMutableBufferPointer<ByteSlice>
    private let offsets: UnsafeMutablePointer<UInt32>
    /// The regression target of the last line featurized (#13: a schema with a `target`
    /// column; its `label` is then 0), nil otherwise or when the line had no label.
    public private(set) var lastTarget: Float?

    init(featurizer: Featurizer, labelMode: LabelMode) throws {
        self.featurizer = featurizer
        parser = try RowParser(schema: featurizer.spec.schema, labelMode: labelMode)
        guard parser.outputColumns.count == featurizer.fieldCount else {
            throw FeaturizeError.badFeaturizer(path: featurizer.source,
                detail: "the schema has \(parser.outputColumns.count) output columns but there are \(featurizer.fieldCount) fields")
        }
        buffer = .allocate(capacity: featurizer.maxFeaturesPerRow)
        rowValues = .allocate(capacity: featurizer.fieldCount + 1)
        offsets = .allocate(capacity: featurizer.fieldCount + 1)
    }

    deinit {
        buffer.deallocate()
        rowValues.deallocate()
        offsets.deallocate()
    }

    private var featureCount = 0
    private var features: UnsafeBufferPointer<Feature> { UnsafeBufferPointer(rebasing: buffer[0..<featureCount]) }

    /// Featurizes a raw log line in the featurizer's schema (the same parser as ctr-ingest).
    public func featurize(rawLine line: ByteSlice) -> FeaturizedLine {
        switch parser.parse(line) {
        case .row(let row):
            lastTarget = row.target.flatMap { ByteParsing.double($0) }.map { Float($0) }
            if let f = featurizer.featurize(values: row.values, into: buffer.baseAddress!, count: &featureCount) {
                return .bad(message: "column \(featurizer.spec.fields[f].name): cannot read \"\(row.values[f].string)\" "
                    + "as \(featurizer.spec.fields[f].kind.rawValue)")
            }
            return .features(label: row.label, features: features)
        case .bad(let bad):
            if parser.isHeader(line) { return .header }
            return .bad(message: parser.message(for: bad))
        }
    }

    /// Featurizes a line of a ctr-ingest rows file (`label<TAB>v1…vn`).
    public func featurize(rowsLine line: ByteSlice) -> FeaturizedLine {
        let n = featurizer.fieldCount
        guard let base = line.baseAddress else { return .bad(message: "empty line; expected label<TAB>values") }
        var start = 0
        lastTarget = nil
        if featurizer.spec.schema.hasRealTarget {
            // The first field is a regression target (#13): read it, then split after it.
            var tab = 0
            while tab < line.count && base[tab] != 9 { tab += 1 }
            guard let y = ByteParsing.double(ByteSlice(start: base, count: tab)), y.isFinite, tab > 0 else {
                return .bad(message: "found target \"\(ByteSlice(start: base, count: min(tab, 40)).string)\"; expected a finite number in the first field")
            }
            lastTarget = Float(y)
            start = tab - 1
        }
        if let message = RowSplitter.split(base, start: start, end: line.count, fieldCount: n, into: offsets,
                                           checkLabel: lastTarget == nil) {
            return .bad(message: message)
        }
        for f in 0..<n {
            let start = Int(offsets[f])
            rowValues[f] = ByteSlice(start: base + start, count: Int(offsets[f + 1]) - 1 - start)
        }
        let values = UnsafeBufferPointer(rebasing: rowValues[0..<n])
        if let f = featurizer.featurize(values: values, into: buffer.baseAddress!, count: &featureCount) {
            return .bad(message: "column \(featurizer.spec.fields[f].name): cannot read \"\(values[f].string)\" "
                + "as \(featurizer.spec.fields[f].kind.rawValue)")
        }
        return .features(label: lastTarget == nil ? base[0] &- 48 : 0, features: features)
    }
}

/// A field ready for the hot loop: plain values and unowned pointers, no references.
struct CompiledField {
    let kind: ColumnKind
    let transform: Transform
    let shared: Bool
    let offset: UInt32
    /// Per-field: slots for hashed values (bins - 2); shared: the shared space size.
    let hashedBins: UInt32
    let seed: UInt32
    let threshold: Int
    var kept: FingerprintSet.Raw?
    var boundaries: UnsafePointer<Double>?
    let boundaryStart: Int
    let boundaryCount: Int
    let minimum: Double
    let maximum: Double
    /// `spline`: the compression (the knots are at `boundaries`, `boundaryCount` of them).
    let compression: SplineCompression
    /// `spline` with the log-square bucket: the buckets (count 0 without), and the slot of
    /// the first after the basis functions (per-field layout).
    let logSquare: LogSquareBuckets
    let logSquareCount: Int
    let logSquareStart: UInt32
    let logs = LogSquareTable.shared
    /// An integer `log-square` field without kept values: the index of the token of every
    /// value 0..<LogSquareTable.limit, by `logs.slot(small:)` (no hash in the hot loop).
    var smallIndices: UnsafePointer<UInt32>?
    /// `hashedBins - 1` when it is a power of two (then `h % hashedBins == h & hashedMask`), else 0.
    let hashedMask: UInt32
    /// Precomputed indices of the special tokens.
    let missingIndex: UInt32
    let rareIndex: UInt32

    init(field: FieldSpec, layout: FeaturizerSpec.Layout, seed userSeed: UInt32, set: FingerprintSet?, boundaryStart: Int) {
        kind = field.kind
        transform = field.transform
        shared = layout == .shared
        offset = UInt32(field.offset)
        seed = Token.fieldSeed(name: field.name, seed: userSeed)
        threshold = field.rareThreshold
        self.boundaryStart = boundaryStart
        boundaryCount = field.boundaries?.count ?? field.knots?.count ?? 0
        compression = field.compression ?? .none
        logSquare = field.logSquare ?? LogSquareBuckets(low: 0, high: 0)
        logSquareCount = field.logSquare?.count ?? 0
        logSquareStart = UInt32(truncatingIfNeeded: field.offset + ReservedSlot.count + Spline.basisCount(knots: field.knots?.count ?? 0))
        minimum = field.min ?? 0
        maximum = field.max ?? 0
        if shared {
            hashedBins = UInt32(field.bins)
            missingIndex = CompiledField.special(seed: seed, tag: 1) % hashedBins
            rareIndex = CompiledField.special(seed: seed, tag: 2) % hashedBins
        } else {
            hashedBins = UInt32(field.bins - ReservedSlot.count)
            missingIndex = UInt32(field.offset + ReservedSlot.missing)
            rareIndex = UInt32(field.offset + ReservedSlot.rare)
        }
        hashedMask = hashedBins & (hashedBins &- 1) == 0 ? hashedBins &- 1 : 0
    }

    /// The hash of a special token in the shared space: Murmur3 of no bytes, seed fieldSeed + tag
    /// (1 missing, 2 rare, 3 the scaled value).
    static func special(seed: UInt32, tag: UInt32) -> UInt32 {
        Murmur3.hash32(UnsafeRawBufferPointer(start: nil, count: 0), seed: seed &+ tag)
    }

    /// The index of a hashed token, or the rare index when it is not among the kept values.
    @inline(__always)
    func hashedIndex(_ token: UnsafeRawBufferPointer) -> UInt32 {
        let h1: UInt32
        if let kept {
            let (a, b) = Token.murmur3Pair(token, seed, Token.secondSeed(seed))
            if !kept.contains(UInt64(a) << 32 | UInt64(b)) { return rareIndex }
            h1 = a
        } else {
            h1 = Murmur3.hash32(token, seed: seed)
        }
        return shared ? reduce(h1) : offset &+ UInt32(ReservedSlot.count) &+ reduce(h1)
    }

    /// `hashedIndex` of a numeric token (9 bytes: tag, value little-endian), computed in registers.
    @inline(__always)
    func numericIndex(tag: UInt8, bits: UInt64) -> UInt32 {
        let (h1, h2) = Token.murmur3Numeric(tag: tag, bits: bits, seed, Token.secondSeed(seed))
        if let kept, !kept.contains(UInt64(h1) << 32 | UInt64(h2)) { return rareIndex }
        return shared ? reduce(h1) : offset &+ UInt32(ReservedSlot.count) &+ reduce(h1)
    }

    /// The index of a token whose first hash is `h1`, in a field without kept values.
    @inline(__always)
    func index(h1: UInt32) -> UInt32 {
        shared ? reduce(h1) : offset &+ UInt32(ReservedSlot.count) &+ reduce(h1)
    }

    /// `h % hashedBins`, with a mask when the size is a power of two.
    @inline(__always)
    func reduce(_ h: UInt32) -> UInt32 { hashedMask != 0 ? h & hashedMask : h % hashedBins }

    /// The fingerprint of a non-empty value of a field with kept values (`hash` or
    /// `log-square`): nil when a number does not parse.
    @inline(__always)
    func fingerprint(_ value: ByteSlice) -> UInt64? {
        if transform == .hash { return Token.fingerprint(UnsafeRawBufferPointer(value), seed: seed) }
        guard let token = logSquareToken(value) else { return nil }
        return Token.numericFingerprint(tag: token.tag, bits: token.bits, seed: seed)
    }

    @inline(__always)
    func logSquareToken(_ value: ByteSlice) -> (tag: UInt8, bits: UInt64)? {
        CompiledField.logSquareToken(value, kind, logs)
    }

    /// The log-square token of a number (the Criteo winners' rule): nil when it does not parse.
    @inline(__always)
    static func logSquareToken(_ value: ByteSlice, _ kind: ColumnKind, _ logs: LogSquareTable) -> (tag: UInt8, bits: UInt64)? {
        if kind == .integer {
            guard let v = ByteParsing.int64(value) else { return nil }
            return logs.token(int: v)
        }
        guard let v = ByteParsing.double(value), v.isFinite else { return nil }
        return Token.logSquare(double: v)
    }

    /// The features of `count` rows of a field with kept values from their fingerprints
    /// (rows without a value are skipped: their missing feature is already written), into
    /// `out[r * stride + position]`. The kept-set slots of each group of 16 are loaded
    /// together first (independent loads the CPU overlaps), then looked up.
    /// - Returns: a meaningless sum of the touched keys (store it, so the loads stay).
    @inline(__always)
    func resolveKept(keys: UnsafePointer<UInt64>, present: UnsafePointer<UInt8>, count: Int, field: Int, position: Int,
                     out: UnsafeMutablePointer<Feature>, stride: Int) -> UInt64 {
        let kept = self.kept!
        let fieldNumber = UInt32(field)
        var sink: UInt64 = 0
        var g = 0
        while g < count {
            let end = min(count, g + 16)
            for k in g..<end { sink &+= kept.keys[Int(truncatingIfNeeded: keys[k]) & kept.mask] }
            for k in g..<end where present[k] != 0 {
                let fp = keys[k]
                let index: UInt32
                if kept.contains(fp) {
                    let h1 = UInt32(truncatingIfNeeded: fp >> 32)
                    index = shared ? reduce(h1) : offset &+ UInt32(ReservedSlot.count) &+ reduce(h1)
                } else {
                    index = rareIndex
                }
                out[k * stride + position] = Feature(field: fieldNumber, index: index, value: 1)
            }
            g = end
        }
        return sink
    }

    /// The feature of one value: nil when a number does not parse.
    @inline(__always)
    func feature(_ value: ByteSlice) -> (UInt32, Float)? {
        if value.count == 0 { return (missingIndex, 1) }
        switch transform {
        case .hash:
            return (hashedIndex(UnsafeRawBufferPointer(value)), 1)
        case .logSquare:
            if let smallIndices {
                guard let v = ByteParsing.int64(value) else { return nil }
                if v >= 0 && v < LogSquareTable.limit { return (smallIndices[logs.slot(small: v)], 1) }
                let token = logs.token(int: v)
                return (numericIndex(tag: token.tag, bits: token.bits), 1)
            }
            guard let token = logSquareToken(value) else { return nil }
            return (numericIndex(tag: token.tag, bits: token.bits), 1)
        case .buckets:
            guard let v = CompiledField.number(value, kind) else { return nil }
            let b = Token.bucket(v, boundaries: UnsafeBufferPointer(start: boundaries, count: boundaryCount))
            if shared {
                return (Token.withNumericToken(tag: Token.bucketTag, bits: UInt64(b)) { Murmur3.hash32($0, seed: seed) } % hashedBins, 1)
            }
            return (offset &+ UInt32(ReservedSlot.count + b), 1)
        case .scaled:
            guard let v = CompiledField.number(value, kind) else { return nil }
            let micros = Token.scaledMicros(v, min: minimum, max: maximum)
            let index = shared ? CompiledField.special(seed: seed, tag: 3) % hashedBins : offset &+ 1
            return (index, Float(Double(micros) / 1_000_000))
        case .spline:
            preconditionFailure("a spline field has several features: splineFeatures(_:field:into:pad:)")
        }
    }

    /// The features of a spline field's value, in basis order, to `out`: the missing feature
    /// for an empty value, else one feature per basis function non-zero at the (compressed,
    /// clamped) value, its weight the value, then with `logSquare` the value's log-square
    /// bucket (value 1). With `pad`, the positions up to 4 (5 with the bucket) that are not
    /// used get `Feature.absent`.
    /// - Returns: the features written (1…5, not counting padding), nil when the number does not parse.
    @inline(__always)
    func splineFeatures(_ value: ByteSlice, field: Int, into out: UnsafeMutablePointer<Feature>, pad: Bool) -> Int? {
        let fieldNumber = UInt32(truncatingIfNeeded: field)
        var c = 0
        if value.count == 0 {
            out[0] = Feature(field: fieldNumber, index: missingIndex, value: 1)
            c = 1
        } else {
            guard let v = CompiledField.number(value, kind) else { return nil }
            var first = 0
            var w: (Double, Double, Double, Double) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &w) { raw in
                Spline.evaluate(compression.apply(v), knots: UnsafeBufferPointer(start: boundaries, count: boundaryCount),
                                first: &first, into: raw.baseAddress!.assumingMemoryBound(to: Double.self))
            }
            @inline(__always) func put(_ i: Int, _ weight: Double) {
                let x = Float(weight)
                guard x > 0 else { return }
                let basis = first + i
                let index = shared
                    ? Token.withNumericToken(tag: Token.splineTag, bits: UInt64(basis)) { Murmur3.hash32($0, seed: seed) } % hashedBins
                    : offset &+ UInt32(ReservedSlot.count + basis)
                out[c] = Feature(field: fieldNumber, index: index, value: x)
                c += 1
            }
            put(0, w.0); put(1, w.1); put(2, w.2); put(3, w.3)
            if c == 0 {   // cannot happen (the weights sum to 1); keep the row well formed
                out[0] = Feature(field: fieldNumber, index: shared ? missingIndex : offset &+ UInt32(ReservedSlot.count + first), value: 1)
                c = 1
            }
            if logSquareCount > 0 {
                let b = logSquare.bucket(v)
                let index = shared ? numericIndex(tag: Token.logTag, bits: UInt64(bitPattern: Int64(b + logSquare.low)))
                    : logSquareStart &+ UInt32(b)
                out[c] = Feature(field: fieldNumber, index: index, value: 1)
                c += 1
            }
        }
        if pad { for i in c..<(logSquareCount > 0 ? 5 : 4) { out[i] = Feature.absent(field: fieldNumber) } }
        return c
    }

    @inline(__always)
    static func number(_ value: ByteSlice, _ kind: ColumnKind) -> Double? {
        if kind == .integer {
            guard let v = ByteParsing.int64(value) else { return nil }
            return Double(v)
        }
        guard let v = ByteParsing.double(value), v.isFinite else { return nil }
        return v
    }
}

extension FeaturizeError {
    /// A decoding error as a message with the JSON path.
    init(decodingError error: DecodingError, path: String) {
        func render(_ keys: [CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
            }
            return out
        }
        switch error {
        case let .keyNotFound(key, context):
            self = .badJSON(path: path, codingPath: render(context.codingPath + [key]), detail: "missing; expected a value for \"\(key.stringValue)\"")
        case let .typeMismatch(type, context):
            self = .badJSON(path: path, codingPath: render(context.codingPath), detail: "has the wrong type; expected \(type)")
        case let .valueNotFound(type, context):
            self = .badJSON(path: path, codingPath: render(context.codingPath), detail: "is null; expected \(type)")
        case let .dataCorrupted(context):
            var detail = context.debugDescription
            if context.codingPath.isEmpty, let underlying = context.underlyingError { detail = "not valid JSON (\(underlying.localizedDescription))" }
            self = .badJSON(path: path, codingPath: render(context.codingPath), detail: detail)
        @unknown default:
            self = .badJSON(path: path, codingPath: "", detail: "\(error)")
        }
    }
}

extension Feature {
    /// A placeholder for an unused position of a spline field in a fixed-width row: removed
    /// before the row is written (its index is beyond any featurizer's range).
    @inline(__always)
    static func absent(field: UInt32) -> Feature { Feature(field: field, index: .max, value: 0) }

    @inline(__always)
    var isAbsent: Bool { index == .max && value == 0 }
}
