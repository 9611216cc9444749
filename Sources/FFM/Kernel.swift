// The training and scoring kernel. Names used here (as in libffm's ffm.cpp):
//
//   n            feature indices the model covers (`indexCount`); a feature's index must be < n
//   m            fields (`fieldCount`); a feature's field must be < m
//   k            latent factors (`factors`)
//   kPad         k rounded up to a multiple of 4 (one SIMD4); the padding weights stay 0
//   weightFields latent vectors per row: m for FFM, 1 for FM, 0 for LR, degree - 1 for HOFM
//   r, row       a dense row number: the rank of an index among those seen in training;
//                in remapped features, r >= rowCount is slot r - rowCount of a thread's
//                hot-row replica (HotRows)
//   rowStride    floats per row of `latent`: weightFields * 2 * kPad. Row r's vector for
//                field f starts at latent + r * rowStride + f * fieldStride
//   fieldStride  kPad: a row holds all its weights (weightFields vectors of kPad), then
//                their AdaGrad accumulators in the same order (Model.swift)
//   acc          accumulatorOffset: floats from a weight to its accumulator (half a row)
//   d            latent factor, in steps of 4 (one chunk of 4 weights); its chunk is at float d
//   slotStride   floats per replica slot: rowStride rounded up to 16 (a slot is a copy of a row)
//   linear       a row's linear weight, at float linearOffset of the row (after its latent
//                weights); its accumulator acc floats on. bias: one (weight, accumulator) pair
//   s, c         the current row's Scratch, and the count of its usable features
//   a, b         positions in the row of the two features of a pair, a < b
//   ra, fa       row pointer of feature a, and the offset of a's field inside a row
//   p1, p2       w(a, field of b) and w(b, field of a): the two vectors a pair uses
//   w1, w2       4 weights of p1 and p2; G1, G2 their accumulators; g1, g2 their gradients
//   t            the score φ(x), before the sigmoid
//   kappa (κ)    ∂loss/∂φ for the row; eta (η) learning rate; lambda (λ) L2 regularisation
//   ka, kv       κ x_a and κ x_a x_b; l4, e4: λ and η in all 4 lanes
//   acc, inner, pair  partial sums of the score: over all pairs; over b for one a; over d
//                for one pair

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPrefetch
import Dataset
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// `1/sqrt(x)` per lane, for the AdaGrad step of the latent weights.
///
/// On x86_64 this is SSE's `rsqrtps` estimate as it comes, with no Newton refinement, as
/// libffm does: relative error up to 1.5 × 2⁻¹² (about 4e-4), much cheaper than `sqrtps`
/// and `divps`. The estimate is not an IEEE 754 operation and its bits differ between
/// processor families (Intel and AMD give different values), so trained weights on
/// x86_64 depend on the CPU family. On other architectures it is `1 / x.squareRoot()`,
/// two correctly rounded operations, so results there differ from x86_64's too.
@inline(__always)
func reciprocalSquareRoot4(_ x: SIMD4<Float>) -> SIMD4<Float> {
    #if arch(x86_64)
    return _mm_rsqrt_ps(x)
    #else
    return 1 / x.squareRoot()
    #endif
}

/// One row's features prepared for the model: pointers to each feature's latent row, the
/// offset of each feature's field inside a row, and the scaled values. Reused per thread,
/// so the hot loops allocate nothing.
final class Scratch {
    private(set) var capacity = 0
    var rows: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    var fieldOffsets: UnsafeMutablePointer<Int>
    var values: UnsafeMutablePointer<Float>
    /// Each feature's linear weight (in its latent row; the accumulator `accumulatorOffset` floats on).
    var linear: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    var count = 0
    /// Whether each feature's field offset is the previous one's plus `fieldStride` (FFM rows
    /// one-hot in field order): then at kPad = 4 a row's vectors for the fields of two
    /// neighbouring features are adjacent, one 256-bit load (`prepare` sets it).
    var consecutiveFields = false
    /// The (bias, accumulator) pair this row reads and updates: the model's, or a thread's replica.
    var bias: UnsafeMutablePointer<Float>?

    init(capacity: Int = 64) {
        self.capacity = max(capacity, 1)
        rows = .allocate(capacity: self.capacity)
        fieldOffsets = .allocate(capacity: self.capacity)
        values = .allocate(capacity: self.capacity)
        linear = .allocate(capacity: self.capacity)
    }

