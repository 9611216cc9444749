#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Every metric is computed from the rows sorted by prediction. A row is one 64-bit key,
// `(bit pattern of p) << 1 | label`: for p in [0, 1] (never -0.0) the bit patterns sort
// as the values do, so one radix sort of plain integers orders rows by prediction, and
// the label rides along in the low bit. Rows with equal predictions form a tie group;
// each walk below visits tie groups from the highest prediction down.

/// The 95% two-sided standard normal quantile, Φ⁻¹(0.975).
let z95 = 1.959963984540054

/// A sorted range of rows with their weights.
struct ScoredRows {
    let keys: UnsafePointer<UInt64>
    let start: Int
    let end: Int
    /// Original row number of each key, when rows carry per-row data.
    let index: UnsafePointer<UInt32>?
    /// Per-row weights in original row order (needs `index`).
    let weights: UnsafePointer<Double>?
    /// Weight of a negative relative to a positive (1/W with a negative keep rate W).
    let negativeWeight: Double

    var count: Int { end - start }

    @inline(__always)
    func score(at i: Int) -> Double { Double(bitPattern: keys[i] >> 1) }
}

/// The key of a row: p must be in [0, 1].
@inline(__always)
func rowKey(probability p: Double, label: UInt8) -> UInt64 {
    // Adding +0.0 turns -0.0 into +0.0, whose bit pattern sorts first.
    ((p + 0.0).bitPattern << 1) | UInt64(label)
}

/// Rows sharing one prediction value.
struct TieGroup {
    var score: Double
    /// Rows `lower..<upper` of the sorted keys.
    var lower, upper: Int
    var positives, negatives: Int
    /// Weights of the positives and negatives, and of their squares (DeLong).
    var wPos, wNeg, w2Pos, w2Neg: Double
    var weight: Double { wPos + wNeg }
}

/// Tie groups from the highest prediction down.
struct DescendingGroups {
    let rows: ScoredRows
    private var position: Int

    init(_ rows: ScoredRows) {
        self.rows = rows
        position = rows.end
    }

    @inline(__always)
    mutating func next() -> TieGroup? {
        let start = rows.start
        guard position > start else { return nil }
        let keys = rows.keys
        let upper = position
        let scoreBits = keys[upper - 1] >> 1
        var i = upper
        var positives = 0
        repeat {
            i -= 1
            positives &+= Int(truncatingIfNeeded: keys[i] & 1)
        } while i > start && keys[i - 1] >> 1 == scoreBits
        position = i
        let negatives = upper - i - positives
        let c = rows.negativeWeight
        var g = TieGroup(score: Double(bitPattern: scoreBits), lower: i, upper: upper,
                         positives: positives, negatives: negatives,
                         wPos: Double(positives), wNeg: Double(negatives) * c,
                         w2Pos: Double(positives), w2Neg: Double(negatives) * c * c)
        if let weights = rows.weights, let index = rows.index {
            var wPos = 0.0, wNeg = 0.0, w2Pos = 0.0, w2Neg = 0.0
            for r in i..<upper {
                let w = weights[Int(index[r])]
                if keys[r] & 1 == 1 {
                    wPos += w
                    w2Pos += w * w
                } else {
                    let v = w * c
                    wNeg += v
                    w2Neg += v * v
                }
            }
            g.wPos = wPos; g.wNeg = wNeg; g.w2Pos = w2Pos; g.w2Neg = w2Neg
        }
        return g
    }
}

/// Sums over all rows.
struct Totals {
    var rows = 0
    var positives = 0
    var wPos = 0.0
    var wNeg = 0.0
    var w2Pos = 0.0
    var w2Neg = 0.0
    var distinct = 0
    var weight: Double { wPos + wNeg }
    var hasBothClasses: Bool { wPos > 0 && wNeg > 0 }

    init(_ rows: ScoredRows) {
        self.rows = rows.count
        var groups = DescendingGroups(rows)
        while let g = groups.next() {
            positives += g.positives
            wPos += g.wPos; wNeg += g.wNeg
            w2Pos += g.w2Pos; w2Neg += g.w2Neg
            distinct += 1
        }
    }
}

/// The unweighted AUC, exact in integers: twice the Mann-Whitney U statistic,
/// Σ neg_g (2 pos_above + pos_g), accumulated over tie groups from the highest score down
/// (ties count one half, as scikit-learn's `roc_auc_score`).
struct ExactAUC {
    private var twice: UInt64 = 0
    private var positivesAbove: UInt64 = 0

