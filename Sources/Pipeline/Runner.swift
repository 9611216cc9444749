import Foundation
import StageKit
import LogIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How to run a pipeline: the command line's `run` options.
public struct RunOptions: Sendable {
    /// Re-run every stage whatever the lock file says (`--force`).
    public var forceAll = false
    /// Re-run these stages (`--force STAGE`); a swept stage's name selects all its variants.
    public var force: [String] = []
    /// Re-run these stages and everything downstream of them (`--from STAGE`).
    public var from: [String] = []
    /// Consider only these stages (`--only STAGE`); the others are left as they are.
    public var only: [String] = []
    /// Stages run at once when independent (`--jobs N`).
    public var jobs = 1
    /// Say what would run and why, run nothing, write nothing (`--dry-run`, `plan`).
    public var dryRun = false
    /// No progress lines on stderr (the summary is still returned).
    public var quiet = false
    /// Keep every stage's outputs in the run cache and restore them instead of running
    /// a stage whose fingerprint is there (not for forced stages).
    public var runCache = true
    /// Recorded in fingerprints; tests change it to check "new tool version".
    public var toolVersion = SwiftCTRVersion.current
    /// Where progress lines go.
    public var log: @Sendable (String) -> Void = { printError($0) }

    public init() {}
}

public enum StageStatus: String, Codable, Sendable {
    case ran, skipped, failed
    /// Outputs restored from the run cache (same fingerprint as an earlier run).
    case restored
    /// The run stopped (a stage failed) before this stage could start.
    case notRun = "not run"
    /// Left out by `--only`.
    case notSelected = "not selected"
    /// `plan` / `--dry-run`: would run, or would be skipped.
    case wouldRun = "would run"
    case upToDate = "up to date"
    case wouldRestore = "would restore"
}

/// What happened to one stage instance in a run (or would happen, in a plan).
public struct StageReport: Codable, Sendable {
    public var name: String
    public var kind: String
    public var status: StageStatus
    /// Why it ran (or would run): "changed parameter: k 4 -> 8", "missing output: …".
    public var reasons: [String]
    public var seconds: Double
    public var fingerprint: String?
    public var inputs: [InputHash]
    public var outputs: [OutputHash]
    public var metrics: [ModelMetrics]
    public var error: String?
}

/// The outcome of `PipelineRunner.run()`.
public struct RunReport: Sendable {
    public var pipeline: String
    public var stages: [StageReport]
    public var seconds: Double
    /// Set when a stage failed; the run stopped starting new stages at that point.
    public var failure: PipelineError?
    public var manifestPath: String?
    /// This run's record under `workdir/.ctr-pipeline/runs/` and its id.
    public var recordPath: String?
    public var runID: String?

    public var succeeded: Bool { failure == nil }
    public func stage(_ name: String) -> StageReport? { stages.first { $0.name == name } }
    public var metrics: [(stage: String, metrics: ModelMetrics)] {
        stages.flatMap { s in s.metrics.map { (s.name, $0) } }
    }
}

/// Runs a validated pipeline: stages in dependency order (independent ones at once with
/// `jobs > 1`), each skipped when its fingerprint matches the lock file and its
/// outputs are intact, each recorded in the lock file as soon as it succeeds.
public final class PipelineRunner: @unchecked Sendable {
    public let pipeline: ResolvedPipeline
    public let options: RunOptions

    let state = NSCondition()
    /// Where progress lines go: `options.log`, stage lines prefixed, one write per call.
    let log: RunLog
    var lock: LockFile
    let hasher: ContentHasher
    let cache: RunCache
    private var reports: [String: StageReport] = [:]
    var forced: [String: String] = [:]
    private var selected: Set<String>
    // Scheduler state, guarded by `state`.
    private var pending: [String] = []
    private var running = Set<String>()
    private var finished = Set<String>()
    private var failure: PipelineError?

