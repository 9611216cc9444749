import Foundation
import LogIO

/// SplitMix64's finalizer (Steele, Lea, Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): a strong 64-bit mix, used to derive weights from keys.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    SplitMix64.mix(x &+ SplitMix64.increment)
}

/// xoshiro256** (Blackman, Vigna, 2018), seeded through SplitMix64: fast, deterministic.
struct Xoshiro256 {
    private var s0, s1, s2, s3: UInt64

    init(seed: UInt64) {
        var x = seed
        func next() -> UInt64 { x &+= 0x9E3779B97F4A7C15; return mix64(x &- 0x9E3779B97F4A7C15) }
        s0 = next(); s1 = next(); s2 = next(); s3 = next()
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in (0, 1).
    @inline(__always)
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) * 0x1p-53 }
}

/// How one model field's values are drawn and written.
struct FieldSpec {
    enum Kind {
        /// 8 lowercase hex digits derived from the rank (Criteo and Avazu ids).
        case hex
        /// A decimal number derived from the rank, `digits` long (Avazu's anonymised C14…).
        case decimal(digits: Int)
        /// A fixed list of tokens, most frequent first.
        case list([String])
        /// A count-like integer `rank - 1`; with probability `negativeRate` one of -1, -2, -3.
        case integer(negativeRate: Double)
        /// Filled from the timestamp (Avazu hour of day / day of week).
        case derived
    }
    var name: String
    var kind: Kind
    /// Number of distinct values (ranks 1…vocabulary), and the Zipf exponent: rank r has
    /// probability ∝ r^-s (continuous approximation).
    var vocabulary: Int, zipf: Double
    var missingRate: Double
    /// Standard deviation of the linear weights of this field.
    var linearScale: Double
}

/// The planted ground truth: a field-aware factorization machine (Juan et al., RecSys 2016)
///
///     logit(x) = b + Σ_f w_f(x_f) + Σ_{(f,g) ∈ P} <v_{f,x_f,g}, v_{g,x_g,f}>
///
/// over the model fields' keys, with weights derived from the keys by hashing (nothing is
/// stored, so vocabularies of millions cost no memory). P is a set of interacting field
/// pairs: those interactions carry much of the signal, so a field-aware model beats a
/// linear one. The key of a categorical value is its rank (0 = missing); of an integer
/// value the Criteo bucket (`v > 2 ? floor(ln(v)^2) : v`), which ctr-hash applies too.
///
/// With the smooth truth (`PlantedTruth.smooth`), a non-negative integer value v of a
/// field enters instead through x = ln(1 + v): its linear weight and each latent component
/// are smooth random curves of x, `Σ_{m=1…3} sin(ω_m x + φ_m)` scaled to the same variance
/// as the hashed weights, with ω_m uniform in [0.6, 2.4] and φ_m uniform in [0, 2π) drawn per
/// (field, partner, component) from the seed: nothing aligns with the `floor(ln(v)^2)` buckets.
/// Missing and negative values keep their hashed weights.
struct PlantedModel {
    static let latentDimension = 4
    let seed: UInt64
    let fieldCount: Int
    let linearScales: [Double]
    let pairs: [(Int, Int)]
    let interactionScale: Double
    var bias = 0.0
    /// `--truth deep`: the network's fields and weights (nil for the ffm truth).
    let deep: DeepTruth?
    /// Smooth truth: per (field, partner 0…63 or 64 for the linear weight, component 0…3),
    /// the curve's three (ω, φ); empty for the ffm truth.
    private var curves: [Double] = []
    static let curvePartners = 65

    /// `--truth cubic`: the fields of the three-way interactions (empty otherwise).
    let cubic: [Int]
    /// `--truth cubic`: per cubic field and component, the mean of its embedding over the
    /// rows (subtracted, so the three-way part is pure: no pair or single field explains any
    /// of it), and the factor that gives the three-way part its standard deviation
    /// (`makeCubicPure`).
    private(set) var cubicMeans: [Double] = []
    private(set) var cubicScale = 1.5
    /// The standard deviation of the planted three-way part over the rows, in logits.
    static let cubicDeviation = 1.5

    init(seed: UInt64, fields: [FieldSpec], interacting: [Int], interactionScale: Double, deep: Bool = false, cubic: Bool = false) {
        self.deep = deep ? DeepTruth(seed: mix64(seed ^ 0xdee9_7a07), fields: interacting) : nil
        self.cubic = cubic ? Array(interacting.prefix(5)) : []
        self.seed = mix64(seed ^ 0x5eed_f00d)
        fieldCount = fields.count
        linearScales = fields.map(\.linearScale)
        var p: [(Int, Int)] = []
        for i in 0..<interacting.count {
            for j in (i + 1)..<interacting.count { p.append((interacting[i], interacting[j])) }
        }
        pairs = p
        self.interactionScale = interactionScale
    }

