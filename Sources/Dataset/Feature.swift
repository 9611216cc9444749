/// One `field:index:value` triple of a libffm row, as the training cache stores it.
///
/// 12 bytes, no padding, 4-byte aligned: `field` and `index` are unsigned 32-bit (a model
/// may still hold far more than 2^32 parameters: trainers compute weight offsets in
/// 64 bits), `value` is a 32-bit float.
@frozen
public struct Feature: Equatable, Hashable, Sendable {
    public var field: UInt32
    public var index: UInt32
    public var value: Float

    @inlinable
    public init(field: UInt32, index: UInt32, value: Float) {
        self.field = field
        self.index = index
        self.value = value
    }
}

/// One labelled row. `features` points into the reader's buffer: valid only until the
/// reader moves on (copy it with `Array(row.features)` to keep it).
public struct Row {
    /// 0 (no click) or 1 (click).
    public var label: Float
    public var features: UnsafeBufferPointer<Feature>

    @inlinable
    public init(label: Float, features: UnsafeBufferPointer<Feature>) {
        self.label = label
        self.features = features
    }
}

/// Errors reading or writing libffm text and the binary cache. Each names the file, the
/// place in it, what was found and what was expected.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// A libffm line whose label is not 0, 1, -1 or +1.
    case badLabel(path: String, line: Int, token: String)
    /// A `field:index:value` token that does not parse; `column` counts tokens from 1 (the label is 0).
    case badFeature(path: String, line: Int, column: Int, token: String, reason: String)
    /// An empty (or blank) line in a libffm file.
    case emptyLine(path: String, line: Int)
    /// A file that is not a SwiftCTR binary cache (wrong magic, too short).
    case notACache(path: String, detail: String)
    /// A cache written by another version of the format.
    case unsupportedCacheVersion(path: String, found: UInt32, supported: UInt32)
    /// A cache whose size or sections are inconsistent (e.g. truncated).
    case corruptCache(path: String, detail: String)
    /// A checksum that does not match the data it covers.
    case checksumMismatch(path: String, section: String)
    /// A label passed to a writer that is neither 0 nor 1.
    case invalidLabel(path: String, row: Int, label: Float)
    /// A regression target (a libffm label read with real labels) that is not a finite number.
    case badTarget(path: String, line: Int, token: String, reason: String)
    /// A target passed to a real-label cache writer that is NaN or infinite.
    case invalidTarget(path: String, row: Int, label: Float)

    public var description: String {
        switch self {
        case let .badLabel(path, line, token):
            return "\(path):\(line): bad label \"\(DatasetError.clip(token))\"; expected 0, 1, -1 or +1"
        case let .badFeature(path, line, column, token, reason):
            return "\(path):\(line): bad feature \"\(DatasetError.clip(token))\" (token \(column)): \(reason); "
                + "expected field:index:value with non-negative integer field and index and a finite value"
        case let .emptyLine(path, line):
            return "\(path):\(line): empty line; expected \"label field:index:value ...\""
        case let .notACache(path, detail):
            return "\(path): not a SwiftCTR binary cache: \(detail)"
        case let .unsupportedCacheVersion(path, found, supported):
            return "\(path): binary cache format version \(found) is not supported (this build reads versions \(CacheFormat.oldestReadableVersion) to \(supported)); "
                + "re-create the cache from the libffm text"
        case let .corruptCache(path, detail):
            return "\(path): corrupt binary cache: \(detail)"
        case let .checksumMismatch(path, section):
            return "\(path): checksum mismatch in \(section): the file is damaged; re-create it"
        case let .invalidLabel(path, row, label):
            return "\(path): row \(row): label \(label) is not 0 or 1"
        case let .badTarget(path, line, token, reason):
            return "\(path):\(line): bad target \"\(DatasetError.clip(token))\": \(reason); expected a finite decimal number (squared loss)"
        case let .invalidTarget(path, row, label):
            return "\(path): row \(row): target \(label) is not a finite number"
        }
    }

    /// Long tokens (a 10 MB line) are cut for the message.
    static func clip(_ token: String) -> String {
        token.count <= 80 ? token : String(token.prefix(77)) + "..."
    }
}
