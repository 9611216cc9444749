// The kernel of `--model fm` (one latent vector per feature, weightFields = 1): the
// standard FM computation of libFM's SGD and xLearn's FM, in linear time. Names as in
// Kernel.swift; in addition:
//
//   S            Σ_i x_i v_i over the row's features, one SIMD4 per chunk of 4 factors
//   Q            Σ_i x_i² v_i² (score only)
//   first        for each position of the row, the first position holding the same vector
//                (a duplicated feature index shares one vector)
//
// Score: φ_pairs = ½ Σ_d (S_d² − Q_d), the pair sum Σ_{a<b} x_a x_b <v_a, v_b> up to rounding.
// Update: one AdaGrad step per distinct vector per row on its true gradient
// g = λ v + κ Σ_{positions i of v} x_i (S − x_i v), with the kernel's rsqrt. O(n·k) a row,
// where libffm's per-pair update (still used by ffm) is O(n²·k) and would give an fm vector
// (n − 1) L2 pulls and accumulator increments a row.

extension FFMModel {
    /// The score φ(x) (before the sigmoid) of a prepared row for `kind == .fm`.
    @inline(__always)
    func fmScore(_ s: Scratch, prefetching next: Scratch? = nil) -> Float {
        let count = s.count
        var t: Float = 0
        if hasLinear {
            t = s.bias![0]
            for i in 0..<count { t += s.linear[i][0] * s.values[i] }
        }
        if let next { prefetch(next) }
        guard count > 1 else { return t }
        let rows = s.rows, values = s.values
        var acc = SIMD4<Float>.zero
        var d = 0
        while d < kPad {
            var S = SIMD4<Float>.zero, Q = SIMD4<Float>.zero
            for i in 0..<count {
                let xv = UnsafeRawPointer(rows[i] + d).load(as: SIMD4<Float>.self) * values[i]
                S += xv
                Q += xv * xv
            }
            acc += S * S - Q
            d += 4
        }
        return t + 0.5 * acc.sum()
    }

    /// One AdaGrad step on a prepared row for `kind == .fm`: linear terms and bias as
    /// `updateLinear`; every distinct latent vector v takes
    /// `g = λ v + κ Σ_{positions i of v} x_i (S − x_i v)`, `G += g²`, `v -= η g · rsqrt(G)`,
    /// with all gradients computed from the weights before the step.
    @inline(__always)
    func fmUpdate(_ s: Scratch, kappa: Float, eta: Float, lambda: Float) {
        let count = s.count
        if hasLinear { updateLinear(s, kappa: kappa, eta: eta, lambda: lambda) }
        guard count > 1 else { return }
        let rows = s.rows, values = s.values
        let k4 = SIMD4<Float>(repeating: kappa), l4 = SIMD4<Float>(repeating: lambda)
        let e4 = SIMD4<Float>(repeating: eta)
        let accBytes = 4 * accumulatorOffset
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { firstBuffer in
            let first = firstBuffer.baseAddress!
            let duplicates = fmFirstPositions(s, into: first)
            withUnsafeTemporaryAllocation(of: SIMD4<Float>.self, capacity: count) { gBuffer in
                let g = gBuffer.baseAddress!
                var d = 0
                while d < kPad {
                    var S = SIMD4<Float>.zero
                    for i in 0..<count {
                        S += UnsafeRawPointer(rows[i] + d).load(as: SIMD4<Float>.self) * values[i]
                    }
                    // κ's part of every position's gradient, before any weight moves.
                    for i in 0..<count {
                        let v = UnsafeRawPointer(rows[i] + d).load(as: SIMD4<Float>.self)
                        g[i] = k4 * values[i] * (S - values[i] * v)
                    }
                    if duplicates {
                        for i in 0..<count where first[i] != i { g[first[i]] += g[i] }
                    }
                    for i in 0..<count where !duplicates || first[i] == i {
                        let q = UnsafeMutableRawPointer(rows[i] + d)
                        var w = q.load(as: SIMD4<Float>.self)
                        var G = q.load(fromByteOffset: accBytes, as: SIMD4<Float>.self)
                        let gi = g[i] + l4 * w
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

    /// Fills `first[i]` with the first position of the row whose vector is position i's
    /// (i itself unless the index repeats), with a small open-addressing table on the row
    /// pointers; returns whether any position repeats an earlier one.
    @inline(__always)
    func fmFirstPositions(_ s: Scratch, into first: UnsafeMutablePointer<Int>) -> Bool {
        let count = s.count, rows = s.rows
        var size = 16
        while size < 2 * count { size <<= 1 }
        let mask = size - 1
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: size) { tableBuffer in
            let table = tableBuffer.baseAddress!
            table.initialize(repeating: -1, count: size)
            var duplicates = false
            for i in 0..<count {
                let key = UInt(bitPattern: rows[i])
                var h = Int(truncatingIfNeeded: ((key >> 3) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
                while true {
                    let j = table[h]
                    if j < 0 { table[h] = i; first[i] = i; break }
                    if rows[j] == rows[i] { first[i] = j; duplicates = true; break }
                    h = (h + 1) & mask
                }
            }
            return duplicates
        }
    }
}
