import CSplit
import Ingest
import LogIO

/// A block of whole lines copied out of a `LineReader`, and the rows they hold once
/// prepared: rows-file lines (`label<TAB>v1…vn`) split into value offsets, with raw log
/// lines first normalized into that form by ctr-ingest's `RowParser`.
///
/// The workers then read values by (row, field) without splitting again, and can go
/// field by field (one counting table or kept set hot in cache at a time).
final class LineChunk: @unchecked Sendable {
    // MARK: Lines as read
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var used = 0
    /// Start of each line in `bytes`, plus one past the last line's end (line ends are not stored).
    private(set) var starts: UnsafeMutablePointer<Int>
    private var startsCapacity: Int
    private(set) var lineCount = 0
    /// File line number of the first line.
    var firstLine = 0
    /// The file the lines come from.
    var path = ""
    /// Counting pass: the index `ResidentRows` keeps this chunk's values under, or -1.
    var residentIndex = -1

    // MARK: Prepared rows
    /// Values per row.
    private(set) var fieldCount = 0
    private(set) var rowCount = 0
    /// Bytes the offsets point into: `bytes` for rows files, `normalized` for raw logs.
    private(set) var rowBytes: UnsafePointer<UInt8>
    /// Per row, `fieldCount + 1` offsets into `rowBytes`: value f is
    /// `[offsets[f], offsets[f + 1] - 1)` (the next start, less its tab).
    private(set) var offsets: UnsafeMutablePointer<UInt32>
    private var offsetsCapacity: Int
    private(set) var labels: UnsafeMutablePointer<UInt8>
    /// Per row, the regression target (#13: a schema with a `target` column), else unused.
    private(set) var targets: UnsafeMutablePointer<Float>
    /// Per row, the index of its line in the chunk (rows drop header and bad raw lines).
    private(set) var rowLine: UnsafeMutablePointer<Int32>
    private var rowCapacity: Int
    private var normalized: UnsafeMutablePointer<UInt8>
    private var normalizedCapacity: Int
    /// The first malformed rows-file line (an error), as (row index it would have had, message).
    private(set) var invalid: (row: Int, line: Int, message: String)?
    /// Raw logs: bad lines by reason, the first bad line's message.
    private(set) var badByReason = Array(repeating: 0, count: BadRowReason.allCases.count)
    private(set) var firstBad: String?

    init(capacity: Int) {
        self.capacity = capacity
        bytes = .allocate(capacity: capacity)
        startsCapacity = 8192
        starts = .allocate(capacity: startsCapacity)
        starts[0] = 0
        offsetsCapacity = 1 << 16
        offsets = .allocate(capacity: offsetsCapacity)
        rowCapacity = 8192
        labels = .allocate(capacity: rowCapacity)
        targets = .allocate(capacity: rowCapacity)
        rowLine = .allocate(capacity: rowCapacity)
        normalizedCapacity = 4096
        normalized = .allocate(capacity: normalizedCapacity)
        rowBytes = UnsafePointer(bytes)
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
        offsets.deallocate()
        labels.deallocate()
        targets.deallocate()
        rowLine.deallocate()
        normalized.deallocate()
    }

    @inline(__always)
    func line(_ i: Int) -> ByteSlice {
        ByteSlice(start: bytes + starts[i], count: starts[i + 1] - starts[i])
    }

    /// File line number of row `r`.
    @inline(__always)
    func lineNumber(ofRow r: Int) -> Int { firstLine + Int(rowLine[r]) }

    /// Value `f` of row `r`.
    @inline(__always)
    func value(_ r: Int, _ f: Int) -> ByteSlice {
        let o = offsets + (r &* (fieldCount &+ 1) &+ f)
        let start = Int(o[0])
        return ByteSlice(start: rowBytes + start, count: Int(o[1]) &- 1 &- start)
    }

