import Foundation
import StageKit
import LogIO

/// `workdir/manifest.json`, rewritten by every run: what ran, with which configuration,
/// versions, hashes, timings and metrics — enough to tell later how a model was made.
public struct RunManifest: Codable, Sendable {
    public static let fileName = "manifest.json"

    public struct ResolvedStageConfig: Codable, Sendable {
        public var kind: String
        public var base: String
        public var variant: [String: JSONValue]
        public var params: JSONValue
        public var inputs: [String: [String]]
        public var outputs: [String: String]
        public var dependencies: [String]
    }

    public struct Options: Codable, Sendable {
        public var force: [String]
        public var from: [String]
        public var only: [String]
        public var jobs: Int
    }

    public struct Metric: Codable, Sendable {
        public var stage: String
        public var model: String
        public var values: [String: Double?]
    }

    /// 2: snake_case keys (1: camelCase, still read: older run records).
    public static let formatVersion = 2

    public var manifestVersion = RunManifest.formatVersion
    /// The run's id: 8 hex digits, also in its record's name under `.ctr-pipeline/runs/`.
    /// Absent in manifests written before run records existed.
    public var id: String?
    public var pipeline: String
    public var file: String
    public var workdir: String
    public var toolVersion: String
    public var gitRevision: String?
    public var startedAt: String
    public var seconds: Double
    public var status: String
    public var failure: String?
    public var overrides: [String]
    public var options: Options
    /// Every stage instance as run: full parameters (defaults and overrides included),
    /// input and output paths.
    public var config: [String: ResolvedStageConfig]
    public var stages: [StageReport]
    /// The metrics every stage reported (eval's per model), final figures of the run.
    public var metrics: [Metric]

    enum CodingKeys: String, CodingKey {
        case manifestVersion = "manifest_version", id, pipeline, file, workdir, toolVersion = "tool_version"
        case gitRevision = "git_revision", startedAt = "started_at", seconds, status, failure, overrides, options
        case config, stages, metrics
    }

