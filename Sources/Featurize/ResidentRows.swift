#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LogIO

/// The training split as the featurizing pass needs it, kept in memory by the counting pass
/// (`--resident-mb`, issue #18), so that train is read, split, parsed and hashed once.
///
/// Per row and field one 64-bit word and a presence byte: a field of type hash (or a float
/// log-square field) keeps its value's token fingerprint `(h1 << 32) | h2`, the Murmur3 pair
/// the featurizer would compute again (its index is `h1` reduced, or the kept-set lookup of
/// the whole fingerprint); an integer log-square field keeps its parsed integer. Only when
/// every field is one of these (fields with buckets, scaled or spline values, and fields
/// that are not counted, need their bytes) and the input is a rows folder with 0/1 labels on
/// one process. The words are stored per chunk of lines as read, so the featurizing pass
/// goes over the same rows in the same order: the outputs are the same bytes as with a
/// second reading.
///
/// Unlike the rejected `hashcpu` design (fingerprints spilled to a file and read back), this
/// writes nothing: it holds at most `--resident-mb` and gives up (frees everything, and the
/// featurizing pass reads train again) as soon as the split turns out larger.
final class ResidentRows: @unchecked Sendable {
    enum Kind { case fingerprint, integer }

    /// Per field.
    let kinds: [Kind]
    let budgetBytes: Int
    /// Bytes a row takes: a word and a presence byte per field, and the label.
    let bytesPerRow: Int
    private(set) var usedBytes = 0
    /// False once the split did not fit (or was never eligible).
    private(set) var active = true
    /// Per chunk kept: its rows and their labels (written by the producing thread).
    private(set) var chunkRows: [Int] = []
    private var labels: [UnsafeMutablePointer<UInt8>] = []
    /// Per field, per chunk kept: `rows` words then `rows` presence bytes (moved in from
    /// the counting workers once counting ends).
    private var columns: [[UnsafeMutableRawPointer]]
    /// Where the values live: one arena per counting worker, and the labels' (the last).
    private var arenas: [ResidentArena]

    init(kinds: [Kind], budgetBytes: Int, workers: Int) {
        self.kinds = kinds
        self.budgetBytes = budgetBytes
        bytesPerRow = kinds.count * 9 + 1
        columns = Array(repeating: [], count: kinds.count)
        arenas = (0...workers).map { _ in ResidentArena() }
    }

    /// Counting worker `w`'s arena (only that worker's thread allocates from it).
    func arena(_ w: Int) -> ResidentArena { arenas[w] }

    deinit { release() }

    var chunkCount: Int { chunkRows.count }

    /// Called by the producer for each prepared chunk, in order: the index the workers store
    /// the chunk's values under, or -1 (not kept: the split is larger than the budget).
    func admit(_ chunk: LineChunk) -> Int {
        guard active else { return -1 }
        let (bytes, o1) = chunk.rowCount.multipliedReportingOverflow(by: bytesPerRow)
        let (total, o2) = usedBytes.addingReportingOverflow(bytes)
        guard !o1, !o2, total <= budgetBytes, chunk.invalid == nil else {
            active = false
            return -1
        }
        guard let memory = arenas[arenas.count - 1].allocate(chunk.rowCount) else {
            active = false
            return -1
        }
        usedBytes = total
        let l = memory.assumingMemoryBound(to: UInt8.self)
        l.update(from: chunk.labels, count: chunk.rowCount)
        labels.append(l)
        chunkRows.append(chunk.rowCount)
        return chunkRows.count - 1
    }


    /// Takes a field's per-chunk storage from its counting worker (after counting).
    func adopt(field: Int, chunks: [UnsafeMutableRawPointer]) {
        columns[field] = chunks
    }

    /// Whether every chunk read was kept, for every field.
    var complete: Bool { active && columns.allSatisfy { $0.count == chunkRows.count } }

    func labels(chunk: Int) -> UnsafePointer<UInt8> { UnsafePointer(labels[chunk]) }

    /// Field `f`'s words and presence bytes in chunk `c`.
    @inline(__always)
    func column(field f: Int, chunk c: Int) -> (words: UnsafePointer<UInt64>, present: UnsafePointer<UInt8>) {
        let p = columns[f][c]
        let rows = chunkRows[c]
        return (UnsafePointer(p.assumingMemoryBound(to: UInt64.self)), UnsafePointer((p + rows * 8).assumingMemoryBound(to: UInt8.self)))
    }

    /// Frees everything; `active` becomes false.
    func release() {
        arenas = []
        columns = Array(repeating: [], count: kinds.count)
        labels = []
        chunkRows = []
        usedBytes = 0
        active = false
    }
}

/// Memory for `ResidentRows`, handed out in order and freed all at once: anonymous
/// mappings of 16 MB, their pages filled in by the mapping call (`MAP_POPULATE` on Linux)
/// rather than one page fault per 4 KB on first touch. (Transparent huge pages were tried:
/// the kernel's compaction for them cost 1.3 s of system time more at 2M rows.)
final class ResidentArena: @unchecked Sendable {
    static let blockBytes = 16 << 20
    /// Mapped blocks (start, size), the last one being filled.
    private var blocks: [(start: UnsafeMutableRawPointer, size: Int)] = []
    private var used = 0
    /// Allocations from the C heap, when a block could not be mapped.
    private var heap: [UnsafeMutableRawPointer] = []

    init() {}

    deinit {
        for b in blocks { munmap(b.start, b.size) }
        for p in heap { free(p) }
    }

    /// `bytes` zero bytes, 8-byte aligned; nil when the system gives no memory (the caller
    /// stops keeping rows and reads them again instead).
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? {
        let start = (used + 7) & ~7
        if let last = blocks.last, start + bytes <= last.size {
            used = start + bytes
            return last.start + start
        }
        let size = max(ResidentArena.blockBytes, (bytes + 4095) & ~4095)
        #if os(Linux)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE
        #else
        let flags = MAP_PRIVATE | MAP_ANON
        #endif
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, flags, -1, 0), p != MAP_FAILED else {
            guard let p = calloc(max(bytes, 1), 1) else { return nil }
            heap.append(p)
            return p
        }
        blocks.append((p, size))
        used = bytes
        return p
    }
}
