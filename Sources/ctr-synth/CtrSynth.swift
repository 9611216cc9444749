import ArgumentParser
import CommandSupport
import Foundation
import LogIO
import Synth

extension SynthFormat: ExpressibleByArgument {}

@main
struct CtrSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-synth",
        abstract: "Write synthetic Criteo- or Avazu-format click logs drawn from a planted field-aware model.",
        discussion: """
            Categorical values follow Zipf-like laws over vocabularies of very different sizes \
            (3 to 10 million values), with missing values and negative integers as in the real \
            sets. Labels are drawn from a planted field-aware factorization machine whose pairwise \
            field interactions carry much of the signal. The same seed gives the same bytes. \
            --probabilities writes each row's true click probability, so the best achievable \
            log loss is known; it is also printed in the summary.

            Example: ctr-synth --format criteo --rows 40000 --seed 7 --out criteo.tsv.gz
            """)

    @Option(name: .long, help: "criteo (TSV, 40 fields, no header) or avazu (CSV, 24 fields, header).")
    var format = SynthParams().format

    @Option(name: .long, help: ArgumentHelp("Number of rows.", valueName: "N"))
    var rows = SynthParams().rows

    @Option(name: .long, help: ArgumentHelp("Seed: the same seed gives the same output.", valueName: "N"))
    var seed = SynthParams().seed

    @Option(name: .long, help: ArgumentHelp("Mean click probability (default 0.2 for criteo, 0.17 for avazu).", valueName: "R"))
    var clickRate: Double?

    @Option(name: .long, help: ArgumentHelp("Strength of the pairwise field interactions (0: a purely linear truth).", valueName: "X"))
    var interactionScale = SynthParams().interactionScale

    @Option(name: .long, help: ArgumentHelp("Days the avazu hour column spans (rows are in time order).", valueName: "N"))
    var days = SynthParams().days

    @Option(name: .long, help: ArgumentHelp("gzip level (1-9) for outputs ending in .gz.", valueName: "N"))
    var gzipLevel = SynthParams().gzipLevel

    @Option(name: .long, help: ArgumentHelp("Output log file; gzip when the name ends in .gz.", valueName: "FILE"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Also write each row's true click probability, one per line.", valueName: "FILE"))
    var probabilities: String?

    @OptionGroup(title: "Common options")
    var common: CommonOptions

    var params: SynthParams {
        var p = SynthParams()
        p.format = format
        p.rows = rows
        p.seed = seed
        p.clickRate = clickRate
        p.interactionScale = interactionScale
        p.days = days
        p.gzipLevel = gzipLevel
        return p
    }

    func validate() throws {
        do { try params.validate() } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let started = Date()
        let summary: SynthSummary
        do {
            summary = try Synth.run(params: params, output: out, probabilities: probabilities)
        } catch {
            throw StageFailure("\(error)")
        }
        if !common.quiet {
            let seconds = Date().timeIntervalSince(started)
            printError("ctr-synth: wrote \(Progress.grouped(summary.rows)) \(format.rawValue) rows to \(out) in "
                + String(format: "%.2f s: click rate %.4f (mean true probability %.4f), ", seconds,
                         Double(summary.clicks) / Double(summary.rows), summary.meanProbability)
                + String(format: "log loss of the true model %.4f, of the constant %.4f (NE %.3f)",
                         summary.bayesLogLoss, summary.constantLogLoss, summary.bayesNormalizedEntropy))
        }
    }
}
