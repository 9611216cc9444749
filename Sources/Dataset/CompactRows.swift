import CVarint

/// The row encoding of binary cache format version 4 (docs/FORMATS.md, "Binary cache").
///
/// A row is, in this order:
/// - one flags byte: bit 0 set when the fields are implicit (feature i has field i, as in
///   every row ctr-hash writes with one feature per field), bit 1 set when every value is
///   exactly 1; other bits zero;
/// - the feature count, an unsigned LEB128 varint;
/// - unless bit 0: each feature's field, a varint;
/// - each feature's index as the zigzag varint of its difference from the previous
///   feature's index (the first from 0): ctr-hash gives each field its own range in field
///   order, so the differences are small and positive;
/// - unless bit 1: a bitmap of ceil(count / 8) bytes (bit i % 8 of byte i / 8 set when
///   feature i's value is not 1), then the Float32 bit patterns (little-endian) of the
///   values that are not 1, in feature order.
///
/// 39 one-hot Criteo fields with indices below 2^21 take about 2 + 39 × 3 bytes instead of
/// 39 × 12.
public enum CompactRows {
    static let implicitFields: UInt8 = 1
    static let allOnes: UInt8 = 2

    /// Appends the encoding of `features` to `out`.
    public static func encode(_ features: UnsafeBufferPointer<Feature>, into out: inout [UInt8]) {
        let start = out.count
        let bound = maxBytes(count: features.count)
        out.append(contentsOf: repeatElement(0, count: bound))
        let n = out.withUnsafeMutableBufferPointer { encode(features, to: $0.baseAddress! + start) }
        out.removeLast(bound - n)
    }

    /// Most bytes the encoding of `count` features takes: flags, the count, per feature a
    /// field (5) and an index difference (zigzag of 33 bits: 5) and a value (4), the bitmap.
    public static func maxBytes(count: Int) -> Int { 1 + 10 + 14 * count + (count + 7) / 8 }

    /// Writes the encoding of `features` to `out`, which has room for `maxBytes(count:)`,
    /// and returns its length. The hot path of `CacheWriter`: no array, no capacity checks.
    /// (Labelled `to:`, not `into:`, so that `&array` never picks it by pointer conversion.)
    @inline(__always)
    public static func encode(_ features: UnsafeBufferPointer<Feature>, to out: UnsafeMutablePointer<UInt8>) -> Int {
        let count = features.count
        guard let fs = features.baseAddress, count > 0 else {
            out[0] = implicitFields | allOnes
            out[1] = 0
            return 2
        }
        // Branch-free: any bit set means some feature breaks the rule.
        var fieldBits: UInt32 = 0, valueBits: UInt32 = 0
        for i in 0..<count {
            fieldBits |= fs[i].field ^ UInt32(truncatingIfNeeded: i)
            valueBits |= fs[i].value.bitPattern ^ Float(1).bitPattern
        }
        let implicit = fieldBits == 0, ones = valueBits == 0
        out[0] = (implicit ? implicitFields : 0) | (ones ? allOnes : 0)
        var n = 1
        n &+= putVarint(UInt64(count), out + n)
        if !implicit {
            for i in 0..<count { n &+= putVarint(UInt64(fs[i].field), out + n) }
        }
        // The zigzag varints of the index deltas (swiftctr_put_index_deltas: putVarint's bytes,
        // without a branch per byte where the processor has BMI2).
        n &+= fs.withMemoryRebound(to: swiftctr_feature.self, capacity: count) {
            swiftctr_put_index_deltas($0, count, out + n, maxBytes(count: count) &- n)
        }
        if !ones {
            let bitmap = out + n
            let bitmapBytes = (count &+ 7) / 8
            bitmap.initialize(repeating: 0, count: bitmapBytes)
            n &+= bitmapBytes
            for i in 0..<count where fs[i].value.bitPattern != Float(1).bitPattern {
                bitmap[i / 8] |= UInt8(1) << UInt8(i % 8)
                UnsafeMutableRawPointer(out + n).storeBytes(of: fs[i].value.bitPattern.littleEndian, as: UInt32.self)
                n &+= 4
            }
        }
        return n
    }

