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
        #expect(throws: DatasetError.corruptCache(path: mixed, detail: "the header says format version 3, the footer 2")) {
            try CacheReader(path: mixed)
        }
        bytes[8] = 4
        try Data(bytes).write(to: URL(fileURLWithPath: mixed))
        #expect(throws: DatasetError.unsupportedCacheVersion(path: mixed, found: 4, supported: 3)) { try CacheReader(path: mixed) }
        #expect(DatasetError.unsupportedCacheVersion(path: mixed, found: 4, supported: 3).description
                    .contains("this build reads versions 1 to 3"))
    }

    @Test func realLabelsAreKeptAsFloat32InAVersion3Cache() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let rows = randomRows(count: 30, seed: 9)
        let targets: [Float] = (0..<30).map { Float($0) * 0.37 - 4.5 }
        let path = dir.appendingPathComponent("real.cache").path
        let writer = try CacheWriter(path: path, rowGroupRows: 7, realLabels: true)
        for (i, row) in rows.enumerated() { try writer.append(label: targets[i], features: row.1) }
        #expect(throws: DatasetError.self) { try writer.append(label: .nan, features: []) }
        #expect(DatasetError.invalidTarget(path: path, row: 31, label: .infinity).description == "\(path): row 31: target inf is not a finite number")
        let info = try writer.finish()
        #expect(info.labelSize == 4 && info.realLabels)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes[8] == 3 && bytes[bytes.count - 128 + 8] == 3)
        let reader = try CacheReader(path: path)
        #expect(reader.info.realLabels && reader.info.rowCount == 30)
        try reader.verify()
        let mapped = try reader.map()
        for i in 0..<30 {
            #expect(mapped.row(i).label == targets[i] && Array(mapped.row(i).features) == rows[i].1)
        }
        let stream = CacheBlockStream(reader: reader, order: reader.blocks(targetBytes: 1))
        var seen: [Float] = []
        while let block = try stream.next() { for r in 0..<block.rowCount { seen.append(block.label(r)) } }
        #expect(seen == targets)
        let summary = try reader.labelSummary()
        #expect(summary.min == targets[0] && summary.max == targets[29] && summary.firstNonBinary == 0)
        #expect(abs(summary.mean - targets.map(Double.init).reduce(0, +) / 30) < 1e-9)
        // A binary cache: labels 0/1, no non-binary row.
        let (binary, _) = try cache(in: dir, name: "b.cache", featurizerHash: 0)
        #expect(try CacheReader(path: binary).labelSummary().firstNonBinary == nil)
    }

    @Test func libffmTextWithRealLabelsConverts() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let text = dir.appendingPathComponent("r.ffm").path
        try "3.5 0:1:1\n-1 1:2:1\n0.25 0:3:2\n".write(toFile: text, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("r.cache").path
        try CacheWriter.convert(libffm: text, to: out, realLabels: true)
        let mapped = try CacheReader(path: out).map()
        #expect((0..<3).map { mapped.row($0).label } == [3.5, -1, 0.25])
        // Without real labels the same file is a classification error naming the line.
        #expect(throws: DatasetError.badLabel(path: text, line: 1, token: "3.5")) {
            try CacheWriter.convert(libffm: text, to: out + "2")
        }
        for (bad, reason) in [("nan", "NaN or infinite"), ("inf", "NaN or infinite"), ("x3", "not a decimal number"),
                              ("1e39", "outside the 32-bit float range")] {
            let path = dir.appendingPathComponent("bad-\(bad).ffm").path
            try "1 0:1:1\n\(bad) 0:1:1\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: DatasetError.badTarget(path: path, line: 2, token: bad, reason: reason)) {
                try CacheWriter.convert(libffm: path, to: out + "3", realLabels: true)
            }
        }
    }
}
