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
        let kindNames = registry.names + [CommandStage.kindName]
        var isCommand = false
        switch value["kind"] {
        case nil:
            issue(JSONPath.join(path, "kind"), "missing; expected one of: " + kindNames.joined(separator: ", "))
        case let .string(k)?:
            if let kind = registry[k] { d.kind = kind } else if k == CommandStage.kindName { isCommand = true } else {
                issue(JSONPath.join(path, "kind"), "unknown stage kind \"\(k)\"" + Suggest.hint(k, kindNames)
                      + "; expected one of: " + kindNames.joined(separator: ", "))
            }
        case let other?:
            issue(JSONPath.join(path, "kind"), "expected a string (one of: \(kindNames.joined(separator: ", "))), found \(other.found)")
        }
        if !isCommand {
            for key in CommandStage.stageKeys where value[key] != nil {
                issue(JSONPath.join(path, key), "only a command stage (\"kind\": \"command\") takes \"\(key)\"")
            }
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

        if isCommand {
            d.kind = commandKind(stage: name, value: value, path: path, paramKeys: (own.map(\.key) + d.sweep.map(\.key)).uniqued())
        }
        if let kind = d.kind, let mpi = value["mpi"] {
            d.mpi = draftMPI(kind: kind, value: mpi, path: JSONPath.join(path, "mpi"))
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
            if !isCommand {  // a command stage's "outputs" are its declaration
                d.outputOverrides = draftOutputs(kind: kind, value: value["outputs"], declared: d.outputs, path: JSONPath.join(path, "outputs"))
            }
        } else if !isCommand {
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
        switch decode(kind, valid) {
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
        var valid = Set<String>()
        for (key, _) in d.sweep {
            if let reason = kind.reservedKeys[key] { issue(JSONPath.join(path, key), "set by the pipeline: \(reason)"); continue }
            guard kind.parameterKeys.contains(key) else {
                issue(JSONPath.join(path, key), "unknown parameter \"\(key)\" for a \(kind.name) stage" + Suggest.hint(key, kind.parameterKeys))
                continue
            }
            valid.insert(key)
        }
        let slots = Set(d.inputs.map(\.slot))
        if issues.count == before {
            guard let count = Validator.gridSize(d.sweep), count <= Validator.maxInstances else {
                let sizes = d.sweep.map { "\($0.values.count) \($0.key)" }.joined(separator: " × ")
                issue(path, "the sweep has \(Validator.gridSize(d.sweep).map(String.init) ?? "too many") variants (\(sizes)); "
                      + "expected at most \(Validator.maxInstances)")
                return
            }
            // Usually every point is fine: one decode each (kept for the expansion), no more.
            let paramsKnown = d.params.allSatisfy { kind.reservedKeys[$0.key] == nil && kind.parameterKeys.contains($0.key) }
            if paramsKnown, d.grid.allSatisfy({ point in
                guard case let .success(params) = decode(kind, d.params + point) else { return false }
                return kind.checkParams(params, slots).isEmpty
            }) { return }
        }
        // Otherwise: each value's own problems at its path, then those of the points.
        for (key, values) in d.sweep where valid.contains(key) {
            for (i, v) in values.enumerated() {
                let p = JSONPath.join(JSONPath.join(path, key), index: i)
                if case let .failure(errors) = decode(kind, [(key, v)]) {
                    report(errors.problems, pathFor: { k in k == key || k.isEmpty ? p : JSONPath.join(path, k) }, context: "")
                }
            }
        }
        guard issues.count == before else { return }
        // Each point's value indices, so that a problem finds its value's path without a search.
        let sweepIndex = Dictionary(d.sweep.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { a, _ in a })
        var strides = [Int](repeating: 1, count: d.sweep.count)
        for j in d.sweep.indices.reversed().dropFirst() { strides[j] = strides[j + 1] * d.sweep[j + 1].values.count }
        for (n, point) in d.grid.enumerated() {
            let label = point.map { "\($0.key)=\(Validator.render($0.value))" }.joined(separator: ", ")
            var entries = d.params
            entries.append(contentsOf: point)
            _ = checkParams(kind: kind, stage: d.name, entries: entries, slots: slots, pathFor: { key in
                if let j = sweepIndex[key] {
                    return JSONPath.join(JSONPath.join(path, key), index: n / strides[j] % d.sweep[j].values.count)
                }
                return d.paramPath[key] ?? path
            }, context: "with \(label): ")
        }
    }

    /// The number of points of a sweep's grid; nil past Int's range.
    static func gridSize(_ sweep: [(key: String, values: [JSONValue])]) -> Int? {
        var count = 1
        for (_, values) in sweep {
            let (product, overflow) = count.multipliedReportingOverflow(by: values.count)
            if overflow { return nil }
            count = product
        }
        return count
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
