import Cluster
import Dataset
import Foundation
import Ingest
import LogIO
import StageKit

/// What a ctr-hash run wrote.
public struct HashResult: Sendable {
    public struct SplitOutput: Sendable, Equatable {
        public var split: String
        public var rows: Int
        public var clicks: Int
        /// Raw lines skipped as bad (only when reading raw logs with a schema), and header lines.
        public var badRows: Int
        public var headerLines: Int
        public var textPath: String?
        public var cachePath: String?
    }

    public struct Conversion: Sendable, Equatable {
        public var input: String
        public var output: String
        public var info: CacheInfo
    }

    public var outputDirectory: String
    /// nil for a libffm conversion.
    public var featurizerPath: String?
    public var spec: FeaturizerSpec?
    public var splits: [SplitOutput] = []
    public var conversions: [Conversion] = []
    /// Bad raw rows by reason (raw logs only).
    public var badByReason: [String: Int] = [:]
    /// Peak bytes of the counting structures (tables, sketches, HyperLogLogs).
    public var countingBytes = 0
    /// Bytes of the training split the counting pass kept for the featurizing pass
    /// (`--resident-mb`); 0 when train was read a second time.
    public var residentBytes = 0
    public var seconds = 0.0

    /// Wall and CPU seconds of the counting pass (training split) and of featurizing all splits.
    public struct Timings: Sendable, Equatable {
        public var countWall = 0.0, countCPU = 0.0, featurizeWall = 0.0, featurizeCPU = 0.0
    }
    public var timings = Timings()

    /// The split counts and, with `fieldTable`, a table of the fields (range, distinct
    /// count, collision rate, rare and missing shares), for the terminal.
    public func report(fieldTable: Bool = true) -> String {
        var lines: [String] = []
        if let spec {
            lines.append("fields: \(spec.fields.count), indices: \(LogIO.ProgressMeter.grouped(spec.indexCount)) "
                         + "(\(spec.layout.rawValue) layout, Murmur3 seed \(spec.hash.seed))")
            if fieldTable {
                func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
                    s.count >= n ? s : (right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
                }
                func percent(_ x: Double?) -> String { x.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
                lines.append(pad("field", 16) + pad("kind", 12) + pad("transform", 11) + pad("offset", 11, right: true)
                             + pad("bins", 10, right: true) + pad("distinct", 11, right: true) + pad("collide", 9, right: true)
                             + pad("rare", 9, right: true) + pad("missing", 9, right: true))
                for f in spec.fields {
                    let distinct = (f.distinctExact ? "" : "~") + String(f.distinct)
                    lines.append(pad(f.name, 16) + pad(f.kind.rawValue, 12) + pad(f.transform.rawValue, 11)
                                 + pad(String(f.offset), 11, right: true) + pad(String(f.bins), 10, right: true)
                                 + pad(distinct, 11, right: true) + pad(percent(f.collisionRate), 9, right: true)
                                 + pad(percent(f.rareShare), 9, right: true) + pad(percent(f.missingShare), 9, right: true))
                }
            }
        }
        for s in splits {
            var line = "\(s.split): \(LogIO.ProgressMeter.grouped(s.rows)) rows, \(LogIO.ProgressMeter.grouped(s.clicks)) clicks"
            let outputs = [s.textPath, s.cachePath].compactMap { $0 }.map { ($0 as NSString).lastPathComponent }
            if !outputs.isEmpty { line += " -> " + outputs.joined(separator: ", ") }
            if s.badRows > 0 { line += " (\(s.badRows) bad rows skipped)" }
            lines.append(line)
        }
        for c in conversions {
            lines.append("\(c.input) -> \(c.output): \(LogIO.ProgressMeter.grouped(c.info.rowCount)) rows, "
                         + "\(LogIO.ProgressMeter.grouped(c.info.featureCount)) features, \(c.info.fieldCount) fields, "
                         + "\(LogIO.ProgressMeter.grouped(c.info.indexCount)) indices")
        }
        if spec != nil {
            lines.append(String(format: "counting memory: %.1f MB; counting %.2f s (CPU %.2f s), featurizing %.2f s (CPU %.2f s)",
                                Double(countingBytes) / 1e6, timings.countWall, timings.countCPU,
                                timings.featurizeWall, timings.featurizeCPU)
                         + (residentBytes > 0 ? String(format: "; train read once (%.1f MB kept in memory)", Double(residentBytes) / 1e6) : ""))
        }
        return lines.joined(separator: "\n")
    }
}

/// The ctr-hash stage: rows (or raw logs) in, libffm text, binary caches and featurizer.json out.
public enum HashStage: Stage {
    /// Runs the stage.
    /// - Parameters:
    ///   - inputs: raw log files of the training split (with `params.schema`), libffm files
    ///     (with `params.fromLibffm`), or nothing / the rows folder (with `params.rows`).
    ///   - outputDirectory: created if needed; receives `train.ffm`, `train.cache`, … and
    ///     `featurizer.json`, each written atomically.
    ///   - reporter: live progress meters.
    public static func run(_ params: HashParams, inputs: [String], outputs outputDirectory: String,
                           reporter: Reporter) throws -> HashResult {
        try run(params, inputs: inputs, outputs: outputDirectory, reporter: reporter, chunkBytes: 1 << 20)
    }

