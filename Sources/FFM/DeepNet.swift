// DeepFM's network (issue #14): a multilayer perceptron over the concatenation of the
// per-field embeddings, with its Adam state, its matrix products and its file section.
//
//   L            hidden layers; layer l maps width w[l] to w[l + 1], w[0] = m * k (the
//                input), w[L + 1] = 1 (the output)
//   p[l]         w[l] rounded up to 8 (one SIMD8); padding weights, biases and units stay 0
//   Wt           a layer's weights stored input-major: Wt[i * p[l + 1] + o] = W[o][i];
//                the bias (p[l + 1] floats) follows. W (output-major) is kept as a copy for
//                the backward product
//   act[l]       the batch's activations entering layer l (B x p[l]); act[0] is the input

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CDeepKernel
import Dispatch
import Foundation
import LogIO
import StageKit

/// Whether DeepFM's matrix products run in the AVX2 + FMA kernel of CDeepKernel (CPUID said
/// so at start) or in the Swift `gemm` below. The two round differently (fused
/// multiply-adds), so models trained on machines with and without it differ slightly.
let deepKernelAvailable = swiftctr_deep_has_avx2_fma() != 0

/// Whether the processor has AVX512_BF16 for `--precision bf16` (CPUID at start).
let deepBF16Available = swiftctr_deep_has_avx512_bf16() != 0

/// Hidden layer widths of DeepFM's network, `--hidden 400,400,400` on the command line (a
/// comma-separated list; an empty string for no hidden layer), a JSON array in pipelines.
public struct LayerWidths: ParameterValue, Equatable, CustomStringConvertible {
    public var widths: [Int]

    public init(_ widths: [Int]) { self.widths = widths }

    public init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { widths = []; return }
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)) else { return nil }
            out.append(v)
        }
        widths = out
    }

    public static var parameterType: ParamType { .array(.integer) }

    public init?(json: JSONValue) {
        guard case let .array(items) = json else { return nil }
        var out: [Int] = []
        for item in items {
            guard case let .int(i) = item, let v = Int(exactly: i) else { return nil }
            out.append(v)
        }
        widths = out
    }

    public var json: JSONValue { .array(widths.map { .int(Int64($0)) }) }
    public var argument: String { widths.map(String.init).joined(separator: ",") }
    public var description: String { argument }
    public var defaultValueDescription: String { argument }
}

/// Options of DeepFM's mini-batch training (from `TrainParams`).
struct DeepOptions: Sendable {
    var batch = 256
    var dropout: Float = 0
    var netEta: Float = 0.001
    var weightDecay: Float = 0
    var seed: UInt64 = 1
    /// Products in bfloat16 (`--precision bf16`; only where `deepBF16Available`).
    var bf16 = false
}

/// The network of a DeepFM model: weights, biases and Adam moments of every layer.
public final class DeepNet: @unchecked Sendable {
    /// Fields (m) and factors (k) of the embeddings it reads: input width m * k.
    public let fieldCount: Int
    public let factors: Int
    public let hidden: [Int]
    /// w: [m * k] + hidden + [1]; p: each rounded up to 8.
    let widths: [Int]
    let padded: [Int]
    /// Float offsets of each layer's block (Wt then bias) in `params`, `moment1`, `moment2`, `grads`.
    let offsets: [Int]
    let total: Int
    let params: UnsafeMutablePointer<Float>
    let moment1: UnsafeMutablePointer<Float>
    let moment2: UnsafeMutablePointer<Float>
    let grads: UnsafeMutablePointer<Float>
    /// Output-major copies of the weights (the Swift backward product reads them; the AVX2
    /// kernel reads the weights directly). Stale after an Adam step until refreshed.
    let transposed: UnsafeMutablePointer<Float>
    let transposedOffsets: [Int]
    var transposedStale = false
    /// Adam steps taken (bias correction).
    public var step: UInt64 = 0
    /// Whether `adamChunks` runs in CDeepKernel (tests turn it off to compare the bits).
    var adamKernel = deepKernelAvailable

    static func round8(_ x: Int) -> Int { (x + 7) & ~7 }

