#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import LogIO

/// Opens a binary cache: checks its header, footer and group table, then reads it in blocks
/// of row groups (bounded memory, for data larger than RAM) or maps it whole.
///
/// Every block read is checked against its row groups' checksums and bounds (offsets in
/// order, labels 0/1 or finite targets, fields and indices below the footer's counts), so a damaged file is
/// an error, never a crash or silently wrong training data.
public final class CacheReader: @unchecked Sendable {
    public let path: String
    public let info: CacheInfo
    let fd: Int32
    let fileSize: Int
    /// Per group: first feature and checksum.
    let groupFirstFeature: [UInt64]
    let groupChecksum: [UInt64]

    public init(path: String) throws {
        self.path = path
        let path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        self.fd = fd
        do {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw LogIOError.readFailed(path: path, errno: errno) }
            let fileSize = Int(st.st_size)
            self.fileSize = fileSize
            let minimum = CacheFormat.headerSize + CacheFormat.footerSize
            var header = [UInt8](repeating: 0, count: CacheFormat.headerSize)
            let got = try header.withUnsafeMutableBytes { try CacheReader.readFully(fd, path, $0, at: 0, allowShort: true) }
            guard got >= 8, header.withUnsafeBytes({ memcmp($0.baseAddress!, CacheFormat.headerMagic.utf8Start, 8) == 0 }) else {
                throw DatasetError.notACache(path: path, detail: "the file does not start with \"CTRCACHE\"")
            }
            let version = header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
            guard version >= CacheFormat.oldestReadableVersion && version <= CacheFormat.newestReadableVersion else {
                throw DatasetError.unsupportedCacheVersion(path: path, found: version, supported: CacheFormat.newestReadableVersion)
            }
            guard fileSize >= minimum else {
                throw DatasetError.corruptCache(path: path, detail: "\(fileSize) bytes is shorter than header and footer (\(minimum) bytes); truncated?")
            }
            let featureSize = header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self)) }
            let headerLabelSize = header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 20, as: UInt32.self)) }
            let compact = version >= CacheFormat.compactVersion
            let expectedFeatureSize = compact ? 0 : UInt32(CacheFormat.featureSize)
            guard featureSize == expectedFeatureSize else {
                throw DatasetError.corruptCache(path: path, detail: "header feature size (bytes 16-19) is \(featureSize); "
                    + "expected \(expectedFeatureSize) for format version \(version)")
            }
            guard !compact || headerLabelSize == 1 || headerLabelSize == 4 else {
                throw DatasetError.corruptCache(path: path, detail: "header label size (bytes 20-23) is \(headerLabelSize); expected 1 or 4")
            }
            var footer = [UInt8](repeating: 0, count: CacheFormat.footerSize)
            _ = try footer.withUnsafeMutableBytes { try CacheReader.readFully(fd, path, $0, at: fileSize - CacheFormat.footerSize) }
            let footerOK = footer.withUnsafeBytes { f -> Bool in
                memcmp(f.baseAddress!, CacheFormat.footerMagic.utf8Start, 8) == 0
                    && XXHash64.hash(UnsafeRawBufferPointer(rebasing: f[..<120]))
                        == UInt64(littleEndian: f.loadUnaligned(fromByteOffset: 120, as: UInt64.self))
            }
            guard footerOK else {
                throw DatasetError.corruptCache(path: path, detail: "no valid footer at the end of the file (truncated or damaged)")
            }
            let footerVersion = footer.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
            guard footerVersion == version else {
                throw DatasetError.corruptCache(path: path, detail: "the header says format version \(version), the footer \(footerVersion)")
            }
            let v = footer.withUnsafeBytes { f in (0..<12).map { UInt64(littleEndian: f.loadUnaligned(fromByteOffset: 16 + 8 * $0, as: UInt64.self)) } }
            // Sizes must be sane before any arithmetic on them.
            let limit = UInt64(Int.max / 32)
            guard v[0...6].allSatisfy({ $0 < limit }), v[6] > 0, v[2] <= UInt64(UInt32.max) + 1, v[3] <= UInt64(UInt32.max) + 1 else {
                throw DatasetError.corruptCache(path: path, detail: "implausible counts in the footer")
            }
            var info = CacheInfo(rowCount: Int(v[0]), featureCount: Int(v[1]), fieldCount: Int(v[2]), indexCount: Int(v[3]),
                                 positives: Int(v[4]), maxRowFeatures: Int(v[5]), rowGroupRows: Int(v[6]))
            // Version 1 has zero at footer byte 112: the featurizer is unknown.
            if version >= 2 {
                info.featurizerHash = footer.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 112, as: UInt64.self)) }
            }
            if compact {
                info.compact = true
                info.labelSize = Int(headerLabelSize)
                // The features section runs from the header to the labels.
                guard v[8] >= UInt64(CacheFormat.headerSize) else {
                    throw DatasetError.corruptCache(path: path, detail: "the footer puts the labels at byte \(v[8]), inside the header")
                }
                info.dataBytes = Int(v[8]) - CacheFormat.headerSize
            } else {
                if version >= CacheFormat.realLabelVersion { info.labelSize = 4 }
                info.dataBytes = CacheFormat.featureSize * info.featureCount
            }
            let layout = info.layout
            guard layout.fileSize == fileSize, UInt64(layout.features) == v[7], UInt64(layout.labels) == v[8],
                  UInt64(layout.offsets) == v[9], UInt64(layout.groups) == v[10] else {
                throw DatasetError.corruptCache(path: path, detail: "the footer describes a \(layout.fileSize)-byte file, "
                    + "the file has \(fileSize) bytes")
            }
            var table = [UInt64](repeating: 0, count: 2 * info.groupCount)
            _ = try table.withUnsafeMutableBytes { try CacheReader.readFully(fd, path, $0, at: layout.groups) }
            guard table.withUnsafeBytes({ XXHash64.hash($0) }) == v[11] else {
                throw DatasetError.checksumMismatch(path: path, section: "the row group table")
            }
            groupFirstFeature = stride(from: 0, to: table.count, by: 2).map { UInt64(littleEndian: table[$0]) }
            groupChecksum = stride(from: 1, to: table.count, by: 2).map { UInt64(littleEndian: table[$0]) }
            var previous: UInt64 = 0
            for first in groupFirstFeature {
                guard first >= previous, first <= UInt64(info.compact ? info.dataBytes : info.featureCount) else {
                    throw DatasetError.corruptCache(path: path, detail: "row group table out of order")
                }
                previous = first
            }
            self.info = info
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Reads exactly `buffer.count` bytes at `offset` (fewer only with `allowShort`).
    @discardableResult
    static func readFully(_ fd: Int32, _ path: String, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int,
                          allowShort: Bool = false) throws -> Int {
        let done = try FileIO.readFully(fd, buffer, at: Int64(offset), path: path)
        if done < buffer.count && !allowShort {
            throw DatasetError.corruptCache(path: path, detail: "the file ends at byte \(offset + done), "
                + "expected \(buffer.count - done) more bytes (truncated?)")
        }
        return done
    }

    /// Rows of group `g`.
    public func rows(ofGroup g: Int) -> Range<Int> {
        let start = g * info.rowGroupRows
        return start..<min(start + info.rowGroupRows, info.rowCount)
    }

    /// Consecutive groups cut into blocks of about `targetBytes` of features each, as read
    /// into memory (at least one group per block).
    public func blocks(targetBytes: Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0
        let g = info.groupCount
        // Bytes in memory per unit of the group table: a feature (versions 1-3), or a byte
        // of encoded rows (version 4), which decodes to featureCount × 12 / dataBytes.
        let perUnit = info.compact ? Double(info.featureCount * CacheFormat.featureSize) / Double(max(info.dataBytes, 1))
            : Double(CacheFormat.featureSize)
        while start < g {
            var end = start + 1
            let base = groupFirstFeature[start]
            while end < g && Double(groupFirstFeature[end] - base) * perUnit < Double(targetBytes) { end += 1 }
            result.append(start..<end)
            start = end
        }
        return result
    }

    /// Reads row groups `groups` into `block`, checking checksums and bounds.
    public func read(groups: Range<Int>, into block: CacheBlock) throws {
        precondition(groups.lowerBound >= 0 && groups.upperBound <= info.groupCount, "group range out of bounds")
        if info.compact { return try readCompact(groups: groups, into: block) }
        let size = CacheFormat.featureSize
        let (firstRow, rowCount, firstFeature, endFeature) = try readGroups(groups, into: block, unitSize: size, units: info.featureCount) {
            block.reserve(rows: 0, features: $0)
            return UnsafeMutableRawPointer(block.features)
        }
        try CacheReader.validate(path: path, info: info, firstRow: firstRow, rowCount: rowCount, labels: block.labels,
                                 offsets: block.offsets, features: block.features, firstFeature: firstFeature)
        for i in 0...rowCount { block.offsets[i] -= firstFeature }
        block.firstRow = firstRow
        block.rowCount = rowCount
        block.featureCount = Int(endFeature - firstFeature)
    }

    /// What `read` and `readCompact` share: reads the offsets and labels of `groups` into
    /// `block`, then the groups' data, `unitSize` bytes per unit of the offsets (a feature in
    /// versions 1-3, a byte of encoded rows in version 4), into the buffer `destination`
    /// returns for that many units, and checks every group's checksum over its data, labels
    /// and offsets. Offsets are checked before any arithmetic on them (they are not yet
    /// checksummed, and a damaged one may lie outside the block).
    /// - Returns: the first row, the rows, and the offsets of the data's first and end unit.
    private func readGroups(_ groups: Range<Int>, into block: CacheBlock, unitSize: Int, units: Int,
                            destination: (Int) -> UnsafeMutableRawPointer) throws -> (Int, Int, UInt64, UInt64) {
        let layout = info.layout
        let firstRow = groups.isEmpty ? 0 : rows(ofGroup: groups.lowerBound).lowerBound
        let endRow = groups.isEmpty ? 0 : rows(ofGroup: groups.upperBound - 1).upperBound
        let rowCount = endRow - firstRow
        block.reserve(rows: rowCount, features: 0)
        try CacheReader.readFully(fd, path, UnsafeMutableRawBufferPointer(start: block.offsets, count: 8 * (rowCount + 1)),
                                  at: layout.offsets + 8 * firstRow)
        let labelSize = info.labelSize
        block.labelSize = labelSize
        try CacheReader.readFully(fd, path, UnsafeMutableRawBufferPointer(start: block.labels, count: labelSize * rowCount),
                                  at: layout.labels + labelSize * firstRow)
        let first = rowCount > 0 ? block.offsets[0] : 0
        let end = rowCount > 0 ? block.offsets[rowCount] : 0
        guard rowCount == 0 || (first == groupFirstFeature[groups.lowerBound] && end >= first && end <= UInt64(units)) else {
            throw DatasetError.corruptCache(path: path, detail: "row offsets of rows \(firstRow)..<\(endRow) disagree with the group table")
        }
        let count = Int(end - first)
        let data = destination(count)
        try CacheReader.readFully(fd, path, UnsafeMutableRawBufferPointer(start: data, count: count * unitSize),
                                  at: layout.features + unitSize * Int(first))
        for g in groups {
            let r = rows(ofGroup: g)
            let lo = block.offsets[r.lowerBound - firstRow], hi = block.offsets[r.upperBound - firstRow]
            guard first <= lo, lo <= hi, hi <= end else {
                throw DatasetError.corruptCache(path: path, detail: "row offsets out of order in row group \(g)")
            }
            var h = XXHash64()
            h.update(UnsafeRawBufferPointer(start: data + unitSize * Int(lo - first), count: unitSize * Int(hi - lo)))
            h.update(UnsafeRawBufferPointer(start: block.labels + labelSize * (r.lowerBound - firstRow), count: labelSize * r.count))
            h.update(UnsafeRawBufferPointer(start: block.offsets + (r.lowerBound - firstRow), count: 8 * r.count))
            guard h.digest() == groupChecksum[g] else {
                throw DatasetError.checksumMismatch(path: path, section: "row group \(g) (rows \(r.lowerBound)..<\(r.upperBound))")
            }
        }
        return (firstRow, rowCount, first, end)
    }

    /// `read` for format version 4: the groups' encoded rows are read and checksummed as
    /// bytes, then decoded into the block's features (offsets become feature offsets).
    func readCompact(groups: Range<Int>, into block: CacheBlock) throws {
        var raw = UnsafeMutableRawPointer(block.features)
        let (firstRow, rowCount, firstByte, endByte) = try readGroups(groups, into: block, unitSize: 1, units: info.dataBytes) {
            raw = block.reserveRaw($0)
            return raw
        }
        let byteCount = Int(endByte - firstByte)
        // Every feature takes at least one byte (its index), so the bytes bound the features.
        let (most, overflow) = info.maxRowFeatures.multipliedReportingOverflow(by: rowCount)
        block.reserve(rows: rowCount, features: min(byteCount, overflow ? byteCount : most, info.featureCount))
        var featureCount = 0
        var previous = firstByte
        for i in 0..<rowCount {
            let lo = block.offsets[i], hi = block.offsets[i + 1]
            guard previous <= lo, lo <= hi, hi <= endByte else {
                throw DatasetError.corruptCache(path: path, detail: "row \(firstRow + i): offsets out of order")
            }
            let room = min(info.maxRowFeatures, block.featureCapacity - featureCount)
            do {
                let n = try CompactRows.decode(UnsafeRawBufferPointer(start: raw + Int(lo - firstByte), count: Int(hi - lo)),
                                               into: block.features + featureCount, limit: room)
                block.offsets[i] = UInt64(featureCount)
                featureCount += n
            } catch let e as CompactRows.DecodeError {
                throw DatasetError.corruptCache(path: path, detail: "row \(firstRow + i): bad encoded row (\(e))")
            }
            previous = hi
        }
        block.offsets[rowCount] = UInt64(featureCount)
        try CacheReader.validate(path: path, info: info, firstRow: firstRow, rowCount: rowCount, labels: block.labels,
                                 offsets: block.offsets, features: block.features, firstFeature: 0)
        block.firstRow = firstRow
        block.rowCount = rowCount
        block.featureCount = featureCount
    }

    /// Offsets non-decreasing, labels 0/1 (real targets: finite), features within the footer's field and index counts.
    static func validate(path: String, info: CacheInfo, firstRow: Int, rowCount: Int, labels: UnsafeMutablePointer<UInt8>,
                         offsets: UnsafePointer<UInt64>, features: UnsafePointer<Feature>, firstFeature: UInt64) throws {
        var bad = -1
        if info.realLabels {
            let targets = UnsafeRawPointer(labels)
            for i in 0..<rowCount where offsets[i] > offsets[i + 1]
                || !Float(bitPattern: UInt32(littleEndian: targets.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))).isFinite {
                bad = i
                break
            }
        } else {
            for i in 0..<rowCount where offsets[i] > offsets[i + 1] || labels[i] > 1 {
                bad = i
                break
            }
        }
        if bad >= 0 {
            throw DatasetError.corruptCache(path: path, detail: "row \(firstRow + bad): offsets out of order or label not "
                + (info.realLabels ? "a finite number" : "0/1"))
        }
        let count = Int(offsets[rowCount] - firstFeature)
        let m = UInt32(truncatingIfNeeded: info.fieldCount), n = UInt32(truncatingIfNeeded: info.indexCount)
        let fieldLimitOK = info.fieldCount <= Int(UInt32.max), indexLimitOK = info.indexCount <= Int(UInt32.max)
        var outOfRange = false
        for j in 0..<count {
            let f = features[j]
            outOfRange = outOfRange || (fieldLimitOK && f.field >= m) || (indexLimitOK && f.index >= n) || !f.value.isFinite
        }
        if outOfRange {
            throw DatasetError.corruptCache(path: path, detail: "a feature in rows \(firstRow)..<\(firstRow + rowCount) "
                + "is beyond the footer's field/index counts or not finite")
        }
    }

    /// Every row's label in file order (0/1, or the targets of a real-target cache); the
    /// label section is covered by the row groups' checksums, which `read` checks.
    public func allLabels() throws -> [Float] {
        let n = info.rowCount, size = info.labelSize
        var bytes = [UInt8](repeating: 0, count: n * size)
        try bytes.withUnsafeMutableBytes { _ = try CacheReader.readFully(fd, path, $0, at: info.layout.labels) }
        return bytes.withUnsafeBytes { b in
            (0..<n).map { i in
                size == 1 ? Float(b[i]) : Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
    }

    /// Smallest, largest and mean label, and the first row (0-based) whose label is not 0
    /// or 1 (nil when all are): one pass over the labels section (checked by `read` later).
    public func labelSummary() throws -> (min: Float, max: Float, mean: Double, firstNonBinary: Int?) {
        let n = info.rowCount, size = info.labelSize
        var lo = Float.infinity, hi = -Float.infinity, sum: Double = 0
        var nonBinary: Int?
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk * size)
        var row = 0
        while row < n {
            let count = min(chunk, n - row)
            try buffer.withUnsafeMutableBytes {
                _ = try CacheReader.readFully(fd, path, UnsafeMutableRawBufferPointer(rebasing: $0[..<(count * size)]),
                                              at: info.layout.labels + size * row)
            }
            buffer.withUnsafeBytes { b in
                for i in 0..<count {
                    let y = size == 1 ? Float(b[i])
                        : Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    lo = min(lo, y)
                    hi = max(hi, y)
                    sum += Double(y)
                    if nonBinary == nil && y != 0 && y != 1 { nonBinary = row + i }
                }
            }
            row += count
        }
        return (lo, hi, n > 0 ? sum / Double(n) : 0, nonBinary)
    }

    /// Reads every group once and checks it (what `map()` does with `verify: true`).
    public func verify() throws {
        let block = CacheBlock()
        for range in blocks(targetBytes: 16 << 20) { try read(groups: range, into: block) }
    }

    /// Maps the whole file read-only. With `verify`, checks every group first (one pass).
    public func map(verify: Bool = true) throws -> MappedCache {
        if verify { try self.verify() }
        return try MappedCache(reader: self)
    }
}

