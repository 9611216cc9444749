import Foundation
import StageKit

/// Sweeps expanded into stage instances, and outputs checked for conflicts.
extension Validator {
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
