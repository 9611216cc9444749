import Dataset
import Foundation
import LogIO
import StageKit
import Testing
import TestSupport
@testable import Featurize
@testable import FFM
import Ingest

/// Spline fields (several features of one field in a row) through ctr-hash, ctr-train and
/// ctr-predict: text and cache train the same model, raw logs through featurizer.json
/// predict exactly as the cache, and instance normalisation counts every feature.
@Suite struct SplineEndToEndTests {
    static let root = TestSupport.packageRoot

    /// The first `rows` lines of SampleData's Criteo sample.
    static func slice(rows: Int, to path: String) throws {
        let reader = try LineReader(path: root.appendingPathComponent("SampleData/criteo-sample.tsv.gz").path)
        let writer = try AtomicFileWriter(path: path)
        var n = 0
        while n < rows, let line = try reader.next() {
            try writer.write(line)
            try writer.write(byte: 10)
            n += 1
        }
        try writer.commit()
    }

    @Test(arguments: [NumericTransform.spline, .splineLogSquare])
    func trainAndPredictWithSplineFields(numeric: NumericTransform) throws {
        let dir = try TestSupport.makeTemporaryDirectory("spline-e2e")
        defer { try? FileManager.default.removeItem(at: dir) }
        func p(_ name: String) -> String { dir.appendingPathComponent(name).path }
        try Self.slice(rows: 1500, to: p("raw.tsv"))
        var ingest = IngestParams.defaults
        ingest.schema = "criteo"
        ingest.valid = 0.2
        ingest.test = 0.2
        _ = try IngestStage.run(ingest, inputs: [p("raw.tsv")], outputs: p("rows"), reporter: .silent)
        var hash = HashParams.defaults
        hash.rows = p("rows")
        hash.numeric = numeric
        hash.knots = 10
        hash.rareThreshold = 2
        hash.threads = 1
        _ = try HashStage.run(hash, inputs: [], outputs: p("hash"), reporter: .silent)
        // Rows really have several features of one field.
        let cache = try CacheReader(path: p("hash/train.cache")).map()
        var multi = 0
        for r in 0..<cache.info.rowCount {
            let fields = cache.row(r).features.map(\.field)
            if Set(fields).count < fields.count { multi += 1 }
        }
        #expect(multi > cache.info.rowCount / 2)

        for kind in [ModelKind.ffm, .fm] {
            var train = TrainParams.defaults
            train.epochs = 2
            train.threads = 1
            train.model = kind
            let fromCache = p("m-\(kind)-cache"), fromText = p("m-\(kind)-text")
            _ = try TrainStage.run(train, inputs: TrainInputs(train: p("hash/train.cache"), valid: p("hash/valid.cache")),
                                   outputs: TrainOutputs(model: fromCache), reporter: .silent)
            _ = try TrainStage.run(train, inputs: TrainInputs(train: p("hash/train.ffm"), valid: p("hash/valid.ffm"),
                                                              featurizer: p("hash/featurizer.json")),
                                   outputs: TrainOutputs(model: fromText), reporter: .silent)
            // One thread and a seed: the same model from the text and from the cache.
            #expect(try Data(contentsOf: URL(fileURLWithPath: fromCache)) == Data(contentsOf: URL(fileURLWithPath: fromText)))
            // Raw test logs through featurizer.json predict what the test cache predicts.
            let testRaw = p("test-raw.tsv")
            let all = try String(contentsOfFile: p("raw.tsv"), encoding: .utf8).split(separator: "\n")
            try (all.suffix(300).joined(separator: "\n") + "\n").write(toFile: testRaw, atomically: false, encoding: .utf8)
            let a = try PredictStage.run(.defaults, inputs: PredictInputs(data: p("hash/test.cache"), model: fromCache),
                                         outputs: p("pred-cache"), reporter: .silent)
            let b = try PredictStage.run(.defaults, inputs: PredictInputs(data: testRaw, model: fromCache, featurizer: p("hash/featurizer.json")),
                                         outputs: p("pred-raw"), reporter: .silent)
            #expect(a.rows == 300 && b.rows == 300)
            #expect(try Data(contentsOf: URL(fileURLWithPath: p("pred-cache"))) == Data(contentsOf: URL(fileURLWithPath: p("pred-raw"))))
            #expect(a.logLoss! < 0.6)
        }
    }

    @Test func instanceNormalisationCountsEverySplineFeature() throws {
        // A row of 2 one-hot fields and a spline field with weights 1/6, 2/3, 1/6: Σx² = 2 + 1/2,
        // so every value is divided by sqrt(2.5), pairs inside the spline field included.
        let set = try SeenIndices(indexCount: 10)
        for j in 0..<10 { set.insert(j) }
        set.seal()
        let model = try FFMModel(kind: .ffm, fieldCount: 3, factors: 4, normalization: true, linear: true, indices: set)
        model.initialize(seed: 5)
        for j in 0..<10 { model.setLinearWeight(index: j, Float(j) / 10 - 0.3) }
        let row = [Feature(field: 0, index: 1, value: 1), Feature(field: 1, index: 4, value: 1),
                   Feature(field: 2, index: 6, value: Float(1.0 / 6)), Feature(field: 2, index: 7, value: Float(2.0 / 3)),
                   Feature(field: 2, index: 8, value: Float(1.0 / 6))]
        let scale = 1 / (2 + 2 * (1.0 / 36) + 4.0 / 9).squareRoot()
        var expected = Double(model.bias[0])
        for x in row { expected += Double(model.linearWeight(index: Int(x.index))!) * Double(x.value) * scale }
        for a in 0..<row.count {
            for b in (a + 1)..<row.count {
                var dot = 0.0
                for d in 0..<4 {
                    dot += Double(model.latentWeight(index: Int(row[a].index), field: Int(row[b].field), factor: d)!)
                        * Double(model.latentWeight(index: Int(row[b].index), field: Int(row[a].field), factor: d)!)
                }
                expected += dot * Double(row[a].value) * Double(row[b].value) * scale * scale
            }
        }
        let got = row.withUnsafeBufferPointer { Predictor(model: model).score($0) }
        #expect(abs(got - expected) < 1e-5, "\(got) vs \(expected)")
    }