    @inline(__always)
    mutating func add(_ g: TieGroup) {
        twice &+= UInt64(g.negatives) &* (2 &* positivesAbove &+ UInt64(g.positives))
        positivesAbove &+= UInt64(g.positives)
    }

    func value(_ totals: Totals) -> Double {
        Double(twice) / (2 * Double(totals.positives) * Double(totals.rows - totals.positives))
    }
}

/// ROC AUC of raw scores (any finite values, e.g. a model's margins), with ties counting
/// one half; nil when the labels hold one class. ctr-train's per-epoch AUC: the same
/// walk as ctr-eval's unweighted AUC.
public func areaUnderCurve(scores: [Float], labels: [UInt8]) -> Double? {
    let n = scores.count
    let keys = RowBuffer<UInt64>(uninitializedCount: n)
    for i in 0..<n {
        // Float bits made to sort as the values do (-0.0 becomes +0.0).
        let b = (scores[i] + 0).bitPattern
        let ordered = b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
        keys.base[i] = UInt64(ordered) << 1 | UInt64(labels[i] > 0 ? 1 : 0)
    }
    radixSort(keys: keys, payload: nil)
    let rows = ScoredRows(keys: UnsafePointer(keys.base), start: 0, end: n, index: nil, weights: nil, negativeWeight: 1)
    let totals = Totals(rows)
    guard totals.hasBothClasses else { return nil }
    var auc = ExactAUC()
    var groups = DescendingGroups(rows)
    while let g = groups.next() { auc.add(g) }
    return auc.value(totals)
}

/// Log loss clipping, as scikit-learn ≥ 1.5 for float64: eps = machine epsilon.
let logLossEpsilon = Double.ulpOfOne

@inline(__always)
func clipProbability(_ x: Double) -> Double { min(max(x, logLossEpsilon), 1 - logLossEpsilon) }

/// Entropy (nats) of a Bernoulli(c) variable.
func bernoulliEntropy(_ c: Double) -> Double {
    guard c > 0 && c < 1 else { return 0 }
    return -(c * log(c) + (1 - c) * log(1 - c))
}

/// What to compute besides the scalar metrics.
struct MetricOptions {
    var bins = 10
    var strategy = BinStrategy.quantile
    /// Reliability, ROC points, histogram, DeLong interval and logistic refit.
    var full = true
    var histogramBins = 40
    var rocPoints = 400
}

