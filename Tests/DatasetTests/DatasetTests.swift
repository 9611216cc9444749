import Foundation
import Testing
import LogIO
import TestSupport
@testable import Dataset


func write(_ text: String, to name: String, in dir: URL) throws -> String {
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    return path
}

func readAll(_ path: String) throws -> [(Float, [Feature])] {
    let reader = try LibFFMReader(path: path)
    var rows: [(Float, [Feature])] = []
    while let row = try reader.next() { rows.append((row.label, Array(row.features))) }
    return rows
}

func randomRows(count: Int, seed: UInt64, maxFeatures: Int = 12) -> [(Float, [Feature])] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let n = Int.random(in: 0...maxFeatures, using: &rng)
        let features = (0..<n).map { _ in
            Feature(field: UInt32.random(in: 0..<9, using: &rng), index: UInt32.random(in: 0..<1000, using: &rng),
                    value: Bool.random(using: &rng) ? 1 : Float.random(in: -3...3, using: &rng))
        }
        return (Float(Int.random(in: 0...1, using: &rng)), features)
    }
}

@Suite struct XXHash64Tests {
    @Test(arguments: [
        ("", UInt64(0xEF46_DB37_51D8_E999)),
        ("a", UInt64(0xD24E_C4F1_A98C_6E5B)),
        ("abc", UInt64(0x44BC_2CF5_AD77_0999)),
        ("Nobody inspects the spammish repetition", UInt64(0xFBCE_A83C_8A37_8BF1)),
    ])
    func publishedVectors(input: String, expected: UInt64) {
        var s = input
        let h = s.withUTF8 { XXHash64.hash(UnsafeRawBufferPointer($0)) }
        #expect(h == expected)
    }

    @Test func streamingEqualsOneShot() {
        var rng = SplitMix64(seed: 7)
        let bytes = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = bytes.withUnsafeBytes { XXHash64.hash($0, seed: 42) }
        for piece in [1, 3, 7, 31, 32, 33, 100] {
            var state = XXHash64(seed: 42)
            var i = 0
            while i < bytes.count {
                let j = min(i + piece, bytes.count)
                bytes[i..<j].withUnsafeBytes { state.update($0) }
                i = j
            }
            #expect(state.digest() == whole, "piece size \(piece)")
        }
    }
}

