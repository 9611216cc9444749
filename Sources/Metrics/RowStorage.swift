#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable array of plain values on `malloc`/`realloc`.
///
/// Large blocks are `mmap`ed by the C allocator, so growing one is a page remap rather
/// than a copy, and capacity that was never written costs no memory: resident memory
/// follows `count`, not `capacity` (a Swift array's doubling would briefly hold both
/// the old and the new copy).
final class RowBuffer<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 16)
        base = RowBuffer.allocate(self.capacity)
    }

    /// `count` uninitialised elements, for sort scratch space.
    init(uninitializedCount: Int) {
        capacity = max(uninitializedCount, 1)
        base = RowBuffer.allocate(capacity)
        count = uninitializedCount
    }

    deinit { free(base) }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Element> {
        guard let raw = malloc(n * MemoryLayout<Element>.stride) else {
            fatalError("out of memory allocating \(n) rows")
        }
        return raw.bindMemory(to: Element.self, capacity: n)
    }

    @inline(__always)
    func append(_ value: Element) {
        if count == capacity { grow() }
        base[count] = value
        count += 1
    }

    private func grow() {
        let newCapacity = capacity * 2
        guard let raw = realloc(base, newCapacity * MemoryLayout<Element>.stride) else {
            fatalError("out of memory growing to \(newCapacity) rows")
        }
        base = raw.bindMemory(to: Element.self, capacity: newCapacity)
        capacity = newCapacity
    }

    var buffer: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: base, count: count) }
}

/// In-place most-significant-digit radix sort (American flag sort, McIlroy, Bostic &
/// McIlroy 1993) of 64-bit keys, carrying an optional parallel payload.
///
/// In place, so sorting needs no second copy of the rows: the whole evaluation stays
/// near 8 bytes per row. Levels whose digit is the same for every key (the exponent bits
/// of probabilities, long runs of tied predictions) cost one counting pass and no moves.
/// Not stable: rows with equal keys (same prediction and label) may change order.
/// - Complexity: O(n · levels) time, levels ≤ 8; O(1) extra space (2 KB per level).
func radixSort(keys: RowBuffer<UInt64>, payload: RowBuffer<UInt32>?) {
    let n = keys.count
    guard n > 1 else { return }
    if let payload { precondition(payload.count == n) }
    // Counts and bucket cursors for each of the 8 levels, allocated once.
    let scratch = UnsafeMutablePointer<Int>.allocate(capacity: 8 * 3 * 256)
    defer { scratch.deallocate() }
    americanFlagSort(keys.base, payload?.base, 0, n, shift: 56, scratch: scratch)
}

private func americanFlagSort(_ keys: UnsafeMutablePointer<UInt64>, _ payload: UnsafeMutablePointer<UInt32>?,
                              _ lo: Int, _ hi: Int, shift: UInt64, scratch: UnsafeMutablePointer<Int>) {
    let n = hi - lo
    if n <= 48 {
        insertionSort(keys, payload, lo, hi)
        return
    }
    let counts = scratch, next = scratch + 256, end = scratch + 512
    var shift = shift
    // Find the first level at which the keys differ.
    while true {
        counts.initialize(repeating: 0, count: 256)
        for i in lo..<hi { counts[Int((keys[i] >> shift) & 0xFF)] += 1 }
        if counts[Int((keys[lo] >> shift) & 0xFF)] < n { break }
        if shift == 0 { return }  // all keys equal
        shift -= 8
    }
    var offset = lo
    for d in 0..<256 {
        next[d] = offset
        offset += counts[d]
        end[d] = offset
    }
    // Cycle each misplaced key into its bucket.
    for b in 0..<256 {
        while next[b] < end[b] {
            var key = keys[next[b]]
            var d = Int((key >> shift) & 0xFF)
            if d == b {
                next[b] += 1
                continue
            }
            if let payload {
                var value = payload[next[b]]
                repeat {
                    let at = next[d]
                    next[d] = at + 1
                    swap(&key, &keys[at])
                    swap(&value, &payload[at])
                    d = Int((key >> shift) & 0xFF)
                } while d != b
                payload[next[b]] = value
            } else {
                repeat {
                    let at = next[d]
                    next[d] = at + 1
                    swap(&key, &keys[at])
                    d = Int((key >> shift) & 0xFF)
                } while d != b
            }
            keys[next[b]] = key
            next[b] += 1
        }
    }
    guard shift > 0 else { return }
    // Each bucket on the next digit. Deeper levels use the next slice of scratch, so this
    // level's `end` (the bucket bounds) stays intact while they run.
    var start = lo
    for d in 0..<256 {
        let stop = end[d]
        if stop - start > 1 {
            americanFlagSort(keys, payload, start, stop, shift: shift - 8, scratch: scratch + 768)
        }
        start = stop
    }
}

@inline(__always)
private func insertionSort(_ keys: UnsafeMutablePointer<UInt64>, _ payload: UnsafeMutablePointer<UInt32>?, _ lo: Int, _ hi: Int) {
    guard hi - lo > 1 else { return }
    for i in (lo + 1)..<hi {
        let key = keys[i]
        let value = payload?[i]
        var j = i
        while j > lo && keys[j - 1] > key {
            keys[j] = keys[j - 1]
            payload?[j] = payload![j - 1]
            j -= 1
        }
        keys[j] = key
        if let value { payload![j] = value }
    }
}
