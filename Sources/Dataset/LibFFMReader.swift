import LogIO

/// Streams the rows of a libffm text file (`label field:index:value ...`), plain or gzip.
///
/// - Labels: `0` and `-1` are negatives, `1` and `+1` positives; anything else is an error.
///   With `realLabels` (regression targets, squared loss) the label is any finite decimal
///   number, taken as written (`-1` is -1); NaN, infinity and non-numbers are errors.
/// - Tokens are separated by runs of spaces or tabs; leading and trailing blanks are fine.
/// - A line with a label and no features is a row without features.
/// - An empty or blank line is an error (a row must never disappear silently), except that
///   the last line needs no `\n` (and a final `\n` does not make an empty last line).
/// - `field` and `index` are decimal integers in `0...4294967295`; `value` is a decimal
///   float that must be finite as a 32-bit float (`nan`, `inf`, `1e39` are errors).
/// - No line-length limit (the buffer grows to the longest line).
///
/// No allocation per line: each row's features are handed out in one reusable buffer.
///
/// ```swift
/// let reader = try LibFFMReader(path: "train.ffm")
/// while let row = try reader.next() { use(row.label, row.features) }
/// ```
public final class LibFFMReader {
    public let path: String
    private let lines: LineReader
    private var features: UnsafeMutablePointer<Feature>
    private var capacity: Int
    /// Largest field and index seen so far (-1 before any feature).
    public private(set) var maxField: Int64 = -1
    public private(set) var maxIndex: Int64 = -1
    /// Labels are real-valued targets (regression) instead of 0/1 classes.
    public let realLabels: Bool

    /// - Parameters:
    ///   - prefetch: read and decompress on a background thread.
    ///   - realLabels: read labels as real-valued targets (any finite number).
    public convenience init(path: String, prefetch: Bool = true, realLabels: Bool = false) throws {
        try self.init(lines: LineReader(path: path, prefetch: prefetch), realLabels: realLabels)
    }

    /// Reads lines from an existing reader (tests use tiny buffers this way).
    public init(lines: LineReader, realLabels: Bool = false) {
        self.lines = lines
        self.realLabels = realLabels
        path = lines.path
        capacity = 64
        features = .allocate(capacity: capacity)
    }

    deinit { features.deallocate() }

    /// 1-based number of the line of the last row returned.
    public var lineNumber: Int { lines.lineNumber }
    /// Size of the file on disk and bytes consumed so far (for progress).
    public var fileSize: Int64 { lines.fileSize }
    public var fileBytesRead: Int64 { lines.fileBytesRead }

    /// The next row, or nil at the end of the file. The row's features stay valid until the next call.
    public func next() throws -> Row? {
        guard let line = try lines.next() else { return nil }
        return try parse(line)
    }

