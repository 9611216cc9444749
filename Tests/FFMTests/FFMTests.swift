import Foundation
import Metrics
import StageKit
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

@Suite struct ScoreTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let kind: ModelKind
        let factors: Int
        let linear: Bool
        let normalization: Bool
        var testDescription: String { "\(kind.rawValue) k=\(factors) linear=\(linear) norm=\(normalization)" }
    }

    static let cases: [Case] = [
        Case(kind: .ffm, factors: 4, linear: false, normalization: true),
        Case(kind: .ffm, factors: 3, linear: true, normalization: true),
        Case(kind: .ffm, factors: 9, linear: true, normalization: false),
        Case(kind: .fm, factors: 5, linear: true, normalization: true),
        Case(kind: .fm, factors: 4, linear: false, normalization: false),
        Case(kind: .lr, factors: 4, linear: true, normalization: true),
    ]

    @Test(arguments: cases)
    func formulaMatchesNaive(_ c: Case) throws {
        let indices = Array(stride(from: 0, to: 60, by: 2))  // odd indices have no weights
        let model = try randomModel(kind: c.kind, fields: 5, factors: c.factors, indices: indices, indexCount: 64,
                                    linear: c.linear, normalization: c.normalization)
        let predictor = Predictor(model: model)
        var rng = SplitMix64(seed: 17)
        for _ in 0..<200 {
            let count = rng.next(below: 9)
            let features = (0..<count).map { _ in
                Feature(field: UInt32(rng.next(below: 6)), index: UInt32(rng.next(below: 70)), value: rng.nextUnitFloat() * 2 - 0.5)
            }
            let expected = naiveScore(model, features)
            let got = features.withUnsafeBufferPointer { predictor.score($0) }
            #expect(abs(got - expected) <= 1e-4 * max(1, abs(expected)), "\(features)")
        }
    }

    @Test func gradientMatchesFiniteDifferences() throws {
        // One AdaGrad step from accumulators 1 adds g² to each accumulator, so g can be read
        // back and compared with the derivative of the log loss taken numerically.
        let model = try randomModel(kind: .ffm, fields: 3, factors: 4, indices: [1, 5, 9], indexCount: 10,
                                    linear: true, normalization: false)
        let features = [Feature(field: 0, index: 1, value: 1.5), Feature(field: 1, index: 5, value: -2),
                        Feature(field: 2, index: 9, value: 0.75)]
        let label: Float = 1
        func loss() -> Double {
            let t = features.withUnsafeBufferPointer { Predictor(model: model).score($0) }
            return logLoss(score: t, label: label)
        }
        func numeric(_ get: () -> Float, _ set: (Float) -> Void) -> Double {
            let w = get(), h: Float = 1e-2
            set(w + h); let up = loss()
            set(w - h); let down = loss()
            set(w)
            return (up - down) / Double(2 * h)
        }
        var expected: [String: Double] = [:]
        expected["bias"] = numeric({ model.bias[0] }, { model.bias[0] = $0 })
        for j in [1, 5, 9] { expected["linear \(j)"] = numeric({ model.linearWeight(index: j)! }, { model.setLinearWeight(index: j, $0) }) }
        for (j, f) in [(1, 1), (5, 0), (9, 1), (5, 2)] {
            for d in 0..<4 {
                expected["latent \(j) \(f) \(d)"] = numeric({ model.latentWeight(index: j, field: f, factor: d)! },
                                                             { model.setLatentWeight(index: j, field: f, factor: d, $0) })
            }
        }
        let before = (bias: model.bias[0], w: model.latentWeight(index: 1, field: 1, factor: 0)!)
        features.withUnsafeBufferPointer { _ = Predictor(model: model).train($0, label: label, eta: 0.1, lambda: 0) }
        func analytic(_ accumulator: Float, _ after: Float, _ before: Float) -> Double {
            let magnitude = Double(accumulator - 1).squareRoot()
            return after < before ? magnitude : -magnitude
        }
        #expect(abs(analytic(model.bias[1], model.bias[0], before.bias) - expected["bias"]!) < 2e-3)
        for j in [1, 5, 9] {
            let g = Double(model.linearAccumulator(index: j)! - 1).squareRoot()
            #expect(abs(g - abs(expected["linear \(j)"]!)) < 2e-3, "linear \(j)")
        }
        for (j, f) in [(1, 1), (5, 0), (9, 1), (5, 2)] {
            for d in 0..<4 {
                let g = Double(model.latentAccumulator(index: j, field: f, factor: d)! - 1).squareRoot()
                #expect(abs(g - abs(expected["latent \(j) \(f) \(d)"]!)) < 3e-3 * max(1, g), "latent \(j) \(f) \(d)")
            }
        }
        #expect(analytic(model.latentAccumulator(index: 1, field: 1, factor: 0)!, model.latentWeight(index: 1, field: 1, factor: 0)!, before.w)
                    * expected["latent 1 1 0"]! > 0)
    }

    @Test(arguments: [4, 3])
    func avxUpdateMatchesFourWideLoop(factors: Int) throws {
        // The AVX kernel (two pairs per 256-bit operation) must leave every weight and
        // accumulator bit for bit as the 4-wide loop does, on rows it takes (fields
        // increasing) and on rows it leaves to the loop (a repeated field or feature).
        guard cpuHasAVX else { return }  // not x86_64 with AVX: only the loop exists
        let indices = Array(0..<40)
        let fast = try randomModel(kind: .ffm, fields: 12, factors: factors, indices: indices, indexCount: 40,
                                   linear: true, seed: 9)
        let loop = try randomModel(kind: .ffm, fields: 12, factors: factors, indices: indices, indexCount: 40,
                                   linear: true, seed: 9)
        var rng = SplitMix64(seed: 23)
        let s1 = Scratch(), s2 = Scratch()
        var taken = 0, consecutive = 0
        for trial in 0..<300 {
            let count = 1 + rng.next(below: 12)
            var fields = (0..<12).map { UInt32($0) }.shuffled(using: &rng).prefix(count).sorted()
            if trial % 3 == 1 {
                // Consecutive fields (rows one-hot in field order): row a's vectors of two
                // neighbouring features are adjacent, loaded and stored as one 256-bit value.
                let first = rng.next(below: 13 - count)
                fields = (0..<count).map { UInt32(first + $0) }
            }
            if trial % 5 == 0 && count > 2 { fields[1] = fields[0] }  // a repeated field
            var features = fields.map { Feature(field: $0, index: UInt32(rng.next(below: 40)), value: rng.nextUnitFloat() + 0.1) }
            if trial % 7 == 0 && count > 3 { features[3].index = features[2].index }  // one feature in two fields
            let kappa = rng.nextUnitFloat() - 0.5
            features.withUnsafeBufferPointer {
                fast.prepare($0, into: s1)
                loop.prepare($0, into: s2)
            }
            if (0..<max(s1.count - 1, 0)).allSatisfy({ s1.fieldOffsets[$0] < s1.fieldOffsets[$0 + 1] && s1.rows[$0] != s1.rows[$0 + 1] }) {
                taken += 1
                if s1.consecutiveFields && s1.count > 2 { consecutive += 1 }
            }
            fast.updateLatent4(s1, kappa: kappa, eta: 0.2, lambda: 2e-5, avx: true)
            loop.updateLatent4(s2, kappa: kappa, eta: 0.2, lambda: 2e-5, avx: false)
        }
        #expect(taken > 100 && taken < 300 && consecutive > 30)
        let floats = fast.rowCount * fast.rowStride
        #expect(memcmp(fast.latent, loop.latent, floats * 4) == 0)
    }

    @Test(arguments: [4, 3])
    func avxScoreMatchesFourWideLoop(factors: Int) throws {
        // The AVX forward pass (two pairs per 256-bit operation) sums in the order of the
        // 4-wide loop, so the two give the same bits on every row, repeated fields and
        // features, an odd or even number of pairs, and none, included.
        guard cpuHasAVX else { return }
        let model = try randomModel(kind: .ffm, fields: 12, factors: factors, indices: Array(0..<40), indexCount: 40,
                                    linear: false, seed: 11)
        var rng = SplitMix64(seed: 29)
        let s = Scratch(), next = Scratch()
        for trial in 0..<300 {
            let count = rng.next(below: 16)
            var features = (0..<count).map { _ in
                Feature(field: UInt32(rng.next(below: 12)), index: UInt32(rng.next(below: 40)), value: rng.nextUnitFloat() * 2 - 0.5)
            }
            // Consecutive fields: the kernel loads row a's two vectors as one 256-bit value.
            if trial % 3 == 1 && count <= 12 { for i in features.indices { features[i].field = UInt32(i) } }
            features.withUnsafeBufferPointer {
                model.prepare($0, into: s)
                model.prepare(UnsafeBufferPointer(rebasing: $0.prefix(trial % 5)), into: next)
            }
            let fast = model.latentScore4(s, prefetching: next, avx: true)
            let loop = model.latentScore4(s, prefetching: trial % 2 == 0 ? next : nil, avx: false)
            #expect(fast.bitPattern == loop.bitPattern, "\(features)")
        }
    }

    @Test func fmaUpdateMatchesTheFourWideLoopWithinRounding() throws {
        // The AVX2 + FMA update rounds once per fused operation where the loop rounds twice:
        // after 200 rows of 12 fields (2,000+ steps on each vector) every weight and
        // accumulator is within a relative 1e-5 (about 170 ulps) of the loop's, and the
        // same seed gives the same bits twice.
        guard cpuHasAVX2FMA else { return }
        func train(fma: Bool) throws -> FFMModel {
            let model = try randomModel(kind: .ffm, fields: 12, factors: 4, indices: Array(0..<40), indexCount: 40,
                                        linear: true, seed: 9)
            var rng = SplitMix64(seed: 31)
            let s = Scratch()
            for _ in 0..<200 {
                let fields = (0..<12).map { UInt32($0) }
                var features = fields.map { Feature(field: $0, index: UInt32(rng.next(below: 40)), value: rng.nextUnitFloat() + 0.1) }
                for i in 1..<features.count where features[i].index == features[i - 1].index {
                    features[i].index = (features[i].index + 1) % 40
                }
                features.withUnsafeBufferPointer { model.prepare($0, into: s) }
                model.updateLatent4(s, kappa: rng.nextUnitFloat() - 0.5, eta: 0.2, lambda: 2e-5, avx: true, fma: fma)
            }
            return model
        }
        let fused = try train(fma: true), again = try train(fma: true), plain = try train(fma: false)
        let floats = fused.rowCount * fused.rowStride
        #expect(memcmp(fused.latent, again.latent, floats * 4) == 0)
        var worst: Float = 0, differing = 0
        for i in 0..<floats where fused.latent[i] != plain.latent[i] {
            differing += 1
            worst = max(worst, abs(fused.latent[i] - plain.latent[i]) / max(abs(plain.latent[i]), 1e-3))
        }
        #expect(differing > 0)  // it is a different rounding
        #expect(worst < 1e-5, "largest relative difference \(worst)")
    }

    @Test func extremeValuesStayFinite() throws {
        for normalization in [true, false] {
            let model = try randomModel(kind: .ffm, fields: 4, factors: 4, indices: Array(0..<50), indexCount: 50,
                                        linear: true, normalization: normalization)
            let predictor = Predictor(model: model)
            var rng = SplitMix64(seed: 5)
            for round in 0..<60 {
                let count = round % 20 == 0 ? 300 : 6
                let features = (0..<count).map { i in
                    Feature(field: UInt32(i % 4), index: UInt32(rng.next(below: 50)),
                            value: [Float(1e30), -1e30, 3e38, 1e-30, 0, 7][rng.next(below: 6)])
                }
                features.withUnsafeBufferPointer { f in
                    let loss = predictor.train(f, label: Float(round % 2), eta: 0.5, lambda: 0.01)
                    #expect(!loss.isNaN)
                    #expect(predictor.probability(f).isFinite)
                }
            }
            try ModelFile.checkFinite(model, path: "memory")
        }
    }

    @Test func logLossAndSigmoidAreStable() {
        #expect(logLoss(score: 1000, label: 1) == 0)
        #expect(abs(logLoss(score: -1000, label: 1) - 1000) < 1e-9)
        #expect(abs(logLoss(score: 0, label: 0) - log(2.0)) < 1e-12)
        #expect(sigmoid(-1000) == 0 && sigmoid(1000) == 1)
        #expect(abs(lossGradient(score: 0.3, label: 1) - (sigmoid(0.3) - 1)) < 1e-12)
    }

    @Test func negativeDownsamplingCorrection() {
        #expect(correctForNegativeDownsampling(0.5, keepRate: 1) == 0.5)
        // Keeping 1 negative in 10: the odds shrink tenfold.
        let q = correctForNegativeDownsampling(0.5, keepRate: 0.1)
        #expect(abs(q - 1.0 / 11.0) < 1e-12)
        let p = 0.2, w = 0.25
        let corrected = correctForNegativeDownsampling(p, keepRate: w)
        #expect(abs(corrected / (1 - corrected) - w * p / (1 - p)) < 1e-12)
    }

    @Test func aucAgainstPairCounting() {
        var rng = SplitMix64(seed: 8)
        let scores = (0..<300).map { _ in Float(rng.next(below: 20)) }  // many ties
        let labels = (0..<300).map { _ in UInt8(rng.next(below: 3) == 0 ? 1 : 0) }
        var wins = 0.0, pairs = 0.0
        for i in 0..<300 where labels[i] == 1 {
            for j in 0..<300 where labels[j] == 0 {
                pairs += 1
                wins += scores[i] > scores[j] ? 1 : (scores[i] == scores[j] ? 0.5 : 0)
            }
        }
        #expect(abs(areaUnderCurve(scores: scores, labels: labels)! - wins / pairs) < 1e-12)
        #expect(areaUnderCurve(scores: [1, 2], labels: [1, 1]) == nil)
    }
}

