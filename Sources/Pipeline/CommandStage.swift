import Foundation
import LogIO
import StageKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `command` stage kind: any program, with declared inputs, outputs and parameters
/// substituted into its command line. Unlike the built-in kinds its slots, outputs and
/// parameter keys are the stage's own, so each command stage gets its own `StageKind`
/// (made here from the declaration), and the runner treats it like any other: fingerprint,
/// skip, lock entry, resume.
///
/// ```json
/// "features": {"kind": "command",
///              "command": ["python3", "${inputs.script}", "--rows", "${inputs.rows}", "--out", "${outputs.rows}", "--min-count", "${params.minCount}"],
///              "inputs": {"script": "tools/features.py", "rows": "${ingest.train}"},
///              "outputs": {"rows": "train.tsv"},
///              "params": {"minCount": 5}}
/// ```
///
/// The command runs from the pipeline file's folder, without a shell (`"shell": true` and
/// a string runs `/bin/sh -c`). `${outputs.x}` names a path in a staging folder
/// (`workdir/<stage>/.staging/`); when the command exits 0 and has created every declared
/// output, the outputs are renamed into `workdir/<stage>/` together; otherwise nothing is.
/// Its stdout and stderr are kept in `workdir/<stage>/stdout.log` and `stderr.log`.
enum CommandStage {
    static let kindName = "command"
    static let summary = "Any program: declared inputs, outputs and params substituted into its command line (${inputs.x}, ${outputs.y}, ${params.z})."
    static let stagingFolder = ".staging"
    static let stdoutLog = "stdout.log"
    static let stderrLog = "stderr.log"
    /// Keys of a stage object that only a command stage takes.
    static let stageKeys = ["command", "shell"]

    /// A piece of a command-line template.
    enum Segment: Equatable {
        case literal(String)
        /// `${scope.key}`, scope one of params, inputs, outputs.
        case reference(scope: String, key: String)
        /// `${...}` that is not a reference of the three scopes.
        case malformed(String)
    }

