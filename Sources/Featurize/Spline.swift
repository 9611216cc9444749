import Foundation
import LogIO
import StageKit

/// The default transform of integer and float columns (`ctr-hash --numeric`).
public enum NumericTransform: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// The Criteo winners' `floor(ln(v)^2)` tokens.
    case logSquare = "log-square"
    /// A cubic B-spline basis on quantile knots (`Transform.spline`).
    case spline
    /// The spline basis and, beside it in the same field, the value's log-square bucket
    /// (`Transform.spline` with `log_square`): smooth where the effect is smooth, a staircase
    /// where it follows the buckets.
    case splineLogSquare = "spline-log-square"

    var transform: Transform { self == .logSquare ? .logSquare : .spline }
    /// Whether spline fields also get the log-square bucket feature.
    var logSquareBuckets: Bool { self == .splineLogSquare }
}

/// The log-square buckets of a spline field with `log_square` (featurizer.json
/// `"log_square": {"low": L, "high": H}`): the bucket keys `L…H` of the training split's values,
/// after the field's basis functions in its range.
///
/// A value's key follows the Criteo winners' rule of the log-square transform as one increasing
/// integer: `2 + floor(ln(v)^2)` for v > 2, else `floor(v)` (each integer ≤ 2 its own bucket,
/// as log-square gives each its own token; a float ≤ 2 goes by its integer part), and below
/// `LogSquareBuckets.lowestKey` one key. Values outside `L…H` take the nearer end's bucket,
/// as the spline clamps to its end knots.
public struct LogSquareBuckets: Codable, Equatable, Sendable {
    public var low: Int
    public var high: Int

    public init(low: Int, high: Int) {
        self.low = low
        self.high = high
    }

    /// Keys below this share one bucket.
    public static let lowestKey = -64
    /// At most this many buckets (above it, values share the highest).
    public static let maxCount = 4096

    public var count: Int { high - low + 1 }

    /// The key of a finite value.
    @inline(__always)
    public static func key(_ v: Double) -> Int {
        if v > 2 {
            let l = log(v)   // the same `log` as the log-square token (Token.logSquare)
            return 2 + Int((l * l).rounded(.down))
        }
        return v < Double(lowestKey) ? lowestKey : Int(v.rounded(.down))
    }

    /// The buckets of values from `minimum` to `maximum` (one bucket when there are none).
    public static func covering(minimum: Double, maximum: Double, present: Bool) -> LogSquareBuckets {
        guard present, minimum.isFinite, maximum.isFinite, minimum <= maximum else { return LogSquareBuckets(low: 0, high: 0) }
        let low = key(minimum)
        return LogSquareBuckets(low: low, high: min(key(maximum), low + maxCount - 1))
    }

    /// The bucket (0…count-1) of a finite value.
    @inline(__always)
    public func bucket(_ v: Double) -> Int { min(max(LogSquareBuckets.key(v), low), high) - low }
}

/// How a value is compressed before the spline knots are placed and the basis evaluated.
public enum SplineCompression: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// `sign(v) · ln(1 + |v|)`: counts spanning many orders of magnitude get evenly used knots.
    case log1p
    /// The value itself.
    case none

    @inline(__always)
    func apply(_ v: Double) -> Double {
        switch self {
        case .log1p: return v < 0 ? -Foundation.log1p(-v) : Foundation.log1p(v)
        case .none: return v
        }
    }
}

/// Cubic B-splines on a clamped knot vector (de Boor, "A Practical Guide to Splines").
///
/// The distinct knots `t0 < t1 < … < t(L-1)` (L ≥ 2, in the compressed space) get their two
/// ends repeated 4 times, `U = [t0, t0, t0, t0, t1, …, t(L-2), t(L-1) ×4]`, which gives L + 2
/// cubic basis functions `N0 … N(L+1)`: non-negative, summing to 1 on `[t0, t(L-1)]`, each
/// non-zero on at most 4 knot spans, so at most 4 of them are non-zero at any point. A value
/// outside `[t0, t(L-1)]` is clamped to the nearer end (where only the end function is 1).
/// With a single knot (L = 1: every training value equal) there is one basis function, 1 everywhere.
public enum Spline {
    /// Basis functions for `knotCount` distinct knots.
    public static func basisCount(knots knotCount: Int) -> Int { knotCount <= 1 ? 1 : knotCount + 2 }

