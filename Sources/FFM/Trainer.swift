#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dataset
import Foundation
import LogIO

/// A value shared with worker threads that synchronise by other means (hogwild updates,
/// disjoint slices, a join before reading results).
struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Opens training data: a binary cache as it is, libffm text converted to a scratch cache
/// beside `scratchDirectory` (deleted once open: the reader keeps it alive).
enum TrainingData {
    static func isCache(_ path: String) -> Bool {
        #if canImport(Glibc)
        let fd = Glibc.open(path, O_RDONLY)
        #else
        let fd = Darwin.open(path, O_RDONLY)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = (UInt64(0))
        let n = withUnsafeMutableBytes(of: &magic) { pread(fd, $0.baseAddress!, 8, 0) }
        return n == 8 && withUnsafeBytes(of: &magic) { memcmp($0.baseAddress!, CacheFormat.headerMagic.utf8Start, 8) == 0 }
    }

    /// - Returns: the reader, and for converted text the bitmap of indices that occur (a
    ///   cache needs a pass to find them).
    static func open(_ path: String, scratchDirectory: String, tag: String,
                     log: (String) -> Void) throws -> (reader: CacheReader, indices: [UInt64]?) {
        if isCache(path) { return (try CacheReader(path: path), nil) }
        guard access(path, R_OK) == 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        let scratch = scratchDirectory + "/.\(lastPathComponent(path)).\(tag)-cache-\(getpid())"
        let started = Date()
        var bits: [UInt64] = []
        let info: CacheInfo
        do {
            let text = try LibFFMReader(path: path)
            let writer = try CacheWriter(path: scratch)
            while let row = try text.next() {
                try writer.append(row)
                for f in row.features {
                    let w = Int(f.index >> 6)
                    if w >= bits.count { bits.append(contentsOf: repeatElement(0, count: max(w + 1 - bits.count, bits.count))) }
                    bits[w] |= 1 << UInt64(f.index & 63)
                }
            }
            info = try writer.finish()
        }
        let reader: CacheReader
        do { reader = try CacheReader(path: scratch) } catch { unlink(scratch); throw error }
        unlink(scratch)
        log(String(format: "%@: %@ rows, %@ features, read in %.1f s", path, Progress.grouped(info.rowCount),
                   Progress.grouped(info.featureCount), Date().timeIntervalSince(started)))
        return (reader, bits)
    }
}

