import CZlib

/// One zlib stream, inflating or deflating, with a single owner for its memory.
///
/// The `z_stream` lives in its own allocation, not inline in a Swift object, so its
/// address never moves: zlib keeps a pointer back to it (`state->strm`) and refuses a
/// stream that has moved (the same layout as swift-nio-extras' HTTPDecompression).
///
/// Lifecycle, the same on every path:
/// - `init` allocates the `z_stream` and asks zlib to set it up. When zlib refuses, the
///   init throws and frees nothing itself: `deinit` (which Swift runs for a fully
///   initialised object whose init throws) frees the allocation once, and skips the
///   `inflateEnd`/`deflateEnd` of a stream zlib never set up.
/// - `end()` hands zlib's internal state back; calling it again does nothing. After it,
///   `inflate`/`deflate`/`reset` return `Z_STREAM_ERROR` (zlib clears `state` in `end`).
/// - `deinit` calls `end()`, then frees the `z_stream` allocation.
final class ZStream {
    enum Mode { case inflate, deflate }

    /// The stream: callers set `next_in`/`avail_in`/`next_out`/`avail_out` on it directly.
    /// Valid until this object goes away.
    let stream: UnsafeMutablePointer<z_stream>
    let mode: Mode
    /// True between a successful zlib init and `end()`.
    private(set) var isActive = false

    private init(mode: Mode) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        self.mode = mode
    }

    /// An inflater; `windowBits` as for `inflateInit2` (15 + 16: gzip only, 15 + 32: gzip or zlib).
    /// - Parameter path: names the file in the error when zlib refuses.
    convenience init(inflateWindowBits windowBits: Int32, path: String) throws {
        self.init(mode: .inflate)
        let code = czlib_inflateInit2(stream, windowBits)
        guard code == Z_OK else {
            throw LogIOError.zlibFailure(path: path, operation: "inflateInit2", zlibCode: code)
        }
        isActive = true
    }

    /// A deflater: `level` 0–9 (or -1 for zlib's default), `windowBits` as for
    /// `deflateInit2` (15 + 16 writes a gzip wrapper); memLevel 8, default strategy.
    convenience init(deflateLevel level: Int32, windowBits: Int32, path: String) throws {
        self.init(mode: .deflate)
        let code = czlib_deflateInit2(stream, level, windowBits)
        guard code == Z_OK else {
            throw LogIOError.zlibFailure(path: path, operation: "deflateInit2", zlibCode: code)
        }
        isActive = true
    }

    deinit {
        end()
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Frees zlib's state for this stream; safe to call any number of times.
    func end() {
        guard isActive else { return }
        isActive = false
        switch mode {
        case .inflate: inflateEnd(stream)
        case .deflate: deflateEnd(stream)
        }
    }

    /// `inflate(stream, flush)`.
    @inline(__always)
    func inflate(_ flush: Int32) -> Int32 { CZlib.inflate(stream, flush) }

    /// `deflate(stream, flush)`.
    @inline(__always)
    func deflate(_ flush: Int32) -> Int32 { CZlib.deflate(stream, flush) }

    /// Readies the stream for the next gzip member (or deflate stream) without freeing
    /// its state; the input and output pointers are kept.
    @discardableResult
    func reset() -> Int32 {
        switch mode {
        case .inflate: return inflateReset(stream)
        case .deflate: return deflateReset(stream)
        }
    }

    /// zlib's message for the last error, if it left one.
    var message: String? { stream.pointee.msg.map { String(cString: $0) } }
}