/// Computes every metric of `rows` (sorted by key).
/// - Complexity: O(n) per walk; a few walks, plus a few per Newton step of the logistic refit
///   (each over tie groups, so heavily tied predictions are cheap).
func computeMetrics(_ rows: ScoredRows, options: MetricOptions) -> (BinaryMetrics, Curves?) {
    let totals = Totals(rows)
    let W = totals.weight
    let bothClasses = totals.hasBothClasses
    let unweighted = rows.weights == nil && rows.negativeWeight == 1

    // Reliability bin edges and histogram range come from ranks, so before the main walk.
    var edges: [Double] = []
    var histogramUpper = 1.0
    if options.full {
        edges = options.strategy == .quantile
            ? quantileEdges(rows, bins: options.bins)
            : uniformEdges(bins: options.bins)
        histogramUpper = histogramRange(rows)
    }
    let binCount = options.full ? options.bins : 0
    var binRows = [Int](repeating: 0, count: binCount)
    var binPositives = [Int](repeating: 0, count: binCount)
    var binW = [Double](repeating: 0, count: binCount)
    var binW2 = [Double](repeating: 0, count: binCount)
    var binWP = [Double](repeating: 0, count: binCount)
    var binWY = [Double](repeating: 0, count: binCount)
    var histPos = [Double](repeating: 0, count: options.full ? options.histogramBins : 0)
    var histNeg = histPos
    var roc: [(fpr: Double, tpr: Double)] = options.full ? [(0, 0)] : []
    let rocStep = 1.0 / Double(max(options.rocPoints, 1))
    var pr: [(recall: Double, precision: Double)] = []

    var posAbove = 0.0, negAbove = 0.0
    var exactAUC = ExactAUC()
    var aucNumerator = 0.0           // Σ wNeg_g (posAbove + wPos_g / 2)
    var apSum = 0.0
    var lossSum = 0.0, brierSum = 0.0, predictionSum = 0.0
    var bin = binCount - 1
    var groups = DescendingGroups(rows)
    while let g = groups.next() {
        let p = g.score
        if unweighted {
            exactAUC.add(g)
        } else {
            aucNumerator += g.wNeg * (posAbove + 0.5 * g.wPos)
        }
        posAbove += g.wPos
        negAbove += g.wNeg
        if g.wPos > 0 { apSum += g.wPos * (posAbove / (posAbove + negAbove)) }
        // scikit-learn clips p and 1 − p separately (after forming 1 − p).
        if g.wPos > 0 { lossSum -= g.wPos * log(clipProbability(p)) }
        if g.wNeg > 0 { lossSum -= g.wNeg * log(clipProbability(1 - p)) }
        brierSum += g.wPos * (1 - p) * (1 - p) + g.wNeg * p * p
        predictionSum += g.weight * p
        guard options.full else { continue }
        // Bin b holds edges[b] < p ≤ edges[b+1] (numpy searchsorted, side left, on inner edges).
        while bin > 0 && edges[bin] >= p { bin -= 1 }
        binRows[bin] += g.upper - g.lower
        binPositives[bin] += g.positives
        binW[bin] += g.weight
        binW2[bin] += g.w2Pos + g.w2Neg
        binWP[bin] += g.weight * p
        binWY[bin] += g.wPos
        let h = min(Int(p / histogramUpper * Double(options.histogramBins)), options.histogramBins - 1)
        histPos[h] += g.wPos
        histNeg[h] += g.wNeg
        if bothClasses {
            let point = (fpr: negAbove / totals.wNeg, tpr: posAbove / totals.wPos)
            let last = roc[roc.count - 1]
            if point.fpr - last.fpr >= rocStep || point.tpr - last.tpr >= rocStep { roc.append(point) }
            if posAbove > 0 {
                let next = (recall: posAbove / totals.wPos, precision: posAbove / (posAbove + negAbove))
                if let last = pr.last {
                    if next.recall - last.recall >= rocStep || abs(next.precision - last.precision) >= rocStep { pr.append(next) }
                } else {
                    pr.append(next)
                }
            }
        }
    }

    var m = BinaryMetrics(
        rows: totals.rows, positives: totals.positives, negatives: totals.rows - totals.positives,
        weightSum: W, clickRate: totals.wPos / W, meanPrediction: predictionSum / W,
        auc: nil, aucInterval: nil, logloss: lossSum / W, ne: nil, rig: nil,
        calibration: totals.wPos > 0 ? predictionSum / totals.wPos : nil,
        prAUC: nil, brier: brierSum / W, calibrationSlope: nil, calibrationIntercept: nil,
        distinctPredictions: totals.distinct, reliability: nil)
    let entropy = bernoulliEntropy(m.clickRate)
    if entropy > 0 {
        m.ne = m.logloss / entropy
        m.rig = 1 - m.ne!
    }
    if bothClasses {
        let auc = unweighted
            ? exactAUC.value(totals)
            : aucNumerator / (totals.wPos * totals.wNeg)
        m.auc = auc
        m.prAUC = apSum / totals.wPos
        if options.full {
            m.aucInterval = delongInterval(rows, totals: totals, auc: auc)
            if let (intercept, slope) = logisticRefit(rows, totals: totals) {
                m.calibrationIntercept = intercept
                m.calibrationSlope = slope
            }
        }
    }
    guard options.full else { return (m, nil) }

    var bins: [ReliabilityBin] = []
    var ece = 0.0, mce = 0.0
    for b in 0..<binCount where binRows[b] > 0 {
        let w = binW[b]
        let mean = binWP[b] / w
        let rate = binWY[b] / w
        let effective = w * w / binW2[b]
        let (lo, hi) = wilsonInterval(rate: rate, n: effective)
        bins.append(ReliabilityBin(lower: edges[b], upper: edges[b + 1], rows: binRows[b], positives: binPositives[b],
                                   weight: w, meanPrediction: mean, observedRate: rate,
                                   intervalLower: lo, intervalUpper: hi))
        if w > 0 {
            let gap = abs(mean - rate)
            ece += w / W * gap
            mce = max(mce, gap)
        }
    }
    m.reliability = Reliability(strategy: options.strategy, binsRequested: options.bins, bins: bins, ece: ece, mce: mce)
    if bothClasses, let last = roc.last, last.fpr < 1 || last.tpr < 1 { roc.append((1, 1)) }
    if !bothClasses { roc = [] }
    if bothClasses, let last = pr.last, last.recall < 1 { pr.append((1, totals.wPos / W)) }
    if !bothClasses { pr = [] }
    let curves = Curves(roc: roc, histogramUpper: histogramUpper,
                        histogramPositives: histPos, histogramNegatives: histNeg, pr: pr)
    return (m, curves)
}

