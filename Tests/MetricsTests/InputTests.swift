import Foundation
import StageKit
import Testing
import LogIO
import TestSupport
@testable import Metrics
import Dataset

/// Files for one test, removed afterwards.
final class Scratch {
    let dir: URL
    init() throws { dir = try TestSupport.makeTemporaryDirectory("eval-input") }
    deinit { try? FileManager.default.removeItem(at: dir) }

    func file(_ name: String, _ content: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try content.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func gzip(_ name: String, _ content: String) throws -> String {
        let path = try file(name + ".plain", content)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -c '\(path)' > '\(dir.path)/\(name)'"]
        try process.run()
        process.waitUntilExit()
        return dir.appendingPathComponent(name).path
    }
}

@Suite struct InputTests {
    func evaluate(_ predictions: [String], _ labels: String, params: EvalParams = EvalParams.defaults,
                  weights: String? = nil, groupBy: String? = nil) throws -> EvalReport {
        try EvalStage.evaluate(params: params, inputs: EvalInputs(predictions: predictions, labels: labels,
                                                                  groupBy: groupBy, weights: weights))
    }

    struct BadPrediction: CustomTestStringConvertible {
        let content: String
        let line: Int
        let reason: String
        var testDescription: String { content.debugDescription }
    }

    @Test(arguments: [
        BadPrediction(content: "0.1\n0.2\n1.5\n0.3\n", line: 3, reason: "probability outside [0, 1]"),
        BadPrediction(content: "0.1\n-0.01\n0.2\n0.3\n", line: 2, reason: "probability outside [0, 1]"),
        BadPrediction(content: "0.1\n0.2\n0.3\nnan\n", line: 4, reason: "NaN"),
        BadPrediction(content: "abc\n0.2\n0.3\n0.4\n", line: 1, reason: "not a number"),
        BadPrediction(content: "0.1\n\n0.3\n0.4\n", line: 2, reason: "not a number"),
        BadPrediction(content: "0.1\n0.2 \n0.3\n0.4\n", line: 2, reason: "not a number"),
        BadPrediction(content: "0.1\n0.2\n0.3\ninf\n", line: 4, reason: "probability outside [0, 1]"),
    ])
    func badPredictionNamesFileAndLine(_ bad: BadPrediction) throws {
        let s = try Scratch()
        let p = try s.file("p.txt", bad.content)
        let y = try s.file("y.txt", "0\n1\n0\n1\n")
        #expect {
            try evaluate([p], y)
        } throws: { error in
            guard case let .badProbability(path, line, _, reason) = error as? EvalError else { return false }
            return path == p && line == bad.line && reason == bad.reason
                && (error as! EvalError).description.hasPrefix("\(p):\(bad.line): ")
        }
    }

