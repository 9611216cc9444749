import Cluster
import Dataset

/// Rank `rank`'s share of `blocks` (consecutive ranges of row groups covering
/// `0..<groupCount`, in order): the groups `groupCount * rank / size ..< groupCount *
/// (rank + 1) / size`, the blocks cut at the share's ends. One rank gets `blocks` as they
/// are; the shares of all ranks are disjoint and cover every group, in rank order.
func rankShare(_ blocks: [Range<Int>], groupCount: Int, rank: Int, size: Int) -> [Range<Int>] {
    guard size > 1 else { return blocks }
    let lo = groupCount * rank / size, hi = groupCount * (rank + 1) / size
    return blocks.compactMap { b in
        let l = max(b.lowerBound, lo), u = min(b.upperBound, hi)
        return l < u ? l..<u : nil
    }
}


/// Every float of a model as of the last synchronisation of the ranks (the same on every
/// rank): what a rank's changes since then are measured from.
final class ModelSnapshot {
    let latent: UnsafeMutablePointer<Float>
    let linear: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>
    let latentCount: Int
    let linearCount: Int
    /// With momentum: each weight's last merged change, in the model's layout (accumulator
    /// slots unused), zero at first; the bias has none.
    let momentum: (latent: UnsafeMutablePointer<Float>, linear: UnsafeMutablePointer<Float>)?

    init(of model: FFMModel, momentum withMomentum: Bool = false) {
        latentCount = model.rowCount * model.rowStride
        linearCount = model.hasLinear ? 2 * model.rowCount : 0
        latent = .allocate(capacity: max(latentCount, 1))
        linear = .allocate(capacity: max(linearCount, 1))
        bias = .allocate(capacity: 2)
        latent.initialize(from: model.latent, count: latentCount)
        linear.initialize(from: model.linear, count: linearCount)
        bias.initialize(from: model.bias, count: 2)
        if withMomentum {
            let m = (UnsafeMutablePointer<Float>.allocate(capacity: max(latentCount, 1)),
                     UnsafeMutablePointer<Float>.allocate(capacity: max(linearCount, 1)))
            m.0.initialize(repeating: 0, count: max(latentCount, 1))
            m.1.initialize(repeating: 0, count: max(linearCount, 1))
            momentum = m
        } else {
            momentum = nil
        }
    }

    deinit {
        latent.deallocate()
        linear.deallocate()
        bias.deallocate()
        if let momentum {
            momentum.latent.deallocate()
            momentum.linear.deallocate()
        }
    }
}

extension FFMModel {
    /// Floats of weights and accumulators the model holds (what one dense sync puts in).
    var synchronizedFloats: Int { rowCount * rowStride + (hasLinear ? 2 * rowCount : 0) + 2 }

    /// Merges the ranks' models on every rank, and sets `base` (the model of the last sync,
    /// the same on every rank) to the result. Per weight w with AdaGrad accumulator G:
    ///
    /// - `.mean` (the default), Vowpal Wabbit's AdaGrad-weighted average:
    ///   w = Σ_r G_r w_r / Σ_r G_r, G = Σ_r G_r / N. Weight slots carry G w, accumulator slots G.
    /// - `.sqrt`, over the changes since `base` (rank r changed them by Δw_r and ΔG_r):
    ///   w = base.w + Σ_r √ΔG_r Δw_r / √Σ_r ΔG_r, G = base.G + Σ_r ΔG_r. A weight one rank
    ///   trained gets its change exactly; one that N ranks trained alike gets √N times their
    ///   mean change (how far AdaGrad moves with N times the squared gradients); the
    ///   accumulators get every rank's squared gradients. Weight slots carry √(ΔG_r + ε) Δw_r,
    ///   accumulator slots ΔG_r (ε = 1e-30 keeps a change whose squared gradients rounded away).
    ///
    /// With `momentum` μ > 0 (block momentum, as in blockwise model-update filtering), the
    /// latent and linear weights move by d = (merged − base) + μ · d_last, d_last being the
    /// weight's d of the previous sync (kept in `base.momentum`); the bias and accumulators
    /// move as merged. In a stretch where every rank's change is about the same, d grows to
    /// 1/(1 − μ) times the merged change (√2 · 1.67 ≈ 2.4 times the mean change with `.sqrt`
    /// and μ = 0.4, near the sum of two ranks' changes: what one process would have moved); where
    /// the changes alternate in sign it averages them out.
    ///
    /// Measured on 200,000 planted rows with 2 ranks (docs/SCALING.md): the mean loses about
    /// half the progress per epoch on weights both ranks train, however often they sync;
    /// `.sqrt` recovers part of it (0.0074 behind one process after 6 epochs against 0.0118);
    /// `.sqrt` with μ = 0.4 is 0.0001 behind after 6; a plain sum of the changes, or any merge
    /// that adds the changes where the accumulators are large, overshoots (the ranks' changes
    /// were computed from the same stale weights).
    ///
    /// One in-place allreduce of the model's floats.
    /// - Returns: the bytes this rank put into the allreduce (0 for one rank).
    @discardableResult
    func mergeChangesAcrossRanks(_ cluster: Cluster, base: ModelSnapshot, merge how: RankMerge = .sqrt, momentum mu: Float = 0) -> Int {
        guard cluster.size > 1 else { return 0 }
        func merge(_ p: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ count: Int, lanes: Int,
                   _ m: UnsafeMutablePointer<Float>?) {
            toChanges(p, base: b, count: count, lanes: lanes, merge: how)
            cluster.allreduceSum(p, count: count)
            fromSums(p, base: b, count: count, lanes: lanes, ranks: cluster.size, merge: how, momentum: m, mu: mu)
        }
        merge(latent, base.latent, base.latentCount, lanes: 4, base.momentum?.latent)
        merge(linear, base.linear, base.linearCount, lanes: 1, base.momentum?.linear)
        merge(bias, base.bias, 2, lanes: 1, nil)
        return 4 * synchronizedFloats
    }

