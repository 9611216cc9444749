import Foundation
import StageKit
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Pipeline

/// Command stages: real programs (sort, sh) run through the pipeline with the fake stages.
@Suite struct CommandStageTests {
    /// data/a.txt and data/b.txt -> sort (a command) -> concat (a built-in fake kind).
    static func sortPipeline(_ sortArgs: String = "") -> String {
        """
        {
          "$schema": "../docs/pipeline.schema.json",
          "version": 1, "name": "cmd", "workdir": "work",
          "stages": {
            "sorted": {"kind": "command",
                       "command": ["sort", \(sortArgs)"-o", "${outputs.sorted}", "${inputs.text}"],
                       "inputs": {"text": ["data/b.txt", "data/a.txt"]},
                       "outputs": {"sorted": "sorted.txt"}},
            "head": {"kind": "command", "shell": true,
                     "command": "echo 'kept ${params.n} lines' >&2; head -n ${params.n} ${inputs.sorted} > ${outputs.top}; echo done",
                     "inputs": {"sorted": "${sorted.sorted}"}, "outputs": {"top": "top.txt"}, "params": {"n": 2}},
            "join": {"kind": "concat", "inputs": ["${head.top}"], "params": {"suffix": "!"}}
          }
        }
        """
    }

    @Test func aCommandStageRunsSkipsAndRerunsOnChangesLikeABuiltInOne() throws {
        let s = try Scratch()
        try s.write("data/a.txt", "cherry\napple\n")
        try s.write("data/b.txt", "banana\n")
        let first = try s.run(Self.sortPipeline())
        #expect(first.succeeded)
        #expect(first.stages.map(\.status) == [.ran, .ran, .ran])
        #expect(try readText(s.path("work/sorted/sorted.txt")) == "apple\nbanana\ncherry\n")
        #expect(try readText(s.path("work/head/top.txt")) == "apple\nbanana\n")
        #expect(try readText(s.path("work/join/out.txt")) == "apple\nbanana\n!")
        // Logs kept; the staging folder is gone.
        #expect(try readText(s.path("work/head/stdout.log")) == "done\n")
        #expect(try readText(s.path("work/head/stderr.log")) == "kept 2 lines\n")
        #expect(!FileManager.default.fileExists(atPath: s.path("work/head/.staging")))
        #expect(first.stage("head")!.outputs.map(\.name) == ["top"])

        // Unchanged: all skipped.
        let second = try s.run(Self.sortPipeline())
        #expect(second.stages.map(\.status) == [.skipped, .skipped, .skipped])

        // A parameter: that stage runs (the next one too, as its input changed).
        let third = try s.run(Self.sortPipeline(), overrides: ["head.n=1"])
        #expect(third.stages.map(\.status) == [.skipped, .ran, .ran])
        #expect(third.stage("head")!.reasons == ["changed parameter: n 2 -> 1"])
        #expect(try readText(s.path("work/head/top.txt")) == "apple\n")

        // The command itself is part of the fingerprint.
        let fourth = try s.run(Self.sortPipeline("\"-r\", "), overrides: ["head.n=1"])
        #expect(fourth.stage("sorted")!.status == .ran)
        #expect(fourth.stage("sorted")!.reasons.count == 1)
        #expect(fourth.stage("sorted")!.reasons[0].hasPrefix("changed command: [\"sort\",\"-o\""))
        #expect(try readText(s.path("work/sorted/sorted.txt")) == "cherry\nbanana\napple\n")
        #expect(try readText(s.path("work/join/out.txt")) == "cherry\n!")

        // An input's content.
        try s.write("data/b.txt", "date\n")
        let fifth = try s.run(Self.sortPipeline("\"-r\", "), overrides: ["head.n=1"])
        #expect(fifth.stage("sorted")!.reasons == ["changed input: text \(display(s.path("data/b.txt")))"])
        #expect(try readText(s.path("work/join/out.txt")) == "date\n!")

        // A deleted output: the command runs again (without the run cache), or its outputs
        // come back from the run cache, as for a built-in kind.
        try FileManager.default.removeItem(atPath: s.path("work/head/top.txt"))
        let sixth = try s.run(Self.sortPipeline("\"-r\", "), overrides: ["head.n=1"]) { $0.runCache = false }
        #expect(sixth.stages.map(\.status) == [.skipped, .ran, .skipped])
        #expect(sixth.stage("head")!.reasons == ["missing output: top (\(display(s.path("work/head/top.txt"))))"])
        try FileManager.default.removeItem(atPath: s.path("work/head/top.txt"))
        let seventh = try s.run(Self.sortPipeline("\"-r\", "), overrides: ["head.n=1"])
        #expect(seventh.stages.map(\.status) == [.skipped, .restored, .skipped])
        #expect(try readText(s.path("work/head/top.txt")) == "date\n")
    }

