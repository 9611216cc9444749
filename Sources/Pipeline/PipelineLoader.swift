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
    static let topKeys = ["version", "name", "description", "workdir", "params", "stages"]
    static let stageKeys = ["kind", "description", "inputs", "params", "outputs", "sweep"]

    public let registry: StageRegistry

    public init(registry: StageRegistry) {
        self.registry = registry
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

private struct DraftItem {
    enum Source { case path(String), reference(stage: String, output: String, subpath: String) }
    var source: Source
    var jsonPath: String
}

private struct DraftStage {
    var name: String
    var kind: StageKind?
    /// Merged parameters (shared params the kind takes, then the stage's own).
    var params: [(key: String, value: JSONValue)] = []
    var paramPath: [String: String] = [:]
    var sweep: [(key: String, values: [JSONValue])] = []
    var inputs: [(slot: String, items: [DraftItem])] = []
    var outputOverrides: [String: (path: String, jsonPath: String)] = [:]
    var outputs: [OutputDecl] = []
    var grid: [[(key: String, value: JSONValue)]] { Validator.cartesian(sweep) }
}

private struct Instance {
    var base: String
    var assignment: [String: Int]
    var name: String
}

private struct Validator {
    let registry: StageRegistry
    let positions: [String: SourcePosition]
    let baseDirectory: String
    var issues: [ValidationIssue] = []
    /// JSON paths set by --set, with the flag that set them.
    var overridden: [String: String] = [:]

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
        if !issues.contains(new) { issues.append(new) }
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
        let stages = expand(drafts: drafts, order: order, workdir: workdir)
        checkOutputs(stages, drafts: drafts, workdir: workdir)
        guard issues.isEmpty else { return nil }
        return ResolvedPipeline(file: file, name: name, workdir: workdir, stages: stages, spec: spec, overrides: overrides)
    }

    // MARK: --set

    mutating func applyOverrides(_ overrides: [String], to spec: inout JSONValue) {
        let stageNames = spec["stages"]?.objectEntries?.map(\.key) ?? []
        for flag in overrides {
            let label = "--set \(flag)"
            guard let eq = flag.firstIndex(of: "=") else {
                issues.append(ValidationIssue(path: label, message: "expected stage.param=value"))
                continue
            }
            let lhs = String(flag[..<eq]), raw = String(flag[flag.index(after: eq)...])
            let parts = lhs.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty }) else {
                issues.append(ValidationIssue(path: label, message: "expected stage.param=value (or params.key=value for a shared parameter), found \"\(lhs)\""))
                continue
            }
            var type: ParamType?
            let path: [String]
            if parts[0] == "params", !stageNames.contains("params") {
                path = ["params"] + parts.dropFirst()
                let kinds = (spec["stages"]?.objectEntries ?? []).compactMap { $0.value["kind"]?.stringValue }.compactMap { registry[$0] }
                type = kinds.lazy.compactMap { $0.parameterType(parts[1]) }.first
            } else {
                guard stageNames.contains(parts[0]) else {
                    issues.append(ValidationIssue(path: label, message: "no stage named \"\(parts[0])\"" + Suggest.hint(parts[0], stageNames)))
                    continue
                }
                let stage = spec["stages"]![parts[0]]!
                if let sweep = stage["sweep"], sweep[parts[1]] != nil {
                    issues.append(ValidationIssue(path: label, message: "\(parts[0]).\(parts[1]) is swept (stages.\(parts[0]).sweep.\(parts[1])); edit the sweep values in the file instead"))
                    continue
                }
                path = ["stages", parts[0], "params"] + parts.dropFirst()
                if parts.count == 2, let kind = stage["kind"]?.stringValue.flatMap({ registry[$0] }) {
                    type = kind.parameterType(parts[1])
                }
            }
            let value: JSONValue
            switch type {
            case .string?, .choice?:
                // A string parameter takes the text as is; quotes are optional.
                if case let .string(s)? = JSONParser.parseOrNil(raw) { value = .string(s) } else { value = .string(raw) }
            default:
                value = JSONParser.parseOrNil(raw) ?? .string(raw)
            }
            spec = spec.setting(value, at: path[...])
            overridden[path.reduce("") { JSONPath.join($0, $1) }] = label
        }
    }

    // MARK: Stages

    mutating func draft(name: String, value: JSONValue, shared: [(key: String, value: JSONValue)]) -> DraftStage {
        let path = JSONPath.join("stages", name)
        var d = DraftStage(name: name)
        if name.first?.isLetter != true || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) {
            issue(path, "invalid stage name \"\(name)\"; expected letters, digits, '_' or '-', starting with a letter")
        }
        guard case let .object(entries) = value else {
            issue(path, "expected an object with \"kind\", \"inputs\" and \"params\", found \(value.found)")
            return d
        }
        for entry in entries where !PipelineLoader.stageKeys.contains(entry.key) {
            unknownKey(path, entry.key, known: PipelineLoader.stageKeys)
        }
        if let desc = value["description"], desc.stringValue == nil {
            issue(JSONPath.join(path, "description"), "expected a string, found \(desc.found)")
        }
        switch value["kind"] {
        case nil:
            issue(JSONPath.join(path, "kind"), "missing; expected one of: " + registry.names.joined(separator: ", "))
        case let .string(k)?:
            if let kind = registry[k] { d.kind = kind } else {
                issue(JSONPath.join(path, "kind"), "unknown stage kind \"\(k)\"" + Suggest.hint(k, registry.names)
                      + "; expected one of: " + registry.names.joined(separator: ", "))
            }
        case let other?:
            issue(JSONPath.join(path, "kind"), "expected a string (one of: \(registry.names.joined(separator: ", "))), found \(other.found)")
        }

        // Parameters: the stage's own over the shared ones it takes.
        var own: [(key: String, value: JSONValue)] = []
        switch value["params"] {
        case let .object(p)?: own = p
        case nil: break
        case let other?: issue(JSONPath.join(path, "params"), "expected an object, found \(other.found)")
        }
        if let kind = d.kind {
            for entry in shared where kind.parameterKeys.contains(entry.key) && kind.reservedKeys[entry.key] == nil {
                d.params.append(entry)
                d.paramPath[entry.key] = JSONPath.join("params", entry.key)
            }
        }
        for entry in own {
            d.params.removeAll { $0.key == entry.key }
            d.params.append(entry)
            d.paramPath[entry.key] = JSONPath.join(JSONPath.join(path, "params"), entry.key)
        }

        // Sweep: each key a parameter, each value list non-empty.
        switch value["sweep"] {
        case let .object(entries)?:
            if entries.isEmpty { issue(JSONPath.join(path, "sweep"), "expected at least one swept parameter") }
            for entry in entries {
                let p = JSONPath.join(JSONPath.join(path, "sweep"), entry.key)
                guard case let .array(values) = entry.value, !values.isEmpty else {
                    issue(p, "expected a non-empty array of values to try, found \(entry.value.found)")
                    continue
                }
                if own.contains(where: { $0.key == entry.key }) {
                    issue(p, "\"\(entry.key)\" is both swept and set in stages.\(name).params; keep one")
                }
                d.params.removeAll { $0.key == entry.key }
                d.sweep.append((entry.key, values))
            }
        case nil: break
        case let other?: issue(JSONPath.join(path, "sweep"), "expected an object of parameter -> array of values, found \(other.found)")
        }

        if let kind = d.kind {
            d.inputs = draftInputs(kind: kind, value: value["inputs"], path: JSONPath.join(path, "inputs"))
            let slots = Set(d.inputs.map(\.slot))
            let paramsPath = JSONPath.join(path, "params")
            let params = checkParams(kind: kind, stage: name, entries: d.params, slots: slots, pathFor: { key in
                key.isEmpty ? paramsPath : d.paramPath[key] ?? JSONPath.join(paramsPath, key)
            })
            d.outputs = params.map { kind.outputsFor($0, slots) } ?? kind.defaultOutputs(inputs: slots)
            checkSweep(kind: kind, draft: d, path: JSONPath.join(path, "sweep"))
            d.outputOverrides = draftOutputs(kind: kind, value: value["outputs"], declared: d.outputs, path: JSONPath.join(path, "outputs"))
        } else {
            d.inputs = draftInputs(kind: nil, value: value["inputs"], path: JSONPath.join(path, "inputs"))
        }
        return d
    }

    /// Decodes a parameter object (every bad key is reported, at its own path), then runs
    /// the kind's checks that depend on the input slots. Returns the decoded value when all is well.
    mutating func checkParams(kind: StageKind, stage: String, entries: [(key: String, value: JSONValue)], slots: Set<String>,
                              pathFor: (String) -> String, context: String = "") -> AnyParams? {
        let before = issues.count
        var valid: [(key: String, value: JSONValue)] = []
        for entry in entries {
            if let reason = kind.reservedKeys[entry.key] {
                issue(pathFor(entry.key), "set by the pipeline, not in the file: \(reason)")
            } else if !kind.parameterKeys.contains(entry.key) {
                var message = "unknown parameter \"\(entry.key)\" for a \(kind.name) stage" + Suggest.hint(entry.key, kind.parameterKeys)
                if Suggest.closest(to: entry.key, among: kind.parameterKeys) == nil {
                    message += "; its parameters are: " + kind.parameterKeys.joined(separator: ", ")
                }
                issue(pathFor(entry.key), message)
            } else {
                valid.append(entry)
            }
        }
        switch kind.decode(valid) {
        case let .failure(errors):
            report(errors.problems, pathFor: pathFor, context: context)
            return nil
        case let .success(params):
            report(kind.checkParams(params, slots), pathFor: pathFor, context: context)
            return issues.count == before ? params : nil
        }
    }

    /// Each problem at the path of its first key (the params object for problems of the whole).
    mutating func report(_ problems: [ParamProblem], pathFor: (String) -> String, context: String) {
        for problem in problems {
            var message = problem.message
            if problem.keys.count > 1 { message = problem.keys.joined(separator: "/") + ": " + message }
            issue(pathFor(problem.keys.first ?? "") + problem.subpath, context + message)
        }
    }

    mutating func checkSweep(kind: StageKind, draft d: DraftStage, path: String) {
        guard !d.sweep.isEmpty else { return }
        let before = issues.count
        for (key, values) in d.sweep {
            if let reason = kind.reservedKeys[key] { issue(JSONPath.join(path, key), "set by the pipeline: \(reason)"); continue }
            guard kind.parameterKeys.contains(key) else {
                issue(JSONPath.join(path, key), "unknown parameter \"\(key)\" for a \(kind.name) stage" + Suggest.hint(key, kind.parameterKeys))
                continue
            }
            for (i, v) in values.enumerated() {
                let p = JSONPath.join(JSONPath.join(path, key), index: i)
                if case let .failure(errors) = kind.decode([(key, v)]) {
                    report(errors.problems, pathFor: { k in k == key || k.isEmpty ? p : JSONPath.join(path, k) }, context: "")
                }
            }
        }
        guard issues.count == before else { return }
        for point in d.grid {
            let label = point.map { "\($0.key)=\(Validator.render($0.value))" }.joined(separator: ", ")
            var entries = d.params
            entries.append(contentsOf: point)
            _ = checkParams(kind: kind, stage: d.name, entries: entries, slots: Set(d.inputs.map(\.slot)), pathFor: { key in
                if let i = d.sweep.firstIndex(where: { $0.key == key }) {
                    let idx = d.sweep[i].values.firstIndex(of: point.first { $0.key == key }!.value) ?? 0
                    return JSONPath.join(JSONPath.join(path, key), index: idx)
                }
                return d.paramPath[key] ?? path
            }, context: "with \(label): ")
        }
    }

    static func cartesian(_ sweep: [(key: String, values: [JSONValue])]) -> [[(key: String, value: JSONValue)]] {
        var points: [[(key: String, value: JSONValue)]] = [[]]
        for (key, values) in sweep {
            points = points.flatMap { p in values.map { p + [(key, $0)] } }
        }
        return points
    }

    static func render(_ v: JSONValue) -> String {
        if case let .string(s) = v { return s }
        return v.text()
    }

    // MARK: Inputs and outputs

    mutating func draftInputs(kind: StageKind?, value: JSONValue?, path: String) -> [(slot: String, items: [DraftItem])] {
        var slots: [(slot: String, value: JSONValue, path: String)] = []
        let declared = kind?.inputSlots ?? []
        switch value {
        case nil:
            break
        case let .object(entries)?:
            for entry in entries {
                if kind != nil, !declared.contains(where: { $0.name == entry.key }) {
                    unknownKey(path, entry.key, known: declared.map(\.name), what: "input slot")
                    continue
                }
                slots.append((entry.key, entry.value, JSONPath.join(path, entry.key)))
            }
        case let v?:
            if let kind, declared.count != 1 {
                issue(path, "a \(kind.name) stage has several input slots; expected an object with " + declared.map { "\"\($0.name)\"" }.joined(separator: ", "))
            } else {
                slots.append((declared.first?.name ?? "", v, path))
            }
        }
        if kind != nil {
            for slot in declared where slot.required && !slots.contains(where: { $0.slot == slot.name }) {
                let where_ = declared.count == 1 ? path : JSONPath.join(path, slot.name)
                if value == nil || declared.count > 1 {
                    issue(where_, "missing required input \"\(slot.name)\" (\(slot.summary))")
                }
            }
        }
        var result: [(slot: String, items: [DraftItem])] = []
        for (slot, v, p) in slots {
            var strings: [(String, String)] = []
            switch v {
            case let .string(s): strings = [(s, p)]
            case let .array(items):
                if items.isEmpty { issue(p, "expected at least one input") }
                for (i, item) in items.enumerated() {
                    if case let .string(s) = item { strings.append((s, JSONPath.join(p, index: i))) } else {
                        issue(JSONPath.join(p, index: i), "expected a path, a glob or a ${stage.output} reference, found \(item.found)")
                    }
                }
            default:
                issue(p, "expected a path, a glob, a ${stage.output} reference, or an array of them, found \(v.found)")
            }
            var items: [DraftItem] = []
            for (s, itemPath) in strings { items.append(contentsOf: draftItem(s, path: itemPath)) }
            if let slotDecl = declared.first(where: { $0.name == slot }), !slotDecl.multiple, items.count > 1 {
                issue(p, "input \"\(slot)\" takes one file, found \(items.count)" + (strings.count == 1 ? " (the pattern matches several files)" : ""))
            }
            result.append((slot, items))
        }
        return result
    }

    mutating func draftItem(_ s: String, path: String) -> [DraftItem] {
        if s.hasPrefix("${") {
            guard let close = s.firstIndex(of: "}") else {
                issue(path, "malformed reference \"\(s)\"; expected ${stage.output}")
                return []
            }
            let inner = s[s.index(s.startIndex, offsetBy: 2)..<close]
            let rest = String(s[s.index(after: close)...])
            let parts = inner.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty }), rest.isEmpty || rest.hasPrefix("/") else {
                issue(path, "malformed reference \"\(s)\"; expected ${stage.output}, optionally followed by /path/inside")
                return []
            }
            return [DraftItem(source: .reference(stage: String(parts[0]), output: String(parts[1]), subpath: rest), jsonPath: path)]
        }
        if s.contains("${") {
            issue(path, "a ${stage.output} reference must start the input, found \"\(s)\"")
            return []
        }
        if s.isEmpty {
            issue(path, "expected a path, found an empty string")
            return []
        }
        let absolute = absolutePath(s, base: baseDirectory)
        if Glob.isPattern(s) {
            let matches = Glob.expand(absolute)
            if matches.isEmpty { issue(path, "no file matches \"\(s)\" (looked for \(absolute))") }
            return matches.map { DraftItem(source: .path($0), jsonPath: path) }
        }
        if FileStamp.of(absolute) == nil {
            issue(path, "no such file or folder: \(absolute)")
            return []
        }
        return [DraftItem(source: .path(absolute), jsonPath: path)]
    }

    mutating func draftOutputs(kind: StageKind, value: JSONValue?, declared: [OutputDecl], path: String) -> [String: (path: String, jsonPath: String)] {
        guard let value else { return [:] }
        guard case let .object(entries) = value else {
            issue(path, "expected an object of output name -> path, found \(value.found)")
            return [:]
        }
        var result: [String: (String, String)] = [:]
        for entry in entries {
            let p = JSONPath.join(path, entry.key)
            guard let decl = declared.first(where: { $0.name == entry.key }) else {
                unknownKey(path, entry.key, known: declared.map(\.name), what: "output")
                continue
            }
            guard case let .string(s) = entry.value, !s.isEmpty else {
                issue(p, "expected a path, found \(entry.value.found)")
                continue
            }
            if decl.path == "." {
                issue(p, "\"\(entry.key)\" is the stage's whole folder and cannot be moved; reference files inside it instead")
                continue
            }
            result[entry.key] = (absolutePath(s, base: baseDirectory), p)
        }
        return result
    }

    // MARK: Graph

    mutating func checkReferences(_ drafts: [DraftStage]) {
        let names = drafts.map(\.name)
        for d in drafts {
            for (_, items) in d.inputs {
                for item in items {
                    guard case let .reference(stage, output, _) = item.source else { continue }
                    guard let target = drafts.first(where: { $0.name == stage }) else {
                        issue(item.jsonPath, "reference to an unknown stage \"\(stage)\" in ${\(stage).\(output)}" + Suggest.hint(stage, names))
                        continue
                    }
                    guard target.kind != nil else { continue }
                    let outputs = target.outputs.map(\.name)
                    if !outputs.contains(output) {
                        issue(item.jsonPath, "stage \"\(stage)\" has no output \"\(output)\"" + Suggest.hint(output, outputs)
                              + "; its outputs are: " + outputs.joined(separator: ", "))
                    }
                }
            }
        }
    }

    /// Base-stage order with dependencies first, ties in file order; nil (with an issue
    /// per cycle) when the references form a cycle.
    mutating func topologicalOrder(_ drafts: [DraftStage]) -> [Int]? {
        let index = Dictionary(uniqueKeysWithValues: drafts.enumerated().map { ($1.name, $0) })
        var edges: [[(to: Int, path: String)]] = Array(repeating: [], count: drafts.count)  // consumer -> producers
        for (i, d) in drafts.enumerated() {
            for (_, items) in d.inputs {
                for item in items {
                    if case let .reference(stage, _, _) = item.source, let j = index[stage] { edges[i].append((j, item.jsonPath)) }
                }
            }
        }
        // Cycles: depth-first search; each back edge closes one cycle.
        var state = [Int](repeating: 0, count: drafts.count)  // 0 new, 1 on stack, 2 done
        var stack: [Int] = []
        var cycles = Set<Set<Int>>()
        func visit(_ v: Int, _ report: inout [(String, String)]) {
            state[v] = 1
            stack.append(v)
            for (w, path) in edges[v] {
                if state[w] == 1 {
                    let cycle = Array(stack[stack.lastIndex(of: w)!...])
                    if cycles.insert(Set(cycle)).inserted {
                        let names = (cycle + [w]).map { drafts[$0].name }
                        report.append((path, names.count == 2 ? "stage \"\(names[0])\" reads its own output" : "cycle: " + names.reversed().joined(separator: " -> ")))
                    }
                } else if state[w] == 0 {
                    visit(w, &report)
                }
            }
            stack.removeLast()
            state[v] = 2
        }
        var found: [(String, String)] = []
        for v in drafts.indices where state[v] == 0 { visit(v, &found) }
        for (path, message) in found { issue(path, message + "; a stage can only read outputs of stages before it") }
        guard found.isEmpty else { return nil }

        var remaining = Set(drafts.indices)
        var order: [Int] = []
        while !remaining.isEmpty {
            let next = remaining.filter { v in edges[v].allSatisfy { !remaining.contains($0.to) } }.min()!
            order.append(next)
            remaining.remove(next)
        }
        return order
    }

    /// A stage reading two different variants sets of the same swept stage through
    /// single-file slots is fine (it expands); nothing to reject here but sweeps of
    /// stages nobody can tell apart, i.e. duplicate values.
    mutating func checkSweepConsumers(_ drafts: [DraftStage]) {
        for d in drafts {
            for (key, values) in d.sweep {
                for (i, v) in values.enumerated() where values[..<i].contains(v) {
                    issue(JSONPath.join(JSONPath.join(JSONPath.join(JSONPath.join("stages", d.name), "sweep"), key), index: i), "duplicate sweep value \(v.text())")
                }
            }
        }
    }

    // MARK: Expansion

    func expand(drafts: [DraftStage], order: [Int], workdir: String) -> [ResolvedStage] {
        var instances: [String: [Instance]] = [:]
        var resolved: [String: ResolvedStage] = [:]
        var result: [ResolvedStage] = []
        let declaredOrder = drafts.map(\.name)
        let byName = Dictionary(uniqueKeysWithValues: drafts.map { ($0.name, $0) })

        func compatible(_ a: [String: Int], _ b: [String: Int]) -> Bool {
            b.allSatisfy { a[$0.key] == nil || a[$0.key] == $0.value }
        }
        func instanceName(_ base: String, _ a: [String: Int]) -> String {
            guard !a.isEmpty else { return base }
            let parts = declaredOrder.filter { a[$0] != nil }.flatMap { origin in
                byName[origin]!.grid[a[origin]!].map { "\($0.key)=\(Validator.render($0.value))" }
            }
            return base + "@" + parts.joined(separator: ",")
        }

        for i in order {
            let d = drafts[i]
            let kind = d.kind!
            var assignments: [[String: Int]] = [[:]]
            for (slot, items) in d.inputs where !(kind.inputSlots.first { $0.name == slot }?.multiple ?? false) {
                for item in items {
                    guard case let .reference(stage, _, _) = item.source else { continue }
                    var merged: [[String: Int]] = []
                    for a in assignments {
                        for b in instances[stage]!.map(\.assignment) where compatible(a, b) {
                            let m = a.merging(b) { x, _ in x }
                            if !merged.contains(m) { merged.append(m) }
                        }
                    }
                    assignments = merged
                }
            }
            if !d.sweep.isEmpty {
                assignments = assignments.flatMap { a in d.grid.indices.map { a.merging([d.name: $0]) { x, _ in x } } }
            }
            for a in assignments {
                let name = instanceName(d.name, a)
                var entries = d.params
                if let v = a[d.name] { entries.append(contentsOf: d.grid[v]) }
                // Validation has decoded these exact parameters already.
                let params = try! kind.decode(entries).get()
                let paramsJSON = kind.encode(params)
                let directory = workdir + "/" + name.replacingOccurrences(of: "/", with: "_")
                let outputs = kind.outputsFor(params, Set(d.inputs.map(\.slot))).map { decl -> ResolvedOutput in
                    let written = decl.path == "." ? directory : directory + "/" + decl.path
                    return ResolvedOutput(name: decl.name, path: d.outputOverrides[decl.name]?.path ?? written,
                                          writtenAt: written, isDirectory: decl.isDirectory)
                }
                var inputs: [(slot: String, items: [StageInput])] = []
                var dependencies: [String] = []
                for slot in kind.inputSlots {
                    guard let items = d.inputs.first(where: { $0.slot == slot.name })?.items else { continue }
                    var resolvedItems: [StageInput] = []
                    for item in items {
                        switch item.source {
                        case let .path(p):
                            resolvedItems.append(StageInput(path: p))
                        case let .reference(stage, output, subpath):
                            for up in instances[stage]! where compatible(a, up.assignment) {
                                let producer = resolved[up.name]!
                                resolvedItems.append(StageInput(path: producer.output(output)!.path + subpath, stage: up.name, output: output))
                                if !dependencies.contains(up.name) { dependencies.append(up.name) }
                            }
                        }
                    }
                    inputs.append((slot.name, resolvedItems))
                }
                let variant = declaredOrder.filter { a[$0] != nil }.flatMap { origin in
                    byName[origin]!.grid[a[origin]!].map { SweepValue(stage: origin, key: $0.key, value: $0.value) }
                }
                let stage = ResolvedStage(name: name, base: d.name, kind: kind, variant: variant, params: params,
                                          paramsJSON: paramsJSON, inputs: inputs, outputs: outputs,
                                          directory: directory, dependencies: dependencies)
                resolved[name] = stage
                result.append(stage)
                instances[d.name, default: []].append(Instance(base: d.name, assignment: a, name: name))
            }
        }
        return result
    }

    /// Two stages writing the same path (or one inside the other's folder), or a stage
    /// overwriting a file another stage reads as a plain input.
    mutating func checkOutputs(_ stages: [ResolvedStage], drafts: [DraftStage], workdir: String) {
        var writers: [(path: String, stage: ResolvedStage, output: String)] = []
        for s in stages { for o in s.outputs { writers.append((o.path, s, o.name)) } }
        func jsonPath(_ s: ResolvedStage, _ output: String) -> String {
            let d = drafts.first { $0.name == s.base }!
            return d.outputOverrides[output]?.jsonPath ?? JSONPath.join(JSONPath.join("stages", s.base), "outputs")
        }
        for (i, w) in writers.enumerated() {
            for v in writers[..<i] where v.stage.name != w.stage.name {
                if v.path == w.path || v.path.hasPrefix(w.path + "/") || w.path.hasPrefix(v.path + "/") {
                    let how = v.path == w.path ? "also written by" : "overlaps the output of"
                    issue(jsonPath(w.stage, w.output), "output \"\(w.output)\" of stage \(w.stage.name) (\(w.path)) is \(how) output \"\(v.output)\" of stage \(v.stage.name) (\(v.path)); give each stage its own outputs")
                }
            }
        }
        for s in stages {
            for (_, items) in s.inputs {
                for item in items where item.stage == nil {
                    for w in writers where w.path == item.path || item.path.hasPrefix(w.path + "/") {
                        issue(jsonPath(w.stage, w.output), "output \"\(w.output)\" of stage \(w.stage.name) would overwrite \(item.path), an input of stage \(s.name)")
                    }
                }
            }
        }
    }
}
