import Testing
import Dataset
import LogIO
@testable import FFM

/// `--model fm`'s linear-time kernel (FMKernel.swift): score against the pair sum, and one
/// AdaGrad step per distinct vector on the true gradient, duplicated indices included.
@Suite struct FMKernelTests {
    /// A row with index 5 twice (on two fields) and 3 other indices.
    static let duplicatedRow = [Feature(field: 0, index: 1, value: 1.5), Feature(field: 1, index: 5, value: -2),
                                Feature(field: 2, index: 9, value: 0.75), Feature(field: 3, index: 5, value: 0.5),
                                Feature(field: 1, index: 12, value: -0.25)]
    static let rowIndices = [1, 5, 9, 12]

    @Test func longRowsScoreAsThePairSum() throws {
        // Rows much longer than ScoreTests' (up to 9 features), with repeated indices.
        let indices = Array(0..<80)
        for normalization in [true, false] {
            let model = try randomModel(kind: .fm, fields: 13, factors: 6, indices: indices, indexCount: 80,
                                        linear: true, normalization: normalization)
            let predictor = Predictor(model: model)
            var rng = SplitMix64(seed: 23)
            for _ in 0..<50 {
                let count = 30 + rng.next(below: 70)
                let features = (0..<count).map { _ in
                    Feature(field: UInt32(rng.next(below: 13)), index: UInt32(rng.next(below: 80)), value: rng.nextUnitFloat())
                }
                let expected = naiveScore(model, features)
                let got = features.withUnsafeBufferPointer { predictor.score($0) }
                #expect(abs(got - expected) <= 1e-4 * max(1, abs(expected)), "\(count) features, norm \(normalization)")
            }
        }
    }

    /// Every latent weight's gradient, read back from its accumulator (one step from 1 adds
    /// g²) and the sign of its step, against central differences of log loss + λ/2 ‖v‖²
    /// (‖v‖² once per distinct vector of the row). Index 5 appears twice: its gradient is
    /// the sum over both positions, taken in one step.
    @Test func gradientMatchesFiniteDifferences() throws {
        let lambda: Float = 0.05, k = 5
        let model = try randomModel(kind: .fm, fields: 4, factors: k, indices: Self.rowIndices, indexCount: 16,
                                    linear: true, normalization: false)
        let features = Self.duplicatedRow
        let label: Float = 1
        func loss() -> Double {
            let t = features.withUnsafeBufferPointer { Predictor(model: model).score($0) }
            return logLoss(score: t, label: label)
        }
        var expected: [Int: [Double]] = [:]
        var before: [Int: [Float]] = [:]
        for j in Self.rowIndices {
            for d in 0..<k {
                let w = model.latentWeight(index: j, field: 0, factor: d)!, h: Float = 1e-2
                model.setLatentWeight(index: j, field: 0, factor: d, w + h); let up = loss()
                model.setLatentWeight(index: j, field: 0, factor: d, w - h); let down = loss()
                model.setLatentWeight(index: j, field: 0, factor: d, w)
                expected[j, default: []].append((up - down) / Double(2 * h) + Double(lambda * w))
                before[j, default: []].append(w)
            }
        }
        features.withUnsafeBufferPointer { _ = Predictor(model: model).train($0, label: label, eta: 0.1, lambda: lambda) }
        for j in Self.rowIndices {
            for d in 0..<k {
                let g = Double(model.latentAccumulator(index: j, field: 0, factor: d)! - 1).squareRoot()
                let e = expected[j]![d]
                #expect(abs(g - abs(e)) < 3e-3 * max(1, g), "latent \(j) \(d): \(g) vs \(e)")
                let moved = Double(model.latentWeight(index: j, field: 0, factor: d)! - before[j]![d])
                #expect(moved * e < 0 || abs(e) < 1e-6, "latent \(j) \(d) steps against its gradient")
            }
        }
    }

    /// One step moves each vector by exactly -η g rsqrt(G + g²), with g the true gradient
    /// λ v + κ Σ_{positions i of v} x_i (S − x_i v), computed here in the kernel's order.
    @Test(arguments: [false, true])
    func oneStepIsTheAdaGradStepOnTheTrueGradient(normalization: Bool) throws {
        let lambda: Float = 0.03, eta: Float = 0.2, k = 6
        let model = try randomModel(kind: .fm, fields: 4, factors: k, indices: Self.rowIndices, indexCount: 16,
                                    linear: true, normalization: normalization, seed: 11)
        let features = Self.duplicatedRow
        let label: Float = 0
        let t = features.withUnsafeBufferPointer { Predictor(model: model).score($0) }
        let kappa = Float(lossGradient(score: t, label: label))
        let norm = features.reduce(0.0) { $0 + Double($1.value) * Double($1.value) }
        let x = features.map { normalization ? Float(Double($0.value) / norm.squareRoot()) : $0.value }
        let v = Self.rowIndices.reduce(into: [Int: [Float]]()) { out, j in
            out[j] = (0..<k).map { model.latentWeight(index: j, field: 0, factor: $0)! }
        }
        let G = Self.rowIndices.reduce(into: [Int: [Float]]()) { out, j in
            out[j] = (0..<k).map { model.latentAccumulator(index: j, field: 0, factor: $0)! }
        }
        features.withUnsafeBufferPointer { _ = Predictor(model: model).train($0, label: label, eta: eta, lambda: lambda) }
        for d in 0..<k {
            var S: Float = 0
            for (i, f) in features.enumerated() { S += v[Int(f.index)]![d] * x[i] }
            var kappaPart: [Int: Float] = [:]
            for (i, f) in features.enumerated() {
                let w = v[Int(f.index)]![d]
                kappaPart[Int(f.index), default: 0] += kappa * x[i] * (S - x[i] * w)
            }
            for j in Self.rowIndices {
                let w = v[j]![d]
                let g = kappaPart[j]! + lambda * w
                let accumulator = G[j]![d] + g * g
                let step = eta * g * reciprocalSquareRoot4(SIMD4(repeating: accumulator))[0]
                let after = model.latentWeight(index: j, field: 0, factor: d)!
                #expect(abs(model.latentAccumulator(index: j, field: 0, factor: d)! - accumulator) <= 1e-6 * accumulator,
                        "accumulator \(j) \(d)")
                #expect(abs(after - (w - step)) <= 1e-6 * max(1, abs(w)), "weight \(j) \(d): \(after) vs \(w - step)")
                #expect(abs((after - w) - -step) <= 1e-3 * abs(step) + 1e-7, "step \(j) \(d)")
            }
        }
    }
}
