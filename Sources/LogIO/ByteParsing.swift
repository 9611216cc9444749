#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parsing numbers and fields straight from bytes, with no String in between.
public enum ByteParsing {
    /// A whole decimal number with an optional sign: nil for anything else, for an empty
    /// slice and for a value outside the 64-bit range.
    @inline(__always)
    public static func int64(_ bytes: ByteSlice) -> Int64? {
        var i = 0
        let n = bytes.count
        guard n > 0 else { return nil }
        if n <= 18 {
            // At most 18 digits cannot overflow: no checks in the common case.
            let first = bytes[0]
            if first == 45 || first == 43 {  // - +
                i = 1
                guard n > 1 else { return nil }
            }
            var v: Int64 = 0
            while i < n {
                let d = bytes[i] &- 48
                guard d < 10 else { return nil }
                v = v &* 10 &+ Int64(d)
                i += 1
            }
            return first == 45 ? -v : v
        }
        var negative = false
        if bytes[0] == 45 || bytes[0] == 43 {  // - +
            negative = bytes[0] == 45
            i = 1
            guard n > 1 else { return nil }
        }
        // Accumulate as a negative number so that Int64.min parses too.
        var value: Int64 = 0
        while i < n {
            let d = Int64(bytes[i]) &- 48
            guard d >= 0 && d <= 9 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(d)
            guard !o1 && !o2 else { return nil }
            value = s
            i += 1
        }
        if negative { return value }
        return value == Int64.min ? nil : -value
    }

    private static let exactPowers: [Double] = (0...22).map { e in
        var p = 1.0
        for _ in 0..<e { p *= 10 }
        return p
    }

    /// A decimal floating-point number as `strtod` reads it (also `inf`, `nan`, hex):
    /// nil when any byte is left over or the slice is empty. Correctly rounded: short
    /// plain decimals take an exact fast path, everything else goes to `strtod`.
    @inline(__always)
    public static func double(_ bytes: ByteSlice) -> Double? {
        let n = bytes.count
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if bytes[0] == 45 || bytes[0] == 43 { negative = bytes[0] == 45; i = 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawDigit = false
        while i < n, bytes[i] &- 48 < 10 {
            mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- 48)
            digits += mantissa == 0 ? 0 : 1
            sawDigit = true
            i += 1
        }
        if i < n, bytes[i] == 46 {  // .
            i += 1
            while i < n, bytes[i] &- 48 < 10 {
                mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- 48)
                digits += mantissa == 0 ? 0 : 1
                exponent -= 1
                sawDigit = true
                i += 1
            }
        }
        if i == n && sawDigit && digits <= 15 && exponent >= -22 {
            // Both the mantissa (< 10^15 < 2^53) and 10^-exponent are exact doubles, so one
            // division is correctly rounded (Clinger's fast path).
            let value = Double(mantissa) / exactPowers[-exponent]
            return negative ? -value : value
        }
        return slowDouble(bytes)
    }

    private static func slowDouble(_ bytes: ByteSlice) -> Double? {
        // strtod needs a terminated string; it also skips leading spaces, which we refuse.
        guard let first = bytes.first, first != 32, first != 9 else { return nil }
        var stackBuffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        let parse: (UnsafeMutablePointer<CChar>) -> Double? = { text in
            UnsafeMutableRawPointer(text).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            text[bytes.count] = 0
            var endPointer: UnsafeMutablePointer<CChar>?
            let value = strtod(text, &endPointer)
            guard let endPointer, endPointer - text == bytes.count else { return nil }
            return value
        }
        if bytes.count < 64 {
            return withUnsafeMutableBytes(of: &stackBuffer) { parse($0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        }
        let heap = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        defer { heap.deallocate() }
        return parse(heap)
    }

    /// True when the slice equals the ASCII string (a token compare without allocation).
    @inline(__always)
    public static func equals(_ bytes: ByteSlice, _ ascii: StaticString) -> Bool {
        guard bytes.count == ascii.utf8CodeUnitCount else { return false }
        return memcmp(bytes.baseAddress!, ascii.utf8Start, bytes.count) == 0
    }
}

/// Splits lines on one separator byte into a reusable array of field slices.
///
/// ```swift
/// var splitter = FieldSplitter(separator: 9)   // tab
/// let fields = splitter.split(line)            // valid until the next split or line
/// ```
public struct FieldSplitter {
    public let separator: UInt8
    public private(set) var fields: [ByteSlice] = []

    public init(separator: UInt8) {
        self.separator = separator
        fields.reserveCapacity(64)
    }

    /// The fields of `line`: `a\t\tb` gives three fields, the middle one empty.
    @inline(__always)
    public mutating func split(_ line: ByteSlice) -> [ByteSlice] {
        fields.removeAll(keepingCapacity: true)
        guard let base = line.baseAddress else {
            fields.append(line)
            return fields
        }
        var start = 0
        let n = line.count
        while true {
            let rest = n - start
            if let hit = memchr(base + start, Int32(separator), rest) {
                let at = UnsafeRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base
                fields.append(ByteSlice(start: base + start, count: at - start))
                start = at + 1
            } else {
                fields.append(ByteSlice(start: base + start, count: rest))
                return fields
            }
        }
    }
}
