import ArgumentParser
import Foundation
import LogIO
import StageKit
import Testing
@testable import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// Run records, the run cache (restore, verification, interrupted states, gc) and the
/// sweep ranking, with fake stages.
@Suite struct HistoryTests {
    func statuses(_ report: RunReport) -> [String: StageStatus] {
        Dictionary(uniqueKeysWithValues: report.stages.map { ($0.name, $0.status) })
    }

    func cacheFiles(_ s: Scratch) -> [String] {
        var files: [String] = []
        ContentHasher.listFiles(s.path("work/.ctr-pipeline/cache"), relative: "", into: &files)
        return files.sorted()
    }

    @Test func everyRunIsRecordedWithWhatChanged() throws {
        let s = try Scratch()
        let first = try s.run(chainPipeline)
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        try s.write("data/day_2.txt", "TWO\n")
        let third = try s.run(chainPipeline, overrides: ["model.k=8"])

        let records = RunHistory.load(workdir: s.path("work")) { Issue.record("unexpected warning: \($0)") }
        #expect(records.count == 3)
        #expect(records[0].id == first.runID && records[2].id == third.runID)
        #expect(records[2].path == third.recordPath)
        #expect(records.allSatisfy { $0.id.count == 8 && $0.path.hasSuffix("-\($0.id).json") })
        // The latest record is the manifest.
        let manifest = try Data(contentsOf: URL(fileURLWithPath: s.path("work/manifest.json")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: records[2].path)) == manifest)

