import Foundation
import StageKit
import Testing
@testable import Pipeline

/// Validation: every kind of error, reported together, each with its JSON path.
@Suite struct ValidationTests {
    func paths(_ issues: [ValidationIssue]) -> [String] { issues.map(\.path) }

    @Test func keysAndTypesComeFromTheDeclarations() throws {
        let kind = fakeRegistry(StageLog())["concat"]!
        #expect(kind.parameterKeys == ["suffix", "repeat", "mode", "ratio", "tags", "out"])
        #expect(kind.parameterType("repeat") == .integer)
        #expect(kind.parameterType("ratio") == .number)
        #expect(kind.parameterType("mode") == .choice(["none", "upper", "lower"]))
        #expect(kind.parameterType("tags") == .array(.string))
        #expect(kind.defaults["repeat"] == .int(1))
        #expect(kind.defaults["suffix"] == .string(""))
    }

    @Test func decodingAnEmptyObjectGivesTheDefaults() throws {
        let params = try ConcatStage.Params.decode(.object([])).get()
        #expect(params == ConcatStage.Params.defaults)
    }

    @Test func aValidPipelineResolvesInDependencyOrder() throws {
        let s = try Scratch()
        // Declared consumer-first: the order follows the references, ties in file order.
        let p = try s.load("""
        {"version": 1, "name": "order", "workdir": "w", "stages": {
          "c": {"kind": "concat", "inputs": ["${b.out}", "${a.out}"]},
          "b": {"kind": "concat", "inputs": "${a.out}"},
          "x": {"kind": "concat", "inputs": "data/a.txt"},
          "a": {"kind": "concat", "inputs": "data/a.txt"}
        }}
        """)
        #expect(p.stages.map(\.name) == ["x", "a", "b", "c"])
        #expect(p.stage("c")!.dependencies == ["b", "a"])
        #expect(p.workdir == s.path("w"))
    }

    @Test func referencesResolveToUpstreamOutputPaths() throws {
        let s = try Scratch()
        let p = try s.load("""
        {"version": 1, "name": "refs", "workdir": "w", "stages": {
          "a": {"kind": "concat", "inputs": "data/day_*.txt"},
          "m": {"kind": "model", "inputs": {"train": "${a.out}", "valid": "data/b.txt"}},
          "s": {"kind": "score", "inputs": {"models": ["${m.model}"], "labels": "${s0.report}/index.html"}},
          "s0": {"kind": "score", "inputs": {"models": "${m.log}", "labels": "data/a.txt"}}
        }}
        """)
        // Globs expand in natural order: day_1, day_2, day_10.
        #expect(p.stage("a")!.inputs[0].items.map(\.path) == ["day_1", "day_2", "day_10"].map { s.path("data/\($0).txt") })
        let m = p.stage("m")!
        #expect(m.inputs.map(\.slot) == ["train", "valid"])
        #expect(m.inputs[0].items == [StageInput(path: s.path("w/a/out.txt"), stage: "a", output: "out")])
        #expect(m.inputs[1].items == [StageInput(path: s.path("data/b.txt"))])
        #expect(m.output("model")!.path == s.path("w/m/model.txt"))
        let score = p.stage("s")!
        #expect(score.inputs[1].items[0].path == s.path("w/s0/report/index.html"))
        #expect(score.dependencies == ["m", "s0"])
    }

