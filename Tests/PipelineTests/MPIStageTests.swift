import Foundation
import Featurize
import FFM
import Ingest
import StageKit
import Testing
@testable import Pipeline

/// MPI stages without MPI: the checks before any work and the command line the runner
/// gives mpirun. (.ci/checks/62-mpi-pipeline.sh runs a real one in the MPI build.)
@Suite struct MPIStageTests {
    /// A folder with a fake `ctr-train` whose --version says whether it has MPI.
    static func toolDirectory(mpi: Bool, tools: [String] = ["ctr-train"]) throws -> String {
        let dir = try makeScratchDirectory().path
        for name in tools {
            let tool = dir + "/" + name
            try "#!/bin/sh\necho 'SwiftCTR 0.1.0 (git abc, MPI: \(mpi ? "yes" : "no"))'\n".write(toFile: tool, atomically: true, encoding: .utf8)
            chmod(tool, 0o755)
        }
        return dir
    }

    static let pipeline = """
    {"version": 1, "name": "mpi", "workdir": "work", "stages": {
      "train": {"kind": "train", "inputs": {"train": "data/a.txt", "valid": "data/b.txt"},
                "params": {"factors": 8, "epochs": 3, "noNorm": true},
                "mpi": {"ranks": 2, "hostfile": "hosts.txt", "args": ["--mca", "btl", "tcp,self"]}}
    }}
    """

    func load(_ json: String, tools: String) throws -> ResolvedPipeline {
        let s = try Scratch()
        try s.write("hosts.txt", "localhost slots=2\n")
        try s.write("pipeline.json", json)
        return try PipelineLoader(registry: .standard, toolDirectory: tools).load(file: s.path("pipeline.json"))
    }

    func issues(_ json: String, tools: String) -> [String: String] {
        do {
            _ = try load(json, tools: tools)
            return [:]
        } catch let PipelineError.invalid(_, issues) {
            return Dictionary(issues.map { ($0.path, $0.message) }, uniquingKeysWith: { a, b in a + " | " + b })
        } catch {
            return ["<unexpected>": "\(error)"]
        }
    }

    var mpirun: String? { Subprocess.resolve("mpirun", base: "/") }

    @Test func anMPIStageIsCheckedAndGetsItsCommandLine() throws {
        let tools = try Self.toolDirectory(mpi: true)
        guard let mpirun else {
            #expect(issues(Self.pipeline, tools: tools)["stages.train.mpi"]
                    == "no mpirun in PATH; install Open MPI (apt-get install openmpi-bin) or run the stage in-process (remove \"mpi\")")
            return
        }
        let resolved = try load(Self.pipeline, tools: tools)
        let stage = resolved.stage("train")!
        let spec = try #require(stage.mpi)
        #expect(spec.ranks == 2 && spec.mpirun == mpirun && spec.tool == tools + "/ctr-train")
        #expect(spec.hostfile == URL(fileURLWithPath: resolved.file).deletingLastPathComponent().path + "/hosts.txt")
        // Ranks change a trained model, so they are fingerprinted; hosts and mpirun arguments are not.
        #expect(stage.execution == .object([("mpiRanks", .int(2))]))

        var expected = TrainParams.defaults
        expected.factors = 8
        expected.epochs = 3
        expected.noNorm = true
        let context = StageContext(stage: "train", params: stage.params,
                                   inputs: ["train": [StageInput(path: "/d/train.cache")], "valid": [StageInput(path: "/d/valid.cache")]],
                                   directory: "/w/train", outputs: ["model": "/w/train/model.bin", "epochs": "/w/train/epochs.json"],
                                   reporter: Reporter(quiet: true))
        let words = spec.commandLine(stage.kind.commandLine(context))
        #expect(Array(words.prefix(8)) == ["-np", "2", "--hostfile", spec.hostfile!, "--mca", "btl", "tcp,self", tools + "/ctr-train"])
        #expect(Array(words.suffix(7)) == ["-p", "/d/valid.cache", "--log-json", "/w/train/epochs.json", "-o", "/w/train/model.bin", "/d/train.cache"])
        // The parameters, spelled out, parse back to the same values.
        let params = Array(words.dropFirst(8).dropLast(7))
        #expect(params.contains("--no-norm") && params.contains("--factors"))
        #expect(try TrainParams.parse(params) == expected)

