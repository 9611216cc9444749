import ArgumentParser
import CommandSupport
import Foundation
import StageKit
import LogIO
import Dataset
import Featurize
import FFM
import Ingest
import Metrics
import Pipeline

@main
struct CTRPipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-pipeline",
        abstract: "Run a declarative SwiftCTR pipeline (ingest -> hash -> train -> predict -> eval), incrementally.",
        discussion: """
            A pipeline file names its stages, their inputs (files, globs or ${stage.output} \
            references) and their parameters (the same ones as each stage's command line). \
            `run` executes the stages in dependency order, skipping every stage whose \
            fingerprint (kind, tool version, parameters, input content) matches the lock file \
            and whose outputs are intact. See docs/PIPELINES.md.
            """,
        version: BuildInfo.version(formats: [("pipeline", PipelineLoader.formatVersion), ("lock", LockFile.formatVersion), ("manifest", RunManifest.formatVersion), ("run cache", RunCache.formatVersion), ("model", Int(ModelFile.version)), ("cache", Int(CacheFormat.version)), ("featurizer.json", FeaturizerSpec.currentVersion), ("stats.json", IngestStats.currentFormatVersion), ("metrics.json", JSONReport.schemaVersion)]),
        subcommands: [Run.self, Plan.self, Validate.self, Runs.self, Diff.self, GC.self, Kinds.self, Schema.self]
    )

    /// `--force` takes an optional stage name, which ArgumentParser cannot express, so
    /// `--force STAGE` and `--force=STAGE` become the hidden `--force-stage STAGE`.
    static func main() {
        main(CommandLineSupport.rewriteForce(Array(CommandLine.arguments.dropFirst())))
    }
}

struct PipelineOptions: ParsableArguments {
    @Argument(help: "The pipeline JSON file.")
    var file: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a parameter: stage.param=value (or params.key=value for a shared one). Repeatable.", valueName: "stage.param=value"))
    var overrides: [String] = []

    func load() throws -> ResolvedPipeline {
        try PipelineLoader(registry: .standard).load(file: file, overrides: overrides)
    }
}

struct SelectionOptions: ParsableArguments {
    @Flag(name: .customLong("force"), help: "Re-run every stage. `--force STAGE` (repeatable) re-runs just that stage.")
    var forceAll = false

    @Option(name: .customLong("force-stage"), help: ArgumentHelp("Re-run this stage (what `--force STAGE` becomes).", visibility: .hidden))
    var force: [String] = []

    @Option(help: ArgumentHelp("Re-run this stage and every stage downstream of it. Repeatable.", valueName: "stage"))
    var from: [String] = []

    @Option(help: ArgumentHelp("Consider only this stage (repeatable); others are left untouched, and its inputs from them must exist.", valueName: "stage"))
    var only: [String] = []

    func apply(to options: inout RunOptions) {
        options.forceAll = forceAll
        options.force = force
        options.from = from
        options.only = only
    }
}

extension CTRPipeline {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the pipeline, re-running only what changed.",
            discussion: """
                stdout: the summary only, a table of stages (ran / skipped / restored / failed), times \
                and eval metrics per model (named after the train stage and model kind, e.g. \
                "train (ffm)"), then a sweep's ranking. stderr: the progress log, each line prefixed \
                with its stage's name padded to the longest one ("[train  ] ..."), whole lines only \
                even with --jobs; it includes train's epoch table and eval's metrics table. \
                Writes WORKDIR/manifest.json. Exit status 1 when a stage fails.
                """
        )

        @OptionGroup var pipeline: PipelineOptions
        @OptionGroup(title: "Stage selection") var selection: SelectionOptions

        @Option(name: [.customShort("j"), .long], help: "Run up to N independent stages at once.")
        var jobs = 1

        @Flag(name: .customLong("dry-run"), help: "Say what would run and why; run and write nothing (same as `plan`).")
        var dryRun = false

        @Flag(name: .customLong("no-run-cache"), help: "Neither keep outputs in the run cache nor restore them from it.")
        var noRunCache = false

        @OptionGroup var common: CommonOptions

        func validate() throws {
            guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, found \(jobs)") }
        }

        func run() throws {
            let resolved = try pipeline.load()
            var options = RunOptions()
            selection.apply(to: &options)
            options.jobs = jobs
            options.dryRun = dryRun
            options.quiet = common.quiet
            options.runCache = !noRunCache
            let report = try PipelineRunner(pipeline: resolved, options: options).run()
            if dryRun {
                print(RunSummary.plan(report.stages))
                return
            }
            print(RunSummary.table(report))
            if let ranking = RunSummary.sweepRanking(report, pipeline: resolved) { print("\n" + ranking) }
            if let failure = report.failure { throw failure }
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say which stages would run and why (changed input or parameter, missing output, new tool version), without running anything."
        )

        @OptionGroup var pipeline: PipelineOptions
        @OptionGroup(title: "Stage selection") var selection: SelectionOptions

        func run() throws {
            let resolved = try pipeline.load()
            var options = RunOptions()
            selection.apply(to: &options)
            options.dryRun = true
            print(RunSummary.plan(try PipelineRunner(pipeline: resolved, options: options).plan()))
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a pipeline file (keys, types, ranges, references, cycles, inputs) and report every problem at once."
        )

        @OptionGroup var pipeline: PipelineOptions

        func run() throws {
            let resolved = try pipeline.load()
            let names = resolved.stages.map(\.name)
            print("\(pipeline.file): valid; \(names.count) stage\(names.count == 1 ? "" : "s") in order: \(names.joined(separator: ", "))")
        }
    }

    struct Kinds: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the stage kinds with their inputs, outputs and parameters.")

        func run() {
            print(PipelineSchema.describe(registry: .standard))
        }
    }

    struct Schema: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the JSON Schema of pipeline files (docs/pipeline.schema.json).")

        func run() {
            print(PipelineSchema.generate(registry: .standard).text(pretty: true))
        }
    }
}
