import ArgumentParser
import Cluster
import CommandSupport
import Dataset
import Featurize
import Ingest
import Foundation

@main
struct Hash: StageCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-hash",
        abstract: "Hash rows into libffm features: train/valid/test .ffm text, binary caches and featurizer.json.",
        discussion: """
            Forms:
              ctr-hash --rows DIR --out DIR [--bins auto|N] [--rare-threshold T] [--config FEATURES.json] [--seed S]
              ctr-hash --schema NAME|SCHEMA.json --out DIR [--valid-file F] [--test-file F] TRAIN_FILE...
              ctr-hash --from-libffm --out DIR FILE.ffm...

            Every row gets exactly one feature per field (fields numbered from 0 in schema order). Each field owns the index range [offset, offset + bins): slot 0 is its missing token, slot 1 its rare token, the rest hashed values (MurmurHash3 x86_32). Integer and float columns use the Criteo winners' rule by default (v > 2 becomes floor(ln(v)^2)).

            Output is byte-identical for the same input, options and seed, whatever --threads.

            Under mpirun (a build with --traits MPI) the ranks share the rows and merge their counts: \
            featurizer.json is the same bytes, and each rank writes its share of each split as a shard, \
            train-00000-of-00002.cache, … (docs/SCALING.md, docs/FORMATS.md); with --join-shards rank 0 then joins \
            them into the one file per split that a single process writes.
            """,
        version: BuildInfo.version(formats: [("cache", Int(CacheFormat.version)), ("featurizer.json", FeaturizerSpec.currentVersion), ("stats.json", IngestStats.currentFormatVersion)]))

    @OptionGroup(title: "Hash options") var params: HashParams

    @OptionGroup var output: OutputFolder

    @OptionGroup(title: "Common options") var common: CommonOptions

    @Argument(help: ArgumentHelp("Raw log files (with --schema) or libffm files (with --from-libffm).", valueName: "FILE"))
    var files: [String] = []

    func run() throws {
        let reporter = common.reporter
        let cluster = try Cluster.world()
        do {
            let result = try HashStage.run(params, inputs: files, outputs: output.out, reporter: reporter, cluster: cluster)
            if cluster.isRoot { reporter.note(result.report() + String(format: "\nctr-hash: done in %.2f s", result.seconds)) }
        } catch where cluster.size > 1 {
            // The other ranks wait in a collective: end the whole job (nothing is published).
            cluster.abort("Error: rank \(cluster.rank) of \(cluster.size): \(error)")
        }
    }
}