    /// The same over the rows set in `rows` (a bitmap of `rowCount` bits, the same on
    /// every rank) and the bias: their values and base values are packed (`pack`), turned
    /// into changes, allreduced, merged and unpacked. The other rows did not change on any
    /// rank since the last sync and stay as they are.
    /// - Returns: the bytes this rank put into the allreduce.
    func mergeChangesAcrossRanks(_ cluster: Cluster, base: ModelSnapshot, rows: UnsafePointer<UInt64>, count: Int,
                                 merge: RankMerge = .sqrt, momentum mu: Float = 0) -> Int {
        guard cluster.size > 1 else { return 0 }
        var (buffer, baseBuffer) = pack(rows: rows, count: count, base: base)
        var momentum = base.momentum != nil ? pack(rows: rows, count: count, momentum: base) : nil
        mergePacked(&buffer, base: &baseBuffer, count: count, ranks: cluster.size, merge: merge, momentum: &momentum, mu: mu) {
            cluster.allreduceSum(&$0)
        }
        unpack(buffer, rows: rows, count: count, base: base, momentum: momentum)
        return 4 * buffer.count
    }

    /// `toChanges`, `sum` (the allreduce), `fromSums` over packed buffers of `count` rows
    /// (`momentum`, when given, packed alike: the bias's slots unused).
    func mergePacked(_ buffer: inout [Float], base: inout [Float], count: Int, ranks: Int = 2, merge: RankMerge = .sqrt,
                     momentum: inout [Float]?, mu: Float = 0, sum: (inout [Float]) -> Void) {
        let latentCount = count * rowStride
        buffer.withUnsafeMutableBufferPointer { p in
            base.withUnsafeMutableBufferPointer { b in
                toChanges(p.baseAddress!, base: b.baseAddress!, count: latentCount, lanes: 4, merge: merge)
                toChanges(p.baseAddress! + latentCount, base: b.baseAddress! + latentCount, count: p.count - latentCount, lanes: 1, merge: merge)
            }
        }
        sum(&buffer)
        let n = ranks
        func finish(_ m: UnsafeMutablePointer<Float>?) {
            buffer.withUnsafeMutableBufferPointer { p in
                base.withUnsafeMutableBufferPointer { b in
                    let weights = p.count - latentCount - 2
                    fromSums(p.baseAddress!, base: b.baseAddress!, count: latentCount, lanes: 4, ranks: n, merge: merge, momentum: m, mu: mu)
                    fromSums(p.baseAddress! + latentCount, base: b.baseAddress! + latentCount, count: weights, lanes: 1, ranks: n,
                             merge: merge, momentum: m.map { $0 + latentCount }, mu: mu)
                    fromSums(p.baseAddress! + latentCount + weights, base: b.baseAddress! + latentCount + weights, count: 2, lanes: 1,
                             ranks: n, merge: merge)
                }
            }
        }
        if momentum == nil {
            finish(nil)
        } else {
            momentum!.withUnsafeMutableBufferPointer { finish($0.baseAddress!) }
        }
    }