    /// `--set` changes a command stage's declared parameter; a name it does not declare is an
    /// error, not a new parameter that nothing reads (found trying `--set clip.maxCount=50`).
    @Test func setNamesADeclaredParameterOfACommandStage() throws {
        let s = try Scratch()
        try s.write("data/a.txt", "apple\n")
        try s.write("data/b.txt", "banana\n")
        #expect(s.issues(Self.sortPipeline(), overrides: ["head.n=1"]).isEmpty)
        #expect(s.issues(Self.sortPipeline(), overrides: ["head.m=1"]) == [ValidationIssue(path: "--set head.m=1",
            message: "no parameter \"m\" is declared in stages.head.params (did you mean \"n\"?); declared: n")])
        #expect(s.issues(Self.sortPipeline(), overrides: ["sorted.n=1"]) == [ValidationIssue(path: "--set sorted.n=1",
            message: "no parameter \"n\" is declared in stages.sorted.params; declared: none")])
    }

    @Test func valuesAreSubstitutedAsSeparateArgumentsWithoutAShellAndQuotedWithOne() throws {
        let s = try Scratch()
        let json = """
        {"version": 1, "name": "args", "workdir": "work", "stages": {
          "plain": {"kind": "command",
                    "command": ["sh", "-c", "for a in \\"$@\\"; do echo \\"<$a>\\"; done > \\"$0\\"", "${outputs.args}",
                                "${params.words}", "--n=${params.n}", "${inputs.days}", "$${literal}", "${params.empty}", "x=${params.words}"],
                    "inputs": {"days": "data/day_*.txt"}, "outputs": {"args": "args.txt"},
                    "params": {"words": ["it's", "a b"], "n": 0.5, "empty": []}},
          "shell": {"kind": "command", "shell": true,
                    "command": ["printf '%s|' ${params.words} ${params.flag} > ${outputs.args}"],
                    "outputs": {"args": "args.txt"}, "params": {"words": ["it's", "a b", "$HOME"], "flag": true}}
        }}
        """
        let report = try s.run(json)
        #expect(report.succeeded, "\(report.failure.map(String.init(describing:)) ?? "")")
        let days = ["day_1", "day_2", "day_10"].map { "<\(s.path("data/\($0).txt"))>" }
        #expect(try readText(s.path("work/plain/args.txt")).split(separator: "\n").map(String.init)
                == ["<it's>", "<a b>", "<--n=0.5>"] + days + ["<${literal}>", "<x=it's a b>"])
        #expect(try readText(s.path("work/shell/args.txt")) == "it's|a b|$HOME|true|")
    }

    @Test func aFailingCommandNamesTheStageTheStatusAndTheLogAndPublishesNothing() throws {
        let s = try Scratch()
        let json = """
        {"version": 1, "name": "fail", "workdir": "work", "stages": {
          "bad": {"kind": "command", "command": ["sh", "-c", "echo partial > \\"$0\\"; echo 'line 1' >&2; echo 'no such column: price' >&2; exit 3", "${outputs.o}"],
                  "outputs": {"o": "o.txt"}},
          "after": {"kind": "concat", "inputs": ["${bad.o}"]}
        }}
        """
        let report = try s.run(json)
        #expect(!report.succeeded)
        #expect(report.stages.map(\.status) == [.failed, .notRun])
        let log = s.path("work/bad/stderr.log")
        #expect(report.failure?.description == "stage bad failed: /usr/bin/sh exited with status 3; its log: \(log), ending:\n    line 1\n    no such column: price"
                || report.failure?.description == "stage bad failed: /bin/sh exited with status 3; its log: \(log), ending:\n    line 1\n    no such column: price")
        #expect(!FileManager.default.fileExists(atPath: s.path("work/bad/o.txt")))
        let lock = LockFile.load(workdir: s.path("work"), pipeline: "fail") { _ in }
        #expect(lock.stages["bad"] == nil)
    }

    @Test func outputsTheCommandDidNotCreateAreAnErrorAndNoneIsPublished() throws {
        let s = try Scratch()
        let json = """
        {"version": 1, "name": "missing", "workdir": "work", "stages": {
          "half": {"kind": "command", "command": ["sh", "-c", "echo one > \\"$0\\"", "${outputs.one}", "${outputs.two}", "${outputs.parts}"],
                   "outputs": {"one": "one.txt", "two": "sub/two.txt", "parts": "parts/"}}
        }}
        """
        let report = try s.run(json)
        #expect(report.failure?.description == "stage half failed: the command succeeded but did not create these outputs: "
                + "two (\(display(s.path("work/half/.staging/sub/two.txt")))), parts (\(display(s.path("work/half/.staging/parts"))), a folder: left empty); nothing was published")
        #expect(!FileManager.default.fileExists(atPath: s.path("work/half/one.txt")))

        // Once the command writes everything, all of it is published, folders included.
        let fixed = json.replacingOccurrences(of: "echo one > \\\"$0\\\"", with: "echo one > \\\"$0\\\"; echo two > \\\"$1\\\"; echo p > \\\"$2/p1\\\"")
        let second = try s.run(fixed)
        #expect(second.succeeded, "\(second.failure.map(String.init(describing:)) ?? "")")
        #expect(try readText(s.path("work/half/one.txt")) == "one\n")
        #expect(try readText(s.path("work/half/sub/two.txt")) == "two\n")
        #expect(try readText(s.path("work/half/parts/p1")) == "p\n")
    }

    @Test func aSweptParameterExpandsACommandStage() throws {
        let s = try Scratch()
        let json = """
        {"version": 1, "name": "sweep", "workdir": "work", "stages": {
          "echo": {"kind": "command", "command": ["sh", "-c", "echo \\"$1\\" > \\"$0\\"", "${outputs.o}", "${params.n}"],
                   "outputs": {"o": "o.txt"}, "sweep": {"n": [1, 2]}},
          "join": {"kind": "concat", "inputs": ["${echo.o}"]}
        }}
        """
        let report = try s.run(json)
        #expect(report.stages.map(\.name) == ["echo@n=1", "echo@n=2", "join"])
        #expect(try readText(s.path("work/join/out.txt")) == "1\n2\n")
    }

    @Test func validationNamesEveryProblemAtItsJSONPath() throws {
        let s = try Scratch()
        let json = """
        {"$schema": 3, "version": 1, "name": "bad", "workdir": "work", "stages": {
          "a": {"kind": "command", "command": ["no-such-program-here", "${inputs.txt}", "${outputs.o}", "${join.out}", "${params.m}"],
                "inputs": {"text": "data/a.txt"}, "outputs": {"o": "o.txt", "up": "../up.txt", "log": "stderr.log"}, "params": {"n": 1}},
          "b": {"kind": "command", "command": "true", "outputs": {"o": "o.txt"}},
          "c": {"kind": "command", "command": ["./tools/missing.sh"]},
          "d": {"kind": "command", "command": ["true", "${outputs.x}", "${outputs.y}"], "outputs": {"x": "dir/", "y": "dir/y.txt"}},
          "join": {"kind": "concat", "inputs": ["data/a.txt"], "command": ["true"], "mpi": {"ranks": 2}}
        }}
        """
        let byPath = Dictionary(s.issues(json).map { ($0.path, $0.message) }, uniquingKeysWith: { a, b in a + " | " + b })
        #expect(byPath["[\"$schema\"]"] == "expected a string (the location of the JSON Schema, for editors), found an integer (3)")
        #expect(byPath["stages.a.command[0]"]?.hasPrefix("no program \"no-such-program-here\" in PATH (") == true)
        #expect(byPath["stages.a.command[1]"] == "${inputs.txt}: no input \"txt\" is declared in stages.a.inputs (did you mean \"text\"?); declared: text")
        #expect(byPath["stages.a.command[3]"] == "${join.out}: expected ${params.NAME}, ${inputs.NAME} or ${outputs.NAME} (for another stage's output, declare an input such as \"inputs\": {\"x\": \"${stage.output}\"} and write ${inputs.x}; $${ is a literal ${)")
        #expect(byPath["stages.a.command[4]"] == "${params.m}: no parameter \"m\" is declared in stages.a.params (did you mean \"n\"?); declared: n")
        #expect(byPath["stages.a.outputs.up"] == "expected a relative path inside workdir/a/ without '.', '..' or empty parts, found \"../up.txt\"")
        #expect(byPath["stages.a.outputs.log"] == "\"stderr.log\" is where ctr-pipeline keeps the command's log; choose another name")
        #expect(byPath["stages.b.command"] == "a string is run by /bin/sh only with \"shell\": true; otherwise give the command as an array of words (run without a shell)")
        #expect(byPath["stages.b.outputs.o"] == "output \"o\" is not in the command; pass it ${outputs.o} (the command writes into a staging folder, so it must be told where)")
        #expect(byPath["stages.c.command[0]"] == "no executable file \(s.path("tools/missing.sh")) (relative to the pipeline file's folder)")
        #expect(byPath["stages.c.outputs"] == "missing; a command stage declares what it writes, e.g. \"outputs\": {\"features\": \"features.tsv\"}")
        #expect(byPath["stages.d.outputs.y"] == "\"dir/y.txt\" overlaps output \"x\" (dir); give each output its own path")
        #expect(byPath["stages.join.command"] == "only a command stage (\"kind\": \"command\") takes \"command\"")
        #expect(byPath["stages.join.mpi"] == "a concat stage cannot run under MPI; the kinds that can: none")
    }

    @Test func schemaKeyIsAcceptedAndIgnored() throws {
        let s = try Scratch()
        let resolved = try s.load(chainPipeline.replacingOccurrences(of: "\"version\": 1,", with: "\"$schema\": \"../docs/pipeline.schema.json\", \"version\": 1,"))
        #expect(resolved.stages.count == 4)
        let schema = PipelineSchema.generate(registry: s.registry)
        #expect(schema["properties"]?["$schema"]?["type"] == .string("string"))
        #expect(schema["$defs"]?["stage-command"]?["required"] == .array([.string("kind"), .string("command"), .string("outputs")]))
    }

    @Test func templatesSplitIntoLiteralsAndReferences() {
        #expect(CommandStage.segments("--in=${inputs.x}/a$${b}$c") == [.literal("--in="), .reference(scope: "inputs", key: "x"), .literal("/a${b}$c")])
        #expect(CommandStage.segments("${params.a.b}") == [.reference(scope: "params", key: "a.b")])
        #expect(CommandStage.segments("x${oops") == [.literal("x"), .malformed("${oops")])
        #expect(Subprocess.shellQuoted("plain-word_1.txt") == "plain-word_1.txt")
        #expect(Subprocess.shellQuoted("it's") == "'it'\\''s'")
    }

    @Test func theLauncherReportsStatusSignalsAndAMissingProgram() throws {
        #expect(try Subprocess.capture("/bin/sh", ["-c", "echo out; echo err >&2; exit 7"]) == (7, "out\nerr\n"))
        #expect(try Subprocess.capture("/bin/sh", ["-c", "kill -9 $$"]).status == 128 + 9)
        #expect(try Subprocess.capture("/bin/sh", ["-c", "pwd"], directory: "/tmp").output == "/tmp\n")
        #expect(throws: Subprocess.Failure.self) { try Subprocess.capture("/nonexistent/program", []) }
        #expect(Subprocess.resolve("sh", base: "/") != nil)
        #expect(Subprocess.resolve("no-such-program-here", base: "/") == nil)
    }

    #if os(Linux)
    /// A child gets SIGTERM when the thread that started it ends (ctr-pipeline killed):
    /// nothing keeps running on behalf of a dead pipeline.
    @Test func aChildIsTerminatedWhenItsStarterGoesAway() throws {
        let started = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var pid: pid_t = 0
        let thread = Thread {
            pid = (try? Subprocess.spawn("/bin/sleep", ["20"], directory: nil, out: 2, err: 2)) ?? 0
            started.signal()
        }
        let begin = Date()
        thread.start()
        started.wait()
        #expect(pid > 0)
        guard pid > 0 else { return }
        #expect(try Subprocess.wait(pid, "/bin/sleep") == 128 + SIGTERM)
        #expect(Date().timeIntervalSince(begin) < 15)
    }
    #endif
}
