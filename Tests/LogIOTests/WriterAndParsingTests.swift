import Foundation
import Testing
import LogIO
import TestSupport

struct AtomicFileWriterTests {
    @Test func commitRenamesIntoPlaceAndDropRemovesTheTemporaryFile() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.txt").path
        do {
            let writer = try AtomicFileWriter(path: path, bufferSize: 16)
            try writer.write("hello ")
            try writer.write(int: -1234567890123)
            try writer.write(byte: 10)
            #expect(!FileManager.default.fileExists(atPath: path), "nothing at the final path before commit")
            #expect(FileManager.default.fileExists(atPath: writer.temporaryPath))
            try writer.commit()
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello -1234567890123\n")

        let abandoned = dir.appendingPathComponent("abandoned.txt").path
        var temporary = ""
        do {
            let writer = try AtomicFileWriter(path: abandoned)
            temporary = writer.temporaryPath
            try writer.write("partial")
        }
        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(!FileManager.default.fileExists(atPath: temporary))
    }

    @Test func errorsNameTheOutputPathNotTheTemporaryFile() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("missing-folder/out.txt").path
        #expect(throws: LogIOError.cannotOpen(path: path, errno: ENOENT)) { _ = try AtomicFileWriter(path: path) }
        do {
            _ = try AtomicFileWriter(path: path)
        } catch {
            #expect(!"\(error)".contains(".partial-"), "\(error)")
        }
    }

    @Test func createFolderSaysWhyNot() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("file.txt").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(FileIO.createFolder(dir.appendingPathComponent("a/b").path) == nil)
        #expect(FileIO.createFolder(dir.appendingPathComponent("a/b").path) == nil)
        #expect(FileIO.createFolder("") == "the path is empty; expected the name of a folder")
        #expect(FileIO.createFolder(file) == "it is a file, not a folder")
        #expect(FileIO.createFolder(file + "/sub/deeper") == "\(file) is a file, not a folder")
    }

    @Test func gzipOutputReadsBackThroughGunzipAndLineReader() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.gz").path
        let lines = (0..<20000).map { "line \($0)\t\($0 * 7919 % 1000)" }
        let writer = try AtomicFileWriter(path: path, gzip: true, bufferSize: 4096)
        for line in lines { try writer.write(line); try writer.write(byte: 10) }
        try writer.commit()
        #expect(try LineReaderTests.shell("gzip -t '\(path)'") == 0)
        #expect(try LineReaderTests.readAll(LineReader(path: path)) == lines)
    }

    @Test(arguments: [Int64.min, -1, 0, 7, 10, 99, 100, Int64.max])
    func formatIntMatchesDescription(_ value: Int64) {
        var out = [UInt8](repeating: 0, count: 24)
        let n = out.withUnsafeMutableBufferPointer { formatInt(value, into: $0.baseAddress!) }
        #expect(String(decoding: out[..<n], as: UTF8.self) == String(value))
    }
}

struct ByteParsingTests {
    static func int64(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { ByteParsing.int64($0) }
    }

    static func double(_ s: String) -> Double? {
        var s = s
        return s.withUTF8 { ByteParsing.double($0) }
    }

    @Test func integers() {
        #expect(Self.int64("0") == 0)
        #expect(Self.int64("-2") == -2)
        #expect(Self.int64("+15") == 15)
        #expect(Self.int64("9223372036854775807") == Int64.max)
        #expect(Self.int64("-9223372036854775808") == Int64.min)
        for bad in ["", "-", "+", "9223372036854775808", "-9223372036854775809", "1.0", "1e3", " 1", "1 ", "0x10", "abc"] {
            #expect(Self.int64(bad) == nil, "\(bad)")
        }
    }

    /// Both paths of `int64` (up to 18 bytes without overflow checks, longer with them)
    /// against Swift's own parser, at every length and sign.
    @Test func integersMatchSwiftsParser() {
        var cases = ["0", "-0", "+7", "007", "-", "+", "", "12a", "123456789012345678", "-123456789012345678",
                     "+12345678901234567", "1234567890123456789", "-1234567890123456789", "99999999999999999999"]
        var rng = SplitMix64(seed: 32)
        for _ in 0..<2000 { cases.append(String(Int64(bitPattern: rng.next()) >> (rng.next() % 64))) }
        for text in cases {
            let expected = text.hasPrefix("+") && text.count > 1 ? Int64(text.dropFirst()) : Int64(text)
            #expect(Self.int64(text) == (text == "+" ? nil : expected), "\"\(text)\"")
        }
    }

    @Test func doublesAreCorrectlyRounded() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<20000 {
            // Random decimals of varied shape, compared with Swift's own correctly rounded parser.
            let digits = String(rng.next() % 10_000_000_000)
            let point = Int(rng.next() % UInt64(digits.count + 1))
            var text = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
            if rng.next() % 2 == 0 { text = "-" + text }
            if rng.next() % 5 == 0 { text += "e\(Int(rng.next() % 40) - 20)" }
            #expect(Self.double(text) == Double(text), "\(text)")
        }
        #expect(Self.double("0.1") == 0.1)
        #expect(Self.double("260.0") == 260)
        #expect(Self.double("1e308") == 1e308)
        #expect(Self.double("12345678901234567890.5") == 12345678901234567890.5)
        #expect(Self.double("inf") == .infinity)
        #expect(Self.double("nan")?.isNaN == true)
        for bad in ["", ".", "-", "1.2.3", "1e", "abc", " 1", "1 ", "1,5"] {
            #expect(Self.double(bad) == nil, "\(bad)")
        }
    }

    @Test func fieldSplitterKeepsEmptyFields() {
        var splitter = FieldSplitter(separator: 9)
        var line = "a\t\tbc\t"
        let fields = line.withUTF8 { splitter.split($0).map(\.string) }
        #expect(fields == ["a", "", "bc", ""])
        var empty = ""
        #expect(empty.withUTF8 { splitter.split($0).count } == 1)
    }
}
