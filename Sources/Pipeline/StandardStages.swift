import Featurize
import FFM
import Foundation
import Ingest
import LogIO
import Metrics
import StageKit

/// The stage kinds `ctr-pipeline` runs: each adapts a stage library's Params struct and
/// entry point (the same function its `ctr-*` executable calls) to `PipelineStage`.
///
/// File paths that the command lines take as options (a schema or features JSON, the
/// validation set, the output folder, …) are input slots or outputs here, so that the
/// pipeline resolves them against the pipeline file, hashes them into fingerprints and
/// places outputs under the work directory; their parameter keys are reserved.
extension StageRegistry {
    /// Built once per process (each kind reads its parameter declarations and defaults).
    public static let standard: StageRegistry = {
        var registry = StageRegistry()
        registry.register(IngestKind())
        registry.register(HashKind())
        registry.register(TrainKind())
        registry.register(PredictKind())
        registry.register(EvalKind())
        return registry
    }()
}

// MARK: - ingest

struct IngestKind: PipelineStage {
    var kind: String { "ingest" }
    var summary: String { "Raw click logs -> validated train/valid/test rows, quarantine and stats.json (ctr-ingest)." }
    var inputSlots: [InputSlot] {
        [InputSlot("logs", multiple: true, summary: "raw log files (gzip or plain), read in the order given"),
         InputSlot("schema", required: false, summary: "a schema JSON file (instead of a preset in params.schema)")]
    }

    func outputs(for params: IngestParams, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("rows", path: ".", isDirectory: true, summary: "the rows folder (what hash reads)"),
         OutputDecl("train", path: Split.train.fileName, summary: "training rows"),
         OutputDecl("valid", path: Split.valid.fileName, summary: "validation rows"),
         OutputDecl("test", path: Split.test.fileName, summary: "test rows"),
         OutputDecl("stats", path: IngestStats.fileName, summary: "row counts and column statistics"),
         OutputDecl("quarantine", path: IngestStage.quarantineFileName, summary: "bad rows with file, line and reason")]
    }

    func check(_ params: IngestParams, inputs: Set<String>) -> [ParamProblem] {
        var result: [ParamProblem] = []
        if !inputs.contains("schema"), !Schema.presetNames.contains(params.schema) {
            result.append(ParamProblem("schema", "\"\(params.schema)\" is not a preset (\(Schema.presetNames.joined(separator: ", "))); "
                                     + "give a schema JSON file as the input \"schema\" instead" + Suggest.hint(params.schema, Schema.presetNames)))
        }
        return result
    }

    var mpiTool: String? { "ctr-ingest" }
    /// The rows are one process's bytes on any number of ranks, but stats.json's float
    /// means may differ in the last digit (sums added in another order): fingerprinted.
    var mpiRanksChangeResult: Bool { true }

    func commandLine(_ context: StageContext<IngestParams>) -> [String] {
        var params = context.params
        if let schema = context.path("schema") { params.schema = schema }
        return params.commandLineArguments() + ["--out", context.directory] + context.paths("logs")
    }

    func run(_ context: StageContext<IngestParams>) throws -> StageOutcome {
        var params = context.params
        if let schema = context.path("schema") { params.schema = schema }
        let result = try IngestStage.run(params, inputs: context.paths("logs"), outputs: context.directory, reporter: context.reporter)
        return StageOutcome(notes: [result.summary])
    }
}

// MARK: - hash

struct HashKind: PipelineStage {
    var kind: String { "hash" }
    var summary: String { "Rows (or raw logs) -> hashed libffm text, binary caches and featurizer.json (ctr-hash)." }
    var inputSlots: [InputSlot] {
        [InputSlot("rows", required: false, summary: "ctr-ingest's rows folder, e.g. ${ingest.rows}"),
         InputSlot("train", required: false, multiple: true, summary: "raw logs of the training split (with params.schema)"),
         InputSlot("valid", required: false, multiple: true, summary: "raw logs of the validation split (with params.schema)"),
         InputSlot("test", required: false, multiple: true, summary: "raw logs of the test split (with params.schema)"),
         InputSlot("config", required: false, summary: "a features config JSON file")]
    }
    var reservedKeys: [String: String] {
        ["rows": "give the rows folder as the input \"rows\"",
         "validFile": "give the raw validation logs as the input \"valid\"",
         "testFile": "give the raw test logs as the input \"test\"",
         "config": "give the features config as the input \"config\"",
         "fromLibffm": "give libffm files straight to train, predict and eval",
         "joinShards": "an \"mpi\" hash stage always joins its shards (its outputs are the files of one process)"]
    }

