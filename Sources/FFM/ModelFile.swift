#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import LogIO

/// Facts about a model kept in its file beside the weights.
public struct ModelMetadata: Equatable, Sendable {
    public var eta: Double = 0
    public var lambda: Double = 0
    public var epochs = 0
    /// The epoch these weights are from (the best one with early stopping), 0 if unknown.
    public var bestEpoch = 0
    public var seed: UInt64 = 0
    /// XXH64 of the featurizer.json the training data was made with, 0 if none was given.
    public var featurizerHash: UInt64 = 0
    /// Validation log loss of these weights, NaN when there was no validation set.
    public var validationLogLoss = Double.nan
    /// Tagged sections after the weights (format version 2): what a model kind or a
    /// post-processing step keeps beyond the FFM layout, in file order, tags unique.
    public var sections: [ModelSection] = []

    public init() {}

    /// The payload of the section tagged `tag`, if the file has one.
    public func section(_ tag: String) -> [UInt8]? { sections.first { $0.tag == tag }?.bytes }

    public static func == (a: ModelMetadata, b: ModelMetadata) -> Bool {
        a.eta == b.eta && a.lambda == b.lambda && a.epochs == b.epochs && a.bestEpoch == b.bestEpoch && a.seed == b.seed
            && a.featurizerHash == b.featurizerHash
            && (a.validationLogLoss == b.validationLogLoss || (a.validationLogLoss.isNaN && b.validationLogLoss.isNaN))
            && a.sections == b.sections
    }
}

/// One tagged section of a model file (docs/FORMATS.md, "Model file"): a four-character
/// ASCII tag and its bytes. A reader refuses tags it does not know (a newer writer's
/// section may change what the weights mean), so every tag is listed in ``known``.
public struct ModelSection: Equatable, Sendable {
    public var tag: String
    public var bytes: [UInt8]

    /// Every tag this build reads.
    public static let known: Set<String> = [Calibrator.tag, RegressionInfo.tag, "DNN1"]

    public init(tag: String, bytes: [UInt8]) {
        precondition(tag.utf8.count == 4 && tag.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f }, "a section tag is 4 ASCII characters")
        self.tag = tag
        self.bytes = bytes
    }

    /// Bytes of a section's own header: tag, 4 zero bytes, payload length (UInt64).
    static let headerSize = 16
}

/// The model file (docs/FORMATS.md, "Model file"): a 128-byte header, the bitmap of
/// indices seen in training, their linear and latent weights with AdaGrad accumulators,
/// and an XXH64 trailer. Written atomically.
public enum ModelFile {
    public static let version: UInt32 = 2
    /// Versions this build reads: 1 (no sections) and 2.
    static let readableVersions: ClosedRange<UInt32> = 1...2
    static let headerSize = 128
    static let trailerSize = 16
    static let magic: StaticString = "CTRMODEL"
    static let endMagic: StaticString = "CTRMEND\0"
    /// The largest k a model file may have (ctr-train's -k allows 1...4096).
    static let maxFactors: UInt32 = 1 << 16