    /// Splits a template word at its `${scope.key}` references; `$${` is a literal `${`.
    static func segments(_ text: String) -> [Segment] {
        var result: [Segment] = []
        var literal = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            literal += rest[..<dollar]
            let after = rest[dollar...]
            if after.hasPrefix("$${") {
                literal += "${"
                rest = after.dropFirst(3)
            } else if after.hasPrefix("${") {
                guard let close = after.firstIndex(of: "}") else {
                    if !literal.isEmpty { result.append(.literal(literal)); literal = "" }
                    result.append(.malformed(String(after)))
                    return result
                }
                if !literal.isEmpty { result.append(.literal(literal)); literal = "" }
                let inner = after[after.index(after.startIndex, offsetBy: 2)..<close]
                let parts = inner.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2, ["params", "inputs", "outputs"].contains(String(parts[0])), !parts[1].isEmpty {
                    result.append(.reference(scope: String(parts[0]), key: String(parts[1])))
                } else {
                    result.append(.malformed(String(after[...close])))
                }
                rest = after[after.index(after: close)...]
            } else {
                literal += "$"
                rest = after.dropFirst()
            }
        }
        literal += rest
        if !literal.isEmpty { result.append(.literal(literal)) }
        return result
    }

    /// A parameter value as command-line words: strings as they are, numbers as JSON,
    /// booleans true/false, arrays one word per item.
    static func words(_ value: JSONValue) -> [String] {
        switch value {
        case let .string(s): return [s]
        case let .array(items): return items.flatMap(words)
        case .null: return []
        default: return [value.text()]
        }
    }

    /// The template with every reference replaced. Without a shell, a word that is one
    /// reference becomes one argument per value (none for an empty list); a reference
    /// inside a longer word is replaced by its values joined by spaces. With a shell, the
    /// values are quoted for /bin/sh.
    static func substitute(_ template: [String], shell: Bool, values: (String, String) -> [String]) -> [String] {
        var result: [String] = []
        for word in template {
            let parts = segments(word)
            if !shell, parts.count == 1, case let .reference(scope, key) = parts[0] {
                result += values(scope, key)
                continue
            }
            var text = ""
            for part in parts {
                switch part {
                case let .literal(s): text += s
                case let .reference(scope, key):
                    let v = values(scope, key)
                    text += shell ? v.map(Subprocess.shellQuoted).joined(separator: " ") : v.joined(separator: " ")
                case let .malformed(s): text += s
                }
            }
            result.append(text)
        }
        return result
    }

    /// A command stage's declaration, checked.
    struct Declaration: Sendable {
        var template: [String]
        var shell: Bool
        var inputs: [InputSlot]
        var outputs: [OutputDecl]
        var paramKeys: [String]
        /// argv[0] as found at validation time (nil when it is a reference or with a shell).
        var executable: String?
        /// The pipeline file's folder: where the command runs.
        var directory: String
        /// What the fingerprint adds for this stage: the command as written and the shell flag.
        var execution: JSONValue
    }

    static func kind(_ declaration: Declaration) -> StageKind {
        StageKind(command: declaration)
    }

    /// Runs the command for one stage instance and publishes its outputs.
    static func run(_ d: Declaration, params: JSONValue, context: StageContext<AnyParams>) throws -> StageOutcome {
        let fm = FileManager.default
        let staging = context.directory + "/" + stagingFolder
        try? fm.removeItem(atPath: staging)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var staged: [String: String] = [:]
        for o in d.outputs {
            let path = staging + "/" + o.path
            staged[o.name] = path
            // Folders are made for the command to write into; files get their parent folder.
            let folder = o.isDirectory ? path : URL(fileURLWithPath: path).deletingLastPathComponent().path
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let argv = substitute(d.template, shell: d.shell) { scope, key in
            switch scope {
            case "params": return words(params[key] ?? .null)
            case "inputs": return context.paths(key)
            default: return staged[key].map { [$0] } ?? []
            }
        }
        let executable: String
        let arguments: [String]
        if d.shell {
            executable = "/bin/sh"
            arguments = ["-c", argv.joined(separator: " ")]
        } else if let found = d.executable {
            executable = found
            arguments = Array(argv.dropFirst())
        } else {
            guard let name = argv.first, let found = Subprocess.resolve(name, base: d.directory) else {
                throw PipelineError.io(path: argv.first ?? "", message: "no such executable (the command's first word, after substitution)")
            }
            executable = found
            arguments = Array(argv.dropFirst())
        }
        let stdout = context.directory + "/" + stdoutLog, stderr = context.directory + "/" + stderrLog
        context.reporter.note("$ " + ([executable] + arguments).map(Subprocess.shellQuoted).joined(separator: " "))
        let status = try Subprocess.run(executable, arguments, directory: d.directory, stdout: stdout, stderr: stderr)
        guard status == 0 else {
            throw PipelineError.commandFailed(command: d.shell ? "/bin/sh -c" : executable, status: status, log: stderr,
                                              lastLines: Subprocess.tail(stderr))
        }
        // All or none: every output must be there before any is published.
        var missing: [String] = []
        for o in d.outputs {
            let path = staged[o.name]!
            var isDirectory: ObjCBool = false
            if !fm.fileExists(atPath: path, isDirectory: &isDirectory) {
                missing.append("\(o.name) (\(display(path)))")
            } else if o.isDirectory, !isDirectory.boolValue || ((try? fm.contentsOfDirectory(atPath: path)) ?? []).isEmpty {
                missing.append("\(o.name) (\(display(path)), a folder: left empty)")
            }
        }
        guard missing.isEmpty else { throw PipelineError.commandOutputsMissing(outputs: missing) }
        for o in d.outputs {
            let destination = context.output(o.name)
            try fm.createDirectory(atPath: URL(fileURLWithPath: destination).deletingLastPathComponent().path, withIntermediateDirectories: true)
            if FileStamp.of(destination) != nil { try fm.removeItem(atPath: destination) }
            guard rename(staged[o.name]!, destination) == 0 else {
                throw PipelineError.io(path: destination, message: "cannot publish output \"\(o.name)\": \(String(cString: strerror(errno)))")
            }
        }
        try? fm.removeItem(atPath: staging)
        return StageOutcome()
    }
}

