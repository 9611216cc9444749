import Dataset
import Foundation
import Ingest
import LogIO
import TestSupport
import Testing
@testable import Featurize

/// The real Criteo and Avazu samples in ../shared/data go through ingest -> hash cleanly
/// (skipped when the folder is absent).
struct RealSampleTests {
    struct Sample: CustomStringConvertible, Sendable {
        let schema: String
        let files: [String]
        let fields: Int
        let rows: Int
        var description: String { "\(schema): \(files.joined(separator: ", "))" }
    }

    static let samples: [Sample] = [
        Sample(schema: "criteo", files: ["criteo/lapis-hong_wide-resdnn/train.csv.gz", "criteo/lapis-hong_wide-resdnn/dev.csv",
                                         "criteo/lapis-hong_wide-resdnn/test.csv"], fields: 39, rows: 8000),
        Sample(schema: "criteo-kaggle-csv", files: ["criteo/chenglongchen_kaggle-2014-criteo/tr.rx.csv",
                                                    "criteo/chenglongchen_kaggle-2014-criteo/va.rx.csv.gz"], fields: 39, rows: 3998),
        Sample(schema: "avazu", files: ["avazu/lapis-hong_wide-resdnn/train.csv", "avazu/lapis-hong_wide-resdnn/dev.csv.gz",
                                        "avazu/lapis-hong_wide-resdnn/test.csv"], fields: 23, rows: 8999),
        Sample(schema: "avazu", files: ["avazu/deepctr/avazu_sample.txt"], fields: 23, rows: 100),
    ]

    @Test(.enabled(if: TestSupport.hasSharedData(), "../shared/data is absent (set SWIFTCTR_SHARED_DATA to its path to run this test)"), arguments: samples)
    func ingestThenHash(_ sample: Sample) throws {
        let data = try #require(TestSupport.sharedData)
        let scratch = try Scratch("real")
        var ingestParams = IngestParams.defaults
        ingestParams.schema = sample.schema
        let inputs = sample.files.map { data.appendingPathComponent($0).path }
        let ingested = try IngestStage.run(ingestParams, inputs: inputs, outputs: scratch.path("rows"), reporter: .silent)
        #expect(ingested.stats.rowsKept == sample.rows)
        let result = try hash(rows: scratch.path("rows"), out: scratch.path("out"))
        let spec = try #require(result.spec)
        #expect(spec.fields.count == sample.fields)
        #expect(result.splits.map(\.rows).reduce(0, +) == sample.rows)
        for split in ["train", "valid", "test"] {
            let lines = try scratch.lines("out/\(split).ffm")
            #expect(lines.count == result.splits.first { $0.split == split }?.rows)
            #expect(lines.allSatisfy { $0.split(separator: " ").count == sample.fields + 1 })
            let cached = try cacheRows(scratch.path("out/\(split).cache"))
            #expect(cached.map { libffm($0.label, $0.features) } == lines)
        }
        // The raw lines of the first file featurize, through featurizer.json, as in training
        // (with an order split the first training rows are the first data lines).
        let row = try Featurizer(contentsOf: scratch.path("out/featurizer.json")).makeRowFeaturizer()
        let train = try cacheRows(scratch.path("out/train.cache"))
        let reader = try LineReader(path: inputs[0])
        var r = 0
        while let line = try reader.next(), r < 50 {
            switch row.featurize(rawLine: line) {
            case .header: continue
            case .bad(let message): Issue.record("\(inputs[0]):\(reader.lineNumber): \(message)")
            case let .features(label, features):
                #expect(label.map(Float.init) == train[r].label)
                #expect(Array(features) == train[r].features, "row \(r)")
            }
            r += 1
        }
    }
}
