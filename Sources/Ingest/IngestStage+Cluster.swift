import Cluster
import Foundation
import LogIO
import StageKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ctr-ingest as one rank of several (docs/SCALING.md "Ingest and hash on MPI").
///
/// Each rank reads its share of the inputs (whole files when there are several, else a byte
/// range of the one plain file cut at line starts) into hidden part files in the output
/// folder; the ranks then gather their counts, and rank 0 alone writes the outputs: the
/// parts concatenated in rank order, so train.tsv, valid.tsv, test.tsv and quarantine.tsv
/// are the bytes one process writes, and stats.json with the merged counts. The output
/// folder must be one folder that every rank sees (a shared file system).
extension IngestStage {
    /// Runs the stage as `cluster.rank` of `cluster.size` ranks (one rank: `run` as usual).
    /// Every rank calls it with the same arguments; only rank 0 writes the outputs, after
    /// every rank has read its share without error (a rank that fails throws, and the
    /// caller ends the job: nothing is published).
    public static func run(_ params: IngestParams, inputs: [String], outputs outputDirectory: String,
                           reporter: Reporter, cluster: Cluster) throws -> IngestResult {
        guard cluster.size > 1 else { return try run(params, inputs: inputs, outputs: outputDirectory, reporter: reporter) }
        return try runDistributed(params, inputs: inputs, outputDirectory: outputDirectory, reporter: reporter, cluster: cluster)
    }

    /// The part files one rank wrote, and what it counted.
    struct RankSummary {
        var primary = "", valid = "", test = "", quarantine = ""
        var stats: IngestStats
        var pass: PassState
        var columns: [UInt8] = []

        func encode() -> [UInt8] {
            var m = ClusterMessage()
            for p in [primary, valid, test, quarantine] { m.append(p) }
            for n in [stats.rowsRead, stats.rowsQuarantined, stats.headerLines, stats.rowsDownsampled,
                      stats.splits.train.rows, stats.splits.train.clicks, stats.splits.valid.rows, stats.splits.valid.clicks,
                      stats.splits.test.rows, stats.splits.test.clicks, pass.validRows, pass.validClicks] { m.append(n) }
            for reason in BadRowReason.allCases { m.append(pass.badByReason[reason] ?? 0) }
            m.append(stats.inputs.count)
            for input in stats.inputs {
                m.append(input.path)
                for n in [input.rowsRead, input.headerLines, input.rowsQuarantined] { m.append(n) }
            }
            m.append(pass.checkpoints.count)
            for c in pass.checkpoints { for n in [c.row, Int(c.offset), c.clicks] { m.append(n) } }
            m.append(bytes: columns)
            return m.bytes
        }

        static func decode(_ bytes: [UInt8], schema: Schema) throws -> RankSummary {
            var r = ClusterMessageReader(bytes)
            var s = RankSummary(stats: IngestStats(schema: schema), pass: PassState())
            s.primary = try r.string(); s.valid = try r.string(); s.test = try r.string(); s.quarantine = try r.string()
            func int() throws -> Int { Int(try r.int()) }
            s.stats.rowsRead = try int(); s.stats.rowsQuarantined = try int(); s.stats.headerLines = try int()
            s.stats.rowsDownsampled = try int()
            s.stats.splits.train = SplitCount(rows: try int(), clicks: try int())
            s.stats.splits.valid = SplitCount(rows: try int(), clicks: try int())
            s.stats.splits.test = SplitCount(rows: try int(), clicks: try int())
            s.pass.validRows = try int(); s.pass.validClicks = try int()
            for reason in BadRowReason.allCases { s.pass.badByReason[reason] = try int() }
            for _ in 0..<(try r.count()) {
                s.stats.inputs.append(InputStats(path: try r.string(), rowsRead: try int(), headerLines: try int(),
                                                 rowsQuarantined: try int()))
            }
            for _ in 0..<(try r.count()) {
                s.pass.checkpoints.append(Checkpoint(row: try int(), offset: Int64(try int()), clicks: try int()))
            }
            s.columns = try r.byteArray()
            return s
        }
    }