extension StageKind {
    /// A command stage's own kind: slots, outputs and parameter keys from its declaration.
    init(command d: CommandStage.Declaration) {
        name = CommandStage.kindName
        summary = CommandStage.summary
        version = 1
        inputSlots = d.inputs
        reservedKeys = [:]
        specs = []
        parameterKeys = d.paramKeys
        defaults = .object([])
        execution = d.execution
        mpiTool = nil
        mpiRanksChangeResult = false
        commandLine = { _ in [] }
        decode = { entries in
            var problems: [ParamProblem] = []
            for (key, value) in entries where !CommandStage.isSubstitutable(value) {
                problems.append(ParamProblem(key, "expected a string, a number, a boolean or an array of them (substituted into the command), found \(value.found)"))
            }
            return problems.isEmpty ? .success(AnyParams(value: JSONValue.object(entries))) : .failure(ParamErrors(problems: problems))
        }
        encode = { $0.value as! JSONValue }
        let outputs = d.outputs
        outputsFor = { _, _ in outputs }
        checkParams = { _, _ in [] }
        runStage = { params, context in try CommandStage.run(d, params: params.value as! JSONValue, context: context) }
    }
}

extension CommandStage {
    static func isSubstitutable(_ value: JSONValue) -> Bool {
        switch value {
        case .string, .int, .double, .bool: return true
        case let .array(items): return items.allSatisfy { if case .array = $0 { return false }; return isSubstitutable($0) }
        default: return false
        }
    }
}

// MARK: - Validation

extension Validator {
    /// Reads a command stage's `command`, `shell`, `inputs` and `outputs` (its `params`
    /// and `sweep` keys are `paramKeys`) and checks every reference and the executable,
    /// each problem at its JSON path. Returns the stage's kind.
    mutating func commandKind(stage: String, value: JSONValue, path: String, paramKeys: [String]) -> StageKind? {
        let before = issues.count
        var shell = false
        switch value["shell"] {
        case nil: break
        case let .bool(b)?: shell = b
        case let other?: issue(JSONPath.join(path, "shell"), "expected true or false, found \(other.found)")
        }
        let commandPath = JSONPath.join(path, "command")
        var template: [String] = []
        var wordPaths: [String] = []
        switch value["command"] {
        case nil:
            issue(commandPath, "missing; expected the command as an array of words, e.g. [\"python3\", \"${inputs.script}\", \"--out\", \"${outputs.result}\"]")
        case let .string(s)?:
            if !shell {
                issue(commandPath, "a string is run by /bin/sh only with \"shell\": true; otherwise give the command as an array of words (run without a shell)")
            } else if s.trimmingCharacters(in: .whitespaces).isEmpty {
                issue(commandPath, "expected a non-empty command")
            }
            template = [s]
            wordPaths = [commandPath]
        case let .array(items)?:
            if items.isEmpty { issue(commandPath, "expected at least the program to run") }
            for (i, item) in items.enumerated() {
                let p = JSONPath.join(commandPath, index: i)
                guard case let .string(s) = item else {
                    issue(p, "expected a string, found \(item.found)")
                    continue
                }
                template.append(s)
                wordPaths.append(p)
            }
            if shell, !items.isEmpty { template = [template.joined(separator: " ")]; wordPaths = [commandPath] }
        case let other?:
            issue(commandPath, "expected an array of words (or a string with \"shell\": true), found \(other.found)")
        }

        // Inputs: declared by naming them; a list or a glob takes several files.
        var slots: [InputSlot] = []
        switch value["inputs"] {
        case nil: break
        case let .object(entries)?:
            for entry in entries {
                checkName(entry.key, path: JSONPath.join(JSONPath.join(path, "inputs"), entry.key), what: "input")
                var multiple = false
                if case .array = entry.value { multiple = true }
                if case let .string(s) = entry.value, !s.hasPrefix("${"), Glob.isPattern(s) { multiple = true }
                slots.append(InputSlot(entry.key, multiple: multiple, summary: "declared input"))
            }
        case let other?:
            issue(JSONPath.join(path, "inputs"), "a command stage names its inputs: expected an object of name -> path(s) or ${stage.output}, found \(other.found)")
        }

        // Outputs: name -> path inside workdir/<stage>/, a trailing / for a folder.
        var outputs: [OutputDecl] = []
        let outputsPath = JSONPath.join(path, "outputs")
        switch value["outputs"] {
        case nil: break
        case let .object(entries)?:
            for entry in entries {
                let p = JSONPath.join(outputsPath, entry.key)
                checkName(entry.key, path: p, what: "output")
                guard case let .string(s) = entry.value else {
                    issue(p, "expected a path inside the stage's folder (e.g. \"features.tsv\", or \"parts/\" for a folder), found \(entry.value.found)")
                    continue
                }
                let isDirectory = s.hasSuffix("/")
                let relative = isDirectory ? String(s.dropLast()) : s
                let components = relative.split(separator: "/", omittingEmptySubsequences: false)
                if relative.isEmpty || s.hasPrefix("/") || s.hasPrefix("~") || components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
                    issue(p, "expected a relative path inside workdir/\(stage)/ without '.', '..' or empty parts, found \"\(s)\"")
                    continue
                }
                let first = String(components[0])
                if [CommandStage.stagingFolder, CommandStage.stdoutLog, CommandStage.stderrLog].contains(first) {
                    issue(p, "\"\(first)\" is where ctr-pipeline keeps the command's \(first.hasSuffix(".log") ? "log" : "staging folder"); choose another name")
                    continue
                }
                if let other = outputs.first(where: { $0.path == relative || $0.path.hasPrefix(relative + "/") || relative.hasPrefix($0.path + "/") }) {
                    issue(p, "\"\(s)\" overlaps output \"\(other.name)\" (\(other.path)); give each output its own path")
                    continue
                }
                outputs.append(OutputDecl(entry.key, path: relative, isDirectory: isDirectory, summary: "declared output"))
            }
        case let other?:
            issue(outputsPath, "expected an object of output name -> path inside the stage's folder, found \(other.found)")
        }
        if value["outputs"] != nil, outputs.isEmpty, issues.count == before {
            issue(outputsPath, "expected at least one output")
        } else if value["outputs"] == nil {
            issue(outputsPath, "missing; a command stage declares what it writes, e.g. \"outputs\": {\"features\": \"features.tsv\"}")
        }

