import Foundation

/// The report's learning curves (#16), sweep ranking and run metadata.
extension HTMLReport {
    /// One chart per training log: training and validation loss per epoch, the kept
    /// epoch marked (or, when the log alone cannot tell, the lowest validation loss).
    static func learningCurves(_ logs: [TrainingLog]) -> String {
        guard !logs.isEmpty else { return "" }
        var h = "<h2>Learning curves</h2>\n<div class=\"charts\">\n"
        // Several logs (a sweep) share one loss axis, so that the charts compare at a glance.
        let all = logs.flatMap { $0.epochs.flatMap { [$0.train] + ($0.valid.map { [$0] } ?? []) } }
        for log in logs { h += learningCurveChart(log, lossRange: logs.count > 1 ? all : nil) }
        return h + "</div>\n"
    }

    static func learningCurveChart(_ log: TrainingLog, lossRange: [Double]? = nil) -> String {
        let epochs = log.epochs.map { Double($0.epoch) }
        let losses = lossRange ?? log.epochs.flatMap { [$0.train] + ($0.valid.map { [$0] } ?? []) }
        let last = max(1, epochs.max() ?? 1)
        let low = losses.min() ?? 0, high = losses.max() ?? 1
        // The loss axis spans the data with a margin (losses differ in their third digit).
        let pad = max((high - low) * 0.08, abs(high) * 1e-4, 1e-9)
        let step = niceStep((high - low + 2 * pad) / 5)
        let yLower = ((low - pad) / step).rounded(.down) * step
        let yUpper = ((high + pad) / step).rounded(.up) * step
        // Whole-epoch ticks from 0, about five of them.
        let xStep = max(1, niceStep(last / 5).rounded(.up))
        let xUpper = ((last + 0.5) / xStep).rounded(.up) * xStep
        var plot = Plot(x: .linear(xUpper), y: Axis(lower: yLower, upper: yUpper, logarithmic: false))
        plot.left = 64
        var s = "<figure>\n" + plot.open("epoch", "loss")
        let train = log.epochs.map { (Double($0.epoch), $0.train) }
        let valid = log.epochs.compactMap { e in e.valid.map { (Double(e.epoch), $0) } }
        s += plot.polyline(train, color: color(0), width: 2)
        s += plot.polyline(valid, color: color(1), width: 2)
        for (x, y) in train { s += "<circle cx=\"\(n(plot.x(x)))\" cy=\"\(n(plot.y(y)))\" r=\"2.5\" fill=\"\(color(0))\"/>" }
        for (x, y) in valid { s += "<circle cx=\"\(n(plot.x(x)))\" cy=\"\(n(plot.y(y)))\" r=\"2.5\" fill=\"\(color(1))\"/>" }
        s += "\n"
        var entries = [("training loss", color(0))]
        if !valid.isEmpty { entries.append(("validation loss", color(1))) }
        var note = ""
        if let marked = log.marked {
            let x = plot.x(Double(marked.epoch))
            let what = marked.kept ? "kept epoch \(marked.epoch)" : "lowest validation loss, epoch \(marked.epoch)"
            s += "<line x1=\"\(n(x))\" y1=\"\(n(plot.top))\" x2=\"\(n(x))\" y2=\"\(n(plot.top + plot.plotHeight))\" stroke=\"#555\" stroke-dasharray=\"5 3\"/>\n"
            // A short label inside the plot, on the side with room; the legend says what it is.
            let anchor = x > plot.left + plot.plotWidth / 2 ? "end" : "start"
            let tx = anchor == "end" ? x - 4 : x + 4
            s += "<text x=\"\(n(tx))\" y=\"\(n(plot.top + 12))\" text-anchor=\"\(anchor)\">epoch \(marked.epoch)</text>\n"
            entries.append((what, "#555"))
            let e = log.epochs.first { $0.epoch == marked.epoch }!
            note = " The dashed line marks the \(marked.kept ? "kept epoch (the model's weights)" : "epoch of lowest validation loss (the kept one when trained with --patience; else the last epoch is kept)")"
                + ": training \(Format.fixed(e.train, 5))" + (e.valid.map { ", validation \(Format.fixed($0, 5))" } ?? "")
                + (e.validAUC.map { ", validation AUC \(Format.fixed($0, 5))" } ?? "") + "."
        }
        s += "</svg>\n" + legend(entries)
        let source = log.name == log.path ? "<code>\(escape(log.path))</code>" : "\(escape(log.name)) (<code>\(escape(log.path))</code>)"
        s += "<figcaption>Learning curves of \(source): loss per epoch "
            + "(log loss; mean squared error for squared-loss training).\(note)</figcaption>\n</figure>\n"
        return s
    }

    static func table(_ t: ReportTable) -> String {
        var s = "<div class=\"wide\"><table>\n<tr>"
        for (i, h) in t.header.enumerated() { s += t.numeric.contains(i) ? "<th class=\"n\">\(escape(h))</th>" : "<th>\(escape(h))</th>" }
        s += "</tr>\n"
        for row in t.rows {
            s += "<tr>"
            for (i, v) in row.enumerated() { s += t.numeric.contains(i) ? "<td class=\"n\">\(escape(v))</td>" : "<td>\(escape(v))</td>" }
            s += "</tr>\n"
        }
        return s + "</table></div>\n"
    }

    static func sweepTables(_ run: RunMetadata?) -> String {
        guard let run, !run.sweeps.isEmpty else { return "" }
        var s = "<h2>Sweep</h2>\n"
        for t in run.sweeps { s += "<p class=\"sub\">\(escape(t.title))</p>\n" + table(t) }
        return s
    }

    static func runSection(_ run: RunMetadata?) -> String {
        guard let run else { return "" }
        var s = "<h2>Run</h2>\n<table>\n"
        func row(_ k: String, _ v: String) { s += "<tr><th>\(escape(k))</th><td>\(v)</td></tr>\n" }
        row("made by", escape(run.source))
        if let c = run.commandLine { row("command line", "<code>\(escape(c))</code>") }
        row("SwiftCTR", escape(run.toolVersion))
        row("git revision", escape(run.gitRevision ?? "unknown"))
        if let t = run.startedAt { row("started", escape(t)) }
        s += "</table>\n"
        if !run.parameters.isEmpty {
            s += "<h3>Parameters</h3>\n" + table(ReportTable(title: "", header: ["parameter", "value"], rows: run.parameters.map { [$0.key, $0.value] }))
        }
        if !run.files.isEmpty {
            let rows = run.files.map { f in [f.role, f.path, f.bytes.map(Format.count) ?? "", f.hash ?? ""] }
            s += "<h3>Input files</h3>\n" + table(ReportTable(title: "", header: ["role", "path", "bytes", "content hash"], rows: rows, numeric: [2]))
        }
        return s
    }
}
