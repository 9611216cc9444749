import Foundation
import LogIO

/// One training run's per-epoch figures, read from ctr-train's `--log-json` (epochs.json):
/// the learning curves of the HTML report.
public struct TrainingLog: Equatable, Sendable {
    public struct Epoch: Equatable, Sendable {
        public var epoch: Int
        /// Training loss (log loss; mean squared error with squared loss).
        public var train: Double
        public var valid: Double?
        public var validAUC: Double?
    }

    /// Display name: the producing stage in a pipeline, else the file's path.
    public var name: String
    public var path: String
    public var epochs: [Epoch]
    /// The epoch whose weights the model holds, when known (a pipeline knows train's
    /// patience); nil: the report marks the lowest validation loss instead.
    public var keptEpoch: Int?

    public init(name: String, path: String, epochs: [Epoch], keptEpoch: Int? = nil) {
        self.name = name
        self.path = path
        self.epochs = epochs
        self.keptEpoch = keptEpoch
    }

    /// The epoch the chart marks and whether it is known to be the kept one.
    public var marked: (epoch: Int, kept: Bool)? {
        if let keptEpoch, epochs.contains(where: { $0.epoch == keptEpoch }) { return (keptEpoch, true) }
        let best = epochs.filter { $0.valid?.isFinite == true }.min { $0.valid! < $1.valid! }
        return best.map { ($0.epoch, false) }
    }

    /// Reads ctr-train's epochs.json: an array of objects with `epoch`, `trLogLoss` and
    /// optionally `vaLogLoss`, `vaAUC` (other keys are ignored).
    /// - Throws: `EvalError.badTrainingLog` naming the file and the entry, `LogIOError` when unreadable.
    public static func read(_ path: String, name: String? = nil) throws -> TrainingLog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvalError.badTrainingLog(path: path, detail: "cannot read the file")
        }
        guard let top = try? JSONSerialization.jsonObject(with: data), let items = top as? [Any] else {
            throw EvalError.badTrainingLog(path: path, detail: "not a JSON array; expected ctr-train's --log-json output (one object per epoch)")
        }
        var epochs: [Epoch] = []
        func number(_ object: [String: Any], _ key: String, _ i: Int, required: Bool) throws -> Double? {
            guard let value = object[key], !(value is NSNull) else {
                if required { throw EvalError.badTrainingLog(path: path, detail: "entry [\(i)]: no \"\(key)\"; expected a number") }
                return nil
            }
            guard let n = value as? NSNumber, case let d = n.doubleValue, d.isFinite else {
                throw EvalError.badTrainingLog(path: path, detail: "entry [\(i)]: \"\(key)\" is \(value); expected a finite number")
            }
            return d
        }
        for (i, item) in items.enumerated() {
            guard let object = item as? [String: Any] else {
                throw EvalError.badTrainingLog(path: path, detail: "entry [\(i)] is not an object; expected {\"epoch\": …, \"trLogLoss\": …}")
            }
            let e = try number(object, "epoch", i, required: true)!
            guard e >= 0, e <= 1e9, e == e.rounded() else {
                throw EvalError.badTrainingLog(path: path, detail: "entry [\(i)]: \"epoch\" is \(e); expected a whole number ≥ 0")
            }
            epochs.append(Epoch(epoch: Int(e), train: try number(object, "trLogLoss", i, required: true)!,
                                valid: try number(object, "vaLogLoss", i, required: false),
                                validAUC: try number(object, "vaAUC", i, required: false)))
        }
        guard !epochs.isEmpty else { throw EvalError.badTrainingLog(path: path, detail: "no epochs; expected at least one") }
        return TrainingLog(name: name ?? path, path: path, epochs: epochs)
    }
}

/// A table of strings for the report (a sweep's ranking).
public struct ReportTable: Equatable, Sendable {
    public var title: String
    public var header: [String]
    public var rows: [[String]]
    /// Columns right-aligned (numbers).
    public var numeric: Set<Int>

