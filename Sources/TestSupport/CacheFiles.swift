import Dataset
import Foundation
import LogIO

extension TestSupport {
    /// Writes `rows` as a binary cache of an older format version (1: no featurizer hash;
    /// 2: 0/1 labels; 3: Float32 targets), features as 12-byte triples, exactly as those
    /// versions' writers did (docs/FORMATS.md, "Binary cache"), so tests can check that
    /// today's reader still reads them.
    public static func writeLegacyCache(_ rows: [(Float, [Feature])], version: UInt32, to path: String,
                                        rowGroupRows: Int = CacheFormat.defaultRowGroupRows, featurizerHash: UInt64 = 0) throws {
        precondition((1...3).contains(version), "legacy versions are 1, 2 and 3")
        let labelSize = version == 3 ? 4 : 1
        var out = [UInt8](repeating: 0, count: 64)
        func put<T: FixedWidthInteger>(_ v: T, at: Int, in bytes: inout [UInt8]) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
        }
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        for (i, b) in "CTRCACHE".utf8.enumerated() { out[i] = b }
        put(version, at: 8, in: &out)
        put(UInt32(64), at: 12, in: &out)
        put(UInt32(12), at: 16, in: &out)
        var offsets: [UInt64] = [0], labels: [UInt8] = []
        var maxField = -1, maxIndex = -1, positives = 0, most = 0
        for (label, features) in rows {
            for f in features {
                append(f.field)
                append(f.index)
                append(f.value.bitPattern)
                maxField = max(maxField, Int(f.field))
                maxIndex = max(maxIndex, Int(f.index))
            }
            offsets.append(offsets.last! + UInt64(features.count))
            if labelSize == 1 { labels.append(label == 1 ? 1 : 0) } else { withUnsafeBytes(of: label.bitPattern.littleEndian) { labels += $0 } }
            if label > 0 { positives += 1 }
            most = max(most, features.count)
        }
        let featuresEnd = out.count
        let labelsAt = out.count
        out += labels
        while out.count % 8 != 0 { out.append(0) }
        let offsetsAt = out.count
        for o in offsets { append(o) }
        let groupsAt = out.count
        var table: [UInt64] = []
        var start = 0
        while start < rows.count {
            let end = min(start + rowGroupRows, rows.count)
            var h = XXHash64()
            out.withUnsafeBytes { b in
                h.update(UnsafeRawBufferPointer(rebasing: b[(64 + 12 * Int(offsets[start]))..<(64 + 12 * Int(offsets[end]))]))
                h.update(UnsafeRawBufferPointer(rebasing: b[(labelsAt + labelSize * start)..<(labelsAt + labelSize * end)]))
                h.update(UnsafeRawBufferPointer(rebasing: b[(offsetsAt + 8 * start)..<(offsetsAt + 8 * end)]))
            }
            table += [offsets[start], h.digest()]
            start = end
        }
        for v in table { append(v) }
        let tableHash = table.withUnsafeBytes { XXHash64.hash($0) }
        var footer = [UInt8](repeating: 0, count: 128)
        for (i, b) in "CTRCFOOT".utf8.enumerated() { footer[i] = b }
        put(version, at: 8, in: &footer)
        let values: [UInt64] = [UInt64(rows.count), offsets.last!, UInt64(maxField + 1), UInt64(maxIndex + 1), UInt64(positives),
                                UInt64(most), UInt64(rowGroupRows), 64, UInt64(labelsAt), UInt64(offsetsAt), UInt64(groupsAt), tableHash]
        for (i, v) in values.enumerated() { put(v, at: 16 + 8 * i, in: &footer) }
        put(version >= 2 ? featurizerHash : 0, at: 112, in: &footer)
        put(footer[..<120].withUnsafeBytes { XXHash64.hash($0) }, at: 120, in: &footer)
        _ = featuresEnd
        try Data(out + footer).write(to: URL(fileURLWithPath: path))
    }

    /// Rewrites the cache at `path` as format version 1 wrote it (the same rows and row
    /// groups; no featurizer hash).
    public static func downgradeCacheToVersion1(_ path: String, to out: String) throws {
        let reader = try CacheReader(path: path)
        let mapped = try reader.map()
        let rows = (0..<reader.info.rowCount).map { (mapped.row($0).label, Array(mapped.row($0).features)) }
        try writeLegacyCache(rows, version: 1, to: out, rowGroupRows: reader.info.rowGroupRows)
    }
}
