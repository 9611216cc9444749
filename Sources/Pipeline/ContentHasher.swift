import Foundation
import StageKit
import LogIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `stat` says about a file: enough to tell, without reading it, that it has not
/// changed since it was last hashed.
public struct FileStamp: Codable, Equatable, Sendable {
    public var size: Int64
    /// Modification time in nanoseconds since the epoch.
    public var mtime: Int64
    public var inode: UInt64
    public var isDirectory: Bool

    enum CodingKeys: String, CodingKey {
        case size, mtime, inode, isDirectory = "is_directory"
    }

    init(size: Int64, mtime: Int64, inode: UInt64, isDirectory: Bool) {
        self.size = size
        self.mtime = mtime
        self.inode = inode
        self.isDirectory = isDirectory
    }

    /// Reads `is_directory`, or `isDirectory` (lock file and cache entry format 1).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: JSONKey.self)
        size = try c.value("size")
        mtime = try c.value("mtime")
        inode = try c.value("inode")
        isDirectory = try c.value("is_directory", or: "isDirectory")
    }

    public static func of(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        #if canImport(Darwin)
        let ns = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
        #else
        let ns = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        #endif
        return FileStamp(size: Int64(st.st_size), mtime: ns, inode: UInt64(st.st_ino),
                         isDirectory: (st.st_mode & S_IFMT) == S_IFDIR)
    }
}

/// A file's content hash together with the stamp it was computed under.
public struct CachedHash: Codable, Equatable, Sendable {
    public var stamp: FileStamp
    public var hash: String
}

/// Content hashes of files and folders (XXH64 over 1 MB blocks, as 16 hex digits),
/// cached by path, size, modification time and inode: a file whose stamp is unchanged
/// is not read again, so unchanged multi-GB inputs cost one `stat` per run.
///
/// A folder's hash covers the relative paths and content hashes of the regular files
/// under it (recursively, sorted by path), skipping names that start with "." — the
/// temporary files of an unfinished atomic write.
public final class ContentHasher: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: CachedHash]
    private var used = Set<String>()
    /// Bytes actually read (not served from the cache) since creation.
    public private(set) var bytesHashed: Int64 = 0

    public init(cache: [String: CachedHash] = [:]) {
        self.cache = cache
    }

    /// The cache entries looked up or computed since creation, to persist.
    public var usedEntries: [String: CachedHash] {
        lock.lock(); defer { lock.unlock() }
        return cache.filter { used.contains($0.key) }
    }

    /// Content hash of a file or folder, nil when the path does not exist.
    public func hash(_ path: String) throws -> String? {
        guard let stamp = FileStamp.of(path) else { return nil }
        if stamp.isDirectory { return try hashDirectory(path) }
        lock.lock()
        used.insert(path)
        if let hit = cache[path], hit.stamp == stamp {
            lock.unlock()
            return hit.hash
        }
        lock.unlock()
        let digest = try ContentHasher.hashFile(path)
        // Stamp again: a file that changed while it was read is not cached.
        let after = FileStamp.of(path)
        lock.lock()
        bytesHashed += stamp.size
        if after == stamp { cache[path] = CachedHash(stamp: stamp, hash: digest) }
        lock.unlock()
        return digest
    }

    /// Sets the cache entry of `path` (a file whose content is known without reading it).
    func record(_ path: String, _ entry: CachedHash) {
        lock.lock(); defer { lock.unlock() }
        cache[path] = entry
        used.insert(path)
    }

    /// Whether `path` still has the content `expected`, reading it only when its stamp
    /// differs from the cached one.
    public func matches(_ path: String, expected: String) throws -> Bool {
        try hash(path) == expected
    }

    private func hashDirectory(_ path: String) throws -> String {
        var files: [String] = []
        ContentHasher.listFiles(path, relative: "", into: &files)
        files.sort()
        var h = XXHash64()
        for file in files {
            guard let digest = try hash(path + "/" + file) else { continue }
            h.update(file)
            h.update("\0" + digest + "\n")
        }
        return XXHash64.hex(h.digest())
    }

    static func listFiles(_ directory: String, relative: String, into files: inout [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where !name.hasPrefix(".") {
            let full = directory + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            guard let stamp = FileStamp.of(full) else { continue }
            if stamp.isDirectory { listFiles(full, relative: rel, into: &files) } else { files.append(rel) }
        }
    }

    /// XXH64 of a file's bytes, read in 1 MB blocks.
    public static func hashFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw PipelineError.io(path: path, message: "cannot open for hashing: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { block.deallocate() }
        var h = XXHash64()
        while true {
            let n = read(fd, block.baseAddress!, block.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw PipelineError.io(path: path, message: "read failed while hashing: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            h.update(UnsafeRawBufferPointer(rebasing: block[..<n]))
        }
        return XXHash64.hex(h.digest())
    }
}
