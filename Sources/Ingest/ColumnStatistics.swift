import Cluster
import Foundation
import LogIO

/// HyperLogLog distinct counting (Flajolet, Fusy, Gandouet, Meunier, "HyperLogLog: the
/// analysis of a near-optimal cardinality estimation algorithm", AofA 2007) over 64-bit
/// value hashes, with linear counting for small counts (Heule, Nunkesser, Hall, EDBT 2013):
/// with 64-bit hashes no large-range correction is needed.
public enum HyperLogLog {
    /// 2^14 registers: standard error 1.04 / sqrt(16384) ≈ 0.8%.
    public static let precision = 14
    public static let registerCount = 1 << precision

    /// Register index (top 14 bits) and rank (leading zeros of the other 50 bits, plus one).
    @inline(__always)
    public static func slot(_ hash: UInt64) -> (index: Int, rank: UInt8) {
        let index = Int(hash >> UInt64(64 - precision))
        let rest = (hash << UInt64(precision)) | (1 << UInt64(precision - 1))
        return (index, UInt8(rest.leadingZeroBitCount + 1))
    }

    /// The cardinality estimate of a register array.
    public static func estimate(_ registers: UnsafeBufferPointer<UInt8>) -> Double {
        let m = Double(registers.count)
        var sum = 0.0
        var zeros = 0
        for r in registers {
            sum += 1 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let alpha = 0.7213 / (1 + 1.079 / m)
        let e = alpha * m * m / sum
        if e <= 2.5 * m && zeros > 0 { return m * log(m / Double(zeros)) }
        return e
    }

    /// A 64-bit hash of a value for distinct counting: values of up to 8 bytes are read as
    /// one little-endian word (zero-padded) and mixed with their length by SplitMix64's
    /// finalizer, a bijection, so short values never collide; longer values are folded 8
    /// bytes at a time.
    @inline(__always)
    public static func hash(_ v: ByteSlice) -> UInt64 {
        let n = v.count
        let p = UnsafeRawPointer(v.baseAddress!)
        let lengthTweak = UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15
        if n == 8 { return mix(UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) ^ lengthTweak) }
        if n < 8 {
            // The bytes as a little-endian word, from loads inside the value: two overlapping
            // 4-byte loads (4…7 bytes) or the first, middle and last byte (1…3; a byte
            // repeated lands on itself).
            var w: UInt64
            if n >= 4 {
                let lo = UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                let hi = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)))
                w = lo | hi &<< UInt64(8 &* (n &- 4))
            } else if n > 0 {
                let b = p.assumingMemoryBound(to: UInt8.self)
                let mid = n &>> 1
                w = UInt64(b[0]) | UInt64(b[mid]) &<< UInt64(8 &* mid) | UInt64(b[n &- 1]) &<< UInt64(8 &* (n &- 1))
            } else {
                w = 0
            }
            return mix(w ^ lengthTweak)
        }
        var h = lengthTweak
        var i = 0
        while i + 8 <= n {
            h = mix(h ^ UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        var w: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            w |= UInt64(v[i]) << shift
            shift += 8
            i += 1
        }
        return mix(h ^ w ^ 0xFF)
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        SplitMix64.mix(x &+ SplitMix64.increment)
    }
}