    func splits(_ inputs: Set<String>) -> [String] {
        inputs.contains("rows") ? ["train", "valid", "test"] : ["train"] + ["valid", "test"].filter { inputs.contains($0) }
    }

    func outputs(for params: HashParams, inputs: Set<String>) -> [OutputDecl] {
        var result = [OutputDecl("dir", path: ".", isDirectory: true, summary: "the whole output folder"),
                      OutputDecl("featurizer", path: "featurizer.json", summary: "how to featurize a raw row again")]
        for split in splits(inputs) {
            result.append(OutputDecl(split, path: split + (params.cache ? ".cache" : ".ffm"),
                                     summary: "\(split) split: the binary cache (the libffm text with cache off)"))
            if params.text { result.append(OutputDecl(split + "Text", path: split + ".ffm", summary: "\(split) split as libffm text")) }
        }
        return result
    }

    func check(_ params: HashParams, inputs: Set<String>) -> [ParamProblem] {
        var result: [ParamProblem] = []
        if inputs.contains("rows") {
            if inputs.contains("train") || inputs.contains("valid") || inputs.contains("test") {
                result.append(ParamProblem("", "give either the input \"rows\" (a ctr-ingest folder) or raw logs as \"train\"/\"valid\"/\"test\", not both"))
            }
            if params.schema != nil { result.append(ParamProblem("schema", "applies to raw logs (input \"train\"), not to a rows folder")) }
        } else if inputs.contains("train") {
            if params.schema == nil { result.append(ParamProblem("schema", "raw logs (input \"train\") need a schema: a preset such as \"criteo\"")) }
        } else {
            result.append(ParamProblem("", "needs the input \"rows\" (e.g. ${ingest.rows}) or raw logs as \"train\" with params.schema"))
        }
        return result
    }

    var mpiTool: String? { "ctr-hash" }
    /// The outputs are one process's bytes (the shards joined), but spline knots come from
    /// the ranks' merged value samples, which can differ from one process's sample once
    /// the values outnumber it: fingerprinted.
    var mpiRanksChangeResult: Bool { true }

    /// The same files as `run`'s, given to ctr-hash; under mpirun rank 0 joins the shards
    /// (`--join-shards`), so the stages downstream read `train.cache` as from one process.
    func commandLine(_ context: StageContext<HashParams>) -> [String] {
        let (params, inputs) = toolParams(context)
        return params.commandLineArguments() + ["--out", context.directory] + inputs
    }

    /// The parameters with the input slots filled in, and the raw training logs.
    func toolParams(_ context: StageContext<HashParams>) -> (HashParams, [String]) {
        var params = context.params
        var inputs: [String] = []
        if let rows = context.path("rows") {
            params.rows = rows
        } else {
            inputs = context.paths("train")
            params.validFile = context.paths("valid")
            params.testFile = context.paths("test")
        }
        params.config = context.path("config")
        params.joinShards = true
        return (params, inputs)
    }

    func run(_ context: StageContext<HashParams>) throws -> StageOutcome {
        let (params, inputs) = toolParams(context)
        let result = try HashStage.run(params, inputs: inputs, outputs: context.directory, reporter: context.reporter)
        // The per-field table is in featurizer.json; the log gets the counts.
        return StageOutcome(notes: result.report(fieldTable: false).split(separator: "\n").map(String.init))
    }
}

// MARK: - train

