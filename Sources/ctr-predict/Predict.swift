import ArgumentParser
import CommandSupport
import FFM
import Featurize
import Foundation

@main
struct Predict: ParsableCommand {
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
            """)

    @Option(help: "Test set (instead of the first argument).")
    var input: String?

    @Option(help: "Model file (instead of the second argument).")
    var model: String?

    @Option(name: [.customShort("o"), .long], help: "Output file (instead of the third argument).")
    var output: String?

    @Option(name: .customLong("neg-keep-rate"), help: "Negatives were kept with this rate in training: correct p to p / (p + (1 - p) / W).")
    var negKeepRate: Double = 1

    @Option(name: [.customShort("s"), .long], help: "Scoring threads (0 = one per core); the output does not depend on it.")
    var threads: Int = 0

    @Option(help: "Raw logs in: featurize them with this featurizer.json (from ctr-hash).")
    var featurizer: String?

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    @Argument(help: "test_file model_file output_file (libffm's order).")
    var files: [String] = []

    var params: PredictParams {
        var p = PredictParams()
        p.negKeepRate = negKeepRate
        p.threads = threads
        p.featurizer = featurizer
        p.quiet = quiet
        return p
    }

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
        do {
            if let featurizer {
                var params = self.params
                params.featurizer = featurizer
                let rows = try RawLogInput(path: input, featurizer: Featurizer(contentsOf: featurizer))
                _ = try PredictStage.run(params: params, rows: rows, model: model, output: output,
                                         featurizerHash: TrainStage.fileHash(featurizer))
            } else {
                _ = try PredictStage.run(params: params, input: input, model: model, output: output)
            }
        } catch let error as CustomStringConvertible & Error {
            throw StageFailure(error.description)
        }
    }
}
