import Dataset
import Foundation

/// Per-thread replicas of the most frequent rows, for multi-threaded training.
///
/// Hogwild threads that update the same rows at the same time (a field's few common
/// values are in most rows) keep stealing each other's cache lines, and two threads end up
/// slower than one. Instead each thread updates its own copy of those few rows and adds
/// its changes (weights and AdaGrad accumulators alike) to the shared model every
/// `syncInterval` rows and at the end of each block; other rows are updated in place as in
/// libffm. One thread uses no replicas (libffm's exact sequence of updates).
final class HotRows: @unchecked Sendable {
    /// A row is hot when it occurs in at least this share of the sampled rows.
    static let threshold = 0.02
    static let maximumSlots = 4096
    static let sampleRows = 100_000
    /// Rows a thread trains between merges: `firstSyncInterval` at first, doubling after
    /// each merge up to `syncInterval`. Early AdaGrad steps are large (accumulators start at
    /// 1), and copies that each take a thousand of them before their changes are summed
    /// overshoot: on 20k rows with 2 threads the first epoch's validation log loss then
    /// varied from 0.518 to 0.63 between runs, against 0.519-0.521 when merging often.
    static let firstSyncInterval = 16
    static let syncInterval = 1024

    /// One thread's copies: `slots` holds per hot row a copy of its row (latent and linear
    /// weights and accumulators, padded to a multiple of 64 bytes), then the bias pair;
    /// `snapshot` the values last synchronised.
    struct Replica {
        let slots: UnsafeMutablePointer<Float>
        let snapshot: UnsafeMutablePointer<Float>
        let slotStride: Int
        let biasOffset: Int
        var bias: UnsafeMutablePointer<Float> { slots + biasOffset }
    }

    let model: FFMModel
    /// Dense row of each slot, and slot of each row (-1 when not hot).
    let rowOfSlot: [Int]
    let slotOfRow: UnsafeMutablePointer<Int32>
    /// One bit per row: hot or not.
    let hotBits: UnsafeMutablePointer<UInt64>
    let slotStride: Int
    private let floatsPerReplica: Int
    private let storage: [UnsafeMutablePointer<Float>]
    private let snapshots: [UnsafeMutablePointer<Float>]
    private let lock = NSLock()
    /// Per thread, 8 apart (a cache line each): rows since the last merge, and the current interval.
    private let rowsSinceMerge: UnsafeMutablePointer<Int>
    private let interval: UnsafeMutablePointer<Int>

    /// Picks the hot rows from the first rows of `data` (nil when none is hot).
    static func make(model: FFMModel, data: CacheReader, threads: Int) throws -> HotRows? {
        guard threads > 1, model.canRemap, model.rowCount > 0 else { return nil }
        let counts = UnsafeMutablePointer<UInt32>.allocate(capacity: model.rowCount)
        counts.initialize(repeating: 0, count: model.rowCount)
        defer { counts.deallocate() }
        var sampled = 0
        var groups = 0
        while sampled < sampleRows && groups < data.info.groupCount {
            sampled += data.rows(ofGroup: groups).count
            groups += 1
        }
        guard groups > 0 else { return nil }
        let block = CacheBlock()
        try data.read(groups: 0..<groups, into: block)
        for f in block.allFeatures {
            let r = model.indices.contains(Int(f.index)) ? model.indices.row(of: Int(f.index)) : -1
            if r >= 0 { counts[r] &+= 1 }
        }
        let minimum = UInt32((Double(sampled) * threshold).rounded(.up))
        var hot: [(row: Int, count: UInt32)] = []
        for r in 0..<model.rowCount where counts[r] >= max(minimum, 2) { hot.append((r, counts[r])) }
        guard !hot.isEmpty else { return nil }
        hot.sort { $0.count > $1.count || ($0.count == $1.count && $0.row < $1.row) }
        return HotRows(model: model, rows: hot.prefix(maximumSlots).map(\.row).sorted(), threads: threads)
    }

