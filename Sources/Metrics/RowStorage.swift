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

    /// Exchanges contents with another buffer of the same length (after a sort pass).
    func swapStorage(with other: RowBuffer<Element>) {
        precondition(count == other.count)
        (base, other.base) = (other.base, base)
        (capacity, other.capacity) = (other.capacity, capacity)
    }
}

/// Least-significant-digit radix sort of 64-bit keys (11-bit digits, at most 6 passes),
/// carrying an optional parallel payload. Passes whose digit is the same for every key
/// are skipped. Stable.
///
/// - Parameters:
///   - keys: the keys, sorted ascending on return.
///   - payload: values that follow their keys (e.g. original row numbers), or nil.
/// - Complexity: O(n) time; one scratch copy of the keys (and of the payload).
func radixSort(keys: RowBuffer<UInt64>, payload: RowBuffer<UInt32>?) {
    let n = keys.count
    guard n > 1 else { return }
    if let payload { precondition(payload.count == n) }
    let digitBits = 11
    let radix = 1 << digitBits
    let passes = 6
    let histogram = UnsafeMutablePointer<Int>.allocate(capacity: radix * passes)
    defer { histogram.deallocate() }
    histogram.initialize(repeating: 0, count: radix * passes)
    let mask = UInt64(radix - 1)
    do {
        let k = keys.base
        for i in 0..<n {
            let key = k[i]
            histogram[Int(key & mask)] += 1
            histogram[radix + Int((key >> 11) & mask)] += 1
            histogram[2 * radix + Int((key >> 22) & mask)] += 1
            histogram[3 * radix + Int((key >> 33) & mask)] += 1
            histogram[4 * radix + Int((key >> 44) & mask)] += 1
            histogram[5 * radix + Int(key >> 55)] += 1
        }
    }
    var keyScratch: RowBuffer<UInt64>?
    var payloadScratch: RowBuffer<UInt32>?
    for pass in 0..<passes {
        let counts = histogram + pass * radix
        let shift = UInt64(pass * digitBits)
        // One digit value for every key: this pass would not move anything.
        let first = Int((keys.base[0] >> shift) & mask)
        if counts[first] == n { continue }
        var offset = 0
        for d in 0..<radix {
            let c = counts[d]
            counts[d] = offset
            offset += c
        }
        if keyScratch == nil { keyScratch = RowBuffer(uninitializedCount: n) }
        let source = keys.base, target = keyScratch!.base
        if let payload {
            if payloadScratch == nil { payloadScratch = RowBuffer(uninitializedCount: n) }
            let ps = payload.base, pt = payloadScratch!.base
            for i in 0..<n {
                let key = source[i]
                let d = Int((key >> shift) & mask)
                let at = counts[d]
                counts[d] = at + 1
                target[at] = key
                pt[at] = ps[i]
            }
            payload.swapStorage(with: payloadScratch!)
        } else {
            for i in 0..<n {
                let key = source[i]
                let d = Int((key >> shift) & mask)
                let at = counts[d]
                counts[d] = at + 1
                target[at] = key
            }
        }
        keys.swapStorage(with: keyScratch!)
    }
}
