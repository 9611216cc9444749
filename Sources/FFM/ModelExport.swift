import Foundation
import LogIO

/// Models that leave the tool (#16): a JSON dump of everything a model file holds but the
/// AdaGrad state, and an export of the weights as NumPy `.npy` arrays with a JSON layout
/// (docs/FORMATS.md, "Model export").
public enum ModelExport {
    /// The layout object: kind, sizes, hyperparameters, calibrator, and how a score is computed.
    static func layoutFields(_ model: FFMModel, metadata: ModelMetadata, path: String) throws -> [(String, String)] {
        let calibrator: String
        switch try Calibrator.from(metadata, path: path) {
        case nil: calibrator = "null"
        case let .platt(a, b)?: calibrator = "{\"method\": \"platt\", \"a\": \(number(a)), \"b\": \(number(b))}"
        case let .isotonic(x, y)?:
            calibrator = "{\"method\": \"isotonic\", \"x\": [\(x.map(number).joined(separator: ", "))], "
                + "\"y\": [\(y.map(number).joined(separator: ", "))]}"
        }
        return [
            ("format", "\"swiftctr-model\""),
            ("format_version", "1"),
            ("kind", "\"\(model.kind.rawValue)\""),
            ("n", "\(model.indexCount)"),
            ("m", "\(model.fieldCount)"),
            ("k", "\(model.factors)"),
            ("weight_fields", "\(model.weightFields)"),
            ("normalization", model.normalization ? "true" : "false"),
            ("linear", model.hasLinear ? "true" : "false"),
            ("rows", "\(model.rowCount)"),
            ("bias", model.hasLinear ? number(Double(model.bias[0])) : "0"),
            ("eta", number(metadata.eta)),
            ("lambda", number(metadata.lambda)),
            ("epochs", "\(metadata.epochs)"),
            ("best_epoch", "\(metadata.bestEpoch)"),
            ("seed", "\(metadata.seed)"),
            ("featurizer_hash", metadata.featurizerHash == 0 ? "null" : "\"\(hex(metadata.featurizerHash))\""),
            ("validation_logloss", metadata.validationLogLoss.isNaN ? "null" : number(metadata.validationLogLoss)),
            ("calibrator", calibrator),
        ]
    }

    static func number(_ d: Double) -> String { d.isFinite ? "\(d)" : "null" }

    static func object(_ fields: [(String, String)], indent: String = "  ") -> String {
        "{\n" + fields.map { "\(indent)\"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}"
    }

    /// `ctr-train --dump MODEL --format json`: the layout, then `weights`: one object per index
    /// with weights, `{"index": j, "linear": w, "latent": [[k floats] per weight field]}`
    /// (latent[f] is the vector for field f; FM has one, LR none). Written line by line.
    public static func json(_ model: FFMModel, metadata: ModelMetadata, path: String, write: (String) -> Void) throws {
        var fields = try layoutFields(model, metadata: metadata, path: path)
        fields.append(("weights", "["))
        var head = object(fields)
        head.removeLast(2)  // "\n}": the weights follow
        write(head)
        var first = true
        model.indices.forEach { j, r in
            var line = (first ? "    " : "    ,") + "{\"index\": \(j)"
            first = false
            if model.hasLinear { line += ", \"linear\": \(model.linear(row: r)[0])" }
            var vectors: [String] = []
            for f in 0..<model.weightFields {
                let v = model.latent + r * model.rowStride + f * model.fieldStride
                vectors.append("[" + (0..<model.factors).map { "\(v[$0])" }.joined(separator: ", ") + "]")
            }
            line += ", \"latent\": [" + vectors.joined(separator: ", ") + "]}"
            write(line)
        }
        write("  ]\n}")
    }

    /// `ctr-train --dump MODEL --format npy -o DIR`: `DIR/layout.json`, `DIR/indices.npy`
    /// (int64 [P], the indices with weights, increasing), `DIR/linear.npy` (float32 [P], with
    /// linear terms) and `DIR/latent.npy` (float32 [P, F, k], F weight fields); row r of each
    /// array belongs to `indices[r]`. All appear together (one commit).
    public static func writeNumPy(_ model: FFMModel, metadata: ModelMetadata, path: String, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = directory.hasSuffix("/") ? directory : directory + "/"
        let group = CommitGroup()
        let p = model.rowCount
        var indices: [Int64] = []
        indices.reserveCapacity(p)
        model.indices.forEach { j, _ in indices.append(Int64(j)) }
        try writeArray(dir + "indices.npy", descr: "<i8", shape: [p], group: group) { out in
            try indices.withUnsafeBytes { try out.write($0) }
        }
        var files = ["\"indices\": \"indices.npy\""]
        if model.hasLinear {
            try writeArray(dir + "linear.npy", descr: "<f4", shape: [p], group: group) { out in
                let w = (0..<p).map { model.linear(row: $0)[0] }
                try w.withUnsafeBytes { try out.write($0) }
            }
            files.append("\"linear\": \"linear.npy\"")
        }
        if model.weightFields > 0 {
            try writeArray(dir + "latent.npy", descr: "<f4", shape: [p, model.weightFields, model.factors], group: group) { out in
                var row = [Float](repeating: 0, count: model.weightFields * model.factors)
                for r in 0..<p {
                    for f in 0..<model.weightFields {
                        let v = model.latent + r * model.rowStride + f * model.fieldStride
                        for d in 0..<model.factors { row[f * model.factors + d] = v[d] }
                    }
                    try row.withUnsafeBytes { try out.write($0) }
                }
            }
            files.append("\"latent\": \"latent.npy\"")
        }
        var fields = try layoutFields(model, metadata: metadata, path: path)
        fields.append(("files", "{" + files.joined(separator: ", ") + "}"))
        let layout = try AtomicFileWriter(path: dir + "layout.json", group: group)
        try layout.write(object(fields) + "\n")
        try layout.commit()
        try group.commit()
    }

    /// An `.npy` file (format 1.0): magic, header length, a Python dict literal padded so the
    /// data starts at a multiple of 64 bytes, then the little-endian data in C order.
    static func writeArray(_ path: String, descr: String, shape: [Int], group: CommitGroup,
                           body: (AtomicFileWriter) throws -> Void) throws {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let out = try AtomicFileWriter(path: path, group: group)
        var prefix: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        prefix += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        try prefix.withUnsafeBytes { try out.write($0) }
        try out.write(header)
        try body(out)
        try out.commit()
    }
}