        // References: each must name a declared input, output or parameter.
        var referencedOutputs = Set<String>()
        let known: [String: [String]] = ["params": paramKeys, "inputs": slots.map(\.name), "outputs": outputs.map(\.name)]
        for (word, p) in zip(template, wordPaths) {
            for segment in CommandStage.segments(word) {
                switch segment {
                case .literal: break
                case let .reference(scope, key):
                    let names = known[scope]!
                    if scope == "outputs" { referencedOutputs.insert(key) }
                    if !names.contains(key) {
                        issue(p, "${\(scope).\(key)}: no \(scope == "params" ? "parameter" : String(scope.dropLast())) \"\(key)\" is declared in stages.\(stage).\(scope)"
                              + Suggest.hint(key, names) + (names.isEmpty ? "" : "; declared: " + names.joined(separator: ", ")))
                    }
                case let .malformed(text):
                    issue(p, "\(text): expected ${params.NAME}, ${inputs.NAME} or ${outputs.NAME} (for another stage's output, declare an input "
                          + "such as \"inputs\": {\"x\": \"${stage.output}\"} and write ${inputs.x}; $${ is a literal ${)")
                }
            }
        }
        for o in outputs where !referencedOutputs.contains(o.name) && !template.isEmpty {
            issue(JSONPath.join(outputsPath, o.name), "output \"\(o.name)\" is not in the command; pass it ${outputs.\(o.name)} "
                  + "(the command writes into a staging folder, so it must be told where)")
        }

        // The program: found now, before any work.
        var executable: String?
        if !shell, let first = template.first, !first.contains("${") {
            if let found = Subprocess.resolve(first, base: baseDirectory) {
                executable = found
            } else if first.contains("/") {
                issue(wordPaths[0], "no executable file \(absolutePath(first, base: baseDirectory)) (relative to the pipeline file's folder)")
            } else {
                issue(wordPaths[0], "no program \"\(first)\" in PATH (\(ProcessInfo.processInfo.environment["PATH"] ?? "unset"))")
            }
        }
        guard issues.count == before else { return nil }
        let execution: JSONValue = .object([("command", value["command"]!), ("shell", .bool(shell))])
        return CommandStage.kind(CommandStage.Declaration(template: template, shell: shell, inputs: slots, outputs: outputs,
                                                          paramKeys: paramKeys, executable: executable, directory: baseDirectory,
                                                          execution: execution))
    }

    private mutating func checkName(_ name: String, path: String, what: String) {
        if name.first?.isLetter != true || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            issue(path, "invalid \(what) name \"\(name)\"; expected letters, digits or '_', starting with a letter")
        }
    }
}
