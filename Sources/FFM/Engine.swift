#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPrefetch
import Cluster
import Dataset
import Foundation
import LogIO
import Metrics

/// A value shared with worker threads that synchronise by other means (hogwild updates,
/// disjoint slices, a join before reading results).
struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The training and evaluation loops over cache blocks, with per-thread scratch.
final class Engine: @unchecked Sendable {
    let model: FFMModel
    let threads: Int
    let eta: Float
    let lambda: Float
    /// The loss trained on (#13: squared loss for regression).
    var loss = LossKind.logistic
    let scratch: [Scratch]
    let lookahead: [Scratch]
    /// Per-thread copies of the most frequent rows (several threads only).
    var hot: HotRows?
    /// DeepFM's mini-batch options (DeepFM.swift).
    var deepOptions = DeepOptions()
    /// DeepFM's training rows in memory, read by its first epoch (nil when they do not fit),
    /// and the training set they are of (DeepFM.swift).
    var deepRows: (data: ObjectIdentifier, rows: DeepRows?)?
    private var order: UnsafeMutablePointer<Int32>
    private var orderCapacity = 0
    /// Bytes of decoded (and remapped) rows that may stay in memory between epochs
    /// (`--resident-mb`): the first epoch keeps its training blocks when they all fit, and
    /// later epochs train on them without reading, checking, decoding or remapping the cache
    /// again; the validation rows are kept the same way in what the training rows leave.
    var residentBytes = 0
    private var resident: (data: ObjectIdentifier, blocks: [TrainingBlock: ResidentBlock], bytes: Int)?
    private var residentTried = false
    /// The rows `scores` keeps (validation rows) for its next calls on the same cache, nil
    /// when they were not all kept.
    private(set) var residentScored: (data: ObjectIdentifier, blocks: [Range<Int>: ResidentBlock]?)?
    /// The block that resident one-hot rows are expanded into, one block at a time.
    private let expanded = CacheBlock()

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