/// Training: `TrainStage.run` is what `ctr-train` and ctr-pipeline call.
public enum TrainStage {
    /// Trains a model on `trainingSet` (libffm text, plain or gzip, or a binary cache) and writes it.
    ///
    /// Each epoch visits the rows in a shuffled order from the seed (blocks of the cache in
    /// shuffled order, rows shuffled within each block), `threads` threads updating the
    /// shared weights without locks (hogwild). With a validation set, each epoch reports its
    /// log loss and AUC; with patience, training stops after that many epochs without
    /// improvement and the best epoch's weights (checkpointed to disk, not kept in memory)
    /// become the model.
    /// - Parameter log: receives the per-epoch table and notes (stderr in the CLI); not called with `quiet`.
    public static func run(params: TrainParams, trainingSet: String,
                           log: @escaping (String) -> Void = { printError($0) }) throws -> TrainResult {
        try params.validate()
        let say: (String) -> Void = params.quiet ? { _ in } : log
        let output = params.output ?? (lastPathComponent(trainingSet) + ".model")
        let outputDirectory = directoryPart(output)
        let scratchDirectory = outputDirectory.isEmpty ? "." : outputDirectory

        let (train, trainIndices) = try TrainingData.open(trainingSet, scratchDirectory: scratchDirectory, tag: "train", log: say)
        guard train.info.rowCount > 0 else { throw FFMError.emptyTrainingSet(path: trainingSet) }
        let valid = try params.validation.map {
            try TrainingData.open($0, scratchDirectory: scratchDirectory, tag: "valid", log: say).reader
        }
        var n = max(train.info.indexCount, valid?.info.indexCount ?? 0)
        var m = max(train.info.fieldCount, valid?.info.fieldCount ?? 0)

        var metadata = ModelMetadata()
        metadata.eta = params.eta
        metadata.lambda = params.lambda
        metadata.seed = params.seed
        if let featurizer = params.featurizer { metadata.featurizerHash = try fileHash(featurizer) }

        // Weights exist only for indices that occur in training: one pass collects them.
        let blockBytes = params.blockMb << 20
        let trainBlocks = train.blocks(targetBytes: blockBytes)
        var seen = try IndexSet(indexCount: n)
        if let trainIndices {
            for w in 0..<min(trainIndices.count, seen.words) { seen.bits[w] = trainIndices[w] }
        } else {
            let touchStream = CacheBlockStream(reader: train, order: trainBlocks)
            while let block = try touchStream.next() {
                for f in block.allFeatures { seen.insert(Int(f.index)) }
            }
        }

        // The model: fresh, or warm-started (grown to new indices and fields when needed).
        let model: FFMModel
        var startEpoch = 0
        if let initPath = params.initModel {
            let (loaded, loadedMeta) = try ModelFile.load(initPath)
            try checkCompatible(loaded, with: params, path: initPath)
            n = max(n, loaded.indexCount)
            m = max(m, loaded.fieldCount)
            if n > seen.indexCount {
                let wider = try IndexSet(indexCount: n)
                seen.forEach { j, _ in wider.insert(j) }
                seen = wider
            }
            loaded.indices.forEach { j, _ in seen.insert(j) }
            seen.seal()
            model = (seen.count == loaded.rowCount && n == loaded.indexCount && m == loaded.fieldCount) ? loaded
                : try loaded.resized(to: seen, fieldCount: m, seed: params.seed)
            startEpoch = loadedMeta.epochs
            if metadata.featurizerHash == 0 { metadata.featurizerHash = loadedMeta.featurizerHash }
        } else {
            seen.seal()
            model = try FFMModel(kind: params.model, fieldCount: m, factors: params.factors,
                                 normalization: !params.noNorm, linear: !params.noLinear, indices: seen)
            model.initialize(seed: params.seed, threads: params.threads)
        }
        say("\(params.model.rawValue): \(Progress.grouped(train.info.rowCount)) rows, n \(Progress.grouped(n)), m \(m), k \(params.factors), "
            + "\(Progress.grouped(model.rowCount)) indices in training, "
            + String(format: "%.1f MB of weights", Double(model.rowCount) * Double(model.rowStride * 4 + (model.hasLinear ? 8 : 0)) / 1e6)
            + ", \(params.threads) thread\(params.threads == 1 ? "" : "s")")

        let patience = params.effectivePatience
        let checkpoint = patience > 0 ? scratchDirectory + "/.\(lastPathComponent(output)).best-\(getpid())" : nil
        defer { if let checkpoint { unlink(checkpoint) } }

        let engine = Engine(model: model, threads: params.threads, eta: Float(params.eta), lambda: Float(params.lambda))
        engine.hot = try HotRows.make(model: model, data: train, threads: params.threads)
        if let hot = engine.hot { say("\(hot.count) frequent rows get per-thread copies, merged every \(HotRows.syncInterval) rows") }
        let live = !params.quiet && isatty(2) == 1
        say(valid == nil ? "iter   tr_logloss      seconds" : "iter   tr_logloss   va_logloss       va_auc      seconds")

        var stats: [EpochStats] = []
        var best = (epoch: 0, loss: Double.infinity)
        var sinceBest = 0
        for epoch in 1...params.epochs {
            let started = Date()
            var rng = SplitMix64(seed: params.seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(startEpoch + epoch))
            var order = trainBlocks
            order.shuffle(using: &rng)
            let trLoss = try engine.trainEpoch(train, order: order, rng: &rng) { done in
                if live { progressBar(epoch: epoch, fraction: Double(done) / Double(train.info.rowCount)) }
            }
            if live { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
            var row = EpochStats(epoch: epoch, trLogLoss: trLoss, vaLogLoss: nil, vaAUC: nil, seconds: 0)
            if let valid {
                let (loss, auc) = try engine.evaluate(valid, blockBytes: blockBytes)
                row.vaLogLoss = loss
                row.vaAUC = auc
            }
            row.seconds = Date().timeIntervalSince(started)
            stats.append(row)
            say(formatRow(row))
            if let path = params.logJson { try writeLog(stats, to: path) }
            guard try finite(row, model) else { throw FFMError.invalidParameter(name: "training", value: "diverged",
                                                                                   expected: "finite losses; lower -r/--eta") }
            if let va = row.vaLogLoss, patience > 0 {
                if va < best.loss {
                    best = (epoch, va)
                    sinceBest = 0
                    metadata.epochs = startEpoch + epoch
                    metadata.bestEpoch = startEpoch + epoch
                    metadata.validationLogLoss = va
                    try ModelFile.save(model, metadata: metadata, to: checkpoint!)
                } else {
                    sinceBest += 1
                    if sinceBest >= patience {
                        say("Early stop: no improvement for \(sinceBest) epoch\(sinceBest == 1 ? "" : "s"); "
                            + "using the model of epoch \(best.epoch).")
                        break
                    }
                }
            }
        }
        var bestEpoch = stats.count
        if patience > 0, best.epoch > 0 {
            bestEpoch = best.epoch
            // The checkpoint holds the best weights: move it into place (atomic rename).
            guard rename(checkpoint!, output) == 0 else {
                throw LogIOError.renameFailed(from: checkpoint!, to: output, errno: errno)
            }
        } else {
            metadata.epochs = startEpoch + stats.count
            metadata.bestEpoch = startEpoch + stats.count
            metadata.validationLogLoss = stats.last?.vaLogLoss ?? .nan
            try ModelFile.save(model, metadata: metadata, to: output)
        }
        return TrainResult(modelPath: output, epochs: stats, bestEpoch: bestEpoch, rows: train.info.rowCount,
                           indexCount: n, fieldCount: m, presentIndices: model.rowCount)
    }

    static func finite(_ row: EpochStats, _ model: FFMModel) throws -> Bool {
        row.trLogLoss.isFinite && (row.vaLogLoss?.isFinite ?? true) && model.bias[0].isFinite
    }

    static func checkCompatible(_ model: FFMModel, with params: TrainParams, path: String) throws {
        func fail(_ s: String) -> FFMError { .incompatibleInitModel(path: path, detail: s) }
        guard model.kind == params.model else { throw fail("it is a \(model.kind.rawValue) model, training asks for --model \(params.model.rawValue)") }
        guard model.factors == params.factors else { throw fail("it has k = \(model.factors), training asks for -k \(params.factors)") }
        guard model.normalization == !params.noNorm else { throw fail("it was trained with\(model.normalization ? "" : "out") normalization; match --no-norm") }
        guard model.hasLinear == (!params.noLinear || params.model == .lr) else {
            throw fail("it was trained with\(model.hasLinear ? "" : "out") linear terms; match --no-linear")
        }
    }

    /// XXH64 of a file's bytes: how a model records the featurizer.json it was trained with.
    public static func fileHash(_ path: String) throws -> UInt64 {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LogIOError.cannotOpen(path: path, errno: errno == 0 ? ENOENT : errno)
        }
        return data.withUnsafeBytes { XXHash64.hash($0) }
    }

