import Foundation
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// Issue #11's training half without MPI: the sync schedule, the touched-rows average,
/// and training sets of several files (shards).
@Suite struct RankSyncTests {
    // MARK: - Sync schedule

    @Test func oneRankOrNoSyncRowsMeansOneAverageAtTheEndOfEachEpoch() {
        #expect(RankSync.syncsPerEpoch(globalRows: 1_000_000, ranks: 1, syncRows: 10) == 1)
        #expect(RankSync.syncsPerEpoch(globalRows: 1_000_000, ranks: 4, syncRows: 0) == 1)
        #expect(RankSync.points(rows: 500, syncsPerEpoch: 1).isEmpty)
    }

    @Test func syncsPerEpochComeFromTheGlobalRowCount() {
        // 200,000 rows on 2 ranks: 100,000 each; every 32,768 rows: 4 syncs (3 mid-epoch, 1 at its end).
        #expect(RankSync.syncsPerEpoch(globalRows: 200_000, ranks: 2, syncRows: 32_768) == 4)
        #expect(RankSync.syncsPerEpoch(globalRows: 200_000, ranks: 2, syncRows: 100_000) == 1)
        #expect(RankSync.syncsPerEpoch(globalRows: 200_001, ranks: 2, syncRows: 100_000) == 2)
        #expect(RankSync.syncsPerEpoch(globalRows: 7, ranks: 3, syncRows: 1) == 3)
        // No overflow with a huge --sync-rows.
        #expect(RankSync.syncsPerEpoch(globalRows: 10, ranks: 2, syncRows: Int.max) == 1)
    }

    @Test func theDefaultSyncRowsAreFourSyncsAnEpochAtLeast32768RowsApart() {
        // CI's 200,000 rows on 2 ranks: 100,000 / 4 is below the floor: every 32,768 rows, 4 syncs.
        #expect(RankSync.syncRows(nil, globalRows: 200_000, ranks: 2) == 32_768)
        #expect(RankSync.syncsPerEpoch(globalRows: 200_000, ranks: 2, syncRows: RankSync.syncRows(nil, globalRows: 200_000, ranks: 2)) == 4)
        // The benchmark's 2,000,000 rows on 2 ranks: 250,000 rows apart, 4 syncs.
        #expect(RankSync.syncRows(nil, globalRows: 2_000_000, ranks: 2) == 250_000)
        #expect(RankSync.syncsPerEpoch(globalRows: 2_000_000, ranks: 2, syncRows: 250_000) == 4)
        #expect(RankSync.syncsPerEpoch(globalRows: 2_000_000, ranks: 2, syncRows: 125_000) == 8)
        #expect(RankSync.syncsPerEpoch(globalRows: 2_000_000, ranks: 2, syncRows: 131_072) == 8)
        // Given, the option is used as it is (0: only at the end of each epoch).
        #expect(RankSync.syncRows(4096, globalRows: 2_000_000, ranks: 2) == 4096)
        #expect(RankSync.syncRows(0, globalRows: 2_000_000, ranks: 2) == 0)
        #expect(RankSync.syncRows(nil, globalRows: 0, ranks: 1) == 32_768)
    }

    @Test func theDefaultMomentumFallsWithTheRowsBetweenSyncsTo0_3() {
        // 0.4 up to 32,768 rows apart (CI's 200,000 rows), 0.05 less a doubling, 0.3 from 131,072.
        #expect(RankSync.momentum(rowsApart: 32_768) == 0.4)
        #expect(RankSync.momentum(rowsApart: 4096) == 0.4)
        #expect(abs(RankSync.momentum(rowsApart: 65_536) - 0.35) < 1e-12)
        #expect(abs(RankSync.momentum(rowsApart: 125_000) - 0.3034) < 1e-4)
        #expect(RankSync.momentum(rowsApart: 250_000) == 0.3)
        #expect(RankSync.momentum(rowsApart: 10_000_000) == 0.3)
        // The rows apart: --sync-rows, at most a rank's rows; once an epoch (0), a rank's rows.
        #expect(RankSync.rowsApart(syncRows: 250_000, globalRows: 2_000_000, ranks: 2) == 250_000)
        #expect(RankSync.rowsApart(syncRows: 32_768, globalRows: 20_000, ranks: 2) == 10_000)
        #expect(RankSync.rowsApart(syncRows: 0, globalRows: 2_000_001, ranks: 2) == 1_000_001)
    }

