// DeepFM (Guo et al., IJCAI 2017; issue #14): φ(x) = y_FM + y_DNN over shared embeddings.
//
// The FM part is `--model fm`'s model (bias, linear terms, one embedding of k factors per
// feature index, scored in linear time by FMKernel.swift's fmScore). The network reads the concatenation
// of the per-field embeddings e[f] = Σ_{features i of field f} x_i v_i (a field with no
// usable feature gives zeros; several features of one field are summed, weighted by their
// values, after instance normalisation as in the FM part).
//
// Training goes by mini-batches: a batch's rows are scored with the weights as they are,
// then the network takes one AdamW step on the batch's mean gradient, and every embedding,
// linear term and the bias touched by the batch take one AdaGrad step (as in `--model fm`)
// on the batch's summed gradient, FM and network parts together. (Steps row by row on
// gradients computed before the batch, as the first version took, overshoot: the bias and
// frequent values took hundreds of steps per batch with no feedback, and training on a few
// thousand rows diverged to log losses above 2.)
//
//   B            rows in the batch; r a row of it
//   feat*        the batch's usable features, flat: row r's are featStart[r]..<featStart[r+1]
//   t            φ(x) of a row; tFM its FM part; kappa (κ) ∂loss/∂φ
//   act, delta   the network's activations and ∂loss/∂activations, B × p[l] each

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CDeepKernel
import Cluster
import Dataset
import Dispatch
import LogIO
import StageKit

/// Buffers and the forward and backward passes of DeepFM over one mini-batch.
final class DeepBatch {
    let model: FFMModel
    let net: DeepNet
    let capacity: Int
    let threads: Int
    var count = 0
    // Features of the batch.
    var featStart: [Int]
    /// Per feature (featCount of them; room for featCapacity): its embedding, its linear
    /// term and bias, field, value and parameter row. Buffers rather than arrays: assembling
    /// a batch is serial, and an array's append (with its exclusivity check) per feature
    /// took about 5% of a training thread's time.
    var featCount = 0
    var featCapacity = 0
    var featRow = UnsafeMutablePointer<UnsafeMutablePointer<Float>>.allocate(capacity: 0)
    var featLinear = UnsafeMutablePointer<UnsafeMutablePointer<Float>>.allocate(capacity: 0)
    var featField = UnsafeMutablePointer<Int32>.allocate(capacity: 0)
    var featValue = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    var featIndex = UnsafeMutablePointer<Int>.allocate(capacity: 0)
    var labels: [Float]
    var tFM: [Float]
    var scores: [Float]
    var kappa: [Float]
    /// act[l] for l in 0...L+1 (act[L+1]: the output layer's, column 0 used).
    let act: [UnsafeMutablePointer<Float>]
    let delta: [UnsafeMutablePointer<Float>]
    let scratch: [Scratch]
    let team: WorkerTeam

    init(model: FFMModel, net: DeepNet, capacity: Int, threads: Int) {
        self.model = model
        self.net = net
        self.capacity = max(capacity, 1)
        self.threads = threads
        featStart = [Int](repeating: 0, count: self.capacity + 1)
        labels = [Float](repeating: 0, count: self.capacity)
        tFM = labels
        scores = labels
        kappa = labels
        act = net.padded.map { p in
            let a = UnsafeMutablePointer<Float>.allocate(capacity: p * max(capacity, 1))
            a.initialize(repeating: 0, count: p * max(capacity, 1))
            return a
        }
        delta = net.padded.map { p in
            let a = UnsafeMutablePointer<Float>.allocate(capacity: p * max(capacity, 1))
            a.initialize(repeating: 0, count: p * max(capacity, 1))
            return a
        }
        scratch = (0..<threads).map { _ in Scratch() }
        team = WorkerTeam(size: threads)
    }

    deinit {
        for a in act { a.deallocate() }
        for d in delta { d.deallocate() }
        featRow.deallocate(); featLinear.deallocate(); featField.deallocate(); featValue.deallocate(); featIndex.deallocate()
    }

    /// Makes room for `more` features after the `featCount` there are.
    func reserveFeatures(_ more: Int) {
        let need = featCount + more
        guard need > featCapacity else { return }
        let capacity = max(need, 2 * featCapacity, 1024)
        func grow<T>(_ p: inout UnsafeMutablePointer<T>) {
            let q = UnsafeMutablePointer<T>.allocate(capacity: capacity)
            q.moveInitialize(from: p, count: featCount)
            p.deallocate()
            p = q
        }
        grow(&featRow); grow(&featLinear); grow(&featField); grow(&featValue); grow(&featIndex)
        featCapacity = capacity
    }

