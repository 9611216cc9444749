import Foundation
import StageKit

/// Inputs (paths, globs, `${stage.output}` references) and output placement.
extension Validator {
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
}
