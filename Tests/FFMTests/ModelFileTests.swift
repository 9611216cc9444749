import Foundation
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

@Suite struct ModelFileTests {
    @Test(arguments: [ModelKind.ffm, .fm, .lr])
    func roundTrip(kind: ModelKind) throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let model = try randomModel(kind: kind, fields: 3, factors: 6, indices: [0, 3, 4, 5, 64, 65, 200], indexCount: 201, linear: true)
        var meta = ModelMetadata()
        meta.eta = 0.1
        meta.lambda = 1e-5
        meta.epochs = 4
        meta.bestEpoch = 3
        meta.seed = 99
        meta.featurizerHash = 0xABCDEF
        meta.validationLogLoss = 0.4321
        let path = dir.appendingPathComponent("m").path
        try ModelFile.save(model, metadata: meta, to: path)
        let (back, backMeta) = try ModelFile.load(path)
        #expect(backMeta == meta)
        #expect(back.kind == kind && back.indexCount == 201 && back.fieldCount == 3 && back.factors == 6 && back.rowCount == 7)
        #expect(back.bias[0] == model.bias[0])
        for j in [0, 3, 4, 5, 64, 65, 200] {
            #expect(back.linearWeight(index: j) == model.linearWeight(index: j))
            for f in 0..<3 {
                for d in 0..<6 { #expect(back.latentWeight(index: j, field: f, factor: d) == model.latentWeight(index: j, field: f, factor: d)) }
            }
        }
        #expect(back.linearWeight(index: 1) == nil)
        var lines: [String] = []
        ModelFile.dump(back, metadata: backMeta) { lines.append($0) }
        #expect(lines.contains { $0.hasPrefix("# kind \(kind.rawValue)") })
        #expect(lines.filter { $0.hasPrefix("linear ") }.count == 7)
        #expect(lines.filter { $0.hasPrefix("latent ") }.count == (kind == .ffm ? 21 : kind == .fm ? 7 : 0))
    }