    /// Bytes a network of this shape takes (weights, two moments, gradients, the copy),
    /// nil on overflow; checked before anything is allocated.
    static func bytes(fieldCount m: Int, factors k: Int, hidden: [Int]) -> Int? {
        guard let input = MemoryBudget.product([m, k]) else { return nil }
        let widths = [input] + hidden + [1]
        var floats = 0
        for l in 0..<(widths.count - 1) {
            guard let block = MemoryBudget.product([round8(widths[l]) + 1, round8(widths[l + 1])]) else { return nil }
            let (s, o) = floats.addingReportingOverflow(block)
            if o { return nil }
            floats = s
        }
        return MemoryBudget.product([floats, 5 * 4])
    }

    /// A network with zero weights. - Throws: `FFMError.networkTooLarge` before allocating.
    init(fieldCount m: Int, factors k: Int, hidden: [Int]) throws {
        let bytes = DeepNet.bytes(fieldCount: m, factors: k, hidden: hidden)
        guard MemoryBudget.fits(bytes), hidden.allSatisfy({ $0 >= 1 }) else {
            throw FFMError.networkTooLarge(hidden: hidden, input: m &* k, bytes: bytes, available: MemoryBudget.physicalBytes)
        }
        fieldCount = m
        factors = k
        self.hidden = hidden
        widths = [m * k] + hidden + [1]
        padded = widths.map(DeepNet.round8)
        var offsets: [Int] = [], tOffsets: [Int] = [], at = 0, tAt = 0
        for l in 0..<(widths.count - 1) {
            offsets.append(at)
            tOffsets.append(tAt)
            at += (padded[l] + 1) * padded[l + 1]
            tAt += padded[l] * padded[l + 1]
        }
        self.offsets = offsets
        transposedOffsets = tOffsets
        total = at
        params = .allocate(capacity: max(at, 1))
        moment1 = .allocate(capacity: max(at, 1))
        moment2 = .allocate(capacity: max(at, 1))
        grads = .allocate(capacity: max(at, 1))
        transposed = .allocate(capacity: max(tAt, 1))
        for p in [params, moment1, moment2, grads] { p.initialize(repeating: 0, count: max(at, 1)) }
        transposed.initialize(repeating: 0, count: max(tAt, 1))
    }

    deinit {
        for p in [params, moment1, moment2, grads, transposed] { p.deallocate() }
    }

    /// Layers, the output layer included (L + 1).
    var layerCount: Int { widths.count - 1 }
    /// Trainable parameters (without padding).
    public var parameterCount: Int { (0..<layerCount).reduce(0) { $0 + (widths[$1] + 1) * widths[$1 + 1] } }

    /// Weight of layer `l` from input `i` to output `o` (tests, tools).
    public func weight(layer l: Int, input i: Int, output o: Int) -> Float { params[offsets[l] + i * padded[l + 1] + o] }
    public func setWeight(layer l: Int, input i: Int, output o: Int, _ v: Float) {
        params[offsets[l] + i * padded[l + 1] + o] = v
        refreshTransposed()
    }
    public func bias(layer l: Int, output o: Int) -> Float { params[offsets[l] + padded[l] * padded[l + 1] + o] }
    public func setBias(layer l: Int, output o: Int, _ v: Float) { params[offsets[l] + padded[l] * padded[l + 1] + o] = v }

    /// PyTorch's default for a linear layer: weights and biases uniform in ±1/sqrt(inputs),
    /// from a generator seeded by (seed, layer).
    func initialize(seed: UInt64) {
        for l in 0..<layerCount {
            var rng = SplitMix64(seed: seed ^ 0xDEE9_F3A1_0000_0000 ^ UInt64(l))
            let bound = 1 / Float(widths[l]).squareRoot()
            let base = params + offsets[l], po = padded[l + 1]
            for i in 0..<widths[l] {
                for o in 0..<widths[l + 1] { base[i * po + o] = (2 * rng.nextUnitFloat() - 1) * bound }
            }
            for o in 0..<widths[l + 1] { base[padded[l] * po + o] = (2 * rng.nextUnitFloat() - 1) * bound }
        }
        refreshTransposed()
    }

