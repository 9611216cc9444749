import LogIO
import StageKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dataset
import Dispatch

/// The model kinds one trainer covers.
public enum ModelKind: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// Field-aware factorization machine (Juan et al., RecSys 2016): one latent vector per (feature, field).
    case ffm
    /// Factorization machine (Rendle, ICDM 2010): one latent vector per feature.
    case fm
    /// Logistic regression: bias and linear terms only.
    case lr
    /// DeepFM (Guo et al., IJCAI 2017): an FM plus a network over the same embeddings (issue #14).
    case deepfm
    /// Higher-order FM (Blondel et al., NeurIPS 2016): ANOVA kernels of orders 2...`--degree`,
    /// separate factors per order (issue #13; HOFM.swift).
    case hofm

    var code: UInt32 {
        switch self {
        case .ffm: return 0
        case .fm: return 1
        case .lr: return 2
        case .hofm: return 3
        case .deepfm: return 4
        }
    }

    init?(code: UInt32) {
        switch code {
        case 0: self = .ffm
        case 1: self = .fm
        case 2: self = .lr
        case 3: self = .hofm
        case 4: self = .deepfm
        default: return nil
        }
    }
}

/// Zero-filled memory straight from the OS: pages never written cost no RAM, so weights
/// of indices that never occur take no memory.
final class PageMemory: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    /// - Parameter hugePages: ask for 2 MB pages (fewer TLB misses on random access).
    init(byteCount: Int, hugePages: Bool = false) throws {
        self.byteCount = max(byteCount, 1)
        guard MemoryBudget.fits(byteCount) else { throw FFMError.outOfMemory(bytes: byteCount) }
        guard let p = mmap(nil, self.byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else {
            throw FFMError.outOfMemory(bytes: byteCount)
        }
        base = p
        #if os(Linux)
        if hugePages && byteCount >= 4 << 20 { madvise(p, self.byteCount, 14 /* MADV_HUGEPAGE */) }
        #endif
    }

    deinit { munmap(base, byteCount) }

    func floats() -> UnsafeMutablePointer<Float> { base.assumingMemoryBound(to: Float.self) }
}

/// A set of feature indices as a bitmap with rank counts: which indices occur in
/// training, and each one's row in the dense weight arrays (its rank among them).
public final class SeenIndices: @unchecked Sendable {
    public let indexCount: Int
    let words: Int
    let bitsMemory: PageMemory
    let rankMemory: PageMemory
    let bits: UnsafeMutablePointer<UInt64>
    let ranks: UnsafeMutablePointer<UInt64>
    public private(set) var count = 0

    /// An empty set of indices `0..<indexCount`; add with `insert`, then call `seal()`.
    public init(indexCount: Int) throws {
        self.indexCount = indexCount
        words = (indexCount + 63) / 64
        bitsMemory = try PageMemory(byteCount: words * 8)
        rankMemory = try PageMemory(byteCount: words * 8)
        bits = bitsMemory.base.assumingMemoryBound(to: UInt64.self)
        ranks = rankMemory.base.assumingMemoryBound(to: UInt64.self)
    }

    @inline(__always)
    public func insert(_ j: Int) { bits[j >> 6] |= 1 << UInt64(j & 63) }

    @inline(__always)
    public func contains(_ j: Int) -> Bool { j >= 0 && j < indexCount && bits[j >> 6] & (1 << UInt64(j & 63)) != 0 }

    /// Computes the ranks; call after the last `insert`.
    public func seal() {
        var total: UInt64 = 0
        for w in 0..<words {
            ranks[w] = total
            total += UInt64(bits[w].nonzeroBitCount)
        }
        count = Int(total)
    }

    /// The dense row of index `j`, or -1 when `j` is not in the set (or out of range).
    @inline(__always)
    public func row(of j: Int) -> Int {
        let w = j >> 6
        let word = bits[w]
        let mask: UInt64 = 1 << UInt64(j & 63)
        guard word & mask != 0 else { return -1 }
        return Int(ranks[w]) + (word & (mask &- 1)).nonzeroBitCount
    }

    /// Calls `body(index, row)` for every index in the set, in increasing order.
    public func forEach(_ body: (Int, Int) throws -> Void) rethrows {
        var row = 0
        for w in 0..<words where bits[w] != 0 {
            var word = bits[w]
            while word != 0 {
                try body(w * 64 + word.trailingZeroBitCount, row)
                row += 1
                word &= word &- 1
            }
        }
    }
}