    /// One pass of AdaGrad updates over the blocks in `order`; returns the summed training log
    /// loss (each row's loss before its update, as libffm reports it) and the rows visited.
    ///
    /// With `syncPoints` (rows of this pass, ascending), `sync` is called once per point when
    /// that many rows are done: the threads stop at the point (mid-block) and resume after
    /// it; points at or beyond the last row are called after it. Without points the rows are
    /// trained exactly as they always were. `touched`, when given, gets every dense row a
    /// trained row uses (hot rows excepted: their replicas are not rows of the model).
    func trainEpoch(_ data: TrainingSet, order blocks: [TrainingBlock], shuffle: Bool = true, rng: inout SplitMix64,
                    syncPoints: [Int] = [], touched: TouchedRows? = nil, sync: () throws -> Void = {},
                    progress: (Int) -> Void) throws -> (loss: Double, rows: Int) {
        if model.network != nil { return try deepTrainEpoch(data, order: blocks, shuffle: shuffle, rng: &rng, progress: progress) }
        let model = self.model, hot = self.hot
        let remapped = model.canRemap
        let touched = remapped ? touched : nil
        // Blocks come from memory when an earlier epoch kept them all, else from the cache;
        // the first epoch keeps them while they fit in `residentBytes`. The size is checked
        // before anything is kept (`--resident-mb`), and again block by block.
        let stored = resident.flatMap { $0.data == ObjectIdentifier(data) ? $0.blocks : nil }
        let keep = stored == nil && !residentTried && Engine.residentEstimate(data, blocks: blocks) <= residentBytes
        residentTried = true
        let pass = BlockPass(blocks, stored: stored, limit: keep ? residentBytes : 0, expanded: expanded) { keep in
            CacheBlockStream(order: blocks.map { (data.readers[$0.file], $0.groups) },
                             transform: remapped ? model.remapTransform(hot: hot) : nil, keep: keep)
        }
        var total: Double = 0
        var done = 0
        var losses = [Double](repeating: 0, count: threads * 8)  // one cache line apart
        var nextPoint = 0
        func syncDue(upTo rows: Int) throws {
            while nextPoint < syncPoints.count && syncPoints[nextPoint] <= rows {
                try sync()
                nextPoint += 1
            }
        }
        while let block = try pass.next() {
            let rows = block.rowCount
            if rows > orderCapacity {
                order.deallocate()
                orderCapacity = max(rows, orderCapacity * 2)
                order = .allocate(capacity: orderCapacity)
            }
            for i in 0..<rows { order[i] = Int32(i) }
            if shuffle { rng.shuffle(order, count: rows) }
            let eta = self.eta, lambda = self.lambda, order = self.order, threads = self.threads
            let scratch = self.scratch, lookahead = self.lookahead
            let squared = loss == .squared
            let shared = Unchecked(block)
            // The block's rows in `order` from `first` to `last`, split between the threads.
            func train(_ first: Int, _ last: Int) {
                losses.withUnsafeMutableBufferPointer { lossBuffer in
                    let lossOut = Unchecked(lossBuffer.baseAddress!)
                    parallel { t in
                        let block = shared.value
                        var sum: Double = 0
                        // Two scratch buffers: the next row is prepared and its weights prefetched
                        // while the current one is scored and updated.
                        // (Two constants taking turns, row by row: a swapped variable passed
                        // to `score` would cost a retain and a release per row.)
                        let even = scratch[t], odd = lookahead[t]
                        let count = last - first
                        let start = first + count * t / threads, end = first + count * (t + 1) / threads
                        let replica = hot?.replica(t)
                        hot?.refresh(t)
                        if start < end {
                            model.prepare(block.row(Int(order[start])).features, into: even, remapped: remapped, replica: replica)
                        }
                        // One row: its loss before the update (returned, not added to a captured
                        // variable, which would cost an exclusivity check per row).
                        @inline(__always) func step(_ ii: Int, _ current: Scratch, _ next: Scratch) -> Double {
                            let label = block.label(Int(order[ii]))
                            if let hot, hot.rowDone(t) { hot.merge(t) }
                            if let touched { touched.mark(block.row(Int(order[ii])).features, thread: t) }
                            if ii + 8 < end {
                                let (offsets, label) = block.rowAddresses(Int(order[ii + 8]))
                                swiftctr_prefetch(offsets)
                                swiftctr_prefetch(label)
                            }
                            if ii + 2 < end { model.prefetchFeatures(block.row(Int(order[ii + 2])).features) }
                            if ii + 1 < end {
                                model.prepare(block.row(Int(order[ii + 1])).features, into: next, remapped: remapped, replica: replica)
                            } else {
                                next.count = 0
                            }
                            let score = Double(model.score(current, prefetching: next))
                            let kappa: Float, loss: Double
                            if squared {
                                // ½(φ − y)²: κ = φ − y; the reported loss is (φ − y)².
                                loss = squaredError(score: score, label: label)
                                kappa = Float(score - Double(label))
                            } else {
                                loss = logLoss(score: score, label: label)
                                kappa = Float(lossGradient(score: score, label: label))
                            }
                            model.update(current, kappa: kappa, eta: eta, lambda: lambda, prefetching: next)
                            return loss
                        }
                        var ii = start
                        while ii < end {
                            sum += step(ii, even, odd)
                            ii += 1
                            guard ii < end else { break }
                            sum += step(ii, odd, even)
                            ii += 1
                        }
                        hot?.merge(t)
                        lossOut.value[t * 8] = sum
                    }
                }
                for t in 0..<threads { total += losses[t * 8] }
            }
            var first = 0
            while first < rows {
                try syncDue(upTo: done + first)
                let last = nextPoint < syncPoints.count ? min(rows, syncPoints[nextPoint] - done) : rows
                train(first, last)
                first = last
            }
            done += rows
            progress(done)
        }
        try syncDue(upTo: Int.max)
        if let kept = pass.keptAll { resident = (ObjectIdentifier(data), kept.blocks, kept.bytes) }
        return (total, done)
    }

    /// Bytes the rows of `blocks` take kept in memory when they are one-hot in field order
    /// (every row ctr-hash writes): 4 a feature and the labels. `trainEpoch` keeps nothing
    /// when this exceeds `residentBytes` (and stops keeping when the rows as they come
    /// take more: rows that are not one-hot are kept decoded, 12 bytes a feature).
    static func residentEstimate(_ data: TrainingSet, blocks: [TrainingBlock]) -> Int {
        var bytes = 0.0
        for block in blocks { bytes += residentEstimate(data.readers[block.file], rows: data.rowCount(of: block)) }
        return bytes < Double(Int.max / 2) ? Int(bytes.rounded(.up)) : Int.max / 2
    }

    /// `residentEstimate` of `rows` rows of `reader` (at its mean features a row).
    static func residentEstimate(_ reader: CacheReader, rows: Int) -> Double {
        let info = reader.info
        return Double(info.featureCount) * 4 * Double(rows) / Double(max(info.rowCount, 1)) + Double(rows * info.labelSize)
    }

    /// Bytes of `residentBytes` the training rows hold (kept by `trainEpoch`, or DeepFM's `DeepRows`).
    var residentTrainingBytes: Int { resident?.bytes ?? deepRows?.rows?.bytes ?? 0 }

