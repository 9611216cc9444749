// Higher-order factorization machine (Blondel, Fujino, Ueda, Ishihata, NeurIPS 2016;
// issue #13): φ(x) = bias + Σ_i w_i x_i + Σ_{t=2}^{D} Σ_d A_t(p^(t)_d ⊙ x), where the ANOVA
// kernel A_t(a) = Σ_{i1<...<it} a_i1 ⋯ a_it is the sum over all t-subsets of the features
// and p^(t) are order t's own factors (k per feature). Order 2 is exactly FM's pairwise term.
//
// A_t is computed by the paper's dynamic programme over the row's c features,
// A_t(a_1..j) = A_t(a_1..j-1) + a_j A_{t-1}(a_1..j-1), in O(D c) per factor; its gradient
// ∂A_t/∂a_i = A_{t-1}(a without i) by the recursion A^{\i}_s = A_s - a_i A^{\i}_{s-1},
// A^{\i}_0 = 1, also linear in c.
//
// Layout: a row's weight field t - 2 (t = 2...D) holds order t's vector, in the FFM layout
// (all weights of the row, then their AdaGrad accumulators; Model.swift); so the model file, warm start,
// hot rows and the MPI merges handle HOFM as any dense row of `rowStride` floats, and the
// degree is `weightFields + 1` (header bytes 48-55).
//
//   D           degree (2...4); t an order; o = t - 2 its weight field
//   a           x_i p^(t)_{i,d}, 4 factors at a time; A[s] the DP's A_s, s = 0...t
//   gradient    ∂φ/∂p^(t)_{i,d} = x_i A^{\i}_{t-1}; the loss adds κ and L2 λ p

extension FFMModel {
    /// HOFM's score of a prepared row.
    @inline(__always)
    func hofmScore(_ s: Scratch, prefetching next: Scratch? = nil) -> Float {
        var t: Float = 0
        if hasLinear {
            t = s.bias![0]
            for i in 0..<s.count { t += s.linear[i][0] * s.values[i] }
        }
        if s.count > 1 {
            withUnsafeTemporaryAllocation(of: SIMD4<Float>.self, capacity: 5) { A in
                var acc = SIMD4<Float>.zero
                for order in 2...(weightFields + 1) {
                    var d = 0
                    while d < kPad {
                        anova(s, order: order, chunk: d, into: A.baseAddress!)
                        acc += A[order]
                        d += 4
                    }
                }
                t += acc.sum()
            }
        }
        if let next { prefetch(next) }
        return t
    }

    /// The DP: A[0...order] of factors d..<d+4 of `order`'s vectors over the row.
    @inline(__always)
    func anova(_ s: Scratch, order: Int, chunk d: Int, into A: UnsafeMutablePointer<SIMD4<Float>>) {
        let offset = (order - 2) * fieldStride + d
        A[0] = SIMD4(repeating: 1)
        for j in 1...order { A[j] = .zero }
        for i in 0..<s.count {
            let a = UnsafeRawPointer(s.rows[i] + offset).load(as: SIMD4<Float>.self) * s.values[i]
            var j = order
            while j > 0 {
                A[j] += a * A[j - 1]
                j -= 1
            }
        }
    }

    /// ∂φ/∂p for factors d..<d+4 of `order`'s vector of every feature of the row, into
    /// `g[i]` (reads the weights only; the update applies them afterwards).
    @inline(__always)
    func hofmLatentGradient(_ s: Scratch, order: Int, chunk d: Int, A: UnsafeMutablePointer<SIMD4<Float>>,
                            into g: UnsafeMutablePointer<SIMD4<Float>>) {
        anova(s, order: order, chunk: d, into: A)
        let offset = (order - 2) * fieldStride + d
        for i in 0..<s.count {
            let x = s.values[i]
            let a = UnsafeRawPointer(s.rows[i] + offset).load(as: SIMD4<Float>.self) * x
            var without = SIMD4<Float>(repeating: 1)  // A^{\i}_0
            for j in 1..<order { without = A[j] - a * without }
            g[i] = without * x
        }
    }

    /// One AdaGrad step on a prepared row: linear terms and bias by `updateLinear`; every latent
    /// weight p of every order takes `g = κ ∂φ/∂p + λ p`, `G += g²`, `p -= η g rsqrt(G)`,
    /// with all gradients of a chunk computed from the weights before the step.
    func hofmUpdate(_ s: Scratch, kappa: Float, eta: Float, lambda: Float) {
        let count = s.count
        if hasLinear { updateLinear(s, kappa: kappa, eta: eta, lambda: lambda) }
        guard count > 1 else { return }
        let k4 = SIMD4<Float>(repeating: kappa), l4 = SIMD4<Float>(repeating: lambda), e4 = SIMD4<Float>(repeating: eta)
        let accBytes = 4 * accumulatorOffset
        withUnsafeTemporaryAllocation(of: SIMD4<Float>.self, capacity: 5 + count) { buffer in
            let A = buffer.baseAddress!, g = A + 5
            for order in 2...(weightFields + 1) {
                var d = 0
                while d < kPad {
                    hofmLatentGradient(s, order: order, chunk: d, A: A, into: g)
                    let offset = (order - 2) * fieldStride + d
                    for i in 0..<count {
                        let q = UnsafeMutableRawPointer(s.rows[i] + offset)
                        var w = q.load(as: SIMD4<Float>.self)
                        var G = q.load(fromByteOffset: accBytes, as: SIMD4<Float>.self)
                        let gi = k4 * g[i] + l4 * w
                        G += gi * gi
                        w -= e4 * gi * reciprocalSquareRoot4(G)
                        q.storeBytes(of: w, as: SIMD4<Float>.self)
                        q.storeBytes(of: G, toByteOffset: accBytes, as: SIMD4<Float>.self)
                    }
                    d += 4
                }
            }
        }
    }
}