    deinit {
        rows.deallocate()
        fieldOffsets.deallocate()
        values.deallocate()
        linear.deallocate()
    }

    @inline(__always)
    func reserve(_ n: Int) {
        if n > capacity { grow(n) }
    }

    @inline(never)
    private func grow(_ n: Int) {
        rows.deallocate(); fieldOffsets.deallocate(); values.deallocate(); linear.deallocate()
        capacity = max(n, capacity * 2)
        rows = .allocate(capacity: capacity)
        fieldOffsets = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
        linear = .allocate(capacity: capacity)
    }
}

/// Largest magnitude of a feature value used without instance normalisation: products
/// of two values and their gradients then stay far inside the Float range.
let unnormalizedValueLimit: Double = 1e6

extension FFMModel {
    /// Fills `scratch` with the usable features of a row: those with index < n, field < m
    /// and an index seen in training (the others contribute nothing, as unseen features).
    /// Values are scaled by `1/sqrt(Σx²)` with normalisation (so every |value| ≤ 1 and no
    /// product can overflow), clamped to ±1e6 without.
    /// - Parameters:
    ///   - remapped: the features' indices are already dense rows (`remap(_:)`).
    ///   - replica: a thread's hot-row replica: remapped indices ≥ rowCount are its slots.
    @inline(__always)
    func prepare(_ features: UnsafeBufferPointer<Feature>, into s: Scratch, remapped: Bool = false,
                 replica: HotRows.Replica? = nil) {
        s.reserve(features.count)
        s.bias = replica?.bias ?? bias
        let rowCount = replica == nil ? 0 : self.rowCount  // (read only when used: an exclusivity check)
        var norm: Double = 0
        var c = 0
        let n = UInt32(truncatingIfNeeded: min(indexCount, Int(UInt32.max)))
        let m = UInt32(truncatingIfNeeded: min(fieldCount, Int(UInt32.max)))
        let allIndices = indexCount > Int(UInt32.max), allFields = fieldCount > Int(UInt32.max)
        let isFFM = kind == .ffm
        // Locals: the stores through the buffers could alias the model's and the scratch's
        // properties, which would then be read again for every feature.
        let fieldStride = self.fieldStride, rowStride = self.rowStride, linearOffset = self.linearOffset
        let latent = self.latent, indices = self.indices
        let rows = s.rows, offsets = s.fieldOffsets, values = s.values, linear = s.linear
        var nextOffset = 0, consecutive = isFFM
        for f in features {
            // Normalisation uses every feature of the row, as libffm's R does.
            norm += Double(f.value) * Double(f.value)
            let row: UnsafeMutablePointer<Float>
            if remapped {
                guard f.index != UInt32.max else { continue }
                let r = Int(f.index)
                if let replica, r >= rowCount {
                    row = replica.slots + (r &- rowCount) &* replica.slotStride
                } else {
                    row = latent + r &* rowStride
                }
            } else {
                guard allIndices || f.index < n, allFields || f.field < m else { continue }
                let r = indices.row(of: Int(f.index))
                guard r >= 0 else { continue }
                row = latent + r &* rowStride
            }
            let offset = isFFM ? Int(f.field) &* fieldStride : 0
            rows[c] = row
            offsets[c] = offset
            if c > 0 && offset != nextOffset { consecutive = false }
            nextOffset = offset &+ fieldStride
            values[c] = f.value
            linear[c] = row + linearOffset
            c &+= 1
        }
        if normalization {
            let scale = norm > 0 && norm.isFinite ? 1 / norm.squareRoot() : 0
            for i in 0..<c { values[i] = Float(Double(values[i]) * scale) }
        } else {
            for i in 0..<c {
                values[i] = Float(min(max(Double(values[i]), -unnormalizedValueLimit), unnormalizedValueLimit))
            }
        }
        s.count = c
        s.consecutiveFields = consecutive
    }

    /// Whether `remap` can be used (row numbers must fit below the UInt32.max marker).
    var canRemap: Bool { rowCount + HotRows.maximumSlots < Int(UInt32.max) }