/// The weights of an FFM, FM or LR model, with their AdaGrad accumulators.
///
/// Weights exist only for the feature indices that occur in training (`indices`), stored
/// densely in index order: an index's row is its rank among them. A feature whose index
/// is not in the set contributes nothing to a score.
///
/// Layout (all offsets 64-bit): row `r` holds first all its weights, then all their AdaGrad
/// accumulators in the same order: weight `d` of weight field `f` is at `latent + r *
/// rowStride + f * fieldStride + d` and its accumulator `accumulatorOffset` floats further
/// on (`fieldStride` = `kPad` = `k` rounded up to 4, padding weights stay 0). With linear
/// terms the row's linear weight follows its latent weights (`linearOffset` = `weightFields *
/// kPad`), in a chunk of 4 floats (3 of padding, weights 0 and accumulators 1, as the latent
/// padding) or of 1 for LR, which has no latent weights; its accumulator is
/// `accumulatorOffset` further on, like any weight's. So `accumulatorOffset` = `linearOffset`
/// + that chunk, half a row. The forward pass, which reads weights only, touches half the
/// cache lines of the rows it uses, and a feature's linear pair shares lines with its latent
/// row instead of sitting in an array of its own, 8 features a line, which two hogwild
/// threads would share (issue #18). The model files keep libffm's latent order (per weight
/// field, chunks of 4 weights then their 4 accumulators) and the linear pairs apart:
/// `latentRows(_:_:inFileOrderInto:)`, `latentRows(_:_:fromFileOrder:)`,
/// `linearPairs(_:_:into:)` and `setLinearPairs(_:_:from:)` convert. FM keeps one weight
/// field, LR none. The bias is one (weight, accumulator) pair apart.
public final class FFMModel: @unchecked Sendable {
    public let kind: ModelKind
    /// Feature indices (`n`), fields (`m`) and latent factors (`k`).
    public let indexCount: Int
    public let fieldCount: Int
    public let factors: Int
    public let kPad: Int
    public let normalization: Bool
    public let hasLinear: Bool
    /// Fields the latent vectors are kept per: `m` (FFM), 1 (FM), 0 (LR), or for HOFM one
    /// vector per interaction order 2...degree (`degree - 1`).
    public let weightFields: Int
    /// Floats per row in the latent block.
    public let rowStride: Int
    /// Floats from weight field f's vector to field f + 1's in a row (`kPad`).
    public let fieldStride: Int
    /// Floats from a weight (latent or linear) to its AdaGrad accumulator (half a row).
    public let accumulatorOffset: Int
    /// Floats from a row's start to its linear weight (`weightFields * kPad`; with linear terms).
    public let linearOffset: Int
    /// Floats per row of the model file's latent block (`weightFields * kPad * 2`: no linear chunk).
    public let fileRowStride: Int
    /// The indices that have weights.
    public let indices: SeenIndices
    let latentMemory: PageMemory
    let biasMemory: PageMemory
    public let latent: UnsafeMutablePointer<Float>
    /// Bias weight at [0], its accumulator at [1].
    public let bias: UnsafeMutablePointer<Float>
    /// DeepFM's network (kind deepfm only; DeepNet.swift).
    public var network: DeepNet?

    /// A model with (zero) weights for the indices of `indices` (sealed); call `initialize(seed:)` for a fresh start.
    /// - Parameter degree: HOFM's highest interaction order (2...4); other kinds ignore it.
    public init(kind: ModelKind, fieldCount: Int, factors: Int, normalization: Bool, linear: Bool, indices: SeenIndices,
                degree: Int = 2) throws {
        precondition(fieldCount >= 0 && factors >= 1)
        precondition(kind != .hofm || (2...4).contains(degree))
        self.kind = kind
        self.indices = indices
        indexCount = indices.indexCount
        self.fieldCount = fieldCount
        self.factors = factors
        kPad = (factors + 3) & ~3
        self.normalization = normalization
        hasLinear = linear || kind == .lr
        switch kind {
        case .ffm: weightFields = fieldCount
        case .fm, .deepfm: weightFields = 1
        case .lr: weightFields = 0
        case .hofm: weightFields = degree - 1
        }
        fieldStride = kPad
        let rows = indices.count
        // Sized with overflow checks against the machine before anything is allocated.
        let latentWeights = MemoryBudget.product([weightFields, kPad]) ?? Int.max / 4
        linearOffset = latentWeights
        // The linear chunk: 4 floats keep the latent accumulators 16-byte aligned; LR's rows are bare pairs.
        accumulatorOffset = linearOffset &+ (hasLinear ? (weightFields > 0 ? 4 : 1) : 0)
        rowStride = 2 &* accumulatorOffset
        fileRowStride = 2 &* latentWeights
        let latentBytes = latentWeights < Int.max / 4 ? MemoryBudget.product([rows, rowStride, 4]) : nil
        guard let latentBytes, MemoryBudget.fits(latentBytes) else {
            throw FFMError.modelTooLarge(kind: kind, factors: factors, fields: fieldCount, indices: rows, bytes: latentBytes,
                                         available: MemoryBudget.physicalBytes)
        }
        latentMemory = try PageMemory(byteCount: latentBytes, hugePages: true)
        biasMemory = try PageMemory(byteCount: 64)
        latent = latentMemory.floats()
        bias = biasMemory.floats()
        bias[1] = 1
    }

