import Cluster
import LogIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One rank's part of one input: a whole file, or a byte range of a plain file cut at line
/// starts (docs/SCALING.md "Ingest and hash on MPI").
public struct InputShare: Equatable, Sendable {
    /// Index of the file among the stage's inputs.
    public var fileIndex: Int
    public var path: String
    /// nil: the whole file (gzip or plain).
    public var range: Range<Int64>?
    /// The file's line number of the share's first line (1 for a whole file).
    public var firstLine: Int

    public init(fileIndex: Int, path: String, range: Range<Int64>? = nil, firstLine: Int = 1) {
        self.fileIndex = fileIndex
        self.path = path
        self.range = range
        self.firstLine = firstLine
    }
}

/// How the ranks of a job share input files: whole files when there are several, else
/// byte ranges of the one file cut at line boundaries (a gzip file cannot be cut: one rank
/// reads it).
public enum LineRanges {
    /// Whether the file starts with gzip's magic bytes.
    public static func isGzip(path: String) throws -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var magic: (UInt8, UInt8) = (0, 0)
        let n = try withUnsafeMutableBytes(of: &magic) { try FileIO.readFully(fd, $0, at: 0, path: path) }
        return n == 2 && magic.0 == 0x1f && magic.1 == 0x8b
    }

    /// The offsets where `parts` consecutive shares of a file of `size` bytes start, cut at
    /// line starts: `cuts[0] = 0`, `cuts[parts] = size`, and `cuts[r]` the first line start
    /// at or after `size * r / parts` (a share may be empty when lines are longer than it).
    /// `read(offset, buffer)` reads the file's bytes at `offset` and returns how many.
    public static func cuts(size: Int64, parts: Int,
                            read: (Int64, UnsafeMutableRawBufferPointer) throws -> Int) throws -> [Int64] {
        let parts = max(parts, 1)
        var cuts: [Int64] = [0]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        for r in 1..<max(parts, 1) {
            let nominal = max(size * Int64(r) / Int64(parts), cuts[r - 1])
            var cut = size
            if nominal == 0 {
                cut = 0
            } else {
                // The line start at or after `nominal`: one past the first LF at or after nominal - 1.
                var offset = nominal - 1
                search: while offset < size {
                    let n = try read(offset, buffer)
                    guard n > 0 else { break }
                    if let hit = memchr(buffer.baseAddress!, 10, n) {
                        cut = offset + Int64(buffer.baseAddress!.distance(to: hit)) + 1
                        break search
                    }
                    offset += Int64(n)
                }
            }
            cuts.append(max(cut, cuts[r - 1]))
        }
        cuts.append(size)
        return cuts
    }

    /// `cuts(size:parts:read:)` over a file on disk.
    public static func cuts(path: String, parts: Int) throws -> [Int64] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        return try cuts(size: Int64(info.st_size), parts: parts) { offset, buffer in
            try FileIO.readFully(fd, buffer, at: offset, path: path)
        }
    }

    /// The line feeds in `range` of a file (a share's lines, to number the next share's).
    public static func lineFeeds(path: String, range: Range<Int64>) throws -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var offset = range.lowerBound, count = 0
        while offset < range.upperBound {
            let want = Int(min(Int64(buffer.count), range.upperBound - offset))
            let n = try FileIO.readFully(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), at: offset, path: path)
            guard n > 0 else { break }
            var p = buffer.baseAddress!, left = n
            while left > 0, let hit = memchr(p, 10, left) {
                count += 1
                let used = p.distance(to: hit) + 1
                p += used
                left -= used
            }
            offset += Int64(n)
        }
        return count
    }

    /// Which files each of `ranks` ranks reads, when there are several files: consecutive
    /// runs of files in input order (so the ranks' outputs concatenated in rank order are in
    /// input order), balanced by size: file i goes to the rank whose equal share of the
    /// total bytes holds the file's middle byte. Ranks may get no file.
    public static func assignFiles(sizes: [Int64], ranks: Int) -> [[Int]] {
        var shares = Array(repeating: [Int](), count: max(ranks, 1))
        let total = sizes.reduce(0, +)
        var before: Int64 = 0
        for (i, size) in sizes.enumerated() {
            let r: Int
            if total > 0 {
                let middle = Double(before) + Double(size) / 2
                r = min(ranks - 1, Int(middle * Double(ranks) / Double(total)))
            } else {
                r = i * ranks / sizes.count
            }
            shares[max(r, 0)].append(i)
            before += size
        }
        return shares
    }
}

extension LineRanges {
    /// This rank's shares of `paths`: whole files when there are several (`assignFiles`),
    /// else a byte range of the one plain file (`cuts`), numbered from its first line (a
    /// collective: every rank calls it with the same paths); a single gzip file goes whole to
    /// rank 0. One rank: every file whole.
    public static func shares(of paths: [String], cluster: Cluster) throws -> (shares: [InputShare], byteRanges: Bool) {
        guard cluster.size > 1 else { return (paths.enumerated().map { InputShare(fileIndex: $0, path: $1) }, false) }
        var sizes: [Int64] = []
        for p in paths {
            var info = stat()
            guard stat(p, &info) == 0 else { throw LogIOError.cannotOpen(path: p, errno: errno) }
            sizes.append(Int64(info.st_size))
        }
        if try paths.count == 1 && !isGzip(path: paths[0]) {
            let cuts = try cuts(path: paths[0], parts: cluster.size)
            let range = cuts[cluster.rank]..<cuts[cluster.rank + 1]
            // Line numbers for messages: the line feeds of the ranks before.
            let feeds = try lineFeeds(path: paths[0], range: range)
            let before = try cluster.exclusivePrefixSum(Int64(feeds)).before
            return ([InputShare(fileIndex: 0, path: paths[0], range: range, firstLine: Int(before) + 1)], true)
        }
        let files = assignFiles(sizes: sizes, ranks: cluster.size)[cluster.rank]
        return (files.map { InputShare(fileIndex: $0, path: paths[$0]) }, false)
    }
}

/// The bytes of `range` of a plain file (a rank's share), read with pread.
public final class RangeFileSource: ByteSource {
    private let fd: Int32
    private let path: String
    private var offset: Int64
    private let end: Int64
    public private(set) var fileBytesRead: Int64 = 0

    public init(path: String, range: Range<Int64>) throws {
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        self.path = path
        offset = range.lowerBound
        end = range.upperBound
    }

    deinit { close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer, linesSoFar: Int) throws -> Int {
        let want = Int(min(Int64(buffer.count), end - offset))
        guard want > 0 else { return 0 }
        let n = try FileIO.readFully(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), at: offset, path: path)
        offset += Int64(n)
        fileBytesRead += Int64(n)
        return n
    }
}
