import Foundation
import StageKit
import LogIO

/// Problems of `ctr-pipeline runs`, `diff` and `gc`.
public enum HistoryError: Error, CustomStringConvertible, Equatable {
    /// The work directory has no run records yet.
    case noRuns(workdir: String)
    /// `diff` needs two runs.
    case needTwoRuns(workdir: String, found: Int)
    /// A run reference matched no run, or several.
    case unknownRun(reference: String, known: [String])
    case ambiguousRun(reference: String, matches: [String])
    case unreadableRecord(path: String, message: String)

    public var description: String {
        switch self {
        case let .noRuns(workdir):
            return "\(workdir): no runs recorded yet (runs are recorded under \(HistoryFolder.name)/runs/ by `ctr-pipeline run`)"
        case let .needTwoRuns(workdir, found):
            return "\(workdir): diff compares two runs; found \(found) recorded run\(found == 1 ? "" : "s")"
        case let .unknownRun(reference, known):
            let list = known.suffix(10).joined(separator: ", ")
            return "no run \"\(reference)\"; expected a run id (or a unique prefix of at least 4 digits), last or last-N; recent runs: \(list)"
        case let .ambiguousRun(reference, matches):
            return "run \"\(reference)\" is ambiguous: it matches \(matches.joined(separator: ", ")); give more digits"
        case let .unreadableRecord(path, message):
            return "\(path): unreadable run record: \(message)"
        }
    }
}

/// One recorded run: `workdir/.ctr-pipeline/runs/<time>-<id>.json`, a copy of that run's manifest.
public struct RunRecord: Sendable {
    public var path: String
    public var manifest: RunManifest
    public var id: String { manifest.id ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }
}

/// The run records of a work directory and what changed between them.
public enum RunHistory {
    public static func folder(_ workdir: String) -> String { HistoryFolder.path(workdir) + "/runs" }

    /// Writes `manifest` as a new run record (atomically); returns its path.
    static func record(_ manifest: RunManifest, workdir: String) throws -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        let dir = folder(workdir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + formatter.string(from: Date()) + "-" + (manifest.id ?? "run") + ".json"
        try writeJSON(manifest, to: path)
        return path
    }