/// Accumulates per output column: missing count, a HyperLogLog sketch, and min/max/mean of
/// numeric columns. One flat allocation; `add` allocates nothing.
///
/// The sum of an integer column is kept as an exact Int64 while every value and every partial
/// sum is within ±2^53: there each Double the Neumaier step would add is an exact integer,
/// each of its sums exact and each compensation term +0, so the Double state is exactly
/// (Double(exact sum), +0) and is only made (`settle`) when a value leaves that range, before
/// `encode`, `merge` and `finish`. The Double minimum and maximum are kept for float columns
/// only: integer columns report their Int64 range.
final class ColumnStatisticsAccumulator {
    let columns: [OutputColumn]
    private let count: Int
    /// The output columns of each type, so that `add` goes over each kind in a loop of its own.
    private let categoricalColumns: UnsafeMutableBufferPointer<Int>
    private let integerColumns: UnsafeMutableBufferPointer<Int>
    private let floatColumns: UnsafeMutableBufferPointer<Int>
    private let missing: UnsafeMutableBufferPointer<Int>
    private let registers: UnsafeMutableBufferPointer<UInt8>
    private let minimum: UnsafeMutableBufferPointer<Double>
    private let maximum: UnsafeMutableBufferPointer<Double>
    private let integerMinimum: UnsafeMutableBufferPointer<Int64>
    private let integerMaximum: UnsafeMutableBufferPointer<Int64>
    /// Neumaier-compensated sums of numeric values.
    private let sum: UnsafeMutableBufferPointer<Double>
    private let compensation: UnsafeMutableBufferPointer<Double>
    /// Integer columns: the exact sum not yet in `sum` (see the type's comment), and whether
    /// the column is still summed exactly.
    private let exactSum: UnsafeMutableBufferPointer<Int64>
    private let exact: UnsafeMutableBufferPointer<Bool>
    private(set) var rows = 0

    /// Integers of at most 2^53 in magnitude are exact Doubles, and so are their sums within it.
    private static let exactLimit: Int64 = 1 << 53

