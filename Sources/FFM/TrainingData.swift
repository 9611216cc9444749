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

/// A block of one of the training files: consecutive row groups of file `file`.
struct TrainingBlock: Hashable, Sendable, CustomStringConvertible {
    var file: Int
    var groups: Range<Int>
    var description: String { "\(file):\(groups)" }
}

/// The training data: one file, or several (cache shards, or text files) trained as their
/// concatenation in the order given. Each is opened as `TrainingData.open` does.
final class TrainingSet {
    let paths: [String]
    let readers: [CacheReader]
    /// Per file, the bitmap of indices that occur when it was converted from text (nil for a cache).
    let indices: [[UInt64]?]
    /// Row groups of the files before each file (global group numbers) and in all of them.
    let groupOffsets: [Int]
    let groupCount: Int
    let rowCount: Int
    /// The largest index and field counts of the files.
    let indexCount: Int
    let fieldCount: Int

    /// - Parameter realLabels: text files carry real-valued targets (`--loss squared`).
    init(paths: [String], scratchDirectory: String, realLabels: Bool = false, log: (String) -> Void) throws {
        var readers: [CacheReader] = [], indices: [[UInt64]?] = []
        for (i, path) in paths.enumerated() {
            let (reader, bits) = try TrainingData.open(path, scratchDirectory: scratchDirectory,
                                                       tag: paths.count == 1 ? "train" : "train\(i)", realLabels: realLabels, log: log)
            readers.append(reader)
            indices.append(bits)
        }
        self.paths = paths
        self.readers = readers
        self.indices = indices
        var offsets: [Int] = [], total = 0
        for r in readers {
            offsets.append(total)
            total += r.info.groupCount
        }
        groupOffsets = offsets
        groupCount = total
        rowCount = readers.reduce(0) { $0 + $1.info.rowCount }
        indexCount = readers.map(\.info.indexCount).max() ?? 0
        fieldCount = readers.map(\.info.fieldCount).max() ?? 0
    }

    /// Every file's blocks of about `targetBytes`, in file order.
    func blocks(targetBytes: Int) -> [TrainingBlock] {
        readers.enumerated().flatMap { f, r in r.blocks(targetBytes: targetBytes).map { TrainingBlock(file: f, groups: $0) } }
    }

    /// Rows in `block`.
    func rowCount(of block: TrainingBlock) -> Int {
        let r = readers[block.file]
        guard !block.groups.isEmpty else { return 0 }
        return r.rows(ofGroup: block.groups.upperBound - 1).upperBound - r.rows(ofGroup: block.groups.lowerBound).lowerBound
    }

    /// Rank `rank`'s share of `blocks` (all the files' blocks, in order): whole files when
    /// there are at least as many files as ranks (files `F·r/N ..< F·(r+1)/N`), else the
    /// global row groups `G·r/N ..< G·(r+1)/N` of the files' concatenation (`rankShare`).
    /// One rank gets `blocks` as they are.
    func share(of blocks: [TrainingBlock], rank: Int, size: Int) -> [TrainingBlock] {
        guard size > 1 else { return blocks }
        let files = readers.count
        if files >= size {
            let mine = (files * rank / size)..<(files * (rank + 1) / size)
            return blocks.filter { mine.contains($0.file) }
        }
        let global = blocks.map { ($0.groups.lowerBound + groupOffsets[$0.file])..<($0.groups.upperBound + groupOffsets[$0.file]) }
        var result: [TrainingBlock] = []
        for g in rankShare(global, groupCount: groupCount, rank: rank, size: size) {
            // A cut block stays within its file: find the file it lies in.
            let f = (groupOffsets.lastIndex { $0 <= g.lowerBound }) ?? 0
            result.append(TrainingBlock(file: f, groups: (g.lowerBound - groupOffsets[f])..<(g.upperBound - groupOffsets[f])))
        }
        return result
    }

    /// The training files `spec` names: a file; a folder (its `*.cache` files, by name); a
    /// glob pattern (`train-*.cache`, quoted from the shell; its matches by name); or a
    /// comma-separated list of these. A path that exists is taken as it is.
    static func expand(_ spec: String) throws -> [String] {
        func one(_ item: String) throws -> [String] {
            var st = stat()
            if stat(item, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else { return [item] }
                let names = (try? FileManager.default.contentsOfDirectory(atPath: item)) ?? []
                let caches = names.filter { $0.hasSuffix(".cache") && !$0.hasPrefix(".") }.sorted()
                guard !caches.isEmpty else { throw FFMError.noTrainingFiles(spec: item, detail: "the folder has no *.cache file") }
                return caches.map { (item.hasSuffix("/") ? item : item + "/") + $0 }
            }
            guard item.contains(where: { "*?[".contains($0) }) else { return [item] }
            var g = glob_t()
            defer { globfree(&g) }
            guard glob(item, 0, nil, &g) == 0, g.gl_pathc > 0 else {
                throw FFMError.noTrainingFiles(spec: item, detail: "the pattern matches no file")
            }
            return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
        }
        var st = stat()
        if stat(spec, &st) == 0 || !spec.contains(",") { return try one(spec) }
        let items = spec.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
        guard !items.isEmpty else { throw FFMError.noTrainingFiles(spec: spec, detail: "the list names no file") }
        return try items.flatMap(one)
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
