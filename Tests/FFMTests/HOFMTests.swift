import Foundation
import StageKit
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// A hofm model of `degree` over `indices` with random weights of every order (and linear terms).
private func randomHOFM(degree: Int, fields: Int = 4, factors: Int = 5, indices: [Int], indexCount: Int,
                        linear: Bool = true, normalization: Bool = true, seed: UInt64 = 3) throws -> FFMModel {
    let set = try SeenIndices(indexCount: indexCount)
    for j in indices { set.insert(j) }
    set.seal()
    let model = try FFMModel(kind: .hofm, fieldCount: fields, factors: factors, normalization: normalization, linear: linear,
                             indices: set, degree: degree)
    model.initialize(seed: seed)
    var rng = SplitMix64(seed: seed &+ 1)
    for j in indices {
        if linear { model.setLinearWeight(index: j, rng.nextUnitFloat() - 0.5) }
        for o in 0..<(degree - 1) {
            for d in 0..<factors { model.setLatentWeight(index: j, field: o, factor: d, rng.nextUnitFloat() - 0.5) }
        }
    }
    if linear { model.bias[0] = 0.25 }
    return model
}

/// HOFM's score from the definition, in Double: every pair with the order-2 factors, every
/// triple with the order-3 factors (O(n^3)), every quadruple with the order-4 factors.
private func naiveHOFM(_ model: FFMModel, _ features: [Feature]) -> Double {
    let usable = features.filter { Int($0.field) < model.fieldCount && model.indices.contains(Int($0.index)) }
    let norm = features.reduce(0.0) { $0 + Double($1.value) * Double($1.value) }
    let scale = model.normalization ? (norm > 0 ? 1 / norm.squareRoot() : 0) : 1
    let x = usable.map { Double($0.value) * scale }
    func p(_ i: Int, _ order: Int, _ d: Int) -> Double {
        Double(model.latentWeight(index: Int(usable[i].index), field: order - 2, factor: d)!)
    }
    var t = 0.0
    if model.hasLinear {
        t += Double(model.bias[0])
        for i in usable.indices { t += Double(model.linearWeight(index: Int(usable[i].index))!) * x[i] }
    }
    let n = usable.count, k = model.factors
    for a in 0..<n {
        for b in (a + 1)..<max(n, a + 1) {
            for d in 0..<k { t += p(a, 2, d) * p(b, 2, d) * x[a] * x[b] }
            guard model.degree >= 3 else { continue }
            for c in (b + 1)..<max(n, b + 1) {
                for d in 0..<k { t += p(a, 3, d) * p(b, 3, d) * p(c, 3, d) * x[a] * x[b] * x[c] }
                guard model.degree >= 4 else { continue }
                for e in (c + 1)..<max(n, c + 1) {
                    for d in 0..<k { t += p(a, 4, d) * p(b, 4, d) * p(c, 4, d) * p(e, 4, d) * x[a] * x[b] * x[c] * x[e] }
                }
            }
        }
    }
    return t
}

private func randomRows(_ count: Int, fields: Int, indexCount: Int, seed: UInt64, maxFeatures: Int = 9) -> [(Float, [Feature])] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let n = 1 + rng.next(below: maxFeatures)
        let features = (0..<n).map { _ in
            Feature(field: UInt32(rng.next(below: fields + 1)), index: UInt32(rng.next(below: indexCount + 3)),
                    value: rng.nextUnitFloat() * 2 - 0.5)
        }
        return (rng.nextUnitFloat() < 0.4 ? 1 : 0, features)
    }
}

@Suite struct HOFMTests {
    @Test(arguments: [(2, true), (3, true), (3, false), (4, true)])
    func scoreMatchesTheNaiveSumOverAllSubsets(degree: Int, normalization: Bool) throws {
        let indices = Array(stride(from: 0, to: 60, by: 2))
        let model = try randomHOFM(degree: degree, factors: 6, indices: indices, indexCount: 60, normalization: normalization)
        let predictor = Predictor(model: model)
        for (_, features) in randomRows(300, fields: 4, indexCount: 60, seed: 11) {
            let fast = features.withUnsafeBufferPointer { predictor.score($0) }
            let naive = naiveHOFM(model, features)
            #expect(abs(fast - naive) <= 1e-4 * max(1, abs(naive)), "\(fast) vs \(naive) for \(features.count) features")
        }
    }

