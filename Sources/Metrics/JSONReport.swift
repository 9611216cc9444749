import LogIO

/// Where rendered JSON goes: kept as a String, or streamed to a file in 1 MB pieces so a
/// report with millions of segments never exists whole in memory.
final class JSONOutput {
    private(set) var text = ""
    private let writer: AtomicFileWriter?

    init(writer: AtomicFileWriter? = nil) { self.writer = writer }

    @inline(__always)
    func append(_ s: String) throws {
        text += s
        if let writer, text.utf8.count >= 1 << 20 {
            try writer.write(text)
            text = ""
        }
    }

    func finish() throws {
        if let writer {
            try writer.write(text)
            text = ""
        }
    }
}

/// A JSON value with keys kept in the order they were written (the schema's order).
indirect enum JSONValue {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// An array whose elements are made one at a time while writing.
    case lazyArray(count: Int, element: (Int) -> JSONValue)
    case object([(String, JSONValue)])

    static func number(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
    static func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    var isContainer: Bool {
        switch self {
        case .array, .lazyArray, .object: return true
        default: return false
        }
    }

    func render(indent: Int = 0, into out: JSONOutput) throws {
        switch self {
        case .null: try out.append("null")
        case let .bool(b): try out.append(b ? "true" : "false")
        case let .int(i): try out.append(String(i))
        case let .number(d):
            // Shortest representation that reads back to the same Double; JSON has no NaN/inf.
            try out.append(d.isFinite ? "\(d)" : "null")
        case let .string(s): try out.append(JSONText.quoted(s))
        case let .array(items):
            try JSONValue.renderArray(count: items.count, indent: indent, into: out,
                                      flat: !items.contains { $0.isContainer }) { items[$0] }
        case let .lazyArray(count, element):
            try JSONValue.renderArray(count: count, indent: indent, into: out, flat: false, element)
        case let .object(fields):
            if fields.isEmpty { try out.append("{}"); return }
            try out.append("{\n")
            for (i, (key, value)) in fields.enumerated() {
                try out.append(String(repeating: " ", count: indent + 2) + JSONText.quoted(key) + ": ")
                try value.render(indent: indent + 2, into: out)
                try out.append(i + 1 < fields.count ? ",\n" : "\n")
            }
            try out.append(String(repeating: " ", count: indent) + "}")
        }
    }

    /// Scalars on one line; objects and arrays one per line.
    private static func renderArray(count: Int, indent: Int, into out: JSONOutput, flat: Bool,
                                    _ element: (Int) -> JSONValue) throws {
        if count == 0 { try out.append("[]"); return }
        if flat {
            try out.append("[")
            for i in 0..<count {
                if i > 0 { try out.append(", ") }
                try element(i).render(indent: indent, into: out)
            }
            try out.append("]")
            return
        }
        try out.append("[\n")
        let pad = String(repeating: " ", count: indent + 2)
        for i in 0..<count {
            try out.append(pad)
            try element(i).render(indent: indent + 2, into: out)
            try out.append(i + 1 < count ? ",\n" : "\n")
        }
        try out.append(String(repeating: " ", count: indent) + "]")
    }
}

/// metrics.json: the documented, stable schema (docs/FORMATS.md, "metrics.json").
public enum JSONReport {
    /// Version of the schema; bumped only when a key changes meaning or disappears.
    public static let schemaVersion = 1

    /// The whole document as a String.
    public static func render(_ report: EvalReport) -> String {
        let out = JSONOutput()
        // An in-memory output never throws.
        try! document(report).render(into: out)
        return out.text + "\n"
    }

    /// Writes the document to `path` atomically, streaming (bounded memory); with `group`,
    /// it appears on the group's commit.
    public static func write(_ report: EvalReport, to path: String, group: CommitGroup? = nil) throws {
        let writer = try AtomicFileWriter(path: path, group: group)
        let out = JSONOutput(writer: writer)
        try document(report).render(into: out)
        try out.append("\n")
        try out.finish()
        try writer.commit()
    }

    static func document(_ report: EvalReport) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("schema_version", .int(schemaVersion)),
            ("labels", .string(report.labelsPath)),
            ("labels_format", .string(report.labelsFormat)),
            ("weights", .string(report.weightsPath)),
            ("neg_keep_rate", .number(report.negKeepRate)),
        ]
        if report.models.count == 1 {
            fields += modelFields(report.models[0])
        } else {
            let m = report.models[0].metrics
            fields += [
                ("rows", .int(m.rows)),
                ("positives", .int(m.positives)),
                ("click_rate", .number(m.clickRate)),
                ("models", .array(report.models.map { .object(modelFields($0)) })),
            ]
        }
        fields.append(("warnings", .array(report.warnings.map { .string($0) })))
        return .object(fields)
    }

    static func modelFields(_ model: ModelReport) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [
            ("model", .string(model.name)),
            ("predictions", .string(model.predictionsPath)),
        ]
        fields += metricFields(model.metrics)
        let m = model.metrics
        fields += [
            ("auc_ci", m.aucInterval.map { ci in
                .object([("lower", .number(ci.lower)), ("upper", .number(ci.upper)), ("level", .number(ci.level)),
                         ("standard_error", .number(ci.standardError)), ("method", .string("delong"))])
            } ?? .null),
            ("calibration_slope", .number(m.calibrationSlope)),
            ("calibration_intercept", .number(m.calibrationIntercept)),
            ("ece", .number(m.reliability?.ece)),
            ("mce", .number(m.reliability?.mce)),
            ("distinct_predictions", .int(m.distinctPredictions)),
            ("reliability", m.reliability.map(reliability) ?? .null),
            ("segments", model.segments.map(segments) ?? .null),
        ]
        fields.append(("comparison", model.comparison.map { c in
            .object([("baseline", .string(c.baseline)), ("delta_auc", .number(c.deltaAUC)),
                     ("delta_logloss", .number(c.deltaLogloss)), ("delong_z", .number(c.z)),
                     ("delong_p", .number(c.pValue)), ("auc_correlation", .number(c.correlation))])
        } ?? .null))
        return fields
    }

    /// The scalar metrics shared by models and segments.
    static func metricFields(_ m: BinaryMetrics) -> [(String, JSONValue)] {
        [
            ("rows", .int(m.rows)),
            ("positives", .int(m.positives)),
            ("negatives", .int(m.negatives)),
            ("weight_sum", .number(m.weightSum)),
            ("click_rate", .number(m.clickRate)),
            ("mean_prediction", .number(m.meanPrediction)),
            ("auc", .number(m.auc)),
            ("logloss", .number(m.logloss)),
            ("ne", .number(m.ne)),
            ("rig", .number(m.rig)),
            ("calibration", .number(m.calibration)),
            ("pr_auc", .number(m.prAUC)),
            ("brier", .number(m.brier)),
        ]
    }

    static func reliability(_ r: Reliability) -> JSONValue {
        .object([
            ("strategy", .string(r.strategy.rawValue)),
            ("bins_requested", .int(r.binsRequested)),
            ("interval", .string("wilson 0.95")),
            ("bins", .array(r.bins.map { b in
                .object([
                    ("lower", .number(b.lower)), ("upper", .number(b.upper)),
                    ("rows", .int(b.rows)), ("positives", .int(b.positives)), ("weight", .number(b.weight)),
                    ("mean_prediction", .number(b.meanPrediction)), ("observed_rate", .number(b.observedRate)),
                    ("ci_lower", .number(b.intervalLower)), ("ci_upper", .number(b.intervalUpper)),
                ])
            })),
        ])
    }

    static func segments(_ s: SegmentReport) -> JSONValue {
        .object([
            ("group_by", .string(s.path)),
            ("count", .int(s.segments.count)),
            ("gauc", .number(s.gauc)),
            ("gauc_variant", .string(SegmentReport.gaucVariant)),
            ("gauc_segments", .int(s.gaucSegments)),
            ("gauc_weight_fraction", .number(s.gaucWeightFraction)),
            ("field_ece", .number(s.fieldECE)),
            ("list", .lazyArray(count: s.segments.count) { i in
                let seg = s.segments[i]
                return .object([
                    ("key", .string(seg.key)), ("rows", .int(seg.rows)), ("positives", .int(seg.positives)),
                    ("weight_sum", .number(seg.weightSum)), ("click_rate", .number(seg.clickRate)),
                    ("mean_prediction", .number(seg.meanPrediction)), ("auc", .number(seg.auc)),
                    ("logloss", .number(seg.logloss)), ("calibration", .number(seg.calibration)),
                ])
            }),
        ])
    }
}