    /// Scores of the rows of `data` in `blocks` (consecutive ranges of row groups, in
    /// order; nil: all of them), in file order. The first call on `data` keeps its rows in
    /// memory when they fit in what `residentBytes` leaves after the training rows, and
    /// later calls on the same blocks score them from there (the validation rows, epoch
    /// after epoch).
    func scores(_ data: CacheReader, blockBytes: Int, blocks: [Range<Int>]? = nil) throws -> (scores: [Float], labels: [UInt8]) {
        let blocks = blocks ?? data.blocks(targetBytes: blockBytes)
        let firstRow = blocks.first.map { data.rows(ofGroup: $0.lowerBound).lowerBound } ?? 0
        let endRow = blocks.last.map { data.rows(ofGroup: $0.upperBound - 1).upperBound } ?? 0
        var scores = [Float](repeating: 0, count: endRow - firstRow)
        var labels = [UInt8](repeating: 0, count: endRow - firstRow)
        let model = self.model
        let remapped = model.canRemap
        let id = ObjectIdentifier(data)
        let tried = residentScored?.data == id
        let room = residentBytes - residentTrainingBytes
        let keep = !tried && room > 0 && Engine.residentEstimate(data, rows: endRow - firstRow) <= Double(room)
        let pass = BlockPass(blocks, stored: tried ? residentScored?.blocks : nil, limit: keep ? room : 0, expanded: expanded) { keep in
            CacheBlockStream(order: blocks.map { (data, $0) }, transform: remapped ? model.remapTransform(hot: nil) : nil, keep: keep)
        }
        while let block = try pass.next() {
            let rows = block.rowCount, first = block.firstRow - firstRow
            let threads = self.threads, scratch = self.scratch, lookahead = self.lookahead
            let shared = Unchecked(block)
            if model.network != nil {
                scores.withUnsafeMutableBufferPointer { out in
                    deepScores(count: rows, remapped: remapped, row: { block.row($0).features }, into: out.baseAddress! + first)
                }
                for r in 0..<rows { labels[first + r] = block.label(r) > 0 ? 1 : 0 }
                continue
            }
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
        if !tried { residentScored = (id, pass.keptAll?.blocks) }
        return (scores, labels)
    }

    /// Mean log loss and AUC (nil when one class is absent) of the model on `data`. With
    /// several ranks each scores its share of the blocks and the scores are gathered in
    /// file order, so every rank computes the same figures as one process would.
    func evaluate(_ data: CacheReader, blockBytes: Int, cluster: Cluster = .single) throws -> (Double, Double?) {
        var (scores, labels) = try scores(data, blockBytes: blockBytes,
                                          blocks: rankShare(data.blocks(targetBytes: blockBytes), groupCount: data.info.groupCount,
                                                            rank: cluster.rank, size: cluster.size))
        if cluster.size > 1 {
            scores = try cluster.allgather(scores)
            labels = try cluster.allgather(labels)
        }
        var loss: Double = 0
        for i in 0..<scores.count { loss += logLoss(score: Double(scores[i]), label: Float(labels[i])) }
        return (loss / Double(max(scores.count, 1)), areaUnderCurve(scores: scores, labels: labels))
    }
}

/// A block kept in memory between epochs (`Engine.residentBytes`), after remapping.
enum ResidentBlock {
    case oneHot(OneHotRows)
    case decoded(CacheBlock)
}

/// One pass over blocks of a data set (training or validation rows): from memory when an
/// earlier pass kept them all, else read from the caches, keeping each block read while
/// the bytes kept stay within `limit`. One-hot rows in field order keep their (remapped)
/// indices only and come back expanded into one reusable block; other rows are kept decoded.
final class BlockPass<Key: Hashable> {
    private let keys: [Key]
    private let stored: [Key: ResidentBlock]?
    private let stream: CacheBlockStream?
    private var kept: [Key: ResidentBlock]?
    private var keptBytes = 0
    private let limit: Int
    private var position = 0
    private let expanded: CacheBlock

    /// - Parameters:
    ///   - stored: blocks an earlier pass kept (used when it holds every key).
    ///   - limit: bytes the blocks read may keep (0: keep nothing).
    ///   - expanded: the block kept one-hot rows are expanded into (valid until the next block).
    ///   - read: a stream of the keys' blocks, in order; its argument says whether they are kept.
    init(_ keys: [Key], stored: [Key: ResidentBlock]?, limit: Int, expanded: CacheBlock, read: (Bool) -> CacheBlockStream) {
        self.keys = keys
        self.stored = stored.flatMap { s in keys.allSatisfy { s[$0] != nil } ? s : nil }
        self.limit = limit
        self.expanded = expanded
        let keep = self.stored == nil && limit > 0
        kept = keep ? [:] : nil
        stream = self.stored == nil ? read(keep) : nil
    }

