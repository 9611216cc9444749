import ArgumentParser
import CommandSupport
import Foundation
import LogIO
import Synth

@main
struct CtrSynth: StageCommand {
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
            """,
        version: BuildInfo.version(formats: []))

    @OptionGroup(title: "Synthesis options") var params: SynthParams

    @Option(name: .long, help: ArgumentHelp("Output log file; gzip when the name ends in .gz.", valueName: "FILE"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Also write each row's true click probability, one per line.", valueName: "FILE"))
    var probabilities: String?

    @OptionGroup(title: "Common options") var common: CommonOptions

    func run() throws {
        let started = Date()
        let summary = try Synth.run(params: params, output: out, probabilities: probabilities)
        let seconds = Date().timeIntervalSince(started)
        if let bayes = summary.bayesRMSE, let constant = summary.constantRMSE {
            common.reporter.note("ctr-synth: wrote \(ProgressMeter.grouped(summary.rows)) ratings rows to \(out) in "
                + String(format: "%.2f s: mean rating %.4f, RMSE of the true model %.4f (noise σ %.4f), of the constant %.4f",
                         seconds, summary.meanProbability, bayes, params.noise, constant))
            return
        }
        common.reporter.note("ctr-synth: wrote \(ProgressMeter.grouped(summary.rows)) \(params.format.rawValue) rows to \(out) in "
            + String(format: "%.2f s: click rate %.4f (mean true probability %.4f), ", seconds,
                     Double(summary.clicks) / Double(summary.rows), summary.meanProbability)
            + String(format: "log loss of the true model %.4f, of the constant %.4f (NE %.3f)",
                     summary.bayesLogLoss, summary.constantLogLoss, summary.bayesNormalizedEntropy))
    }
}
