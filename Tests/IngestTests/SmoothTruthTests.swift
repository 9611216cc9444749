import Foundation
import Testing
import LogIO
@testable import Synth

/// ctr-synth --truth smooth: integer fields act through smooth curves of ln(1 + v).
struct SmoothTruthTests {
    func generate(_ truth: PlantedTruth, rows: Int = 3000, seed: UInt64 = 6, in w: Workspace) throws -> ([[Substring]], [Double], SynthSummary) {
        var p = SynthParams.defaults
        p.rows = rows
        p.seed = seed
        p.truth = truth
        let path = w.url.appendingPathComponent("\(truth.rawValue)-\(seed).tsv").path
        let probabilities = path + ".p"
        let summary = try Synth.run(params: p, output: path, probabilities: probabilities)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        let p1 = try String(contentsOfFile: probabilities, encoding: .utf8).split(separator: "\n").map { Double($0)! }
        return (lines, p1, summary)
    }

    @Test func sameValuesOtherLabelsAndDeterministic() throws {
        let w = try Workspace()
        let (ffm, pf, _) = try generate(.ffm, in: w)
        let (smooth, ps, summary) = try generate(.smooth, in: w)
        let (again, pa, _) = try generate(.smooth, in: w)
        #expect(smooth.map { $0.dropFirst() } == again.map { $0.dropFirst() } && ps == pa)
        // The values are drawn from the same stream; only the truth (and so the labels) differ.
        #expect(ffm.map { $0.dropFirst() } == smooth.map { $0.dropFirst() })
        #expect(zip(pf, ps).filter { abs($0 - $1) > 1e-3 }.count > 1000)
        // Still calibrated to the click rate, and learnable.
        #expect(abs(Double(summary.clicks) / 3000 - 0.2) < 0.03)
        #expect(summary.bayesLogLoss < 0.9 * summary.constantLogLoss)
    }

    @Test func effectsAreSmoothInLogVAndIgnoreBucketBoundaries() {
        var model = PlantedModel(seed: 4, fields: Generator.criteoFields().0, interacting: Generator.criteoFields().1,
                                 interactionScale: 0.4)
        model.makeSmooth()
        let n = model.fieldCount
        var keys = [Int64](repeating: 1, count: n)
        func score(_ v: Int64?) -> Double {
            var xs = [Double](repeating: .nan, count: n)
            if let v {
                xs[0] = log1p(Double(v))
                keys[0] = v > 2 ? Int64(floor(log(Double(v)) * log(Double(v)))) : v
            }
            return keys.withUnsafeBufferPointer { k in xs.withUnsafeBufferPointer { model.score(k, smooth: $0) } }
        }
        // 100 and 105 share the bucket floor(ln(v)^2) = 21: the ffm truth cannot tell them apart,
        // the smooth one does; neighbouring values differ little (a smooth curve).
        #expect(score(100) != score(105))
        let ffm = PlantedModel(seed: 4, fields: Generator.criteoFields().0, interacting: Generator.criteoFields().1, interactionScale: 0.4)
        keys[0] = 21
        let a = keys.withUnsafeBufferPointer { ffm.score($0) }
        #expect(keys.withUnsafeBufferPointer { ffm.score($0) } == a)
        var range = (Double.infinity, -Double.infinity)
        for v in Int64(0)..<100_000 where v % 97 == 0 {
            let s = score(v)
            range = (min(range.0, s), max(range.1, s))
        }
        // Steps between neighbours (dx = ln((v + 1) / v) ≤ 0.02 from v = 50) are small next to the range.
        var largestStep = 0.0
        for v in Int64(50)..<5000 { largestStep = max(largestStep, abs(score(v + 1) - score(v))) }
        #expect(largestStep < 0.05 * (range.1 - range.0), "step \(largestStep), range \(range)")
        #expect(range.1 - range.0 > 0.2, "the curve varies")
    }
}
