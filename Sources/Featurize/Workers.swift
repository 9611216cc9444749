import Dataset
import Foundation
import Ingest
import LogIO

/// Turns a chunk's lines into prepared rows: rows-file lines split in place, raw log lines
/// normalized through ctr-ingest's `RowParser`. One per thread (the parser has scratch memory).
final class RowPreparer {
    private let fieldCount: Int
    private let parser: RowParser?

    init(source: InputSource) throws {
        fieldCount = source.columns.count
        parser = source.format == .raw ? try RowParser(schema: source.schema, labelMode: .required) : nil
    }

    func prepare(_ chunk: LineChunk) {
        if let parser {
            chunk.prepareRaw(parser: parser)
        } else {
            chunk.prepareRows(fieldCount: fieldCount)
        }
    }
}

/// The earliest problem found in a chunk: rows are processed field by field, so each field
/// loop stops at its first error and the earliest row wins.
struct FirstError {
    var row = Int.max
    var error: Error?

    @inline(__always)
    mutating func note(row: Int, _ make: () -> Error) {
        if row < self.row {
            self.row = row
            error = make()
        }
    }

    /// Starts from the chunk's malformed line, if any.
    init(_ chunk: LineChunk) {
        if let invalid = chunk.invalid {
            row = invalid.row
            error = FeaturizeError.badRow(path: chunk.path, line: chunk.firstLine + invalid.line, detail: invalid.message)
        }
    }
}

/// Counts the tokens of its share of the fields over every chunk of the training split,
/// one field at a time over the chunk's rows.
final class CountWorker: @unchecked Sendable {
    private struct Plan {
        let field: Int
        let transform: Transform
        let kind: ValueType
        let seed: UInt32
        let counted: Bool
    }

    private let plans: [Plan]
    private let counts: FieldCounts
    private let columnNames: [String]
    private(set) var rows = 0
    private let countsRows: Bool

    init(fields: [Int], drafts: [HashRun.FieldDraft], counts: FieldCounts, countsRows: Bool) {
        plans = fields.map { f in
            Plan(field: f, transform: drafts[f].transform, kind: drafts[f].kind, seed: drafts[f].seed, counted: drafts[f].counted)
        }
        self.counts = counts
        self.countsRows = countsRows
        columnNames = drafts.map(\.name)
    }

    /// Counts a prepared chunk: field by field over blocks of rows (the block's lines stay
    /// in cache across fields, each field's table across the block).
    func process(_ chunk: LineChunk) throws {
        var first = FirstError(chunk)
        let rowCount = chunk.rowCount
        if countsRows { rows += rowCount }
        var blockStart = 0
        while blockStart < min(rowCount, first.row) {
            let blockEnd = min(rowCount, blockStart + FeaturizeWorker.blockRows)
            for plan in plans { count(plan, blockStart..<blockEnd, chunk, &first) }
            blockStart = blockEnd
        }
        if let error = first.error { throw error }
    }

