import Cluster
import Foundation

/// An open-addressing table from 64-bit fingerprints to 32-bit counts: linear probing,
/// power-of-two capacity, at most 3/4 full, key and count side by side in 16-byte slots
/// (one cache miss per lookup). Fingerprints are uniform hashes, so their low bits pick
/// the slot. Key 0 marks an empty slot; the fingerprint 0 is counted apart.
///
/// A value type over manually managed memory, so the hot loop pays no reference counting:
/// the owner calls `release()` once.
struct SlotTable {
    struct Slot {
        var key: UInt64
        var count: UInt32
        var spare: UInt32
    }

    private(set) var slots: UnsafeMutablePointer<Slot>
    private(set) var capacity: Int
    private var mask: Int
    /// Distinct keys held, the zero key included.
    private(set) var count = 0
    private var zeroCount: UInt32 = 0
    private var hasZero = false

    init(capacity requested: Int = 1024) {
        var c = 16
        while c < requested { c <<= 1 }
        capacity = c
        mask = c - 1
        slots = .allocate(capacity: c)
        slots.initialize(repeating: Slot(key: 0, count: 0, spare: 0), count: c)
    }

    func release() { slots.deallocate() }

    var bytes: Int { capacity * MemoryLayout<Slot>.stride }

    /// Adds `amount` to the key's count (saturating) and returns the new count.
    @inline(__always)
    @discardableResult
    mutating func add(_ key: UInt64, _ amount: UInt32 = 1) -> UInt32 {
        if key == 0 {
            if !hasZero { hasZero = true; count += 1 }
            zeroCount = zeroCount.addingSaturating(amount)
            return zeroCount
        }
        var i = Int(truncatingIfNeeded: key) & mask
        while true {
            let k = slots[i].key
            if k == key {
                let c = slots[i].count.addingSaturating(amount)
                slots[i].count = c
                return c
            }
            if k == 0 {
                slots[i] = Slot(key: key, count: amount, spare: 0)
                count += 1
                if count * 4 > capacity * 3 { grow() }
                return amount
            }
            i = (i + 1) & mask
        }
    }

    /// Loads the first slot of every key (and returns a meaningless sum): independent loads
    /// the CPU overlaps, so that the inserts that follow find their slots in cache.
    @inline(__always)
    func touch(_ keys: UnsafeBufferPointer<UInt64>) -> UInt64 {
        var sum: UInt64 = 0
        for key in keys { sum &+= slots[Int(truncatingIfNeeded: key) & mask].key }
        return sum
    }

    /// The key's count, 0 when absent.
    @inline(__always)
    func count(of key: UInt64) -> UInt32 {
        if key == 0 { return zeroCount }
        var i = Int(truncatingIfNeeded: key) & mask
        while true {
            let k = slots[i].key
            if k == key { return slots[i].count }
            if k == 0 { return 0 }
            i = (i + 1) & mask
        }
    }

    /// Calls `body` for every (key, count).
    func forEach(_ body: (UInt64, UInt32) -> Void) {
        if hasZero { body(0, zeroCount) }
        for i in 0..<capacity where slots[i].key != 0 { body(slots[i].key, slots[i].count) }
    }

    private mutating func grow() {
        let old = slots, oldCapacity = capacity
        capacity <<= 1
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(key: 0, count: 0, spare: 0), count: capacity)
        for j in 0..<oldCapacity where old[j].key != 0 {
            var i = Int(truncatingIfNeeded: old[j].key) & mask
            while slots[i].key != 0 { i = (i + 1) & mask }
            slots[i] = old[j]
        }
        old.deallocate()
    }
}

extension UInt32 {
    @inline(__always)
    func addingSaturating(_ x: UInt32) -> UInt32 {
        let (s, o) = addingReportingOverflow(x)
        return o ? .max : s
    }
}

