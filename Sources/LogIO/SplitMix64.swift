/// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
/// OOPSLA 2014): a small seeded generator giving the same stream on every platform, and
/// its finalizer, a strong 64-bit mix. The one seeded generator of the project.
public struct SplitMix64: RandomNumberGenerator {
    /// The golden-ratio increment of the state.
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// The finalizer: a bijective 64-bit mix (the output function of `next()`).
    @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= SplitMix64.increment
        return SplitMix64.mix(state)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in 0..<bound by multiply-shift (Lemire; bias below 2^-40 for the bounds used here).
    @inline(__always)
    public mutating func next(below bound: Int) -> Int {
        Int(UInt64(bound).multipliedFullWidth(by: next()).high)
    }

    /// Shuffles `count` values in place (Fisher-Yates from the last position down, one
    /// `next(below:)` a position), so a seed gives the same order on every run.
    public mutating func shuffle(_ values: UnsafeMutablePointer<Int32>, count: Int) {
        var i = count - 1
        while i > 0 {
            let j = next(below: i + 1)
            let x = values[i]
            values[i] = values[j]
            values[j] = x
            i -= 1
        }
    }
}
