import Dataset
import LogIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How labels are laid out in the labels file, recognised from its content (never its name).
public enum LabelFormat: String, Sendable {
    /// One label per line: `0` or `1` (also `0.0`, `1.0`).
    case plain
    /// A ctr-ingest rows file: the label is the first tab-separated field, `0` or `1`.
    case rows
    /// libffm text, read by `Dataset.LibFFMReader` (labels `0`, `1`, `-1`, `+1`).
    case libffm
    /// A SwiftCTR binary cache (`CTRCACHE` magic), read by `Dataset.CacheReader`.
    case cache

    /// What a line of this format must look like, for error messages.
    var expectation: String {
        switch self {
        case .plain: return "labels file, one label per line"
        case .rows: return "ctr-ingest rows file, label = first tab-separated field"
        case .libffm: return "libffm text"
        case .cache: return "binary cache"
        }
    }

    /// libffm when every token after the first is `field:index:value`; otherwise rows when
    /// the line has a tab, libffm when it has a space, else one label per line.
    static func sniff(_ firstLine: ByteSlice) -> LabelFormat {
        guard let base = firstLine.baseAddress else { return .plain }
        let n = firstLine.count
        func isBlank(_ b: UInt8) -> Bool { b == 32 || b == 9 }
        var i = 0
        while i < n && isBlank(base[i]) { i += 1 }
        while i < n && !isBlank(base[i]) { i += 1 }  // the label
        var features = 0
        var allFeatures = true
        while i < n {
            while i < n && isBlank(base[i]) { i += 1 }
            if i == n { break }
            // digits ':' digits ':' something
            var colons = 0, digitsSinceColon = 0, ok = true
            while i < n && !isBlank(base[i]) {
                let b = base[i]
                if colons < 2 {
                    if b == 58 {
                        ok = ok && digitsSinceColon > 0
                        colons += 1
                        digitsSinceColon = 0
                    } else if b &- 48 < 10 {
                        digitsSinceColon += 1
                    } else {
                        ok = false
                    }
                }
                i += 1
            }
            features += 1
            allFeatures = allFeatures && ok && colons == 2
        }
        if features > 0 && allFeatures { return .libffm }
        if memchr(base, 9, n) != nil { return .rows }
        if memchr(base, 32, n) != nil { return .libffm }
        return .plain
    }

    /// The label token of a plain or rows line.
    @inline(__always)
    func labelField(_ line: ByteSlice) -> ByteSlice {
        guard self == .rows, let base = line.baseAddress, let hit = memchr(base, 9, line.count) else { return line }
        return ByteSlice(start: base, count: UnsafeRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base)
    }

    /// 0 or 1 from a plain or rows line, or nil for anything that is not a label.
    @inline(__always)
    func parseLabel(_ line: ByteSlice) -> UInt8? {
        let field = labelField(line)
        if field.count == 1 {
            if field[0] == 48 { return 0 }
            if field[0] == 49 { return 1 }
            return nil
        }
        // ctr-ingest writes exactly 0 or 1; a plain file may come from a float writer.
        guard self == .plain, let v = ByteParsing.double(field) else { return nil }
        if v == 0 { return 0 }
        if v == 1 { return 1 }
        return nil
    }
}

/// The labels of a file in any of the supported formats, one per row: 0/1 click labels
/// (`next()`), or with `realLabels` the real-valued targets of regression (`nextTarget()`).
final class LabelSource {
    let path: String
    let format: LabelFormat
    /// Targets are real numbers (regression): libffm labels are read as they are.
    let realLabels: Bool
    /// Rows handed out so far (the line number for text files).
    private(set) var row = 0
    private var lines: LineReader?
    private var libffm: LibFFMReader?
    private var cache: CacheReader?
    private var blocks: CacheBlockStream?
    private var block: CacheBlock?
    private var blockRow = 0

    init(path: String, realLabels: Bool = false) throws {
        self.path = path
        self.realLabels = realLabels
        format = try LabelSource.detect(path)
        switch format {
        case .plain, .rows: lines = try LineReader(path: path)
        case .libffm: libffm = try LibFFMReader(path: path, realLabels: realLabels)
        case .cache:
            let reader = try CacheReader(path: path)
            cache = reader
            blocks = CacheBlockStream(reader: reader, order: reader.blocks(targetBytes: 8 << 20))
        }
    }

