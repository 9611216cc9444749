import Dataset
import Foundation
import Ingest
import LogIO
import Testing
@testable import Featurize

/// featurizer.json reproduces the training features: raw line -> Featurizer == cache row.
struct RoundTripTests {
    static func features(_ outcome: FeaturizedLine) -> (UInt8?, [Feature])? {
        if case let .features(label, features) = outcome { return (label, Array(features)) }
        return nil
    }

    @Test(arguments: [false, true])
    func rawLinesThroughFeaturizerJSONGiveTheTrainingFeatures(shared: Bool) throws {
        let scratch = try Scratch("roundtrip")
        let raw = criteoLines(count: 1500, seed: 11)
        let rows = try ingest(scratch, schema: "criteo", lines: raw)
        _ = try hash(rows: rows, out: scratch.path("out")) {
            $0.rareThreshold = 4
            if shared { $0.sharedSpace = 1 << 18 }
        }
        let featurizer = try Featurizer(contentsOf: scratch.path("out/featurizer.json"))
        #expect(featurizer.fieldCount == 39)
        let rowFeaturizer = try featurizer.makeRowFeaturizer()
        let cached = try cacheRows(scratch.path("out/train.cache"))
        #expect(cached.count == raw.count)
        for (i, line) in raw.enumerated() {
            var text = line
            let got = text.withUTF8 { Self.features(rowFeaturizer.featurize(rawLine: $0)) }
            #expect(got?.0 == UInt8(cached[i].label), "line \(i + 1)")
            #expect(got?.1 == cached[i].features, "line \(i + 1)")
        }
        // Rows-file lines give the same.
        let rowsLines = try String(contentsOfFile: rows + "/train.tsv", encoding: .utf8).split(separator: "\n")
        for (i, line) in rowsLines.enumerated().prefix(200) {
            var text = String(line)
            let got = text.withUTF8 { Self.features(rowFeaturizer.featurize(rowsLine: $0)) }
            #expect(got?.1 == cached[i].features)
        }
    }

    @Test func unlabelledRawLinesAndBadLines() throws {
        let scratch = try Scratch("unlabelled")
        let raw = criteoLines(count: 300, seed: 12)
        let rows = try ingest(scratch, schema: "criteo", lines: raw)
        _ = try hash(rows: rows, out: scratch.path("out"))
        let row = try Featurizer(contentsOf: scratch.path("out/featurizer.json")).makeRowFeaturizer()
        let cached = try cacheRows(scratch.path("out/train.cache"))
        // Without the label column (as logs to score look), the same features.
        var unlabelled = String(raw[7].drop { $0 != "\t" }.dropFirst())
        let got = unlabelled.withUTF8 { Self.features(row.featurize(rawLine: $0)) }
        #expect(got?.0 == nil)
        #expect(got?.1 == cached[7].features)
        var bad = "1\tx" + String(repeating: "\t", count: 38)
        let outcome = bad.withUTF8 { row.featurize(rawLine: $0) }
        guard case .bad(let message) = outcome else {
            Issue.record("expected a bad line, got \(outcome)")
            return
        }
        #expect(message.contains("I1") && message.contains("x"))
    }

    @Test func featurizerJSONCarriesEverythingNeeded() throws {
        let scratch = try Scratch("spec")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 400, seed: 13))
        _ = try hash(rows: rows, out: scratch.path("out")) { $0.seed = 77 }
        let json = try JSONSerialization.jsonObject(with: scratch.data("out/featurizer.json")!) as! [String: Any]
        #expect(json["format"] as? String == "swiftctr-featurizer")
        #expect(json["version"] as? Int == 1)
        #expect((json["hash"] as? [String: Any])?["function"] as? String == "murmur3_x86_32")
        #expect((json["hash"] as? [String: Any])?["seed"] as? Int == 77)
        #expect((json["schema"] as? [String: Any])?["name"] as? String == "criteo")
        let fields = json["fields"] as! [[String: Any]]
        #expect(fields.count == 39)
        let c1 = fields[13]
        #expect(c1["name"] as? String == "C1" && c1["rare_threshold"] as? Int == 10)
        #expect(c1["kept"] is String && c1["offset"] is Int && c1["bins"] is Int)
    }

    @Test func damagedFeaturizerJSONIsAClearError() throws {
        let scratch = try Scratch("damaged")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 200, seed: 14))
        _ = try hash(rows: rows, out: scratch.path("out"))
        let good = try scratch.read("out/featurizer.json")
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 9"), "version 9 is not supported"),
            (good.replacingOccurrences(of: "murmur3_x86_32", with: "xxhash"), "hash.function"),
            (good.replacingOccurrences(of: "\"index_count\"", with: "\"index_kount\""), "index_count"),
            ("{", "not valid JSON"),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let path = try scratch.write("bad\(i).json", text)
            let error = caught { _ = try Featurizer(contentsOf: path) }
            #expect("\(error.map { "\($0)" } ?? "no error")".contains(expected), "case \(i): \(String(describing: error))")
        }
        #expect(caught { _ = try Featurizer(contentsOf: scratch.path("none.json")) } as? FeaturizeError
                == .missingFile(path: scratch.path("none.json"), detail: "cannot read the featurizer file"))
    }
}
