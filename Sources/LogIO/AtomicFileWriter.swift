import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered output file written under a temporary name (`.NAME.partial-PID` beside
/// it) and renamed into place by `commit()`. Until then the final path is untouched, so
/// an interrupted stage never leaves a file that looks complete; a writer dropped
/// without `commit()` removes its temporary file.
///
/// `commit()` fsyncs the file before the rename and its folder after it, so a power loss
/// cannot publish an empty or partial file. With a `CommitGroup`, `commit()` only
/// finishes the file (written, fsynced, closed) and the group renames it together with
/// the stage's other outputs.
///
/// Temporary files do not outlive the process: SIGINT, SIGTERM and SIGHUP remove the
/// live writers' (see `TemporaryFiles`), and opening `.NAME.partial-PID` first removes
/// any `.NAME.partial-OTHER` whose process is gone (a run killed with SIGKILL).
///
/// With `gzip: true` the content is compressed (one gzip member).
public final class AtomicFileWriter {
    public let path: String
    public let temporaryPath: String
    let fileDescriptor: Int32
    /// Renames the file on its commit instead of `commit()` (nil: `commit()` renames).
    private let group: CommitGroup?
    /// Unlinks the temporary file if a signal ends the process.
    private let registration: TemporaryFiles.Registration
    /// Owns the bytes of `buffer`; replaced (not freed by hand) when `withFreeSpace` needs more.
    private var bufferStorage: ScratchBuffer { didSet { buffer = bufferStorage.bytes } }
    /// `bufferStorage.bytes`, kept here so that the write paths read it without going
    /// through `bufferStorage`. Uncompressed bytes not yet handed to the file or the
    /// compressor are `buffer[..<used]`.
    @exclusivity(unchecked) private var buffer: UnsafeMutableRawBufferPointer
    // Updated on every write: private, never accessed while another access is open, so
    // without the runtime's exclusivity checks (one call per write otherwise).
    @exclusivity(unchecked) private var used = 0
    private var committed = false
    private var closed = false
    /// The gzip compressor (nil for plain output); it owns its zlib state.
    private let deflater: ZStream?
    /// The compressor's output before it is written out (gzip only).
    private let compressed: ScratchBuffer?
    /// Uncompressed bytes written so far.
    @exclusivity(unchecked) public private(set) var bytesWritten: Int64 = 0

    /// - Parameter group: the stage's commit point; `commit()` then leaves the rename to it.
    public init(path: String, gzip: Bool = false, level: Int32 = 6, bufferSize: Int = 1 << 20,
                group: CommitGroup? = nil) throws {
        self.path = path
        self.group = group
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        temporaryPath = "\(dir).\(name).partial-\(getpid())"
        TemporaryFiles.removeStalePartials(of: path)
        registration = TemporaryFiles.register(temporaryPath)
        // Every resource is owned by an object that frees itself, except the file
        // descriptor: it is stored last, once open, so that deinit (which closes it and
        // removes the temporary file) runs only for a writer whose init succeeded.
        deflater = gzip ? try ZStream(deflateLevel: level, windowBits: 15 + 16, path: path) : nil
        let size = max(bufferSize, 4096)
        bufferStorage = ScratchBuffer(byteCount: size, alignment: 64)
        buffer = bufferStorage.bytes
        compressed = gzip ? ScratchBuffer(byteCount: size, alignment: 64) : nil
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        fileDescriptor = fd
    }

    deinit {
        if !closed { close(fileDescriptor) }
        if !committed { unlink(temporaryPath) }
    }

    /// Appends raw bytes.
    @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if used + bytes.count > buffer.count {
            try flush()
            if bytes.count > buffer.count {
                try emit(bytes)
                bytesWritten += Int64(bytes.count)
                return
            }
        }
        (buffer.baseAddress! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used += bytes.count
        bytesWritten += Int64(bytes.count)
    }

    @inline(__always)
    public func write(_ bytes: ByteSlice) throws {
        try write(UnsafeRawBufferPointer(bytes))
    }

    public func write(_ string: String) throws {
        var s = string
        try s.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    public func write(byte: UInt8) throws {
        if used == buffer.count { try flush() }
        buffer.storeBytes(of: byte, toByteOffset: used, as: UInt8.self)
        used += 1
        bytesWritten += 1
    }

    /// Appends the decimal digits of an integer without allocating.
    public func write(int value: Int64) throws {
        if used + 20 > buffer.count { try flush() }
        let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + used
        let n = formatInt(value, into: base)
        used += n
        bytesWritten += Int64(n)
    }

    /// Direct access to free buffer space of at least `capacity` bytes: `body` writes into
    /// it and returns how many bytes it wrote. For formatting without intermediate copies.
    public func withFreeSpace(atLeast capacity: Int, _ body: (UnsafeMutablePointer<UInt8>) throws -> Int) throws {
        if used + capacity > buffer.count {
            try flush()
            if capacity > buffer.count {
                bufferStorage = ScratchBuffer(byteCount: capacity, alignment: 64)
            }
        }
        let n = try body(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + used)
        used += n
        bytesWritten += Int64(n)
    }

    /// Writes everything out, fsyncs and closes the file, and renames it to its final path
    /// (then fsyncs the folder); with a group, hands the finished file to the group instead.
    public func commit() throws {
        try finish()
        if let group {
            group.adopt(temporary: temporaryPath, as: path, registration: registration)
            committed = true
            return
        }
        guard rename(temporaryPath, path) == 0 else {
            throw LogIOError.renameFailed(from: temporaryPath, to: path, errno: errno)
        }
        committed = true
        registration.release()
        try Durability.syncDirectory(containing: path)
    }

    /// Finishes the file and hands it to `group` to be renamed to `finalPath` (not
    /// necessarily `path`: ctr-ingest publishes a failed run's quarantine under another name).
    public func commit(into group: CommitGroup, as finalPath: String) throws {
        try finish()
        group.adopt(temporary: temporaryPath, as: finalPath, registration: registration)
        committed = true
    }

    /// Writes everything out, fsyncs and closes the file.
    private func finish() throws {
        precondition(!committed && !closed, "AtomicFileWriter committed twice for \(path)")
        try flush()
        if let deflater {
            try deflate(UnsafeRawBufferPointer(start: nil, count: 0), finish: true)
            deflater.end()
        }
        try Durability.sync(fileDescriptor, path: temporaryPath)
        closed = true
        guard close(fileDescriptor) == 0 else { throw LogIOError.writeFailed(path: temporaryPath, errno: errno) }
    }

    /// Hands the buffered bytes to the file (or to the compressor).
    func flush() throws {
        guard used > 0 else { return }
        try emit(UnsafeRawBufferPointer(rebasing: buffer[..<used]))
        used = 0
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        if deflater != nil {
            try deflate(bytes, finish: false)
        } else {
            try writeAll(bytes)
        }
    }

    private func deflate(_ bytes: UnsafeRawBufferPointer, finish: Bool) throws {
        guard let deflater, let out = compressed?.bytes else { return }
        let stream = deflater.stream
        stream.pointee.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(bytes.count)
        while true {
            stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(out.count)
            let code = deflater.deflate(finish ? Z_FINISH : Z_NO_FLUSH)
            guard code == Z_OK || code == Z_STREAM_END || code == Z_BUF_ERROR else {
                throw LogIOError.zlibFailure(path: path, operation: "deflate", zlibCode: code)
            }
            let produced = out.count - Int(stream.pointee.avail_out)
            if produced > 0 { try writeAll(UnsafeRawBufferPointer(rebasing: out[..<produced])) }
            if finish ? code == Z_STREAM_END : stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        try FileIO.writeAll(fileDescriptor, bytes, path: path)
    }
}

/// Writes the decimal digits of `value` at `out` (room for 20 bytes) and returns their count.
@inline(__always)
public func formatInt(_ value: Int64, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch on the stack
    return withUnsafeMutableBytes(of: &digits) { scratch -> Int in
        var magnitude = value.magnitude
        var i = 24
        repeat {
            i -= 1
            scratch[i] = UInt8(truncatingIfNeeded: 48 + magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        var n = 0
        if value < 0 { out[0] = 45; n = 1 }
        let count = 24 - i
        UnsafeMutableRawPointer(out + n).copyMemory(from: scratch.baseAddress! + i, byteCount: count)
        return n + count
    }
}
