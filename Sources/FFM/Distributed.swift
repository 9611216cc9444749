import Cluster
import Dataset
import Foundation
#if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
import _Builtin_intrinsics.intel
#endif

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
    /// The rows (latent and linear weights and accumulators, the model's layout).
    let latent: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>
    let latentCount: Int
    /// With momentum: each weight's last merged change, zero at first, weights only (half
    /// the rows' floats): the model's layout with the accumulator slots left out (a row's
    /// first half); the bias has none.
    let momentum: UnsafeMutablePointer<Float>?

    init(of model: FFMModel, momentum withMomentum: Bool = false) {
        latentCount = model.rowCount * model.rowStride
        latent = .allocate(capacity: max(latentCount, 1))
        bias = .allocate(capacity: 2)
        latent.initialize(from: model.latent, count: latentCount)
        bias.initialize(from: model.bias, count: 2)
        if withMomentum {
            let m = UnsafeMutablePointer<Float>.allocate(capacity: max(latentCount / 2, 1))
            m.initialize(repeating: 0, count: max(latentCount / 2, 1))
            momentum = m
        } else {
            momentum = nil
        }
    }

    deinit {
        latent.deallocate()
        bias.deallocate()
        momentum?.deallocate()
    }
}

extension FFMModel {
    /// Floats of weights and accumulators the model holds (what one dense sync puts in).
    var synchronizedFloats: Int { rowCount * rowStride + 2 }

    /// Merges the ranks' models on every rank, and sets `base` (the model of the last sync,
    /// the same on every rank) to the result. Per weight w with AdaGrad accumulator G:
    ///
    /// - `.mean`, Vowpal Wabbit's AdaGrad-weighted average:
    ///   w = Σ_r G_r w_r / Σ_r G_r, G = Σ_r G_r / N. Weight slots carry G w, accumulator slots G.
    /// - `.sqrt` (the default), over the changes since `base` (rank r changed them by Δw_r and ΔG_r):
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
    /// In-place allreduces of the model's floats, `mergeChunkFloats` at a time (each chunk's
    /// changes, sums and merge in turn; the same operations per float as in one call, so the
    /// same bits for 2 ranks).
    /// - Returns: the bytes this rank put into the allreduce (0 for one rank).
    @discardableResult
    func mergeChangesAcrossRanks(_ cluster: Cluster, base: ModelSnapshot, merge how: RankMerge = .sqrt, momentum mu: Float = 0) -> Int {
        guard cluster.size > 1 else { return 0 }
        mergeDense(base: base, merge: how, momentum: mu, ranks: cluster.size) { cluster.allreduceSum($0, count: $1) }
        return 4 * synchronizedFloats
    }

    /// The dense merge of `mergeChangesAcrossRanks` with the allreduce given (tests pass a
    /// stand-in): the rows (latent and linear weights) and the bias pair, at most `chunkFloats` floats
    /// (rounded down to whole rows) per allreduce.
    func mergeDense(base: ModelSnapshot, merge how: RankMerge, momentum mu: Float, ranks: Int, chunkFloats: Int = mergeChunkFloats,
                    allreduce: (UnsafeMutablePointer<Float>, Int) -> Void) {
        func merge(_ p: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ count: Int, lanes: Int,
                   _ m: UnsafeMutablePointer<Float>?) {
            // Whole rows of `lanes` weights then `lanes` accumulators; a weight's momentum is at half its offset.
            let chunk = max(chunkFloats / (2 * lanes), 1) * 2 * lanes
            var start = 0
            while start < count {
                let n = min(chunk, count - start)
                toChanges(p + start, base: b + start, into: p + start, count: n, lanes: lanes, merge: how)
                allreduce(p + start, n)
                fromSums(p + start, base: b + start, into: p + start, count: n, lanes: lanes, ranks: ranks, merge: how,
                         momentum: m.map { $0 + start / 2 }, mu: mu)
                start += n
            }
        }
        merge(latent, base.latent, base.latentCount, lanes: accumulatorOffset, base.momentum)
        merge(bias, base.bias, 2, lanes: 1, nil)
    }

