import Foundation
import LogIO

/// Number formatting shared by the terminal table and the HTML report.
enum Format {
    static func fixed(_ value: Double?, _ digits: Int = 6) -> String {
        guard let value, value.isFinite else { return "—" }
        return String(format: "%.\(digits)f", value)
    }

    static func signed(_ value: Double?, _ digits: Int = 6) -> String {
        guard let value, value.isFinite else { return "—" }
        return String(format: "%+.\(digits)f", value)
    }

    /// p-values and other values that may be tiny.
    static func general(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        if value != 0 && abs(value) < 1e-4 { return String(format: "%.2e", value) }
        return String(format: "%.4f", value)
    }

    /// A p-value to 4 decimals; below 1e-4 it reads `< 1e-4`.
    static func pValue(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        return value < 1e-4 ? "< 1e-4" : String(format: "%.4f", value)
    }

    static func count(_ n: Int) -> String { LogIO.ProgressMeter.grouped(n) }

    static func interval(_ ci: AUCInterval?) -> String {
        guard let ci else { return "—" }
        return "\(fixed(ci.lower, 4))–\(fixed(ci.upper, 4))"
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f%%", 100 * value) }
}

/// A left-aligned first column and right-aligned others, padded to the widest cell.
struct AlignedTable {
    var rows: [[String]] = []
    var separatorAfterHeader = true

    mutating func add(_ cells: [String]) { rows.append(cells) }

    func render() -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for (r, row) in rows.enumerated() {
            var line = ""
            for i in 0..<columns {
                let cell = i < row.count ? row[i] : ""
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                if i > 0 { line += "  " }
                line += i == 0 ? cell + pad : pad + cell
            }
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
            if r == 0 && separatorAfterHeader {
                out += String(repeating: "-", count: widths.reduce(0, +) + 2 * (columns - 1)) + "\n"
            }
        }
        return out
    }
}

/// The terminal summary ctr-eval always prints.
public enum TextReport {
    /// - Parameter jsonPath: where the full metrics.json was written, if it was: the
    ///   note under a truncated segment table points there, or at `--json` when nothing was written.
    public static func render(_ report: EvalReport, segmentsShown: Int = 20, jsonPath: String? = nil) -> String {
        let first = report.models[0].metrics
        var out = ""
        if let title = report.title { out += title + "\n" }
        out += "labels \(report.labelsPath) (\(report.labelsFormat)): \(Format.count(first.rows)) rows, "
            + "\(Format.count(first.positives)) positives, click rate \(Format.fixed(first.clickRate))"
        if let w = report.negKeepRate { out += ", negatives downsampled at \(w) (weighted \(Format.general(1 / w)))" }
        if let weights = report.weightsPath { out += ", weights \(weights)" }
        out += "\n\n"

        var table = AlignedTable()
        table.add(["metric"] + report.models.map(\.name))
        for row in MetricRow.rows(report) { table.add([row.key] + row.values) }
        out += table.render()

        for model in report.models {
            guard let r = model.metrics.reliability else { continue }
            out += "\nreliability, \(model.name) (\(r.strategy.rawValue), \(r.bins.count) of \(r.binsRequested) bins non-empty; Wilson 95% CI)\n"
            var bins = AlignedTable()
            bins.add(["bin", "range", "rows", "mean pred", "observed", "95% CI"])
            for (i, b) in r.bins.enumerated() {
                bins.add([String(i + 1), "\(Format.fixed(b.lower, 4))–\(Format.fixed(b.upper, 4))", Format.count(b.rows),
                          Format.fixed(b.meanPrediction), Format.fixed(b.observedRate),
                          "\(Format.fixed(b.intervalLower, 4))–\(Format.fixed(b.intervalUpper, 4))"])
            }
            out += bins.render()
        }

        for model in report.models {
            guard let s = model.segments else { continue }
            out += "\nsegments, \(model.name) (\(s.path)): \(Format.count(s.segments.count)) segments; GAUC \(Format.fixed(s.gauc)) "
                + "over \(Format.count(s.gaucSegments)) segments with both classes (\(Format.percent(s.gaucWeightFraction)) of the weight); "
                + "field-level ECE \(Format.fixed(s.fieldECE))\n"
            var seg = AlignedTable()
            seg.add(["segment", "rows", "positives", "click rate", "auc", "logloss", "calibration"])
            for x in s.segments.prefix(segmentsShown) {
                let m = x
                seg.add([shorten(x.key), Format.count(m.rows), Format.count(m.positives), Format.fixed(m.clickRate),
                         Format.fixed(m.auc), Format.fixed(m.logloss), Format.fixed(m.calibration, 4)])
            }
            out += seg.render()
            if s.segments.count > segmentsShown {
                let more = Format.count(s.segments.count - segmentsShown)
                if let jsonPath {
                    out += "… \(more) more segments in \(jsonPath)\n"
                } else {
                    out += "… \(more) more segments not shown (--segments-shown N lists more; --json FILE writes them all)\n"
                }
            }
        }
        return out
    }

    static func shorten(_ key: String) -> String {
        let printable = key.isEmpty ? "(empty)" : key
        return printable.count > 32 ? String(printable.prefix(31)) + "…" : printable
    }
}