/// Reusable buffers holding consecutive rows read from a cache.
public final class CacheBlock {
    /// First row's number in the file, and rows in the block.
    public internal(set) var firstRow = 0
    public internal(set) var rowCount = 0
    public internal(set) var featureCount = 0
    /// `labelSize` bytes per row: UInt8 0/1, or Float32 targets (real-target caches).
    @usableFromInline var labels: UnsafeMutablePointer<UInt8>
    @usableFromInline var labelSize = 1
    /// Row i's features are features[offsets[i] ..< offsets[i+1]] (relative to the block).
    @usableFromInline var offsets: UnsafeMutablePointer<UInt64>
    @usableFromInline var features: UnsafeMutablePointer<Feature>
    private var rowCapacity = 0
    private(set) var featureCapacity = 0
    /// Encoded rows of a version 4 cache, before decoding.
    private var raw: UnsafeMutableRawPointer
    private var rawCapacity = 0

    public init() {
        labels = .allocate(capacity: 1)
        offsets = .allocate(capacity: 1)
        features = .allocate(capacity: 1)
        raw = .allocate(byteCount: 1, alignment: 8)
    }

    deinit {
        labels.deallocate()
        offsets.deallocate()
        features.deallocate()
        raw.deallocate()
    }

    /// A buffer of at least `bytes` bytes for encoded rows.
    func reserveRaw(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > rawCapacity {
            raw.deallocate()
            rawCapacity = max(bytes, rawCapacity + rawCapacity / 2)
            raw = .allocate(byteCount: rawCapacity, alignment: 8)
        }
        return raw
    }

