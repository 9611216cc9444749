/// An immutable set of 64-bit fingerprints for lookups in the hot loop (the kept values of
/// a field): open addressing, at most half full.
public final class FingerprintSet: @unchecked Sendable {
    /// The table without the class around it, for hot loops (no reference counting). Valid
    /// while the set lives.
    struct Raw {
        let keys: UnsafePointer<UInt64>
        let mask: Int
        let hasZero: Bool

        @inline(__always)
        func contains(_ key: UInt64) -> Bool {
            if key == 0 { return hasZero }
            var i = Int(truncatingIfNeeded: key) & mask
            while true {
                let k = keys[i]
                if k == key { return true }
                if k == 0 { return false }
                i = (i + 1) & mask
            }
        }
    }

    private let keys: UnsafeMutablePointer<UInt64>
    let raw: Raw
    /// The members, sorted ascending.
    public let sorted: [UInt64]

    public init(_ members: [UInt64]) {
        let s = Array(Set(members)).sorted()
        sorted = s
        var c = 16
        while c < s.count * 2 { c <<= 1 }
        keys = .allocate(capacity: c)
        keys.initialize(repeating: 0, count: c)
        var zero = false
        for key in s {
            if key == 0 { zero = true; continue }
            var i = Int(truncatingIfNeeded: key) & (c - 1)
            while keys[i] != 0 { i = (i + 1) & (c - 1) }
            keys[i] = key
        }
        raw = Raw(keys: UnsafePointer(keys), mask: c - 1, hasZero: zero)
    }

    deinit { keys.deallocate() }

    public var count: Int { sorted.count }

    @inline(__always)
    public func contains(_ key: UInt64) -> Bool { raw.contains(key) }
}
