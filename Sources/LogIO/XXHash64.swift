/// XXH64 (Yann Collet's xxHash, 64-bit variant, public specification): a fast,
/// platform-stable checksum for binary files (the training cache, model files).
/// Streaming: feed bytes in any pieces with `update`, read the digest with `digest()`;
/// the result equals the one-shot `XXHash64.hash(_:seed:)` of the concatenation.
public struct XXHash64 {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private let seed: UInt64
    private var v1: UInt64, v2: UInt64, v3: UInt64, v4: UInt64
    private var totalLength: UInt64 = 0
    /// Up to 31 bytes waiting for a full 32-byte stripe.
    private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var pendingCount = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ XXHash64.p1 &+ XXHash64.p2
        v2 = seed &+ XXHash64.p2
        v3 = seed
        v4 = seed &- XXHash64.p1
    }

    /// The hash of `bytes` in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var state = XXHash64(seed: seed)
        state.update(bytes)
        return state.digest()
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    @inline(__always)
    private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }

    @inline(__always)
    private static func mergeRound(_ acc: UInt64, _ value: UInt64) -> UInt64 {
        (acc ^ round(0, value)) &* p1 &+ p4
    }

    @inline(__always)
    private mutating func stripes(_ base: UnsafeRawPointer, _ count: Int) {
        var a = v1, b = v2, c = v3, d = v4
        var i = 0
        while i + 32 <= count {
            a = XXHash64.round(a, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            b = XXHash64.round(b, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)))
            c = XXHash64.round(c, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)))
            d = XXHash64.round(d, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)))
            i += 32
        }
        v1 = a; v2 = b; v3 = c; v4 = d
    }

    /// Adds bytes to the hashed stream.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        var count = bytes.count
        totalLength &+= UInt64(count)
        if pendingCount > 0 {
            let take = min(32 - pendingCount, count)
            withUnsafeMutableBytes(of: &pending) { p in
                (p.baseAddress! + pendingCount).copyMemory(from: base, byteCount: take)
            }
            pendingCount += take
            base += take
            count -= take
            guard pendingCount == 32 else { return }
            var block = pending
            withUnsafeBytes(of: &block) { stripes($0.baseAddress!, 32) }
            pendingCount = 0
        }
        let whole = count & ~31
        if whole > 0 { stripes(base, whole) }
        let rest = count - whole
        if rest > 0 {
            withUnsafeMutableBytes(of: &pending) { p in
                p.baseAddress!.copyMemory(from: base + whole, byteCount: rest)
            }
            pendingCount = rest
        }
    }

    /// The hash of everything passed to `update` so far (the state stays usable).
    public func digest() -> UInt64 {
        typealias H = XXHash64
        var h: UInt64
        if totalLength >= 32 {
            h = H.rotl(v1, 1) &+ H.rotl(v2, 7) &+ H.rotl(v3, 12) &+ H.rotl(v4, 18)
            h = H.mergeRound(h, v1)
            h = H.mergeRound(h, v2)
            h = H.mergeRound(h, v3)
            h = H.mergeRound(h, v4)
        } else {
            h = seed &+ H.p5
        }
        h &+= totalLength
        var tail = pending
        let count = pendingCount
        withUnsafeBytes(of: &tail) { p in
            var i = 0
            while i + 8 <= count {
                h ^= H.round(0, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                h = H.rotl(h, 27) &* H.p1 &+ H.p4
                i += 8
            }
            if i + 4 <= count {
                h ^= UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self))) &* H.p1
                h = H.rotl(h, 23) &* H.p2 &+ H.p3
                i += 4
            }
            while i < count {
                h ^= UInt64(p[i]) &* H.p5
                h = H.rotl(h, 11) &* H.p1
                i += 1
            }
        }
        h ^= h >> 33
        h &*= H.p2
        h ^= h >> 29
        h &*= H.p3
        h ^= h >> 32
        return h
    }
}
