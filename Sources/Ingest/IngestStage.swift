import Foundation
import LogIO
import StageKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a successful ingest produced.
public struct IngestResult: Sendable {
    public let stats: IngestStats
    public let outputDirectory: String
    public let seconds: Double

    /// The one-line summary ctr-ingest prints.
    public var summary: String {
        let g = ProgressMeter.grouped
        let s = stats
        let files = s.inputs.count == 1 ? "1 file" : "\(s.inputs.count) files"
        let rate = seconds > 0 ? Double(s.rowsRead) / seconds : 0
        return "ctr-ingest: read \(g(s.rowsRead)) rows from \(files) in \(String(format: "%.2f", seconds)) s "
            + "(\(g(Int(rate))) rows/s): kept \(g(s.rowsKept)) (train \(g(s.splits.train.rows)), valid \(g(s.splits.valid.rows)), "
            + "test \(g(s.splits.test.rows))), quarantined \(g(s.rowsQuarantined)), downsampled \(g(s.rowsDownsampled)) -> \(outputDirectory)"
    }
}

/// ctr-ingest as a library call: raw logs in, validated rows, quarantine and stats.json out.
public enum IngestStage: Stage {
    public static let quarantineFileName = "quarantine.tsv"
    /// Where a run that failed for `--max-bad-fraction` leaves its bad rows: outside the
    /// set of outputs, so the previous run's files stay a consistent set.
    public static let failedQuarantineFileName = "quarantine.failed.tsv"