    init(columns: [OutputColumn]) {
        self.columns = columns
        count = columns.count
        let n = max(count, 1)
        func indices(_ type: ValueType) -> UnsafeMutableBufferPointer<Int> {
            let list = columns.indices.filter { columns[$0].type == type }
            let buffer = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(list.count, 1))
            _ = buffer.initialize(from: list)
            return UnsafeMutableBufferPointer(rebasing: buffer[..<list.count])
        }
        categoricalColumns = indices(.categorical)
        integerColumns = indices(.integer)
        floatColumns = indices(.float)
        missing = .allocate(capacity: n)
        missing.initialize(repeating: 0)
        registers = .allocate(capacity: n * HyperLogLog.registerCount)
        registers.initialize(repeating: 0)
        minimum = .allocate(capacity: n)
        minimum.initialize(repeating: .infinity)
        maximum = .allocate(capacity: n)
        maximum.initialize(repeating: -.infinity)
        integerMinimum = .allocate(capacity: n)
        integerMinimum.initialize(repeating: .max)
        integerMaximum = .allocate(capacity: n)
        integerMaximum.initialize(repeating: .min)
        sum = .allocate(capacity: n)
        sum.initialize(repeating: 0)
        compensation = .allocate(capacity: n)
        compensation.initialize(repeating: 0)
        exactSum = .allocate(capacity: n)
        exactSum.initialize(repeating: 0)
        exact = .allocate(capacity: n)
        exact.initialize(repeating: true)
    }

    deinit {
        categoricalColumns.baseAddress!.deallocate()
        integerColumns.baseAddress!.deallocate()
        floatColumns.baseAddress!.deallocate()
        missing.deallocate()
        registers.deallocate()
        minimum.deallocate()
        maximum.deallocate()
        integerMinimum.deallocate()
        integerMaximum.deallocate()
        sum.deallocate()
        compensation.deallocate()
        exactSum.deallocate()
        exact.deallocate()
    }

    /// Counts column i's value: as missing when empty (false), else in its sketch (true).
    @inline(__always)
    private func counted(_ v: ByteSlice, _ i: Int) -> Bool {
        if v.count == 0 {
            missing[i] &+= 1
            return false
        }
        let (index, rank) = HyperLogLog.slot(HyperLogLog.hash(v))
        let r = registers.baseAddress! + (i &* HyperLogLog.registerCount &+ index)
        if r.pointee < rank { r.pointee = rank }
        return true
    }

    /// One Neumaier step: x added to column i's compensated sum.
    @inline(__always)
    private func addCompensated(_ x: Double, _ i: Int) {
        let s = sum[i]
        let t = s + x
        compensation[i] += abs(s) >= abs(x) ? (s - t) + x : (x - t) + s
        sum[i] = t
    }

    /// Moves an exactly summed integer column's sum into the compensated sum, for good.
    private func settle(_ i: Int) {
        guard exact[i] else { return }
        exact[i] = false
        // The Neumaier steps of exact integers leave exactly this state (see the type's comment).
        sum[i] = Double(exactSum[i])
        compensation[i] = 0
        exactSum[i] = 0
    }

    private func settleAll() {
        for i in integerColumns { settle(i) }
    }

    @inline(__always)
    func add(_ row: ParsedRow) {
        rows += 1
        for i in categoricalColumns { _ = counted(row.values[i], i) }
        for i in integerColumns where counted(row.values[i], i) {
            let x = row.integers[i]
            if x < integerMinimum[i] { integerMinimum[i] = x }
            if x > integerMaximum[i] { integerMaximum[i] = x }
            // Within ±2^53 (x and the new sum): exact, as the Neumaier step would be.
            let limit = ColumnStatisticsAccumulator.exactLimit
            let total = exactSum[i] &+ x
            if exact[i] && UInt64(bitPattern: x &+ limit) <= UInt64(2 * limit)
                && UInt64(bitPattern: total &+ limit) <= UInt64(2 * limit) {
                exactSum[i] = total
            } else {
                settle(i)
                addCompensated(row.numbers[i], i)
            }
        }
        for i in floatColumns where counted(row.values[i], i) {
            let x = row.numbers[i]
            if x < minimum[i] { minimum[i] = x }
            if x > maximum[i] { maximum[i] = x }
            addCompensated(x, i)
        }
    }

    /// The whole state, for `merge(_:)` on another rank.
    func encode(into m: inout ClusterMessage) {
        settleAll()
        m.append(rows)
        m.append(bytes: Array(registers))
        for i in 0..<count {
            m.append(missing[i])
            m.append(minimum[i])
            m.append(maximum[i])
            m.append(integerMinimum[i])
            m.append(integerMaximum[i])
            m.append(sum[i])
            m.append(compensation[i])
        }
    }

    /// Adds another accumulator's state (`encode(into:)`) of the same columns: counts summed,
    /// HyperLogLog registers merged by maximum (the sketch of the union of the values), ranges
    /// widened, compensated sums added.
    func merge(_ r: inout ClusterMessageReader) throws {
        settleAll()
        rows += Int(try r.int())
        let other = try r.byteArray()
        guard other.count == registers.count else { throw ClusterDataError.truncatedMessage(at: 0, size: other.count) }
        for j in 0..<other.count where other[j] > registers[j] { registers[j] = other[j] }
        for i in 0..<count {
            missing[i] += Int(try r.int())
            minimum[i] = Swift.min(minimum[i], try r.double())
            maximum[i] = Swift.max(maximum[i], try r.double())
            integerMinimum[i] = Swift.min(integerMinimum[i], try r.int())
            integerMaximum[i] = Swift.max(integerMaximum[i], try r.int())
            let x = try r.double(), c = try r.double()
            let s = sum[i]
            let t = s + x
            compensation[i] += (abs(s) >= abs(x) ? (s - t) + x : (x - t) + s) + c
            sum[i] = t
        }
    }

    func finish() -> [ColumnStats] {
        settleAll()
        return columns.enumerated().map { i, column in
            let present = rows - missing[i]
            let distinct = HyperLogLog.estimate(UnsafeBufferPointer(rebasing: registers[(i * HyperLogLog.registerCount)..<((i + 1) * HyperLogLog.registerCount)]))
            var stats = ColumnStats(name: column.name, type: column.type,
                                    missingRate: rows > 0 ? Double(missing[i]) / Double(rows) : 0,
                                    distinctEstimate: Int(distinct.rounded()))
            if column.type != .categorical && present > 0 {
                let integer = column.type == .integer
                stats.min = integer ? Double(integerMinimum[i]) : minimum[i]
                stats.max = integer ? Double(integerMaximum[i]) : maximum[i]
                stats.mean = (sum[i] + compensation[i]) / Double(present)
            }
            return stats
        }
    }
}
