import LogIO

/// Reads the data lines of one raw log file for a schema: gzip or plain (LineReader), a
/// UTF-8 byte order mark dropped, the header line skipped as the schema's header mode says.
/// ctr-ingest reads its inputs through it; ctr-hash and ctr-predict can too.
///
/// ```swift
/// let parser = try RowParser(schema: .avazu)
/// let reader = try RawLogReader(path: "train.csv.gz", parser: parser)
/// while let line = try reader.next() {
///     switch parser.parse(line) { … }      // reader.lineNumber for messages
/// }
/// ```
public final class RawLogReader {
    public let path: String
    public let parser: RowParser
    public let header: HeaderMode
    /// 1 when the file's first line was a header and was skipped.
    public private(set) var headerLines = 0
    private let reader: LineReader
    /// Lines of the file before the first one read (a byte range that starts mid-file).
    private let linesBefore: Int
    /// Whether reading starts at the file's first byte (where a header or BOM can be).
    private let atFileStart: Bool

    /// - Parameter header: overrides `parser.schema.header`.
    public init(path: String, parser: RowParser, header: HeaderMode? = nil) throws {
        self.path = path
        self.parser = parser
        self.header = header ?? parser.schema.header
        reader = try LineReader(path: path)
        linesBefore = 0
        atFileStart = true
    }

    /// Reads the lines of `range` of a plain (not gzip) file, a range that starts at a line
    /// start (`LineRanges.cuts`); `firstLine` is the file's line number of its first line,
    /// for messages. Only a range starting at byte 0 can hold the header.
    public init(path: String, parser: RowParser, header: HeaderMode? = nil, range: Range<Int64>, firstLine: Int) throws {
        self.path = path
        self.parser = parser
        self.header = header ?? parser.schema.header
        reader = LineReader(source: try RangeFileSource(path: path, range: range), path: path, bufferSize: 1 << 20)
        linesBefore = max(firstLine - 1, 0)
        atFileStart = range.lowerBound == 0
    }

    /// 1-based line number in the file (header included) of the line last returned.
    public var lineNumber: Int { linesBefore + reader.lineNumber }

    /// Compressed bytes consumed so far (for progress).
    public var fileBytesRead: Int64 { reader.fileBytesRead }

    /// The file's size on disk.
    public var fileSize: Int64 { reader.fileSize }

    /// The next data line (without its line end), nil at the end of the file. Valid until
    /// the next call.
    /// - Throws: `IngestError.headerMismatch` when the header mode is `present` and the first
    ///   line is not the schema's header; `LogIOError` for unreadable or corrupt files.
    public func next() throws -> ByteSlice? {
        guard var line = try reader.next() else { return nil }
        guard reader.lineNumber == 1 && atFileStart else { return line }
        if line.count >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF {
            line = ByteSlice(rebasing: line[3...])
        }
        switch header {
        case .absent:
            return line
        case .present:
            guard parser.isHeader(line) else {
                throw IngestError.headerMismatch(path: path, message: parser.headerMismatch(line))
            }
        case .auto:
            guard parser.isHeader(line) else { return line }
        }
        headerLines = 1
        return try reader.next()
    }
}
