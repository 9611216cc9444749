#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LogIO

/// Writes libffm text (`label field:index:value ...`, label `0` or `1`, one space between
/// tokens, `\n` after every row) atomically: the file appears under its name only on `commit()`.
///
/// Values are written in the shortest plain decimal that reads back as the same `Float`
/// (`1`, `0.5`, `0.3651`), or in `%.9g` form for very small or large magnitudes.
public final class LibFFMWriter {
    public let path: String
    private let out: AtomicFileWriter
    /// Rows written so far.
    public private(set) var rowCount = 0

    /// Labels are regression targets, written like values (any finite Float).
    public let realLabels: Bool

    /// - Parameters:
    ///   - gzip: compress the output (one gzip member).
    ///   - realLabels: labels are real-valued targets (read them back with `LibFFMReader(realLabels: true)`).
    public init(path: String, gzip: Bool = false, realLabels: Bool = false) throws {
        self.path = path
        self.realLabels = realLabels
        out = try AtomicFileWriter(path: path, gzip: gzip)
    }

    /// Appends one row. `label` must be 0 or 1 (with `realLabels`: finite).
    public func write(label: Float, features: UnsafeBufferPointer<Feature>) throws {
        if realLabels {
            guard label.isFinite else { throw DatasetError.invalidTarget(path: path, row: rowCount + 1, label: label) }
        } else {
            guard label == 0 || label == 1 else { throw DatasetError.invalidLabel(path: path, row: rowCount + 1, label: label) }
        }
        // label (at most 24) + features: field (10) + ':' + index (10) + ':' + value (at most 24) + ' '
        let bound = 26 + features.count * 48
        try out.withFreeSpace(atLeast: bound) { base in
            var n = 1
            if realLabels {
                n = FloatText.format(label, into: base)
            } else {
                base[0] = label == 1 ? 49 : 48
            }
            for f in features {
                base[n] = 32
                n += 1
                n += formatInt(Int64(f.field), into: base + n)
                base[n] = 58
                n += 1
                n += formatInt(Int64(f.index), into: base + n)
                base[n] = 58
                n += 1
                n += FloatText.format(f.value, into: base + n)
            }
            base[n] = 10
            return n + 1
        }
        rowCount += 1
    }

    public func write(_ row: Row) throws {
        try write(label: row.label, features: row.features)
    }

    public func write(label: Float, features: [Feature]) throws {
        try features.withUnsafeBufferPointer { try write(label: label, features: $0) }
    }

    /// Flushes, closes and renames the file into place.
    public func commit() throws { try out.commit() }
}

/// Decimal text for `Float` values that reads back exactly.
public enum FloatText {
    private static let powers: [Double] = (0...22).map { e in
        var p = 1.0
        for _ in 0..<e { p *= 10 }
        return p
    }

    /// Writes `value` (finite) at `out` (room for 32 bytes) and returns the byte count.
    /// The text parses back to the same Float through `ByteParsing.double` then `Float(_:)`
    /// (also through `strtod`/`atof` as libffm and xLearn read it).
    @inline(__always)
    public static func format(_ value: Float, into out: UnsafeMutablePointer<UInt8>) -> Int {
        if value == 1 { out[0] = 49; return 1 }
        if value == 0 { out[0] = 48; return 1 }
        let magnitude = Double(value.magnitude)
        var n = 0
        if value < 0 { out[0] = 45; n = 1 }
        if magnitude >= 1e-4 && magnitude < 1e9 {
            // The fewest decimals d that give back the same Float through the reader's exact
            // fast path (a mantissa below 10^15 divided by 10^d).
            return powers.withUnsafeBufferPointer { pow in
                for d in 0...9 {
                    let mantissa = (magnitude * pow[d]).rounded()
                    guard mantissa < 1e15 else { break }
                    if Float(mantissa / pow[d]) == value.magnitude {
                        return n + writeFixed(UInt64(mantissa), decimals: d, into: out + n)
                    }
                }
                return n + general(magnitude, into: out + n)
            }
        }
        return n + general(magnitude, into: out + n)
    }

    /// `mantissa / 10^decimals` as plain digits, e.g. (3651, 4) -> "0.3651".
    @inline(__always)
    private static func writeFixed(_ mantissa: UInt64, decimals: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        var n = formatInt(Int64(mantissa / scale), into: out)
        if decimals > 0 {
            out[n] = 46
            n += 1
            var fraction = mantissa % scale
            var i = decimals
            while i > 0 {
                i -= 1
                out[n + i] = UInt8(truncatingIfNeeded: 48 + fraction % 10)
                fraction /= 10
            }
            n += decimals
        }
        return n
    }

    /// Swift's shortest round-trip text of the Float, checked by reading it back; the
    /// shortest text of the exact Double value when the check fails (double rounding in
    /// the reader). Rare (tiny or huge magnitudes), so a String is fine here.
    private static func general(_ magnitude: Double, into out: UnsafeMutablePointer<UInt8>) -> Int {
        let target = Float(magnitude)
        var text = target.description
        let check = text.utf8.withContiguousStorageIfAvailable { ByteParsing.double($0).map { Float($0) } } ?? nil
        if check != target { text = magnitude.description }
        var n = 0
        for byte in text.utf8 {
            out[n] = byte
            n += 1
        }
        return n
    }
}