    @inline(__always)
    private func count(_ plan: Plan, _ rows: Range<Int>, _ chunk: LineChunk, _ first: inout FirstError) {
            let count = counts.fields + plan.field
            let limit = min(rows.upperBound, first.row)
            var missing = 0
            var r = rows.lowerBound
            switch plan.transform {
            case .hash:
                // In groups: hash a group, touch the table slots of all of them (independent
                // loads the CPU overlaps), then count them.
                var group: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
                    (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                withUnsafeMutableBytes(of: &group) { raw in
                    let fps = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
                    while r < limit {
                        let end = min(limit, r + 16)
                        var m = 0
                        while r < end {
                            let value = chunk.value(r, plan.field)
                            if value.count == 0 {
                                missing += 1
                            } else {
                                fps[m] = Token.fingerprint(UnsafeRawBufferPointer(value), seed: plan.seed)
                                m += 1
                            }
                            r += 1
                        }
                        guard plan.counted else { continue }
                        count.pointee.touch(UnsafeBufferPointer(start: fps, count: m))
                        for k in 0..<m { count.pointee.add(fps[k]) }
                    }
                }
            case .logSquare:
                let logs = LogSquareTable.shared
                while r < limit {
                    let value = chunk.value(r, plan.field)
                    r += 1
                    if value.count == 0 {
                        missing += 1
                        continue
                    }
                    let token: (tag: UInt8, bits: UInt64)
                    if plan.kind == .integer {
                        guard let v = Token.int64(value) else {
                            first.note(row: r - 1) { badValue(chunk, r - 1, plan.field, plan.kind, value) }
                            break
                        }
                        token = logs.token(int: v)
                        if count.pointee.mode == .integerTokens {
                            count.pointee.addInteger(v, token: token.bits) {
                                Token.numericFingerprint(tag: token.tag, bits: token.bits, seed: plan.seed)
                            }
                            continue
                        }
                    } else {
                        guard let v = ByteParsing.double(value), v.isFinite else {
                            first.note(row: r - 1) { badValue(chunk, r - 1, plan.field, plan.kind, value) }
                            break
                        }
                        token = Token.logSquare(double: v)
                    }
                    if plan.counted {
                        count.pointee.add(Token.numericFingerprint(tag: token.tag, bits: token.bits, seed: plan.seed))
                    }
                }
            case .scaled, .buckets:
                var lo = count.pointee.minimum, hi = count.pointee.maximum
                while r < limit {
                    let value = chunk.value(r, plan.field)
                    r += 1
                    if value.count == 0 {
                        missing += 1
                        continue
                    }
                    guard let v = CompiledField.number(value, plan.kind) else {
                        first.note(row: r - 1) { badValue(chunk, r - 1, plan.field, plan.kind, value) }
                        break
                    }
                    if v < lo { lo = v }
                    if v > hi { hi = v }
                }
                count.pointee.minimum = lo
                count.pointee.maximum = hi
            }
            count.pointee.missing += missing
            count.pointee.present += r - rows.lowerBound - missing
    }

    private func badValue(_ chunk: LineChunk, _ r: Int, _ field: Int, _ kind: ValueType, _ value: ByteSlice) -> FeaturizeError {
        .badValue(path: chunk.path, line: chunk.lineNumber(ofRow: r), column: columnNames[field], value: value.string,
                  expected: kind == .integer ? "a 64-bit integer" : "a finite number")
    }
}

/// A chunk of lines and what a worker made of them: features (row-major, one per field),
/// labels in the chunk, libffm text.
final class FeaturizeSlot: @unchecked Sendable {
    let chunk: LineChunk
    private(set) var text: UnsafeMutablePointer<UInt8>
    private var textCapacity: Int
    var textUsed = 0
    private(set) var features: UnsafeMutablePointer<Feature>
    private var featureCapacity: Int

    init(capacity: Int) {
        chunk = LineChunk(capacity: capacity)
        textCapacity = capacity * 2
        text = .allocate(capacity: textCapacity)
        featureCapacity = 1024
        features = .allocate(capacity: featureCapacity)
    }

    deinit {
        text.deallocate()
        features.deallocate()
    }

    var rows: Int { chunk.rowCount }

    func reserveFeatures(_ n: Int) {
        if n > featureCapacity {
            features.deallocate()
            featureCapacity = n
            features = .allocate(capacity: n)
        }
    }

    func reserveText(_ n: Int) {
        if n > textCapacity {
            text.deallocate()
            textCapacity = n
            text = .allocate(capacity: n)
        }
    }
}

/// Featurizes chunks (one worker per thread): prepares the rows, computes the features
/// field by field, then writes the libffm text row by row.
final class FeaturizeWorker: @unchecked Sendable {
    static let blockRows = 512
    /// Receives the sums of touched keys (see `keptHashBlock`).
    private(set) var sink: UInt64 = 0
    private let featurizer: Featurizer
    private let preparer: RowPreparer
    private let writeText: Bool
    private let prefixes: LibffmText.FieldPrefixes

    init(featurizer: Featurizer, source: InputSource, writeText: Bool) throws {
        self.featurizer = featurizer
        preparer = try RowPreparer(source: source)
        self.writeText = writeText
        prefixes = LibffmText.FieldPrefixes(fieldCount: featurizer.fieldCount)
    }

    func process(_ slot: FeaturizeSlot) throws {
        let chunk = slot.chunk
        preparer.prepare(chunk)
        let fieldCount = featurizer.fieldCount
        var first = FirstError(chunk)
        let rows = min(chunk.rowCount, first.row)
        slot.reserveFeatures(rows * fieldCount)
        let features = slot.features
        let fields = UnsafePointer(featurizer.fields.baseAddress!)
        // Field by field over blocks of rows: the field's kept set stays in cache, and so
        // does the block of output rows.
        var blockStart = 0
        while blockStart < rows {
            let blockEnd = min(rows, blockStart + FeaturizeWorker.blockRows)
            for f in 0..<fieldCount {
                let field = fields + f
                let fieldNumber = UInt32(f)
                if field.pointee.transform == .hash && field.pointee.kept != nil {
                    sink &+= field.pointee.keptHashBlock(chunk: chunk, field: f, rows: blockStart..<blockEnd,
                                                         out: features, stride: fieldCount)
                    continue
                }
                for r in blockStart..<blockEnd {
                    let value = chunk.value(r, f)
                    guard let (index, x) = field.pointee.feature(value) else {
                        let spec = featurizer.spec.fields[f]
                        first.note(row: r) {
                            FeaturizeError.badValue(path: chunk.path, line: chunk.lineNumber(ofRow: r), column: spec.name,
                                                    value: value.string,
                                                    expected: spec.kind == .integer ? "a 64-bit integer" : "a finite number")
                        }
                        break
                    }
                    features[r * fieldCount + f] = Feature(field: fieldNumber, index: index, value: x)
                }
            }
            blockStart = blockEnd
        }
        if let error = first.error { throw error }
        slot.textUsed = 0
        if writeText {
            slot.reserveText(rows * LibffmText.rowBound(fieldCount: fieldCount))
            let text = slot.text
            var used = 0
            let labels = chunk.labels
            for r in 0..<rows {
                used += LibffmText.format(label: labels[r], features: features + r * fieldCount, count: fieldCount,
                                          prefixes: prefixes, into: text + used)
            }
            slot.textUsed = used
        }
    }
}

/// Formatting libffm text lines (`label field:index:value …\n`) straight into a buffer.
/// Values use Dataset's `FloatText`, so the text reads back to the cached Float exactly.
enum LibffmText {
    /// `" f:"` for every field (8 bytes per field, little-endian packed, and its length), and
    /// the two-digit table, held where the hot loop can reach them without globals.
    struct FieldPrefixes {
        let packed: [UInt64]
        let lengths: [Int]
        let pairs: [UInt8]