    /// The same over the rows set in `rows` (a bitmap of `rowCount` bits, the same on every
    /// rank) and the bias: each rank writes its changes of those rows, packed, into `buffer`
    /// (`packChanges`), the buffers are allreduced, and each rank merges the sums into its
    /// rows, base and momentum (`applySums`). The other rows did not change on any rank
    /// since the last sync and stay as they are. `buffer` is reused from sync to sync (grown
    /// when too small).
    /// - Returns: the bytes this rank put into the allreduce.
    func mergeChangesAcrossRanks(_ cluster: Cluster, base: ModelSnapshot, rows: UnsafePointer<UInt64>, count: Int,
                                 merge: RankMerge = .sqrt, momentum mu: Float = 0, buffer: inout [Float]) -> Int {
        guard cluster.size > 1 else { return 0 }
        let n = packedFloats(rows: count)
        if buffer.count < n { buffer = [Float](repeating: 0, count: n) }
        buffer.withUnsafeMutableBufferPointer { b in
            let out = b.baseAddress!
            packChanges(rows: rows, base: base, merge: merge, into: out)
            cluster.allreduceSum(out, count: n)
            applySums(out, rows: rows, count: count, base: base, ranks: cluster.size, merge: merge, momentum: mu)
        }
        return 4 * n
    }

    /// Floats of `packChanges` for `rows` rows: their rows (latent and linear), the bias pair.
    func packedFloats(rows: Int) -> Int { rows * rowStride + 2 }

    /// What this rank puts into the allreduce for the rows set in `rows`: their rows'
    /// changes since `base` (`toChanges`), then the bias pair's, written to `out`
    /// (`packedFloats` floats).
    func packChanges(rows: UnsafePointer<UInt64>, base: ModelSnapshot, merge: RankMerge, into out: UnsafeMutablePointer<Float>) {
        let stride = rowStride
        var count = 0
        forEachRow(in: rows) { _, _ in count += 1 }
        let biasOut = out + count * stride
        forEachRow(in: rows) { r, i in
            toChanges(latent + r * stride, base: base.latent + r * stride, into: out + i * stride, count: stride, lanes: accumulatorOffset, merge: merge)
        }
        toChanges(bias, base: base.bias, into: biasOut, count: 2, lanes: 1, merge: merge)
    }

    /// Merges the ranks' summed `packChanges` (`sums`, of the `count` rows set in `rows`) into
    /// those rows, the bias, `base` and `base.momentum` (μ = `mu`; the bias has none).
    func applySums(_ sums: UnsafeMutablePointer<Float>, rows: UnsafePointer<UInt64>, count: Int, base: ModelSnapshot, ranks: Int,
                   merge: RankMerge, momentum mu: Float) {
        let stride = rowStride
        let biasSums = sums + count * stride
        let m = base.momentum
        forEachRow(in: rows) { r, i in
            fromSums(sums + i * stride, base: base.latent + r * stride, into: latent + r * stride, count: stride, lanes: accumulatorOffset, ranks: ranks,
                     merge: merge, momentum: m.map { $0 + r * stride / 2 }, mu: mu)
        }
        fromSums(biasSums, base: base.bias, into: bias, count: 2, lanes: 1, ranks: ranks, merge: merge)
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
}

/// Floats of the model one step of the dense merge handles (changes, allreduce, merge): 16 MB
/// (a multiple of 8: whole latent chunks). Open MPI's allreduce takes buffers of the call's
/// size: in calls of 150 MB each sync mapped and zeroed fresh pages (2-4% of a rank's time),
/// in calls of 16 MB the heap reuses them. Much smaller calls cost a round trip each between
/// the ranks: on the loaded 2-core machine, 150 MB in calls of 1 MB took 3.6 s against 1.1 s in
/// one call, in calls of 16 MB 0.8-1.1 s (Benchmarks/mpi/allreduce.c, CHUNK; docs/SCALING.md).
let mergeChunkFloats = 1 << 22

/// ε of the merge: the weight of a change whose squared gradients rounded away.
private let changeEpsilon: Float = 1e-30

/// Values to what a rank puts in (blocks of `lanes` weights then `lanes` accumulators), from
/// the values at `p` and `base` to `out` (which may be `p`): weight slots √(ΔG + ε) Δw,
/// accumulator slots ΔG. With `.mean`, what is put in is the values themselves: weight
/// slots G w, accumulator slots G.
private func toChanges(_ p: UnsafeMutablePointer<Float>, base b: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>,
                       count: Int, lanes: Int, merge: RankMerge) {
    var i = 0
    if merge == .mean {
        while i < count {
            for s in 0..<lanes {
                let g = p[i + lanes + s]
                out[i + s] = p[i + s] * g
                out[i + lanes + s] = g
            }
            i += 2 * lanes
        }
        return
    }
    if lanes % 4 == 0 {
        sqrtChanges4(p, base: b, into: out, chunks: count / 8, lanes: lanes)
        return
    }
    while i < count {
        for s in 0..<lanes {
            let dG = p[i + lanes + s] - b[i + lanes + s]
            out[i + s] = (max(dG, 0) + changeEpsilon).squareRoot() * (p[i + s] - b[i + s])
            out[i + lanes + s] = dG
        }
        i += 2 * lanes
    }
}

// The `.sqrt` merge of latent chunks (4 weights, their 4 accumulators `lanes` floats on), 4 lanes at a
// time: the same operations per float, in the same order, as the scalar loops (so the same
// bits), without a per-float loop over lanes. Loads and stores are unaligned-safe.

@inline(__always) private func load4(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> SIMD4<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Float>.self)
}