    /// Runs `body(part, range)` for the parts of `count` items split over the threads.
    func parallel(_ count: Int, _ body: (Int, Range<Int>) -> Void) { team.parts(count, body) }

    /// Whether the products run in the AVX2 + FMA kernel (tests turn it off to check the Swift one).
    var useKernel = deepKernelAvailable
    /// Whether they run in the bfloat16 kernel instead (`--precision bf16`; set only where
    /// `deepBF16Available`).
    var bf16 = false

    /// `C = A · B` (m × n, row-major, `ldc`) with A(i, p) at `a[i * aRow + p * aCol]` and
    /// B(p, j) at `b[p * bRow + j * bCol]`, C's columns split over the threads in blocks of
    /// 8 (n a multiple of 8: 400 columns split 200 + 200, where blocks of 16 split 208 + 192
    /// and left one thread waiting 4% of each product); then `finish(columns)` on each part's columns, in that part's thread. The Swift
    /// product needs `bCol` 1. Each element of C is summed in the same order whatever the
    /// split, so the threads change no result.
    func product(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aCol: Int, b: UnsafePointer<Float>,
                 bRow: Int, bCol: Int, c: UnsafeMutablePointer<Float>, ldc: Int, finish: (Range<Int>) -> Void) {
        let useKernel = self.useKernel, bf16 = self.bf16
        let ctx = Unchecked((a, b, c))
        parallel((n + 7) / 8) { _, blocks in
            let (a, b, c) = ctx.value
            let columns = (blocks.lowerBound * 8)..<min(blocks.upperBound * 8, n)
            // The bfloat16 kernel fails only when its buffer for A (m × k halves) cannot be
            // allocated; the fp32 kernel then does the product.
            if bf16, swiftctr_deep_sgemm_bf16(m, columns.lowerBound, columns.upperBound, k, a, aRow, aCol, b, bRow, bCol, c, ldc, 0) == 0 {
            } else if useKernel || bf16 {
                swiftctr_deep_sgemm(m, columns.lowerBound, columns.upperBound, k, a, aRow, aCol, b, bRow, bCol, c, ldc, 0)
            } else {
                precondition(bCol == 1)
                gemm(m: m, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: bRow, c: c, ldc: ldc, accumulate: false,
                     blocks: (columns.lowerBound / 8)..<(columns.upperBound / 8))
            }
            finish(columns)
        }
    }

    /// Starts a batch.
    func reset() {
        count = 0
        featCount = 0
    }

    /// Adds a row: its usable features (as `FFMModel.prepare` selects and scales them).
    func append(_ features: UnsafeBufferPointer<Feature>, label: Float, remapped: Bool) {
        let model = self.model
        let indexLimit = UInt32(truncatingIfNeeded: min(model.indexCount, Int(UInt32.max)))
        let m = UInt32(truncatingIfNeeded: min(model.fieldCount, Int(UInt32.max)))
        let allIndices = model.indexCount > Int(UInt32.max), allFields = model.fieldCount > Int(UInt32.max)
        var norm: Double = 0
        reserveFeatures(features.count)
        let first = featCount
        let rows = featRow, linears = featLinear, fields = featField, values = featValue, indices = featIndex
        let latent = model.latent, linearOffset = model.linearOffset, stride = model.rowStride
        var n = first
        for f in features {
            norm += Double(f.value) * Double(f.value)
            let r: Int
            if remapped {
                guard f.index != UInt32.max else { continue }
                r = Int(f.index)
            } else {
                guard allIndices || f.index < indexLimit, allFields || f.field < m else { continue }
                r = model.indices.row(of: Int(f.index))
                guard r >= 0 else { continue }
            }
            rows[n] = latent + r * stride
            linears[n] = rows[n] + linearOffset
            fields[n] = Int32(truncatingIfNeeded: f.field)
            values[n] = f.value
            indices[n] = r
            n += 1
        }
        featCount = n
        if model.normalization {
            let scale = norm > 0 && norm.isFinite ? 1 / norm.squareRoot() : 0
            for i in first..<n { values[i] = Float(Double(values[i]) * scale) }
        } else {
            for i in first..<n {
                values[i] = Float(min(max(Double(values[i]), -unnormalizedValueLimit), unnormalizedValueLimit))
            }
        }
        labels[count] = label
        count += 1
        featStart[count] = n
    }

