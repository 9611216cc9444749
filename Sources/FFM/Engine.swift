#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
    func trainEpoch(_ data: CacheReader, order blocks: [Range<Int>], shuffle: Bool = true, rng: inout SplitMix64,
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
            var i = shuffle ? rows - 1 : 0
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