    public init(pipeline: ResolvedPipeline, options: RunOptions = RunOptions()) throws {
        self.pipeline = pipeline
        self.options = options
        let log = RunLog(stageNames: pipeline.stages.map(\.name), sink: options.log), quiet = options.quiet
        self.log = log
        lock = LockFile.load(workdir: pipeline.workdir, pipeline: pipeline.name) { if !quiet { log.write("warning: \($0)") } }
        hasher = ContentHasher(cache: lock.files)
        cache = RunCache(workdir: pipeline.workdir)
        selected = Set(pipeline.stages.map(\.name))
        try resolveSelections()
    }

    private func matching(_ name: String, option: String) throws -> [ResolvedStage] {
        let found = pipeline.instances(matching: name)
        guard !found.isEmpty else {
            let names = Array(Set(pipeline.stages.flatMap { [$0.name, $0.base] })).sorted()
            throw PipelineError.unknownStage(option: option, name: name, suggestion: Suggest.closest(to: name, among: names))
        }
        return found
    }

    private func resolveSelections() throws {
        if options.forceAll { for s in pipeline.stages { forced[s.name] = "forced (--force)" } }
        for name in options.force {
            for s in try matching(name, option: "--force") { forced[s.name] = "forced (--force \(name))" }
        }
        for name in options.from {
            var downstream = Set(try matching(name, option: "--from").map(\.name))
            for s in pipeline.stages where !Set(s.dependencies).isDisjoint(with: downstream) { downstream.insert(s.name) }
            for s in pipeline.stages where downstream.contains(s.name) && forced[s.name] == nil {
                forced[s.name] = "forced (--from \(name))"
            }
        }
        if !options.only.isEmpty {
            selected = []
            for name in options.only { for s in try matching(name, option: "--only") { selected.insert(s.name) } }
        }
    }

    // MARK: Decisions

    /// Hashes a stage's inputs; nil when one is missing (its path is returned instead).
    private enum Hashed {
        case success([InputHash])
        case failure(StageInput)
    }

    private func hashInputs(_ stage: ResolvedStage) throws -> Hashed {
        var result: [InputHash] = []
        for (slot, items) in stage.inputs {
            for item in items {
                guard let hash = try hasher.hash(item.path) else { return .failure(item) }
                result.append(InputHash(slot: slot, path: item.path, hash: hash))
            }
        }
        return .success(result)
    }

    /// Why `stage` must run, or [] when its last run is still valid.
    private func reasons(_ stage: ResolvedStage, entry: LockEntry?, inputs: [InputHash]?, fingerprint: String?, pendingUpstreams: [String]) throws -> [String] {
        var reasons: [String] = []
        if let why = forced[stage.name] { reasons.append(why) }
        guard let entry else {
            return reasons + ["first run (no record in the lock file)"]
        }
        if entry.toolVersion != options.toolVersion {
            reasons.append("new tool version: \(entry.toolVersion) -> \(options.toolVersion)")
        }
        if entry.kind != stage.kind.name { reasons.append("changed kind: \(entry.kind) -> \(stage.kind.name)") }
        else if entry.kindVersion != stage.kind.version {
            reasons.append("new \(stage.kind.name) stage version: \(entry.kindVersion) -> \(stage.kind.version)")
        }
        reasons += PipelineRunner.parameterChanges(old: entry.params, new: stage.paramsJSON)
        if entry.execution != stage.execution { reasons += PipelineRunner.executionChanges(old: entry.execution, new: stage.execution) }
        // In a plan: runs unless the upstream outputs come out byte-identical.
        if !pendingUpstreams.isEmpty { reasons.append("upstream \(pendingUpstreams.joined(separator: ", ")) will run") }
        if let inputs { reasons += PipelineRunner.inputChanges(old: entry.inputs, new: inputs) }
        for output in stage.outputs {
            guard let recorded = entry.outputs.first(where: { $0.name == output.name }) else {
                reasons.append("new output: \(output.name)")
                continue
            }
            if recorded.path != output.path {
                reasons.append("output moved: \(output.name) \(display(recorded.path)) -> \(display(output.path))")
            } else if let hash = try hasher.hash(output.path) {
                if hash != recorded.hash { reasons.append("output changed since it was written: \(output.name) (\(display(output.path)))") }
            } else {
                reasons.append("missing output: \(output.name) (\(display(output.path)))")
            }
        }
        if reasons.isEmpty, let fingerprint, fingerprint != entry.fingerprint { reasons.append("changed fingerprint") }
        return reasons
    }

