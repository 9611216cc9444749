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

    /// Two "ranks" as two models equal at the last sync; each changes some rows. Packing
    /// the union of their touched rows, summing the buffers and adding the sums back gives,
    /// coordinate by coordinate, base + (a − base) + (b − base) for weights and accumulators;
    /// rows no rank touched keep their values; both ranks end with the same model and base.
    @Test func aSyncAddsUpEveryRanksChangesOfTheTouchedRows() throws {
        let indices = [1, 3, 4, 9, 17, 40, 63, 64, 70, 99]
        func make() throws -> FFMModel {
            try randomModel(kind: .ffm, fields: 3, factors: 5, indices: indices, indexCount: 100, linear: true, seed: 4)
        }
        let a = try make(), b = try make(), reference = try make()
        let baseA = ModelSnapshot(of: a), baseB = ModelSnapshot(of: b)
        // Rank a changes rows 1 and 7, rank b rows 7 and 8 (weights and accumulators).
        func perturb(_ m: FFMModel, rows: [Int], salt: Float) {
            for r in rows {
                for i in 0..<m.rowStride { m.latent[r * m.rowStride + i] += salt * Float(i % 5 + 1) }
                m.linear[2 * r] += salt
                m.linear[2 * r + 1] += 2 * salt
            }
            m.bias[0] += salt
            m.bias[1] += salt
        }
        perturb(a, rows: [1, 7], salt: 0.25)
        perturb(b, rows: [7, 8], salt: 0.5)
        var union = [UInt64](repeating: 0, count: 2)
        for r in [1, 7, 8] { union[0] |= 1 << UInt64(r) }
        let sum = union.withUnsafeBufferPointer { u -> [Float] in
            let pa = a.packChanges(rows: u.baseAddress!, count: 3, base: baseA)
            let pb = b.packChanges(rows: u.baseAddress!, count: 3, base: baseB)
            #expect(pa.count == 3 * a.rowStride + 3 * 2 + 2)
            return zip(pa, pb).map { $0 + $1 }
        }
        func expected(_ slot: (FFMModel) -> Float) -> Float { slot(a) + slot(b) - slot(reference) }
        let latentSlot = 7 * a.rowStride + 8 + 2  // row 7, second chunk of four, lane 2 (a weight)
        let want = (expected { $0.latent[latentSlot] }, expected { $0.latent[latentSlot + 4] },
                    expected { $0.linear[2 * 8] }, expected { $0.linear[2 * 1 + 1] }, expected { $0.bias[0] }, expected { $0.bias[1] })
        union.withUnsafeBufferPointer { u in
            a.addSums(sum, rows: u.baseAddress!, count: 3, base: baseA)
            b.addSums(sum, rows: u.baseAddress!, count: 3, base: baseB)
        }
        #expect(abs(a.latent[latentSlot] - want.0) < 1e-6)
        #expect(abs(a.latent[latentSlot + 4] - want.1) < 1e-6)
        #expect(abs(a.linear[2 * 8] - want.2) < 1e-6)
        #expect(abs(a.linear[2 * 1 + 1] - want.3) < 1e-6)
        #expect(abs(a.bias[0] - want.4) < 1e-6)
        #expect(abs(a.bias[1] - want.5) < 1e-6)
        // Row 7, changed by both: both changes applied (1 + 0.25·3 + 0.5·3 for lane 2 of chunk 2: i = 10, i % 5 + 1 = 1).
        #expect(abs(a.latent[latentSlot] - (reference.latent[latentSlot] + 0.25 + 0.5)) < 1e-6)
        // Both ranks hold the same model and base; untouched rows are as they were.
        let floats = a.rowCount * a.rowStride
        #expect(Array(UnsafeBufferPointer(start: a.latent, count: floats)) == Array(UnsafeBufferPointer(start: b.latent, count: floats)))
        #expect(Array(UnsafeBufferPointer(start: baseA.latent, count: floats)) == Array(UnsafeBufferPointer(start: a.latent, count: floats)))
        #expect(Array(UnsafeBufferPointer(start: baseB.linear, count: 2 * a.rowCount)) == Array(UnsafeBufferPointer(start: a.linear, count: 2 * a.rowCount)))
        for r in [0, 2, 3, 4, 5, 6, 9] {
            #expect(Array(UnsafeBufferPointer(start: a.latent + r * a.rowStride, count: a.rowStride))
                == Array(UnsafeBufferPointer(start: reference.latent + r * a.rowStride, count: a.rowStride)), "row \(r)")
            #expect(a.linear[2 * r] == reference.linear[2 * r] && a.linear[2 * r + 1] == reference.linear[2 * r + 1])
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
        #expect(out == [1 << 3 | 1 << 5, 1 << 0, 1 << 1])
        // Taken: the threads' bitmaps start again empty.
        out.withUnsafeMutableBufferPointer { touched.take(into: $0.baseAddress!) }
        #expect(out == [0, 0, 0])
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
            FileManager.default.createFile(atPath: d + "/" + name, contents: Data())
        }
        try FileManager.default.createDirectory(atPath: d + "/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: d + "/sub/a.cache", contents: Data())
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
}
