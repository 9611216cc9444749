#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Dataset
import Featurize
import Foundation
import LogIO
import StageKit

/// Every parameter of `ctr-predict`, declared once (command line and pipeline `params`).
/// Files are not parameters: see ``PredictInputs``.
public struct PredictParams: StageParameters {
    @Option("Negatives were kept with this rate in training: correct p to p / (p + (1 - p) / W).", in: .openClosed(0, 1))
    public var negKeepRate = 1.0

    @Option("Scoring threads (0 = one per core); the output does not depend on it.", short: "s", in: .closed(0, 1024))
    public var threads = 0

    public init() {}
}

/// The files ctr-predict reads.
public struct PredictInputs: Sendable {
    /// libffm text (plain or gzip), a binary cache, or raw logs (with `featurizer`).
    public var data: String
    public var model: String
    /// Raw logs in: featurize them with this featurizer.json (from ctr-hash), exactly as
    /// for training; its hash is checked against the one the model recorded.
    public var featurizer: String?

    public init(data: String, model: String, featurizer: String? = nil) {
        self.data = data
        self.model = model
        self.featurizer = featurizer
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
        if model.network != nil { return deepScore(features) }
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
    /// XXH64 of the featurizer.json the cache was made with, 0 when unknown.
    public let featurizerHash: UInt64

    public init(path: String) throws {
        let reader = try CacheReader(path: path)
        name = path
        featurizerHash = reader.info.featurizerHash
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
public enum PredictStage: Stage {
    /// Writes one probability per row of `inputs.data` to `output`.
    /// - Throws: `FFMError.fieldBeyondModel` for an FFM row with a field the model does not have;
    ///   `FFMError.featurizerMismatch` when the model was trained on another featurizer;
    ///   `DatasetError` for malformed input; model file errors.
    public static func run(_ params: PredictParams, inputs: PredictInputs, outputs output: String,
                           reporter: Reporter) throws -> PredictResult {
        if let featurizer = inputs.featurizer {
            let rows = try RawLogInput(path: inputs.data, featurizer: Featurizer(contentsOf: featurizer))
            return try run(params, rows: rows, model: inputs.model, output: output, reporter: reporter,
                           featurizer: (featurizer, try TrainStage.fileHash(featurizer)))
        }
        if TrainingData.isCache(inputs.data) {
            let cache = try CacheInput(path: inputs.data)
            return try run(params, rows: cache, model: inputs.model, output: output, reporter: reporter,
                           cacheFeaturizerHash: cache.featurizerHash)
        }
        return try run(params, rows: LibFFMInput(path: inputs.data), model: inputs.model, output: output, reporter: reporter)
    }

    /// Scores the rows of any input and writes one probability per line to `output`.
    /// - Parameters:
    ///   - featurizer: the featurizer.json that made the rows and its XXH64, checked
    ///     against the one recorded in the model when the model has one.
    ///   - cacheFeaturizerHash: a cache's featurizer hash, checked the same way (0: unknown).
    static func run<Input: PredictionInput>(_ params: PredictParams, rows: Input, model modelPath: String, output: String,
                                            reporter: Reporter, featurizer: (path: String, hash: UInt64)? = nil,
                                            cacheFeaturizerHash: UInt64 = 0) throws -> PredictResult {
        try params.validated()
        let (model, metadata) = try ModelFile.load(modelPath)
        if let featurizer, metadata.featurizerHash != 0, metadata.featurizerHash != featurizer.hash {
            throw FFMError.featurizerMismatch(model: modelPath, featurizer: featurizer.path)
        }
        if cacheFeaturizerHash != 0, metadata.featurizerHash != 0, metadata.featurizerHash != cacheFeaturizerHash {
            throw FFMError.cacheFeaturizerMismatch(cache: rows.name, cacheHash: cacheFeaturizerHash, other: modelPath,
                                                   otherHash: metadata.featurizerHash, otherRole: "the model")
        }
        let threads = params.threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : params.threads
        let engine = Engine(model: model, threads: threads, eta: 0, lambda: 0)
        let published = CommitGroup()
        let out = try AtomicFileWriter(path: output, group: published)
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

        let checkFields = model.kind == .ffm || model.kind == .deepfm
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
        try published.commit()
        result.features = batch.totalFeatures
        if result.rows > 0 && unlabelled == 0 { result.logLoss = lossSum / Double(result.rows) }
        if result.unseenFeatures > 0 {
            reporter.note("\(rows.name): \(ProgressMeter.grouped(result.unseenFeatures)) of \(ProgressMeter.grouped(result.features)) features "
                          + "have indices not seen in training; they contribute nothing to the scores")
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
        if model.network != nil { return deepScore(batch) }
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