/// A count-min sketch with conservative update (Cormode and Muthukrishnan 2005; Estan and
/// Varghese 2002): 4 rows of 2^widthBits saturating 16-bit counters. Estimates never
/// undercount, so a value it calls rare is rare.
struct CountMinSketch {
    static let depth = 4
    let widthBits: Int
    fileprivate let counters: UnsafeMutablePointer<UInt16>

    init(widthBits: Int) {
        self.widthBits = widthBits
        let n = CountMinSketch.depth << widthBits
        counters = .allocate(capacity: n)
        counters.initialize(repeating: 0, count: n)
    }

    func release() { counters.deallocate() }

    var bytes: Int { (CountMinSketch.depth << widthBits) * 2 }

    /// Adds `amount` occurrences of `key` and returns the new estimate.
    @inline(__always)
    func add(_ key: UInt64, _ amount: UInt32 = 1) -> UInt32 {
        let shift = UInt64(64 - widthBits)
        let w = 1 << widthBits
        let s0 = Int((key &* 0x9E37_79B9_7F4A_7C15) >> shift)
        let s1 = w + Int((key &* 0xC2B2_AE3D_27D4_EB4F) >> shift)
        let s2 = 2 * w + Int((key &* 0x1656_67B1_9E37_79F9) >> shift)
        let s3 = 3 * w + Int((key &* 0xD6E8_FEB8_6659_FD93) >> shift)
        let current = UInt32(min(counters[s0], counters[s1], counters[s2], counters[s3]))
        let target = UInt16(clamping: current + amount)
        if counters[s0] < target { counters[s0] = target }
        if counters[s1] < target { counters[s1] = target }
        if counters[s2] < target { counters[s2] = target }
        if counters[s3] < target { counters[s3] = target }
        return UInt32(target)
    }
}

/// HyperLogLog (Flajolet et al. 2007) with 2^14 registers over 64-bit fingerprints: a
/// distinct count with about 0.8% standard error in 16 KB.
struct HyperLogLog {
    static let bits = 14
    fileprivate let registers: UnsafeMutablePointer<UInt8>

    init() {
        registers = .allocate(capacity: 1 << HyperLogLog.bits)
        registers.initialize(repeating: 0, count: 1 << HyperLogLog.bits)
    }

    func release() { registers.deallocate() }

    @inline(__always)
    func add(_ key: UInt64) {
        // Mix once more so that register index and rank come from independent bits.
        var x = key ^ (key >> 33)
        x = x &* 0xFF51_AFD7_ED55_8CCD
        x ^= x >> 33
        let index = Int(x >> UInt64(64 - HyperLogLog.bits))
        let rest = (x << UInt64(HyperLogLog.bits)) | (1 << UInt64(HyperLogLog.bits - 1))
        let rank = UInt8(rest.leadingZeroBitCount + 1)
        if registers[index] < rank { registers[index] = rank }
    }

    var estimate: Double {
        let m = 1 << HyperLogLog.bits
        var sum = 0.0
        var zeros = 0
        for i in 0..<m {
            let r = registers[i]
            sum += 1 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let md = Double(m)
        let raw = 0.7213 / (1 + 1.079 / md) * md * md / sum
        if raw <= 2.5 * md && zeros > 0 { return md * log(md / Double(zeros)) }
        return raw
    }
}

/// What counting found for one field in the training split.
struct FieldCountSummary {
    /// Fingerprints of the values seen at least `threshold` times, sorted (empty when threshold is 0).
    var kept: [UInt64]
    /// Distinct tokens after the rare threshold (exact, or estimated where `exact` is false).
    var distinct: Int
    var exact: Bool
    /// Non-missing occurrences counted, and how many of them fell below the threshold (rare).
    var occurrences: Int
    var rareOccurrences: Int?
    var usedSketch: Bool
    var peakBytes: Int
}

/// Counts one field's tokens in the training split in bounded memory, plus its missing
/// values and numeric range.
///
/// With a rare threshold T > 0: exact counts (a `SlotTable`) for up to `exactLimit`
/// distinct values; past that, the counts move into a count-min sketch and counting goes
/// on there, each value being kept once its estimate reaches T (so a rare value may be
/// kept; a frequent one is never dropped). With T = 0 only the distinct count is needed:
/// a HyperLogLog. A value type over manual memory: the owner calls `release()`.
struct FieldCount {
    enum Mode { case none, exact, sketch, distinct, integerTokens }
    let threshold: UInt32
    let exactLimit: Int
    let sketchWidthBits: Int
    fileprivate(set) var mode: Mode
    /// Exact mode: the counts. Sketch mode: the kept values (counts unused).
    fileprivate var table: SlotTable?
    fileprivate var sketch: CountMinSketch?
    fileprivate var hll: HyperLogLog?
    fileprivate(set) var occurrences = 0
    private var peakBytes = 0
    var missing = 0
    var present = 0
    var minimum = Double.infinity
    var maximum = -Double.infinity

