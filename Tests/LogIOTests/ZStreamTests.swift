import CZlib
import Foundation
import Testing
@testable import LogIO
import TestSupport

/// The lifecycle of `ZStream` (init failure, `end()` twice, `end()` then deinit, reset
/// between gzip members) and the reader and writer built on it.
struct ZStreamTests {
    /// Deflates `parts` as consecutive gzip members with one deflater, reset between them.
    static func gzipMembers(_ parts: [[UInt8]], level: Int32 = 6) throws -> [UInt8] {
        let deflater = try ZStream(deflateLevel: level, windowBits: 15 + 16, path: "members")
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64)
        for (i, part) in parts.enumerated() {
            if i > 0 { #expect(deflater.reset() == Z_OK) }
            var part = part
            try part.withUnsafeMutableBufferPointer { input in
                deflater.stream.pointee.next_in = input.baseAddress
                deflater.stream.pointee.avail_in = uInt(input.count)
                while true {
                    let (code, produced) = chunk.withUnsafeMutableBufferPointer { buffer in
                        deflater.stream.pointee.next_out = buffer.baseAddress
                        deflater.stream.pointee.avail_out = uInt(buffer.count)
                        let code = deflater.deflate(Z_FINISH)
                        return (code, buffer.count - Int(deflater.stream.pointee.avail_out))
                    }
                    out += chunk[..<produced]
                    if code == Z_STREAM_END { break }
                    guard code == Z_OK || code == Z_BUF_ERROR else {
                        throw LogIOError.zlibFailure(path: "members", operation: "deflate", zlibCode: code)
                    }
                }
            }
        }
        deflater.end()
        return out
    }

    /// Inflates every gzip member of `data` with one inflater, reset at each member's end.
    static func inflateMembers(_ data: [UInt8]) throws -> (bytes: [UInt8], members: Int) {
        let inflater = try ZStream(inflateWindowBits: 15 + 16, path: "members")
        var out: [UInt8] = []
        var members = 0
        var chunk = [UInt8](repeating: 0, count: 37)
        var data = data
        try data.withUnsafeMutableBufferPointer { input in
            inflater.stream.pointee.next_in = input.baseAddress
            inflater.stream.pointee.avail_in = uInt(input.count)
            while inflater.stream.pointee.avail_in > 0 {
                let (code, produced) = chunk.withUnsafeMutableBufferPointer { buffer in
                    inflater.stream.pointee.next_out = buffer.baseAddress
                    inflater.stream.pointee.avail_out = uInt(buffer.count)
                    let code = inflater.inflate(Z_NO_FLUSH)
                    return (code, buffer.count - Int(inflater.stream.pointee.avail_out))
                }
                out += chunk[..<produced]
                switch code {
                case Z_OK: continue
                case Z_STREAM_END:
                    members += 1
                    #expect(inflater.reset() == Z_OK)
                default:
                    throw LogIOError.zlibFailure(path: "members", operation: "inflate", zlibCode: code)
                }
            }
        }
        return (out, members)
    }