    /// Without a momentum buffer (the tests' two "ranks").
    func mergePacked(_ buffer: inout [Float], base: inout [Float], count: Int, ranks: Int = 2, merge: RankMerge = .sqrt,
                     sum: (inout [Float]) -> Void) {
        var none: [Float]? = nil
        mergePacked(&buffer, base: &base, count: count, ranks: ranks, merge: merge, momentum: &none, sum: sum)
    }

    /// Calls `body(row, i)` for the i-th row set in `rows`.
    private func forEachRow(in rows: UnsafePointer<UInt64>, _ body: (Int, Int) -> Void) {
        var i = 0
        for w in 0..<(rowCount + 63) / 64 where rows[w] != 0 {
            var word = rows[w]
            while word != 0 {
                body(w * 64 + word.trailingZeroBitCount, i)
                i += 1
                word &= word &- 1
            }
        }
    }

    /// The latent rows of the `count` rows set in `rows`, then their linear pairs, then the
    /// bias pair: the model's values and `base`'s.
    func pack(rows: UnsafePointer<UInt64>, count: Int, base: ModelSnapshot) -> (values: [Float], base: [Float]) {
        let stride = rowStride, pairs = hasLinear ? 2 : 0
        let latentCount = count * stride, linearCount = count * pairs
        var values = [Float](repeating: 0, count: latentCount + linearCount + 2), old = values
        values.withUnsafeMutableBufferPointer { v in
            old.withUnsafeMutableBufferPointer { o in
                let v = v.baseAddress!, o = o.baseAddress!
                forEachRow(in: rows) { r, i in
                    (v + i * stride).update(from: latent + r * stride, count: stride)
                    (o + i * stride).update(from: base.latent + r * stride, count: stride)
                    (v + latentCount + i * pairs).update(from: linear + 2 * r, count: pairs)
                    (o + latentCount + i * pairs).update(from: base.linear + 2 * r, count: pairs)
                }
                (v + latentCount + linearCount).update(from: bias, count: 2)
                (o + latentCount + linearCount).update(from: base.bias, count: 2)
            }
        }
        return (values, old)
    }

    /// `base.momentum` of the rows set in `rows`, packed as `pack(rows:count:base:)` packs values.
    func pack(rows: UnsafePointer<UInt64>, count: Int, momentum base: ModelSnapshot) -> [Float] {
        let stride = rowStride, pairs = hasLinear ? 2 : 0
        let latentCount = count * stride
        var values = [Float](repeating: 0, count: latentCount + count * pairs + 2)
        guard let m = base.momentum else { return values }
        values.withUnsafeMutableBufferPointer { v in
            let v = v.baseAddress!
            forEachRow(in: rows) { r, i in
                (v + i * stride).update(from: m.latent + r * stride, count: stride)
                (v + latentCount + i * pairs).update(from: m.linear + 2 * r, count: pairs)
            }
        }
        return values
    }

    /// Writes merged packed values into the rows of `rows`, the bias, and `base` (and packed
    /// `momentum` into `base.momentum`).
    func unpack(_ values: [Float], rows: UnsafePointer<UInt64>, count: Int, base: ModelSnapshot, momentum: [Float]? = nil) {
        let stride = rowStride, pairs = hasLinear ? 2 : 0
        let latentCount = count * stride, linearCount = count * pairs
        precondition(values.count == latentCount + linearCount + 2)
        values.withUnsafeBufferPointer { v in
            let v = v.baseAddress!
            forEachRow(in: rows) { r, i in
                (latent + r * stride).update(from: v + i * stride, count: stride)
                (base.latent + r * stride).update(from: v + i * stride, count: stride)
                (linear + 2 * r).update(from: v + latentCount + i * pairs, count: pairs)
                (base.linear + 2 * r).update(from: v + latentCount + i * pairs, count: pairs)
            }
            bias.update(from: v + latentCount + linearCount, count: 2)
            base.bias.update(from: v + latentCount + linearCount, count: 2)
        }
        if let momentum, let m = base.momentum {
            momentum.withUnsafeBufferPointer { v in
                let v = v.baseAddress!
                forEachRow(in: rows) { r, i in
                    (m.latent + r * stride).update(from: v + i * stride, count: stride)
                    (m.linear + 2 * r).update(from: v + latentCount + i * pairs, count: pairs)
                }
            }
        }
    }
}

