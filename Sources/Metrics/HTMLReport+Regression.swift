// The terminal table and the HTML report of a regression evaluation (issue #13):
// metrics per model, predicted-vs-actual scatter and residual histogram as inline SVG,
// and per-segment tables.

import Foundation

extension TextReport {
    /// The terminal table of `--task regression`.
    static func renderRegression(_ report: RegressionReport, segmentsShown: Int) -> String {
        var text = (report.title ?? "Regression: " + report.models.map(\.name).joined(separator: " vs ")) + "\n"
        text += "labels \(report.labelsPath) (\(report.labelsFormat)), \(Format.count(report.models[0].metrics.rows)) rows\n\n"
        var table = AlignedTable()
        table.add(["model", "rows", "rmse", "mae", "r2", "mean_resid", "std_resid", "mean_target", "mean_pred"])
        for model in report.models {
            let m = model.metrics
            table.add([model.name, Format.count(m.rows), Format.fixed(m.rmse), Format.fixed(m.mae), Format.fixed(m.r2),
                       Format.signed(m.meanResidual), Format.fixed(m.stdResidual), Format.fixed(m.meanTarget), Format.fixed(m.meanPrediction)])
        }
        text += table.render()
        for model in report.models {
            guard let segments = model.segments, segmentsShown > 0 else { continue }
            text += "\n\(model.name): \(segments.count) segments"
            text += segments.count > segmentsShown ? ", largest \(segmentsShown) shown\n" : "\n"
            var t = AlignedTable()
            t.add(["segment", "rows", "rmse", "mae", "r2", "mean_resid"])
            for s in segments.prefix(segmentsShown) {
                t.add([s.key, Format.count(s.metrics.rows), Format.fixed(s.metrics.rmse), Format.fixed(s.metrics.mae),
                       Format.fixed(s.metrics.r2), Format.signed(s.metrics.meanResidual)])
            }
            text += t.render()
        }
        for warning in report.warnings { text += "warning: \(warning)\n" }
        return text
    }
}

