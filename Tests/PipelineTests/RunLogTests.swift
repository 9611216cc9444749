import Foundation
import StageKit
import Testing
@testable import Pipeline

/// The run's log: aligned stage prefixes, whole lines, no interleaving with `--jobs`;
/// models named after their train stage and kind.
@Suite struct RunLogTests {
    /// Collects what the sink is given; deliberately unsynchronised: RunLog's lock must
    /// serialise the calls.
    final class Sink: @unchecked Sendable {
        var writes: [String] = []
        var lines: [String] { writes.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) } }
    }

    @Test func prefixesArePaddedToTheLongestStageName() {
        let sink = Sink()
        let log = RunLog(stageNames: ["train", "ingest", "eval"]) { sink.writes.append($0) }
        #expect(log.prefix("train") == "[train ] ")
        #expect(log.prefix("ingest") == "[ingest] ")
        log.stage("eval", "\nmetric  a\nauc     0.7")
        // One write for the whole note; an empty line keeps the prefix without trailing spaces.
        #expect(sink.writes == ["[eval  ]\n[eval  ] metric  a\n[eval  ] auc     0.7"])
        log.write("warning: x")
        #expect(sink.writes.last == "warning: x")
    }

    @Test func concurrentStagesNeverInterleaveWithinALine() {
        let sink = Sink()
        let names = ["a", "bb", "cccccc", "train@k=8"]
        let log = RunLog(stageNames: names) { sink.writes.append($0) }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<300 { log.stage(names[t], "line \(i) of \(names[t])\nsecond \(i) of \(names[t])") }
        }
        #expect(sink.writes.count == 1200)
        let lines = sink.lines
        #expect(lines.count == 2400)
        for line in lines {
            // `[` + name padded to 9 + `] `, then the text of that same stage.
            let name = String(line.dropFirst().prefix(9)).trimmingCharacters(in: .whitespaces)
            #expect(line.count > 12 && line.dropFirst(10).hasPrefix("] ") && line.hasSuffix(" of \(name)"), "\(line)")
        }
        // Each note's two lines stay together.
        for w in sink.writes {
            let parts = w.split(separator: "\n")
            #expect(parts.count == 2 && parts[0].dropFirst(12).hasPrefix("line ") && parts[1].dropFirst(12).hasPrefix("second "))
        }
    }

    @Test func theRunnerPrefixesEveryStageLine() throws {
        let s = try Scratch()
        let sink = Sink()
        let report = try s.run(chainPipeline) {
            $0.quiet = false
            $0.jobs = 3
            $0.log = { sink.writes.append($0) }
        }
        #expect(report.succeeded)
        let lines = sink.lines
        #expect(lines.contains { $0.hasPrefix("[join ] running: ") })
        #expect(lines.contains { $0.hasPrefix("[model] done in ") })
        #expect(lines.contains { $0.hasPrefix("[other] running: ") })
        #expect(lines.allSatisfy { $0.hasPrefix("[join ] ") || $0.hasPrefix("[model] ") || $0.hasPrefix("[score] ") || $0.hasPrefix("[other] ") },
                "\(lines)")
    }

    @Test func modelsAreNamedAfterTheirTrainStageAndKind() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let pipeline = try PipelineLoader(registry: .standard).load(file: root.appendingPathComponent("Pipelines/criteo-sweep.json").path,
                                                                    overrides: ["train.model=fm"])
        let predicts = pipeline.stages.filter { $0.kind.name == "predict" }
        #expect(predicts.count == 6)
        for p in predicts {
            let train = try #require(p.inputs.first { $0.slot == "model" }?.items.first?.stage)
            #expect(train.hasPrefix("train@"))
            #expect(pipeline.modelLabel(of: p.name) == "\(train) (fm)")
            #expect(pipeline.modelLabel(of: train) == "\(train) (fm)")
        }
        #expect(pipeline.modelLabel(of: "hash") == nil)
        #expect(pipeline.modelLabel(of: "no such stage") == nil)

        // Two predict stages scoring with one model are told apart; models from files keep the stage's name.
        let names = EvalKind.modelNames([StageInput(path: "/a", stage: "predictValid", model: "train (ffm)"),
                                         StageInput(path: "/b", stage: "predictTest", model: "train (ffm)"),
                                         StageInput(path: "/c", stage: "predictOld")])
        #expect(names == ["train (ffm) via predictValid", "train (ffm) via predictTest", "predictOld"])
    }
}