@Suite struct LibFFMReaderTests {
    @Test func readsLabelsSpacingAndMissingFinalNewline() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let path = try write("1 0:5:1 2:7:0.5\n-1\t1:3:2.25  \n+1 0:0:1e-3\n  0 3:4294967295:-1\n1", to: "a.ffm", in: dir)
        let rows = try readAll(path)
        #expect(rows.count == 5)
        #expect(rows.map(\.0) == [1, 0, 1, 0, 1])
        #expect(rows[0].1 == [Feature(field: 0, index: 5, value: 1), Feature(field: 2, index: 7, value: 0.5)])
        #expect(rows[1].1 == [Feature(field: 1, index: 3, value: 2.25)])
        #expect(rows[2].1 == [Feature(field: 0, index: 0, value: 0.001)])
        #expect(rows[3].1 == [Feature(field: 3, index: UInt32.max, value: -1)])
        #expect(rows[4].1.isEmpty)
    }

    @Test func readsGzipAndCRLF() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let path = dir.appendingPathComponent("a.ffm.gz").path
        let w = try AtomicFileWriter(path: path, gzip: true)
        try w.write("1 0:1:1\r\n0 1:2:3\r\n")
        try w.commit()
        let rows = try readAll(path)
        #expect(rows.map(\.0) == [1, 0])
        #expect(rows[1].1 == [Feature(field: 1, index: 2, value: 3)])
    }

    @Test func longLineHasNoLimit() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let count = 300_000
        var text = "1"
        text.reserveCapacity(count * 16)
        for i in 0..<count { text += " \(i % 39):\(i):1" }
        text += "\n0 1:1:1\n"
        #expect(text.utf8.count > 3_000_000)
        let path = try write(text, to: "long.ffm", in: dir)
        let reader = LibFFMReader(lines: try LineReader(path: path, bufferSize: 4096, prefetch: false))
        let first = try #require(try reader.next())
        #expect(first.features.count == count)
        #expect(first.features[count - 1] == Feature(field: UInt32((count - 1) % 39), index: UInt32(count - 1), value: 1))
        let second = try #require(try reader.next())
        #expect(second.features.count == 1)
        #expect(try reader.next() == nil)
    }

    struct BadCase: CustomTestStringConvertible, Sendable {
        let text: String
        let expected: DatasetError
        var testDescription: String { text.debugDescription }
    }

    static let path = "bad.ffm"
    static let badCases: [BadCase] = [
        BadCase(text: "1 0:1:1\n1 0:5\n", expected: .badFeature(path: path, line: 2, column: 1, token: "0:5",
                                                                  reason: "missing ':' before the value (only field:index given)")),
        BadCase(text: "1 a:b:c\n", expected: .badFeature(path: path, line: 1, column: 1, token: "a:b:c",
                                                          reason: "field is not a non-negative integer")),
        BadCase(text: "1 0:1:1 -1:2:1\n", expected: .badFeature(path: path, line: 1, column: 2, token: "-1:2:1", reason: "field is negative")),
        BadCase(text: "1 0:-2:1\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0:-2:1", reason: "index is negative")),
        BadCase(text: "1 0:2:nan\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0:2:nan", reason: "value is NaN or infinite")),
        BadCase(text: "1 0:2:inf\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0:2:inf", reason: "value is NaN or infinite")),
        BadCase(text: "1 0:2:1e39\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0:2:1e39",
                                                             reason: "value is outside the 32-bit float range")),
        BadCase(text: "1 0:2:x\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0:2:x", reason: "value is not a decimal number")),
        BadCase(text: "1 0:2:1:4\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0:2:1:4", reason: "value is not a decimal number")),
        BadCase(text: "1 0:2:\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0:2:", reason: "missing value")),
        BadCase(text: "1 0::1\n", expected: .badFeature(path: path, line: 1, column: 1, token: "0::1", reason: "index is empty")),
        BadCase(text: "1 4294967296:1:1\n", expected: .badFeature(path: path, line: 1, column: 1, token: "4294967296:1:1",
                                                                   reason: "field is larger than 4294967295")),
        BadCase(text: "1 5\n", expected: .badFeature(path: path, line: 1, column: 1, token: "5", reason: "missing ':' after the field")),
        BadCase(text: "2 0:1:1\n", expected: .badLabel(path: path, line: 1, token: "2")),
        BadCase(text: "1.0 0:1:1\n", expected: .badLabel(path: path, line: 1, token: "1.0")),
        BadCase(text: "yes\n", expected: .badLabel(path: path, line: 1, token: "yes")),
        BadCase(text: "1 0:1:1\n\n0 0:1:1\n", expected: .emptyLine(path: path, line: 2)),
        BadCase(text: "1 0:1:1\n \t\n", expected: .emptyLine(path: path, line: 2)),
    ]

    @Test(arguments: badCases)
    func malformedInputIsAClearError(_ bad: BadCase) throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let full = try write(bad.text, to: LibFFMReaderTests.path, in: dir)
        #expect(throws: DatasetError.self) { _ = try readAll(full) }
        do {
            _ = try readAll(full)
        } catch let error as DatasetError {
            let expected: DatasetError
            switch bad.expected {
            case let .badFeature(_, line, column, token, reason):
                expected = .badFeature(path: full, line: line, column: column, token: token, reason: reason)
            case let .badLabel(_, line, token): expected = .badLabel(path: full, line: line, token: token)
            case let .emptyLine(_, line): expected = .emptyLine(path: full, line: line)
            default: expected = bad.expected
            }
            #expect(error == expected)
            #expect(error.description.contains("\(full):"))
        }
    }

    @Test(.enabled(if: TestSupport.hasSharedData("libffm/xlearn/small_train.txt"), "../shared/data/libffm/xlearn/small_train.txt is absent"))
    func realSampleReads() throws {
        let data = try #require(TestSupport.sharedData)
        let path = data.appendingPathComponent("libffm/xlearn/small_train.txt").path
        let rows = try readAll(path)
        #expect(rows.count == 200)
        #expect(rows.filter { $0.0 == 1 }.count == 48)
        #expect(rows[0].1.first == Feature(field: 0, index: 0, value: 0.3651))
        #expect(rows.allSatisfy { $0.1.allSatisfy { $0.field <= 17 && $0.index <= 9990 } })
    }
}

