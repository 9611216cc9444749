import Foundation
import StageKit

/// One input as written: a path (or glob) or a `${stage.output}` reference.
struct DraftItem {
    enum Source { case path(String), reference(stage: String, output: String, subpath: String) }
    var source: Source
    var jsonPath: String
}

/// A stage as read from the file, before sweeps expand it into instances.
struct DraftStage {
    var name: String
    var kind: StageKind?
    /// Merged parameters (shared params the kind takes, then the stage's own).
    var params: [(key: String, value: JSONValue)] = []
    var paramPath: [String: String] = [:]
    var sweep: [(key: String, values: [JSONValue])] = []
    var inputs: [(slot: String, items: [DraftItem])] = []
    var outputOverrides: [String: (path: String, jsonPath: String)] = [:]
    var outputs: [OutputDecl] = []
    /// `"mpi"`: run the stage's tool under mpirun.
    var mpi: MPISpec?
    var grid: [[(key: String, value: JSONValue)]] { Validator.cartesian(sweep) }
}

/// One instance of a (possibly swept) stage.
struct Instance {
    var base: String
    var assignment: [String: Int]
    var name: String
}

/// Checks a pipeline file and resolves it, collecting every problem with its JSON path
/// instead of stopping at the first. Its parts, one file each: overrides (`--set`),
/// stages (kind, parameters, sweeps), files (inputs, globs, outputs), the graph
/// (references, order), and expansion (sweep instances, output conflicts).
struct Validator {
    /// The most stage instances a pipeline may expand into (sweeps multiply them).
    static let maxInstances = 10_000

    let registry: StageRegistry
    let positions: [String: SourcePosition]
    let baseDirectory: String
    /// Where the ctr-* tools are that MPI stages start (ctr-pipeline's own folder).
    var toolDirectory = Subprocess.ownDirectory
    var issues: [ValidationIssue] = []
    /// `issues` as text, so that a repeated problem is reported once without a scan.
    private var reported = Set<String>()
    /// JSON paths set by --set, with the flag that set them.
    var overridden: [String: String] = [:]
    /// Decoded parameters by kind and entries: a sweep's instances (and the stages
    /// downstream of it) decode the same entries again, and each decode is costly.
    private var decoded: [String: Result<AnyParams, ParamErrors>] = [:]

    init(registry: StageRegistry, positions: [String: SourcePosition], baseDirectory: String) {
        self.registry = registry
        self.positions = positions
        self.baseDirectory = baseDirectory
    }

