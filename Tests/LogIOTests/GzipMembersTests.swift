import Foundation
import Testing
@testable import LogIO
import TestSupport

/// Gzip files of several members read through `GzipSource` with tiny input and output
/// buffers, so that every header field, member boundary and trailer falls across a buffer
/// edge: headers with the optional fields (extra, name, comment), empty members, and
/// members of many lengths, against the bytes that were compressed. Runs with whichever
/// inflater the build has (zlib, or ISA-L with the `ISAL` trait).
struct GzipMembersTests {
    /// One gzip member of `bytes` whose header carries an extra field, a file name and a
    /// comment (flags 0x1C): zlib's member (flags 0) with those fields put after its fixed
    /// 10 bytes, as RFC 1952 orders them.
    static func memberWithHeaderFields(_ bytes: [UInt8], name: String, comment: String) throws -> [UInt8] {
        var member = try ZStreamTests.gzipMembers([bytes])
        #expect(member[3] == 0)
        member[3] = 0x04 | 0x08 | 0x10
        let extra: [UInt8] = [0x41, 0x42, 6, 0, 1, 2, 3, 4, 5, 6]  // one subfield "AB" of 6 bytes
        let fields = [UInt8(extra.count), 0] + extra + Array(name.utf8) + [0] + Array(comment.utf8) + [0]
        member.insert(contentsOf: fields, at: 10)
        return member
    }

    /// Text with repeats (back-references reach across output buffers).
    static func text(lines: Int, seed: UInt64) -> [UInt8] {
        Array(LineReaderTests.content(LineReaderTests.sampleLines(count: lines, seed: seed)))
    }

    /// Every byte `source` hands out, read `window` bytes at a time.
    static func readAll(_ source: ByteSource, window: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: window)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0, linesSoFar: 0) }
            if n == 0 { return out }
            out += buffer[..<n]
        }
    }

    /// Members with header fields longer than the smallest input buffer, an empty member
    /// between two others and one at the end, and a first member whose length varies with
    /// `variant` so that the boundaries move; read with input buffers of 16 to 70 bytes.
    @Test(arguments: [1, 3, 7, 64])
    func membersAcrossEveryBufferEdge(window: Int) throws {
        let dir = try TestSupport.makeTemporaryDirectory("gzipmembers")
        defer { try? FileManager.default.removeItem(at: dir) }
        let longName = String(repeating: "a-rather-long-file-name.", count: 3) + "tsv"
        for variant in 0..<3 {
            let first = Self.text(lines: 20 + 7 * variant, seed: UInt64(variant))
            let second = Self.text(lines: 60, seed: 11), third = Self.text(lines: 35, seed: 12)
            var file = try Self.memberWithHeaderFields(first, name: longName, comment: "comment \(variant)")
            file += try Self.memberWithHeaderFields([], name: "empty.tsv", comment: "")
            file += try Self.memberWithHeaderFields(second, name: "b", comment: String(repeating: "c", count: 40))
            file += try ZStreamTests.gzipMembers([third, []])
            let expected = first + second + third
            let path = dir.appendingPathComponent("members\(variant).gz").path
            try Data(file).write(to: URL(fileURLWithPath: path))
            #expect(try ZStreamTests.inflateMembers(file).bytes == expected)

            for inputBufferSize in 16...70 {
                let got = try Self.readAll(GzipSource(path: path, inputBufferSize: inputBufferSize), window: window)
                #expect(got == expected, "variant \(variant), input buffer \(inputBufferSize), window \(window)")
            }
            // As files are opened (the magic bytes read first, then the 256 KB buffer).
            #expect(try Self.readAll(openByteSource(path: path), window: window) == expected)
        }
    }

    /// Only empty members: no bytes, no error.
    @Test func onlyEmptyMembers() throws {
        let dir = try TestSupport.makeTemporaryDirectory("gzipmembers")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("empty.gz").path
        let file = try ZStreamTests.gzipMembers([[], []]) + Self.memberWithHeaderFields([], name: "x", comment: "y")
        try Data(file).write(to: URL(fileURLWithPath: path))
        for inputBufferSize in [16, 17, 31, 1 << 16] {
            #expect(try Self.readAll(GzipSource(path: path, inputBufferSize: inputBufferSize), window: 5) == [])
        }
    }
}
