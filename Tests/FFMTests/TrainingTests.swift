import Foundation
import StageKit
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// Files of a planted problem in a fresh folder.
struct Problem {
    let dir: URL
    let train: String
    let valid: String
    let validRows: [(Float, [Feature])]

    init(rows: Int = 2500, validRows: Int = 800, fields: Int = 5, cardinality: Int = 12, seed: UInt64 = 1) throws {
        dir = try TestSupport.makeTemporaryDirectory("ffm-test")
        let planted = PlantedData(fields: fields, cardinality: cardinality, seed: seed)
        train = dir.appendingPathComponent("train.ffm").path
        valid = dir.appendingPathComponent("valid.ffm").path
        try writeLibFFM(planted.rows(rows, stream: 1), to: train)
        self.validRows = planted.rows(validRows, stream: 2)
        try writeLibFFM(self.validRows, to: valid)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
}

@Suite struct TrainingTests {
    @Test(arguments: [ModelKind.ffm, .fm, .lr])
    func plantedDataBeatsTheConstantPredictor(kind: ModelKind) throws {
        let problem = try Problem()
        let result = try TrainStage.run(params: quietParams {
            $0.validation = problem.valid
            $0.epochs = 6
            $0.model = kind
            $0.output = problem.path("m")
        }, trainingSet: problem.train)
        let constant = constantLogLoss(problem.validRows)
        let best = result.epochs.compactMap(\.vaLogLoss).min()!
        #expect(best < constant * (kind == .lr ? 0.97 : 0.93), "\(kind): \(best) vs constant \(constant)")
        #expect(result.epochs.allSatisfy { $0.trLogLoss.isFinite && ($0.vaAUC ?? 0) > 0.6 })
        let (model, metadata) = try ModelFile.load(problem.path("m"))
        #expect(model.kind == kind)
        #expect(model.weightFields == (kind == .ffm ? 5 : kind == .fm ? 1 : 0))
        #expect(metadata.epochs == 6)
        // ctr-predict's entry point agrees with the last epoch's validation figure.
        let predicted = try PredictStage.run(params: PredictParams.defaults, input: problem.valid, model: problem.path("m"),
                                             output: problem.path("p.txt"), log: { _ in })
        #expect(abs(predicted.logLoss! - result.epochs.last!.vaLogLoss!) < 1e-5)
        let lines = try String(contentsOfFile: problem.path("p.txt"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == problem.validRows.count)
        #expect(lines.allSatisfy { Double($0).map { $0 > 0 && $0 < 1 } ?? false })
    }

    @Test func oneThreadIsByteIdenticalForASeed() throws {
        let problem = try Problem(rows: 1200)
        for (name, seed) in [("a", 7), ("b", 7), ("c", 8)] {
            _ = try TrainStage.run(params: quietParams {
                $0.epochs = 3
                $0.seed = UInt64(seed)
                $0.output = problem.path(name)
            }, trainingSet: problem.train)
        }
        #expect(try fileBytes(problem.path("a")) == fileBytes(problem.path("b")))
        #expect(try fileBytes(problem.path("a")) != fileBytes(problem.path("c")))
    }

    /// Rows kept in memory after the first epoch (`--resident-mb`) train exactly as rows read
    /// from the cache every epoch (`--resident-mb 0`): one-hot rows in field order, kept as
    /// their indices only, and rows that are not (a value other than 1, a field out of order),
    /// kept as decoded.
    @Test func rowsKeptInMemoryTrainAsRowsReadEveryEpoch() throws {
        let problem = try Problem(rows: 1500)
        var other = PlantedData(fields: 5, cardinality: 12, seed: 3).rows(1500, stream: 1)
        other[7].1[2].value = 0.5
        other[9].1.swapAt(0, 1)
        let otherPath = problem.path("other.ffm")
        try writeLibFFM(other, to: otherPath)
        for (data, kind) in [(problem.train, ModelKind.ffm), (otherPath, .ffm), (problem.train, .fm)] {
            var notes: [String] = []
            let log = TestLog { notes.append($0) }
            var validation: [[UInt64]] = []
            for mb in [512, 0] {
                var call = quietParams {
                    $0.epochs = 3
                    $0.model = kind
                    $0.residentMb = mb
                    $0.output = problem.path("m\(mb)")
                }
                call.validation = problem.valid
                let result = try TrainStage.run(call.params, inputs: TrainInputs(train: data, valid: call.validation),
                                                outputs: TrainOutputs(model: call.output), reporter: Reporter(quiet: false, live: false) { log.write($0) })
                validation.append(result.epochs.flatMap { [$0.vaLogLoss!.bitPattern, $0.vaAUC!.bitPattern] })
            }
            #expect(try fileBytes(problem.path("m512")) == fileBytes(problem.path("m0")))
            #expect(notes.filter { $0.hasPrefix("training rows kept in memory after the first epoch (about 0 MB one-hot, of --resident-mb 512)") }.count == 1)
            // The validation rows kept in memory give every epoch's figures bit for bit.
            #expect(validation[0].count == 6 && validation[0] == validation[1])
            #expect(notes.filter { $0.hasPrefix("validation rows kept in memory after the first epoch (about 0 MB one-hot)") }.count == 1)
        }
    }

    /// `Engine.scores` keeps the rows of its first call when they fit in what `residentBytes`
    /// leaves, and scores them from memory on later calls: the same bits as reading the cache,
    /// for one-hot rows (kept as indices) and others (kept decoded); nothing kept when they do
    /// not fit or for other blocks than the kept ones.
    @Test func validationRowsKeptInMemoryScoreAsRowsReadFromTheCache() throws {
        let problem = try Problem(rows: 1500, validRows: 900)
        var other = problem.validRows
        other[5].1[1].value = 0.5
        let otherPath = problem.path("other-valid.ffm")
        try writeLibFFM(other, to: otherPath)
        _ = try TrainStage.run(params: quietParams {
            $0.epochs = 2
            $0.output = problem.path("m")
        }, trainingSet: problem.train)
        let model = try ModelFile.load(problem.path("m")).model
        for path in [problem.valid, otherPath] {
            let reader = try TrainingData.open(path, scratchDirectory: problem.dir.path, tag: "v", log: { _ in }).reader
            func scores(residentBytes: Int, calls: Int) throws -> (bits: [[UInt32]], kept: Bool?) {
                let engine = Engine(model: model, threads: 2, eta: 0.1, lambda: 0)
                engine.residentBytes = residentBytes
                let bits = try (0..<calls).map { _ in try engine.scores(reader, blockBytes: 1 << 20).scores.map(\.bitPattern) }
                return (bits, engine.residentScored.map { $0.blocks != nil })
            }
            let read = try scores(residentBytes: 0, calls: 1)
            #expect(read.kept == false && read.bits[0].count == 900 && Set(read.bits[0]).count > 100)
            let kept = try scores(residentBytes: 1 << 20, calls: 3)
            #expect(kept.kept == true)
            for call in kept.bits { #expect(call == read.bits[0], "\(path)") }
            // 900 rows of 5 features take 900 × (4 × 5 + 1) bytes one-hot, 900 × (12 × 5 + 12) decoded.
            let tight = try scores(residentBytes: 900 * 20, calls: 2)
            #expect(tight.kept == false)
            for call in tight.bits { #expect(call == read.bits[0]) }
        }
    }

    @Test func hogwildThreadsTrainToo() throws {
        let problem = try Problem(rows: 3000)
        let result = try TrainStage.run(params: quietParams {
            $0.epochs = 4
            $0.threads = 3
            $0.validation = problem.valid
            $0.output = problem.path("m")
        }, trainingSet: problem.train)
        #expect(result.epochs.last!.vaLogLoss! < constantLogLoss(problem.validRows) * 0.95)
    }

    @Test func patienceKeepsTheBestEpoch() throws {
        // Few rows, many values, a large step: validation loss turns up after a few epochs.
        let problem = try Problem(rows: 300, validRows: 600, fields: 6, cardinality: 60, seed: 4)
        let result = try TrainStage.run(params: quietParams {
            $0.epochs = 30
            $0.eta = 0.8
            $0.lambda = 0
            $0.patience = 2
            $0.validation = problem.valid
            $0.output = problem.path("m")
        }, trainingSet: problem.train)
        let losses = result.epochs.map { $0.vaLogLoss! }
        let best = losses.indices.min { losses[$0] < losses[$1] }!
        #expect(result.epochs.count < 30, "stopped early")
        #expect(result.bestEpoch == best + 1)
        #expect(result.epochs.count == result.bestEpoch + 2)
        // The written model is the best epoch's: predicting gives its validation loss.
        let predicted = try PredictStage.run(params: PredictParams.defaults, input: problem.valid, model: problem.path("m"),
                                             output: problem.path("p"), log: { _ in })
        #expect(abs(predicted.logLoss! - losses[best]) < 1e-5)
        #expect(try ModelFile.load(problem.path("m")).metadata.bestEpoch == best + 1)
        // No checkpoint left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: problem.dir.path).allSatisfy { !$0.hasPrefix(".") })
    }

    @Test func warmStartContinuesExactly() throws {
        let problem = try Problem(rows: 1000)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 3; $0.output = problem.path("straight") }, trainingSet: problem.train)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.output = problem.path("first") }, trainingSet: problem.train)
        _ = try TrainStage.run(params: quietParams {
            $0.epochs = 1
            $0.initModel = problem.path("first")
            $0.output = problem.path("resumed")
        }, trainingSet: problem.train)
        #expect(try fileBytes(problem.path("straight")) == fileBytes(problem.path("resumed")))
    }

