import ArgumentParser
import CommandSupport
import Featurize
import Foundation

extension HashParams.Bins: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

@main
struct Hash: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-hash",
        abstract: "Hash rows into libffm features: train/valid/test .ffm text, binary caches and featurizer.json.",
        discussion: """
            Forms:
              ctr-hash --rows DIR --out DIR [--bins auto|N] [--rare-threshold T] [--config FEATURES.json] [--seed S]
              ctr-hash --schema criteo|avazu|SCHEMA.json --out DIR [--valid-file F] [--test-file F] TRAIN_FILE...
              ctr-hash --from-libffm --out DIR FILE.ffm...

            Every row gets exactly one feature per field (fields numbered from 0 in schema order).
            Each field owns the index range [offset, offset + bins): slot 0 is its missing token,
            slot 1 its rare token, the rest hashed values (MurmurHash3 x86_32). Integer and float
            columns use the Criteo winners' rule by default (v > 2 -> floor(ln(v)^2)).
            Output is byte-identical for the same input, options and seed, whatever --threads.
            """)

    @Option(name: .long, help: ArgumentHelp("ctr-ingest's output folder (train.tsv, valid.tsv, test.tsv, stats.json).", valueName: "DIR"))
    var rows: String?

    @Option(name: .long, help: ArgumentHelp("Read raw logs instead: a schema preset (criteo, criteo-1tb, criteo-kaggle-csv, avazu) or a schema JSON file; the FILE arguments are the training split.", valueName: "NAME|FILE"))
    var schema: String?

    @Option(name: .long, help: ArgumentHelp("Raw log file of the validation split (with --schema; repeatable).", valueName: "FILE"))
    var validFile: [String] = []

    @Option(name: .long, help: ArgumentHelp("Raw log file of the test split (with --schema; repeatable).", valueName: "FILE"))
    var testFile: [String] = []

    @Flag(name: .long, help: "Convert the FILE arguments, libffm text files, into binary caches (DIR/NAME.cache).")
    var fromLibffm = false

    @Option(name: .long, help: ArgumentHelp("Output folder (created if needed).", valueName: "DIR"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Indices per hashed field: auto (next power of two >= 2 x distinct values in train, plus 2 reserved) or a number (including the 2 reserved).", valueName: "auto|N"))
    var bins: HashParams.Bins = .auto

    @Option(name: .long, help: ArgumentHelp("Cap of the hashed part of a field's range with --bins auto.", valueName: "N"))
    var maxBins: Int = HashParams().maxBins

    @Option(name: .long, help: ArgumentHelp("Categorical values seen fewer than T times in train map to the field's rare token (0: off).", valueName: "T"))
    var rareThreshold: Int = HashParams().rareThreshold

    @Option(name: .long, help: ArgumentHelp("Features config: per-field transform (hash, log-square, buckets, scaled), bins, rare_threshold, boundaries.", valueName: "FEATURES.json"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Seed of the hashes.", valueName: "S"))
    var seed: UInt32 = 0

    @Option(name: .long, help: ArgumentHelp("Hash every field into one shared space of N indices (as the Criteo winners) instead of per-field ranges.", valueName: "N"))
    var sharedSpace: Int?

    @Option(name: .long, help: ArgumentHelp("Distinct values counted exactly (all fields together) before counting switches to a count-min sketch per field; bounds counting memory.", valueName: "N"))
    var countLimit: Int = HashParams().countLimit

    @Option(name: .long, help: ArgumentHelp("Worker threads (0: one per core). Does not change the output.", valueName: "N"))
    var threads: Int = 0

    @Flag(name: .long, help: "Do not write the libffm text files (caches only).")
    var noText = false

    @Flag(name: .long, help: "Do not write the binary caches (libffm text only).")
    var noCache = false

    @Option(name: .long, help: ArgumentHelp("With --schema: fail when bad rows / rows read exceeds F.", valueName: "F"))
    var maxBadFraction: Double = HashParams().maxBadFraction

    @OptionGroup(title: "Common options")
    var common: CommonOptions

    @Argument(help: ArgumentHelp("Raw log files (with --schema) or libffm files (with --from-libffm).", valueName: "FILE"))
    var files: [String] = []

    var params: HashParams {
        var p = HashParams()
        p.rows = rows
        p.schema = schema
        p.validFile = validFile
        p.testFile = testFile
        p.fromLibffm = fromLibffm
        p.bins = bins
        p.maxBins = maxBins
        p.rareThreshold = rareThreshold
        p.config = config
        p.seed = seed
        p.sharedSpace = sharedSpace
        p.countLimit = countLimit
        p.threads = threads
        p.text = !noText
        p.cache = !noCache
        p.maxBadFraction = maxBadFraction
        return p
    }

    func validate() throws {
        do {
            try params.validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        do {
            let result = try HashStage.run(params: params, inputs: files, outputDirectory: out,
                                           progress: common.quiet ? false : nil)
            if !common.quiet {
                FileHandle.standardError.write((result.report() + String(format: "\nctr-hash: done in %.2f s\n", result.seconds)).data(using: .utf8)!)
            }
        } catch {
            throw StageFailure("\(error)")
        }
    }
}