    @Test func lineCountMismatchNamesBothFilesAndCounts() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.1\n0.2\n0.3\n")
        let y = try s.file("y.txt", "0\n1\n0\n1\n1\n")
        #expect(throws: EvalError.lineCountMismatch(path: p, lines: 3, otherPath: y, otherLines: 5)) { try evaluate([p], y) }
        let longer = try s.file("p2.txt", "0.1\n0.2\n0.3\n0.4\n0.5\n0.6\n0.7\n")
        #expect(throws: EvalError.lineCountMismatch(path: longer, lines: 7, otherPath: y, otherLines: 5)) { try evaluate([longer], y) }
        let message = EvalError.lineCountMismatch(path: p, lines: 3, otherPath: y, otherLines: 5).description
        #expect(message.contains(p) && message.contains(y) && message.contains(" 3 ") && message.contains(" 5"))
        let w = try s.file("w.txt", "1\n1\n")
        let p5 = try s.file("p5.txt", "0.1\n0.2\n0.3\n0.4\n0.5\n")
        #expect(throws: EvalError.lineCountMismatch(path: w, lines: 2, otherPath: y, otherLines: 5)) { try evaluate([p5], y, weights: w) }
    }

    @Test func emptyInputIsAnError() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "")
        let y = try s.file("y.txt", "")
        #expect(throws: EvalError.emptyInput(path: y)) { try evaluate([p], y) }
    }

    @Test func badLabelsAndWeights() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.1\n0.2\n0.3\n")
        let y = try s.file("y.txt", "0\n2\n1\n")
        #expect(throws: EvalError.badLabel(path: y, line: 2, found: "2", format: LabelFormat.plain.expectation)) { try evaluate([p], y) }
        let good = try s.file("y2.txt", "0\n1\n1\n")
        let w = try s.file("w.txt", "1\n-2\n1\n")
        #expect(throws: EvalError.badWeight(path: w, line: 2, found: "-2")) { try evaluate([p], good, weights: w) }
        let zero = try s.file("w0.txt", "0\n0\n0\n")
        #expect(throws: EvalError.zeroTotalWeight(path: zero)) { try evaluate([p], good, weights: zero) }
    }

    /// Extreme weights: refused with the line and the range, never all-null metrics; within
    /// the range, scaling every weight changes no metric.
    @Test func extremeWeightsAreRefusedOrExact() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.1\n0.7\n0.3\n0.6\n")
        let y = try s.file("y.txt", "0\n1\n1\n0\n")
        let huge = try s.file("huge.txt", "1e308\n1e308\n1e308\n1e308\n")
        #expect(throws: EvalError.weightOutOfRange(path: huge, line: 1, found: "1e308")) { try evaluate([p], y, weights: huge) }
        let tiny = try s.file("tiny.txt", "1e-320\n1e-320\n1e-320\n1e-320\n")
        #expect(throws: EvalError.weightOutOfRange(path: tiny, line: 1, found: "1e-320")) { try evaluate([p], y, weights: tiny) }
        let sum = try s.file("sum.txt", "1e150\n1e150\n1\n1\n")
        #expect(throws: EvalError.weightOutOfRange(path: sum, line: nil, found: "\(2e150 + 2)")) { try evaluate([p], y, weights: sum) }
        #expect(EvalError.weightOutOfRange(path: "w", line: 3, found: "1e308").description
                == "w:3: weight \"1e308\" is out of range; expected 0 or a weight from 1e-150 to 1e+150 (only ratios of weights matter: rescale them)")
        let plain = try evaluate([p], y).models[0].metrics
        for scale in ["1e-140", "1e140"] {
            let w = try s.file("w\(scale).txt", String(repeating: scale + "\n", count: 4))
            let m = try evaluate([p], y, weights: w).models[0].metrics
            #expect(m.auc == plain.auc && m.auc == 0.75)
            #expect(abs(m.logloss - plain.logloss) < 1e-12 && abs(m.calibration! - plain.calibration!) < 1e-12)
        }
    }

    @Test func labelsFromRowsLibffmCacheAndGzip() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.9\n0.2\n0.4\n0.1\n")
        let plain = try evaluate([p], try s.file("y.txt", "1\n0\n1\n0\n"))
        let rows = try evaluate([p], try s.file("rows.tsv", "1\t12:30\t\tab12\n0\t-3\tx\t\n1\t\t\t\n0\t1\t2\t3\n"))
        let libffmText = "1 0:12:1 1:7:1\n0 0:3:1\n+1\t1:2:0.5\n  -1 0:1:1\n"
        let ffm = try evaluate([p], try s.file("data.ffm", libffmText))
        let cachePath = s.dir.appendingPathComponent("data.cache").path
        _ = try CacheWriter.convert(libffm: try s.file("data2.ffm", libffmText), to: cachePath)
        let cache = try evaluate([p], cachePath)
        let gz = try evaluate([p], try s.gzip("y.gz", "1\n0\n1\n0\n"))
        let ffmGz = try evaluate([p], try s.gzip("d.ffm.gz", libffmText))
        let floats = try evaluate([p], try s.file("yf.txt", "1.0\n0.0\n1\n0\n"))
        #expect(rows.labelsFormat == "rows")
        #expect(ffm.labelsFormat == "libffm")
        #expect(ffmGz.labelsFormat == "libffm")
        #expect(cache.labelsFormat == "cache")
        #expect(plain.labelsFormat == "plain")
        for r in [plain, rows, ffm, cache, gz, ffmGz, floats] {
            #expect(r.models[0].metrics.positives == 2)
            #expect(r.models[0].metrics.auc == 1)
        }
        // A rows file with a bad label names the field it read; libffm errors come from Dataset.
        let bad = try s.file("bad.tsv", "1\ta\n5\tb\n0\tc\n1\td\n")
        #expect(throws: EvalError.badLabel(path: bad, line: 2, found: "5", format: LabelFormat.rows.expectation)) { try evaluate([p], bad) }
        let badFFM = try s.file("bad.ffm", "1 0:1:1\n2 0:1:1\n0 0:1:1\n1 0:1:1\n")
        #expect(throws: DatasetError.badLabel(path: badFFM, line: 2, token: "2")) { try evaluate([p], badFFM) }
        // More labels in a cache than predictions: both counts named.
        let three = try s.file("p3.txt", "0.9\n0.2\n0.4\n")
        #expect(throws: EvalError.lineCountMismatch(path: three, lines: 3, otherPath: cachePath, otherLines: 4)) { try evaluate([three], cachePath) }
    }

    @Test(arguments: [
        ("1", LabelFormat.plain), ("0.0", .plain), ("1\tabc\t3", .rows), ("1\t12:30:45\tx", .rows),
        ("1 0:1:1 2:3:0.5", .libffm), ("0\t0:1:1\t2:3:1", .libffm), ("  1 0:1:1", .libffm), ("-1 3:4:5", .libffm),
    ])
    func sniffsTheLabelFormat(_ line: String, _ format: LabelFormat) {
        var text = line
        let found = text.withUTF8 { LabelFormat.sniff($0) }
        #expect(found == format)
    }

    @Test func crlfAndMissingFinalNewlineAreAccepted() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.9\r\n0.2\r\n0.4\r\n1e-3")
        let y = try s.file("y.txt", "1\r\n0\r\n1\r\n0")
        let r = try evaluate([p], y)
        #expect(r.models[0].metrics.rows == 4)
        #expect(r.models[0].metrics.auc == 1)
    }

    @Test func negKeepRateCorrectsProbabilitiesAndWeightsNegatives() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.5\n0.2\n0.5\n0.1\n")
        let y = try s.file("y.txt", "1\n0\n0\n1\n")
        var params = EvalParams.defaults
        params.negKeepRate = 0.5
        let m = try evaluate([p], y, params: params).models[0].metrics
        // q = p / (p + (1 - p) / 0.5): 0.5 → 1/3, 0.2 → 1/9, 0.1 → 1/19; negatives weigh 2.
        let q = [1.0 / 3, 1.0 / 9, 1.0 / 3, 1.0 / 19]
        let w = [1.0, 2, 2, 1]
        let wSum = w.reduce(0, +)
        #expect(abs(m.meanPrediction - zip(q, w).map(*).reduce(0, +) / wSum) < 1e-15)
        #expect(abs(m.clickRate - 2 / 6) < 1e-15)
        #expect(abs(m.calibration! - zip(q, w).map(*).reduce(0, +) / 2) < 1e-15)
        #expect(m.weightSum == 6)
        // Ranking is unchanged by a monotone correction, so AUC is the unweighted one: 1 of 4 pairs + ½ tie.
        #expect(m.auc == 0.375)
    }

    @Test func separatedClassesHaveNoFiniteRefit() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.1\n0.2\n0.3\n0.6\n0.7\n0.8\n")
        let y = try s.file("y.txt", "0\n0\n0\n1\n1\n1\n")
        let report = try evaluate([p], y)
        let m = report.models[0].metrics
        #expect(m.auc == 1)
        #expect(m.calibrationSlope == nil && m.calibrationIntercept == nil)
        #expect(report.warnings.contains { $0.contains("no finite solution") })
        // Constant predictions: AUC ½, no refit, a warning.
        let flat = try evaluate([try s.file("flat.txt", "0.2\n0.2\n0.2\n0.2\n0.2\n0.2\n")], y)
        #expect(flat.models[0].metrics.auc == 0.5)
        #expect(flat.models[0].metrics.calibrationSlope == nil)
        #expect(flat.warnings.contains { $0.contains("predictions are equal") })
    }

    @Test func paramsDecodeDefaultsAndRejectBadRanges() throws {
        let decoded = try EvalParams.decode(.object([])).get()
        #expect(decoded == EvalParams.defaults)
        var parser = JSONParser(#"{"bins": 20, "strategy": "uniform", "negKeepRate": 0.1}"#)
        let custom = try EvalParams.decode(parser.parse()).get()
        #expect(custom.bins == 20 && custom.strategy == .uniform && custom.negKeepRate == 0.1 && custom.segmentsShown == 20)
        let roundTrip = try EvalParams.decode(custom.encoded()).get()
        #expect(roundTrip == custom)
        #expect(Set(EvalParams.specs.map(\.key)) == ["bins", "strategy", "negKeepRate", "modelName", "title", "segmentsShown", "task", "logJson"])
        var p = EvalParams.defaults
        p.bins = 0
        #expect(p.problems() == [ParamProblem("bins", "found 0; expected an integer from 1 to 10000")])
        #expect(throws: ParameterError.self) { try p.validated() }
        p = EvalParams.defaults
        p.negKeepRate = 1.5
        #expect(throws: ParameterError.self) { try p.validated() }
        p.negKeepRate = 0
        #expect(throws: ParameterError.self) { try p.validated() }
    }

    @Test func modelNamesMustMatchPredictionCount() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.5\n0.2\n")
        let y = try s.file("y.txt", "1\n0\n")
        var params = EvalParams.defaults
        params.modelName = ["a", "b"]
        #expect(throws: ParameterError.self) { try evaluate([p], y, params: params) }
    }

    @Test func radixSortMatchesStandardSort() {
        var rng = SplitMix64(seed: 99)
        for (n, levels) in [(0, 100), (1, 100), (2, 100), (17, 100), (47, 3), (1000, 100), (50_000, 100), (50_000, 1_000_000_000)] {
            let keys = RowBuffer<UInt64>()
            let payload = RowBuffer<UInt32>()
            var reference: [(UInt64, UInt32)] = []
            for i in 0..<n {
                // Probabilities with ties (or nearly all distinct), as keys: what ctr-eval sorts.
                let p = (rng.nextUnitDouble() * Double(levels)).rounded(.down) / Double(levels)
                let key = rowKey(probability: p, label: UInt8(rng.next() & 1))
                keys.append(key)
                payload.append(UInt32(i))
                reference.append((key, UInt32(i)))
            }
            let copy = RowBuffer<UInt64>()
            for i in 0..<n { copy.append(keys.base[i]) }
            radixSort(keys: keys, payload: payload)
            radixSort(keys: copy, payload: nil)
            let sorted = reference.sorted { $0.0 < $1.0 }.map(\.0)
            #expect(Array(keys.buffer) == sorted)
            #expect(Array(copy.buffer) == sorted)
            // The payload followed its key (order among equal keys is free).
            let pairs = zip(keys.buffer, payload.buffer).map { [$0, UInt64($1)] }.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }
            #expect(pairs == reference.map { [$0.0, UInt64($0.1)] }.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) })
        }
        // Keys differing only in high digits, and -0.0 ordering before every positive value.
        #expect(rowKey(probability: -0.0, label: 1) < rowKey(probability: 5e-324, label: 0))
        #expect(rowKey(probability: 0.5, label: 1) < rowKey(probability: 0.5000000000000001, label: 0))
        #expect(rowKey(probability: 1, label: 0) > rowKey(probability: 0.9999999999999999, label: 1))
    }

    @Test func interningGivesDenseStableIDs() {
        let interner = ByteInterner()
        var ids: [UInt32] = []
        let keys = (0..<5000).map { "key-\($0 % 1700)" } + ["", "key-1"]
        for key in keys {
            var k = key
            ids.append(k.withUTF8 { interner.id(for: $0)! })
        }
        #expect(interner.count == 1701)
        for (key, id) in zip(keys, ids) { #expect(interner.key(Int(id)) == key) }
    }
}
