// Regression with squared loss (issue #13): the loss choice, what a regression model keeps
// in its file (section RGRS), and the squared-loss pieces of training, evaluation and
// prediction. Log loss stays where it was (Kernel.swift); the engine and the stages call
// in here only where the two losses differ.

import Cluster
import Dataset
import StageKit

/// The loss ctr-train minimises (`--loss`).
public enum LossKind: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// Log loss on labels 0/1; the model's output is the probability σ(φ).
    case logistic
    /// ½(φ − y)² on real-valued targets y; the output is φ itself (optionally clipped).
    case squared
}

/// What a model trained with squared loss records (model file section `RGRS`): its loss,
/// and the range of the training targets its predictions are clipped to (as libFM does).
///
/// Payload, 24 bytes little-endian: UInt32 loss (1 = squared), UInt32 flags (bit 0: clip
/// predictions), Float64 smallest and Float64 largest training target.
public struct RegressionInfo: Equatable, Sendable {
    public static let tag = "RGRS"
    static let payloadSize = 24

    public var clip: Bool
    public var minTarget: Double
    public var maxTarget: Double

    public init(clip: Bool, minTarget: Double, maxTarget: Double) {
        self.clip = clip
        self.minTarget = minTarget
        self.maxTarget = maxTarget
    }

    /// The section this is stored as.
    public var section: ModelSection {
        var bytes = [UInt8](repeating: 0, count: RegressionInfo.payloadSize)
        bytes.withUnsafeMutableBytes { b in
            b.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 0, as: UInt32.self)
            b.storeBytes(of: UInt32(clip ? 1 : 0).littleEndian, toByteOffset: 4, as: UInt32.self)
            b.storeBytes(of: minTarget.bitPattern.littleEndian, toByteOffset: 8, as: UInt64.self)
            b.storeBytes(of: maxTarget.bitPattern.littleEndian, toByteOffset: 16, as: UInt64.self)
        }
        return ModelSection(tag: RegressionInfo.tag, bytes: bytes)
    }

    /// Parses an `RGRS` payload.
    /// - Throws: `FFMError.corruptModel` naming what is wrong.
    init(payload bytes: [UInt8], path: String) throws {
        func fail(_ s: String) -> FFMError { .corruptModel(path: path, detail: "section RGRS: " + s) }
        guard bytes.count == RegressionInfo.payloadSize else {
            throw fail("\(bytes.count) bytes; expected \(RegressionInfo.payloadSize)")
        }
        let (loss, flags, lo, hi) = bytes.withUnsafeBytes { b in
            (UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
             UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
             Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))),
             Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 16, as: UInt64.self))))
        }
        guard loss == 1 else { throw fail("loss code \(loss); expected 1 (squared)") }
        guard flags <= 1 else { throw fail("flags \(flags); expected 0 or 1") }
        guard lo.isFinite, hi.isFinite, lo <= hi else { throw fail("target range [\(lo), \(hi)]; expected finite numbers, min <= max") }
        self.init(clip: flags == 1, minTarget: lo, maxTarget: hi)
    }

    /// The prediction for margin φ: φ, clipped to the training target range when `clip`.
    @inline(__always)
    public func output(_ t: Double) -> Double {
        clip ? min(max(t, minTarget), maxTarget) : t
    }
}

extension ModelMetadata {
    /// The regression facts of a squared-loss model; nil for a classifier (log loss).
    /// - Throws: `FFMError.corruptModel` for a malformed RGRS section.
    public func regression(path: String) throws -> RegressionInfo? {
        try section(RegressionInfo.tag).map { try RegressionInfo(payload: $0, path: path) }
    }

    /// The loss the model was trained with.
    public func loss(path: String) throws -> LossKind { try regression(path: path) == nil ? .logistic : .squared }
}

/// Squared loss of margin `t` for target `y`, as reported: (t − y)² (the mean of it is the MSE).
@inline(__always)
func squaredError(score t: Double, label y: Float) -> Double {
    let e = t - Double(y)
    return e * e
}

extension Engine {
    /// Mean squared error of the (clipped) predictions on `data`, gathered over the ranks
    /// as `evaluate` does (scores in file order; every rank reads the targets itself).
    func evaluateSquared(_ data: CacheReader, blockBytes: Int, clip: RegressionInfo?, cluster: Cluster = .single) throws -> Double {
        var (scores, _) = try scores(data, blockBytes: blockBytes,
                                     blocks: rankShare(data.blocks(targetBytes: blockBytes), groupCount: data.info.groupCount,
                                                       rank: cluster.rank, size: cluster.size))
        if cluster.size > 1 { scores = try cluster.allgather(scores) }
        let targets = try data.allLabels()
        var sum: Double = 0
        for i in 0..<min(scores.count, targets.count) {
            let p = clip?.output(Double(scores[i])) ?? Double(scores[i])
            sum += squaredError(score: p, label: targets[i])
        }
        return sum / Double(max(scores.count, 1))
    }
}

extension TrainStage {
    /// Squared loss: the training targets' range (for clipping) and mean (the starting bias).
    struct Regression {
        var info: RegressionInfo
        var meanTarget: Double
    }

    /// The regression facts of a squared-loss run, from one pass over the training labels;
    /// nil for log loss, after checking that no cache holds real targets.
    /// - Throws: `FFMError.classificationGivenTargets` for a classifier given real targets.
    static func regressionSetup(_ params: TrainParams, train: TrainingSet, valid: CacheReader?, validPath: String?) throws -> Regression? {
        guard params.loss == .squared else {
            for (reader, path) in Array(zip(train.readers, train.paths)) + [valid.map { ($0, validPath ?? "") }].compactMap({ $0 })
            where reader.info.realLabels {
                let summary = try reader.labelSummary()
                if let row = summary.firstNonBinary {
                    throw FFMError.classificationGivenTargets(path: path, row: row + 1, label: try reader.allLabels()[row])
                }
            }
            return nil
        }
        // Over all training files: the smallest and largest target and the row-weighted mean.
        var lo = Float.infinity, hi = -Float.infinity, sum: Double = 0
        for reader in train.readers where reader.info.rowCount > 0 {
            let summary = try reader.labelSummary()
            lo = min(lo, summary.min)
            hi = max(hi, summary.max)
            sum += summary.mean * Double(reader.info.rowCount)
        }
        return Regression(info: RegressionInfo(clip: !params.noClip, minTarget: Double(lo), maxTarget: Double(hi)),
                          meanTarget: train.rowCount > 0 ? sum / Double(train.rowCount) : 0)
    }
}

extension Predictor {
    /// One AdaGrad step with squared loss on one row (what `--loss squared` training does per
    /// row), for tests and online use: κ = φ − y, the derivative of ½(φ − y)².
    /// - Returns: the row's squared error (φ − y)² before the step.
    @discardableResult
    public func trainSquared(_ features: UnsafeBufferPointer<Feature>, target y: Float, eta: Float, lambda: Float) -> Double {
        let s = Scratch()
        model.prepare(features, into: s)
        let t = Double(model.score(s))
        model.update(s, kappa: Float(t - Double(y)), eta: eta, lambda: lambda)
        return squaredError(score: t, label: y)
    }
}