    public init(title: String, header: [String], rows: [[String]], numeric: Set<Int> = []) {
        self.title = title
        self.header = header
        self.rows = rows
        self.numeric = numeric
    }
}

/// How the report was made: by whom (a pipeline stage or a command line), with which
/// parameters, from which files. Shown in report.html; metrics.json is unchanged.
public struct RunMetadata: Equatable, Sendable {
    public struct File: Equatable, Sendable {
        /// What the file is to the evaluation (labels, predictions, training log, …).
        public var role: String
        public var path: String
        public var bytes: Int?
        /// A content hash (the pipeline's fingerprint hash), when known.
        public var hash: String?

        public init(role: String, path: String, bytes: Int? = nil, hash: String? = nil) {
            self.role = role
            self.path = path
            self.bytes = bytes
            self.hash = hash
        }

        /// The file with its size read from the disk.
        public static func sized(role: String, path: String) -> File {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
            return File(role: role, path: path, bytes: size)
        }
    }

    /// E.g. "ctr-pipeline criteo-sample (Pipelines/criteo-sample.json), stage eval".
    public var source: String
    /// The command line, for a standalone run.
    public var commandLine: String?
    public var toolVersion: String
    public var gitRevision: String?
    public var startedAt: String?
    /// Parameter name and value, in declaration order.
    public var parameters: [(key: String, value: String)]
    public var files: [File]
    /// Sweeps of the pipeline: variants ranked by validation metric, test beside.
    public var sweeps: [ReportTable]

    public init(source: String, commandLine: String? = nil, toolVersion: String, gitRevision: String? = nil,
                startedAt: String? = nil, parameters: [(key: String, value: String)] = [], files: [File] = [],
                sweeps: [ReportTable] = []) {
        self.source = source
        self.commandLine = commandLine
        self.toolVersion = toolVersion
        self.gitRevision = gitRevision
        self.startedAt = startedAt
        self.parameters = parameters
        self.files = files
        self.sweeps = sweeps
    }

    public static func == (a: RunMetadata, b: RunMetadata) -> Bool {
        a.source == b.source && a.commandLine == b.commandLine && a.toolVersion == b.toolVersion && a.gitRevision == b.gitRevision
            && a.startedAt == b.startedAt && a.parameters.map(\.key) == b.parameters.map(\.key)
            && a.parameters.map(\.value) == b.parameters.map(\.value) && a.files == b.files && a.sweeps == b.sweeps
    }
}

extension RunMetadata {
    /// Every parameter with its value as JSON text, in declaration order (as a pipeline file writes them).
    public static func parameters(of params: EvalParams) -> [(key: String, value: String)] {
        guard case let .object(entries) = params.encoded() else { return [] }
        return entries.map { ($0.key, $0.value.text()) }
    }

    /// A standalone ctr-eval run: its command line, the build's version and revision, its
    /// parameters and input files with their sizes.
    public static func commandLine(_ arguments: [String], toolVersion: String, gitRevision: String?, params: EvalParams,
                                   inputs: EvalInputs, models: [String] = []) -> RunMetadata {
        var files: [File] = []
        if models.isEmpty {
            files += inputs.predictions.map { File.sized(role: "predictions", path: $0) }
            files.append(.sized(role: "labels", path: inputs.labels))
        } else {
            files += models.map { File.sized(role: "model", path: $0) }
            files.append(.sized(role: "data (labels)", path: inputs.labels))
        }
        if let g = inputs.groupBy { files.append(.sized(role: "group by", path: g)) }
        if let w = inputs.weights { files.append(.sized(role: "weights", path: w)) }
        files += params.logJson.map { File.sized(role: "training log", path: $0) }
        let quoted = arguments.map { a in
            a.isEmpty || a.contains(where: { " \t\"'$\\".contains($0) }) ? "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'" : a
        }
        return RunMetadata(source: "ctr-eval", commandLine: quoted.joined(separator: " "), toolVersion: toolVersion,
                           gitRevision: gitRevision, startedAt: ISO8601DateFormatter().string(from: Date()),
                           parameters: parameters(of: params), files: files)
    }
}