    @Test func ranksOfUnequalSharesCallTheSameNumberOfSyncs() {
        let s = RankSync.syncsPerEpoch(globalRows: 10_000 + 6_000 + 0, ranks: 3, syncRows: 1_000)
        #expect(s == 6)
        for rows in [10_000, 6_000, 0] {
            let points = RankSync.points(rows: rows, syncsPerEpoch: s)
            #expect(points.count == s - 1)
            #expect(points == points.sorted())
            #expect(points.allSatisfy { $0 >= 0 && $0 <= rows })
        }
        #expect(RankSync.points(rows: 10_000, syncsPerEpoch: s) == [1666, 3333, 5000, 6666, 8333])
    }

    // MARK: - The average of touched rows

    /// What `model` puts into the allreduce for the rows set in `rows`.
    func changes(_ model: FFMModel, _ rows: UnsafePointer<UInt64>, _ base: ModelSnapshot) -> [Float] {
        var count = 0
        for w in 0..<(model.rowCount + 63) / 64 { count += rows[w].nonzeroBitCount }
        var out = [Float](repeating: .nan, count: model.packedFloats(rows: count))
        out.withUnsafeMutableBufferPointer { model.packChanges(rows: rows, base: base, merge: .sqrt, into: $0.baseAddress!) }
        #expect(!out.contains { $0.isNaN })
        return out
    }

    /// Merges the summed changes into `model` and `base`.
    func apply(_ sums: [Float], _ model: FFMModel, _ rows: UnsafePointer<UInt64>, count: Int, _ base: ModelSnapshot, mu: Float = 0) {
        var sums = sums
        sums.withUnsafeMutableBufferPointer {
            model.applySums($0.baseAddress!, rows: rows, count: count, base: base, ranks: 2, merge: .sqrt, momentum: mu)
        }
    }