    @Test func inflateInitFailureThrowsAndFreesOnce() {
        for windowBits: Int32 in [99, 3, -1] {
            #expect(throws: LogIOError.zlibFailure(path: "bad", operation: "inflateInit2", zlibCode: Z_STREAM_ERROR)) {
                _ = try ZStream(inflateWindowBits: windowBits, path: "bad")
            }
        }
    }

    @Test func deflateInitFailureThrowsAndFreesOnce() {
        for (level, windowBits): (Int32, Int32) in [(42, 15 + 16), (-7, 15 + 16), (6, 99)] {
            #expect(throws: LogIOError.zlibFailure(path: "bad", operation: "deflateInit2", zlibCode: Z_STREAM_ERROR)) {
                _ = try ZStream(deflateLevel: level, windowBits: windowBits, path: "bad")
            }
        }
    }

    @Test func endTwiceAndEndThenDeinitAreSafe() throws {
        for make in [{ try ZStream(inflateWindowBits: 15 + 16, path: "x") },
                     { try ZStream(deflateLevel: 6, windowBits: 15 + 16, path: "x") }] {
            let stream = try make()
            #expect(stream.isActive)
            stream.end()
            #expect(!stream.isActive)
            stream.end()
            // An ended stream is refused by zlib rather than used after free.
            let code = stream.mode == .inflate ? stream.inflate(Z_NO_FLUSH) : stream.deflate(Z_FINISH)
            #expect(code == Z_STREAM_ERROR)
            #expect(stream.reset() == Z_STREAM_ERROR)
        }  // each is dropped here after end(): deinit must not end it again
        // Dropped without end(): deinit ends it.
        _ = try ZStream(inflateWindowBits: 15 + 16, path: "x")
        _ = try ZStream(deflateLevel: 1, windowBits: 15 + 16, path: "x")
    }

    @Test func resetBetweenGzipMembers() throws {
        let parts: [[UInt8]] = [Array("first member\nsplit mid".utf8), [], Array(" line\nthird\n".utf8),
                                (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 5) }]
        let gz = try Self.gzipMembers(parts)
        let (bytes, members) = try Self.inflateMembers(gz)
        #expect(members == parts.count)
        #expect(bytes == parts.flatMap { $0 })

        // The same members through GzipSource and through gzip itself.
        let dir = try TestSupport.makeTemporaryDirectory("zstream")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("members.gz").path
        try Data(gz).write(to: URL(fileURLWithPath: path))
        let source = try GzipSource(path: path, inputBufferSize: 16)
        var read: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1000)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0, linesSoFar: 0) }
            if n == 0 { break }
            read += buffer[..<n]
        }
        #expect(read == parts.flatMap { $0 })
        let unzipped = dir.appendingPathComponent("members").path
        #expect(try LineReaderTests.shell("gzip -dc '\(path)' > '\(unzipped)'") == 0)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: unzipped))) == parts.flatMap { $0 })
    }

    @Test func writerWithAnInvalidLevelThrowsAndLeavesNothing() throws {
        let dir = try TestSupport.makeTemporaryDirectory("zstream")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.gz").path
        // Repeated, with a small buffer: a double free here used to abort the process.
        for _ in 0..<50 {
            #expect(throws: LogIOError.zlibFailure(path: path, operation: "deflateInit2", zlibCode: Z_STREAM_ERROR)) {
                _ = try AtomicFileWriter(path: path, gzip: true, level: 42, bufferSize: 16)
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // The file descriptors were not closed twice: a fresh writer still works.
        let writer = try AtomicFileWriter(path: path, gzip: true, bufferSize: 16)
        try writer.write("ok\n")
        try writer.commit()
        #expect(try LineReaderTests.readAll(LineReader(path: path)) == ["ok"])
    }

    @Test func writerThatCannotOpenThrowsAndWriterBufferGrows() throws {
        let dir = try TestSupport.makeTemporaryDirectory("zstream")
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("no/such/dir/out.gz").path
        for gzip in [false, true] {
            #expect(throws: LogIOError.self) { _ = try AtomicFileWriter(path: missing, gzip: gzip) }
        }
        // withFreeSpace beyond the buffer replaces it with a larger one, keeping what was written.
        let path = dir.appendingPathComponent("grown.gz").path
        let writer = try AtomicFileWriter(path: path, gzip: true, bufferSize: 16)
        try writer.write("head\n")
        try writer.withFreeSpace(atLeast: 100_000) { out in
            for i in 0..<99_999 { out[i] = 97 + UInt8(i % 26) }
            out[99_999] = 10
            return 100_000
        }
        try writer.write("tail\n")
        try writer.commit()
        let lines = try LineReaderTests.readAll(LineReader(path: path, bufferSize: 5))
        #expect(lines.count == 3 && lines[0] == "head" && lines[1].utf8.count == 99_999 && lines[2] == "tail")
    }

    @Test(arguments: [Int32(0), 1, 6, 9])
    func writerAndReaderRoundTrip(level: Int32) throws {
        let dir = try TestSupport.makeTemporaryDirectory("zstream")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("round.gz").path
        let lines = LineReaderTests.sampleLines(count: 3000, seed: UInt64(level) + 11)
        let writer = try AtomicFileWriter(path: path, gzip: true, level: level, bufferSize: 4096)
        for line in lines {
            try writer.write(line)
            try writer.write(byte: 10)
        }
        try writer.commit()
        #expect(try LineReaderTests.shell("gzip -t '\(path)'") == 0)
        #expect(try LineReaderTests.readAll(LineReader(path: path)) == lines)
        #expect(try LineReaderTests.readAll(LineReader(path: path, bufferSize: 7, prefetch: false)) == lines)
        let tiny = LineReader(source: try GzipSource(path: path, inputBufferSize: 16), path: path, bufferSize: 3)
        #expect(try LineReaderTests.readAll(tiny) == lines)
    }

    @Test func writerOutputMatchesOneShotDeflate() throws {
        // The writer feeds zlib in buffer-sized pieces; deflate's output does not depend
        // on how its input is split, so one gzip member over the whole text is the oracle.
        let dir = try TestSupport.makeTemporaryDirectory("zstream")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("same.gz").path
        let text = Array(LineReaderTests.content(LineReaderTests.sampleLines(count: 4000, seed: 3)))
        let writer = try AtomicFileWriter(path: path, gzip: true, level: 6, bufferSize: 4096)
        try text.withUnsafeBytes { try writer.write($0) }
        try writer.commit()
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written == (try Self.gzipMembers([text], level: 6)))
    }
}
