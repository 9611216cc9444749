import Foundation
import Testing
import LogIO
@testable import Metrics

/// Expected reliability bin (non-empty bins only, as scikit-learn's calibration_curve).
struct OracleBin {
    let rows: Int
    let meanPrediction: Double
    let observedRate: Double
    let ciLower: Double
    let ciUpper: Double
}

/// Values computed by oracle.py; nil where the metric is undefined.
struct OracleExpected {
    let rows: Int
    let positives: Int
    let auc: Double?
    let logloss: Double
    let ne: Double?
    let calibration: Double?
    let prAUC: Double?
    let brier: Double
    let clickRate: Double
    let meanPrediction: Double
    let aucSE: Double?
    let aucLower: Double?
    let aucUpper: Double?
    let slope: Double?
    let intercept: Double?
    let ece: Double
    let mce: Double
    let bins: [OracleBin]
}

enum OracleModel { case a, b }

enum OracleInput {
    case inline(predictions: [Double], labels: [UInt8], weights: [Double]?)
    case generated(seed: UInt64, count: Int, model: OracleModel, weighted: Bool)

    /// The case's rows: inline values, or regenerated exactly as oracle.py draws them.
    var rows: (predictions: [Double], labels: [UInt8], weights: [Double]?) {
        switch self {
        case let .inline(p, y, w):
            return (p, y, w)
        case let .generated(seed, count, model, weighted):
            let data = OracleGenerator.make(seed: seed, count: count)
            return (model == .a ? data.a : data.b, data.labels, weighted ? data.weights : nil)
        }
    }
}

struct OracleCase: CustomTestStringConvertible {
    let name: String
    let input: OracleInput
    let bins: Int
    let strategy: BinStrategy
    let expected: OracleExpected
    var negKeepRate: Double? = nil

    var testDescription: String { name }
}

struct OracleComparison {
    let deltaAUC: Double
    let deltaLogloss: Double
    let z: Double
    let p: Double
}

/// SplitMix64 and the draws of oracle.py's `generate`, bit for bit (only +, −, ×, ÷, floor).
enum OracleGenerator {

    static func make(seed: UInt64, count: Int)
        -> (a: [Double], b: [Double], labels: [UInt8], weights: [Double], segments: [String]) {
        var rng = SplitMix64(seed: seed)
        var a: [Double] = [], b: [Double] = [], y: [UInt8] = [], w: [Double] = [], s: [String] = []
        for _ in 0..<count {
            let u = (0..<7).map { _ in rng.nextUnitDouble() }
            let t = u[0] * u[0] * 0.4
            y.append(u[1] < t ? 1 : 0)
            var p = (t * (0.7 + 0.6 * u[2]) * 1000).rounded(.down) / 1000
            if u[3] < 0.01 { p = 0 } else if u[3] > 0.995 { p = 1 }
            a.append(p)
            b.append(((t * 0.5 + u[4] * 0.1) * 100000).rounded(.down) / 100000)
            s.append("s\(Int((u[5] * 40).rounded(.down)))")
            w.append(((0.25 + 2 * u[6]) * 100).rounded(.down) / 100)
        }
        return (a, b, y, w, s)
    }
}

/// Writes lines to a file in `directory` and returns its path.
func writeLines<T>(_ values: [T], _ name: String, in directory: URL) throws -> String {
    let url = directory.appendingPathComponent(name)
    try (values.map { "\($0)" }.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

func close(_ actual: Double?, _ expected: Double?, relative: Double = 1e-9, absolute: Double = 1e-12) -> Bool {
    switch (actual, expected) {
    case (nil, nil): return true
    case let (a?, e?): return abs(a - e) <= max(absolute, relative * abs(e))
    default: return false
    }
}