    /// A row holds its linear weight after its latent weights and the accumulator after
    /// theirs; the file keeps the linear pairs apart, (weight, accumulator) row after row, then
    /// the latent rows. Saving and loading gives back every float of every row, padding
    /// included, for each kind with and without linear terms.
    @Test(arguments: [(ModelKind.ffm, 4), (.ffm, 6), (.fm, 4), (.lr, 4), (.hofm, 5)], [true, false])
    func linearPairsLeaveTheRowsForTheFileAndComeBack(kind: (ModelKind, Int), linear: Bool) throws {
        let indices = [0, 3, 4, 5, 64, 65, 200]
        // (HOFM of degree 2 has one weight field, which randomModel fills for field 0 only.)
        let model = try randomModel(kind: kind.0, fields: kind.0 == .hofm ? 1 : 3, factors: kind.1, indices: indices, indexCount: 201, linear: linear)
        let withLinear = linear || kind.0 == .lr
        #expect(model.hasLinear == withLinear)
        #expect(model.linearOffset == model.weightFields * model.kPad && model.fileRowStride == 2 * model.weightFields * model.kPad)
        #expect(model.accumulatorOffset == model.linearOffset + (withLinear ? (kind.0 == .lr ? 1 : 4) : 0))
        #expect(model.rowStride == 2 * model.accumulatorOffset)
        // Distinct accumulators, so that a weight read as an accumulator (or the reverse) shows.
        for r in 0..<model.rowCount {
            let row = model.latent + r * model.rowStride
            for i in 0..<model.linearOffset { row[model.accumulatorOffset + i] = 1 + Float(r) + Float(i) / 64 }
            if withLinear { model.linear(row: r)[model.accumulatorOffset] = 2 + Float(r) / 8 }
        }
        let dir = try TestSupport.makeTemporaryDirectory()
        let path = dir.appendingPathComponent("m").path
        try ModelFile.save(model, metadata: ModelMetadata(), to: path)
        let bytes = try fileBytes(path)
        // The linear block follows the header and the index bitmap.
        let linearAt = 128 + model.indices.words * 8
        for (r, j) in indices.enumerated() where withLinear {
            let (w, g) = bytes.withUnsafeBytes {
                ($0.loadUnaligned(fromByteOffset: linearAt + 8 * r, as: Float.self), $0.loadUnaligned(fromByteOffset: linearAt + 8 * r + 4, as: Float.self))
            }
            #expect(w == model.linearWeight(index: j) && g == model.linearAccumulator(index: j) && g == 2 + Float(r) / 8)
        }
        let latentAt = linearAt + (withLinear ? 8 * model.rowCount : 0)
        #expect(bytes.count == latentAt + 4 * model.rowCount * model.fileRowStride + 16)
        let back = try ModelFile.load(path).model
        #expect(back.rowStride == model.rowStride && back.linearOffset == model.linearOffset)
        let floats = model.rowCount * model.rowStride
        #expect(Array(UnsafeBufferPointer(start: back.latent, count: floats)).map(\.bitPattern)
            == Array(UnsafeBufferPointer(start: model.latent, count: floats)).map(\.bitPattern))
        for j in indices {
            #expect(back.linearWeight(index: j) == model.linearWeight(index: j))
            #expect(back.linearAccumulator(index: j) == model.linearAccumulator(index: j))
        }
    }

    @Test func damagedFilesAreClearErrors() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let model = try randomModel(kind: .ffm, fields: 3, factors: 4, indices: Array(0..<30), indexCount: 30, linear: true)
        let path = dir.appendingPathComponent("m").path
        try ModelFile.save(model, metadata: ModelMetadata(), to: path)
        let good = try fileBytes(path)
        func variant(_ name: String, _ edit: (inout Data) -> Void) throws -> String {
            var d = good
            edit(&d)
            let p = dir.appendingPathComponent(name).path
            try d.write(to: URL(fileURLWithPath: p))
            return p
        }
        let flipped = try variant("flipped") { $0[$0.count / 2] ^= 0x40 }
        #expect(throws: FFMError.corruptModel(path: flipped, detail: "checksum mismatch (the file is damaged)")) { try ModelFile.load(flipped) }
        let truncated = try variant("truncated") { $0.removeLast(50) }
        #expect(throws: FFMError.self) { try ModelFile.load(truncated) }
        do { _ = try ModelFile.load(truncated) } catch let e as FFMError { #expect(e.description.contains("truncated")) }
        let foreign = try variant("foreign") { $0 = Data("1 0:1:1\n".utf8) }
        #expect(throws: FFMError.notAModel(path: foreign)) { try ModelFile.load(foreign) }
        let empty = try variant("empty") { $0 = Data() }
        #expect(throws: FFMError.notAModel(path: empty)) { try ModelFile.load(empty) }
        let future = try variant("future") { $0[8] = 7 }
        #expect(throws: FFMError.unsupportedModelVersion(path: future, found: 7, supported: 2)) { try ModelFile.load(future) }
        let header = try variant("header") { $0.removeLast($0.count - 60) }
        #expect(throws: FFMError.self) { try ModelFile.load(header) }
    }

    /// Version 1 files (no sections, zeros at bytes 120-127) still load, to the same model.
    @Test func versionOneStillLoads() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let model = try randomModel(kind: .fm, fields: 2, factors: 3, indices: [1, 2, 9], indexCount: 10, linear: true)
        let path = dir.appendingPathComponent("m").path
        try ModelFile.save(model, metadata: ModelMetadata(), to: path)
        var bytes = try fileBytes(path)
        #expect(bytes[8] == 2)
        bytes[8] = 1
        // The trailer's checksum covers the header: recompute it for the edited bytes.
        var hash = XXHash64()
        bytes.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[..<(bytes.count - 16)])) }
        let digest = hash.digest().littleEndian
        withUnsafeBytes(of: digest) { d in for i in 0..<8 { bytes[bytes.count - 16 + i] = d[i] } }
        let old = dir.appendingPathComponent("v1").path
        try bytes.write(to: URL(fileURLWithPath: old))
        let (back, meta) = try ModelFile.load(old)
        #expect(meta.sections.isEmpty && back.rowCount == 3 && back.linearWeight(index: 9) == model.linearWeight(index: 9))
    }

    /// Sections: parsed in order with their tags; unknown tags, duplicates and lengths past
    /// the end are errors naming the byte offset.
    @Test func sectionsParseAndRefuseWhatTheyCannotRead() throws {
        func section(_ tag: String, _ payload: [UInt8], length: UInt64? = nil) -> [UInt8] {
            var b = Array(tag.utf8) + [0, 0, 0, 0]
            withUnsafeBytes(of: (length ?? UInt64(payload.count)).littleEndian) { b += $0 }
            return b + payload
        }
        let known: Set<String> = ["CALB", "DNN1"]
        let two = section("CALB", [1, 2, 3]) + section("DNN1", [])
        let parsed = try ModelFile.parseSections(two, at: 1000, path: "m", known: known)
        #expect(parsed == [ModelSection(tag: "CALB", bytes: [1, 2, 3]), ModelSection(tag: "DNN1", bytes: [])])
        #expect(throws: FFMError.corruptModel(path: "m", detail: "section at byte 1000: tag 'ABCD' is not one this build reads "
            + "(CALB, DNN1); expected a model written by this or an older SwiftCTR")) {
            try ModelFile.parseSections(section("ABCD", [0]), at: 1000, path: "m", known: known)
        }
        #expect(throws: FFMError.corruptModel(path: "m", detail: "section at byte 1019: tag 'CALB' appears twice; expected unique tags")) {
            try ModelFile.parseSections(section("CALB", [9, 9, 9]) + section("CALB", []), at: 1000, path: "m", known: known)
        }
        #expect(throws: FFMError.corruptModel(path: "m", detail: "section at byte 1000: 'CALB' says 99 bytes; 2 are left before the trailer")) {
            try ModelFile.parseSections(section("CALB", [1, 2], length: 99), at: 1000, path: "m", known: known)
        }
        #expect(throws: FFMError.self) { try ModelFile.parseSections([0x43, 0x41], at: 0, path: "m", known: known) }
        // A whole file whose section this build does not know is refused, not half-read.
        let dir = try TestSupport.makeTemporaryDirectory()
        let model = try randomModel(kind: .lr, fields: 2, factors: 1, indices: [0, 1], indexCount: 2, linear: true)
        var meta = ModelMetadata()
        meta.sections = [ModelSection(tag: "ZZZZ", bytes: [7, 7])]
        let path = dir.appendingPathComponent("m").path
        try ModelFile.save(model, metadata: meta, to: path)
        #expect(throws: FFMError.self) { try ModelFile.load(path) }
        do { _ = try ModelFile.load(path) } catch let e as FFMError { #expect(e.description.contains("tag 'ZZZZ' is not one this build reads")) }
    }
}

