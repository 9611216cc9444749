#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A line's bytes, without its line end; valid only until the reader moves on.
public typealias ByteSlice = UnsafeBufferPointer<UInt8>

/// Reads a plain or gzip file (one member or several) line by line in bounded memory.
///
/// Lines are handed out as byte slices into one reusable buffer: no allocation per line.
/// `\n` ends a line and a `\r` before it is dropped; a last line without `\n` is still a
/// line. The buffer grows only to hold the longest line, so there is no line-length limit.
///
/// ```swift
/// let reader = try LineReader(path: "day_0.gz")
/// while let line = try reader.next() { … reader.lineNumber … }
/// ```
public final class LineReader {
    public let path: String
    // The state `next()` updates per line: private (lineNumber's setter), never accessed
    // while another access is open, so without the runtime's exclusivity checks (a call of
    // about 80 instructions per line otherwise).
    /// 1-based number of the line last returned by `next()`; 0 before the first.
    @exclusivity(unchecked) public private(set) var lineNumber = 0
    /// Size of the file on disk, for progress reporting.
    public let fileSize: Int64

    private let source: ByteSource
    /// Owns the bytes; replaced (not freed by hand) when a line outgrows them.
    private var storage: ScratchBuffer { didSet { buffer = storage.bytes } }
    /// `storage.bytes`, kept here so that `next()` reads it without going through `storage`.
    /// Bytes read and not yet handed out are `buffer[start..<end]`.
    @exclusivity(unchecked) private var buffer: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked) private var start = 0   // first byte not yet handed out
    @exclusivity(unchecked) private var end = 0     // one past the last byte read
    @exclusivity(unchecked) private var sourceDone = false

    /// - Parameters:
    ///   - bufferSize: initial buffer size in bytes; it grows only for lines longer than it.
    ///   - prefetch: decompress on a background thread, a few chunks ahead (gzip only: a
    ///     plain file is read here, straight into the buffer, since a background read
    ///     would only add a copy of every byte and a thread).
    public init(path: String, bufferSize: Int = 1 << 20, prefetch: Bool = true) throws {
        self.path = path
        var info = stat()
        fileSize = stat(path, &info) == 0 ? Int64(info.st_size) : 0
        let raw = try openByteSource(path: path)
        source = prefetch && !(raw is PlainFileSource) ? PrefetchingSource(raw, chunkSize: max(bufferSize, 64 * 1024)) : raw
        storage = ScratchBuffer(byteCount: max(bufferSize, 1), alignment: 64)
        buffer = storage.bytes
    }

    /// Reads from any byte source (tests use this with tiny buffers).
    public init(source: ByteSource, path: String, bufferSize: Int) {
        self.path = path
        self.source = source
        fileSize = 0
        storage = ScratchBuffer(byteCount: max(bufferSize, 1), alignment: 64)
        buffer = storage.bytes
    }

    /// Bytes of the file consumed so far (compressed bytes for gzip).
    public var fileBytesRead: Int64 { source.fileBytesRead }

    /// The next line, or nil at the end of the file.
    public func next() throws -> ByteSlice? {
        while true {
            let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if end > start, let hit = memchr(base + start, 0x0A, end - start) {
                let newline = UnsafeMutableRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base
                let lineStart = start
                start = newline + 1
                lineNumber += 1
                var lineEnd = newline
                if lineEnd > lineStart && base[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                return ByteSlice(start: base + lineStart, count: lineEnd - lineStart)
            }
            if sourceDone {
                guard end > start else { return nil }
                let lineStart = start
                var lineEnd = end
                start = end
                lineNumber += 1
                if base[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                return ByteSlice(start: base + lineStart, count: lineEnd - lineStart)
            }
            try fill()
        }
    }

    /// Makes room after the pending partial line and reads more into it.
    private func fill() throws {
        if start > 0 {
            let pending = end - start
            if pending > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending) }
            start = 0
            end = pending
        }
        if end == buffer.count {
            let grown = ScratchBuffer(byteCount: buffer.count * 2, alignment: 64)
            grown.bytes.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
            storage = grown
        }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]), linesSoFar: lineNumber)
        if n == 0 { sourceDone = true }
        end += n
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// The bytes as a String, for error messages and tokens kept for later (not for hot loops).
    public var string: String { String(decoding: self, as: UTF8.self) }
}
