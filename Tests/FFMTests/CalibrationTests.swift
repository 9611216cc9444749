import Foundation
import Testing
import Dataset
import LogIO
import StageKit
import TestSupport
@testable import FFM

@Suite struct CalibrationTests {
    var margins: [Float] { CalibrationOracle.codes.map { Float($0) / 256 } }

    @Test func plattMatchesScikitLearnsLogisticFit() throws {
        let c = try #require(try Calibrator.fit(.platt, margins: margins, labels: CalibrationOracle.labels, path: "v"))
        guard case let .platt(a, b) = c else { Issue.record("not Platt"); return }
        #expect(abs(a - CalibrationOracle.plattA) < 1e-7)
        #expect(abs(b - CalibrationOracle.plattB) < 1e-7)
        // Applied: σ(a t + b).
        #expect(abs(c.probability(margin: 1.5) - 1 / (1 + exp(-(a * 1.5 + b)))) < 1e-15)
    }

    @Test func isotonicMatchesScikitLearnsIsotonicRegression() throws {
        let c = try #require(try Calibrator.fit(.isotonic, margins: margins, labels: CalibrationOracle.labels, path: "v"))
        guard case let .isotonic(x, y) = c else { Issue.record("not isotonic"); return }
        #expect(x.count == CalibrationOracle.isotonicKnotsX.count)
        for (u, v) in zip(x, CalibrationOracle.isotonicKnotsX) { #expect(abs(u - v) < 1e-12) }
        for (u, v) in zip(y, CalibrationOracle.isotonicKnotsY) { #expect(abs(u - v) < 1e-12) }
        for (q, expected) in zip(CalibrationOracle.queries, CalibrationOracle.isotonicAtQueries) {
            #expect(abs(c.probability(margin: q) - expected) < 1e-9, "at t = \(q)")
        }
    }

    @Test func isotonicStepsAreBoundedAndStayMonotone() {
        // Labels increasing with p: every point its own step.
        let p = (0..<50).map { Double($0) / 50 }, y = (0..<50).map { Double($0) / 49 }
        guard case let .isotonic(x, v) = Calibrator.fitIsotonic(probabilities: p, labels: y, maxKnots: 8) else { return }
        #expect(x.count == 8 && x.first == 0 && x.last == 0.98)
        #expect(zip(x, x.dropFirst()).allSatisfy { $0 < $1 } && zip(v, v.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func oneClassOrSeparableDataIsAClearError() {
        #expect(throws: FFMError.self) { try Calibrator.fit(.platt, margins: [0, 1, 2], labels: [1, 1, 1], path: "v") }
        do {
            _ = try Calibrator.fit(.platt, margins: [-2, -1, 1, 2], labels: [0, 0, 1, 1], path: "v.ffm")
            Issue.record("separable data fitted")
        } catch let e as FFMError {
            #expect(e.description.hasPrefix("v.ffm: cannot fit the --calibrate platt calibrator on this validation set: "))
            #expect(e.description.contains("no finite solution"))
        } catch { Issue.record("\(error)") }
        #expect((try? Calibrator.fit(.none, margins: [0], labels: [1], path: "v")) == .some(nil))
    }

    @Test func sectionRoundTripsAndDamageIsRefused() throws {
        for c in [Calibrator.platt(a: 0.75, b: -1.25), .isotonic(x: [0.1, 0.2, 0.5], y: [0, 0.3, 0.3])] {
            #expect(try Calibrator(section: c.section.bytes, path: "m") == c)
            #expect(c.section.tag == "CALB")
        }
        let iso = Calibrator.isotonic(x: [0.1, 0.2], y: [0.4, 0.3]).section.bytes
        #expect(throws: FFMError.corruptModel(path: "m", detail: "section CALB: knot 1 (0.2, 0.3) after (0.1, 0.4); expected x increasing and y non-decreasing")) {
            try Calibrator(section: iso, path: "m")
        }
        #expect(throws: FFMError.corruptModel(path: "m", detail: "section CALB: method 7; expected 1 (Platt) or 2 (isotonic)")) {
            try Calibrator(section: [7, 0, 0, 0, 2, 0, 0, 0], path: "m")
        }
        #expect(throws: FFMError.self) { try Calibrator(section: [1, 0, 0], path: "m") }
        #expect(throws: FFMError.self) { try Calibrator(section: Array(Calibrator.platt(a: .nan, b: 0).section.bytes), path: "m") }
    }

    @Test func outputOrderIsCalibratorThenDownsamplingCorrection() {
        let c = Calibrator.platt(a: 0.5, b: -1)
        let out = PredictionOutput(calibrator: c, negKeepRate: 0.25, rawScore: false)
        let t = 0.8
        let p = 1 / (1 + exp(-(0.5 * t - 1)))
        #expect(abs(out.prediction(margin: t) - p / (p + (1 - p) / 0.25)) < 1e-15)
        #expect(PredictionOutput(calibrator: c, negKeepRate: 0.25, rawScore: true).written(margin: t) == t)
        #expect(PredictionOutput().written(margin: t) == sigmoid(t))
    }

    @Test(arguments: [CalibrationMethod.platt, .isotonic], [ModelKind.ffm, .fm, .lr])
    func trainStoresTheCalibratorAndPredictAppliesIt(method: CalibrationMethod, kind: ModelKind) throws {
        let problem = try Problem(rows: 800, validRows: 300)
        let model = problem.path("m-\(method)-\(kind)")
        _ = try TrainStage.run(params: quietParams {
            $0.epochs = 3; $0.model = kind; $0.calibrate = method; $0.patience = method == .platt ? 2 : 0
            $0.validation = problem.valid; $0.output = model
        }, trainingSet: problem.train)
        let (_, meta) = try ModelFile.load(model)
        let calibrator = try #require(try Calibrator.from(meta, path: model))
        #expect(calibrator.method == method)

        func predict(_ edit: (inout PredictParams) -> Void) throws -> [Double] {
            var params = PredictParams.defaults
            edit(&params)
            let out = problem.path("p")
            _ = try PredictStage.run(params: params, input: problem.valid, model: model, output: out, log: { _ in })
            return try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map { Double($0)! }
        }
        let raw = try predict { $0.rawScore = true }
        let plain = try predict { $0.uncalibrated = true }
        let calibrated = try predict { _ in }
        let corrected = try predict { $0.negKeepRate = 0.5 }
        #expect(raw.count == 300 && calibrated.count == 300)
        for i in 0..<raw.count {
            #expect(abs(plain[i] - sigmoid(raw[i])) < 1e-6)
            let q = calibrator.probability(margin: Double(Float(raw[i])))
            #expect(abs(calibrated[i] - q) < 1e-6)
            #expect(abs(corrected[i] - correctForNegativeDownsampling(q, keepRate: 0.5)) < 1e-6)
        }
        // Fitted on these rows, the calibrator cannot make their log loss worse by much.
        func loss(_ p: [Double]) throws -> Double {
            let labels = try String(contentsOfFile: problem.valid, encoding: .utf8).split(separator: "\n").map { $0.hasPrefix("1") }
            return zip(p, labels).map { -log(max(1e-15, $1 ? $0 : 1 - $0)) }.reduce(0, +) / Double(p.count)
        }
        #expect(try loss(calibrated) <= loss(plain) + 1e-3)
    }

    @Test func calibrationNeedsAValidationSet() {
        var params = TrainParams.defaults
        params.calibrate = .isotonic
        #expect(params.inputProblems(hasValidation: false) == [ParamProblem("calibrate", "calibration is fitted on the validation set; give one")])
        #expect(params.inputProblems(hasValidation: true).isEmpty)
    }
}
