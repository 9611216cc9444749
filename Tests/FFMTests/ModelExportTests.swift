import Foundation
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

@Suite struct ModelExportTests {
    /// python3 with numpy, or nil (the NumPy test then skips).
    static let python: String? = {
        for path in ((ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" })
            + ["/usr/local/bin/python3", "/usr/bin/python3"] where FileManager.default.isExecutableFile(atPath: path) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = ["-c", "import numpy"]
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { continue }
            p.waitUntilExit()
            if p.terminationStatus == 0 { return path }
        }
        return nil
    }()

    /// The Python block of docs/FORMATS.md, "Model export".
    static func documentedExample() throws -> String {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/FORMATS.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Model export").dropFirst().first)
        let code = try #require(section.components(separatedBy: "```python\n").dropFirst().first?.components(separatedBy: "```").first)
        return code
    }

    @Test(arguments: [ModelKind.ffm, .fm, .lr])
    func numpyScoresEqualCtrPredicts(kind: ModelKind) throws {
        guard let python = Self.python else {
            print("skipped: python3 with numpy not found")
            return
        }
        let problem = try Problem(rows: 600, validRows: 200)
        let model = problem.path("m")
        _ = try TrainStage.run(params: quietParams {
            $0.epochs = 2; $0.model = kind; $0.calibrate = .platt; $0.validation = problem.valid; $0.output = model
        }, trainingSet: problem.train)
        let (loaded, metadata) = try ModelFile.load(model)
        try ModelExport.writeNumPy(loaded, metadata: metadata, path: model, to: problem.path("npy"))
        var raw = PredictParams.defaults
        raw.rawScore = true
        _ = try PredictStage.run(params: raw, input: problem.valid, model: model, output: problem.path("t"), log: { _ in })
        let script = try Self.documentedExample() + """

        import sys
        L, A, row = load(sys.argv[1])
        assert L["calibrator"]["method"] == "platt"
        for line in open(sys.argv[2]):
            items = line.split()[1:]
            features = [(int(f), int(j), float(v)) for f, j, v in (item.split(":") for item in items)]
            print(repr(float(margin(L, A, row, features))))
        """
        try script.write(toFile: problem.path("score.py"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [problem.path("score.py"), problem.path("npy"), problem.valid]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let python_ = String(decoding: output, as: UTF8.self).split(separator: "\n").map { Double($0)! }
        let swift = try String(contentsOfFile: problem.path("t"), encoding: .utf8).split(separator: "\n").map { Double($0)! }
        #expect(python_.count == 200 && swift.count == 200)
        for (a, b) in zip(python_, swift) {
            #expect(abs(sigmoid(a) - sigmoid(b)) < 1e-6)
            #expect(abs(a - b) < 1e-5 * max(1, abs(b)))
        }
    }

    @Test func libffmModelFileRoundTripsAndScoresTheSame() throws {
        let dir = try TestSupport.makeTemporaryDirectory("libffm-model")
        let model = try randomModel(kind: .ffm, fields: 3, factors: 5, indices: [0, 2, 7, 9], indexCount: 11, linear: false)
        let path = dir.appendingPathComponent("m.libffm").path
        try LibFFMModelFile.save(model, to: path)
        // 13-byte header, then n × m × 2 × kAligned floats.
        #expect(try fileBytes(path).count == 13 + 11 * 3 * 2 * 8 * 4)
        let (back, _) = try ModelFile.load(path)
        #expect(back.kind == .ffm && !back.hasLinear && back.indexCount == 11 && back.fieldCount == 3 && back.factors == 5 && back.rowCount == 11)
        let rows: [[Feature]] = [[Feature(field: 0, index: 2, value: 1), Feature(field: 1, index: 7, value: 0.5), Feature(field: 2, index: 9, value: 2)],
                                 [Feature(field: 0, index: 0, value: 1), Feature(field: 2, index: 5, value: 1), Feature(field: 1, index: 2, value: 1)]]
        for row in rows {
            #expect(abs(naiveScore(back, row) - naiveScore(model, row)) < 1e-12)
            let a = row.withUnsafeBufferPointer { Predictor(model: model).score($0) }
            let b = row.withUnsafeBufferPointer { Predictor(model: back).score($0) }
            #expect(abs(a - b) < 1e-6)
        }
        let linear = try randomModel(kind: .ffm, fields: 2, factors: 4, indices: [0], indexCount: 1, linear: true)
        #expect(throws: FFMError.self) { try LibFFMModelFile.save(linear, to: path + "2") }
        // A file whose size does not match its would-be libffm header is still "not a model".
        let junk = dir.appendingPathComponent("junk").path
        try Data([1, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 9, 9]).write(to: URL(fileURLWithPath: junk))
        #expect(throws: FFMError.notAModel(path: junk)) { try ModelFile.load(junk) }
    }

    /// The files keep libffm's order of a latent row (per field, chunks of 4 weights then
    /// their 4 accumulators) though memory keeps a row's weights apart from its
    /// accumulators: each float sits where libffm puts it, and loading restores every
    /// weight and accumulator.
    @Test func modelFilesKeepLibFFMsOrderOfWeightsAndAccumulators() throws {
        let dir = try TestSupport.makeTemporaryDirectory("file-order")
        let model = try randomModel(kind: .ffm, fields: 3, factors: 5, indices: [0, 1], indexCount: 2, linear: false)
        for j in 0..<2 {
            for f in 0..<3 {
                for d in 0..<5 {
                    let i = model.indices.row(of: j) * model.rowStride + f * model.fieldStride + model.accumulatorOffset + d
                    model.latent[i] = Float(100 * j + 10 * f + d) + 0.5  // distinct accumulators
                }
            }
        }
        let path = dir.appendingPathComponent("m.libffm").path
        try LibFFMModelFile.save(model, to: path)
        let bytes = try fileBytes(path)
        func float(_ at: Int) -> Float {
            bytes.withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        }
        let kPad = 8
        for j in 0..<2 {
            for f in 0..<3 {
                for d in 0..<5 {
                    let at = 13 + 4 * ((j * 3 + f) * 2 * kPad + (d / 4) * 8 + d % 4)
                    #expect(float(at) == model.latentWeight(index: j, field: f, factor: d)!, "weight \(j) \(f) \(d)")
                    #expect(float(at + 16) == Float(100 * j + 10 * f + d) + 0.5, "accumulator \(j) \(f) \(d)")
                }
            }
        }
        let native = dir.appendingPathComponent("m.swiftctr").path
        try ModelFile.save(model, metadata: ModelMetadata(), to: native)
        for file in [path, native] {
            let (back, _) = try ModelFile.load(file)
            for j in 0..<2 {
                for f in 0..<3 {
                    for d in 0..<5 {
                        #expect(back.latentWeight(index: j, field: f, factor: d) == model.latentWeight(index: j, field: f, factor: d))
                        #expect(back.latentAccumulator(index: j, field: f, factor: d) == model.latentAccumulator(index: j, field: f, factor: d))
                    }
                }
            }
        }
    }

    @Test func npyHeadersAndJSONDumpDescribeTheModel() throws {
        let dir = try TestSupport.makeTemporaryDirectory("export")
        let model = try randomModel(kind: .ffm, fields: 2, factors: 3, indices: [1, 4], indexCount: 6, linear: true)
        var meta = ModelMetadata()
        meta.sections = [Calibrator.platt(a: 2, b: -0.5).section]
        try ModelExport.writeNumPy(model, metadata: meta, path: "m", to: dir.path)
        let latent = try Data(contentsOf: dir.appendingPathComponent("latent.npy"))
        #expect(latent.prefix(6) == Data([0x93] + Array("NUMPY".utf8)))
        let headerLength = Int(latent[8]) | Int(latent[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: latent[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }"))
        #expect(latent.count == 10 + headerLength + 2 * 2 * 3 * 4)
        let first = latent.subdata(in: (10 + headerLength)..<(14 + headerLength)).withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        #expect(first == model.latentWeight(index: 1, field: 0, factor: 0))
        let indices = try Data(contentsOf: dir.appendingPathComponent("indices.npy"))
        #expect(String(decoding: indices[10..<74], as: UTF8.self).contains("'shape': (2,)"))

        var lines: [String] = []
        try ModelExport.json(model, metadata: meta, path: "m") { lines.append($0) }
        let json = try #require(JSONSerialization.jsonObject(with: Data(lines.joined(separator: "\n").utf8)) as? [String: Any])
        #expect(json["kind"] as? String == "ffm" && json["k"] as? Int == 3 && json["rows"] as? Int == 2)
        #expect((json["calibrator"] as? [String: Any])?["method"] as? String == "platt")
        let weights = try #require(json["weights"] as? [[String: Any]])
        #expect(weights.map { $0["index"] as? Int } == [1, 4])
        let v = try #require(weights[1]["latent"] as? [[Double]])
        #expect(v.count == 2 && v[1].count == 3)
        #expect(Float(v[1][2]) == model.latentWeight(index: 4, field: 1, factor: 2))
        #expect(Float(try #require(weights[0]["linear"] as? Double)) == model.linearWeight(index: 1))
    }
}