    /// Scores the batch: `scores[r] = tFM[r] + y_DNN`. With `dropoutSeed`, hidden units are
    /// dropped with probability `dropout` (inverted dropout: kept ones scaled by 1/(1-p)).
    func forward(dropout: Float = 0, dropoutSeed: UInt64? = nil) {
        let B = count, net = self.net, model = self.model, k = net.factors
        let p0 = net.padded[0]
        // FM part and the input layer, rows split over threads.
        featStart.withUnsafeBufferPointer { startP in
        tFM.withUnsafeMutableBufferPointer { tP in
            let ctx = Unchecked((featRow, featLinear, featField, featValue, startP, tP.baseAddress!, act[0]))
            parallel(B) { part, range in
                let (rowsP, linP, fieldP, valueP, startP, tOut, input) = ctx.value
                let s = self.scratch[part]
                for r in range {
                    let lo = startP[r], c = startP[r + 1] - lo
                    s.reserve(c)
                    for i in 0..<c {
                        s.rows[i] = rowsP[lo + i]
                        s.fieldOffsets[i] = 0
                        s.values[i] = valueP[lo + i]
                        s.linear[i] = linP[lo + i]
                    }
                    s.count = c
                    s.bias = model.bias
                    // The FM part in linear time (fm's ½ Σ_d ((Σ x v)² − Σ x² v²)), not the
                    // pair sum `score` takes for this kind: 39 features a row, 741 pairs.
                    tOut[r] = model.fmScore(s)
                    let e = input + r * p0
                    e.update(repeating: 0, count: p0)
                    for i in lo..<(lo + c) {
                        let f = Int(fieldP[i])
                        guard f < net.fieldCount else { continue }
                        let x = valueP[i], v = rowsP[i], out = e + f * k
                        if k & 3 == 0 {
                            for c in 0..<(k >> 2) {
                                let at = UnsafeMutableRawPointer(out + c * 4)
                                at.storeBytes(of: at.loadUnaligned(as: SIMD4<Float>.self)
                                              + x * UnsafeRawPointer(v + c * 4).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
                            }
                        } else {
                            for d in 0..<k { out[d] += x * v[d] }
                        }
                    }
                }
            }
        }}
        // The network, layer by layer: act[l+1] = relu(act[l] · Wt + b), the output linear.
        for l in 0..<net.layerCount {
            let pi = net.padded[l], po = net.padded[l + 1]
            let wt = net.params + net.offsets[l], bias = wt + pi * po
            let input = act[l], output = act[l + 1]
            let last = l == net.layerCount - 1
            product(m: B, n: po, k: pi, a: input, aRow: pi, aCol: 1, b: wt, bRow: po, bCol: 1, c: output, ldc: po) { columns in
                for r in 0..<B {
                    let row = output + r * po
                    for o in columns { row[o] += bias[o] }
                    if !last { for o in columns { row[o] = max(row[o], 0) } }
                }
            }
            guard !last, let dropoutSeed, dropout > 0 else { continue }
            let keep = 1 - dropout, scale = 1 / keep
            let ctx2 = Unchecked(output)
            parallel(B) { _, range in
                let output = ctx2.value
                for r in range {
                    let row = output + r * po
                    var rng = SplitMix64(seed: dropoutSeed ^ (UInt64(l) << 56) ^ (UInt64(r) &* 0x9E37_79B9_7F4A_7C15))
                    for o in 0..<net.widths[l + 1] { row[o] = rng.nextUnitFloat() < dropout ? 0 : row[o] * scale }
                }
            }
        }
        let out = act[net.layerCount], po = net.padded[net.layerCount]
        for r in 0..<B { scores[r] = tFM[r] + out[r * po] }
    }

    /// The gradients of Σ_r loss_r: κ per row, the network's into `net.grads` (summed over
    /// the batch), ∂/∂input into `delta[0]`. Call after `forward`. With `adam` (the
    /// products in a kernel that reads the weights in place), each layer's AdamW step is
    /// taken as soon as its weights are no longer needed: each thread steps the weights of
    /// the inputs whose ∂/∂input it has just computed (the same arithmetic as
    /// `DeepNet.adamStep`, without a separate pass and wake-up); then `update` must not step
    /// the network again.
    /// - Returns: the summed log loss of the batch.
    @discardableResult
    func backward(adam: DeepNet.AdamStep? = nil) -> Double {
        precondition(adam == nil || useKernel || bf16, "the fused Adam step needs the products that read the weights in place")
        let B = count, net = self.net
        var loss: Double = 0
        let L1 = net.layerCount, pOut = net.padded[L1]
        let top = delta[L1]
        top.update(repeating: 0, count: B * pOut)
        for r in 0..<B {
            let t = Double(scores[r])
            loss += logLoss(score: t, label: labels[r])
            kappa[r] = Float(lossGradient(score: t, label: labels[r]))
            top[r * pOut] = kappa[r]
        }
        for l in stride(from: L1 - 1, through: 0, by: -1) {
            let pi = net.padded[l], po = net.padded[l + 1]
            let g = net.grads + net.offsets[l], gb = g + pi * po
            let dOut = delta[l + 1], input = act[l], dIn = delta[l]
            // dWt = act[l]ᵀ · delta[l+1]; the bias's gradient, the column sums of delta[l+1].
            // Columns come in whole SIMD8s (starts at multiples of 8, widths padded to 8).
            product(m: pi, n: po, k: B, a: input, aRow: 1, aCol: pi, b: dOut, bRow: po, bCol: 1, c: g, ldc: po) { columns in
                for o in stride(from: columns.lowerBound, to: columns.upperBound, by: 8) {
                    var sum = SIMD8<Float>.zero
                    for r in 0..<B { sum += UnsafeRawPointer(dOut + r * po + o).loadUnaligned(as: SIMD8<Float>.self) }
                    UnsafeMutableRawPointer(gb + o).storeBytes(of: sum, as: SIMD8<Float>.self)
                }
            }
            // delta[l] = delta[l+1] · W, then through the ReLU (and dropout) of layer l's input:
            // act > 0 exactly where the unit was active and kept; its scale is 1/(1-p).
            let scale = dropoutScale
            let mask: (Range<Int>) -> Void = { columns in
                if let adam { net.adamInputs(layer: l, columns, adam) }
                guard l > 0 else { return }
                for r in 0..<B {
                    let d = dIn + r * pi, x = input + r * pi
                    for i in stride(from: columns.lowerBound, to: columns.upperBound, by: 8) {
                        let di = UnsafeMutableRawPointer(d + i), xi = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
                        let kept = di.loadUnaligned(as: SIMD8<Float>.self) * scale
                        di.storeBytes(of: kept.replacing(with: 0, where: .!(xi .> 0)), as: SIMD8<Float>.self)
                    }
                }
            }
            if useKernel || bf16 {
                // W(o, i) read from the input-major weights: B(p = o, j = i) = Wt[i * po + o].
                let wt = net.params + net.offsets[l]
                product(m: B, n: pi, k: po, a: dOut, aRow: po, aCol: 1, b: wt, bRow: 1, bCol: po, c: dIn, ldc: pi, finish: mask)
            } else {
                if net.transposedStale { net.refreshTransposed() }
                let w = net.transposed + net.transposedOffsets[l]
                product(m: B, n: pi, k: po, a: dOut, aRow: po, aCol: 1, b: w, bRow: pi, bCol: 1, c: dIn, ldc: pi, finish: mask)
            }
        }
        return loss
    }

    /// 1/(1-p) for the last forward pass with dropout, else 1 (the backward pass scales by it).
    var dropoutScale: Float = 1

    /// The gradient of row r's loss with respect to the embedding of its feature `i`
    /// (an index into the batch's features): `κ x_i (S - x_i v_i) + x_i δe[field] + λ v_i`,
    /// S = Σ_j x_j v_j over the row. Written to `g` (k floats).
    @inline(__always)
    func embeddingGradient(row r: Int, feature i: Int, sum S: UnsafePointer<Float>, lambda: Float, into g: UnsafeMutablePointer<Float>) {
        let k = net.factors, v = featRow[i], x = featValue[i], kap = kappa[r]
        let f = Int(featField[i])
        let dE: UnsafeMutablePointer<Float>? = f < net.fieldCount ? delta[0] + r * net.padded[0] + f * k : nil
        if k & 3 == 0 {
            // Four factors at a time (a latent row keeps its k weights together, then their
            // accumulators); the same operations, in the same order, per factor.
            let kx = kap * x
            for c in 0..<(k >> 2) {
                let w = UnsafeRawPointer(v + c * 4).loadUnaligned(as: SIMD4<Float>.self)
                let sd = UnsafeRawPointer(S + c * 4).loadUnaligned(as: SIMD4<Float>.self)
                var gd = kx * (sd - x * w) + lambda * w
                if let dE { gd += x * UnsafeRawPointer(dE + c * 4).loadUnaligned(as: SIMD4<Float>.self) }
                UnsafeMutableRawPointer(g + c * 4).storeBytes(of: gd, as: SIMD4<Float>.self)
            }
            return
        }
        for d in 0..<k {
            let w = v[d]
            var gd = kap * x * (S[d] - x * w) + lambda * w
            if let dE { gd += x * dE[d] }
            g[d] = gd
        }
    }

    /// S = Σ_j x_j v_j over row r's features.
    @inline(__always)
    func embeddingSum(row r: Int, into S: UnsafeMutablePointer<Float>) {
        let k = net.factors
        S.update(repeating: 0, count: k)
        let rows = featRow, values = featValue
        for i in featStart[r]..<featStart[r + 1] {
            let v = rows[i], x = values[i]
            if k & 3 == 0 {
                for c in 0..<(k >> 2) {
                    let at = UnsafeMutableRawPointer(S + c * 4)
                    at.storeBytes(of: at.loadUnaligned(as: SIMD4<Float>.self) + x * UnsafeRawPointer(v + c * 4).loadUnaligned(as: SIMD4<Float>.self),
                                  as: SIMD4<Float>.self)
                }
            } else {
                for d in 0..<k { S[d] += x * v[d] }
            }
        }
    }

    /// Per feature of the batch: its row's gradient of the embedding (k floats each) and of
    /// the linear term, and the next feature of the batch on the same parameter row (-1 for
    /// none). Per parameter row the batch touches (a group): its first and last feature.
    var featGrad: [Float] = []
    var featLinearGrad: [Float] = []
    var nextSame: [Int32] = []
    var groupFirst: [Int32] = []
    var groupLast: [Int32] = []
    /// Per parameter row of the model: its group in the batch being updated, -1 otherwise
    /// (grown on demand, reset after each update).
    var groupOf: [Int32] = []

    /// One AdaGrad step per embedding, linear term and bias touched by the batch, on the
    /// batch's summed gradient (all computed at the weights the batch was scored with), then
    /// one AdamW step on the network unless `backward` took it (`networkStepped`). Threads
    /// split the rows, then the touched parameter rows; each sum goes in feature order, so
    /// the result does not depend on the threads.
    func update(eta: Float, lambda: Float, options: DeepOptions, networkStepped: Bool = false) {
        let B = count, k = net.factors, model = self.model, n = featCount
        if featGrad.count < n * k { featGrad = [Float](repeating: 0, count: n * k) }
        if featLinearGrad.count < n { featLinearGrad = [Float](repeating: 0, count: n) }
        // Each row's gradients (no weight changes yet).
        featGrad.withUnsafeMutableBufferPointer { gp in
        featLinearGrad.withUnsafeMutableBufferPointer { lp in
            let ctx = Unchecked((self, gp.baseAddress!, lp.baseAddress!))
            parallel(B) { _, range in
                let (batch, gOut, lOut) = ctx.value
                let S = UnsafeMutablePointer<Float>.allocate(capacity: k)
                defer { S.deallocate() }
                for r in range {
                    let kap = batch.kappa[r]
                    batch.embeddingSum(row: r, into: S)
                    for i in batch.featStart[r]..<batch.featStart[r + 1] {
                        batch.embeddingGradient(row: r, feature: i, sum: S, lambda: lambda, into: gOut + i * k)
                        lOut[i] = lambda * batch.featLinear[i][0] + kap * batch.featValue[i]
                    }
                }
            }
        }}
        // Features grouped by the parameter row they touch: one pass linking each feature to
        // the next on its row (the sort this replaced took a serial millisecond a batch).
        if nextSame.count < n { nextSame = [Int32](repeating: -1, count: n) }
        if groupFirst.count < n { groupFirst = [Int32](repeating: 0, count: n) }
        if groupLast.count < n { groupLast = [Int32](repeating: 0, count: n) }
        let rows = featIndex
        var maxRow = 0
        for i in 0..<n { maxRow = max(maxRow, rows[i]) }
        if maxRow >= groupOf.count { groupOf.append(contentsOf: repeatElement(-1, count: maxRow + 1 - groupOf.count)) }
        var groupCount = 0
        nextSame.withUnsafeMutableBufferPointer { next in
        groupFirst.withUnsafeMutableBufferPointer { firsts in
        groupLast.withUnsafeMutableBufferPointer { lasts in
        groupOf.withUnsafeMutableBufferPointer { groupOf in
            for i in 0..<n {
                next[i] = -1
                let r = rows[i]
                let g = Int(groupOf[r])
                if g < 0 {
                    groupOf[r] = Int32(groupCount)
                    firsts[groupCount] = Int32(i)
                    lasts[groupCount] = Int32(i)
                    groupCount += 1
                } else {
                    next[Int(lasts[g])] = Int32(i)
                    lasts[g] = Int32(i)
                }
            }
            for g in 0..<groupCount { groupOf[rows[Int(firsts[g])]] = -1 }
        }}}}
        let groups = groupCount
        featGrad.withUnsafeBufferPointer { gp in
        featLinearGrad.withUnsafeBufferPointer { lp in
        nextSame.withUnsafeBufferPointer { next in
        groupFirst.withUnsafeBufferPointer { firsts in
            let ctx = Unchecked((self, gp.baseAddress!, lp.baseAddress!, next, firsts))
            parallel(groups) { _, range in
                let (batch, grads, linearGrads, next, firsts) = ctx.value
                for group in range {
                    // Each sum in feature order, as the threads split groups, not sums.
                    let first = Int(firsts[group])
                    let v = batch.featRow[first], acc = model.accumulatorOffset
                    for d in 0..<k {
                        var g: Float = 0
                        var j = first
                        while j >= 0 { g += grads[j * k + d]; j = Int(next[j]) }
                        v[acc + d] += g * g
                        v[d] -= eta * g / v[acc + d].squareRoot()
                    }
                    if model.hasLinear {
                        var g: Float = 0
                        var j = first
                        while j >= 0 { g += linearGrads[j]; j = Int(next[j]) }
                        let p = batch.featLinear[first]
                        p[acc] += g * g
                        p[0] -= eta * g / p[acc].squareRoot()
                    }
                }
            }
        }}}}
        if model.hasLinear {
            var g: Float = 0
            for r in 0..<B { g += kappa[r] }
            let bias = model.bias
            bias[1] += g * g
            bias[0] -= eta * g / bias[1].squareRoot()
        }
        if !networkStepped {
            net.adamStep(eta: options.netEta, weightDecay: options.weightDecay, scale: 1 / Float(max(B, 1)), team: team)
        }
    }
}

/// DeepFM's training rows in memory (one-hot rows in field order, after remapping: their
/// indices and labels), so that each epoch can take one permutation of all of them, as
/// PyTorch's reference does, instead of the cache's blocks in shuffled order and rows
/// shuffled within each. Rows are kept in file order whatever the epoch's block order.
final class DeepRows {
    let count: Int
    let width: Int
    let labelWidth: Int
    let indices: UnsafeMutablePointer<UInt32>
    let labels: UnsafeMutableRawPointer
    /// Bytes the rows take (of `Engine.residentBytes`).
    var bytes: Int { OneHotRows.bytes(rows: count, width: width, labelWidth: labelWidth) }