    func reserve(rows: Int, features count: Int) {
        if rows > rowCapacity {
            labels.deallocate()
            offsets.deallocate()
            rowCapacity = max(rows, rowCapacity * 2)
            labels = .allocate(capacity: 4 * rowCapacity)
            offsets = .allocate(capacity: rowCapacity + 1)
        }
        if count > featureCapacity {
            features.deallocate()
            featureCapacity = max(count, featureCapacity + featureCapacity / 2)
            features = .allocate(capacity: featureCapacity)
        }
    }

    /// Row `i` of the block (0-based within the block).
    @inlinable @inline(__always)
    public func row(_ i: Int) -> Row {
        let lo = Int(offsets[i]), hi = Int(offsets[i + 1])
        return Row(label: label(i), features: UnsafeBufferPointer(start: features + lo, count: hi - lo))
    }

    /// Label of row `i` of the block (0/1, or the target of a real-target cache).
    @inlinable @inline(__always)
    public func label(_ i: Int) -> Float {
        labelSize == 1 ? Float(labels[i])
            : Float(bitPattern: UInt32(littleEndian: UnsafeRawPointer(labels).loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
    }

    /// Where row `i`'s offsets and label are, to prefetch them well before `row(i)` (rows
    /// visited in shuffled order are where no hardware prefetcher looks).
    @inlinable @inline(__always)
    public func rowAddresses(_ i: Int) -> (offsets: UnsafeRawPointer, label: UnsafeRawPointer) {
        (UnsafeRawPointer(offsets + i), UnsafeRawPointer(labels + labelSize * i))
    }

    /// The labels' bytes, `labelSize` a row: UInt8 0/1, or Float32 targets.
    public var labelBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: labels, count: labelSize * rowCount) }

