import StageKit
/// The JSON Schema (draft 2020-12) of pipeline files, generated from the registered
/// stage kinds so it lists exactly the parameters the stages' Params structs decode.
/// `docs/pipeline.schema.json` is this, for the standard stages (a test keeps them equal).
public enum PipelineSchema {
    public static func generate(registry: StageRegistry) -> JSONValue {
        let identifier: JSONValue = .object([("type", .string("string")), ("pattern", .string("^[A-Za-z][A-Za-z0-9_-]*$"))])
        let input: JSONValue = .object([
            ("type", .string("string")), ("minLength", .int(1)),
            ("description", .string("A path or glob relative to the pipeline file, or a reference ${stage.output}, optionally followed by /path/inside.")),
        ])
        var defs: [(key: String, value: JSONValue)] = [
            ("input", input),
            ("inputList", .object([("oneOf", .array([ref("input"), .object([("type", .string("array")), ("minItems", .int(1)), ("items", ref("input"))])]))])),
        ]
        var stageRefs: [JSONValue] = []
        for name in registry.names {
            let kind = registry[name]!
            defs.append(("stage-" + name, stageSchema(kind)))
            stageRefs.append(ref("stage-" + name))
        }
        defs.append(("stage-" + CommandStage.kindName, commandStageSchema()))
        stageRefs.append(ref("stage-" + CommandStage.kindName))
        defs.append(("mpi", .object([
            ("description", .string("Run the stage's tool under mpirun instead of in-process (the ranks are part of the fingerprint where they change the result).")),
            ("type", .string("object")), ("required", .array([.string("ranks")])), ("additionalProperties", .bool(false)),
            ("properties", .object([
                ("ranks", .object([("type", .string("integer")), ("minimum", .int(1)), ("maximum", .int(Int64(MPISpec.maxRanks))),
                                   ("description", .string("mpirun -np"))])),
                ("hostfile", .object([("type", .string("string")), ("minLength", .int(1)),
                                      ("description", .string("mpirun --hostfile, relative to the pipeline file"))])),
                ("args", .object([("type", .string("array")), ("items", .object([("type", .string("string"))])),
                                  ("description", .string("extra mpirun arguments, e.g. [\"--mca\", \"btl\", \"tcp,self\"]"))])),
            ])),
        ])))
        defs.append(("stage", .object([
            ("type", .string("object")),
            ("required", .array([.string("kind")])),
            ("properties", .object([("kind", .object([("enum", .array((registry.names + [CommandStage.kindName]).map { .string($0) }))]))])),
            ("oneOf", .array(stageRefs)),
        ])))
        return .object([
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("title", .string("SwiftCTR pipeline file")),
            ("description", .string("Read by ctr-pipeline (format version \(PipelineLoader.formatVersion)); see docs/PIPELINES.md.")),
            ("type", .string("object")),
            ("required", .array([.string("version"), .string("name"), .string("stages")])),
            ("additionalProperties", .bool(false)),
            ("properties", .object([
                ("$schema", .object([("type", .string("string")),
                                     ("description", .string("Where editors find this schema, e.g. \"../docs/pipeline.schema.json\"; ignored by ctr-pipeline."))])),
                ("version", .object([("const", .int(Int64(PipelineLoader.formatVersion)))])),
                ("name", .object([("type", .string("string")), ("minLength", .int(1))])),
                ("description", .object([("type", .string("string"))])),
                ("workdir", .object([("type", .string("string")), ("minLength", .int(1)),
                                     ("description", .string("Folder for outputs, the lock file and the manifest, relative to the pipeline file; default work/<name>."))])),
                ("params", .object([("type", .string("object")),
                                    ("description", .string("Parameters applied to every stage whose kind takes them; a stage's own params win."))])),
                ("stages", .object([("type", .string("object")), ("minProperties", .int(1)), ("propertyNames", identifier),
                                    ("additionalProperties", ref("stage"))])),
            ])),
            ("$defs", .object(defs)),
        ])
    }

    static func ref(_ name: String) -> JSONValue { .object([("$ref", .string("#/$defs/" + name))]) }