extension HTMLReport {
    /// The self-contained HTML report of `--task regression`.
    static func renderRegression(_ report: RegressionReport, segmentsShown: Int) -> String {
        let title = report.title ?? "Regression: " + report.models.map(\.name).joined(separator: " vs ")
        var h = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(escape(title))</title>
        <style>
        body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
        h1 { font-size: 22px; margin: 0 0 4px; }
        h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        .sub { color: #555; margin: 0 0 12px; }
        table { border-collapse: collapse; margin: 6px 0 10px; }
        th, td { padding: 3px 10px; border-bottom: 1px solid #eee; }
        th { text-align: left; background: #f6f6f6; font-weight: 600; }
        td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
        .charts { display: flex; flex-wrap: wrap; gap: 18px; }
        figure { margin: 0; }
        figcaption { color: #555; font-size: 12.5px; max-width: 440px; }
        svg text { font: 11px sans-serif; fill: #333; }
        .warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 6px 10px; margin: 8px 0; }
        </style>
        </head>
        <body>
        <h1>\(escape(title))</h1>
        <p class="sub">Targets <code>\(escape(report.labelsPath))</code> (\(report.labelsFormat)): \(Format.count(report.models[0].metrics.rows)) rows
        """
        if let weights = report.weightsPath { h += "; row weights from <code>\(escape(weights))</code>" }
        h += ".</p>\n"
        for warning in report.warnings { h += "<div class=\"warn\">\(escape(warning))</div>\n" }
        h += "<h2>Metrics</h2>\n<table>\n<tr><th>model</th>"
        for name in ["rows", "RMSE", "MAE", "R²", "mean residual", "std residual", "mean target", "mean prediction"] {
            h += "<th class=\"n\">\(name)</th>"
        }
        h += "</tr>\n"
        for model in report.models {
            let m = model.metrics
            h += "<tr><td>\(escape(model.name))</td>"
            for cell in [Format.count(m.rows), Format.fixed(m.rmse), Format.fixed(m.mae), Format.fixed(m.r2), Format.signed(m.meanResidual),
                         Format.fixed(m.stdResidual), Format.fixed(m.meanTarget), Format.fixed(m.meanPrediction)] {
                h += "<td class=\"n\">\(cell)</td>"
            }
            h += "</tr>\n"
        }
        h += "</table>\n<h2>Charts</h2>\n<div class=\"charts\">\n"
        for (i, model) in report.models.enumerated() {
            h += scatterChart(model, color: color(i)) + residualChart(model, color: color(i))
        }
        h += "</div>\n"
        for model in report.models {
            guard let segments = model.segments, segmentsShown > 0 else { continue }
            h += "<h2>Segments: \(escape(model.name))</h2>\n<p class=\"sub\">\(segments.count) segments"
                + (segments.count > segmentsShown ? ", largest \(segmentsShown) shown" : "") + ".</p>\n<table>\n"
                + "<tr><th>segment</th><th class=\"n\">rows</th><th class=\"n\">RMSE</th><th class=\"n\">MAE</th><th class=\"n\">R²</th><th class=\"n\">mean residual</th></tr>\n"
            for s in segments.prefix(segmentsShown) {
                h += "<tr><td>\(escape(s.key))</td><td class=\"n\">\(Format.count(s.metrics.rows))</td><td class=\"n\">\(Format.fixed(s.metrics.rmse))</td>"
                    + "<td class=\"n\">\(Format.fixed(s.metrics.mae))</td><td class=\"n\">\(Format.fixed(s.metrics.r2))</td>"
                    + "<td class=\"n\">\(Format.signed(s.metrics.meanResidual))</td></tr>\n"
            }
            h += "</table>\n"
        }
        h += """
        <p class="sub" style="margin-top:28px">Residual r = target − prediction. RMSE = √(Σw r²/Σw); MAE = Σw|r|/Σw; R² = 1 − Σw r²/Σw(y − ȳ)²;
        std residual is the population standard deviation. Generated by SwiftCTR ctr-eval --task regression (metrics.json schema \(RegressionReport.schemaVersion)).</p>
        </body>
        </html>

        """
        return h
    }

    /// Predicted against actual (up to 2,000 rows, every k-th), with the diagonal.
    static func scatterChart(_ model: RegressionModelReport, color: String) -> String {
        let width = 440.0, height = 340.0, left = 52.0, right = 14.0, top = 14.0, bottom = 40.0
        let values = model.sample.flatMap { [$0.0, $0.1] }
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if !(lo < hi) { lo -= 0.5; hi += 0.5 }
        func x(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * (width - left - right) }
        func y(_ v: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom) }
        var s = "<figure><svg width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        s += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(width - left - right))\" height=\"\(n(height - top - bottom))\" fill=\"none\" stroke=\"#999\"/>\n"
        s += "<line x1=\"\(n(x(lo)))\" y1=\"\(n(y(lo)))\" x2=\"\(n(x(hi)))\" y2=\"\(n(y(hi)))\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>\n"
        for (a, p) in model.sample {
            s += "<circle cx=\"\(n(x(a)))\" cy=\"\(n(y(p)))\" r=\"1.6\" fill=\"\(color)\" fill-opacity=\"0.45\"/>"
        }
        for t in 0...4 {
            let v = lo + Double(t) / 4 * (hi - lo)
            s += "\n<text x=\"\(n(x(v)))\" y=\"\(n(height - bottom + 14))\" text-anchor=\"middle\">\(String(format: "%.3g", v))</text>"
            s += "<text x=\"\(n(left - 4))\" y=\"\(n(y(v) + 4))\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>"
        }
        s += "\n<text x=\"\(n(left + (width - left - right) / 2))\" y=\"\(n(height - 6))\" text-anchor=\"middle\">actual (target)</text>"
        s += "<text transform=\"translate(12 \(n(top + (height - top - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">predicted</text>\n"
        s += "</svg><figcaption>\(escape(model.name)): predicted against actual, \(model.sample.count) rows (every k-th); dashed: predicted = actual.</figcaption></figure>\n"
        return s
    }

    /// Histogram of the residuals (weighted counts).
    static func residualChart(_ model: RegressionModelReport, color: String) -> String {
        let width = 440.0, height = 340.0, left = 52.0, right = 14.0, top = 14.0, bottom = 40.0
        let (edges, counts) = model.histogram
        let lo = edges.first ?? 0, hi = edges.last ?? 1, top1 = max(counts.max() ?? 1, 1e-300)
        func x(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * (width - left - right) }
        func y(_ c: Double) -> Double { top + (1 - c / top1) * (height - top - bottom) }
        var s = "<figure><svg width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        s += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(width - left - right))\" height=\"\(n(height - top - bottom))\" fill=\"none\" stroke=\"#999\"/>\n"
        for (i, c) in counts.enumerated() where c > 0 {
            s += "<rect x=\"\(n(x(edges[i])))\" y=\"\(n(y(c)))\" width=\"\(n(max(x(edges[i + 1]) - x(edges[i]) - 1, 0.5)))\" height=\"\(n(y(0) - y(c)))\" fill=\"\(color)\" fill-opacity=\"0.7\"/>"
        }
        if lo < 0 && hi > 0 {
            s += "\n<line x1=\"\(n(x(0)))\" y1=\"\(n(top))\" x2=\"\(n(x(0)))\" y2=\"\(n(y(0)))\" stroke=\"#444\" stroke-dasharray=\"4 3\"/>"
        }
        for t in 0...4 {
            let v = lo + Double(t) / 4 * (hi - lo)
            s += "\n<text x=\"\(n(x(v)))\" y=\"\(n(height - bottom + 14))\" text-anchor=\"middle\">\(String(format: "%.3g", v))</text>"
        }
        s += "<text x=\"\(n(left - 4))\" y=\"\(n(top + 8))\" text-anchor=\"end\">\(String(format: "%.3g", top1))</text>"
        s += "\n<text x=\"\(n(left + (width - left - right) / 2))\" y=\"\(n(height - 6))\" text-anchor=\"middle\">residual (target − prediction)</text>"
        s += "<text transform=\"translate(12 \(n(top + (height - top - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">rows</text>\n"
        s += "</svg><figcaption>\(escape(model.name)): residual histogram, \(counts.count) equal-width bins; dashed: 0.</figcaption></figure>\n"
        return s
    }
}