    /// Bytes per label (1: UInt8 0/1; 4: Float32 targets).
    public var labelWidth: Int { labelSize }

    /// Refills the block with `rowCount` one-hot rows of `width` features each, as a
    /// consumer kept them (the trainer between epochs): feature j of row i has field j,
    /// value 1 and index `indices[i * width + j]`; `labels` holds `labelWidth` bytes a row.
    public func fill(firstRow: Int, rowCount: Int, width: Int, indices: UnsafePointer<UInt32>,
                     labels: UnsafeRawBufferPointer, labelWidth: Int) {
        precondition(width >= 0 && labels.count == rowCount * labelWidth && (labelWidth == 1 || labelWidth == 4))
        reserve(rows: rowCount, features: rowCount * width)
        labelSize = labelWidth
        if let source = labels.baseAddress { UnsafeMutableRawPointer(self.labels).copyMemory(from: source, byteCount: labels.count) }
        var k = 0
        for i in 0..<rowCount {
            offsets[i] = UInt64(k)
            for j in 0..<width {
                features[k] = Feature(field: UInt32(truncatingIfNeeded: j), index: indices[k], value: 1)
                k += 1
            }
        }
        offsets[rowCount] = UInt64(k)
        self.firstRow = firstRow
        self.rowCount = rowCount
        featureCount = k
    }

