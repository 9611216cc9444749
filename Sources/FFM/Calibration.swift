import Dataset
import Foundation
import StageKit

/// `ctr-train --calibrate`: how the probabilities of the kept model are recalibrated on the
/// validation set.
public enum CalibrationMethod: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// No calibrator: ctr-predict writes σ(margin).
    case none
    /// Platt scaling: p = σ(a·t + b) on the margin t, a and b by maximum likelihood (Newton).
    case platt
    /// Isotonic regression of the labels on σ(t) (pool-adjacent-violators), interpolated
    /// linearly between its steps and clipped outside them.
    case isotonic
}

/// A fitted post-hoc calibrator, stored in the model file as the `CALB` section
/// (docs/FORMATS.md, "Model file"). It maps a model's margin t to a probability.
public enum Calibrator: Equatable, Sendable {
    /// p = σ(a·t + b).
    case platt(a: Double, b: Double)
    /// Piecewise linear through the knots (x = σ(t), y), x strictly increasing and y
    /// non-decreasing, constant beyond the first and last knot (scikit-learn's
    /// `IsotonicRegression(out_of_bounds="clip")`).
    case isotonic(x: [Double], y: [Double])

    /// The section tag.
    public static let tag = "CALB"
    /// The most knots an isotonic calibrator keeps (more steps are thinned, evenly by knot index).
    public static let maxKnots = 4096

    public var method: CalibrationMethod {
        switch self {
        case .platt: return .platt
        case .isotonic: return .isotonic
        }
    }

    /// The calibrated probability of margin `t`.
    @inline(__always)
    public func probability(margin t: Double) -> Double {
        switch self {
        case let .platt(a, b):
            return sigmoid(a * t + b)
        case let .isotonic(x, y):
            return Calibrator.interpolate(sigmoid(t), x, y)
        }
    }

