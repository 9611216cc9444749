import Foundation
import StageKit
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// Regression rows from a planted biased MF (user field 0, item field 1, value 1):
/// y = μ + b_u + b_i + <p_u, q_i> + N(0, σ²), with everything drawn from `seed`.
func plantedRatings(users: Int, items: Int, rows: Int, sigma: Double, seed: UInt64) -> [(Float, [Feature])] {
    var rng = SplitMix64(seed: seed)
    func normal() -> Double {
        let u1 = max(Double(rng.nextUnitFloat()), 1e-7), u2 = Double(rng.nextUnitFloat())
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
    let userBias = (0..<users).map { _ in 0.5 * normal() }, itemBias = (0..<items).map { _ in 0.5 * normal() }
    let p = (0..<users).map { _ in (0..<2).map { _ in 0.7 * normal() } }, q = (0..<items).map { _ in (0..<2).map { _ in 0.7 * normal() } }
    return (0..<rows).map { _ in
        let u = rng.next(below: users), i = rng.next(below: items)
        let y = 3.5 + userBias[u] + itemBias[i] + p[u][0] * q[i][0] + p[u][1] * q[i][1] + sigma * normal()
        return (Float(y), [Feature(field: 0, index: UInt32(u), value: 1), Feature(field: 1, index: UInt32(users + i), value: 1)])
    }
}

@Suite struct RegressionTests {
    @Test(arguments: [ModelKind.ffm, .fm, .lr])
    func squaredLossGradientMatchesFiniteDifferences(_ kind: ModelKind) throws {
        // As for log loss: one AdaGrad step from accumulators 1 adds g² to each accumulator,
        // and g is compared with the numerical derivative of ½(φ − y)².
        let model = try randomModel(kind: kind, fields: 3, factors: 4, indices: [1, 5, 9], indexCount: 10,
                                    linear: true, normalization: false)
        // The kernel updates pair by pair in place, so an accumulator holds Σ g² over the pairs
        // a vector is in: FM's one vector per feature is in one pair only with two features.
        let features = [Feature(field: 0, index: 1, value: 1.5), Feature(field: 1, index: 5, value: -2),
                        Feature(field: 2, index: 9, value: 0.75)].prefix(kind == .fm ? 2 : 3).map { $0 }
        let used = features.map { Int($0.index) }
        let target: Float = 2.75
        func loss() -> Double {
            let t = features.withUnsafeBufferPointer { Predictor(model: model).score($0) }
            return 0.5 * (t - Double(target)) * (t - Double(target))
        }
        func numeric(_ get: () -> Float, _ set: (Float) -> Void) -> Double {
            let w = get(), h: Float = 1e-2
            set(w + h); let up = loss()
            set(w - h); let down = loss()
            set(w)
            return (up - down) / Double(2 * h)
        }
        let bias = numeric({ model.bias[0] }, { model.bias[0] = $0 })
        var linear: [Int: Double] = [:]
        for j in used { linear[j] = numeric({ model.linearWeight(index: j)! }, { model.setLinearWeight(index: j, $0) }) }
        let pairs = kind == .ffm ? [(1, 1), (5, 0), (9, 1), (5, 2)] : kind == .fm ? [(1, 0), (5, 0)] : []
        var latent: [String: Double] = [:]
        for (j, f) in pairs {
            for d in 0..<4 {
                latent["\(j) \(f) \(d)"] = numeric({ model.latentWeight(index: j, field: f, factor: d)! },
                                                   { model.setLatentWeight(index: j, field: f, factor: d, $0) })
            }
        }
        let t0 = features.withUnsafeBufferPointer { Predictor(model: model).score($0) }
        let biasBefore = model.bias[0]
        let error = features.withUnsafeBufferPointer { Predictor(model: model).trainSquared($0, target: target, eta: 0.1, lambda: 0) }
        #expect(abs(error - (t0 - Double(target)) * (t0 - Double(target))) < 1e-9)
        // Bias: κ = φ − y exactly, and the step moves against it.
        #expect(abs(Double(model.bias[1] - 1).squareRoot() - abs(bias)) < 2e-3)
        #expect((model.bias[0] - biasBefore) * Float(bias) < 0)
        for j in used {
            #expect(abs(Double(model.linearAccumulator(index: j)! - 1).squareRoot() - abs(linear[j]!)) < 2e-3, "linear \(j)")
        }
        for (j, f) in pairs {
            for d in 0..<4 {
                let g = Double(model.latentAccumulator(index: j, field: f, factor: d)! - 1).squareRoot()
                #expect(abs(g - abs(latent["\(j) \(f) \(d)"]!)) < 3e-3 * max(1, g), "latent \(j) \(f) \(d)")
            }
        }
    }

    @Test func outputIsTheMarginClippedToTheTrainingRange() throws {
        let info = RegressionInfo(clip: true, minTarget: 1, maxTarget: 5)
        #expect(PredictionOutput(negKeepRate: 1, regression: info).written(margin: 3.25) == 3.25)
        #expect(PredictionOutput(negKeepRate: 0.5, regression: info).written(margin: 7) == 5)
        #expect(PredictionOutput(negKeepRate: 1, regression: info).written(margin: -2) == 1)
        #expect(PredictionOutput(negKeepRate: 1, regression: RegressionInfo(clip: false, minTarget: 1, maxTarget: 5)).written(margin: -2) == -2)
        #expect(abs(PredictionOutput(negKeepRate: 1, regression: nil).written(margin: 0.3) - sigmoid(0.3)) < 1e-15)
        // The section round-trips and a damaged one is an error naming it.
        let parsed = try RegressionInfo(payload: info.section.bytes, path: "m")
        #expect(parsed == info && info.section.tag == "RGRS" && info.section.bytes.count == 24)
        #expect(throws: FFMError.corruptModel(path: "m", detail: "section RGRS: 3 bytes; expected 24")) {
            try RegressionInfo(payload: [1, 2, 3], path: "m")
        }
        var swapped = info.section.bytes
        swapped.replaceSubrange(8..<16, with: info.section.bytes[16..<24])
        swapped.replaceSubrange(16..<24, with: info.section.bytes[8..<16])
        #expect(throws: FFMError.corruptModel(path: "m", detail: "section RGRS: target range [5.0, 1.0]; expected finite numbers, min <= max")) {
            try RegressionInfo(payload: swapped, path: "m")
        }
    }

    @Test func fmWithSquaredLossLearnsPlantedRatingsToTheNoiseFloor() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let sigma = 0.3
        let rows = plantedRatings(users: 60, items: 50, rows: 24_000, sigma: sigma, seed: 5)
        let train = dir.appendingPathComponent("tr.ffm").path, test = dir.appendingPathComponent("te.ffm").path
        try writeLibFFM(Array(rows[..<20_000]), to: train)
        try writeLibFFM(Array(rows[20_000...]), to: test)
        let model = dir.appendingPathComponent("m").path
        let call = quietParams {
            $0.model = .fm; $0.loss = .squared; $0.factors = 4; $0.epochs = 20; $0.eta = 0.05; $0.lambda = 1e-5
            $0.noNorm = true; $0.validation = test; $0.output = model
        }
        let result = try TrainStage.run(params: call, trainingSet: train)
        // The validation column holds the MSE; no AUC for regression.
        let last = result.epochs.last!
        #expect(last.vaAUC == nil)
        #expect(last.vaLogLoss!.squareRoot() < 1.15 * sigma, "validation RMSE \(last.vaLogLoss!.squareRoot())")
        let (_, metadata) = try ModelFile.load(model)
        let info = try #require(try metadata.regression(path: model))
        let targets = rows[..<20_000].map(\.0)
        #expect(info.clip && info.minTarget == Double(targets.min()!) && info.maxTarget == Double(targets.max()!))
        // ctr-predict writes the clipped prediction itself and reports the RMSE.
        let out = dir.appendingPathComponent("p").path
        let predicted = try PredictStage.run(params: .defaults, input: test, model: model, output: out) { _ in }
        #expect(predicted.logLoss == nil && predicted.rmse != nil)
        let values = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map { Double($0)! }
        #expect(values.count == 4_000)
        let truth = rows[20_000...].map { Double($0.0) }
        let rmse = (zip(values, truth).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 4_000).squareRoot()
        #expect(abs(rmse - predicted.rmse!) < 1e-4 && rmse < 1.15 * sigma)
        #expect(values.allSatisfy { $0 >= info.minTarget && $0 <= info.maxTarget })
        // Deterministic with one thread and a seed.
        let again = dir.appendingPathComponent("m2").path
        var second = call
        second.output = again
        _ = try TrainStage.run(params: second, trainingSet: train)
        #expect(try fileBytes(model) == fileBytes(again))
        // Rows kept in memory after the first epoch (the default) train exactly as rows read
        // every epoch (--resident-mb 0).
        var streamed = second
        streamed.residentMb = 0
        streamed.output = dir.appendingPathComponent("m-streamed").path
        _ = try TrainStage.run(params: streamed, trainingSet: train)
        #expect(try fileBytes(model) == fileBytes(streamed.output!))
        // Warm start must keep the loss.
        var warm = quietParams { $0.model = .fm; $0.factors = 4; $0.epochs = 1; $0.noNorm = true; $0.initModel = model }
        warm.output = dir.appendingPathComponent("w").path
        let zeroOne = dir.appendingPathComponent("01.ffm").path
        try writeLibFFM(rows[..<100].map { ($0.0 > 3.5 ? 1 : 0, $0.1) }, to: zeroOne)
        #expect(throws: FFMError.incompatibleInitModel(path: model, detail: "it was trained with --loss squared, training asks for --loss logistic")) {
            try TrainStage.run(params: warm, trainingSet: zeroOne)
        }
        warm.loss = .squared
        #expect(try TrainStage.run(params: warm, trainingSet: train).epochs.count == 1)
    }

    @Test func aClassifierGivenRealTargetsIsAClearError() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let rows = plantedRatings(users: 5, items: 5, rows: 50, sigma: 0.1, seed: 2)
        let text = dir.appendingPathComponent("r.ffm").path
        try writeLibFFM(rows, to: text)
        let first = String(try String(contentsOfFile: text, encoding: .utf8).split(separator: " ")[0])
        #expect(throws: DatasetError.badLabel(path: text, line: 1, token: first)) {
            try TrainStage.run(params: quietParams { $0.model = .fm }, trainingSet: text)
        }
        let cache = dir.appendingPathComponent("r.cache").path
        try CacheWriter.convert(libffm: text, to: cache, realLabels: true)
        #expect(throws: FFMError.classificationGivenTargets(path: cache, row: 1, label: rows[0].0)) {
            try TrainStage.run(params: quietParams { $0.model = .fm }, trainingSet: cache)
        }
        // Squared loss reads the cache; --no-clip needs squared loss.
        #expect(try TrainStage.run(params: quietParams { $0.model = .lr; $0.loss = .squared; $0.epochs = 2; $0.output = cache + ".model" },
                                   trainingSet: cache).rows == 50)
        #expect(TrainParams.defaults.problems().isEmpty)
        var p = TrainParams.defaults
        p.noClip = true
        #expect(p.problems().map(\.keys) == [["noClip", "loss"]])
        // A NaN target names the line.
        let nan = dir.appendingPathComponent("nan.ffm").path
        try "1.5 0:1:1\nnan 0:2:1\n".write(toFile: nan, atomically: true, encoding: .utf8)
        #expect(throws: DatasetError.badTarget(path: nan, line: 2, token: "nan", reason: "NaN or infinite")) {
            try TrainStage.run(params: quietParams { $0.loss = .squared }, trainingSet: nan)
        }
    }
}
