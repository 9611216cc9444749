import Foundation
import StageKit

/// `--set stage.param=value`: typed by the parameter's declaration, applied before validation.
extension Validator {
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
            // A value nests at most as deep as the parser allows (setting it recurses per part).
            guard parts.count >= 2, parts.count <= JSONParser.maxDepth - 3, parts.allSatisfy({ !$0.isEmpty }) else {
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
                // A command stage's params object declares its parameters: --set changes one, never adds one.
                if stage["kind"]?.stringValue == "command" {
                    let declared = stage["params"]?.objectEntries?.map(\.key) ?? []
                    if !declared.contains(parts[1]) {
                        issues.append(ValidationIssue(path: label, message: "no parameter \"\(parts[1])\" is declared in stages.\(parts[0]).params"
                            + Suggest.hint(parts[1], declared) + "; declared: " + (declared.isEmpty ? "none" : declared.joined(separator: ", "))))
                        continue
                    }
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
}
