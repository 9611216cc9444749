#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dataset
import Foundation
import LogIO

/// Every option of `ctr-predict`, named after its long flag.
public struct PredictParams: Codable, Equatable, Sendable {
    /// Keep rate w of negatives in the training data (`--neg-keep-rate`): probabilities are
    /// corrected to `q = p / (p + (1 - p) / w)`; 1 = no correction.
    public var negKeepRate: Double = 1
    /// Scoring threads (`-s`, `--threads`); 0 = one per core. Output does not depend on it.
    public var threads = 0
    /// Raw logs in, featurised with this featurizer.json (`--featurizer`).
    public var featurizer: String?
    /// No output but errors (`--quiet`).
    public var quiet = false

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case negKeepRate, threads, featurizer, quiet
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PredictParams()
        negKeepRate = try c.decodeIfPresent(Double.self, forKey: .negKeepRate) ?? d.negKeepRate
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
        featurizer = try c.decodeIfPresent(String.self, forKey: .featurizer) ?? d.featurizer
        quiet = try c.decodeIfPresent(Bool.self, forKey: .quiet) ?? d.quiet
    }

    public func validate() throws {
        guard negKeepRate > 0, negKeepRate <= 1 else {
            throw FFMError.invalidParameter(name: "--neg-keep-rate", value: "\(negKeepRate)", expected: "a keep rate in (0, 1]")
        }
        guard threads >= 0, threads <= 1024 else {
            throw FFMError.invalidParameter(name: "-s/--threads", value: "\(threads)", expected: "0 (all cores) ... 1024")
        }
    }
}

/// What a prediction run produced.
public struct PredictResult: Codable, Equatable, Sendable {
    public var rows: Int
    /// Mean log loss of the (corrected) probabilities, when the input has labels.
    public var logLoss: Double?
    /// Features whose index the model never saw in training (they contribute nothing).
    public var unseenFeatures: Int
    public var features: Int
}

/// Scores rows one at a time with a model (not thread-safe: one per thread).
public final class Predictor {
    public let model: FFMModel
    private let scratch = Scratch()

    public init(model: FFMModel) { self.model = model }

    /// φ(x), the score before the sigmoid. Features with indices the model has not seen contribute nothing.
    public func score(_ features: UnsafeBufferPointer<Feature>) -> Double {
        model.prepare(features, into: scratch)
        return Double(model.score(scratch))
    }

    /// The click probability σ(φ(x)).
    public func probability(_ features: UnsafeBufferPointer<Feature>) -> Double { sigmoid(score(features)) }
}

/// Corrects a probability learnt on data whose negatives were kept with rate `w`.
@inline(__always)
public func correctForNegativeDownsampling(_ p: Double, keepRate w: Double) -> Double {
    w == 1 ? p : p / (p + (1 - p) / w)
}

/// Rows to score, one at a time: libffm text, a binary cache, or (in ctr-predict) raw logs
/// through a featurizer. The features stay valid until the next call.
public protocol PredictionInput: AnyObject {
    /// The next row's label (nil when the input has none) and features; nil at the end.
    func nextRow() throws -> (label: Float?, features: UnsafeBufferPointer<Feature>)?
    /// The last row's number (1-based) for messages.
    var rowNumber: Int { get }
    /// The input's name for messages.
    var name: String { get }
}

/// libffm text as prediction input.
public final class LibFFMInput: PredictionInput {
    private let reader: LibFFMReader
    public init(path: String) throws { reader = try LibFFMReader(path: path) }
    public func nextRow() throws -> (label: Float?, features: UnsafeBufferPointer<Feature>)? {
        guard let row = try reader.next() else { return nil }
        return (row.label, row.features)
    }
    public var rowNumber: Int { reader.lineNumber }
    public var name: String { reader.path }
}

/// A binary cache as prediction input, read in blocks.
public final class CacheInput: PredictionInput {
    private let stream: CacheBlockStream
    private var block: CacheBlock?
    private var index = 0
    public let name: String
    public private(set) var rowNumber = 0

    public init(path: String) throws {
        let reader = try CacheReader(path: path)
        name = path
        stream = CacheBlockStream(reader: reader, order: reader.blocks(targetBytes: 16 << 20))
    }

    public func nextRow() throws -> (label: Float?, features: UnsafeBufferPointer<Feature>)? {
        while block == nil || index == block!.rowCount {
            guard let next = try stream.next() else { return nil }
            block = next
            index = 0
        }
        let row = block!.row(index)
        index += 1
        rowNumber += 1
        return (row.label, row.features)
    }
}

/// Prediction: `PredictStage.run` is what `ctr-predict` and ctr-pipeline call.
public enum PredictStage {
    /// Writes one probability per line of `input` (libffm text, plain or gzip, or a binary cache) to `output`.
    /// - Throws: `FFMError.fieldBeyondModel` for an FFM row with a field the model does not have;
    ///   `DatasetError` for malformed input; model file errors.
    public static func run(params: PredictParams, input: String, model modelPath: String, output: String,
                           log: @escaping (String) -> Void = { printError($0) }) throws -> PredictResult {
        if params.featurizer != nil {
            throw FFMError.invalidParameter(name: "--featurizer", value: params.featurizer!,
                                            expected: "no featurizer here: raw logs are featurized by ctr-predict (PredictStage.run(params:rows:...))")
        }
        if TrainingData.isCache(input) {
            return try run(params: params, rows: CacheInput(path: input), model: modelPath, output: output, log: log)
        }
        return try run(params: params, rows: LibFFMInput(path: input), model: modelPath, output: output, log: log)
    }