    /// Rewrites features in place: each index becomes its dense row, or UInt32.max for an
    /// unusable feature (index not seen in training, field or index beyond the model).
    /// Training runs this on the block reader's thread, off the critical path.
    /// With `hot`, indices of hot rows become `rowCount + slot` (a thread's replica slot).
    func remap(_ features: UnsafeMutableBufferPointer<Feature>, hot: HotRows? = nil) {
        let n = UInt32(truncatingIfNeeded: min(indexCount, Int(UInt32.max)))
        let m = UInt32(truncatingIfNeeded: min(fieldCount, Int(UInt32.max)))
        let allIndices = indexCount > Int(UInt32.max), allFields = fieldCount > Int(UInt32.max)
        let rowCount = self.rowCount, indices = self.indices
        let hotBits = hot?.hotBits, slotOfRow = hot?.slotOfRow
        for i in features.indices {
            let f = features[i]
            var r = -1
            if (allIndices || f.index < n) && (allFields || f.field < m) { r = indices.row(of: Int(f.index)) }
            // A small bitmap answers "hot?" from L2; the slot table is read only for hot rows.
            if r >= 0, let hotBits, hotBits[r >> 6] & (1 << UInt64(r & 63)) != 0 {
                r = rowCount + Int(slotOfRow![r])
            }
            features[i].index = r >= 0 ? UInt32(r) : UInt32.max
        }
    }

    /// Asks the memory system for the latent rows of a prepared row ahead of use, so that
    /// their cache misses overlap the work on the current row.
    @inline(__always)
    func prefetch(_ s: Scratch) {
        for c in 0..<s.count { prefetchRow(s.rows[c]) }
    }

    /// Prefetches a row's features (rows are visited in shuffled order, so they are not
    /// where the hardware prefetcher would look).
    @inline(__always)
    func prefetchFeatures(_ features: UnsafeBufferPointer<Feature>) {
        guard let base = features.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        let bytes = features.count &* MemoryLayout<Feature>.stride
        var offset = 0
        while offset < bytes {
            swiftctr_prefetch(raw + offset)
            offset &+= 64
        }
    }

    @inline(__always)
    func prefetchRow(_ row: UnsafeMutablePointer<Float>) {
        let base = UnsafeRawPointer(row)
        let bytes = rowStride &* 4
        var offset = 0
        // Four lines per step (a row is 20 lines at 39 fields and k = 4), then the rest.
        while offset &+ 192 < bytes {
            swiftctr_prefetch(base + offset)
            swiftctr_prefetch(base + (offset &+ 64))
            swiftctr_prefetch(base + (offset &+ 128))
            swiftctr_prefetch(base + (offset &+ 192))
            offset &+= 256
        }
        while offset < bytes {
            swiftctr_prefetch(base + offset)
            offset &+= 64
        }
    }

    /// The score φ(x) (before the sigmoid) of a prepared row.
    @inline(__always)
    func score(_ s: Scratch, prefetching next: Scratch? = nil) -> Float {
        if kind == .hofm { return hofmScore(s, prefetching: next) }
        if kind == .fm { return fmScore(s, prefetching: next) }
        let count = s.count
        // The next row's weights are prefetched a row per outer iteration, so the requests
        // spread over the work instead of queueing up at once.
        var prefetched = 0
        let toPrefetch = next?.count ?? 0
        var t: Float = 0
        if hasLinear {
            t = s.bias![0]
            for i in 0..<count { t += s.linear[i][0] * s.values[i] }
        }
        guard weightFields > 0, count > 1 else {
            if let next { prefetch(next) }
            return t
        }
        let rows = s.rows, offsets = s.fieldOffsets, values = s.values
        var acc = SIMD4<Float>.zero
        if kPad == 4 {
            return t + latentScore4(s, prefetching: next, avx: cpuHasAVX)
        } else {
            for a in 0..<(count - 1) {
                if prefetched < toPrefetch {
                    prefetchRow(next!.rows[prefetched])
                    prefetched += 1
                }
                let ra = rows[a], fa = offsets[a]
                var inner = SIMD4<Float>.zero
                for b in (a + 1)..<count {
                    let p1 = ra + offsets[b], p2 = rows[b] + fa
                    var pair = SIMD4<Float>.zero
                    var d = 0
                    while d < kPad {
                        pair += UnsafeRawPointer(p1 + d).load(as: SIMD4<Float>.self)
                            * UnsafeRawPointer(p2 + d).load(as: SIMD4<Float>.self)
                        d += 4
                    }
                    inner += pair * values[b]
                }
                acc += inner * values[a]
            }
        }
        while prefetched < toPrefetch {
            prefetchRow(next!.rows[prefetched])
            prefetched += 1
        }
        return t + acc.sum()
    }

