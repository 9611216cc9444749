import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A stream of bytes read in chunks: a plain file, or the decompressed content of a gzip file.
public protocol ByteSource: AnyObject {
    /// Fills up to `buffer.count` bytes and returns how many it wrote; 0 means the end.
    /// - Parameter linesSoFar: the caller's count of complete lines, for error messages.
    func read(into buffer: UnsafeMutableRawBufferPointer, linesSoFar: Int) throws -> Int
    /// Bytes of the underlying file consumed so far (compressed bytes for gzip).
    var fileBytesRead: Int64 { get }
}

/// An open file descriptor, closed when the owner goes away.
final class FileHandleFD {
    let fd: Int32
    let path: String

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        self.fd = fd
        self.path = path
    }

    /// Reads up to `count` bytes, retrying on EINTR; returns 0 at the end of the file.
    func read(_ pointer: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
        while true {
            #if canImport(Glibc)
            let n = Glibc.read(fd, pointer, count)
            #else
            let n = Darwin.read(fd, pointer, count)
            #endif
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw LogIOError.readFailed(path: path, errno: errno)
        }
    }

    deinit { close(fd) }
}

/// The bytes of a file as they are on disk.
public final class PlainFileSource: ByteSource {
    private let file: FileHandleFD
    public private(set) var fileBytesRead: Int64 = 0

    public init(path: String) throws {
        file = try FileHandleFD(path: path)
    }

    /// Wraps a file that is already open (used after sniffing its first bytes).
    init(file: FileHandleFD, prefix: [UInt8]) {
        self.file = file
        self.pending = prefix
    }

    private var pending: [UInt8] = []

    public func read(into buffer: UnsafeMutableRawBufferPointer, linesSoFar: Int) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if !pending.isEmpty {
            let n = min(pending.count, buffer.count)
            pending.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            pending.removeFirst(n)
            fileBytesRead += Int64(n)
            return n
        }
        let n = try file.read(buffer.baseAddress!, buffer.count)
        fileBytesRead += Int64(n)
        return n
    }
}

/// One gzip member's inflater as `GzipSource` drives it: zlib's `inflate` (`ZlibInflater`),
/// or ISA-L's `isal_inflate` (`IsalInflater`) in a build with the `ISAL` package trait. The
/// source owns the input buffer, the member boundaries and every error but corrupt data.
protocol GzipInflater: AnyObject {
    var nextIn: UnsafeMutablePointer<UInt8>? { get set }
    var availIn: Int { get set }
    var nextOut: UnsafeMutablePointer<UInt8>? { get set }
    var availOut: Int { get set }
    /// Input the inflater holds beyond `nextIn` (bits it read ahead): it may still produce
    /// output with no input left.
    var holdsInput: Bool { get }
    /// Inflates from `nextIn` to `nextOut`.
    func inflate() -> InflateStep
    /// Readies the inflater for the next member.
    func nextMember()
    /// What `corruptGzip` says decoded the data ("zlib", "ISA-L").
    var name: String { get }
}

enum InflateStep {
    /// Went on (the output may be full, or the input used up).
    case progress
    /// The member ended (its trailer checked).
    case memberEnd
    /// No progress was possible (zlib's Z_BUF_ERROR).
    case stalled
    /// The data is not a valid gzip member: the library's code and message.
    case corrupt(code: Int32, detail: String)
}

/// zlib's inflate over one `ZStream`, gzip wrapper only.
final class ZlibInflater: GzipInflater {
    private let inflater: ZStream
    private let stream: UnsafeMutablePointer<z_stream>

    init(path: String) throws {
        inflater = try ZStream(inflateWindowBits: 15 + 16, path: path)
        stream = inflater.stream
    }

    var nextIn: UnsafeMutablePointer<UInt8>? {
        get { stream.pointee.next_in }
        set { stream.pointee.next_in = newValue }
    }
    var availIn: Int {
        get { Int(stream.pointee.avail_in) }
        set { stream.pointee.avail_in = uInt(newValue) }
    }
    var nextOut: UnsafeMutablePointer<UInt8>? {
        get { stream.pointee.next_out }
        set { stream.pointee.next_out = newValue }
    }
    var availOut: Int {
        get { Int(stream.pointee.avail_out) }
        set { stream.pointee.avail_out = uInt(newValue) }
    }
    var holdsInput: Bool { false }
    var name: String { "zlib" }

    func inflate() -> InflateStep {
        let code = inflater.inflate(Z_NO_FLUSH)
        switch code {
        case Z_OK: return .progress
        case Z_STREAM_END: return .memberEnd
        case Z_BUF_ERROR: return .stalled
        default: return .corrupt(code: code, detail: inflater.message ?? "no message")
        }
    }

    func nextMember() { inflater.reset() }
}

/// The decompressed bytes of a gzip file of one or more members (as `cat a.gz b.gz`,
/// pigz and bgzip write them). The inflater stops at the end of each member, so the
/// source readies it again and goes on while the input holds another member.
public final class GzipSource: ByteSource {
    private let file: FileHandleFD
    /// zlib's inflater, or ISA-L's in a build with the `ISAL` trait.
    private let inflater: any GzipInflater
    private let inputStorage: ScratchBuffer
    /// Compressed bytes read ahead of the inflater.
    private var input: UnsafeMutableRawBufferPointer { inputStorage.bytes }
    private var inputEnd = false
    private var memberOpen = false
    private var finished = false
    public private(set) var fileBytesRead: Int64 = 0