    @inline(__always)
    private static func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }

    /// The decimal digits at `p[i...]` as a number (wrapping past 20 digits) and how many
    /// there were; `i` moves past them.
    @inline(__always)
    private static func digits(_ p: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int) -> (value: UInt64, count: Int) {
        var value: UInt64 = 0
        var count = 0
        while i < n, p[i] &- 48 < 10 {
            value = value &* 10 &+ UInt64(p[i] &- 48)
            count += 1
            i += 1
        }
        return (value, count)
    }

    private func parse(_ line: ByteSlice) throws -> Row {
        let n = line.count
        guard n > 0, let p = line.baseAddress else { throw DatasetError.emptyLine(path: path, line: lineNumber) }
        var i = 0
        while i < n && LibFFMReader.isBlank(p[i]) { i += 1 }
        guard i < n else { throw DatasetError.emptyLine(path: path, line: lineNumber) }
        let labelStart = i
        while i < n && !LibFFMReader.isBlank(p[i]) { i += 1 }
        var label: Float = 0
        if realLabels {
            let token = ByteSlice(start: p + labelStart, count: i - labelStart)
            guard let parsed = ByteParsing.double(token) else {
                throw DatasetError.badTarget(path: path, line: lineNumber, token: token.string, reason: "not a decimal number")
            }
            label = Float(parsed)
            guard label.isFinite else {
                throw DatasetError.badTarget(path: path, line: lineNumber, token: token.string,
                                             reason: parsed.isFinite ? "outside the 32-bit float range" : "NaN or infinite")
            }
        } else {
        switch i - labelStart {
        case 1 where p[labelStart] == 48: label = 0          // 0
        case 1 where p[labelStart] == 49: label = 1          // 1
        case 2 where p[labelStart + 1] == 49 && p[labelStart] == 45: label = 0  // -1
        case 2 where p[labelStart + 1] == 49 && p[labelStart] == 43: label = 1  // +1
        default:
            throw DatasetError.badLabel(path: path, line: lineNumber,
                                        token: ByteSlice(start: p + labelStart, count: i - labelStart).string)
        }
        }
        var count = 0
        var column = 0
        while true {
            while i < n && LibFFMReader.isBlank(p[i]) { i += 1 }
            if i == n { break }
            column += 1
            let tokenStart = i
            // field
            var (field, digits) = LibFFMReader.digits(p, n, &i)
            guard digits > 0, digits <= 10, field <= UInt64(UInt32.max), i < n, p[i] == 58 else {
                throw badFeature(p, n, tokenStart, column, part: "field", digits: digits, at: i, value: field)
            }
            i += 1
            let index: UInt64
            (index, digits) = LibFFMReader.digits(p, n, &i)
            guard digits > 0, digits <= 10, index <= UInt64(UInt32.max), i < n, p[i] == 58 else {
                throw badFeature(p, n, tokenStart, column, part: "index", digits: digits, at: i, value: index)
            }
            i += 1
            let valueStart = i
            while i < n && !LibFFMReader.isBlank(p[i]) { i += 1 }
            guard let parsed = ByteParsing.double(ByteSlice(start: p + valueStart, count: i - valueStart)) else {
                throw featureError(p, n, tokenStart, column,
                                   reason: i == valueStart ? "missing value" : "value is not a decimal number")
            }
            let value = Float(parsed)
            guard value.isFinite else {
                throw featureError(p, n, tokenStart, column,
                                   reason: parsed.isFinite ? "value is outside the 32-bit float range" : "value is NaN or infinite")
            }
            if count == capacity { grow() }
            features[count] = Feature(field: UInt32(truncatingIfNeeded: field), index: UInt32(truncatingIfNeeded: index), value: value)
            count += 1
            if Int64(field) > maxField { maxField = Int64(field) }
            if Int64(index) > maxIndex { maxIndex = Int64(index) }
        }
        return Row(label: label, features: UnsafeBufferPointer(start: features, count: count))
    }

    private func grow() {
        let bigger = UnsafeMutablePointer<Feature>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: features, count: capacity)
        features.deallocate()
        features = bigger
        capacity *= 2
    }

    private func token(_ p: UnsafePointer<UInt8>, _ n: Int, _ start: Int) -> String {
        var end = start
        while end < n && !LibFFMReader.isBlank(p[end]) { end += 1 }
        return ByteSlice(start: p + start, count: end - start).string
    }

    private func featureError(_ p: UnsafePointer<UInt8>, _ n: Int, _ start: Int, _ column: Int, reason: String) -> DatasetError {
        .badFeature(path: path, line: lineNumber, column: column, token: token(p, n, start), reason: reason)
    }

    /// Says which part of `field:index:value` went wrong.
    private func badFeature(_ p: UnsafePointer<UInt8>, _ n: Int, _ start: Int, _ column: Int,
                            part: String, digits: Int, at i: Int, value: UInt64) -> DatasetError {
        let reason: String
        if digits == 0 && i < n && p[i] == 45 {
            reason = "\(part) is negative"
        } else if digits == 0 {
            reason = i < n && p[i] == 58 ? "\(part) is empty" : "\(part) is not a non-negative integer"
        } else if digits > 10 || value > UInt64(UInt32.max) {
            reason = "\(part) is larger than \(UInt32.max)"
        } else if i == n || LibFFMReader.isBlank(p[i]) {
            reason = part == "field" ? "missing ':' after the field" : "missing ':' before the value (only field:index given)"
        } else {
            reason = "\(part) is not a non-negative integer"
        }
        return featureError(p, n, start, column, reason: reason)
    }
}
