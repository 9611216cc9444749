/// An open-addressing hash table from 64-bit fingerprints to 32-bit counts (linear probing,
/// power-of-two capacity, at most 5/8 full). Fingerprints are already uniform hashes, so
/// their low bits pick the slot. Key 0 marks an empty slot; the fingerprint 0 is kept apart.
///
/// Memory: 12 bytes per slot, so at most ~19 bytes per distinct key (plus the transient
/// doubling while it grows).
final class FingerprintTable {
    private(set) var keys: UnsafeMutablePointer<UInt64>
    private(set) var counts: UnsafeMutablePointer<UInt32>
    private(set) var capacity: Int
    private var mask: Int
    /// Distinct keys held, the zero key included.
    private(set) var count = 0
    private(set) var zeroCount: UInt32 = 0
    private(set) var hasZero = false

    init(capacity requested: Int = 1024) {
        var c = 16
        while c < requested { c <<= 1 }
        capacity = c
        mask = c - 1
        keys = .allocate(capacity: c)
        keys.initialize(repeating: 0, count: c)
        counts = .allocate(capacity: c)
        counts.initialize(repeating: 0, count: c)
    }

    deinit {
        keys.deallocate()
        counts.deallocate()
    }

    /// Bytes held by the table.
    var bytes: Int { capacity * 12 }

    /// Adds `amount` to the key's count (saturating) and returns the new count.
    @inline(__always)
    @discardableResult
    func add(_ key: UInt64, _ amount: UInt32 = 1) -> UInt32 {
        if key == 0 {
            if !hasZero { hasZero = true; count += 1 }
            zeroCount = zeroCount.addingSaturating(amount)
            return zeroCount
        }
        var i = Int(truncatingIfNeeded: key) & mask
        while true {
            let k = keys[i]
            if k == key {
                counts[i] = counts[i].addingSaturating(amount)
                return counts[i]
            }
            if k == 0 {
                keys[i] = key
                counts[i] = amount
                count += 1
                if count * 8 > capacity * 5 { grow() }
                return amount
            }
            i = (i + 1) & mask
        }
    }

    /// The key's count, 0 when absent.
    @inline(__always)
    func count(of key: UInt64) -> UInt32 {
        if key == 0 { return zeroCount }
        var i = Int(truncatingIfNeeded: key) & mask
        while true {
            let k = keys[i]
            if k == key { return counts[i] }
            if k == 0 { return 0 }
            i = (i + 1) & mask
        }
    }

    /// Calls `body` for every (key, count).
    func forEach(_ body: (UInt64, UInt32) -> Void) {
        if hasZero { body(0, zeroCount) }
        for i in 0..<capacity where keys[i] != 0 { body(keys[i], counts[i]) }
    }

    private func grow() {
        let oldKeys = keys, oldCounts = counts, oldCapacity = capacity
        capacity <<= 1
        mask = capacity - 1
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        counts = .allocate(capacity: capacity)
        counts.initialize(repeating: 0, count: capacity)
        for j in 0..<oldCapacity {
            let key = oldKeys[j]
            guard key != 0 else { continue }
            var i = Int(truncatingIfNeeded: key) & mask
            while keys[i] != 0 { i = (i + 1) & mask }
            keys[i] = key
            counts[i] = oldCounts[j]
        }
        oldKeys.deallocate()
        oldCounts.deallocate()
    }
}

extension UInt32 {
    @inline(__always)
    func addingSaturating(_ x: UInt32) -> UInt32 {
        let (s, o) = addingReportingOverflow(x)
        return o ? .max : s
    }
}

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
