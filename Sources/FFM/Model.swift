#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dataset

/// The model kinds one trainer covers.
public enum ModelKind: String, Codable, CaseIterable, Sendable {
    /// Field-aware factorization machine (Juan et al., RecSys 2016): one latent vector per (feature, field).
    case ffm
    /// Factorization machine (Rendle, ICDM 2010): one latent vector per feature.
    case fm
    /// Logistic regression: bias and linear terms only.
    case lr

    var code: UInt32 {
        switch self {
        case .ffm: return 0
        case .fm: return 1
        case .lr: return 2
        }
    }

    init?(code: UInt32) {
        switch code {
        case 0: self = .ffm
        case 1: self = .fm
        case 2: self = .lr
        default: return nil
        }
    }
}

/// Zero-filled memory straight from the OS: pages never written cost no RAM, so weights
/// of indices that never occur take no memory.
final class PageMemory: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) throws {
        self.byteCount = max(byteCount, 1)
        guard let p = mmap(nil, self.byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else {
            throw FFMError.outOfMemory(bytes: byteCount)
        }
        base = p
    }

    deinit { munmap(base, byteCount) }

    func floats() -> UnsafeMutablePointer<Float> { base.assumingMemoryBound(to: Float.self) }
}

/// The weights of an FFM, FM or LR model, with their AdaGrad accumulators.
///
/// Layout (all offsets 64-bit): for feature index `j` and weight field `f`, the latent
/// vector starts at `latent + j * rowStride + f * 2 * kPad`, stored as chunks of four:
/// 4 weights then their 4 accumulators (as libffm), `kPad` = `k` rounded up to 4 (the
/// padding weights stay 0). FM uses one weight field, LR none. Linear terms are pairs
/// (weight, accumulator) per index; the bias is one pair.
///
/// Only indices that occur in training get initialised (`present`); the others stay zero
/// and cost no memory, and a feature never seen in training contributes nothing.
public final class FFMModel: @unchecked Sendable {
    public let kind: ModelKind
    /// Feature indices (`n`), fields (`m`) and latent factors (`k`).
    public let indexCount: Int
    public let fieldCount: Int
    public let factors: Int
    public let kPad: Int
    public let normalization: Bool
    public let hasLinear: Bool
    /// Fields the latent vectors are kept per: `m` (FFM), 1 (FM) or 0 (LR).
    public let weightFields: Int
    /// Floats per index in the latent block.
    public let rowStride: Int
    let latentMemory: PageMemory
    let linearMemory: PageMemory
    let presentMemory: PageMemory
    let biasMemory: PageMemory
    public let latent: UnsafeMutablePointer<Float>
    public let linear: UnsafeMutablePointer<Float>
    let present: UnsafeMutablePointer<UInt64>
    /// Bias weight at [0], its accumulator at [1].
    public let bias: UnsafeMutablePointer<Float>

    public init(kind: ModelKind, indexCount: Int, fieldCount: Int, factors: Int, normalization: Bool, linear: Bool) throws {
        precondition(indexCount >= 0 && fieldCount >= 0 && factors >= 1)
        self.kind = kind
        self.indexCount = indexCount
        self.fieldCount = fieldCount
        self.factors = factors
        kPad = (factors + 3) & ~3
        self.normalization = normalization
        hasLinear = linear || kind == .lr
        switch kind {
        case .ffm: weightFields = fieldCount
        case .fm: weightFields = 1
        case .lr: weightFields = 0
        }
        rowStride = weightFields * kPad * 2
        let (latentBytes, o1) = indexCount.multipliedReportingOverflow(by: rowStride * 4)
        guard !o1, rowStride * 4 / 4 == rowStride else { throw FFMError.outOfMemory(bytes: Int.max) }
        latentMemory = try PageMemory(byteCount: latentBytes)
        linearMemory = try PageMemory(byteCount: hasLinear ? indexCount * 8 : 0)
        presentMemory = try PageMemory(byteCount: (indexCount + 63) / 64 * 8)
        biasMemory = try PageMemory(byteCount: 64)
        latent = latentMemory.floats()
        self.linear = linearMemory.floats()
        present = presentMemory.base.assumingMemoryBound(to: UInt64.self)
        bias = biasMemory.floats()
        bias[1] = 1
    }

    /// Bytes of weights and accumulators for the indices that occur.
    public var presentCount: Int {
        var c = 0
        for w in 0..<(indexCount + 63) / 64 { c += present[w].nonzeroBitCount }
        return c
    }

    @inline(__always)
    public func isPresent(_ j: Int) -> Bool { present[j >> 6] & (1 << UInt64(j & 63)) != 0 }

    @inline(__always)
    func markPresent(_ j: Int) { present[j >> 6] |= 1 << UInt64(j & 63) }

    /// Initialises index `j` if it is not yet: latent weights uniform in [0, 1/sqrt(k)]
    /// from a generator seeded by (seed, j), so the result depends on neither order nor
    /// threads; accumulators 1; linear weight 0.
    func touch(_ j: Int, seed: UInt64) {
        guard !isPresent(j) else { return }
        markPresent(j)
        var rng = SplitMix64(seed: seed ^ (UInt64(j) &* 0xD1B5_4A32_D192_ED03))
        let coef = 1 / Float(factors).squareRoot()
        let row = latent + j * rowStride
        for f in 0..<weightFields {
            let v = row + f * 2 * kPad
            var d = 0
            while d < kPad {
                for s in 0..<4 {
                    v[2 * d + s] = d + s < factors ? coef * rng.nextUnitFloat() : 0
                    v[2 * d + 4 + s] = 1
                }
                d += 4
            }
        }
        if hasLinear {
            linear[2 * j] = 0
            linear[2 * j + 1] = 1
        }
    }

    /// Marks every index of `bitmap` present, initialising the new ones.
    func touchAll(_ bitmap: UnsafePointer<UInt64>, words: Int, seed: UInt64) {
        for w in 0..<min(words, (indexCount + 63) / 64) where bitmap[w] != 0 {
            var bits = bitmap[w] & ~present[w]
            while bits != 0 {
                let b = bits.trailingZeroBitCount
                touch(w * 64 + b, seed: seed)
                bits &= bits - 1
            }
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded generator, same stream on every platform.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in 0..<bound by multiply-shift (Lemire; bias below 2^-40 for the bounds used here).
    @inline(__always)
    public mutating func next(below bound: Int) -> Int {
        Int(UInt64(bound).multipliedFullWidth(by: next()).high)
    }
}
