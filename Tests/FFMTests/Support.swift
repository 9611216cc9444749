import Foundation
import Dataset
import FFM
import LogIO
import StageKit
import TestSupport

/// Synthetic libffm data from a planted FFM (seeded): `fields` fields of `cardinality`
/// values each, field f owning indices [f*cardinality, (f+1)*cardinality), value 1, and
/// labels drawn from σ(bias + Σ linear + Σ pairs <u[j_a,f_b], u[j_b,f_a]>).
struct PlantedData {
    let fields: Int
    let cardinality: Int
    let seed: UInt64
    var bias = -0.8
    var strength = 2.5

    func rows(_ count: Int, stream: UInt64) -> [(Float, [Feature])] {
        var rng = SplitMix64(seed: seed &* 31 &+ stream)
        return (0..<count).map { _ in
            var logit = bias
            var features: [Feature] = []
            for f in 0..<fields {
                // Skewed values: low ranks more frequent.
                let u = Double(rng.nextUnitFloat())
                let v = min(Int(u * u * Double(cardinality)), cardinality - 1)
                features.append(Feature(field: UInt32(f), index: UInt32(f * cardinality + v), value: 1))
            }
            for a in 0..<fields {
                logit += strength * 0.5 * planted(UInt64(features[a].index), 99)
                for b in (a + 1)..<fields {
                    var dot = 0.0
                    for d in 0..<2 {
                        dot += planted(UInt64(features[a].index) << 8 | UInt64(b), UInt64(d))
                            * planted(UInt64(features[b].index) << 8 | UInt64(a), UInt64(d))
                    }
                    logit += strength * 0.6 * dot
                }
            }
            let p = 1 / (1 + exp(-logit))
            let label: Float = Double(rng.nextUnitFloat()) < p ? 1 : 0
            return (label, features)
        }
    }

    private func planted(_ key: UInt64, _ salt: UInt64) -> Double {
        var g = SplitMix64(seed: key &* 0x9E37_79B9 &+ salt &+ seed << 20)
        return Double(g.nextUnitFloat()) * 2 - 1
    }
}

func writeLibFFM(_ rows: [(Float, [Feature])], to path: String) throws {
    let writer = try LibFFMWriter(path: path, realLabels: rows.contains { $0.0 != 0 && $0.0 != 1 })
    for (label, features) in rows { try writer.write(label: label, features: features) }
    try writer.commit()
}

/// Log loss of always predicting the rows' click rate.
func constantLogLoss(_ rows: [(Float, [Feature])]) -> Double {
    let p = Double(rows.filter { $0.0 == 1 }.count) / Double(rows.count)
    return -(p * log(p) + (1 - p) * log(1 - p))
}

/// A training call as the tests write it: the hyperparameters (reached through `$0.epochs`
/// and so on) and the files.
@dynamicMemberLookup
struct TrainCall {
    var params = TrainParams.defaults
    var validation: String?
    var initModel: String?
    var logJson: String?
    var featurizer: String?
    var output: String?

    subscript<T>(dynamicMember key: WritableKeyPath<TrainParams, T>) -> T {
        get { params[keyPath: key] }
        set { params[keyPath: key] = newValue }
    }
}

func quietParams(_ edit: (inout TrainCall) -> Void = { _ in }) -> TrainCall {
    var call = TrainCall()
    edit(&call)
    return call
}

extension TrainStage {
    /// Trains quietly with the files of `call`.
    static func run(params call: TrainCall, trainingSet: String) throws -> TrainResult {
        try run(call.params, inputs: TrainInputs(train: trainingSet, valid: call.validation, initModel: call.initModel, featurizer: call.featurizer),
                outputs: TrainOutputs(model: call.output, epochs: call.logJson), reporter: .silent)
    }
}

/// A note receiver for tests (single-threaded use).
struct TestLog: @unchecked Sendable {
    let write: (String) -> Void
}

extension PredictStage {
    /// Predicts `input` with `model` into `output`; notes go to `log`.
    static func run(params: PredictParams, input: String, model: String, output: String,
                    log: @escaping (String) -> Void) throws -> PredictResult {
        let sink = TestLog(write: log)
        return try run(params, inputs: PredictInputs(data: input, model: model), outputs: output,
                       reporter: Reporter(quiet: false, live: false) { sink.write($0) })
    }
}

func fileBytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

/// A model over the given indices with weights drawn from `seed` (linear and bias too).
func randomModel(kind: ModelKind, fields: Int, factors: Int, indices: [Int], indexCount: Int, linear: Bool,
                 normalization: Bool = true, seed: UInt64 = 3) throws -> FFMModel {
    let set = try SeenIndices(indexCount: indexCount)
    for j in indices { set.insert(j) }
    set.seal()
    let model = try FFMModel(kind: kind, fieldCount: fields, factors: factors, normalization: normalization, linear: linear, indices: set)
    model.initialize(seed: seed)
    var rng = SplitMix64(seed: seed &+ 1)
    for j in indices {
        if linear || kind == .lr { model.setLinearWeight(index: j, rng.nextUnitFloat() - 0.5) }
        if kind != .lr {
            for f in 0..<fields {
                for d in 0..<factors { model.setLatentWeight(index: j, field: f, factor: d, rng.nextUnitFloat() - 0.5) }
            }
        }
    }
    if linear || kind == .lr { model.bias[0] = 0.25 }
    return model
}

/// The score straight from the definition, in Double.
func naiveScore(_ model: FFMModel, _ features: [Feature]) -> Double {
    let usable = features.filter { Int($0.field) < model.fieldCount && model.indices.contains(Int($0.index)) }
    let norm = features.reduce(0.0) { $0 + Double($1.value) * Double($1.value) }
    let r = model.normalization ? (norm > 0 ? 1 / norm : 0) : 1
    var t = 0.0
    if model.hasLinear {
        t += Double(model.bias[0])
        for x in usable { t += Double(model.linearWeight(index: Int(x.index))!) * Double(x.value) * r.squareRoot() }
    }
    if model.kind != .lr {
        for a in 0..<usable.count {
            for b in (a + 1)..<usable.count {
                let xa = usable[a], xb = usable[b]
                var dot = 0.0
                for d in 0..<model.factors {
                    dot += Double(model.latentWeight(index: Int(xa.index), field: Int(xb.field), factor: d)!)
                        * Double(model.latentWeight(index: Int(xb.index), field: Int(xa.field), factor: d)!)
                }
                t += dot * Double(xa.value) * Double(xb.value) * r
            }
        }
    }
    return t
}