    /// Every run record, oldest first (names sort by time). Records that cannot be read
    /// are reported through `warn` and left out.
    public static func load(workdir: String, warn: (String) -> Void = { _ in }) -> [RunRecord] {
        let dir = folder(workdir)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { !$0.hasPrefix(".") && $0.hasSuffix(".json") }.sorted()
        var records: [RunRecord] = []
        for name in names {
            let path = dir + "/" + name
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                records.append(RunRecord(path: path, manifest: try JSONDecoder().decode(RunManifest.self, from: data)))
            } catch {
                warn(HistoryError.unreadableRecord(path: path, message: String(describing: error)).description)
            }
        }
        return records
    }

    /// The run `reference` names: an id or a unique prefix of one (at least 4 digits),
    /// `last` or `last-N` (N runs before the last).
    public static func resolve(_ reference: String, in records: [RunRecord]) throws -> RunRecord {
        let ids = records.map(\.id)
        if reference == "last", let r = records.last { return r }
        if reference.hasPrefix("last-"), let n = Int(reference.dropFirst(5)), n >= 0 {
            guard n < records.count else { throw HistoryError.unknownRun(reference: reference, known: ids) }
            return records[records.count - 1 - n]
        }
        let name = reference.hasSuffix(".json") ? URL(fileURLWithPath: reference).lastPathComponent : nil
        let matches = records.filter { record in
            if let name { return URL(fileURLWithPath: record.path).lastPathComponent == name }
            return reference.count >= 4 && record.id.hasPrefix(reference.lowercased())
        }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty { throw HistoryError.unknownRun(reference: reference, known: ids) }
        throw HistoryError.ambiguousRun(reference: reference, matches: matches.map(\.id))
    }

    // MARK: Changes

    /// One parameter that differs between two runs: `stage` is the stage instance, or the
    /// stage's name when every variant of it changed the same way.
    public struct ParameterChange: Codable, Equatable, Sendable {
        public var stage: String
        public var key: String
        public var a: JSONValue?
        public var b: JSONValue?

        public var text: String { "\(stage).\(key) \(a?.text() ?? "unset") -> \(b?.text() ?? "unset")" }
    }

    /// An input from outside the pipeline whose content differs between two runs.
    public struct InputChange: Codable, Equatable, Sendable {
        public var stage: String
        public var slot: String
        public var paths: [String]
        public var a: [String]
        public var b: [String]

        public var text: String { "\(stage).\(slot) (\(paths.map { display($0) }.joined(separator: ", ")))" }
    }

    public static func parameterChanges(from a: RunManifest, to b: RunManifest) -> [ParameterChange] {
        var changes: [ParameterChange] = []
        for name in b.config.keys.sorted() {
            guard let old = a.config[name], let new = b.config[name] else { continue }
            guard case let .object(o) = old.params, case let .object(n) = new.params else { continue }
            let keys = (n.map(\.key) + o.map(\.key)).uniqued().sorted()
            for key in keys where old.params[key] != new.params[key] {
                changes.append(ParameterChange(stage: name, key: key, a: old.params[key], b: new.params[key]))
            }
        }
        // Every variant of a stage changed alike: one line under the stage's name.
        var grouped: [ParameterChange] = []
        for change in changes {
            guard let base = b.config[change.stage]?.base else { grouped.append(change); continue }
            let variants = b.config.filter { $0.value.base == base && a.config[$0.key] != nil }.map(\.key)
            let alike = changes.filter { variants.contains($0.stage) && $0.key == change.key && $0.a == change.a && $0.b == change.b }
            let collapsed = variants.count > 1 && alike.count == variants.count
                ? ParameterChange(stage: base, key: change.key, a: change.a, b: change.b) : change
            if !grouped.contains(collapsed) { grouped.append(collapsed) }
        }
        return grouped
    }

    /// Changed inputs that no stage of the run produced (logs, schema files, configs).
    public static func inputChanges(from a: RunManifest, to b: RunManifest) -> [InputChange] {
        let produced = b.config.values.flatMap(\.outputs.values) + a.config.values.flatMap(\.outputs.values)
        func external(_ path: String) -> Bool { !produced.contains { path == $0 || path.hasPrefix($0 + "/") } }
        var changes: [InputChange] = []
        for new in b.stages {
            guard let old = a.stages.first(where: { $0.name == new.name }), !old.inputs.isEmpty, !new.inputs.isEmpty else { continue }
            for slot in new.inputs.map(\.slot).uniqued() {
                let x = old.inputs.filter { $0.slot == slot }, y = new.inputs.filter { $0.slot == slot }
                guard y.allSatisfy({ external($0.path) }), x.map(\.hash) != y.map(\.hash) else { continue }
                changes.append(InputChange(stage: new.name, slot: slot, paths: y.map(\.path), a: x.map(\.hash), b: y.map(\.hash)))
            }
        }
        // The same file read by several stages (or variants) is one change.
        var seen = Set<String>()
        return changes.filter { seen.insert($0.paths.joined(separator: "\n") + "\0" + $0.b.joined(separator: ",")).inserted }
    }

    /// What changed from `previous` to `run`, in words, for `ctr-pipeline runs`.
    public static func changeSummary(from previous: RunManifest?, to run: RunManifest) -> [String] {
        guard let previous else { return ["first recorded run"] }
        var lines: [String] = []
        if previous.toolVersion != run.toolVersion { lines.append("tool \(previous.toolVersion) -> \(run.toolVersion)") }
        let added = Set(run.config.keys).subtracting(previous.config.keys).sorted()
        let removed = Set(previous.config.keys).subtracting(run.config.keys).sorted()
        if !added.isEmpty { lines.append("new stage" + (added.count == 1 ? " " : "s ") + added.joined(separator: ", ")) }
        if !removed.isEmpty { lines.append("no stage" + (removed.count == 1 ? " " : "s ") + removed.joined(separator: ", ")) }
        lines += parameterChanges(from: previous, to: run).map(\.text)
        lines += inputChanges(from: previous, to: run).map { "changed input " + $0.text }
        if lines.isEmpty {
            let options = run.options
            if !options.force.isEmpty || !options.from.isEmpty { lines.append("no change (forced)") } else { lines.append("no change") }
        }
        return lines
    }

    // MARK: The runs table

    /// The evaluation metrics of a run (per stage and model), leaving out figures such as
    /// train's validation metrics.
    static func evaluationMetrics(_ manifest: RunManifest) -> [RunManifest.Metric] {
        manifest.metrics.filter { $0.values["auc"] != nil || $0.values["logloss"] != nil || $0.values["rmse"] != nil }
    }

    static func columns(_ manifests: [RunManifest]) -> [(key: String, title: String)] {
        var columns = RunSummary.metricColumns
        if manifests.contains(where: { $0.metrics.contains { $0.values["rmse"] != nil } }) { columns.append(("rmse", "RMSE")) }
        return columns
    }

    static func stageCounts(_ manifest: RunManifest) -> String {
        if let failed = manifest.stages.first(where: { $0.status == .failed }) { return "failed: " + failed.name }
        var parts: [String] = []
        for status in [StageStatus.ran, .restored, .skipped] {
            let n = manifest.stages.filter { $0.status == status }.count
            if n > 0 { parts.append("\(n) \(status.rawValue)") }
        }
        return parts.joined(separator: ", ")
    }

    static func when(_ manifest: RunManifest) -> String {
        manifest.startedAt.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
    }

    /// `ctr-pipeline runs`: one line per run, oldest first, with its metrics and what
    /// changed from the run before it; a run evaluating several models gets a line per model.
    public static func table(_ records: [RunRecord]) -> String {
        let columns = columns(records.map(\.manifest))
        var rows: [[String]] = [["run", "started (UTC)", "status", "stages"] + columns.map(\.title) + ["changes from the previous run"]]
        var previous: RunManifest?
        for record in records {
            let m = record.manifest
            let metrics = evaluationMetrics(m)
            let changes = changeSummary(from: previous, to: m).joined(separator: "; ")
            var row = [record.id, when(m), m.status, stageCounts(m)]
            if metrics.count == 1 {
                row += cells(metrics[0].values, columns)
                rows.append(row + [changes])
            } else {
                rows.append(row + columns.map { _ in "" } + [changes])
                for metric in metrics {
                    rows.append(["", "  " + metric.model, "", ""] + cells(metric.values, columns) + [""])
                }
            }
            previous = m
        }
        return render(rows, numeric: Set(4..<(4 + columns.count))) + "\n\(records.count) run\(records.count == 1 ? "" : "s")"
    }

    static func cells(_ values: [String: Double?], _ columns: [(key: String, title: String)]) -> [String] {
        columns.map { column in
            guard let value = values[column.key] else { return "" }
            return value.map { String(format: "%.5f", $0) } ?? "n/a"
        }
    }

    /// Aligned columns: `numeric` ones right-aligned, the others left-aligned.
    static func render(_ rows: [[String]], numeric: Set<Int>) -> String {
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        return rows.map { row in
            row.enumerated().map { i, cell in
                numeric.contains(i) ? String(repeating: " ", count: widths[i] - cell.count) + cell
                                    : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }
}

extension PipelineRunner {
    /// Keeps a copy of this run's manifest under `.ctr-pipeline/runs/`; nil (with a
    /// warning) when it cannot be written.
    func keepRecord(_ manifest: RunManifest) -> String? {
        do {
            return try RunHistory.record(manifest, workdir: pipeline.workdir)
        } catch {
            say("warning: could not record the run under \(RunHistory.folder(pipeline.workdir)): \(error)")
            return nil
        }
    }
}

extension RunHistory {
    /// The pipeline's name and work directory, read from the file without validating the
    /// rest of it: a run history stays readable after an input moved or a key changed.
    public static func locate(file: String) throws -> (name: String, workdir: String) {
        let url = URL(fileURLWithPath: file).standardizedFileURL
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PipelineError.cannotRead(path: file, message: (error as NSError).localizedDescription)
        }
        var parser = JSONParser(String(decoding: data, as: UTF8.self))
        let root: JSONValue
        do { root = try parser.parse() } catch let e as JSONParser.SyntaxError {
            throw PipelineError.syntax(file: url.path, position: e.position, message: e.message)
        }
        guard case let .string(name)? = root["name"], !name.isEmpty else {
            throw PipelineError.invalid(file: url.path, issues: [ValidationIssue(path: "name", message: "missing; expected a non-empty string naming the pipeline", position: nil)])
        }
        let base = url.deletingLastPathComponent().path
        if case let .string(dir)? = root["workdir"], !dir.isEmpty { return (name, absolutePath(dir, base: base)) }
        return (name, absolutePath("work/" + name, base: base))
    }
}