    static func typeSchema(_ type: ParamType) -> [(key: String, value: JSONValue)] {
        switch type {
        case .bool: return [("type", .string("boolean"))]
        case .integer: return [("type", .string("integer"))]
        case .number: return [("type", .string("number"))]
        case .string: return [("type", .string("string"))]
        case let .choice(values): return [("enum", .array(values.map { .string($0) }))]
        case let .array(element): return [("type", .string("array")), ("items", .object(typeSchema(element)))]
        case let .oneOf(types): return [("oneOf", .array(types.map { .object(typeSchema($0)) }))]
        case .other: return []
        }
    }

    /// The type of a parameter with its range (`minimum`, `exclusiveMaximum`, …).
    static func paramSchema(_ spec: ParamSpec) -> [(key: String, value: JSONValue)] {
        var schema = typeSchema(spec.type)
        if let b = spec.bounds {
            if let l = b.lower { schema.append((b.lowerOpen ? "exclusiveMinimum" : "minimum", number(l))) }
            if let u = b.upper { schema.append((b.upperOpen ? "exclusiveMaximum" : "maximum", number(u))) }
        }
        return schema
    }

    static func number(_ d: Double) -> JSONValue { d == d.rounded() && abs(d) < 1e15 ? .int(Int64(d)) : .double(d) }

    static func stageSchema(_ kind: StageKind) -> JSONValue {
        var params: [(key: String, value: JSONValue)] = []
        var sweep: [(key: String, value: JSONValue)] = []
        for spec in kind.specs where kind.reservedKeys[spec.key] == nil {
            let type = paramSchema(spec)
            params.append((spec.key, .object([("description", .string(spec.fullHelp))] + type
                                             + (kind.defaults[spec.key].map { [("default", $0)] } ?? []))))
            sweep.append((spec.key, .object([("type", .string("array")), ("minItems", .int(1)), ("items", .object(type))])))
        }
        let inputs: JSONValue
        var slotProperties: [(key: String, value: JSONValue)] = []
        for slot in kind.inputSlots {
            let schema: JSONValue = slot.multiple ? ref("inputList") : ref("input")
            slotProperties.append((slot.name, .object([("description", .string(slot.summary)), ("allOf", .array([schema]))])))
        }
        let slotObject: JSONValue = .object([
            ("type", .string("object")), ("additionalProperties", .bool(false)), ("properties", .object(slotProperties)),
            ("required", .array(kind.inputSlots.filter(\.required).map { .string($0.name) })),
        ])
        if kind.inputSlots.count == 1 {
            inputs = .object([("oneOf", .array([kind.inputSlots[0].multiple ? ref("inputList") : ref("input"), slotObject]))])
        } else {
            inputs = slotObject
        }
        let outputs: JSONValue = .object([
            ("type", .string("object")), ("additionalProperties", .bool(false)),
            ("description", .string("Where to put outputs instead of workdir/<stage>/ (relative to the pipeline file).")),
            ("properties", .object(kind.defaultOutputs().filter { $0.path != "." }.map { ($0.name, .object([("type", .string("string")), ("description", .string($0.summary))])) })),
        ])
        return .object([
            ("description", .string(kind.summary)),
            ("type", .string("object")),
            ("required", .array([.string("kind")] + (kind.inputSlots.contains(where: \.required) ? [.string("inputs")] : []))),
            ("additionalProperties", .bool(false)),
            ("properties", .object([
                ("kind", .object([("const", .string(kind.name))])),
                ("description", .object([("type", .string("string"))])),
                ("inputs", inputs),
                ("params", .object([("type", .string("object")), ("additionalProperties", .bool(false)), ("properties", .object(params))])),
                ("outputs", outputs),
                ("sweep", .object([("type", .string("object")), ("minProperties", .int(1)), ("additionalProperties", .bool(false)), ("properties", .object(sweep))])),
            ] + (kind.mpiTool != nil ? [("mpi", ref("mpi"))] : []))),
        ])
    }

