// synth-ffm ROWS SEED OUTPUT: libffm text with 39 fields (13 integer-like, 26 categorical,
// Criteo-shaped cardinalities, ~1.36M index space, each field its own range), values 1,
// labels from a planted model (bias, per-feature effects, latent interactions on 15 field
// pairs), click rate about 0.25. Same ROWS and SEED give the same bytes.
import Foundation

struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix(state)
    }
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

@inline(__always) func mix(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Roughly standard normal, a pure function of `key`.
@inline(__always) func normal(_ key: UInt64) -> Double {
    var s: Double = 0
    var k = key
    for _ in 0..<4 {
        k = mix(k &+ 0x9E37_79B9_7F4A_7C15)
        s += Double(k >> 11) * 0x1p-53
    }
    return (s - 2) * 1.7320508
}

let args = CommandLine.arguments
guard args.count == 4, let rows = Int(args[1]), let seed = UInt64(args[2]) else {
    FileHandle.standardError.write("usage: synth-ffm ROWS SEED OUTPUT\n".data(using: .utf8)!)
    exit(2)
}
let cardinalities = [40, 100, 300, 80, 2000, 500, 200, 100, 600, 10, 50, 30, 200,
                     1500, 600, 300_000, 150_000, 300, 25, 12000, 600, 4, 90000, 5000, 250_000, 3000, 27,
                     10000, 200_000, 10, 4500, 2000, 4, 220_000, 18, 15, 60000, 90, 45000]
let fields = cardinalities.count
var offsets = [Int](repeating: 0, count: fields)
for f in 1..<fields { offsets[f] = offsets[f - 1] + cardinalities[f - 1] }
let logCard = cardinalities.map { log(Double($0)) }
let pairs: [(Int, Int)] = [(0, 13), (1, 15), (2, 16), (13, 16), (14, 24), (15, 28), (16, 33), (19, 22),
                           (22, 24), (5, 19), (24, 28), (28, 33), (3, 37), (16, 24), (9, 35)]
let modelKey: UInt64 = 0xC0FFEE  // the planted model is the same for every seed

var rng = SplitMix64(state: seed)
guard FileManager.default.createFile(atPath: args[3], contents: nil), let out = FileHandle(forWritingAtPath: args[3]) else {
    FileHandle.standardError.write("synth-ffm: cannot write \(args[3])\n".data(using: .utf8)!)
    exit(1)
}
func generate() throws {
    var buffer = [UInt8]()
    buffer.reserveCapacity(1 << 22)
    var index = [Int](repeating: 0, count: fields)
    var positives = 0

    func appendInt(_ v: Int, to buffer: inout [UInt8]) {
        if v >= 10 { appendInt(v / 10, to: &buffer) }
        buffer.append(UInt8(48 + v % 10))
    }

    for _ in 0..<rows {
        var logit = -1.9
        for f in 0..<fields {
            // Log-uniform rank: a heavy head and a long tail, as real categorical columns.
            let rank = min(Int(exp(rng.unit() * logCard[f])) - 1, cardinalities[f] - 1)
            let slot = Int(mix(UInt64(rank) &+ UInt64(f) << 40) % UInt64(cardinalities[f]))
            index[f] = offsets[f] + slot
            logit += 0.35 * normal(modelKey ^ UInt64(index[f]))
        }
        for (a, b) in pairs {
            var dot = 0.0
            for d in 0..<4 {
                dot += normal(modelKey &+ UInt64(index[a]) &* 8 &+ UInt64(d) &+ (UInt64(b) << 48))
                    * normal(modelKey &+ UInt64(index[b]) &* 8 &+ UInt64(d) &+ (UInt64(a) << 48))
            }
            logit += 0.25 * dot
        }
        let label = rng.unit() < 1 / (1 + exp(-logit)) ? 1 : 0
        positives += label
        buffer.append(UInt8(48 + label))
        for f in 0..<fields {
            buffer.append(32)
            appendInt(f, to: &buffer)
            buffer.append(58)
            appendInt(index[f], to: &buffer)
            buffer.append(contentsOf: [58, 49])
        }
        buffer.append(10)
        if buffer.count > 1 << 22 - 4096 {
            out.write(Data(buffer))
            buffer.removeAll(keepingCapacity: true)
        }
    }
    out.write(Data(buffer))
    try out.close()
    FileHandle.standardError.write("synth-ffm: \(rows) rows, click rate \(Double(positives) / Double(max(rows, 1)))\n".data(using: .utf8)!)
}

try generate()
