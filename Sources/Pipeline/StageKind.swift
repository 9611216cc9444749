import Foundation
import StageKit

/// A named input of a stage kind, e.g. train's `train` and `valid`.
public struct InputSlot: Equatable, Sendable {
    public var name: String
    public var required: Bool
    /// Whether the slot takes several files (ingest's logs, eval's predictions). A
    /// reference to a swept stage gathers all its variants into a multiple slot, and
    /// expands the consuming stage once per variant in a single slot.
    public var multiple: Bool
    public var summary: String

    public init(_ name: String, required: Bool = true, multiple: Bool = false, summary: String) {
        self.name = name
        self.required = required
        self.multiple = multiple
        self.summary = summary
    }
}

/// An output a stage writes, referenced by other stages as `${stage.name}`.
public struct OutputDecl: Equatable, Sendable {
    public var name: String
    /// Relative to the stage's directory; "." is the directory itself.
    public var path: String
    public var isDirectory: Bool
    public var summary: String

    public init(_ name: String, path: String, isDirectory: Bool = false, summary: String) {
        self.name = name
        self.path = path
        self.isDirectory = isDirectory
        self.summary = summary
    }
}

/// One input file or folder handed to a stage.
public struct StageInput: Equatable, Sendable {
    /// Absolute path.
    public var path: String
    /// The stage instance that produced it, for `${stage.output}` references.
    public var stage: String?
    public var output: String?
    /// The model the producing stage's output stands for (`train (ffm)`, `train@k=8 (ffm)`
    /// for a train stage and the predict stages scoring with its model), set by the runner;
    /// eval names its models after it.
    public var model: String?

    public init(path: String, stage: String? = nil, output: String? = nil, model: String? = nil) {
        self.path = path
        self.stage = stage
        self.output = output
        self.model = model
    }
}

/// Figures a stage reports (eval's metrics per model), shown in the summary table and
/// written to the run manifest.
public struct ModelMetrics: Codable, Equatable, Sendable {
    public var model: String
    /// Metric name -> value; nil when undefined (AUC of a one-class set).
    public var values: [String: Double?]

    public init(model: String, values: [String: Double?]) {
        self.model = model
        self.values = values
    }
}

public struct StageOutcome: Sendable {
    public var metrics: [ModelMetrics]
    /// Lines for the run's log (e.g. "kept 45 000 rows").
    public var notes: [String]

    public init(metrics: [ModelMetrics] = [], notes: [String] = []) {
        self.metrics = metrics
        self.notes = notes
    }
}

/// Everything a stage needs to run: its parameters, its inputs by slot, and where to
/// write each declared output.
/// What a runner knows when it starts a stage: eval's report shows it (#16).
public struct PipelineRunInfo: Sendable {
    public var pipeline: ResolvedPipeline
    /// The stage being run.
    public var stage: ResolvedStage
    /// Reports of the stages finished so far (run, skipped or restored), in pipeline order.
    public var finished: [StageReport]
    /// The stage's inputs with their content hashes.
    public var inputs: [InputHash]
    public var toolVersion: String

    public init(pipeline: ResolvedPipeline, stage: ResolvedStage, finished: [StageReport], inputs: [InputHash], toolVersion: String) {
        self.pipeline = pipeline
        self.stage = stage
        self.finished = finished
        self.inputs = inputs
        self.toolVersion = toolVersion
    }

    /// The stages `stage` depends on, directly or not, in pipeline order.
    public var upstream: [ResolvedStage] {
        var seen = Set<String>(), stack = stage.dependencies
        while let next = stack.popLast() {
            guard seen.insert(next).inserted, let s = pipeline.stage(next) else { continue }
            stack += s.dependencies
        }
        return pipeline.stages.filter { seen.contains($0.name) }
    }
}

public struct StageContext<Params: Sendable>: Sendable {
    /// The stage instance's name, e.g. "train" or "train@k=8".
    public let stage: String
    public let params: Params
    /// Inputs by slot name, in the order written in the pipeline (globs expanded in
    /// natural order: day_2 before day_10).
    public let inputs: [String: [StageInput]]
    /// The stage's own folder (created before the run).
    public let directory: String
    /// Output name -> absolute path the stage must write it to.
    public let outputs: [String: String]
    /// Notes go to the run's log, prefixed with the stage's name; nothing when quiet.
    public let reporter: Reporter
    /// The run around the stage (the pipeline, what finished before it); nil outside a runner.
    public var run: PipelineRunInfo? = nil

    public func paths(_ slot: String) -> [String] { inputs[slot]?.map(\.path) ?? [] }
    public func path(_ slot: String) -> String? { inputs[slot]?.first?.path }
    public func output(_ name: String) -> String {
        guard let path = outputs[name] else { preconditionFailure("stage \(stage) has no declared output \(name)") }
        return path
    }
}

/// A kind of stage the pipeline can run. Each real stage (ingest, hash, train, predict,
/// eval) conforms once, in `StandardStages.swift`; tests register fakes.
///
/// `Params` is the stage's own parameter struct, the one its command line fills: the
/// pipeline reads its keys, types, defaults and ranges from the declarations.
public protocol PipelineStage: Sendable {
    associatedtype Params: StageParameters

