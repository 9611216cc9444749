import Dataset
import Foundation
import Ingest
import LogIO
import Testing
@testable import Featurize

/// Output bytes depend on the input, options and seed only: not on threads or chunking.
struct DeterminismTests {
    @Test func identicalOutputWhateverTheThreadsAndChunks() throws {
        let scratch = try Scratch("determinism")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 3000, seed: 5), valid: 0.1, test: 0.1)
        let names = ["train.ffm", "valid.ffm", "test.ffm", "train.cache", "valid.cache", "test.cache", "featurizer.json"]
        var reference: [Data]?
        for (threads, chunk) in [(1, 1 << 20), (1, 5000), (2, 3000), (3, 777), (4, 64 * 1024)] {
            let out = "out-\(threads)-\(chunk)"
            _ = try hash(rows: rows, out: scratch.path(out), chunkBytes: chunk) {
                $0.threads = threads
                $0.rareThreshold = 3
            }
            let files = names.map { scratch.data("\(out)/\($0)") ?? Data() }
            #expect(files.allSatisfy { !$0.isEmpty })
            if let reference {
                for (i, name) in names.enumerated() {
                    #expect(files[i] == reference[i], "\(name) with \(threads) threads, chunks of \(chunk) bytes")
                }
            } else {
                reference = files
            }
        }
    }

    @Test func countingPastTheExactLimitIsDeterministicToo() throws {
        let scratch = try Scratch("sketch")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 2000, seed: 6))
        var outputs: [Data] = []
        for threads in [1, 2, 3] {
            let result = try hash(rows: rows, out: scratch.path("out\(threads)"), chunkBytes: 20_000) {
                $0.threads = threads
                $0.countLimit = 1024   // far below the distinct values: every large field overflows
                $0.rareThreshold = 2
            }
            #expect(result.spec!.fields.contains { !$0.distinctExact && $0.transform == .hash })
            outputs.append(scratch.data("out\(threads)/train.cache")! + scratch.data("out\(threads)/featurizer.json")!)
        }
        #expect(outputs[0] == outputs[1] && outputs[1] == outputs[2])
    }

    @Test func oneFeaturePerFieldOnEveryLine() throws {
        let scratch = try Scratch("shape")
        let rows = try ingest(scratch, schema: "criteo", lines: criteoLines(count: 500, seed: 8))
        let result = try hash(rows: rows, out: scratch.path("out"))
        let spec = try #require(result.spec)
        for line in try scratch.lines("out/train.ffm") {
            let tokens = line.split(separator: " ")
            #expect(tokens.count == 40)
            for (f, token) in tokens.dropFirst().enumerated() {
                let parts = token.split(separator: ":")
                let index = Int(parts[1])!
                #expect(Int(parts[0]) == f)
                #expect(index >= spec.fields[f].offset && index < spec.fields[f].offset + spec.fields[f].bins)
            }
        }
    }
}