    /// One AdaGrad step on a prepared row, libffm's update: for every pair, with
    /// `v = x_a x_b` and `κ = ∂loss/∂φ`, `g1 = λ w1 + κ v w2`, `g2 = λ w2 + κ v w1`,
    /// `G += g²`, `w -= η g · rsqrt(G)`, in place, pair by pair, where rsqrt is
    /// `reciprocalSquareRoot4` (an approximation on x86_64). Linear terms:
    /// `g = λ w + κ x`; bias: `g = κ` (not regularised); both take `w -= η g / sqrt(G)`
    /// with Float's correctly rounded square root and division.
    /// - Parameter next: the row trained next; at kPad = 4 with AVX its latent rows'
    ///   accumulators are prefetched while this one is updated (the forward pass of this row
    ///   prefetched their weights).
    @inline(__always)
    func update(_ s: Scratch, kappa: Float, eta: Float, lambda: Float, prefetching next: Scratch? = nil) {
        if kind == .hofm { return hofmUpdate(s, kappa: kappa, eta: eta, lambda: lambda) }
        if kind == .fm { return fmUpdate(s, kappa: kappa, eta: eta, lambda: lambda) }
        let count = s.count
        if hasLinear { updateLinear(s, kappa: kappa, eta: eta, lambda: lambda) }
        guard weightFields > 0, count > 1 else { return }
        let rows = s.rows, offsets = s.fieldOffsets, values = s.values
        let l4 = SIMD4<Float>(repeating: lambda), e4 = SIMD4<Float>(repeating: eta)
        if kPad == 4 {
            updateLatent4(s, kappa: kappa, eta: eta, lambda: lambda, avx: cpuHasAVX, fma: cpuHasAVX2FMA, prefetching: next)
            return
        }
        let accBytes = 4 * accumulatorOffset
        for a in 0..<(count - 1) {
            let ra = rows[a], fa = offsets[a]
            let ka = kappa * values[a]
            for b in (a + 1)..<count {
                let p1 = ra + offsets[b], p2 = rows[b] + fa
                let kv = SIMD4<Float>(repeating: ka * values[b])
                var d = 0
                while d < kPad {
                    adaGradStep4(UnsafeMutableRawPointer(p1 + d), UnsafeMutableRawPointer(p2 + d),
                                 kv: kv, l4: l4, e4: e4, accumulatorBytes: accBytes)
                    d += 4
                }
            }
        }
    }
}

/// Whether the 256-bit AVX update (`swiftctr_ffm_update4_avx` in CPrefetch's shim.h) can run:
/// x86_64 with AVX in the processor and YMM state saved by the operating system (CPUID and
/// XGETBV, read once). The build itself targets baseline x86-64; only that function is
/// compiled for AVX.
let cpuHasAVX: Bool = swiftctr_has_avx() != 0

/// Whether the processor has AVX2 and FMA too (CPUID, read once): then the update at k <= 4
/// uses `swiftctr_ffm_update4_fma`, which fuses 6 of the 18 operations of two pairs into
/// 3 fused multiply-adds rounded once each. Its weights differ from the 4-wide loop's in
/// the last bits (within a relative 1e-5 after 2,000 steps, FFMTests), the same for a seed
/// on one machine; on a processor without FMA the AVX kernel (same bits as the loop) runs.
let cpuHasAVX2FMA: Bool = swiftctr_has_avx2_fma() != 0

