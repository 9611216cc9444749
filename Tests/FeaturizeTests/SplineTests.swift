import Dataset
import Foundation
import Ingest
import LogIO
import StageKit
import Testing
@testable import Featurize

/// The naive Cox–de Boor recursion on the clamped knot vector (ends repeated 4 times), with
/// the half-open spans and the last point given to the last span: the reference for `Spline`.
func naiveBasis(_ x: Double, knots: [Double]) -> [Double] {
    let L = knots.count
    if L <= 1 { return [1] }
    let u = [Double](repeating: knots[0], count: 3) + knots + [Double](repeating: knots[L - 1], count: 3)
    let x = min(max(x, knots[0]), knots[L - 1])
    func n(_ i: Int, _ p: Int) -> Double {
        if p == 0 {
            if u[i] <= x && x < u[i + 1] { return 1 }
            // The right end belongs to the last non-empty span.
            if x == knots[L - 1] && u[i] < u[i + 1] && u[i + 1] == knots[L - 1] { return 1 }
            return 0
        }
        var s = 0.0
        if u[i + p] > u[i] { s += (x - u[i]) / (u[i + p] - u[i]) * n(i, p - 1) }
        if u[i + p + 1] > u[i + 1] { s += (u[i + p + 1] - x) / (u[i + p + 1] - u[i + 1]) * n(i + 1, p - 1) }
        return s
    }
    return (0..<(L + 2)).map { n($0, 3) }
}

/// The dense basis vector of `Spline.evaluate`.
func splineBasis(_ x: Double, knots: [Double]) -> [Double] {
    var dense = [Double](repeating: 0, count: Spline.basisCount(knots: knots.count))
    var first = 0
    var w = [Double](repeating: 0, count: 4)
    knots.withUnsafeBufferPointer { k in
        w.withUnsafeMutableBufferPointer { Spline.evaluate(x, knots: k, first: &first, into: $0.baseAddress!) }
    }
    for i in 0..<4 where first + i < dense.count { dense[first + i] += w[i] }
    return dense
}

struct SplineBasisTests {
    static let knotSets: [[Double]] = [
        [0, 1],
        [0, 1, 2, 3, 4],
        [-2, -0.5, 0, 0.1, 3, 3.5, 10],
        [0, 0.6931471805599453, 1.0986122886681098, 2.0794415416798357, 4.61512051684126, 13.1],
    ]