    static func interpolate(_ v: Double, _ x: [Double], _ y: [Double]) -> Double {
        let k = x.count
        if !(v > x[0]) { return y[0] }
        if v >= x[k - 1] { return y[k - 1] }
        // x[lo] < v < x[hi]
        var lo = 0, hi = k - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x[mid] <= v { lo = mid } else { hi = mid }
        }
        let f = (v - x[lo]) / (x[hi] - x[lo])
        return y[lo] + f * (y[hi] - y[lo])
    }

    // MARK: Fitting

    /// Fits a calibrator on validation margins and 0/1 labels.
    /// - Throws: `FFMError.calibrationFailed` when the validation set has one class only, or
    ///   (Platt) the logistic fit has no finite solution.
    public static func fit(_ method: CalibrationMethod, margins: [Float], labels: [UInt8], path: String) throws -> Calibrator? {
        switch method {
        case .none:
            return nil
        case .platt, .isotonic:
            let positives = labels.reduce(0) { $0 + Int($1) }
            guard positives > 0 && positives < labels.count else {
                throw FFMError.calibrationFailed(path: path, method: method.rawValue,
                                                 detail: "the validation set has \(labels.count) rows, \(positives) of them positive; expected both classes")
            }
            if method == .isotonic {
                return fitIsotonic(probabilities: margins.map { sigmoid(Double($0)) }, labels: labels.map(Double.init))
            }
            guard let (a, b) = fitPlatt(margins: margins.map(Double.init), labels: labels) else {
                throw FFMError.calibrationFailed(path: path, method: method.rawValue,
                                                 detail: "the logistic fit of the labels on the margin has no finite solution "
                                                    + "(the margins separate the classes); expected overlapping classes, or use --calibrate isotonic")
            }
            return .platt(a: a, b: b)
        }
    }

    /// Maximum-likelihood logistic regression y ~ σ(a·t + b) by Newton's method with step
    /// halving, from (1, 0); nil when it does not converge to a finite solution.
    static func fitPlatt(margins t: [Double], labels y: [UInt8]) -> (Double, Double)? {
        func loss(_ a: Double, _ b: Double) -> Double {
            var s = 0.0
            for i in 0..<t.count {
                let z = a * t[i] + b
                let m = y[i] > 0 ? z : -z
                s += m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m))
            }
            return s
        }
        var a = 1.0, b = 0.0
        var current = loss(a, b)
        var converged = false
        for _ in 0..<100 {
            var ga = 0.0, gb = 0.0, haa = 0.0, hab = 0.0, hbb = 0.0
            for i in 0..<t.count {
                let p = sigmoid(a * t[i] + b)
                let r = p - Double(y[i])
                let w = p * (1 - p)
                ga += r * t[i]
                gb += r
                haa += w * t[i] * t[i]
                hab += w * t[i]
                hbb += w
            }
            let det = haa * hbb - hab * hab
            guard det > 0, det.isFinite else { return nil }
            let da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det
            var step = 1.0
            var next = loss(a - da, b - db)
            while !(next <= current) && step > 1e-10 {
                step /= 2
                next = loss(a - step * da, b - step * db)
            }
            guard next <= current else {
                converged = true  // no descent left within rounding: at the minimum
                break
            }
            a -= step * da
            b -= step * db
            let improvement = current - next
            current = next
            if abs(step * da) <= 1e-10 * max(1, abs(a)) && abs(step * db) <= 1e-10 * max(1, abs(b)) || improvement <= 1e-14 * current {
                converged = true
                break
            }
        }
        guard converged, a.isFinite, b.isFinite, abs(a) < 1e6, abs(b) < 1e6 else { return nil }
        return (a, b)
    }

    /// Isotonic regression as scikit-learn's `IsotonicRegression(out_of_bounds="clip")`:
    /// equal x pooled (mean label), pool-adjacent-violators on the weighted points, and each
    /// block's first and last x as knots; more than `maxKnots` knots are thinned evenly.
    static func fitIsotonic(probabilities p: [Double], labels: [Double], maxKnots: Int = Calibrator.maxKnots) -> Calibrator {
        let order = p.indices.sorted { p[$0] < p[$1] }
        // Unique x with their weight and mean label.
        var xs: [Double] = [], sums: [Double] = [], weights: [Double] = []
        for i in order {
            if let last = xs.last, last == p[i] {
                sums[sums.count - 1] += labels[i]
                weights[weights.count - 1] += 1
            } else {
                xs.append(p[i])
                sums.append(labels[i])
                weights.append(1)
            }
        }
        // PAV: blocks of consecutive unique points (first index, weight, label sum).
        var blockStart: [Int] = [], blockWeight: [Double] = [], blockSum: [Double] = []
        for j in 0..<xs.count {
            blockStart.append(j)
            blockWeight.append(weights[j])
            blockSum.append(sums[j])
            while blockStart.count > 1 {
                let k = blockStart.count - 1
                guard blockSum[k - 1] / blockWeight[k - 1] >= blockSum[k] / blockWeight[k] else { break }
                blockWeight[k - 1] += blockWeight[k]
                blockSum[k - 1] += blockSum[k]
                blockStart.removeLast()
                blockWeight.removeLast()
                blockSum.removeLast()
            }
        }
        var kx: [Double] = [], ky: [Double] = []
        for k in 0..<blockStart.count {
            let first = blockStart[k], last = (k + 1 < blockStart.count ? blockStart[k + 1] : xs.count) - 1
            let v = blockSum[k] / blockWeight[k]
            kx.append(xs[first])
            ky.append(v)
            if last > first {
                kx.append(xs[last])
                ky.append(v)
            }
        }
        if kx.count > maxKnots {
            let keep = (0..<maxKnots).map { Int((Double($0) * Double(kx.count - 1) / Double(maxKnots - 1)).rounded()) }
            kx = keep.map { kx[$0] }
            ky = keep.map { ky[$0] }
        }
        return .isotonic(x: kx, y: ky)
    }

    // MARK: The CALB section

    /// Layout (little-endian): method UInt32 (1 Platt, 2 isotonic), count K UInt32 (Platt: 2);
    /// Platt: a, b (Float64); isotonic: K knot x (Float64), then K knot y (Float64).
    public var section: ModelSection {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func put(_ d: Double) { put(d.bitPattern) }
        switch self {
        case let .platt(a, b):
            put(UInt32(1))
            put(UInt32(2))
            put(a)
            put(b)
        case let .isotonic(x, y):
            put(UInt32(2))
            put(UInt32(x.count))
            x.forEach(put)
            y.forEach(put)
        }
        return ModelSection(tag: Calibrator.tag, bytes: out)
    }

    /// Reads and checks a `CALB` payload.
    /// - Throws: `FFMError.corruptModel` naming what was found and expected.
    public init(section bytes: [UInt8], path: String) throws {
        func fail(_ s: String) -> FFMError { .corruptModel(path: path, detail: "section CALB: " + s) }
        func u32(_ at: Int) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) } }
        func f64(_ at: Int) -> Double { bytes.withUnsafeBytes { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self))) } }
        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes; expected at least 8 (method and count)") }
        let method = u32(0), count = Int(u32(4))
        switch method {
        case 1:
            guard count == 2, bytes.count == 24 else { throw fail("Platt calibrator with count \(count) and \(bytes.count) bytes; expected 2 and 24") }
            let a = f64(8), b = f64(16)
            guard a.isFinite, b.isFinite else { throw fail("Platt coefficients \(a), \(b); expected finite numbers") }
            self = .platt(a: a, b: b)
        case 2:
            guard count >= 1, count <= Calibrator.maxKnots else { throw fail("isotonic calibrator with \(count) knots; expected 1...\(Calibrator.maxKnots)") }
            guard bytes.count == 8 + 16 * count else { throw fail("\(bytes.count) bytes for \(count) knots; expected \(8 + 16 * count)") }
            let x = (0..<count).map { f64(8 + 8 * $0) }, y = (0..<count).map { f64(8 + 8 * count + 8 * $0) }
            for i in 0..<count {
                guard x[i].isFinite, y[i] >= 0, y[i] <= 1 else { throw fail("knot \(i) is (\(x[i]), \(y[i])); expected a finite x and y in [0, 1]") }
                if i > 0 {
                    guard x[i] > x[i - 1], y[i] >= y[i - 1] else {
                        throw fail("knot \(i) (\(x[i]), \(y[i])) after (\(x[i - 1]), \(y[i - 1])); expected x increasing and y non-decreasing")
                    }
                }
            }
            self = .isotonic(x: x, y: y)
        default:
            throw fail("method \(method); expected 1 (Platt) or 2 (isotonic)")
        }
    }

    /// The calibrator a model file carries, if any.
    public static func from(_ metadata: ModelMetadata, path: String) throws -> Calibrator? {
        try metadata.section(tag).map { try Calibrator(section: $0, path: path) }
    }

    /// One line for `--dump` and notes.
    public var summary: String {
        switch self {
        case let .platt(a, b): return "platt: p = σ(\(a) · t + \(b))"
        case let .isotonic(x, _): return "isotonic: \(x.count) knots on σ(t) from \(x.first!) to \(x.last!)"
        }
    }
}

