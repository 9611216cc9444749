import Foundation

/// A count-min sketch with conservative update (Cormode and Muthukrishnan 2005; Estan and
/// Varghese 2002): `depth` rows of `width` saturating 16-bit counters. Estimates never
/// undercount, so a value it calls rare is rare.
final class CountMinSketch {
    static let depth = 4
    let widthBits: Int
    private let counters: UnsafeMutablePointer<UInt16>
    private static let multipliers: (UInt64, UInt64, UInt64, UInt64) =
        (0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0xD6E8_FEB8_6659_FD93)

    init(widthBits: Int) {
        self.widthBits = widthBits
        let n = CountMinSketch.depth << widthBits
        counters = .allocate(capacity: n)
        counters.initialize(repeating: 0, count: n)
    }

    deinit { counters.deallocate() }

    var bytes: Int { (CountMinSketch.depth << widthBits) * 2 }

    @inline(__always)
    private func slots(_ key: UInt64) -> (Int, Int, Int, Int) {
        let shift = UInt64(64 - widthBits)
        let m = CountMinSketch.multipliers
        let w = 1 << widthBits
        return (Int((key &* m.0) >> shift), w + Int((key &* m.1) >> shift),
                2 * w + Int((key &* m.2) >> shift), 3 * w + Int((key &* m.3) >> shift))
    }

    /// Adds `amount` occurrences of `key` (conservative update) and returns the new estimate.
    @inline(__always)
    func add(_ key: UInt64, _ amount: UInt32 = 1) -> UInt32 {
        let s = slots(key)
        let current = UInt32(min(counters[s.0], counters[s.1], counters[s.2], counters[s.3]))
        let target = UInt16(clamping: current + amount)
        if counters[s.0] < target { counters[s.0] = target }
        if counters[s.1] < target { counters[s.1] = target }
        if counters[s.2] < target { counters[s.2] = target }
        if counters[s.3] < target { counters[s.3] = target }
        return UInt32(target)
    }
}

/// HyperLogLog (Flajolet et al. 2007) with 2^14 registers over 64-bit fingerprints: a
/// distinct count with about 0.8% standard error in 16 KB.
struct HyperLogLog {
    static let bits = 14
    private var registers = [UInt8](repeating: 0, count: 1 << HyperLogLog.bits)

    @inline(__always)
    mutating func add(_ key: UInt64) {
        // Fingerprints put Murmur3 outputs in both halves; mix once more so the bits are independent.
        var x = key ^ (key >> 33)
        x = x &* 0xFF51_AFD7_ED55_8CCD
        x ^= x >> 33
        let index = Int(x >> UInt64(64 - HyperLogLog.bits))
        let rest = (x << UInt64(HyperLogLog.bits)) | (1 << UInt64(HyperLogLog.bits - 1))
        let rank = UInt8(rest.leadingZeroBitCount + 1)
        registers.withUnsafeMutableBufferPointer { r in
            if r[index] < rank { r[index] = rank }
        }
    }

    var estimate: Double {
        let m = Double(registers.count)
        var sum = 0.0
        var zeros = 0
        for r in registers {
            sum += 1 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let alpha = 0.7213 / (1 + 1.079 / m)
        let raw = alpha * m * m / sum
        if raw <= 2.5 * m && zeros > 0 { return m * (log(m / Double(zeros))) }
        return raw
    }
}

/// What counting found for one field in the training split.
struct FieldCountSummary {
    /// Fingerprints of the values seen at least `threshold` times (empty when threshold is 0).
    var kept: [UInt64]
    /// Distinct tokens after the rare threshold (exact, or estimated where `exact` is false).
    var distinct: Int
    /// Distinct tokens before the threshold (nil once counting went over to the sketch).
    var distinctAll: Int?
    var exact: Bool
    /// Non-missing occurrences, and how many of them fell below the threshold (rare).
    var occurrences: Int
    var rareOccurrences: Int?
    var usedSketch: Bool
    var peakBytes: Int
}

/// Counts one field's tokens in the training split in bounded memory.
///
/// With a rare threshold T > 0: exact counts (a `FingerprintTable`) for up to
/// `exactLimit` distinct values; past that the table's counts move into a count-min
/// sketch and counting goes on there, each value being kept as soon as its estimate
/// reaches T (so a rare value may be kept, a frequent one is never dropped). With T = 0
/// only the distinct count is needed: a HyperLogLog.
final class FieldCounter {
    let threshold: UInt32
    let exactLimit: Int
    let sketchWidthBits: Int
    private var table: FingerprintTable?
    private var sketch: CountMinSketch?
    private var keptInSketchMode: FingerprintTable?
    private var hll: HyperLogLog?
    private(set) var occurrences = 0
    private var peakBytes = 0

    init(threshold: Int, exactLimit: Int, sketchWidthBits: Int) {
        self.threshold = UInt32(threshold)
        self.exactLimit = max(exactLimit, 16)
        self.sketchWidthBits = sketchWidthBits
        if threshold > 0 {
            table = FingerprintTable(capacity: 1024)
        } else {
            hll = HyperLogLog()
        }
    }

    @inline(__always)
    func add(_ key: UInt64) {
        occurrences &+= 1
        if let table {
            table.add(key)
            if table.count > exactLimit { switchToSketch() }
        } else if let sketch, let kept = keptInSketchMode {
            if kept.count(of: key) > 0 { return }
            if sketch.add(key) >= threshold { kept.add(key) }
        } else {
            hll!.add(key)
        }
    }

    private func switchToSketch() {
        guard let table else { return }
        peakBytes = max(peakBytes, table.bytes)
        let sketch = CountMinSketch(widthBits: sketchWidthBits)
        let kept = FingerprintTable(capacity: 1024)
        table.forEach { key, count in
            if count >= threshold { kept.add(key) } else { _ = sketch.add(key, count) }
        }
        self.table = nil
        self.sketch = sketch
        keptInSketchMode = kept
    }

    func summary() -> FieldCountSummary {
        if let table {
            var kept: [UInt64] = []
            var rare = 0
            table.forEach { key, count in
                if count >= threshold { kept.append(key) } else { rare += Int(count) }
            }
            kept.sort()
            return FieldCountSummary(kept: kept, distinct: kept.count, distinctAll: table.count, exact: true,
                                     occurrences: occurrences, rareOccurrences: rare, usedSketch: false,
                                     peakBytes: max(peakBytes, table.bytes))
        }
        if let sketch, let keptTable = keptInSketchMode {
            var kept: [UInt64] = []
            kept.reserveCapacity(keptTable.count)
            keptTable.forEach { key, _ in kept.append(key) }
            kept.sort()
            return FieldCountSummary(kept: kept, distinct: kept.count, distinctAll: nil, exact: false,
                                     occurrences: occurrences, rareOccurrences: nil, usedSketch: true,
                                     peakBytes: peakBytes + sketch.bytes + keptTable.bytes)
        }
        let estimate = hll!.estimate
        let distinct = occurrences == 0 ? 0 : max(1, Int(estimate.rounded()))
        return FieldCountSummary(kept: [], distinct: distinct, distinctAll: distinct, exact: false,
                                 occurrences: occurrences, rareOccurrences: 0, usedSketch: false,
                                 peakBytes: 1 << HyperLogLog.bits)
    }
}
