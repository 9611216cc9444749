#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The retry loops every raw file-descriptor read and write needs (EINTR, short counts),
/// in one place.
public enum FileIO {
    /// Writes all of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            #else
            let n = Darwin.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            #endif
            if n < 0 {
                if errno == EINTR { continue }
                throw LogIOError.writeFailed(path: path, errno: errno)
            }
            offset += n
        }
    }

    /// Reads into `buffer` from byte `offset` until it is full or the file ends; returns
    /// the count read (less than `buffer.count` only at the end of the file).
    public static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int64,
                                 path: String) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw LogIOError.readFailed(path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}

extension AtomicFileWriter {
    /// Appends bytes `[start, end)` of another open file: in the kernel with `sendfile` on
    /// Linux, through a buffer elsewhere. Only for uncompressed output.
    public func append(fileDescriptor source: Int32, path sourcePath: String, from start: Int64, to end: Int64) throws {
        try flush()
        var offset = start
        #if os(Linux)
        while offset < end {
            var input = off_t(offset)
            let n = sendfile(fileDescriptor, source, &input, Int(min(end - offset, 1 << 30)))
            if n > 0 { offset += Int64(n); continue }
            if n == 0 { throw LogIOError.readFailed(path: sourcePath, errno: EIO) }
            if errno == EINTR { continue }
            if errno == ENOSYS || errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP { break }
            throw LogIOError.writeFailed(path: temporaryPath, errno: errno)
        }
        #endif
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while offset < end {
            let want = Int(min(Int64(buffer.count), end - offset))
            let n = try FileIO.readFully(source, UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), at: offset, path: sourcePath)
            guard n > 0 else { throw LogIOError.readFailed(path: sourcePath, errno: EIO) }
            try write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            offset += Int64(n)
        }
    }
}

/// JSON text for hand-written JSON output (reports, manifests), where key order and
/// number formatting are chosen by the writer rather than by JSONEncoder.
public enum JSONText {
    /// `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