    /// Scores the rows of any input (e.g. raw logs featurized on the fly) and writes one
    /// probability per line to `output`.
    /// - Parameter featurizerHash: XXH64 of the featurizer.json that made the rows; checked
    ///   against the one recorded in the model when both are known.
    public static func run<Input: PredictionInput>(params: PredictParams, rows: Input, model modelPath: String, output: String,
                                                   featurizerHash: UInt64? = nil,
                                                   log: @escaping (String) -> Void = { printError($0) }) throws -> PredictResult {
        try params.validate()
        let (model, metadata) = try ModelFile.load(modelPath)
        if let featurizerHash, metadata.featurizerHash != 0, metadata.featurizerHash != featurizerHash {
            throw FFMError.featurizerMismatch(model: modelPath, featurizer: params.featurizer ?? "featurizer")
        }
        let threads = params.threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : params.threads
        let engine = Engine(model: model, threads: threads, eta: 0, lambda: 0)
        let out = try AtomicFileWriter(path: output)
        var result = PredictResult(rows: 0, logLoss: nil, unseenFeatures: 0, features: 0)
        var lossSum: Double = 0
        var unlabelled = 0
        let batch = Batch()
        let w = params.negKeepRate

        func flush() throws {
            guard batch.rows > 0 else { return }
            try engine.score(batch)
            try out.withFreeSpace(atLeast: batch.rows * 34) { base in
                var n = 0
                for r in 0..<batch.rows {
                    let t = Double(batch.scores[r])
                    let q = correctForNegativeDownsampling(sigmoid(t), keepRate: w)
                    let y = batch.labels[r]
                    if y.isNaN {
                        unlabelled += 1
                    } else {
                        lossSum += w == 1 ? logLoss(score: t, label: y)
                            : -naturalLog(min(max(y > 0 ? q : 1 - q, Double.ulpOfOne), 1))
                    }
                    n += FloatText.format(Float(q), into: base + n)
                    base[n] = 10
                    n += 1
                }
                return n
            }
            result.rows += batch.rows
            result.unseenFeatures += batch.unseen.reduce(0, +)
            batch.clear()
        }

        let checkFields = model.kind == .ffm
        let m = UInt32(truncatingIfNeeded: min(model.fieldCount, Int(UInt32.max)))
        while let row = try rows.nextRow() {
            if checkFields, let f = row.features.first(where: { $0.field >= m }) {
                throw FFMError.fieldBeyondModel(path: rows.name, row: rows.rowNumber, field: f.field, modelFields: model.fieldCount)
            }
            batch.append(label: row.label ?? .nan, features: row.features)
            if batch.rows == Batch.capacity { try flush() }
        }
        try flush()
        try out.commit()
        result.features = batch.totalFeatures
        if result.rows > 0 && unlabelled == 0 { result.logLoss = lossSum / Double(result.rows) }
        if !params.quiet {
            if let loss = result.logLoss { print(String(format: "logloss = %.5f", loss)) }
            if result.unseenFeatures > 0 {
                log("\(rows.name): \(Progress.grouped(result.unseenFeatures)) of \(Progress.grouped(result.features)) features "
                    + "have indices not seen in training; they contribute nothing to the scores")
            }
        }
        return result
    }
}

/// Rows gathered for parallel scoring.
final class Batch {
    static let capacity = 16384
    var rows = 0
    var labels = [Float](repeating: 0, count: capacity)
    var offsets = [Int](repeating: 0, count: capacity + 1)
    var features: [Feature] = []
    var scores = [Float](repeating: 0, count: capacity)
    var unseen = [Int](repeating: 0, count: 1)
    var totalFeatures = 0

    func append(label: Float, features row: UnsafeBufferPointer<Feature>) {
        labels[rows] = label
        features.append(contentsOf: row)
        rows += 1
        offsets[rows] = features.count
        totalFeatures += row.count
    }

    func clear() {
        rows = 0
        features.removeAll(keepingCapacity: true)
    }
}

extension Engine {
    /// Scores a batch in parallel; counts features the model has not seen.
    func score(_ batch: Batch) throws {
        let rows = batch.rows, threads = self.threads, model = self.model, scratch = self.scratch
        if batch.unseen.count != threads { batch.unseen = [Int](repeating: 0, count: threads) }
        batch.features.withUnsafeBufferPointer { features in
            batch.offsets.withUnsafeBufferPointer { offsets in
                batch.scores.withUnsafeMutableBufferPointer { scores in
                    batch.unseen.withUnsafeMutableBufferPointer { unseen in
                        let ctx = Unchecked((features, offsets, scores.baseAddress!, unseen.baseAddress!))
                        parallel { t in
                            let (features, offsets, scores, unseen) = ctx.value
                            let s = scratch[t]
                            var missing = 0
                            for r in (rows * t / threads)..<(rows * (t + 1) / threads) {
                                let row = UnsafeBufferPointer(rebasing: features[offsets[r]..<offsets[r + 1]])
                                model.prepare(row, into: s)
                                missing += row.count - s.count
                                scores[r] = model.score(s)
                            }
                            unseen[t] = missing
                        }
                    }
                }
            }
        }
    }
}

@inline(__always)
func naturalLog(_ x: Double) -> Double { log(x) }
