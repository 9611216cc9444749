import ArgumentParser
import Cluster
import CommandSupport
import Ingest

@main
struct CtrIngest: StageCommand {
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

            Under mpirun (a build with --traits MPI) the ranks share the files (several files: whole \
            files; one plain file: byte ranges cut at line starts) and rank 0 writes the same outputs \
            (docs/SCALING.md).
            """,
        version: BuildInfo.version(formats: [("stats.json", IngestStats.currentFormatVersion)]))

    @OptionGroup(title: "Ingest options") var params: IngestParams

    @OptionGroup var output: OutputFolder

    @OptionGroup(title: "Common options") var common: CommonOptions

    @Argument(help: ArgumentHelp("Raw log files (gzip or plain), read in this order.", valueName: "FILE"))
    var files: [String] = []

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("No input files; expected one or more raw log files after the options.") }
    }

    func run() throws {
        let reporter = common.reporter
        // Under mpirun (a build with --traits MPI) every rank runs this with the same
        // arguments; rank 0 writes the outputs (docs/SCALING.md).
        let cluster = try Cluster.world()
        do {
            let result = try IngestStage.run(params, inputs: files, outputs: output.out, reporter: reporter, cluster: cluster)
            if cluster.isRoot { reporter.note(result.summary) }
        } catch where cluster.size > 1 {
            // The other ranks wait in a collective: end the whole job (nothing is published:
            // rank 0 commits only after every rank's share is read).
            cluster.abort("Error: rank \(cluster.rank) of \(cluster.size): \(error)")
        }
    }
}