    /// Writes `model` to `path` (temporary name, then rename; with `group`, renamed by the group's commit).
    public static func save(_ model: FFMModel, metadata given: ModelMetadata, to path: String, group: CommitGroup? = nil) throws {
        var metadata = given
        if let net = model.network {  // DeepFM: the network in its own section
            metadata.sections.removeAll { $0.tag == DeepNet.sectionTag }
            metadata.sections.append(ModelSection(tag: DeepNet.sectionTag, bytes: net.sectionBytes()))
        }
        let out = try AtomicFileWriter(path: path, bufferSize: 4 << 20, group: group)
        var hash = XXHash64()
        func emit(_ bytes: UnsafeRawBufferPointer) throws {
            hash.update(bytes)
            try out.write(bytes)
        }
        let present = model.rowCount
        var header = [UInt8](repeating: 0, count: headerSize)
        header.withUnsafeMutableBytes { h in
            h.copyMemory(from: UnsafeRawBufferPointer(start: magic.utf8Start, count: 8))
            func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { h.storeBytes(of: v.littleEndian, toByteOffset: at, as: T.self) }
            put(version, 8)
            put(UInt32(headerSize), 12)
            put(model.kind.code, 16)
            put(UInt32((model.normalization ? 1 : 0) | (model.hasLinear ? 2 : 0)), 20)
            put(UInt64(model.indexCount), 24)
            put(UInt64(model.fieldCount), 32)
            put(UInt32(model.factors), 40)
            put(UInt32(model.kPad), 44)
            put(UInt64(model.weightFields), 48)
            put(UInt64(present), 56)
            put(metadata.eta.bitPattern, 64)
            put(metadata.lambda.bitPattern, 72)
            put(UInt32(metadata.epochs), 80)
            put(UInt32(metadata.bestEpoch), 84)
            put(metadata.seed, 88)
            put(metadata.featurizerHash, 96)
            put(model.bias[0].bitPattern, 104)
            put(model.bias[1].bitPattern, 108)
            put(metadata.validationLogLoss.bitPattern, 112)
            put(UInt64(sectionBytes(metadata.sections)), 120)
        }
        try header.withUnsafeBytes { try emit($0) }
        try emit(UnsafeRawBufferPointer(start: model.indices.bits, count: model.indices.words * 8))
        // The file keeps the linear pairs apart, then the latent rows in libffm's order (chunks
        // of 4 weights then their 4 accumulators).
        let piece = UnsafeMutablePointer<Float>.allocate(capacity: max(pieceRows(model) * model.fileRowStride, 2 * linearPieceRows))
        defer { piece.deallocate() }
        if model.hasLinear {
            try forEachLinearPiece(model) { start, count in
                model.linearPairs(start, count, into: piece)
                try emit(UnsafeRawBufferPointer(start: piece, count: count * 8))
            }
        }
        try forEachPiece(model) { start, count in
            model.latentRows(start, count, inFileOrderInto: piece)
            try emit(UnsafeRawBufferPointer(start: piece, count: count * model.fileRowStride * 4))
        }
        precondition(Set(metadata.sections.map(\.tag)).count == metadata.sections.count, "section tags are unique")
        for section in metadata.sections {
            var head = [UInt8](repeating: 0, count: ModelSection.headerSize)
            head.withUnsafeMutableBytes { h in
                Array(section.tag.utf8).withUnsafeBytes { h.copyMemory(from: $0) }
                h.storeBytes(of: UInt64(section.bytes.count).littleEndian, toByteOffset: 8, as: UInt64.self)
            }
            try head.withUnsafeBytes { try emit($0) }
            try section.bytes.withUnsafeBytes { try emit($0) }
        }
        var trailer = [UInt8](repeating: 0, count: trailerSize)
        trailer.withUnsafeMutableBytes { t in
            t.storeBytes(of: hash.digest().littleEndian, as: UInt64.self)
            (t.baseAddress! + 8).copyMemory(from: endMagic.utf8Start, byteCount: 8)
        }
        try trailer.withUnsafeBytes { try out.write($0) }
        try out.commit()
    }

    /// Bytes the sections take in the file, their own headers included.
    static func sectionBytes(_ sections: [ModelSection]) -> Int {
        sections.reduce(0) { $0 + ModelSection.headerSize + $1.bytes.count }
    }

