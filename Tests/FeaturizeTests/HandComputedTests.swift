import Dataset
import Foundation
import Ingest
import LogIO
import Testing
@testable import Featurize

/// libffm lines worked out by hand from the documented layout: every field owns
/// `[offset, offset + bins)`, slot 0 missing, slot 1 rare, hashed values from slot 2
/// (Murmur3 of the token with the field's seed, modulo bins - 2).
struct HandComputedTests {
    static let schema = """
        {"name": "tiny", "delimiter": "\\t", "header": "absent", "columns": [
          {"name": "label", "type": "label"},
          {"name": "n", "type": "integer"},
          {"name": "b", "type": "integer"},
          {"name": "x", "type": "float"},
          {"name": "c", "type": "categorical"},
          {"name": "d", "type": "categorical"}]}
        """
    static let config = """
        {"version": 1, "schema": "tiny", "fields": {
          "b": {"transform": "buckets", "boundaries": [0, 10, 100]},
          "x": {"transform": "scaled"},
          "c": {"rare_threshold": 2},
          "d": {"bins": 6, "rare_threshold": 0}}}
        """
    static let raw = [
        "1\t5\t50\t0.5\tabc\tq",
        "0\t-3\t-1\t2\tabc\t",
        "0\t\t100\t0\tzz\tq",
        "1\t2\t10\t1.5\t\tr",
        "0\t1000\t9\t\tabc\tq",
    ]

    @Test func everyTransformMissingNegativeAndRareValues() throws {
        let scratch = try Scratch("hand")
        let schema = try scratch.write("tiny.json", Self.schema)
        let config = try scratch.write("features.json", Self.config)
        let rows = try ingest(scratch, schema: schema, lines: Self.raw)
        let result = try hash(rows: rows, out: scratch.path("out")) {
            $0.bins = .fixed(10)
            $0.config = config
        }
        // Layout: n [0, 10) hashed into 8 slots; b buckets [10, 16) (2 reserved + 4 buckets);
        // x scaled [16, 18) (missing, value); c [18, 28) hashed into 8, rare below 2;
        // d [28, 34) hashed into 4.
        let spec = try #require(result.spec)
        #expect(spec.fields.map(\.offset) == [0, 10, 16, 18, 28])
        #expect(spec.fields.map(\.bins) == [10, 6, 2, 10, 6])
        #expect(spec.indexCount == 34)
        #expect(spec.fields[2].min == 0 && spec.fields[2].max == 2)
        #expect(spec.fields[3].keptCount == 1)   // "abc" (3 times); "zz" (once) is rare

        func n(_ tag: Character, _ v: Int64) -> Int {
            2 + Int(numericTokenHash(tag: tag, UInt64(bitPattern: v), seed: fieldSeed("n")) % 8)
        }
        func cat(_ field: String, _ value: String, offset: Int, slots: UInt32) -> Int {
            offset + 2 + Int(Murmur3.hash32(value, seed: fieldSeed(field)) % slots)
        }
        let abc = cat("c", "abc", offset: 18, slots: 8)
        let q = cat("d", "q", offset: 28, slots: 4)
        let r = cat("d", "r", offset: 28, slots: 4)
        // n: 5 -> floor(ln(5)^2) = 2 ("L"), -3 and 2 stay themselves ("V"), 1000 -> 47, missing -> 0.
        // b: buckets of 50, -1, 100, 10, 9 over [0, 10, 100] are 2, 0, 3, 2, 1 -> 10 + 2 + bucket.
        // x: (v - 0) / (2 - 0); missing -> 16 (value 1).
        let expected = [
            "1 0:\(n("L", 2)):1 1:14:1 2:17:0.25 3:\(abc):1 4:\(q):1",
            "0 0:\(n("V", -3)):1 1:12:1 2:17:1 3:\(abc):1 4:28:1",
            "0 0:0:1 1:15:1 2:17:0 3:19:1 4:\(q):1",
            "1 0:\(n("V", 2)):1 1:14:1 2:17:0.75 3:18:1 4:\(r):1",
            "0 0:\(n("L", 47)):1 1:13:1 2:16:1 3:\(abc):1 4:\(q):1",
        ]
        #expect(try scratch.lines("out/train.ffm") == expected)
        // The cache holds the same rows.
        let cached = try cacheRows(scratch.path("out/train.cache"))
        #expect(cached.map { libffm($0.label, $0.features) } == expected)
        #expect(try scratch.read("out/valid.ffm").isEmpty && scratch.read("out/test.ffm").isEmpty)
    }

