import ArgumentParser
import CommandSupport
import FFM
import Foundation
import LogIO

extension ModelKind: ExpressibleByArgument {}

@main
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-train",
        abstract: "Train a field-aware factorization machine (or FM / LR) with log loss and AdaGrad.",
        discussion: """
            A drop-in for libffm's ffm-train: same options and defaults, same model (use --no-linear for \
            libffm's exact model; by default a bias and linear terms are added). Input is libffm text \
            (plain or gzip) or a ctr-hash binary cache. The per-epoch table goes to stderr.

            Examples:
              ctr-train -k 4 -t 15 -p valid.ffm train.ffm model
              ctr-train --patience 2 -p valid.cache -s 2 --seed 7 train.cache -o model
              ctr-train --dump model
            """)

    @Option(name: [.customShort("l"), .long], help: "L2 regularisation λ.")
    var lambda: Double = 0.00002

    @Option(name: [.customShort("k"), .long], help: "Number of latent factors.")
    var factors: Int = 4

    @Option(name: [.customShort("t"), .long], help: "Number of epochs (iterations).")
    var epochs: Int = 15

    @Option(name: [.customShort("r"), .long], help: "Learning rate η.")
    var eta: Double = 0.2

    @Option(name: [.customShort("s"), .long], help: "Number of threads (hogwild); 1 gives a byte-identical model for a seed.")
    var threads: Int = 1

    @Option(name: [.customShort("p"), .long], help: "Validation set (libffm text or cache): log loss and AUC per epoch.")
    var validation: String?

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    @Flag(name: .customLong("no-norm"), help: "Turn off instance-wise normalisation.")
    var noNorm = false

    @Flag(name: .customLong("auto-stop"), help: "Stop when validation log loss stops improving and keep the best epoch (= --patience 1).")
    var autoStop = false

    @Option(help: "Stop after this many epochs without validation improvement and keep the best epoch (0 = off).")
    var patience: Int = 0

    @Option(help: "Seed for the initial weights and the shuffles.")
    var seed: UInt64 = 1

    @Option(help: "Model kind: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: ModelKind = .ffm

    @Flag(name: .customLong("no-linear"), help: "No bias and linear terms: exactly libffm's model.")
    var noLinear = false

    @Option(name: .customLong("init-model"), help: "Warm start from this model file (same kind, k, normalisation, linear terms).")
    var initModel: String?

    @Option(name: .customLong("log-json"), help: "Write the per-epoch figures to this JSON file.")
    var logJson: String?

    @Option(help: "featurizer.json the data was made with; its hash is stored in the model and checked by ctr-predict.")
    var featurizer: String?

    @Option(name: .customLong("block-mb"), help: "Megabytes of training data read per block (memory vs I/O granularity).")
    var blockMb: Int = 32

    @Option(name: [.customShort("o"), .long], help: "Model file to write (or give it as the second argument).")
    var output: String?

    @Option(help: "Print a text dump of this model file and exit.")
    var dump: String?

    @Argument(help: "Training set: libffm text (plain or gzip) or binary cache.")
    var trainingSet: String?

    @Argument(help: "Model file to write (default: the training file's name + .model, as libffm).")
    var modelFile: String?

    func validate() throws {
        if dump == nil && trainingSet == nil { throw ValidationError("missing the training set file") }
        if output != nil && modelFile != nil { throw ValidationError("give the model file either with -o or as the second argument, not both") }
    }

    var params: TrainParams {
        var p = TrainParams()
        p.lambda = lambda
        p.factors = factors
        p.epochs = epochs
        p.eta = eta
        p.threads = threads
        p.validation = validation
        p.quiet = quiet
        p.noNorm = noNorm
        p.autoStop = autoStop
        p.patience = patience
        p.seed = seed
        p.model = model
        p.noLinear = noLinear
        p.initModel = initModel
        p.logJson = logJson
        p.featurizer = featurizer
        p.output = output ?? modelFile
        p.blockMb = blockMb
        return p
    }

    func run() throws {
        do {
            if let dump {
                let (model, metadata) = try ModelFile.load(dump)
                var out = ""
                ModelFile.dump(model, metadata: metadata) { line in
                    out += line
                    out += "\n"
                    if out.utf8.count > 1 << 16 {
                        FileHandle.standardOutput.write(out.data(using: .utf8)!)
                        out = ""
                    }
                }
                FileHandle.standardOutput.write(out.data(using: .utf8)!)
                return
            }
            _ = try TrainStage.run(params: params, trainingSet: trainingSet!)
        } catch let error as CustomStringConvertible & Error {
            throw StageFailure(error.description)
        }
    }
}
