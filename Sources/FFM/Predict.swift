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

    // MARK: - #16 calibration
    @Flag("Skip the calibrator stored by ctr-train --calibrate: write σ(margin) (corrected for --neg-keep-rate).")
    public var uncalibrated = false

    @Flag("Write the margin (logit) of each row instead of its probability: no sigmoid, calibrator or --neg-keep-rate correction.")
    public var rawScore = false

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
    /// Mean log loss of the (corrected) probabilities, when the input has labels (classifiers).
    public var logLoss: Double?
    /// Root mean squared error of the predictions, when the input has targets (squared-loss models).
    public var rmse: Double?
    /// Features whose index the model never saw in training (they contribute nothing).
    public var unseenFeatures: Int
    public var features: Int
    /// The calibrator applied (`platt`, `isotonic`), nil when none was (#16).
    public var calibrator: String?
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

/// What ctr-predict writes for a row's margin t, the one place a margin becomes an output:
/// for a classifier the probability σ(t), through the model's calibrator when it has one
/// (unless `--uncalibrated`), then corrected for negative downsampling (`--neg-keep-rate`);
/// for a squared-loss model (#13) t itself, clipped to the training target range when the
/// model says so; with `--raw-score`, t itself.
public struct PredictionOutput: Sendable {
    public var calibrator: Calibrator?
    public var negKeepRate: Double
    public var rawScore: Bool
    /// A squared-loss model's facts (#13); nil for a classifier.
    public var regression: RegressionInfo?

    public init(calibrator: Calibrator? = nil, negKeepRate: Double = 1, rawScore: Bool = false, regression: RegressionInfo? = nil) {
        self.calibrator = calibrator
        self.negKeepRate = negKeepRate
        self.rawScore = rawScore
        self.regression = regression
    }

    /// The prediction of margin t: the regression output, or the probability (σ(t) or the
    /// calibrator's, then the downsampling correction).
    @inline(__always)
    public func prediction(margin t: Double) -> Double {
        if let regression { return regression.output(t) }
        let p = calibrator?.probability(margin: t) ?? sigmoid(t)
        return correctForNegativeDownsampling(p, keepRate: negKeepRate)
    }

    /// The number written for margin t.
    @inline(__always)
    public func written(margin t: Double) -> Double { rawScore ? t : prediction(margin: t) }
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
    /// - Parameter realLabels: labels are regression targets (a squared-loss model's input).
    public init(path: String, realLabels: Bool = false) throws { reader = try LibFFMReader(path: path, realLabels: realLabels) }
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

/// Cache shards read one after the other as one input (ctr-hash under mpirun writes
/// `valid-00000-of-00002.cache`, `valid-00001-of-00002.cache`, …): given as a glob such as
/// `out/valid-*-of-00002.cache`, in name order (= rank order). Every shard must record the
/// same featurizer.
public final class CacheShardsInput: PredictionInput {
    private let shards: [CacheInput]
    private var current = 0
    public let featurizerHash: UInt64

