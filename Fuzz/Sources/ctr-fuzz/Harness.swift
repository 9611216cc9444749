// libFuzzer entry points for SwiftCTR's parsers. One binary, one harness per run:
// CTR_FUZZ_TARGET names it (the list is `targets` below). Each harness feeds the input to a
// public reader and ignores thrown errors: only a crash, trap, leak report, timeout or
// out-of-memory is a finding. Build and run with Fuzz/run.sh.

import CFuzzerDriver
import Dataset
import FFM
import Featurize
import Foundation
import Ingest
import LogIO
import Pipeline
import StageKit

/// A harness: the bytes of one input, in a scratch folder of its own.
typealias Harness = (_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws -> Void

nonisolated(unsafe) let targets: [String: Harness] = [
    "lines": fuzzLines,
    "rows-criteo": { data, _ in try fuzzRows(data, schema: "criteo") },
    "rows-avazu": { data, _ in try fuzzRows(data, schema: "avazu") },
    "libffm": fuzzLibFFM,
    "cache": fuzzCache,
    "model": fuzzModel,
    "pipeline": fuzzPipeline,
    "features-config": fuzzFeaturesConfig,
    "schema": fuzzSchema,
    "featurizer": fuzzFeaturizer,
]

// MARK: - Entry points

@main
enum FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
    }
}

nonisolated(unsafe) var selected: Harness?
nonisolated(unsafe) var scratch: Scratch?
/// CTR_FUZZ_VERBOSE=1 prints what each input threw (to check that seeds are accepted).
nonisolated(unsafe) var verbose = false

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    if let dir = ProcessInfo.processInfo.environment["CTR_FUZZ_MAKE_SEEDS"] {
        do { try makeSeeds(in: dir) } catch { fatalError("making seeds: \(error)") }
        exit(0)
    }
    let name = ProcessInfo.processInfo.environment["CTR_FUZZ_TARGET"] ?? ""
    guard let harness = targets[name] else {
        FileHandle.standardError.write(Data("CTR_FUZZ_TARGET must be one of: \(targets.keys.sorted().joined(separator: " "))\n".utf8))
        exit(2)
    }
    selected = harness
    scratch = Scratch()
    verbose = ProcessInfo.processInfo.environment["CTR_FUZZ_VERBOSE"] == "1"
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = UnsafeBufferPointer(start: count > 0 ? start : nil, count: count)
    do { try selected!(data, scratch!) } catch {
        if verbose { FileHandle.standardError.write(Data("thrown: \(error)\n".utf8)) }
    }
    return 0
}

// MARK: - Scratch files

/// A folder per process for the files a harness must hand to a path-based reader.
final class Scratch {
    let directory: String

    init() {
        directory = NSTemporaryDirectory() + "ctr-fuzz-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Inputs that the pipeline seeds name, so that validation gets past "no such file".
        for name in ["logs.txt", "train.ffm", "valid.ffm", "test.ffm"] {
            FileManager.default.createFile(atPath: directory + "/" + name, contents: Data("1 0:1:1\n".utf8))
        }
        atexit { try? FileManager.default.removeItem(atPath: scratch!.directory) }
    }

    /// Writes `bytes` to `name` in the folder and returns its path.
    func write(_ bytes: UnsafeRawBufferPointer, name: String) -> String {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        close(fd)
        return path
    }

    func write(_ data: UnsafeBufferPointer<UInt8>, name: String) -> String {
        write(UnsafeRawBufferPointer(data), name: name)
    }

    func write(_ bytes: [UInt8], name: String) -> String {
        bytes.withUnsafeBytes { write($0, name: name) }
    }

    func write(_ text: String, name: String) -> String {
        write(Array(text.utf8), name: name)
    }
}

/// The input's lines (split at `\n`, without it), as the line reader would return them.
func forEachLine(_ data: UnsafeBufferPointer<UInt8>, _ body: (ByteSlice) -> Void) {
    guard let base = data.baseAddress else { return }
    var start = 0
    for i in 0...data.count where i == data.count || base[i] == 10 {
        if i > start || i < data.count { body(UnsafeBufferPointer(start: base + start, count: i - start)) }
        start = i + 1
    }
}

// MARK: - Harnesses