/// ε of the merge: the weight of a change whose squared gradients rounded away.
private let changeEpsilon: Float = 1e-30

/// Values to what a rank puts in (blocks of `lanes` weights then `lanes` accumulators):
/// weight slots (ΔG + ε) Δw, accumulator slots ΔG.
/// With `.mean`, what is put in is the values themselves: weight slots G w, accumulator slots G.
private func toChanges(_ p: UnsafeMutablePointer<Float>, base b: UnsafeMutablePointer<Float>, count: Int, lanes: Int,
                       merge: RankMerge) {
    var i = 0
    if merge == .mean {
        while i < count {
            for s in 0..<lanes { p[i + s] *= p[i + lanes + s] }
            i += 2 * lanes
        }
        return
    }
    while i < count {
        for s in 0..<lanes {
            let dG = p[i + lanes + s] - b[i + lanes + s]
            p[i + s] = (max(dG, 0) + changeEpsilon).squareRoot() * (p[i + s] - b[i + s])
            p[i + lanes + s] = dG
        }
        i += 2 * lanes
    }
}

/// Back from the ranks' sums to values: w = base.w + Σ(ΔG + ε)Δw / (ΣΔG + Nε),
/// G = base.G + ΣΔG; `base` gets the same values.
/// With `.mean`: w = Σ G w / Σ G, G = Σ G / N.
/// With `momentum` (the weights' last merged changes, in the same layout) and μ: each weight
/// moves from base.w by d = (w − base.w) + μ · d_last, and d is kept for the next sync.
private func fromSums(_ p: UnsafeMutablePointer<Float>, base b: UnsafeMutablePointer<Float>, count: Int, lanes: Int, ranks: Int,
                      merge: RankMerge, momentum m: UnsafeMutablePointer<Float>? = nil, mu: Float = 0) {
    let nEpsilon = Float(ranks) * changeEpsilon
    var i = 0
    @inline(__always) func withMomentum(_ w: Float, _ j: Int) -> Float {
        guard let m else { return w }
        let d = (w - b[j]) + mu * m[j]
        m[j] = d
        return b[j] + d
    }
    if merge == .mean {
        while i < count {
            for s in 0..<lanes {
                let g = p[i + lanes + s]
                let w = withMomentum(g > 0 ? p[i + s] / g : b[i + s], i + s)
                p[i + s] = w
                b[i + s] = w
                p[i + lanes + s] = g / Float(ranks)
                b[i + lanes + s] = g / Float(ranks)
            }
            i += 2 * lanes
        }
        return
    }
    while i < count {
        for s in 0..<lanes {
            let sumG = p[i + lanes + s]
            let w = withMomentum(b[i + s] + p[i + s] / (max(sumG, 0) + nEpsilon).squareRoot(), i + s)
            let g = b[i + lanes + s] + sumG
            p[i + s] = w
            b[i + s] = w
            p[i + lanes + s] = g
            b[i + lanes + s] = g
        }
        i += 2 * lanes
    }
}

/// The rows of a model that a rank's threads used since the last sync: one bitmap per
/// thread (no atomics), joined at the sync.
final class TouchedRows: @unchecked Sendable {
    let rowCount: Int
    let words: Int
    private let bits: [UnsafeMutablePointer<UInt64>]

    init(rowCount: Int, threads: Int) {
        self.rowCount = rowCount
        words = max((rowCount + 63) / 64, 1)
        bits = (0..<threads).map { _ in
            let p = UnsafeMutablePointer<UInt64>.allocate(capacity: max((rowCount + 63) / 64, 1))
            p.initialize(repeating: 0, count: max((rowCount + 63) / 64, 1))
            return p
        }
    }

    deinit { for p in bits { p.deallocate() } }

    /// Marks the rows of remapped `features` (hot-row slots and unusable features skipped).
    @inline(__always)
    func mark(_ features: UnsafeBufferPointer<Feature>, thread t: Int) {
        let b = bits[t], n = UInt32(truncatingIfNeeded: rowCount)
        for f in features where f.index < n { b[Int(f.index) >> 6] |= 1 << UInt64(f.index & 63) }
    }

