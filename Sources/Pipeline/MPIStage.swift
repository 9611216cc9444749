import Foundation
import LogIO
import StageKit

/// A stage's `"mpi": {"ranks": 4, "hostfile": "hosts.txt", "args": ["--mca", "btl", "tcp,self"]}`:
/// the runner starts the kind's tool (`ctr-train`, next to ctr-pipeline's own executable)
/// under mpirun, with the stage's parameters, inputs and outputs as its command line,
/// instead of running the stage in-process. Checked before any work: mpirun is in PATH,
/// the tool exists and was built with MPI (`TOOL --version` says so).
public struct MPISpec: Sendable, Equatable {
    public var ranks: Int
    /// Absolute path, relative to the pipeline file as written.
    public var hostfile: String?
    /// Extra mpirun arguments, before the tool.
    public var arguments: [String]
    /// Where mpirun and the tool were found.
    public var mpirun: String
    public var tool: String

    /// The fingerprint's share: the ranks, when they change the result (training); never
    /// the hosts or the extra mpirun arguments.
    func execution(_ kind: StageKind) -> JSONValue? {
        kind.mpiRanksChangeResult ? .object([("mpiRanks", .int(Int64(ranks)))]) : nil
    }

    /// mpirun's argument vector for a tool command line.
    func commandLine(_ toolArguments: [String]) -> [String] {
        ["-np", String(ranks)] + (hostfile.map { ["--hostfile", $0] } ?? []) + arguments + [tool] + toolArguments
    }

    static let maxRanks = 65_536
}

enum MPIStage {
    static let keys = ["ranks", "hostfile", "args"]

    /// Runs one stage instance under mpirun; its stdout and stderr go to the stage's
    /// stdout.log and stderr.log (.stdout.log and .stderr.log when the stage's folder is
    /// itself an output, as ingest's rows are); the tool's table is repeated in the run's log.
    static func run(_ stage: ResolvedStage, _ spec: MPISpec, context: StageContext<AnyParams>) throws -> StageOutcome {
        let arguments = spec.commandLine(stage.kind.commandLine(context))
        // A stage whose output is its whole folder (ingest's rows) keeps the logs under
        // hidden names: a folder's hash and the run cache leave out names starting with ".".
        let folder = URL(fileURLWithPath: context.directory).standardized.path
        let hidden = stage.outputs.contains { $0.isDirectory && URL(fileURLWithPath: $0.writtenAt).standardized.path == folder } ? "." : ""
        let stdout = context.directory + "/" + hidden + CommandStage.stdoutLog
        let stderr = context.directory + "/" + hidden + CommandStage.stderrLog
        context.reporter.note("$ " + ([spec.mpirun] + arguments).map(Subprocess.shellQuoted).joined(separator: " "))
        let status = try Subprocess.run(spec.mpirun, arguments, directory: context.directory, stdout: stdout, stderr: stderr)
        guard status == 0 else {
            throw PipelineError.commandFailed(command: "mpirun (\(spec.ranks) ranks of \(URL(fileURLWithPath: spec.tool).lastPathComponent))",
                                              status: status, log: stderr, lastLines: Subprocess.tail(stderr))
        }
        return StageOutcome(notes: Subprocess.tail(stderr, lines: 40))
    }

    /// Whether `tool --version` reports a build with MPI; cached per path.
    static func toolBuiltWithMPI(_ tool: String) -> Bool? {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let known = cache[tool] { return known }
        guard let (status, output) = try? Subprocess.capture(tool, ["--version"]), status == 0 else { return nil }
        let result = output.contains("MPI: yes")
        cache[tool] = result
        return result
    }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: Bool] = [:]
}

extension Validator {
    /// Reads and checks a stage's `"mpi"` object, and what it needs on this machine.
    mutating func draftMPI(kind: StageKind, value: JSONValue, path: String) -> MPISpec? {
        let before = issues.count
        guard case let .object(entries) = value else {
            issue(path, "expected an object such as {\"ranks\": 4, \"hostfile\": \"hosts.txt\", \"args\": [\"--oversubscribe\"]}, found \(value.found)")
            return nil
        }
        guard let toolName = kind.mpiTool else {
            let kinds = registry.names.filter { registry[$0]?.mpiTool != nil }
            issue(path, "a \(kind.name) stage cannot run under MPI; the kinds that can: \(kinds.isEmpty ? "none" : kinds.joined(separator: ", "))")
            return nil
        }
        for entry in entries where !MPIStage.keys.contains(entry.key) { unknownKey(path, entry.key, known: MPIStage.keys) }
        var ranks = 0
        switch value["ranks"] {
        case let .int(n)? where n >= 1 && n <= MPISpec.maxRanks: ranks = Int(n)
        case nil: issue(JSONPath.join(path, "ranks"), "missing; expected the number of ranks (processes) mpirun starts, e.g. 4")
        case let other?: issue(JSONPath.join(path, "ranks"), "expected an integer from 1 to \(MPISpec.maxRanks), found \(other.found)")
        }
        var hostfile: String?
        switch value["hostfile"] {
        case nil: break
        case let .string(s)? where !s.isEmpty:
            let absolute = absolutePath(s, base: baseDirectory)
            if FileStamp.of(absolute) == nil { issue(JSONPath.join(path, "hostfile"), "no such file: \(absolute)") } else { hostfile = absolute }
        case let other?: issue(JSONPath.join(path, "hostfile"), "expected a path (relative to the pipeline file), found \(other.found)")
        }
        var arguments: [String] = []
        switch value["args"] {
        case nil: break
        case let .array(items)?:
            for (i, item) in items.enumerated() {
                if case let .string(s) = item { arguments.append(s) } else {
                    issue(JSONPath.join(JSONPath.join(path, "args"), index: i), "expected a string, found \(item.found)")
                }
            }
        case let other?: issue(JSONPath.join(path, "args"), "expected an array of extra mpirun arguments, found \(other.found)")
        }
        // This machine: mpirun, and the tool built with MPI.
        let mpirun = Subprocess.resolve("mpirun", base: baseDirectory)
        if mpirun == nil {
            issue(path, "no mpirun in PATH; install Open MPI (apt-get install openmpi-bin) or run the stage in-process (remove \"mpi\")")
        }
        let tool = toolDirectory + "/" + toolName
        if !Subprocess.isExecutableFile(tool) {
            issue(path, "no \(toolName) next to ctr-pipeline (\(tool)); build every tool with swift build -c release --traits MPI")
        } else {
            switch MPIStage.toolBuiltWithMPI(tool) {
            case nil: issue(path, "\(tool) --version failed; cannot tell whether it was built with MPI")
            case false?: issue(path, "\(tool) was built without MPI; build with swift build -c release --traits MPI and run that build's ctr-pipeline")
            case true?: break
            }
        }
        guard issues.count == before, let mpirun else { return nil }
        return MPISpec(ranks: ranks, hostfile: hostfile, arguments: arguments, mpirun: mpirun, tool: tool)
    }
}
