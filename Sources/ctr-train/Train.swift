import ArgumentParser
import Cluster
import CommandSupport
import Dataset
import Featurize
import FFM
import Foundation
import LogIO

@main
struct Train: StageCommand {
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
              ctr-train --dump model --format json > model.json
              ctr-train --dump model --format npy -o model-npy/    # numpy.load-able arrays + layout.json
                ctr-train -p valid.cache 'shards/train-*.cache' -o model    # several caches, as one
              mpirun -np 4 ctr-train -p valid.cache train.cache -o model   # a build with --traits MPI

            Under mpirun (a build with `swift build -c release --traits MPI`) each rank trains on its \
            share of the training data (whole files when there are at least as many as ranks, else \
            row groups) and the ranks add up their changes every --sync-rows rows and at the end of \
            each epoch; rank 0 writes the model (docs/SCALING.md).
            """,
        version: BuildInfo.version(formats: [("model", Int(ModelFile.version)), ("cache", Int(CacheFormat.version)), ("featurizer.json", FeaturizerSpec.currentVersion)]))

    @OptionGroup(title: "Training options") var params: TrainParams

    @Option(name: [.customShort("p"), .long], help: "Validation set (libffm text or cache): log loss and AUC per epoch.")
    var validation: String?

    @Option(name: .customLong("init-model"), help: "Warm start from this model file (same kind, k, normalisation, linear terms).")
    var initModel: String?

    @Option(name: .customLong("log-json"), help: "Write the per-epoch figures to this JSON file.")
    var logJson: String?

    @Option(help: "featurizer.json the data was made with; its hash is stored in the model and checked by ctr-predict.")
    var featurizer: String?

    @Option(name: [.customShort("o"), .long], help: "Model file to write (or give it as the second argument).")
    var output: String?

    @Option(help: "Print a text dump of this model file and exit.")
    var dump: String?

    enum DumpFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json, npy, libffm
    }

    @Option(help: "With --dump: text (readable), json (docs/FORMATS.md, \"Model export\"), npy (NumPy arrays and layout.json into the folder given with -o) or libffm (ffm-train's model file, to -o; FFM without linear terms).")
    var format: DumpFormat = .text

    @OptionGroup(title: "Common options") var common: CommonOptions

    @Argument(help: "Training set: libffm text (plain or gzip) or binary cache; several as one: a folder (its *.cache files), a quoted glob or a comma-separated list.")
    var trainingSet: String?

    @Argument(help: "Model file to write (default: the training file's name + .model, as libffm).")
    var modelFile: String?

    func validate() throws {
        if dump == nil && trainingSet == nil { throw ValidationError("missing the training set file") }
        if output != nil && modelFile != nil { throw ValidationError("give the model file either with -o or as the second argument, not both") }
        if format != .text && dump == nil { throw ValidationError("--format goes with --dump MODEL") }
        if format == .npy && output == nil { throw ValidationError("--format npy writes into a folder: give it with -o DIR") }
        if format == .libffm && output == nil { throw ValidationError("--format libffm writes a file: give it with -o FILE") }
        try validateParams(params.inputProblems(hasValidation: validation != nil))
    }

    func run() throws {
        if let dump {
            let (model, metadata) = try ModelFile.load(dump)
            if format == .npy {
                try ModelExport.writeNumPy(model, metadata: metadata, path: dump, to: output!)
                return
            }
            if format == .libffm {
                try LibFFMModelFile.save(model, to: output!)
                return
            }
            var out = ""
            let emit: (String) -> Void = { line in
                out += line
                out += "\n"
                if out.utf8.count > 1 << 16 {
                    FileHandle.standardOutput.write(out.data(using: .utf8)!)
                    out = ""
                }
            }
            if format == .json {
                try ModelExport.json(model, metadata: metadata, path: dump, write: emit)
            } else {
                ModelFile.dump(model, metadata: metadata, write: emit)
            }
            FileHandle.standardOutput.write(out.data(using: .utf8)!)
            return
        }
        let inputs = TrainInputs(train: trainingSet!, valid: validation, initModel: initModel, featurizer: featurizer)
        // Under mpirun (built with MPI) every rank runs this with the same arguments.
        let cluster = try Cluster.world()
        do {
            _ = try TrainStage.run(params, inputs: inputs, outputs: TrainOutputs(model: output ?? modelFile, epochs: logJson),
                                   reporter: common.reporter, cluster: cluster)
        } catch where cluster.size > 1 {
            // The other ranks wait in a collective for this one: end the whole job (mpirun
            // exits non-zero; rank 0 publishes nothing, as it commits only after the last one).
            cluster.abort("Error: rank \(cluster.rank) of \(cluster.size): \(error)")
        }
    }
}
