import CPrefetch
import Foundation

/// DeepFM's threads: `size − 1` workers kept for the life of a `DeepBatch`, which run the
/// parts of its parallel sections (about twenty a mini-batch of 256 rows: the input layer,
/// each product, the sparse step) with the caller as part 0.
///
/// Between sections the workers spin (with a pause hint) for a while before they sleep, and
/// so does the caller before it waits for the last of them. `DispatchQueue.concurrentPerform`
/// parks its workers as soon as a section ends, and waking one costs tens to hundreds of
/// microseconds on a virtual machine (an interrupt to the other virtual CPU): on a 2-core
/// Zen 3 VM a second thread made deepfm's epoch (400,400,400, batch 256) 1.1x faster with it
/// and 1.6x with this team, for the same CPU seconds (Benchmarks/README.md, deepfm). With
/// more threads than processors nobody spins (a spinning thread would hold the processor
/// that the one it waits for needs). Each part does what it did before, so the bits do not
/// change.
final class WorkerTeam {
    /// Threads taking part, the caller included.
    let size: Int
    private let shared: Shared

    /// Pause hints a thread spins before it sleeps: about 0.5-1 ms at 20-50 ns a pause, more
    /// than the serial work between two sections of a batch or two batches (at 4,000 the
    /// workers slept between batches: 7% slower epochs at 2M rows).
    static let spinLimit = 20_000

    /// What the caller and the workers share; the workers hold it, not the team, so the
    /// team's deinit can stop them and wait.
    private final class Shared: @unchecked Sendable {
        /// [0]: the section's generation (workers run a section when it changes), [1]: parts
        /// finished in it, [2]: 1 when the team stops. Read and written through CPrefetch's atomics.
        let state = UnsafeMutablePointer<CLong>.allocate(capacity: 3)
        /// Where workers sleep between sections, and where the caller waits for the last one.
        let sleep = NSCondition(), done = NSCondition()
        var job: ((Int) -> Void)?
        let workers: Int, spinLimit: Int
        let exited = DispatchGroup()

        init(workers: Int, spinLimit: Int) {
            self.workers = workers
            self.spinLimit = spinLimit
            state.initialize(repeating: 0, count: 3)
        }
        deinit { state.deallocate() }

        var stopping: Bool { swiftctr_atomic_load(state + 2) != 0 }

        func work(_ part: Int) {
            var seen: CLong = 0
            while true {
                var spins = 0
                while swiftctr_atomic_load(state) == seen && !stopping {
                    spins += 1
                    if spins < spinLimit { swiftctr_cpu_relax(); continue }
                    sleep.lock()
                    while swiftctr_atomic_load(state) == seen && !stopping { sleep.wait() }
                    sleep.unlock()
                }
                if stopping { return }
                seen = swiftctr_atomic_load(state)
                job!(part)
                if swiftctr_atomic_add(state + 1, 1) == workers {
                    done.lock(); done.signal(); done.unlock()
                }
            }
        }

        /// Returns when every worker has finished the current section.
        func waitForWorkers() {
            var spins = 0
            while swiftctr_atomic_load(state + 1) < workers {
                spins += 1
                if spins < spinLimit { swiftctr_cpu_relax(); continue }
                done.lock()
                while swiftctr_atomic_load(state + 1) < workers { done.wait() }
                done.unlock()
            }
        }
    }

    init(size: Int) {
        self.size = max(size, 1)
        let spins = self.size <= ProcessInfo.processInfo.activeProcessorCount ? Self.spinLimit : 0
        let shared = Shared(workers: self.size - 1, spinLimit: spins)
        self.shared = shared
        for part in 1..<self.size {
            shared.exited.enter()
            Thread {
                shared.work(part)
                shared.exited.leave()
            }.start()
        }
    }

    deinit {
        swiftctr_atomic_store(shared.state + 2, 1)
        shared.sleep.lock(); shared.sleep.broadcast(); shared.sleep.unlock()
        shared.exited.wait()
    }

    /// Runs `body(part, range)` for the parts of `count` items split evenly over the team
    /// (min(size, count) parts; in the caller alone when one).
    func parts(_ count: Int, _ body: (Int, Range<Int>) -> Void) {
        let parts = max(1, min(size, count))
        if parts == 1 { body(0, 0..<count); return }
        run { t in
            guard t < parts else { return }
            body(t, (count * t / parts)..<(count * (t + 1) / parts))
        }
    }

    /// Runs `body(part)` for part in 0..<size, part 0 in the caller; returns when all have.
    func run(_ body: (Int) -> Void) {
        guard size > 1 else { body(0); return }
        let s = shared, state = s.state
        withoutActuallyEscaping(body) { body in
            s.job = body
            swiftctr_atomic_store(state + 1, 0)
            _ = swiftctr_atomic_add(state, 1)
            s.sleep.lock(); s.sleep.broadcast(); s.sleep.unlock()
            body(0)
            s.waitForWorkers()
            s.job = nil
        }
    }
}