@Suite struct PredictTests {
    @Test func downsamplingCorrectionAppliesToEveryLine() throws {
        let problem = try Problem(rows: 600, validRows: 200)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 2; $0.output = problem.path("m") }, trainingSet: problem.train)
        _ = try PredictStage.run(params: PredictParams.defaults, input: problem.valid, model: problem.path("m"), output: problem.path("p1"), log: { _ in })
        var params = PredictParams.defaults
        params.negKeepRate = 0.25
        params.threads = 3
        _ = try PredictStage.run(params: params, input: problem.valid, model: problem.path("m"), output: problem.path("p2"), log: { _ in })
        let p = try String(contentsOfFile: problem.path("p1"), encoding: .utf8).split(separator: "\n").map { Double($0)! }
        let q = try String(contentsOfFile: problem.path("p2"), encoding: .utf8).split(separator: "\n").map { Double($0)! }
        #expect(p.count == 200 && q.count == 200)
        for (a, b) in zip(p, q) {
            #expect(abs(b - correctForNegativeDownsampling(a, keepRate: 0.25)) < 1e-6)
            #expect(b < a)
        }
    }

    @Test func predictionDoesNotDependOnThreadsOrInputForm() throws {
        let problem = try Problem(rows: 600, validRows: 300)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 1; $0.output = problem.path("m") }, trainingSet: problem.train)
        let cache = problem.path("valid.cache")
        try CacheWriter.convert(libffm: problem.valid, to: cache)
        var outputs: [Data] = []
        for (input, threads) in [(problem.valid, 1), (problem.valid, 4), (cache, 2)] {
            var params = PredictParams.defaults
            params.threads = threads
            let out = problem.path("p-\(threads)")
            _ = try PredictStage.run(params: params, input: input, model: problem.path("m"), output: out, log: { _ in })
            outputs.append(try fileBytes(out))
        }
        #expect(outputs[0] == outputs[1] && outputs[1] == outputs[2])
    }

    @Test func badInputIsAClearError() throws {
        let problem = try Problem(rows: 300, validRows: 50, fields: 4)
        _ = try TrainStage.run(params: quietParams { $0.epochs = 1; $0.output = problem.path("m") }, trainingSet: problem.train)
        // A field beyond the model (4 fields: 0...3).
        let beyond = problem.path("beyond.ffm")
        try "1 0:1:1 1:20:1\n0 0:2:1 4:3:1\n".write(toFile: beyond, atomically: false, encoding: .utf8)
        #expect(throws: FFMError.fieldBeyondModel(path: beyond, row: 2, field: 4, modelFields: 4)) {
            try PredictStage.run(params: PredictParams.defaults, input: beyond, model: problem.path("m"), output: problem.path("o"), log: { _ in })
        }
        #expect(!FileManager.default.fileExists(atPath: problem.path("o")))
        // An index beyond the model is an unseen feature: scored without it, and counted.
        let unseen = problem.path("unseen.ffm")
        try "1 0:1:1 1:999999:1\n".write(toFile: unseen, atomically: false, encoding: .utf8)
        var notes: [String] = []
        let result = try PredictStage.run(params: PredictParams.defaults, input: unseen, model: problem.path("m"), output: problem.path("o2"),
                                          log: { notes.append($0) })
        #expect(result.unseenFeatures == 1 && result.rows == 1)
        #expect(notes.contains { $0.contains("not seen in training") })
        // Malformed libffm lines, in training and prediction.
        let bad = problem.path("bad.ffm")
        try "1 0:1:1\n1 0:5\n".write(toFile: bad, atomically: false, encoding: .utf8)
        #expect(throws: DatasetError.self) {
            try TrainStage.run(params: quietParams { $0.output = problem.path("m2") }, trainingSet: bad)
        }
        #expect(throws: DatasetError.self) {
            try PredictStage.run(params: PredictParams.defaults, input: bad, model: problem.path("m"), output: problem.path("o3"), log: { _ in })
        }
        // An empty training file.
        let empty = problem.path("empty.ffm")
        try "".write(toFile: empty, atomically: false, encoding: .utf8)
        #expect(throws: FFMError.emptyTrainingSet(path: empty)) {
            try TrainStage.run(params: quietParams { $0.output = problem.path("m3") }, trainingSet: empty)
        }
        // A model file that is not one.
        #expect(throws: FFMError.notAModel(path: problem.train)) {
            try PredictStage.run(params: PredictParams.defaults, input: problem.valid, model: problem.train, output: problem.path("o4"), log: { _ in })
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: problem.dir.path).allSatisfy { !$0.hasPrefix(".") })
    }
}