    public convenience init(path: String, inputBufferSize: Int = 256 * 1024) throws {
        try self.init(file: FileHandleFD(path: path), prefix: [], inputBufferSize: inputBufferSize)
    }

    init(file: FileHandleFD, prefix: [UInt8], inputBufferSize: Int = 256 * 1024) throws {
        self.file = file
        #if ISAL
        inflater = IsalInflater()
        #else
        inflater = try ZlibInflater(path: file.path)
        #endif
        inputStorage = ScratchBuffer(byteCount: max(inputBufferSize, 16), alignment: 16)
        prefix.withUnsafeBytes { input.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: prefix.count) }
        inflater.nextIn = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        inflater.availIn = prefix.count
        fileBytesRead = Int64(prefix.count)
    }

    /// Compressed offset of the next byte the inflater will consume.
    private var consumedOffset: Int64 { fileBytesRead - Int64(inflater.availIn) }

    /// Moves what is left of the input to the front and reads more; false at the end of the file.
    private func refill() throws -> Bool {
        if inputEnd { return false }
        let left = inflater.availIn
        if left > 0, let next = inflater.nextIn, UnsafeMutableRawPointer(next) != input.baseAddress! {
            input.baseAddress!.copyMemory(from: next, byteCount: left)
        }
        let n = try file.read(input.baseAddress! + left, input.count - left)
        if n == 0 { inputEnd = true }
        fileBytesRead += Int64(n)
        inflater.nextIn = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        inflater.availIn = left + n
        return n > 0
    }

    /// After a member ends: true when another member follows, false at a clean end
    /// (nothing, or zero padding), and an error for anything else.
    private func nextMemberFollows(linesSoFar: Int) throws -> Bool {
        while true {
            if inflater.availIn < 2 && !inputEnd {
                _ = try refill()
                continue
            }
            if inflater.availIn == 0 { return false }
            let p = inflater.nextIn!
            if inflater.availIn >= 2 && p[0] == 0x1f && p[1] == 0x8b { return true }
            // Zero padding after the last member is accepted (as gzip does); anything else is not.
            var i = 0
            while i < inflater.availIn && p[i] == 0 { i += 1 }
            if i < inflater.availIn {
                throw LogIOError.trailingGarbage(path: file.path, offset: consumedOffset + Int64(i), lastCompleteLine: linesSoFar)
            }
            inflater.nextIn = p + i
            inflater.availIn = 0
            if inputEnd { return false }
        }
    }

    /// An error met after some output of the same call: that output is handed out first.
    private var pendingError: LogIOError?

    public func read(into buffer: UnsafeMutableRawBufferPointer, linesSoFar: Int) throws -> Int {
        if let error = pendingError {
            pendingError = nil
            finished = true
            throw error.replacingLine(linesSoFar)
        }
        guard buffer.count > 0, !finished else { return 0 }
        do {
            return try inflateInto(buffer, linesSoFar: linesSoFar)
        } catch let error as LogIOError {
            let produced = inflater.nextOut.map { UnsafeMutableRawPointer($0) - buffer.baseAddress! } ?? 0
            guard produced > 0 else { finished = true; throw error }
            pendingError = error
            return produced
        }
    }

    private func inflateInto(_ buffer: UnsafeMutableRawBufferPointer, linesSoFar: Int) throws -> Int {
        inflater.nextOut = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        inflater.availOut = min(buffer.count, Int(UInt32.max))
        let capacity = inflater.availOut
        while inflater.availOut > 0 {
            if !memberOpen {
                if !(try nextMemberFollows(linesSoFar: linesSoFar)) {
                    finished = true
                    break
                }
                memberOpen = true
            }
            if try inflater.availIn == 0 && !refill() && !inflater.holdsInput {
                throw LogIOError.truncatedGzip(path: file.path, offset: fileBytesRead, lastCompleteLine: linesSoFar)
            }
            let outBefore = inflater.availOut, inBefore = inflater.availIn
            switch inflater.inflate() {
            case .progress:
                // The input has ended and nothing moved: the member cannot be completed.
                if inputEnd && inflater.availOut == outBefore && inflater.availIn == inBefore && inflater.availOut > 0 {
                    throw LogIOError.truncatedGzip(path: file.path, offset: fileBytesRead, lastCompleteLine: linesSoFar)
                }
            case .memberEnd:
                memberOpen = false
                inflater.nextMember()
            case .stalled:
                // No progress possible: either output is full (loop ends) or input ran dry.
                if inflater.availOut > 0 && inflater.availIn == 0 && inputEnd {
                    throw LogIOError.truncatedGzip(path: file.path, offset: fileBytesRead, lastCompleteLine: linesSoFar)
                }
            case let .corrupt(code, detail):
                throw LogIOError.corruptGzip(path: file.path, offset: consumedOffset, lastCompleteLine: linesSoFar,
                                             zlibCode: code, detail: detail, decoder: inflater.name)
            }
        }
        return capacity - inflater.availOut
    }
}

/// Opens a file as a byte source, recognising gzip by its magic bytes (1f 8b), not its name.
public func openByteSource(path: String) throws -> ByteSource {
    let file = try FileHandleFD(path: path)
    var magic = [UInt8](repeating: 0, count: 2)
    var got = 0
    while got < 2 {
        let n = try magic.withUnsafeMutableBytes { try file.read($0.baseAddress! + got, 2 - got) }
        if n == 0 { break }
        got += n
    }
    let prefix = Array(magic[0..<got])
    if got == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
        return try GzipSource(file: file, prefix: prefix)
    }
    return PlainFileSource(file: file, prefix: prefix)
}