    /// Integer log-square tokens without a threshold: exact bitmaps of the tokens
    /// `floor(ln(v)^2)` (1…1906 for 64-bit values) and of the values -4093…2 kept as
    /// themselves; a HyperLogLog only for values below -4093.
    fileprivate var tokenBits: UnsafeMutablePointer<UInt64>?
    static let logTokenWords = 32     // 2,048 bits
    static let smallValueWords = 64   // 4,096 bits: values -4093…2
    static let smallValueBase: Int64 = 4093

    /// - Parameters:
    ///   - counted: whether tokens are counted at all (else only the tallies).
    ///   - integerTokens: an integer log-square field: count its distinct tokens with bitmaps
    ///     (no hashing) when there is no threshold.
    init(counted: Bool, threshold: Int, exactLimit: Int, sketchWidthBits: Int, integerTokens: Bool = false) {
        self.threshold = UInt32(threshold)
        self.exactLimit = max(exactLimit, 16)
        self.sketchWidthBits = sketchWidthBits
        if !counted {
            mode = .none
        } else if threshold == 0 && integerTokens {
            mode = .integerTokens
            let words = FieldCount.logTokenWords + FieldCount.smallValueWords
            tokenBits = .allocate(capacity: words)
            tokenBits!.initialize(repeating: 0, count: words)
            hll = HyperLogLog()
        } else if threshold > 0 {
            mode = .exact
            table = SlotTable(capacity: 1024)
        } else {
            mode = .distinct
            hll = HyperLogLog()
        }
    }

    func release() {
        tokenBits?.deallocate()
        table?.release()
        sketch?.release()
        hll?.release()
    }

    /// Brings the table slots of `keys` into cache before they are added.
    @inline(__always)
    mutating func touch(_ keys: UnsafeBufferPointer<UInt64>) {
        if mode == .exact || mode == .sketch { sink &+= table!.touch(keys) }
    }

    /// Where touched values go, so the loads are not optimized away.
    private var sink: UInt64 = 0

    @inline(__always)
    mutating func add(_ key: UInt64) {
        occurrences &+= 1
        switch mode {
        case .exact:
            table!.add(key)
            if table!.count > exactLimit { switchToSketch() }
        case .sketch:
            if table!.count(of: key) > 0 { return }
            if sketch!.add(key) >= threshold { table!.add(key) }
        case .distinct, .integerTokens:
            hll!.add(key)
        case .none:
            break
        }
    }

    /// Counts an integer value's log-square token (mode `integerTokens`): a bit, or for
    /// values below -4093 the HyperLogLog of `fingerprint()`.
    @inline(__always)
    mutating func addInteger(_ v: Int64, token: UInt64, fingerprint: () -> UInt64) {
        occurrences &+= 1
        let bits = tokenBits!
        if v > 2 {
            bits[Int(token >> 6)] |= 1 << (token & 63)
        } else if v >= -FieldCount.smallValueBase {
            let i = UInt64(v + FieldCount.smallValueBase)
            bits[FieldCount.logTokenWords + Int(i >> 6)] |= 1 << (i & 63)
        } else {
            hll!.add(fingerprint())
        }
    }

