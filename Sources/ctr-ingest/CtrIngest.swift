import ArgumentParser
import CommandSupport
import Ingest

extension SplitMode: ExpressibleByArgument {}
extension HeaderMode: ExpressibleByArgument {}

@main
struct CtrIngest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctr-ingest",
        abstract: "Validate raw click logs and write train/valid/test rows, a quarantine and stats.json.",
        discussion: """
            Reads the FILEs in the order given (gzip, one member or several, or plain text, \
            recognised by their first bytes). Each line is checked against the schema; a bad \
            line goes to DIR/quarantine.tsv with its file, line number and reason. Writes \
            DIR/train.tsv, DIR/valid.tsv, DIR/test.tsv (label<TAB>values, see docs/FORMATS.md), \
            DIR/quarantine.tsv and DIR/stats.json, each renamed into place only on success.

            Example: ctr-ingest --schema criteo --out rows --valid 0.1 --test 0.1 day_0.gz day_1.gz
            """)

    @Option(name: .long, help: "criteo, criteo-1tb, criteo-kaggle-csv, avazu, or the path of a schema JSON file.")
    var schema = IngestParams().schema

    @Option(name: .long, help: ArgumentHelp("Output folder (created if needed).", valueName: "DIR"))
    var out: String

    @Option(name: .long, help: "Override the schema's header mode: absent, present (the first line of each file must be the header) or auto (skipped when it is the header).")
    var header: HeaderMode?

    @Option(name: .long, help: "order: the last fractions of the input are valid and test (by time); hash: a seeded hash of each line picks its split.")
    var split = IngestParams().split

    @Option(name: .long, help: "Fraction of rows for the validation split.")
    var valid = IngestParams().valid

    @Option(name: .long, help: "Fraction of rows for the test split.")
    var test = IngestParams().test

    @Option(name: .long, help: ArgumentHelp("Seed of the hash split and of negative downsampling.", valueName: "N"))
    var seed = IngestParams().seed

    @Option(name: .long, help: ArgumentHelp("Keep each negative of the training split with this probability (1 keeps all). Recorded in stats.json.", valueName: "W"))
    var negKeepRate = IngestParams().negKeepRate

    @Option(name: .long, help: ArgumentHelp("Fail when more than this fraction of the rows is bad.", valueName: "F"))
    var maxBadFraction = IngestParams().maxBadFraction

    @OptionGroup(title: "Common options")
    var common: CommonOptions

    @Argument(help: ArgumentHelp("Raw log files (gzip or plain), read in this order.", valueName: "FILE"))
    var files: [String] = []

    var params: IngestParams {
        var p = IngestParams()
        p.schema = schema
        p.header = header
        p.split = split
        p.valid = valid
        p.test = test
        p.seed = seed
        p.negKeepRate = negKeepRate
        p.maxBadFraction = maxBadFraction
        return p
    }

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("No input files; expected one or more raw log files after the options.") }
        do {
            try params.validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        do {
            _ = try IngestStage.run(params: params, inputs: files, outputDirectory: out, quiet: common.quiet)
        } catch {
            throw StageFailure("\(error)")
        }
    }
}
