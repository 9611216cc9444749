import ArgumentParser
import Foundation
import LogIO
import StageKit
import TestSupport
@testable import Pipeline

/// Records which stages ran, and makes chosen stages fail, for the runner tests.
final class StageLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _runs: [String] = []
    private var failures: [String: Int] = [:]

    var runs: [String] {
        lock.lock(); defer { lock.unlock() }
        return _runs
    }

    func record(_ stage: String) {
        lock.lock(); defer { lock.unlock() }
        _runs.append(stage)
    }

    func reset() {
        lock.lock(); defer { lock.unlock() }
        _runs = []
    }

    /// The next `times` runs of `stage` throw after writing a partial output.
    func fail(_ stage: String, times: Int = 1) {
        lock.lock(); defer { lock.unlock() }
        failures[stage] = times
    }

    func shouldFail(_ stage: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard let n = failures[stage], n > 0 else { return false }
        failures[stage] = n - 1
        return true
    }
}

struct FakeFailure: Error, CustomStringConvertible {
    let description: String
}

func readText(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
}

func writeAtomically(_ text: String, to path: String) throws {
    let writer = try AtomicFileWriter(path: path)
    try writer.write(text)
    try writer.commit()
}

/// "concat": joins its input files (text), repeated `repeat` times, plus `suffix`.
struct ConcatStage: PipelineStage {
    enum Mode: String, CaseIterable, Sendable, ParameterChoice { case none, upper, lower }

    struct Params: StageParameters {
        @Option("Appended to the text.")
        var suffix = ""

        @Option("Times the text is repeated.", in: .closed(1, 10))
        var `repeat` = 1

        @Option("Case change.")
        var mode = Mode.none

        @Option("A fraction.", in: .halfOpen(0, 1))
        var ratio = 0.5

        @Option("Labels.")
        var tags: [String] = []

        @Option("Output (set by the pipeline).")
        var out: String?

        init() {}
    }

    let log: StageLog
    var kind: String { "concat" }
    var summary: String { "Concatenates text files." }
    var inputSlots: [InputSlot] { [InputSlot("files", multiple: true, summary: "text files")] }
    var reservedKeys: [String: String] { ["out": "the pipeline puts outputs under workdir/<stage>/"] }

    func outputs(for params: Params, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("out", path: "out.txt", summary: "the concatenation")]
    }

    func run(_ context: StageContext<Params>) throws -> StageOutcome {
        log.record(context.stage)
        var text = ""
        for path in context.paths("files") { text += try readText(path) }
        text = String(repeating: text, count: context.params.repeat) + context.params.suffix
        switch context.params.mode {
        case .upper: text = text.uppercased()
        case .lower: text = text.lowercased()
        case .none: break
        }
        try writeAtomically(text, to: context.output("out"))
        return StageOutcome()
    }
}

/// "model": a fake trainer; its output depends on the train input, k and seed.
struct ModelStage: PipelineStage {
    struct Params: StageParameters {
        @Option("Factors.", in: .atLeast(1))
        var k = 4

        @Option("Seed.")
        var seed = 1

        @Option("L2.", in: .atLeast(0))
        var lambda = 0.00002

        init() {}
    }

    let log: StageLog
    var kind: String { "model" }
    var summary: String { "A fake trainer." }
    var inputSlots: [InputSlot] {
        [InputSlot("train", summary: "training data"), InputSlot("valid", required: false, summary: "validation data")]
    }

    func outputs(for params: Params, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("model", path: "model.txt", summary: "the model"), OutputDecl("log", path: "log.txt", summary: "per-epoch log")]
    }

    func run(_ context: StageContext<Params>) throws -> StageOutcome {
        log.record(context.stage)
        if log.shouldFail(context.stage) {
            // Like a kill during training: a half-written output under its temporary
            // name, never committed.
            let writer = try AtomicFileWriter(path: context.output("model"))
            try writer.write("partial")
            throw FakeFailure(description: "simulated crash during training")
        }
        let data = try readText(context.path("train")!)
        let h = XXHash64.hash(data + "k=\(context.params.k) seed=\(context.params.seed) lambda=\(context.params.lambda)")
        try writeAtomically("model \(XXHash64.hex(h))\n", to: context.output("model"))
        try writeAtomically("epochs 3\n", to: context.output("log"))
        return StageOutcome()
    }
}

