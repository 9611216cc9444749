import Dataset
import Foundation
import LogIO
import Testing
@testable import Featurize

/// Sizes that would ask for terabytes are refused before anything is allocated, naming
/// the option or config key; large but legal ranges allocate nothing in proportion.
struct AllocationGuardTests {
    @Test func aCountLimitBeyondMemoryNamesTheOption() throws {
        let scratch = try Scratch("countlimit")
        let raw = try scratch.write("day.tsv", criteoLines(count: 50, seed: 2).joined(separator: "\n") + "\n")
        var params = HashParams.defaults
        params.schema = "criteo"   // raw logs: no stats.json, so the limit is shared out whole
        for limit in [1 << 50, Int.max] {
            params.countLimit = limit
            let error = caught { _ = try HashStage.run(params, inputs: [raw], outputs: scratch.path("out"), reporter: .silent) }
            let text = String(describing: error.map { "\($0)" } ?? "no error")
            #expect(text.hasPrefix("--count-limit: found \(limit), which lets the exact counting tables grow to "), "\(text)")
            #expect(text.contains(limit == Int.max ? "more than 9.2 EB" : "72.1 PB"), "\(text)")
            #expect(text.contains("expected a lower --count-limit"))
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out/featurizer.json")))
        // The default fits.
        params.countLimit = HashParams.defaults.countLimit
        #expect(MemoryBudget.fits(HashRun.countingBytes(limits: [params.countLimit])))
        _ = try HashStage.run(params, inputs: [raw], outputs: scratch.path("out"), reporter: .silent)
    }

    @Test func collisionRatesOfHugeRangesAllocateByKeptValues() {
        // High 32 bits pick the slot: 1, 1, 7, 9, 9, 9 -> 5 of 6 share a slot.
        let kept: [UInt64] = [1 << 32, 1 << 32 | 5, 7 << 32, 9 << 32, 9 << 32 | 1, 9 << 32 | 2]
        #expect(HashRun.collisionRate(kept: kept, slots: Int(Int32.max)) == 5.0 / 6.0)
        #expect(HashRun.collisionRate(kept: kept, slots: 1 << 30) == 5.0 / 6.0)
        // Both ways of counting agree where both apply.
        var rng = SplitMix64(seed: 4)
        let many = (0..<5000).map { _ in rng.next() }.sorted()
        for slots in [3, 1000, 1 << 20, (1 << 20) + 1, 1 << 24, Int(Int32.max)] {
            var bySlot: [UInt64: Int] = [:]
            for fp in many { bySlot[(fp >> 32) % UInt64(slots), default: 0] += 1 }
            let expected = Double(bySlot.values.filter { $0 > 1 }.reduce(0, +)) / Double(many.count)
            #expect(HashRun.collisionRate(kept: many, slots: slots) == expected, "slots \(slots)")
        }
    }

    @Test func aConfigWithAHugeFieldRangeIsAFastErrorOrAFastSuccess() throws {
        let scratch = try Scratch("hugebins")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 40, seed: 3))
        // 2^30 bins for one field fits in 32-bit indices: featurized without a 4 GB table.
        let fits = try scratch.write("fits.json", #"{"fields": {"C1": {"bins": 1073741824, "rare_threshold": 1}}}"#)
        let result = try hash(rows: rows, out: scratch.path("out")) { $0.config = fits; $0.bins = .fixed(16) }
        let spec = try #require(result.spec)
        #expect(spec.fields.first { $0.name == "C1" }?.bins == 1 << 30)
        #expect(spec.indexCount == (1 << 30) + 38 * 16)
        // The largest legal value for every field is too many indices in all: the layout error.
        let all = try scratch.write("all.json", #"{"fields": {"C1": {"bins": 2147483647, "rare_threshold": 1}, "C2": {"bins": 2147483647}}}"#)
        let error = caught { _ = try hash(rows: rows, out: scratch.path("out2")) { $0.config = all } }
        #expect("\(error.map { "\($0)" } ?? "")".hasPrefix("the feature layout needs"))
    }
}

/// Messages about a featurizer name the file it came from, not a fixed "featurizer.json".
struct FeaturizerSourceTests {
    @Test func aFeaturizerWhoseSchemaDisagreesNamesItsFile() throws {
        let scratch = try Scratch("fsource")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 30, seed: 5))
        _ = try hash(rows: rows, out: scratch.path("out")) { $0.bins = .fixed(16) }
        // One schema column fewer than the featurizer's fields.
        var json = try #require(JSONSerialization.jsonObject(with: scratch.data("out/featurizer.json")!) as? [String: Any])
        var schema = try #require(json["schema"] as? [String: Any])
        var columns = try #require(schema["columns"] as? [Any])
        columns.removeLast()
        schema["columns"] = columns
        json["schema"] = schema
        let path = scratch.path("edited-featurizer.json")
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let featurizer = try Featurizer(contentsOf: path)
        #expect(featurizer.source == path)
        let error = caught { _ = try featurizer.makeRowFeaturizer() }
        #expect(error as? FeaturizeError == .badFeaturizer(path: path,
            detail: "the schema has 38 output columns but there are 39 fields"))
    }
}