    /// Appends lines from `reader` until about `target` bytes are held; false when the reader ended
    /// before any line was added. Lines must be consecutive after the first one.
    func fill<Source: LineSource>(from reader: Source, target: Int) throws -> Bool {
        used = 0
        lineCount = 0
        rowCount = 0
        while used < target, let line = try reader.next() {
            if lineCount == 0 { firstLine = reader.lineNumber }
            if used + line.count > capacity {
                let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: max(capacity * 2, used + line.count))
                grown.update(from: bytes, count: used)
                bytes.deallocate()
                bytes = grown
                capacity = max(capacity * 2, used + line.count)
            }
            if line.count > 0 { (bytes + used).update(from: line.baseAddress!, count: line.count) }
            used += line.count
            if lineCount + 2 > startsCapacity {
                let grown = UnsafeMutablePointer<Int>.allocate(capacity: startsCapacity * 2)
                grown.update(from: starts, count: lineCount + 1)
                starts.deallocate()
                starts = grown
                startsCapacity *= 2
            }
            lineCount += 1
            starts[lineCount] = used
        }
        return lineCount > 0
    }

    private func reserveRows(_ rows: Int, fieldCount: Int) {
        if rows > rowCapacity {
            labels.deallocate()
            targets.deallocate()
            rowLine.deallocate()
            rowCapacity = rows
            labels = .allocate(capacity: rows)
            targets = .allocate(capacity: rows)
            rowLine = .allocate(capacity: rows)
        }
        let needed = rows * (fieldCount + 1)
        if needed > offsetsCapacity {
            offsets.deallocate()
            offsetsCapacity = needed
            offsets = .allocate(capacity: needed)
        }
    }

    private func resetRows(fieldCount: Int) {
        self.fieldCount = fieldCount
        rowCount = 0
        invalid = nil
        firstBad = nil
        for i in badByReason.indices { badByReason[i] = 0 }
    }

    /// Prepares the lines of a rows file: every line becomes a row. Stops at the first
    /// malformed line (recorded in `invalid`; rows before it are usable).
    /// - Parameter realTargets: the first field is a regression target (any finite number), not 0/1.
    func prepareRows(fieldCount: Int, realTargets: Bool = false) {
        resetRows(fieldCount: fieldCount)
        reserveRows(lineCount, fieldCount: fieldCount)
        if realTargets { return prepareTargetRows(fieldCount: fieldCount) }
        rowBytes = UnsafePointer(bytes)
        let stride = fieldCount + 1
        for i in 0..<lineCount {
            let start = starts[i], end = starts[i + 1]
            let o = offsets + i * stride
            if let message = RowSplitter.split(UnsafePointer(bytes), start: start, end: end, fieldCount: fieldCount, into: o) {
                invalid = (i, i, message)
                return
            }
            labels[i] = bytes[start] &- 48
            rowLine[i] = Int32(i)
            rowCount = i + 1
        }
    }

    /// `prepareRows` for rows whose first field is a regression target (#13).
    private func prepareTargetRows(fieldCount: Int) {
        rowBytes = UnsafePointer(bytes)
        let stride = fieldCount + 1
        for i in 0..<lineCount {
            let start = starts[i], end = starts[i + 1]
            var tab = start
            while tab < end && bytes[tab] != 9 { tab += 1 }
            let token = ByteSlice(start: bytes + start, count: tab - start)
            guard let y = ByteParsing.double(token), y.isFinite, Float(y).isFinite else {
                invalid = (i, i, "found target \"\(ByteSlice(start: bytes + start, count: min(tab - start, 40)).string)\"; "
                    + "expected a finite number in the first field (the regression target)")
                return
            }
            guard tab > start, tab < end || fieldCount == 0 else {
                invalid = (i, i, "found 0 values after the target; expected \(fieldCount) (tab-separated)")
                return
            }
            // The splitter reads a one-byte label then a tab: start it at the target's last byte.
            let o = offsets + i * stride
            if let message = RowSplitter.split(UnsafePointer(bytes), start: tab - 1, end: end, fieldCount: fieldCount, into: o,
                                               checkLabel: false) {
                invalid = (i, i, message)
                return
            }
            labels[i] = 0
            targets[i] = Float(y)
            rowLine[i] = Int32(i)
            rowCount = i + 1
        }
    }

    /// Prepares raw log lines (headers already skipped by `RawLogReader`): each is parsed and
    /// normalized by `parser` (as ctr-ingest does) into a rows-file line; bad lines are
    /// counted and dropped.
    func prepareRaw(parser: RowParser) {
        let fieldCount = parser.outputColumns.count
        resetRows(fieldCount: fieldCount)
        reserveRows(lineCount, fieldCount: fieldCount)
        let stride = fieldCount + 1
        var at = 0
        for i in 0..<lineCount {
            let line = self.line(i)
            switch parser.parse(line) {
            case .row(let row):
                var length = 2 + fieldCount
                for v in row.values { length += v.count }
                if at + length > normalizedCapacity {
                    let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: max(normalizedCapacity * 2, at + length))
                    grown.update(from: normalized, count: at)
                    normalized.deallocate()
                    normalized = grown
                    normalizedCapacity = max(normalizedCapacity * 2, at + length)
                }
                let r = rowCount
                labels[r] = row.label ?? 0
                if let target = row.target { targets[r] = Float(ByteParsing.double(target) ?? 0) }
                rowLine[r] = Int32(i)
                normalized[at] = 48 &+ (row.label ?? 0)
                at += 1
                let o = offsets + r * stride
                for (f, v) in row.values.enumerated() {
                    normalized[at] = 9
                    at += 1
                    o[f] = UInt32(at)
                    if v.count > 0 {
                        (normalized + at).update(from: v.baseAddress!, count: v.count)
                        at += v.count
                    }
                }
                o[fieldCount] = UInt32(at + 1)
                rowCount += 1
            case .bad(let bad):
                badByReason[BadRowReason.allCases.firstIndex(of: bad.reason)!] += 1
                if firstBad == nil { firstBad = "\(path):\(firstLine + i): \(parser.message(for: bad))" }
            }
        }
        rowBytes = UnsafePointer(normalized)
    }
}