    /// Reads `inputs` in order, validates every line against the schema, writes
    /// `train.tsv`, `valid.tsv`, `test.tsv`, `quarantine.tsv` and `stats.json` into
    /// `outputDirectory` (created if needed), all renamed into place together only on
    /// success, `stats.json` last (a folder with stats.json holds a complete set). A run that
    /// fails for `--max-bad-fraction` changes none of them and leaves its bad rows in
    /// `quarantine.failed.tsv`.
    ///
    /// Reports live progress on a terminal; the caller says `result.summary`.
    /// - Throws: `IngestError`, `SchemaError`, `LogIOError` (unreadable or corrupt input).
    /// - Complexity: one pass over the inputs in bounded memory; with `--split order` the
    ///   valid and test rows are copied once more at the end.
    public static func run(_ params: IngestParams, inputs: [String], outputs outputDirectory: String,
                           reporter: Reporter) throws -> IngestResult {
        try params.validated()
        guard !inputs.isEmpty else { throw IngestError.noInputs }
        var schema = try Schema.resolve(params.schema)
        if let header = params.header { schema.header = header }
        let parser = try RowParser(schema: schema)
        try makeDirectory(outputDirectory)
        let directory = outputDirectory.hasSuffix("/") ? String(outputDirectory.dropLast()) : outputDirectory
        func path(_ name: String) -> String { directory.isEmpty ? "/" + name : directory + "/" + name }

        var totalBytes: Int64 = 0
        for input in inputs {
            var info = stat()
            guard stat(input, &info) == 0 else { throw LogIOError.cannotOpen(path: input, errno: errno) }
            totalBytes += Int64(info.st_size)
        }
        let progress = reporter.meter("ctr-ingest", totalBytes: totalBytes)

        let ordered = params.split == .order
        // With --split order the split points are known only at the end: all valid rows go
        // to one scratch file, split by byte offsets afterwards (see finishOrderedSplit).
        let scratchPrefix = ".ctr-ingest-rows-"
        // What runs killed with SIGKILL left (SIGINT and SIGTERM remove their own).
        TemporaryFiles.removeStale(in: directory.isEmpty ? "/" : directory, prefix: scratchPrefix, suffix: ".tsv")
        for name in Split.allCases.map(\.fileName) + [quarantineFileName, failedQuarantineFileName, IngestStats.fileName] {
            TemporaryFiles.removeStalePartials(of: path(name))
        }
        let scratchPath = path(scratchPrefix + "\(getpid()).tsv")
        let scratchRegistration = ordered ? TemporaryFiles.register(scratchPath) : nil
        defer { if ordered { unlink(scratchPath); scratchRegistration?.release() } }
        // The one commit point: every output waits here until the run has succeeded.
        let outputs = CommitGroup()
        let primary = try AtomicFileWriter(path: ordered ? scratchPath : path(Split.train.fileName), group: ordered ? nil : outputs)
        let validWriter = ordered ? nil : try AtomicFileWriter(path: path(Split.valid.fileName), group: outputs)
        let testWriter = ordered ? nil : try AtomicFileWriter(path: path(Split.test.fileName), group: outputs)
        let quarantine = try AtomicFileWriter(path: path(quarantineFileName))
        let columns = ColumnStatisticsAccumulator(columns: parser.outputColumns)

        var stats = IngestStats(schema: schema)
        stats.negKeepRate = params.negKeepRate
        stats.split = SplitSettings(mode: params.split, valid: params.valid, test: params.test, seed: params.seed)
        // Regression targets (#13) have no negatives to downsample: the option is refused.
        if schema.hasRealTarget && params.negKeepRate < 1 {
            try params.validated([ParamProblem(["negKeepRate"], "schema \(schema.name) has a regression target (a \"target\" column): "
                + "there are no negatives to downsample; expected 1")])
        }
        let writers = PassWriters(primary: primary, valid: validWriter, test: testWriter, quarantine: quarantine)
        var pass = PassState()
        try readShares(inputs.enumerated().map { InputShare(fileIndex: $0, path: $1) }, parser: parser, header: schema.header,
                       params: params, writers: writers, columns: columns, progress: progress, stats: &stats, pass: &pass)
        let badByReason = pass.badByReason
        let validRows = pass.validRows
        var validClicks = pass.validClicks
        let checkpoints = pass.checkpoints

        stats.badByReason = Dictionary(uniqueKeysWithValues: BadRowReason.allCases.map { ($0.rawValue, badByReason[$0] ?? 0) })
        if Double(stats.rowsQuarantined) > params.maxBadFraction * Double(stats.rowsRead) {
            let failed = CommitGroup()
            try quarantine.commit(into: failed, as: path(failedQuarantineFileName))
            try failed.commit()
            let reasons = BadRowReason.allCases.compactMap { r in badByReason[r].map { "\(r.rawValue) \($0)" } }
            throw IngestError.tooManyBadRows(quarantined: stats.rowsQuarantined, read: stats.rowsRead,
                                             maxFraction: params.maxBadFraction, byReason: reasons.joined(separator: ", "),
                                             quarantinePath: path(failedQuarantineFileName))
        }

        if ordered {
            try primary.commit()
            try finishOrderedSplit(scratchPath: scratchPath, directory: directory, params: params,
                                   rows: validRows, clicks: validClicks, checkpoints: checkpoints,
                                   path: path, stats: &stats, outputs: outputs)
        } else {
            for writer in [primary, validWriter!, testWriter!] { try writer.commit() }
        }
        try quarantine.commit(into: outputs, as: path(quarantineFileName))

        if schema.hasRealTarget {
            // Targets are not clicks: the click counts and rate stay 0.
            validClicks = 0
            for split in [\IngestStats.splits.train, \IngestStats.splits.valid, \IngestStats.splits.test] { stats[keyPath: split].clicks = 0 }
        }
        stats.columns = columns.finish()
        stats.clickRate = validRows > 0 ? Double(validClicks) / Double(validRows) : 0
        stats.rowsKept = stats.splits.train.rows + stats.splits.valid.rows + stats.splits.test.rows
        precondition(stats.rowsRead == stats.rowsKept + stats.rowsQuarantined + stats.rowsDownsampled,
                     "ingest accounting: rows_read \(stats.rowsRead) != kept \(stats.rowsKept) + quarantined \(stats.rowsQuarantined) + downsampled \(stats.rowsDownsampled)")

        // stats.json is the completeness marker: added last, so the old one goes first and
        // the new one appears last (CommitGroup.commit).
        let statsWriter = try AtomicFileWriter(path: path(IngestStats.fileName), group: outputs)
        try statsWriter.write(String(decoding: try stats.jsonData(), as: UTF8.self) + "\n")
        try statsWriter.commit()
        try outputs.commit()
        unlink(path(failedQuarantineFileName))

        let result = IngestResult(stats: stats, outputDirectory: outputDirectory, seconds: progress.elapsed)
        progress.clear()
        return result
    }

    /// The output files of one pass over the inputs (one process's, or one rank's parts).
    struct PassWriters {
        /// train.tsv, or with `--split order` the scratch file of all valid rows.
        let primary: AtomicFileWriter
        let valid: AtomicFileWriter?
        let test: AtomicFileWriter?
        let quarantine: AtomicFileWriter
    }

    /// What a pass counted besides `IngestStats`.
    struct PassState {
        var badByReason = [BadRowReason: Int]()
        var validRows = 0
        var validClicks = 0
        /// With `--split order`, every 1024th valid row: its index, the byte offset where it
        /// starts in the scratch file and the clicks before it.
        var checkpoints: [Checkpoint] = []
        var bytesBefore: Int64 = 0
        /// Not nil (a rank of several with `--split hash` and downsampling): the training
        /// negatives are all written, and their indices among this pass's valid rows kept
        /// here, to be downsampled once the rank knows the valid rows before its share.
        var deferredNegatives: [Int]?
        /// Whether a file with no data rows is an error here (false for a byte range of a
        /// file: the ranks' counts are checked together).
        var checkEmpty = true
    }

