import Foundation
import StageKit

/// One sweep coordinate of a stage instance: `stage`'s parameter `key` set to `value`.
public struct SweepValue: Equatable, Sendable {
    public var stage: String
    public var key: String
    public var value: JSONValue
}

/// An output of a resolved stage instance.
public struct ResolvedOutput: Equatable, Sendable {
    public var name: String
    /// Where the output ends up (absolute).
    public var path: String
    /// Where the stage writes it (absolute); differs from `path` when the pipeline
    /// overrides the output's location, and the runner then moves it into place.
    public var writtenAt: String
    public var isDirectory: Bool
}

/// A stage instance ready to run: a pipeline stage, or one variant of a swept stage.
public struct ResolvedStage: Sendable {
    /// Instance name: the stage's name, or e.g. "train@k=8" for a sweep variant.
    public let name: String
    /// The stage's name in the file.
    public let base: String
    public let kind: StageKind
    /// The sweep coordinates this instance runs with (its own and its upstreams').
    public let variant: [SweepValue]
    let params: AnyParams
    /// Every parameter, defaults included, as canonical JSON (sorted keys).
    public let paramsJSON: JSONValue
    /// Inputs by slot in the kind's slot order.
    public let inputs: [(slot: String, items: [StageInput])]
    public let outputs: [ResolvedOutput]
    public let directory: String
    /// Names of the instances whose outputs this one reads.
    public let dependencies: [String]
    /// Set when the stage runs its tool under mpirun instead of in-process.
    public let mpi: MPISpec?
    /// What the fingerprint takes besides kind, parameters and inputs: a command stage's
    /// command, an MPI stage's ranks when they change the result; nil otherwise.
    public let execution: JSONValue?

    public func output(_ name: String) -> ResolvedOutput? { outputs.first { $0.name == name } }
}

/// A validated pipeline: stage instances in dependency order, every path absolute.
public struct ResolvedPipeline: Sendable {
    public let file: String
    public let name: String
    public let workdir: String
    public let stages: [ResolvedStage]
    /// The pipeline as read, with `--set` overrides applied.
    public let spec: JSONValue
    public let overrides: [String]

    public func stage(_ name: String) -> ResolvedStage? { stages.first { $0.name == name } }

    /// Instances whose name or base name is `name` (a swept stage's name selects all its variants).
    public func instances(matching name: String) -> [ResolvedStage] {
        stages.filter { $0.name == name || $0.base == name }
    }
}

/// Reads, overrides and validates pipeline files.
public struct PipelineLoader: Sendable {
    public static let formatVersion = 1
    static let topKeys = ["$schema", "version", "name", "description", "workdir", "params", "stages"]
    static let stageKeys = ["kind", "description", "inputs", "params", "outputs", "sweep", "mpi"] + CommandStage.stageKeys

    public let registry: StageRegistry
    /// Where the ctr-* tools are that MPI stages run under mpirun; default: the folder
    /// of this process's executable (ctr-pipeline's, or a test runner's in the same build).
    public var toolDirectory: String?

    public init(registry: StageRegistry, toolDirectory: String? = nil) {
        self.registry = registry
        self.toolDirectory = toolDirectory
    }

    /// Reads and validates `file`, applying `overrides` (`stage.param=value`) first.
    /// - Throws: `PipelineError.invalid` listing every problem with its JSON path.
    public func load(file: String, overrides: [String] = []) throws -> ResolvedPipeline {
        let url = URL(fileURLWithPath: file).standardizedFileURL
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PipelineError.cannotRead(path: file, message: (error as NSError).localizedDescription)
        }
        return try load(text: String(decoding: data, as: UTF8.self), file: url.path,
                        baseDirectory: url.deletingLastPathComponent().path, overrides: overrides)
    }

    /// Validates pipeline text; relative paths are resolved against `baseDirectory`.
    public func load(text: String, file: String, baseDirectory: String, overrides: [String] = []) throws -> ResolvedPipeline {
        var parser = JSONParser(text)
        let root: JSONValue
        do { root = try parser.parse() } catch let e as JSONParser.SyntaxError {
            throw PipelineError.syntax(file: file, position: e.position, message: e.message)
        }
        var validator = Validator(registry: registry, positions: parser.positions, baseDirectory: baseDirectory)
        if let toolDirectory { validator.toolDirectory = toolDirectory }
        let resolved = validator.run(root: root, overrides: overrides, file: file)
        guard let resolved, validator.issues.isEmpty else {
            // In file order; problems with command-line overrides (no position) first.
            let ordered = validator.issues.enumerated().sorted { a, b in
                let x = a.element.position.map { ($0.line, $0.column) } ?? (0, 0)
                let y = b.element.position.map { ($0.line, $0.column) } ?? (0, 0)
                return x != y ? x < y : a.offset < b.offset
            }.map(\.element)
            throw PipelineError.invalid(file: file, issues: ordered)
        }
        return resolved
    }
}

/// Resolves a path from a pipeline file against the file's folder.
func absolutePath(_ path: String, base: String) -> String {
    let expanded = NSString(string: path).expandingTildeInPath
    let joined = expanded.hasPrefix("/") ? expanded : base + "/" + expanded
    return URL(fileURLWithPath: joined).standardizedFileURL.path
}

extension ResolvedPipeline {
    /// The model a stage instance's output stands for, to name it in eval's tables and the
    /// run summary: a train stage is `NAME (MODEL)` (`train (ffm)`, `train@k=8 (fm)`), a
    /// predict stage is named after the train stage of its `model` input; nil otherwise
    /// (and for models that are files rather than stage outputs).
    public func modelLabel(of name: String) -> String? {
        guard let stage = stage(name) else { return nil }
        switch stage.kind.name {
        case "train":
            if case .string(let model)? = stage.paramsJSON["model"] { return "\(stage.name) (\(model))" }
            return stage.name
        case "predict":
            guard let producer = stage.inputs.first(where: { $0.slot == "model" })?.items.first?.stage,
                  producer != name else { return nil }
            return modelLabel(of: producer)
        default:
            return nil
        }
    }
}