    /// Draws the curves of the smooth truth (for every field; only those given an x use them).
    mutating func makeSmooth() {
        let count = fieldCount * PlantedModel.curvePartners * PlantedModel.latentDimension
        var c = [Double](repeating: 0, count: count * 6)
        for i in 0..<count {
            var h = mix64(seed ^ 0x5300_7400 ^ UInt64(i))
            for m in 0..<3 {
                h = mix64(h)
                let u = Double(h >> 11) * 0x1p-53
                let v = Double(mix64(h ^ 0xf1) >> 11) * 0x1p-53
                c[i * 6 + 2 * m] = 0.6 + 1.8 * u
                c[i * 6 + 2 * m + 1] = 2 * Double.pi * v
            }
        }
        curves = c
    }

    /// The smooth curve of (field, partner, component) at x: variance 1 over random phases.
    @inline(__always)
    private func curve(_ field: Int, _ partner: Int, _ d: Int, _ x: Double) -> Double {
        let i = ((field * PlantedModel.curvePartners + partner) * PlantedModel.latentDimension + d) * 6
        var s = 0.0
        for m in 0..<3 { s += sin(curves[i + 2 * m] * x + curves[i + 2 * m + 1]) }
        return s * 0.816496580927726   // sqrt(2/3)
    }

    /// The logit without the bias, with the smooth truth: `xs[f]` is ln(1 + v) for a field
    /// whose effect is smooth at this row, NaN where the key's hashed weights apply.
    func score(_ keys: UnsafeBufferPointer<Int64>, smooth xs: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for f in 0..<fieldCount {
            let x = xs[f]
            if !x.isNaN {
                s += curve(f, 64, 0, x) * linearScales[f]
                continue
            }
            let h = hash(f, keys[f], 63)
            let g = PlantedModel.unit(h, 0) + PlantedModel.unit(h, 1) + PlantedModel.unit(h, 2) + PlantedModel.unit(h, 3)
            s += g * 0.8660254037844386 * linearScales[f]
        }
        var interaction = 0.0
        for (f, g) in pairs {
            let a = hash(f, keys[f], g)
            let b = hash(g, keys[g], f)
            let xf = xs[f], xg = xs[g]
            for d in 0..<PlantedModel.latentDimension {
                // A curve of variance 1/3, as a uniform in (-1, 1).
                let va = xf.isNaN ? PlantedModel.unit(a, d) : curve(f, g, d, xf) * 0.5773502691896258
                let vb = xg.isNaN ? PlantedModel.unit(b, d) : curve(g, f, d, xg) * 0.5773502691896258
                interaction += va * vb
            }
        }
        return s + interaction * interactionScale
    }

    /// A 64-bit hash of (field, key, partner).
    @inline(__always)
    private func hash(_ field: Int, _ key: Int64, _ partner: Int) -> UInt64 {
        mix64(mix64(seed ^ UInt64(field &* 64 &+ partner)) ^ UInt64(bitPattern: key))
    }

    /// Four uniforms in (-1, 1) from the four 16-bit parts of `h`.
    @inline(__always)
    private static func unit(_ h: UInt64, _ d: Int) -> Double {
        (Double((h >> UInt64(16 * d)) & 0xFFFF) + 0.5) / 32768 - 1
    }

    /// The logit without the bias.
    func score(_ keys: UnsafeBufferPointer<Int64>) -> Double {
        var s = 0.0
        for f in 0..<fieldCount {
            // Sum of four uniforms: mean 0, variance 4/3; scaled to the field's sd.
            let h = hash(f, keys[f], 63)
            let g = PlantedModel.unit(h, 0) + PlantedModel.unit(h, 1) + PlantedModel.unit(h, 2) + PlantedModel.unit(h, 3)
            s += g * 0.8660254037844386 * linearScales[f]
        }
        var interaction = 0.0
        for (f, g) in pairs {
            let a = hash(f, keys[f], g)
            let b = hash(g, keys[g], f)
            for d in 0..<PlantedModel.latentDimension {
                interaction += PlantedModel.unit(a, d) * PlantedModel.unit(b, d)
            }
        }
        var out = s + interaction * interactionScale
        if !cubic.isEmpty { out += cubicScale * cubicTerm(keys) }
        if let deep {
            out += deep.score { f, d in
                PlantedModel.unit(hash(f, keys[f], 62), d)
            }
        }
        return out
    }

    /// The three-way part before scaling: Σ_{f<g<h} Σ_d E'_f,d E'_g,d E'_h,d over the cubic
    /// fields by the ANOVA dynamic programme, E' = E − its mean over the rows (`cubicMeans`;
    /// E uncentred until they are set).
    func cubicTerm(_ keys: UnsafeBufferPointer<Int64>) -> Double {
        var out = 0.0
        for d in 0..<PlantedModel.latentDimension {
            var a1 = 0.0, a2 = 0.0, a3 = 0.0
            for (i, f) in cubic.enumerated() {
                let e = PlantedModel.unit(hash(f, keys[f], 61), d) - (cubicMeans.isEmpty ? 0 : cubicMeans[i * PlantedModel.latentDimension + d])
                a3 += e * a2
                a2 += e * a1
                a1 += e
            }
            out += a3
        }
        return out
    }

