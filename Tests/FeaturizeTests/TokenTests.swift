import Cluster
import Foundation
import Ingest
import LogIO
import Testing
@testable import Featurize

struct TokenTests {
    @Test(arguments: [0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 64, 1000])
    func murmurPairEqualsTwoSingleHashes(length: Int) {
        var rng = SplitMix64(seed: UInt64(length))
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for (s1, s2) in [(UInt32(0), UInt32(1)), (0x9747b28c, ~0x9747b28c), (0xffffffff, 0)] {
            let pair = bytes.withUnsafeBytes { Token.murmur3Pair($0, s1, s2) }
            #expect(pair.0 == bytes.withUnsafeBytes { Murmur3.hash32($0, seed: s1) })
            #expect(pair.1 == bytes.withUnsafeBytes { Murmur3.hash32($0, seed: s2) })
        }
    }

    @Test func murmurPairMatchesPublishedVector() {
        // "The quick brown fox jumps over the lazy dog", seed 0x9747b28c -> 0x2FA826CD (SMHasher).
        var text = "The quick brown fox jumps over the lazy dog"
        let pair = text.withUTF8 { Token.murmur3Pair(UnsafeRawBufferPointer($0), 0x9747b28c, 0) }
        #expect(pair.0 == 0x2FA826CD)
    }

    @Test func criteoWinnersRuleForIntegers() {
        // v > 2 -> floor(ln(v)^2): ln 3 = 1.0986 -> 1.21 -> 1; ln 10 = 2.3026 -> 5.30 -> 5;
        // ln 100 -> 21.2 -> 21; ln 1000 -> 47.7 -> 47; ln 1e6 -> 190.9 -> 190; ln(2^63 - 1)^2 = 1906.9 -> 1906.
        let cases: [(Int64, UInt8, Int64)] = [
            (3, Token.logTag, 1), (10, Token.logTag, 5), (100, Token.logTag, 21), (1000, Token.logTag, 47),
            (1_000_000, Token.logTag, 190), (Int64.max, Token.logTag, 1906),
            (2, Token.intTag, 2), (1, Token.intTag, 1), (0, Token.intTag, 0), (-1, Token.intTag, -1),
            (-3, Token.intTag, -3), (Int64.min, Token.intTag, Int64.min),
        ]
        for (v, tag, token) in cases {
            let t = Token.logSquare(int: v)
            #expect(t.tag == tag, "tag of \(v)")
            #expect(Int64(bitPattern: t.bits) == token, "token of \(v)")
        }
    }

    @Test func criteoWinnersRuleForFloats() {
        #expect(Token.logSquare(double: 10.0) == (Token.logTag, 5))
        #expect(Token.logSquare(double: 2.5) == (Token.logTag, 0))   // ln 2.5 = 0.916 -> 0.84 -> 0
        #expect(Token.logSquare(double: 1.5) == (Token.floatTag, 1.5.bitPattern))
        #expect(Token.logSquare(double: -0.0) == Token.logSquare(double: 0.0))
        #expect(Token.logSquare(double: -7.25) == (Token.floatTag, (-7.25).bitPattern))
    }

    @Test func logSquareTableEqualsTheRule() {
        let table = LogSquareTable.shared
        for v in Int64(-10)...(LogSquareTable.limit + 10) {
            #expect(table.token(int: v) == Token.logSquare(int: v), "v = \(v)")
        }
    }

    /// Integer log-square fields take the indices of 0..<4096 from a table (#18): the same
    /// indices as hashing each value's token, per field (bins not a power of two) and shared.
    @Test(arguments: [FeaturizerSpec.Layout.perField, .shared])
    func smallIntegerIndicesEqualHashedTokens(layout: FeaturizerSpec.Layout) throws {
        #expect(LogSquareTable.shared.smallSlots == 3 + 69 + 1)   // 0, 1, 2, then floor(ln(v)^2) of 3…4095
        let bins = layout == .shared ? 1000 : 102
        let field = FieldSpec(name: "I7", kind: .integer, transform: .logSquare, offset: 0, bins: bins, rareThreshold: 0)
        let schema = try #require(Schema.preset(named: "criteo"))
        let spec = FeaturizerSpec(schema: schema, seed: 11, layout: layout, indexCount: bins, fields: [field],
                                  negKeepRate: 1, trainRows: 1)
        let featurizer = try Featurizer(spec: spec)
        #expect(featurizer.fields[0].smallIndices != nil)
        var values = Array(Int64(-10)...(LogSquareTable.limit + 10))
        values += [65_536, 1 << 40, .max, .min]
        for v in values {
            let token = Token.logSquare(int: v)
            let tag = Character(UnicodeScalar(token.tag))
            let h = numericTokenHash(tag: tag, token.bits, seed: fieldSeed("I7", 11))
            let expected = layout == .shared ? h % 1000 : 2 + h % 100
            let text = Array(String(v).utf8)
            let got = text.withUnsafeBufferPointer { featurizer.fields[0].feature(ByteSlice(start: $0.baseAddress!, count: $0.count)) }
            #expect(got?.0 == expected && got?.1 == 1, "v = \(v)")
        }
    }

