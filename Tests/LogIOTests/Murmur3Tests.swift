import Testing
import LogIO

/// Published MurmurHash3 x86_32 test vectors (SMHasher's verification set as commonly quoted).
struct Murmur3Tests {
    struct Vector: CustomStringConvertible, Sendable {
        let input: String, seed: UInt32, expected: UInt32
        var description: String { "\"\(input)\" seed \(seed)" }
    }

    static let vectors: [Vector] = [
        Vector(input: "", seed: 0, expected: 0),
        Vector(input: "", seed: 1, expected: 0x514E28B7),
        Vector(input: "", seed: 0xffffffff, expected: 0x81F16F39),
        Vector(input: "\0\0\0\0", seed: 0, expected: 0x2362F9DE),
        Vector(input: "aaaa", seed: 0x9747b28c, expected: 0x5A97808A),
        Vector(input: "aaa", seed: 0x9747b28c, expected: 0x283E0130),
        Vector(input: "aa", seed: 0x9747b28c, expected: 0x5D211726),
        Vector(input: "a", seed: 0x9747b28c, expected: 0x7FA09EA6),
        Vector(input: "abcd", seed: 0x9747b28c, expected: 0xF0478627),
        Vector(input: "abc", seed: 0x9747b28c, expected: 0xC84A62DD),
        Vector(input: "ab", seed: 0x9747b28c, expected: 0x74875592),
        Vector(input: "Hello, world!", seed: 0x9747b28c, expected: 0x24884CBA),
        Vector(input: "The quick brown fox jumps over the lazy dog", seed: 0x9747b28c, expected: 0x2FA826CD),
    ]

    @Test(arguments: vectors)
    func publishedVector(_ v: Vector) {
        #expect(Murmur3.hash32(v.input, seed: v.seed) == v.expected)
    }
}
