import ArgumentParser
import CommandSupport
import Dataset
import Featurize
import FFM
import Foundation

@main
struct Predict: StageCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-predict",
        abstract: "Write one click probability per input row with a model from ctr-train.",
        discussion: """
            A drop-in for libffm's ffm-predict: `ctr-predict test_file model_file output_file`. Input is \
            libffm text (plain or gzip), a binary cache, or raw logs with --featurizer (featurized exactly \
            as ctr-hash did for training). Prints `logloss = …` on stdout when every row has a label. Features with indices never seen in training contribute nothing; an FFM row with a \
            field beyond the model is an error.

            Examples:
              ctr-predict test.ffm model predictions.txt
              ctr-predict --input test.cache --model model --output p.txt --neg-keep-rate 0.1 -s 2
              ctr-predict --featurizer hashed/featurizer.json day_7.gz model p.txt
            """,
        version: BuildInfo.version(formats: [("model", Int(ModelFile.version)), ("cache", Int(CacheFormat.version)), ("featurizer.json", FeaturizerSpec.currentVersion)]))

    @OptionGroup(title: "Prediction options") var params: PredictParams

    @Option(help: "Test set (instead of the first argument).")
    var input: String?

    @Option(help: "Model file (instead of the second argument).")
    var model: String?

    @Option(name: [.customShort("o"), .long], help: "Output file (instead of the third argument).")
    var output: String?

    @Option(help: "Raw logs in: featurize them with this featurizer.json (from ctr-hash).")
    var featurizer: String?

    @OptionGroup(title: "Common options") var common: CommonOptions

    @Argument(help: "test_file model_file output_file (libffm's order).")
    var files: [String] = []

    func resolved() throws -> (String, String, String) {
        var rest = files
        func take(_ flag: String?, _ name: String) throws -> String {
            if let flag { return flag }
            guard !rest.isEmpty else { throw ValidationError("missing the \(name)") }
            return rest.removeFirst()
        }
        let i = try take(input, "test file"), m = try take(model, "model file"), o = try take(output, "output file")
        guard rest.isEmpty else { throw ValidationError("unexpected argument \(rest[0])") }
        return (i, m, o)
    }

    func validate() throws { _ = try resolved() }

    func run() throws {
        let (input, model, output) = try resolved()
        let result = try PredictStage.run(params, inputs: PredictInputs(data: input, model: model, featurizer: featurizer),
                                          outputs: output, reporter: common.reporter)
        if let loss = result.logLoss, !common.quiet { print(String(format: "logloss = %.5f", loss)) }
        if let rmse = result.rmse, !common.quiet { print(String(format: "rmse = %.5f", rmse)) }
    }
}
