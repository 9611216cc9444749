import Foundation
import Testing
@testable import FFM

/// DeepFM's worker team: every part of every section runs once, whether the workers are
/// spinning (sections back to back) or asleep (a pause longer than their spinning), and
/// with more threads than processors (nobody spins); a team stops its workers when it
/// goes, asleep or not.
@Suite struct WorkerTeamTests {
    @Test(arguments: [1, 2, 3, ProcessInfo.processInfo.activeProcessorCount + 2])
    func everyPartOfEverySectionRunsOnce(size: Int) {
        let team = WorkerTeam(size: size)
        let runs = UnsafeMutablePointer<Int>.allocate(capacity: size)
        defer { runs.deallocate() }
        runs.initialize(repeating: 0, count: size)
        let counts = Unchecked(runs)
        for section in 0..<2_000 {
            team.run { part in counts.value[part] += 1 }
            if section % 500 == 499 { Thread.sleep(forTimeInterval: 0.05) }  // the workers fall asleep
        }
        #expect((0..<size).map { runs[$0] } == [Int](repeating: 2_000, count: size))
    }

    @Test func aSectionSeesTheCallersWritesAndTheCallerSeesItsWorkers() {
        let team = WorkerTeam(size: 2)
        var values = [Int](repeating: 0, count: 2)
        for round in 1...1_000 {
            let base = round * 10
            values.withUnsafeMutableBufferPointer { buffer in
                let out = Unchecked(buffer.baseAddress!)
                team.run { part in out.value[part] = base + part }
            }
            #expect(values == [base, base + 1])
        }
    }

    @Test func teamsComeAndGoWithSleepingWorkers() {
        for _ in 0..<20 {
            let team = WorkerTeam(size: 2)
            team.run { _ in }
            Thread.sleep(forTimeInterval: 0.002)
        }
    }
}
