/// XXH64 (Yann Collet's xxHash, 64-bit variant, as specified in xxhash's
/// `doc/xxhash_spec.md`), streaming, for content fingerprints. Not cryptographic: it
/// detects changed inputs, it does not resist forgery. Checked against the published
/// vectors in the tests.
public struct XXH64 {
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1, v2, v3, v4: UInt64
    private let seed: UInt64
    private var totalLength: UInt64 = 0
    /// Up to 31 bytes waiting for a full 32-byte stripe.
    private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var pendingCount = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ XXH64.prime1 &+ XXH64.prime2
        v2 = seed &+ XXH64.prime2
        v3 = seed
        v4 = seed &- XXH64.prime1
    }

    @inline(__always)
    static func round(_ acc: UInt64, _ lane: UInt64) -> UInt64 {
        let a = acc &+ lane &* prime2
        return ((a << 31) | (a >> 33)) &* prime1
    }

    @inline(__always)
    static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        (acc ^ round(0, v)) &* prime1 &+ prime4
    }

    @inline(__always)
    static func load64(_ p: UnsafeRawPointer) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) }

    @inline(__always)
    static func load32(_ p: UnsafeRawPointer) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) }

    /// Feeds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        totalLength &+= UInt64(remaining)
        if pendingCount > 0 {
            let take = min(32 - pendingCount, remaining)
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.advanced(by: pendingCount).copyMemory(from: p, byteCount: take) }
            pendingCount += take
            p += take
            remaining -= take
            guard pendingCount == 32 else { return }
            withUnsafeBytes(of: pending) { stripe($0.baseAddress!) }
            pendingCount = 0
        }
        while remaining >= 32 {
            stripe(p)
            p += 32
            remaining -= 32
        }
        if remaining > 0 {
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: p, byteCount: remaining) }
            pendingCount = remaining
        }
    }

    public mutating func update(_ string: String) {
        var s = string
        s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    private mutating func stripe(_ p: UnsafeRawPointer) {
        v1 = XXH64.round(v1, XXH64.load64(p))
        v2 = XXH64.round(v2, XXH64.load64(p + 8))
        v3 = XXH64.round(v3, XXH64.load64(p + 16))
        v4 = XXH64.round(v4, XXH64.load64(p + 24))
    }

    /// The digest of everything fed so far (the state is left unchanged).
    public func digest() -> UInt64 {
        var h: UInt64
        if totalLength >= 32 {
            h = ((v1 << 1) | (v1 >> 63)) &+ ((v2 << 7) | (v2 >> 57)) &+ ((v3 << 12) | (v3 >> 52)) &+ ((v4 << 18) | (v4 >> 46))
            h = XXH64.merge(h, v1)
            h = XXH64.merge(h, v2)
            h = XXH64.merge(h, v3)
            h = XXH64.merge(h, v4)
        } else {
            h = seed &+ XXH64.prime5
        }
        h &+= totalLength
        withUnsafeBytes(of: pending) { buffer in
            var p = buffer.baseAddress!
            var remaining = pendingCount
            while remaining >= 8 {
                let k = XXH64.round(0, XXH64.load64(p))
                h ^= k
                h = ((h << 27) | (h >> 37)) &* XXH64.prime1 &+ XXH64.prime4
                p += 8
                remaining -= 8
            }
            if remaining >= 4 {
                h ^= UInt64(XXH64.load32(p)) &* XXH64.prime1
                h = ((h << 23) | (h >> 41)) &* XXH64.prime2 &+ XXH64.prime3
                p += 4
                remaining -= 4
            }
            while remaining > 0 {
                h ^= UInt64(p.load(as: UInt8.self)) &* XXH64.prime5
                h = ((h << 11) | (h >> 53)) &* XXH64.prime1
                p += 1
                remaining -= 1
            }
        }
        h ^= h >> 33
        h &*= XXH64.prime2
        h ^= h >> 29
        h &*= XXH64.prime3
        h ^= h >> 32
        return h
    }

    /// One-shot hash of a string's UTF-8 bytes.
    public static func hash(_ string: String, seed: UInt64 = 0) -> UInt64 {
        var h = XXH64(seed: seed)
        h.update(string)
        return h.digest()
    }

    /// 16 lowercase hex digits.
    public static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
