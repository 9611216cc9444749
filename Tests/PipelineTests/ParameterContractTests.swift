import ArgumentParser
import Featurize
import FFM
import Ingest
import Metrics
import StageKit
import Testing
@testable import Pipeline

/// Every real stage's parameters, through the one contract: negative numbers are values
/// (then out of range, naming the option and its range), and the pipeline's view of each
/// kind is exactly its declarations.
@Suite struct ParameterContractTests {
    /// Every bounded numeric option refuses -1e6 with its flag and its allowed range.
    func negativesNameTheOptionAndRange<P: StageParameters>(_ type: P.Type) -> Int {
        var checked = 0
        for spec in P.specs where !spec.isFlag {
            guard let bounds = spec.bounds, !bounds.contains(-1e6) else { continue }
            do {
                _ = try P.parse([spec.flag, "-1000000"])
                Issue.record("\(P.self): \(spec.flag) -1000000 was accepted")
            } catch {
                let message = P.message(for: error)
                #expect(message.contains(spec.flags + ": found -1000000"), "\(message)")
                #expect(message.contains("expected"), "\(message)")
            }
            checked += 1
        }
        return checked
    }

    @Test func everyNumericOptionTakesANegativeValueAndRefusesIt() {
        #expect(negativesNameTheOptionAndRange(IngestParams.self) == 4)
        #expect(negativesNameTheOptionAndRange(HashParams.self) == 8)  // --knots added (#15), --resident-mb (#18)
        #expect(negativesNameTheOptionAndRange(TrainParams.self) == 15)  // 7 + dropout, batch, netEta, weightDecay (#14) + syncRows, rankMomentum (#11) + degree, residentMb (#13)
        #expect(negativesNameTheOptionAndRange(PredictParams.self) == 2)
        #expect(negativesNameTheOptionAndRange(EvalParams.self) == 3)
    }

    @Test func eachKindsParametersAreItsDeclarations() {
        let registry = StageRegistry.standard
        #expect(registry["ingest"]!.parameterKeys == IngestParams.specs.map(\.key))
        #expect(registry["hash"]!.parameterKeys == HashParams.specs.map(\.key))
        #expect(registry["train"]!.parameterKeys == TrainParams.specs.map(\.key))
        #expect(registry["predict"]!.parameterKeys == PredictParams.specs.map(\.key))
        #expect(registry["eval"]!.parameterKeys == EvalParams.specs.map(\.key))
        #expect(registry["train"]!.defaults["factors"] == .int(4))
        #expect(registry["train"]!.specs.first { $0.key == "factors" }?.bounds == .closed(1, 4096))
    }
}
