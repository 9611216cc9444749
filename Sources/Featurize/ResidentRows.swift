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

    init(kinds: [Kind], budgetBytes: Int) {
        self.kinds = kinds
        self.budgetBytes = budgetBytes
        bytesPerRow = kinds.count * 9 + 1
        columns = Array(repeating: [], count: kinds.count)
    }

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
        usedBytes = total
        let l = UnsafeMutablePointer<UInt8>.allocate(capacity: max(chunk.rowCount, 1))
        l.update(from: chunk.labels, count: chunk.rowCount)
        labels.append(l)
        chunkRows.append(chunk.rowCount)
        return chunkRows.count - 1
    }

    /// One chunk's storage for one field: `rows` words then `rows` presence bytes (all 0).
    static func allocateColumn(rows: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(rows * 9, 1), alignment: 8)
        (p + rows * 8).initializeMemory(as: UInt8.self, repeating: 0, count: rows)
        return p
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
        for field in columns { for p in field { p.deallocate() } }
        for l in labels { l.deallocate() }
        columns = Array(repeating: [], count: kinds.count)
        labels = []
        chunkRows = []
        usedBytes = 0
        active = false
    }
}