    /// Makes the three-way part pure and sets its size, from sample rows' keys (`sample`
    /// returns row i's keys of every field): centres each cubic field's embedding on its
    /// mean over the rows, so that with fields drawn independently the part has no component
    /// of order 0, 1 or 2 (its mean given any two fields is 0), then scales it to a standard
    /// deviation of `cubicDeviation` logits.
    mutating func makeCubicPure(rows: Int, sample: (Int) -> [Int64]) {
        guard !cubic.isEmpty, rows > 1 else { return }
        let dim = PlantedModel.latentDimension
        var means = [Double](repeating: 0, count: cubic.count * dim)
        var keysOfRows: [[Int64]] = []
        keysOfRows.reserveCapacity(rows)
        for r in 0..<rows {
            let keys = sample(r)
            keysOfRows.append(keys)
            for (i, f) in cubic.enumerated() {
                let h = hash(f, keys[f], 61)
                for d in 0..<dim { means[i * dim + d] += PlantedModel.unit(h, d) }
            }
        }
        cubicMeans = means.map { $0 / Double(rows) }
        var sum = 0.0, squares = 0.0
        for keys in keysOfRows {
            let t = keys.withUnsafeBufferPointer { cubicTerm($0) }
            sum += t
            squares += t * t
        }
        let mean = sum / Double(rows)
        let deviation = (max(squares / Double(rows) - mean * mean, 0)).squareRoot()
        cubicScale = deviation > 0 ? PlantedModel.cubicDeviation / deviation : 0
    }

    /// Sets the bias so that the mean click probability over `scores` is `rate` (bisection).
    mutating func calibrate(scores: [Double], rate: Double) {
        var lo = -30.0, hi = 30.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            var mean = 0.0
            for s in scores { mean += 1 / (1 + exp(-(s + mid))) }
            mean /= Double(scores.count)
            if mean < rate { lo = mid } else { hi = mid }
        }
        bias = (lo + hi) / 2
    }
}

/// The deep part of `--truth deep`: a random network over planted embeddings,
///
///     y = Σ_j w2_j relu(Σ_i w1_ji e_i - t_j),   e = concat over the fields of E(f, key) ∈ (-1, 1)^4
///
/// with E(f, key) hashed from (field, key) like the FFM truth's vectors. The first layer's
/// weights are uniform in ±3/sqrt(inputs) (pre-activations of sd about 1); the thresholds
/// t_j are uniform in [1, 1.5], so a unit is active on about one row in ten and acts as a
/// soft AND of its fields. The best degree-2 polynomial of e leaves about 29% of the
/// network's variance (simulated: 200,000 uniform draws of e, 32 units), where with
/// thresholds near 0, as a plain random ReLU network has, it leaves 4%: nearly all of such
/// a network is linear and pairwise terms, which an FFM learns, so DeepFM had nothing to win. The output weights are uniform in ±1, then scaled so that the output has an
/// sd of `outputSD` logits over random embeddings (4,096 draws from the same seed).
struct DeepTruth {
    static let hidden = 32
    static let outputSD = 3.0
    let fields: [Int]
    let w1: [Double], b1: [Double], w2: [Double]

    init(seed: UInt64, fields: [Int]) {
        self.fields = fields
        var rng = Xoshiro256(seed: seed)
        let inputs = fields.count * PlantedModel.latentDimension
        let a = 3 / Double(inputs).squareRoot()
        w1 = (0..<(inputs * DeepTruth.hidden)).map { _ in (2 * rng.uniform() - 1) * a }
        b1 = (0..<DeepTruth.hidden).map { _ in -1 - 0.5 * rng.uniform() }
        let raw = (0..<DeepTruth.hidden).map { _ in 2 * rng.uniform() - 1 }
        var sum = 0.0, squares = 0.0
        let draws = 4096
        for _ in 0..<draws {
            let e = (0..<inputs).map { _ in 2 * rng.uniform() - 1 }
            let y = DeepTruth.output(e, w1: w1, b1: b1, w2: raw)
            sum += y
            squares += y * y
        }
        let variance = max(squares / Double(draws) - (sum / Double(draws)) * (sum / Double(draws)), 1e-12)
        let scale = DeepTruth.outputSD / variance.squareRoot()
        w2 = raw.map { $0 * scale }
    }

    static func output(_ e: [Double], w1: [Double], b1: [Double], w2: [Double]) -> Double {
        var y = 0.0
        for j in 0..<b1.count {
            var z = b1[j]
            for i in 0..<e.count { z += w1[j * e.count + i] * e[i] }
            y += w2[j] * max(z, 0)
        }
        return y
    }

    /// The network's output; `embedding(f, d)` is component d of field f's embedding.
    func score(_ embedding: (Int, Int) -> Double) -> Double {
        let dim = PlantedModel.latentDimension
        var e: [Double] = []
        e.reserveCapacity(fields.count * dim)
        for f in fields { for d in 0..<dim { e.append(embedding(f, d)) } }
        return DeepTruth.output(e, w1: w1, b1: b1, w2: w2)
    }
}
