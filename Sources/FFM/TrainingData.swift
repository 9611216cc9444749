#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dataset
import Foundation
import LogIO

/// Opens training data: a binary cache as it is, libffm text converted to a scratch cache
/// beside `scratchDirectory` (deleted once open: the reader keeps it alive).
enum TrainingData {
    static func isCache(_ path: String) -> Bool {
        #if canImport(Glibc)
        let fd = Glibc.open(path, O_RDONLY)
        #else
        let fd = Darwin.open(path, O_RDONLY)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = (UInt64(0))
        let n = withUnsafeMutableBytes(of: &magic) { pread(fd, $0.baseAddress!, 8, 0) }
        return n == 8 && withUnsafeBytes(of: &magic) { memcmp($0.baseAddress!, CacheFormat.headerMagic.utf8Start, 8) == 0 }
    }

    /// - Parameter realLabels: text labels are regression targets (the scratch cache is then version 3).
    /// - Returns: the reader, and for converted text the bitmap of indices that occur (a
    ///   cache needs a pass to find them).
    static func open(_ path: String, scratchDirectory: String, tag: String, realLabels: Bool = false,
                     log: (String) -> Void) throws -> (reader: CacheReader, indices: [UInt64]?) {
        if isCache(path) { return (try CacheReader(path: path), nil) }
        guard access(path, R_OK) == 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        let scratch = scratchDirectory + "/.\(lastPathComponent(path)).\(tag)-cache-\(getpid())"
        let started = Date()
        var bits: [UInt64] = []
        let info: CacheInfo
        do {
            let text = try LibFFMReader(path: path, realLabels: realLabels)
            let writer = try CacheWriter(path: scratch, realLabels: realLabels)
            while let row = try text.next() {
                try writer.append(row)
                for f in row.features {
                    let w = Int(f.index >> 6)
                    if w >= bits.count { bits.append(contentsOf: repeatElement(0, count: max(w + 1 - bits.count, bits.count))) }
                    bits[w] |= 1 << UInt64(f.index & 63)
                }
            }
            info = try writer.finish()
        }
        let reader: CacheReader
        do { reader = try CacheReader(path: scratch) } catch { unlink(scratch); throw error }
        unlink(scratch)
        log(String(format: "%@: %@ rows, %@ features, read in %.1f s", path, ProgressMeter.grouped(info.rowCount),
                   ProgressMeter.grouped(info.featureCount), Date().timeIntervalSince(started)))
        return (reader, bits)
    }
}

/// The part of a path after its last `/` (the whole path without one).
func lastPathComponent(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// The part of a path before its last `/` ("" without one, "/" for a file in the root).
func directoryPart(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "" }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
