import Foundation
import Testing
import LogIO
import TestSupport
@testable import Dataset

@Suite struct CacheVersionTests {
    func cache(in dir: URL, name: String, featurizerHash: UInt64) throws -> (String, [(Float, [Feature])]) {
        let rows = randomRows(count: 30, seed: 8)
        let path = dir.appendingPathComponent(name).path
        let writer = try CacheWriter(path: path, rowGroupRows: 7)
        for (label, features) in rows { try writer.append(label: label, features: features) }
        let info = try writer.finish(featurizerHash: featurizerHash)
        #expect(info.featurizerHash == featurizerHash)
        return (path, rows)
    }

    @Test func theFeaturizerHashRoundTripsInTheChecksummedFooter() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let (path, _) = try cache(in: dir, name: "a.cache", featurizerHash: 0x0123_4567_89AB_CDEF)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes[8] == 2 && bytes[bytes.count - 128 + 8] == 2)
        #expect(Array(bytes[(bytes.count - 16)..<(bytes.count - 8)]) == [0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01])
        let reader = try CacheReader(path: path)
        #expect(reader.info.featurizerHash == 0x0123_4567_89AB_CDEF)
        try reader.verify()
        // The hash is under the footer checksum: a flipped bit in it is a damaged file.
        var damaged = bytes
        damaged[bytes.count - 16] ^= 1
        let bad = dir.appendingPathComponent("bad.cache").path
        try Data(damaged).write(to: URL(fileURLWithPath: bad))
        #expect(throws: DatasetError.corruptCache(path: bad, detail: "no valid footer at the end of the file (truncated or damaged)")) {
            try CacheReader(path: bad)
        }
    }

    @Test func aVersion1CacheIsStillReadWithAnUnknownFeaturizer() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let (path, rows) = try cache(in: dir, name: "a.cache", featurizerHash: 77)
        let old = dir.appendingPathComponent("old.cache").path
        try TestSupport.downgradeCacheToVersion1(path, to: old)
        let reader = try CacheReader(path: old)
        #expect(reader.info.featurizerHash == 0)
        #expect(reader.info.rowCount == 30)
        try reader.verify()
        let mapped = try reader.map()
        for (i, row) in rows.enumerated() {
            #expect(mapped.row(i).label == row.0 && Array(mapped.row(i).features) == row.1)
        }
    }

    @Test func headerAndFooterMustAgreeOnTheVersion() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let (path, _) = try cache(in: dir, name: "a.cache", featurizerHash: 5)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[8] = 1
        let mixed = dir.appendingPathComponent("mixed.cache").path
        try Data(bytes).write(to: URL(fileURLWithPath: mixed))
        #expect(throws: DatasetError.corruptCache(path: mixed, detail: "the header says format version 1, the footer 2")) {
            try CacheReader(path: mixed)
        }
        bytes[8] = 3
        try Data(bytes).write(to: URL(fileURLWithPath: mixed))
        #expect(throws: DatasetError.unsupportedCacheVersion(path: mixed, found: 3, supported: 2)) { try CacheReader(path: mixed) }
        #expect(DatasetError.unsupportedCacheVersion(path: mixed, found: 3, supported: 2).description
                    .contains("this build reads versions 1 to 2"))
    }
}
