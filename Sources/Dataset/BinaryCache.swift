#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LogIO

#if _endian(big)
#error("The binary cache is little-endian; big-endian hosts are not supported")
#endif

/// Layout constants of the SwiftCTR binary training cache (docs/FORMATS.md, "Binary cache").
///
/// ```
/// header   64 bytes   "CTRCACHE", version, header size, feature size (0: compact), label size, reserved
/// features D bytes    version 4: each row compactly encoded (``CompactRows``); versions 1-3:
///                     12 × F, Feature (field UInt32, index UInt32, value Float32), rows back to back
/// labels   1 × R      UInt8 0/1 (label size 4: Float32 targets), then zero bytes up to a multiple of 8
/// offsets  8 × (R+1)  UInt64: row r is bytes (v4; features in v1-3) [offsets[r], offsets[r+1])
/// groups   16 × G     per row group: its first offset (UInt64), XXH64 of the group (UInt64)
/// footer   128 bytes  counts, section offsets, featurizer hash, checksums, "CTRCFOOT"
/// ```
public enum CacheFormat {
    /// Version 2 records the featurizer hash in the footer; version 1 (readable) has zero there.
    /// Version 3 is version 2 with Float32 labels (real-valued regression targets, written
    /// by a writer made with `realLabels`); classification caches stay version 2.
    /// Version 4 (what writers write) encodes rows compactly (``CompactRows``), for 0/1
    /// labels and real targets alike (the label size is in the header).
    public static let version: UInt32 = 4
    public static let realLabelVersion: UInt32 = 3
    public static let compactVersion: UInt32 = 4
    public static let oldestReadableVersion: UInt32 = 1
    public static let newestReadableVersion: UInt32 = 4
    public static let headerSize = 64
    public static let footerSize = 128
    public static let headerMagic: StaticString = "CTRCACHE"
    public static let footerMagic: StaticString = "CTRCFOOT"
    public static let defaultRowGroupRows = 4096
    static let featureSize = MemoryLayout<Feature>.stride
}

/// What a cache holds, from its footer.
public struct CacheInfo: Equatable, Sendable {
    public var rowCount: Int
    public var featureCount: Int
    /// Largest field + 1 (0 when there are no features): the `m` of an FFM.
    public var fieldCount: Int
    /// Largest index + 1 (0 when there are no features): the `n` of an FFM.
    public var indexCount: Int
    public var positives: Int
    /// Most features in one row.
    public var maxRowFeatures: Int
    /// Rows per checksummed row group (the last group may be shorter).
    public var rowGroupRows: Int
    /// XXH64 of the featurizer.json the rows were made with (ctr-hash), 0 when unknown
    /// (libffm conversions, version 1 caches).
    public var featurizerHash: UInt64 = 0
    /// Bytes per label: 1 (UInt8 0/1, versions 1 and 2) or 4 (Float32 targets: version 3, or version 4 with label size 4).
    public var labelSize = 1
    /// Labels are real-valued targets (format version 3, or 4 with label size 4).
    public var realLabels: Bool { labelSize == 4 }
    /// Rows are compactly encoded (format version 4): offsets are byte offsets of rows.
    public var compact = false
    /// Bytes of the features section: 12 per feature (versions 1-3), the encoded rows (version 4).
    public var dataBytes = 0
    public var groupCount: Int { rowGroupRows == 0 ? 0 : (rowCount + rowGroupRows - 1) / rowGroupRows }

    public init(rowCount: Int = 0, featureCount: Int = 0, fieldCount: Int = 0, indexCount: Int = 0,
                positives: Int = 0, maxRowFeatures: Int = 0, rowGroupRows: Int = CacheFormat.defaultRowGroupRows) {
        self.rowCount = rowCount
        self.featureCount = featureCount
        self.fieldCount = fieldCount
        self.indexCount = indexCount
        self.positives = positives
        self.maxRowFeatures = maxRowFeatures
        self.rowGroupRows = rowGroupRows
    }

    /// Byte offsets of the sections for these counts.
    struct Layout {
        let features: Int, labels: Int, offsets: Int, groups: Int, footer: Int, fileSize: Int
    }

    var layout: Layout {
        let features = CacheFormat.headerSize
        let labels = features + (compact ? dataBytes : CacheFormat.featureSize * featureCount)
        let offsets = (labels + labelSize * rowCount + 7) & ~7
        let groups = offsets + 8 * (rowCount + 1)
        let footer = groups + 16 * groupCount
        return Layout(features: features, labels: labels, offsets: offsets, groups: groups, footer: footer,
                      fileSize: footer + CacheFormat.footerSize)
    }
}

// MARK: - Writing

/// An unlinked scratch file: rows' labels and offsets wait here until the features are
/// all written, so a writer's memory does not grow with the number of rows.
final class SpillFile {
    private let fd: Int32
    private let name: String
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    private(set) var size = 0