struct TrainKind: PipelineStage {
    var kind: String { "train" }
    var summary: String { "Train a field-aware FM (or FM, LR) with AdaGrad; early stopping on the valid input (ctr-train)." }
    var inputSlots: [InputSlot] {
        [InputSlot("train", summary: "training data: binary cache or libffm text"),
         InputSlot("valid", required: false, summary: "validation data (for the per-epoch table and early stopping)"),
         InputSlot("init", required: false, summary: "a model file to warm-start from"),
         InputSlot("featurizer", required: false, summary: "the featurizer.json the data was made with (its hash goes into the model)")]
    }
    func outputs(for params: TrainParams, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("model", path: "model.bin", summary: "the model file"),
         OutputDecl("epochs", path: "epochs.json", summary: "per-epoch figures")]
    }

    func check(_ params: TrainParams, inputs: Set<String>) -> [ParamProblem] {
        params.inputProblems(hasValidation: inputs.contains("valid"))
    }

    var mpiTool: String? { "ctr-train" }
    /// Each rank trains on its share and the ranks average: the model depends on their number.
    var mpiRanksChangeResult: Bool { true }

    func commandLine(_ context: StageContext<TrainParams>) -> [String] {
        var words = context.params.commandLineArguments()
        if let valid = context.path("valid") { words += ["-p", valid] }
        if let initModel = context.path("init") { words += ["--init-model", initModel] }
        if let featurizer = context.path("featurizer") { words += ["--featurizer", featurizer] }
        return words + ["--log-json", context.output("epochs"), "-o", context.output("model"), context.path("train")!]
    }

    func run(_ context: StageContext<TrainParams>) throws -> StageOutcome {
        let inputs = TrainInputs(train: context.path("train")!, valid: context.path("valid"), initModel: context.path("init"),
                                 featurizer: context.path("featurizer"))
        let result = try TrainStage.run(context.params, inputs: inputs,
                                        outputs: TrainOutputs(model: context.output("model"), epochs: context.output("epochs")),
                                        reporter: context.reporter)
        var note = "trained on \(ProgressMeter.grouped(result.rows)) rows; kept epoch \(result.bestEpoch) of \(result.epochs.count)"
        var metrics: [ModelMetrics] = []
        if let best = result.epochs.first(where: { $0.epoch == result.bestEpoch }), let loss = best.vaLogLoss {
            // With squared loss (#13) the validation figure is the mean squared error.
            note += String(format: context.params.loss == .squared ? " (va_mse %.5f" : " (va_logloss %.5f", loss) + (best.vaAUC.map { String(format: ", va_auc %.5f", $0) } ?? "") + ")"
            // The validation figures of the kept epoch: what a sweep's variants are ranked by.
            let lossKey = context.params.loss == .squared ? "va_mse" : "va_logloss"
            metrics = [ModelMetrics(model: context.stage, values: [lossKey: loss, "va_auc": best.vaAUC])]
        }
        return StageOutcome(metrics: metrics, notes: [note])
    }
}

// MARK: - predict

struct PredictKind: PipelineStage {
    var kind: String { "predict" }
    var summary: String { "Score data with a model: one probability per line (ctr-predict)." }
    var inputSlots: [InputSlot] {
        [InputSlot("data", summary: "binary cache or libffm text to score, or raw logs with a featurizer"),
         InputSlot("model", summary: "a model file, e.g. ${train.model}"),
         InputSlot("featurizer", required: false, summary: "raw logs in: hash's featurizer.json, e.g. ${hash.featurizer}")]
    }

    func outputs(for params: PredictParams, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("predictions", path: "predictions.txt", summary: "one probability per line")]
    }

    func run(_ context: StageContext<PredictParams>) throws -> StageOutcome {
        let inputs = PredictInputs(data: context.path("data")!, model: context.path("model")!, featurizer: context.path("featurizer"))
        let result = try PredictStage.run(context.params, inputs: inputs, outputs: context.output("predictions"),
                                          reporter: context.reporter)
        var note = "scored \(ProgressMeter.grouped(result.rows)) rows"
        if let loss = result.logLoss { note += String(format: "; log loss %.5f", loss) }
        if let rmse = result.rmse { note += String(format: "; RMSE %.5f", rmse) }
        return StageOutcome(notes: [note])
    }
}

// MARK: - eval

struct EvalKind: PipelineStage {
    var kind: String { "eval" }
    var summary: String { "AUC, log loss, NE, calibration, reliability: metrics.json and an HTML report (ctr-eval)." }
    var inputSlots: [InputSlot] {
        [InputSlot("predictions", multiple: true, summary: "prediction files, compared side by side (a swept predict gathers here)"),
         InputSlot("labels", summary: "labels: 0/1 per line, a libffm file, a binary cache or a rows file"),
         InputSlot("groupBy", required: false, summary: "segment keys, one per line (per-segment metrics, GAUC)"),
         InputSlot("weights", required: false, summary: "row weights, one per line")]
    }
    var reservedKeys: [String: String] {
        ["logJson": "the pipeline passes the epochs.json of the train stages upstream of eval itself"]
    }