extension TrainStage {
    /// Scores the validation set with the kept model, fits `params.calibrate` on it and
    /// puts the calibrator into the model's sections (replacing an earlier one).
    static func attachCalibrator(_ params: TrainParams, model: FFMModel, metadata: inout ModelMetadata, valid: CacheReader,
                                 path: String, reporter: Reporter) throws {
        let engine = Engine(model: model, threads: params.threads, eta: 0, lambda: 0)
        let (margins, labels) = try engine.scores(valid, blockBytes: params.blockMb << 20)
        guard let calibrator = try Calibrator.fit(params.calibrate, margins: margins, labels: labels, path: path) else { return }
        metadata.sections.removeAll { $0.tag == Calibrator.tag }
        metadata.sections.append(calibrator.section)
        var before = 0.0, after = 0.0
        for i in 0..<margins.count {
            let t = Double(margins[i]), y = labels[i] > 0
            before += logLoss(score: t, label: Float(labels[i]))
            let q = min(max(calibrator.probability(margin: t), Double.ulpOfOne), 1 - Double.ulpOfOne / 2)
            after -= log(y ? q : 1 - q)
        }
        let n = Double(max(margins.count, 1))
        reporter.note(String(format: "calibrator %@ fitted on %d validation rows: validation log loss %.5f -> %.5f (in-sample)",
                             calibrator.summary, margins.count, before / n, after / n))
    }
}