    /// Reads snake_case keys, or the camelCase ones of manifest format 1 (run records of
    /// the previous release).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: JSONKey.self)
        manifestVersion = try c.value("manifest_version", or: "manifestVersion")
        id = try c.optionalValue("id")
        pipeline = try c.value("pipeline")
        file = try c.value("file")
        workdir = try c.value("workdir")
        toolVersion = try c.value("tool_version", or: "toolVersion")
        gitRevision = try c.optionalValue("git_revision", or: "gitRevision")
        startedAt = try c.value("started_at", or: "startedAt")
        seconds = try c.value("seconds")
        status = try c.value("status")
        failure = try c.optionalValue("failure")
        overrides = try c.value("overrides")
        options = try c.value("options")
        config = try c.value("config")
        stages = try c.value("stages")
        metrics = try c.value("metrics")
    }

    init(pipeline: ResolvedPipeline, report: RunReport, startedAt: Date, options: RunOptions) {
        self.pipeline = pipeline.name
        id = String(XXHash64.hex(XXHash64.hash("\(pipeline.workdir)\n\(startedAt.timeIntervalSince1970)\n\(getpid())\n\(UUID().uuidString)")).prefix(8))
        file = pipeline.file
        workdir = pipeline.workdir
        toolVersion = options.toolVersion
        gitRevision = RunManifest.gitRevision(near: URL(fileURLWithPath: pipeline.file).deletingLastPathComponent().path)
        self.startedAt = ISO8601DateFormatter().string(from: startedAt)
        seconds = report.seconds
        status = report.succeeded ? "succeeded" : "failed"
        failure = report.failure?.description
        overrides = pipeline.overrides
        self.options = Options(force: (options.forceAll ? ["*"] : []) + options.force, from: options.from,
                               only: options.only, jobs: options.jobs)
        var config: [String: ResolvedStageConfig] = [:]
        for s in pipeline.stages {
            var variant: [String: JSONValue] = [:]
            for v in s.variant { variant[v.stage + "." + v.key] = v.value }
            var inputs: [String: [String]] = [:]
            for (slot, items) in s.inputs { inputs[slot] = items.map(\.path) }
            var outputs: [String: String] = [:]
            for o in s.outputs { outputs[o.name] = o.path }
            config[s.name] = ResolvedStageConfig(kind: s.kind.name, base: s.base, variant: variant, params: s.paramsJSON,
                                                 inputs: inputs, outputs: outputs, dependencies: s.dependencies)
        }
        self.config = config
        stages = report.stages
        metrics = report.metrics.map { Metric(stage: $0.stage, model: $0.metrics.model, values: $0.metrics.values) }
    }

    /// `git rev-parse HEAD` in the pipeline file's folder (with "-dirty" when tracked
    /// files are modified), nil outside a repository or without git.
    static func gitRevision(near directory: String) -> String? {
        guard let head = git(["rev-parse", "HEAD"], in: directory), !head.isEmpty else { return nil }
        let status = git(["status", "--porcelain", "--untracked-files=no"], in: directory) ?? ""
        return status.isEmpty ? head : head + "-dirty"
    }

    private static func git(_ arguments: [String], in directory: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The table printed at the end of a run: stage, status, time and the eval metrics.
public enum RunSummary {
    public static let metricColumns: [(key: String, title: String)] = [
        ("auc", "AUC"), ("logloss", "log loss"), ("ne", "NE"), ("calibration", "calibration"),
    ]

    /// Regression metrics (#13): shown only when some stage reports them.
    public static let regressionColumns: [(key: String, title: String)] = [("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R²")]

    /// The columns of a run: the classification ones, plus (or, without any classification
    /// metric, instead) the regression ones when an eval reported them.
    static func columns(_ report: RunReport) -> [(key: String, title: String)] {
        let keys = Set(report.stages.flatMap { $0.metrics.flatMap { $0.values.keys } })
        guard keys.contains("rmse") else { return metricColumns }
        return (keys.contains("auc") ? metricColumns : []) + regressionColumns
    }

    public static func table(_ report: RunReport) -> String {
        let metricColumns = columns(report)
        var rows: [[String]] = [["stage", "status", "time"] + metricColumns.map(\.title)]
        func cells(_ m: ModelMetrics) -> [String] {
            metricColumns.map { col in
                guard let value = m.values[col.key] else { return "" }
                return value.map { String(format: "%.5f", $0) } ?? "n/a"
            }
        }
        for s in report.stages {
            let time = s.status == .ran || s.status == .failed || s.status == .restored ? formatSeconds(s.seconds) : "-"
            var row = [s.name, s.status.rawValue, time]
            if s.metrics.count == 1 {
                row += cells(s.metrics[0])
                rows.append(row)
            } else {
                rows.append(row + metricColumns.map { _ in "" })
                for m in s.metrics { rows.append(["  " + m.model, "", ""] + cells(m)) }
            }
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        let lines = rows.map { row in
            row.enumerated().map { i, cell in
                // Text columns left-aligned, numbers right-aligned.
                i < 2 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                      : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        let ran = report.stages.filter { $0.status == .ran }.count
        let skipped = report.stages.filter { $0.status == .skipped }.count
        var footer = "\(ran) ran, \(skipped) skipped"
        let restored = report.stages.filter { $0.status == .restored }.count
        if restored > 0 { footer += ", \(restored) restored" }
        let failed = report.stages.filter { $0.status == .failed }.count
        if failed > 0 { footer += ", \(failed) failed" }
        footer += " in " + formatSeconds(report.seconds)
        if let m = report.manifestPath { footer += "; manifest: " + display(m) }
        if let id = report.runID { footer += "; run " + id }
        return (lines + [footer]).joined(separator: "\n")
    }

    /// `plan` output: each stage with what would happen and why.
    public static func plan(_ stages: [StageReport]) -> String {
        let width = stages.map(\.name.count).max() ?? 0
        var lines: [String] = []
        for s in stages {
            let name = s.name.padding(toLength: width, withPad: " ", startingAt: 0)
            switch s.status {
            case .wouldRun:
                lines.append("\(name)  run   " + (s.reasons.first ?? ""))
                for r in s.reasons.dropFirst() { lines.append(String(repeating: " ", count: width) + "        " + r) }
            case .wouldRestore:
                lines.append("\(name)  restore  from the run cache: " + (s.reasons.first ?? ""))
                for r in s.reasons.dropFirst() { lines.append(String(repeating: " ", count: width) + "        " + r) }
            case .notSelected:
                lines.append("\(name)  -     not selected (--only)")
            default:
                lines.append("\(name)  skip  up to date")
            }
        }
        let n = stages.filter { $0.status == .wouldRun }.count
        let r = stages.filter { $0.status == .wouldRestore }.count
        if n == 0 && r == 0 {
            lines.append("Nothing to do: every stage is up to date.")
        } else {
            var last = "\(n) of \(stages.count) stage\(stages.count == 1 ? "" : "s") would run"
            if r > 0 { last += ", \(r) would be restored from the run cache" }
            lines.append(last + ".")
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
