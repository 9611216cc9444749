import Cluster
import Foundation
import LogIO
import TestSupport
import Testing
@testable import Ingest

/// The pieces of ctr-ingest on MPI that need no MPI: cutting a file at line starts, giving
/// files to ranks, and merging the column statistics of several ranks.
struct ShareMergeTests {
    /// Cuts `text` into `parts` with `LineRanges.cuts` reading it through a small buffer.
    func cuts(_ text: String, parts: Int) throws -> [Int64] {
        let bytes = Array(text.utf8)
        return try LineRanges.cuts(size: Int64(bytes.count), parts: parts) { offset, buffer in
            // At most 3 bytes per read: the search for a line end crosses reads.
            let n = min(3, buffer.count, bytes.count - Int(offset))
            for i in 0..<max(n, 0) { buffer[i] = bytes[Int(offset) + i] }
            return max(n, 0)
        }
    }

    @Test func cutsFallOnLineStarts() throws {
        // Lines start at 0, 4, 9, 11, 18; 20 bytes.
        let text = "abc\ndefg\nh\nijklmn\nop"
        #expect(try cuts(text, parts: 1) == [0, 20])
        // Nominal 10: the line "h" starts at 9, so the next line start at or after 10 is 11.
        #expect(try cuts(text, parts: 2) == [0, 11, 20])
        // Nominal 5, 10, 15 -> 9, 11, 18.
        #expect(try cuts(text, parts: 4) == [0, 9, 11, 18, 20])
        // A nominal point right after a line feed is a line start itself: 4 bytes per part.
        #expect(try cuts("abc\ndef\n", parts: 2) == [0, 4, 8])
    }

    @Test func cutsOfLongLinesLeaveEmptyShares() throws {
        // One line longer than every share: the first rank takes it, the others get nothing.
        #expect(try cuts("abcdefghij\n", parts: 3) == [0, 11, 11, 11])
        #expect(try cuts("", parts: 2) == [0, 0, 0])
        // No final line feed: the last line still belongs to one share.
        #expect(try cuts("ab\ncd", parts: 2) == [0, 3, 5])
    }

    @Test func sharesReadEveryLineOnceWithFileLineNumbers() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("lines.txt").path
        let lines = (1...1000).map { "line \($0) " + String(repeating: "x", count: $0 % 37) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        for parts in [1, 2, 3, 7] {
            let c = try LineRanges.cuts(path: path, parts: parts)
            var read: [String] = []
            var firstLine = 1
            for r in 0..<parts {
                let reader = LineReader(source: try RangeFileSource(path: path, range: c[r]..<c[r + 1]), path: path, bufferSize: 64)
                var local = 0
                while let line = try reader.next() {
                    local += 1
                    // The line's number in the file is the share's first line plus its index.
                    #expect(line.string == lines[firstLine + local - 2])
                    read.append(line.string)
                }
                #expect(try LineRanges.lineFeeds(path: path, range: c[r]..<c[r + 1]) == local)
                firstLine += local
            }
            #expect(read == lines, "\(parts) parts")
        }
    }

    @Test func filesGoToRanksInOrderBalancedBySize() {
        #expect(LineRanges.assignFiles(sizes: [10, 10, 10, 10], ranks: 2) == [[0, 1], [2, 3]])
        // A big first file: its middle byte is in rank 0's half; the small ones follow in rank 1.
        #expect(LineRanges.assignFiles(sizes: [100, 10, 10], ranks: 2) == [[0], [1, 2]])
        // Fewer files than ranks: each file to the rank of its middle byte (2.5 of 10 bytes is in
        // rank 1's quarter, 7.5 in rank 3's); the others idle.
        #expect(LineRanges.assignFiles(sizes: [5, 5], ranks: 4) == [[], [0], [], [1]])
        #expect(LineRanges.assignFiles(sizes: [0, 0, 0], ranks: 2) == [[0, 1], [2]])
    }

    /// Parsed rows of a tiny schema for the column statistics.
    func statistics(of rows: [[String]], columns: [OutputColumn]) -> ColumnStatisticsAccumulator {
        let accumulator = ColumnStatisticsAccumulator(columns: columns)
        let schema = Schema(name: "t", delimiter: "\t", header: .absent,
                            columns: [SchemaColumn("label", .label)]
                                + columns.map { SchemaColumn($0.name, $0.type == .integer ? .integer : .categorical) })
        let parser = try! RowParser(schema: schema)
        for row in rows {
            var line = Array(("1\t" + row.joined(separator: "\t")).utf8)
            line.withUnsafeMutableBufferPointer { p in
                if case .row(let parsed) = parser.parse(UnsafeBufferPointer(p)) { accumulator.add(parsed) }
            }
        }
        return accumulator
    }

    @Test func mergedColumnStatisticsEqualOnePass() throws {
        let columns = [OutputColumn(name: "n", type: .integer), OutputColumn(name: "c", type: .categorical)]
        var rng = SplitMix64(seed: 5)
        let rows: [[String]] = (0..<30_000).map { i in
            [i % 11 == 0 ? "" : String(Int(rng.next() % 2000) - 300), String(rng.next() % 5000, radix: 16)]
        }
        let whole = statistics(of: rows, columns: columns).finish()
        for cut in [[0, 30_000], [0, 9_999, 30_000], [0, 1, 12_345, 29_000, 30_000]] {
            let parts = (0..<(cut.count - 1)).map { statistics(of: Array(rows[cut[$0]..<cut[$0 + 1]]), columns: columns) }
            let merged = ColumnStatisticsAccumulator(columns: columns)
            for p in parts {
                var m = ClusterMessage()
                p.encode(into: &m)
                var reader = ClusterMessageReader(m.bytes)
                try merged.merge(&reader)
                #expect(reader.isAtEnd)
            }
            // HyperLogLog registers merged by maximum are the registers of one pass: the same
            // estimate; integer sums are exact, so the mean is too.
            #expect(merged.finish() == whole, "cut at \(cut)")
        }
        #expect(whole[0].min == -300 && whole[0].distinctEstimate > 1900 && whole[1].distinctEstimate > 4800)
    }

    @Test func messagesRoundTrip() throws {
        var m = ClusterMessage()
        m.append(-5)
        m.append(Int64.min)
        m.append(-0.1)
        m.append("tab\there é")
        m.append(bytes: [])
        var r = ClusterMessageReader(m.bytes)
        #expect(try r.int() == -5)
        #expect(try r.int() == Int64.min)
        #expect(try r.double() == -0.1)
        #expect(try r.string() == "tab\there é")
        #expect(try r.byteArray() == [])
        #expect(r.isAtEnd)
        #expect(throws: ClusterDataError.self) { try r.int() }
        // One rank without MPI: the collectives return their input.
        #expect(try Cluster.single.exclusivePrefixSum(7) == (0, 7))
        #expect(try Cluster.single.allgatherParts([1, 2]) == [[1, 2]])
    }
}
