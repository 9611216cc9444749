import Foundation
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// Caches carry the hash of the featurizer.json they were made with; a model trained on
/// one refuses caches of another ctr-hash run.
@Suite struct FeaturizerIdentityTests {
    static let hashA: UInt64 = 0xA11CE
    static let hashB: UInt64 = 0xB0B

    func writeCache(_ rows: [(Float, [Feature])], to path: String, featurizerHash: UInt64) throws {
        let writer = try CacheWriter(path: path)
        for (label, features) in rows { try writer.append(label: label, features: features) }
        try writer.finish(featurizerHash: featurizerHash)
    }

    func predict(_ data: String, _ model: String, _ output: String) throws -> PredictResult {
        try PredictStage.run(.defaults, inputs: PredictInputs(data: data, model: model), outputs: output, reporter: .silent)
    }

    @Test func aModelRefusesACacheOfAnotherFeaturizer() throws {
        let problem = try Problem(rows: 300, validRows: 100, fields: 3, cardinality: 6)
        let planted = PlantedData(fields: 3, cardinality: 6, seed: 1)
        let cacheA = problem.path("a.cache"), cacheB = problem.path("b.cache"), old = problem.path("old.cache")
        try writeCache(planted.rows(300, stream: 1), to: cacheA, featurizerHash: Self.hashA)
        try writeCache(problem.validRows, to: problem.path("valid-a.cache"), featurizerHash: Self.hashA)
        try writeCache(problem.validRows, to: cacheB, featurizerHash: Self.hashB)
        try TestSupport.downgradeCacheToVersion1(cacheB, to: old)
        let model = problem.path("m")
        _ = try TrainStage.run(params: quietParams { $0.epochs = 1; $0.output = model }, trainingSet: cacheA)
        // Trained without --featurizer, the model records the training cache's featurizer.
        #expect(try ModelFile.load(model).metadata.featurizerHash == Self.hashA)

        let error = #expect(throws: FFMError.cacheFeaturizerMismatch(cache: cacheB, cacheHash: Self.hashB, other: model,
                                                                     otherHash: Self.hashA, otherRole: "the model")) {
            try predict(cacheB, model, problem.path("p-b"))
        }
        #expect(error?.description == "\(cacheB): this cache was made with featurizer b0b, but the model \(model) has featurizer "
                    + "a11ce (featurizer hash: XXH64 of featurizer.json); expected files from the same ctr-hash run")
        #expect(!FileManager.default.fileExists(atPath: problem.path("p-b")))

        // The same featurizer, an old cache (unknown) and libffm text (unknown) are scored.
        let same = try predict(problem.path("valid-a.cache"), model, problem.path("p-a"))
        let unknown = try predict(old, model, problem.path("p-old"))
        let text = try predict(problem.valid, model, problem.path("p-text"))
        #expect(same.rows == 100 && unknown.rows == 100 && text.rows == 100)
        #expect(try fileBytes(problem.path("p-a")) == fileBytes(problem.path("p-old")))
        #expect(try fileBytes(problem.path("p-a")) == fileBytes(problem.path("p-text")))
    }

    @Test func trainingRefusesCachesOfTwoFeaturizers() throws {
        let problem = try Problem(rows: 200, validRows: 50, fields: 3, cardinality: 6)
        let planted = PlantedData(fields: 3, cardinality: 6, seed: 1)
        let cacheA = problem.path("a.cache"), validB = problem.path("valid-b.cache")
        try writeCache(planted.rows(200, stream: 1), to: cacheA, featurizerHash: Self.hashA)
        try writeCache(problem.validRows, to: validB, featurizerHash: Self.hashB)
        #expect(throws: FFMError.cacheFeaturizerMismatch(cache: validB, cacheHash: Self.hashB, other: cacheA,
                                                         otherHash: Self.hashA, otherRole: "the training cache")) {
            try TrainStage.run(params: quietParams { $0.validation = validB; $0.output = problem.path("m") }, trainingSet: cacheA)
        }
        // An old validation cache (hash 0) goes with any.
        let oldValid = problem.path("valid-old.cache")
        try TestSupport.downgradeCacheToVersion1(validB, to: oldValid)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 1; $0.validation = oldValid; $0.output = problem.path("m") },
                               trainingSet: cacheA)
        #expect(try ModelFile.load(problem.path("m")).metadata.featurizerHash == Self.hashA)
    }

    @Test func aFeaturizerThatIsNotJSONIsRefusedNamingTheFile() throws {
        let problem = try Problem(rows: 100, validRows: 10, fields: 2, cardinality: 4)
        let notJSON = problem.path("features.bin")
        try Data([0x1F, 0x8B, 0x08, 0x00, 0x42]).write(to: URL(fileURLWithPath: notJSON))
        let error = #expect(throws: (any Error).self) {
            try TrainStage.run(params: quietParams { $0.featurizer = notJSON; $0.output = problem.path("m") }, trainingSet: problem.train)
        }
        let text = String(describing: error!)
        #expect(text.hasPrefix("\(notJSON): ") && text.contains("not valid JSON"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: problem.path("m")))
    }

    @Test func cachesOfTwoCtrHashRunsAreRefusedByPredictAndEval() throws {
        let tools = ["ctr-synth", "ctr-hash", "ctr-train", "ctr-predict", "ctr-eval"]
        guard tools.allSatisfy({ FileManager.default.isExecutableFile(atPath: TestSupport.productsDirectory.appendingPathComponent($0).path) })
        else { return }
        let dir = try TestSupport.makeTemporaryDirectory()
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let synth = try TestSupport.run("ctr-synth", ["--quiet", "--format", "criteo", "--rows", "800", "--seed", "3", "--out", path("raw.tsv")])
        #expect(synth.status == 0, "\(synth.stderr)")
        for (out, seed) in [("run1", "1"), ("run2", "2")] {
            let hash = try TestSupport.run("ctr-hash", ["--quiet", "--schema", "criteo", "--out", path(out), "--bins", "256",
                                                        "--seed", seed, path("raw.tsv")])
            #expect(hash.status == 0, "\(hash.stderr)")
        }
        // Each cache records its own run's featurizer.json, byte for byte.
        for run in ["run1", "run2"] {
            let reader = try CacheReader(path: path("\(run)/train.cache"))
            #expect(reader.info.featurizerHash == (try TrainStage.fileHash(path("\(run)/featurizer.json"))))
        }
        let train = try TestSupport.run("ctr-train", ["--quiet", "-t", "1", "--epochs", "1", path("run1/train.cache"), path("model")])
        #expect(train.status == 0, "\(train.stderr)")
        let good = try TestSupport.run("ctr-predict", [path("run1/train.cache"), path("model"), path("p1")])
        #expect(good.status == 0, "\(good.stderr)")
        let bad = try TestSupport.run("ctr-predict", [path("run2/train.cache"), path("model"), path("p2")])
        #expect(bad.status == 1 && bad.stderr.contains("\(path("run2/train.cache")): this cache was made with featurizer")
                    && bad.stderr.contains("but the model \(path("model")) has featurizer"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("p2")))
        let eval = try TestSupport.run("ctr-eval", ["--model", path("model"), "--data", path("run2/train.cache")])
        #expect(eval.status == 1 && eval.stderr.contains(path("run2/train.cache")) && eval.stderr.contains(path("model")), "\(eval.stderr)")
        let evalGood = try TestSupport.run("ctr-eval", ["--model", path("model"), "--data", path("run1/train.cache")])
        #expect(evalGood.status == 0, "\(evalGood.stderr)")
        // A featurizer of another run than the training cache is refused by ctr-train.
        let mixed = try TestSupport.run("ctr-train", ["--quiet", "--featurizer", path("run2/featurizer.json"), path("run1/train.cache"), path("m2")])
        #expect(mixed.status == 1 && mixed.stderr.contains("\(path("run1/train.cache")): this cache was made with featurizer")
                    && mixed.stderr.contains("but the featurizer \(path("run2/featurizer.json"))"), "\(mixed.stderr)")
    }
}