    /// The next block (valid until the next call), or nil after the last.
    func next() throws -> CacheBlock? {
        guard let stream else {
            guard position < keys.count else { return nil }
            position += 1
            switch stored![keys[position - 1]]! {
            case let .decoded(block): return block
            case let .oneHot(rows):
                rows.expand(into: expanded)
                return expanded
            }
        }
        guard let block = try stream.next() else { return nil }
        if kept != nil {
            let width = OneHotRows.width(of: block)
            keptBytes += width.map { OneHotRows.bytes(rows: block.rowCount, width: $0, labelWidth: block.labelWidth) }
                ?? block.featureCount * MemoryLayout<Feature>.stride + block.rowCount * 12
            if keptBytes > limit {
                kept = nil
            } else {
                kept![keys[position]] = width.map { .oneHot(OneHotRows(block, width: $0)) } ?? .decoded(block)
            }
        }
        position += 1
        return block
    }

    /// The blocks this pass kept and their bytes, when it kept every one.
    var keptAll: (blocks: [Key: ResidentBlock], bytes: Int)? {
        guard let kept, kept.count == keys.count else { return nil }
        return (kept, keptBytes)
    }
}

/// Rows of a block that are one-hot in field order (row i's feature j has field j and
/// value 1, every row the same number of features), kept as their (remapped) indices only:
/// 4 bytes a feature instead of 12, and labels.
final class OneHotRows {
    let firstRow: Int
    let rowCount: Int
    let width: Int
    let labelWidth: Int
    let indices: UnsafeMutablePointer<UInt32>
    let labels: UnsafeMutableRawPointer

    /// The features per row when every row of `block` is one-hot in field order, else nil.
    static func width(of block: CacheBlock) -> Int? {
        guard block.rowCount > 0 else { return nil }
        let width = block.row(0).features.count
        guard block.featureCount == width * block.rowCount else { return nil }
        var bad: UInt32 = 0
        let one = Float(1).bitPattern
        for i in 0..<block.rowCount {
            let features = block.row(i).features
            guard features.count == width else { return nil }
            for j in 0..<width {
                bad |= (features[j].field ^ UInt32(truncatingIfNeeded: j)) | (features[j].value.bitPattern ^ one)
            }
        }
        return bad == 0 ? width : nil
    }

    static func bytes(rows: Int, width: Int, labelWidth: Int) -> Int { rows * (4 * width + labelWidth) }

    /// A copy of `block`'s rows, which `width(of:)` found one-hot `width` wide.
    init(_ block: CacheBlock, width: Int) {
        firstRow = block.firstRow
        rowCount = block.rowCount
        self.width = width
        labelWidth = block.labelWidth
        indices = .allocate(capacity: max(rowCount * width, 1))
        let features = block.allFeatures
        for k in 0..<(rowCount * width) { indices[k] = features[k].index }
        let labelBytes = block.labelBytes
        labels = .allocate(byteCount: max(labelBytes.count, 1), alignment: 4)
        if let source = labelBytes.baseAddress { labels.copyMemory(from: source, byteCount: labelBytes.count) }
    }

    deinit {
        indices.deallocate()
        labels.deallocate()
    }

    /// The rows as the block they came from.
    func expand(into block: CacheBlock) {
        block.fill(firstRow: firstRow, rowCount: rowCount, width: width, indices: indices,
                   labels: UnsafeRawBufferPointer(start: labels, count: rowCount * labelWidth), labelWidth: labelWidth)
    }
}

extension FFMModel {
    /// `remap` as a block-stream transform.
    func remapTransform(hot: HotRows?) -> @Sendable (CacheBlock) -> Void {
        { [self] block in remap(block.mutableFeatures, hot: hot) }
    }

    /// A copy over a larger index set and/or more fields (warm start on data with new
    /// ones): existing weights and accumulators are kept, new rows and new field vectors
    /// are initialised from the seed.
    func resized(to wider: SeenIndices, fieldCount m: Int, seed: UInt64) throws -> FFMModel {
        let grown = try FFMModel(kind: kind, fieldCount: m, factors: factors, normalization: normalization,
                                 linear: hasLinear, indices: wider, degree: degree)
        grown.initialize(seed: seed)
        grown.bias[0] = bias[0]
        grown.bias[1] = bias[1]
        grown.network = network  // DeepFM: same fields (checked by checkDeepCompatible)
        indices.forEach { j, r in
            let g = wider.row(of: j)
            if hasLinear {
                let to = grown.linear(row: g), from = linear(row: r)
                to[0] = from[0]
                to[grown.accumulatorOffset] = from[accumulatorOffset]
            }
            // Old fields first in the row's latent weights and in their accumulators; new
            // fields keep their initial values.
            let to = grown.latent + g * grown.rowStride, from = latent + r * rowStride
            to.update(from: from, count: linearOffset)
            (to + grown.accumulatorOffset).update(from: from + accumulatorOffset, count: linearOffset)
        }
        return grown
    }
}
