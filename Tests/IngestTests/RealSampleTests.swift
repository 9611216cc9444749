import Foundation
import Testing
import TestSupport
@testable import Ingest
import LogIO

/// The real samples in ../shared/data, with the row counts their PROVENANCE.md files give.
/// Skipped (returning early) when the folder is absent.
struct RealSampleTests {
    struct Sample: CustomStringConvertible, Sendable {
        let schema: String
        let files: [String]
        let rows: Int
        let clicks: Int
        let headerLines: Int
        var description: String { "\(schema): \(files.joined(separator: " "))" }
    }

    static let samples: [Sample] = [
        Sample(schema: "criteo", files: ["criteo/lapis-hong_wide-resdnn/train.csv.gz", "criteo/lapis-hong_wide-resdnn/dev.csv.gz",
                                         "criteo/lapis-hong_wide-resdnn/test.csv.gz"], rows: 8_000, clicks: 1_728, headerLines: 0),
        Sample(schema: "criteo", files: ["criteo/lapis-hong_wide-resdnn/train.csv"], rows: 7_200, clicks: 1_549, headerLines: 0),
        Sample(schema: "criteo-kaggle-csv", files: ["criteo/ycjuan_kaggle-2014-criteo/train.tiny.csv"], rows: 1_999, clicks: 418, headerLines: 1),
        Sample(schema: "criteo-kaggle-csv", files: ["criteo/chenglongchen_kaggle-2014-criteo/tr.rx.csv.gz"], rows: 1_999, clicks: 448, headerLines: 1),
        Sample(schema: "criteo-kaggle-csv", files: ["criteo/chenglongchen_kaggle-2014-criteo/va.rx.csv", "criteo/chenglongchen_kaggle-2014-criteo/tr.r100000.csv",
                                                    "criteo/chenglongchen_kaggle-2014-criteo/va.r100000.csv"], rows: 1_999 + 403 + 58, clicks: 530 + 99 + 14, headerLines: 3),
        Sample(schema: "criteo-1tb", files: ["criteo_terabyte/vmware-archive_hillview/criteoTab.csv.gz"], rows: 1_000, clicks: 21, headerLines: 0),
        Sample(schema: "avazu", files: ["avazu/lapis-hong_wide-resdnn/train.csv.gz", "avazu/lapis-hong_wide-resdnn/dev.csv.gz",
                                        "avazu/lapis-hong_wide-resdnn/test.csv.gz"], rows: 8_999, clicks: 1_563, headerLines: 1),
        Sample(schema: "avazu", files: ["avazu/deepctr/avazu_sample.txt"], rows: 100, clicks: 20, headerLines: 1),
    ]

    @Test(.enabled(if: TestSupport.hasSharedData(), "../shared/data is absent (set SWIFTCTR_SHARED_DATA to its path to run this test)"), arguments: samples)
    func realSampleRowCounts(_ sample: Sample) throws {
        let data = try #require(TestSupport.sharedData)
        let w = try Workspace()
        var p = IngestParams.defaults
        p.schema = sample.schema
        p.maxBadFraction = 0
        let s = try IngestStage.run(p, inputs: sample.files.map { data.appendingPathComponent($0).path },
                                    outputs: w.out, reporter: .silent).stats
        #expect(s.rowsRead == sample.rows)
        #expect(s.rowsKept == sample.rows)
        #expect(s.rowsQuarantined == 0)
        #expect(s.headerLines == sample.headerLines)
        #expect(s.splits.train.clicks + s.splits.valid.clicks + s.splits.test.clicks == sample.clicks)
    }

    /// Raw Criteo TSV is already in the rows format: the splits concatenate back to the input.
    @Test(.enabled(if: TestSupport.hasSharedData(), "../shared/data is absent (set SWIFTCTR_SHARED_DATA to its path to run this test)"))
    func criteoRowsAreTheRawLines() throws {
        let data = try #require(TestSupport.sharedData)
        let w = try Workspace()
        let input = data.appendingPathComponent("criteo/lapis-hong_wide-resdnn/dev.csv").path
        _ = try IngestStage.run(IngestParams.defaults, inputs: [input], outputs: w.out, reporter: .silent)
        let rows = try ["train.tsv", "valid.tsv", "test.tsv"].map { try String(contentsOfFile: w.output($0), encoding: .utf8) }.joined()
        #expect(rows == (try String(contentsOfFile: input, encoding: .utf8)))
    }

    /// The unlabelled Kaggle test CSV is read at predict time with LabelMode.absent.
    @Test(.enabled(if: TestSupport.hasSharedData(), "../shared/data is absent (set SWIFTCTR_SHARED_DATA to its path to run this test)"))
    func unlabelledKaggleTestParses() throws {
        let data = try #require(TestSupport.sharedData)
        let parser = try RowParser(schema: .criteoKaggleCSV, labelMode: .absent)
        let reader = try LineReader(path: data.appendingPathComponent("criteo/chenglongchen_kaggle-2014-criteo/test.tiny.csv").path)
        var rows = 0
        while let line = try reader.next() {
            if reader.lineNumber == 1 {
                #expect(parser.isHeader(line))
                continue
            }
            guard case .row(let row) = parser.parse(line) else { Issue.record("line \(reader.lineNumber)"); continue }
            #expect(row.label == nil)
            rows += 1
        }
        #expect(rows == 1_999)
    }
}