    static func commandStageSchema() -> JSONValue {
        let name: JSONValue = .object([("type", .string("string")), ("pattern", .string("^[A-Za-z][A-Za-z0-9_]*$"))])
        let scalar: [JSONValue] = [.object([("type", .string("string"))]), .object([("type", .string("number"))]), .object([("type", .string("boolean"))])]
        let value: JSONValue = .object([("oneOf", .array(scalar + [.object([("type", .string("array")), ("items", .object([("oneOf", .array(scalar))]))])]))])
        return .object([
            ("description", .string(CommandStage.summary)),
            ("type", .string("object")),
            ("required", .array([.string("kind"), .string("command"), .string("outputs")])),
            ("additionalProperties", .bool(false)),
            ("properties", .object([
                ("kind", .object([("const", .string(CommandStage.kindName))])),
                ("description", .object([("type", .string("string"))])),
                ("command", .object([
                    ("description", .string("The program and its arguments, run without a shell from the pipeline file's folder; a string runs with /bin/sh -c when \"shell\" is true. ${inputs.x}, ${outputs.y} and ${params.z} are substituted; $${ is a literal ${.")),
                    ("oneOf", .array([.object([("type", .string("array")), ("minItems", .int(1)), ("items", .object([("type", .string("string"))]))]),
                                      .object([("type", .string("string")), ("minLength", .int(1))])])),
                ])),
                ("shell", .object([("type", .string("boolean")), ("default", .bool(false)), ("description", .string("Run the command with /bin/sh -c (values are quoted for the shell)."))])),
                ("inputs", .object([("type", .string("object")), ("propertyNames", name), ("additionalProperties", ref("inputList")),
                                    ("description", .string("Input name -> path(s), glob or ${stage.output}; part of the fingerprint."))])),
                ("outputs", .object([("type", .string("object")), ("minProperties", .int(1)), ("propertyNames", name),
                                     ("additionalProperties", .object([("type", .string("string")), ("minLength", .int(1))])),
                                     ("description", .string("Output name -> path inside workdir/<stage>/ (a trailing / for a folder); each must be passed to the command as ${outputs.name}."))])),
                ("params", .object([("type", .string("object")), ("additionalProperties", value),
                                    ("description", .string("Values substituted as ${params.name}; part of the fingerprint."))])),
                ("sweep", .object([("type", .string("object")), ("minProperties", .int(1)),
                                   ("additionalProperties", .object([("type", .string("array")), ("minItems", .int(1)), ("items", value)]))])),
            ])),
        ])
    }

    /// A plain-text description of each kind: slots, outputs, parameters with types and defaults.
    public static func describe(registry: StageRegistry) -> String {
        var lines: [String] = []
        for name in registry.names {
            let kind = registry[name]!
            lines.append("\(name): \(kind.summary)")
            lines.append("  inputs:")
            for slot in kind.inputSlots {
                lines.append("    \(slot.name)\(slot.required ? "" : " (optional)")\(slot.multiple ? " (several files)" : ""): \(slot.summary)")
            }
            lines.append("  outputs:")
            for o in kind.defaultOutputs() { lines.append("    \(o.name) = \(o.path)\(o.isDirectory ? " (folder)" : ""): \(o.summary)") }
            lines.append("  params:")
            for spec in kind.specs where kind.reservedKeys[spec.key] == nil {
                lines.append("    \(spec.key): \(spec.type)" + (kind.defaults[spec.key].map { ", default \($0.text())" } ?? "")
                             + ". " + spec.fullHelp)
            }
            if let tool = kind.mpiTool { lines.append("  mpi: runs \(tool) under mpirun with \"mpi\": {\"ranks\": N, \"hostfile\": …, \"args\": […]}") }
            lines.append("")
        }
        lines.append("\(CommandStage.kindName): \(CommandStage.summary)")
        lines.append("  \"command\": [\"program\", \"arg\", \"${inputs.x}\", …] (no shell), or a string with \"shell\": true")
        lines.append("  inputs, outputs, params: declared by the stage (outputs are paths inside workdir/<stage>/, a trailing / for a folder)")
        lines.append("")
        return lines.joined(separator: "\n")
    }
}
