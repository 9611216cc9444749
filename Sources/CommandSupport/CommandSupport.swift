import ArgumentParser
import Cluster
import LogIO
import StageKit

/// Options every stage executable shares.
public struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "Print nothing but errors on stderr.")
    public var quiet = false

    public init() {}

    /// A tool started by mpirun as one of several ranks must be built with MPI and be one of
    /// the tools that share their work between ranks (`Cluster.rankAwareTools`, by the
    /// executable's name): each rank would otherwise do the whole job and overwrite the
    /// others' outputs.
    public func validate() throws {
        do { try Cluster.checkTool(CommonOptions.toolName) } catch { throw ValidationError("\(error)") }
    }

    /// The executable's name (the last part of argv[0]).
    static var toolName: String {
        let path = CommandLine.arguments.first ?? ""
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    /// Notes on stderr (none with --quiet), live progress when stderr is a terminal.
    public var reporter: Reporter { Reporter(quiet: quiet) }
}

/// `--out DIR`: the folder a stage writes its outputs into.
public struct OutputFolder: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Output folder (created if needed).", valueName: "DIR"))
    public var out: String

    public init() {}

    public func validate() throws {
        if out.isEmpty { throw ValidationError("--out: found an empty path; expected the folder to write the outputs into") }
    }
}

/// A `ctr-*` executable over a stage: its parameters are an `@OptionGroup` of the
/// stage's `StageParameters`, so each option is declared once, in the stage library, and
/// checked (ranges, `check()`) when it is parsed.
/// A thrown error reaches ArgumentParser, which prints `Error: <description>` (the
/// stage errors name the file, line or key) and exits 1.
public protocol StageCommand: ParsableCommand {
    associatedtype Params: StageParameters
    var params: Params { get }
}

extension StageCommand {
    /// Reports problems found beyond the parameters' own checks (which ArgumentParser runs
    /// on the option group), each naming its flag.
    public func validateParams(_ problems: [ParamProblem]) throws {
        if !problems.isEmpty { throw ValidationError(problems.map(Params.commandLineMessage).joined(separator: "\n")) }
    }
}

/// What `--version` prints: the release, the git revision the binary was built from, whether
/// it was built with MPI, and the versions of the file formats the tool reads and writes.
/// The revision is generated before each build by the GitRevision plugin (Plugins/), "unknown"
/// in a build outside a git checkout.
public enum BuildInfo {
    public static let gitRevision = GitRevision.value

    /// `SwiftCTR 0.1.0 (git 1a2b3c4d5e6f, MPI: no)` then `formats: model 1, cache 2`.
    public static func version(formats: [(name: String, version: Int)]) -> String {
        var text = "SwiftCTR \(SwiftCTRRelease.version) (git \(gitRevision), MPI: \(Cluster.builtWithMPI ? "yes" : "no"))"
        if !formats.isEmpty { text += "\nformats: " + formats.map { "\($0.name) \($0.version)" }.joined(separator: ", ") }
        return text
    }
}
