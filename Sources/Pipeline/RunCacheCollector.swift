import Foundation
import StageKit

/// `ctr-pipeline gc`: prunes the run cache to the entries the last N runs used.
public enum RunCacheCollector {
    public struct Result: Sendable {
        public var collection: RunCache.Collection
        public var kept: Int
        public var runs: Int
        public var dryRun: Bool

        public func text() -> String {
            let verb = dryRun ? "would remove" : "removed"
            let freed = collection.before.exclusiveBytes - collection.after.exclusiveBytes
            var lines = ["run cache: \(verb) \(collection.removed.count) entr\(collection.removed.count == 1 ? "y" : "ies")"
                         + (dryRun ? "" : ", freed " + RunCacheCollector.bytes(freed))]
            let after = collection.after
            let kept = dryRun ? collection.before.entries - collection.removed.count : after.entries
            lines.append("kept \(kept) entr\(kept == 1 ? "y" : "ies") (the stages of the last \(runs) run\(runs == 1 ? "" : "s") and the current outputs)")
            if !dryRun {
                lines.append("size: \(RunCacheCollector.bytes(after.bytes)) in \(after.files) file\(after.files == 1 ? "" : "s"), "
                             + "\(RunCacheCollector.bytes(after.exclusiveBytes)) of it held only by the cache (the rest are hard links to the current outputs)")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Keeps the entries of every stage fingerprint in the last `keep` run records and in
    /// the lock file; removes the others. Holds the work directory's run lock meanwhile.
    public static func collect(workdir: String, pipeline: String, keep: Int, dryRun: Bool) throws -> Result {
        let processLock = try WorkdirLock(workdir: workdir)
        defer { processLock.release() }
        let records = RunHistory.load(workdir: workdir)
        var fingerprints = Set<String>()
        for record in records.suffix(max(0, keep)) {
            for stage in record.manifest.stages {
                if let fp = stage.fingerprint { fingerprints.insert(fp) }
            }
        }
        let lock = LockFile.load(workdir: workdir, pipeline: pipeline) { _ in }
        for entry in lock.stages.values { fingerprints.insert(entry.fingerprint) }
        let cache = RunCache(workdir: workdir)
        let collection = cache.collect(keeping: fingerprints, dryRun: dryRun)
        return Result(collection: collection, kept: fingerprints.count, runs: min(keep, records.count), dryRun: dryRun)
    }

    /// The cache's size, for `ctr-pipeline runs`.
    public static func summary(workdir: String) -> String {
        let usage = RunCache(workdir: workdir).usage()
        return "run cache: \(usage.entries) entr\(usage.entries == 1 ? "y" : "ies"), \(bytes(usage.bytes)) "
            + "(\(bytes(usage.exclusiveBytes)) held only by the cache); prune with `ctr-pipeline gc FILE --keep N`"
    }

    static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return String(format: "%.1f KB", Double(n) / 1024) }
        if n < 1024 * 1024 * 1024 { return String(format: "%.1f MB", Double(n) / 1048576) }
        return String(format: "%.2f GB", Double(n) / 1073741824)
    }
}