        // Another rank count is another fingerprint; other hosts are not.
        let three = try load(Self.pipeline.replacingOccurrences(of: "\"ranks\": 2", with: "\"ranks\": 3"), tools: tools).stage("train")!
        #expect(PipelineRunner.executionChanges(old: stage.execution, new: three.execution) == ["changed MPI ranks: 2 -> 3"])
        let inputs = [InputHash(slot: "train", path: "/x", hash: "1")]
        #expect(fingerprint(kind: stage.kind, toolVersion: "v", params: stage.paramsJSON, inputs: inputs, execution: stage.execution)
                != fingerprint(kind: stage.kind, toolVersion: "v", params: stage.paramsJSON, inputs: inputs, execution: three.execution))
        let noHosts = try load(Self.pipeline.replacingOccurrences(of: "\"hostfile\": \"hosts.txt\", \"args\": [\"--mca\", \"btl\", \"tcp,self\"]", with: "\"args\": []"), tools: tools)
        #expect(noHosts.stage("train")!.execution == stage.execution)
    }

    @Test func aToolBuiltWithoutMPIOrMissingIsNamedBeforeAnyWork() throws {
        let without = try Self.toolDirectory(mpi: false)
        var found = issues(Self.pipeline, tools: without)["stages.train.mpi"]
        if mpirun == nil {
            #expect(found?.hasPrefix("no mpirun in PATH") == true)
        } else {
            #expect(found == "\(without)/ctr-train was built without MPI; build with swift build -c release --traits MPI and run that build's ctr-pipeline")
        }
        let empty = try makeScratchDirectory().path
        found = issues(Self.pipeline, tools: empty)["stages.train.mpi"]
        #expect(found?.contains("no ctr-train next to ctr-pipeline (\(empty)/ctr-train); build every tool with swift build -c release --traits MPI") == true)

        let bad = issues(Self.pipeline.replacingOccurrences(of: "\"ranks\": 2, \"hostfile\": \"hosts.txt\"", with: "\"ranks\": 0, \"hostfile\": \"nohosts.txt\", \"host\": 1"),
                         tools: try Self.toolDirectory(mpi: true))
        #expect(bad["stages.train.mpi.ranks"] == "expected an integer from 1 to 65536, found an integer (0)")
        #expect(bad["stages.train.mpi.hostfile"]?.hasPrefix("no such file: ") == true)
        #expect(bad["stages.train.mpi.host"] == "unknown key \"host\" (did you mean \"hostfile\"?)")
        let predict = issues("""
            {"version": 1, "name": "p", "workdir": "work", "stages": {
              "p": {"kind": "predict", "inputs": {"data": "data/a.txt", "model": "data/b.txt"}, "mpi": {"ranks": 2}}}}
            """, tools: empty)
        #expect(predict["stages.p.mpi"] == "a predict stage cannot run under MPI; the kinds that can: ingest, hash, train")
    }

    /// Ingest runs ctr-ingest under mpirun (its outputs are one process's files).
    @Test func anIngestStageRunsCtrIngestUnderMPI() throws {
        let tools = try Self.toolDirectory(mpi: true, tools: ["ctr-ingest"])
        let json = """
            {"version": 1, "name": "mpi", "workdir": "work", "stages": {
              "ingest": {"kind": "ingest", "inputs": {"logs": ["data/a.txt", "data/b.txt"]},
                         "params": {"schema": "avazu", "valid": 0.2, "split": "hash"}, "mpi": {"ranks": 2, "args": ["--oversubscribe"]}}}}
            """
        guard mpirun != nil else {
            #expect(issues(json, tools: tools)["stages.ingest.mpi"]?.hasPrefix("no mpirun in PATH") == true)
            return
        }
        let resolved = try load(json, tools: tools)
        let stage = try #require(resolved.stage("ingest"))
        let spec = try #require(stage.mpi)
        #expect(spec.tool == tools + "/ctr-ingest")
        // stats.json's float means may differ in the last digit with other ranks: fingerprinted.
        #expect(stage.execution == .object([("mpiRanks", .int(2))]))
        let context = StageContext(stage: "ingest", params: stage.params, inputs: ["logs": [StageInput(path: "/d/a.tsv"), StageInput(path: "/d/b.tsv")]],
                                   directory: "/w/ingest", outputs: [:], reporter: Reporter(quiet: true))
        let words = spec.commandLine(stage.kind.commandLine(context))
        #expect(Array(words.prefix(4)) == ["-np", "2", "--oversubscribe", tools + "/ctr-ingest"])
        #expect(Array(words.suffix(4)) == ["--out", "/w/ingest", "/d/a.tsv", "/d/b.tsv"])
        var expected = IngestParams.defaults
        expected.schema = "avazu"
        expected.valid = 0.2
        expected.split = .hash
        #expect(try IngestParams.parse(Array(words.dropFirst(4).dropLast(4))) == expected)
    }

    /// Hash under MPI: ctr-hash with the stage's parameters and inputs, and --join-shards,
    /// so that the stages downstream read train.cache as from one process.
    @Test func aHashStageOnMPIRunsCtrHashJoiningItsShards() throws {
        let tools = try Self.toolDirectory(mpi: true, tools: ["ctr-hash"])
        let json = """
            {"version": 1, "name": "mpi", "workdir": "work", "stages": {
              "hash": {"kind": "hash", "inputs": {"rows": "data"}, "params": {"rareThreshold": 4},
                       "mpi": {"ranks": 2}}}}
            """
        guard mpirun != nil else {
            #expect(issues(json, tools: tools)["stages.hash.mpi"]?.hasPrefix("no mpirun in PATH") == true)
            return
        }
        let resolved = try load(json, tools: tools)
        let stage = try #require(resolved.stage("hash"))
        let spec = try #require(stage.mpi)
        #expect(spec.tool == tools + "/ctr-hash")
        #expect(stage.execution == .object([("mpiRanks", .int(2))]))
        let context = StageContext(stage: "hash", params: stage.params, inputs: ["rows": [StageInput(path: "/d/rows")]],
                                   directory: "/w/hash", outputs: [:], reporter: Reporter(quiet: true))
        let words = spec.commandLine(stage.kind.commandLine(context))
        #expect(Array(words.prefix(3)) == ["-np", "2", tools + "/ctr-hash"])
        #expect(Array(words.suffix(2)) == ["--out", "/w/hash"])
        var expected = HashParams.defaults
        expected.rows = "/d/rows"
        expected.rareThreshold = 4
        expected.joinShards = true
        #expect(try HashParams.parse(Array(words.dropFirst(3).dropLast(2))) == expected)
        // The pipeline sets it: a pipeline file may not.
        let reserved = issues("""
            {"version": 1, "name": "mpi", "workdir": "work", "stages": {
              "hash": {"kind": "hash", "inputs": {"rows": "data"}, "params": {"joinShards": false}}}}
            """, tools: tools)
        #expect(reserved["stages.hash.params.joinShards"]?.contains("always joins its shards") == true)
    }

    @Test func parametersRenderAsTheirCommandLine() throws {
        var p = TrainParams.defaults
        #expect(try TrainParams.parse(p.commandLineArguments()) == p)
        p.factors = 16
        p.eta = 0.05
        p.noNorm = true
        let words = p.commandLineArguments()
        #expect(try TrainParams.parse(words) == p)
        let i = try #require(words.firstIndex(of: "--factors"))
        #expect(words[i + 1] == "16")
        #expect(words.contains("--no-norm"))
    }

    @Test func everyToolAnswersVersion() throws {
        for tool in ["ctr-ingest", "ctr-synth", "ctr-hash", "ctr-train", "ctr-predict", "ctr-eval", "ctr-pipeline"] {
            let path = Subprocess.ownDirectory + "/" + tool
            guard Subprocess.isExecutableFile(path) else {
                print("skipped: \(path) is not built (swift build builds every tool)")
                continue
            }
            let (status, output) = try Subprocess.capture(path, ["--version"])
            #expect(status == 0)
            #expect(output.hasPrefix("SwiftCTR \(SwiftCTRVersion.current) (git "), "\(tool): \(output)")
            #expect(output.contains(", MPI: "))
            if tool == "ctr-train" { #expect(output.contains("formats: model \(ModelFile.version), cache ")) }
            if tool == "ctr-pipeline" { #expect(output.contains("formats: pipeline \(PipelineLoader.formatVersion), lock \(LockFile.formatVersion)")) }
        }
    }
}