    @Test func buckets() {
        let boundaries: [Double] = [0, 10, 100]
        let cases: [(Double, Int)] = [(-5, 0), (0, 1), (9.99, 1), (10, 2), (50, 2), (100, 3), (1e9, 3)]
        for (v, bucket) in cases {
            #expect(boundaries.withUnsafeBufferPointer { Token.bucket(v, boundaries: $0) } == bucket, "v = \(v)")
        }
    }

    @Test func scaledValuesAreClampedMillionths() {
        #expect(Token.scaledMicros(5, min: 0, max: 10) == 500_000)
        #expect(Token.scaledMicros(-1, min: 0, max: 10) == 0)
        #expect(Token.scaledMicros(11, min: 0, max: 10) == 1_000_000)
        #expect(Token.scaledMicros(1, min: 0, max: 3) == 333_333)
        #expect(Token.scaledMicros(4, min: 4, max: 4) == 0)
    }

    @Test func fieldSeedIsMurmurOfTheName() {
        #expect(Token.fieldSeed(name: "C1", seed: 7) == Murmur3.hash32("C1", seed: 7))
    }
}

struct CountingTests {
    @Test func exactCountsKeepValuesAtTheThreshold() {
        var count = FieldCount(counted: true, threshold: 3, exactLimit: 1000, sketchWidthBits: 10)
        defer { count.release() }
        for (key, n) in [(UInt64(11), 3), (22, 2), (33, 5), (0, 4)] {
            for _ in 0..<n { count.add(key) }
        }
        let s = count.summary()!
        #expect(s.exact)
        #expect(s.kept == [0, 11, 33])
        #expect(s.distinct == 3)
        #expect(s.occurrences == 14)
        #expect(s.rareOccurrences == 2)
    }

    @Test func sketchAfterTheLimitNeverDropsAFrequentValue() {
        // 2,000 distinct values over an exact limit of 100: the rest is counted in the sketch.
        var count = FieldCount(counted: true, threshold: 5, exactLimit: 100, sketchWidthBits: 12)
        defer { count.release() }
        var rng = SplitMix64(seed: 3)
        var truth: [UInt64: Int] = [:]
        for _ in 0..<20_000 {
            let key = rng.next() % 2000 &* 0x9E37_79B9_7F4A_7C15 | 1
            truth[key, default: 0] += 1
            count.add(key)
        }
        let s = count.summary()!
        #expect(s.usedSketch)
        #expect(!s.exact)
        let kept = Set(s.kept)
        let frequent = truth.filter { $0.value >= 5 }.map(\.key)
        #expect(frequent.allSatisfy { kept.contains($0) })
        // One-sided error only, and small with a sketch much wider than the values.
        #expect(kept.count >= frequent.count)
        #expect(kept.count <= frequent.count + frequent.count / 10 + 5)
    }

    @Test func hyperLogLogIsWithinThreePercent() {
        var count = FieldCount(counted: true, threshold: 0, exactLimit: 0, sketchWidthBits: 10)
        defer { count.release() }
        var rng = SplitMix64(seed: 9)
        for _ in 0..<100_000 { count.add(rng.next()) }
        let d = count.summary()!.distinct
        #expect(abs(d - 100_000) < 3_000)
    }

    @Test func integerTokensAreCountedExactly() {
        var count = FieldCount(counted: true, threshold: 0, exactLimit: 0, sketchWidthBits: 10, integerTokens: true)
        defer { count.release() }
        var distinct = Set<String>()
        for v: Int64 in [-3, -3, 0, 1, 2, 3, 4, 20, 21, 1000, 1001, 5_000_000_000] {
            let t = Token.logSquare(int: v)
            distinct.insert("\(t.tag)/\(t.bits)")
            count.addInteger(v, token: t.bits) { 0 }
        }
        let s = count.summary()!
        #expect(s.exact)
        #expect(s.distinct == distinct.count)
    }

    @Test func collisionRates() {
        // Slots from the high 32 bits: 0 and 4 share slot 0 of 4; 1 and 2 are alone.
        let kept: [UInt64] = [0 << 32, 4 << 32, 1 << 32, 2 << 32]
        #expect(HashRun.collisionRate(kept: kept, slots: 4) == 0.5)
        #expect(HashRun.collisionRate(kept: kept, slots: 8) == 0)
        #expect(abs(HashRun.expectedCollisionRate(distinct: 2, slots: 4) - 0.25) < 1e-12)
        #expect(HashRun.expectedCollisionRate(distinct: 1, slots: 4) == 0)
    }
}

