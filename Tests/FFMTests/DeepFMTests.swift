import Foundation
import StageKit
import Testing
import CDeepKernel
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// A deepfm model over `indices` with random FM weights and a seeded network.
private func randomDeepModel(fields: Int = 3, factors: Int = 4, hidden: [Int], indices: [Int], indexCount: Int,
                             normalization: Bool = false, seed: UInt64 = 5) throws -> FFMModel {
    let model = try randomModel(kind: .deepfm, fields: fields, factors: factors, indices: indices, indexCount: indexCount,
                                linear: true, normalization: normalization, seed: seed)
    let net = try DeepNet(fieldCount: fields, factors: factors, hidden: hidden)
    net.initialize(seed: seed)
    // Larger weights than the default initialisation, so the network matters in the score.
    for l in 0..<net.layerCount {
        for i in 0..<net.widths[l] { for o in 0..<net.widths[l + 1] { net.params[net.offsets[l] + i * net.padded[l + 1] + o] *= 2 } }
    }
    net.refreshTransposed()
    model.network = net
    return model
}

/// DeepFM's score from the definition, in Double: the FM part (`naiveScore`) plus the
/// network over e[f] = Σ x_i v_i of the usable features of field f.
private func naiveDeepScore(_ model: FFMModel, _ features: [Feature]) -> Double {
    let net = model.network!, k = model.factors, m = model.fieldCount
    let usable = features.filter { Int($0.field) < m && model.indices.contains(Int($0.index)) }
    let norm = features.reduce(0.0) { $0 + Double($1.value) * Double($1.value) }
    let scale = model.normalization ? (norm > 0 ? 1 / norm.squareRoot() : 0) : 1
    var a = [Double](repeating: 0, count: m * k)
    for x in usable {
        for d in 0..<k {
            a[Int(x.field) * k + d] += Double(x.value) * scale * Double(model.latentWeight(index: Int(x.index), field: 0, factor: d)!)
        }
    }
    for l in 0..<net.layerCount {
        var next = [Double](repeating: 0, count: net.widths[l + 1])
        for o in 0..<next.count {
            var z = Double(net.bias(layer: l, output: o))
            for i in 0..<a.count { z += a[i] * Double(net.weight(layer: l, input: i, output: o)) }
            next[o] = l + 1 < net.layerCount ? max(z, 0) : z
        }
        a = next
    }
    return naiveScore(model, features) + a[0]
}

private func randomRows(_ count: Int, fields: Int, indexCount: Int, seed: UInt64) -> [(Float, [Feature])] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let n = 1 + rng.next(below: 6)
        let features = (0..<n).map { _ in
            Feature(field: UInt32(rng.next(below: fields + 1)), index: UInt32(rng.next(below: indexCount + 3)),
                    value: rng.nextUnitFloat() * 2 - 0.5)
        }
        return (rng.nextUnitFloat() < 0.4 ? 1 : 0, features)
    }
}

/// Three epochs of deepfm (24, 24; batches of 100) on `problem`, validated on its test rows.
private func trainSmallDeep(_ problem: Problem, threads: Int, precision: DeepPrecision, to name: String) throws -> TrainResult {
    try TrainStage.run(params: quietParams {
        $0.model = .deepfm
        $0.hidden = LayerWidths([24, 24])
        $0.threads = threads
        $0.epochs = 3
        $0.batch = 100
        $0.precision = precision
        $0.validation = problem.valid
        $0.output = problem.path(name)
    }, trainingSet: problem.train)
}

@Suite struct DeepFMTests {
    /// `--precision bf16` is the network's: with another model it is an error naming both keys.
    @Test func bf16NeedsDeepFM() {
        var p = TrainParams.defaults
        p.precision = .bf16
        p.model = .ffm
        #expect(p.problems().map(\.keys) == [["precision", "model"]])
        p.model = .deepfm
        #expect(p.problems().isEmpty)
    }

    @Test(arguments: [[], [7], [9, 5], [16, 8, 3]])
    func forwardMatchesNaive(hidden: [Int]) throws {
        for normalization in [false, true] {
            let model = try randomDeepModel(hidden: hidden, indices: Array(stride(from: 0, to: 30, by: 2)), indexCount: 30,
                                            normalization: normalization)
            let predictor = Predictor(model: model)
            for (_, features) in randomRows(200, fields: 3, indexCount: 30, seed: 11) {
                let expected = naiveDeepScore(model, features)
                let got = features.withUnsafeBufferPointer { predictor.score($0) }
                #expect(abs(got - expected) <= 1e-4 * max(1, abs(expected)), "\(features)")
            }
            // The batch path (ctr-predict, validation) gives the same scores as one row at a time.
            let rows = randomRows(50, fields: 3, indexCount: 30, seed: 12)
            let batch = Batch()
            for (label, features) in rows { features.withUnsafeBufferPointer { batch.append(label: label, features: $0) } }
            try Engine(model: model, threads: 2, eta: 0, lambda: 0).score(batch)
            for (r, row) in rows.enumerated() {
                #expect(Double(batch.scores[r]) == row.1.withUnsafeBufferPointer { predictor.score($0) })
            }
        }
    }