    /// All features of the block, rows back to back.
    public var allFeatures: UnsafeBufferPointer<Feature> { UnsafeBufferPointer(start: features, count: featureCount) }

    /// The same features, writable: a consumer may rewrite them in place (e.g. map indices
    /// to its own row numbers) before use; the next read into the block overwrites them.
    public var mutableFeatures: UnsafeMutableBufferPointer<Feature> {
        UnsafeMutableBufferPointer(start: features, count: featureCount)
    }
}

/// A whole cache mapped read-only (the OS pages it in and out as needed).
public final class MappedCache: @unchecked Sendable {
    public let info: CacheInfo
    public let path: String
    private let base: UnsafeMutableRawPointer
    private let size: Int
    /// Labels (0/1; in a real-target cache `4 × rowCount` bytes of Float32 targets: use
    /// `label(_:)`), row offsets (rowCount + 1 entries) and features, straight from the file;
    /// valid only while this object is alive (keep a reference while using them).
    public let labels: UnsafeBufferPointer<UInt8>
    public let offsets: UnsafeBufferPointer<UInt64>
    public let features: UnsafeBufferPointer<Feature>

    /// A version 4 cache, decoded whole (its rows are encoded, so they cannot be mapped).
    private let decoded: CacheBlock?

    init(reader: CacheReader) throws {
        info = reader.info
        path = reader.path
        if info.compact {
            let block = CacheBlock()
            try reader.read(groups: 0..<info.groupCount, into: block)
            decoded = block
            size = 0
            base = UnsafeMutableRawPointer(block.features)
            labels = UnsafeBufferPointer(start: block.labels, count: info.labelSize * info.rowCount)
            offsets = UnsafeBufferPointer(start: block.offsets, count: info.rowCount + 1)
            features = UnsafeBufferPointer(start: block.features, count: block.featureCount)
            return
        }
        decoded = nil
        size = reader.fileSize
        guard let p = mmap(nil, size, PROT_READ, MAP_SHARED, reader.fd, 0), p != MAP_FAILED else {
            throw LogIOError.readFailed(path: reader.path, errno: errno)
        }
        base = p
        let layout = info.layout
        labels = UnsafeBufferPointer(start: (base + layout.labels).assumingMemoryBound(to: UInt8.self), count: info.labelSize * info.rowCount)
        offsets = UnsafeBufferPointer(start: (base + layout.offsets).assumingMemoryBound(to: UInt64.self), count: info.rowCount + 1)
        features = UnsafeBufferPointer(start: (base + layout.features).assumingMemoryBound(to: Feature.self), count: info.featureCount)
    }