struct FastPathTests {
    @Test func numericTokenHashInRegistersEqualsTheBytes() {
        var rng = SplitMix64(seed: 31)
        for _ in 0..<2000 {
            let tag = [Token.logTag, Token.intTag, Token.floatTag, Token.bucketTag][Int(rng.next() % 4)]
            let bits = rng.next() >> (rng.next() % 64)
            let (s1, s2) = (UInt32(truncatingIfNeeded: rng.next()), UInt32(truncatingIfNeeded: rng.next()))
            let bytes = Token.withNumericToken(tag: tag, bits: bits) { Token.murmur3Pair($0, s1, s2) }
            #expect(Token.murmur3Numeric(tag: tag, bits: bits, s1, s2) == bytes)
        }
    }

    @Test func digitCounts() {
        for v: UInt32 in [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 99_999, 100_000, 999_999, 1_000_000,
                          9_999_999, 10_000_000, 99_999_999, 100_000_000, 999_999_999, 1_000_000_000, .max] {
            #expect(LibffmText.digitCount(v) == String(v).count, "\(v)")
        }
    }
}

/// Counts of several ranks merged (ctr-hash on MPI): the same as one count over all values.
struct CountMergeTests {
    /// Counts `keys` cut at `cuts` in separate counts, then merges them in order into an empty copy.
    func merged(_ keys: [UInt64], cuts: [Int], make: () -> FieldCount) throws -> FieldCount {
        var message: [[UInt8]] = []
        for i in 0..<(cuts.count - 1) {
            var part = make()
            defer { part.release() }
            for k in keys[cuts[i]..<cuts[i + 1]] { part.add(k) }
            var m = ClusterMessage()
            part.encode(into: &m)
            message.append(m.bytes)
        }
        let template = make()
        defer { template.release() }
        var merged = template.emptyCopy()
        for bytes in message {
            var r = ClusterMessageReader(bytes)
            try merged.absorb(&r)
            #expect(r.isAtEnd)
        }
        return merged
    }

    @Test func exactTablesMergeByFingerprint() throws {
        var rng = SplitMix64(seed: 11)
        // 3,000 draws from 600 values (the fingerprint 0 among them), a threshold of 4.
        let keys = (0..<3000).map { _ in (rng.next() % 600) &* 0x9E37_79B9_7F4A_7C15 }
        let make = { FieldCount(counted: true, threshold: 4, exactLimit: 1000, sketchWidthBits: 10) }
        var whole = make()
        defer { whole.release() }
        for k in keys { whole.add(k) }
        let expected = whole.summary()!
        for cuts in [[0, 3000], [0, 1500, 3000], [0, 7, 1000, 2999, 3000]] {
            let m = try merged(keys, cuts: cuts, make: make)
            defer { m.release() }
            let s = m.summary()!
            #expect(s.exact && s.kept == expected.kept && s.rareOccurrences == expected.rareOccurrences
                    && s.occurrences == 3000 && s.peakBytes == expected.peakBytes, "cuts \(cuts)")
        }
        #expect(expected.kept.count > 100 && expected.kept.count < 600)
    }

    @Test func mergedTablePastTheLimitMovesToTheSketch() throws {
        // Each part holds at most 300 distinct values (under the limit of 400); together 600.
        let keys = (0..<600).flatMap { v in Array(repeating: UInt64(v + 1) &* 0x9E37_79B9_7F4A_7C15, count: v < 300 ? 5 : 1) }
        let m = try merged(keys, cuts: [0, 1500, keys.count], make: {
            FieldCount(counted: true, threshold: 3, exactLimit: 400, sketchWidthBits: 12)
        })
        defer { m.release() }
        let s = m.summary()!
        #expect(s.usedSketch && !s.exact)
        // Every value seen 5 times is kept (a sketch never undercounts).
        let frequent = Set((0..<300).map { UInt64($0 + 1) &* 0x9E37_79B9_7F4A_7C15 })
        #expect(frequent.isSubset(of: Set(s.kept)))
    }

    @Test func hyperLogLogsAndTokenBitmapsMergeToOnePass() throws {
        var rng = SplitMix64(seed: 2)
        let keys = (0..<50_000).map { _ in rng.next() }
        let make = { FieldCount(counted: true, threshold: 0, exactLimit: 0, sketchWidthBits: 10) }
        var whole = make()
        defer { whole.release() }
        for k in keys { whole.add(k) }
        let m = try merged(keys, cuts: [0, 20_000, 50_000], make: make)
        defer { m.release() }
        #expect(m.summary()!.distinct == whole.summary()!.distinct)
        #expect(m.summary()!.occurrences == 50_000)
    }
}