    /// Rows with weights (indices seen in training).
    public var rowCount: Int { indices.count }

    /// The highest interaction order: HOFM's `--degree`, 2 for ffm, fm and deepfm, 1 for lr.
    public var degree: Int { kind == .hofm ? weightFields + 1 : (weightFields > 0 ? 2 : 1) }

    /// Initialises every row as libffm does: latent weights uniform in [0, 1/sqrt(k)],
    /// accumulators 1, linear weights 0. Row values come from a generator seeded by
    /// (seed, index), so they depend on neither the order nor the set of other indices.
    /// - Parameter threads: rows are independent, so several threads can fill them.
    public func initialize(seed: UInt64, threads: Int = 1) {
        let words = indices.words, parts = max(1, min(threads, words))
        let work = { (part: Int) in
            for w in (words * part / parts)..<(words * (part + 1) / parts) {
                var word = self.indices.bits[w]
                var r = Int(self.indices.ranks[w])
                while word != 0 {
                    self.initializeRow(r, index: w * 64 + word.trailingZeroBitCount, seed: seed)
                    r += 1
                    word &= word &- 1
                }
            }
        }
        if parts == 1 {
            work(0)
        } else {
            let shared = Unchecked(work)
            DispatchQueue.concurrentPerform(iterations: parts) { shared.value($0) }
        }
        bias[0] = 0
        bias[1] = 1
    }

    func initializeRow(_ r: Int, index j: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed ^ (UInt64(j) &* 0xD1B5_4A32_D192_ED03))
        let coef = 1 / Float(factors).squareRoot()
        // (Locals: the stores through `row` could alias the properties, which would then be
        // read again for every float.)
        let row = latent + r * rowStride, kPad = self.kPad, factors = self.factors
        let half = accumulatorOffset
        for f in 0..<weightFields {
            let v = row + f * kPad
            for d in 0..<kPad { v[d] = d < factors ? coef * rng.nextUnitFloat() : 0 }
        }
        (row + linearOffset).update(repeating: 0, count: half - linearOffset)  // the linear weight and its padding
        (row + half).update(repeating: 1, count: half)
    }
}

extension FFMModel {
    /// Latent weight `d` of index `j` for field `f` (FM: any field; HOFM: `f` is the order - 2), nil for an index without weights.
    public func latentWeight(index j: Int, field f: Int, factor d: Int) -> Float? {
        let r = indices.contains(j) ? indices.row(of: j) : -1
        guard r >= 0, d < factors, weightFields > 0 else { return nil }
        let wf = kind == .ffm || kind == .hofm ? f : 0
        return latent[r * rowStride + wf * fieldStride + d]
    }

    /// Sets latent weight `d` of index `j` for field `f` (tests and tools).
    public func setLatentWeight(index j: Int, field f: Int, factor d: Int, _ value: Float) {
        let r = indices.row(of: j)
        precondition(r >= 0 && d < factors && weightFields > 0)
        let wf = kind == .ffm || kind == .hofm ? f : 0
        latent[r * rowStride + wf * fieldStride + d] = value
    }

    /// Row `r`'s linear weight (with linear terms); its accumulator is `accumulatorOffset` floats on.
    @inline(__always)
    public func linear(row r: Int) -> UnsafeMutablePointer<Float> { latent + r * rowStride + linearOffset }

    /// Linear weight of index `j`, nil without linear terms or weights for `j`.
    public func linearWeight(index j: Int) -> Float? {
        guard hasLinear, indices.contains(j) else { return nil }
        return linear(row: indices.row(of: j))[0]
    }

    public func setLinearWeight(index j: Int, _ value: Float) {
        precondition(hasLinear && indices.contains(j))
        linear(row: indices.row(of: j))[0] = value
    }