extension FFMModel {
    /// The pairs' AdaGrad step of `update` at kPad = 4 (one chunk per vector). With `avx`,
    /// rows whose fields strictly increase and whose neighbouring features are on different
    /// rows go to the AVX kernel, which does two pairs per 256-bit operation: then the two
    /// pairs done together touch four different vectors, and each lane does exactly the
    /// operations of `adaGradStep4`, so the weights are bit for bit those of the loop here.
    /// With `fma` too, those rows go to the AVX2 + FMA kernel instead (same pairs, fused
    /// multiply-adds: the last bits differ from the loop's, see `cpuHasAVX2FMA`). Both load
    /// row a's vectors for two neighbouring features as one 256-bit value when the row's
    /// fields are consecutive (`Scratch.consecutiveFields`), and prefetch `next`'s
    /// accumulators.
    @inline(__always)
    func updateLatent4(_ s: Scratch, kappa: Float, eta: Float, lambda: Float, avx: Bool, fma: Bool = false,
                       prefetching next: Scratch? = nil) {
        let count = s.count, rows = s.rows, offsets = s.fieldOffsets, values = s.values
        if avx {
            var pairable = true
            var i = 0
            while i &+ 1 < count {
                if offsets[i] >= offsets[i &+ 1] || rows[i] == rows[i &+ 1] { pairable = false; break }
                i &+= 1
            }
            if pairable {
                let rowPointers = UnsafeRawPointer(rows).assumingMemoryBound(to: UnsafeMutablePointer<Float>?.self)
                let nextRows = UnsafeRawPointer(next?.rows ?? rows).assumingMemoryBound(to: UnsafeMutablePointer<Float>?.self)
                let nextCount = next?.count ?? 0
                if fma {
                    swiftctr_ffm_update4_fma(rowPointers, offsets, values, count, kappa, eta, lambda, accumulatorOffset,
                                             nextRows, nextCount, s.consecutiveFields ? 1 : 0)
                } else {
                    swiftctr_ffm_update4_avx(rowPointers, offsets, values, count, kappa, eta, lambda, accumulatorOffset,
                                             nextRows, nextCount, s.consecutiveFields ? 1 : 0)
                }
                return
            }
        }
        let l4 = SIMD4<Float>(repeating: lambda), e4 = SIMD4<Float>(repeating: eta)
        let accBytes = 4 * accumulatorOffset
        var a = 0
        while a &+ 1 < count {
            let ra = rows[a], fa = offsets[a]
            let ka = kappa * values[a]
            var b = a &+ 1
            while b < count {
                adaGradStep4(UnsafeMutableRawPointer(ra + offsets[b]), UnsafeMutableRawPointer(rows[b] + fa),
                             kv: SIMD4<Float>(repeating: ka * values[b]), l4: l4, e4: e4, accumulatorBytes: accBytes)
                b &+= 1
            }
            a &+= 1
        }
    }

    /// The pairs' part of `score` at kPad = 4, summed in the order of the AVX kernel
    /// (`swiftctr_ffm_score4_avx`, two pairs per 256-bit operation), which runs with `avx`:
    /// for each a, the pairs with b - a odd go to `low` and those with b - a even to `high`
    /// (an odd one out at the end to `low`), then `accLow += low * x_a`, `accHigh += high *
    /// x_a`, and the result is `(accLow + accHigh).sum()`. Both give the same bits. The AVX
    /// kernel prefetches the weights of `next`'s latent rows (the update their accumulators),
    /// this loop `next`'s whole rows.
    @inline(__always)
    func latentScore4(_ s: Scratch, prefetching next: Scratch?, avx: Bool) -> Float {
        let count = s.count, rows = s.rows, offsets = s.fieldOffsets, values = s.values
        let toPrefetch = next?.count ?? 0
        if avx {
            var out = SIMD4<Float>.zero
            let rowPointers = UnsafeRawPointer(rows).assumingMemoryBound(to: UnsafeMutablePointer<Float>?.self)
            let nextRows = UnsafeRawPointer(next?.rows ?? rows).assumingMemoryBound(to: UnsafeMutablePointer<Float>?.self)
            withUnsafeMutablePointer(to: &out) {
                $0.withMemoryRebound(to: Float.self, capacity: 4) {
                    swiftctr_ffm_score4_avx(rowPointers, offsets, values, count, nextRows, toPrefetch, accumulatorOffset &* 4, $0,
                                            s.consecutiveFields ? 1 : 0)
                }
            }
            return out.sum()
        }
        var prefetched = 0
        var accLow = SIMD4<Float>.zero, accHigh = SIMD4<Float>.zero
        var a = 0
        while a &+ 1 < count {
            if prefetched < toPrefetch {
                prefetchRow(next!.rows[prefetched])
                prefetched &+= 1
            }
            let ra = rows[a], fa = offsets[a]
            var low = SIMD4<Float>.zero, high = SIMD4<Float>.zero
            var b = a &+ 1
            while b &+ 1 < count {
                low += UnsafeRawPointer(ra + offsets[b]).load(as: SIMD4<Float>.self)
                    * UnsafeRawPointer(rows[b] + fa).load(as: SIMD4<Float>.self) * values[b]
                high += UnsafeRawPointer(ra + offsets[b &+ 1]).load(as: SIMD4<Float>.self)
                    * UnsafeRawPointer(rows[b &+ 1] + fa).load(as: SIMD4<Float>.self) * values[b &+ 1]
                b &+= 2
            }
            if b < count {
                low += UnsafeRawPointer(ra + offsets[b]).load(as: SIMD4<Float>.self)
                    * UnsafeRawPointer(rows[b] + fa).load(as: SIMD4<Float>.self) * values[b]
            }
            accLow += low * values[a]
            accHigh += high * values[a]
            a &+= 1
        }
        while prefetched < toPrefetch {
            prefetchRow(next!.rows[prefetched])
            prefetched &+= 1
        }
        return (accLow + accHigh).sum()
    }