    /// Rewrites the output-major copies from the weights.
    func refreshTransposed() {
        transposedStale = false
        for l in 0..<layerCount {
            let src = params + offsets[l], dst = transposed + transposedOffsets[l]
            let pi = padded[l], po = padded[l + 1]
            for i in 0..<pi {
                for o in 0..<po { dst[o * pi + i] = src[i * po + o] }
            }
        }
    }

    /// The constants of one AdamW step (Loshchilov and Hutter): with `g` the gradients in
    /// `grads` times `scale`, `m = β1 m + (1 - β1) g`, `v = β2 v + (1 - β2) g²`,
    /// `w -= η (m̂ / (sqrt(v̂) + ε) + decay · w)` for weights (biases are not decayed).
    struct AdamStep {
        var stepSize: Float, rc2: Float, decay: Float, scale: Float
    }

    /// Counts a step and returns its constants; `adamChunks` then updates the parameters
    /// (all of them once per step, in any split).
    func beginAdamStep(eta: Float, weightDecay: Float, scale: Float) -> AdamStep {
        step += 1
        let b1: Float = 0.9, b2: Float = 0.999
        let c1 = 1 - Float(pow(Double(b1), Double(step))), c2 = 1 - Float(pow(Double(b2), Double(step)))
        transposedStale = true
        return AdamStep(stepSize: eta / c1, rc2: 1 / c2.squareRoot(), decay: eta * weightDecay, scale: scale)
    }

    /// The AdamW step on the SIMD8 chunks `chunks` of the parameters (decayed: weights), in
    /// CDeepKernel's 256-bit copy of this code where the processor has AVX2 (the same bits:
    /// the package builds for baseline x86-64, where SIMD8 takes two 128-bit halves).
    @inline(__always)
    func adamChunks(_ chunks: Range<Int>, decayed: Bool, _ s: AdamStep) {
        guard !chunks.isEmpty else { return }
        if adamKernel {
            let j = chunks.lowerBound * 8
            swiftctr_deep_adamw(params + j, moment1 + j, moment2 + j, grads + j, chunks.count, s.scale, s.stepSize, s.rc2,
                                s.decay, decayed ? 1 : 0)
            return
        }
        let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
        let decay = decayed ? s.decay : 0
        for c in chunks {
            let j = c * 8
            let p = UnsafeMutableRawPointer(params + j), m1 = UnsafeMutableRawPointer(moment1 + j)
            let m2 = UnsafeMutableRawPointer(moment2 + j)
            let g = UnsafeRawPointer(grads + j).loadUnaligned(as: SIMD8<Float>.self) * s.scale
            let m = b1 * m1.loadUnaligned(as: SIMD8<Float>.self) + (1 - b1) * g
            let v = b2 * m2.loadUnaligned(as: SIMD8<Float>.self) + (1 - b2) * g * g
            m1.storeBytes(of: m, as: SIMD8<Float>.self)
            m2.storeBytes(of: v, as: SIMD8<Float>.self)
            var w = p.loadUnaligned(as: SIMD8<Float>.self)
            if decayed { w -= decay * w }
            p.storeBytes(of: w - s.stepSize * m / (v.squareRoot() * s.rc2 + eps), as: SIMD8<Float>.self)
        }
    }

    /// The step on layer `l`'s weights from the inputs `inputs` (all their outputs), and on
    /// its biases when `inputs` starts at 0. DeepBatch.backward calls it for the inputs whose
    /// ∂/∂input it has just computed, in the same thread, so no separate pass reads the
    /// weights again.
    func adamInputs(layer l: Int, _ inputs: Range<Int>, _ s: AdamStep) {
        let po = padded[l + 1], base = offsets[l]
        adamChunks(((base + inputs.lowerBound * po) / 8)..<((base + inputs.upperBound * po) / 8), decayed: true, s)
        if inputs.lowerBound == 0 {
            let b = base + padded[l] * po
            adamChunks((b / 8)..<((b + po) / 8), decayed: false, s)
        }
    }