        #expect(RunHistory.changeSummary(from: nil, to: records[0].manifest) == ["first recorded run"])
        #expect(RunHistory.changeSummary(from: records[0].manifest, to: records[1].manifest) == ["model.k 4 -> 8"])
        #expect(RunHistory.changeSummary(from: records[1].manifest, to: records[2].manifest)
                == ["changed input other.files (\(display(s.path("data/day_1.txt"))), \(display(s.path("data/day_2.txt"))), \(display(s.path("data/day_10.txt"))))"])

        let table = RunHistory.table(records)
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        #expect(lines[0].hasPrefix("run       started (UTC)        status     stages"))
        #expect(lines[1].hasPrefix(records[0].id) && lines[1].contains("4 ran") && lines[1].hasSuffix("first recorded run"))
        #expect(lines[2].contains("2 ran, 2 skipped") && lines[2].hasSuffix("model.k 4 -> 8"))
        let auc = first.stage("score")!.metrics[0].values["auc"]!!
        #expect(lines[1].contains(String(format: "%.5f", auc)))
        #expect(lines[4] == "3 runs")

        #expect(try RunHistory.resolve("last", in: records).id == records[2].id)
        #expect(try RunHistory.resolve("last-2", in: records).id == records[0].id)
        #expect(try RunHistory.resolve(String(records[1].id.prefix(5)), in: records).id == records[1].id)
        #expect(throws: HistoryError.unknownRun(reference: "last-3", known: records.map(\.id))) {
            _ = try RunHistory.resolve("last-3", in: records)
        }
        #expect(throws: HistoryError.unknownRun(reference: "abc", known: records.map(\.id))) {
            _ = try RunHistory.resolve("abc", in: records)
        }
        #expect(try RunHistory.locate(file: s.path("pipeline.json")) == ("chain", s.path("work")))

        // A dry run is not a run.
        _ = try s.run(chainPipeline) { $0.dryRun = true }
        #expect(RunHistory.load(workdir: s.path("work")).count == 3)
    }

    @Test func goingBackToAnEarlierValueRestoresInsteadOfRunning() throws {
        let s = try Scratch()
        let first = try s.run(chainPipeline)
        let model4 = try readText(s.path("work/model/model.txt"))
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        #expect(try readText(s.path("work/model/model.txt")) != model4)

        #expect(RunSummary.plan(try s.plan(chainPipeline)).contains("model  restore  from the run cache: changed parameter: k 8 -> 4"))
        s.log.reset()
        let back = try s.run(chainPipeline)
        #expect(back.succeeded)
        #expect(s.log.runs == [])
        #expect(statuses(back) == ["join": .skipped, "model": .restored, "score": .restored, "other": .skipped])
        #expect(try readText(s.path("work/model/model.txt")) == model4)
        #expect(back.stage("score")!.metrics == first.stage("score")!.metrics)
        #expect(back.stage("model")!.outputs == first.stage("model")!.outputs)
        #expect(RunSummary.table(back).contains("0 ran, 2 skipped, 2 restored"))
        // Restored outputs are what the lock file vouches for: the next run skips all.
        s.log.reset()
        let again = try s.run(chainPipeline)
        #expect(again.stages.allSatisfy { $0.status == .skipped })
        // The restored folder output holds exactly the cached files.
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path("work/score/report")) == ["index.html"])

        // --force runs the stage whatever the cache holds; --no-run-cache neither keeps nor restores.
        s.log.reset()
        let forced = try s.run(chainPipeline, overrides: ["model.k=8"]) { $0.force = ["model"] }
        #expect(s.log.runs == ["model"])
        // Its consumer is not forced: the k=8 scores come back from the cache.
        #expect(forced.stage("score")!.status == .restored)
        s.log.reset()
        _ = try s.run(chainPipeline) { $0.runCache = false }
        #expect(s.log.runs == ["model", "score"])
    }

    @Test func aDeletedOutputIsRestoredAndAChangedCacheFileIsNotTrusted() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)
        let joined = try readText(s.path("work/join/out.txt"))
        try FileManager.default.removeItem(atPath: s.path("work/join/out.txt"))
        s.log.reset()
        var report = try s.run(chainPipeline)
        #expect(s.log.runs == [])
        #expect(report.stage("join")!.status == .restored)
        #expect(report.stage("join")!.reasons.first == "missing output: out (\(display(s.path("work/join/out.txt"))))")
        #expect(try readText(s.path("work/join/out.txt")) == joined)

        // Change k, then corrupt the k=4 model kept in the cache (written in place, as a
        // careless tool would): going back to k=4 must train again, not restore it.
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        let fp4 = report.stage("model")!.fingerprint!
        let cached = s.path("work/.ctr-pipeline/cache/\(fp4)/outputs/model")
        #expect(FileManager.default.fileExists(atPath: cached))
        let handle = try #require(FileHandle(forWritingAtPath: cached))
        try handle.write(contentsOf: Data("tampered".utf8))
        try handle.close()
        s.log.reset()
        report = try s.run(chainPipeline)
        // The model trained again gives the k=4 bytes again, so the k=4 scores are restored.
        #expect(s.log.runs == ["model"])
        #expect(report.stage("model")!.status == .ran)
        #expect(report.stage("score")!.status == .restored)
        // The bad entry is gone, a good one took its place.
        #expect(RunCache(workdir: s.path("work")).entry(fp4)?.files.first { $0.output == "model" }?.hash
                == (try ContentHasher.hashFile(s.path("work/model/model.txt"))))
    }

    @Test func aCacheEntryPointingOutsideItsOutputIsRefused() throws {
        let s = try Scratch()
        let first = try s.run(chainPipeline)
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        let fp = first.stage("score")!.fingerprint!
        let path = s.path("work/.ctr-pipeline/cache/\(fp)/entry.json")
        var text = try readText(path)
        #expect(text.contains("\"relative\" : \"index.html\"") || text.contains("\"relative\": \"index.html\""))
        text = text.replacingOccurrences(of: "\"index.html\"", with: "\"../../../escaped.html\"")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        // Where that path leads inside the cache, a file with the right content: only the
        // path check stops it.
        try s.write("work/.ctr-pipeline/cache/escaped.html", "<html></html>")
        s.log.reset()
        let report = try s.run(chainPipeline)
        #expect(report.stage("model")!.status == .restored)
        #expect(report.stage("score")!.status == .ran)
        #expect(s.log.runs == ["score"])
        #expect(!FileManager.default.fileExists(atPath: s.path("escaped.html")))
        #expect(!FileManager.default.fileExists(atPath: s.path("work/escaped.html")))
    }

    @Test func anInterruptedRestoreOrCollectionLeavesAConsistentState() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)
        let model4 = try readText(s.path("work/model/model.txt"))
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        let fp8 = LockFile.load(workdir: s.path("work"), pipeline: "chain") { _ in }.stages["model"]!.fingerprint

        // What a restore killed half way leaves: the lock entry already dropped, one output
        // renamed into place, another still under its temporary name (of a dead process).
        var lock = LockFile.load(workdir: s.path("work"), pipeline: "chain") { _ in }
        lock.stages["model"] = nil
        try lock.save(workdir: s.path("work"))
        try s.write("work/model/model.txt", model4)
        try s.write("work/model/.log.txt.partial-999999", "epochs 3\n")
        // ... and a gc killed half way: an entry renamed away, half deleted; a store killed
        // before its rename.
        let cache = s.path("work/.ctr-pipeline/cache")
        try FileManager.default.moveItem(atPath: cache + "/" + fp8, toPath: cache + "/.\(fp8).trash-999999")
        try FileManager.default.removeItem(atPath: cache + "/.\(fp8).trash-999999/entry.json")
        try s.write("work/.ctr-pipeline/cache/.0123456789abcdef.partial-999999-x/outputs/model", "half")

        #expect(RunCache(workdir: s.path("work")).entry(fp8) == nil)
        #expect(!RunCache(workdir: s.path("work")).fingerprints().contains { $0.hasPrefix(".") })
        s.log.reset()
        let report = try s.run(chainPipeline, overrides: ["model.k=8"])
        #expect(report.succeeded)
        // Nothing vouched for the model, and its k=8 entry was gone: it ran.
        #expect(s.log.runs == ["model"])
        #expect(!FileManager.default.fileExists(atPath: s.path("work/model/.log.txt.partial-999999")))
        let names = try FileManager.default.contentsOfDirectory(atPath: cache)
        #expect(!names.contains { $0.hasPrefix(".") })
        #expect(names.contains(fp8))
        s.log.reset()
        #expect(try s.run(chainPipeline, overrides: ["model.k=8"]).stages.allSatisfy { $0.status == .skipped })

        // A restore killed after renaming the cached model into place (a hard link to it),
        // before the lock entry: renaming another link of the same file onto it would do
        // nothing and leave the temporary name behind.
        let fp4 = try #require(RunHistory.load(workdir: s.path("work")).first?.manifest.stages.first { $0.name == "model" }?.fingerprint)
        lock = LockFile.load(workdir: s.path("work"), pipeline: "chain") { _ in }
        lock.stages["model"] = nil
        try lock.save(workdir: s.path("work"))
        try FileManager.default.removeItem(atPath: s.path("work/model/model.txt"))
        #expect(link(cache + "/\(fp4)/outputs/model", s.path("work/model/model.txt")) == 0)
        s.log.reset()
        let back = try s.run(chainPipeline)
        #expect(s.log.runs == [])
        #expect(back.stage("model")!.status == .restored)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path("work/model")).sorted() == ["log.txt", "model.txt"])
        #expect(try readText(s.path("work/model/model.txt")) == model4)
    }

    @Test func gcKeepsTheOutputsOfTheLastRunsAndReportsTheSize() throws {
        let s = try Scratch()
        let r4 = try s.run(chainPipeline)
        let r8 = try s.run(chainPipeline, overrides: ["model.k=8"])
        let r6 = try s.run(chainPipeline, overrides: ["model.k=6"])
        let fp = { (r: RunReport, stage: String) in r.stage(stage)!.fingerprint! }
        let cache = RunCache(workdir: s.path("work"))
        #expect(Set(cache.fingerprints()) == Set(["join", "model", "score", "other"].map { fp(r4, $0) }
                                                  + ["model", "score"].flatMap { [fp(r8, $0), fp(r6, $0)] }))
        // Files: join, other, 3 models + 3 logs (the logs are equal, but each run wrote its
        // own file), 3 metrics + 3 report pages.
        let before = cache.usage()
        #expect(before.entries == 8)
        #expect(before.files == 14)
        // The current outputs are hard links: only the k=4 and k=8 model, log, metrics and report files are the cache's own.
        let own = try ["model/model.txt", "model/log.txt", "score/metrics.json", "score/report/index.html"].map {
            try FileManager.default.attributesOfItem(atPath: s.path("work/" + $0))[.size] as! Int
        }
        let current = Int64(own.reduce(0, +))
        #expect(before.bytes - before.exclusiveBytes == current + Int64("alpha\nbeta\n!".utf8.count + "one\ntwo\nten\n".utf8.count))

        let dry = try RunCacheCollector.collect(workdir: s.path("work"), pipeline: "chain", keep: 1, dryRun: true)
        #expect(Set(dry.collection.removed) == Set([fp(r4, "model"), fp(r4, "score"), fp(r8, "model"), fp(r8, "score")]))
        #expect(cache.usage() == before)
        #expect(dry.text().hasPrefix("run cache: would remove 4 entries\n"))

        let result = try RunCacheCollector.collect(workdir: s.path("work"), pipeline: "chain", keep: 1, dryRun: false)
        #expect(Set(result.collection.removed) == Set(dry.collection.removed))
        #expect(Set(cache.fingerprints()) == Set(["join", "model", "score", "other"].map { fp(r6, $0) }))
        #expect(result.collection.after.exclusiveBytes == 0)
        #expect(result.text().contains("removed 4 entries, freed \(RunCacheCollector.bytes(before.exclusiveBytes))"))
        // Going back to k=4 now trains again.
        s.log.reset()
        _ = try s.run(chainPipeline)
        #expect(s.log.runs == ["model", "score"])
        // gc refuses to run beside a run.
        let held = try WorkdirLock(workdir: s.path("work"))
        #expect(throws: PipelineError.busy(workdir: s.path("work"))) {
            _ = try RunCacheCollector.collect(workdir: s.path("work"), pipeline: "chain", keep: 0, dryRun: false)
        }
        held.release()
    }
}