    fileprivate mutating func switchToSketch() {
        guard let exact = table else { return }
        peakBytes = max(peakBytes, exact.bytes)
        let sketch = CountMinSketch(widthBits: sketchWidthBits)
        var kept = SlotTable(capacity: 1024)
        let t = threshold
        exact.forEach { key, count in
            if count >= t { kept.add(key) } else { _ = sketch.add(key, count) }
        }
        exact.release()
        table = kept
        self.sketch = sketch
        mode = .sketch
    }

    func summary() -> FieldCountSummary? {
        switch mode {
        case .none:
            return nil
        case .exact:
            let table = self.table!
            var kept: [UInt64] = []
            var rare = 0
            table.forEach { key, count in
                if count >= threshold { kept.append(key) } else { rare += Int(count) }
            }
            kept.sort()
            return FieldCountSummary(kept: kept, distinct: kept.count, exact: true, occurrences: occurrences,
                                     rareOccurrences: rare, usedSketch: false, peakBytes: max(peakBytes, table.bytes))
        case .sketch:
            var kept: [UInt64] = []
            kept.reserveCapacity(table!.count)
            table!.forEach { key, _ in kept.append(key) }
            kept.sort()
            return FieldCountSummary(kept: kept, distinct: kept.count, exact: false, occurrences: occurrences,
                                     rareOccurrences: nil, usedSketch: true,
                                     peakBytes: peakBytes + sketch!.bytes + table!.bytes)
        case .distinct:
            let distinct = occurrences == 0 ? 0 : max(1, Int(hll!.estimate.rounded()))
            return FieldCountSummary(kept: [], distinct: distinct, exact: false, occurrences: occurrences,
                                     rareOccurrences: 0, usedSketch: false, peakBytes: 1 << HyperLogLog.bits)
        case .integerTokens:
            var exact = 0
            for w in 0..<(FieldCount.logTokenWords + FieldCount.smallValueWords) { exact += tokenBits![w].nonzeroBitCount }
            let estimate = hll!.estimate
            let others = estimate < 0.5 ? 0 : max(1, Int(estimate.rounded()))
            return FieldCountSummary(kept: [], distinct: exact + others, exact: others == 0, occurrences: occurrences,
                                     rareOccurrences: 0, usedSketch: false,
                                     peakBytes: (1 << HyperLogLog.bits) + 8 * (FieldCount.logTokenWords + FieldCount.smallValueWords))
        }
    }
}

/// The counts of every field, in one block of memory the counting workers write through
/// (each field by exactly one worker).
final class FieldCounts: @unchecked Sendable {
    let fields: UnsafeMutablePointer<FieldCount>
    let count: Int

    init(_ counts: [FieldCount]) {
        count = counts.count
        fields = .allocate(capacity: max(count, 1))
        fields.initialize(from: counts, count: count)
    }

    deinit {
        for f in 0..<count { fields[f].release() }
        fields.deinitialize(count: count)
        fields.deallocate()
    }
}

// MARK: - Merging the counts of several ranks (ctr-hash on MPI, docs/SCALING.md)

extension FieldCount {
    /// An empty count with the same settings (the start of a merge).
    func emptyCopy() -> FieldCount {
        FieldCount(counted: mode != .none, threshold: Int(threshold), exactLimit: exactLimit,
                   sketchWidthBits: sketchWidthBits, integerTokens: mode == .integerTokens)
    }

