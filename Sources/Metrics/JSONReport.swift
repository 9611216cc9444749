/// A JSON value with keys kept in the order they were written (the schema's order).
indirect enum JSONValue {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func number(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
    static func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    func render(indent: Int = 0, into out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .number(d):
            // Shortest representation that reads back to the same Double; JSON has no NaN/inf.
            out += d.isFinite ? "\(d)" : "null"
        case let .string(s): JSONValue.quote(s, into: &out)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            let flat = items.allSatisfy { if case .object = $0 { return false } else if case .array = $0 { return false }; return true }
            if flat {
                out += "["
                for (i, item) in items.enumerated() {
                    if i > 0 { out += ", " }
                    item.render(indent: indent, into: &out)
                }
                out += "]"
                return
            }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                item.render(indent: indent + 2, into: &out)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case let .object(fields):
            if fields.isEmpty { out += "{}"; return }
            out += "{\n"
            for (i, (key, value)) in fields.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                JSONValue.quote(key, into: &out)
                out += ": "
                value.render(indent: indent + 2, into: &out)
                out += i + 1 < fields.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

/// metrics.json: the documented, stable schema (docs/FORMATS.md, "metrics.json").
public enum JSONReport {
    /// Version of the schema; bumped only when a key changes meaning or disappears.
    public static let schemaVersion = 1

    public static func render(_ report: EvalReport) -> String {
        var out = ""
        document(report).render(into: &out)
        return out + "\n"
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
            ("list", .array(s.segments.map { seg in
                .object([("key", .string(seg.key))] + metricFields(seg.metrics))
            })),
        ])
    }
}