/// LogIO's line reader (plain or gzip, sniffed as every stage does): as the stages open it
/// (1 MB buffer, decompressing on a prefetch thread), and with a tiny buffer that splits
/// every line across reads. Both must return the same lines, or both fail.
func fuzzLines(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    let path = scratch.write(data, name: "input")
    let readers = [
        { try LineReader(path: path, prefetch: true) },
        { LineReader(source: try openByteSource(path: path), path: path, bufferSize: 7) },
    ]
    var outcomes: [Result<(lines: Int, hash: UInt64), Error>] = []
    for open in readers {
        outcomes.append(Result {
            let reader = try open()
            var hash = XXHash64(), lines = 0
            while let line = try reader.next() {
                hash.update(UnsafeRawBufferPointer(line))
                hash.update(UnsafeRawBufferPointer(start: nil, count: 0))
                var length = UInt64(line.count)
                withUnsafeBytes(of: &length) { hash.update($0) }
                lines += 1
            }
            return (lines, hash.digest())
        })
    }
    switch (outcomes[0], outcomes[1]) {
    case (.success(let a), .success(let b)):
        precondition(a == b, "line readers disagree: \(a.lines) lines with the 1 MB buffer, \(b.lines) with 7 bytes")
    case (.failure(let error), .failure):
        throw error
    case (.success, .failure(let error)), (.failure(let error), .success):
        preconditionFailure("only one line reader failed: \(error)")
    }
}

nonisolated(unsafe) var rowParsers: [String: RowParser] = [:]

/// Ingest's row parser: every line, with the label required, and as a header.
func fuzzRows(_ data: UnsafeBufferPointer<UInt8>, schema name: String) throws {
    let parser: RowParser
    if let p = rowParsers[name] { parser = p } else {
        parser = try RowParser(schema: Schema.preset(named: name)!, labelMode: .optional)
        rowParsers[name] = parser
    }
    forEachLine(data) { line in
        switch parser.parse(line) {
        case .row(let row):
            var n = 0
            for v in row.values { n &+= v.count }
            for x in row.numbers { n &+= x.isNaN ? 1 : 0 }
            for x in row.integers { n &+= Int(truncatingIfNeeded: x) }
            _ = n
        case .bad(let bad):
            _ = parser.message(for: bad)
        }
        if parser.isHeader(line) { _ = parser.headerMismatch(line) }
    }
}

/// Dataset's libffm text reader (through the line reader, gzip sniffed).
func fuzzLibFFM(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    let path = scratch.write(data, name: "input.ffm")
    let reader = LibFFMReader(lines: LineReader(source: try openByteSource(path: path), path: path, bufferSize: 64))
    var sum: Float = 0
    while let row = try reader.next() {
        sum += row.label
        for f in row.features { sum += f.value }
    }
    _ = sum
}

/// Dataset's binary cache reader: the footer, the group table, every group (block reads,
/// the block stream and the mapped file). Checksums are recomputed first (see fixCache) so
/// that the fuzzer gets past them.
func fuzzCache(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    var bytes = Array(data)
    fixCache(&bytes)
    let path = scratch.write(bytes, name: "input.cache")
    let reader = try CacheReader(path: path)
    let stream = CacheBlockStream(reader: reader, order: reader.blocks(targetBytes: 64).reversed())
    while let block = try stream.next() {
        for i in 0..<block.rowCount { _ = block.row(i).features.count }
    }
    let mapped = try reader.map(verify: true)
    for i in 0..<mapped.info.rowCount { _ = mapped.row(i).features.count }
}

/// FFM's model loader. The trailer checksum is recomputed first.
func fuzzModel(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    var bytes = Array(data)
    fixModel(&bytes)
    let path = scratch.write(bytes, name: "input.model")
    let (model, _) = try ModelFile.load(path)
    _ = model.rowCount
}

/// Built once: `StageRegistry.standard` reads every kind's defaults through ArgumentParser.
let pipelineLoader = PipelineLoader(registry: .standard)

/// Pipeline files: parse, validate, expand (paths resolved in the scratch folder).
func fuzzPipeline(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    let text = String(decoding: data, as: UTF8.self)
    _ = try pipelineLoader.load(text: text, file: scratch.directory + "/pipeline.json", baseDirectory: scratch.directory)
}

/// A tiny raw log in the criteo schema that the features-config harness hashes: twelve
/// rows, each categorical column with three values that repeat (so that rare-value counting
/// keeps several), one missing value per row.
let criteoLines: String = {
    var lines: [String] = []
    for r in 0..<12 {
        var fields: [String] = [String(r % 2)]
        for c in 0..<13 {
            let value: Int = (r * 7 + c * 3) % 50 - 2
            fields.append(c == r ? "" : String(value))
        }
        for c in 0..<26 {
            let value: Int = (r * 31 + c * 17) % 3 + 0x68fd1e64
            fields.append(c == r + 1 ? "" : String(value, radix: 16))
        }
        lines.append(fields.joined(separator: "\t"))
    }
    return lines.joined(separator: "\n") + "\n"
}()

