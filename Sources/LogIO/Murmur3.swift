/// MurmurHash3 x86_32 (Austin Appleby, public domain algorithm): a documented,
/// platform-stable hash of bytes. Unlike Swift's `Hasher` it is not seeded per process,
/// so feature indices and sketches are the same on every run and machine.
public enum Murmur3 {
    @inline(__always)
    private static func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }

    @inline(__always)
    private static func mixK(_ k: UInt32) -> UInt32 {
        var k = k &* 0xcc9e2d51
        k = rotl(k, 15)
        return k &* 0x1b873593
    }

    /// The 32-bit hash of `bytes` with `seed`.
    @inline(__always)
    public static func hash32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        let n = bytes.count
        var h = seed
        var i = 0
        while i + 4 <= n {
            let k = bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian
            h ^= mixK(k)
            h = rotl(h, 13)
            h = h &* 5 &+ 0xe6546b64
            i += 4
        }
        var tail: UInt32 = 0
        switch n & 3 {
        case 3:
            tail ^= UInt32(bytes[i + 2]) << 16
            fallthrough
        case 2:
            tail ^= UInt32(bytes[i + 1]) << 8
            fallthrough
        case 1:
            tail ^= UInt32(bytes[i])
            h ^= mixK(tail)
        default:
            break
        }
        h ^= UInt32(truncatingIfNeeded: n)
        h ^= h >> 16
        h = h &* 0x85ebca6b
        h ^= h >> 13
        h = h &* 0xc2b2ae35
        h ^= h >> 16
        return h
    }

    @inline(__always)
    public static func hash32(_ bytes: ByteSlice, seed: UInt32 = 0) -> UInt32 {
        hash32(UnsafeRawBufferPointer(bytes), seed: seed)
    }

    public static func hash32(_ string: String, seed: UInt32 = 0) -> UInt32 {
        var s = string
        return s.withUTF8 { hash32(UnsafeRawBufferPointer($0), seed: seed) }
    }
}