    /// The format from the first bytes: the cache magic, else the first line (gzip or plain).
    static func detect(_ path: String) throws -> LabelFormat {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        var magic: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &magic) { read(fd, $0.baseAddress!, 8) }
        close(fd)
        if n == 8 && withUnsafeBytes(of: &magic, { memcmp($0.baseAddress!, CacheFormat.headerMagic.utf8Start, 8) == 0 }) {
            return .cache
        }
        let reader = try LineReader(path: path, bufferSize: 1 << 16, prefetch: false)
        guard let first = try reader.next() else { return .plain }
        return LabelFormat.sniff(first)
    }

    /// The next row as it is stored: a text line (plain, rows), or the label of a libffm
    /// row or a cache row; nil after the last row.
    private enum Stored {
        case line(ByteSlice)
        case value(Float)
    }

    @inline(__always)
    private func nextStored() throws -> Stored? {
        switch format {
        case .plain, .rows:
            guard let line = try lines!.next() else { return nil }
            row += 1
            return .line(line)
        case .libffm:
            guard let r = try libffm!.next() else { return nil }
            row += 1
            return .value(r.label)
        case .cache:
            while block == nil || blockRow == block!.rowCount {
                guard let b = try blocks!.next() else { return nil }
                block = b
                blockRow = 0
            }
            row += 1
            blockRow += 1
            return .value(block!.label(blockRow - 1))
        }
    }

    /// The next row's 0/1 label, nil after the last row.
    @inline(__always)
    func next() throws -> UInt8? {
        switch try nextStored() {
        case nil: return nil
        case let .value(y): return y > 0 ? 1 : 0
        case let .line(line):
            guard let y = format.parseLabel(line) else {
                throw EvalError.badLabel(path: path, line: row, found: format.labelField(line).string, format: format.expectation)
            }
            return y
        }
    }

    /// The next row's real-valued target (regression), nil after the last row.
    func nextTarget() throws -> Double? {
        switch try nextStored() {
        case nil: return nil
        case let .value(y): return Double(y)
        case let .line(line):
            let field = format.labelField(line)
            guard let y = ByteParsing.double(field), y.isFinite else {
                throw EvalError.badTarget(path: path, line: row, found: field.string, format: format.expectation)
            }
            return y
        }
    }

    /// The total number of rows (reads the rest of a text file).
    func totalRows() throws -> Int {
        if format == .cache { return cache!.info.rowCount }
        while try nextStored() != nil {}
        return row
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
    let segmentKeys = ByteInterner()
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
    let labelSource = try LabelSource(path: inputs.labels)
    loaded.labelFormat = labelSource.format
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

    let keyBuffers = loaded.keys
    let firstReader = predictionReaders[0], firstKeys = keyBuffers[0]
    let labelBuffer = loaded.labels, weightBuffer = loaded.weights, segmentBuffer = loaded.segments
    let segmentKeys = loaded.segmentKeys
    var row = 0
    while let y = try labelSource.next() {
        row += 1
        // One model is the common case: locals, not array elements, so the loop does
        // no reference counting per row.
        if models == 1 {
            guard let line = try firstReader.next() else {
                throw EvalError.lineCountMismatch(path: firstReader.path, lines: row - 1,
                                                  otherPath: inputs.labels, otherLines: try labelSource.totalRows())
            }
            var p = try parseProbability(line, path: firstReader.path, lineNumber: row)
            if correct { p = p / (p + (1 - p) / keepRate) }
            firstKeys.append(rowKey(probability: p, label: y))
        } else {
            for j in 0..<models {
                let reader = predictionReaders[j]
                guard let line = try reader.next() else {
                    throw EvalError.lineCountMismatch(path: reader.path, lines: row - 1,
                                                      otherPath: inputs.labels, otherLines: try labelSource.totalRows())
                }
                var p = try parseProbability(line, path: reader.path, lineNumber: row)
                if correct { p = p / (p + (1 - p) / keepRate) }
                keyBuffers[j].append(rowKey(probability: p, label: y))
            }
        }
        labelBuffer?.append(y)
        if let weightReader {
            guard let line = try weightReader.next() else {
                throw EvalError.lineCountMismatch(path: weightReader.path, lines: row - 1,
                                                  otherPath: inputs.labels, otherLines: try labelSource.totalRows())
            }
            guard let w = ByteParsing.double(line), w >= 0, w.isFinite else {
                throw EvalError.badWeight(path: weightReader.path, line: row, found: line.string)
            }
            guard w == 0 || EvalError.weightRange.contains(w) else {
                throw EvalError.weightOutOfRange(path: weightReader.path, line: row, found: line.string)
            }
            weightBuffer!.append(w)
        }
        if let segmentReader {
            guard let line = try segmentReader.next() else {
                throw EvalError.lineCountMismatch(path: segmentReader.path, lines: row - 1,
                                                  otherPath: inputs.labels, otherLines: try labelSource.totalRows())
            }
            guard let id = segmentKeys.id(for: line) else {
                throw EvalError.tooManySegments(path: segmentReader.path, line: row)
            }
            segmentBuffer!.append(id)
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
        guard total <= EvalError.weightRange.upperBound else {
            throw EvalError.weightOutOfRange(path: inputs.weights!, line: nil, found: "\(total)")
        }
    }
    return loaded
}

/// Gives each distinct byte string (a segment key) a dense 32-bit id, storing each key
/// once; looking up a known key allocates nothing and touches no Swift array.
final class ByteInterner {
    /// All keys' bytes back to back; key i is `bytes[offsets[i] ..< offsets[i + 1]]`.
    private let bytes = RowBuffer<UInt8>()
    private let offsets = RowBuffer<Int>()
    private let hashes = RowBuffer<UInt32>()
    /// Open addressing, linear probing: id + 1, 0 for an empty slot.
    private var table: UnsafeMutablePointer<UInt32>
    private var mask: Int

    init() {
        mask = 1023
        table = .allocate(capacity: mask + 1)
        table.initialize(repeating: 0, count: mask + 1)
        offsets.append(0)
    }

    deinit { table.deallocate() }

    var count: Int { offsets.count - 1 }

    func key(_ id: Int) -> String {
        let start = offsets.base[id]
        return String(decoding: UnsafeBufferPointer(start: bytes.base + start, count: offsets.base[id + 1] - start), as: UTF8.self)
    }

    /// The id of `key`, adding it when new; nil past 2³² − 2 keys.
    @inline(__always)
    func id(for key: ByteSlice) -> UInt32? {
        let hash = Murmur3.hash32(key)
        var slot = Int(hash) & mask
        while true {
            let entry = table[slot]
            if entry == 0 { break }
            let id = Int(entry &- 1)
            if hashes.base[id] == hash && equals(id, key) { return UInt32(id) }
            slot = (slot + 1) & mask
        }
        guard count < Int(UInt32.max) - 1 else { return nil }
        let id = count
        for b in key { bytes.append(b) }
        offsets.append(bytes.count)
        hashes.append(hash)
        table[slot] = UInt32(id + 1)
        if count * 2 > mask { grow() }
        return UInt32(id)
    }

    @inline(__always)
    private func equals(_ id: Int, _ key: ByteSlice) -> Bool {
        let start = offsets.base[id], length = offsets.base[id + 1] - start
        guard length == key.count else { return false }
        return length == 0 || memcmp(bytes.base + start, key.baseAddress!, length) == 0
    }

    private func grow() {
        let size = (mask + 1) * 2
        let grown = UnsafeMutablePointer<UInt32>.allocate(capacity: size)
        grown.initialize(repeating: 0, count: size)
        let newMask = size - 1
        for id in 0..<count {
            var slot = Int(hashes.base[id]) & newMask
            while grown[slot] != 0 { slot = (slot + 1) & newMask }
            grown[slot] = UInt32(id + 1)
        }
        table.deallocate()
        table = grown
        mask = newMask
    }
}
