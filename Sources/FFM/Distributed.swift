import Cluster

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

extension FFMModel {
    /// Floats of weights and accumulators the model holds (what one average sends and receives).
    var synchronizedFloats: Int { rowCount * rowStride + (hasLinear ? 2 * rowCount : 0) + 2 }

    /// Replaces every rank's weights by their AdaGrad-weighted average, as Vowpal Wabbit's
    /// `accumulate_weighted_avg` does: per coordinate, w = Σ G_r w_r / Σ G_r, where G_r is
    /// rank r's AdaGrad accumulator (1 + its summed squared gradients); the accumulator
    /// becomes the ranks' mean, Σ G_r / N.
    ///
    /// Why weighted and not spark-ffm's plain mean of the weights: CTR features are sparse,
    /// so between two averages most indices are seen by one rank only. A plain mean pulls
    /// such a weight halfway back to the value the other ranks left untouched (N ranks:
    /// keeps 1/N of its update); weighting by G keeps the update of the rank that saw the
    /// feature (G = 1 on the others, much larger on it) and averages where all ranks saw it.
    /// Accumulators are averaged, not summed, so a rank's step size after the average is
    /// that of a rank having seen its own share (summing would shrink every later step by
    /// about √N). One rank: nothing is done (the model stays bit for bit what it is).
    ///
    /// One in-place allreduce of the model's floats: the weight slots carry G w, the
    /// accumulator slots G (the layout interleaves 4 weights and their 4 accumulators;
    /// linear terms and the bias are (weight, accumulator) pairs).
    /// - Returns: the bytes this rank sent into the allreduce (0 for one rank).
    @discardableResult
    func averageAcrossRanks(_ cluster: Cluster) -> Int {
        guard cluster.size > 1 else { return 0 }
        let ranks = Float(cluster.size)
        func weightByAccumulator(_ p: UnsafeMutablePointer<Float>, count: Int, lanes: Int) {
            var i = 0
            while i < count {
                for s in 0..<lanes { p[i + s] *= p[i + lanes + s] }
                i += 2 * lanes
            }
        }
        func divideByAccumulator(_ p: UnsafeMutablePointer<Float>, count: Int, lanes: Int) {
            var i = 0
            while i < count {
                for s in 0..<lanes {
                    let g = p[i + lanes + s]
                    p[i + s] = g > 0 ? p[i + s] / g : 0
                    p[i + lanes + s] = g / ranks
                }
                i += 2 * lanes
            }
        }
        let latentCount = rowCount * rowStride, linearCount = hasLinear ? 2 * rowCount : 0
        weightByAccumulator(latent, count: latentCount, lanes: 4)
        weightByAccumulator(linear, count: linearCount, lanes: 1)
        weightByAccumulator(bias, count: 2, lanes: 1)
        cluster.allreduceSum(latent, count: latentCount)
        cluster.allreduceSum(linear, count: linearCount)
        cluster.allreduceSum(bias, count: 2)
        divideByAccumulator(latent, count: latentCount, lanes: 4)
        divideByAccumulator(linear, count: linearCount, lanes: 1)
        divideByAccumulator(bias, count: 2, lanes: 1)
        return 4 * synchronizedFloats
    }
}