    static func runDistributed(_ params: IngestParams, inputs: [String], outputDirectory: String,
                               reporter: Reporter, cluster: Cluster) throws -> IngestResult {
        try params.validated()
        guard !inputs.isEmpty else { throw IngestError.noInputs }
        var schema = try Schema.resolve(params.schema)
        if let header = params.header { schema.header = header }
        let parser = try RowParser(schema: schema)
        try makeDirectory(outputDirectory)
        let directory = outputDirectory.hasSuffix("/") ? String(outputDirectory.dropLast()) : outputDirectory
        func path(_ name: String) -> String { directory.isEmpty ? "/" + name : directory + "/" + name }
        let rank = cluster.rank, ranks = cluster.size
        let ordered = params.split == .order

        // This rank's share: whole files when there are several, else a byte range of the
        // one plain file (a gzip file cannot be cut: rank 0 reads it, the others idle).
        var sizes: [Int64] = []
        for input in inputs {
            var info = stat()
            guard stat(input, &info) == 0 else { throw LogIOError.cannotOpen(path: input, errno: errno) }
            sizes.append(Int64(info.st_size))
        }
        let (shares, byteRanges) = try LineRanges.shares(of: inputs, cluster: cluster)
        let shareBytes = shares.reduce(Int64(0)) { $0 + ($1.range.map { $0.upperBound - $0.lowerBound } ?? sizes[$1.fileIndex]) }
        let progress = reporter.meter("ctr-ingest rank \(rank)", totalBytes: shareBytes)

        // Hidden part files, named by process id and rank; a killed run's are removed by the
        // next run's rank of the same number (on its machine).
        let partPrefix = ".ctr-ingest-part-"
        let partNames = ["train.tsv", "valid.tsv", "test.tsv", "quarantine.tsv", "train-sampled.tsv"]
        for name in partNames { TemporaryFiles.removeStale(in: directory.isEmpty ? "/" : directory, prefix: partPrefix, suffix: ".r\(rank).\(name)") }
        if rank == 0 {
            TemporaryFiles.removeStale(in: directory.isEmpty ? "/" : directory, prefix: ".ctr-ingest-rows-", suffix: ".tsv")
            for name in Split.allCases.map(\.fileName) + [quarantineFileName, failedQuarantineFileName, IngestStats.fileName] {
                TemporaryFiles.removeStalePartials(of: path(name))
            }
        }
        func partPath(_ name: String) -> String { path("\(partPrefix)\(getpid()).r\(rank).\(name)") }
        var registrations: [TemporaryFiles.Registration] = []
        var written: [String] = []
        defer {
            for p in written { unlink(p) }
            for r in registrations { r.release() }
        }
        func part(_ name: String) throws -> AtomicFileWriter {
            let p = partPath(name)
            registrations.append(TemporaryFiles.register(p))
            written.append(p)
            return try AtomicFileWriter(path: p)
        }
        let writers = PassWriters(primary: try part("train.tsv"), valid: ordered ? nil : try part("valid.tsv"),
                                  test: ordered ? nil : try part("test.tsv"), quarantine: try part("quarantine.tsv"))
        let columns = ColumnStatisticsAccumulator(columns: parser.outputColumns)
        var stats = IngestStats(schema: schema)
        var pass = PassState()
        pass.checkEmpty = !byteRanges
        if !ordered && params.negKeepRate < 1 { pass.deferredNegatives = [] }
        try readShares(shares, parser: parser, header: schema.header, params: params, writers: writers,
                       columns: columns, progress: progress, stats: &stats, pass: &pass)
        for w in [writers.primary, writers.valid, writers.test, writers.quarantine] { try w?.commit() }

        var summary = RankSummary(stats: stats, pass: pass)
        summary.primary = writers.primary.path
        summary.valid = writers.valid?.path ?? ""
        summary.test = writers.test?.path ?? ""
        summary.quarantine = writers.quarantine.path

        // --split hash with downsampling: the training negatives by their global index.
        if let negatives = pass.deferredNegatives {
            let before = Int(try cluster.exclusivePrefixSum(Int64(pass.validRows)).before)
            let sampled = try part("train-sampled.tsv")
            let reader = try LineReader(path: writers.primary.path, prefetch: false)
            var j = 0
            while let line = try reader.next() {
                if line.first != 49 {
                    defer { j += 1 }
                    if !keepNegative(index: before + negatives[j], seed: params.seed, rate: params.negKeepRate) {
                        summary.stats.rowsDownsampled += 1
                        summary.stats.splits.train.rows -= 1
                        continue
                    }
                }
                try sampled.write(line)
                try sampled.write(byte: 10)
            }
            try sampled.commit()
            summary.primary = sampled.path
        }
        var columnState = ClusterMessage()
        columns.encode(into: &columnState)
        summary.columns = columnState.bytes

        // Every rank's counts, on every rank: reaching this gather is the rank's vote that
        // its share succeeded (a rank that failed has thrown and ended the job).
        let summaries = try cluster.allgatherParts(summary.encode()).map { try RankSummary.decode($0, schema: schema) }

        // The merged counts, as one process would have counted them.
        var total = IngestStats(schema: schema)
        total.negKeepRate = params.negKeepRate
        total.split = SplitSettings(mode: params.split, valid: params.valid, test: params.test, seed: params.seed)
        var badByReason = [BadRowReason: Int]()
        var validRows = 0, validClicks = 0
        var inputStats = inputs.map { InputStats(path: $0) }
        for (r, s) in summaries.enumerated() {
            total.rowsRead += s.stats.rowsRead
            total.rowsQuarantined += s.stats.rowsQuarantined
            total.headerLines += s.stats.headerLines
            total.rowsDownsampled += s.stats.rowsDownsampled
            for split in Split.allCases {
                total.splits[split].rows += s.stats.splits[split].rows
                total.splits[split].clicks += s.stats.splits[split].clicks
            }
            validRows += s.pass.validRows
            validClicks += s.pass.validClicks
            for (reason, n) in s.pass.badByReason where n > 0 { badByReason[reason, default: 0] += n }
            // A rank's inputs are its shares in order: whole files, or the one file's range.
            let files = byteRanges ? [0] : LineRanges.assignFiles(sizes: sizes, ranks: ranks)[r]
            for (i, f) in files.enumerated() where i < s.stats.inputs.count {
                inputStats[f].rowsRead += s.stats.inputs[i].rowsRead
                inputStats[f].headerLines += s.stats.inputs[i].headerLines
                inputStats[f].rowsQuarantined += s.stats.inputs[i].rowsQuarantined
            }
        }
        total.inputs = inputStats
        total.badByReason = Dictionary(uniqueKeysWithValues: BadRowReason.allCases.map { ($0.rawValue, badByReason[$0] ?? 0) })

        // Decisions every rank takes alike; rank 0 reports them (the others wait to be ended).
        func fail(_ error: Error) throws -> Never {
            if rank != 0 { cluster.barrier() }
            throw error
        }
        if byteRanges, inputStats[0].rowsRead == 0 {
            try fail(IngestError.emptyInput(path: inputs[0], headerOnly: inputStats[0].headerLines > 0))
        }
        if Double(total.rowsQuarantined) > params.maxBadFraction * Double(total.rowsRead) {
            if rank == 0 {
                let failed = CommitGroup()
                let writer = try AtomicFileWriter(path: path(failedQuarantineFileName))
                try concatenate(summaries.map(\.quarantine), into: writer)
                try writer.commit(into: failed, as: path(failedQuarantineFileName))
                try failed.commit()
            }
            let reasons = BadRowReason.allCases.compactMap { r in badByReason[r].map { "\(r.rawValue) \($0)" } }
            let byRank = summaries.enumerated().filter { $0.element.stats.rowsQuarantined > 0 }
                .map { "rank \($0.offset) of \(ranks): \($0.element.stats.rowsQuarantined)" }.joined(separator: ", ")
            try fail(IngestError.tooManyBadRows(quarantined: total.rowsQuarantined, read: total.rowsRead,
                                                maxFraction: params.maxBadFraction,
                                                byReason: reasons.joined(separator: ", ") + " (bad rows by rank: \(byRank))",
                                                quarantinePath: path(failedQuarantineFileName)))
        }

        for s in summaries.dropFirst() {
            var reader = ClusterMessageReader(s.columns)
            try columns.merge(&reader)
        }
        total.columns = columns.finish()
        total.clickRate = validRows > 0 ? Double(validClicks) / Double(validRows) : 0

        if rank == 0 {
            let outputs = CommitGroup()
            if ordered {
                // All valid rows in rank order in one scratch file, as one process writes it,
                // then split by position as one process does.
                let scratchPath = path(".ctr-ingest-rows-\(getpid()).tsv")
                let scratch = try AtomicFileWriter(path: scratchPath)
                // Removed at the end unless renamed to train.tsv by the commit.
                registrations.append(TemporaryFiles.register(scratchPath))
                written.append(scratchPath)
                var checkpoints: [Checkpoint] = []
                var rowsBefore = 0, clicksBefore = 0
                var offset: Int64 = 0
                for s in summaries {
                    for c in s.pass.checkpoints {
                        checkpoints.append(Checkpoint(row: rowsBefore + c.row, offset: offset + c.offset, clicks: clicksBefore + c.clicks))
                    }
                    offset += try concatenate([s.primary], into: scratch)
                    rowsBefore += s.pass.validRows
                    clicksBefore += s.pass.validClicks
                }
                try scratch.commit()
                total.rowsDownsampled = 0
                try finishOrderedSplit(scratchPath: scratchPath, directory: directory, params: params,
                                       rows: validRows, clicks: validClicks, checkpoints: checkpoints,
                                       path: path, stats: &total, outputs: outputs)
            } else {
                for (split, parts) in [(Split.train, summaries.map(\.primary)), (.valid, summaries.map(\.valid)), (.test, summaries.map(\.test))] {
                    let writer = try AtomicFileWriter(path: path(split.fileName), group: outputs)
                    try concatenate(parts, into: writer)
                    try writer.commit()
                }
            }
            let quarantine = try AtomicFileWriter(path: path(quarantineFileName), group: outputs)
            try concatenate(summaries.map(\.quarantine), into: quarantine)
            try quarantine.commit()
            total.rowsKept = total.splits.train.rows + total.splits.valid.rows + total.splits.test.rows
            guard total.rowsRead == total.rowsKept + total.rowsQuarantined + total.rowsDownsampled else {
                preconditionFailure("ingest accounting: rows_read \(total.rowsRead) != kept \(total.rowsKept) + quarantined \(total.rowsQuarantined) + downsampled \(total.rowsDownsampled)")
            }
            let statsWriter = try AtomicFileWriter(path: path(IngestStats.fileName), group: outputs)
            try statsWriter.write(String(decoding: try total.jsonData(), as: UTF8.self) + "\n")
            try statsWriter.commit()
            try outputs.commit()
            unlink(path(failedQuarantineFileName))
        }
        // The other ranks keep their parts until rank 0 has copied them.
        cluster.barrier()
        if rank != 0 {
            // The split counts of `--split order` are known on rank 0 only.
            total.rowsKept = total.rowsRead - total.rowsQuarantined - total.rowsDownsampled
        }
        let result = IngestResult(stats: total, outputDirectory: outputDirectory, seconds: progress.elapsed)
        progress.clear()
        return result
    }

    /// Appends the files at `paths`, in order, to `writer`; returns the bytes appended.
    @discardableResult
    static func concatenate(_ paths: [String], into writer: AtomicFileWriter) throws -> Int64 {
        var total: Int64 = 0
        for p in paths where !p.isEmpty {
            let fd = open(p, O_RDONLY)
            guard fd >= 0 else { throw LogIOError.cannotOpen(path: p, errno: errno) }
            defer { close(fd) }
            var info = stat()
            fstat(fd, &info)
            try writer.append(fileDescriptor: fd, path: p, from: 0, to: Int64(info.st_size))
            total += Int64(info.st_size)
        }
        return total
    }
}
