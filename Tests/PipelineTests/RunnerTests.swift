import Foundation
import StageKit
import Testing
@testable import Pipeline

/// The runner with fake stages: skipping, reasons, overrides, selections, resume.
@Suite struct RunnerTests {
    func statuses(_ report: RunReport) -> [String: StageStatus] {
        Dictionary(uniqueKeysWithValues: report.stages.map { ($0.name, $0.status) })
    }

    func plannedReasons(_ plan: [StageReport]) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: plan.map { ($0.name, $0.reasons) })
    }

    @Test func firstRunRunsEverythingAndAnUnchangedRerunSkipsEverything() throws {
        let s = try Scratch()
        let first = try s.run(chainPipeline)
        #expect(first.succeeded)
        #expect(s.log.runs == ["join", "model", "score", "other"])
        #expect(first.stages.allSatisfy { $0.status == .ran })
        #expect(first.stage("join")!.reasons == ["first run (no record in the lock file)"])
        #expect(try readText(s.path("work/join/out.txt")) == "alpha\nbeta\n!")
        #expect(try readText(s.path("work/other/out.txt")) == "one\ntwo\nten\n")
        let metrics = first.stage("score")!.metrics
        #expect(metrics.count == 1 && metrics[0].model == "model")

        s.log.reset()
        let second = try s.run(chainPipeline)
        #expect(s.log.runs == [])
        #expect(second.stages.allSatisfy { $0.status == .skipped })
        // A skipped eval still reports the metrics of the run that made its outputs.
        #expect(second.stage("score")!.metrics == metrics)
        #expect(second.stage("score")!.outputs == first.stage("score")!.outputs)

        let plan = try s.plan(chainPipeline)
        #expect(plan.allSatisfy { $0.status == .upToDate })
        #expect(RunSummary.plan(plan).hasSuffix("Nothing to do: every stage is up to date."))
    }

    @Test func manifestAndLockFileRecordTheRun() throws {
        let s = try Scratch()
        let report = try s.run(chainPipeline, overrides: ["model.k=6"])
        #expect(report.manifestPath == s.path("work/manifest.json"))
        let manifest = try JSONDecoder().decode(RunManifest.self, from: Data(contentsOf: URL(fileURLWithPath: s.path("work/manifest.json"))))
        #expect(manifest.pipeline == "chain")
        #expect(manifest.status == "succeeded")
        #expect(manifest.toolVersion == SwiftCTRVersion.current)
        #expect(manifest.overrides == ["model.k=6"])
        #expect(manifest.config["model"]!.params["k"] == .int(6))
        #expect(manifest.config["model"]!.params["lambda"] == .double(0.00002))
        #expect(manifest.config["model"]!.inputs["train"] == [s.path("work/join/out.txt")])
        #expect(manifest.stages.map(\.status) == [.ran, .ran, .ran, .ran])
        #expect(manifest.stages[1].inputs[0].hash == manifest.stages[0].outputs[0].hash)
        #expect(manifest.metrics.count == 1 && manifest.metrics[0].stage == "score")
        #expect(manifest.stages[0].outputs[0].hash == (try ContentHasher.hashFile(s.path("work/join/out.txt"))))

        let lock = LockFile.load(workdir: s.path("work"), pipeline: "chain") { _ in Issue.record("unexpected warning") }
        #expect(Set(lock.stages.keys) == ["join", "model", "score", "other"])
        #expect(lock.stages["model"]!.params["k"] == .int(6))
        #expect(lock.files[s.path("data/a.txt")] != nil)
    }

    @Test func planSaysWhyEachStageWouldRun() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)

        var reasons = plannedReasons(try s.plan(chainPipeline, overrides: ["model.k=8"]))
        #expect(reasons["join"] == [])
        #expect(reasons["model"] == ["changed parameter: k 4 -> 8"])
        #expect(reasons["score"] == ["upstream model will run"])
        #expect(reasons["other"] == [])

        try s.write("data/a.txt", "ALPHA\n")
        try FileManager.default.removeItem(atPath: s.path("work/model/log.txt"))
        reasons = plannedReasons(try s.plan(chainPipeline))
        #expect(reasons["join"] == ["changed input: files \(s.path("data/a.txt"))"])
        #expect(reasons["model"]!.contains("missing output: log (\(s.path("work/model/log.txt")))"))

        reasons = plannedReasons(try s.plan(chainPipeline) { $0.toolVersion = "9.9.9" })
        #expect(reasons["other"] == ["new tool version: \(SwiftCTRVersion.current) -> 9.9.9"])

        try s.write("work/other/out.txt", "edited by hand")
        reasons = plannedReasons(try s.plan(chainPipeline))
        #expect(reasons["other"] == ["output changed since it was written: out (\(s.path("work/other/out.txt")))"])
    }

    @Test func changesRerunOnlyWhatTheyAffect() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)

        // A parameter: that stage and, since its output changes, its consumer.
        s.log.reset()
        var report = try s.run(chainPipeline, overrides: ["model.k=8"])
        #expect(s.log.runs == ["model", "score"])
        #expect(report.stage("model")!.reasons == ["changed parameter: k 4 -> 8"])

        // An input touched but unchanged: nothing runs (content hashes, not times).
        s.log.reset()
        try s.write("data/day_2.txt", "two\n")
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        #expect(s.log.runs == [])

        // An input changed: the stage reads it, and the consumers of what changed.
        s.log.reset()
        try s.write("data/day_2.txt", "TWO\n")
        report = try s.run(chainPipeline, overrides: ["model.k=8"])
        #expect(s.log.runs == ["other"])
        #expect(try readText(s.path("work/other/out.txt")) == "one\nTWO\nten\n")

        // A deleted output: its stage re-runs (without the run cache, which would restore
        // it); the same bytes come out, so nothing downstream does.
        s.log.reset()
        try FileManager.default.removeItem(atPath: s.path("work/join/out.txt"))
        report = try s.run(chainPipeline, overrides: ["model.k=8"]) { $0.runCache = false }
        #expect(s.log.runs == ["join"])
        #expect(report.stage("model")!.status == .skipped)

        // A new tool version re-runs everything.
        s.log.reset()
        _ = try s.run(chainPipeline, overrides: ["model.k=8"]) { $0.toolVersion = "0.2.0" }
        #expect(s.log.runs == ["join", "model", "score", "other"])
    }

    @Test func forceFromAndOnly() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)

        s.log.reset()
        var report = try s.run(chainPipeline) { $0.forceAll = true }
        #expect(s.log.runs == ["join", "model", "score", "other"])
        #expect(report.stage("other")!.reasons == ["forced (--force)"])

        // --force STAGE: just that stage; identical output leaves the rest skipped.
        s.log.reset()
        report = try s.run(chainPipeline) { $0.force = ["join"] }
        #expect(s.log.runs == ["join"])
        #expect(report.stage("join")!.reasons == ["forced (--force join)"])

        // --from STAGE: that stage and everything downstream.
        s.log.reset()
        report = try s.run(chainPipeline) { $0.from = ["model"] }
        #expect(s.log.runs == ["model", "score"])
        #expect(report.stage("score")!.reasons == ["forced (--from model)"])

        // --only STAGE: the others are not even looked at.
        s.log.reset()
        report = try s.run(chainPipeline, overrides: ["model.k=5", "join.suffix=?"]) { $0.only = ["model"] }
        #expect(s.log.runs == ["model"])
        #expect(statuses(report) == ["join": .notSelected, "model": .ran, "score": .notSelected, "other": .notSelected])
        // The model ran on the old join output, which is still what the lock vouches for.
        #expect(report.stage("model")!.inputs[0].hash == (try ContentHasher.hashFile(s.path("work/join/out.txt"))))

        s.log.reset()
        _ = try s.run(chainPipeline) { $0.only = ["score"]; $0.force = ["score"] }
        #expect(s.log.runs == ["score"])

        // --only with a missing upstream output is refused before anything runs.
        try FileManager.default.removeItem(atPath: s.path("work/join/out.txt"))
        #expect(throws: PipelineError.missingUpstream(stage: "model", upstream: "join", path: s.path("work/join/out.txt"))) {
            _ = try s.run(chainPipeline) { $0.only = ["model"] }
        }

        #expect(throws: PipelineError.unknownStage(option: "--force", name: "modle", suggestion: "model")) {
            _ = try s.run(chainPipeline) { $0.force = ["modle"] }
        }
        #expect(throws: PipelineError.unknownStage(option: "--from", name: "zzz", suggestion: nil)) {
            _ = try s.run(chainPipeline) { $0.from = ["zzz"] }
        }
    }

    @Test func resumeAfterAFailureDuringTrainingEndsWithTheSameMetrics() throws {
        // The uninterrupted run, for comparison.
        let clean = try Scratch()
        let expected = try clean.run(chainPipeline)

        let s = try Scratch()
        s.log.fail("model")
        let failed = try s.run(chainPipeline)
        #expect(failed.failure == .stageFailed(stage: "model", message: "simulated crash during training"))
        #expect(statuses(failed) == ["join": .ran, "model": .failed, "score": .notRun, "other": .notRun])
        // The partial model never appeared under its final name, and no lock entry vouches for it.
        #expect(FileManager.default.fileExists(atPath: s.path("work/model/model.txt")) == false)
        let lock = LockFile.load(workdir: s.path("work"), pipeline: "chain") { _ in }
        #expect(Set(lock.stages.keys) == ["join"])
        #expect(RunSummary.table(failed).contains("model  failed"))

        s.log.reset()
        let resumed = try s.run(chainPipeline)
        #expect(resumed.succeeded)
        #expect(s.log.runs == ["model", "score", "other"])
        #expect(resumed.stage("join")!.status == .skipped)
        #expect(resumed.stage("score")!.metrics == expected.stage("score")!.metrics)
        #expect(try readText(s.path("work/model/model.txt")) == (try readText(clean.path("work/model/model.txt"))))
    }

    @Test func aStageThatDiesLeavesNoEntryVouchingForItsOldOutputs() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)
        // k changes, the run dies: the k=4 model is still on disk ...
        s.log.fail("model")
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        #expect(FileManager.default.fileExists(atPath: s.path("work/model/model.txt")))
        // ... but going back to k=4 must not take it as up to date: its entry was dropped
        // before the failed run touched anything. (Without the run cache, which would
        // restore the k=4 outputs instead: HistoryTests.)
        s.log.reset()
        let report = try s.run(chainPipeline) { $0.runCache = false }
        #expect(s.log.runs == ["model"])
        #expect(report.stage("model")!.reasons == ["first run (no record in the lock file)"])
    }

    @Test func aStageThatForgetsAnOutputFails() throws {
        let s = try Scratch()
        // The fake score stage skips its report folder when bins is 0.
        let report = try s.run(chainPipeline, overrides: ["score.bins=0"])
        #expect(report.failure == .stageFailed(stage: "score", message: "stage score finished without writing its output \"report\" (\(s.path("work/score/report")))"))
        let lock = LockFile.load(workdir: s.path("work"), pipeline: "chain") { _ in }
        #expect(lock.stages["score"] == nil)
    }

    @Test func independentStagesRunConcurrentlyWithJobs() throws {
        let one = try Scratch()
        let two = try Scratch()
        let a = try one.run(chainPipeline) { $0.jobs = 1 }
        let b = try two.run(chainPipeline) { $0.jobs = 3 }
        #expect(a.succeeded && b.succeeded)
        #expect(Set(two.log.runs) == Set(one.log.runs))
        for file in ["join/out.txt", "model/model.txt", "score/metrics.json", "other/out.txt"] {
            #expect(try readText(one.path("work/" + file)) == (try readText(two.path("work/" + file))))
        }
        // Dependencies still come first.
        let runs = two.log.runs
        #expect(runs.firstIndex(of: "join")! < runs.firstIndex(of: "model")!)
        #expect(runs.firstIndex(of: "model")! < runs.firstIndex(of: "score")!)
        two.log.reset()
        _ = try two.run(chainPipeline) { $0.jobs = 3 }
        #expect(two.log.runs == [])

        // A failure with several jobs stops new stages but records the finished ones.
        let three = try Scratch()
        three.log.fail("model")
        let failed = try three.run(chainPipeline) { $0.jobs = 2 }
        #expect(failed.stage("model")!.status == .failed)
        #expect(failed.stage("score")!.status == .notRun)
    }

    @Test func sweepVariantsAreComparedInOneReport() throws {
        let s = try Scratch()
        let report = try s.run(sweepPipeline)
        #expect(report.succeeded)
        #expect(s.log.runs == ["join", "model@k=4", "model@k=8", "predict@k=4", "predict@k=8", "score"])
        let metrics = report.stage("score")!.metrics
        #expect(metrics.map(\.model) == ["predict@k=4", "predict@k=8"])
        #expect(metrics[0].values["auc"]! != metrics[1].values["auc"]!)
        let table = RunSummary.table(report)
        #expect(table.contains("  predict@k=4"))
        #expect(table.contains("  predict@k=8"))

        // --force on a swept stage's name selects all its variants; on one variant, just it.
        s.log.reset()
        _ = try s.run(sweepPipeline) { $0.force = ["model@k=8"] }
        #expect(s.log.runs == ["model@k=8"])
        s.log.reset()
        _ = try s.run(sweepPipeline) { $0.force = ["model"] }
        #expect(s.log.runs == ["model@k=4", "model@k=8"])
    }

    @Test func overriddenOutputLocations() throws {
        let s = try Scratch()
        let json = """
        {"version": 1, "name": "moved", "workdir": "w", "stages": {
          "a": {"kind": "concat", "inputs": "data/a.txt", "outputs": {"out": "final/a.txt"}},
          "b": {"kind": "concat", "inputs": "${a.out}"}
        }}
        """
        let report = try s.run(json)
        #expect(report.succeeded)
        #expect(try readText(s.path("final/a.txt")) == "alpha\n")
        #expect(!FileManager.default.fileExists(atPath: s.path("w/a/out.txt")))
        #expect(try readText(s.path("w/b/out.txt")) == "alpha\n")
        s.log.reset()
        _ = try s.run(json)
        #expect(s.log.runs == [])
    }

    @Test func aSecondRunOnTheSameWorkdirIsRefused() throws {
        let s = try Scratch()
        try FileManager.default.createDirectory(atPath: s.path("work"), withIntermediateDirectories: true)
        let held = try WorkdirLock(workdir: s.path("work"))
        #expect(throws: PipelineError.busy(workdir: s.path("work"))) { _ = try s.run(chainPipeline) }
        held.release()
        #expect(try s.run(chainPipeline).succeeded)
    }

    @Test func aWorkdirThatIsAFileIsNamed() throws {
        // Was "NSCocoaErrorDomain Code=516".
        let s = try Scratch()
        try s.write("work", "not a folder\n")
        #expect(throws: PipelineError.io(path: s.path("work"), message: "cannot create the pipeline's work directory (\"workdir\"): it is a file, not a folder")) {
            _ = try s.run(chainPipeline)
        }
        #expect(try String(contentsOfFile: s.path("work"), encoding: .utf8) == "not a folder\n")
    }

    @Test func aForeignOrCorruptLockFileIsIgnoredWithAWarning() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)
        try s.write("work/ctr-pipeline.lock.json", "{ not json")
        final class Box: @unchecked Sendable { var lines: [String] = [] }
        let box = Box()
        s.log.reset()
        let report = try s.run(chainPipeline) { $0.quiet = false; $0.log = { box.lines.append($0) }; $0.runCache = false }
        #expect(report.succeeded)
        #expect(s.log.runs == ["join", "model", "score", "other"])
        #expect(box.lines.first?.hasPrefix("warning: \(s.path("work/ctr-pipeline.lock.json")): unreadable lock file") == true)
    }

    @Test func dryRunWritesNothing() throws {
        let s = try Scratch()
        let report = try s.run(chainPipeline) { $0.dryRun = true }
        #expect(report.stages.allSatisfy { $0.status == .wouldRun })
        #expect(s.log.runs == [])
        #expect(!FileManager.default.fileExists(atPath: s.path("work")))
        let text = RunSummary.plan(report.stages)
        #expect(text.contains("join   run   first run (no record in the lock file)"))
        #expect(text.contains("model  run   first run (no record in the lock file)"))
        #expect(text.hasSuffix("4 of 4 stages would run."))
    }
}