@Suite struct ParamsTests {
    @Test func emptyJSONDecodesToDefaults() throws {
        let train = try TrainParams.decode(.object([])).get()
        #expect(train == TrainParams.defaults)
        let predict = try PredictParams.decode(.object([])).get()
        #expect(predict == PredictParams.defaults)
        var parser = JSONParser(#"{"factors": 8, "model": "fm", "noLinear": true}"#)
        let some = try TrainParams.decode(parser.parse()).get()
        #expect(some.factors == 8 && some.model == .fm && some.noLinear && some.epochs == 15)
        // Round trip and the key list (files are inputs and outputs, not parameters).
        let back = try TrainParams.decode(some.encoded()).get()
        #expect(back == some)
        #expect(TrainParams.specs.count == 27)  // 13 + calibrate (#16) + loss, noClip, degree, residentMb (#13) + hidden, dropout, batch, netEta, weightDecay, precision (#14) + syncRows, rankMerge, rankMomentum (#11)
    }

    @Test func defaultsAreLibFFMs() {
        let p = TrainParams.defaults
        #expect(p.lambda == 0.00002 && p.factors == 4 && p.epochs == 15 && p.eta == 0.2 && p.threads == 1)
        #expect(!p.noNorm && !p.noLinear && p.model == .ffm)
    }

    @Test func invalidCombinationsNameTheParameter() {
        #expect(quietParams { $0.autoStop = true }.params.inputProblems(hasValidation: false)
                == [ParamProblem("autoStop", "early stopping needs a validation set")])
        #expect(TrainParams.commandLineMessage(ParamProblem("autoStop", "early stopping needs a validation set"))
                == "--auto-stop: early stopping needs a validation set")
        #expect(throws: ParameterError.self) { try quietParams { $0.factors = 0 }.params.validated() }
        #expect(throws: ParameterError.self) { try quietParams { $0.eta = -1 }.params.validated() }
        #expect(throws: ParameterError.self) { try quietParams { $0.model = .lr; $0.noLinear = true }.params.validated() }
        var p = PredictParams.defaults
        p.negKeepRate = 0
        #expect(throws: ParameterError.self) { try p.validated() }
    }
}