    static func formatRow(_ r: EpochStats) -> String {
        if let va = r.vaLogLoss {
            let auc = r.vaAUC.map { String(format: "%13.5f", $0) } ?? String(repeating: " ", count: 10) + "n/a"
            return String(format: "%4d %12.5f %12.5f", r.epoch, r.trLogLoss, va) + auc + String(format: " %12.1f", r.seconds)
        }
        return String(format: "%4d %12.5f %12.1f", r.epoch, r.trLogLoss, r.seconds)
    }

    static func progressBar(epoch: Int, fraction: Double) {
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(String(format: "\r%4d [%@] %3.0f%%", epoch, bar, fraction * 100).data(using: .utf8)!)
    }

    static func writeLog(_ stats: [EpochStats], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(stats)
        let out = try AtomicFileWriter(path: path)
        try data.withUnsafeBytes { try out.write($0) }
        try out.write(byte: 10)
        try out.commit()
    }
}

/// The training and evaluation loops over cache blocks, with per-thread scratch.
final class Engine: @unchecked Sendable {
    let model: FFMModel
    let threads: Int
    let eta: Float
    let lambda: Float
    let scratch: [Scratch]
    let lookahead: [Scratch]
    /// Per-thread copies of the most frequent rows (several threads only).
    var hot: HotRows?
    private var order: UnsafeMutablePointer<Int32>
    private var orderCapacity = 0

