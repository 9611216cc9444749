import Foundation
import Testing
import LogIO
import TestSupport

/// LineReader against an oracle: the lines we wrote, and what `gzip -dc` makes of the
/// same file, for many buffer sizes so that line ends and member boundaries fall
/// across every kind of buffer boundary.
struct LineReaderTests {
    /// Lines of varied lengths, including empty ones, CRLF ones and one long line.
    static func sampleLines(count: Int, seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let length = i == count / 2 ? 5000 : Int(rng.next() % 40)
            var s = ""
            for _ in 0..<length { s.append(Character(UnicodeScalar(UInt8(97 + rng.next() % 26)))) }
            return s
        }
    }

    /// The file content for `lines`: `\n` ends, some `\r\n`, and optionally no final newline.
    static func content(_ lines: [String], crlfEvery: Int = 7, finalNewline: Bool = true) -> Data {
        var text = ""
        for (i, line) in lines.enumerated() {
            text += line
            if i == lines.count - 1 && !finalNewline { break }
            text += (crlfEvery > 0 && i % crlfEvery == 3) ? "\r\n" : "\n"
        }
        return Data(text.utf8)
    }

    static func shell(_ command: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    static func readAll(_ reader: LineReader) throws -> [String] {
        var out: [String] = []
        while let line = try reader.next() { out.append(line.string) }
        return out
    }

    /// Writes `data` to a folder as plain, gzip (one member) and gzip (three members).
    static func makeFiles(_ data: Data) throws -> (dir: URL, plain: String, gz: String, multi: String) {
        let dir = try TestSupport.makeTemporaryDirectory("linereader")
        let plain = dir.appendingPathComponent("plain.txt").path
        try data.write(to: URL(fileURLWithPath: plain))
        let gz = dir.appendingPathComponent("one.gz").path
        #expect(try shell("gzip -c '\(plain)' > '\(gz)'") == 0)
        // Three members whose boundaries fall mid-line: split the bytes at odd offsets.
        let a = data.count / 3 + 1, b = 2 * data.count / 3 + 2
        let parts = [data[0..<a], data[a..<b], data[b...]]
        for (i, part) in parts.enumerated() {
            try Data(part).write(to: dir.appendingPathComponent("part\(i)"))
            #expect(try shell("gzip -c '\(dir.path)/part\(i)' > '\(dir.path)/part\(i).gz'") == 0)
        }
        let multi = dir.appendingPathComponent("multi.gz").path
        #expect(try shell("cat '\(dir.path)/part0.gz' '\(dir.path)/part1.gz' '\(dir.path)/part2.gz' > '\(multi)'") == 0)
        return (dir, plain, gz, multi)
    }

    static let bufferSizes = [1, 2, 3, 5, 8, 13, 64, 1000, 4096, 1 << 16]

    @Test(arguments: bufferSizes)
    func everyBufferSizeMatchesTheOracle(bufferSize: Int) throws {
        let lines = Self.sampleLines(count: 300, seed: UInt64(bufferSize))
        let data = Self.content(lines)
        let files = try Self.makeFiles(data)
        defer { try? FileManager.default.removeItem(at: files.dir) }
        // Oracle: gunzip's output of the multi-member file equals what we wrote.
        let unzipped = files.dir.appendingPathComponent("unzipped").path
        #expect(try Self.shell("gzip -dc '\(files.multi)' > '\(unzipped)'") == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: unzipped)) == data)

        for path in [files.plain, files.gz, files.multi] {
            // Unthreaded, with a tiny compressed-input buffer as well.
            let direct = LineReader(source: try openByteSource(path: path), path: path, bufferSize: bufferSize)
            #expect(try Self.readAll(direct) == lines, "direct \(path)")
            if path != files.plain {
                let tiny = LineReader(source: try GzipSource(path: path, inputBufferSize: bufferSize),
                                      path: path, bufferSize: bufferSize)
                #expect(try Self.readAll(tiny) == lines, "tiny input \(path)")
            }
            // Threaded prefetch with chunks as small as the buffer.
            let prefetched = LineReader(source: PrefetchingSource(try openByteSource(path: path), chunkSize: bufferSize, depth: 2),
                                        path: path, bufferSize: bufferSize)
            #expect(try Self.readAll(prefetched) == lines, "prefetch \(path)")
            // The public initialiser.
            let reader = try LineReader(path: path, bufferSize: bufferSize)
            #expect(try Self.readAll(reader) == lines)
            #expect(reader.lineNumber == lines.count)
        }
    }

    @Test func lastLineWithoutNewlineAndEmptyFiles() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x").path
        try Data("a\r\nb\n\nc".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try Self.readAll(LineReader(path: path, bufferSize: 2)) == ["a", "b", "", "c"])
        try Data().write(to: URL(fileURLWithPath: path))
        #expect(try Self.readAll(LineReader(path: path)) == [])
        // An empty gzip member is a file with no lines.
        #expect(try Self.shell("printf '' | gzip -c > '\(path).gz'") == 0)
        #expect(try Self.readAll(LineReader(path: path + ".gz")) == [])
        // Zero padding after the last member is accepted, as gzip does.
        #expect(try Self.shell("printf 'q\\n' | gzip -c > '\(path).pad.gz'; head -c 100 /dev/zero >> '\(path).pad.gz'") == 0)
        #expect(try Self.readAll(LineReader(path: path + ".pad.gz")) == ["q"])
    }

    @Test func gzipIsRecognisedByContentNotName() throws {
        let files = try Self.makeFiles(Self.content(["x", "y"]))
        defer { try? FileManager.default.removeItem(at: files.dir) }
        let misnamed = files.dir.appendingPathComponent("data.txt").path
        try FileManager.default.copyItem(atPath: files.gz, toPath: misnamed)
        #expect(try Self.readAll(LineReader(path: misnamed)) == ["x", "y"])
        let notGzip = files.dir.appendingPathComponent("plain.gz").path
        try FileManager.default.copyItem(atPath: files.plain, toPath: notGzip)
        #expect(try Self.readAll(LineReader(path: notGzip)) == ["x", "y"])
    }

    @Test(arguments: [false, true])
    func truncatedGzipNamesFileOffsetAndLine(prefetch: Bool) throws {
        let lines = Self.sampleLines(count: 2000, seed: 9)
        let files = try Self.makeFiles(Self.content(lines))
        defer { try? FileManager.default.removeItem(at: files.dir) }
        let whole = try Data(contentsOf: URL(fileURLWithPath: files.gz))
        let cut = files.dir.appendingPathComponent("cut.gz").path
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: cut))
        let reader = try LineReader(path: cut, bufferSize: 256, prefetch: prefetch)
        var count = 0
        do {
            while try reader.next() != nil { count += 1 }
            Issue.record("a truncated file must not read to a clean end")
        } catch let error as LogIOError {
            guard case let .truncatedGzip(path, offset, line) = error else {
                Issue.record("expected truncatedGzip, got \(error)"); return
            }
            #expect(path == cut)
            #expect(offset == Int64(whole.count / 2))
            #expect(line == count)
            #expect(count > 0 && count < lines.count)
            #expect(error.description.contains("truncated gzip"))
        }
    }

    @Test func corruptGzipIsAnErrorNotACrash() throws {
        let lines = Self.sampleLines(count: 2000, seed: 3)
        let files = try Self.makeFiles(Self.content(lines))
        defer { try? FileManager.default.removeItem(at: files.dir) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: files.gz))
        for i in stride(from: bytes.count / 2, to: bytes.count / 2 + 64, by: 1) { bytes[i] ^= 0x5A }
        let bad = files.dir.appendingPathComponent("bad.gz").path
        try bytes.write(to: URL(fileURLWithPath: bad))
        #expect(throws: LogIOError.self) { _ = try Self.readAll(LineReader(path: bad)) }
        // Garbage after a complete member.
        let trailing = files.dir.appendingPathComponent("trailing.gz").path
        try (try Data(contentsOf: URL(fileURLWithPath: files.gz)) + Data("garbage".utf8)).write(to: URL(fileURLWithPath: trailing))
        do {
            _ = try Self.readAll(LineReader(path: trailing))
            Issue.record("trailing garbage must be an error")
        } catch let error as LogIOError {
            guard case .trailingGarbage = error else { Issue.record("got \(error)"); return }
        }
    }

    @Test func missingFileIsAClearError() {
        #expect(throws: LogIOError.cannotOpen(path: "/nonexistent/x.gz", errno: ENOENT)) {
            _ = try LineReader(path: "/nonexistent/x.gz")
        }
    }
}