    /// One AdamW step on all parameters, split over `team` in SIMD8 chunks (element by
    /// element, so the result does not depend on the threads; in the caller without a team).
    func adamStep(eta: Float, weightDecay: Float, scale: Float, team: WorkerTeam? = nil) {
        let s = beginAdamStep(eta: eta, weightDecay: weightDecay, scale: scale)
        // All layers' parameters in one split over the threads (one wake-up a step); each
        // layer's weights and biases are whole SIMD8 chunks (padded widths).
        var layers: [(start: Int, weightsEnd: Int, end: Int)] = []
        for l in 0..<layerCount {
            let weights: Int = padded[l] * padded[l + 1], block: Int = weights + padded[l + 1]
            layers.append((start: offsets[l] / 8, weightsEnd: (offsets[l] + weights) / 8, end: (offsets[l] + block) / 8))
        }
        let spans = layers
        (team ?? WorkerTeam(size: 1)).parts(total / 8) { _, range in
            for layer in spans {
                let lo = max(layer.start, range.lowerBound), hi = min(layer.end, range.upperBound)
                guard lo < hi else { continue }
                let mid = min(max(layer.weightsEnd, lo), hi)
                self.adamChunks(lo..<mid, decayed: true, s)
                self.adamChunks(mid..<hi, decayed: false, s)
            }
        }
    }

    /// Whether every weight and moment is finite.
    var isFinite: Bool {
        for j in 0..<total where !(params[j].isFinite && moment1[j].isFinite && moment2[j].isFinite) { return false }
        return true
    }

    /// "input 312 (39 fields × k 8) → 400 → 400 → 400 → 1, ReLU; 446,001 parameters"
    public var shapeDescription: String {
        "input \(widths[0]) (\(fieldCount) fields × k \(factors)) → " + (hidden.map(String.init) + ["1"]).joined(separator: " → ")
            + ", ReLU; \(ProgressMeter.grouped(parameterCount)) parameters"
    }
}

// MARK: - Model file section DNN1

extension DeepNet {
    static let sectionTag = "DNN1"

    /// The section's bytes (docs/FORMATS.md, "Section DNN1"): little-endian
    /// UInt32 version (1), UInt32 hidden layer count L, UInt64 fields m, UInt64 factors k,
    /// UInt64 Adam steps, L × UInt32 widths, then per layer (hidden ones, then the output)
    /// Float32 weights input-major (w[l] × w[l+1]), biases (w[l+1]), then the same for
    /// Adam's first moment and second moment. No padding.
    func sectionBytes() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt32(1)); put(UInt32(hidden.count)); put(UInt64(fieldCount)); put(UInt64(factors)); put(step)
        for h in hidden { put(UInt32(h)) }
        for array in [params, moment1, moment2] {
            for l in 0..<layerCount {
                let base = array + offsets[l], po = padded[l + 1]
                for i in 0..<widths[l] { for o in 0..<widths[l + 1] { put(base[i * po + o].bitPattern) } }
                for o in 0..<widths[l + 1] { put(base[padded[l] * po + o].bitPattern) }
            }
        }
        return out
    }

    /// Reads a DNN1 section for a model with `m` fields and `k` factors.
    /// - Throws: `FFMError.corruptModel` naming what disagrees.
    static func read(_ bytes: [UInt8], fieldCount m: Int, factors k: Int, path: String) throws -> DeepNet {
        func fail(_ s: String) -> FFMError { .corruptModel(path: path, detail: "section DNN1: " + s) }
        var at = 0
        func get<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard at + MemoryLayout<T>.size <= bytes.count else { throw fail("ends at byte \(bytes.count) (truncated)") }
            let v = bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
            at += MemoryLayout<T>.size
            return v
        }
        let version = try get(UInt32.self)
        guard version == 1 else { throw fail("version is \(version); expected 1") }
        let layers = try get(UInt32.self)
        guard layers <= 64 else { throw fail("hidden layer count is \(layers); expected at most 64") }
        let fm = try get(UInt64.self), fk = try get(UInt64.self)
        guard fm == UInt64(m), fk == UInt64(k) else { throw fail("network is for m \(fm), k \(fk); the model has m \(m), k \(k)") }
        let step = try get(UInt64.self)
        var hidden: [Int] = []
        for _ in 0..<layers {
            let h = try get(UInt32.self)
            guard h >= 1 && h <= 1 << 20 else { throw fail("a hidden width is \(h); expected 1...\(1 << 20)") }
            hidden.append(Int(h))
        }
        let net = try DeepNet(fieldCount: m, factors: k, hidden: hidden)
        let floats = (bytes.count - at) / 4
        guard bytes.count - at == 3 * net.parameterCount * 4 else {
            throw fail("has \(bytes.count - at) bytes of weights; expected \(3 * net.parameterCount * 4) for \(net.shapeDescription)")
        }
        _ = floats
        for array in [net.params, net.moment1, net.moment2] {
            for l in 0..<net.layerCount {
                let base = array + net.offsets[l], po = net.padded[l + 1]
                for i in 0..<net.widths[l] { for o in 0..<net.widths[l + 1] { base[i * po + o] = Float(bitPattern: try get(UInt32.self)) } }
                for o in 0..<net.widths[l + 1] { base[net.padded[l] * po + o] = Float(bitPattern: try get(UInt32.self)) }
            }
        }
        net.step = step
        guard net.isFinite else { throw fail("non-finite weights or moments") }
        net.refreshTransposed()
        return net
    }
}

