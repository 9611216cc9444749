#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors of file input and output. Each names the file and says what was found.
public enum LogIOError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case readFailed(path: String, errno: Int32)
    case writeFailed(path: String, errno: Int32)
    case renameFailed(from: String, to: String, errno: Int32)
    /// The gzip stream is damaged: the inflater's return code and message, the compressed
    /// byte offset where it was noticed and the last complete line handed out before it.
    /// `decoder` names the inflater: `zlib`, or `ISA-L` in a build with the `ISAL` trait.
    case corruptGzip(path: String, offset: Int64, lastCompleteLine: Int, zlibCode: Int32, detail: String, decoder: String = "zlib")
    /// The file ends inside a gzip member.
    case truncatedGzip(path: String, offset: Int64, lastCompleteLine: Int)
    /// Bytes after the last gzip member that are neither another member nor zero padding.
    case trailingGarbage(path: String, offset: Int64, lastCompleteLine: Int)
    case zlibFailure(path: String, operation: String, zlibCode: Int32)

    public var description: String {
        switch self {
        case let .cannotOpen(path, code):
            return "\(path): cannot open: \(LogIOError.describe(errno: code))"
        case let .readFailed(path, code):
            return "\(path): read failed: \(LogIOError.describe(errno: code))"
        case let .writeFailed(path, code):
            return "\(path): write failed: \(LogIOError.describe(errno: code))"
        case let .renameFailed(from, to, code):
            return "\(to): cannot rename \(from) into place: \(LogIOError.describe(errno: code))"
        case let .corruptGzip(path, offset, line, code, detail, decoder):
            return "\(path): corrupt gzip data at compressed byte \(offset) (\(decoder) error \(code): \(detail)); "
                + "last complete line \(line); expected a valid deflate stream"
        case let .truncatedGzip(path, offset, line):
            return "\(path): truncated gzip stream: the file ends at compressed byte \(offset) inside a gzip member; "
                + "last complete line \(line)"
        case let .trailingGarbage(path, offset, line):
            return "\(path): unexpected bytes at compressed byte \(offset) after the last gzip member "
                + "(expected another gzip member, 1f 8b); last complete line \(line)"
        case let .zlibFailure(path, operation, code):
            return "\(path): zlib \(operation) failed with code \(code)"
        }
    }

    static func describe(errno code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}