    func outputs(for params: EvalParams, inputs: Set<String>) -> [OutputDecl] {
        [OutputDecl("metrics", path: "metrics.json", summary: "every metric, per model"),
         OutputDecl("report", path: "report.html", summary: "self-contained HTML report")]
    }

    func run(_ context: StageContext<EvalParams>) throws -> StageOutcome {
        var params = context.params
        var predictions = context.inputs["predictions"] ?? []
        // Models are named after the train stage and model kind behind each predictions
        // file (`train (ffm)`, `train@k=8 (ffm)`), else after the stage that wrote it.
        if params.modelName.isEmpty, predictions.allSatisfy({ $0.stage != nil }) {
            params.modelName = EvalKind.modelNames(predictions)
        }
        // Learning curves: the epochs.json of every train stage upstream (#16).
        let trains = (context.run?.upstream ?? []).filter { $0.kind.name == "train" }
        let logs = trains.compactMap { t -> (stage: ResolvedStage, path: String)? in
            guard let path = t.outputs.first(where: { $0.name == "epochs" })?.path, FileManager.default.fileExists(atPath: path)
            else { return nil }
            return (t, path)
        }
        params.logJson = logs.map(\.path)
        // Calibration before and after: a model that carries a calibrator is scored again
        // without it, and both are evaluated side by side (as ctr-eval --model does).
        var scratch: [String] = []
        // The uncalibrated scores are temporary: the report names the model they come from.
        var shownPaths: [Int: String] = [:]
        defer { for path in scratch { unlink(path) } }
        if params.task == .classification, let run = context.run, params.modelName.count == predictions.count {
            var items: [StageInput] = [], names: [String] = []
            for (i, item) in predictions.enumerated() {
                if let uncalibrated = try uncalibratedPredictions(item, run: run, directory: context.directory, index: i) {
                    scratch.append(uncalibrated.path)
                    shownPaths[items.count] = uncalibrated.model
                    items += [StageInput(path: uncalibrated.path, stage: item.stage, output: item.output), item]
                    names += [params.modelName[i] + " (uncalibrated)", params.modelName[i] + " (\(uncalibrated.method))"]
                } else {
                    items.append(item)
                    names.append(params.modelName[i])
                }
            }
            predictions = items
            params.modelName = names
        }
        let inputs = EvalInputs(predictions: predictions.map(\.path), labels: context.path("labels")!,
                                groupBy: context.path("groupBy"), weights: context.path("weights"))
        let outputs = EvalOutputs(json: context.output("metrics"), html: context.output("report"))
        let result: EvalResult
        if params.task == .regression {
            result = try EvalStage.run(params, inputs: inputs, outputs: outputs, reporter: context.reporter)
        } else {
            var report = try EvalStage.evaluate(params: params, inputs: inputs)
            for (i, path) in shownPaths { report.models[i].predictionsPath = path + " (scored without its calibrator)" }
            for (i, log) in logs.enumerated() where i < report.trainingLogs.count {
                report.trainingLogs[i].name = log.stage.name
                report.trainingLogs[i].keptEpoch = keptEpoch(report.trainingLogs[i], train: log.stage)
            }
            if let run = context.run {
                report.run = metadata(run, metrics: modelMetrics(report), logs: logs.map(\.path))
            }
            result = try EvalStage.write(report, params: params, outputs: outputs)
            for warning in result.report.warnings { context.reporter.note("warning: \(warning)") }
        }
        let regression = (result.regression?.models ?? []).map { model -> ModelMetrics in
            let m = model.metrics
            return ModelMetrics(model: model.name, values: ["rmse": m.rmse, "mae": m.mae, "r2": m.r2, "rows": Double(m.rows)])
        }
        return StageOutcome(metrics: modelMetrics(result.report) + regression, notes: ["\n" + result.table])
    }

    func modelMetrics(_ report: EvalReport) -> [ModelMetrics] {
        report.models.map { model -> ModelMetrics in
            let m = model.metrics
            return ModelMetrics(model: model.name, values: [
                "auc": m.auc, "logloss": m.logloss, "ne": m.ne, "calibration": m.calibration,
                "pr_auc": m.prAUC, "brier": m.brier, "ece": m.reliability?.ece,
                "rows": Double(m.rows), "click_rate": m.clickRate,
            ])
        }
    }

