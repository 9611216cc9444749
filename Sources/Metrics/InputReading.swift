import LogIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How labels are laid out in the labels file, recognised from its first line.
public enum LabelFormat: String, Sendable {
    /// One label per line.
    case plain
    /// A ctr-ingest rows file: the label is the first tab-separated field.
    case rows
    /// libffm text: the label is the first space-separated token (`-1` also means 0).
    case libffm

    /// What a line of this format must look like, for error messages.
    var expectation: String {
        switch self {
        case .plain: return "labels file, one label per line"
        case .rows: return "ctr-ingest rows file, label = first tab-separated field"
        case .libffm: return "libffm text, label = first space-separated token"
        }
    }

    /// A tab means rows; a space or a colon means libffm; anything else one label per line.
    static func sniff(_ firstLine: ByteSlice) -> LabelFormat {
        if let base = firstLine.baseAddress {
            if memchr(base, 9, firstLine.count) != nil { return .rows }
            if memchr(base, 32, firstLine.count) != nil || memchr(base, 58, firstLine.count) != nil { return .libffm }
        }
        return .plain
    }

    @inline(__always)
    func labelField(_ line: ByteSlice) -> ByteSlice {
        let separator: Int32
        switch self {
        case .plain: return line
        case .rows: separator = 9
        case .libffm: separator = 32
        }
        guard let base = line.baseAddress, let hit = memchr(base, separator, line.count) else { return line }
        return ByteSlice(start: base, count: UnsafeRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base)
    }

    /// 0 or 1, or nil for anything that is not a label.
    @inline(__always)
    func parseLabel(_ line: ByteSlice) -> UInt8? {
        let field = labelField(line)
        if field.count == 1 {
            if field[0] == 48 { return 0 }
            if field[0] == 49 { return 1 }
            return nil
        }
        guard let v = ByteParsing.double(field) else { return nil }
        if v == 0 { return 0 }
        if v == 1 { return 1 }
        if v == -1 && self == .libffm { return 0 }
        return nil
    }
}

/// What `loadRows` read: one sorted-key column per model, plus per-row data in the
/// original row order when it is needed.
final class LoadedRows {
    var rows = 0
    var labelFormat = LabelFormat.plain
    /// One key per row per model (see `rowKey`), in row order until sorted.
    var keys: [RowBuffer<UInt64>] = []
    /// Labels in row order (kept when several models are compared).
    var labels: RowBuffer<UInt8>?
    var weights: RowBuffer<Double>?
    var segments: RowBuffer<UInt32>?
    var segmentKeys = ByteInterner()
}

@inline(__always)
private func parseProbability(_ line: ByteSlice, path: String, lineNumber: Int) throws -> Double {
    if let p = ByteParsing.double(line), p >= 0, p <= 1 { return p }
    let value = ByteParsing.double(line)
    let reason = value == nil ? "not a number" : value!.isNaN ? "NaN" : "probability outside [0, 1]"
    throw EvalError.badProbability(path: path, line: lineNumber, found: line.string, reason: reason)
}

/// Counts the lines left in `reader` and returns its total line count.
private func totalLines(_ reader: LineReader) throws -> Int {
    while try reader.next() != nil {}
    return reader.lineNumber
}

