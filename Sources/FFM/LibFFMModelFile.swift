#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import LogIO

/// libffm's own model file (`ffm-train`'s output, SSE build as its Makefile makes it, #16):
/// n, m, k (Int32), normalization (1 byte), then for each index j < n and field f < m the
/// vector w[j, f] as kAligned = ⌈k/4⌉·4 floats in chunks of 4 weights then their 4 AdaGrad
/// accumulators (Float32, little-endian): a SwiftCTR FFM latent row in its model file's
/// order (FFMModel converts), no bias or linear terms. ctr-predict, `ctr-eval --model` and `--init-model` read it (as an FFM model
/// without linear terms, every index present); `ctr-train --dump MODEL --format libffm -o FILE`
/// writes one for ffm-predict.
public enum LibFFMModelFile {
    static let headerSize = 13

    /// The model in `path` if its size is exactly what its 13-byte header describes; nil otherwise.
    static func load(fd: Int32, path: String, header: [UInt8], got: Int, fileSize: Int) throws -> (model: FFMModel, metadata: ModelMetadata)? {
        guard got >= headerSize else { return nil }
        func int32(_ at: Int) -> Int { Int(header.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: Int32.self)) }) }
        let n = int32(0), m = int32(4), k = int32(8), normalization = header[12]
        guard n >= 1, m >= 1, k >= 1, k <= Int(ModelFile.maxFactors), normalization <= 1 else { return nil }
        let kPad = (k + 3) / 4 * 4
        let (perIndex, o1) = (m * 2 * kPad * 4).multipliedReportingOverflow(by: 1)
        let (weights, o2) = perIndex.multipliedReportingOverflow(by: n)
        guard !o1, !o2, headerSize + weights == fileSize else { return nil }
        let indices = try SeenIndices(indexCount: n)
        for j in 0..<n { indices.insert(j) }
        indices.seal()
        let model = try FFMModel(kind: .ffm, fieldCount: m, factors: k, normalization: normalization == 1, linear: false, indices: indices)
        model.bias[0] = 0
        model.bias[1] = 1
        let piece = UnsafeMutablePointer<Float>.allocate(capacity: ModelFile.pieceRows(model) * model.fileRowStride)
        defer { piece.deallocate() }
        try ModelFile.forEachPiece(model) { start, count in
            let dest = UnsafeMutableRawBufferPointer(start: piece, count: count * model.fileRowStride * 4)
            try ModelFile.readFully(fd, path, dest, at: headerSize + start * model.fileRowStride * 4)
            model.latentRows(start, count, fromFileOrder: piece)
        }
        try ModelFile.checkFinite(model, path: path)
        return (model, ModelMetadata())
    }

    /// Writes an FFM model without linear terms as libffm's model file; indices without
    /// weights get zero vectors (they contribute nothing, as in SwiftCTR).
    /// - Throws: `FFMError.cannotExport` for other kinds, linear terms, or sizes beyond Int32.
    public static func save(_ model: FFMModel, to path: String) throws {
        guard model.kind == .ffm, !model.hasLinear else {
            throw FFMError.cannotExport(format: "libffm", detail: "a \(model.kind.rawValue) model\(model.hasLinear ? " with linear terms" : ""); "
                + "libffm's model is an FFM without bias or linear terms (train with --model ffm --no-linear)")
        }
        guard model.indexCount <= Int(Int32.max), model.fieldCount <= Int(Int32.max) else {
            throw FFMError.cannotExport(format: "libffm", detail: "n = \(model.indexCount), m = \(model.fieldCount); libffm's counts are 32-bit")
        }
        let out = try AtomicFileWriter(path: path, bufferSize: 4 << 20)
        var header = [UInt8](repeating: 0, count: headerSize)
        header.withUnsafeMutableBytes { h in
            h.storeBytes(of: Int32(model.indexCount).littleEndian, toByteOffset: 0, as: Int32.self)
            h.storeBytes(of: Int32(model.fieldCount).littleEndian, toByteOffset: 4, as: Int32.self)
            h.storeBytes(of: Int32(model.factors).littleEndian, toByteOffset: 8, as: Int32.self)
        }
        header[12] = model.normalization ? 1 : 0
        try header.withUnsafeBytes { try out.write($0) }
        var empty = [Float](repeating: 0, count: model.fileRowStride)
        for c in stride(from: 4, to: model.fileRowStride, by: 8) { for i in 0..<4 { empty[c + i] = 1 } }
        var next = 0
        func writeEmpty(upTo j: Int) throws {
            while next < j {
                try empty.withUnsafeBytes { try out.write($0) }
                next += 1
            }
        }
        var row = [Float](repeating: 0, count: model.fileRowStride)
        try model.indices.forEach { j, r in
            try writeEmpty(upTo: j)
            try row.withUnsafeMutableBufferPointer { buffer in
                model.latentRows(r, 1, inFileOrderInto: buffer.baseAddress!)
                try out.write(UnsafeRawBufferPointer(buffer))
            }
            next = j + 1
        }
        try writeEmpty(upTo: model.indexCount)
        try out.commit()
    }
}