// The standard library's `pointwiseMax` and `SIMD4.squareRoot()` compile to a call per chunk
// and a `sqrtf` per lane (the merge then took about 10% of a rank's time on 2,000,000 rows);
// on x86-64 one MAXPS and one SQRTPS. The same bits for every number: MAXPS(v, 0) is v where
// v > 0, else +0 (pointwiseMax keeps −0, and both go on to + ε); SQRTPS rounds as sqrtf.

/// `pointwiseMax(v, .zero)`.
@inline(__always) private func nonNegative(_ v: SIMD4<Float>) -> SIMD4<Float> {
    #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
    return _mm_max_ps(v, SIMD4<Float>())
    #else
    return pointwiseMax(v, .zero)
    #endif
}

/// `v.squareRoot()`.
@inline(__always) private func squareRoot4(_ v: SIMD4<Float>) -> SIMD4<Float> {
    #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
    return _mm_sqrt_ps(v)
    #else
    return v.squareRoot()
    #endif
}

@inline(__always) private func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD4<Float>.self)
}

/// `toChanges` of `chunks` latent chunks: weight lanes √(max(ΔG, 0) + ε) Δw, accumulator lanes ΔG.
private func sqrtChanges4(_ p: UnsafeMutablePointer<Float>, base b: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>,
                          chunks: Int, lanes: Int) {
    let eps = SIMD4<Float>(repeating: changeEpsilon)
    for c in 0..<chunks {
        let i = 4 * c + 4 * c / lanes * lanes  // chunk c's weights; its accumulators `lanes` on
        let dG = load4(p, i + lanes) - load4(b, i + lanes)
        let dw = load4(p, i) - load4(b, i)
        store4(squareRoot4(nonNegative(dG) + eps) * dw, out, i)
        store4(dG, out, i + lanes)
    }
}

/// `fromSums` of `chunks` latent chunks with `.sqrt`: w = b.w + Σ / √(max(ΣΔG, 0) + Nε), then with
/// momentum `m` (4 floats per chunk) d = (w − b.w) + μ m, m = d, w = b.w + d; G = b.G + ΣΔG.
@inline(__always)
private func sqrtFromSums4(_ sums: UnsafeMutablePointer<Float>, base b: UnsafeMutablePointer<Float>, into p: UnsafeMutablePointer<Float>,
                           chunks: Int, lanes: Int, nEpsilon: Float, momentum m: UnsafeMutablePointer<Float>?, mu: Float) {
    let ne = SIMD4<Float>(repeating: nEpsilon), mu4 = SIMD4<Float>(repeating: mu)
    if let m {
        for c in 0..<chunks {
            let i = 4 * c + 4 * c / lanes * lanes
            let sumG = load4(sums, i + lanes), bw = load4(b, i)
            let merged = bw + load4(sums, i) / squareRoot4(nonNegative(sumG) + ne)
            let d = (merged - bw) + mu4 * load4(m, 4 * c)
            store4(d, m, 4 * c)
            let w = bw + d
            let g = load4(b, i + lanes) + sumG
            store4(w, p, i); store4(w, b, i)
            store4(g, p, i + lanes); store4(g, b, i + lanes)
        }
    } else {
        for c in 0..<chunks {
            let i = 4 * c + 4 * c / lanes * lanes
            let sumG = load4(sums, i + lanes), bw = load4(b, i)
            let w = bw + load4(sums, i) / squareRoot4(nonNegative(sumG) + ne)
            let g = load4(b, i + lanes) + sumG
            store4(w, p, i); store4(w, b, i)
            store4(g, p, i + lanes); store4(g, b, i + lanes)
        }
    }
}