/// Bin edges at the quantiles of the predictions, exactly as numpy's
/// `percentile(p, linspace(0, 1, bins + 1) * 100)` (linear interpolation) computes them,
/// so rows fall in the same bins as with scikit-learn's `calibration_curve`.
func quantileEdges(_ rows: ScoredRows, bins: Int) -> [Double] {
    let n = rows.count
    let step = 1.0 / Double(bins)
    var edges: [Double] = []
    for i in 0...bins {
        let q = (i == bins ? 1.0 : Double(i) * step) * 100 / 100
        let virtualIndex = Double(n - 1) * q
        let edge: Double
        if virtualIndex >= Double(n - 1) {
            edge = rows.score(at: rows.end - 1)
        } else if virtualIndex < 0 {
            edge = rows.score(at: rows.start)
        } else {
            let previous = virtualIndex.rounded(.down)
            let gamma = virtualIndex - previous
            let a = rows.score(at: rows.start + Int(previous))
            let b = rows.score(at: rows.start + Int(previous) + 1)
            let difference = b - a
            edge = gamma >= 0.5 ? b - difference * (1 - gamma) : a + difference * gamma
        }
        edges.append(edge)
    }
    return edges
}

/// Equal-width edges on [0, 1], as numpy's `linspace(0, 1, bins + 1)`.
func uniformEdges(bins: Int) -> [Double] {
    let step = 1.0 / Double(bins)
    return (0...bins).map { $0 == bins ? 1.0 : Double($0) * step }
}

/// Upper end of the prediction histogram: the 99.5th percentile rounded up to a round
/// number (predictions are skewed towards 0; a few large ones would squash the rest).
func histogramRange(_ rows: ScoredRows) -> Double {
    let top = rows.score(at: rows.start + min(rows.count - 1, Int(Double(rows.count) * 0.995)))
    guard top > 0 else { return 1 }
    let magnitude = pow(10, (log10(top)).rounded(.down))
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] where m * magnitude >= top {
        return min(1, m * magnitude)
    }
    return 1
}

/// Wilson score interval (95%) for a proportion `rate` out of `n` trials.
func wilsonInterval(rate: Double, n: Double) -> (Double, Double) {
    guard n > 0 else { return (0, 1) }
    let z2 = z95 * z95
    let denominator = 1 + z2 / n
    let center = (rate + z2 / (2 * n)) / denominator
    let half = z95 * (rate * (1 - rate) / n + z2 / (4 * n * n)).squareRoot() / denominator
    return (max(0, center - half), min(1, center + half))
}

/// DeLong's structural components (DeLong, DeLong & Clarke-Pearson 1988; computed from
/// sorted scores as in Sun & Xu 2014): a positive's component V10 is the share of
/// negatives scored below it (ties ½), a negative's V01 the share of positives above it.
/// Calls `body(group, V10, V01)` for each tie group.
@inline(__always)
func forEachStructuralComponent(_ rows: ScoredRows, totals: Totals, _ body: (TieGroup, Double, Double) -> Void) {
    var posAbove = 0.0, negAbove = 0.0
    var groups = DescendingGroups(rows)
    while let g = groups.next() {
        let negBelow = max(0, totals.wNeg - negAbove - g.wNeg)
        let v10 = (negBelow + 0.5 * g.wNeg) / totals.wNeg
        let v01 = (posAbove + 0.5 * g.wPos) / totals.wPos
        body(g, v10, v01)
        posAbove += g.wPos
        negAbove += g.wNeg
    }
}