    /// AdaGrad accumulator of latent weight `d` of index `j` for field `f`.
    public func latentAccumulator(index j: Int, field f: Int, factor d: Int) -> Float? {
        let r = indices.contains(j) ? indices.row(of: j) : -1
        guard r >= 0, d < factors, weightFields > 0 else { return nil }
        let wf = kind == .ffm || kind == .hofm ? f : 0
        return latent[r * rowStride + wf * fieldStride + accumulatorOffset + d]
    }

    /// Latent rows `start ..< start + count` in the model file's order (libffm's: per weight
    /// field, chunks of 4 weights then their 4 accumulators; no linear terms) into `out`
    /// (`count * fileRowStride` floats).
    public func latentRows(_ start: Int, _ count: Int, inFileOrderInto out: UnsafeMutablePointer<Float>) {
        let half = accumulatorOffset, weights = linearOffset, rowStride = self.rowStride, fileRowStride = self.fileRowStride
        let latent = UnsafeRawPointer(self.latent), to = UnsafeMutableRawPointer(out)
        for i in 0..<count {
            let row = latent + 4 * (start + i) * rowStride, file = to + 4 * i * fileRowStride
            var c = 0
            while c < weights {
                file.storeBytes(of: row.loadUnaligned(fromByteOffset: 4 * c, as: SIMD4<Float>.self), toByteOffset: 8 * c, as: SIMD4<Float>.self)
                file.storeBytes(of: row.loadUnaligned(fromByteOffset: 4 * (half + c), as: SIMD4<Float>.self), toByteOffset: 8 * c + 16,
                                as: SIMD4<Float>.self)
                c += 4
            }
        }
    }

    /// Sets the latent weights and accumulators of rows `start ..< start + count` from `file`,
    /// the same rows in the model file's order (`count * fileRowStride` floats; see
    /// `latentRows(_:_:inFileOrderInto:)`). The linear chunks are left as they are.
    public func latentRows(_ start: Int, _ count: Int, fromFileOrder file: UnsafePointer<Float>) {
        let half = accumulatorOffset, weights = linearOffset, rowStride = self.rowStride, fileRowStride = self.fileRowStride
        let latent = UnsafeMutableRawPointer(self.latent), from = UnsafeRawPointer(file)
        for i in 0..<count {
            let to = latent + 4 * (start + i) * rowStride, row = from + 4 * i * fileRowStride
            var c = 0
            while c < weights {
                to.storeBytes(of: row.loadUnaligned(fromByteOffset: 8 * c, as: SIMD4<Float>.self), toByteOffset: 4 * c, as: SIMD4<Float>.self)
                to.storeBytes(of: row.loadUnaligned(fromByteOffset: 8 * c + 16, as: SIMD4<Float>.self), toByteOffset: 4 * (half + c),
                              as: SIMD4<Float>.self)
                c += 4
            }
        }
    }

    /// The (linear weight, accumulator) pairs of rows `start ..< start + count`, the model
    /// file's linear block, into `out` (`2 * count` floats).
    public func linearPairs(_ start: Int, _ count: Int, into out: UnsafeMutablePointer<Float>) {
        let acc = accumulatorOffset
        for i in 0..<count {
            let p = linear(row: start + i)
            out[2 * i] = p[0]
            out[2 * i + 1] = p[acc]
        }
    }

    /// Sets the linear pairs of rows `start ..< start + count` from `pairs` (`2 * count`
    /// floats, as `linearPairs(_:_:into:)` writes them); the chunks' padding gets weights 0
    /// and accumulators 1, as `initialize` gives.
    public func setLinearPairs(_ start: Int, _ count: Int, from pairs: UnsafePointer<Float>) {
        let acc = accumulatorOffset, width = accumulatorOffset - linearOffset
        for i in 0..<count {
            let p = linear(row: start + i)
            p.update(repeating: 0, count: width)
            (p + acc).update(repeating: 1, count: width)
            p[0] = pairs[2 * i]
            p[acc] = pairs[2 * i + 1]
        }
    }

    /// AdaGrad accumulator of the linear weight of index `j`.
    public func linearAccumulator(index j: Int) -> Float? {
        guard hasLinear, indices.contains(j) else { return nil }
        return linear(row: indices.row(of: j))[accumulatorOffset]
    }
}

extension Predictor {
    /// One AdaGrad step on one row (what training does per row), for tests and online use.
    /// - Returns: the row's log loss before the step.
    @discardableResult
    public func train(_ features: UnsafeBufferPointer<Feature>, label: Float, eta: Float, lambda: Float) -> Double {
        let s = Scratch()
        model.prepare(features, into: s)
        let t = Double(model.score(s))
        model.update(s, kappa: Float(lossGradient(score: t, label: label)), eta: eta, lambda: lambda)
        return logLoss(score: t, label: label)
    }
}
