import Foundation
import StageKit

/// Sweeps expanded into stage instances, and outputs checked for conflicts.
extension Validator {
    /// The stage instances in order; nil (with an issue) when they would be more than `maxInstances`.
    /// Linear in the instances and their inputs: grids are built once, and the instances of
    /// an upstream stage compatible with an assignment are found through an index.
    mutating func expand(drafts: [DraftStage], order: [Int], workdir: String) -> [ResolvedStage]? {
        var instances: [String: [Instance]] = [:]
        var resolved: [String: ResolvedStage] = [:]
        var result: [ResolvedStage] = []
        let declaredOrder = drafts.map(\.name)
        let grids = Dictionary(uniqueKeysWithValues: drafts.map { ($0.name, $0.grid) })
        /// Per upstream stage and set of shared sweep keys: its instances (indices, in
        /// order) by their values of those keys.
        var indexes: [String: [[Int]: [Int]]] = [:]

        // Every instance of a stage has the same sweep keys (those of its swept upstreams
        // through single-file slots, and its own), so `b` is compatible with `a` when they
        // agree on the keys both have.
        func compatibleInstances(of stage: String, with a: [String: Int]) -> [Instance] {
            let ups = instances[stage]!
            let shared = ups[0].assignment.keys.filter { a[$0] != nil }.sorted()
            guard !shared.isEmpty else { return ups }
            let indexKey = stage + "\u{0}" + shared.joined(separator: "\u{0}")
            if indexes[indexKey] == nil {
                var index: [[Int]: [Int]] = [:]
                for (i, up) in ups.enumerated() { index[shared.map { up.assignment[$0] ?? -1 }, default: []].append(i) }
                indexes[indexKey] = index
            }
            return (indexes[indexKey]![shared.map { a[$0]! }] ?? []).map { ups[$0] }
        }
        func instanceName(_ base: String, _ a: [String: Int]) -> String {
            guard !a.isEmpty else { return base }
            let parts = declaredOrder.filter { a[$0] != nil }.flatMap { origin in
                grids[origin]![a[origin]!].map { "\($0.key)=\(Validator.render($0.value))" }
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
                    var seen = Set<[String: Int]>()
                    for a in assignments {
                        for b in compatibleInstances(of: stage, with: a) {
                            let m = a.merging(b.assignment) { x, _ in x }
                            if seen.insert(m).inserted { merged.append(m) }
                        }
                        guard merged.count <= Validator.maxInstances else { break }
                    }
                    assignments = merged
                }
            }
            if !d.sweep.isEmpty {
                let grid = grids[d.name]!
                assignments = assignments.flatMap { a in grid.indices.map { a.merging([d.name: $0]) { x, _ in x } } }
            }
            guard result.count + assignments.count <= Validator.maxInstances else {
                issue(JSONPath.join("stages", d.name), "stage \(d.name) would run as \(assignments.count) instances "
                      + "(its sweep times the variants of the swept stages it reads), \(result.count + assignments.count) in the pipeline; "
                      + "expected at most \(Validator.maxInstances) in all")
                return nil
            }
            for a in assignments {
                let name = instanceName(d.name, a)
                var entries = d.params
                if let v = a[d.name] { entries.append(contentsOf: grids[d.name]![v]) }
                // Validation has decoded these exact parameters already.
                let params = try! decode(kind, entries).get()
                let paramsJSON = kind.encode(params)
                let directory = workdir + "/" + name.replacingOccurrences(of: "/", with: "_")
                let outputs = kind.outputsFor(params, Set(d.inputs.map(\.slot))).map { decl -> ResolvedOutput in
                    let written = decl.path == "." ? directory : directory + "/" + decl.path
                    return ResolvedOutput(name: decl.name, path: d.outputOverrides[decl.name]?.path ?? written,
                                          writtenAt: written, isDirectory: decl.isDirectory)
                }
                var inputs: [(slot: String, items: [StageInput])] = []
                var dependencies: [String] = []
                var dependencySet = Set<String>()
                for slot in kind.inputSlots {
                    guard let items = d.inputs.first(where: { $0.slot == slot.name })?.items else { continue }
                    var resolvedItems: [StageInput] = []
                    for item in items {
                        switch item.source {
                        case let .path(p):
                            resolvedItems.append(StageInput(path: p))
                        case let .reference(stage, output, subpath):
                            for up in compatibleInstances(of: stage, with: a) {
                                let producer = resolved[up.name]!
                                resolvedItems.append(StageInput(path: producer.output(output)!.path + subpath, stage: up.name, output: output))
                                if dependencySet.insert(up.name).inserted { dependencies.append(up.name) }
                            }
                        }
                    }
                    inputs.append((slot.name, resolvedItems))
                }
                let variant = declaredOrder.filter { a[$0] != nil }.flatMap { origin in
                    grids[origin]![a[origin]!].map { SweepValue(stage: origin, key: $0.key, value: $0.value) }
                }
                let stage = ResolvedStage(name: name, base: d.name, kind: kind, variant: variant, params: params,
                                          paramsJSON: paramsJSON, inputs: inputs, outputs: outputs,
                                          directory: directory, dependencies: dependencies, mpi: d.mpi,
                                          execution: kind.execution ?? d.mpi?.execution(kind))
                resolved[name] = stage
                result.append(stage)
                instances[d.name, default: []].append(Instance(base: d.name, assignment: a, name: name))
            }
        }
        return result
    }

    /// Outputs that would overwrite something: two stages writing the same path (or one
    /// inside the other's folder); a stage writing over, or inside, a file or folder a
    /// stage reads as a plain input; or an output over the pipeline file, the lock file,
    /// the run manifest or the run lock. Each at the output's JSON path.
    mutating func checkOutputs(_ stages: [ResolvedStage], drafts: [DraftStage], workdir: String, file: String) {
        var writers: [(path: String, stage: ResolvedStage, output: String)] = []
        for s in stages { for o in s.outputs { writers.append((o.path, s, o.name)) } }
        let draftsByName = Dictionary(drafts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func jsonPath(_ s: ResolvedStage, _ output: String) -> String {
            draftsByName[s.base]?.outputOverrides[output]?.jsonPath ?? JSONPath.join(JSONPath.join("stages", s.base), "outputs")
        }
        func parents(_ path: String) -> [String] {
            var result: [String] = []
            var p = path
            while let slash = p.lastIndex(of: "/"), slash > p.startIndex {
                p = String(p[..<slash])
                result.append(p)
            }
            return result
        }
        // Writers by path, and by every folder above their path.
        var byPath: [String: [Int]] = [:]
        var byFolder: [String: [Int]] = [:]
        for (i, w) in writers.enumerated() {
            byPath[w.path, default: []].append(i)
            for folder in parents(w.path) { byFolder[folder, default: []].append(i) }
        }
        /// Writers at `path` or above it (a folder holding it), and inside it when `inside`.
        func writersAt(_ path: String, inside: Bool) -> [Int] {
            var found = byPath[path] ?? []
            for folder in parents(path) { found += byPath[folder] ?? [] }
            if inside { found += byFolder[path] ?? [] }
            return Array(Set(found)).sorted()
        }

        for (i, w) in writers.enumerated() {
            for j in writersAt(w.path, inside: true) where j < i && writers[j].stage.name != w.stage.name {
                let v = writers[j]
                let how = v.path == w.path ? "also written by" : "overlaps the output of"
                issue(jsonPath(w.stage, w.output), "output \"\(w.output)\" of stage \(w.stage.name) (\(w.path)) is \(how) output \"\(v.output)\" of stage \(v.stage.name) (\(v.path)); give each stage its own outputs")
            }
        }
        let protected = [(absolutePath(file, base: baseDirectory), "the pipeline file"),
                         (workdir + "/" + LockFile.fileName, "the pipeline's lock file"),
                         (workdir + "/" + RunManifest.fileName, "the run manifest"),
                         (workdir + "/" + WorkdirLock.fileName, "the run lock")]
        for (path, what) in protected {
            for j in writersAt(path, inside: false) {
                let w = writers[j]
                let how = w.path == path ? "would overwrite" : "would replace the folder holding"
                issue(jsonPath(w.stage, w.output), "output \"\(w.output)\" of stage \(w.stage.name) (\(w.path)) \(how) \(what) \(path); choose another path")
            }
        }
        for s in stages {
            for (_, items) in s.inputs {
                for item in items where item.stage == nil {
                    for j in writersAt(item.path, inside: true) {
                        let w = writers[j]
                        let how = w.path.hasPrefix(item.path + "/") ? "would write inside" : "would overwrite"
                        issue(jsonPath(w.stage, w.output), "output \"\(w.output)\" of stage \(w.stage.name) \(how) \(item.path), an input of stage \(s.name)")
                    }
                }
            }
        }
    }
}