    /// The epoch whose weights train kept: the lowest validation loss with early stopping
    /// (TrainStage's rule), else the last.
    func keptEpoch(_ log: TrainingLog, train: ResolvedStage) -> Int? {
        guard let params = train.params.value as? TrainParams else { return nil }
        if params.effectivePatience > 0, let best = log.marked, !best.kept { return best.epoch }
        return log.epochs.last?.epoch
    }

    /// Scores the data of the predict stage that made `item` without the model's calibrator,
    /// when the model has one and the stage applied it; nil otherwise.
    func uncalibratedPredictions(_ item: StageInput, run: PipelineRunInfo, directory: String, index: Int) throws -> (path: String, model: String, method: String)? {
        guard let name = item.stage, let predict = run.pipeline.stage(name), predict.kind.name == "predict",
              var params = predict.params.value as? PredictParams, !params.uncalibrated, !params.rawScore,
              let model = predict.inputs.first(where: { $0.slot == "model" })?.items.first?.path,
              let data = predict.inputs.first(where: { $0.slot == "data" })?.items.first?.path,
              let calibrator = try Calibrator.from(try ModelFile.load(model).metadata, path: model)
        else { return nil }
        params.uncalibrated = true
        let featurizer = predict.inputs.first(where: { $0.slot == "featurizer" })?.items.first?.path
        let path = directory + "/.uncalibrated-\(index)-\(getpid()).pred"
        _ = try PredictStage.run(params, inputs: PredictInputs(data: data, model: model, featurizer: featurizer), outputs: path,
                                 reporter: .silent)
        return (path, model, calibrator.method.rawValue)
    }

    /// The report's run section: the pipeline, this stage's parameters and inputs with their
    /// hashes, the training logs, and the sweeps ranked (this stage's metrics as test figures).
    func metadata(_ run: PipelineRunInfo, metrics: [ModelMetrics], logs: [String]) -> RunMetadata {
        var parameters: [(key: String, value: String)] = []
        if case let .object(entries) = run.stage.paramsJSON {
            parameters = entries.filter { reservedKeys[$0.key] == nil }.map { ($0.key, $0.value.text()) }
        }
        var files = run.inputs.map { RunMetadata.File(role: $0.slot, path: $0.path, bytes: RunMetadata.File.sized(role: "", path: $0.path).bytes, hash: $0.hash) }
        let outputs = run.finished.flatMap(\.outputs)
        for path in logs {
            files.append(RunMetadata.File(role: "training log", path: path, bytes: RunMetadata.File.sized(role: "", path: path).bytes,
                                          hash: outputs.first { $0.path == path }?.hash))
        }
        let me = StageReport(name: run.stage.name, kind: run.stage.kind.name, status: .ran, reasons: [], seconds: 0, fingerprint: nil,
                             inputs: run.inputs, outputs: [], metrics: metrics, error: nil)
        let report = RunReport(pipeline: run.pipeline.name, stages: run.finished + [me], seconds: 0, failure: nil, manifestPath: nil)
        let sweeps = RunSummary.sweepTables(report, pipeline: run.pipeline).map { t in
            ReportTable(title: t.title, header: t.rows[0], rows: Array(t.rows.dropFirst()), numeric: t.numeric)
        }
        let directory = URL(fileURLWithPath: run.pipeline.file).deletingLastPathComponent().path
        return RunMetadata(source: "ctr-pipeline \(run.pipeline.name) (\(run.pipeline.file)), stage \(run.stage.name)",
                           toolVersion: run.toolVersion, gitRevision: RunManifest.gitRevision(near: directory),
                           startedAt: ISO8601DateFormatter().string(from: Date()), parameters: parameters, files: files, sweeps: sweeps)
    }

    /// One name per predictions file: its model's label, or its stage's name; a label shared
    /// by several files (two predict stages scoring with one model) gets `via STAGE` added.
    static func modelNames(_ predictions: [StageInput]) -> [String] {
        let labels = predictions.map { $0.model ?? $0.stage ?? $0.path }
        return zip(predictions, labels).map { item, label in
            labels.filter { $0 == label }.count > 1 && item.model != nil ? "\(label) via \(item.stage!)" : label
        }
    }
}