    /// The whole state, for `absorb` on every rank.
    func encode(into m: inout ClusterMessage) {
        let code: Int
        switch mode {
        case .none: code = 0
        case .exact: code = 1
        case .sketch: code = 2
        case .distinct: code = 3
        case .integerTokens: code = 4
        }
        m.append(code)
        m.append(occurrences)
        m.append(missing)
        m.append(present)
        m.append(minimum)
        m.append(maximum)
        if let table {
            m.append(table.count)
            table.forEach { key, count in
                m.append(Int64(bitPattern: key))
                m.append(Int(count))
            }
        }
        if let sketch {
            let n = CountMinSketch.depth << sketch.widthBits
            m.append(bytes: Array(UnsafeRawBufferPointer(start: sketch.counters, count: 2 * n)))
        }
        if let hll {
            m.append(bytes: Array(UnsafeRawBufferPointer(start: hll.registers, count: 1 << HyperLogLog.bits)))
        }
        if let tokenBits {
            for w in 0..<(FieldCount.logTokenWords + FieldCount.smallValueWords) { m.append(Int64(bitPattern: tokenBits[w])) }
        }
    }

    /// Adds another rank's counts of the same field (`encode(into:)`), as if its values had
    /// been counted here: exact tables summed by fingerprint (moving to the sketch when the
    /// merged table passes the exact limit, as one process does), sketches summed counter
    /// by counter (saturating) and their kept values united, HyperLogLog registers merged by
    /// maximum, token bitmaps united, tallies summed. Every rank merges all ranks in rank
    /// order into an `emptyCopy()`, so every rank gets the same counts; when no table passes
    /// the limit the result is exactly one process's (sums do not depend on the order).
    mutating func absorb(_ r: inout ClusterMessageReader) throws {
        let code = try r.int()
        occurrences += Int(try r.int())
        missing += Int(try r.int())
        present += Int(try r.int())
        minimum = Swift.min(minimum, try r.double())
        maximum = Swift.max(maximum, try r.double())
        func bad() -> ClusterDataError { .truncatedMessage(at: 0, size: 0) }
        switch code {
        case 0:
            break
        case 1, 2:
            guard mode == .exact || mode == .sketch else { throw bad() }
            let n = try r.count()
            var entries: [(UInt64, UInt32)] = []
            entries.reserveCapacity(n)
            for _ in 0..<n { entries.append((UInt64(bitPattern: try r.int()), UInt32(clamping: try r.int()))) }
            if code == 1 {
                for (key, count) in entries { addCounted(key, count) }
            } else {
                // The other rank's kept values, then its sketch summed into ours.
                if mode == .exact { switchToSketch() }
                for (key, _) in entries { table!.add(key) }
                let counters = try r.byteArray()
                let mine = sketch!
                guard counters.count == 2 * (CountMinSketch.depth << mine.widthBits) else { throw bad() }
                counters.withUnsafeBytes { raw in
                    for i in 0..<(counters.count / 2) {
                        let v = raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                        let (s, o) = mine.counters[i].addingReportingOverflow(v)
                        mine.counters[i] = o ? .max : s
                    }
                }
            }
        case 3, 4:
            guard (code == 3 && mode == .distinct) || (code == 4 && mode == .integerTokens) else { throw bad() }
            let registers = try r.byteArray()
            guard registers.count == 1 << HyperLogLog.bits else { throw bad() }
            let h = hll!
            for i in 0..<registers.count where registers[i] > h.registers[i] { h.registers[i] = registers[i] }
            if code == 4 {
                for w in 0..<(FieldCount.logTokenWords + FieldCount.smallValueWords) {
                    tokenBits![w] |= UInt64(bitPattern: try r.int())
                }
            }
        default:
            throw bad()
        }
    }

    /// Adds `count` occurrences of `key` to the counts as `add` does one (without counting
    /// occurrences: the other rank's total is added apart).
    private mutating func addCounted(_ key: UInt64, _ count: UInt32) {
        switch mode {
        case .exact:
            table!.add(key, count)
            if table!.count > exactLimit { switchToSketch() }
        case .sketch:
            if table!.count(of: key) > 0 { return }
            if sketch!.add(key, count) >= threshold { table!.add(key) }
        default:
            break
        }
    }
}