    @Test func sharedHashSpace() throws {
        let scratch = try Scratch("shared")
        let schema = try scratch.write("tiny.json", Self.schema)
        let rows = try ingest(scratch, schema: schema, lines: Self.raw)
        let result = try hash(rows: rows, out: scratch.path("out")) {
            $0.sharedSpace = 1000
            $0.rareThreshold = 0
        }
        let spec = try #require(result.spec)
        #expect(spec.layout == .shared && spec.indexCount == 1000)
        func special(_ field: String, _ tag: UInt32) -> Int {
            Int(Murmur3.hash32(UnsafeRawBufferPointer(start: nil, count: 0), seed: fieldSeed(field) &+ tag) % 1000)
        }
        func num(_ field: String, _ tag: Character, _ v: Int64) -> Int {
            Int(numericTokenHash(tag: tag, UInt64(bitPattern: v), seed: fieldSeed(field)) % 1000)
        }
        func cat(_ field: String, _ value: String) -> Int { Int(Murmur3.hash32(value, seed: fieldSeed(field)) % 1000) }
        let x2 = Token.logSquare(double: 2)  // floor(ln(2)^2) would need v > 2: 2 stays itself
        let expectedSecond = "0 0:\(num("n", "V", -3)):1 1:\(num("b", "V", -1)):1 "
            + "2:\(Int(numericTokenHash(tag: "F", x2.bits, seed: fieldSeed("x")) % 1000)):1 3:\(cat("c", "abc")):1 4:\(special("d", 1)):1"
        #expect(try scratch.lines("out/train.ffm")[1] == expectedSecond)
    }

    @Test func seedChangesIndicesButNotLayout() throws {
        let scratch = try Scratch("seed")
        let schema = try scratch.write("tiny.json", Self.schema)
        let rows = try ingest(scratch, schema: schema, lines: Self.raw)
        let a = try hash(rows: rows, out: scratch.path("a")) { $0.bins = .fixed(1 << 20); $0.rareThreshold = 0 }
        let b = try hash(rows: rows, out: scratch.path("b")) { $0.bins = .fixed(1 << 20); $0.rareThreshold = 0; $0.seed = 42 }
        #expect(a.spec!.fields.map(\.offset) == b.spec!.fields.map(\.offset))
        #expect(try scratch.read("a/train.ffm") != scratch.read("b/train.ffm"))
        let line = try scratch.lines("b/train.ffm")[0]
        let c = 3 * (1 << 20) + 2 + Int(Murmur3.hash32("abc", seed: fieldSeed("c", 42)) % UInt32((1 << 20) - 2))
        #expect(line.contains(" 3:\(c):1"))
    }

    @Test func autoBinsFromTheTrainingSplit() throws {
        let scratch = try Scratch("auto")
        let schema = try scratch.write("tiny.json", Self.schema)
        let rows = try ingest(scratch, schema: schema, lines: Self.raw)
        let result = try hash(rows: rows, out: scratch.path("out")) { $0.rareThreshold = 2 }
        let spec = try #require(result.spec)
        // n: 4 distinct tokens (L 2, V -3, V 2, L 47) -> 2 + nextPowerOfTwo(2 x 4) = 10.
        #expect(spec.fields[0].distinct == 4 && spec.fields[0].bins == 2 + 8 && spec.fields[0].distinctExact)
        // c: "abc" kept (3 >= 2), "zz" rare -> 1 distinct -> 2 + 2; d: "q" kept (3), "r" rare -> 2 + 2.
        #expect(spec.fields[3].distinct == 1 && spec.fields[3].bins == 4)
        #expect(spec.fields[4].distinct == 1 && spec.fields[4].bins == 4)
        #expect(spec.fields[3].rareShare == 0.25)
        #expect(spec.fields[4].missingShare == 0.2)
        // --max-bins caps the hashed part.
        let capped = try hash(rows: rows, out: scratch.path("capped")) { $0.maxBins = 2 }
        #expect(capped.spec!.fields[0].bins == 4)
    }
}