/// Back from the ranks' sums (at `sums`, which may be `p`) to values at `p` and `base`:
/// w = base.w + Σ(ΔG + ε)Δw / (ΣΔG + Nε), G = base.G + ΣΔG.
/// With `.mean`: w = Σ G w / Σ G, G = Σ G / N.
/// With `momentum` (the weights' last merged changes, weights only: the weight at `i + s` of a
/// chunk starting at `i` has its change at `i / 2 + s`) and μ: each weight moves from base.w by
/// d = (w − base.w) + μ · d_last, and d is kept for the next sync.
private func fromSums(_ sums: UnsafeMutablePointer<Float>, base b: UnsafeMutablePointer<Float>, into p: UnsafeMutablePointer<Float>,
                      count: Int, lanes: Int, ranks: Int, merge: RankMerge, momentum: UnsafeMutablePointer<Float>? = nil, mu: Float = 0) {
    let nEpsilon = Float(ranks) * changeEpsilon
    if merge == .sqrt, lanes % 4 == 0 {
        sqrtFromSums4(sums, base: b, into: p, chunks: count / 8, lanes: lanes, nEpsilon: nEpsilon, momentum: momentum, mu: mu)
        return
    }
    // One loop per case (no optional or merge test per weight).
    @inline(__always) func loop(_ merged: (Int) -> (w: Float, g: Float), _ m: UnsafeMutablePointer<Float>?) {
        var i = 0
        while i < count {
            for s in 0..<lanes {
                var (w, g) = merged(i + s)
                if let m {
                    let d = (w - b[i + s]) + mu * m[i / 2 + s]
                    m[i / 2 + s] = d
                    w = b[i + s] + d
                }
                p[i + s] = w
                b[i + s] = w
                p[i + lanes + s] = g
                b[i + lanes + s] = g
            }
            i += 2 * lanes
        }
    }
    func meanAt(_ j: Int) -> (w: Float, g: Float) {
        // j = i + s: its accumulator is `lanes` further on.
        let g = sums[j + lanes]
        return (g > 0 ? sums[j] / g : b[j], g / Float(ranks))
    }
    func sqrtAt(_ j: Int) -> (w: Float, g: Float) {
        let sumG = sums[j + lanes]
        return (b[j] + sums[j] / (max(sumG, 0) + nEpsilon).squareRoot(), b[j + lanes] + sumG)
    }
    switch (merge, momentum) {
    case (.mean, nil): loop(meanAt, nil)
    case (.mean, let m?): loop(meanAt, m)
    case (.sqrt, nil): loop(sqrtAt, nil)
    case (.sqrt, let m?): loop(sqrtAt, m)
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
    /// Send the touched rows only when they are at most this share of the model's rows,
    /// else the whole model in place. The touched rows' merge costs their share of the
    /// dense one (bytes and arithmetic) plus a buffer of their changes, kept from sync to
    /// sync; above this share it would save little and hold almost a copy of the model more.
    /// (Measured on 2,000,000 planted rows: 65% of the rows touched between two syncs of
    /// 32,768 rows per rank; docs/SCALING.md.)
    static let sparseShare = 0.8

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
    /// The touched rows' changes (grown to the largest sync's).
    private var buffer: [Float] = []
    /// Since the last `takeCounts`: syncs, bytes put into collectives, syncs that sent touched rows only, rows sent,
    /// rows touched on any rank (summed over the syncs; 0 without a touched-rows bitmap).
    private(set) var syncs = 0, bytes = 0, sparseSyncs = 0, rowsSent = 0, rowsTouched = 0
    /// Wall seconds in `synchronize` since the last `takeCounts`: the merge's arithmetic and copies and the collectives.
    private(set) var seconds: Double = 0

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

    /// The default rows between two syncs: `automaticSyncsPerEpoch` syncs per epoch, at
    /// least `minimumSyncRows` rows apart. Where syncs are frequent in rows (small data), quality
    /// needs them so (200,000 rows on 2 ranks: 32,768 held one process's validation log loss
    /// per epoch, 65,536 lagged by 0.0015); on large data the interval grows with the rows, so
    /// that the syncs' cost stays a fixed share of an epoch (2,000,000 rows on 2 ranks: 4 syncs
    /// an epoch, 250,000 rows, with the momentum 0.3 of that interval, within 0.001 of one
    /// process from the third epoch and at the best; 8 syncs, twice the cost, from the second:
    /// docs/SCALING.md).
    static let minimumSyncRows = 32_768
    static let automaticSyncsPerEpoch = 4

    /// The default block momentum for `rowsApart` rows of each rank between two syncs:
    /// `maximumMomentum` up to `minimumSyncRows` rows, `momentumPerDoubling` less for each
    /// doubling beyond, at least `minimumMomentum`. The further apart the syncs, the larger each
    /// rank's change and the less the momentum has to add to it; but it builds up over the
    /// syncs from zero, so with few syncs an epoch less of it lags (2 ranks: 0.4 at 32,768 rows
    /// tracked one process per epoch on 200,000 rows; on 2,000,000, at 125,000 rows 0.4 ran
    /// 0.0015-0.0019 ahead at epochs 2-6 where 0.3 tracked it within 0.0003, and at 250,000 rows
    /// 0.3 was within 0.001 from the third epoch on where 0.25 lagged by 0.0014-0.0016 at the
    /// third and fourth: docs/SCALING.md).
    static func momentum(rowsApart: Int) -> Double {
        let doublings = log2(Double(max(rowsApart, minimumSyncRows)) / Double(minimumSyncRows))
        return max(minimumMomentum, maximumMomentum - momentumPerDoubling * doublings)
    }
    static let maximumMomentum = 0.4, momentumPerDoubling = 0.05, minimumMomentum = 0.3

    /// The rows of each rank between two syncs: `syncRows`, or a rank's rows per epoch when
    /// the ranks sync only at the end of each epoch.
    static func rowsApart(syncRows: Int, globalRows: Int, ranks: Int) -> Int {
        let perRank = (globalRows + max(ranks, 1) - 1) / max(ranks, 1)
        return syncRows > 0 ? min(syncRows, perRank) : perRank
    }

    /// `syncRows` when given, else the default for `globalRows` rows over `ranks` ranks.
    static func syncRows(_ syncRows: Int?, globalRows: Int, ranks: Int) -> Int {
        if let syncRows { return syncRows }
        let perRank = (globalRows + max(ranks, 1) - 1) / max(ranks, 1)
        return max(minimumSyncRows, perRank / automaticSyncsPerEpoch)
    }

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
        let started = ContinuousClock.now
        defer {
            let d = ContinuousClock.now - started
            seconds += Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
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
        rowsTouched += count
        if Double(count) <= RankSync.sparseShare * Double(model.rowCount) {
            bytes += model.mergeChangesAcrossRanks(cluster, base: base, rows: union, count: count, merge: merge, momentum: momentum,
                                                   buffer: &buffer)
            sparseSyncs += 1
            rowsSent += count
        } else {
            bytes += model.mergeChangesAcrossRanks(cluster, base: base, merge: merge, momentum: momentum)
            rowsSent += model.rowCount
        }
    }

    /// The counts since the last call, then zeroed.
    func takeCounts() -> (syncs: Int, bytes: Int, sparseSyncs: Int, rowsSent: Int, rowsTouched: Int, seconds: Double) {
        defer { syncs = 0; bytes = 0; sparseSyncs = 0; rowsSent = 0; rowsTouched = 0; seconds = 0 }
        return (syncs, bytes, sparseSyncs, rowsSent, rowsTouched, seconds)
    }
}