    /// Runs the stage as `cluster.rank` of `cluster.size` ranks (docs/SCALING.md "Ingest and
    /// hash on MPI"): every rank calls it with the same arguments, counts its share of the
    /// training rows, the counts are merged so that every rank builds the same featurizer
    /// (featurizer.json the bytes of one process), and each rank writes its share of each
    /// split as a shard (`train-00000-of-00002.cache`, …; docs/FORMATS.md "Shards"). One rank:
    /// `run` as usual.
    public static func run(_ params: HashParams, inputs: [String], outputs outputDirectory: String,
                           reporter: Reporter, cluster: Cluster) throws -> HashResult {
        try run(params, inputs: inputs, outputs: outputDirectory, reporter: reporter, chunkBytes: 1 << 20, cluster: cluster)
    }

    /// - Parameter chunkBytes: bytes of lines per work chunk (tests make it small to get many chunks).
    static func run(_ params: HashParams, inputs: [String], outputs outputDirectory: String,
                    reporter: Reporter, chunkBytes: Int, cluster: Cluster = .single) throws -> HashResult {
        try params.validated()
        if cluster.size > 1 && params.fromLibffm {
            throw FeaturizeError.badOption(option: "--from-libffm", detail: "converts files as one process; run it without mpirun")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        try createDirectory(outputDirectory)
        var result: HashResult
        if params.fromLibffm {
            result = try convertLibffm(inputs: inputs, outputDirectory: outputDirectory, reporter: reporter)
        } else {
            var params = params
            var inputs = inputs
            if params.rows == nil && params.schema == nil && inputs.count == 1 && isDirectory(inputs[0]) {
                params.rows = inputs[0]
                inputs = []
            }
            let source = try InputSource.make(params: params, inputs: inputs)
            result = try HashRun(params: params, source: source, outputDirectory: outputDirectory, reporter: reporter,
                                 chunkBytes: chunkBytes, cluster: cluster).run()
        }
        result.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return result
    }

    static func convertLibffm(inputs: [String], outputDirectory: String, reporter: Reporter) throws -> HashResult {
        guard !inputs.isEmpty else {
            throw FeaturizeError.badOption(option: "--from-libffm", detail: "needs one or more libffm text files")
        }
        var result = HashResult(outputDirectory: outputDirectory)
        var used = Set<String>()
        // All or nothing: every cache waits for the last conversion to succeed.
        let outputs = CommitGroup()
        for input in inputs {
            var name = (input as NSString).lastPathComponent
            if name.hasSuffix(".gz") { name.removeLast(3) }
            for ext in [".ffm", ".libffm", ".txt"] where name.hasSuffix(ext) {
                name.removeLast(ext.count)
                break
            }
            let output = join(outputDirectory, name + ".cache")
            guard used.insert(output).inserted else {
                throw FeaturizeError.badOption(option: "--from-libffm", detail: "two inputs would both be converted to \(output)")
            }
            var info = stat()
            let size = stat(input, &info) == 0 ? Int64(info.st_size) : 0
            let meter = reporter.meter("ctr-hash \(name)", totalBytes: size)
            let cacheInfo = try CacheWriter.convert(libffm: input, to: output, progress: meter, group: outputs)
            result.conversions.append(.init(input: input, output: output, info: cacheInfo))
        }
        try outputs.commit()
        return result
    }

    static func createDirectory(_ path: String) throws {
        if let why = FileIO.createFolder(path) {
            throw FeaturizeError.missingFile(path: path.isEmpty ? "\"\"" : path, detail: "cannot create the output folder: \(why)")
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

/// Where the rows come from: a ctr-ingest rows folder, or raw logs with a schema.
struct InputSource {
    enum Format { case rows, raw }
    let format: Format
    let schema: Schema
    let columns: [OutputColumn]
    /// Files per split, in split order (train, valid, test); raw splits may have none.
    let files: [(split: Split, paths: [String])]
    let stats: IngestStats?

    static func make(params: HashParams, inputs: [String]) throws -> InputSource {
        if let rows = params.rows {
            guard inputs.isEmpty else {
                throw FeaturizeError.badOption(option: "--rows", detail: "takes no input files (found \(inputs.count)); the rows folder holds them")
            }
            guard HashStage.isDirectory(rows) else {
                throw FeaturizeError.missingFile(path: rows, detail: "is not a folder; expected ctr-ingest's output folder")
            }
            let statsPath = HashStage.join(rows, IngestStats.fileName)
            guard FileManager.default.fileExists(atPath: statsPath) else { throw FeaturizeError.missingStats(directory: rows) }
            let stats = try IngestStats.load(path: statsPath)
            let parserColumns = try RowParser(schema: stats.schema).outputColumns
            guard parserColumns == stats.outputColumns else {
                throw FeaturizeError.badRow(path: statsPath, line: 0,
                    detail: "the columns (\(stats.outputColumns.map(\.name).joined(separator: ", "))) do not match the schema's output columns (\(parserColumns.map(\.name).joined(separator: ", ")))")
            }
            var files: [(Split, [String])] = []
            for split in Split.allCases {
                let plain = HashStage.join(rows, split.fileName)
                let path = FileManager.default.fileExists(atPath: plain) ? plain
                    : FileManager.default.fileExists(atPath: plain + ".gz") ? plain + ".gz" : nil
                guard let path else {
                    throw FeaturizeError.missingFile(path: plain, detail: "missing; the rows folder should hold train.tsv, valid.tsv and test.tsv")
                }
                files.append((split, [path]))
            }
            return InputSource(format: .rows, schema: stats.schema, columns: stats.outputColumns, files: files, stats: stats)
        }
        guard let schemaName = params.schema else {
            throw FeaturizeError.badOption(option: "--rows/--schema", detail: "expected --rows DIR (ctr-ingest's output), --schema with raw log files, or --from-libffm with libffm files")
        }
        guard !inputs.isEmpty else {
            throw FeaturizeError.badOption(option: "--schema", detail: "needs the raw log files of the training split")
        }
        let schema = try Schema.resolve(schemaName)
        let columns = try RowParser(schema: schema).outputColumns
        return InputSource(format: .raw, schema: schema, columns: columns,
                           files: [(.train, inputs), (.valid, params.validFile), (.test, params.testFile)], stats: nil)
    }
}