/// Featurize's features config (`ctr-hash --config`): loaded, then used by a whole hash
/// run over twelve criteo rows, where its bins and boundaries size the fields.
func fuzzFeaturesConfig(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    let config = scratch.write(data, name: "features.json")
    let log = scratch.write(criteoLines, name: "train.txt")
    var params = HashParams.defaults
    params.schema = "criteo"
    params.config = config
    params.threads = 1
    params.rareThreshold = 2
    _ = try HashStage.run(params, inputs: [log], outputs: scratch.directory + "/hashed", reporter: .silent)
}

/// Ingest's schema JSON: decoded and validated, then a row parser built from it parses a
/// few lines.
func fuzzSchema(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    let schema = try Schema.decode(Data(buffer: data), source: "fuzz.json")
    let parser = try RowParser(schema: schema, labelMode: .optional)
    _ = parser.expectedHeader
    let d = String(UnicodeScalar(schema.delimiterByte))
    for line in ["1\(d)2\(d)a\(d)\(d)x", "0", "", parser.expectedHeader, "\"1\"\(d)\"a\"\"b\"\(d)3.5"] {
        let bytes = Array(line.utf8)
        bytes.withUnsafeBufferPointer { line in
            if case .bad(let bad) = parser.parse(line) { _ = parser.message(for: bad) }
        }
    }
}

/// Featurize's featurizer.json (ctr-predict's --featurizer): loaded, then raw and rows lines
/// featurized with it.
func fuzzFeaturizer(_ data: UnsafeBufferPointer<UInt8>, _ scratch: Scratch) throws {
    let path = scratch.write(data, name: "featurizer.json")
    let featurizer = try Featurizer(contentsOf: path)
    let rows = try featurizer.makeRowFeaturizer(labelMode: .optional)
    let n = featurizer.fieldCount
    var raw: [String] = criteoLines.split(separator: "\n").map(String.init)
    raw.append(Array(repeating: "7", count: n).joined(separator: "\t"))
    raw.append(Array(repeating: "", count: n + 1).joined(separator: "\t"))
    var negative: [String] = ["1"], fractional: [String] = ["0"]
    for f in 0..<n {
        negative.append(String(-f * 1000))
        fractional.append("\(f).5e3")
    }
    raw.append(negative.joined(separator: "\t"))
    raw.append(fractional.joined(separator: "\t"))
    for line in raw {
        let bytes = Array(line.utf8)
        bytes.withUnsafeBufferPointer { line in
            _ = rows.featurize(rawLine: line)
            _ = rows.featurize(rowsLine: line)
        }
    }
}

// MARK: - Checksum repair

func load64(_ b: [UInt8], _ at: Int) -> UInt64 {
    b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}

func store64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
    b.withUnsafeMutableBytes { $0.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt64.self) }
}

func xxh(_ b: [UInt8], _ range: Range<Int>) -> UInt64 {
    b.withUnsafeBytes { XXHash64.hash(UnsafeRawBufferPointer(rebasing: $0[range])) }
}

/// Recomputes a cache's checksums from what its footer says (docs/FORMATS.md): each row
/// group's, the group table's and the footer's. Byte 112 of the footer (zero in a written
/// cache, not read by the reader) steers it: bit 0 also sets each group's first feature from
/// the offsets; bit 1 leaves the group checksums alone; bit 2 leaves the footer checksum.
func fixCache(_ b: inout [UInt8]) {
    let n = b.count
    guard n >= 64 + 128 else { return }
    let footer = n - 128
    let control = b[footer + 112]
    let v = (0..<12).map { load64(b, footer + 16 + 8 * $0) }
    let rows = v[0], perGroup = v[6]
    let limit = UInt64(n)
    fixGroups: if perGroup > 0, rows < limit, v[10] < limit, v[9] < limit, v[8] < limit, v[7] < limit {
        let groups = rows == 0 ? 0 : Int((rows - 1) / perGroup + 1), table = Int(v[10])
        guard table + 16 * groups <= footer else { break fixGroups }
        let offsets = Int(v[9]), labels = Int(v[8]), features = Int(v[7])
        guard offsets + 8 * (Int(rows) + 1) <= n, labels + Int(rows) <= n else { break fixGroups }
        for g in 0..<groups {
            // g * perGroup < rows here; perGroup itself may be huge.
            let first = UInt64(g) * perGroup
            let r0 = Int(first), r1 = Int(perGroup >= rows - first ? rows : first + perGroup)
            let lo = load64(b, offsets + 8 * r0), hi = load64(b, offsets + 8 * r1)
            if control & 1 != 0 { store64(&b, table + 16 * g, lo) }
            guard control & 2 == 0, lo <= hi, hi < limit, features + 12 * Int(hi) <= n else { continue }
            var h = XXHash64()
            b.withUnsafeBytes { p in
                h.update(UnsafeRawBufferPointer(rebasing: p[(features + 12 * Int(lo))..<(features + 12 * Int(hi))]))
                h.update(UnsafeRawBufferPointer(rebasing: p[(labels + r0)..<(labels + r1)]))
                h.update(UnsafeRawBufferPointer(rebasing: p[(offsets + 8 * r0)..<(offsets + 8 * r1)]))
            }
            store64(&b, table + 16 * g + 8, h.digest())
        }
        store64(&b, footer + 104, xxh(b, table..<(table + 16 * groups)))
    }
    if control & 4 == 0 { store64(&b, footer + 120, xxh(b, footer..<(footer + 120))) }
}