    /// The basis functions non-zero at `x` (already compressed): writes the first function's
    /// number to `first` and the 4 values `N(first) … N(first+3)` to `out` (some may be 0;
    /// with one knot, `first` is 0 and only `out[0]` = 1 is meaningful, the rest 0).
    /// - Complexity: O(log L) for the span, then 16 multiplications; no allocation.
    @inline(__always)
    public static func evaluate(_ x: Double, knots: UnsafeBufferPointer<Double>, first: inout Int,
                                into out: UnsafeMutablePointer<Double>) {
        let L = knots.count
        if L <= 1 {
            first = 0
            out[0] = 1; out[1] = 0; out[2] = 0; out[3] = 0
            return
        }
        // Clamp (NaN never reaches here: values are finite).
        var x = x
        if !(x > knots[0]) { x = knots[0] }
        if !(x < knots[L - 1]) { x = knots[L - 1] }
        // The span j: knots[j] <= x < knots[j + 1], with the last knot in the last span.
        var lo = 0, hi = L - 1   // invariant: knots[lo] <= x, and j < hi
        while hi - lo > 1 {
            let mid = (lo + hi) >> 1
            if knots[mid] <= x { lo = mid } else { hi = mid }
        }
        let j = lo
        // U[k] = knots[clamp(k - 3, 0, L - 1)]; the span in U is s = j + 3. Piegl and Tiller's
        // BasisFuns (The NURBS Book, A2.2): left[r] = x - U[s + 1 - r], right[r] = U[s + r] - x.
        @inline(__always) func u(_ k: Int) -> Double { knots[min(max(k - 3, 0), L - 1)] }
        let s = j + 3
        let l1 = x - u(s), l2 = x - u(s - 1), l3 = x - u(s - 2)
        let r1 = u(s + 1) - x, r2 = u(s + 2) - x, r3 = u(s + 3) - x
        @inline(__always) func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : 0 }
        // Degree 1.
        var t = ratio(1, r1 + l1)
        let a0 = r1 * t, a1 = l1 * t
        // Degree 2.
        t = ratio(a0, r1 + l2)
        let b0 = r1 * t
        var saved = l2 * t
        t = ratio(a1, r2 + l1)
        let b1 = saved + r2 * t
        let b2 = l1 * t
        // Degree 3.
        t = ratio(b0, r1 + l3)
        out[0] = r1 * t
        saved = l3 * t
        t = ratio(b1, r2 + l2)
        out[1] = saved + r2 * t
        saved = l2 * t
        t = ratio(b2, r3 + l1)
        out[2] = saved + r3 * t
        out[3] = l1 * t
        first = j
    }

    /// Knots at quantiles of `sample` (compressed values, any order; sorted in place): the
    /// sample values of 0-based rank `round(i × (n − 1) / (k − 1))` for i = 0 … k − 1, duplicates
    /// removed, so the first and last knots are the sample's minimum and maximum. Empty for an
    /// empty sample; fewer than `k` when values repeat (a column of few distinct values).
    public static func quantileKnots(_ sample: inout [Double], count k: Int) -> [Double] {
        guard !sample.isEmpty, k >= 1 else { return [] }
        sample.sort()
        let n = sample.count
        var knots: [Double] = []
        knots.reserveCapacity(k)
        for i in 0..<k {
            let rank = k == 1 ? 0 : Int((Double(i) * Double(n - 1) / Double(k - 1)).rounded(.toNearestOrEven))
            let v = sample[min(max(rank, 0), n - 1)]
            if knots.last.map({ $0 < v }) ?? true { knots.append(v == 0 ? 0 : v) }   // -0 as 0
        }
        return knots
    }
}