    /// The `kind` written in pipeline files.
    var kind: String { get }
    /// One line for `ctr-pipeline kinds` and the JSON Schema.
    var summary: String { get }
    /// Bump when the stage's behaviour changes in a way its parameters do not show;
    /// part of the fingerprint, like the tool version.
    var version: Int { get }
    var inputSlots: [InputSlot] { get }
    /// Parameter keys the pipeline sets itself (output locations, ...), with why: a
    /// pipeline file setting them is an error.
    var reservedKeys: [String: String] { get }
    /// What the stage writes for these parameters and the input slots the pipeline fills,
    /// relative to its folder.
    func outputs(for params: Params, inputs: Set<String>) -> [OutputDecl]
    /// Checks that depend on the input slots the pipeline fills (ranges and the params'
    /// own `check()` run before), reported with the other validation errors.
    func check(_ params: Params, inputs: Set<String>) -> [ParamProblem]
    /// Runs the stage in-process. It must write each declared output atomically.
    func run(_ context: StageContext<Params>) throws -> StageOutcome
    /// The executable that runs this stage under mpirun (a `"mpi"` stage), e.g. "ctr-train";
    /// nil when the kind cannot run on MPI.
    var mpiTool: String? { get }
    /// Whether the number of ranks changes the stage's result (then it is fingerprinted).
    var mpiRanksChangeResult: Bool { get }
    /// The tool's command line for this context: parameters (`Params.commandLineArguments()`),
    /// inputs and outputs as the tool's options and arguments.
    func commandLine(_ context: StageContext<Params>) -> [String]
}

extension PipelineStage {
    public var version: Int { 1 }
    public var reservedKeys: [String: String] { [:] }
    public func check(_ params: Params, inputs: Set<String>) -> [ParamProblem] { [] }
    public var mpiTool: String? { nil }
    public var mpiRanksChangeResult: Bool { false }
    public func commandLine(_ context: StageContext<Params>) -> [String] { [] }
}

/// `any Sendable` holder for a decoded `Params` value of some stage kind.
struct AnyParams: Sendable {
    let value: any Sendable
}

/// A type-erased `PipelineStage`, as the registry stores it.
public struct StageKind: Sendable {
    public let name: String
    public let summary: String
    public let version: Int
    public let inputSlots: [InputSlot]
    public let reservedKeys: [String: String]
    /// Every parameter in declaration order: key, type, default, range, help.
    public let specs: [ParamSpec]
    /// The default parameters as JSON.
    public let defaults: JSONValue
    /// Parameter keys: the specs' for the built-in kinds, the declared ones of a command stage.
    public let parameterKeys: [String]
    /// What else goes into a stage's fingerprint (a command stage's command line); nil for the built-in kinds.
    public let execution: JSONValue?
    /// See `PipelineStage.mpiTool`.
    public let mpiTool: String?
    public let mpiRanksChangeResult: Bool

    /// Decodes parameter entries (missing keys take their defaults); problems are keyed.
    let decode: @Sendable ([(key: String, value: JSONValue)]) -> Result<AnyParams, ParamErrors>
    let encode: @Sendable (AnyParams) -> JSONValue
    let outputsFor: @Sendable (AnyParams, Set<String>) -> [OutputDecl]
    let checkParams: @Sendable (AnyParams, Set<String>) -> [ParamProblem]
    let runStage: @Sendable (AnyParams, StageContext<AnyParams>) throws -> StageOutcome
    let commandLine: @Sendable (StageContext<AnyParams>) -> [String]

    public init<S: PipelineStage>(_ stage: S) {
        name = stage.kind
        summary = stage.summary
        version = stage.version
        inputSlots = stage.inputSlots
        reservedKeys = stage.reservedKeys
        specs = S.Params.specs
        defaults = S.Params.defaults.encoded()
        parameterKeys = specs.map(\.key)
        execution = nil
        mpiTool = stage.mpiTool
        mpiRanksChangeResult = stage.mpiRanksChangeResult
        decode = { entries in S.Params.decode(entries).map { AnyParams(value: $0) } }
        encode = { ($0.value as! S.Params).encoded() }
        outputsFor = { stage.outputs(for: $0.value as! S.Params, inputs: $1) }
        checkParams = { stage.check($0.value as! S.Params, inputs: $1) }
        runStage = { params, context in
            try stage.run(StageContext(stage: context.stage, params: params.value as! S.Params, inputs: context.inputs,
                                       directory: context.directory, outputs: context.outputs, reporter: context.reporter, run: context.run))
        }
        commandLine = { context in
            stage.commandLine(StageContext(stage: context.stage, params: context.params.value as! S.Params, inputs: context.inputs,
                                           directory: context.directory, outputs: context.outputs, reporter: context.reporter))
        }
    }

    func parameterType(_ key: String) -> ParamType? { specs.first { $0.key == key }?.type }

    /// Outputs with default parameters and the given input slots (all of them by default).
    func defaultOutputs(inputs: Set<String>? = nil) -> [OutputDecl] {
        let slots = inputs ?? Set(inputSlots.map(\.name))
        return (try? decode([]).get()).map { outputsFor($0, slots) } ?? []
    }
}

/// The stage kinds a pipeline may use, by name.
public struct StageRegistry: Sendable {
    public private(set) var kinds: [String: StageKind] = [:]
    /// Kind names in registration order.
    public private(set) var names: [String] = []

    public init() {}

    public mutating func register<S: PipelineStage>(_ stage: S) {
        let kind = StageKind(stage)
        if kinds[kind.name] == nil { names.append(kind.name) }
        kinds[kind.name] = kind
    }

    public subscript(name: String) -> StageKind? { kinds[name] }
}