/// Splitting rows-file lines on tabs, 16 or 32 bytes at a time (`swiftctr_split_tabs`).
enum RowSplitter {
    /// Writes the value starts of the line `base[start..<end]` (`label<TAB>v1…vn`) to
    /// `offsets[0..<fieldCount]` and `end + 1` to `offsets[fieldCount]`.
    /// - Returns: nil, or what is wrong with the line.
    @inline(__always)
    /// - Parameter checkLabel: false when the caller has read the label (a target) itself.
    static func split(_ base: UnsafePointer<UInt8>, start: Int, end: Int, fieldCount: Int,
                      into offsets: UnsafeMutablePointer<UInt32>, checkLabel: Bool = true) -> String? {
        let n = end - start
        guard n >= 1 else { return "empty line; expected label<TAB>values" }
        let label = base[start]
        guard !checkLabel || label == 48 || label == 49, n == 1 || base[start + 1] == 9 else {
            var e = start
            while e < end && base[e] != 9 { e += 1 }
            return "found label \"\(ByteSlice(start: base + start, count: min(e - start, 40)).string)\"; expected 0 or 1 in the first field"
        }
        if n == 1 {
            if fieldCount == 0 { offsets[0] = UInt32(end + 1); return nil }
            return "found 0 values after the label; expected \(fieldCount) (tab-separated)"
        }
        // Offsets are UInt32: past this, they would not fit (then wrapping arithmetic is safe below).
        guard end < Int(UInt32.max) else { return "the line ends \(end) bytes into its chunk; expected below 4 GiB" }
        offsets[0] = UInt32(truncatingIfNeeded: start &+ 2)
        // Values started so far: the first, and one after each tab (offsets[1...]).
        let k = 1 &+ swiftctr_split_tabs(base, start &+ 2, end, offsets + 1, fieldCount &- 1)
        guard k == fieldCount else {
            return "found \(k) values after the label; expected \(fieldCount) (tab-separated)"
        }
        offsets[fieldCount] = UInt32(end + 1)
        return nil
    }
}

/// What a chunk is filled from: a `LineReader` (rows files) or ctr-ingest's `RawLogReader`
/// (raw logs: byte order mark and header handled as ctr-ingest does).
protocol LineSource {
    func next() throws -> ByteSlice?
    /// 1-based line number of the line last returned.
    var lineNumber: Int { get }
    var fileBytesRead: Int64 { get }
}

extension LineReader: LineSource {}
extension RawLogReader: LineSource {}