    deinit { if decoded == nil { munmap(base, size) } }

    /// Row `i` of the file.
    @inline(__always)
    public func row(_ i: Int) -> Row {
        let lo = Int(offsets[i]), hi = Int(offsets[i + 1])
        return Row(label: label(i), features: UnsafeBufferPointer(rebasing: features[lo..<hi]))
    }

    /// Label of row `i`: 0/1, or the target of a real-target cache.
    @inline(__always)
    public func label(_ i: Int) -> Float {
        info.labelSize == 1 ? Float(labels[i])
            : Float(bitPattern: UInt32(littleEndian: UnsafeRawPointer(labels.baseAddress!).loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
    }
}

/// Delivers blocks of a cache in a given order, reading the next block on a background
/// thread while the caller works on the current one (two blocks in memory at most, unless
/// the caller keeps them: `keep`).
public final class CacheBlockStream {
    private final class Shared: @unchecked Sendable {
        let condition = NSCondition()
        let order: [(reader: CacheReader, groups: Range<Int>)]
        let transform: (@Sendable (CacheBlock) -> Void)?
        var free: [CacheBlock] = [CacheBlock(), CacheBlock()]
        var filled: [CacheBlock] = []
        var failure: Error?
        var done = false
        var stop = false

        init(order: [(reader: CacheReader, groups: Range<Int>)], transform: (@Sendable (CacheBlock) -> Void)?) {
            self.order = order
            self.transform = transform
        }

        func produce() {
            for (reader, range) in order {
                condition.lock()
                while free.isEmpty && !stop { condition.wait() }
                if stop { condition.unlock(); return }
                let block = free.removeLast()
                condition.unlock()
                var error: Error?
                do {
                    try reader.read(groups: range, into: block)
                    transform?(block)
                } catch let e { error = e }
                condition.lock()
                if let error {
                    failure = error
                    done = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                filled.append(block)
                condition.broadcast()
                condition.unlock()
            }
            condition.lock()
            done = true
            condition.broadcast()
            condition.unlock()
        }
    }

    private let shared: Shared
    private var current: CacheBlock?
    private let keep: Bool

    /// - Parameters:
    ///   - order: ranges of row groups (e.g. `reader.blocks(targetBytes:)`, shuffled), delivered in this order.
    ///   - transform: runs on the background thread on each block after it is read (and checked).
    public convenience init(reader: CacheReader, order: [Range<Int>], transform: (@Sendable (CacheBlock) -> Void)? = nil) {
        self.init(order: order.map { (reader, $0) }, transform: transform)
    }

    /// Blocks of several caches (e.g. shards of one data set), in the given order.
    /// - Parameter keep: every block handed out stays the caller's (a new one is read into
    ///   for the next), so the caller may keep all of them; otherwise a block is reused
    ///   after the next call to `next()`.
    public init(order: [(reader: CacheReader, groups: Range<Int>)], transform: (@Sendable (CacheBlock) -> Void)? = nil,
                keep: Bool = false) {
        self.keep = keep
        shared = Shared(order: order, transform: transform)
        let shared = self.shared
        Thread { shared.produce() }.start()
    }

    deinit {
        shared.condition.lock()
        shared.stop = true
        shared.condition.broadcast()
        shared.condition.unlock()
    }

    /// The next block (valid until the next call), or nil after the last.
    public func next() throws -> CacheBlock? {
        let s = shared
        s.condition.lock()
        defer { s.condition.unlock() }
        if let block = current {
            s.free.append(keep ? CacheBlock() : block)
            current = nil
            s.condition.broadcast()
        }
        while s.filled.isEmpty && !s.done { s.condition.wait() }
        if !s.filled.isEmpty {
            current = s.filled.removeFirst()
            return current
        }
        if let failure = s.failure { throw failure }
        return nil
    }
}
