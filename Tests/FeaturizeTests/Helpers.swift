import Dataset
import Foundation
import Ingest
import LogIO
import TestSupport
@testable import Featurize

/// A scratch folder holding files written from strings, removed when the test is done.
final class Scratch {
    let url: URL

    init(_ prefix: String = "featurize") throws {
        url = try TestSupport.makeTemporaryDirectory(prefix)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let p = path(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: p, atomically: false, encoding: .utf8)
        return p
    }

    func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

    func lines(_ name: String) throws -> [String] {
        let text = try read(name)
        return text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func data(_ name: String) -> Data? { FileManager.default.contents(atPath: path(name)) }
}

/// Runs ctr-ingest (in process) on raw text lines: every row to the training split
/// unless `valid`/`test` fractions are given.
func ingest(_ scratch: Scratch, schema: String, lines: [String], name: String = "rows", valid: Double = 0,
            test: Double = 0) throws -> String {
    let raw = try scratch.write("\(name).raw", lines.joined(separator: "\n") + "\n")
    var params = IngestParams.defaults
    params.schema = schema
    params.valid = valid
    params.test = test
    _ = try IngestStage.run(params, inputs: [raw], outputs: scratch.path(name), reporter: .silent)
    return scratch.path(name)
}

func hash(rows: String, out: String, chunkBytes: Int = 1 << 20, _ configure: (inout HashParams) -> Void = { _ in }) throws -> HashResult {
    var params = HashParams.defaults
    params.rows = rows
    configure(&params)
    return try HashStage.run(params, inputs: [], outputs: out, reporter: .silent, chunkBytes: chunkBytes)
}

/// The error a throwing body raises (nil when it does not throw).
func caught(_ body: () throws -> Void) -> Error? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

/// MurmurHash3 x86_32 of a 9-byte numeric token: tag, then the value little-endian.
func numericTokenHash(tag: Character, _ bits: UInt64, seed: UInt32) -> UInt32 {
    var bytes: [UInt8] = [UInt8(tag.asciiValue!)]
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
    return bytes.withUnsafeBytes { Murmur3.hash32($0, seed: seed) }
}

/// The seed of a field: Murmur3 of its name under the user's seed.
func fieldSeed(_ name: String, _ seed: UInt32 = 0) -> UInt32 { Murmur3.hash32(name, seed: seed) }

/// The rows of a binary cache, copied out.
func cacheRows(_ path: String) throws -> [(label: Float, features: [Feature])] {
    let mapped = try CacheReader(path: path).map()
    return (0..<mapped.info.rowCount).map { i in
        let row = mapped.row(i)
        return (row.label, Array(row.features))
    }
}

/// A cache's bytes with the featurizer hash and the footer checksum over it zeroed: what
/// a cache converted from libffm text (featurizer unknown) shares with ctr-hash's.
func withoutFeaturizerHash(_ data: Data?) -> Data? {
    guard var bytes = data, bytes.count >= CacheFormat.footerSize else { return nil }
    let footer = bytes.count - CacheFormat.footerSize
    bytes.replaceSubrange((footer + 112)..<bytes.count, with: [UInt8](repeating: 0, count: 16))
    return bytes
}

/// The libffm text of a row, as ctr-hash writes it.
func libffm(_ label: Float, _ features: [Feature]) -> String {
    var text = label == 1 ? "1" : "0"
    for f in features {
        text += " \(f.field):\(f.index):" + (f.value == 1 ? "1" : f.value == 0 ? "0" : "\(f.value)")
    }
    return text
}


/// Criteo-format raw lines: skewed categorical values, missing values, negative integers.
func criteoLines(count: Int, seed: UInt64) -> [String] {
    var rng = SplitMix64(seed: seed)
    var lines: [String] = []
    lines.reserveCapacity(count)
    for _ in 0..<count {
        var fields = [Bool.random(using: &rng) && Bool.random(using: &rng) ? "1" : "0"]
        for i in 0..<13 {
            if Int.random(in: 0..<5, using: &rng) == 0 {
                fields.append("")
            } else {
                let magnitude = Int(exp(Double.random(in: 0..<Double(3 + i % 6), using: &rng)))
                fields.append(String(magnitude - 3))
            }
        }
        for j in 0..<26 {
            if Int.random(in: 0..<10, using: &rng) == 0 {
                fields.append("")
            } else {
                let vocabulary = [3, 30, 300, 3000][j % 4]
                let u = Double.random(in: 0..<1, using: &rng)
                let k = Int(pow(Double(vocabulary), u * u))
                fields.append(String(format: "%08x", UInt32(truncatingIfNeeded: k &* 2_654_435_761 &+ j)))
            }
        }
        lines.append(fields.joined(separator: "\t"))
    }
    return lines
}