    /// Two "ranks" as two models equal at the last sync; each changes some rows. Packing
    /// the union of their touched rows, merging (the "allreduce" adds the other rank's
    /// changes) and unpacking gives, per weight, base + Σ √ΔG_r Δw_r / √ΣΔG_r and per
    /// accumulator base + ΣΔG_r, computed here naively: a row one rank changed gets its
    /// change exactly; rows no rank touched keep their values; both ranks end with the same
    /// model and base.
    @Test func aSyncMergesTheRanksChangesOfTheTouchedRows() throws {
        let indices = [1, 3, 4, 9, 17, 40, 63, 64, 70, 99]
        func make() throws -> FFMModel {
            try randomModel(kind: .ffm, fields: 3, factors: 5, indices: indices, indexCount: 100, linear: true, seed: 4)
        }
        let a = try make(), b = try make(), reference = try make()
        let baseA = ModelSnapshot(of: a), baseB = ModelSnapshot(of: b)
        // Rank a changes rows 1 and 7, rank b rows 7 and 8 (latent and linear weights, and
        // accumulators upwards: a row holds both).
        func perturb(_ m: FFMModel, rows: [Int], salt: Float) {
            for r in rows {
                for i in 0..<m.rowStride { m.latent[r * m.rowStride + i] += salt * Float(i % 5 + 1) }
            }
            m.bias[0] += salt
            m.bias[1] += salt
        }
        perturb(a, rows: [1, 7], salt: 0.25)
        perturb(b, rows: [7, 8], salt: 0.5)
        func naive(_ slot: (FFMModel) -> (w: Float, g: Float)) -> (w: Float, g: Float) {
            let (wa, ga) = slot(a), (wb, gb) = slot(b), (w0, g0) = slot(reference)
            let dA = ga - g0, dB = gb - g0
            let w = Double(w0) + (Double(dA).squareRoot() * Double(wa - w0) + Double(dB).squareRoot() * Double(wb - w0))
                / Double(dA + dB).squareRoot()
            return (Float(w), g0 + dA + dB)
        }
        let acc = a.accumulatorOffset  // a weight's accumulator is this many floats on
        let slot = 7 * a.rowStride + 8 + 2  // row 7, field 1, factor 2
        let wantLatent7 = naive { ($0.latent[slot], $0.latent[slot + acc]) }
        let wantLatent1 = naive { ($0.latent[a.rowStride + 1], $0.latent[a.rowStride + 1 + acc]) }
        let wantLinear8 = naive { ($0.linear(row: 8)[0], $0.linear(row: 8)[acc]) }
        let wantBias = naive { ($0.bias[0], $0.bias[1]) }
        var union = [UInt64](repeating: 0, count: 1)
        for r in [1, 7, 8] { union[0] |= 1 << UInt64(r) }
        union.withUnsafeBufferPointer { u in
            let rows = u.baseAddress!
            #expect(a.packedFloats(rows: 3) == 3 * a.rowStride + 2)
            // Each rank's changes, as it puts them into the allreduce; the "allreduce" adds them.
            let sums = zip(changes(a, rows, baseA), changes(b, rows, baseB)).map { $0 + $1 }
            apply(sums, a, rows, count: 3, baseA)
            apply(sums, b, rows, count: 3, baseB)
        }
        #expect(abs(a.latent[slot] - wantLatent7.w) < 1e-5)
        #expect(abs(a.latent[slot + acc] - wantLatent7.g) < 1e-5)
        #expect(abs(a.linear(row: 8)[0] - wantLinear8.w) < 1e-5 && abs(a.linear(row: 8)[acc] - wantLinear8.g) < 1e-5)
        #expect(abs(a.bias[0] - wantBias.w) < 1e-5 && abs(a.bias[1] - wantBias.g) < 1e-5)
        // Row 1, changed by rank a only: a's change exactly (+0.25 · 2 at lane 1).
        #expect(abs(a.latent[a.rowStride + 1] - wantLatent1.w) < 1e-5)
        #expect(abs(a.latent[a.rowStride + 1] - (reference.latent[a.rowStride + 1] + 0.5)) < 1e-5)
        // Row 7, changed by both by 0.25 and 0.5 at float 10 (i % 5 + 1 = 1) with ΔG 1 and 2 (float 38: 4):
        // more than the mean of the changes, less than their sum.
        let moved = a.latent[slot] - reference.latent[slot]
        #expect(moved > 0.375 && moved < 0.75)
        // Both ranks hold the same model and base; untouched rows are as they were.
        let floats = a.rowCount * a.rowStride
        #expect(Array(UnsafeBufferPointer(start: a.latent, count: floats)) == Array(UnsafeBufferPointer(start: b.latent, count: floats)))
        #expect(Array(UnsafeBufferPointer(start: baseA.latent, count: floats)) == Array(UnsafeBufferPointer(start: a.latent, count: floats)))
        #expect(Array(UnsafeBufferPointer(start: baseB.latent, count: floats)) == Array(UnsafeBufferPointer(start: a.latent, count: floats)))
        for r in [0, 2, 3, 4, 5, 6, 9] {
            #expect(Array(UnsafeBufferPointer(start: a.latent + r * a.rowStride, count: a.rowStride))
                == Array(UnsafeBufferPointer(start: reference.latent + r * a.rowStride, count: a.rowStride)), "row \(r)")
        }
    }

    /// Block momentum over two syncs of two "ranks" (models of one row: a chunk of four
    /// latent weights and their accumulators, the linear pair, the bias pair), the allreduce
    /// done by hand: at the first sync a weight moves by the √ΔG merge of the changes (d₁),
    /// at the second by the merge plus μ · d₁; the bias moves by the merge only; both ranks
    /// end with the same values, base and momentum (weights only: 4 latent, 1 linear).
    @Test func blockMomentumAddsMuTimesTheLastMergedChange() throws {
        func make() throws -> FFMModel { try randomModel(kind: .fm, fields: 1, factors: 4, indices: [0], indexCount: 1, linear: true) }
        let a = try make(), b = try make()
        // The row: 4 latent weights, the linear weight and 3 of padding, then their accumulators.
        #expect(a.rowStride == 16 && a.linearOffset == 4 && a.accumulatorOffset == 8)
        let mu: Float = 0.4
        var start = [Float](repeating: 0, count: 12)
        for s in 0..<4 { start[s] = 0.1 * Float(s); start[4 + s] = 1 }
        start[8] = 0.5; start[9] = 1; start[10] = -0.2; start[11] = 1
        // 4 latent weights, their accumulators, the linear pair, the bias pair.
        func values(_ m: FFMModel) -> [Float] {
            Array(UnsafeBufferPointer(start: m.latent, count: 4)) + Array(UnsafeBufferPointer(start: m.latent + 8, count: 4))
                + [m.linear(row: 0)[0], m.linear(row: 0)[8], m.bias[0], m.bias[1]]
        }
        func set(_ m: FFMModel, _ v: [Float]) {
            for s in 0..<4 { m.latent[s] = v[s]; m.latent[8 + s] = v[4 + s] }
            m.linear(row: 0)[0] = v[8]; m.linear(row: 0)[8] = v[9]; m.bias[0] = v[10]; m.bias[1] = v[11]
        }
        set(a, start)
        set(b, start)
        let baseA = ModelSnapshot(of: a, momentum: true), baseB = ModelSnapshot(of: b, momentum: true)
        func momentum(_ base: ModelSnapshot) -> [Float] {
            Array(UnsafeBufferPointer(start: base.momentum!, count: 5))
        }
        let all: [UInt64] = [1]
        // One sync: every weight changed by `dw` on both ranks, ΔG = 1 each; returns the merged values.
        func sync(_ dw: Float) -> [Float] {
            for m in [a, b] {
                var v = values(m)
                for w in [0, 1, 2, 3, 8, 10] { v[w] += dw }
                for g in [4, 5, 6, 7, 9, 11] { v[g] += 1 }
                set(m, v)
            }
            all.withUnsafeBufferPointer { u in
                let sums = zip(changes(a, u.baseAddress!, baseA), changes(b, u.baseAddress!, baseB)).map { $0 + $1 }
                apply(sums, a, u.baseAddress!, count: 1, baseA, mu: mu)
                apply(sums, b, u.baseAddress!, count: 1, baseB, mu: mu)
            }
            #expect(values(a) == values(b) && momentum(baseA) == momentum(baseB))
            #expect(Array(UnsafeBufferPointer(start: baseA.latent, count: 16)) == Array(UnsafeBufferPointer(start: a.latent, count: 16)))
            return values(a)
        }
        let first = sync(0.2)
        let d1 = 2 * 0.2 / Float(2).squareRoot()  // (√1 · 0.2 + √1 · 0.2) / √2
        for w in [0, 1, 2, 3, 8, 10] { #expect(abs(first[w] - (start[w] + d1)) < 1e-6, "slot \(w)") }
        #expect(first[4] == 3 && first[11] == 3)
        let second = sync(0.1)
        let d2 = 2 * 0.1 / Float(2).squareRoot() + mu * d1
        for w in [0, 1, 2, 3, 8] { #expect(abs(second[w] - (first[w] + d2)) < 1e-6, "slot \(w)") }
        // The bias: no momentum.
        #expect(abs(second[10] - (first[10] + 2 * 0.1 / Float(2).squareRoot())) < 1e-6)
        for w in 0..<5 { #expect(abs(momentum(baseA)[w] - d2) < 1e-6, "momentum \(w)") }
    }

    /// The merge of latent chunks runs 4 lanes at a time: its floats are the bits of the
    /// formulas computed one float at a time, in the same order (what a model written by the
    /// scalar merge had): changes √(max(ΔG, 0) + ε) Δw and ΔG; then from the sums
    /// w = b + Σ / √(max(ΣΔG, 0) + 2ε), d = (w − b) + μ m, w = b + d, G = b.G + ΣΔG.
    @Test func theLatentMergeGivesTheBitsOfTheScalarFormulas() throws {
        let a = try randomModel(kind: .ffm, fields: 3, factors: 6, indices: [0, 1, 2], indexCount: 3, linear: true, seed: 9)
        let base = ModelSnapshot(of: a, momentum: true)
        let floats = a.rowCount * a.rowStride
        #expect(a.rowStride % 8 == 0 && floats >= 48)
        // A row holds its weights, then their accumulators (`half` floats on); the momentum
        // holds the weights' only, row after row.
        let half = a.accumulatorOffset, stride = a.rowStride
        func isWeight(_ i: Int) -> Bool { i % stride < half }
        func momentumIndex(_ i: Int) -> Int { i / stride * half + i % stride }
        var rng = SplitMix64(seed: 5)
        func uniform() -> Float { Float(rng.next() >> 40) / Float(1 << 24) }
        for i in 0..<floats {
            // Weights move either way; accumulators mostly grow, one in 8 shrinks (max(ΔG, 0)).
            a.latent[i] += isWeight(i) ? uniform() - 0.5 : (i % 8 == 7 ? -0.25 : 2 * uniform())
            base.momentum![i / 2] = uniform() - 0.5
        }
        let before = Array(UnsafeBufferPointer(start: a.latent, count: floats))
        let b0 = Array(UnsafeBufferPointer(start: base.latent, count: floats))
        let m0 = Array(UnsafeBufferPointer(start: base.momentum!, count: floats / 2))
        let eps: Float = 1e-30, mu: Float = 0.4
        var rows: [UInt64] = [0b111]
        let packed = rows.withUnsafeMutableBufferPointer { changes(a, $0.baseAddress!, base) }
        for i in 0..<floats {
            let g = isWeight(i) ? i + half : i
            let dG = before[g] - b0[g]
            let want = isWeight(i) ? (max(dG, 0) + eps).squareRoot() * (before[i] - b0[i]) : dG
            #expect(packed[i].bitPattern == want.bitPattern, "change \(i)")
        }
        // The "other rank" added changes of its own.
        let sums = packed.enumerated().map { $0.element + (isWeight($0.offset) ? 0.125 : 0.5) }
        rows.withUnsafeMutableBufferPointer { apply(sums, a, $0.baseAddress!, count: 3, base, mu: mu) }
        for i in 0..<floats where isWeight(i) {
            let sumG = sums[i + half], m = momentumIndex(i)
            let merged = b0[i] + sums[i] / (max(sumG, 0) + 2 * eps).squareRoot()
            let d = (merged - b0[i]) + mu * m0[m]
            #expect(a.latent[i].bitPattern == (b0[i] + d).bitPattern, "weight \(i)")
            #expect(base.latent[i].bitPattern == a.latent[i].bitPattern && base.momentum![m].bitPattern == d.bitPattern)
            #expect(a.latent[i + half].bitPattern == (b0[i + half] + sumG).bitPattern, "accumulator \(i + half)")
        }
    }

    @Test func touchedRowsAreTheRowsOfTheTrainedFeaturesJoinedOverThreads() {
        let touched = TouchedRows(rowCount: 130, threads: 2)
        let f0 = [Feature(field: 0, index: 3, value: 1), Feature(field: 1, index: 129, value: 1),
                  Feature(field: 2, index: UInt32.max, value: 1), Feature(field: 2, index: 200, value: 1)]
        let f1 = [Feature(field: 0, index: 64, value: 1)]
        f0.withUnsafeBufferPointer { touched.mark($0, thread: 0) }
        f1.withUnsafeBufferPointer { touched.mark($0, thread: 1) }
        var out = [UInt64](repeating: 0xFF, count: touched.words)
        let extra: [UInt64] = [1 << 5, 0, 0]
        extra.withUnsafeBufferPointer { e in out.withUnsafeMutableBufferPointer { touched.take(into: $0.baseAddress!, extra: e.baseAddress!) } }
        let want: [UInt64] = [0b10_1000, 1, 2]
        #expect(out == want)
        // Taken: the threads' bitmaps start again empty.
        out.withUnsafeMutableBufferPointer { touched.take(into: $0.baseAddress!) }
        #expect(out == [UInt64](repeating: 0, count: 3))
    }

    // MARK: - Several training files

    func writeCache(_ rows: ArraySlice<(Float, [Feature])>, to path: String, groupRows: Int = 64) throws {
        let writer = try CacheWriter(path: path, rowGroupRows: groupRows)
        for (label, features) in rows { try writer.append(label: label, features: features) }
        try writer.finish()
    }

    @Test func sharesAreWholeFilesWhenThereAreAtLeastAsManyFilesAsRanks() throws {
        let dir = try TestSupport.makeTemporaryDirectory("shards")
        let rows = PlantedData(fields: 3, cardinality: 8, seed: 2).rows(1000, stream: 1)
        var paths: [String] = []
        for (i, range) in [0..<300, 300..<700, 700..<1000].enumerated() {
            paths.append(dir.appendingPathComponent("train-\(i).cache").path)
            try writeCache(rows[range], to: paths[i])
        }
        let set = try TrainingSet(paths: paths, scratchDirectory: dir.path, log: { _ in })
        #expect(set.rowCount == 1000)
        #expect(set.groupCount == 5 + 7 + 5)
        let blocks = set.blocks(targetBytes: 1)  // one group per block
        #expect(blocks.count == 17)
        // 3 files, 2 ranks: file 0 to rank 0, files 1 and 2 to rank 1; 3 ranks: one file each.
        #expect(Set(set.share(of: blocks, rank: 0, size: 2).map(\.file)) == [0])
        #expect(Set(set.share(of: blocks, rank: 1, size: 2).map(\.file)) == [1, 2])
        for r in 0..<3 { #expect(Set(set.share(of: blocks, rank: r, size: 3).map(\.file)) == [r]) }
        // 4 ranks, 3 files: global row groups, every group once, in order, blocks within one file.
        let shares = (0..<4).map { set.share(of: blocks, rank: $0, size: 4) }
        let global = shares.flatMap { $0 }.flatMap { b in b.groups.map { $0 + set.groupOffsets[b.file] } }
        #expect(global == Array(0..<17))
        #expect(shares.map { $0.reduce(0) { $0 + $1.groups.count } } == [4, 4, 4, 5])
        #expect(shares.allSatisfy { $0.allSatisfy { $0.groups.upperBound <= set.readers[$0.file].info.groupCount } })
        #expect(set.share(of: blocks, rank: 0, size: 1) == blocks)
    }

    @Test func aTrainingSetIsAFileAFolderAGlobOrAList() throws {
        let dir = try TestSupport.makeTemporaryDirectory("shards")
        let d = dir.path
        for name in ["train-1.cache", "train-0.cache", "valid.cache", ".hidden.cache", "notes.txt"] {
            _ = FileManager.default.createFile(atPath: d + "/" + name, contents: Data())
        }
        try FileManager.default.createDirectory(atPath: d + "/sub", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: d + "/sub/a.cache", contents: Data())
        #expect(try TrainingSet.expand(d + "/notes.txt") == [d + "/notes.txt"])
        #expect(try TrainingSet.expand(d) == [d + "/train-0.cache", d + "/train-1.cache", d + "/valid.cache"])
        #expect(try TrainingSet.expand(d + "/train-*.cache") == [d + "/train-0.cache", d + "/train-1.cache"])
        #expect(try TrainingSet.expand(d + "/sub," + d + "/train-1.cache") == [d + "/sub/a.cache", d + "/train-1.cache"])
        // A missing plain path is kept (opening it names the file); a pattern without matches is an error.
        #expect(try TrainingSet.expand(d + "/missing.cache") == [d + "/missing.cache"])
        #expect(throws: FFMError.noTrainingFiles(spec: d + "/x-*.cache", detail: "the pattern matches no file")) {
            try TrainingSet.expand(d + "/x-*.cache")
        }
        #expect(throws: FFMError.noTrainingFiles(spec: d + "/sub2", detail: "the folder has no *.cache file")) {
            try FileManager.default.createDirectory(atPath: d + "/sub2", withIntermediateDirectories: true)
            return try TrainingSet.expand(d + "/sub2")
        }
    }

    /// Without MPI, shards train as their concatenation: in file order (--no-rand) with one
    /// thread, the same model bytes as one cache of all the rows.
    @Test func shardsTrainAsTheirConcatenation() throws {
        let dir = try TestSupport.makeTemporaryDirectory("shards")
        let planted = PlantedData(fields: 4, cardinality: 10, seed: 3)
        let rows = planted.rows(1500, stream: 1)
        let whole = dir.appendingPathComponent("all.cache").path
        try writeCache(rows[...], to: whole)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("shards"), withIntermediateDirectories: true)
        for (i, range) in [0..<500, 500..<1100, 1100..<1500].enumerated() {
            try writeCache(rows[range], to: dir.appendingPathComponent("shards/train-\(i).cache").path)
        }
        let valid = dir.appendingPathComponent("valid.ffm").path
        try writeLibFFM(planted.rows(300, stream: 2), to: valid)
        func train(_ set: String, _ out: String) throws -> TrainResult {
            try TrainStage.run(params: quietParams {
                $0.epochs = 3; $0.noRand = true; $0.validation = valid
                $0.output = dir.appendingPathComponent(out).path
            }, trainingSet: set)
        }
        let one = try train(whole, "one.model")
        let shards = try train(dir.appendingPathComponent("shards").path, "shards.model")
        let glob = try train(dir.appendingPathComponent("shards/train-*.cache").path, "glob.model")
        #expect(shards.rows == 1500 && one.rows == 1500)
        #expect(shards.epochs.map(\.vaLogLoss) == one.epochs.map(\.vaLogLoss))
        #expect(try fileBytes(dir.appendingPathComponent("shards.model").path) == fileBytes(dir.appendingPathComponent("one.model").path))
        #expect(try fileBytes(dir.appendingPathComponent("glob.model").path) == fileBytes(dir.appendingPathComponent("one.model").path))
        #expect(glob.epochs.last?.syncs == nil)  // one process: no sync figures
    }

    /// The dense sync allreduces the model a chunk at a time; a chunk of any size is whole
    /// latent rows (weights, then their accumulators), so every chunking gives the bits of
    /// one call, with and without momentum, for both merges.
    @Test func theDenseMergeInChunksGivesTheBitsOfOneCall() throws {
        for how in [RankMerge.sqrt, .mean] {
            for mu: Float in how == .sqrt ? [0, 0.4] : [0] {
                func run(chunkFloats: Int) throws -> [[Float]] {
                    let a = try randomModel(kind: .ffm, fields: 3, factors: 6, indices: [0, 1, 2, 3, 4], indexCount: 5, linear: true, seed: 4)
                    let base = ModelSnapshot(of: a, momentum: mu > 0)
                    var rng = SplitMix64(seed: 8)
                    func uniform() -> Float { Float(rng.next() >> 40) / Float(1 << 24) }
                    let floats = a.rowCount * a.rowStride
                    for i in 0..<floats { a.latent[i] += i % a.rowStride < a.accumulatorOffset ? uniform() - 0.5 : uniform() }
                    if let m = base.momentum { for i in 0..<floats / 2 { m[i] = uniform() - 0.5 } }
                    // The other rank: an elementwise stand-in for its changes.
                    a.mergeDense(base: base, merge: how, momentum: mu, ranks: 2, chunkFloats: chunkFloats) { p, n in
                        for i in 0..<n { p[i] = p[i] * 1.5 + 0.25 }
                    }
                    return [Array(UnsafeBufferPointer(start: a.latent, count: floats)),
                            [a.bias[0], a.bias[1]],
                            Array(UnsafeBufferPointer(start: base.latent, count: floats)),
                            base.momentum.map { Array(UnsafeBufferPointer(start: $0, count: floats / 2)) } ?? []]
                }
                let whole = try run(chunkFloats: .max)
                #expect(whole[0].contains { !$0.isFinite } == false)
                for chunk in [1, 7, 48 + 5, 3 * 48 + 1] {
                    let parts = try run(chunkFloats: chunk)
                    for (x, y) in zip(parts, whole) {
                        #expect(x.map(\.bitPattern) == y.map(\.bitPattern), "\(how) μ \(mu) chunk \(chunk)")
                    }
                }
            }
        }
    }
}