/// DeLong variance terms: Var(AUC) = Σ_i w_i²(V10_i − A)² / (Σw_pos)² · m/(m−1) + the same
/// for negatives. Without weights this is DeLong's S10/m + S01/n.
func delongVariance(_ rows: ScoredRows, totals: Totals, auc: Double) -> Double? {
    let m = totals.positives, n = totals.rows - totals.positives
    guard m >= 2 && n >= 2 else { return nil }
    var s10 = 0.0, s01 = 0.0
    forEachStructuralComponent(rows, totals: totals) { g, v10, v01 in
        s10 += g.w2Pos * (v10 - auc) * (v10 - auc)
        s01 += g.w2Neg * (v01 - auc) * (v01 - auc)
    }
    let variance = s10 / (totals.wPos * totals.wPos) * Double(m) / Double(m - 1)
        + s01 / (totals.wNeg * totals.wNeg) * Double(n) / Double(n - 1)
    return variance
}

func delongInterval(_ rows: ScoredRows, totals: Totals, auc: Double) -> AUCInterval? {
    guard let variance = delongVariance(rows, totals: totals, auc: auc) else { return nil }
    let se = variance.squareRoot()
    return AUCInterval(lower: max(0, auc - z95 * se), upper: min(1, auc + z95 * se), standardError: se, level: 0.95)
}

/// Fits P(y = 1) = σ(a + b · logit(p)) by maximum likelihood (Newton's method with step
/// halving), p clipped to [eps, 1 − eps] as for log loss. A calibrated model has a = 0, b = 1.
/// nil when the maximum is not finite: constant logit(p) or classes separated by p.
func logisticRefit(_ rows: ScoredRows, totals: Totals) -> (intercept: Double, slope: Double)? {
    guard totals.hasBothClasses, totals.distinct > 1 else { return nil }
    struct Step { var loglik = 0.0, g0 = 0.0, g1 = 0.0, h00 = 0.0, h01 = 0.0, h11 = 0.0 }
    /// Gradient and Hessian at (a, b) — and the log-likelihood only when asked (it costs a
    /// log1p per tie group and is needed only to damp an overshooting step).
    func evaluate(_ a: Double, _ b: Double, loglik: Bool) -> Step {
        var s = Step()
        var groups = DescendingGroups(rows)
        while let g = groups.next() {
            let pc = clipProbability(g.score)
            let x = log(pc / (1 - pc))
            let eta = a + b * x
            // σ(η) and log(1 + e^η) from one exponential, without overflow.
            let e = exp(-abs(eta))
            let mu = eta >= 0 ? 1 / (1 + e) : e / (1 + e)
            let w = g.weight
            if loglik { s.loglik += g.wPos * eta - w * (max(eta, 0) + log1p(e)) }
            let r = g.wPos - w * mu
            s.g0 += r
            s.g1 += r * x
            let h = w * mu * (1 - mu)
            s.h00 += h
            s.h01 += h * x
            s.h11 += h * x * x
        }
        return s
    }
    var a = 0.0, b = 1.0
    var current = evaluate(a, b, loglik: false)
    for _ in 0..<100 {
        let det = current.h00 * current.h11 - current.h01 * current.h01
        guard det > 1e-300, det > 1e-13 * current.h00 * current.h11 else { return nil }
        let da = (current.h11 * current.g0 - current.h01 * current.g1) / det
        let db = (current.h00 * current.g1 - current.h01 * current.g0) / det
        // Newton converges quadratically: after a step this small the remaining error is
        // about its square (~1e-16), so take it without another pass over the rows.
        if abs(da) <= 1e-8 * (1 + abs(a)) && abs(db) <= 1e-8 * (1 + abs(b)) {
            return (a + da, b + db)
        }
        var t = 1.0
        var next = evaluate(a + da, b + db, loglik: false)
        // The log-likelihood is concave: while its slope along the step is still ≥ 0 at the
        // new point, it rose all the way. Otherwise compare values and halve as needed.
        if next.g0 * da + next.g1 * db < 0 {
            let base = evaluate(a, b, loglik: true).loglik
            next = evaluate(a + da, b + db, loglik: true)
            while next.loglik < base - 1e-12 * abs(base) {
                t *= 0.5
                // No step improves the likelihood: at the optimum to rounding.
                if t < 1e-10 { return (a, b) }
                next = evaluate(a + t * da, b + t * db, loglik: true)
            }
        }
        a += t * da
        b += t * db
        current = next
        guard a.isFinite, b.isFinite, abs(b) < 1e6, abs(a) < 1e8 else { return nil }
    }
    return nil
}