    @Test func divergenceNamesTheEpochAndTheLearningRate() throws {
        let problem = try Problem(rows: 500)
        #expect(throws: FFMError.diverged(epoch: 1, eta: 1e30)) {
            _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.eta = 1e30; $0.lambda = 1e20; $0.output = problem.path("d") },
                                   trainingSet: problem.train)
        }
        #expect(!FileManager.default.fileExists(atPath: problem.path("d")))
    }

    @Test func noRandVisitsRowsInFileOrder() throws {
        let problem = try Problem(rows: 1000)
        for name in ["a", "b"] {
            _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.noRand = true; $0.output = problem.path(name) },
                                   trainingSet: problem.train)
        }
        _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.output = problem.path("shuffled") }, trainingSet: problem.train)
        #expect(try fileBytes(problem.path("a")) == fileBytes(problem.path("b")))
        #expect(try fileBytes(problem.path("a")) != fileBytes(problem.path("shuffled")))
        // The same declaration is the command-line flag and the pipeline key.
        #expect(try TrainParams.parse(["--no-rand"]).noRand)
        #expect(try TrainParams.decode(.object([("noRand", .bool(true))])).get().noRand)
    }

    @Test func warmStartOnDataWithNewIndicesAndFields() throws {
        let small = try Problem(rows: 500, fields: 4, cardinality: 10, seed: 2)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.output = small.path("m") }, trainingSet: small.train)
        let wider = try Problem(rows: 500, fields: 6, cardinality: 20, seed: 3)
        let result = try TrainStage.run(params: quietParams {
            $0.epochs = 1
            $0.initModel = small.path("m")
            $0.output = wider.path("m2")
        }, trainingSet: wider.train)
        let (old, _) = try ModelFile.load(small.path("m"))
        let (grown, meta) = try ModelFile.load(wider.path("m2"))
        #expect(grown.fieldCount == 6 && result.fieldCount == 6)
        #expect(grown.rowCount >= old.rowCount)
        #expect(meta.epochs == 3)
        // An index only the old model knew keeps its weights.
        let onlyOld = (0..<old.indexCount).first { old.indices.contains($0) && !Set((try? readAllIndices(wider.train)) ?? []).contains($0) }
        if let j = onlyOld {
            #expect(grown.latentWeight(index: j, field: 0, factor: 0) == old.latentWeight(index: j, field: 0, factor: 0))
        }
        // A mismatching kind is refused.
        #expect(throws: FFMError.self) {
            try TrainStage.run(params: quietParams { $0.model = .fm; $0.initModel = small.path("m"); $0.output = small.path("x") },
                               trainingSet: small.train)
        }
    }

    @Test func trainsFromTheBinaryCacheAsFromText() throws {
        let problem = try Problem(rows: 800)
        let cache = problem.path("train.cache")
        try CacheWriter.convert(libffm: problem.train, to: cache)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.output = problem.path("a"); $0.blockMb = 1 }, trainingSet: problem.train)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.output = problem.path("b"); $0.blockMb = 1 }, trainingSet: cache)
        #expect(try fileBytes(problem.path("a")) == fileBytes(problem.path("b")))
    }

    @Test func logJSONHasEveryEpoch() throws {
        let problem = try Problem(rows: 400)
        _ = try TrainStage.run(params: quietParams {
            $0.epochs = 3
            $0.validation = problem.valid
            $0.logJson = problem.path("log.json")
            $0.output = problem.path("m")
        }, trainingSet: problem.train)
        let stats = try JSONDecoder().decode([EpochStats].self, from: fileBytes(problem.path("log.json")))
        #expect(stats.map(\.epoch) == [1, 2, 3])
        #expect(stats.allSatisfy { $0.vaLogLoss != nil && $0.vaAUC != nil })
    }

    /// Issue 12, item 5: the epochs log appears with the model or not at all; it used to be
    /// left (rewritten after every epoch) when the model could not be written.
    @Test func logJSONIsPublishedOnlyWithTheModel() throws {
        let problem = try Problem(rows: 400)
        let cache = problem.path("train.cache")
        try CacheWriter.convert(libffm: problem.train, to: cache)
        #expect(throws: LogIOError.self) {
            try TrainStage.run(params: quietParams {
                $0.epochs = 2
                $0.logJson = problem.path("log.json")
                $0.output = problem.path("missing/folder/m")
            }, trainingSet: cache)
        }
        #expect(!FileManager.default.fileExists(atPath: problem.path("log.json")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: problem.path("")).filter { $0.hasPrefix(".") } == [])
        // With early stopping the checkpoint becomes the model, in the same commit as the log.
        _ = try TrainStage.run(params: quietParams {
            $0.epochs = 3
            $0.patience = 1
            $0.validation = problem.valid
            $0.logJson = problem.path("log.json")
            $0.output = problem.path("m")
        }, trainingSet: cache)
        #expect(FileManager.default.fileExists(atPath: problem.path("m")))
        #expect(try JSONDecoder().decode([EpochStats].self, from: fileBytes(problem.path("log.json"))).count >= 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: problem.path("")).filter { $0.hasPrefix(".") } == [])
    }

    @Test(.enabled(if: TestSupport.hasSharedData("libffm/xlearn/small_train.txt", "libffm/xlearn/small_test.txt"),
                   "../shared/data/libffm/xlearn/small_{train,test}.txt are absent"))
    func realSampleMatchesLibFFMsLevel() throws {
        let data = try #require(TestSupport.sharedData)
        let train = data.appendingPathComponent("libffm/xlearn/small_train.txt").path
        let test = data.appendingPathComponent("libffm/xlearn/small_test.txt").path
        let dir = try TestSupport.makeTemporaryDirectory()
        let result = try TrainStage.run(params: quietParams {
            $0.noLinear = true
            $0.validation = test
            $0.output = dir.appendingPathComponent("m").path
        }, trainingSet: train)
        // libffm's ffm-train with defaults reaches va_logloss 0.5427 on this pair after 15 epochs.
        #expect(result.epochs.count == 15)
        #expect(result.epochs.last!.vaLogLoss! < 0.56)
        #expect(result.epochs.last!.trLogLoss < 0.49)
    }
}