// MARK: - Matrix products

/// `C = A · B` (or `C += A · B` with `accumulate`) for the column blocks `blocks` (8
/// columns each) of C: A is M × K with A(i, k) at `a[i * aRow + k * aCol]`, B is K × N
/// row-major (`ldb`), C is M × N row-major (`ldc`). Four rows of C at a time, each a
/// SIMD8 accumulator, so a B row is loaded once for four rows; the column block's panel of
/// B (K × 8 floats) stays in L1 while the rows go by. Every element of C is summed in the
/// same order whatever the blocks, so results do not depend on how threads split them.
@inline(__always)
func gemm(m: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aCol: Int, b: UnsafePointer<Float>, ldb: Int,
          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, blocks: Range<Int>) {
    for jb in blocks {
        let j = jb * 8
        var i = 0
        while i + 4 <= m {
            var c0 = SIMD8<Float>.zero, c1 = SIMD8<Float>.zero, c2 = SIMD8<Float>.zero, c3 = SIMD8<Float>.zero
            let a0 = a + i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow
            var bp = UnsafeRawPointer(b + j)
            var ak = 0
            for _ in 0..<k {
                let bv = bp.loadUnaligned(as: SIMD8<Float>.self)
                c0 += bv * a0[ak]
                c1 += bv * a1[ak]
                c2 += bv * a2[ak]
                c3 += bv * a3[ak]
                bp += ldb * 4
                ak += aCol
            }
            let out = c + i * ldc + j
            if accumulate {
                c0 += UnsafeRawPointer(out).loadUnaligned(as: SIMD8<Float>.self)
                c1 += UnsafeRawPointer(out + ldc).loadUnaligned(as: SIMD8<Float>.self)
                c2 += UnsafeRawPointer(out + 2 * ldc).loadUnaligned(as: SIMD8<Float>.self)
                c3 += UnsafeRawPointer(out + 3 * ldc).loadUnaligned(as: SIMD8<Float>.self)
            }
            UnsafeMutableRawPointer(out).storeBytes(of: c0, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + ldc).storeBytes(of: c1, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + 2 * ldc).storeBytes(of: c2, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + 3 * ldc).storeBytes(of: c3, as: SIMD8<Float>.self)
            i += 4
        }
        while i < m {
            var c0 = SIMD8<Float>.zero
            let a0 = a + i * aRow
            var bp = UnsafeRawPointer(b + j)
            var ak = 0
            for _ in 0..<k {
                c0 += bp.loadUnaligned(as: SIMD8<Float>.self) * a0[ak]
                bp += ldb * 4
                ak += aCol
            }
            let out = c + i * ldc + j
            if accumulate { c0 += UnsafeRawPointer(out).loadUnaligned(as: SIMD8<Float>.self) }
            UnsafeMutableRawPointer(out).storeBytes(of: c0, as: SIMD8<Float>.self)
            i += 1
        }
    }
}