    init(beside path: String, tag: String) throws {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        name = "\(dir).\(base).\(tag)-\(getpid())"
        fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: name, errno: errno) }
        unlink(name)
        buffer = .allocate(byteCount: 1 << 20, alignment: 64)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        if used + bytes.count > buffer.count { try flush() }
        if bytes.count > buffer.count {
            try writeAll(bytes)
        } else {
            (buffer.baseAddress! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            used += bytes.count
        }
        size += bytes.count
    }

    private func flush() throws {
        guard used > 0 else { return }
        try writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<used]))
        used = 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        try FileIO.writeAll(fd, bytes, path: name)
    }

    /// Copies the whole content to `out`.
    func copy(to out: AtomicFileWriter) throws {
        try flush()
        try out.append(fileDescriptor: fd, path: name, from: 0, to: Int64(size))
    }
}

/// Writes a binary cache one row at a time, atomically (the file appears on `finish()`,
/// or on the commit of the `CommitGroup` it was given).
///
/// Memory stays bounded whatever the number of rows: features stream to the file, labels
/// and row offsets to unlinked scratch files beside it, one checksum per row group is kept.
///
/// ```swift
/// let writer = try CacheWriter(path: "train.cache")
/// try writer.append(label: 1, features: row)
/// let info = try writer.finish()
/// ```
public final class CacheWriter {
    public let path: String
    private let out: AtomicFileWriter
    private let labelSpill: SpillFile
    private let offsetSpill: SpillFile
    private let rowGroupRows: Int
    // The state `append` updates per row: private, never accessed while another access is
    // open, so without the runtime's exclusivity checks (four calls a row otherwise).
    @exclusivity(unchecked) private var info: CacheInfo
    @exclusivity(unchecked) private var maxField: Int64 = -1
    @exclusivity(unchecked) private var maxIndex: Int64 = -1
    @exclusivity(unchecked) private var groupHash = XXHash64()
    @exclusivity(unchecked) private var groupLabels: [UInt8] = []   // labelSize bytes per row
    private let labelSize: Int
    @exclusivity(unchecked) private var groupOffsets: [UInt64] = []   // byte offsets of the group's rows
    @exclusivity(unchecked) private var groupTable: [UInt64] = []   // (first byte offset, checksum) pairs
    /// The row being appended, encoded (`CompactRows.maxBytes` of its features).
    @exclusivity(unchecked) private var encoded = UnsafeMutablePointer<UInt8>.allocate(capacity: 1024)
    @exclusivity(unchecked) private var encodedCapacity = 1024
    private var finished = false

    /// - Parameters:
    ///   - group: the stage's commit point (`finish()` then leaves the rename to it).
    ///   - realLabels: labels are real-valued targets (any finite Float), stored as Float32
    ///     (label size 4); without, labels must be 0 or 1 (label size 1).
    public init(path: String, rowGroupRows: Int = CacheFormat.defaultRowGroupRows, group: CommitGroup? = nil,
                realLabels: Bool = false) throws {
        precondition(rowGroupRows > 0, "rowGroupRows must be positive")
        self.path = path
        self.rowGroupRows = rowGroupRows
        labelSize = realLabels ? 4 : 1
        info = CacheInfo(rowGroupRows: rowGroupRows)
        info.labelSize = labelSize
        info.compact = true
        let version = CacheFormat.version
        out = try AtomicFileWriter(path: path, group: group)
        labelSpill = try SpillFile(beside: path, tag: "labels")
        offsetSpill = try SpillFile(beside: path, tag: "offsets")
        groupLabels.reserveCapacity(rowGroupRows * labelSize)
        groupOffsets.reserveCapacity(rowGroupRows)
        var header = [UInt8](repeating: 0, count: CacheFormat.headerSize)
        header.withUnsafeMutableBytes { h in
            h.copyMemory(from: UnsafeRawBufferPointer(start: CacheFormat.headerMagic.utf8Start, count: 8))
            h.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
            h.storeBytes(of: UInt32(CacheFormat.headerSize).littleEndian, toByteOffset: 12, as: UInt32.self)
            // Feature size 0: rows are compactly encoded; then the label size.
            h.storeBytes(of: UInt32(labelSize).littleEndian, toByteOffset: 20, as: UInt32.self)
        }
        try header.withUnsafeBytes { try out.write($0) }
    }

    deinit { encoded.deallocate() }

    /// Rows appended so far.
    public var rowCount: Int { info.rowCount }