    @Test func degreeTwoIsTheFMModel() throws {
        let indices = Array(stride(from: 0, to: 50, by: 3))
        let fm = try randomModel(kind: .fm, fields: 4, factors: 7, indices: indices, indexCount: 50, linear: true)
        let hofm = try randomHOFM(degree: 2, factors: 7, indices: indices, indexCount: 50)
        #expect(hofm.weightFields == 1 && hofm.degree == 2 && hofm.rowStride == fm.rowStride)
        for j in indices {
            hofm.setLinearWeight(index: j, fm.linearWeight(index: j)!)
            for d in 0..<7 { hofm.setLatentWeight(index: j, field: 0, factor: d, fm.latentWeight(index: j, field: 0, factor: d)!) }
        }
        hofm.bias[0] = fm.bias[0]
        let a = Predictor(model: fm), b = Predictor(model: hofm)
        for (_, features) in randomRows(400, fields: 4, indexCount: 50, seed: 5) {
            let s1 = features.withUnsafeBufferPointer { a.score($0) }, s2 = features.withUnsafeBufferPointer { b.score($0) }
            #expect(abs(s1 - s2) <= 1e-5 * max(1, abs(s1)), "fm \(s1) vs hofm degree 2 \(s2)")
        }
    }

    /// One AdaGrad step's gradient of every parameter the row touches (bias, linear terms,
    /// latent weights of every order), read back from the accumulators (ΔG = g²) and the
    /// sign of the step, against central differences of the log loss + λ/2 ‖w‖² in Double.
    @Test(arguments: [2, 3, 4])
    func gradientOfEveryParameterMatchesFiniteDifferences(degree: Int) throws {
        let fields = 4, k = 5, lambda: Float = 0.05
        let indices = Array(0..<40)
        var rng = SplitMix64(seed: 77)
        for trial in 0..<6 {
            let model = try randomHOFM(degree: degree, fields: fields, factors: k, indices: indices, indexCount: 40, seed: UInt64(trial + 1))
            // Distinct indices, so that each parameter is used by one feature of the row.
            var picked = Set<Int>()
            while picked.count < 3 + trial { picked.insert(rng.next(below: 40)) }
            let features = picked.sorted().map { Feature(field: UInt32(rng.next(below: fields)), index: UInt32($0), value: rng.nextUnitFloat() + 0.2) }
            let label: Float = trial % 2 == 0 ? 1 : 0
            func objective() -> Double {
                var o = logLoss(score: naiveHOFM(model, features), label: label)
                for f in features {
                    let j = Int(f.index)
                    o += 0.5 * Double(lambda) * pow(Double(model.linearWeight(index: j)!), 2)
                    for ord in 0..<(degree - 1) {
                        for d in 0..<k { o += 0.5 * Double(lambda) * pow(Double(model.latentWeight(index: j, field: ord, factor: d)!), 2) }
                    }
                }
                return o
            }
            func numeric(_ get: () -> Float, _ set: (Float) -> Void) -> Double {
                let w = get()
                let up = Float(Double(w) + 1e-3), down = Float(Double(w) - 1e-3)
                set(up); let a = objective()
                set(down); let b = objective()
                set(w)
                return (a - b) / (Double(up) - Double(down))
            }
            // The bias is not regularised: its numeric gradient is the log loss's alone.
            let biasNumeric = numeric({ model.bias[0] }, { model.bias[0] = $0 })
            var expected: [(String, Double, () -> (Float, Float))] = []  // name, numeric, (w, G) now
            for f in features {
                let j = Int(f.index)
                expected.append(("linear \(j)", numeric({ model.linearWeight(index: j)! }, { model.setLinearWeight(index: j, $0) }),
                                 { (model.linearWeight(index: j)!, model.linearAccumulator(index: j)!) }))
                for ord in 0..<(degree - 1) {
                    for d in 0..<k {
                        expected.append(("latent \(j) order \(ord + 2) factor \(d)",
                                         numeric({ model.latentWeight(index: j, field: ord, factor: d)! },
                                                 { model.setLatentWeight(index: j, field: ord, factor: d, $0) }),
                                         { (model.latentWeight(index: j, field: ord, factor: d)!, model.latentAccumulator(index: j, field: ord, factor: d)!) }))
                    }
                }
            }
            // Tiny accumulators, so that ΔG = g² is read back to Float's relative precision.
            model.bias[1] = 1e-6
            for f in features {
                let r = model.indices.row(of: Int(f.index))
                model.linear(row: r)[model.accumulatorOffset] = 1e-6
                for ord in 0..<(degree - 1) {
                    for d in 0..<k { model.latent[r * model.rowStride + ord * model.fieldStride + model.accumulatorOffset + d] = 1e-6 }
                }
            }
            let before = expected.map { $0.2() }
            let biasBefore = (model.bias[0], model.bias[1])
            let s = Scratch()
            features.withUnsafeBufferPointer { model.prepare($0, into: s) }
            let t = Double(model.score(s))
            #expect(abs(t - naiveHOFM(model, features)) < 1e-4)
            model.update(s, kappa: Float(lossGradient(score: t, label: label)), eta: 1e-4, lambda: lambda)
            func recovered(_ old: (Float, Float), _ new: (Float, Float)) -> Double {
                let magnitude = (Double(new.1) - Double(old.1)).squareRoot()
                return new.0 < old.0 ? magnitude : -magnitude
            }
            func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-3 * abs(b) + 1e-5 }
            let gb = recovered(biasBefore, (model.bias[0], model.bias[1]))
            #expect(close(gb, biasNumeric), "bias: step \(gb), numeric \(biasNumeric)")
            for (i, e) in expected.enumerated() {
                let g = recovered(before[i], e.2())
                #expect(close(g, e.1), "\(e.0): step \(g), numeric \(e.1) (degree \(degree), trial \(trial))")
            }
        }
    }

    @Test func trainsDeterministicallyRoundTripsAndDumps() throws {
        let problem = try Problem(rows: 1500)
        for (name, seed) in [("a", 7), ("b", 7), ("c", 8)] {
            _ = try TrainStage.run(params: quietParams {
                $0.model = .hofm
                $0.degree = 3
                $0.epochs = 2
                $0.seed = UInt64(seed)
                $0.output = problem.path(name)
            }, trainingSet: problem.train)
        }
        #expect(try fileBytes(problem.path("a")) == fileBytes(problem.path("b")))
        #expect(try fileBytes(problem.path("a")) != fileBytes(problem.path("c")))
        let (model, metadata) = try ModelFile.load(problem.path("a"))
        #expect(model.kind == .hofm && model.degree == 3 && model.weightFields == 2)
        try ModelFile.save(model, metadata: metadata, to: problem.path("again"))
        #expect(try fileBytes(problem.path("a")) == fileBytes(problem.path("again")))
        var lines: [String] = []
        ModelFile.dump(model, metadata: metadata) { lines.append($0) }
        #expect(lines.contains { $0.hasPrefix("latent 0 o2 ") })
        #expect(lines.contains { $0.hasPrefix("latent 0 o3 ") })
        // Several threads train too (hogwild), to a finite model.
        let threaded = try TrainStage.run(params: quietParams {
            $0.model = .hofm
            $0.epochs = 2
            $0.threads = 3
            $0.output = problem.path("threads")
        }, trainingSet: problem.train)
        #expect(threaded.epochs.allSatisfy { $0.trLogLoss.isFinite })
    }

    @Test func learnsPredictsAndWarmStartsExactly() throws {
        let problem = try Problem()
        func call(_ epochs: Int, _ out: String, initModel: String? = nil, degree: Int = 3) -> TrainCall {
            quietParams {
                $0.model = .hofm
                $0.degree = degree
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
        #expect(throws: FFMError.self) {
            _ = try TrainStage.run(params: call(1, "x", initModel: problem.path("first"), degree: 2), trainingSet: problem.train)
        }
    }

    @Test func squaredLossAndEarlyStopping() throws {
        let problem = try Problem(rows: 1200)
        let result = try TrainStage.run(params: quietParams {
            $0.model = .hofm
            $0.loss = .squared
            $0.epochs = 6
            $0.patience = 1
            $0.validation = problem.valid
            $0.output = problem.path("sq")
        }, trainingSet: problem.train)
        #expect(result.epochs.allSatisfy { $0.trLogLoss.isFinite })
        #expect(result.bestEpoch >= 1 && result.bestEpoch <= result.epochs.count)
        let (model, _) = try ModelFile.load(problem.path("sq"))
        #expect(model.kind == .hofm && model.degree == 3)
    }

    @Test func degreeOutsideTheRangeIsAClearError() throws {
        var params = TrainParams.defaults
        params.model = .hofm
        params.degree = 5
        #expect(throws: (any Error).self) { try params.validated() }
    }
}
