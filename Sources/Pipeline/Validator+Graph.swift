import Foundation
import StageKit

/// References between stages, their order (cycles reported), and what consumes a sweep.
extension Validator {
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
                // Values bucketed by their text with numbers as doubles (1 and 1.0 are equal), then compared exactly.
                var seen: [String: [JSONValue]] = [:]
                for (i, v) in values.enumerated() {
                    let bucket = Validator.numbersAsDoubles(v).text(sortedKeys: true)
                    if seen[bucket, default: []].contains(v) {
                        issue(JSONPath.join(JSONPath.join(JSONPath.join(JSONPath.join("stages", d.name), "sweep"), key), index: i), "duplicate sweep value \(v.text())")
                    } else {
                        seen[bucket, default: []].append(v)
                    }
                }
            }
        }
    }

    static func numbersAsDoubles(_ v: JSONValue) -> JSONValue {
        switch v {
        case let .int(i): return .double(Double(i))
        case let .double(d): return .double(d == 0 ? 0 : d)
        case let .array(items): return .array(items.map(numbersAsDoubles))
        case let .object(entries): return .object(entries.map { ($0.key, numbersAsDoubles($0.value)) })
        default: return v
        }
    }
}