@Suite struct LibFFMWriterTests {
    func formatted(_ v: Float) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = bytes.withUnsafeMutableBufferPointer { FloatText.format(v, into: $0.baseAddress!) }
        return String(decoding: bytes[..<n], as: UTF8.self)
    }

    @Test func shortFormsForCommonValues() {
        #expect(formatted(1) == "1")
        #expect(formatted(0) == "0")
        #expect(formatted(0.5) == "0.5")
        #expect(formatted(0.3651) == "0.3651")
        #expect(formatted(-2.25) == "-2.25")
        #expect(formatted(12345) == "12345")
        #expect(formatted(0.1) == "0.1")
    }

    @Test func valuesRoundTripExactly() throws {
        var rng = SplitMix64(seed: 11)
        var values: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                               .leastNormalMagnitude, 1e-5, 3.0e9, 16_777_216, 0.1, 1.0 / 3.0]
        for _ in 0..<20_000 {
            values.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)))
            values.append(Float.random(in: 0...1, using: &rng))
        }
        for v in values where v.isFinite {
            let text = formatted(v)
            let back = text.utf8.withContiguousStorageIfAvailable { ByteParsing.double($0) }!.map { Float($0) }
            #expect(back == v, "\(v) written as \(text)")
            #expect(Float(strtod(text, nil)) == v, "\(v) through strtod")
        }
    }

    @Test func writerRoundTripsThroughReader() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let rows = randomRows(count: 500, seed: 3)
        for gzip in [false, true] {
            let path = dir.appendingPathComponent(gzip ? "out.ffm.gz" : "out.ffm").path
            let writer = try LibFFMWriter(path: path, gzip: gzip)
            for (label, features) in rows { try writer.write(label: label, features: features) }
            try writer.commit()
            let back = try readAll(path)
            #expect(back.count == rows.count)
            #expect(zip(back, rows).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 })
        }
        let text = try String(contentsOfFile: dir.appendingPathComponent("out.ffm").path, encoding: .utf8)
        #expect(text.hasSuffix("\n"))
        #expect(!text.contains("  "))
    }

    @Test func writerRejectsBadLabel() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let writer = try LibFFMWriter(path: dir.appendingPathComponent("x.ffm").path)
        #expect(throws: DatasetError.self) { try writer.write(label: 0.5, features: []) }
    }
}

@Suite struct BinaryCacheTests {
    func makeCache(_ rows: [(Float, [Feature])], in dir: URL, groupRows: Int = 7) throws -> (String, CacheInfo) {
        let path = dir.appendingPathComponent("c.cache").path
        let writer = try CacheWriter(path: path, rowGroupRows: groupRows)
        for (label, features) in rows { try writer.append(label: label, features: features) }
        return (path, try writer.finish())
    }

    @Test func roundTripByBlocksStreamAndMap() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let rows = randomRows(count: 103, seed: 5)
        let (path, info) = try makeCache(rows, in: dir)
        #expect(info.rowCount == 103)
        #expect(info.featureCount == rows.reduce(0) { $0 + $1.1.count })
        #expect(info.positives == rows.filter { $0.0 == 1 }.count)
        #expect(info.fieldCount == Int(rows.flatMap(\.1).map(\.field).max()!) + 1)
        #expect(info.indexCount == Int(rows.flatMap(\.1).map(\.index).max()!) + 1)
        #expect(info.maxRowFeatures == rows.map(\.1.count).max()!)
        #expect(info.groupCount == 15)