    static func parameterChanges(old: JSONValue, new: JSONValue) -> [String] {
        guard case let .object(o) = old, case let .object(n) = new else {
            return old == new ? [] : ["changed parameters"]
        }
        var keys = n.map(\.key)
        for entry in o where !keys.contains(entry.key) { keys.append(entry.key) }
        return keys.sorted().compactMap { key in
            let a = old[key], b = new[key]
            guard a != b else { return nil }
            return "changed parameter: \(key) \(a?.text() ?? "unset") -> \(b?.text() ?? "unset")"
        }
    }

    /// "changed command: [...] -> [...]", "changed MPI ranks: 2 -> 4".
    static func executionChanges(old: JSONValue?, new: JSONValue?) -> [String] {
        var keys = new?.objectEntries?.map(\.key) ?? []
        for entry in old?.objectEntries ?? [] where !keys.contains(entry.key) { keys.append(entry.key) }
        let names = ["command": "command", "shell": "shell", "mpiRanks": "MPI ranks"]
        return keys.compactMap { key in
            let a = old?[key], b = new?[key]
            guard a != b else { return nil }
            return "changed \(names[key] ?? key): \(a?.text() ?? "unset") -> \(b?.text() ?? "unset")"
        }
    }

    static func inputChanges(old: [InputHash], new: [InputHash]) -> [String] {
        var slots = new.map(\.slot)
        for i in old where !slots.contains(i.slot) { slots.append(i.slot) }
        var result: [String] = []
        for slot in slots.uniqued() {
            let a = old.filter { $0.slot == slot }, b = new.filter { $0.slot == slot }
            guard a.map(\.hash) != b.map(\.hash) else { continue }
            if a.count != b.count {
                result.append("changed input: \(slot) has \(b.count) file\(b.count == 1 ? "" : "s") (was \(a.count))")
            } else {
                for (x, y) in zip(a, b) where x.hash != y.hash {
                    result.append("changed input: \(slot) \(display(y.path))")
                }
            }
        }
        return result
    }

    // MARK: Plan

    /// What `run()` would do and why, without running or writing anything.
    public func plan() throws -> [StageReport] {
        var willRun = Set<String>()
        var result: [StageReport] = []
        for stage in pipeline.stages {
            var report = StageReport(name: stage.name, kind: stage.kind.name, status: .upToDate, reasons: [], seconds: 0,
                                     fingerprint: nil, inputs: [], outputs: [], metrics: lock.stages[stage.name]?.metrics ?? [], error: nil)
            guard selected.contains(stage.name) else {
                report.status = .notSelected
                result.append(report)
                continue
            }
            let pending = stage.dependencies.filter { willRun.contains($0) }
            var inputs: [InputHash]?
            var fp: String?
            var why: [String] = []
            if pending.isEmpty {
                switch try hashInputs(stage) {
                case let .success(hashes):
                    inputs = hashes
                    fp = fingerprint(kind: stage.kind, toolVersion: options.toolVersion, params: stage.paramsJSON, inputs: hashes,
                                     execution: stage.execution)
                case let .failure(missing):
                    why.append("input missing: \(display(missing.path))" + (missing.stage.map { " (from stage \($0))" } ?? ""))
                }
            }
            why += try reasons(stage, entry: lock.stages[stage.name], inputs: inputs, fingerprint: fp, pendingUpstreams: pending)
            report.reasons = why
            report.fingerprint = fp
            report.inputs = inputs ?? []
            if !why.isEmpty {
                report.status = wouldRestore(stage, fingerprint: fp) ? .wouldRestore : .wouldRun
                willRun.insert(stage.name)
            }
            result.append(report)
        }
        return result
    }

