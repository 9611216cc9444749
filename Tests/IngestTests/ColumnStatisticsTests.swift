import Cluster
import Foundation
import LogIO
import Testing
@testable import Ingest

/// The column statistics against a plain Neumaier sum over every present value (what
/// `ColumnStatisticsAccumulator` computed before integer columns were summed exactly): the
/// same bits of the mean, with sums that stay exact, cross ±2^53 midway, or hold integers
/// no Double holds exactly.
struct ColumnStatisticsTests {
    static let columns = [OutputColumn(name: "i", type: .integer), OutputColumn(name: "f", type: .float),
                          OutputColumn(name: "c", type: .categorical)]

    /// Neumaier's state of a column: (sum, compensation), as the accumulator's `add` and `merge` step it.
    struct Reference {
        var sum = 0.0, compensation = 0.0, present = 0
        var minimum = Int64.max, maximum = Int64.min
        mutating func add(_ x: Double) {
            let t = sum + x
            compensation += abs(sum) >= abs(x) ? (sum - t) + x : (x - t) + sum
            sum = t
        }
        mutating func merge(_ o: Reference) {
            let t = sum + o.sum
            compensation += (abs(sum) >= abs(o.sum) ? (sum - t) + o.sum : (o.sum - t) + sum) + o.compensation
            sum = t
            present += o.present
            minimum = min(minimum, o.minimum)
            maximum = max(maximum, o.maximum)
        }
        var mean: Double { (sum + compensation) / Double(present) }
    }

    static func accumulate(_ rows: ArraySlice<[String]>) -> (ColumnStatisticsAccumulator, Reference) {
        let accumulator = ColumnStatisticsAccumulator(columns: columns)
        let schema = Schema(name: "t", delimiter: "\t", header: .absent,
                            columns: [SchemaColumn("label", .label), SchemaColumn("i", .integer),
                                      SchemaColumn("f", .float), SchemaColumn("c", .categorical)])
        let parser = try! RowParser(schema: schema)
        var reference = Reference()
        for row in rows {
            var line = Array(("1\t" + row.joined(separator: "\t")).utf8)
            line.withUnsafeMutableBufferPointer { p in
                guard case .row(let parsed) = parser.parse(UnsafeBufferPointer(p)) else { Issue.record("bad row \(row)"); return }
                accumulator.add(parsed)
                if let v = Int64(row[0]) {
                    reference.add(Double(v))
                    reference.present += 1
                    reference.minimum = min(reference.minimum, v)
                    reference.maximum = max(reference.maximum, v)
                }
            }
        }
        return (accumulator, reference)
    }

    static func rows(_ values: [Int64?]) -> [[String]] {
        values.enumerated().map { i, v in [v.map { String($0) } ?? "", String(Double(i) * 0.37 - 5), String(i % 97, radix: 16)] }
    }

    static let cases: [(String, [Int64?])] = {
        var random = SplitMix64(seed: 53)
        let limit: Int64 = 1 << 53
        return [
            ("small", (0..<5000).map { i in i % 7 == 0 ? nil : Int64(random.next(below: 20_000)) - 5000 }),
            ("crossing 2^53 midway", (0..<400).map { _ in Int64(random.next(below: 1 << 51)) + (1 << 50) }),
            ("crossing -2^53", (0..<400).map { _ in -Int64(random.next(below: 1 << 51)) - (1 << 50) }),
            ("at the limit", [limit, -limit, limit, 1, -1, limit - 1, nil, -limit]),
            ("beyond any exact Double", [3, Int64.max, -7, Int64.min, 12, limit + 1, -(limit + 3), 5]),
            ("large then small", [limit + 1] + (0..<300).map { Int64($0) }),
        ]
    }()

    @Test(arguments: 0..<cases.count) func integerMeansAreNeumaiersBits(index: Int) {
        let (name, values) = Self.cases[index]
        let rows = Self.rows(values)
        let (accumulator, reference) = Self.accumulate(rows[...])
        let stats = accumulator.finish()
        #expect(stats[0].mean?.bitPattern == reference.mean.bitPattern, "\(name): \(stats[0].mean!) against \(reference.mean)")
        #expect(stats[0].min == Double(reference.minimum) && stats[0].max == Double(reference.maximum), "\(name)")
        // Split in three and merged (ranks under MPI): the merge's Neumaier steps over each part's state.
        let cuts = [0, rows.count / 3, rows.count / 2, rows.count]
        let merged = ColumnStatisticsAccumulator(columns: Self.columns)
        var mergedReference = Reference()
        for p in 0..<3 {
            let (part, partReference) = Self.accumulate(rows[cuts[p]..<cuts[p + 1]])
            var m = ClusterMessage()
            part.encode(into: &m)
            var reader = ClusterMessageReader(m.bytes)
            try! merged.merge(&reader)
            mergedReference.merge(partReference)
        }
        let mergedStats = merged.finish()
        #expect(mergedStats[0].mean?.bitPattern == mergedReference.mean.bitPattern, "\(name), merged")
        #expect(mergedStats[0].min == stats[0].min && mergedStats[0].max == stats[0].max, "\(name), merged")
        #expect(mergedStats[2] == stats[2], "\(name), merged")
    }
}
