import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import CommandSupport
import FFM
import Foundation
import LogIO
import Dataset
import Metrics
import StageKit

@main
struct CtrEval: StageCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-eval",
        abstract: "Evaluate click probabilities: AUC, log loss, NE, calibration, reliability, per-segment metrics.",
        discussion: """
        Reads one probability per line from each --predictions file and one label per row from --labels \
        (one 0/1 per line, a ctr-ingest rows file or a libffm text file, recognised from the content; \
        gzip or plain). Several --predictions files are compared side by side on the same labels, \
        with DeLong's test against the first. Always prints a table; --json and --html write reports.

        Examples:
          ctr-eval --predictions test.pred --labels test.ffm --html report.html
          ctr-eval --predictions a.pred --predictions b.pred --labels test.labels --json metrics.json
          ctr-eval --predictions p --labels l --group-by site_ids.txt --neg-keep-rate 0.1
          ctr-eval --model model --data test.cache --html report.html

        With --model, a model that carries a calibrator (ctr-train --calibrate) is evaluated \
        without and with it, side by side: calibration before and after.
        """,
        version: BuildInfo.version(formats: [("metrics.json", JSONReport.schemaVersion), ("cache", Int(CacheFormat.version))]))

    @Option(help: ArgumentHelp("A predictions file: one probability in [0, 1] per line. Repeat to compare models.", valueName: "file"))
    var predictions: [String] = []

    @Option(help: ArgumentHelp("Labels: one 0/1 per line, a ctr-ingest rows file or a libffm text file.", valueName: "file"))
    var labels: String?

    @Option(help: ArgumentHelp("Write the metrics as JSON (schema in docs/FORMATS.md).", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Write a self-contained HTML report (inline SVG charts).", valueName: "file"))
    var html: String?

    @OptionGroup(title: "Evaluation options") var params: EvalParams

    @Option(help: ArgumentHelp("Segment keys, one per row (e.g. a site or user id): per-segment metrics and GAUC.", valueName: "file"))
    var groupBy: String?

    @Option(help: ArgumentHelp("Row weights, one non-negative number per row.", valueName: "file"))
    var weights: String?

    @Option(help: ArgumentHelp("Score --data with this model file (ctr-train's) instead of reading --predictions. Repeat to compare models.", valueName: "file"))
    var model: [String] = []

    @Option(help: ArgumentHelp("libffm data (text or binary cache) to score with --model; its labels are used.", valueName: "file"))
    var data: String?

    @OptionGroup(title: "Common options") var common: CommonOptions

    func validate() throws {
        if !model.isEmpty || data != nil {
            guard !model.isEmpty, data != nil else {
                throw ValidationError("--model and --data go together: give both, or use --predictions with --labels.")
            }
            guard predictions.isEmpty, labels == nil else {
                throw ValidationError("--predictions and --labels cannot be combined with --model/--data (the labels come from --data).")
            }
            guard params.modelName.isEmpty || params.modelName.count == model.count else {
                throw ValidationError("--model-name: given \(params.modelName.count) names; expected one per --model (\(model.count))")
            }
            return
        }
        guard !predictions.isEmpty else { throw ValidationError("Missing --predictions (or --model with --data).") }
        guard labels != nil else { throw ValidationError("Missing --labels: the file holding the true 0/1 labels.") }
    }

    func run() throws {
        var params = self.params
        var inputs: EvalInputs
        var scored: [String] = []
        var modelPaths: [String] = []
        defer { for path in scored { unlink(path) } }
        if let data {
            // Score with ctr-predict's own code into temporary files, then evaluate those
            // against the labels of the same data; the correction stays with ctr-eval.
            // A model with a calibrator (ctr-train --calibrate) is evaluated twice, without and
            // with it: calibration before and after, side by side.
            let names = params.modelName.isEmpty ? EvalStage.uniqueNames(model) : params.modelName
            var files: [String] = [], shownNames: [String] = []
            for (i, modelPath) in model.enumerated() {
                func temporary(_ suffix: String) -> String {
                    let path = FileManager.default.temporaryDirectory.appendingPathComponent("ctr-eval-\(getpid())-\(i)\(suffix).pred").path
                    scored.append(path)
                    return path
                }
                let path = temporary("")
                let result = try PredictStage.run(.defaults, inputs: PredictInputs(data: data, model: modelPath), outputs: path, reporter: .silent)
                if let method = result.calibrator {
                    var plain = PredictParams.defaults
                    plain.uncalibrated = true
                    let before = temporary("-uncalibrated")
                    _ = try PredictStage.run(plain, inputs: PredictInputs(data: data, model: modelPath), outputs: before, reporter: .silent)
                    files += [before, path]
                    modelPaths += [modelPath, modelPath]
                    shownNames += [names[i] + " (uncalibrated)", names[i] + " (\(method))"]
                } else {
                    files.append(path)
                    modelPaths.append(modelPath)
                    shownNames.append(names[i])
                }
            }
            params.modelName = shownNames
            inputs = EvalInputs(predictions: files, labels: data, groupBy: groupBy, weights: weights)
        } else {
            inputs = EvalInputs(predictions: predictions, labels: labels!, groupBy: groupBy, weights: weights)
        }
        if params.task == .regression {
            let result = try EvalStage.run(params, inputs: inputs, outputs: EvalOutputs(json: json, html: html), reporter: .silent)
            print(result.table, terminator: "")
            fflush(nil)
            let reporter = common.reporter
            for warning in result.report.warnings { reporter.note("warning: \(warning)") }
            for path in [result.jsonPath, result.htmlPath].compactMap({ $0 }) { reporter.note("wrote \(path)") }
            return
        }
        var report = try EvalStage.evaluate(params: params, inputs: inputs)
        if data != nil {
            for i in report.models.indices { report.models[i].predictionsPath = modelPaths[i] }
        }
        report.run = .commandLine(CommandLine.arguments, toolVersion: SwiftCTRRelease.version, gitRevision: BuildInfo.gitRevision,
                                  params: params, inputs: inputs, models: model)
        let result = try EvalStage.write(report, params: params, outputs: EvalOutputs(json: json, html: html))
        print(result.table, terminator: "")
        fflush(nil)  // the table before any message on stderr
        let reporter = common.reporter
        for warning in result.report.warnings { reporter.note("warning: \(warning)") }
        for path in [result.jsonPath, result.htmlPath].compactMap({ $0 }) { reporter.note("wrote \(path)") }
    }
}