    @Test(arguments: knotSets)
    func matchesCoxDeBoorWithPartitionOfUnityAndLocalSupport(_ knots: [Double]) {
        var rng = SplitMix64(seed: 3)
        let lo = knots.first!, hi = knots.last!
        var points = knots + [lo - 5, hi + 7, -Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude]
        for _ in 0..<400 { points.append(lo - 1 + (hi - lo + 2) * rng.nextUnitDouble()) }
        for x in points {
            let got = splineBasis(x, knots: knots)
            let expected = naiveBasis(x, knots: knots)
            #expect(got.count == knots.count + 2)
            for i in got.indices { #expect(abs(got[i] - expected[i]) < 1e-12, "x \(x) basis \(i): \(got[i]) vs \(expected[i])") }
            #expect(abs(got.reduce(0, +) - 1) < 1e-12, "partition of unity at \(x)")
            #expect(got.allSatisfy { $0 >= 0 })
            let nonzero = got.indices.filter { got[$0] != 0 }
            #expect(nonzero.count <= 4 && nonzero.count >= 1)
            #expect(nonzero.last! - nonzero.first! <= 3, "support of 4 consecutive functions at \(x)")
        }
    }

    @Test func clampsOutsideTheKnotsToTheEndFunctions() {
        let knots: [Double] = [1, 2, 4, 8]
        #expect(splineBasis(-100, knots: knots) == [1, 0, 0, 0, 0, 0])
        #expect(splineBasis(1, knots: knots) == [1, 0, 0, 0, 0, 0])
        #expect(splineBasis(8, knots: knots) == [0, 0, 0, 0, 0, 1])
        #expect(splineBasis(1e300, knots: knots) == [0, 0, 0, 0, 0, 1])
        // One knot: one function, 1 everywhere.
        #expect(splineBasis(5, knots: [3]) == [1])
        // At an interior knot only 3 functions are non-zero (cubic, simple knots): 1/4, 7/12, 1/6
        // on uniform knots [0, 1, 2, 3, 4] at x = 1.
        let b = splineBasis(1, knots: [0, 1, 2, 3, 4])
        #expect(abs(b[0]) < 1e-15 && abs(b[1] - 0.25) < 1e-12 && abs(b[2] - 7.0 / 12) < 1e-12 && abs(b[3] - 1.0 / 6) < 1e-12)
    }

    @Test func knotsAtQuantiles() {
        var sample = (0..<101).map { Double(100 - $0) }   // 100, 99, …, 0
        #expect(Spline.quantileKnots(&sample, count: 5) == [0, 25, 50, 75, 100])
        var eleven = (0..<11).map(Double.init)
        // Ranks round(i * 10 / 3) = 0, 3, 7, 10.
        #expect(Spline.quantileKnots(&eleven, count: 4) == [0, 3, 7, 10])
        // Repeated values: duplicates dropped, fewer knots.
        var skewed = [Double](repeating: 0, count: 60) + [Double](repeating: 1, count: 30) + [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        #expect(Spline.quantileKnots(&skewed, count: 5) == [0, 1, 11])
        var empty: [Double] = []
        #expect(Spline.quantileKnots(&empty, count: 20).isEmpty)
        var constant = [Double](repeating: 4, count: 9)
        #expect(Spline.quantileKnots(&constant, count: 20) == [4])
    }

    @Test func reservoirIsExactWhileSmallAndDeterministic() {
        var small = ValueReservoir(capacity: 100, seed: 1)
        for i in 0..<100 { small.add(Double(i)) }
        #expect(small.values == (0..<100).map(Double.init))
        var a = ValueReservoir(capacity: 64, seed: 9), b = ValueReservoir(capacity: 64, seed: 9)
        for i in 0..<10_000 { a.add(Double(i)); b.add(Double(i)) }
        #expect(a.values == b.values)
        #expect(a.seen == 10_000 && a.values.count == 64)
        // A uniform sample: its mean is near the population's (4999.5, sd of the mean ~360).
        let mean = a.values.reduce(0, +) / 64
        #expect(abs(mean - 4999.5) < 1500)
    }

    @Test func mergedReservoirsAreExactWhileSmallAndProportionalOtherwise() {
        // Small: all values, in part order, so the knots equal one process's.
        let exact = ValueReservoir.merging([(3, [1, 2, 3]), (0, []), (2, [9, 8])], capacity: 10, seed: 4)
        #expect(exact.values == [1, 2, 3, 9, 8] && exact.seen == 5)
        // Large: part 0 saw 3x as many values as part 1, so it gives 3/4 of the sample.
        var a = ValueReservoir(capacity: 64, seed: 1), b = ValueReservoir(capacity: 64, seed: 2)
        for i in 0..<3_000 { a.add(Double(i)) }
        for i in 0..<1_000 { b.add(Double(10_000 + i)) }
        let parts = [(a.seen, a.values), (b.seen, b.values)]
        let merged = ValueReservoir.merging(parts, capacity: 64, seed: 7)
        #expect(merged.values.count == 64 && merged.seen == 4_000)
        #expect(merged.values.filter { $0 < 10_000 }.count == 48)
        #expect(Set(merged.values).isSubset(of: Set(a.values + b.values)))
        // The same on every rank, whatever computes it.
        #expect(ValueReservoir.merging(parts, capacity: 64, seed: 7).values == merged.values)
        // A part holding fewer values than its share gives all it has; the others fill the rest.
        let capped = ValueReservoir.merging([(1_000_000, [1, 2]), (10, Array(repeating: 5, count: 10))], capacity: 8, seed: 3)
        #expect(capped.values.count == 8 && capped.values.filter { $0 != 5 }.count == 2)
    }

    @Test func compression() {
        #expect(SplineCompression.log1p.apply(0) == 0)
        #expect(SplineCompression.log1p.apply(Double(M_E) - 1) == log1p(Double(M_E) - 1))
        #expect(SplineCompression.log1p.apply(-3) == -log1p(3))
        #expect(SplineCompression.none.apply(-3) == -3)
    }
}

/// ctr-hash with spline fields: layout, knots, featurizer.json round trip, determinism.
struct SplineHashTests {
    /// Criteo lines whose integer columns spread over many values.
    static func lines(_ count: Int, seed: UInt64) -> [String] { criteoLines(count: count, seed: seed) }

    @Test func splineFieldsGetBasisFeaturesThatSumToOne() throws {
        let scratch = try Scratch("spline-hash")
        let raw = Self.lines(2000, seed: 21)
        let rows = try ingest(scratch, schema: "criteo", lines: raw)
        let result = try hash(rows: rows, out: scratch.path("out")) {
            $0.numeric = .spline
            $0.knots = 8
        }
        let spec = try #require(result.spec)
        let cached = try cacheRows(scratch.path("out/train.cache"))
        // Every integer column is a spline field with its knots at quantiles of log1p(v).
        let values = try String(contentsOfFile: rows + "/train.tsv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        for f in 0..<13 {
            let field = spec.fields[f]
            #expect(field.transform == .spline && field.compression == .log1p)
            var sample = values.compactMap { Double($0[f + 1]) }.map { SplineCompression.log1p.apply($0) }
            let knots = Spline.quantileKnots(&sample, count: 8)
            #expect(field.knots == knots, "\(field.name)")
            #expect(field.bins == 2 + Spline.basisCount(knots: knots.count))
        }
        for f in 13..<39 { #expect(spec.fields[f].transform == .hash) }
        // Rows: field order kept, 1 to 4 features per spline field, weights summing to 1,
        // indices in the field's range; the reference basis gives the same weights.
        for (r, row) in cached.enumerated() {
            var byField: [UInt32: [Feature]] = [:]
            var lastField: UInt32 = 0
            for feature in row.features {
                #expect(feature.field >= lastField)
                lastField = feature.field
                byField[feature.field, default: []].append(feature)
            }
            #expect(byField.count == 39)
            for f in 0..<13 {
                let features = byField[UInt32(f)]!
                let field = spec.fields[f]
                #expect(features.count >= 1 && features.count <= 4)
                let value = values[r][f + 1]
                if value.isEmpty {
                    #expect(features == [Feature(field: UInt32(f), index: UInt32(field.offset), value: 1)])
                    continue
                }
                let sum = features.reduce(0.0) { $0 + Double($1.value) }
                #expect(abs(sum - 1) < 1e-6)
                let dense = naiveBasis(SplineCompression.log1p.apply(Double(value)!), knots: field.knots!)
                for feature in features {
                    let basis = Int(feature.index) - field.offset - 2
                    #expect(basis >= 0 && basis < dense.count)
                    #expect(abs(Double(feature.value) - dense[basis]) < 1e-6)
                }
                #expect(features.count == dense.filter { Float($0) > 0 }.count)
            }
        }
        // The text has the same rows.
        let text = try scratch.lines("out/train.ffm")
        #expect(text.count == cached.count)
        for i in [0, 1, 500, 1999] { #expect(text[i] == libffm(cached[i].label, cached[i].features)) }
    }

    @Test(arguments: [false, true])
    func featurizerJSONRoundTripAndPredictTimeFeaturesEqualHashTime(shared: Bool) throws {
        let scratch = try Scratch("spline-roundtrip")
        let raw = Self.lines(1200, seed: 22)
        let rows = try ingest(scratch, schema: "criteo", lines: raw)
        let config = try scratch.write("features.json", """
            {"version": 1, "fields": {"I1": {"transform": "spline", "knots": 5, "compression": "none"},
             "I2": {"transform": "spline"}, "I3": {"transform": "buckets", "boundaries": [0, 10]}}}
            """)
        _ = try hash(rows: rows, out: scratch.path("out")) {
            $0.config = config
            $0.knots = 12
            if shared { $0.sharedSpace = 1 << 18 }
        }
        let data = try #require(scratch.data("out/featurizer.json"))
        let spec = try JSONDecoder().decode(FeaturizerSpec.self, from: data)
        #expect(spec.fields[0].transform == .spline && spec.fields[0].compression == SplineCompression.none)
        #expect(spec.fields[0].knots!.count <= 5 && spec.fields[0].knots!.count >= 2)
        #expect(spec.fields[1].transform == .spline && spec.fields[1].compression == .log1p)
        #expect(spec.fields[3].transform == .logSquare)
        // Decode, encode, decode: the same spec (knots as exact doubles).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        #expect(try JSONDecoder().decode(FeaturizerSpec.self, from: encoder.encode(spec)) == spec)
        let featurizer = try Featurizer(contentsOf: scratch.path("out/featurizer.json"))
        #expect(featurizer.maxFeaturesPerRow == 39 + 2 * 3)
        let row = try featurizer.makeRowFeaturizer()
        let cached = try cacheRows(scratch.path("out/train.cache"))
        for (i, line) in raw.enumerated() {
            var text = line
            let got = text.withUTF8 { RoundTripTests.features(row.featurize(rawLine: $0)) }
            #expect(got?.1 == cached[i].features, "line \(i + 1)")
        }
    }

    @Test func outputsAreByteIdenticalForAnyThreadCountAndChunking() throws {
        let scratch = try Scratch("spline-threads")
        let rows = try ingest(scratch, schema: "criteo", lines: Self.lines(3000, seed: 23), valid: 0.2)
        var reference: [Data?] = []
        for (threads, chunk) in [(1, 1 << 20), (2, 3000), (3, 777), (4, 64 * 1024)] {
            let out = "out-\(threads)-\(chunk)"
            _ = try hash(rows: rows, out: scratch.path(out), chunkBytes: chunk) {
                $0.threads = threads
                $0.numeric = .spline
                $0.rareThreshold = 3
            }
            let files = ["train.ffm", "train.cache", "valid.ffm", "valid.cache", "featurizer.json"].map { scratch.data("\(out)/\($0)") }
            #expect(files.allSatisfy { $0 != nil })
            if reference.isEmpty { reference = files } else {
                for i in files.indices { #expect(files[i] == reference[i], "file \(i) with \(threads) threads, chunks of \(chunk)") }
            }
        }
    }

    @Test func reservoirSampleBoundsTheKnotsOfLargeSplits() throws {
        // More values than the reservoir holds: knots from the sample stay within a small
        // rank error of the exact quantiles of 0…N-1 (uniform: the rank is the value).
        var r = ValueReservoir(capacity: 4096, seed: 5)
        let n = 200_000
        for i in 0..<n { r.add(Double((i &* 7919) % n)) }
        var sample = r.values
        let knots = Spline.quantileKnots(&sample, count: 11)
        for (i, k) in knots.enumerated().dropFirst().dropLast() {
            #expect(abs(k / Double(n) - Double(i) / 10) < 0.03, "knot \(i) at \(k)")
        }
    }

    @Test func badConfigsNameTheFieldAndPath() throws {
        let scratch = try Scratch("spline-bad")
        let rows = try ingest(scratch, schema: "criteo", lines: Self.lines(200, seed: 24))
        func failure(_ json: String) throws -> String {
            let config = try scratch.write("c.json", json)
            let error = caught { _ = try hash(rows: rows, out: scratch.path("out")) { $0.config = config } }
            return error.map { "\($0)" } ?? "no error"
        }
        let one = try failure(#"{"fields": {"I4": {"transform": "spline", "knots": 1}}}"#)
        #expect(one.contains("c.json") && one.contains("fields.I4.knots") && one.contains("found 1"))
        let zero = try failure(#"{"fields": {"I4": {"transform": "spline", "knots": 0}}}"#)
        #expect(zero.contains("fields.I4.knots") && zero.contains("found 0"))
        let categorical = try failure(#"{"fields": {"C3": {"transform": "spline"}}}"#)
        #expect(categorical.contains("fields.C3.transform") && categorical.contains("categorical"))
        let knotsElsewhere = try failure(#"{"fields": {"I4": {"knots": 5}}}"#)
        #expect(knotsElsewhere.contains("fields.I4.knots") && knotsElsewhere.contains("only applies to the spline transform"))
        let badCompression = try failure(#"{"fields": {"I4": {"transform": "spline", "compression": "sqrt"}}}"#)
        #expect(badCompression.contains("fields.I4.compression"))
        let bins = try failure(#"{"fields": {"I4": {"transform": "spline", "bins": 100}}}"#)
        #expect(bins.contains("fields.I4.bins"))
    }

    @Test func columnsWithFewValuesGetFewerKnotsAndConstantColumnsOneFunction() throws {
        let scratch = try Scratch("spline-few")
        // I1 takes 3 values, I2 is constant, I3 is always missing.
        let lines = (0..<300).map { i -> String in
            var fields = ["\(i % 2)", "\(i % 3)", "7", ""] + [String](repeating: "1", count: 10)
            fields += [String](repeating: "a", count: 26)
            return fields.joined(separator: "\t")
        }
        let rows = try ingest(scratch, schema: "criteo", lines: lines)
        let result = try hash(rows: rows, out: scratch.path("out")) { $0.numeric = .spline }
        let spec = try #require(result.spec)
        #expect(spec.fields[0].knots == [0, log1p(1), log1p(2)])
        #expect(spec.fields[0].bins == 2 + 5)
        #expect(spec.fields[1].knots == [log1p(7)] && spec.fields[1].bins == 3)
        #expect(spec.fields[2].knots == [0] && spec.fields[2].bins == 3)
        let cached = try cacheRows(scratch.path("out/train.cache"))
        let i2 = cached[0].features.filter { $0.field == 1 }
        #expect(i2 == [Feature(field: 1, index: UInt32(spec.fields[1].offset + 2), value: 1)])
        let i3 = cached[0].features.filter { $0.field == 2 }
        #expect(i3 == [Feature(field: 2, index: UInt32(spec.fields[2].offset), value: 1)])
    }
}

/// Spline fields with the log-square bucket beside the basis (`--numeric spline-log-square`, `log_square`).
struct SplineLogSquareTests {
    @Test func bucketKeysPartitionValuesAsTheLogSquareTokens() {
        // Two integers share a key exactly when the log-square transform gives them one token
        // (above the lowest key), and the key never decreases.
        let values = Array(Int64(LogSquareBuckets.lowestKey)...5000) + [10_000, 65_535, 1 << 20, 1 << 40, Int64.max]
        var last = Int.min
        for (a, b) in zip(values, values.dropFirst()) {
            let ka = LogSquareBuckets.key(Double(a)), kb = LogSquareBuckets.key(Double(b))
            let ta = Token.logSquare(int: a), tb = Token.logSquare(int: b)
            #expect((ka == kb) == (ta.tag == tb.tag && ta.bits == tb.bits), "\(a) \(b)")
            #expect(ka >= last && kb >= ka)
            last = kb
        }
        #expect(LogSquareBuckets.key(3) == 3 && LogSquareBuckets.key(2) == 2 && LogSquareBuckets.key(-1) == -1)
        #expect(LogSquareBuckets.key(1.5) == 1 && LogSquareBuckets.key(-1000) == LogSquareBuckets.lowestKey)
        #expect(LogSquareBuckets.key(Double(Int64.max)) == 2 + Int(Token.logSquare(int: .max).bits))
        let b = LogSquareBuckets.covering(minimum: 0, maximum: 100, present: true)
        #expect(b == LogSquareBuckets(low: 0, high: 2 + 21) && b.count == 24)
        #expect(b.bucket(-5) == 0 && b.bucket(1e9) == 23 && b.bucket(3) == 3)
        #expect(LogSquareBuckets.covering(minimum: .infinity, maximum: -.infinity, present: false) == LogSquareBuckets(low: 0, high: 0))
        #expect(LogSquareBuckets.covering(minimum: 0, maximum: .greatestFiniteMagnitude, present: true).count == LogSquareBuckets.maxCount)
    }

    @Test(arguments: [false, true])
    func fieldsGetTheBasisThenTheirBucket(shared: Bool) throws {
        let scratch = try Scratch("spline-logsquare")
        let raw = SplineHashTests.lines(1500, seed: 31)
        let rows = try ingest(scratch, schema: "criteo", lines: raw)
        let config = try scratch.write("features.json", #"{"fields": {"I2": {"transform": "spline", "log_square": false}}}"#)
        let result = try hash(rows: rows, out: scratch.path("out")) {
            $0.numeric = .splineLogSquare
            $0.knots = 6
            $0.config = config
            if shared { $0.sharedSpace = 1 << 18 }
        }
        let spec = try #require(result.spec)
        let values = try String(contentsOfFile: rows + "/train.tsv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        for f in 0..<13 {
            let field = spec.fields[f]
            #expect(field.transform == .spline)
            if f == 1 { #expect(field.logSquare == nil); continue }
            let present = values.compactMap { Double($0[f + 1]) }
            let buckets = try #require(field.logSquare)
            #expect(buckets == LogSquareBuckets.covering(minimum: present.min()!, maximum: present.max()!, present: true))
            if !shared { #expect(field.bins == 2 + Spline.basisCount(knots: field.knots!.count) + buckets.count) }
        }
        let cached = try cacheRows(scratch.path("out/train.cache"))
        let featurizer = try Featurizer(contentsOf: scratch.path("out/featurizer.json"))
        #expect(featurizer.maxFeaturesPerRow == 26 + 12 * 5 + 4)
        for (r, row) in cached.enumerated() {
            for f in 0..<13 {
                let field = spec.fields[f]
                let features = row.features.filter { $0.field == UInt32(f) }
                let value = values[r][f + 1]
                if value.isEmpty { #expect(features.count == 1 && features[0].value == 1); continue }
                let v = Double(value)!
                let dense = naiveBasis(SplineCompression.log1p.apply(v), knots: field.knots!)
                let basisCount = dense.filter { Float($0) > 0 }.count
                guard let buckets = field.logSquare else {
                    #expect(features.count == basisCount)
                    continue
                }
                // The basis features as without the bucket, then one bucket feature of value 1.
                #expect(features.count == basisCount + 1)
                #expect(abs(features.dropLast().reduce(0.0) { $0 + Double($1.value) } - 1) < 1e-6)
                let last = features.last!
                #expect(last.value == 1)
                let bucket = buckets.bucket(v)
                if shared {
                    let key = UInt64(bitPattern: Int64(bucket + buckets.low))
                    let seed = Murmur3.hash32(field.name, seed: 0)
                    #expect(last.index == numericTokenHash(tag: "L", key, seed: seed) % UInt32(1 << 18))
                } else {
                    #expect(Int(last.index) == field.offset + 2 + dense.count + bucket)
                    #expect(Int(last.index) < field.offset + field.bins)
                }
            }
        }
        // Predict-time features of the raw lines are the cache's.
        let row = try featurizer.makeRowFeaturizer()
        for (i, line) in raw.enumerated() {
            var text = line
            let got = text.withUTF8 { RoundTripTests.features(row.featurize(rawLine: $0)) }
            #expect(got?.1 == cached[i].features, "line \(i + 1)")
        }
        // The text has the same rows.
        let text = try scratch.lines("out/train.ffm")
        for i in [0, 7, 1499] { #expect(text[i] == libffm(cached[i].label, cached[i].features)) }
    }

    @Test func sameFeaturesForAnyThreadCount() throws {
        let scratch = try Scratch("spline-logsquare-threads")
        let rows = try ingest(scratch, schema: "criteo", lines: SplineHashTests.lines(2000, seed: 32), valid: 0.2)
        var reference: [Data?] = []
        for (threads, chunk) in [(1, 1 << 20), (3, 777)] {
            let out = "out-\(threads)"
            _ = try hash(rows: rows, out: scratch.path(out), chunkBytes: chunk) {
                $0.threads = threads
                $0.numeric = .splineLogSquare
            }
            let files = ["train.ffm", "train.cache", "valid.cache", "featurizer.json"].map { scratch.data("\(out)/\($0)") }
            #expect(files.allSatisfy { $0 != nil })
            if reference.isEmpty { reference = files } else { #expect(files == reference) }
        }
    }

    @Test func badSettingsNameTheFieldAndPath() throws {
        let scratch = try Scratch("spline-logsquare-bad")
        let rows = try ingest(scratch, schema: "criteo", lines: SplineHashTests.lines(200, seed: 33))
        let config = try scratch.write("c.json", #"{"fields": {"I4": {"transform": "scaled", "log_square": true}}}"#)
        let error = caught { _ = try hash(rows: rows, out: scratch.path("out")) { $0.config = config } }.map { "\($0)" } ?? "no error"
        #expect(error.contains("c.json") && error.contains("fields.I4.log_square") && error.contains("only applies to the spline transform"))
        let categorical = try scratch.write("d.json", #"{"fields": {"C1": {"log_square": true}}}"#)
        let onCategorical = caught { _ = try hash(rows: rows, out: scratch.path("out")) { $0.config = categorical } }.map { "\($0)" } ?? ""
        #expect(onCategorical.contains("fields.C1.log_square") && onCategorical.contains("\"hash\""))
        // A featurizer.json whose buckets do not fit the field's range.
        _ = try hash(rows: rows, out: scratch.path("good")) { $0.numeric = .splineLogSquare }
        let spec = try JSONDecoder().decode(FeaturizerSpec.self, from: #require(scratch.data("good/featurizer.json")))
        var wrongBins = spec
        wrongBins.fields[3].bins += 1
        let bins = caught { _ = try Featurizer(spec: wrongBins, source: "f.json") }.map { "\($0)" } ?? ""
        #expect(bins.contains("f.json") && bins.contains("fields[3] (I4)") && bins.contains("log-square buckets"))
        var inverted = spec
        inverted.fields[3].logSquare = LogSquareBuckets(low: 5, high: 2)
        let order = caught { _ = try Featurizer(spec: inverted, source: "f.json") }.map { "\($0)" } ?? ""
        #expect(order.contains("fields[3] (I4)") && order.contains("log_square low 5, high 2"))
        var onHash = spec
        onHash.fields[20].logSquare = LogSquareBuckets(low: 0, high: 3)
        let hashField = caught { _ = try Featurizer(spec: onHash, source: "f.json") }.map { "\($0)" } ?? ""
        #expect(hashField.contains("fields[20] (C8)") && hashField.contains("log_square only applies to the spline transform"))
    }

    @Test func fewValuesAreNotedWithTheFieldAndWhereTheKnotsWereAsked() throws {
        let scratch = try Scratch("spline-few-note")
        let lines = (0..<300).map { i -> String in
            // The label, then I1 with 3 values, I2 constant, I3 always missing, I4…I13 with 50.
            var fields = ["\(i % 2)", "\(i % 3)", "7", ""] + (4...13).map { _ in "\(i % 50)" }
            fields += [String](repeating: "a", count: 26)
            return fields.joined(separator: "\t")
        }
        let rows = try ingest(scratch, schema: "criteo", lines: lines)
        let config = try scratch.write("c.json", #"{"fields": {"I2": {"transform": "spline", "knots": 5}}}"#)
        final class Notes: @unchecked Sendable { var lines: [String] = [] }
        let notes = Notes()
        var params = HashParams.defaults
        params.rows = rows
        params.numeric = .spline
        params.config = config
        params.knots = 10
        _ = try HashStage.run(params, inputs: [], outputs: scratch.path("out"),
                              reporter: Reporter(quiet: false, live: false) { notes.lines.append($0) })
        let note = try #require(notes.lines.first { $0.contains("fewer knots") })
        #expect(note.contains("I1: 3 knots of 10 asked by --knots"))
        #expect(note.contains("I2: 1 knot (one distinct value: one basis function, 1 for every value) of 5 asked by fields.I2.knots in \(config)"))
        #expect(note.contains("I3: 1 knot (no value: one basis function, 1 for every value) of 10 asked by --knots"))
        #expect(!note.contains("I4"))
    }
}
