import StageKit
/// One problem found while validating a pipeline file, located by its JSON path.
public struct ValidationIssue: Equatable, Sendable, CustomStringConvertible {
    /// JSON path, e.g. "stages.train.params.k"; "" for the whole file.
    public var path: String
    public var message: String
    /// Where the offending value starts in the file, when it comes from the file.
    public var position: SourcePosition?
    /// The command-line override that set the value, e.g. "--set train.k=x".
    public var origin: String?

    public init(path: String, message: String, position: SourcePosition? = nil, origin: String? = nil) {
        self.path = path
        self.message = message
        self.position = position
        self.origin = origin
    }

    public var description: String {
        var s = path.isEmpty ? message : "\(path): \(message)"
        if let origin { s += " (set by \(origin))" }
        return s
    }
}

/// Errors of ctr-pipeline. Each says where (file, JSON path, stage) and what was expected.
public enum PipelineError: Error, Equatable, CustomStringConvertible {
    case cannotRead(path: String, message: String)
    /// The file is not valid JSON.
    case syntax(file: String, position: SourcePosition, message: String)
    /// Validation found these problems (all of them, before any work was done).
    case invalid(file: String, issues: [ValidationIssue])
    case io(path: String, message: String)
    /// A stage named on the command line (`--force`, `--from`, `--only`) does not exist.
    case unknownStage(option: String, name: String, suggestion: String?)
    /// Another ctr-pipeline run holds the work directory's lock.
    case busy(workdir: String)
    /// `--only` selected a stage whose inputs from other stages are missing.
    case missingUpstream(stage: String, upstream: String, path: String)
    /// The stage threw; the message is the stage's own error.
    case stageFailed(stage: String, message: String)
    /// The stage returned without writing a declared output.
    case outputMissing(stage: String, output: String, path: String)
    /// A command (a command stage's, or mpirun's) exited non-zero or was killed.
    case commandFailed(command: String, status: Int32, log: String, lastLines: [String])
    /// A command stage's command succeeded without writing these declared outputs ("name (path)").
    case commandOutputsMissing(outputs: [String])

    public var description: String {
        switch self {
        case let .cannotRead(path, message):
            return "\(path): cannot read the pipeline file: \(message)"
        case let .syntax(file, position, message):
            return "\(file):\(position): invalid JSON: \(message)"
        case let .invalid(file, issues):
            let lines = issues.map { issue -> String in
                let location = issue.position.map { "\(file):\($0)" } ?? file
                return "  \(location): \(issue)"
            }
            let noun = issues.count == 1 ? "error" : "errors"
            return "\(file): \(issues.count) \(noun) in the pipeline; nothing was run:\n" + lines.joined(separator: "\n")
        case let .io(path, message):
            return "\(path): \(message)"
        case let .unknownStage(option, name, suggestion):
            return "\(option) \(name): no stage named \"\(name)\" in the pipeline" + (suggestion.map { " (did you mean \"\($0)\"?)" } ?? "")
        case let .busy(workdir):
            return "\(workdir): another ctr-pipeline run is using this work directory (its lock is held); wait for it or stop it"
        case let .missingUpstream(stage, upstream, path):
            return "stage \(stage) needs \(path) from stage \(upstream), which is missing or out of date; run without --only first"
        case let .stageFailed(stage, message):
            return "stage \(stage) failed: \(message)"
        case let .outputMissing(stage, output, path):
            return "stage \(stage) finished without writing its output \"\(output)\" (\(path))"
        case let .commandFailed(command, status, log, lastLines):
            let how = status > 128 ? "was killed by signal \(status - 128)" : "exited with status \(status)"
                + (status == 127 ? " (command not found?)" : "")
            return "\(command) \(how); its log: \(log)" + (lastLines.isEmpty ? "" : ", ending:\n    " + lastLines.joined(separator: "\n    "))
        case let .commandOutputsMissing(outputs):
            return "the command succeeded but did not create \(outputs.count == 1 ? "its output" : "these outputs"): "
                + outputs.joined(separator: ", ") + "; nothing was published"
        }
    }
}
