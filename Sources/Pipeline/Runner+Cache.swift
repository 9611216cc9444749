import Foundation
import StageKit
import LogIO

/// The runner's use of the run cache: keep what a stage wrote, and restore it instead of
/// running the stage again when its fingerprint comes back.
extension PipelineRunner {
    /// Whether a plan would restore `stage` rather than run it.
    func wouldRestore(_ stage: ResolvedStage, fingerprint: String?) -> Bool {
        guard options.runCache, forced[stage.name] == nil, let fingerprint else { return false }
        return cache.entry(fingerprint) != nil
    }

    /// Restores the stage's outputs from the run cache when an entry has its fingerprint;
    /// nil when there is none (or it cannot be used: the stage then runs, with a warning).
    func restoreFromCache(_ stage: ResolvedStage, report: StageReport, started: UInt64) -> StageReport? {
        guard options.runCache, forced[stage.name] == nil, let fingerprint = report.fingerprint,
              let entry = cache.entry(fingerprint) else { return nil }
        say(stage.name, "restoring from the run cache: " + report.reasons.joined(separator: "; "))
        do {
            // As before a run: nothing vouches for the outputs while they are replaced.
            try withStateThrowing {
                if lock.stages.removeValue(forKey: stage.name) != nil { try lock.save(workdir: pipeline.workdir) }
            }
            try FileManager.default.createDirectory(atPath: stage.directory, withIntermediateDirectories: true)
            let outputs = try cache.restore(entry, to: stage, hasher: hasher)
            var restored = report
            restored.status = .restored
            restored.reasons = report.reasons + ["restored from the run cache (outputs of \(entry.run.completedAt))"]
            restored.outputs = outputs
            restored.metrics = entry.run.metrics
            restored.seconds = elapsed(since: started)
            var completed = entry.run
            completed.params = stage.paramsJSON
            completed.inputs = report.inputs
            completed.outputs = outputs
            try withStateThrowing {
                lock.stages[stage.name] = completed
                lock.files = pruneHashCache()
                try lock.save(workdir: pipeline.workdir)
            }
            say(stage.name, "restored in \(formatSeconds(restored.seconds))")
            return restored
        } catch {
            say(stage.name, "warning: cannot restore from the run cache (\(error)); running the stage")
            if error is RunCache.RestoreFailure {
                try? FileManager.default.removeItem(atPath: cache.entryFolder(fingerprint))
            }
            return nil
        }
    }

    /// Keeps the outputs of a stage that just ran; a failure is a warning, never the stage's.
    func keepInCache(_ stage: ResolvedStage, _ completed: LockEntry) {
        guard options.runCache else { return }
        do {
            try cache.store(stage: stage, run: completed, hasher: hasher)
        } catch {
            say(stage.name, "warning: could not keep the outputs in the run cache: \(error)")
        }
    }
}