func readAllIndices(_ path: String) throws -> [Int] {
    let reader = try LibFFMReader(path: path)
    var out: [Int] = []
    while let row = try reader.next() { out += row.features.map { Int($0.index) } }
    return out
}

@Suite struct HotRowTests {
    @Test func mergeAddsEachThreadsChanges() throws {
        let model = try randomModel(kind: .ffm, fields: 2, factors: 4, indices: [0, 1, 2], indexCount: 3, linear: true)
        let hot = HotRows(model: model, rows: [1], threads: 2)
        let before = model.latentWeight(index: 1, field: 0, factor: 2)!
        let linearBefore = model.linearWeight(index: 1)!
        let biasBefore = model.bias[0]
        hot.refresh(0)
        hot.refresh(1)
        let a = hot.replica(0), b = hot.replica(1)
        // Field 0, factor 2 of slot 0 sits at float 2; the linear weight after the latent weights.
        a.slots[2] += 0.5
        b.slots[2] -= 0.25
        a.slots[model.linearOffset] += 1
        a.bias[0] += 2
        b.bias[0] += 3
        hot.merge(0)
        hot.merge(1)
        #expect(model.latentWeight(index: 1, field: 0, factor: 2)! == before + 0.5 - 0.25)
        #expect(model.linearWeight(index: 1)! == linearBefore + 1)
        #expect(model.bias[0] == biasBefore + 5)
        // After a merge a replica holds the shared values again.
        #expect(hot.replica(1).slots[2] == model.latentWeight(index: 1, field: 0, factor: 2)!)
    }