/// A uniform random sample of at most `capacity` values of one field (Vitter's reservoir,
/// Algorithm R), drawn with a SplitMix64 stream seeded by the field: it depends only on the
/// sequence of values, not on chunking or threads. Holds every value while there are at most
/// `capacity` of them, so the quantiles are then exact.
public struct ValueReservoir: Sendable {
    public static let defaultCapacity = 1 << 16
    public let capacity: Int
    public private(set) var values: [Double] = []
    /// Values offered so far.
    public private(set) var seen = 0
    /// The SplitMix64 state.
    private var state: UInt64

    public init(capacity: Int = ValueReservoir.defaultCapacity, seed: UInt64) {
        self.capacity = max(capacity, 1)
        state = seed
    }

    @inline(__always)
    public mutating func add(_ v: Double) {
        seen += 1
        if values.count < capacity {
            values.append(v)
            return
        }
        var rng = SplitMix64(seed: state)
        let r = Int(rng.next() % UInt64(seen))
        state = rng.state
        if r < capacity { values[r] = v }
    }
}

extension ValueReservoir {
    /// One sample of `capacity` values from the samples of disjoint parts of the values (the
    /// ranks' shares under MPI), the same whatever part computes it. While the parts together
    /// hold at most `capacity` values it is all of them, as one process keeps them (so the
    /// quantile knots are exactly a single process's). Otherwise each part gives a share in
    /// proportion to the values it saw (largest remainders, at most what it holds), a random
    /// subset of its sample drawn by SplitMix64 from `seed`.
    public static func merging(_ parts: [(seen: Int, values: [Double])], capacity: Int = defaultCapacity,
                               seed: UInt64) -> ValueReservoir {
        var merged = ValueReservoir(capacity: capacity, seed: seed)
        merged.seen = parts.reduce(0) { $0 + $1.seen }
        guard parts.reduce(0, { $0 + $1.values.count }) > merged.capacity, merged.seen > 0 else {
            merged.values = parts.flatMap(\.values)
            return merged
        }
        let exact = parts.map { Double(merged.capacity) * Double($0.seen) / Double(merged.seen) }
        var take = parts.indices.map { min(parts[$0].values.count, Int(exact[$0])) }
        var left = merged.capacity - take.reduce(0, +)
        let byRemainder = parts.indices.sorted { (exact[$0] - exact[$0].rounded(.down), $1) > (exact[$1] - exact[$1].rounded(.down), $0) }
        while left > 0 {
            var gave = false
            for r in byRemainder where left > 0 && take[r] < parts[r].values.count {
                take[r] += 1
                left -= 1
                gave = true
            }
            if !gave { break }
        }
        var rng = SplitMix64(seed: seed)
        for (r, part) in parts.enumerated() {
            var values = part.values
            for i in 0..<take[r] {  // a partial Fisher-Yates shuffle: the first take[r] values
                let j = i + Int(rng.next() % UInt64(values.count - i))
                values.swapAt(i, j)
            }
            merged.values += values[..<take[r]]
        }
        merged.state = rng.state
        return merged
    }
}

/// The samples of the spline fields, written during the counting pass (each field by exactly one worker).
final class SplineSamples: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<ValueReservoir?>
    let count: Int

    init(_ reservoirs: [ValueReservoir?]) {
        count = reservoirs.count
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(from: reservoirs, count: count)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    @inline(__always)
    func add(_ v: Double, field: Int) { storage[field]!.add(v) }

    func reservoir(_ field: Int) -> ValueReservoir? { storage[field] }

    func replace(_ field: Int, with reservoir: ValueReservoir) { storage[field] = reservoir }
}