    /// Writes `v` as an unsigned LEB128 varint to `out` (room for 10 bytes) and returns its length.
    @inline(__always)
    static func putVarint(_ v: UInt64, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        var v = v
        var n = 0
        while v >= 0x80 {
            out[n] = UInt8(truncatingIfNeeded: v) | 0x80
            v &>>= 7
            n &+= 1
        }
        out[n] = UInt8(truncatingIfNeeded: v)
        return n &+ 1
    }

    /// What is wrong with an encoded row.
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case truncated
        case badFlags(UInt8)
        case tooManyFeatures(count: UInt64, limit: Int)
        case badVarint
        case indexOutOfRange(Int64)
        case trailingBytes(Int)

        /// What was found and what was expected, for the corrupt-cache error that names the row.
        public var description: String {
            switch self {
            case .truncated: return "the row's bytes end inside a field; expected a complete row"
            case let .badFlags(b): return "flags or bitmap byte \(b) has bits this format does not use; expected them zero"
            case let .tooManyFeatures(count, limit): return "\(count) features; expected at most \(limit)"
            case .badVarint: return "a varint longer than 64 bits"
            case let .indexOutOfRange(v): return "field or index \(v); expected 0..<2^32"
            case let .trailingBytes(n): return "\(n) bytes after the row's last field; expected none"
            }
        }
    }

    /// Decodes one row from `bytes` (exactly the row's bytes) into `out`, which has room for
    /// `limit` features. Returns the number of features.
    /// - Throws: ``DecodeError`` for any byte sequence that is not exactly one valid row.
    public static func decode(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<Feature>, limit: Int) throws -> Int {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { throw DecodeError.truncated }
        var at = 1
        let flags = base[0]
        guard flags & ~(implicitFields | allOnes) == 0 else { throw DecodeError.badFlags(flags) }
        let count64 = try varint(base, n, &at)
        guard count64 <= UInt64(limit) else { throw DecodeError.tooManyFeatures(count: count64, limit: limit) }
        let count = Int(count64)
        let implicit = flags & implicitFields != 0
        if implicit {
            guard count <= Int(UInt32.max) + 1 else { throw DecodeError.tooManyFeatures(count: count64, limit: limit) }
        } else {
            for i in 0..<count {
                let f = try varint(base, n, &at)
                guard f <= UInt64(UInt32.max) else { throw DecodeError.indexOutOfRange(Int64(bitPattern: f)) }
                out[i].field = UInt32(f)
            }
        }
        // Indices; each feature is stored whole, with value 1 until the values below.
        var previous: Int64 = 0
        for i in 0..<count {
            let z = try varint(base, n, &at)
            let delta = Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
            let (index, overflow) = previous.addingReportingOverflow(delta)
            guard !overflow, index >= 0, index <= Int64(UInt32.max) else { throw DecodeError.indexOutOfRange(index) }
            previous = index
            out[i] = Feature(field: implicit ? UInt32(truncatingIfNeeded: i) : out[i].field, index: UInt32(index), value: 1)
        }
        if flags & allOnes == 0 {
            let bitmap = at
            at += (count + 7) / 8
            guard at <= n else { throw DecodeError.truncated }
            for i in 0..<count where base[bitmap + i / 8] & (UInt8(1) << UInt8(i % 8)) != 0 {
                guard at + 4 <= n else { throw DecodeError.truncated }
                out[i].value = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                at += 4
            }
            // Bits beyond count in the last bitmap byte must be zero (one encoding per row).
            if count % 8 != 0, base[bitmap + count / 8] >> UInt8(count % 8) != 0 { throw DecodeError.badFlags(base[bitmap + count / 8]) }
        }
        guard at == n else { throw DecodeError.trailingBytes(n - at) }
        return count
    }

    /// An unsigned LEB128 varint at `base[at]`, at most 64 bits; advances `at`.
    @inline(__always)
    static func varint(_ base: UnsafePointer<UInt8>, _ n: Int, _ at: inout Int) throws -> UInt64 {
        var result: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard at < n else { throw DecodeError.truncated }
            let b = base[at]
            at += 1
            guard shift < 63 || (shift == 63 && b <= 1) else { throw DecodeError.badVarint }
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }
}
