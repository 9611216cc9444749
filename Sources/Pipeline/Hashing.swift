import StageKit
import LogIO

/// Fingerprints and content hashes use LogIO's XXH64 (`XXHash64`, streaming); these are
/// the conveniences the pipeline needs on top of it.
extension XXHash64 {
    /// Feeds a string's UTF-8 bytes.
    mutating func update(_ string: String) {
        var s = string
        s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// One-shot hash of a string's UTF-8 bytes.
    static func hash(_ string: String, seed: UInt64 = 0) -> UInt64 {
        var h = XXHash64(seed: seed)
        h.update(string)
        return h.digest()
    }

    /// 16 lowercase hex digits.
    static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