    /// Reads `shares` in order, validating every line: bad lines to the quarantine, valid
    /// rows to the writers (by hash, or all to the scratch file with `--split order`).
    static func readShares(_ shares: [InputShare], parser: RowParser, header: HeaderMode, params: IngestParams,
                           writers: PassWriters, columns: ColumnStatisticsAccumulator, progress: ProgressMeter,
                           stats: inout IngestStats, pass: inout PassState) throws {
        let ordered = params.split == .order
        let downsample = params.negKeepRate < 1
        let hashSeed = UInt32(truncatingIfNeeded: params.seed)
        let testBound = params.test * 4294967296.0
        let validBound = (params.test + params.valid) * 4294967296.0
        let primary = writers.primary, quarantine = writers.quarantine
        for share in shares {
            let input = share.path
            let reader = try share.range.map {
                try RawLogReader(path: input, parser: parser, header: header, range: $0, firstLine: share.firstLine)
            } ?? RawLogReader(path: input, parser: parser, header: header)
            var fileStats = InputStats(path: input)
            var bytesRead: Int64 = 0
            while let line = try reader.next() {
                fileStats.rowsRead += 1
                if progress.live {
                    // The byte count crosses threads (a lock): refresh it now and then.
                    if fileStats.rowsRead & 4095 == 1 { bytesRead = reader.fileBytesRead }
                    progress.update(rows: stats.rowsRead + fileStats.rowsRead, bytes: pass.bytesBefore + bytesRead)
                }
                switch parser.parse(line) {
                case .bad(let bad):
                    fileStats.rowsQuarantined += 1
                    pass.badByReason[bad.reason, default: 0] += 1
                    try quarantine.write(input)
                    try quarantine.write(byte: 9)
                    try quarantine.write(int: Int64(reader.lineNumber))
                    try quarantine.write(byte: 9)
                    try quarantine.write(bad.reason.rawValue)
                    try quarantine.write(byte: 9)
                    try quarantine.write(parser.message(for: bad))
                    try quarantine.write(byte: 9)
                    try quarantine.write(line)
                    try quarantine.write(byte: 10)
                case .row(let row):
                    columns.add(row)
                    let label = row.label ?? 0
                    let index = pass.validRows
                    pass.validRows += 1
                    pass.validClicks += Int(label)
                    if ordered {
                        if index & 1023 == 0 {
                            pass.checkpoints.append(Checkpoint(row: index, offset: primary.bytesWritten, clicks: pass.validClicks - Int(label)))
                        }
                        try RowsFormat.write(row, line: line, to: primary)
                        continue
                    }
                    let u = Double(Murmur3.hash32(UnsafeRawBufferPointer(line), seed: hashSeed))
                    if u < testBound {
                        try RowsFormat.write(row, line: line, to: writers.test!)
                        stats.splits.test.rows += 1
                        stats.splits.test.clicks += Int(label)
                    } else if u < validBound {
                        try RowsFormat.write(row, line: line, to: writers.valid!)
                        stats.splits.valid.rows += 1
                        stats.splits.valid.clicks += Int(label)
                    } else if downsample && label == 0 && pass.deferredNegatives == nil
                                && !keepNegative(index: index, seed: params.seed, rate: params.negKeepRate) {
                        stats.rowsDownsampled += 1
                    } else {
                        if downsample && label == 0 { pass.deferredNegatives?.append(index) }
                        try RowsFormat.write(row, line: line, to: primary)
                        stats.splits.train.rows += 1
                        stats.splits.train.clicks += Int(label)
                    }
                }
            }
            pass.bytesBefore += reader.fileBytesRead
            fileStats.headerLines = reader.headerLines
            if fileStats.rowsRead == 0 && pass.checkEmpty {
                throw IngestError.emptyInput(path: input, headerOnly: fileStats.headerLines > 0)
            }
            stats.rowsRead += fileStats.rowsRead
            stats.rowsQuarantined += fileStats.rowsQuarantined
            stats.headerLines += fileStats.headerLines
            stats.inputs.append(fileStats)
        }
    }

    /// Whether training negative number `index` (0-based among valid rows) survives
    /// downsampling: the index-th output of SplitMix64 seeded with `seed`, as a fraction
    /// of 2^64 (top 53 bits), is below `rate`.
    @inline(__always)
    public static func keepNegative(index: Int, seed: UInt64, rate: Double) -> Bool {
        let z = SplitMix64.mix(seed &+ (UInt64(index) &+ 1) &* SplitMix64.increment)
        return Double(z >> 11) * 0x1p-53 < rate
    }

