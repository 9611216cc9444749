import ArgumentParser
import CommandSupport
import Foundation
import Pipeline
import StageKit
import LogIO

extension CTRPipeline {
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the recorded runs: when, status, key metrics and what changed from the run before.",
            discussion: "Every `run` keeps a copy of its manifest under WORKDIR/.ctr-pipeline/runs/. Compare two runs with `ctr-pipeline diff`."
        )

        @Argument(help: "The pipeline JSON file.")
        var file: String

        @Option(help: ArgumentHelp("Show only the last N runs.", valueName: "N"))
        var last: Int?

        func validate() throws {
            if let last, last < 1 { throw ValidationError("--last must be at least 1, found \(last)") }
        }

        func run() throws {
            let (_, workdir) = try RunHistory.locate(file: file)
            let records = RunHistory.load(workdir: workdir) { printError("warning: " + $0) }
            guard !records.isEmpty else { throw HistoryError.noRuns(workdir: workdir) }
            // The change column of the first shown run still compares with the run before it.
            let table = RunHistory.table(records)
            if let last, last < records.count {
                var lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let header = lines.removeFirst()
                let footer = lines.removeLast()
                let firstShown = records[records.count - last].id
                let start = lines.firstIndex { $0.hasPrefix(firstShown) } ?? 0
                print(([header] + lines[start...] + [footer + " (\(last) shown)"]).joined(separator: "\n"))
            } else {
                print(table)
            }
            print(RunCacheCollector.summary(workdir: workdir))
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two runs: parameters, inputs and metrics side by side, and DeLong's test of the AUC difference.",
            discussion: """
                RUN is a run id from `ctr-pipeline runs` (or a unique prefix of at least 4 digits), `last`, or \
                `last-N` (N runs before the last). Without runs: the last two. Deltas are B - A. The DeLong test \
                needs both runs' predictions on the same labels: at their paths, or kept in the run cache.
                """
        )

        @Argument(help: "The pipeline JSON file.")
        var file: String

        @Argument(help: ArgumentHelp("The runs to compare (default: the two last).", valueName: "run"))
        var runs: [String] = []

        @Flag(help: "Print the comparison as JSON.")
        var json = false

        func validate() throws {
            guard runs.count <= 2 else { throw ValidationError("diff takes at most two runs, found \(runs.count): \(runs.joined(separator: " "))") }
        }

        func run() throws {
            let (_, workdir) = try RunHistory.locate(file: file)
            let records = RunHistory.load(workdir: workdir) { printError("warning: " + $0) }
            let a: RunRecord, b: RunRecord
            switch runs.count {
            case 0:
                guard records.count >= 2 else { throw HistoryError.needTwoRuns(workdir: workdir, found: records.count) }
                (a, b) = (records[records.count - 2], records[records.count - 1])
            case 1:
                guard records.count >= 2 else { throw HistoryError.needTwoRuns(workdir: workdir, found: records.count) }
                (a, b) = (try RunHistory.resolve(runs[0], in: records), records[records.count - 1])
            default:
                (a, b) = (try RunHistory.resolve(runs[0], in: records), try RunHistory.resolve(runs[1], in: records))
            }
            let diff = RunDiff.compare(a, b, workdir: workdir)
            print(json ? try diff.json() : diff.text())
        }
    }

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Prune the run cache to the stage outputs of the last N runs (and the current ones); report its size.",
            discussion: "Run records are kept. A killed gc leaves a consistent cache (entries are renamed away before they are deleted)."
        )

        @Argument(help: "The pipeline JSON file.")
        var file: String

        @Option(help: ArgumentHelp("Keep the cached outputs of the last N runs.", valueName: "N"))
        var keep: Int

        @Flag(name: .customLong("dry-run"), help: "Say what would be removed; remove nothing.")
        var dryRun = false

        func validate() throws {
            guard keep >= 0 else { throw ValidationError("--keep must be at least 0, found \(keep)") }
        }

        func run() throws {
            let (name, workdir) = try RunHistory.locate(file: file)
            guard FileManager.default.fileExists(atPath: workdir) else { throw HistoryError.noRuns(workdir: workdir) }
            print(try RunCacheCollector.collect(workdir: workdir, pipeline: name, keep: keep, dryRun: dryRun).text())
        }
    }
}