    init(model: FFMModel, rows: [Int], threads: Int) {
        self.model = model
        rowOfSlot = rows
        slotOfRow = .allocate(capacity: model.rowCount)
        slotOfRow.initialize(repeating: -1, count: model.rowCount)
        let words = (model.rowCount + 63) / 64
        hotBits = .allocate(capacity: max(words, 1))
        hotBits.initialize(repeating: 0, count: max(words, 1))
        for (slot, r) in rows.enumerated() {
            slotOfRow[r] = Int32(slot)
            hotBits[r >> 6] |= 1 << UInt64(r & 63)
        }
        slotStride = (model.rowStride + 15) & ~15
        floatsPerReplica = rows.count * slotStride + 8
        let floats = floatsPerReplica
        // 64-byte aligned: the kernel loads SIMD4 vectors from the slots.
        func aligned() -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64).bindMemory(to: Float.self, capacity: floats)
        }
        rowsSinceMerge = .allocate(capacity: threads * 8)
        rowsSinceMerge.initialize(repeating: 0, count: threads * 8)
        interval = .allocate(capacity: threads * 8)
        interval.initialize(repeating: HotRows.firstSyncInterval, count: threads * 8)
        storage = (0..<threads).map { _ in aligned() }
        snapshots = (0..<threads).map { _ in aligned() }
        for t in 0..<threads {
            storage[t].initialize(repeating: 0, count: floatsPerReplica)
            snapshots[t].initialize(repeating: 0, count: floatsPerReplica)
        }
    }

    deinit {
        rowsSinceMerge.deallocate()
        interval.deallocate()
        slotOfRow.deallocate()
        hotBits.deallocate()
        for p in storage { p.deallocate() }
        for p in snapshots { p.deallocate() }
    }

    var count: Int { rowOfSlot.count }

    /// Thread `t`'s slots, with its bias pair after them.
    func replica(_ t: Int) -> Replica {
        Replica(slots: storage[t], snapshot: snapshots[t], slotStride: slotStride, biasOffset: rowOfSlot.count * slotStride)
    }

    /// Copies the shared values into thread `t`'s replica and snapshot.
    func refresh(_ t: Int) {
        lock.lock()
        defer { lock.unlock() }
        copyShared(into: storage[t])
        snapshots[t].update(from: storage[t], count: floatsPerReplica)
    }

    /// Counts a row trained by thread `t`; true when its changes are due to be merged.
    @inline(__always)
    func rowDone(_ t: Int) -> Bool {
        rowsSinceMerge[t * 8] += 1
        return rowsSinceMerge[t * 8] >= interval[t * 8]
    }

    /// Adds thread `t`'s changes since its last refresh to the shared model, then refreshes.
    func merge(_ t: Int) {
        rowsSinceMerge[t * 8] = 0
        interval[t * 8] = min(interval[t * 8] * 2, HotRows.syncInterval)
        lock.lock()
        defer { lock.unlock() }
        let replica = storage[t], snapshot = snapshots[t]
        let m = model, stride = m.rowStride
        for (slot, r) in rowOfSlot.enumerated() {
            let from = replica + slot * slotStride, base = snapshot + slot * slotStride
            let row = m.latent + r * stride
            for i in 0..<stride { row[i] += from[i] - base[i] }
        }
        let b = rowOfSlot.count * slotStride
        m.bias[0] += replica[b] - snapshot[b]
        m.bias[1] += replica[b + 1] - snapshot[b + 1]
        copyShared(into: replica)
        snapshot.update(from: replica, count: floatsPerReplica)
    }

    private func copyShared(into replica: UnsafeMutablePointer<Float>) {
        let m = model, stride = m.rowStride
        for (slot, r) in rowOfSlot.enumerated() {
            let to = replica + slot * slotStride
            to.update(from: m.latent + r * stride, count: stride)
        }
        let b = rowOfSlot.count * slotStride
        replica[b] = m.bias[0]
        replica[b + 1] = m.bias[1]
    }
}
