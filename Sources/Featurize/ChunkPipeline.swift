import Foundation
import LogIO

/// A block of whole lines copied out of a `LineReader`, with their line numbers.
final class LineChunk: @unchecked Sendable {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var used = 0
    /// Start of each line in `bytes`, plus one past the last line's end (its `\n` is not stored).
    private(set) var starts: [Int] = [0]
    /// File line number of the first line.
    var firstLine = 0
    /// Position in the stream (0, 1, 2, …).
    var sequence = 0
    /// The file the lines come from.
    var path = ""

    init(capacity: Int) {
        self.capacity = capacity
        bytes = .allocate(capacity: capacity)
    }

    deinit { bytes.deallocate() }

    var lineCount: Int { starts.count - 1 }

    func reset() {
        used = 0
        starts.removeAll(keepingCapacity: true)
        starts.append(0)
    }

    @inline(__always)
    func line(_ i: Int) -> ByteSlice {
        ByteSlice(start: bytes + starts[i], count: starts[i + 1] - starts[i])
    }

    /// Appends lines from `reader` until about `target` bytes are held; false when the reader ended
    /// before any line was added.
    func fill(from reader: LineReader, target: Int) throws -> Bool {
        reset()
        firstLine = reader.lineNumber + 1
        while used < target, let line = try reader.next() {
            if used + line.count > capacity {
                let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: max(capacity * 2, used + line.count))
                grown.update(from: bytes, count: used)
                bytes.deallocate()
                bytes = grown
                capacity = max(capacity * 2, used + line.count)
            }
            if line.count > 0 { (bytes + used).update(from: line.baseAddress!, count: line.count) }
            used += line.count
            starts.append(used)
        }
        return lineCount > 0
    }
}

/// Runs work over a stream of chunks on worker threads, with bounded memory (a fixed pool
/// of slots) and results that do not depend on the number of threads.
///
/// - `ordered`: each chunk is processed by one worker; `consume` sees the chunks on the
///   calling thread in stream order.
/// - `broadcast`: every worker processes every chunk, in stream order (e.g. each worker
///   counts its own fields); `consume` is not used.
///
/// The calling thread produces (reads) and consumes (writes); workers compute.
final class ChunkPipeline<Slot: AnyObject>: @unchecked Sendable {
    enum Mode { case ordered, broadcast }

    private let condition = NSCondition()
    private let slots: [Slot]
    private let workers: Int
    private let mode: Mode
    // Shared state, under `condition`.
    private var free: [Int]
    private var produced: [(sequence: Int, slot: Int)] = []   // in order, not yet taken (ordered) / not yet released
    private var nextToTake = 0                                 // ordered: next sequence a worker takes
    private var finishedBySequence: [Int: Int] = [:]           // ordered: processed, waiting to be consumed
    private var remaining: [Int]                               // broadcast: workers still to process a slot
    private var workerNext: [Int]                              // broadcast: next sequence for each worker
    private var producedCount = 0
    private var inputDone = false
    private var stop = false
    private var workerErrors: [(sequence: Int, error: Error)] = []
    private var slotErrors: [Int: Error] = [:]                  // ordered: error of a processed sequence
    private var slotOfSequence: [Int: Int] = [:]
    private var running = 0
    private var anyWorkerFailed = false                         // broadcast: stop reading more

    init(slots: [Slot], workers: Int, mode: Mode) {
        precondition(slots.count >= 2 && workers >= 1)
        self.slots = slots
        self.workers = workers
        self.mode = mode
        free = Array(slots.indices.reversed())
        remaining = Array(repeating: 0, count: slots.count)
        workerNext = Array(repeating: 0, count: workers)
    }