    // MARK: Run

    /// Runs the pipeline. Returns the per-stage report even when a stage fails (then
    /// `failure` is set); throws only for problems before any stage starts.
    public func run() throws -> RunReport {
        let started = DispatchTime.now().uptimeNanoseconds
        let startedAt = Date()
        if options.dryRun {
            let stages = try plan()
            return RunReport(pipeline: pipeline.name, stages: stages, seconds: elapsed(since: started), failure: nil, manifestPath: nil)
        }
        if let why = FileIO.createFolder(pipeline.workdir) {
            throw PipelineError.io(path: pipeline.workdir, message: "cannot create the pipeline's work directory (\"workdir\"): \(why)")
        }
        let processLock = try WorkdirLock(workdir: pipeline.workdir)
        defer { processLock.release() }
        cache.removeUnfinished()

        // --only: the inputs the selected stages take from unselected ones must exist.
        for stage in pipeline.stages where selected.contains(stage.name) {
            for (_, items) in stage.inputs {
                for item in items {
                    if let up = item.stage, !selected.contains(up), FileStamp.of(item.path) == nil {
                        throw PipelineError.missingUpstream(stage: stage.name, upstream: up, path: item.path)
                    }
                }
            }
        }

        let jobs = max(1, options.jobs)
        pending = pipeline.stages.map(\.name)

        // One scheduler loop: start every ready stage up to `jobs`, wait for one to finish.
        // With one job, stages run on this thread.
        state.lock()
        while !pending.isEmpty || !running.isEmpty {
            while failure == nil, running.count < jobs, let index = pending.firstIndex(where: { name in
                pipeline.stage(name)!.dependencies.allSatisfy { finished.contains($0) }
            }) {
                let stage = pipeline.stage(pending.remove(at: index))!
                running.insert(stage.name)
                if jobs == 1 {
                    state.unlock()
                    let result = execute(stage)
                    state.lock()
                    complete(stage, result)
                } else {
                    let thread = Thread { [self] in
                        let result = execute(stage)
                        state.lock()
                        complete(stage, result)
                        state.broadcast()
                        state.unlock()
                    }
                    thread.stackSize = 16 << 20
                    thread.start()
                }
            }
            if running.isEmpty {
                if failure != nil || pending.isEmpty { break }
                // Nothing runnable and nothing running: cannot happen in a DAG.
                preconditionFailure("pipeline scheduler stalled with pending stages \(pending)")
            }
            state.wait()
        }
        state.unlock()

        for name in pending {
            let stage = pipeline.stage(name)!
            reports[name] = StageReport(name: name, kind: stage.kind.name, status: .notRun,
                                        reasons: ["the run stopped after a failure"], seconds: 0, fingerprint: nil,
                                        inputs: [], outputs: [], metrics: [], error: nil)
        }
        let stages = pipeline.stages.map { reports[$0.name]! }
        lock.files = pruneHashCache()
        try? lock.save(workdir: pipeline.workdir)
        var report = RunReport(pipeline: pipeline.name, stages: stages, seconds: elapsed(since: started), failure: failure, manifestPath: nil)
        let manifestPath = pipeline.workdir + "/" + RunManifest.fileName
        do {
            let manifest = RunManifest(pipeline: pipeline, report: report, startedAt: startedAt, options: options)
            try writeJSON(manifest, to: manifestPath)
            report.manifestPath = manifestPath
            report.runID = manifest.id
            report.recordPath = keepRecord(manifest)
        } catch {
            if !options.quiet { log.write("warning: could not write the run manifest \(manifestPath): \(error)") }
        }
        return report
    }

    /// The scheduler's bookkeeping after a stage ends (called with `state` locked).
    private func complete(_ stage: ResolvedStage, _ result: StageReport) {
        running.remove(stage.name)
        reports[stage.name] = result
        if result.status == .failed {
            if failure == nil { failure = .stageFailed(stage: stage.name, message: result.error ?? "unknown error") }
        } else {
            finished.insert(stage.name)
        }
    }

