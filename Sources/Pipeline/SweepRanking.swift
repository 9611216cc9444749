import Foundation
import StageKit

extension RunSummary {
    /// For each swept stage whose variants report validation figures (train with a valid
    /// input), the variants ranked by validation log loss (mean squared error for squared
    /// loss; else validation AUC), with the
    /// test metrics of the evaluations downstream of each beside them. The ranking never
    /// uses the test metrics: choosing on the test set would overstate the chosen model.
    public static func sweepRanking(_ report: RunReport, pipeline: ResolvedPipeline) -> String? {
        let sections = sweepTables(report, pipeline: pipeline).map { table in
            table.title + "\n" + RunHistory.render(table.rows, numeric: table.numeric)
        }
        return sections.isEmpty ? nil : sections.joined(separator: "\n\n")
    }

    /// The sweeps' rankings as tables (the header is `rows[0]`): what `sweepRanking` prints
    /// and eval's HTML report shows.
    public static func sweepTables(_ report: RunReport, pipeline: ResolvedPipeline) -> [(title: String, rows: [[String]], numeric: Set<Int>)] {
        var sections: [(title: String, rows: [[String]], numeric: Set<Int>)] = []
        var bases: [String] = []
        for stage in pipeline.stages where !bases.contains(stage.base) { bases.append(stage.base) }
        for base in bases {
            let variants = pipeline.stages.filter { $0.base == base }
            guard variants.count > 1 else { continue }
            let validation = variants.compactMap { v -> (name: String, values: [String: Double?])? in
                guard let m = report.stage(v.name)?.metrics.first(where: { $0.values["va_logloss"] != nil || $0.values["va_mse"] != nil || $0.values["va_auc"] != nil })
                else { return nil }
                return (v.name, m.values)
            }
            guard validation.count == variants.count else { continue }
            let lossKey = ["va_logloss", "va_mse"].first { k in validation.allSatisfy { ($0.values[k] ?? nil) != nil } }
            let byLoss = lossKey != nil
            let key = lossKey ?? "va_auc"
            let lossTitle = lossKey == "va_mse" ? "mean squared error" : "log loss"
            let ranked = validation.enumerated().sorted { x, y in
                let a = (x.element.values[key] ?? nil) ?? .nan, b = (y.element.values[key] ?? nil) ?? .nan
                if a == b || (a.isNaN && b.isNaN) { return x.offset < y.offset }
                if a.isNaN { return false }
                if b.isNaN { return true }
                return byLoss ? a < b : a > b
            }.map(\.element)
            var rows: [[String]] = [["rank", "variant", "valid \(lossTitle)", "valid AUC"] + metricColumns.map { "test " + $0.title }]
            for (i, v) in ranked.enumerated() {
                let test = testMetrics(of: v.name, report: report, pipeline: pipeline)
                rows.append(["\(i + 1)", v.name, fixed(v.values[lossKey ?? "va_logloss"] ?? nil), fixed(v.values["va_auc"] ?? nil)]
                            + metricColumns.map { col in test.map { fixed($0.values[col.key] ?? nil) } ?? "" })
            }
            let title = "sweep of \(base): \(variants.count) variants ranked by validation \(byLoss ? lossTitle : "AUC") "
                + "(\(base)'s kept epoch); test metrics shown beside, not used to rank"
            sections.append((title, rows, Set([0] + Array(2..<rows[0].count))))
        }
        return sections
    }

    static func fixed(_ value: Double?) -> String { value.map { String(format: "%.5f", $0) } ?? "" }

    /// The test metrics of the model made downstream of `variant` (its predictions come
    /// from a stage that depends on it), if exactly one evaluated model is.
    static func testMetrics(of variant: String, report: RunReport, pipeline: ResolvedPipeline) -> ModelMetrics? {
        func dependsOn(_ name: String) -> Bool {
            var stack = [name], seen = Set<String>()
            while let next = stack.popLast() {
                if next == variant { return true }
                guard seen.insert(next).inserted, let stage = pipeline.stage(next) else { continue }
                stack += stage.dependencies
            }
            return false
        }
        var found: [ModelMetrics] = []
        // An evaluation reports one model per file of its first slot of stage outputs
        // (eval's predictions), in order.
        for stage in pipeline.stages {
            guard let metrics = report.stage(stage.name)?.metrics
                .filter({ $0.values["auc"] != nil || $0.values["logloss"] != nil }), !metrics.isEmpty,
                  let slot = stage.inputs.first(where: { $0.items.count == metrics.count && $0.items.allSatisfy { $0.stage != nil } })
            else { continue }
            for (j, item) in slot.items.enumerated() where dependsOn(item.stage!) { found.append(metrics[j]) }
        }
        return found.count == 1 ? found[0] : nil
    }
}