    private init(count: Int, width: Int, labelWidth: Int) {
        self.count = count
        self.width = width
        self.labelWidth = labelWidth
        indices = .allocate(capacity: max(count * width, 1))
        labels = .allocate(byteCount: max(count * labelWidth, 1), alignment: 4)
    }

    deinit {
        indices.deallocate()
        labels.deallocate()
    }

    /// Row `r`'s label (0/1, or a Float32 target).
    func label(_ r: Int) -> Float {
        labelWidth == 1 ? Float(labels.load(fromByteOffset: r, as: UInt8.self))
            : Float(bitPattern: UInt32(littleEndian: labels.loadUnaligned(fromByteOffset: 4 * r, as: UInt32.self)))
    }

    /// All rows of `blocks` read through `transform`, or nil (nothing kept) when they take
    /// more than `limit` bytes or are not all one-hot in field order with one width.
    static func load(_ data: TrainingSet, blocks: [TrainingBlock], limit: Int,
                     transform: (@Sendable (CacheBlock) -> Void)?) throws -> DeepRows? {
        let blocks = blocks.sorted { ($0.file, $0.groups.lowerBound) < ($1.file, $1.groups.lowerBound) }
        let total = blocks.reduce(0) { $0 + data.rowCount(of: $1) }
        guard limit > 0, total > 0, Engine.residentEstimate(data, blocks: blocks) <= limit else { return nil }
        let stream = CacheBlockStream(order: blocks.map { (data.readers[$0.file], $0.groups) }, transform: transform)
        var rows: DeepRows?
        var at = 0
        while let block = try stream.next() {
            guard let width = OneHotRows.width(of: block) else { return nil }
            if rows == nil {
                guard OneHotRows.bytes(rows: total, width: width, labelWidth: block.labelWidth) <= limit else { return nil }
                rows = DeepRows(count: total, width: width, labelWidth: block.labelWidth)
            }
            let kept = rows!
            guard width == kept.width, block.labelWidth == kept.labelWidth, at + block.rowCount <= total else { return nil }
            let features = block.allFeatures
            let out = kept.indices + at * width
            for j in 0..<(block.rowCount * width) { out[j] = features[j].index }
            let labelBytes = block.labelBytes
            if let source = labelBytes.baseAddress {
                (kept.labels + at * kept.labelWidth).copyMemory(from: source, byteCount: labelBytes.count)
            }
            at += block.rowCount
        }
        return at == total ? rows : nil
    }
}

extension Engine {
    /// DeepFM's epoch: one permutation of all the training rows when they are kept in memory
    /// (`DeepRows`: one-hot rows within `residentBytes`, read on the first call), else the
    /// blocks in `order` with the rows shuffled within each block; mini-batches of
    /// `deepOptions.batch` consecutive rows of that order.
    func deepTrainEpoch(_ data: TrainingSet, order blocks: [TrainingBlock], shuffle: Bool, rng: inout SplitMix64,
                        progress: (Int) -> Void) throws -> (loss: Double, rows: Int) {
        let model = self.model, net = model.network!
        let options = deepOptions
        let remapped = model.canRemap
        let transform = remapped ? model.remapTransform(hot: nil) : nil
        if deepRows?.data != ObjectIdentifier(data) {
            deepRows = (ObjectIdentifier(data), try DeepRows.load(data, blocks: blocks, limit: residentBytes, transform: transform))
        }
        let batch = DeepBatch(model: model, net: net, capacity: options.batch, threads: threads)
        batch.bf16 = options.bf16
        var total: Double = 0, done = 0
        /// Trains on `rows` rows of `order`, `add(row)` appending each to the batch;
        /// false when the loss diverged (the stage names it and writes no model).
        func train(_ order: [Int32], add: (Int) -> Void) -> Bool {
            var start = 0
            while start < order.count {
                let end = min(start + options.batch, order.count)
                batch.reset()
                for ii in start..<end { add(Int(order[ii])) }
                let dropoutSeed = options.seed ^ 0xD809_0000_0000_0000 ^ (net.step &* 0x9E37_79B9_7F4A_7C15)
                batch.dropoutScale = options.dropout > 0 ? 1 / (1 - options.dropout) : 1
                batch.forward(dropout: options.dropout, dropoutSeed: options.dropout > 0 ? dropoutSeed : nil)
                // The network's AdamW step inside the backward pass where the kernel allows it.
                let adam = batch.useKernel || batch.bf16
                    ? net.beginAdamStep(eta: options.netEta, weightDecay: options.weightDecay, scale: 1 / Float(max(end - start, 1)))
                    : nil
                total += batch.backward(adam: adam)
                guard total.isFinite else { done += end; return false }
                batch.update(eta: eta, lambda: lambda, options: options, networkStepped: adam != nil)
                start = end
            }
            done += order.count
            return true
        }
        /// 0..<rows, shuffled from `rng` unless `shuffle` is off.
        func permutation(_ rows: Int) -> [Int32] {
            var order = (0..<Int32(rows)).map { $0 }
            if shuffle && rows > 1 { order.withUnsafeMutableBufferPointer { rng.shuffle($0.baseAddress!, count: rows) } }
            return order
        }
        if let kept = deepRows?.rows {
            let width = kept.width
            var features = [Feature](repeating: Feature(field: 0, index: 0, value: 1), count: width)
            for j in 0..<width { features[j].field = UInt32(truncatingIfNeeded: j) }
            let order = permutation(kept.count)
            // Progress every 65,536 rows or so, in whole batches.
            let every = options.batch * max(1, 65_536 / options.batch)
            var chunk = 0
            while chunk < order.count {
                let part = Array(order[chunk..<min(chunk + every, order.count)])
                let finished = features.withUnsafeMutableBufferPointer { f in
                    train(part) { r in
                        let at = kept.indices + r * width
                        for j in 0..<width { f[j].index = at[j] }
                        batch.append(UnsafeBufferPointer(f), label: kept.label(r), remapped: remapped)
                    }
                }
                guard finished else { return (total, done) }
                chunk += part.count
                progress(done)
            }
            return (total, done)
        }
        let stream = CacheBlockStream(order: blocks.map { (data.readers[$0.file], $0.groups) }, transform: transform)
        while let block = try stream.next() {
            let finished = train(permutation(block.rowCount)) { r in
                batch.append(block.row(r).features, label: block.label(r), remapped: remapped)
            }
            guard finished else { return (total, done) }
            progress(done)
        }
        return (total, done)
    }