        let reader = try CacheReader(path: path)
        #expect(reader.info == info)
        // Blocks of every size, in reverse order, through the prefetching stream.
        for target in [1, 100, 1000, 1 << 20] {
            let blocks = reader.blocks(targetBytes: target)
            #expect(blocks.first?.lowerBound == 0 && blocks.last?.upperBound == info.groupCount)
            let stream = CacheBlockStream(reader: reader, order: blocks.reversed())
            var seen = 0
            while let block = try stream.next() {
                for i in 0..<block.rowCount {
                    let row = block.row(i)
                    let expected = rows[block.firstRow + i]
                    #expect(row.label == expected.0)
                    #expect(Array(row.features) == expected.1)
                    seen += 1
                }
            }
            #expect(seen == rows.count)
        }
        let mapped = try reader.map()
        for (i, expected) in rows.enumerated() {
            #expect(mapped.row(i).label == expected.0)
            #expect(Array(mapped.row(i).features) == expected.1)
        }
    }

    @Test func emptyCache() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let (path, info) = try makeCache([], in: dir)
        var empty = CacheInfo(rowGroupRows: 7)
        empty.compact = true
        #expect(info == empty)
        let reader = try CacheReader(path: path)
        #expect(reader.blocks(targetBytes: 100).isEmpty)
        _ = try reader.map()
    }

    @Test func convertsLibFFMText() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let rows = randomRows(count: 50, seed: 9)
        let text = dir.appendingPathComponent("t.ffm").path
        let writer = try LibFFMWriter(path: text)
        for (label, features) in rows { try writer.write(label: label, features: features) }
        try writer.commit()
        let cache = dir.appendingPathComponent("t.cache").path
        let info = try CacheWriter.convert(libffm: text, to: cache)
        #expect(info.rowCount == 50)
        let mapped = try CacheReader(path: cache).map()
        #expect((0..<50).allSatisfy { Array(mapped.row($0).features) == rows[$0].1 && mapped.row($0).label == rows[$0].0 })
        // A malformed text leaves no cache behind.
        let bad = try write("1 0:1:1\n1 0:5\n", to: "bad.ffm", in: dir)
        let badCache = dir.appendingPathComponent("bad.cache").path
        #expect(throws: DatasetError.self) { try CacheWriter.convert(libffm: bad, to: badCache) }
        #expect(!FileManager.default.fileExists(atPath: badCache))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)
    }

    func damaged(_ path: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        edit(&bytes)
        let out = path + ".damaged"
        try Data(bytes).write(to: URL(fileURLWithPath: out))
        return out
    }

    func readEverything(_ path: String) throws {
        let reader = try CacheReader(path: path)
        try reader.verify()
    }

    @Test func damagedFilesAreClearErrors() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let (path, info) = try makeCache(randomRows(count: 40, seed: 1), in: dir)
        let layout = info.layout
        // A flipped bit in the features, the labels, the offsets.
        for offset in [layout.features + 13, layout.labels + 3, layout.offsets + 8 * 5 + 1] {
            let bad = try damaged(path) { $0[offset] ^= 0x10 }
            #expect(throws: DatasetError.self) { try readEverything(bad) }
            do { try readEverything(bad) } catch let e as DatasetError {
                switch e {
                case .checksumMismatch, .corruptCache: break
                default: Issue.record("unexpected \(e)")
                }
            }
        }
        let truncated = try damaged(path) { $0.removeLast(100) }
        #expect(throws: DatasetError.self) { try readEverything(truncated) }
        let foreign = try write("1 0:1:1\n", to: "foreign", in: dir)
        #expect(throws: DatasetError.notACache(path: foreign, detail: "the file does not start with \"CTRCACHE\"")) { try readEverything(foreign) }
        let future = try damaged(path) { $0[8] = 9 }
        #expect(throws: DatasetError.unsupportedCacheVersion(path: future, found: 9, supported: 4)) { try readEverything(future) }
        let footer = try damaged(path) { $0[$0.count - 100] ^= 1 }
        #expect(throws: DatasetError.self) { try readEverything(footer) }
        let tiny = try damaged(path) { $0 = Array($0.prefix(10)) }
        #expect(throws: DatasetError.self) { try readEverything(tiny) }
    }

    /// Found by review of the fuzzing harness (Fuzz/, target cache): an offset damaged in a
    /// later row group of a block that does not start at group 0 trapped (UInt64 underflow in
    /// `read(groups:into:)`) before the group's checksum was checked.
    @Test func damagedOffsetInsideABlockIsAnError() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        let rows = (0..<6).map { r in (Float(r % 2), [Feature(field: 0, index: UInt32(r), value: 1)]) }
        let (path, info) = try makeCache(rows, in: dir, groupRows: 2)
        #expect(info.groupCount == 3)
        // Row 4 (the end of group 1, the start of group 2) now starts at feature 0, before the
        // first feature of the block that starts at group 1 (feature 2).
        let bad = try damaged(path) { bytes in
            for i in 0..<8 { bytes[info.layout.offsets + 8 * 4 + i] = 0 }
        }
        let reader = try CacheReader(path: bad)
        #expect(throws: DatasetError.corruptCache(path: bad, detail: "row offsets out of order in row group 1")) {
            try reader.read(groups: 1..<3, into: CacheBlock())
        }
        #expect(throws: DatasetError.corruptCache(path: bad, detail: "row offsets out of order in row group 1")) {
            try reader.verify()
        }
        let stream = CacheBlockStream(reader: reader, order: [2..<3, 1..<3])
        #expect(throws: DatasetError.self) { while try stream.next() != nil {} }
    }

    @Test(.enabled(if: TestSupport.hasSharedData("libffm/xlearn/small_test.txt"), "../shared/data/libffm/xlearn/small_test.txt is absent"))
    func realSampleConverts() throws {
        let data = try #require(TestSupport.sharedData)
        let path = data.appendingPathComponent("libffm/xlearn/small_test.txt").path
        let dir = try TestSupport.makeTemporaryDirectory()
        let info = try CacheWriter.convert(libffm: path, to: dir.appendingPathComponent("s.cache").path)
        #expect(info.rowCount == 200)
        #expect(info.positives == 46)
        #expect(info.fieldCount == 18)
    }
}
