import LogIO

/// The three splits ctr-ingest writes, and their file names in the output folder.
public enum Split: String, Codable, CaseIterable, Sendable {
    case train, valid, test

    /// `train.tsv`, `valid.tsv`, `test.tsv`.
    public var fileName: String { "\(rawValue).tsv" }
}

/// The rows format (docs/FORMATS.md "Rows"): one line per row,
/// `label<TAB>v1<TAB>…<TAB>vn<LF>`, values in output-column order, missing = empty.
public enum RowsFormat {
    /// Appends one row to `writer`.
    @inline(__always)
    public static func write(label: UInt8, values: UnsafeBufferPointer<ByteSlice>, to writer: AtomicFileWriter) throws {
        var digit = 48 &+ label
        try withUnsafeBytes(of: &digit) { try write(labelText: $0, values: values, to: writer) }
    }

    /// Appends a row whose label is a regression target's text (#13).
    public static func write(target: ByteSlice, values: UnsafeBufferPointer<ByteSlice>, to writer: AtomicFileWriter) throws {
        try write(labelText: UnsafeRawBufferPointer(target), values: values, to: writer)
    }

    /// Appends `labelText<TAB>v1<TAB>…<TAB>vn<LF>`.
    @inline(__always)
    private static func write(labelText: UnsafeRawBufferPointer, values: UnsafeBufferPointer<ByteSlice>,
                              to writer: AtomicFileWriter) throws {
        var length = 1 + labelText.count + values.count
        for v in values { length += v.count }
        try writer.withFreeSpace(atLeast: length) { out in
            if labelText.count > 0 { UnsafeMutableRawPointer(out).copyMemory(from: labelText.baseAddress!, byteCount: labelText.count) }
            var at = labelText.count
            for v in values {
                out[at] = 9
                at += 1
                if v.count > 0 {
                    UnsafeMutableRawPointer(out + at).copyMemory(from: v.baseAddress!, byteCount: v.count)
                    at += v.count
                }
            }
            out[at] = 10
            return at + 1
        }
    }

    /// Appends a parsed row: the line itself when it already is in the rows format.
    @inline(__always)
    public static func write(_ row: ParsedRow, line: ByteSlice, to writer: AtomicFileWriter) throws {
        if row.lineIsRowsFormat {
            try writer.withFreeSpace(atLeast: line.count + 1) { out in
                UnsafeMutableRawPointer(out).copyMemory(from: line.baseAddress!, byteCount: line.count)
                out[line.count] = 10
                return line.count + 1
            }
        } else if let target = row.target {
            try write(target: target, values: row.values, to: writer)
        } else {
            try write(label: row.label ?? 0, values: row.values, to: writer)
        }
    }
}

/// One row of a rows file; `values` is valid until the reader's next `next()`.
public struct RowsRecord {
    public let label: UInt8
    public let values: UnsafeBufferPointer<ByteSlice>
}

/// Errors reading a rows file: file, line, what was found and expected.
public enum RowsFileError: Error, Equatable, CustomStringConvertible {
    case badLine(path: String, line: Int, message: String)

    public var description: String {
        switch self {
        case let .badLine(path, line, message): return "\(path):\(line): \(message)"
        }
    }
}

/// Reads a rows file (train.tsv, valid.tsv, test.tsv; plain or gzip) row by row without
/// allocating per row.
///
/// ```swift
/// let stats = try IngestStats.load(directory: dir)
/// let reader = try RowsReader(path: dir + "/train.tsv", columnCount: stats.columns.count)
/// while let row = try reader.next() { … row.label, row.values[i] … }
/// ```
public final class RowsReader {
    public let path: String
    /// The number of values per row; taken from the first line when not given.
    public private(set) var columnCount: Int?
    private let reader: LineReader
    private var splitter = FieldSplitter(separator: 9)
    private var values: UnsafeMutableBufferPointer<ByteSlice>

    public init(path: String, columnCount: Int? = nil) throws {
        self.path = path
        self.columnCount = columnCount
        reader = try LineReader(path: path)
        values = .allocate(capacity: max((columnCount ?? 0) + 1, 64))
    }

    deinit { values.deallocate() }

    /// 1-based line number of the row last returned.
    public var lineNumber: Int { reader.lineNumber }

    /// The next row, nil at the end.
    /// - Throws: `RowsFileError.badLine` for a line with the wrong number of fields or a
    ///   label other than 0/1; `LogIOError` for read failures.
    public func next() throws -> RowsRecord? {
        guard let line = try reader.next() else { return nil }
        let fields = splitter.split(line)
        let label = fields[0]
        guard label.count == 1, label[0] == 48 || label[0] == 49 else {
            throw RowsFileError.badLine(path: path, line: reader.lineNumber,
                                        message: "found label \(RowParser.quoted(label)); expected 0 or 1 in the first field")
        }
        let n = fields.count - 1
        if let expected = columnCount {
            guard n == expected else {
                throw RowsFileError.badLine(path: path, line: reader.lineNumber,
                                            message: "found \(n) values after the label; expected \(expected) (tab-separated)")
            }
        } else {
            columnCount = n
        }
        if values.count < n {
            values.deallocate()
            values = .allocate(capacity: n)
        }
        for i in 0..<n { values[i] = fields[i + 1] }
        return RowsRecord(label: label[0] &- 48, values: UnsafeBufferPointer(start: values.baseAddress, count: n))
    }
}