    /// DeepFM's scores of the rows `row(0..<count)`, in batches of 1024, into `out`.
    func deepScores(count: Int, remapped: Bool, row: (Int) -> UnsafeBufferPointer<Feature>, into out: UnsafeMutablePointer<Float>) {
        let batch = DeepBatch(model: model, net: model.network!, capacity: min(1024, max(count, 1)), threads: threads)
        batch.bf16 = deepOptions.bf16
        var start = 0
        while start < count {
            let end = min(start + 1024, count)
            batch.reset()
            for r in start..<end { batch.append(row(r), label: 0, remapped: remapped) }
            batch.forward()
            for r in start..<end { out[r] = batch.scores[r - start] }
            start = end
        }
    }
}

extension Engine {
    /// ctr-predict's batch scoring for DeepFM; counts features the model has not seen.
    func deepScore(_ batch: Batch) {
        let rows = batch.rows
        let deep = DeepBatch(model: model, net: model.network!, capacity: min(1024, max(rows, 1)), threads: threads)
        var missing = 0
        batch.features.withUnsafeBufferPointer { features in
            var start = 0
            while start < rows {
                let end = min(start + 1024, rows)
                deep.reset()
                for r in start..<end {
                    let row = UnsafeBufferPointer(rebasing: features[batch.offsets[r]..<batch.offsets[r + 1]])
                    deep.append(row, label: 0, remapped: false)
                    missing += row.count - (deep.featStart[r - start + 1] - deep.featStart[r - start])
                }
                deep.forward()
                for r in start..<end { batch.scores[r] = deep.scores[r - start] }
                start = end
            }
        }
        for t in batch.unseen.indices { batch.unseen[t] = t == 0 ? missing : 0 }
    }
}

extension Predictor {
    /// DeepFM's φ(x) of one row.
    func deepScore(_ features: UnsafeBufferPointer<Feature>) -> Double {
        let deep = DeepBatch(model: model, net: model.network!, capacity: 1, threads: 1)
        deep.append(features, label: 0, remapped: false)
        deep.forward()
        return Double(deep.scores[0])
    }
}

extension DeepNet {
    /// A freshly initialised network for `params` (`--hidden`, `-k`) over `m` fields.
    static func fresh(_ params: TrainParams, fieldCount m: Int) throws -> DeepNet {
        let net = try DeepNet(fieldCount: m, factors: params.factors, hidden: params.hidden.widths)
        net.initialize(seed: params.seed)
        return net
    }
}

extension TrainStage {
    /// DeepFM's part of the set-up: the engine's mini-batch options and notes.
    static func deepSetup(_ params: TrainParams, net: DeepNet, engine: Engine, rows: Int, cluster: Cluster,
                          reporter: Reporter) throws {
        if cluster.size > 1 {
            try params.validated([ParamProblem("model", "deepfm trains in one process; expected no mpirun (the network is not averaged across ranks)")])
        }
        if params.precision == .bf16 && !deepBF16Available {
            try params.validated([ParamProblem("precision", "bf16 needs a processor with AVX512_BF16 (VDPBF16PS); this one has none: expected fp32")])
        }
        // All training rows in memory when they fit (`DeepRows`), for one permutation of
        // them per epoch, whatever the number of epochs.
        engine.residentBytes = params.residentMb << 20
        engine.deepOptions = DeepOptions(batch: params.batch, dropout: Float(params.dropout), netEta: Float(params.netEta),
                                         weightDecay: Float(params.weightDecay), seed: params.seed, bf16: params.precision == .bf16)
        reporter.note("deepfm network: \(net.shapeDescription); mini-batches of \(params.batch) rows, Adam η \(params.netEta)"
            + (params.precision == .bf16 ? ", bf16 products" : "")
            + (params.dropout > 0 ? ", dropout \(params.dropout)" : "") + (params.weightDecay > 0 ? ", weight decay \(params.weightDecay)" : ""))
        if params.batch > rows {
            reporter.note("--batch \(params.batch) is larger than the \(rows) training rows: each epoch is one batch per block")
        }
    }

    /// Warm start of a DeepFM model: the network's layers must be those asked for and the fields the same.
    static func checkDeepCompatible(_ model: FFMModel, with params: TrainParams, fieldCount m: Int, path: String) throws {
        guard let net = model.network else { return }
        func fail(_ s: String) -> FFMError { .incompatibleInitModel(path: path, detail: s) }
        guard net.hidden == params.hidden.widths else {
            throw fail("its network has hidden layers \(LayerWidths(net.hidden)), training asks for --hidden \(params.hidden)")
        }
        guard m == model.fieldCount else {
            throw fail("its network reads \(model.fieldCount) fields, the data has \(m); expected the same fields for a deepfm warm start")
        }
    }
}