    /// Splits the scratch file of all valid rows by position: valid and test are copied out,
    /// train is the scratch file cut short (or, with downsampling, a filtered copy).
    static func finishOrderedSplit(scratchPath: String, directory: String, params: IngestParams,
                                           rows: Int, clicks: Int, checkpoints: [Checkpoint],
                                           path: (String) -> String, stats: inout IngestStats,
                                           outputs: CommitGroup) throws
    {
        let testRows = Int((Double(rows) * params.test).rounded(.down))
        let validRows = Int((Double(rows) * params.valid).rounded(.down))
        let trainRows = rows - validRows - testRows
        let file = try ScratchFile(path: scratchPath)
        let (trainEnd, trainClicks) = try file.locate(row: trainRows, rows: rows, clicks: clicks, checkpoints: checkpoints)
        let (validEnd, clicksBeforeTest) = try file.locate(row: trainRows + validRows, rows: rows, clicks: clicks, checkpoints: checkpoints)

        let validWriter = try file.copy(from: trainEnd, to: validEnd, into: path(Split.valid.fileName))
        stats.splits.valid = SplitCount(rows: validRows, clicks: clicksBeforeTest - trainClicks)
        let testWriter = try file.copy(from: validEnd, to: file.size, into: path(Split.test.fileName))
        stats.splits.test = SplitCount(rows: testRows, clicks: clicks - clicksBeforeTest)

        if params.negKeepRate >= 1 {
            try file.truncate(to: trainEnd)
            stats.splits.train = SplitCount(rows: trainRows, clicks: trainClicks)
            // The scratch file cut short is train.tsv.
            try outputs.add(temporary: scratchPath, as: path(Split.train.fileName))
            try validWriter.commit(into: outputs, as: validWriter.path)
            try testWriter.commit(into: outputs, as: testWriter.path)
            return
        }
        let trainWriter = try AtomicFileWriter(path: path(Split.train.fileName), group: outputs)
        let reader = try LineReader(path: scratchPath, prefetch: false)
        var index = 0
        while index < trainRows, let line = try reader.next() {
            let positive = line.first == 49
            if positive || keepNegative(index: index, seed: params.seed, rate: params.negKeepRate) {
                try trainWriter.write(line)
                try trainWriter.write(byte: 10)
                stats.splits.train.rows += 1
                stats.splits.train.clicks += positive ? 1 : 0
            } else {
                stats.rowsDownsampled += 1
            }
            index += 1
        }
        for writer in [trainWriter, validWriter, testWriter] { try writer.commit(into: outputs, as: writer.path) }
    }

    static func makeDirectory(_ path: String) throws {
        if let why = FileIO.createFolder(path) { throw IngestError.cannotCreateDirectory(path: path, message: why) }
    }
}

/// A place in the scratch file of valid rows (`--split order`): row `row` starts at byte
/// `offset`, after `clicks` clicks.
struct Checkpoint: Equatable {
    var row: Int
    var offset: Int64
    var clicks: Int
}

/// The scratch file of all valid rows, read back by byte offsets.
final class ScratchFile {
    let path: String
    let fd: Int32
    let size: Int64
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        var info = stat()
        fstat(fd, &info)
        size = Int64(info.st_size)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    private func read(at offset: Int64, count: Int) throws -> Int {
        try FileIO.readFully(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(count, buffer.count)]), at: offset, path: path)
    }

    /// Byte offset where valid row `row` starts, and the clicks before it.
    func locate(row: Int, rows: Int, clicks: Int, checkpoints: [Checkpoint]) throws -> (Int64, Int) {
        if row >= rows { return (size, clicks) }
        // The last checkpoint at or before the row (checkpoints are sorted by row; the first is row 0).
        var lo = 0, hi = checkpoints.count
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if checkpoints[mid].row <= row { lo = mid } else { hi = mid }
        }
        let checkpoint = checkpoints[lo]
        var offset = checkpoint.offset
        var clicksBefore = checkpoint.clicks
        var remaining = row - checkpoint.row
        var atLineStart = true
        while remaining > 0 {
            let n = try read(at: offset, count: buffer.count)
            guard n > 0 else { break }
            let bytes = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var i = 0
            while i < n && remaining > 0 {
                if atLineStart {
                    if bytes[i] == 49 { clicksBefore += 1 }
                    atLineStart = false
                }
                guard let hit = memchr(bytes + i, 10, n - i) else { i = n; break }
                i = UnsafeRawPointer(bytes).distance(to: UnsafeRawPointer(hit)) + 1
                remaining -= 1
                atLineStart = true
            }
            offset += Int64(i)
        }
        return (offset, clicksBefore)
    }

    /// Copies bytes [start, end) into a new file renamed into place by `commit()`.
    func copy(from start: Int64, to end: Int64, into path: String) throws -> AtomicFileWriter {
        let target = try AtomicFileWriter(path: path)
        try target.append(fileDescriptor: fd, path: self.path, from: start, to: end)
        return target
    }

    func truncate(to length: Int64) throws {
        guard ftruncate(fd, off_t(length)) == 0 else { throw LogIOError.writeFailed(path: path, errno: errno) }
    }
}