    /// Appends one row; `label` must be 0 or 1 (with `realLabels`: finite).
    public func append(label: Float, features: UnsafeBufferPointer<Feature>) throws {
        if labelSize == 1 {
            guard label == 0 || label == 1 else { throw DatasetError.invalidLabel(path: path, row: info.rowCount + 1, label: label) }
        } else {
            guard label.isFinite else { throw DatasetError.invalidTarget(path: path, row: info.rowCount + 1, label: label) }
        }
        precondition(!finished, "CacheWriter.append after finish")
        if groupOffsets.isEmpty { groupTable.append(UInt64(info.dataBytes)) }
        if labelSize == 1 {
            groupLabels.append(label == 1 ? 1 : 0)
        } else {
            withUnsafeBytes(of: label.bitPattern.littleEndian) { groupLabels.append(contentsOf: $0) }
        }
        groupOffsets.append(UInt64(info.dataBytes))
        let bound = CompactRows.maxBytes(count: features.count)
        if bound > encodedCapacity {
            encoded.deallocate()
            encodedCapacity = max(bound, 2 * encodedCapacity)
            encoded = .allocate(capacity: encodedCapacity)
        }
        let bytes = UnsafeRawBufferPointer(start: encoded, count: CompactRows.encode(features, to: encoded))
        try out.write(bytes)
        groupHash.update(bytes)
        info.dataBytes += bytes.count
        if features.count > 0 {
            var mf = maxField, mi = maxIndex
            for f in features {
                if Int64(f.field) > mf { mf = Int64(f.field) }
                if Int64(f.index) > mi { mi = Int64(f.index) }
            }
            maxField = mf
            maxIndex = mi
        }
        info.rowCount += 1
        info.featureCount += features.count
        if label > 0 { info.positives += 1 }
        if features.count > info.maxRowFeatures { info.maxRowFeatures = features.count }
        if groupOffsets.count == rowGroupRows { try closeGroup() }
    }

    public func append(label: Float, features: [Feature]) throws {
        try features.withUnsafeBufferPointer { try append(label: label, features: $0) }
    }

    public func append(_ row: Row) throws { try append(label: row.label, features: row.features) }

    private func closeGroup() throws {
        guard !groupOffsets.isEmpty else { return }
        try groupLabels.withUnsafeBytes { b in
            groupHash.update(b)
            try labelSpill.append(b)
        }
        try groupOffsets.withUnsafeBytes { b in
            groupHash.update(b)
            try offsetSpill.append(b)
        }
        groupTable.append(groupHash.digest())
        groupHash = XXHash64()
        groupLabels.removeAll(keepingCapacity: true)
        groupOffsets.removeAll(keepingCapacity: true)
    }

    /// Writes labels, offsets, the group table and the footer, and renames the file into place.
    /// - Parameter featurizerHash: XXH64 of the featurizer.json the rows were made with, 0 if none.
    @discardableResult
    public func finish(featurizerHash: UInt64 = 0) throws -> CacheInfo {
        precondition(!finished, "CacheWriter.finish called twice")
        finished = true
        info.featurizerHash = featurizerHash
        try closeGroup()
        info.fieldCount = Int(maxField + 1)
        info.indexCount = Int(maxIndex + 1)
        try labelSpill.copy(to: out)
        let layout = info.layout
        let padding = layout.offsets - (layout.labels + labelSize * info.rowCount)
        if padding > 0 {
            let zeros = [UInt8](repeating: 0, count: padding)
            try zeros.withUnsafeBytes { try out.write($0) }
        }
        try offsetSpill.copy(to: out)
        var end = UInt64(info.dataBytes).littleEndian
        try withUnsafeBytes(of: &end) { try out.write($0) }
        let tableHash = groupTable.withUnsafeBytes { b -> UInt64 in
            XXHash64.hash(b)
        }
        try groupTable.withUnsafeBytes { try out.write($0) }
        var footer = [UInt8](repeating: 0, count: CacheFormat.footerSize)
        footer.withUnsafeMutableBytes { f in
            f.copyMemory(from: UnsafeRawBufferPointer(start: CacheFormat.footerMagic.utf8Start, count: 8))
            f.storeBytes(of: CacheFormat.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            let values: [UInt64] = [UInt64(info.rowCount), UInt64(info.featureCount), UInt64(info.fieldCount),
                                    UInt64(info.indexCount), UInt64(info.positives), UInt64(info.maxRowFeatures),
                                    UInt64(info.rowGroupRows), UInt64(layout.features), UInt64(layout.labels),
                                    UInt64(layout.offsets), UInt64(layout.groups), tableHash]
            for (i, v) in values.enumerated() { f.storeBytes(of: v.littleEndian, toByteOffset: 16 + 8 * i, as: UInt64.self) }
            f.storeBytes(of: featurizerHash.littleEndian, toByteOffset: 112, as: UInt64.self)
            let check = XXHash64.hash(UnsafeRawBufferPointer(rebasing: f[..<120]))
            f.storeBytes(of: check.littleEndian, toByteOffset: 120, as: UInt64.self)
        }
        try footer.withUnsafeBytes { try out.write($0) }
        try out.commit()
        return info
    }

    /// Converts a libffm text file (plain or gzip) into a binary cache.
    /// - Parameter group: publish with the group's commit instead of at once.
    /// - Throws: `DatasetError` naming the file, line and token of the first malformed row.
    @discardableResult
    /// - Parameter realLabels: labels are regression targets (real-target cache).
    public static func convert(libffm input: String, to output: String, progress: ProgressMeter? = nil,
                               group: CommitGroup? = nil, realLabels: Bool = false) throws -> CacheInfo {
        let reader = try LibFFMReader(path: input, realLabels: realLabels)
        let writer = try CacheWriter(path: output, group: group, realLabels: realLabels)
        while let row = try reader.next() {
            try writer.append(row)
            progress?.update(rows: writer.rowCount, bytes: reader.fileBytesRead)
        }
        return try writer.finish()
    }
}