    /// Parses `bytes`, the sections' part of the file (offset `at`), checking tags and lengths.
    static func parseSections(_ bytes: [UInt8], at start: Int, path: String, known: Set<String> = ModelSection.known) throws -> [ModelSection] {
        var sections: [ModelSection] = [], offset = 0
        while offset < bytes.count {
            func fail(_ detail: String) -> FFMError { .corruptModel(path: path, detail: "section at byte \(start + offset): " + detail) }
            guard bytes.count - offset >= ModelSection.headerSize else {
                throw fail("\(bytes.count - offset) bytes left; expected a 16-byte section header")
            }
            let tagBytes = Array(bytes[offset..<offset + 4])
            let length = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)) }
            let pad = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
            guard tagBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }), pad == 0 else {
                throw fail("tag bytes \(tagBytes) and padding \(pad); expected 4 ASCII characters and 4 zero bytes")
            }
            let tag = String(decoding: tagBytes, as: UTF8.self)
            guard known.contains(tag) else {
                let known = known.sorted().joined(separator: ", ")
                throw fail("tag '\(tag)' is not one this build reads (\(known.isEmpty ? "none" : known)); "
                    + "expected a model written by this or an older SwiftCTR")
            }
            guard !sections.contains(where: { $0.tag == tag }) else { throw fail("tag '\(tag)' appears twice; expected unique tags") }
            let left = UInt64(bytes.count - offset - ModelSection.headerSize)
            guard length <= left else { throw fail("'\(tag)' says \(length) bytes; \(left) are left before the trailer") }
            let from = offset + ModelSection.headerSize
            sections.append(ModelSection(tag: tag, bytes: Array(bytes[from..<from + Int(length)])))
            offset = from + Int(length)
        }
        return sections
    }

    /// Rows of a piece of `forEachPiece` (at most the model's rows).
    static func pieceRows(_ model: FFMModel) -> Int {
        model.fileRowStride > 0 ? min(max(1, (8 << 20) / (model.fileRowStride * 4)), max(model.rowCount, 1)) : 0
    }

    /// Rows of a piece of the linear block (8 MB of pairs).
    static let linearPieceRows = 1 << 20

    /// Calls `body(firstRow, rows)` over all latent rows in pieces of about 8 MB of the file.
    static func forEachPiece(_ model: FFMModel, _ body: (Int, Int) throws -> Void) rethrows {
        guard model.fileRowStride > 0 else { return }
        try forEachRange(model.rowCount, pieceRows(model), body)
    }

    /// Calls `body(firstRow, rows)` over all rows' linear pairs in pieces of 8 MB.
    static func forEachLinearPiece(_ model: FFMModel, _ body: (Int, Int) throws -> Void) rethrows {
        try forEachRange(model.rowCount, linearPieceRows, body)
    }

    private static func forEachRange(_ total: Int, _ piece: Int, _ body: (Int, Int) throws -> Void) rethrows {
        var start = 0
        while start < total {
            let count = min(piece, total - start)
            try body(start, count)
            start += count
        }
    }

    /// Reads a model file.
    /// - Throws: `FFMError.notAModel`, `.unsupportedModelVersion`, `.corruptModel` (truncated, checksum).
    public static func load(_ path: String) throws -> (model: FFMModel, metadata: ModelMetadata) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LogIOError.readFailed(path: path, errno: errno) }
        let fileSize = Int(st.st_size)
        var header = [UInt8](repeating: 0, count: headerSize)
        let got = try header.withUnsafeMutableBytes { try readFully(fd, path, $0, at: 0, allowShort: true) }
        guard got >= 8, header.withUnsafeBytes({ memcmp($0.baseAddress!, magic.utf8Start, 8) == 0 }) else {
            // #16: libffm's own model file (its size follows from its 13-byte header).
            if let libffm = try LibFFMModelFile.load(fd: fd, path: path, header: header, got: got, fileSize: fileSize) { return libffm }
            throw FFMError.notAModel(path: path)
        }
        func get<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            header.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
        }
        guard got >= 12 else { throw FFMError.corruptModel(path: path, detail: "the file ends inside the header (\(got) bytes)") }
        let version = get(8, UInt32.self)
        guard readableVersions.contains(version) else {
            throw FFMError.unsupportedModelVersion(path: path, found: version, supported: ModelFile.version)
        }
        guard got == headerSize else {
            throw FFMError.corruptModel(path: path, detail: "the file ends inside the header (\(got) of \(headerSize) bytes)")
        }
        let layout = try checkHeader(header, path: path, fileSize: fileSize)
        let kind = layout.kind, flags = layout.flags, n = layout.n, m = layout.m, k = layout.k
        let present = layout.present, words = layout.words
        let indices = try SeenIndices(indexCount: n)
        var hash = XXHash64()
        header.withUnsafeBytes { hash.update($0) }
        var offset = headerSize
        let bitmap = UnsafeMutableRawBufferPointer(start: indices.bits, count: words * 8)
        try readFully(fd, path, bitmap, at: offset)
        hash.update(UnsafeRawBufferPointer(bitmap))
        offset += words * 8
        if (n & 63) != 0 && words > 0 && indices.bits[words - 1] >> UInt64(n & 63) != 0 {
            throw FFMError.corruptModel(path: path, detail: "index bitmap has bits beyond n")
        }
        indices.seal()
        guard indices.count == present else {
            throw FFMError.corruptModel(path: path, detail: "index bitmap disagrees with the header's count")
        }
        let model = try FFMModel(kind: kind, fieldCount: m, factors: k,
                                 normalization: flags & 1 != 0, linear: flags & 2 != 0, indices: indices,
                                 degree: kind == .hofm ? Int(get(48, UInt64.self)) + 1 : 2)
        var metadata = ModelMetadata()
        metadata.eta = Double(bitPattern: get(64, UInt64.self))
        metadata.lambda = Double(bitPattern: get(72, UInt64.self))
        metadata.epochs = Int(get(80, UInt32.self))
        metadata.bestEpoch = Int(get(84, UInt32.self))
        metadata.seed = get(88, UInt64.self)
        metadata.featurizerHash = get(96, UInt64.self)
        metadata.validationLogLoss = Double(bitPattern: get(112, UInt64.self))
        model.bias[0] = Float(bitPattern: get(104, UInt32.self))
        model.bias[1] = Float(bitPattern: get(108, UInt32.self))

        let piece = UnsafeMutablePointer<Float>.allocate(capacity: max(pieceRows(model) * model.fileRowStride, 2 * linearPieceRows))
        defer { piece.deallocate() }
        if model.hasLinear {
            try forEachLinearPiece(model) { start, count in
                let dest = UnsafeMutableRawBufferPointer(start: piece, count: count * 8)
                try readFully(fd, path, dest, at: offset)
                hash.update(UnsafeRawBufferPointer(dest))
                offset += dest.count
                model.setLinearPairs(start, count, from: piece)
            }
        }
        try forEachPiece(model) { start, count in
            let dest = UnsafeMutableRawBufferPointer(start: piece, count: count * model.fileRowStride * 4)
            try readFully(fd, path, dest, at: offset)
            hash.update(UnsafeRawBufferPointer(dest))
            offset += dest.count
            model.latentRows(start, count, fromFileOrder: piece)
        }
        if layout.sectionBytes > 0 {
            var bytes = [UInt8](repeating: 0, count: layout.sectionBytes)
            _ = try bytes.withUnsafeMutableBytes { try readFully(fd, path, $0, at: offset) }
            bytes.withUnsafeBytes { hash.update($0) }
            metadata.sections = try parseSections(bytes, at: offset, path: path)
            _ = try metadata.regression(path: path)
            offset += bytes.count
        }
        var trailer = [UInt8](repeating: 0, count: trailerSize)
        _ = try trailer.withUnsafeMutableBytes { try readFully(fd, path, $0, at: offset) }
        let ok = trailer.withUnsafeBytes { t in
            UInt64(littleEndian: t.loadUnaligned(as: UInt64.self)) == hash.digest()
                && memcmp(t.baseAddress! + 8, endMagic.utf8Start, 8) == 0
        }
        guard ok else { throw FFMError.corruptModel(path: path, detail: "checksum mismatch (the file is damaged)") }
        try checkFinite(model, path: path)
        if kind == .deepfm {
            guard let bytes = metadata.section(DeepNet.sectionTag) else {
                throw FFMError.corruptModel(path: path, detail: "a deepfm model without its network (section DNN1)")
            }
            model.network = try DeepNet.read(bytes, fieldCount: m, factors: k, path: path)
            metadata.sections.removeAll { $0.tag == DeepNet.sectionTag }
        } else if metadata.section(DeepNet.sectionTag) != nil {
            throw FFMError.corruptModel(path: path, detail: "section DNN1 in a \(kind.rawValue) model; expected it only in deepfm models")
        }
        return (model, metadata)
    }

    /// The sizes a header describes, checked.
    struct HeaderLayout {
        let kind: ModelKind
        let flags: UInt32
        let n: Int, m: Int, k: Int, present: Int, words: Int
        /// Bytes of tagged sections after the weights (0 in version 1).
        let sectionBytes: Int
    }

    /// Checks every field of a header (version already checked) before anything is
    /// allocated: ranges, consistency between fields, and the file size the header implies,
    /// computed without overflow, against the real one.
    /// - Throws: `FFMError.corruptModel` naming the field, what it holds and what was expected.
    static func checkHeader(_ header: [UInt8], path: String, fileSize: Int) throws -> HeaderLayout {
        func get<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            header.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
        }
        func fail(_ detail: String) -> FFMError { .corruptModel(path: path, detail: "header " + detail) }
        let size = get(12, UInt32.self)
        guard size == UInt32(headerSize) else { throw fail("size (bytes 12-15) is \(size); expected \(headerSize)") }
        let code = get(16, UInt32.self)
        guard let kind = ModelKind(code: code) else {
            throw fail("model kind (bytes 16-19) is \(code); expected 0 (ffm), 1 (fm), 2 (lr), 3 (hofm) or 4 (deepfm)")
        }
        let flags = get(20, UInt32.self)
        guard flags & ~3 == 0, kind != .lr || flags & 2 != 0 else {
            throw fail("flags (bytes 20-23) are \(flags); expected bit 0 (normalization) and bit 1 (linear terms) only, "
                + "bit 1 set for lr")
        }
        // Indices and fields are UInt32 in features, so n and m are at most 2^32.
        let maxCount = UInt64(UInt32.max) + 1
        let n = get(24, UInt64.self), m = get(32, UInt64.self)
        guard n <= maxCount else { throw fail("index count n (bytes 24-31) is \(n); expected at most \(maxCount)") }
        guard m <= maxCount else { throw fail("field count m (bytes 32-39) is \(m); expected at most \(maxCount)") }
        let k = get(40, UInt32.self), kPad = get(44, UInt32.self)
        guard k >= 1 && k <= maxFactors else { throw fail("factor count k (bytes 40-43) is \(k); expected 1...\(maxFactors)") }
        guard kPad == (k + 3) & ~3 else {
            throw fail("padded factor count (bytes 44-47) is \(kPad); expected \((k + 3) & ~3) for k = \(k)")
        }
        let weightFields = get(48, UInt64.self)
        let expectedFields: UInt64 = kind == .ffm ? m : kind == .fm || kind == .deepfm ? 1 : 0
        if kind == .hofm {
            // One vector per order 2...degree, degree in 2...4.
            guard (1...3).contains(weightFields) else {
                throw fail("weight-field count (bytes 48-55) is \(weightFields); expected 1, 2 or 3 (degree - 1) for a hofm model")
            }
        } else if weightFields != expectedFields {
            throw fail("weight-field count (bytes 48-55) is \(weightFields); expected \(expectedFields) for a "
                + "\(kind.rawValue) model with m = \(m)")
        }
        let present = get(56, UInt64.self)
        guard present <= n else {
            throw fail("count of indices with weights (bytes 56-63) is \(present); expected at most n = \(n)")
        }
        for (at, name) in [(64, "eta (bytes 64-71)"), (72, "lambda (bytes 72-79)")] {
            let v = Double(bitPattern: get(at, UInt64.self))
            guard v.isFinite && v >= 0 else { throw fail("\(name) is \(v); expected a finite number >= 0") }
        }
        let epochs = get(80, UInt32.self), best = get(84, UInt32.self)
        guard best <= epochs else {
            throw fail("best epoch (bytes 84-87) is \(best); expected at most the \(epochs) epochs trained (bytes 80-83)")
        }
        let loss = Double(bitPattern: get(112, UInt64.self))
        guard loss.isNaN || (loss.isFinite && loss >= 0) else {
            throw fail("validation log loss (bytes 112-119) is \(loss); expected NaN (none) or a finite number >= 0")
        }
        // Version 1 has zeros here, version 2 the bytes of its sections.
        let sectionBytes = get(120, UInt64.self)
        guard sectionBytes <= UInt64(fileSize) else {
            throw fail("section bytes (bytes 120-127) are \(sectionBytes); the file has only \(fileSize) bytes")
        }
        // The file size the header implies, in UInt64 with overflow checks: n, m < 2^33, so
        // only the products can overflow.
        let words = (n + 63) / 64
        let linearBytes: UInt64 = flags & 2 != 0 || kind == .lr ? 8 : 0
        let (latentRow, o1) = weightFields.multipliedReportingOverflow(by: UInt64(kPad) * 8)
        let (rowBytes, o2) = latentRow.addingReportingOverflow(linearBytes)
        let (weights, o3) = rowBytes.multipliedReportingOverflow(by: present)
        let (body0, o4) = weights.addingReportingOverflow(UInt64(headerSize) + words * 8 + UInt64(trailerSize))
        let (body, o5) = body0.addingReportingOverflow(sectionBytes)
        guard !(o1 || o2 || o3 || o4 || o5) else {
            throw fail("describes more than 2^64 bytes of weights (n \(n), m \(m), k \(k), \(present) indices with weights)")
        }
        guard body == UInt64(fileSize) else {
            throw fail("describes a file of \(body) bytes (n \(n), m \(m), k \(k), \(present) indices with weights, "
                + "\(sectionBytes) bytes of sections); "
                + "the file has \(fileSize) bytes " + (UInt64(fileSize) < body ? "(truncated)" : "(trailing bytes)"))
        }
        return HeaderLayout(kind: kind, flags: flags, n: Int(n), m: Int(m), k: Int(k), present: Int(present), words: Int(words),
                            sectionBytes: Int(sectionBytes))
    }

    /// Weights and accumulators must be finite and accumulators positive.
    static func checkFinite(_ model: FFMModel, path: String) throws {
        var bad = !(model.bias[0].isFinite && model.bias[1] > 0 && model.bias[1].isFinite)
        if model.hasLinear {
            for r in 0..<model.rowCount {
                let w = model.linear(row: r)[0], g = model.linear(row: r)[model.accumulatorOffset]
                bad = bad || !w.isFinite || !(g > 0) || !g.isFinite
            }
        }
        let all = model.rowCount * model.rowStride
        var i = 0
        while i < all && !bad {
            bad = !model.latent[i].isFinite
            i += 1
        }
        if bad { throw FFMError.corruptModel(path: path, detail: "non-finite weights or accumulators") }
    }

    @discardableResult
    static func readFully(_ fd: Int32, _ path: String, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int,
                          allowShort: Bool = false) throws -> Int {
        let done = try FileIO.readFully(fd, buffer, at: Int64(offset), path: path)
        if done < buffer.count && !allowShort {
            throw FFMError.corruptModel(path: path, detail: "the file ends at byte \(offset + done) (truncated)")
        }
        return done
    }

    /// A readable text dump: `#` header lines, then one line per bias, linear weight and latent vector.
    public static func dump(_ model: FFMModel, metadata: ModelMetadata, write: (String) -> Void) {
        write("# SwiftCTR model, format version \(version)")
        write("# kind \(model.kind.rawValue)  n \(model.indexCount)  m \(model.fieldCount)  k \(model.factors)  "
            + "normalization \(model.normalization)  linear \(model.hasLinear)")
        write("# indices seen in training \(model.rowCount)")
        write("# eta \(metadata.eta)  lambda \(metadata.lambda)  epochs \(metadata.epochs)  best epoch \(metadata.bestEpoch)  "
            + "seed \(metadata.seed)  validation logloss \(metadata.validationLogLoss)")
        write("# featurizer hash " + (metadata.featurizerHash == 0 ? "none" : String(metadata.featurizerHash, radix: 16)))
        for section in metadata.sections { write("# section \(section.tag): \(section.bytes.count) bytes") }
        if let calibrator = try? Calibrator.from(metadata, path: "") { write("# calibrator " + calibrator.summary) }
        if let net = model.network {
            write("# network \(net.shapeDescription); \(net.step) Adam steps")
            for l in 0..<net.layerCount {
                write("# layer \(l + 1): \(net.widths[l]) → \(net.widths[l + 1])" + (l + 1 < net.layerCount ? ", ReLU" : ", output"))
            }
        }
        write("# lines: bias W | linear INDEX W | latent INDEX FIELD W1 ... Wk  (AdaGrad state not shown)")
        if model.hasLinear { write("bias \(model.bias[0])") }
        model.indices.forEach { j, r in
            if model.hasLinear { write("linear \(j) \(model.linear(row: r)[0])") }
            for f in 0..<model.weightFields {
                let v = model.latent + r * model.rowStride + f * model.fieldStride
                let column = model.kind == .fm || model.kind == .deepfm ? "*" : model.kind == .hofm ? "o\(f + 2)" : String(f)
                var line = "latent \(j) \(column)"
                for d in 0..<model.factors { line += " \(v[d])" }
                write(line)
            }
        }
    }
}
