import Foundation
import Ingest
import LogIO

/// What a column holds: ctr-ingest's output column type.
public typealias ColumnKind = ValueType

/// How a column's value becomes a feature.
///
/// - `hash`: the value's text is a token, hashed into the field's range (categorical default).
/// - `logSquare`: the Criteo winners' rule (default for numbers): `v > 2` becomes the token
///   `floor(ln(v)^2)`, any other value (0, 1, 2, negatives) is its own token.
/// - `buckets`: explicit boundaries `b0 < b1 < …`; the bucket is the number of boundaries `≤ v`.
/// - `scaled`: one feature whose value is `(v - min) / (max - min)` with the training split's
///   min and max, clamped to [0, 1] and rounded to 6 decimals.
/// - `spline`: up to 4 features, the cubic B-spline basis functions non-zero at the (compressed)
///   value, on knots at quantiles of the training split; their values sum to 1 (`Spline`).
public enum Transform: String, Codable, Sendable, CaseIterable {
    case hash
    case logSquare = "log-square"
    case buckets
    case scaled
    case spline
}

/// Slots every per-field range starts with: the missing token, then the rare token.
public enum ReservedSlot {
    public static let missing = 0
    public static let rare = 1
    /// Hashed values start after the reserved slots.
    public static let count = 2
}

/// The token of one value, hashed with the field's seeds. Everything here is
/// platform-stable: MurmurHash3 x86_32 over documented bytes.
enum Token {
    /// The field's seed: MurmurHash3 of the field name's UTF-8 with the user's seed.
    static func fieldSeed(name: String, seed: UInt32) -> UInt32 {
        Murmur3.hash32(name, seed: seed)
    }

    /// The second seed of a field, for the low half of 64-bit fingerprints.
    @inline(__always)
    static func secondSeed(_ fieldSeed: UInt32) -> UInt32 { ~fieldSeed }

    /// The 64-bit fingerprint of token bytes: `(h1 << 32) | h2`, where h1 = Murmur3(bytes,
    /// fieldSeed) places the value and h2 = Murmur3(bytes, ~fieldSeed) identifies it.
    @inline(__always)
    static func fingerprint(_ bytes: UnsafeRawBufferPointer, seed: UInt32) -> UInt64 {
        let (h1, h2) = murmur3Pair(bytes, seed, secondSeed(seed))
        return UInt64(h1) << 32 | UInt64(h2)
    }

    /// MurmurHash3 x86_32 of the same bytes under two seeds, in one pass over the bytes:
    /// equal to `(Murmur3.hash32(bytes, seed: s1), Murmur3.hash32(bytes, seed: s2))`.
    @inline(__always)
    static func murmur3Pair(_ bytes: UnsafeRawBufferPointer, _ s1: UInt32, _ s2: UInt32) -> (UInt32, UInt32) {
        @inline(__always) func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
        @inline(__always) func mixK(_ k: UInt32) -> UInt32 { rotl(k &* 0xcc9e2d51, 15) &* 0x1b873593 }
        @inline(__always) func mixH(_ h: UInt32, _ k: UInt32) -> UInt32 { rotl(h ^ k, 13) &* 5 &+ 0xe6546b64 }
        @inline(__always) func final(_ h: UInt32) -> UInt32 {
            var h = h
            h ^= h >> 16
            h = h &* 0x85ebca6b
            h ^= h >> 13
            h = h &* 0xc2b2ae35
            return h ^ (h >> 16)
        }
        let n = bytes.count
        var a = s1, b = s2
        var i = 0
        while i + 4 <= n {
            let k = mixK(bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian)
            a = mixH(a, k)
            b = mixH(b, k)
            i += 4
        }
        var tail: UInt32 = 0
        switch n & 3 {
        case 3:
            tail = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16
        case 2:
            tail = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8
        case 1:
            tail = UInt32(bytes[i])
        default:
            break
        }
        if n & 3 != 0 {
            let k = mixK(tail)
            a ^= k
            b ^= k
        }
        let length = UInt32(truncatingIfNeeded: n)
        return (final(a ^ length), final(b ^ length))
    }

    /// MurmurHash3 x86_32 under two seeds of the 9 token bytes `tag, bits (little-endian)`,
    /// without putting them in memory: equal to `murmur3Pair` of those bytes.
    @inline(__always)
    static func murmur3Numeric(tag: UInt8, bits: UInt64, _ s1: UInt32, _ s2: UInt32) -> (UInt32, UInt32) {
        @inline(__always) func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
        @inline(__always) func mixK(_ k: UInt32) -> UInt32 { rotl(k &* 0xcc9e2d51, 15) &* 0x1b873593 }
        @inline(__always) func mixH(_ h: UInt32, _ k: UInt32) -> UInt32 { rotl(h ^ k, 13) &* 5 &+ 0xe6546b64 }
        @inline(__always) func final(_ h: UInt32) -> UInt32 {
            var h = h ^ 9
            h ^= h >> 16
            h = h &* 0x85ebca6b
            h ^= h >> 13
            h = h &* 0xc2b2ae35
            return h ^ (h >> 16)
        }
        let k0 = mixK(UInt32(tag) | UInt32(truncatingIfNeeded: bits) << 8)   // bytes 0…3
        let k1 = mixK(UInt32(truncatingIfNeeded: bits >> 24))                  // bytes 4…7
        let k2 = mixK(UInt32(truncatingIfNeeded: bits >> 56))                  // byte 8 (the tail)
        return (final(mixH(mixH(s1, k0), k1) ^ k2), final(mixH(mixH(s2, k0), k1) ^ k2))
    }