    func say(_ line: String) {
        if !options.quiet { log.write(line) }
    }

    /// A progress line of one stage, with its aligned `[stage] ` prefix.
    func say(_ stage: String, _ line: String) {
        if !options.quiet { log.stage(stage, line) }
    }

    /// Decides and, if needed, runs one stage; never throws (failures are in the report).
    private func execute(_ stage: ResolvedStage) -> StageReport {
        let started = DispatchTime.now().uptimeNanoseconds
        var report = StageReport(name: stage.name, kind: stage.kind.name, status: .skipped, reasons: [], seconds: 0,
                                 fingerprint: nil, inputs: [], outputs: [], metrics: [], error: nil)
        func fail(_ message: String) -> StageReport {
            report.status = .failed
            report.error = message
            report.seconds = elapsed(since: started)
            say(stage.name, "failed after \(formatSeconds(report.seconds))")
            return report
        }
        do {
            let entry = withState { lock.stages[stage.name] }
            guard selected.contains(stage.name) else {
                report.status = .notSelected
                report.metrics = entry?.metrics ?? []
                return report
            }
            let inputs: [InputHash]
            switch try hashInputs(stage) {
            case let .success(h): inputs = h
            case let .failure(missing): return fail("input missing: \(missing.path)")
            }
            let fp = fingerprint(kind: stage.kind, toolVersion: options.toolVersion, params: stage.paramsJSON, inputs: inputs,
                                 execution: stage.execution)
            report.fingerprint = fp
            report.inputs = inputs
            let why = try reasons(stage, entry: entry, inputs: inputs, fingerprint: fp, pendingUpstreams: [])
            if why.isEmpty, let entry {
                report.status = .skipped
                report.outputs = entry.outputs
                report.metrics = entry.metrics
                report.seconds = elapsed(since: started)
                return report
            }
            report.reasons = why
            if let restored = restoreFromCache(stage, report: report, started: started) { return restored }
            say(stage.name, "running: " + why.joined(separator: "; "))
            // Forget the old run before touching its outputs: if this run dies half way,
            // nothing vouches for what is left on disk.
            try withStateThrowing {
                if lock.stages.removeValue(forKey: stage.name) != nil { try lock.save(workdir: pipeline.workdir) }
            }
            try FileManager.default.createDirectory(atPath: stage.directory, withIntermediateDirectories: true)
            removeLeftoverPartials(in: stage.directory)
            var inputsBySlot: [String: [StageInput]] = [:]
            for (slot, items) in stage.inputs {
                inputsBySlot[slot] = items.map { item in
                    var item = item
                    item.model = item.stage.flatMap(pipeline.modelLabel(of:))
                    return item
                }
            }
            var outputsByName: [String: String] = [:]
            for o in stage.outputs { outputsByName[o.name] = o.writtenAt }
            let log = self.log, name = stage.name
            let reporter = Reporter(quiet: options.quiet, live: false) { log.stage(name, $0) }
            let finished = withState { pipeline.stages.compactMap { reports[$0.name] } }
            let run = PipelineRunInfo(pipeline: pipeline, stage: stage, finished: finished, inputs: inputs,
                                      toolVersion: options.toolVersion)
            let context = StageContext(stage: stage.name, params: stage.params, inputs: inputsBySlot,
                                       directory: stage.directory, outputs: outputsByName, reporter: reporter, run: run)
            let outcome: StageOutcome
            do {
                if let mpi = stage.mpi {
                    outcome = try MPIStage.run(stage, mpi, context: context)
                } else {
                    outcome = try stage.kind.runStage(stage.params, context)
                }
            } catch {
                return fail(String(describing: error))
            }
            var outputs: [OutputHash] = []
            for o in stage.outputs {
                guard FileStamp.of(o.writtenAt) != nil else {
                    return fail(PipelineError.outputMissing(stage: stage.name, output: o.name, path: o.writtenAt).description)
                }
                if o.writtenAt != o.path { try moveIntoPlace(from: o.writtenAt, to: o.path) }
                guard let hash = try hasher.hash(o.path) else {
                    return fail(PipelineError.outputMissing(stage: stage.name, output: o.name, path: o.path).description)
                }
                outputs.append(OutputHash(name: o.name, path: o.path, hash: hash))
            }
            report.status = .ran
            report.outputs = outputs
            report.metrics = outcome.metrics
            report.seconds = elapsed(since: started)
            let completed = LockEntry(fingerprint: fp, kind: stage.kind.name, kindVersion: stage.kind.version,
                                      toolVersion: options.toolVersion, params: stage.paramsJSON, inputs: inputs,
                                      outputs: outputs, completedAt: ISO8601DateFormatter().string(from: Date()),
                                      seconds: report.seconds, metrics: outcome.metrics, execution: stage.execution)
            try withStateThrowing {
                lock.stages[stage.name] = completed
                lock.files = pruneHashCache()
                try lock.save(workdir: pipeline.workdir)
            }
            keepInCache(stage, completed)
            for note in outcome.notes { reporter.note(note) }
            say(stage.name, "done in \(formatSeconds(report.seconds))")
            return report
        } catch {
            return fail(String(describing: error))
        }
    }

