import Foundation
import StageKit

/// A stage's kind, parameters (shared and its own) and sweep: decoded and checked, every problem at its JSON path.
extension Validator {
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
}
