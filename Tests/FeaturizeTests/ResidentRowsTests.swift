import Dataset
import Foundation
import Ingest
import LogIO
import Testing
@testable import Featurize

/// `--resident-mb` (issue #18): train featurized from the values the counting pass kept
/// gives the same bytes as reading train again, whatever the budget, threads and options.
struct ResidentRowsTests {
    static let names = ["train.ffm", "valid.ffm", "test.ffm", "train.cache", "valid.cache", "test.cache", "featurizer.json"]

    @Test func sameBytesWithAndWithoutTheRowsKeptInMemory() throws {
        let scratch = try Scratch("resident")
        // About 3,200 training rows of 39 fields: 1.1 MB kept (352 bytes a row), so a 1 MB budget
        // holds the first chunks only and the run falls back to reading train again.
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 4000, seed: 11), valid: 0.1, test: 0.1)
        let variants: [(String, (inout HashParams) -> Void)] = [
            ("default", { _ in }),
            ("threads 3", { $0.threads = 3 }),
            ("rare threshold 0", { $0.rareThreshold = 0; $0.threads = 1 }),
            ("rare threshold 2", { $0.rareThreshold = 2 }),
            ("shared space", { $0.sharedSpace = 1_000_003 }),
            ("fixed bins", { $0.bins = .fixed(4096); $0.rareThreshold = 3 }),
            ("count limit", { $0.countLimit = 1024; $0.rareThreshold = 2 }),
            ("spline (not kept)", { $0.numeric = .spline }),
        ]
        for (name, configure) in variants {
            var outputs: [[Data]] = []
            var kept: [Int] = []
            var trainRows = 0
            for mb in [0, 1, 1024] {
                let out = "out-\(name)-\(mb)"
                let result = try hash(rows: rows, out: scratch.path(out), chunkBytes: 40_000) {
                    configure(&$0)
                    $0.residentMb = mb
                }
                kept.append(result.residentBytes)
                trainRows = result.splits.first { $0.split == "train" }?.rows ?? 0
                outputs.append(Self.names.map { scratch.data("\(out)/\($0)") ?? Data() })
            }
            #expect(outputs[0].allSatisfy { !$0.isEmpty }, "\(name)")
            for (i, file) in Self.names.enumerated() {
                #expect(outputs[1][i] == outputs[0][i], "\(name): \(file) with a 1 MB budget")
                #expect(outputs[2][i] == outputs[0][i], "\(name): \(file) with the default budget")
            }
            #expect(kept[0] == 0 && kept[1] == 0, "\(name): nothing kept with 0 MB or a budget train does not fit")
            #expect(trainRows > 3000 && trainRows * 352 > 1_000_000, "\(name): \(trainRows) training rows")
            if ["fixed bins", "shared space", "spline (not kept)"].contains(name) {
                // With fixed bins or a shared space the log-square fields are not counted (so
                // not kept); spline fields need their bytes.
                #expect(kept[2] == 0, "\(name)")
            } else {
                #expect(kept[2] == trainRows * (39 * 9 + 1), "\(name): train kept whole with 1024 MB")
            }
        }
    }

    @Test func aBudgetAboveTheMachinesMemoryIsAnErrorNamingTheOption() throws {
        let scratch = try Scratch("resident-budget")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 200, seed: 12))
        let error = caught {
            _ = try hash(rows: rows, out: scratch.path("out")) { $0.residentMb = 1 << 30 }
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.hasPrefix("--resident-mb: found 1073741824, 1.1 PB, more than this machine's"), "\(text)")
    }

    @Test func keptValuesAreTheCountingPassFingerprintsAndIntegers() throws {
        let kinds: [ResidentRows.Kind] = [.fingerprint, .integer]
        let resident = ResidentRows(kinds: kinds, budgetBytes: 1000, workers: 1)
        #expect(resident.bytesPerRow == 19)
        let chunk = LineChunk(capacity: 64)
        let source = RowsLines(["1\tab\t7", "0\t\t-3"])
        #expect(try chunk.fill(from: source, target: 1000))
        chunk.prepareRows(fieldCount: 2)
        #expect(resident.admit(chunk) == 0)
        #expect(resident.usedBytes == 38)
        // 26 chunks of 2 rows take 988 bytes: the 27th is refused, and so is every later one.
        for i in 1..<26 { #expect(resident.admit(chunk) == i) }
        #expect(resident.admit(chunk) == -1)
        #expect(!resident.active && resident.admit(chunk) == -1)
        resident.release()
        #expect(resident.chunkCount == 0 && resident.usedBytes == 0)
    }
}

/// Lines for `LineChunk.fill`, from strings.
private final class RowsLines: LineSource {
    private var lines: [[UInt8]]
    private var storage: UnsafeMutablePointer<UInt8>?
    private(set) var lineNumber = 0
    var fileBytesRead: Int64 { 0 }

    init(_ lines: [String]) { self.lines = lines.map { Array($0.utf8) } }
    deinit { storage?.deallocate() }

    func next() throws -> ByteSlice? {
        guard lineNumber < lines.count else { return nil }
        storage?.deallocate()
        let line = lines[lineNumber]
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(line.count, 1))
        p.initialize(from: line, count: line.count)
        storage = p
        lineNumber += 1
        return ByteSlice(start: p, count: line.count)
    }
}