    /// The AdaGrad step of a prepared row's bias and linear terms (every kind with them):
    /// linear `g = λ w + κ x`, bias `g = κ` (not regularised); both `G += g²`,
    /// `w -= η g / sqrt(G)` with Float's correctly rounded square root and division.
    @inline(__always)
    func updateLinear(_ s: Scratch, kappa: Float, eta: Float, lambda: Float) {
        let gb = kappa, bias = s.bias!, acc = accumulatorOffset
        bias[1] += gb * gb
        bias[0] -= eta * gb / bias[1].squareRoot()
        for i in 0..<s.count {
            let p = s.linear[i]
            let g = lambda * p[0] + kappa * s.values[i]
            p[acc] += g * g
            p[0] -= eta * g / p[acc].squareRoot()
        }
    }
}

/// The AdaGrad step of one pair on one chunk of 4 factors: `q1` and `q2` point at the
/// chunks of 4 weights of the pair's two vectors; their 4 accumulators are
/// `accumulatorBytes` further on (the model's `accumulatorOffset` floats).
@inline(__always)
func adaGradStep4(_ q1: UnsafeMutableRawPointer, _ q2: UnsafeMutableRawPointer,
                  kv: SIMD4<Float>, l4: SIMD4<Float>, e4: SIMD4<Float>, accumulatorBytes acc: Int) {
    var w1 = q1.load(as: SIMD4<Float>.self)
    var w2 = q2.load(as: SIMD4<Float>.self)
    var G1 = q1.load(fromByteOffset: acc, as: SIMD4<Float>.self)
    var G2 = q2.load(fromByteOffset: acc, as: SIMD4<Float>.self)
    let g1 = l4 * w1 + kv * w2
    let g2 = l4 * w2 + kv * w1
    G1 += g1 * g1
    G2 += g2 * g2
    w1 -= e4 * g1 * reciprocalSquareRoot4(G1)
    w2 -= e4 * g2 * reciprocalSquareRoot4(G2)
    q1.storeBytes(of: w1, as: SIMD4<Float>.self)
    q2.storeBytes(of: w2, as: SIMD4<Float>.self)
    q1.storeBytes(of: G1, toByteOffset: acc, as: SIMD4<Float>.self)
    q2.storeBytes(of: G2, toByteOffset: acc, as: SIMD4<Float>.self)
}

/// Log loss of score `t` for label `y` (0/1), computed without overflow:
/// `log(1 + exp(-z))` with `z = ±t`.
@inline(__always)
func logLoss(score t: Double, label y: Float) -> Double {
    let z = y > 0 ? t : -t
    return z > 0 ? log1pExp(-z) : -z + log1pExp(z)
}

/// `log(1 + exp(x))` for x ≤ 0.
@inline(__always)
func log1pExp(_ x: Double) -> Double {
    x < -40 ? exp(x) : log1p(exp(x))
}

/// ∂loss/∂t for label y (0/1): `σ(t) - y`, written without the cancellation of
/// `σ(t) - 1`, so it keeps its relative accuracy far into the tails.
@inline(__always)
func lossGradient(score t: Double, label y: Float) -> Double {
    if y > 0 { return -1 / (1 + exp(t)) }
    return 1 / (1 + exp(-t))
}

/// The sigmoid, without overflow.
@inline(__always)
public func sigmoid(_ t: Double) -> Double {
    t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t))
}