/// "score": a fake predict+eval; reports metrics derived from each model file.
struct ScoreStage: PipelineStage {
    struct Params: StageParameters {
        @Option("Bins (0: the stage forgets its report folder).")
        var bins = 10

        init() {}
    }

    let log: StageLog
    var kind: String { "score" }
    var summary: String { "A fake evaluation." }
    var inputSlots: [InputSlot] {
        [InputSlot("models", multiple: true, summary: "models to compare"), InputSlot("labels", summary: "labels")]
    }

    func outputs(for params: Params, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("metrics", path: "metrics.json", summary: "metrics"), OutputDecl("report", path: "report", isDirectory: true, summary: "a folder")]
    }

    func run(_ context: StageContext<Params>) throws -> StageOutcome {
        log.record(context.stage)
        var metrics: [ModelMetrics] = []
        for input in context.inputs["models"] ?? [] {
            let h = XXHash64.hash(try readText(input.path))
            let auc = 0.5 + Double(h % 1000) / 2000
            metrics.append(ModelMetrics(model: input.stage ?? input.path, values: ["auc": auc, "logloss": 0.45, "ne": 0.9, "calibration": 1.0]))
        }
        try writeAtomically(metrics.map { "\($0.model) \($0.values["auc"]!!)" }.joined(separator: "\n"), to: context.output("metrics"))
        if context.params.bins > 0 {
            try FileManager.default.createDirectory(atPath: context.output("report"), withIntermediateDirectories: true)
            try writeAtomically("<html></html>", to: context.output("report") + "/index.html")
        }
        return StageOutcome(metrics: metrics)
    }
}

func fakeRegistry(_ log: StageLog) -> StageRegistry {
    var registry = StageRegistry()
    registry.register(ConcatStage(log: log))
    registry.register(ModelStage(log: log))
    registry.register(ScoreStage(log: log))
    return registry
}

/// A scratch folder with a pipeline file and its data files.
struct Scratch {
    let root: URL
    let log = StageLog()
    var registry: StageRegistry { fakeRegistry(log) }

    init() throws {
        root = try makeScratchDirectory()
        try write("data/a.txt", "alpha\n")
        try write("data/b.txt", "beta\n")
        try write("data/day_2.txt", "two\n")
        try write("data/day_10.txt", "ten\n")
        try write("data/day_1.txt", "one\n")
    }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    func write(_ relative: String, _ text: String) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func load(_ json: String, overrides: [String] = []) throws -> ResolvedPipeline {
        try write("pipeline.json", json)
        return try PipelineLoader(registry: registry).load(file: path("pipeline.json"), overrides: overrides)
    }

    /// The validation issues of `json` (fails the test if it validates).
    func issues(_ json: String, overrides: [String] = []) -> [ValidationIssue] {
        do {
            _ = try load(json, overrides: overrides)
            return []
        } catch let PipelineError.invalid(_, issues) {
            return issues
        } catch {
            return [ValidationIssue(path: "<unexpected>", message: "\(error)")]
        }
    }

    func run(_ json: String, overrides: [String] = [], configure: (inout RunOptions) -> Void = { _ in }) throws -> RunReport {
        let pipeline = try load(json, overrides: overrides)
        var options = RunOptions()
        options.quiet = true
        configure(&options)
        return try PipelineRunner(pipeline: pipeline, options: options).run()
    }

    func plan(_ json: String, overrides: [String] = [], configure: (inout RunOptions) -> Void = { _ in }) throws -> [StageReport] {
        let pipeline = try load(json, overrides: overrides)
        var options = RunOptions()
        options.quiet = true
        configure(&options)
        return try PipelineRunner(pipeline: pipeline, options: options).plan()
    }
}

func makeScratchDirectory() throws -> URL {
    try TestSupport.makeTemporaryDirectory("swiftctr-pipeline")
}

/// A three-stage chain plus an independent branch:
/// join(a, b) -> model(train) -> score(models, labels=b); other(day_*) independent.
let chainPipeline = """
{
  "version": 1,
  "name": "chain",
  "workdir": "work",
  "stages": {
    "join": {"kind": "concat", "inputs": ["data/a.txt", "data/b.txt"], "params": {"suffix": "!"}},
    "model": {"kind": "model", "inputs": {"train": "${join.out}"}, "params": {"k": 4}},
    "score": {"kind": "score", "inputs": {"models": ["${model.model}"], "labels": "data/b.txt"}},
    "other": {"kind": "concat", "inputs": "data/day_*.txt"}
  }
}
"""