    @Test func versionIsCheckedFirst() throws {
        let s = try Scratch()
        let missing = s.issues(#"{"name": "x", "stagse": {}}"#)
        #expect(missing.count == 1)
        #expect(missing[0].path == "version")
        #expect(missing[0].message.contains("missing"))
        let future = s.issues(#"{"version": 2, "whatever": true}"#)
        #expect(future == [ValidationIssue(path: "version", message: "unsupported pipeline format version 2; this ctr-pipeline reads version 1", position: SourcePosition(line: 1, column: 13))])
        let wrongType = s.issues(#"{"version": "1"}"#)
        #expect(wrongType[0].message == "expected the integer 1, found a string (\"1\")")
    }

    @Test func unknownKeysAtEveryLevelWithSuggestions() throws {
        let s = try Scratch()
        let issues = s.issues("""
        {
          "version": 1,
          "name": "typos",
          "workdri": "w",
          "stages": {
            "a": {"kind": "concat", "inputs": "data/a.txt", "parms": {}},
            "b": {"kind": "concat", "inputs": "data/a.txt", "params": {"sufix": "x", "Repeat": 2, "rat-io": 0.1, "zzz": 1}},
            "m": {"kind": "model", "inputs": {"trian": "data/a.txt"}},
            "c": {"kind": "concat", "inputs": "data/a.txt", "outputs": {"otu": "x.txt"}}
          }
        }
        """)
        func message(_ path: String) -> String? { issues.first { $0.path == path }?.message }
        #expect(message("workdri") == "unknown key \"workdri\" (did you mean \"workdir\"?)")
        #expect(message("stages.a.parms") == "unknown key \"parms\" (did you mean \"params\"?)")
        #expect(message("stages.b.params.sufix") == "unknown parameter \"sufix\" for a concat stage (did you mean \"suffix\"?)")
        #expect(message("stages.b.params.Repeat") == "unknown parameter \"Repeat\" for a concat stage (did you mean \"repeat\"?)")
        #expect(message("stages.b.params.rat-io") == "unknown parameter \"rat-io\" for a concat stage (did you mean \"ratio\"?)")
        #expect(message("stages.b.params.zzz")?.hasSuffix("its parameters are: suffix, repeat, mode, ratio, tags, out") == true)
        #expect(message("stages.m.inputs.trian") == "unknown input slot \"trian\" (did you mean \"train\"?)")
        #expect(message("stages.m.inputs.train") == "missing required input \"train\" (training data)")
        #expect(message("stages.c.outputs.otu") == "unknown output \"otu\" (did you mean \"out\"?)")
        // Positions point into the file.
        #expect(issues.first { $0.path == "stages.b.params.sufix" }?.position?.line == 7)
        #expect(issues.count == 9)
    }

    @Test func wrongTypesAndRanges() throws {
        let s = try Scratch()
        let issues = s.issues("""
        {"version": 1, "name": "types", "stages": {
          "a": {"kind": "concat", "inputs": "data/a.txt", "params": {"repeat": "3", "ratio": true, "mode": "uper", "tags": ["x", 2], "suffix": null}},
          "b": {"kind": "concat", "inputs": "data/a.txt", "params": {"repeat": 0, "ratio": 1.5}},
          "c": {"kind": "concat", "inputs": "data/a.txt", "params": {"repeat": 2.5}},
          "m": {"kind": "model", "inputs": {"train": "data/a.txt"}, "params": {"k": 99999999999999}},
          "d": {"kind": "concat", "inputs": "data/a.txt", "params": {"out": "elsewhere"}},
          "e": {"kind": "concat", "inputs": "data/a.txt", "params": []}
        }}
        """)
        let byPath = Dictionary(issues.map { ($0.path, $0.message) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["stages.a.params.repeat"] == "expected an integer, found a string (\"3\")")
        #expect(byPath["stages.a.params.ratio"] == "expected a number, found a boolean (true)")
        #expect(byPath["stages.a.params.mode"] == "\"uper\" is not a valid choice; expected one of \"none\", \"upper\", \"lower\" (did you mean \"upper\"?)")
        #expect(byPath["stages.a.params.tags[1]"] == "expected a string, found an integer (2)")
        #expect(byPath["stages.b.params.repeat"] == "found 0; expected an integer from 1 to 10")
        #expect(byPath["stages.b.params.ratio"] == "found 1.5; expected a finite number in [0, 1)")
        #expect(byPath["stages.c.params.repeat"] == "expected an integer, found a number (2.5)")
        #expect(byPath["stages.m.params.k"] == nil)  // fits in Int
        #expect(byPath["stages.d.params.out"] == "set by the pipeline, not in the file: the pipeline puts outputs under workdir/<stage>/")
        #expect(byPath["stages.e.params"] == "expected an object, found an array")
        // null means "use the default", as decodeIfPresent reads it.
        #expect(byPath["stages.a.params.suffix"] == nil)
    }

    @Test func unknownKindsDanglingReferencesAndMalformedInputs() throws {
        let s = try Scratch()
        let issues = s.issues("""
        {"version": 1, "name": "refs", "stages": {
          "a": {"kind": "concatt", "inputs": "data/a.txt"},
          "b": {"kind": "concat", "inputs": ["${nope.out}", "${c.outt}", "${c}", "x${c.out}", "", 3]},
          "c": {"kind": "concat", "inputs": "data/a.txt"},
          "d": {"inputs": "data/a.txt"},
          "e": {"kind": "model", "inputs": ["data/a.txt"]},
          "f": {"kind": "model", "inputs": {"train": ["data/a.txt", "data/b.txt"]}}
        }}
        """)
        let byPath = Dictionary(issues.map { ($0.path, $0.message) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["stages.a.kind"] == "unknown stage kind \"concatt\" (did you mean \"concat\"?); expected one of: concat, model, score, command")
        #expect(byPath["stages.b.inputs[0]"] == "reference to an unknown stage \"nope\" in ${nope.out}")
        #expect(byPath["stages.b.inputs[1]"] == "stage \"c\" has no output \"outt\" (did you mean \"out\"?); its outputs are: out")
        #expect(byPath["stages.b.inputs[2]"]?.hasPrefix("malformed reference \"${c}\"") == true)
        #expect(byPath["stages.b.inputs[3]"] == "a ${stage.output} reference must start the input, found \"x${c.out}\"")
        #expect(byPath["stages.b.inputs[4]"] == "expected a path, found an empty string")
        #expect(byPath["stages.b.inputs[5]"]?.hasPrefix("expected a path, a glob or a ${stage.output} reference, found an integer") == true)
        #expect(byPath["stages.d.kind"] == "missing; expected one of: concat, model, score, command")
        #expect(byPath["stages.e.inputs"]?.hasPrefix("a model stage has several input slots") == true)
        #expect(byPath["stages.f.inputs.train"] == "input \"train\" takes one file, found 2")
    }

    @Test func missingFilesAndEmptyGlobs() throws {
        let s = try Scratch()
        let issues = s.issues("""
        {"version": 1, "name": "files", "stages": {
          "a": {"kind": "concat", "inputs": ["data/a.txt", "data/missing.txt", "data/*.gz"]}
        }}
        """)
        #expect(issues.map(\.path) == ["stages.a.inputs[1]", "stages.a.inputs[2]"])
        #expect(issues[0].message == "no such file or folder: \(s.path("data/missing.txt"))")
        #expect(issues[1].message == "no file matches \"data/*.gz\" (looked for \(s.path("data/*.gz")))")
    }

    @Test func cyclesAreReportedWithTheirPath() throws {
        let s = try Scratch()
        let issues = s.issues("""
        {"version": 1, "name": "cycle", "stages": {
          "a": {"kind": "concat", "inputs": "${c.out}"},
          "b": {"kind": "concat", "inputs": "${a.out}"},
          "c": {"kind": "concat", "inputs": "${b.out}"},
          "self": {"kind": "concat", "inputs": ["data/a.txt", "${self.out}"]}
        }}
        """)
        #expect(issues.count == 2)
        #expect(issues[0].path == "stages.b.inputs")
        #expect(issues[0].message == "cycle: a -> b -> c -> a; a stage can only read outputs of stages before it")
        #expect(issues[1].path == "stages.self.inputs[1]")
        #expect(issues[1].message.hasPrefix("stage \"self\" reads its own output"))
    }

    @Test func twoStagesWritingTheSameOutput() throws {
        let s = try Scratch()
        let issues = s.issues("""
        {"version": 1, "name": "clash", "workdir": "w", "stages": {
          "a": {"kind": "concat", "inputs": "data/a.txt", "outputs": {"out": "shared.txt"}},
          "b": {"kind": "concat", "inputs": "data/b.txt", "outputs": {"out": "shared.txt"}},
          "c": {"kind": "concat", "inputs": "data/b.txt", "outputs": {"out": "data/a.txt"}}
        }}
        """)
        #expect(issues.map(\.path) == ["stages.b.outputs.out", "stages.c.outputs.out"])
        #expect(issues[0].message.contains("is also written by output \"out\" of stage a"))
        #expect(issues[1].message.contains("would overwrite \(s.path("data/a.txt")), an input of stage a"))
    }

    @Test func outputsMayNotOverwriteThePipelineTheLockTheManifestOrInputs() throws {
        let s = try Scratch()
        try s.write("data/sub/x.txt", "x\n")
        // Each of these validated, and the run overwrote the file.
        let issues = s.issues("""
        {"version": 1, "name": "self", "workdir": "w", "stages": {
          "a": {"kind": "concat", "inputs": "data/a.txt", "outputs": {"out": "pipeline.json"}},
          "b": {"kind": "concat", "inputs": "data/a.txt", "outputs": {"out": "w/ctr-pipeline.lock.json"}},
          "c": {"kind": "concat", "inputs": "data/a.txt", "outputs": {"out": "w/manifest.json"}},
          "d": {"kind": "concat", "inputs": "data/b.txt", "outputs": {"out": "data/b.txt"}},
          "e": {"kind": "concat", "inputs": "data/sub", "outputs": {"out": "data/sub/e.txt"}},
          "f": {"kind": "concat", "inputs": "data/a.txt", "outputs": {"out": "w"}}
        }}
        """)
        let byPath = Dictionary(issues.map { ($0.path, $0.message) }, uniquingKeysWith: { a, b in a + " | " + b })
        let expectedPaths: Set<String> = ["stages.a.outputs.out", "stages.b.outputs.out", "stages.c.outputs.out",
                                          "stages.d.outputs.out", "stages.e.outputs.out", "stages.f.outputs.out"]
        #expect(Set(issues.map(\.path)) == expectedPaths)
        #expect(byPath["stages.a.outputs.out"] == "output \"out\" of stage a (\(s.path("pipeline.json"))) would overwrite the pipeline file \(s.path("pipeline.json")); choose another path")
        #expect(byPath["stages.b.outputs.out"]?.contains("would overwrite the pipeline's lock file \(s.path("w/ctr-pipeline.lock.json"))") == true)
        #expect(byPath["stages.c.outputs.out"]?.contains("would overwrite the run manifest \(s.path("w/manifest.json"))") == true)
        #expect(byPath["stages.d.outputs.out"] == "output \"out\" of stage d would overwrite \(s.path("data/b.txt")), an input of stage d")
        #expect(byPath["stages.e.outputs.out"] == "output \"out\" of stage e would write inside \(s.path("data/sub")), an input of stage e")
        #expect(byPath["stages.f.outputs.out"]?.contains("would replace the folder holding the pipeline's lock file") == true)
        // The positions point at the override in the file.
        #expect(issues.first { $0.path == "stages.a.outputs.out" }?.position == SourcePosition(line: 2, column: 70))
    }

    @Test func deeplyNestedPipelineJSONIsASyntaxError() throws {
        let s = try Scratch()
        try s.write("n.json", String(repeating: "[", count: 40_000))
        #expect(throws: PipelineError.syntax(file: s.path("n.json"), position: SourcePosition(line: 1, column: 257),
                                             message: "arrays and objects nested more than 256 levels deep; expected at most 256")) {
            try PipelineLoader(registry: s.registry).load(file: s.path("n.json"))
        }
        let deep = "join." + Array(repeating: "x", count: 100_000).joined(separator: ".") + "=1"
        let issues = s.issues(chainPipeline, overrides: [deep])
        #expect(issues.count == 1 && issues[0].message.hasPrefix("expected stage.param=value"), "\(issues.map(\.message))")
    }

    @Test func largeSweepsValidateInLinearTimeAndAreCapped() throws {
        let s = try Scratch()
        func pipeline(_ count: Int) -> String {
            let values = (1...count).map(String.init).joined(separator: ", ")
            return """
            {"version": 1, "name": "big", "workdir": "w", "stages": {
              "join": {"kind": "concat", "inputs": ["data/a.txt", "data/b.txt"]},
              "model": {"kind": "model", "inputs": {"train": "${join.out}"}, "sweep": {"k": [\(values)]}},
              "predict": {"kind": "model", "inputs": {"train": "${model.model}"}},
              "score": {"kind": "score", "inputs": {"models": "${predict.model}", "labels": "data/b.txt"}}
            }}
            """
        }
        // 1,000 variants took 4.7 s and 8,000 did not finish in 300 s (release build). Linear
        // growth: 4x the variants take about 4x the time, quadratic 16x. The ratio, not a time,
        // so that a slow or sanitized build does not matter; best of three against noise, and
        // the bound halfway (on a log scale, rounded up) between 4x and 16x, since a shared
        // machine's load can slow one size and not the other (9.35 seen at load 22).
        let clock = ContinuousClock()
        var p: ResolvedPipeline?
        func best(_ count: Int) throws -> Double {
            var times: [Double] = []
            for _ in 0..<3 {
                let t = try clock.measure { p = try s.load(pipeline(count)) }
                times.append(Double(t.components.seconds) + Double(t.components.attoseconds) * 1e-18)
            }
            return times.min()!
        }
        let small = try best(300), large = try best(1200)
        #expect(p?.stages.count == 2402)
        #expect(p?.stage("predict@k=1199")?.inputs[0].items.map(\.stage) == ["model@k=1199"])
        #expect(p?.stage("score")?.inputs[0].items.count == 1200)
        #expect(large / small < 12, "300 variants: \(small) s, 1200: \(large) s")

        // Past 10,000 instances: one clear error, nothing expanded.
        let issues = s.issues("""
        {"version": 1, "name": "big", "workdir": "w", "stages": {
          "model": {"kind": "model", "inputs": {"train": "data/a.txt"}, "sweep": {"k": [\((1...101).map(String.init).joined(separator: ","))]}},
          "predict": {"kind": "model", "inputs": {"train": "${model.model}"}, "sweep": {"seed": [\((1...100).map(String.init).joined(separator: ","))]}}
        }}
        """)
        #expect(issues.map(\.path) == ["stages.predict"])
        #expect(issues.first?.message == "stage predict would run as 10100 instances (its sweep times the variants of the swept stages it reads), 10201 in the pipeline; expected at most 10000 in all")
        let grid = s.issues("""
        {"version": 1, "name": "grid", "stages": {
          "m": {"kind": "model", "inputs": {"train": "data/a.txt"}, "sweep": {"k": [\((1...200).map(String.init).joined(separator: ","))], "seed": [\((1...100).map(String.init).joined(separator: ","))]}}
        }}
        """)
        #expect(grid.map(\.description) == ["stages.m.sweep: the sweep has 20000 variants (200 k × 100 seed); expected at most 10000"])
    }

    @Test func allErrorsAtOnceInOneMessage() throws {
        let s = try Scratch()
        try s.write("pipeline.json", """
        {"version": 1, "name": "many", "stages": {
          "a": {"kind": "concat", "inputs": "data/none.txt", "params": {"repeat": "x"}},
          "b": {"kind": "modle", "inputs": "${a.out}"}
        }}
        """)
        #expect(throws: PipelineError.self) { try PipelineLoader(registry: s.registry).load(file: s.path("pipeline.json")) }
        do {
            _ = try PipelineLoader(registry: s.registry).load(file: s.path("pipeline.json"))
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("\(s.path("pipeline.json")): 3 errors in the pipeline; nothing was run:"))
            #expect(text.contains("pipeline.json:2:"))
            #expect(text.contains("stages.a.params.repeat: expected an integer"))
            #expect(text.contains("stages.b.kind: unknown stage kind \"modle\" (did you mean \"model\"?)"))
        }
    }

    @Test func syntaxErrorsNameLineAndColumn() throws {
        let s = try Scratch()
        try s.write("bad.json", "{\n  \"version\": 1,\n  \"name\": \"x\",\n}\n")
        #expect(throws: PipelineError.syntax(file: s.path("bad.json"), position: SourcePosition(line: 4, column: 1), message: "trailing comma before '}'")) {
            try PipelineLoader(registry: s.registry).load(file: s.path("bad.json"))
        }
        try s.write("dup.json", #"{"version": 1, "version": 2}"#)
        #expect(throws: PipelineError.syntax(file: s.path("dup.json"), position: SourcePosition(line: 1, column: 16), message: "duplicate key \"version\" in the top-level object")) {
            try PipelineLoader(registry: s.registry).load(file: s.path("dup.json"))
        }
        #expect(throws: PipelineError.self) { try PipelineLoader(registry: s.registry).load(file: s.path("absent.json")) }
    }

    @Test func sharedParamsApplyToStagesThatTakeThem() throws {
        let s = try Scratch()
        let p = try s.load("""
        {"version": 1, "name": "shared", "params": {"seed": 7, "suffix": "?"}, "stages": {
          "a": {"kind": "concat", "inputs": "data/a.txt"},
          "m": {"kind": "model", "inputs": {"train": "${a.out}"}},
          "n": {"kind": "model", "inputs": {"train": "${a.out}"}, "params": {"seed": 3}}
        }}
        """)
        #expect(p.stage("a")!.paramsJSON["suffix"] == .string("?"))
        #expect(p.stage("m")!.paramsJSON["seed"] == .int(7))
        #expect(p.stage("n")!.paramsJSON["seed"] == .int(3))
        let overridden = try s.load("""
        {"version": 1, "name": "shared", "params": {"seed": 7}, "stages": {
          "m": {"kind": "model", "inputs": {"train": "data/a.txt"}}
        }}
        """, overrides: ["params.seed=9"])
        #expect(overridden.stage("m")!.paramsJSON["seed"] == .int(9))
        let issues = s.issues("""
        {"version": 1, "name": "shared", "params": {"sed": 7, "k": "four"}, "stages": {
          "m": {"kind": "model", "inputs": {"train": "data/a.txt"}}
        }}
        """)
        #expect(issues.map(\.path) == ["params.sed", "params.k"])
        #expect(issues[0].message == "no stage in this pipeline takes a parameter \"sed\" (did you mean \"seed\"?)")
        #expect(issues[1].message == "expected an integer, found a string (\"four\")")
    }

    @Test func setOverridesAreTypedByTheParamsStruct() throws {
        let s = try Scratch()
        // A string parameter takes "4" as text; an integer one parses it.
        let p = try s.load(chainPipeline, overrides: ["join.suffix=4", "model.k=8", "join.tags=[\"a\",\"b\"]", "model.lambda=1e-4"])
        #expect(p.stage("join")!.paramsJSON["suffix"] == .string("4"))
        #expect(p.stage("join")!.paramsJSON["tags"] == .array([.string("a"), .string("b")]))
        #expect(p.stage("model")!.paramsJSON["k"] == .int(8))
        #expect(p.stage("model")!.paramsJSON["lambda"] == .double(0.0001))
        #expect(p.overrides == ["join.suffix=4", "model.k=8", "join.tags=[\"a\",\"b\"]", "model.lambda=1e-4"])

        let issues = s.issues(chainPipeline, overrides: ["model.k=eight", "modle.k=8", "join.sufix=x", "k=3"])
        let byPath = Dictionary(issues.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["--set modle.k=8"]?.message == "no stage named \"modle\" (did you mean \"model\"?)")
        #expect(byPath["--set k=3"]?.message.hasPrefix("expected stage.param=value") == true)
        #expect(byPath["stages.model.params.k"]?.description == "stages.model.params.k: expected an integer, found a string (\"eight\") (set by --set model.k=eight)")
        #expect(byPath["stages.join.params.sufix"]?.origin == "--set join.sufix=x")
        #expect(byPath["stages.join.params.sufix"]?.message.contains("did you mean \"suffix\"") == true)
    }

    @Test func sweepsExpandTrainPredictAndGatherIntoOneEval() throws {
        let s = try Scratch()
        let p = try s.load(sweepPipeline)
        #expect(p.stages.map(\.name) == ["join", "model@k=4", "model@k=8", "predict@k=4", "predict@k=8", "score"])
        #expect(p.stage("model@k=8")!.paramsJSON["k"] == .int(8))
        #expect(p.stage("model@k=8")!.paramsJSON["seed"] == .int(5))
        #expect(p.stage("model@k=8")!.directory == s.path("w/model@k=8"))
        #expect(p.stage("predict@k=8")!.inputs[0].items[0].path == s.path("w/model@k=8/model.txt"))
        let score = p.stage("score")!
        #expect(score.inputs[0].items.map(\.stage) == ["predict@k=4", "predict@k=8"])
        #expect(score.dependencies == ["predict@k=4", "predict@k=8"])

        let issues = s.issues("""
        {"version": 1, "name": "sweep", "stages": {
          "m": {"kind": "model", "inputs": {"train": "data/a.txt"}, "params": {"k": 2}, "sweep": {"k": [4, "8", 0], "kk": [1], "seed": []}}
        }}
        """)
        let byPath = Dictionary(issues.map { ($0.path, $0.message) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["stages.m.sweep.k"] == "\"k\" is both swept and set in stages.m.params; keep one")
        #expect(byPath["stages.m.sweep.k[1]"] == "expected an integer, found a string (\"8\")")
        #expect(byPath["stages.m.sweep.kk"] == "unknown parameter \"kk\" for a model stage (did you mean \"k\"?)")
        #expect(byPath["stages.m.sweep.seed"] == "expected a non-empty array of values to try, found an array")

        let ranges = s.issues("""
        {"version": 1, "name": "sweep", "stages": {
          "m": {"kind": "model", "inputs": {"train": "data/a.txt"}, "sweep": {"k": [4, 0]}}
        }}
        """)
        #expect(ranges.map(\.description) == ["stages.m.sweep.k[1]: found 0; expected an integer >= 1"])
        #expect(s.issues(sweepPipeline, overrides: ["model.k=3"]).first?.message.contains("is swept") == true)
    }
}

let sweepPipeline = """
{"version": 1, "name": "sweep", "workdir": "w", "stages": {
  "join": {"kind": "concat", "inputs": ["data/a.txt", "data/b.txt"]},
  "model": {"kind": "model", "inputs": {"train": "${join.out}"}, "params": {"seed": 5}, "sweep": {"k": [4, 8]}},
  "predict": {"kind": "model", "inputs": {"train": "${model.model}"}},
  "score": {"kind": "score", "inputs": {"models": "${predict.model}", "labels": "data/b.txt"}}
}}
"""