@Suite struct CommandLineTests {
    func built(_ name: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: TestSupport.productsDirectory.appendingPathComponent(name).path)
    }

    @Test func libffmStyleCommandLines() throws {
        guard built("ctr-train"), built("ctr-predict") else { return }
        let problem = try Problem(rows: 500, validRows: 100)
        let train = try TestSupport.run("ctr-train", ["-k", "4", "-t", "3", "-r", "0.2", "-l", "0.00002", "-s", "1",
                                                      "-p", problem.valid, "--auto-stop", problem.train, problem.path("model")])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("iter   tr_logloss   va_logloss       va_auc      seconds"))
        let predict = try TestSupport.run("ctr-predict", [problem.valid, problem.path("model"), problem.path("out")])
        #expect(predict.status == 0, "\(predict.stderr)")
        #expect(predict.stdout.hasPrefix("logloss = 0."))
        let dump = try TestSupport.run("ctr-train", ["--dump", problem.path("model")])
        #expect(dump.status == 0 && dump.stdout.contains("# kind ffm"))
        let missing = try TestSupport.run("ctr-train", [problem.path("nope.ffm"), problem.path("m2")])
        #expect(missing.status != 0 && missing.stderr.contains("nope.ffm"))
        let corrupt = try TestSupport.run("ctr-predict", [problem.valid, problem.train, problem.path("o")])
        #expect(corrupt.status != 0 && corrupt.stderr.contains("not a SwiftCTR model file"))
    }
}