    init(model: FFMModel, threads: Int, eta: Float, lambda: Float) {
        self.model = model
        self.threads = threads
        self.eta = eta
        self.lambda = lambda
        scratch = (0..<threads).map { _ in Scratch() }
        lookahead = (0..<threads).map { _ in Scratch() }
        order = .allocate(capacity: 1)
    }

    deinit { order.deallocate() }

    /// Runs `body(t)` for t in 0..<threads on separate threads (inline for one).
    func parallel(_ body: (Int) -> Void) {
        if threads == 1 { body(0); return }
        withoutActuallyEscaping(body) { b in
            let work = Unchecked(b)
            DispatchQueue.concurrentPerform(iterations: threads) { work.value($0) }
        }
    }

    /// One pass of AdaGrad updates over the blocks in `order`; returns the mean training log loss
    /// (each row's loss before its update, as libffm reports it).
    func trainEpoch(_ data: CacheReader, order blocks: [Range<Int>], rng: inout SplitMix64,
                    progress: (Int) -> Void) throws -> Double {
        let model = self.model, hot = self.hot
        let remapped = model.canRemap
        let stream = CacheBlockStream(reader: data, order: blocks,
                                      transform: remapped ? model.remapTransform(hot: hot) : nil)
        var total: Double = 0
        var done = 0
        var losses = [Double](repeating: 0, count: threads * 8)  // one cache line apart
        while let block = try stream.next() {
            let rows = block.rowCount
            if rows > orderCapacity {
                order.deallocate()
                orderCapacity = max(rows, orderCapacity * 2)
                order = .allocate(capacity: orderCapacity)
            }
            for i in 0..<rows { order[i] = Int32(i) }
            var i = rows - 1
            while i > 0 {
                let j = rng.next(below: i + 1)
                let x = order[i]
                order[i] = order[j]
                order[j] = x
                i -= 1
            }
            let eta = self.eta, lambda = self.lambda, order = self.order, threads = self.threads
            let scratch = self.scratch, lookahead = self.lookahead
            let shared = Unchecked(block)
            losses.withUnsafeMutableBufferPointer { lossBuffer in
                let lossOut = Unchecked(lossBuffer.baseAddress!)
                parallel { t in
                    let block = shared.value
                    var sum: Double = 0
                    // Two scratch buffers: the next row is prepared and its weights prefetched
                    // while the current one is scored and updated.
                    var current = scratch[t], next = lookahead[t]
                    let start = rows * t / threads, end = rows * (t + 1) / threads
                    let replica = hot?.replica(t)
                    hot?.refresh(t)
                    if start < end {
                        model.prepare(block.row(Int(order[start])).features, into: current, remapped: remapped, replica: replica)
                    }
                    for ii in start..<end {
                        let label = block.label(Int(order[ii]))
                        if let hot, (ii - start) % HotRows.syncInterval == HotRows.syncInterval - 1 { hot.merge(t) }
                        if ii + 2 < end { model.prefetchFeatures(block.row(Int(order[ii + 2])).features) }
                        if ii + 1 < end {
                            model.prepare(block.row(Int(order[ii + 1])).features, into: next, remapped: remapped, replica: replica)
                        } else {
                            next.count = 0
                        }
                        let score = Double(model.score(current, prefetching: next))
                        sum += logLoss(score: score, label: label)
                        let kappa = Float(lossGradient(score: score, label: label))
                        model.update(current, kappa: kappa, eta: eta, lambda: lambda)
                        swap(&current, &next)
                    }
                    hot?.merge(t)
                    lossOut.value[t * 8] = sum
                }
            }
            for t in 0..<threads { total += losses[t * 8] }
            done += rows
            progress(done)
        }
        return total / Double(max(done, 1))
    }