    /// Runs the pipeline to the end of the input or the first error.
    /// - Parameters:
    ///   - produce: fills a slot (on the calling thread); false at the end of the input.
    ///   - process: the work on a slot, on a worker thread (`worker` in 0..<workers).
    ///   - consume: takes a processed slot's results, in order (ordered mode only).
    /// - Throws: in ordered mode, the error of the earliest failing chunk (errors of
    ///   `produce` come after those of earlier chunks); in broadcast mode, the error of the
    ///   earliest chunk any worker failed on, as chosen by `earliest`.
    func run(produce: (Slot) throws -> Bool,
             process: @escaping @Sendable (Slot, Int) throws -> Void,
             consume: (Slot) throws -> Void,
             earliest: ([(sequence: Int, error: Error)]) -> Error? = { $0.min { $0.sequence < $1.sequence }?.error }) throws {
        var threads: [Thread] = []
        running = workers
        for w in 0..<workers {
            let t = Thread { [self] in self.workerLoop(w, process) }
            t.stackSize = 1 << 20
            threads.append(t)
            t.start()
        }
        var failure: Error?
        do {
            try mainLoop(produce: produce, consume: consume)
        } catch {
            failure = error
        }
        condition.lock()
        stop = true
        inputDone = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        let errors = workerErrors
        condition.unlock()
        if mode == .broadcast, let e = earliest(errors) { throw e }
        if let failure { throw failure }
    }

    private func mainLoop(produce: (Slot) throws -> Bool, consume: (Slot) throws -> Void) throws {
        var nextToConsume = 0
        var produceError: Error?
        // Consumes every processed chunk that is next in order; waits when `block`.
        func consumeReady(block: Bool) throws {
            guard mode == .ordered else { return }
            while true {
                condition.lock()
                while block && finishedBySequence[nextToConsume] == nil && nextToConsume < producedCount {
                    condition.wait()
                }
                guard let slot = finishedBySequence.removeValue(forKey: nextToConsume) else {
                    condition.unlock()
                    return
                }
                let error = slotErrors.removeValue(forKey: nextToConsume)
                condition.unlock()
                if let error { throw error }
                try consume(slots[slot])
                condition.lock()
                free.append(slot)
                nextToConsume += 1
                condition.broadcast()
                condition.unlock()
            }
        }
        while true {
            try consumeReady(block: false)
            condition.lock()
            while free.isEmpty && !stop && !anyWorkerFailed {
                if mode == .ordered && finishedBySequence[nextToConsume] != nil { break }
                condition.wait()
            }
            if stop || anyWorkerFailed {
                inputDone = true
                condition.broadcast()
                condition.unlock()
                break
            }
            if free.isEmpty {
                condition.unlock()
                continue
            }
            let slot = free.removeLast()
            condition.unlock()
            let more: Bool
            do {
                more = try produce(slots[slot])
            } catch {
                produceError = error
                more = false
            }
            condition.lock()
            if more {
                let sequence = producedCount
                producedCount += 1
                if mode == .broadcast {
                    remaining[slot] = workers
                    slotOfSequence[sequence] = slot
                } else {
                    produced.append((sequence, slot))
                }
            } else {
                free.append(slot)
                inputDone = true
            }
            condition.broadcast()
            condition.unlock()
            if !more { break }
        }
        if mode == .ordered {
            try consumeReady(block: true)
        } else {
            // Wait until every worker has released every chunk (or stopped).
            condition.lock()
            while free.count < slots.count && running > 0 { condition.wait() }
            condition.unlock()
        }
        if let produceError { throw produceError }
    }

    private func workerLoop(_ w: Int, _ process: @Sendable (Slot, Int) throws -> Void) {
        var failed = false
        while true {
            condition.lock()
            var job: (sequence: Int, slot: Int)?
            while true {
                if mode == .ordered {
                    if let i = produced.firstIndex(where: { $0.sequence == nextToTake }) {
                        job = produced.remove(at: i)
                        nextToTake += 1
                        break
                    }
                } else if let slot = slotOfSequence[workerNext[w]] {
                    job = (workerNext[w], slot)
                    workerNext[w] += 1
                    break
                }
                if stop || (inputDone && (mode == .ordered ? nextToTake >= producedCount : workerNext[w] >= producedCount)) { break }
                condition.wait()
            }
            guard let job else {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.unlock()
            var error: Error?
            if !failed {
                do { try process(slots[job.slot], w) } catch let e { error = e }
            }
            condition.lock()
            if mode == .ordered {
                finishedBySequence[job.sequence] = job.slot
                if let error { slotErrors[job.sequence] = error }
            } else {
                if let error {
                    failed = true
                    workerErrors.append((job.sequence, error))
                    anyWorkerFailed = true
                }
                remaining[job.slot] -= 1
                if remaining[job.slot] == 0 {
                    slotOfSequence.removeValue(forKey: job.sequence)
                    free.append(job.slot)
                }
            }
            condition.broadcast()
            condition.unlock()
        }
    }
}
