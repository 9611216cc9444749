import Dataset
import Foundation
import LogIO

extension TestSupport {
    /// Rewrites a binary cache as format version 1 wrote it: version 1 in header and
    /// footer, zero where version 2 keeps the featurizer hash, the footer checksum
    /// recomputed (docs/FORMATS.md, "Binary cache").
    public static func downgradeCacheToVersion1(_ path: String, to out: String) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let footer = bytes.count - CacheFormat.footerSize
        bytes[8] = 1
        bytes[footer + 8] = 1
        for i in 112..<120 { bytes[footer + i] = 0 }
        let check = bytes[footer..<(footer + 120)].withUnsafeBytes { XXHash64.hash($0) }
        for i in 0..<8 { bytes[footer + 120 + i] = UInt8(truncatingIfNeeded: check >> (8 * UInt64(i))) }
        try Data(bytes).write(to: URL(fileURLWithPath: out))
    }
}