    mutating func issue(_ path: String, _ message: String) {
        var origin: String?
        for (p, flag) in overridden where path == p || path.hasPrefix(p + ".") || path.hasPrefix(p + "[") { origin = flag }
        var position: SourcePosition?
        if origin == nil {
            var p = path
            while position == nil {
                position = positions[p]
                guard !p.isEmpty else { break }
                if let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) { p = String(p[..<cut]) } else { p = "" }
            }
        }
        let new = ValidationIssue(path: path, message: message, position: position, origin: origin)
        if reported.insert("\(new.position.map(\.description) ?? "")\u{0}\(new)").inserted { issues.append(new) }
    }

    mutating func decode(_ kind: StageKind, _ entries: [(key: String, value: JSONValue)]) -> Result<AnyParams, ParamErrors> {
        let key = kind.name + "\u{0}" + JSONValue.object(entries).text()
        if let known = decoded[key] { return known }
        let result = kind.decode(entries)
        decoded[key] = result
        return result
    }

    mutating func unknownKey(_ path: String, _ key: String, known: [String], what: String = "key") {
        var message = "unknown \(what) \"\(key)\"" + Suggest.hint(key, known)
        if !known.isEmpty, Suggest.closest(to: key, among: known) == nil {
            message += "; expected one of: " + known.joined(separator: ", ")
        }
        issue(JSONPath.join(path, key), message)
    }

    // MARK: Top level

    mutating func run(root: JSONValue, overrides: [String], file: String) -> ResolvedPipeline? {
        guard case let .object(top) = root else {
            issue("", "expected a JSON object with \"version\", \"name\", \"workdir\" and \"stages\", found \(root.found)")
            return nil
        }
        // The format version decides how to read everything else, so it comes first.
        switch root["version"] {
        case nil:
            issue("version", "missing; expected \"version\": \(PipelineLoader.formatVersion)")
            return nil
        case .int(Int64(PipelineLoader.formatVersion)):
            break
        case let .int(v):
            issue("version", "unsupported pipeline format version \(v); this ctr-pipeline reads version \(PipelineLoader.formatVersion)")
            return nil
        case let other?:
            issue("version", "expected the integer \(PipelineLoader.formatVersion), found \(other.found)")
            return nil
        }
        var spec = root
        applyOverrides(overrides, to: &spec)
        guard case let .object(entries) = spec else { return nil }

        for entry in entries where !PipelineLoader.topKeys.contains(entry.key) {
            unknownKey("", entry.key, known: PipelineLoader.topKeys)
        }
        // "$schema" points editors at docs/pipeline.schema.json; ctr-pipeline ignores it.
        if let schema = spec["$schema"], schema.stringValue == nil {
            issue(JSONPath.join("", "$schema"), "expected a string (the location of the JSON Schema, for editors), found \(schema.found)")
        }
        var name = ""
        switch spec["name"] {
        case let .string(s) where !s.isEmpty: name = s
        case nil: issue("name", "missing; expected a non-empty string naming the pipeline")
        case let other?: issue("name", "expected a non-empty string, found \(other.found)")
        }
        if let d = spec["description"], d.stringValue == nil { issue("description", "expected a string, found \(d.found)") }
        var workdir = absolutePath("work/" + name, base: baseDirectory)
        switch spec["workdir"] {
        case let .string(s) where !s.isEmpty: workdir = absolutePath(s, base: baseDirectory)
        case nil: break
        case let other?: issue("workdir", "expected a non-empty string (a folder, relative to the pipeline file), found \(other.found)")
        }
        var shared: [(key: String, value: JSONValue)] = []
        switch spec["params"] {
        case let .object(p): shared = p
        case nil: break
        case let other?: issue("params", "expected an object of parameters shared by the stages, found \(other.found)")
        }
        guard let stagesValue = spec["stages"] else {
            issue("stages", "missing; expected an object of named stages")
            return nil
        }
        guard case let .object(stageEntries) = stagesValue, !stageEntries.isEmpty else {
            issue("stages", "expected a non-empty object of named stages, found \(stagesValue.found)")
            return nil
        }
        _ = top

        // Shared parameters must be taken by at least one stage in the file.
        let kindsUsed = stageEntries.compactMap { $0.value["kind"]?.stringValue }.compactMap { registry[$0] }
        for entry in shared where !kindsUsed.contains(where: { $0.parameterKeys.contains(entry.key) }) {
            let known = Array(Set(kindsUsed.flatMap(\.parameterKeys))).sorted()
            issue(JSONPath.join("params", entry.key), "no stage in this pipeline takes a parameter \"\(entry.key)\"" + Suggest.hint(entry.key, known))
        }

        var drafts: [DraftStage] = []
        for entry in stageEntries {
            drafts.append(draft(name: entry.key, value: entry.value, shared: shared))
        }
        checkReferences(drafts)
        let order = topologicalOrder(drafts)
        checkSweepConsumers(drafts)
        guard issues.isEmpty, let order else { return nil }
        guard let stages = expand(drafts: drafts, order: order, workdir: workdir) else { return nil }
        checkOutputs(stages, drafts: drafts, workdir: workdir, file: file)
        guard issues.isEmpty else { return nil }
        return ResolvedPipeline(file: file, name: name, workdir: workdir, stages: stages, spec: spec, overrides: overrides)
    }
}
