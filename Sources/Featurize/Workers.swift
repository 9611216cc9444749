import Dataset
import Foundation
import Ingest
import LogIO

/// Turns a chunk's lines into prepared rows: rows-file lines split in place, raw log lines
/// normalized through ctr-ingest's `RowParser`. One per thread (the parser has scratch memory).
final class RowPreparer {
    private let fieldCount: Int
    private let parser: RowParser?
    private let realTargets: Bool

    init(source: InputSource) throws {
        fieldCount = source.columns.count
        realTargets = source.schema.hasRealTarget
        parser = source.format == .raw ? try RowParser(schema: source.schema, labelMode: .required) : nil
    }

    func prepare(_ chunk: LineChunk) {
        if let parser {
            chunk.prepareRaw(parser: parser)
        } else {
            chunk.prepareRows(fieldCount: fieldCount, realTargets: realTargets)
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

/// Counts the tokens of its share of the fields over every chunk of the training split.
///
/// Per block of rows: first row by row (each line's bytes read once, in order) every value
/// becomes a token fingerprint in a per-field buffer, then field by field the buffered
/// fingerprints go into the field's table, their slots loaded together first.
final class CountWorker: @unchecked Sendable {
    private struct Plan {
        enum Work { case hashed, integerTokens, numericCounted, range, spline, none }
        let field: Int
        let work: Work
        let kind: ValueType
        let seed: UInt32
        var compression = SplineCompression.none
    }

    private let plans: [Plan]
    private let counts: FieldCounts
    /// Samples of the spline fields' (compressed) values, for their knots.
    private let samples: SplineSamples?
    private let columnNames: [String]
    private(set) var rows = 0
    private let countsRows: Bool
    /// Per plan, a block of fingerprints (`blockRows` each), and how many are filled.
    private let keys: UnsafeMutablePointer<UInt64>
    private let filled: UnsafeMutablePointer<Int>
    private let missing: UnsafeMutablePointer<Int>
    private let minimum: UnsafeMutablePointer<Double>
    private let maximum: UnsafeMutablePointer<Double>
    /// With `keepsResident`: per plan, the storage of each chunk kept (`ResidentRows`).
    private(set) var resident: [[UnsafeMutableRawPointer]]
    private let keepsResident: ResidentArena?
    /// Set when the arena could not give memory for a chunk: nothing more is kept.
    private var residentLost = false
    private let residentWords: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>?>
    private let residentPresent: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>
    static let blockRows = 512

    init(fields: [Int], drafts: [HashRun.FieldDraft], counts: FieldCounts, countsRows: Bool, samples: SplineSamples? = nil,
         keepsResident: ResidentArena? = nil) {
        plans = fields.map { f in
            let d = drafts[f]
            let work: Plan.Work
            switch d.transform {
            case .hash: work = d.counted ? .hashed : .none
            case .logSquare:
                if !d.counted {
                    work = .range   // parsed for the errors only
                } else if d.kind == .integer && counts.fields[f].mode == .integerTokens {
                    work = .integerTokens
                } else {
                    work = .numericCounted
                }
            case .scaled, .buckets: work = .range
            case .spline: work = samples == nil ? .range : .spline
            }
            return Plan(field: f, work: work, kind: d.kind, seed: d.seed, compression: d.compression)
        }
        self.counts = counts
        self.samples = samples
        self.countsRows = countsRows
        columnNames = drafts.map(\.name)
        let n = max(fields.count, 1)
        keys = .allocate(capacity: n * CountWorker.blockRows)
        filled = .allocate(capacity: n)
        missing = .allocate(capacity: n)
        missing.initialize(repeating: 0, count: n)
        minimum = .allocate(capacity: n)
        minimum.initialize(repeating: .infinity, count: n)
        maximum = .allocate(capacity: n)
        maximum.initialize(repeating: -.infinity, count: n)
        self.keepsResident = keepsResident
        resident = Array(repeating: [], count: fields.count)
        residentWords = .allocate(capacity: n)
        residentWords.initialize(repeating: nil, count: n)
        residentPresent = .allocate(capacity: n)
        residentPresent.initialize(repeating: nil, count: n)
    }

    /// The kinds of value `ResidentRows` keeps for these fields, nil when a field needs its
    /// bytes in the featurizing pass (not counted, or a range or spline field).
    static func residentKinds(drafts: [HashRun.FieldDraft], counts: FieldCounts) -> [ResidentRows.Kind]? {
        var kinds: [ResidentRows.Kind] = []
        for (f, d) in drafts.enumerated() {
            guard d.counted, d.transform == .hash || d.transform == .logSquare else { return nil }
            kinds.append(d.transform == .logSquare && d.kind == .integer && counts.fields[f].mode == .integerTokens ? .integer : .fingerprint)
        }
        return kinds
    }

    /// Hands the kept storage over (after the last chunk), by field.
    func takeResident() -> [(field: Int, chunks: [UnsafeMutableRawPointer])] {
        defer { resident = Array(repeating: [], count: plans.count) }
        return plans.indices.map { (plans[$0].field, resident[$0]) }
    }

    deinit {
        residentWords.deallocate()
        residentPresent.deallocate()
        keys.deallocate()
        filled.deallocate()
        missing.deallocate()
        minimum.deallocate()
        maximum.deallocate()
    }

    /// Counts a prepared chunk.
    func process(_ chunk: LineChunk) throws {
        var first = FirstError(chunk)
        let rowCount = min(chunk.rowCount, first.row)
        if countsRows { rows += chunk.rowCount }
        let planCount = plans.count
        let logs = LogSquareTable.shared
        let fields = counts.fields
        var failed = false
        var keeps = false
        if let arena = keepsResident, chunk.residentIndex >= 0, !residentLost {
            // Stored under the chunk's index: chunks arrive in order, so it is the next one.
            keeps = true
            for j in 0..<planCount {
                precondition(resident[j].count == chunk.residentIndex)
                guard let p = arena.allocate(chunk.rowCount * 9) else {
                    // No memory for it: this worker keeps nothing more, so the split is not
                    // complete and train is read a second time (`ResidentRows.complete`).
                    residentLost = true
                    keeps = false
                    break
                }
                resident[j].append(p)
                residentWords[j] = p.assumingMemoryBound(to: UInt64.self)
                residentPresent[j] = (p + chunk.rowCount * 8).assumingMemoryBound(to: UInt8.self)
            }
        }
        if !keeps {
            for j in 0..<planCount {
                residentWords[j] = nil
                residentPresent[j] = nil
            }
        }
        // The loop twice, with and without the stores (`keep` a constant in each copy), so a
        // chunk not kept pays no test per value.
        @inline(__always) func countRows(keep: Bool) {
        plans.withUnsafeBufferPointer { plans in
            var blockStart = 0
            while blockStart < rowCount && !failed {
                let blockEnd = min(rowCount, blockStart + CountWorker.blockRows)
                for j in 0..<planCount { filled[j] = 0 }
                rows: for r in blockStart..<blockEnd {
                    for j in 0..<planCount {
                        let plan = plans[j]
                        let value = chunk.value(r, plan.field)
                        if value.count == 0 {
                            missing[j] += 1
                            continue
                        }
                        switch plan.work {
                        case .hashed:
                            let fp = Token.fingerprint(UnsafeRawBufferPointer(value), seed: plan.seed)
                            keys[j * CountWorker.blockRows + filled[j]] = fp
                            filled[j] += 1
                            if keep {
                                residentWords[j]![r] = fp
                                residentPresent[j]![r] = 1
                            }
                        case .integerTokens:
                            guard let v = ByteParsing.int64(value) else {
                                first.note(row: r) { badValue(chunk, r, plan.field, plan.kind, value) }
                                failed = true
                                break rows
                            }
                            if keep {
                                residentWords[j]![r] = UInt64(bitPattern: v)
                                residentPresent[j]![r] = 1
                            }
                            let token = logs.token(int: v)
                            fields[plan.field].addInteger(v, token: token.bits) {
                                Token.numericFingerprint(tag: token.tag, bits: token.bits, seed: plan.seed)
                            }
                        case .numericCounted:
                            guard let token = CompiledField.logSquareToken(value, plan.kind, logs) else {
                                first.note(row: r) { badValue(chunk, r, plan.field, plan.kind, value) }
                                failed = true
                                break rows
                            }
                            let fp = Token.numericFingerprint(tag: token.tag, bits: token.bits, seed: plan.seed)
                            keys[j * CountWorker.blockRows + filled[j]] = fp
                            filled[j] += 1
                            if keep {
                                residentWords[j]![r] = fp
                                residentPresent[j]![r] = 1
                            }
                        case .range, .spline:
                            guard let v = CompiledField.number(value, plan.kind) else {
                                first.note(row: r) { badValue(chunk, r, plan.field, plan.kind, value) }
                                failed = true
                                break rows
                            }
                            if v < minimum[j] { minimum[j] = v }
                            if v > maximum[j] { maximum[j] = v }
                            if plan.work == .spline { samples!.add(plan.compression.apply(v), field: plan.field) }
                        case .none:
                            break
                        }
                    }
                }
                for j in 0..<planCount where filled[j] > 0 {
                    let count = fields + plans[j].field
                    let block = UnsafeBufferPointer(start: keys + j * CountWorker.blockRows, count: filled[j])
                    // Load the slots of the whole block first (independent loads the CPU
                    // overlaps), then count.
                    var g = 0
                    while g < block.count {
                        let group = UnsafeBufferPointer(rebasing: block[g..<min(block.count, g + 16)])
                        count.pointee.touch(group)
                        for key in group { count.pointee.add(key) }
                        g += 16
                    }
                }
                blockStart = blockEnd
            }
        }
        }
        if residentWords[0] != nil { countRows(keep: true) } else { countRows(keep: false) }
        if let error = first.error { throw error }
    }

    /// Moves the missing counts and numeric ranges into the shared field counts (call once,
    /// after the last chunk).
    func finish(rows: Int) {
        for (j, plan) in plans.enumerated() {
            let count = counts.fields + plan.field
            count.pointee.missing = missing[j]
            count.pointee.present = rows - missing[j]
            count.pointee.minimum = minimum[j]
            count.pointee.maximum = maximum[j]
        }
    }

    private func badValue(_ chunk: LineChunk, _ r: Int, _ field: Int, _ kind: ValueType, _ value: ByteSlice) -> FeaturizeError {
        .badValue(path: chunk.path, line: chunk.lineNumber(ofRow: r), column: columnNames[field], value: value.string,
                  expected: kind == .integer ? "a 64-bit integer" : "a finite number")
    }
}

/// A chunk of lines and what a worker made of them: features (row-major; row r is
/// `features[rowStarts[r] ..< rowStarts[r + 1]]`), labels in the chunk, libffm text.
final class FeaturizeSlot: @unchecked Sendable {
    let chunk: LineChunk
    private(set) var text: UnsafeMutablePointer<UInt8>
    private var textCapacity: Int
    var textUsed = 0
    private(set) var features: UnsafeMutablePointer<Feature>
    private var featureCapacity: Int
    private(set) var rowStarts: UnsafeMutablePointer<Int>
    private var rowCapacity: Int

    init(capacity: Int) {
        chunk = LineChunk(capacity: capacity)
        textCapacity = capacity * 2
        text = .allocate(capacity: textCapacity)
        featureCapacity = 1024
        features = .allocate(capacity: featureCapacity)
        rowCapacity = 1024
        rowStarts = .allocate(capacity: rowCapacity + 1)
    }

    deinit {
        text.deallocate()
        features.deallocate()
        rowStarts.deallocate()
    }

    func reserveRows(_ n: Int) {
        if n > rowCapacity {
            rowStarts.deallocate()
            rowCapacity = n
            rowStarts = .allocate(capacity: n + 1)
        }
    }

    /// The chunk of `ResidentRows` to featurize (then `chunk` is not read), and its rows; else -1.
    var residentChunk = -1
    var residentRows = -1
    var residentLabels: UnsafePointer<UInt8>?

    var rows: Int { residentRows >= 0 ? residentRows : chunk.rowCount }
    /// The rows' 0/1 labels.
    var labels: UnsafePointer<UInt8> { residentLabels ?? UnsafePointer(chunk.labels) }

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
    /// Receives the sums of touched keys (see `SlotTable.touch`), so the loads stay.
    private(set) var sink: UInt64 = 0
    private let featurizer: Featurizer
    private let preparer: RowPreparer
    private let writeText: Bool
    private let prefixes: LibffmText.FieldPrefixes
    /// Per field: its position among the fields with kept values (whose lookups are
    /// deferred to a pass per field), or -1.
    private let deferredPosition: [Int]
    private let deferredFields: [Int]
    /// Per deferred field, a block of fingerprints and whether each row had a value.
    private let keys: UnsafeMutablePointer<UInt64>
    /// Per deferred field, whether each row of the block has a value (1) or not (0).
    private let present: UnsafeMutablePointer<UInt8>

    init(featurizer: Featurizer, source: InputSource, writeText: Bool) throws {
        self.featurizer = featurizer
        preparer = try RowPreparer(source: source)
        self.writeText = writeText
        prefixes = LibffmText.FieldPrefixes(fieldCount: featurizer.fieldCount)
        let fields = UnsafeBufferPointer(featurizer.fields)
        deferredFields = fields.indices.filter { fields[$0].kept != nil }
        var position = Array(repeating: -1, count: fields.count)
        for (d, f) in deferredFields.enumerated() { position[f] = d }
        deferredPosition = position
        let n = max(deferredFields.count, 1) * FeaturizeWorker.blockRows
        keys = .allocate(capacity: n)
        present = .allocate(capacity: n)
    }

    deinit {
        keys.deallocate()
        present.deallocate()
    }

    /// Featurizes a chunk. Per block of rows: row by row (each line's bytes read once, in
    /// order) every feature is computed, except that fields with kept values only get
    /// their fingerprints; then field by field those are looked up in the field's kept
    /// set, the slots of a group loaded together first.
    func process(_ slot: FeaturizeSlot) throws {
        let chunk = slot.chunk
        preparer.prepare(chunk)
        let fieldCount = featurizer.fieldCount
        // Row r's features are first computed at fixed positions, `width` per row (a spline
        // field has 4, the unused ones `Feature.absent`), then packed.
        let width = featurizer.maxFeaturesPerRow
        var first = FirstError(chunk)
        let rows = min(chunk.rowCount, first.row)
        slot.reserveFeatures(rows * width)
        slot.reserveRows(rows)
        let features = slot.features
        let fields = UnsafePointer(featurizer.fields.baseAddress!)
        let B = FeaturizeWorker.blockRows
        let logs = LogSquareTable.shared
        var failed = false
        featurizer.positions.withUnsafeBufferPointer { positions in
        deferredPosition.withUnsafeBufferPointer { deferredPosition in
            var blockStart = 0
            while blockStart < rows && !failed {
                let blockEnd = min(rows, blockStart + B)
                rows: for r in blockStart..<blockEnd {
                    let out = features + r * width
                    for f in 0..<fieldCount {
                        let field = fields + f
                        let value = chunk.value(r, f)
                        let d = deferredPosition[f]
                        if d >= 0 {
                            let at = d * B + r - blockStart
                            if value.count == 0 {
                                present[at] = 0
                                out[positions[f]] = Feature(field: UInt32(f), index: field.pointee.missingIndex, value: 1)
                            } else if let fp = field.pointee.fingerprint(value) {
                                present[at] = 1
                                keys[at] = fp
                            } else {
                                noteBadValue(&first, chunk, r, f, value)
                                failed = true
                                break rows
                            }
                            continue
                        }
                        if let small = field.pointee.smallIndices {
                            // An integer log-square field: the small values' indices from a table,
                            // here in the loop (a call to `feature` copies the whole field).
                            let index: UInt32
                            if value.count == 0 {
                                index = field.pointee.missingIndex
                            } else if let v = ByteParsing.int64(value) {
                                if v >= 0 && v < LogSquareTable.limit {
                                    index = small[logs.slot(small: v)]
                                } else {
                                    let token = logs.token(int: v)
                                    index = field.pointee.numericIndex(tag: token.tag, bits: token.bits)
                                }
                            } else {
                                noteBadValue(&first, chunk, r, f, value)
                                failed = true
                                break rows
                            }
                            out[positions[f]] = Feature(field: UInt32(truncatingIfNeeded: f), index: index, value: 1)
                            continue
                        }
                        if field.pointee.transform == .spline {
                            guard field.pointee.splineFeatures(value, field: f, into: out + positions[f], pad: true) != nil else {
                                noteBadValue(&first, chunk, r, f, value)
                                failed = true
                                break rows
                            }
                            continue
                        }
                        guard let (index, x) = field.pointee.feature(value) else {
                            noteBadValue(&first, chunk, r, f, value)
                            failed = true
                            break rows
                        }
                        out[positions[f]] = Feature(field: UInt32(f), index: index, value: x)
                    }
                }
                let end = min(blockEnd, first.row)
                for (d, f) in deferredFields.enumerated() where end > blockStart {
                    sink &+= fields[f].resolveKept(keys: keys + d * B, present: present + d * B, count: end - blockStart,
                                                   field: f, position: positions[f], out: features + blockStart * width,
                                                   stride: width)
                }
                blockStart = blockEnd
            }
        }
        }
        if let error = first.error { throw error }
        finish(slot, rows: rows, labels: chunk.labels, targets: chunk.targets)
    }

    /// Featurizes chunk `c` of the training split from the values the counting pass kept
    /// (`ResidentRows`): no reading, splitting, parsing or token hashing, field by field.
    /// The same features as `process` on the chunk's lines (every value was checked then).
    func process(_ slot: FeaturizeSlot, resident: ResidentRows, chunk c: Int) {
        let rows = resident.chunkRows[c]
        let width = featurizer.maxFeaturesPerRow
        slot.reserveFeatures(rows * width)
        slot.reserveRows(rows)
        let labels = resident.labels(chunk: c)
        slot.residentRows = rows
        slot.residentLabels = labels
        let features = slot.features
        let fields = UnsafePointer(featurizer.fields.baseAddress!)
        let B = FeaturizeWorker.blockRows
        let logs = LogSquareTable.shared
        featurizer.positions.withUnsafeBufferPointer { positions in
            var blockStart = 0
            while blockStart < rows {
                let blockEnd = min(rows, blockStart + B)
                for f in 0..<featurizer.fieldCount {
                    let field = fields + f
                    let (words, present) = resident.column(field: f, chunk: c)
                    let position = positions[f]
                    let fieldNumber = UInt32(truncatingIfNeeded: f)
                    let missing = Feature(field: fieldNumber, index: field.pointee.missingIndex, value: 1)
                    let deferred = deferredPosition[f] >= 0
                    let isInteger = resident.kinds[f] == .integer
                    if deferred && !isInteger {
                        // The kept words are the fingerprints: looked up where they are.
                        for r in blockStart..<blockEnd where present[r] == 0 {
                            features[r * width + position] = missing
                        }
                        sink &+= field.pointee.resolveKept(keys: words + blockStart, present: present + blockStart, count: blockEnd - blockStart,
                                                           field: f, position: position, out: features + blockStart * width,
                                                           stride: width)
                    } else if deferred {
                        let d = deferredPosition[f]
                        for r in blockStart..<blockEnd {
                            let at = d * B + r - blockStart
                            if present[r] == 0 {
                                self.present[at] = 0
                                features[r * width + position] = missing
                                continue
                            }
                            self.present[at] = 1
                            let token = logs.token(int: Int64(bitPattern: words[r]))
                            keys[at] = Token.numericFingerprint(tag: token.tag, bits: token.bits, seed: field.pointee.seed)
                        }
                        sink &+= field.pointee.resolveKept(keys: keys + d * B, present: self.present + d * B, count: blockEnd - blockStart,
                                                           field: f, position: position, out: features + blockStart * width,
                                                           stride: width)
                    } else if isInteger {
                        for r in blockStart..<blockEnd {
                            var index = field.pointee.missingIndex
                            if present[r] != 0 {
                                let v = Int64(bitPattern: words[r])
                                if let small = field.pointee.smallIndices, v >= 0 && v < LogSquareTable.limit {
                                    index = small[logs.slot(small: v)]
                                } else {
                                    let token = logs.token(int: v)
                                    index = field.pointee.numericIndex(tag: token.tag, bits: token.bits)
                                }
                            }
                            features[r * width + position] = Feature(field: fieldNumber, index: index, value: 1)
                        }
                    } else {
                        for r in blockStart..<blockEnd {
                            let index = present[r] != 0 ? field.pointee.index(h1: UInt32(truncatingIfNeeded: words[r] >> 32))
                                                        : field.pointee.missingIndex
                            features[r * width + position] = Feature(field: fieldNumber, index: index, value: 1)
                        }
                    }
                }
                blockStart = blockEnd
            }
        }
        finish(slot, rows: rows, labels: labels, targets: nil)
    }

    /// Packs the rows' features (spline fields) and writes their libffm text.
    private func finish(_ slot: FeaturizeSlot, rows: Int, labels: UnsafePointer<UInt8>, targets: UnsafePointer<Float>?) {
        let width = featurizer.maxFeaturesPerRow
        let features = slot.features
        let starts = slot.rowStarts
        if featurizer.hasSplines {
            // Pack the rows in place (a row never moves right), dropping the absent features.
            var w = 0
            for r in 0..<rows {
                starts[r] = w
                let row = features + r * width
                for i in 0..<width where !row[i].isAbsent {
                    features[w] = row[i]
                    w += 1
                }
            }
            starts[rows] = w
        } else {
            for r in 0...rows { starts[r] = r * width }
        }
        slot.textUsed = 0
        if writeText {
            slot.reserveText(rows * LibffmText.rowBound(fieldCount: width))
            let text = slot.text
            var used = 0
            let real = featurizer.spec.schema.hasRealTarget
            for r in 0..<rows {
                used += LibffmText.format(label: labels[r], target: real ? targets?[r] : nil, features: features + starts[r], count: starts[r + 1] - starts[r],
                                          prefixes: prefixes, into: text + used)
            }
            slot.textUsed = used
        }
    }

    private func noteBadValue(_ first: inout FirstError, _ chunk: LineChunk, _ r: Int, _ f: Int, _ value: ByteSlice) {
        let spec = featurizer.spec.fields[f]
        first.note(row: r) {
            FeaturizeError.badValue(path: chunk.path, line: chunk.lineNumber(ofRow: r), column: spec.name, value: value.string,
                                    expected: spec.kind == .integer ? "a 64-bit integer" : "a finite number")
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
    /// (A regression target takes up to 26 bytes instead of one.)
    static func rowBound(fieldCount: Int) -> Int { 27 + fieldCount * 51 }

    /// - Parameter target: a regression target (#13), written in its shortest Float form instead of the 0/1 label.
    @inline(__always)
    static func format(label: UInt8, target: Float? = nil, features: UnsafePointer<Feature>, count: Int, prefixes: FieldPrefixes,
                       into out: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 1
        if let target {
            n = FloatText.format(target, into: out)
        } else {
            out[0] = 48 &+ label
        }
        prefixes.packed.withUnsafeBufferPointer { packed in
            prefixes.lengths.withUnsafeBufferPointer { lengths in
                prefixes.pairs.withUnsafeBufferPointer { pairs in
                    for i in 0..<count {
                        let feature = features[i]
                        let f = Int(feature.field)
                        if f < packed.count {
                            UnsafeMutableRawPointer(out + n).storeBytes(of: packed[f].littleEndian, as: UInt64.self)
                            n &+= lengths[f]
                        } else {
                            out[n] = 32
                            n &+= 1
                            n &+= formatInt(Int64(feature.field), into: out + n)
                            out[n] = 58
                            n &+= 1
                        }
                        n &+= formatUInt32(feature.index, into: out + n, pairs: pairs.baseAddress!)
                        out[n] = 58
                        if feature.value == 1 {
                            out[n &+ 1] = 49
                            n &+= 2
                        } else {
                            n &+= 1
                            n &+= FloatText.format(feature.value, into: out + n)
                        }
                    }
                }
            }
        }
        out[n] = 10
        return n &+ 1
    }

    /// Powers of ten that fit a UInt32, by exponent.
    private static let powersOfTen: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000)

    /// Number of decimal digits of a UInt32 (1 for 0), without division or branches on the size.
    @inline(__always)
    static func digitCount(_ value: UInt32) -> Int {
        // floor(log10(2^bits)) from the bit length, corrected by one comparison.
        let bits = 32 - (value | 1).leadingZeroBitCount
        let t = (bits &* 1233) >> 12
        var powers = powersOfTen
        let power = withUnsafeBytes(of: &powers) { $0.load(fromByteOffset: 4 * t, as: UInt32.self) }
        return value >= power ? t + 1 : max(t, 1)
    }

    /// Decimal digits of a UInt32, two at a time.
    @inline(__always)
    static func formatUInt32(_ value: UInt32, into out: UnsafeMutablePointer<UInt8>, pairs: UnsafePointer<UInt8>) -> Int {
        let digits = digitCount(value)
        var x = value
        var i = digits
        while x >= 100 {
            let r = Int(x % 100) &* 2
            x /= 100
            i &-= 2
            out[i] = pairs[r]
            out[i &+ 1] = pairs[r &+ 1]
        }
        if x >= 10 {
            out[i &- 2] = pairs[Int(x) &* 2]
            out[i &- 1] = pairs[Int(x) &* 2 &+ 1]
        } else {
            out[i &- 1] = 48 &+ UInt8(truncatingIfNeeded: x)
        }
        return digits
    }
}