/// Reads every input in lockstep, one line of each per row, checking each value.
///
/// Predictions are corrected for the negative keep rate here, so everything downstream
/// sees the probabilities of the original traffic.
/// - Parameter keepLabels: also keep labels in row order (for comparing models).
func loadRows(_ inputs: EvalInputs, negKeepRate: Double?, keepLabels: Bool) throws -> LoadedRows {
    let loaded = LoadedRows()
    let labelReader = try LineReader(path: inputs.labels)
    let predictionReaders = try inputs.predictions.map { try LineReader(path: $0) }
    let weightReader = try inputs.weights.map { try LineReader(path: $0) }
    let segmentReader = try inputs.groupBy.map { try LineReader(path: $0) }
    loaded.keys = inputs.predictions.map { _ in RowBuffer<UInt64>() }
    if keepLabels { loaded.labels = RowBuffer() }
    if weightReader != nil { loaded.weights = RowBuffer() }
    if segmentReader != nil { loaded.segments = RowBuffer() }
    let keepRate = negKeepRate ?? 1
    let correct = keepRate != 1
    let models = predictionReaders.count

    var format = LabelFormat.plain
    var row = 0
    while let labelLine = try labelReader.next() {
        if row == 0 {
            format = LabelFormat.sniff(labelLine)
            loaded.labelFormat = format
        }
        row += 1
        guard let y = format.parseLabel(labelLine) else {
            throw EvalError.badLabel(path: inputs.labels, line: row, found: format.labelField(labelLine).string,
                                     format: format.expectation)
        }
        for j in 0..<models {
            let reader = predictionReaders[j]
            guard let line = try reader.next() else {
                throw EvalError.lineCountMismatch(path: reader.path, lines: row - 1,
                                                  otherPath: inputs.labels, otherLines: try totalLines(labelReader))
            }
            var p = try parseProbability(line, path: reader.path, lineNumber: row)
            if correct { p = p / (p + (1 - p) / keepRate) }
            loaded.keys[j].append(rowKey(probability: p, label: y))
        }
        loaded.labels?.append(y)
        if let weightReader {
            guard let line = try weightReader.next() else {
                throw EvalError.lineCountMismatch(path: weightReader.path, lines: row - 1,
                                                  otherPath: inputs.labels, otherLines: try totalLines(labelReader))
            }
            guard let w = ByteParsing.double(line), w >= 0, w.isFinite else {
                throw EvalError.badWeight(path: weightReader.path, line: row, found: line.string)
            }
            loaded.weights!.append(w)
        }
        if let segmentReader {
            guard let line = try segmentReader.next() else {
                throw EvalError.lineCountMismatch(path: segmentReader.path, lines: row - 1,
                                                  otherPath: inputs.labels, otherLines: try totalLines(labelReader))
            }
            guard let id = loaded.segmentKeys.id(for: line) else {
                throw EvalError.tooManySegments(path: segmentReader.path, line: row)
            }
            loaded.segments!.append(id)
        }
    }
    // The labels ended: every other file must end here too.
    let others = predictionReaders + [weightReader, segmentReader].compactMap { $0 }
    for reader in others {
        if try reader.next() != nil {
            throw EvalError.lineCountMismatch(path: reader.path, lines: try totalLines(reader),
                                              otherPath: inputs.labels, otherLines: row)
        }
    }
    guard row > 0 else {
        throw EvalError.emptyInput(path: inputs.labels)
    }
    loaded.rows = row
    if let weights = loaded.weights {
        var total = 0.0
        for i in 0..<row { total += weights.base[i] }
        guard total > 0 else { throw EvalError.zeroTotalWeight(path: inputs.weights!) }
    }
    return loaded
}

/// Gives each distinct byte string (a segment key) a dense 32-bit id, storing each key
/// once; looking up a known key allocates nothing.
struct ByteInterner {
    private var bytes: [UInt8] = []
    private var offsets: [Int] = [0]
    /// Open addressing: id + 1, 0 for empty.
    private var table = [UInt32](repeating: 0, count: 1024)
    private var hashes: [UInt32] = []

    var count: Int { offsets.count - 1 }

    func key(_ id: Int) -> String {
        String(decoding: bytes[offsets[id]..<offsets[id + 1]], as: UTF8.self)
    }

    /// The id of `key`, adding it when new; nil past 2³² − 1 keys.
    mutating func id(for key: ByteSlice) -> UInt32? {
        let hash = Murmur3.hash32(key)
        let mask = table.count - 1
        var slot = Int(hash) & mask
        while true {
            let entry = table[slot]
            if entry == 0 { break }
            let id = Int(entry - 1)
            if hashes[id] == hash && equals(id, key) { return UInt32(id) }
            slot = (slot + 1) & mask
        }
        guard count < Int(UInt32.max) - 1 else { return nil }
        let id = count
        bytes.append(contentsOf: key)
        offsets.append(bytes.count)
        hashes.append(hash)
        table[slot] = UInt32(id + 1)
        if count * 2 > table.count { rehash() }
        return UInt32(id)
    }

    private func equals(_ id: Int, _ key: ByteSlice) -> Bool {
        let start = offsets[id], length = offsets[id + 1] - start
        guard length == key.count else { return false }
        guard length > 0 else { return true }
        return bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + start, key.baseAddress!, length) == 0 }
    }

    private mutating func rehash() {
        var grown = [UInt32](repeating: 0, count: table.count * 2)
        let mask = grown.count - 1
        for id in 0..<count {
            var slot = Int(hashes[id]) & mask
            while grown[slot] != 0 { slot = (slot + 1) & mask }
            grown[slot] = UInt32(id + 1)
        }
        table = grown
    }
}