    /// The fingerprint of a numeric token (see `fingerprint`).
    @inline(__always)
    static func numericFingerprint(tag: UInt8, bits: UInt64, seed: UInt32) -> UInt64 {
        let (h1, h2) = murmur3Numeric(tag: tag, bits: bits, seed, secondSeed(seed))
        return UInt64(h1) << 32 | UInt64(h2)
    }

    /// Tag bytes of numeric tokens (9 bytes: tag, then the 64-bit value little-endian).
    static let logTag: UInt8 = 0x4C    // "L": floor(ln(v)^2)
    static let intTag: UInt8 = 0x56    // "V": an integer value kept as itself
    static let floatTag: UInt8 = 0x46  // "F": a float value kept as itself (IEEE bits)
    static let bucketTag: UInt8 = 0x42 // "B": a bucket number (only hashed in the shared space)
    static let splineTag: UInt8 = 0x53 // "S": a spline basis function (only hashed in the shared space)

    /// Calls `body` with the 9 token bytes `tag, value (little-endian)`, on the stack.
    @inline(__always)
    static func withNumericToken<R>(tag: UInt8, bits: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var scratch: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &scratch) { raw in
            raw[0] = tag
            raw.storeBytes(of: bits.littleEndian, toByteOffset: 1, as: UInt64.self)
            return body(UnsafeRawBufferPointer(rebasing: raw[0..<9]))
        }
    }

    /// The Criteo winners' rule for an integer: the token's tag and 64-bit value.
    @inline(__always)
    static func logSquare(int v: Int64) -> (tag: UInt8, bits: UInt64) {
        if v > 2 {
            let l = log(Double(v))
            return (logTag, UInt64(bitPattern: Int64((l * l).rounded(.down))))
        }
        return (intTag, UInt64(bitPattern: v))
    }

    /// The Criteo winners' rule for a finite float: `v > 2` as for integers, any other value its
    /// own token (IEEE bits, with -0 read as 0).
    @inline(__always)
    static func logSquare(double v: Double) -> (tag: UInt8, bits: UInt64) {
        if v > 2 {
            let l = log(v)
            return (logTag, UInt64(bitPattern: Int64((l * l).rounded(.down))))
        }
        return (floatTag, (v == 0 ? 0.0 : v).bitPattern)
    }

    /// The bucket of `v`: how many boundaries are `≤ v` (0…count).
    @inline(__always)
    static func bucket(_ v: Double, boundaries: UnsafeBufferPointer<Double>) -> Int {
        var lo = 0, hi = boundaries.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if boundaries[mid] <= v { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// `(v - min) / (max - min)` clamped to [0, 1], in millionths (the value written is
    /// millionths / 10^6, so text and binary agree exactly).
    @inline(__always)
    static func scaledMicros(_ v: Double, min: Double, max: Double) -> Int {
        guard max > min else { return 0 }
        let x = (v - min) / (max - min)
        if !(x > 0) { return 0 }
        if x >= 1 { return 1_000_000 }
        return Int((x * 1_000_000).rounded(.toNearestOrEven))
    }
}

/// `floor(ln(v)^2)` for the integers below 4096, computed once with the same `log` as
/// `Token.logSquare(int:)` (so equal to it by construction): most counts in click logs
/// are small, and a table lookup is cheaper than a logarithm. Kept for the process's life.
struct LogSquareTable: @unchecked Sendable {
    static let shared = LogSquareTable()
    static let limit: Int64 = 4096
    let tokens: UnsafePointer<UInt16>

    private init() {
        let t = UnsafeMutablePointer<UInt16>.allocate(capacity: Int(LogSquareTable.limit))
        for v in 0..<LogSquareTable.limit {
            t[Int(v)] = UInt16(truncatingIfNeeded: Token.logSquare(int: v).bits)
        }
        tokens = UnsafePointer(t)
    }

    /// Distinct tokens of the values 0..<limit: 0, 1 and 2 as themselves, then the
    /// log-square tokens of 3..<limit (0…69): the size of a table indexed by `slot(small:)`.
    var smallSlots: Int { 3 + Int(tokens[Int(LogSquareTable.limit) - 1]) + 1 }

    /// Where the token of `v` (0 <= v < limit) goes in a table of `smallSlots` entries:
    /// equal tokens, equal slots.
    @inline(__always)
    func slot(small v: Int64) -> Int { v < 3 ? Int(v) : 3 + Int(tokens[Int(v)]) }

    /// The same token as `Token.logSquare(int:)`.
    @inline(__always)
    func token(int v: Int64) -> (tag: UInt8, bits: UInt64) {
        if v > 2 && v < LogSquareTable.limit { return (Token.logTag, UInt64(tokens[Int(v)])) }
        return Token.logSquare(int: v)
    }
}