    private func withState<T>(_ body: () -> T) -> T {
        state.lock()
        defer { state.unlock() }
        return body()
    }

    func withStateThrowing<T>(_ body: () throws -> T) throws -> T {
        state.lock()
        defer { state.unlock() }
        return try body()
    }

    /// Hash-cache entries worth keeping: those used in this run and those of outputs
    /// the lock file still vouches for.
    func pruneHashCache() -> [String: CachedHash] {
        var kept = lock.files.filter { entry in lock.stages.values.contains { $0.outputs.contains { $0.path == entry.key } } }
        for (path, hash) in hasher.usedEntries { kept[path] = hash }
        return kept
    }

    /// Deletes `.NAME.partial-PID` files (AtomicFileWriter's temporary names) that a killed
    /// run left in the stage's own folder; a live writer of this stage cannot exist here.
    private func removeLeftoverPartials(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(".") && name.contains(".partial-") {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    /// Moves a finished output to its overridden location (rename; copy then rename
    /// across file systems), replacing what was there.
    private func moveIntoPlace(from source: String, to destination: String) throws {
        let fm = FileManager.default
        let parent = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        if rename(source, destination) == 0 { return }
        guard errno == EXDEV else {
            throw PipelineError.io(path: destination, message: "cannot move \(source) here: \(String(cString: strerror(errno)))")
        }
        let temporary = parent + "/." + URL(fileURLWithPath: destination).lastPathComponent + ".partial-\(getpid())"
        try? fm.removeItem(atPath: temporary)
        try fm.copyItem(atPath: source, toPath: temporary)
        guard rename(temporary, destination) == 0 else {
            throw PipelineError.io(path: destination, message: "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
        }
        try? fm.removeItem(atPath: source)
    }
}

/// An exclusive `flock` on `workdir/.ctr-pipeline.running`, so two runs never write the
/// same work directory at once. The kernel releases it when the process dies.
final class WorkdirLock {
    static let fileName = ".ctr-pipeline.running"
    private var fd: Int32

    init(workdir: String) throws {
        fd = open(workdir + "/" + WorkdirLock.fileName, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError.io(path: workdir, message: "cannot create the run lock: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            fd = -1
            throw PipelineError.busy(workdir: workdir)
        }
    }

    func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }

    deinit { release() }
}

func elapsed(since start: UInt64) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func formatSeconds(_ s: Double) -> String {
    if s < 10 { return String(format: "%.2fs", s) }
    if s < 60 { return String(format: "%.1fs", s) }
    return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
}

/// A path relative to the current directory when inside it, for shorter messages.
func display(_ path: String) -> String {
    let cwd = FileManager.default.currentDirectoryPath
    return path.hasPrefix(cwd + "/") ? String(path.dropFirst(cwd.count + 1)) : path
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