    /// The cache files a pattern with `*`, `?` or `[` names, sorted (nil: not a pattern, or
    /// a file of that very name exists).
    /// - Throws: `LogIOError.cannotOpen` (no such file) when the pattern names no file.
    public static func expand(_ pattern: String) throws -> [String]? {
        guard pattern.contains(where: { "*?[".contains($0) }), !FileManager.default.fileExists(atPath: pattern) else { return nil }
        var g = glob_t()
        defer { globfree(&g) }
        guard glob(pattern, 0, nil, &g) == 0, g.gl_pathc > 0 else {
            throw LogIOError.cannotOpen(path: pattern, errno: ENOENT)
        }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    public init(paths: [String]) throws {
        shards = try paths.map { try CacheInput(path: $0) }
        featurizerHash = shards.first?.featurizerHash ?? 0
        for s in shards.dropFirst() where s.featurizerHash != featurizerHash {
            throw FFMError.cacheFeaturizerMismatch(cache: s.name, cacheHash: s.featurizerHash, other: shards[0].name,
                                                   otherHash: featurizerHash, otherRole: "the first shard")
        }
    }

    public var name: String { shards.isEmpty ? "" : shards[min(current, shards.count - 1)].name }
    public var rowNumber: Int { shards.isEmpty ? 0 : shards[min(current, shards.count - 1)].rowNumber }

    public func nextRow() throws -> (label: Float?, features: UnsafeBufferPointer<Feature>)? {
        while current < shards.count {
            if let row = try shards[current].nextRow() { return row }
            current += 1
        }
        return nil
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
        try params.validated()
        let loaded = try ModelFile.load(inputs.model)
        if let featurizer = inputs.featurizer {
            let rows = try RawLogInput(path: inputs.data, featurizer: Featurizer(contentsOf: featurizer))
            return try run(params, rows: rows, model: inputs.model, loaded: loaded, output: output, reporter: reporter,
                           featurizer: (featurizer, try TrainStage.fileHash(featurizer)))
        }
        if let shards = try CacheShardsInput.expand(inputs.data) {
            let cache = try CacheShardsInput(paths: shards)
            return try run(params, rows: cache, model: inputs.model, loaded: loaded, output: output, reporter: reporter,
                           cacheFeaturizerHash: cache.featurizerHash)
        }
        if TrainingData.isCache(inputs.data) {
            let cache = try CacheInput(path: inputs.data)
            return try run(params, rows: cache, model: inputs.model, loaded: loaded, output: output, reporter: reporter,
                           cacheFeaturizerHash: cache.featurizerHash)
        }
        let realLabels = try loaded.metadata.regression(path: inputs.model) != nil
        return try run(params, rows: LibFFMInput(path: inputs.data, realLabels: realLabels), model: inputs.model, loaded: loaded,
                       output: output, reporter: reporter)
    }

    /// Scores the rows of any input and writes one probability per line to `output`.
    /// - Parameters:
    ///   - featurizer: the featurizer.json that made the rows and its XXH64, checked
    ///     against the one recorded in the model when the model has one.
    ///   - cacheFeaturizerHash: a cache's featurizer hash, checked the same way (0: unknown).
    ///   - loaded: the model file `modelPath`, loaded.
    static func run<Input: PredictionInput>(_ params: PredictParams, rows: Input, model modelPath: String,
                                            loaded: (model: FFMModel, metadata: ModelMetadata), output: String,
                                            reporter: Reporter, featurizer: (path: String, hash: UInt64)? = nil,
                                            cacheFeaturizerHash: UInt64 = 0) throws -> PredictResult {
        let (model, metadata) = loaded
        let regression = try metadata.regression(path: modelPath)
        if regression != nil && params.negKeepRate != 1 {
            reporter.note("--neg-keep-rate is ignored: \(modelPath) is a regression model (squared loss)")
        }
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
        let mapping = PredictionOutput(calibrator: params.uncalibrated ? nil : try Calibrator.from(metadata, path: modelPath),
                                       negKeepRate: w, rawScore: params.rawScore, regression: regression)

        func flush() throws {
            guard batch.rows > 0 else { return }
            try engine.score(batch)
            try out.withFreeSpace(atLeast: batch.rows * 34) { base in
                var n = 0
                for r in 0..<batch.rows {
                    let t = Double(batch.scores[r])
                    let q = mapping.prediction(margin: t)
                    let y = batch.labels[r]
                    if y.isNaN {
                        unlabelled += 1
                    } else if regression != nil {
                        lossSum += squaredError(score: q, label: y)
                    } else {
                        lossSum += w == 1 && mapping.calibrator == nil ? logLoss(score: t, label: y)
                            : -naturalLog(min(max(y > 0 ? q : 1 - q, Double.ulpOfOne), 1))
                    }
                    n += FloatText.format(Float(mapping.rawScore ? t : q), into: base + n)
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
        result.calibrator = mapping.calibrator?.method.rawValue
        if result.rows > 0 && unlabelled == 0 {
            if regression != nil {
                result.rmse = (lossSum / Double(result.rows)).squareRoot()
            } else {
                result.logLoss = lossSum / Double(result.rows)
            }
        }
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