    /// Merges come after 16 rows at first, the interval doubling up to 1024, per thread.
    @Test func mergeIntervalGrowsFromSixteenToTheSyncInterval() throws {
        let model = try randomModel(kind: .ffm, fields: 2, factors: 4, indices: [0, 1, 2], indexCount: 3, linear: true)
        let hot = HotRows(model: model, rows: [1], threads: 2)
        var gaps: [Int] = []
        var rows = 0
        while gaps.count < 9 {
            rows += 1
            if hot.rowDone(0) {
                gaps.append(rows)
                rows = 0
                hot.merge(0)
            }
        }
        #expect(gaps == [16, 32, 64, 128, 256, 512, 1024, 1024, 1024])
        // The other thread keeps its own count.
        #expect((0..<15).allSatisfy { _ in !hot.rowDone(1) } && hot.rowDone(1))
    }

    @Test func frequentRowsAreChosenFromTheData() throws {
        let problem = try Problem(rows: 2000, fields: 4, cardinality: 200)
        let cache = problem.path("c")
        try CacheWriter.convert(libffm: problem.train, to: cache)
        let reader = try CacheReader(path: cache)
        let set = try SeenIndices(indexCount: reader.info.indexCount)
        let mapped = try reader.map()
        withExtendedLifetime(mapped) { mapped.features.forEach { set.insert(Int($0.index)) } }
        set.seal()
        let model = try FFMModel(kind: .ffm, fieldCount: 4, factors: 4, normalization: true, linear: true, indices: set)
        #expect(try HotRows.make(model: model, data: reader, threads: 1) == nil)
        let hot = try #require(try HotRows.make(model: model, data: reader, threads: 2))
        #expect(hot.count > 0 && hot.count < set.count / 4)
        // Each hot row occurs in at least 2% of rows.
        for r in hot.rowOfSlot {
            var j = -1
            set.forEach { index, row in if row == r { j = index } }
            let occurrences = mapped.features.filter { Int($0.index) == j }.count
            #expect(Double(occurrences) >= 0.02 * Double(reader.info.rowCount))
        }
        withExtendedLifetime(mapped) {}
    }
}