/// "fit": a fake trainer reporting validation figures, for the sweep ranking.
struct FitStage: PipelineStage {
    struct Params: StageParameters {
        @Option("Factors.", in: .atLeast(1))
        var k = 4

        init() {}
    }

    var kind: String { "fit" }
    var summary: String { "A fake trainer with a validation loss." }
    var inputSlots: [InputSlot] { [InputSlot("train", summary: "training data")] }

    func outputs(for params: Params, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("model", path: "model.txt", summary: "the model")]
    }

    func run(_ context: StageContext<Params>) throws -> StageOutcome {
        try writeAtomically("model k=\(context.params.k)\n", to: context.output("model"))
        // Best at k = 4; the fake test AUC below (from the model's hash) disagrees.
        let k = Double(context.params.k)
        return StageOutcome(metrics: [ModelMetrics(model: context.stage, values: ["va_logloss": 0.4 + 0.01 * abs(k - 4), "va_auc": 0.7 - 0.01 * abs(k - 4)])])
    }
}

@Suite struct SweepRankingTests {
    @Test func variantsAreRankedByTheValidationLossWithTestMetricsBeside() throws {
        let s = try Scratch()
        var registry = s.registry
        registry.register(FitStage())
        let json = """
        {"version": 1, "name": "sweep", "workdir": "work", "stages": {
          "fit": {"kind": "fit", "inputs": {"train": "data/a.txt"}, "sweep": {"k": [2, 4, 8]}},
          "score": {"kind": "score", "inputs": {"models": "${fit.model}", "labels": "data/b.txt"}}
        }}
        """
        try s.write("pipeline.json", json)
        let pipeline = try PipelineLoader(registry: registry).load(file: s.path("pipeline.json"))
        var options = RunOptions()
        options.quiet = true
        let report = try PipelineRunner(pipeline: pipeline, options: options).run()
        #expect(report.succeeded)
        let text = try #require(RunSummary.sweepRanking(report, pipeline: pipeline))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "sweep of fit: 3 variants ranked by validation log loss (fit's kept epoch); test metrics shown beside, not used to rank")
        #expect(lines[1] == "rank  variant  valid log loss  valid AUC  test AUC  test log loss  test NE  test calibration")
        let metrics = report.stage("score")!.metrics
        func auc(_ model: String) -> String { String(format: "%.5f", metrics.first { $0.model == model }!.values["auc"]!!) }
        func fields(_ line: String) -> [String] { line.split(separator: " ").map(String.init) }
        #expect(fields(lines[2]) == ["1", "fit@k=4", "0.40000", "0.70000", auc("fit@k=4"), "0.45000", "0.90000", "1.00000"])
        #expect(fields(lines[3]) == ["2", "fit@k=2", "0.42000", "0.68000", auc("fit@k=2"), "0.45000", "0.90000", "1.00000"])
        #expect(fields(lines[4]) == ["3", "fit@k=8", "0.44000", "0.66000", auc("fit@k=8"), "0.45000", "0.90000", "1.00000"])
        #expect(lines.count == 5)
        // No sweep, no ranking.
        let plain = try s.run(chainPipeline)
        #expect(RunSummary.sweepRanking(plain, pipeline: try s.load(chainPipeline)) == nil)
    }
}