    /// Every thread's rows (and `extra`'s) OR-ed into `out` (`words` words); the threads' bitmaps are cleared.
    func take(into out: UnsafeMutablePointer<UInt64>, extra: UnsafePointer<UInt64>? = nil) {
        out.initialize(repeating: 0, count: words)
        for b in bits {
            for w in 0..<words { out[w] |= b[w] }
            b.update(repeating: 0, count: words)
        }
        if let extra { for w in 0..<words { out[w] |= extra[w] } }
    }
}

/// How ranks keep their models together: their changes are merged every `syncRows` rows
/// of each rank and at the end of each epoch, sending only the touched rows when they are few.
final class RankSync {
    /// Send the touched rows only when they are at most this share of the model's rows
    /// (else the dense allreduce: packing most of the model costs copies and saves little).
    static let sparseShare = 0.5

    let cluster: Cluster
    let model: FFMModel
    let touched: TouchedRows?
    let hot: HotRows?
    let merge: RankMerge
    /// μ of the block momentum (0: none).
    let momentum: Float
    /// The model as of the last sync (several ranks only).
    let base: ModelSnapshot?
    private let union: UnsafeMutablePointer<UInt64>
    /// Since the last `takeCounts`: syncs, bytes put into collectives, syncs that sent touched rows only, rows sent.
    private(set) var syncs = 0, bytes = 0, sparseSyncs = 0, rowsSent = 0

    init(cluster: Cluster, model: FFMModel, threads: Int, hot: HotRows?, merge: RankMerge = .sqrt, momentum: Float = 0) {
        self.cluster = cluster
        self.merge = merge
        self.momentum = momentum
        self.model = model
        self.hot = hot
        touched = cluster.size > 1 && model.canRemap ? TouchedRows(rowCount: model.rowCount, threads: threads) : nil
        base = cluster.size > 1 ? ModelSnapshot(of: model, momentum: momentum > 0) : nil
        let words = max((model.rowCount + 63) / 64, 1)
        union = .allocate(capacity: words)
        union.initialize(repeating: 0, count: words)
    }

    deinit { union.deallocate() }

    /// Syncs per epoch (the last at its end) so that each rank trains about `syncRows` rows
    /// between two: the same number on every rank, from the global row count.
    static func syncsPerEpoch(globalRows: Int, ranks: Int, syncRows: Int) -> Int {
        guard ranks > 1, syncRows > 0 else { return 1 }
        let perRank = (globalRows + ranks - 1) / ranks
        return max(1, perRank / syncRows + (perRank % syncRows == 0 ? 0 : 1))
    }

    /// The mid-epoch points of a rank that trains `rows` rows per epoch: `rows·s/S` for
    /// s = 1 ..< S, spread over its own share, so that ranks of unequal shares call the
    /// collectives the same number of times.
    static func points(rows: Int, syncsPerEpoch s: Int) -> [Int] {
        s > 1 ? (1..<s).map { rows * $0 / s } : []
    }

    /// One merge of the ranks' changes (every rank calls it at the same point).
    func synchronize() {
        guard cluster.size > 1, let base else { return }
        syncs += 1
        guard let touched else {
            bytes += model.mergeChangesAcrossRanks(cluster, base: base, merge: merge, momentum: momentum)
            rowsSent += model.rowCount
            return
        }
        touched.take(into: union, extra: hot.map { UnsafePointer($0.hotBits) })
        cluster.allreduceOr(union, count: touched.words)
        bytes += 8 * touched.words
        var count = 0
        for w in 0..<touched.words { count += union[w].nonzeroBitCount }
        if Double(count) <= RankSync.sparseShare * Double(model.rowCount) {
            bytes += model.mergeChangesAcrossRanks(cluster, base: base, rows: union, count: count, merge: merge, momentum: momentum)
            sparseSyncs += 1
            rowsSent += count
        } else {
            bytes += model.mergeChangesAcrossRanks(cluster, base: base, merge: merge, momentum: momentum)
            rowsSent += model.rowCount
        }
    }

    /// The counts since the last call, then zeroed.
    func takeCounts() -> (syncs: Int, bytes: Int, sparseSyncs: Int, rowsSent: Int) {
        defer { syncs = 0; bytes = 0; sparseSyncs = 0; rowsSent = 0 }
        return (syncs, bytes, sparseSyncs, rowsSent)
    }
}