    @Test(arguments: [false, true])
    func gradientWithSeveralFeaturesPerField(normalization: Bool) throws {
        // With several features of one field in a row, a latent vector w(j, f) serves one pair
        // per feature of field f, and the kernel (like libffm) takes one AdaGrad step per pair:
        // its accumulator grows by Σ_pairs g_pair², where g_pair = κ x_a x_b w_partner (values
        // scaled by 1/sqrt(Σx²) with normalisation). With η = 0 the weights stay put, so: the
        // per-pair gradients sum to the finite-difference derivative, and their squares to the
        // accumulator's growth.
        let indices = [1, 2, 3, 5, 6, 9]
        let set = try SeenIndices(indexCount: 10)
        for j in indices { set.insert(j) }
        set.seal()
        let model = try FFMModel(kind: .ffm, fieldCount: 3, factors: 4, normalization: normalization, linear: true, indices: set)
        model.initialize(seed: 7)
        var rng = SplitMix64(seed: 8)
        for j in indices {
            model.setLinearWeight(index: j, rng.nextUnitFloat() - 0.5)
            for f in 0..<3 { for d in 0..<4 { model.setLatentWeight(index: j, field: f, factor: d, rng.nextUnitFloat() - 0.5) } }
        }
        let features = [Feature(field: 0, index: 1, value: 0.2), Feature(field: 0, index: 2, value: 0.7),
                        Feature(field: 0, index: 3, value: 0.1), Feature(field: 1, index: 5, value: 0.4),
                        Feature(field: 1, index: 6, value: 0.6), Feature(field: 2, index: 9, value: 1)]
        let label: Float = 0
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
        let t = features.withUnsafeBufferPointer { Predictor(model: model).score($0) }
        let kappa = 1 / (1 + exp(-t)) - Double(label)
        let norm = features.reduce(0.0) { $0 + Double($1.value) * Double($1.value) }
        let scale2 = normalization ? 1 / norm : 1
        // Per vector (index, field, factor): the per-pair gradients.
        var perPair: [String: [Double]] = [:]
        for a in 0..<features.count {
            for b in (a + 1)..<features.count {
                let xa = features[a], xb = features[b]
                let v = Double(xa.value) * Double(xb.value) * scale2
                for d in 0..<4 {
                    let w1 = Double(model.latentWeight(index: Int(xa.index), field: Int(xb.field), factor: d)!)
                    let w2 = Double(model.latentWeight(index: Int(xb.index), field: Int(xa.field), factor: d)!)
                    perPair["\(xa.index) \(xb.field) \(d)", default: []].append(kappa * v * w2)
                    perPair["\(xb.index) \(xa.field) \(d)", default: []].append(kappa * v * w1)
                }
            }
        }
        var expected: [String: Double] = [:]
        for j in indices { expected["l\(j)"] = numeric({ model.linearWeight(index: j)! }, { model.setLinearWeight(index: j, $0) }) }
        for key in perPair.keys {
            let parts = key.split(separator: " ").map { Int($0)! }
            expected[key] = numeric({ model.latentWeight(index: parts[0], field: parts[1], factor: parts[2])! },
                                    { model.setLatentWeight(index: parts[0], field: parts[1], factor: parts[2], $0) })
        }
        #expect(perPair.values.filter { $0.count > 1 }.count >= 4 * 8, "vectors serving several pairs")
        for j in indices { #expect(model.linearAccumulator(index: j)! == 1) }
        features.withUnsafeBufferPointer { _ = Predictor(model: model).train($0, label: label, eta: 0, lambda: 0) }
        for j in indices {
            let g = Double(model.linearAccumulator(index: j)! - 1).squareRoot()
            #expect(abs(g - abs(expected["l\(j)"]!)) < 2e-3, "linear \(j)")
        }
        for (key, gradients) in perPair {
            let parts = key.split(separator: " ").map { Int($0)! }
            let sum = gradients.reduce(0, +), squares = gradients.reduce(0) { $0 + $1 * $1 }
            #expect(abs(sum - expected[key]!) < 2e-3 * max(1, abs(sum)), "latent \(key): Σ per-pair \(sum) vs numeric \(expected[key]!)")
            let grown = Double(model.latentAccumulator(index: parts[0], field: parts[1], factor: parts[2])! - 1)
            #expect(abs(grown - squares) < 1e-5 + 1e-3 * squares, "latent \(key): accumulator grew \(grown), Σ g² \(squares)")
        }
    }
}
