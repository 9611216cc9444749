import CVarint
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
        #expect(bytes[8] == 4 && bytes[bytes.count - 128 + 8] == 4)
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
        let rows = randomRows(count: 30, seed: 8)
        let path = dir.appendingPathComponent("v2.cache").path
        try TestSupport.writeLegacyCache(rows, version: 2, to: path, rowGroupRows: 7, featurizerHash: 5)
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
        // A version 4 header on 12-byte features: the header's feature size says it is not compact.
        bytes[8] = 4
        try Data(bytes).write(to: URL(fileURLWithPath: mixed))
        #expect(throws: DatasetError.corruptCache(path: mixed, detail: "header feature size (bytes 16-19) is 12; expected 0 for format version 4")) {
            try CacheReader(path: mixed)
        }
        bytes[8] = 5
        try Data(bytes).write(to: URL(fileURLWithPath: mixed))
        #expect(throws: DatasetError.unsupportedCacheVersion(path: mixed, found: 5, supported: 4)) { try CacheReader(path: mixed) }
        #expect(DatasetError.unsupportedCacheVersion(path: mixed, found: 5, supported: 4).description
                    .contains("this build reads versions 1 to 4"))
    }

    /// Caches of every older version read as the same rows as today's.
    @Test(arguments: [UInt32(1), 2, 3])
    func olderVersionsReadTheSameRows(version: UInt32) throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        var rows = randomRows(count: 50, seed: 10)
        if version == 3 { for i in rows.indices { rows[i].0 = Float(i) * 0.5 - 3 } }
        let old = dir.appendingPathComponent("old.cache").path
        try TestSupport.writeLegacyCache(rows, version: version, to: old, rowGroupRows: 7, featurizerHash: 99)
        let reader = try CacheReader(path: old)
        #expect(!reader.info.compact && reader.info.realLabels == (version == 3))
        #expect(reader.info.featurizerHash == (version == 1 ? 0 : 99))
        let mapped = try reader.map()
        for (i, row) in rows.enumerated() {
            #expect(mapped.row(i).label == row.0 && Array(mapped.row(i).features) == row.1)
        }
        let stream = CacheBlockStream(reader: reader, order: reader.blocks(targetBytes: 100))
        var seen = 0
        while let block = try stream.next() {
            for r in 0..<block.rowCount { #expect(Array(block.row(r).features) == rows[block.firstRow + r].1) }
            seen += block.rowCount
        }
        #expect(seen == 50)
    }

    @Test func realLabelsAreKeptAsFloat32() throws {
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
        #expect(bytes[8] == 4 && bytes[bytes.count - 128 + 8] == 4 && bytes[20] == 4)
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

/// The row encoding of format version 4 (CompactRows).
@Suite struct CompactRowsTests {
    func roundTrip(_ features: [Feature]) throws -> (bytes: [UInt8], back: [Feature]) {
        var bytes: [UInt8] = []
        features.withUnsafeBufferPointer { CompactRows.encode($0, into: &bytes) }
        var out = [Feature](repeating: Feature(field: 9, index: 9, value: 9), count: features.count + 1)
        let n = try bytes.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try CompactRows.decode(b, into: $0.baseAddress!, limit: features.count) } }
        return (bytes, Array(out[..<n]))
    }

    /// The bytes of a row with explicit fields, a value other than 1 and a negative index
    /// difference, worked out by hand from the format (docs/FORMATS.md): the pointer
    /// encoder of #18 writes what the array encoder wrote.
    @Test func bytesOfAMixedRowByHand() throws {
        let row = [Feature(field: 2, index: 300, value: 1), Feature(field: 0, index: 5, value: 0.5)]
        let (bytes, back) = try roundTrip(row)
        // flags 0; count 2; fields 2, 0; zigzag(300) = 600 = D8 04; zigzag(-295) = 589 = CD 04;
        // bitmap 0b10; 0.5 as Float32 little-endian.
        #expect(bytes == [0x00, 0x02, 0x02, 0x00, 0xD8, 0x04, 0xCD, 0x04, 0x02, 0x00, 0x00, 0x00, 0x3F])
        #expect(back == row)
        #expect(try roundTrip([]).bytes == [0x03, 0x00])
    }

    /// The index deltas of swiftctr_put_index_deltas, at every level this processor has (BMI2's
    /// PDEP and the portable loop), against putVarint's zigzag varints: random rows with
    /// indices small, large and at the extremes, and buffers too small for the 8-byte stores.
    @Test(arguments: Array(0...swiftctr_varint_level())) func indexDeltasArePutVarintsBytes(level: Int32) {
        #expect(MemoryLayout<swiftctr_feature>.stride == MemoryLayout<Feature>.stride)
        #expect(MemoryLayout<Feature>.offset(of: \Feature.index) == 4)
        var random = SplitMix64(seed: 64 + UInt64(level))
        for iteration in 0..<20_000 {
            let count = random.next(below: 60)
            let row: [Feature] = (0..<count).map { f in
                let index: UInt32
                switch random.next(below: 5) {
                case 0: index = UInt32(truncatingIfNeeded: random.next())
                case 1: index = UInt32(random.next(below: 300))
                case 2: index = UInt32.max - UInt32(random.next(below: 3))
                case 3: index = UInt32(random.next(below: 1 << 21))
                default: index = UInt32(f * 50_000 + random.next(below: 50_000))
                }
                return Feature(field: UInt32(f), index: index, value: 1)
            }
            var expected: [UInt8] = []
            var previous: Int64 = 0
            var scratch = [UInt8](repeating: 0, count: 10)
            for feature in row {
                let delta = Int64(feature.index) - previous
                previous = Int64(feature.index)
                let n = scratch.withUnsafeMutableBufferPointer { CompactRows.putVarint(UInt64(bitPattern: (delta << 1) ^ (delta >> 63)), $0.baseAddress!) }
                expected += scratch[..<n]
            }
            // Exactly 5 bytes a feature (no room for the last 8-byte stores) or plenty, and a
            // sentinel after the room given.
            let capacity = iteration % 3 == 0 ? 5 * count : 5 * count + 8 + random.next(below: 20)
            var out = [UInt8](repeating: 0xEE, count: capacity + 16)
            let n = row.withUnsafeBufferPointer { fs in
                out.withUnsafeMutableBufferPointer { o in
                    fs.withMemoryRebound(to: swiftctr_feature.self) {
                        swiftctr_put_index_deltas_at(level, $0.baseAddress, count, o.baseAddress!, capacity)
                    }
                }
            }
            #expect(Array(out[..<n]) == expected, "row \(row.map(\.index))")
            #expect(out[capacity...].allSatisfy { $0 == 0xEE })
        }
    }

    @Test func maxBytesBoundsTheWorstRow() {
        // Fields and indices at the extremes, no value 1: every varint at its longest.
        let row = (0..<33).map { i in
            Feature(field: i % 2 == 0 ? .max : 0, index: i % 2 == 0 ? .max : 0, value: -0.25)
        }
        var bytes: [UInt8] = []
        row.withUnsafeBufferPointer { CompactRows.encode($0, into: &bytes) }
        #expect(bytes.count <= CompactRows.maxBytes(count: row.count))
        // flags, count, fields (17 of 5 bytes, 16 of 1), 33 index differences of ±(2^32 - 1)
        // (5 bytes each), bitmap, values.
        #expect(bytes.count == 1 + 1 + (17 * 5 + 16) + 33 * 5 + 5 + 33 * 4)
    }

    @Test func oneFeaturePerFieldWithValuesOfOneIsSmall() throws {
        // 39 fields, each in its own index range of 50,000, as ctr-hash writes them.
        let row: [Feature] = (0..<39).map { (f: Int) -> Feature in
            let index: Int = f * 50_000 + (f * 7919) % 50_000
            return Feature(field: UInt32(f), index: UInt32(index), value: 1)
        }
        let (bytes, back) = try roundTrip(row)
        #expect(back == row)
        #expect(bytes[0] == 3)   // implicit fields, all values 1
        #expect(bytes.count <= 2 + 39 * 3)   // against 39 × 12 = 468 bytes before
    }

    @Test func everyShapeRoundTrips() throws {
        var rng = SplitMix64(seed: 4)
        for _ in 0..<500 {
            let count = Int(rng.next() % 20)
            let row = (0..<count).map { _ in
                Feature(field: UInt32(rng.next() % 5 == 0 ? rng.next() % UInt64(UInt32.max) : rng.next() % 40),
                        index: UInt32(truncatingIfNeeded: rng.next() % 3 == 0 ? rng.next() : rng.next() % 1000),
                        value: rng.next() % 2 == 0 ? 1 : Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7f7f_ffff))
            }
            #expect(try roundTrip(row).back == row)
        }
        #expect(try roundTrip([]).back == [])
        // Several features of one field with weights (splines): fields explicit, values stored.
        let spline = [Feature(field: 0, index: 3, value: 1), Feature(field: 1, index: 10, value: 0.25), Feature(field: 1, index: 11, value: 0.75)]
        let (bytes, back) = try roundTrip(spline)
        #expect(back == spline && bytes[0] == 0)
    }

    @Test func badBytesAreErrorsNotCrashes() throws {
        var out = [Feature](repeating: Feature(field: 0, index: 0, value: 0), count: 8)
        func decode(_ bytes: [UInt8], limit: Int = 8) throws -> Int {
            try bytes.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try CompactRows.decode(b, into: $0.baseAddress!, limit: limit) } }
        }
        #expect(throws: CompactRows.DecodeError.truncated) { try decode([]) }
        #expect(throws: CompactRows.DecodeError.badFlags(4)) { try decode([4, 0]) }
        #expect(throws: CompactRows.DecodeError.tooManyFeatures(count: 9, limit: 8)) { try decode([3, 9]) }
        #expect(throws: CompactRows.DecodeError.truncated) { try decode([3, 2, 4]) }
        #expect(throws: CompactRows.DecodeError.trailingBytes(1)) { try decode([3, 1, 4, 0]) }
        #expect(throws: CompactRows.DecodeError.indexOutOfRange(-1)) { try decode([3, 1, 1]) }
        #expect(throws: CompactRows.DecodeError.badVarint) { try decode([3, 1] + [UInt8](repeating: 0xff, count: 10) + [1]) }
        // Values: the bitmap says feature 0 has a stored value, but the bytes end.
        #expect(throws: CompactRows.DecodeError.truncated) { try decode([1, 1, 2, 1, 0, 0]) }
        // Bits beyond the count in the bitmap.
        #expect(throws: CompactRows.DecodeError.badFlags(2)) { try decode([1, 1, 2, 2]) }
        // Random bytes never trap.
        var rng = SplitMix64(seed: 11)
        for _ in 0..<20_000 {
            let bytes = (0..<Int(rng.next() % 24)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 7 == 0 ? rng.next() : rng.next() % 4) }
            _ = try? decode(bytes)
        }
    }

    /// The compact cache is several times smaller than the 12-byte features it replaces.
    @Test func compactCacheIsSmallerAndReadsTheSameRows() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let rows: [(Float, [Feature])] = (0..<2000).map { (r: Int) -> (Float, [Feature]) in
            let features: [Feature] = (0..<39).map { (f: Int) -> Feature in
                let index: Int = f * 20_000 + (r * 31 + f * 17) % 20_000
                return Feature(field: UInt32(f), index: UInt32(index), value: 1)
            }
            return (r % 3 == 0 ? 1 : 0, features)
        }
        let new = dir.appendingPathComponent("new.cache").path, old = dir.appendingPathComponent("old.cache").path
        let writer = try CacheWriter(path: new, rowGroupRows: 300)
        for row in rows { try writer.append(label: row.0, features: row.1) }
        try writer.finish()
        try TestSupport.writeLegacyCache(rows, version: 2, to: old, rowGroupRows: 300)
        let newSize = try FileManager.default.attributesOfItem(atPath: new)[.size] as! Int
        let oldSize = try FileManager.default.attributesOfItem(atPath: old)[.size] as! Int
        #expect(oldSize / 2000 == 477)
        #expect(newSize * 3 < oldSize)
        let a = try CacheReader(path: new).map(), b = try CacheReader(path: old).map()
        for i in [0, 1, 999, 1999] { #expect(a.row(i).label == b.row(i).label && Array(a.row(i).features) == Array(b.row(i).features)) }
    }
}
