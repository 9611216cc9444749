import Foundation
import Testing
import TestSupport
@testable import Metrics

/// Every metric against scikit-learn / statsmodels / scipy (oracle.py), through the same
/// path the command takes: text files in, EvalStage out.
@Suite struct OracleTests {
    @Test(arguments: oracleCases)
    func matchesOracle(_ c: OracleCase) throws {
        let dir = try TestSupport.makeTemporaryDirectory("eval-oracle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = c.input.rows
        var params = EvalParams.defaults
        params.bins = c.bins
        params.strategy = c.strategy
        params.negKeepRate = c.negKeepRate
        let inputs = EvalInputs(predictions: [try writeLines(rows.predictions, "p.txt", in: dir)],
                                labels: try writeLines(rows.labels, "y.txt", in: dir),
                                weights: try rows.weights.map { try writeLines($0, "w.txt", in: dir) })
        let report = try EvalStage.evaluate(params: params, inputs: inputs)
        let m = report.models[0].metrics
        let e = c.expected
        #expect(m.rows == e.rows)
        #expect(m.positives == e.positives)
        #expect(close(m.auc, e.auc, relative: 0, absolute: 1e-9), "auc \(String(describing: m.auc)) vs \(String(describing: e.auc))")
        #expect(close(m.logloss, e.logloss), "logloss \(m.logloss) vs \(e.logloss)")
        #expect(close(m.ne, e.ne), "ne")
        #expect(close(m.rig, e.ne.map { 1 - $0 }), "rig")
        #expect(close(m.calibration, e.calibration), "calibration")
        #expect(close(m.prAUC, e.prAUC), "pr_auc \(String(describing: m.prAUC)) vs \(String(describing: e.prAUC))")
        #expect(close(m.brier, e.brier), "brier \(m.brier) vs \(e.brier)")
        #expect(close(m.clickRate, e.clickRate), "click rate")
        #expect(close(m.meanPrediction, e.meanPrediction), "mean prediction")
        #expect(close(m.aucInterval?.standardError, e.aucSE), "DeLong se \(String(describing: m.aucInterval)) vs \(String(describing: e.aucSE))")
        #expect(close(m.aucInterval?.lower, e.aucLower), "auc ci lower")
        #expect(close(m.aucInterval?.upper, e.aucUpper), "auc ci upper")
        // Two independent maximum-likelihood solvers (Newton here, IRLS in statsmodels).
        #expect(close(m.calibrationSlope, e.slope, relative: 1e-9, absolute: 1e-12), "slope \(String(describing: m.calibrationSlope)) vs \(String(describing: e.slope))")
        #expect(close(m.calibrationIntercept, e.intercept, relative: 1e-9, absolute: 1e-12), "intercept \(String(describing: m.calibrationIntercept)) vs \(String(describing: e.intercept))")
        let r = try #require(m.reliability)
        #expect(close(r.ece, e.ece), "ece \(r.ece) vs \(e.ece)")
        #expect(close(r.mce, e.mce), "mce")
        #expect(r.bins.count == e.bins.count)
        for (b, x) in zip(r.bins, e.bins) {
            #expect(b.rows == x.rows)
            #expect(close(b.meanPrediction, x.meanPrediction), "bin mean \(b.meanPrediction) vs \(x.meanPrediction)")
            #expect(close(b.observedRate, x.observedRate), "bin rate")
            #expect(close(b.intervalLower, x.ciLower), "wilson lower \(b.intervalLower) vs \(x.ciLower)")
            #expect(close(b.intervalUpper, x.ciUpper), "wilson upper")
        }
        // One class only: AUC and PR-AUC are null with a warning, the rest is computed.
        if e.auc == nil {
            #expect(report.warnings.contains { $0.contains("one class only") })
        } else {
            #expect(!report.warnings.contains { $0.contains("one class only") })
        }
    }

    @Test func delongComparisonMatchesOracle() throws {
        let dir = try TestSupport.makeTemporaryDirectory("eval-compare")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = OracleGenerator.make(seed: 20240601, count: 10000)
        let inputs = EvalInputs(predictions: [try writeLines(data.a, "a.txt", in: dir), try writeLines(data.b, "b.txt", in: dir)],
                                labels: try writeLines(data.labels, "y.txt", in: dir))
        var params = EvalParams.defaults
        params.modelName = ["A", "B"]
        let report = try EvalStage.evaluate(params: params, inputs: inputs)
        #expect(report.models.map(\.name) == ["A", "B"])
        #expect(report.models[0].comparison == nil)
        let c = try #require(report.models[1].comparison)
        #expect(c.baseline == "A")
        #expect(close(c.deltaAUC, oracleComparison.deltaAUC, relative: 0, absolute: 1e-9))
        #expect(close(c.deltaLogloss, oracleComparison.deltaLogloss))
        #expect(close(c.z, oracleComparison.z, relative: 1e-8), "z \(String(describing: c.z)) vs \(oracleComparison.z)")
        #expect(close(c.pValue, oracleComparison.p, relative: 1e-8), "p \(String(describing: c.pValue)) vs \(oracleComparison.p)")
        // Each model's own metrics are the single-model ones.
        let single = oracleCases.first { $0.name == "random-10k-model-b" }!.expected
        #expect(close(report.models[1].metrics.auc, single.auc, relative: 0, absolute: 1e-9))
        #expect(close(report.models[1].metrics.aucInterval?.standardError, single.aucSE))
    }

    @Test func segmentsAndGAUCMatchOracle() throws {
        let dir = try TestSupport.makeTemporaryDirectory("eval-segments")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = OracleGenerator.make(seed: 20240601, count: 10000)
        let inputs = EvalInputs(predictions: [try writeLines(data.a, "a.txt", in: dir)],
                                labels: try writeLines(data.labels, "y.txt", in: dir),
                                groupBy: try writeLines(data.segments, "g.txt", in: dir))
        let report = try EvalStage.evaluate(params: EvalParams.defaults, inputs: inputs)
        let s = try #require(report.models[0].segments)
        #expect(s.segments.count == oracleSegments.count)
        #expect(close(s.gauc, oracleGAUC, relative: 0, absolute: 1e-9), "gauc \(String(describing: s.gauc)) vs \(oracleGAUC)")
        for seg in s.segments {
            let e = try #require(oracleSegments[seg.key])
            #expect(seg.rows == e.rows)
            #expect(close(seg.auc, e.auc, relative: 0, absolute: 1e-9), "segment \(seg.key) auc")
            #expect(close(seg.logloss, e.logloss), "segment \(seg.key) logloss")
        }
        // Largest segments first.
        #expect(zip(s.segments, s.segments.dropFirst()).allSatisfy { $0.rows >= $1.rows })
        // Global metrics are unchanged by grouping.
        let single = oracleCases.first { $0.name == "random-10k" }!.expected
        #expect(close(report.models[0].metrics.auc, single.auc, relative: 0, absolute: 1e-9))
    }

    @Test func weightedGAUCMatchesOracle() throws {
        let dir = try TestSupport.makeTemporaryDirectory("eval-segments-w")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = OracleGenerator.make(seed: 777, count: 3000)
        let inputs = EvalInputs(predictions: [try writeLines(data.a, "a.txt", in: dir)],
                                labels: try writeLines(data.labels, "y.txt", in: dir),
                                groupBy: try writeLines(data.segments, "g.txt", in: dir),
                                weights: try writeLines(data.weights, "w.txt", in: dir))
        let report = try EvalStage.evaluate(params: EvalParams.defaults, inputs: inputs)
        #expect(close(report.models[0].segments?.gauc, oracleWeightedGAUC, relative: 0, absolute: 1e-9))
        let single = oracleCases.first { $0.name == "random-3k-weighted" }!.expected
        #expect(close(report.models[0].metrics.auc, single.auc, relative: 0, absolute: 1e-9))
    }
}