@Suite struct RawLogPredictionTests {
    func built(_ names: [String]) -> Bool {
        names.allSatisfy { FileManager.default.isExecutableFile(atPath: TestSupport.productsDirectory.appendingPathComponent($0).path) }
    }

    @Test func rawLogsThroughTheFeaturizerMatchTheHashedFeatures() throws {
        guard built(["ctr-synth", "ctr-hash", "ctr-train", "ctr-predict"]) else { return }
        let dir = try TestSupport.makeTemporaryDirectory()
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        for (name, rows, seed) in [("raw.tsv.gz", "1500", "1"), ("valid.tsv.gz", "400", "2")] {
            let synth = try TestSupport.run("ctr-synth", ["--quiet", "--format", "criteo", "--rows", rows, "--seed", seed, "--out", path(name)])
            #expect(synth.status == 0, "\(synth.stderr)")
        }
        let hash = try TestSupport.run("ctr-hash", ["--quiet", "--schema", "criteo", "--out", path("hashed"), "--bins", "512",
                                                    "--valid-file", path("valid.tsv.gz"), path("raw.tsv.gz")])
        #expect(hash.status == 0, "\(hash.stderr)")
        let featurizer = path("hashed/featurizer.json")
        let train = try TestSupport.run("ctr-train", ["--quiet", "-t", "2", "--featurizer", featurizer, path("hashed/train.cache"), path("model")])
        #expect(train.status == 0, "\(train.stderr)")
        // Raw validation logs featurized by ctr-predict score exactly as ctr-hash's valid.ffm.
        let raw = try TestSupport.run("ctr-predict", ["-s", "2", "--featurizer", featurizer, path("valid.tsv.gz"), path("model"), path("p-raw")])
        #expect(raw.status == 0, "\(raw.stderr)")
        let hashed = try TestSupport.run("ctr-predict", [path("hashed/valid.ffm"), path("model"), path("p-ffm")])
        #expect(hashed.status == 0, "\(hashed.stderr)")
        #expect(try fileBytes(path("p-raw")) == fileBytes(path("p-ffm")))
        #expect(raw.stdout == hashed.stdout && raw.stdout.hasPrefix("logloss = "))
        // Another featurizer than the model's is refused.
        let other = path("other.json")
        try (String(contentsOfFile: featurizer, encoding: .utf8) + " ").write(toFile: other, atomically: false, encoding: .utf8)
        let mismatch = try TestSupport.run("ctr-predict", ["--featurizer", other, path("valid.tsv.gz"), path("model"), path("p2")])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("hash differs"))
    }
}
