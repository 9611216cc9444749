import CSplit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LogIO
import Testing

/// The C field splitters (CSplit: AVX2, SSE2 and portable paths) against a byte-at-a-time
/// oracle in Swift, on lines placed against inaccessible pages: a read outside the line faults.
struct FieldSplitterTests {
    /// Three pages, the first and last inaccessible; lines are placed to end at the middle
    /// page's end or to start at its start.
    final class GuardedPage {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let base: UnsafeMutableRawPointer
        init() {
            base = mmap(nil, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            precondition(base != MAP_FAILED)
            mprotect(base, page, PROT_NONE)
            mprotect(base + 2 * page, page, PROT_NONE)
        }
        deinit { munmap(base, 3 * page) }
        /// Copies `bytes` to end at the accessible page's end (or start at its start).
        func place(_ bytes: [UInt8], atEnd: Bool) -> UnsafePointer<UInt8> {
            let p = (base + page + (atEnd ? page - bytes.count : 0)).assumingMemoryBound(to: UInt8.self)
            p.update(from: bytes, count: bytes.count)
            return UnsafePointer(p)
        }
    }

    struct Fields: Equatable {
        var count: Int
        var flagged: Bool
        var fields: [[Int]]   // (offset in the line, length) of the first `capacity`
    }

    static func oracle(_ line: [UInt8], _ delimiter: UInt8, capacity: Int, flags: (UInt8, UInt8)) -> Fields {
        var fields: [[Int]] = []
        var start = 0
        var flagged = false
        for (i, b) in line.enumerated() {
            if b == flags.0 || b == flags.1 { flagged = true }
            if b == delimiter { fields.append([start, i - start]); start = i + 1 }
        }
        fields.append([start, line.count - start])
        return Fields(count: fields.count, flagged: flagged, fields: Array(fields.prefix(max(capacity, 0))))
    }

    static func split(level: Int32, _ p: UnsafePointer<UInt8>, _ n: Int, _ delimiter: UInt8, capacity: Int,
                      flags: (UInt8, UInt8)) -> Fields {
        // A sentinel past the capacity: nothing may be written there.
        let out = UnsafeMutablePointer<swiftctr_field>.allocate(capacity: capacity + 4)
        defer { out.deallocate() }
        let sentinel = swiftctr_field(start: nil, count: -7)
        out.initialize(repeating: sentinel, count: capacity + 4)
        var flagged: Int32 = -1
        let count = swiftctr_split_fields_at(level, p, n, delimiter, out, capacity, flags.0, flags.1, &flagged)
        for i in capacity..<(capacity + 4) { #expect(out[i].start == nil && out[i].count == -7) }
        let fields = (0..<min(capacity, count)).map { [out[$0].start! - p, out[$0].count] }
        return Fields(count: count, flagged: flagged == 1, fields: fields)
    }

    static func tabs(level: Int32, _ base: UnsafePointer<UInt8>, from: Int, end: Int, capacity: Int) -> [Int] {
        let out = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity + 4)
        defer { out.deallocate() }
        out.initialize(repeating: 0xDEAD, count: capacity + 4)
        let count = swiftctr_split_tabs_at(level, base, from, end, out, capacity)
        for i in capacity..<(capacity + 4) { #expect(out[i] == 0xDEAD) }
        return [count] + (0..<min(capacity, count)).map { Int(out[$0]) }
    }

    static func tabsOracle(_ line: [UInt8], from: Int, capacity: Int) -> [Int] {
        let at = line.indices.filter { $0 >= from && line[$0] == 9 }.map { $0 + 1 }
        return [at.count] + at.prefix(capacity)
    }

    static let levels = Array(0...swiftctr_split_level())

    @Test func x86ProcessorsGetAVectorPath() {
        #if arch(x86_64)
        #expect(swiftctr_split_level() >= 1)
        #else
        #expect(swiftctr_split_level() == 0)
        #endif
    }

    @Test func fieldLayoutMatchesByteSlice() {
        #expect(MemoryLayout<swiftctr_field>.size == MemoryLayout<ByteSlice>.size)
        #expect(MemoryLayout<swiftctr_field>.stride == MemoryLayout<ByteSlice>.stride)
    }

    /// Every length up to 100 (shorter and longer than a vector), one delimiter at every
    /// position, then every byte a delimiter, at both ends of the page.
    @Test(arguments: levels) func oneDelimiterAtEveryPosition(level: Int32) {
        let page = GuardedPage()
        for n in 0...100 {
            var lines: [[UInt8]] = (0..<n).map { p in (0..<n).map { $0 == p ? 9 : 97 } }
            lines.append([UInt8](repeating: 9, count: n))
            lines.append((0..<n).map { $0 % 3 == 0 ? 13 : 9 })
            for line in lines {
                for atEnd in [true, false] {
                    let p = page.place(line, atEnd: atEnd)
                    for capacity in [0, 1, 3, 40, 200] {
                        let got = Self.split(level: level, p, n, 9, capacity: capacity, flags: (13, 13))
                        #expect(got == Self.oracle(line, 9, capacity: capacity, flags: (13, 13)), "n \(n) line \(line)")
                        let from = n / 3
                        #expect(Self.tabs(level: level, p, from: from, end: n, capacity: capacity)
                                == Self.tabsOracle(line, from: from, capacity: capacity), "n \(n) from \(from)")
                    }
                }
            }
        }
    }

    /// Random lines of up to 600 bytes with delimiters, tabs and carriage returns at random
    /// densities, split on a tab or a comma, against the oracle and against level 0.
    @Test(arguments: levels) func randomLines(level: Int32) {
        let page = GuardedPage()
        var random = SplitMix64(seed: 18 + UInt64(level))
        for iteration in 0..<20_000 {
            let n = iteration % 4 == 0 ? random.next(below: 70) : random.next(below: 600)
            let density = 2 + random.next(below: 40)
            let delimiter: UInt8 = random.next(below: 2) == 0 ? 9 : 44
            let flags: (UInt8, UInt8) = (13, delimiter == 9 ? 13 : 9)
            let line: [UInt8] = (0..<n).map { _ in
                switch random.next(below: density) {
                case 0: return 9
                case 1: return 44
                case 2: return random.next(below: 8) == 0 ? 13 : 34
                default: return 97 + UInt8(random.next(below: 26))
                }
            }
            let capacity = random.next(below: 3) == 0 ? random.next(below: 8) : 40 + random.next(below: 200)
            let p = page.place(line, atEnd: iteration % 2 == 0)
            let got = Self.split(level: level, p, n, delimiter, capacity: capacity, flags: flags)
            #expect(got == Self.oracle(line, delimiter, capacity: capacity, flags: flags))
            #expect(got == Self.split(level: 0, p, n, delimiter, capacity: capacity, flags: flags))
            let from = n == 0 ? 0 : random.next(below: n)
            #expect(Self.tabs(level: level, p, from: from, end: n, capacity: capacity)
                    == Self.tabsOracle(line, from: from, capacity: capacity))
        }
    }
}