/// Recomputes a model file's trailer checksum (XXH64 of every byte before the trailer),
/// unless byte 127 of the header (zero in a written model, not read) is 0xFF.
func fixModel(_ b: inout [UInt8]) {
    guard b.count >= 128 + 16, b[127] != 0xFF else { return }
    store64(&b, b.count - 16, xxh(b, 0..<(b.count - 16)))
}

// MARK: - Seeds

/// Writes valid seed inputs made with the project's own writers (CTR_FUZZ_MAKE_SEEDS=DIR):
/// caches, models, the preset schemas, and featurizer.json files from hash runs over the
/// twelve criteo rows of `criteoLines`. The other seeds are written by hand in Fuzz/corpus.
func makeSeeds(in dir: String) throws {
    let fm = FileManager.default
    for sub in ["cache", "model", "schema", "featurizer"] {
        try fm.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
    }
    for name in Schema.presetNames {
        try Schema.preset(named: name)!.jsonData().write(to: URL(fileURLWithPath: "\(dir)/schema/\(name).json"))
    }
    let work = NSTemporaryDirectory() + "ctr-fuzz-seeds-\(getpid())"
    try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
    defer { try? fm.removeItem(atPath: work) }
    let log = work + "/train.txt"
    try criteoLines.write(toFile: log, atomically: false, encoding: .utf8)
    let config = work + "/features.json"
    try #"{"version": 1, "schema": "criteo", "fields": {"I1": {"transform": "buckets", "boundaries": [0, 10.5, 30]}, "I2": {"transform": "scaled"}, "C1": {"bins": 16, "rare_threshold": 1}}}"#
        .write(toFile: config, atomically: false, encoding: .utf8)
    let runs: [(String, (inout HashParams) -> Void)] = [
        ("defaults", { _ in }),
        ("config", { $0.config = config }),
        ("shared", { $0.sharedSpace = 1000; $0.rareThreshold = 0 }),
    ]
    for (name, adjust) in runs {
        var params = HashParams.defaults
        params.schema = "criteo"
        params.threads = 1
        params.rareThreshold = 2
        adjust(&params)
        _ = try HashStage.run(params, inputs: [log], outputs: "\(work)/\(name)", reporter: .silent)
        try fm.copyItem(atPath: "\(work)/\(name)/featurizer.json", toPath: "\(dir)/featurizer/\(name).json")
    }
    // Caches: empty, one group, several small groups.
    let shapes: [(name: String, rows: Int, perGroup: Int)] = [("empty", 0, 4096), ("one-group", 3, 4096), ("groups-of-2", 5, 2)]
    for shape in shapes {
        let writer = try CacheWriter(path: "\(dir)/cache/\(shape.name).cache", rowGroupRows: shape.perGroup)
        for r in 0..<shape.rows {
            let features = (0..<(r % 3 + 1)).map { f in
                Feature(field: UInt32(f), index: UInt32((r * 5 + f * 3) % 11), value: f == 2 ? 0.25 : 1)
            }
            try writer.append(label: Float(r % 2), features: features)
        }
        _ = try writer.finish()
    }
    // Models: each kind, small n, m, k.
    let kinds: [(String, ModelKind, Int, Bool)] = [("ffm", .ffm, 3, true), ("fm", .fm, 5, false), ("lr", .lr, 1, true)]
    for (name, kind, k, linear) in kinds {
        let indices = try SeenIndices(indexCount: 70)
        for j in [0, 3, 9, 64, 69] { indices.insert(j) }
        indices.seal()
        let model = try FFMModel(kind: kind, fieldCount: 3, factors: k, normalization: true, linear: linear, indices: indices)
        model.initialize(seed: 7)
        var metadata = ModelMetadata()
        metadata.eta = 0.2
        metadata.lambda = 2e-5
        metadata.epochs = 2
        metadata.bestEpoch = 2
        try ModelFile.save(model, metadata: metadata, to: "\(dir)/model/\(name).model")
    }
}