    /// Scores of every row of `data`, in file order.
    func scores(_ data: CacheReader, blockBytes: Int) throws -> (scores: [Float], labels: [UInt8]) {
        var scores = [Float](repeating: 0, count: data.info.rowCount)
        var labels = [UInt8](repeating: 0, count: data.info.rowCount)
        let model = self.model
        let remapped = model.canRemap
        let stream = CacheBlockStream(reader: data, order: data.blocks(targetBytes: blockBytes),
                                      transform: remapped ? model.remapTransform(hot: nil) : nil)
        while let block = try stream.next() {
            let rows = block.rowCount, first = block.firstRow
            let threads = self.threads, scratch = self.scratch, lookahead = self.lookahead
            let shared = Unchecked(block)
            scores.withUnsafeMutableBufferPointer { out in
                let out = Unchecked(out.baseAddress!)
                parallel { t in
                    var current = scratch[t], next = lookahead[t]
                    let start = rows * t / threads, end = rows * (t + 1) / threads
                    if start < end { model.prepare(shared.value.row(start).features, into: current, remapped: remapped) }
                    for r in start..<end {
                        if r + 1 < end {
                            model.prepare(shared.value.row(r + 1).features, into: next, remapped: remapped)
                        } else {
                            next.count = 0
                        }
                        out.value[first + r] = model.score(current, prefetching: next)
                        swap(&current, &next)
                    }
                }
            }
            for r in 0..<rows { labels[first + r] = shared.value.label(r) > 0 ? 1 : 0 }
        }
        return (scores, labels)
    }

    /// Mean log loss and AUC (nil when one class is absent) of the model on `data`.
    func evaluate(_ data: CacheReader, blockBytes: Int) throws -> (Double, Double?) {
        let (scores, labels) = try scores(data, blockBytes: blockBytes)
        var loss: Double = 0
        for i in 0..<scores.count { loss += logLoss(score: Double(scores[i]), label: Float(labels[i])) }
        return (loss / Double(max(scores.count, 1)), areaUnderCurve(scores: scores, labels: labels))
    }
}

/// ROC AUC by sorting, ties counting one half (as scikit-learn's `roc_auc_score`); nil
/// when the labels hold only one class.
public func areaUnderCurve(scores: [Float], labels: [UInt8]) -> Double? {
    let positives = labels.reduce(0) { $0 + Int($1) }
    let negatives = labels.count - positives
    guard positives > 0, negatives > 0 else { return nil }
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSum: Double = 0
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
        let averageRank = Double(i + j) / 2 + 1
        for t in i...j where labels[order[t]] == 1 { rankSum += averageRank }
        i = j + 1
    }
    return (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
}

extension FFMModel {
    /// `remap` as a block-stream transform.
    func remapTransform(hot: HotRows?) -> @Sendable (CacheBlock) -> Void {
        { [self] block in remap(block.mutableFeatures, hot: hot) }
    }

    /// A copy over a larger index set and/or more fields (warm start on data with new
    /// ones): existing weights and accumulators are kept, new rows and new field vectors
    /// are initialised from the seed.
    func resized(to wider: IndexSet, fieldCount m: Int, seed: UInt64) throws -> FFMModel {
        let grown = try FFMModel(kind: kind, fieldCount: m, factors: factors, normalization: normalization,
                                 linear: hasLinear, indices: wider)
        grown.initialize(seed: seed)
        grown.bias[0] = bias[0]
        grown.bias[1] = bias[1]
        indices.forEach { j, r in
            let g = wider.row(of: j)
            if hasLinear {
                grown.linear[2 * g] = linear[2 * r]
                grown.linear[2 * g + 1] = linear[2 * r + 1]
            }
            // Old fields first in the row; new fields keep their initial values.
            (grown.latent + g * grown.rowStride).update(from: latent + r * rowStride, count: rowStride)
        }
        return grown
    }
}

/// The part of a path after its last `/` (the whole path without one).
func lastPathComponent(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// The part of a path before its last `/` ("" without one, "/" for a file in the root).
func directoryPart(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "" }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