    /// With the AVX2 + FMA kernel (where the processor has it) and with the Swift product.
    @Test(arguments: [true, false])
    func gradientOfTheWholeNetworkMatchesFiniteDifferences(kernel: Bool) throws {
        let model = try randomDeepModel(hidden: [6, 4], indices: [0, 2, 3, 5, 7, 8], indexCount: 9)
        let net = model.network!
        // Several features in one field, a field beyond the model, an unseen index.
        let rows: [(Float, [Feature])] = [
            (1, [Feature(field: 0, index: 0, value: 1.5), Feature(field: 1, index: 3, value: -0.5), Feature(field: 2, index: 7, value: 0.75)]),
            (0, [Feature(field: 0, index: 2, value: 1), Feature(field: 0, index: 0, value: 0.5), Feature(field: 2, index: 8, value: -1)]),
            (1, [Feature(field: 1, index: 5, value: 2), Feature(field: 3, index: 3, value: 1), Feature(field: 2, index: 1, value: 1)]),
            (0, [Feature(field: 2, index: 7, value: 1), Feature(field: 1, index: 3, value: 1), Feature(field: 0, index: 2, value: -0.25)]),
        ]
        func loss() -> Double { rows.reduce(0.0) { $0 + logLoss(score: naiveDeepScore(model, $1.1), label: $1.0) } }
        /// Central difference, divided by the step the Float weight really took.
        func numeric(_ get: () -> Float, _ set: (Float) -> Void) -> Double {
            let w = get(), up = w + 1e-3, down = w - 1e-3
            set(up); let lu = loss()
            set(down); let ld = loss()
            set(w)
            return (lu - ld) / Double(up - down)
        }
        // The analytic gradients: one forward and backward pass over the batch.
        let batch = DeepBatch(model: model, net: net, capacity: rows.count, threads: 1)
        batch.useKernel = kernel && deepKernelAvailable
        for (label, features) in rows { features.withUnsafeBufferPointer { batch.append($0, label: label, remapped: false) } }
        batch.forward()
        batch.backward()
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 2e-3 * max(1, abs(b)) }
        var checked = 0
        for l in 0..<net.layerCount {
            for i in 0..<net.widths[l] {
                for o in 0..<net.widths[l + 1] where (i + o) % 3 == 0 {
                    let g = Double(net.grads[net.offsets[l] + i * net.padded[l + 1] + o])
                    let n = numeric({ net.weight(layer: l, input: i, output: o) }, { net.setWeight(layer: l, input: i, output: o, $0) })
                    #expect(close(g, n), "layer \(l) weight \(i)→\(o): \(g) vs \(n)")
                    checked += 1
                }
            }
            for o in 0..<net.widths[l + 1] {
                let g = Double(net.grads[net.offsets[l] + net.padded[l] * net.padded[l + 1] + o])
                let n = numeric({ net.bias(layer: l, output: o) }, { net.setBias(layer: l, output: o, $0) })
                #expect(close(g, n), "layer \(l) bias \(o): \(g) vs \(n)")
            }
        }
        #expect(checked > 15)
        // Embeddings (FM and network parts together) and linear terms, summed over the rows.
        var embedding: [Int: [Double]] = [:], linear: [Int: Double] = [:]
        let S = UnsafeMutablePointer<Float>.allocate(capacity: 4), g = UnsafeMutablePointer<Float>.allocate(capacity: 4)
        defer { S.deallocate(); g.deallocate() }
        for r in 0..<rows.count {
            batch.embeddingSum(row: r, into: S)
            let usable = rows[r].1.filter { $0.field < 3 && model.indices.contains(Int($0.index)) }
            for (i, f) in zip(batch.featStart[r]..<batch.featStart[r + 1], usable) {
                batch.embeddingGradient(row: r, feature: i, sum: S, lambda: 0, into: g)
                embedding[Int(f.index), default: [0, 0, 0, 0]] = zip(embedding[Int(f.index), default: [0, 0, 0, 0]], (0..<4).map { Double(g[$0]) }).map { $0 + $1 }
                linear[Int(f.index), default: 0] += Double(batch.kappa[r] * batch.featValue[i])
            }
        }
        for (j, grad) in embedding {
            for d in 0..<4 {
                let n = numeric({ model.latentWeight(index: j, field: 0, factor: d)! }, { model.setLatentWeight(index: j, field: 0, factor: d, $0) })
                #expect(close(grad[d], n), "embedding \(j)[\(d)]: \(grad[d]) vs \(n)")
            }
            let n = numeric({ model.linearWeight(index: j)! }, { model.setLinearWeight(index: j, $0) })
            #expect(close(linear[j]!, n), "linear \(j): \(linear[j]!) vs \(n)")
        }
        #expect(embedding.count == 6)
        let nb = numeric({ model.bias[0] }, { model.bias[0] = $0 })
        #expect(close(Double(batch.kappa[0..<rows.count].reduce(0, +)), nb))
    }

    /// DeepBatch.product against a product in Double, in the AVX2 kernel (B row-major and
    /// transposed) and the Swift one, with shapes off the 6 × 16 tiles and the 256-step
    /// chunks; one and two threads give the same bits.
    @Test func productsMatchANaiveOneWhateverTheThreads() throws {
        let model = try randomDeepModel(hidden: [8], indices: [0], indexCount: 1)
        var rng = SplitMix64(seed: 21)
        for (m, n, k) in [(1, 8, 1), (7, 24, 5), (13, 40, 300), (6, 16, 256), (25, 400, 257), (12, 8, 513)] {
            let a = (0..<(m * k)).map { _ in rng.nextUnitFloat() * 2 - 1 }
            let b = (0..<(k * n)).map { _ in rng.nextUnitFloat() * 2 - 1 }
            let bt = (0..<(n * k)).map { b[($0 % k) * n + $0 / k] }   // bt[j * k + p] = B(p, j)
            for kernel in deepKernelAvailable ? [true, false] : [false] {
                for transposed in kernel ? [false, true] : [false] {
                    var outputs: [[Float]] = []
                    for threads in [1, 2] {
                        let batch = DeepBatch(model: model, net: model.network!, capacity: 1, threads: threads)
                        batch.useKernel = kernel
                        var c = [Float](repeating: .nan, count: m * n)
                        a.withUnsafeBufferPointer { ap in (transposed ? bt : b).withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                batch.product(m: m, n: n, k: k, a: ap.baseAddress!, aRow: k, aCol: 1, b: bp.baseAddress!,
                                              bRow: transposed ? 1 : n, bCol: transposed ? k : 1, c: cp.baseAddress!, ldc: n) { _ in }
                            }
                        }}
                        outputs.append(c)
                    }
                    #expect(outputs[0] == outputs[1], "\(m)×\(n)×\(k) kernel \(kernel): threads change bits")
                    var worst: Double = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            let exact = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * n + j]) }
                            worst = max(worst, abs(Double(outputs[0][i * n + j]) - exact))
                        }
                    }
                    #expect(worst <= 1e-5 * Double(k), "\(m)×\(n)×\(k) kernel \(kernel) transposed \(transposed): off by \(worst)")
                }
            }
        }
    }

    /// The bfloat16 product (`--precision bf16`) against a product in Double of the fp32
    /// operands. Rounding each operand to bfloat16 (8 significant bits) moves each product
    /// term by at most 2⁻⁸ of its size (2 × 2⁻⁹ plus their product), so the tolerance is
    /// 2⁻⁸ Σ_p |A(i, p) B(p, j)| plus fp32 summation (1e-5 × k). A in both layouts (the
    /// weight gradient reads the activations transposed), B row-major and transposed, one
    /// and two threads give the same bits; and rounding matters: the result differs from
    /// the fp32 kernel's.
    @Test(.enabled(if: deepBF16Available, "the processor has no AVX512_BF16"))
    func bf16ProductsMatchADoubleOneWithinBF16Rounding() throws {
        let model = try randomDeepModel(hidden: [8], indices: [0], indexCount: 1)
        var rng = SplitMix64(seed: 23)
        for (m, n, k) in [(1, 8, 1), (7, 24, 5), (13, 40, 300), (6, 16, 256), (25, 400, 257), (12, 8, 513), (260, 312, 400)] {
            let a = (0..<(m * k)).map { _ in rng.nextUnitFloat() * 2 - 1 }
            let at = (0..<(k * m)).map { a[($0 % m) * k + $0 / m] }   // at[p * m + i] = A(i, p)
            let b = (0..<(k * n)).map { _ in rng.nextUnitFloat() * 2 - 1 }
            let bt = (0..<(n * k)).map { b[($0 % k) * n + $0 / k] }   // bt[j * k + p] = B(p, j)
            var outputs: [[Float]] = []
            for (aTransposed, bTransposed, threads) in [(false, false, 1), (false, false, 2), (true, false, 2), (false, true, 2)] {
                let batch = DeepBatch(model: model, net: model.network!, capacity: 1, threads: threads)
                batch.bf16 = true
                var c = [Float](repeating: .nan, count: m * n)
                (aTransposed ? at : a).withUnsafeBufferPointer { ap in (bTransposed ? bt : b).withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        batch.product(m: m, n: n, k: k, a: ap.baseAddress!, aRow: aTransposed ? 1 : k, aCol: aTransposed ? m : 1,
                                      b: bp.baseAddress!, bRow: bTransposed ? 1 : n, bCol: bTransposed ? k : 1,
                                      c: cp.baseAddress!, ldc: n) { _ in }
                    }
                }}
                outputs.append(c)
            }
            for o in outputs.dropFirst() { #expect(o == outputs[0], "\(m)×\(n)×\(k): layouts or threads change bits") }
            var worst: Double = 0, differs = false
            for i in 0..<m {
                for j in 0..<n {
                    var exact: Double = 0, size: Double = 0
                    for p in 0..<k {
                        let t = Double(a[i * k + p]) * Double(b[p * n + j])
                        exact += t
                        size += abs(t)
                    }
                    let error = abs(Double(outputs[0][i * n + j]) - exact)
                    worst = max(worst, error / (size / 256 + 1e-5 * Double(k)))
                    if k > 1 && error > 1e-5 * Double(k) { differs = true }
                }
            }
            #expect(worst <= 1, "\(m)×\(n)×\(k): off by \(worst) of the bf16 tolerance")
            if k >= 256 { #expect(differs, "\(m)×\(n)×\(k): no bf16 rounding seen") }
        }
    }

    /// `--precision bf16` trains as well on the planted problem, deterministically, the same
    /// with one and two threads, and differs from fp32.
    @Test(.enabled(if: deepBF16Available, "the processor has no AVX512_BF16"))
    func bf16TrainsDeterministically() throws {
        let problem = try Problem(rows: 3000)
        func train(threads: Int, _ precision: DeepPrecision, to name: String) throws -> TrainResult {
            try trainSmallDeep(problem, threads: threads, precision: precision, to: name)
        }
        let bf16 = try train(threads: 2, .bf16, to: "bf16")
        let fp32 = try train(threads: 2, .fp32, to: "fp32")
        _ = try train(threads: 1, .bf16, to: "one")
        #expect(try fileBytes(problem.path("bf16")) == fileBytes(problem.path("one")))
        #expect(try fileBytes(problem.path("bf16")) != fileBytes(problem.path("fp32")))
        let (a, b) = (bf16.epochs.last!.vaLogLoss!, fp32.epochs.last!.vaLogLoss!)
        #expect(abs(a - b) < 0.01, "bf16 \(a) vs fp32 \(b)")
    }

    /// The 512-bit tiles give the 256-bit tiles' bits, fp32 and (where the processor has it)
    /// bfloat16: row counts leaving every remainder of 12, column ranges that are not
    /// multiples of 32, A and B each row-major and transposed, more than one 256-step chunk of
    /// the inner dimension, with and without accumulation. The fp32 result is also checked
    /// against a naive product.
    @Test(.enabled(if: swiftctr_deep_has_avx512f() != 0, "the processor has no AVX-512F"))
    func wideTilesGiveTheNarrowTilesBits() {
        defer { swiftctr_deep_sgemm_width(512) }
        var rng = SplitMix64(seed: 12)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in rng.nextUnitFloat() - 0.5 } }
        for (m, n0, n1, k) in [(37, 0, 72, 300), (12, 8, 200, 17), (25, 16, 48, 513), (1, 0, 32, 1), (131, 0, 400, 312)] {
            for (transposedA, transposedB) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = random(m * k), b = random(k * n1), c0 = random(m * n1)
                let (aRow, aCol) = transposedA ? (1, m) : (k, 1)
                let (bRow, bCol) = transposedB ? (1, k) : (n1, 1)
                for accumulate: Int32 in [0, 1] {
                    for bf16 in deepBF16Available ? [false, true] : [false] {
                        let results = [256, 512].map { bits -> [Float] in
                            swiftctr_deep_sgemm_width(Int32(bits))
                            var c = c0
                            c.withUnsafeMutableBufferPointer { c in
                                if bf16 {
                                    _ = swiftctr_deep_sgemm_bf16(m, n0, n1, k, a, aRow, aCol, b, bRow, bCol, c.baseAddress, n1, accumulate)
                                } else {
                                    swiftctr_deep_sgemm(m, n0, n1, k, a, aRow, aCol, b, bRow, bCol, c.baseAddress, n1, accumulate)
                                }
                            }
                            return c
                        }
                        let differing = zip(results[0], results[1]).filter { $0.bitPattern != $1.bitPattern }.count
                        #expect(differing == 0, "m \(m) columns \(n0)..<\(n1) k \(k) bf16 \(bf16)")
                        guard !bf16 else { continue }
                        var worst: Float = 0
                        for i in 0..<m {
                            for j in 0..<n1 {
                                var sum = accumulate == 1 || j < n0 ? c0[i * n1 + j] : 0
                                if j >= n0 { for p in 0..<k { sum += a[i * aRow + p * aCol] * b[p * bRow + j * bCol] } }
                                worst = max(worst, abs(sum - results[1][i * n1 + j]))
                            }
                        }
                        #expect(worst < 1e-4, "m \(m) columns \(n0)..<\(n1) k \(k): off by \(worst)")
                    }
                }
            }
        }
    }

    /// CDeepKernel's AdamW step gives the bits of the Swift one (no fused multiply-adds).
    @Test(.enabled(if: deepKernelAvailable, "the processor has no AVX2 + FMA"))
    func adamInTheKernelEqualsTheSwiftStep() throws {
        var states: [[Float]] = []
        for kernel in [false, true] {
            let net = try DeepNet(fieldCount: 3, factors: 4, hidden: [20, 9])
            net.initialize(seed: 4)
            net.adamKernel = kernel
            let team = WorkerTeam(size: 2)
            var rng = SplitMix64(seed: 9)
            for _ in 0..<3 {
                for j in 0..<net.total { net.grads[j] = (rng.nextUnitFloat() - 0.5) * 40 }
                net.adamStep(eta: 0.01, weightDecay: 0.1, scale: 1 / 7, team: team)
            }
            states.append((0..<net.total).flatMap { [net.params[$0], net.moment1[$0], net.moment2[$0]] })
        }
        #expect(states[0] == states[1])
    }

    /// The AdamW step taken inside the backward pass (training with a kernel) gives the same
    /// bits as the separate step after it, with one and two threads and weight decay.
    @Test(.enabled(if: deepKernelAvailable, "the processor has no AVX2 + FMA"))
    func adamInTheBackwardPassEqualsTheSeparateStep() throws {
        let rows = randomRows(70, fields: 3, indexCount: 30, seed: 31)
        var results: [[Float]] = []
        for (fused, threads) in [(false, 1), (true, 1), (true, 2)] {
            let model = try randomDeepModel(hidden: [20, 9], indices: Array(0..<30), indexCount: 30)
            let net = model.network!
            let options = DeepOptions(batch: 35, weightDecay: 0.01)
            let batch = DeepBatch(model: model, net: net, capacity: 35, threads: threads)
            for start in stride(from: 0, to: rows.count, by: 35) {
                batch.reset()
                for (label, features) in rows[start..<(start + 35)] {
                    features.withUnsafeBufferPointer { batch.append($0, label: label, remapped: false) }
                }
                batch.forward()
                let adam = fused ? net.beginAdamStep(eta: options.netEta, weightDecay: options.weightDecay, scale: 1 / 35) : nil
                batch.backward(adam: adam)
                batch.update(eta: 0.1, lambda: 1e-4, options: options, networkStepped: fused)
            }
            #expect(net.step == 2)
            results.append((0..<net.total).map { net.params[$0] } + (0..<net.total).map { net.moment2[$0] }
                           + (0..<30).map { model.latentWeight(index: $0, field: 0, factor: 1)! })
        }
        #expect(results[1] == results[0])
        #expect(results[2] == results[0])
    }

    @Test func aBatchTakesOneAdaGradStepPerTouchedRowOnItsSummedGradient() throws {
        // Rows 0 and 1 share index 2 (field 0); index 5 appears in row 1 only.
        let model = try randomDeepModel(hidden: [4], indices: [2, 5], indexCount: 6)
        let net = model.network!, k = model.factors
        let rows: [(Float, [Feature])] = [
            (1, [Feature(field: 0, index: 2, value: 1), Feature(field: 1, index: 5, value: 0)]),
            (0, [Feature(field: 0, index: 2, value: 0.5), Feature(field: 1, index: 5, value: 1)]),
        ]
        let batch = DeepBatch(model: model, net: net, capacity: 2, threads: 1)
        for (label, features) in rows { features.withUnsafeBufferPointer { batch.append($0, label: label, remapped: false) } }
        batch.forward()
        batch.backward()
        // Each occurrence's gradient at the batch's starting weights; index 2 is feature 0 of
        // row 0 and feature 2 (the first of row 1) of the batch.
        let S = UnsafeMutablePointer<Float>.allocate(capacity: k), g0 = UnsafeMutablePointer<Float>.allocate(capacity: k),
            g1 = UnsafeMutablePointer<Float>.allocate(capacity: k)
        defer { S.deallocate(); g0.deallocate(); g1.deallocate() }
        let lambda: Float = 0.01, eta: Float = 0.2
        batch.embeddingSum(row: 0, into: S)
        batch.embeddingGradient(row: 0, feature: 0, sum: S, lambda: lambda, into: g0)
        batch.embeddingSum(row: 1, into: S)
        batch.embeddingGradient(row: 1, feature: 2, sum: S, lambda: lambda, into: g1)
        let before = (0..<k).map { model.latentWeight(index: 2, field: 0, factor: $0)! }
        let accumulators = (0..<k).map { model.latentAccumulator(index: 2, field: 0, factor: $0)! }
        let bias = model.bias[0], biasAccumulator = model.bias[1], kappaSum = batch.kappa[0] + batch.kappa[1]
        batch.update(eta: eta, lambda: lambda, options: DeepOptions())
        for d in 0..<k {
            let g = g0[d] + g1[d], accumulator = accumulators[d] + g * g
            let expected = before[d] - eta * g / accumulator.squareRoot()
            #expect(abs(model.latentWeight(index: 2, field: 0, factor: d)! - expected) <= 1e-6 * max(1, abs(expected)))
        }
        #expect(abs(model.bias[0] - (bias - eta * kappaSum / (biasAccumulator + kappaSum * kappaSum).squareRoot())) < 1e-6)
        #expect(net.step == 1)
    }

    @Test func withoutLayersTheFMPartIsTheFMModel() throws {
        let indices = Array(stride(from: 0, to: 40, by: 3))
        let fm = try randomModel(kind: .fm, fields: 4, factors: 5, indices: indices, indexCount: 40, linear: true, normalization: true)
        let deep = try randomModel(kind: .deepfm, fields: 4, factors: 5, indices: indices, indexCount: 40, linear: true, normalization: true)
        let net = try DeepNet(fieldCount: 4, factors: 5, hidden: [])
        net.initialize(seed: 1)
        deep.network = net
        let batch = DeepBatch(model: deep, net: net, capacity: 300, threads: 2)
        let rows = randomRows(300, fields: 4, indexCount: 40, seed: 3)
        for (label, features) in rows { features.withUnsafeBufferPointer { batch.append($0, label: label, remapped: false) } }
        batch.forward()
        // Both in linear time (FMKernel.swift's fmScore); deepfm's rows go through the
        // batch, so equal up to Float rounding.
        let predictor = Predictor(model: fm)
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * max(1, abs(b)) }
        for (r, row) in rows.enumerated() {
            let s = row.1.withUnsafeBufferPointer { predictor.score($0) }
            #expect(close(Double(batch.tFM[r]), s), "row \(r): deepfm's FM part \(batch.tFM[r]) vs fm \(s)")
        }
        // With the output layer at zero, the whole score is fm's.
        for i in 0..<20 { net.setWeight(layer: 0, input: i, output: 0, 0) }
        net.setBias(layer: 0, output: 0, 0)
        let deepPredictor = Predictor(model: deep)
        for row in rows {
            #expect(close(row.1.withUnsafeBufferPointer { deepPredictor.score($0) }, row.1.withUnsafeBufferPointer { predictor.score($0) }))
        }
    }

    @Test func trainsDeterministicallyAndRoundTrips() throws {
        let problem = try Problem(rows: 1500)
        for (name, seed) in [("a", 7), ("b", 7), ("c", 8)] {
            _ = try TrainStage.run(params: quietParams {
                $0.model = .deepfm
                $0.hidden = LayerWidths([16, 8])
                $0.dropout = 0.1
                $0.batch = 64
                $0.epochs = 2
                $0.seed = UInt64(seed)
                $0.output = problem.path(name)
            }, trainingSet: problem.train)
        }
        #expect(try fileBytes(problem.path("a")) == fileBytes(problem.path("b")))
        #expect(try fileBytes(problem.path("a")) != fileBytes(problem.path("c")))
        let (model, metadata) = try ModelFile.load(problem.path("a"))
        #expect(model.kind == .deepfm && model.weightFields == 1)
        #expect(model.network?.hidden == [16, 8])
        #expect(model.network!.step == UInt64(2 * ((1500 + 63) / 64)))
        #expect(metadata.sections.isEmpty)  // the network is the model's, not left in the metadata
        try ModelFile.save(model, metadata: metadata, to: problem.path("again"))
        #expect(try fileBytes(problem.path("a")) == fileBytes(problem.path("again")))
        var lines: [String] = []
        ModelFile.dump(model, metadata: metadata) { lines.append($0) }
        #expect(lines.contains("# layer 1: 20 → 16, ReLU"))
        #expect(lines.contains("# layer 3: 8 → 1, output"))
    }

    @Test func learnsThePlantedProblemAndWarmStartsExactly() throws {
        let problem = try Problem()
        func call(_ epochs: Int, _ out: String, initModel: String? = nil) -> TrainCall {
            quietParams {
                $0.model = .deepfm
                $0.hidden = LayerWidths([32, 16])
                $0.batch = 32
                $0.epochs = epochs
                $0.validation = problem.valid
                $0.initModel = initModel
                $0.output = problem.path(out)
            }
        }
        let result = try TrainStage.run(params: call(4, "straight"), trainingSet: problem.train)
        let constant = constantLogLoss(problem.validRows)
        let best = result.epochs.compactMap(\.vaLogLoss).min()!
        #expect(best < constant * 0.93, "\(best) vs constant \(constant)")
        let predicted = try PredictStage.run(params: PredictParams.defaults, input: problem.valid, model: problem.path("straight"),
                                             output: problem.path("p.txt"), log: { _ in })
        #expect(abs(predicted.logLoss! - result.epochs.last!.vaLogLoss!) < 1e-5)
        _ = try TrainStage.run(params: call(3, "first"), trainingSet: problem.train)
        _ = try TrainStage.run(params: call(1, "resumed", initModel: problem.path("first")), trainingSet: problem.train)
        #expect(try fileBytes(problem.path("straight")) == fileBytes(problem.path("resumed")))
        var other = call(1, "x", initModel: problem.path("first"))
        other.hidden = LayerWidths([32])
        #expect(throws: FFMError.self) { _ = try TrainStage.run(params: other, trainingSet: problem.train) }
    }

    @Test func patienceKeepsTheBestEpochWithItsNetwork() throws {
        let problem = try Problem(rows: 1200)
        let result = try TrainStage.run(params: quietParams {
            $0.model = .deepfm
            $0.hidden = LayerWidths([16])
            $0.batch = 32
            $0.epochs = 6
            $0.patience = 1
            $0.validation = problem.valid
            $0.output = problem.path("m")
        }, trainingSet: problem.train)
        let (model, metadata) = try ModelFile.load(problem.path("m"))
        #expect(metadata.bestEpoch == result.bestEpoch)
        #expect(model.network?.hidden == [16])
        let predicted = try PredictStage.run(params: PredictParams.defaults, input: problem.valid, model: problem.path("m"),
                                             output: problem.path("p.txt"), log: { _ in })
        #expect(abs(predicted.logLoss! - result.epochs[result.bestEpoch - 1].vaLogLoss!) < 1e-5)
    }

    /// Training rows in memory (`DeepRows`, for one permutation of all rows per epoch): all
    /// of them in file order whatever the blocks' order, none when they exceed the limit or
    /// are not one-hot. With one block the epoch's order is the one its shuffle gave before
    /// (`--resident-mb 0`, rows shuffled within blocks): the same model, byte for byte.
    @Test func rowsKeptInMemoryAreAllTheRowsInFileOrder() throws {
        let problem = try Problem(rows: 1000)
        let planted = PlantedData(fields: 5, cardinality: 12, seed: 3)
        let rowsA = planted.rows(250, stream: 7), rowsB = planted.rows(350, stream: 8)
        let a = problem.path("a.ffm"), b = problem.path("b.ffm"), c = problem.path("c.ffm")
        try writeLibFFM(rowsA, to: a)
        try writeLibFFM(rowsB, to: b)
        try writeLibFFM(randomRows(100, fields: 3, indexCount: 30, seed: 4), to: c)
        let set = try TrainingSet(paths: [a, b], scratchDirectory: problem.dir.path, log: { _ in })
        let blocks = set.blocks(targetBytes: 32 << 20)
        #expect(blocks.count == 2)
        let kept = try #require(try DeepRows.load(set, blocks: blocks.reversed(), limit: 1 << 20, transform: nil))
        #expect(kept.count == 600 && kept.width == 5 && kept.labelWidth == 1)
        for (r, (label, features)) in (rowsA + rowsB).enumerated() {
            #expect(kept.label(r) == label)
            #expect((0..<5).map { kept.indices[r * 5 + $0] } == features.map(\.index))
        }
        // 600 rows × (5 features × 4 bytes + a label byte) = 12,600 bytes.
        #expect(try DeepRows.load(set, blocks: blocks, limit: 12_599, transform: nil) == nil)
        #expect(try DeepRows.load(set, blocks: blocks, limit: 12_600, transform: nil) != nil)
        let mixed = try TrainingSet(paths: [c], scratchDirectory: problem.dir.path, log: { _ in })
        #expect(try DeepRows.load(mixed, blocks: mixed.blocks(targetBytes: 32 << 20), limit: 1 << 20, transform: nil) == nil)
        for mb in [0, 512] {
            _ = try TrainStage.run(params: quietParams {
                $0.model = .deepfm
                $0.hidden = LayerWidths([16])
                $0.batch = 64
                $0.epochs = 2
                $0.residentMb = mb
                $0.output = problem.path("m\(mb)")
            }, trainingSet: problem.train)
        }
        #expect(try fileBytes(problem.path("m0")) == fileBytes(problem.path("m512")))
    }

    @Test func severalThreadsTrainToo() throws {
        let problem = try Problem(rows: 3000)
        func train(threads: Int, to name: String) throws -> TrainResult {
            try trainSmallDeep(problem, threads: threads, precision: .fp32, to: name)
        }
        let result = try train(threads: 2, to: "m")
        #expect(result.epochs.last!.vaLogLoss! < constantLogLoss(problem.validRows) * 0.95)
        // The thread split changes no sum: one thread writes the same model, byte for byte.
        _ = try train(threads: 1, to: "one")
        #expect(try fileBytes(problem.path("m")) == fileBytes(problem.path("one")))
    }

    @Test func badHiddenSizesAreClearErrorsBeforeAllocating() throws {
        #expect(LayerWidths(argument: "400,400,400")?.widths == [400, 400, 400])
        #expect(LayerWidths(argument: "")?.widths == [])
        #expect(LayerWidths(argument: "400,x") == nil)
        var params = TrainParams.defaults
        params.hidden = LayerWidths([400, 0])
        #expect(params.problems().first?.keys == ["hidden"])
        #expect(params.problems().first?.message.contains("layer 2 has width 0") == true)
        params.hidden = LayerWidths([400, 1 << 30])
        let absurd = params.problems().first
        #expect(absurd?.keys == ["hidden"])
        #expect(absurd?.message.contains("layer 2 has width 1073741824 (a network with these layers takes at least 8.8 TB)") == true)
        params.hidden = LayerWidths(Array(repeating: 65536, count: 60))
        #expect(params.problems().isEmpty)
        #expect {
            _ = try DeepNet(fieldCount: 39, factors: 8, hidden: params.hidden.widths)
        } throws: { error in
            "\(error)".contains("--hidden 65536,") && "\(error)".contains("TB") && "\(error)".contains("more than this machine")
        }
    }

    @Test func hiddenIsAJSONArrayInPipelinesAndAListOnTheCommandLine() throws {
        let p = try TrainParams.decode(.object([("model", .string("deepfm")), ("hidden", .array([.int(64), .int(32)]))])).get()
        #expect(p.model == .deepfm && p.hidden.widths == [64, 32])
        #expect(try TrainParams.decode(.object([("hidden", .array([]))])).get().hidden.widths == [])
        guard case let .failure(errors) = TrainParams.decode(.object([("hidden", .array([.int(8), .int(0)]))])) else {
            Issue.record("a zero width was accepted")
            return
        }
        #expect(errors.problems.first?.keys == ["hidden"])
        #expect(try TrainParams.parse(["--model", "deepfm", "--hidden", "10,5"]).hidden.widths == [10, 5])
        #expect(try TrainParams.parse(["--hidden", ""]).hidden.widths == [])
        #expect(TrainParams.defaults.hidden.widths == [400, 400, 400])
    }

    @Test func aBatchLargerThanTheDataAndDivergenceAreHandled() throws {
        let problem = try Problem(rows: 300)
        let result = try TrainStage.run(params: quietParams {
            $0.model = .deepfm
            $0.hidden = LayerWidths([8])
            $0.batch = 100_000
            $0.epochs = 2
            $0.output = problem.path("big")
        }, trainingSet: problem.train)
        #expect(result.epochs.count == 2 && result.epochs.allSatisfy { $0.trLogLoss.isFinite })
        #expect(throws: FFMError.networkDiverged(epoch: 1, eta: 1e30, netEta: 1e30)) {
            _ = try TrainStage.run(params: quietParams {
                $0.model = .deepfm
                $0.hidden = LayerWidths([8])
                $0.eta = 1e30
                $0.netEta = 1e30
                $0.lambda = 1e20
                $0.epochs = 2
                $0.output = problem.path("d")
            }, trainingSet: problem.train)
        }
        #expect(!FileManager.default.fileExists(atPath: problem.path("d")))
        let message = "\(FFMError.networkDiverged(epoch: 3, eta: 0.2, netEta: 0.5))"
        #expect(message.contains("epoch 3") && message.contains("lower --net-eta (0.5)") && message.contains("no model was written"))
    }
}