        init(fieldCount: Int) {
            var packed: [UInt64] = []
            var lengths: [Int] = []
            for f in 0..<fieldCount {
                let bytes = Array(" \(f):".utf8)
                var word: UInt64 = 0
                for (i, b) in bytes.prefix(8).enumerated() { word |= UInt64(b) << (8 * UInt64(i)) }
                packed.append(word)
                lengths.append(bytes.count)
            }
            self.packed = packed
            self.lengths = lengths
            var pairs: [UInt8] = []
            for i in 0..<100 {
                pairs.append(UInt8(48 + i / 10))
                pairs.append(UInt8(48 + i % 10))
            }
            self.pairs = pairs
        }
    }

    /// Bytes a row can take at most: label, newline, and per field prefix (≤ 8), index (≤ 10),
    /// `:` and a value (≤ 32).
    static func rowBound(fieldCount: Int) -> Int { 2 + fieldCount * 51 }

    @inline(__always)
    static func format(label: UInt8, features: UnsafePointer<Feature>, count: Int, prefixes: FieldPrefixes,
                       into out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = 48 &+ label
        var n = 1
        prefixes.packed.withUnsafeBufferPointer { packed in
            prefixes.lengths.withUnsafeBufferPointer { lengths in
                prefixes.pairs.withUnsafeBufferPointer { pairs in
                    for i in 0..<count {
                        let feature = features[i]
                        let f = Int(feature.field)
                        if f < packed.count {
                            UnsafeMutableRawPointer(out + n).storeBytes(of: packed[f].littleEndian, as: UInt64.self)
                            n += lengths[f]
                        } else {
                            out[n] = 32
                            n += 1
                            n += formatInt(Int64(feature.field), into: out + n)
                            out[n] = 58
                            n += 1
                        }
                        n += formatUInt32(feature.index, into: out + n, pairs: pairs.baseAddress!)
                        out[n] = 58
                        if feature.value == 1 {
                            out[n + 1] = 49
                            n += 2
                        } else {
                            n += 1
                            n += FloatText.format(feature.value, into: out + n)
                        }
                    }
                }
            }
        }
        out[n] = 10
        return n + 1
    }

    /// Number of decimal digits of a UInt32 (1 for 0), without division.
    @inline(__always)
    static func digitCount(_ value: UInt32) -> Int {
        if value < 10 { return 1 }
        // floor(log10(2^bits)) from the bit length, corrected by one comparison.
        let bits = 32 - value.leadingZeroBitCount
        let t = (bits &* 1233) >> 12
        let power: UInt32
        switch t {
        case 1: power = 10
        case 2: power = 100
        case 3: power = 1000
        case 4: power = 10_000
        case 5: power = 100_000
        case 6: power = 1_000_000
        case 7: power = 10_000_000
        case 8: power = 100_000_000
        default: power = 1_000_000_000
        }
        return value >= power ? t + 1 : t
    }

    /// Decimal digits of a UInt32, two at a time.
    @inline(__always)
    static func formatUInt32(_ value: UInt32, into out: UnsafeMutablePointer<UInt8>, pairs: UnsafePointer<UInt8>) -> Int {
        let digits = digitCount(value)
        var x = value
        var i = digits
        while x >= 100 {
            let r = Int(x % 100)
            x /= 100
            i -= 2
            out[i] = pairs[2 * r]
            out[i + 1] = pairs[2 * r + 1]
        }
        if x >= 10 {
            out[i - 2] = pairs[2 * Int(x)]
            out[i - 1] = pairs[2 * Int(x) + 1]
        } else {
            out[i - 1] = 48 &+ UInt8(x)
        }
        return digits
    }
}
